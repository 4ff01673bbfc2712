/* Channel-importance criteria: l1, l2, fpgm and random against plain computations. */
/* Each criterion is checked on a conv2d and a linear layer with weights set
 * by hand, against loops written here from the definitions, and on planted
 * values whose ranking is known; random is reproducible per rng state. Then
 * the recipe runner prunes with each criterion on a tiny IDX dataset made in
 * a temporary folder, and its JSON report names the method and the channels
 * the criterion picks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include "util.h"

/* A conv layer of 5 filters of 2x3x3 and a linear layer of 7 rows of 45. */
static const char *const SPEC = "input x shape=2x5x5\n"
                                "conv2d conv out=5 kernel=3\n"
                                "relu r1\n"
                                "flatten flat\n"
                                "linear lin out=7\n"
                                "relu r2\n"
                                "linear out out=3\n";
#define CONV_OUT 5
#define CONV_IN 2
#define K 3
#define LIN_OUT 7
#define LIN_IN 45

static int parse(eg_graph *g, uint64_t seed)
{
    eg_error err = {0};
    eg_status st = eg_graph_parse_spec(g, SPEC, "criteria.spec", &err);
    CHECK(st == EG_OK, "parsing the test spec: %s", err.msg);
    if (st) return -1;
    eg_rng r;
    eg_rng_seed(&r, seed);
    eg_graph_init_params(g, &r);
    return 0;
}

/* Weight [c][i][y][x] of the conv layer and [c][i] of the linear one,
 * indexed from the shapes the spec declares. */
static float *conv_w(eg_graph *g, int c, int i, int y, int x)
{
    eg_node *nd = &g->nodes[eg_graph_find(g, "conv")];
    return &nd->param[0][((c * CONV_IN + i) * K + y) * K + x];
}
static float *lin_w(eg_graph *g, int c, int i) { return &g->nodes[eg_graph_find(g, "lin")].param[0][c * LIN_IN + i]; }

/* The flattened filter of output channel c, copied out through the indexers. */
static int filter(eg_graph *g, const char *layer, int c, double *v)
{
    int n = 0;
    if (!strcmp(layer, "conv")) {
        for (int i = 0; i < CONV_IN; i++)
            for (int y = 0; y < K; y++)
                for (int x = 0; x < K; x++) v[n++] = *conv_w(g, c, i, y, x);
    } else {
        for (int i = 0; i < LIN_IN; i++) v[n++] = *lin_w(g, c, i);
    }
    return n;
}

/* The criteria from their definitions: sums over filters; FPGM from the full
 * matrix of pairwise distances, summed by column. */
static void ref_scores(eg_graph *g, const char *layer, const char *method, double *want)
{
    int out = !strcmp(layer, "conv") ? CONV_OUT : LIN_OUT;
    double f[LIN_OUT][LIN_IN], dist[LIN_OUT][LIN_OUT];
    int n = 0;
    for (int c = 0; c < out; c++) n = filter(g, layer, c, f[c]);
    for (int c = 0; c < out; c++) {
        double l1 = 0, sq = 0;
        for (int k = 0; k < n; k++) l1 += fabs(f[c][k]), sq += f[c][k] * f[c][k];
        want[c] = !strcmp(method, "l1") ? l1 : sqrt(sq);
    }
    if (strcmp(method, "fpgm")) return;
    for (int a = 0; a < out; a++)
        for (int b = 0; b < out; b++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += (f[a][k] - f[b][k]) * (f[a][k] - f[b][k]);
            dist[a][b] = sqrt(s);
        }
    for (int b = 0; b < out; b++) {
        want[b] = 0;
        for (int a = 0; a < out; a++) want[b] += dist[a][b];
    }
}

static void scores_of(const char *method, eg_graph *g, const char *layer, double *got, eg_rng *rng)
{
    const eg_criterion *cr = eg_criterion_find(method);
    CHECK(cr != NULL, "no criterion %s", method);
    if (cr) cr->score(g, eg_graph_find(g, layer), got, rng);
}

