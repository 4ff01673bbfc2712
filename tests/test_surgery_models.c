/* Surgery on the shipped LeNet models: removing channels equals zeroing them. */
/* For models/lenet5 (c1 -> c2, c2 -> flatten 16x5x5 -> f1, f1 -> f2) and
 * models/lenet300100 (fc1 -> fc2, fc2 -> fc3): the pruned model computes
 * what the unpruned one computes with those channels' filters and biases
 * zeroed, its dependency groups are the expected ones, and its parameter and
 * MAC counts follow hand formulas. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "util.h"

#define BATCH 4
#define CLASSES 10
#define PIXELS (28 * 28)
#define MAXL 4

/* A model: its spec, the layers that can be pruned, their widths, and its
 * size worked out by hand from the spec for any widths k[]. */
typedef struct {
    const char *spec;
    int nlayers;
    const char *layers[MAXL];
    int width[MAXL];
    size_t (*params)(const int *k);
    size_t (*macs)(const int *k);
} model;

/* LeNet-5: c1 5x5 pad 2 on 28x28, pool to 14x14; c2 5x5 valid to 10x10,
 * pool to 5x5; f1 on k2*25 features; f2; f3 with 10 outputs. */
static size_t lenet5_params(const int *k)
{
    return (size_t)(k[0] * 25 + k[0]) + (size_t)(k[1] * k[0] * 25 + k[1]) + (size_t)(k[2] * k[1] * 25 + k[2]) +
           (size_t)(k[3] * k[2] + k[3]) + (size_t)(CLASSES * k[3] + CLASSES);
}
static size_t lenet5_macs(const int *k)
{
    return (size_t)k[0] * 25 * 28 * 28 + (size_t)k[1] * k[0] * 25 * 10 * 10 + (size_t)k[2] * k[1] * 25 +
           (size_t)k[3] * k[2] + (size_t)CLASSES * k[3];
}
static size_t lenet300100_params(const int *k)
{
    return (size_t)(k[0] * PIXELS + k[0]) + (size_t)(k[1] * k[0] + k[1]) + (size_t)(CLASSES * k[1] + CLASSES);
}
static size_t lenet300100_macs(const int *k)
{
    return (size_t)k[0] * PIXELS + (size_t)k[1] * k[0] + (size_t)CLASSES * k[1];
}

static const model lenet5 = {"models/lenet5", 4, {"c1", "c2", "f1", "f2"}, {6, 16, 120, 84}, lenet5_params, lenet5_macs};
static const model lenet300100 = {"models/lenet300100", 2, {"fc1", "fc2"}, {300, 100}, lenet300100_params,
                                  lenet300100_macs};

static int load(eg_graph *g, const model *m, uint64_t seed)
{
    eg_error err = {0};
    eg_status st = eg_graph_load_spec(g, m->spec, &err);
    CHECK(st == EG_OK, "loading %s: %s", m->spec, err.msg);
    if (st) return -1;
    eg_rng r;
    eg_rng_seed(&r, seed);
    eg_graph_init_params(g, &r);
    return 0;
}

/* A second graph from the same spec with the same parameters. */
static int clone(eg_graph *dst, const eg_graph *src, const model *m)
{
    if (load(dst, m, 0)) return -1;
    CHECK(dst->nparam == src->nparam, "clone has %zu parameters, want %zu", dst->nparam, src->nparam);
    if (dst->nparam != src->nparam) {
        eg_graph_free(dst);
        return -1;
    }
    memcpy(dst->params, src->params, src->nparam * sizeof *src->params);
    return 0;
}

static int layer_index(const model *m, const char *layer)
{
    for (int l = 0; l < m->nlayers; l++)
        if (!strcmp(m->layers[l], layer)) return l;
    return -1;
}