/* The criterion, called through the table, equals the reference on both layers. */
static void against_reference(eg_graph *g, const char *method, const char *when)
{
    static const char *const layers[] = {"conv", "lin"};
    for (int l = 0; l < 2; l++) {
        int out = l ? LIN_OUT : CONV_OUT;
        double got[LIN_OUT], want[LIN_OUT];
        scores_of(method, g, layers[l], got, NULL);
        ref_scores(g, layers[l], method, want);
        for (int c = 0; c < out; c++)
            CHECK(fabs(got[c] - want[c]) <= 1e-12 * fabs(want[c]) && want[c] > 0,
                  "%s %s (%s) channel %d: %.15g, want %.15g", method, layers[l], when, c, got[c], want[c]);
    }
}

/* The channel the criterion removes first. */
static int first_pruned(const double *scores, int channels)
{
    int keep[LIN_OUT], pruned[1] = {-1};
    eg_select_keep(scores, channels, 1, keep, pruned);
    return pruned[0];
}

static int argmax(const double *s, int n)
{
    int m = 0;
    for (int i = 1; i < n; i++)
        if (s[i] > s[m]) m = i;
    return m;
}

static void test_table(void)
{
    static const char *const names[] = {"l1", "l2", "fpgm", "random"};
    for (int i = 0; i < 4; i++) {
        const eg_criterion *c = eg_criterion_find(names[i]);
        CHECK(c && !strcmp(c->name, names[i]) && c->label && c->score, "criterion %s missing or incomplete", names[i]);
        CHECK(strstr(eg_criterion_names(), names[i]) != NULL, "eg_criterion_names() '%s' lacks %s",
              eg_criterion_names(), names[i]);
    }
    CHECK(eg_criterion_find("L2") == NULL && eg_criterion_find("") == NULL && eg_criterion_find("fpg") == NULL,
          "names are exact and case-sensitive");
}

/* Random weights: every criterion equals its definition; the bias is not counted. */
static void test_random_weights(void)
{
    eg_graph g;
    if (parse(&g, 3)) return;
    static const char *const methods[] = {"l1", "l2", "fpgm"};
    for (int m = 0; m < 3; m++) against_reference(&g, methods[m], "initialised weights");
    /* biases far larger than any weight change nothing */
    eg_node *conv = &g.nodes[eg_graph_find(&g, "conv")], *lin = &g.nodes[eg_graph_find(&g, "lin")];
    double before[3][LIN_OUT], after[LIN_OUT];
    for (int m = 0; m < 3; m++) scores_of(methods[m], &g, "lin", before[m], NULL);
    for (int c = 0; c < CONV_OUT; c++) conv->param[1][c] = 100.0f * (float)(c + 1);
    for (int c = 0; c < LIN_OUT; c++) lin->param[1][c] = -50.0f * (float)(c + 1);
    for (int m = 0; m < 3; m++) {
        against_reference(&g, methods[m], "large biases");
        scores_of(methods[m], &g, "lin", after, NULL);
        CHECK(!memcmp(before[m], after, sizeof after), "%s scores of lin changed with the biases", methods[m]);
    }
    /* and the scores follow the weights: one changed weight changes one score */
    scores_of("l2", &g, "conv", before[0], NULL);
    *conv_w(&g, 3, 1, 2, 0) += 1.0f;
    scores_of("l2", &g, "conv", after, NULL);
    for (int c = 0; c < CONV_OUT; c++)
        CHECK((after[c] != before[0][c]) == (c == 3), "l2 conv channel %d: %.9g before, %.9g after a change to channel 3",
              c, before[0][c], after[c]);
    eg_graph_free(&g);
}

/* Planted norms: a scaled-up filter has the largest l2; a filter with one
 * large weight and one spread thin rank oppositely under l1 and l2. */
static void test_planted_norms(void)
{
    eg_graph g;
    if (parse(&g, 4)) return;
    /* conv: channel 2 is channel 0 times 3; channel 1 is one weight of 1.0,
     * channel 4 is 18 weights of 0.1 (L1 1.8 > 1, L2 0.42 < 1). */
    for (int i = 0; i < CONV_IN; i++)
        for (int y = 0; y < K; y++)
            for (int x = 0; x < K; x++) {
                *conv_w(&g, 2, i, y, x) = 3.0f * *conv_w(&g, 0, i, y, x);
                *conv_w(&g, 1, i, y, x) = 0;
                *conv_w(&g, 4, i, y, x) = 0.1f;
            }
    *conv_w(&g, 1, 1, 1, 1) = 1.0f;
    double l1[LIN_OUT], l2[LIN_OUT];
    scores_of("l1", &g, "conv", l1, NULL);
    scores_of("l2", &g, "conv", l2, NULL);
    CHECK(argmax(l2, CONV_OUT) == 2 && fabs(l2[2] - 3 * l2[0]) <= 1e-6 * l2[2],
          "l2: the scaled filter 2 should score highest, 3x filter 0: %.9g vs %.9g", l2[2], l2[0]);
    CHECK(argmax(l1, CONV_OUT) == 2, "l1: the scaled filter 2 should score highest");
    CHECK(fabs(l1[1] - 1) < 1e-7 && fabs(l2[1] - 1) < 1e-7, "one weight of 1: l1 %.9g, l2 %.9g, want 1 and 1", l1[1], l2[1]);
    CHECK(fabs(l1[4] - 1.8) < 1e-6 && fabs(l2[4] - sqrt(18 * 0.01)) < 1e-6, "18 weights of 0.1: l1 %.9g, l2 %.9g", l1[4],
          l2[4]);
    /* initialised filters of 18 weights in +-1/sqrt(18) have L1 < 1.8 and L2 > 0.42 in practice: the planted
     * ones are the extremes */
    CHECK(first_pruned(l2, CONV_OUT) == 4, "l2 should prune the thinly spread filter 4 first, pruned %d",
          first_pruned(l2, CONV_OUT));
    CHECK(l1[1] < l1[4] && l2[1] > l2[4], "l1 and l2 should rank filters 1 and 4 oppositely");
    against_reference(&g, "l1", "planted norms");
    against_reference(&g, "l2", "planted norms");

    /* linear: row 5 is row 6 times 10; row 0 is all zero */
    for (int i = 0; i < LIN_IN; i++) *lin_w(&g, 5, i) = 10.0f * *lin_w(&g, 6, i), *lin_w(&g, 0, i) = 0;
    scores_of("l2", &g, "lin", l2, NULL);
    CHECK(argmax(l2, LIN_OUT) == 5 && l2[0] == 0 && first_pruned(l2, LIN_OUT) == 0,
          "lin l2: largest %d (want 5), smallest %.9g at %d (want 0 at 0)", argmax(l2, LIN_OUT), l2[0],
          first_pruned(l2, LIN_OUT));
    eg_graph_free(&g);
}

/* Planted FPGM: filters placed symmetrically about a centre filter m
 * (m + d and m - d for a few d) make m both their mean and their geometric
 * median, so m has the smallest sum of distances: for any other filter
 * m + d_j, each pair m +- d_i is at least 2|d_i| away in sum, and its own
 * partner and m add 3|d_j| > 0. A pair placed far out scores highest. */