static void forward(eg_graph *g, const float *x, float *logits)
{
    eg_status st = eg_graph_prepare(g, BATCH, 0, 1);
    CHECK(st == EG_OK, "prepare failed: %d", st);
    if (st) return;
    eg_graph_forward(g, x, BATCH);
    memcpy(logits, eg_graph_y(g), BATCH * CLASSES * sizeof(float));
}

static void random_input(float *x, uint64_t seed)
{
    eg_rng r;
    eg_rng_seed(&r, seed);
    for (int i = 0; i < BATCH * PIXELS; i++) x[i] = eg_rng_range(&r, -2.5f, 2.5f);
}

/* Checks the graph's size against the model's hand formulas for widths k. */
static void check_size(const char *what, const eg_graph *g, const model *m, const int *k)
{
    CHECK(eg_graph_param_count(g) == m->params(k), "%s: %zu parameters, want %zu", what, eg_graph_param_count(g),
          m->params(k));
    CHECK(eg_graph_macs(g) == m->macs(k), "%s: %zu MACs, want %zu", what, eg_graph_macs(g), m->macs(k));
    for (int l = 0; l < m->nlayers; l++) {
        int nd = eg_graph_find(g, m->layers[l]);
        CHECK(nd >= 0 && g->nodes[nd].out == k[l] && g->nodes[nd].out_shape.c == k[l],
              "%s: %s has %d channels, want %d", what, m->layers[l], nd >= 0 ? g->nodes[nd].out_shape.c : -1, k[l]);
    }
}

/* Removes the channels not in keep from `layer` in one graph and zeroes
 * them in identical ones, then compares the outputs on random inputs. */
static void equivalence(const model *m, const char *layer, const int *keep, int nkeep, uint64_t seed)
{
    int l = layer_index(m, layer);
    CHECK(l >= 0, "%s is not a prunable layer of %s", layer, m->spec);
    if (l < 0) return;
    eg_graph g, masked, filters_only;
    if (load(&g, m, seed)) return;
    int nd = eg_graph_find(&g, layer);
    CHECK(nd >= 0, "%s has no node %s", m->spec, layer);
    if (nd < 0) {
        eg_graph_free(&g);
        return;
    }
    int channels = g.nodes[nd].out;
    char what[160];
    int n = snprintf(what, sizeof what, "%s %s keep [", m->spec, layer);
    for (int i = 0; i < nkeep && n < 120; i++) n += snprintf(what + n, sizeof what - (size_t)n, i ? ",%d" : "%d", keep[i]);
    snprintf(what + n, sizeof what - (size_t)n, nkeep > 12 ? "...]" : "]");

    /* Make the removed channels live: a positive bias passes the relu, so
     * zeroing the filter alone would leave a constant channel behind. */
    char *gone = malloc((size_t)channels);
    memset(gone, 1, (size_t)channels);
    for (int i = 0; i < nkeep; i++) gone[keep[i]] = 0;
    for (int c = 0; c < channels; c++)
        if (gone[c]) g.nodes[nd].param[1][c] = 0.5f;
    if (clone(&masked, &g, m)) {
        eg_graph_free(&g), free(gone);
        return;
    }
    if (clone(&filters_only, &g, m)) {
        eg_graph_free(&g), eg_graph_free(&masked), free(gone);
        return;
    }
    for (int c = 0; c < channels; c++)
        if (gone[c]) util_zero_channel(&masked, nd, c, 1), util_zero_channel(&filters_only, nd, c, 0);

    static float x[BATCH * PIXELS];
    float before[BATCH * CLASSES], want[BATCH * CLASSES], fo[BATCH * CLASSES], got[BATCH * CLASSES];
    random_input(x, seed + 100);
    forward(&g, x, before);
    forward(&masked, x, want);
    forward(&filters_only, x, fo);

    eg_dep_group grp;
    eg_error err = {0};
    eg_status st = eg_depgroup_build(&g, nd, &grp, &err);
    CHECK(st == EG_OK, "%s: depgroup: %s", what, err.msg);
    if (!st) {
        st = eg_surgery_keep(&g, &grp, keep, nkeep, &err);
        CHECK(st == EG_OK, "%s: surgery: %s", what, err.msg);
    }
    if (!st) {
        forward(&g, x, got);
        check_close(what, got, want, BATCH * CLASSES, 1e-6, 1e-6);
        if (nkeep < channels) {
            CHECK(util_max_abs_diff(got, before, BATCH * CLASSES) > 1e-4f,
                  "%s: removing channels changed nothing; the comparison is blind", what);
            CHECK(util_max_abs_diff(got, fo, BATCH * CLASSES) > 1e-4f,
                  "%s: zeroing only the filters gave the pruned outputs; the bias is not exercised", what);
        }
        int k[MAXL];
        memcpy(k, m->width, sizeof k);
        k[l] = nkeep;
        check_size(what, &g, m, k);
    }
    free(gone);
    eg_graph_free(&g), eg_graph_free(&masked), eg_graph_free(&filters_only);
}