static void test_planted_fpgm(void)
{
    eg_graph g;
    if (parse(&g, 5)) return;
    eg_rng r;
    eg_rng_seed(&r, 55);
    /* conv: channel 2 is the centre; (0, 1) and (3, 4) the pairs */
    for (int i = 0; i < CONV_IN; i++)
        for (int y = 0; y < K; y++)
            for (int x = 0; x < K; x++) {
                float m = eg_rng_range(&r, -1, 1), d1 = eg_rng_range(&r, -0.3f, 0.3f), d2 = eg_rng_range(&r, -0.3f, 0.3f);
                *conv_w(&g, 2, i, y, x) = m;
                *conv_w(&g, 0, i, y, x) = m + d1, *conv_w(&g, 1, i, y, x) = m - d1;
                *conv_w(&g, 3, i, y, x) = m + d2, *conv_w(&g, 4, i, y, x) = m - d2;
            }
    double s[LIN_OUT], l2[LIN_OUT];
    scores_of("fpgm", &g, "conv", s, NULL);
    CHECK(first_pruned(s, CONV_OUT) == 2, "conv fpgm: the centre filter 2 should go first, went %d (scores %.6g %.6g %.6g %.6g %.6g)",
          first_pruned(s, CONV_OUT), s[0], s[1], s[2], s[3], s[4]);
    against_reference(&g, "fpgm", "planted conv");

    /* linear: row 4 is the centre, (0, 6) and (1, 3) near pairs, (2, 5) a far
     * pair; d1 leans towards m, so row 6 = m - d1 is shorter than m and l2
     * would remove it first */
    for (int i = 0; i < LIN_IN; i++) {
        float m = eg_rng_range(&r, -0.2f, 0.2f), d1 = 0.4f * m + eg_rng_range(&r, -0.02f, 0.02f),
              d2 = eg_rng_range(&r, -0.1f, 0.1f), d3 = eg_rng_range(&r, -2, 2);
        *lin_w(&g, 4, i) = m;
        *lin_w(&g, 0, i) = m + d1, *lin_w(&g, 6, i) = m - d1;
        *lin_w(&g, 1, i) = m + d2, *lin_w(&g, 3, i) = m - d2;
        *lin_w(&g, 2, i) = m + d3, *lin_w(&g, 5, i) = m - d3;
    }
    scores_of("fpgm", &g, "lin", s, NULL);
    scores_of("l2", &g, "lin", l2, NULL);
    CHECK(first_pruned(s, LIN_OUT) == 4, "lin fpgm: the centre row 4 should go first, went %d", first_pruned(s, LIN_OUT));
    int top = argmax(s, LIN_OUT);
    CHECK(top == 2 || top == 5, "lin fpgm: a row of the far pair (2, 5) should score highest, found %d", top);
    for (int c = 0; c < LIN_OUT; c++)
        CHECK(c == 2 || c == 5 || (s[c] < s[2] && s[c] < s[5]), "lin fpgm: row %d scores %.9g, above the far pair's %.9g, %.9g",
              c, s[c], s[2], s[5]);
    /* FPGM is not a norm: the centre is not the smallest row here */
    CHECK(first_pruned(l2, LIN_OUT) == 6, "lin: l2 should pick the short row 6, picked %d; the planted case cannot tell fpgm from l2",
          first_pruned(l2, LIN_OUT));
    against_reference(&g, "fpgm", "planted lin");

    /* a duplicated filter is at distance 0 from its twin: both score the same */
    for (int i = 0; i < LIN_IN; i++) *lin_w(&g, 6, i) = *lin_w(&g, 0, i);
    scores_of("fpgm", &g, "lin", s, NULL);
    CHECK(s[0] == s[6], "duplicated rows 0 and 6 score %.17g and %.17g", s[0], s[6]);
    against_reference(&g, "fpgm", "duplicated row");

    /* every filter the same: all scores are zero, and ties go to the lowest index */
    for (int c = 1; c < CONV_OUT; c++)
        for (int i = 0; i < CONV_IN; i++)
            for (int y = 0; y < K; y++)
                for (int x = 0; x < K; x++) *conv_w(&g, c, i, y, x) = *conv_w(&g, 0, i, y, x);
    scores_of("fpgm", &g, "conv", s, NULL);
    int zeros = 0;
    for (int c = 0; c < CONV_OUT; c++) zeros += s[c] == 0;
    CHECK(zeros == CONV_OUT && first_pruned(s, CONV_OUT) == 0, "identical filters: %d of %d scores zero, first pruned %d",
          zeros, CONV_OUT, first_pruned(s, CONV_OUT));
    eg_graph_free(&g);
}

/* Random: reproducible for an rng state, different across seeds, in [0, 1),
 * blind to the weights, and fair: each channel is first to go about equally
 * often over many seeds. */
static void test_random(void)
{
    eg_graph g, h;
    if (parse(&g, 6)) return;
    if (parse(&h, 7)) {
        eg_graph_free(&g);
        return;
    }
    eg_rng r1, r2, r3;
    eg_rng_seed(&r1, 11), eg_rng_seed(&r2, 11), eg_rng_seed(&r3, 12);
    double a[LIN_OUT], b[LIN_OUT], c[LIN_OUT], again[LIN_OUT];
    scores_of("random", &g, "lin", a, &r1);
    scores_of("random", &h, "lin", b, &r2);  /* other weights, same rng state */
    scores_of("random", &g, "lin", c, &r3);
    CHECK(!memcmp(a, b, sizeof a), "random: the same seed gave different scores");
    int same = 0;
    for (int i = 0; i < LIN_OUT; i++) {
        same += a[i] == c[i];
        CHECK(a[i] >= 0 && a[i] < 1, "random score %d is %.17g, outside [0, 1)", i, a[i]);
    }
    CHECK(same == 0, "random: seeds 11 and 12 agree on %d of %d scores", same, LIN_OUT);
    scores_of("random", &g, "lin", again, &r1);
    CHECK(memcmp(a, again, sizeof a), "random: a second draw from the same rng repeated the first");
    int distinct = 1;
    for (int i = 0; i < LIN_OUT; i++)
        for (int j = 0; j < i; j++) distinct &= a[i] != a[j];
    CHECK(distinct, "random: tied scores within one draw");

    int first[CONV_OUT] = {0};
    for (uint64_t seed = 0; seed < 1000; seed++) {
        eg_rng r;
        eg_rng_seed(&r, seed);
        scores_of("random", &g, "conv", a, &r);
        first[first_pruned(a, CONV_OUT)]++;
    }
    /* 200 expected each; the standard deviation is about 12.6 */
    for (int i = 0; i < CONV_OUT; i++)
        CHECK(first[i] > 150 && first[i] < 250, "random: channel %d went first %d times in 1000, want about 200", i,
              first[i]);
    eg_graph_free(&g), eg_graph_free(&h);
}

/* ------------------------------------------------------- the recipe runner */

static char tmpdir[] = "/tmp/eg_criteria.XXXXXX";
static char *made[64];
static int nmade;

static const char *path_of(const char *name)
{
    static char buf[4][512];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

/* Records a path for cleanup; the copy it returns lives until then. */
static const char *remember(const char *path)
{
    for (int i = 0; i < nmade; i++)
        if (!strcmp(made[i], path)) return made[i];
    if (nmade == 64) return path;
    made[nmade] = strdup(path);
    return made[nmade++];
}

static const char *write_file(const char *name, const void *data, size_t len)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f) return path;
    fwrite(data, 1, len, f);
    fclose(f);
    return remember(path);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* An MNIST-layout pair "<prefix>-images-idx3-ubyte" / "-labels-idx1-ubyte"
 * of n 28x28 images: a bright square whose place depends on the label, over
 * noise, so a few steps of training have something to learn. */
static void write_set(const char *prefix, uint32_t n, uint64_t seed)
{
    size_t il = 16 + (size_t)n * 784, ll = 8 + n;
    uint8_t *img = malloc(il), *lab = malloc(ll);
    eg_rng r;
    eg_rng_seed(&r, seed);
    put32(img, 0x803), put32(img + 4, n), put32(img + 8, 28), put32(img + 12, 28);
    put32(lab, 0x801), put32(lab + 4, n);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t y = (uint8_t)(i % 10), *p = img + 16 + (size_t)i * 784;
        lab[8 + i] = y;
        for (int k = 0; k < 784; k++) p[k] = (uint8_t)eg_rng_below(&r, 64);
        for (int yy = 0; yy < 6; yy++)
            for (int xx = 0; xx < 6; xx++) p[(4 + 2 * y + yy) * 28 + 3 + 2 * y + xx] = 255;
    }
    char name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    write_file(name, img, il);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    write_file(name, lab, ll);
    free(img), free(lab);
}

static const char *const RUN_SPEC = "# a small CNN for the runner tests\n"
                                    "input     x     shape=1x28x28\n"
                                    "conv2d    c1    out=4 kernel=3 pad=1\n"
                                    "relu      r1\n"
                                    "maxpool2d p1    kernel=2\n"
                                    "conv2d    c2    out=6 kernel=3 pad=1\n"
                                    "relu      r2\n"
                                    "maxpool2d p2    kernel=2\n"
                                    "flatten   flat\n"
                                    "linear    f1    out=12\n"
                                    "relu      r3\n"
                                    "linear    f2    out=10\n";

/* The text after `"key":` at or after from, spaces skipped; NULL if none. */
static const char *json_at(const char *from, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(from, k);
    if (!p) return NULL;
    p += strlen(k);
    while (*p == ' ') p++;
    return p;
}

/* Reads the JSON array of integers at p into v; returns the count, or -1. */
static int json_ints(const char *p, int *v, int max)
{
    if (!p || *p != '[') return -1;
    int n = 0;
    for (p++;;) {
        while (*p == ' ' || *p == ',' || *p == '\n') p++;
        if (*p == ']') return n;
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || n == max) return -1;
        v[n++] = (int)x, p = end;
    }
}

static int count_of(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p++) n++;
    return n;
}