/* A random subset of `width` channels to keep (at least one), ascending. */
static int random_keep(eg_rng *r, int width, int *keep)
{
    int n = 0;
    for (int c = 0; c < width; c++)
        if (eg_rng_below(r, 3)) keep[n++] = c;  /* about two thirds stay */
    if (!n) keep[n++] = (int)eg_rng_below(r, (uint32_t)width);
    return n;
}

static void test_lenet5(void)
{
    static const int c1a[] = {0, 2, 3, 5}, c1b[] = {4}, c1c[] = {1, 2, 3, 4, 5};
    equivalence(&lenet5, "c1", c1a, 4, 1);
    equivalence(&lenet5, "c1", c1b, 1, 2);
    equivalence(&lenet5, "c1", c1c, 5, 3);
    /* c2 feeds a flatten of 16x5x5: each channel is a block of 25 f1 inputs */
    static const int c2a[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, c2b[] = {15}, c2c[] = {1, 3, 5, 7, 9, 11, 13, 15},
                     c2d[] = {0, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    equivalence(&lenet5, "c2", c2a, 12, 4);
    equivalence(&lenet5, "c2", c2b, 1, 5);
    equivalence(&lenet5, "c2", c2c, 8, 6);
    equivalence(&lenet5, "c2", c2d, 13, 7);
    eg_rng r;
    eg_rng_seed(&r, 5);
    int keep[300];
    for (int t = 0; t < 8; t++) {
        int l = t % 4, n = random_keep(&r, lenet5.width[l], keep);
        equivalence(&lenet5, lenet5.layers[l], keep, n, 10 + (uint64_t)t);
    }
}

static void test_lenet300100(void)
{
    static const int f1a[] = {0, 299}, f1b[] = {150};
    equivalence(&lenet300100, "fc1", f1a, 2, 30);
    equivalence(&lenet300100, "fc1", f1b, 1, 31);
    eg_rng r;
    eg_rng_seed(&r, 6);
    int keep[300];
    for (int t = 0; t < 6; t++) {
        int l = t % 2, n = random_keep(&r, lenet300100.width[l], keep);
        equivalence(&lenet300100, lenet300100.layers[l], keep, n, 40 + (uint64_t)t);
    }
}

/* The groups, and the reference sizes: 61,706 and 266,610 parameters. */
static void test_groups_and_sizes(void)
{
    eg_graph g;
    eg_dep_group grp;
    eg_error err = {0};
    if (!load(&g, &lenet5, 1)) {
        check_size("lenet5", &g, &lenet5, lenet5.width);
        CHECK(eg_graph_param_count(&g) == 61706 && eg_graph_macs(&g) == 416520,
              "lenet5: %zu parameters and %zu MACs, want 61706 and 416520", eg_graph_param_count(&g), eg_graph_macs(&g));
        const char *root[] = {"c1", "c2", "f1", "f2"}, *next[] = {"c2", "f1", "f2", "f3"};
        const int block[] = {1, 25, 1, 1};  /* c2 -> flatten -> f1: blocks of 5x5 */
        for (int i = 0; i < 4; i++) {
            int r = eg_graph_find(&g, root[i]), nx = eg_graph_find(&g, next[i]);
            eg_status st = eg_depgroup_build(&g, r, &grp, &err);
            CHECK(st == EG_OK, "lenet5 %s: %s", root[i], err.msg);
            if (st) continue;
            CHECK(grp.nmembers == 2 && grp.members[0].node == r && grp.members[0].role == EG_DEP_OUT &&
                      grp.members[1].node == nx && grp.members[1].role == EG_DEP_IN &&
                      grp.members[1].block == block[i],
                  "lenet5 %s group: %d members, second is node %d role %d block %d; want %s inputs in blocks of %d",
                  root[i], grp.nmembers, grp.members[1].node, grp.members[1].role, grp.members[1].block, next[i],
                  block[i]);
        }
        CHECK(eg_depgroup_build(&g, eg_graph_find(&g, "f3"), &grp, &err) == EG_ERR_ARG, "lenet5 f3 (the output) accepted");
        eg_graph_free(&g);
    }
    if (!load(&g, &lenet300100, 1)) {
        check_size("lenet300100", &g, &lenet300100, lenet300100.width);
        CHECK(eg_graph_param_count(&g) == 266610 && eg_graph_macs(&g) == 266200,
              "lenet300100: %zu parameters and %zu MACs, want 266610 and 266200", eg_graph_param_count(&g),
              eg_graph_macs(&g));
        int f1 = eg_graph_find(&g, "fc1");
        CHECK(eg_depgroup_build(&g, f1, &grp, &err) == EG_OK && grp.nmembers == 2 &&
                  grp.members[1].node == eg_graph_find(&g, "fc2") && grp.members[1].block == 1,
              "lenet300100 fc1 group: fc2 inputs (%s)", err.msg);
        eg_graph_free(&g);
    }
}

/* Pruning every layer of a model in turn equals masking them all. */
static void chain(const model *m, uint64_t seed)
{
    eg_graph g, masked;
    if (load(&g, m, seed)) return;
    if (clone(&masked, &g, m)) {
        eg_graph_free(&g);
        return;
    }
    eg_rng r;
    eg_rng_seed(&r, seed + 1);
    int k[MAXL], keep[300];
    for (int l = m->nlayers - 1; l >= 0; l--) {  /* last layer first, so every group is sliced on both sides */
        int nd = eg_graph_find(&g, m->layers[l]), n = random_keep(&r, m->width[l], keep), j = 0;
        for (int c = 0; c < m->width[l]; c++) {
            if (j < n && keep[j] == c) j++;
            else util_zero_channel(&masked, nd, c, 1);
        }
        eg_dep_group grp;
        eg_error err = {0};
        CHECK(eg_depgroup_build(&g, nd, &grp, &err) == EG_OK && eg_surgery_keep(&g, &grp, keep, n, &err) == EG_OK,
              "chain %s %s: %s", m->spec, m->layers[l], err.msg);
        k[l] = n;
    }
    static float x[BATCH * PIXELS];
    float a[BATCH * CLASSES], b[BATCH * CLASSES];
    random_input(x, seed + 2);
    forward(&g, x, a);
    forward(&masked, x, b);
    char what[64];
    snprintf(what, sizeof what, "chain of every layer of %s", m->spec);
    check_close(what, a, b, BATCH * CLASSES, 1e-6, 1e-6);
    check_size(what, &g, m, k);
    eg_graph_free(&g), eg_graph_free(&masked);
}

int main(void)
{
    eg_set_threads(1);  /* prepare(..., 1) sizes scratch for one thread */
    test_groups_and_sizes();
    test_lenet5();
    test_lenet300100();
    chain(&lenet5, 50);
    chain(&lenet300100, 60);
    return check_report("surgery_models");
}