static eg_status run(const char *recipe_text, const char *name, const char *json, uint64_t seed, char **log)
{
    const char *path = write_file(name, recipe_text, strlen(recipe_text));
    eg_recipe r;
    eg_error err = {0};
    eg_status st = eg_recipe_load(&r, path, &err);
    CHECK(st == EG_OK, "%s: %s", name, err.msg);
    if (st) return st;
    const char *logpath = write_file("log", "", 0);
    FILE *out = fopen(logpath, "w");
    if (!out) return EG_ERR_IO;
    eg_run_opts o = {.seed = seed, .threads = 1, .data = NULL, .json = json, .progress = 0, .out = out};
    st = eg_recipe_run(&r, &o, &err);
    fclose(out);
    CHECK(st == EG_OK, "running %s: %s", name, err.msg);
    if (!st) remember(json);
    *log = util_read_text(logpath, NULL);
    return st;
}

/* Train, then prune c1, c2 and f1 with one criterion each time, evaluate and
 * retrain: every prune stage runs, and the report names the method at each. */
static void test_runner_stages(const char *model_path)
{
    static const char *const methods[] = {"l1", "l2", "fpgm", "random"};
    for (int m = 0; m < 4; m++) {
        char recipe[1024], json[600];
        snprintf(recipe, sizeof recipe,
                 "model %s\ndata %s\n"
                 "train epochs=1 optimizer=adam lr=0.003 batch=16 shuffle=yes\n"
                 "eval batch=16\n"
                 "prune method=%s layer=c1 amount=1\n"
                 "prune method=%s layer=c2 amount=0.5\n"
                 "prune method=%s layer=f1 amount=4\n"
                 "eval batch=16\n"
                 "train epochs=1 optimizer=adam lr=0.003 batch=16 shuffle=yes\n"
                 "eval batch=16\n",
                 model_path, tmpdir, methods[m], methods[m], methods[m]);
        snprintf(json, sizeof json, "%s/report-%s.json", tmpdir, methods[m]);
        char name[64], *log = NULL;
        snprintf(name, sizeof name, "stages-%s.recipe", methods[m]);
        if (run(recipe, name, json, 3, &log)) {
            free(log);
            continue;
        }
        char *rep = util_read_text(json, NULL);
        CHECK(rep != NULL, "%s: no report at %s", methods[m], json);
        if (rep) {
            char want[64];
            snprintf(want, sizeof want, "\"method\": \"%s\"", methods[m]);
            CHECK(count_of(rep, want) == 3 && count_of(rep, "\"method\":") == 3,
                  "%s: the report names the method %d times (any method %d times), want 3", methods[m],
                  count_of(rep, want), count_of(rep, "\"method\":"));
            CHECK(count_of(rep, "\"stage\": \"prune\"") == 3, "%s: %d prune stages in the report, want 3", methods[m],
                  count_of(rep, "\"stage\": \"prune\""));
            /* the pruned model: c1 3, c2 3 of 6, f1 8 of 12 */
            const char *after = strstr(rep, "\"model_after\"");
            const char *pp = after ? json_at(after, "params") : NULL;
            long want_params = (3 * 9 + 3) + (3 * 3 * 9 + 3) + (8 * 3 * 49 + 8) + (10 * 8 + 10);
            CHECK(pp && strtol(pp, NULL, 10) == want_params, "%s: model_after has %ld parameters, want %ld", methods[m],
                  pp ? strtol(pp, NULL, 10) : -1L, want_params);
            const char *acc = json_at(rep, "final");
            CHECK(acc && strtod(acc, NULL) >= 0 && strtod(acc, NULL) <= 100, "%s: no final accuracy in the report",
                  methods[m]);
            const eg_criterion *cr = eg_criterion_find(methods[m]);
            CHECK(log && cr && strstr(log, cr->label), "%s: the log does not print the %s", methods[m],
                  cr ? cr->label : "?");
        }
        free(rep), free(log);
    }
}

/* A prune stage straight after initialisation removes exactly the channels
 * the criterion picks from the initial weights (for random: from the rng
 * right after initialisation), and the report lists them and the scores. */
static void test_runner_choice(const char *model_path)
{
    static const char *const methods[] = {"l1", "l2", "fpgm", "random"};
    static const char *const layers[] = {"c2", "f1", "c1", "f1"};
    static const int amounts[] = {3, 5, 2, 6};
    for (int m = 0; m < 4; m++) {
        char recipe[1024], json[600];
        snprintf(recipe, sizeof recipe, "model %s\ndata %s\nprune method=%s layer=%s amount=%d\neval batch=32\n",
                 model_path, tmpdir, methods[m], layers[m], amounts[m]);
        snprintf(json, sizeof json, "%s/choice-%s.json", tmpdir, methods[m]);
        char name[64], *log = NULL;
        snprintf(name, sizeof name, "choice-%s.recipe", methods[m]);
        uint64_t seed = 17 + (uint64_t)m;
        if (run(recipe, name, json, seed, &log)) {
            free(log);
            continue;
        }
        free(log);

        /* the same model, initialised from the same seed, scored here */
        eg_graph g;
        eg_error err = {0};
        if (eg_graph_parse_spec(&g, RUN_SPEC, "run.spec", &err)) {
            CHECK(0, "parsing the runner spec: %s", err.msg);
            continue;
        }
        eg_rng r;
        eg_rng_seed(&r, seed);
        eg_graph_init_params(&g, &r);
        int nd = eg_graph_find(&g, layers[m]), c = g.nodes[nd].out;
        double scores[16];
        int keep[16], pruned[16], got_keep[16], got_pruned[16];
        eg_criterion_find(methods[m])->score(&g, nd, scores, &r);
        int nkeep = eg_select_keep(scores, c, amounts[m], keep, pruned);
        eg_graph_free(&g);

        char *rep = util_read_text(json, NULL);
        CHECK(rep != NULL, "%s: no report", methods[m]);
        if (!rep) continue;
        const char *at = json_at(rep, "method");
        char want[32];
        snprintf(want, sizeof want, "\"%s\"", methods[m]);
        CHECK(at && !strncmp(at, want, strlen(want)), "%s: the report's method is %.12s", methods[m], at ? at : "missing");
        int nk = json_ints(at ? json_at(at, "kept") : NULL, got_keep, 16);
        int np = json_ints(at ? json_at(at, "pruned") : NULL, got_pruned, 16);
        CHECK(nk == nkeep && np == amounts[m] && !memcmp(got_keep, keep, (size_t)nkeep * sizeof *keep) &&
                  !memcmp(got_pruned, pruned, (size_t)np * sizeof *pruned),
              "%s on %s: the run pruned %d channels (first %d) and kept %d (first %d); the criterion picks %d (first %d)"
              " and keeps %d (first %d)",
              methods[m], layers[m], np, np > 0 ? got_pruned[0] : -1, nk, nk > 0 ? got_keep[0] : -1, amounts[m],
              pruned[0], nkeep, keep[0]);
        /* the scores the report lists are the criterion's (printed with 10 digits) */
        const char *sp = at ? json_at(at, "scores") : NULL;
        int ok = sp && *sp == '[';
        if (ok) sp++;
        for (int i = 0; ok && i < c; i++) {
            char *end;
            double v = strtod(sp, &end);
            ok = end != sp && fabs(v - scores[i]) <= 1e-9 * fabs(scores[i]);
            for (sp = end; *sp == ',' || *sp == ' ';) sp++;
        }
        ok = ok && *sp == ']';
        CHECK(ok, "%s: the report's scores differ from the criterion's", methods[m]);
        free(rep);
    }
}

static void test_runner(void)
{
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp %s failed", tmpdir);
        return;
    }
    write_set("train", 96, 1);
    write_set("t10k", 40, 2);
    const char *model = write_file("model.spec", RUN_SPEC, strlen(RUN_SPEC));
    char model_path[512];
    snprintf(model_path, sizeof model_path, "%s", model);
    test_runner_stages(model_path);
    test_runner_choice(model_path);
    for (int i = nmade - 1; i >= 0; i--) {
        CHECK(remove(made[i]) == 0, "cannot remove %s", made[i]);
        free(made[i]);
    }
    CHECK(rmdir(tmpdir) == 0, "cannot remove %s (a file the test did not expect is left in it)", tmpdir);
}

int main(void)
{
    eg_set_threads(1);
    test_table();
    test_random_weights();
    test_planted_norms();
    test_planted_fpgm();
    test_random();
    test_runner();
    return check_report("criteria");
}
