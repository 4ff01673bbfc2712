/* Surgery tests: removing channels equals zeroing their filters and biases. */
/* Also: dependency groups, parameter and MAC counts after surgery, the
 * rejections, and the choice of channels to keep. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "util.h"

#define SPEC "models/simplecnn"
#define BATCH 5
#define CLASSES 10

static int load(eg_graph *g, uint64_t seed)
{
    eg_error err = {0};
    eg_status st = eg_graph_load_spec(g, SPEC, &err);
    CHECK(st == EG_OK, "loading %s: %s", SPEC, err.msg);
    if (st) return -1;
    eg_rng r;
    eg_rng_seed(&r, seed);
    eg_graph_init_params(g, &r);
    return 0;
}

/* A second graph from the same spec with the same parameters. */
static int clone(eg_graph *dst, const eg_graph *src)
{
    if (load(dst, 0)) return -1;
    CHECK(dst->nparam == src->nparam, "clone has %zu parameters, want %zu", dst->nparam, src->nparam);
    if (dst->nparam != src->nparam) return -1;
    memcpy(dst->params, src->params, src->nparam * sizeof *src->params);
    return 0;
}

static int node(const eg_graph *g, const char *name)
{
    int i = eg_graph_find(g, name);
    CHECK(i >= 0, "no node %s", name);
    return i;
}

/* Forward on x and copy the logits out (the arena is reused). */
static void forward(eg_graph *g, const float *x, float *logits)
{
    eg_status st = eg_graph_prepare(g, BATCH, 0, 1);
    CHECK(st == EG_OK, "prepare failed: %d", st);
    if (st) return;
    eg_graph_forward(g, x, BATCH);
    memcpy(logits, eg_graph_y(g), BATCH * CLASSES * sizeof(float));
}

/* Expected size of simplecnn with k1 conv1 channels, k2 conv2 channels and
 * k3 fc1 neurons, worked out by hand from the spec. */
static size_t want_params(int k1, int k2, int k3)
{
    return (size_t)(k1 * 9 + k1) + (size_t)(k2 * k1 * 9 + k2) + (size_t)(k3 * k2 * 49 + k3) +
           (size_t)(CLASSES * k3 + CLASSES);
}
static size_t want_macs(int k1, int k2, int k3)
{
    return (size_t)k1 * 9 * 28 * 28 + (size_t)k2 * k1 * 9 * 14 * 14 + (size_t)k3 * k2 * 49 +
           (size_t)CLASSES * k3;
}

/* Removes the channels not in keep from `layer` in one graph and zeroes them
 * in an identical one, then compares the two on random inputs. */
static void equivalence(const char *layer, const int *keep, int nkeep, uint64_t seed)
{
    eg_graph g, m, f;
    if (load(&g, seed)) return;
    int nd = node(&g, layer);
    if (nd < 0) {
        eg_graph_free(&g);
        return;
    }
    int channels = g.nodes[nd].out;
    char what[128];
    int n = snprintf(what, sizeof what, "%s keep [", layer);
    for (int i = 0; i < nkeep && n < 100; i++) n += snprintf(what + n, sizeof what - (size_t)n, i ? ",%d" : "%d", keep[i]);
    snprintf(what + n, sizeof what - (size_t)n, "]");

    /* Make the removed channels live: a positive bias passes the relu, so
     * zeroing the filter alone would leave a constant channel behind. */
    char *gone = calloc((size_t)channels, 1);
    for (int c = 0; c < channels; c++) gone[c] = 1;
    for (int i = 0; i < nkeep; i++) gone[keep[i]] = 0;
    for (int c = 0; c < channels; c++)
        if (gone[c]) g.nodes[nd].param[1][c] = 0.5f;
    if (clone(&m, &g) || clone(&f, &g)) {
        eg_graph_free(&g), free(gone);
        return;
    }
    for (int c = 0; c < channels; c++)
        if (gone[c]) util_zero_channel(&m, nd, c, 1), util_zero_channel(&f, nd, c, 0);

    eg_rng r;
    eg_rng_seed(&r, seed + 100);
    float x[BATCH * 28 * 28], before[BATCH * CLASSES], masked[BATCH * CLASSES], filters_only[BATCH * CLASSES],
        pruned[BATCH * CLASSES];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = eg_rng_range(&r, -2.5f, 2.5f);
    forward(&g, x, before);
    forward(&m, x, masked);
    forward(&f, x, filters_only);

    eg_dep_group grp;
    eg_error err = {0};
    eg_status st = eg_depgroup_build(&g, nd, &grp, &err);
    CHECK(st == EG_OK, "%s: depgroup: %s", what, err.msg);
    if (!st) {
        st = eg_surgery_keep(&g, &grp, keep, nkeep, &err);
        CHECK(st == EG_OK, "%s: surgery: %s", what, err.msg);
    }
    if (!st) {
        CHECK(g.nodes[nd].out == nkeep && g.nodes[nd].out_shape.c == nkeep, "%s: %s has %d channels, want %d",
              what, layer, g.nodes[nd].out_shape.c, nkeep);
        CHECK(g.nodes[nd].pshape[0][0] == nkeep && g.nodes[nd].psize[1] == (size_t)nkeep,
              "%s: weight has %d rows and bias %zu values, want %d", what, g.nodes[nd].pshape[0][0],
              g.nodes[nd].psize[1], nkeep);
        forward(&g, x, pruned);
        check_close(what, pruned, masked, BATCH * CLASSES, 1e-6, 1e-6);
        /* the test must be able to tell: the channels mattered, and so did their biases */
        if (nkeep < channels) {
            CHECK(util_max_abs_diff(pruned, before, BATCH * CLASSES) > 1e-4f,
                  "%s: removing channels changed nothing; the comparison is blind", what);
            CHECK(util_max_abs_diff(pruned, filters_only, BATCH * CLASSES) > 1e-4f,
                  "%s: zeroing only the filters gave the pruned outputs; the bias is not exercised", what);
        }
        int k1 = 4, k2 = 8, k3 = 64;
        *(!strcmp(layer, "conv1") ? &k1 : !strcmp(layer, "conv2") ? &k2 : &k3) = nkeep;
        CHECK(eg_graph_param_count(&g) == want_params(k1, k2, k3), "%s: %zu parameters, want %zu", what,
              eg_graph_param_count(&g), want_params(k1, k2, k3));
        CHECK(eg_graph_macs(&g) == want_macs(k1, k2, k3), "%s: %zu MACs, want %zu", what, eg_graph_macs(&g),
              want_macs(k1, k2, k3));
    }
    free(gone);
    eg_graph_free(&g), eg_graph_free(&m), eg_graph_free(&f);
}

static void test_equivalence(void)
{
    static const int c1a[] = {0, 2}, c1b[] = {1, 3}, c1c[] = {3}, c1d[] = {0, 1, 2}, c1e[] = {0, 1, 2, 3};
    equivalence("conv1", c1a, 2, 1);
    equivalence("conv1", c1b, 2, 2);
    equivalence("conv1", c1c, 1, 3);
    equivalence("conv1", c1d, 3, 4);
    equivalence("conv1", c1e, 4, 5);  /* keeping everything is the identity */
    static const int c2a[] = {0, 2, 4, 6}, c2b[] = {7}, c2c[] = {1, 2, 3, 4, 5, 6, 7}, c2d[] = {0, 5};
    equivalence("conv2", c2a, 4, 6);
    equivalence("conv2", c2b, 1, 7);
    equivalence("conv2", c2c, 7, 8);
    equivalence("conv2", c2d, 2, 9);
    static const int f1a[] = {5}, f1b[] = {0, 63};
    equivalence("fc1", f1a, 1, 10);
    equivalence("fc1", f1b, 2, 11);
    /* random subsets of every layer */
    eg_rng r;
    eg_rng_seed(&r, 42);
    static const char *const layers[] = {"conv1", "conv2", "fc1"};
    static const int width[] = {4, 8, 64};
    for (int t = 0; t < 9; t++) {
        int l = t % 3, keep[64], nkeep = 0;
        for (int c = 0; c < width[l]; c++)
            if (eg_rng_below(&r, 2)) keep[nkeep++] = c;
        if (!nkeep) keep[nkeep++] = (int)eg_rng_below(&r, (uint32_t)width[l]);
        equivalence(layers[l], keep, nkeep, 20 + (uint64_t)t);
    }
}

/* The brief's reference numbers, and structure of the groups. */
static void test_counts_and_groups(void)
{
    eg_graph g;
    if (load(&g, 3)) return;
    CHECK(eg_graph_param_count(&g) == 26138, "simplecnn has %zu parameters, want 26138", eg_graph_param_count(&g));
    CHECK(eg_graph_macs(&g) == 110400, "simplecnn has %zu MACs, want 110400", eg_graph_macs(&g));
    CHECK(want_params(4, 8, 64) == 26138 && want_macs(4, 8, 64) == 110400, "the hand formulas are off");

    eg_dep_group grp;
    eg_error err = {0};
    int c1 = node(&g, "conv1"), c2 = node(&g, "conv2"), f1 = node(&g, "fc1"), f2 = node(&g, "fc2");
    CHECK(eg_depgroup_build(&g, c2, &grp, &err) == EG_OK, "conv2: %s", err.msg);
    CHECK(grp.root == c2 && grp.channels == 8 && grp.nmembers == 2, "conv2 group: root %d, %d channels, %d members",
          grp.root, grp.channels, grp.nmembers);
    CHECK(grp.members[0].node == c2 && grp.members[0].role == EG_DEP_OUT, "conv2 group starts with its outputs");
    CHECK(grp.members[1].node == f1 && grp.members[1].role == EG_DEP_IN && grp.members[1].block == 49,
          "conv2 group: fc1's inputs in blocks of 7*7, found node %d role %d block %d", grp.members[1].node,
          grp.members[1].role, grp.members[1].block);
    CHECK(eg_depgroup_build(&g, f1, &grp, &err) == EG_OK, "fc1: %s", err.msg);
    CHECK(grp.nmembers == 2 && grp.members[1].node == f2 && grp.members[1].block == 1, "fc1 group: fc2 inputs");

    CHECK(eg_depgroup_build(&g, c1, &grp, &err) == EG_OK, "conv1: %s", err.msg);
    CHECK(grp.nmembers == 2 && grp.members[1].node == c2 && grp.members[1].block == 1, "conv1 group: conv2 inputs");
    int keep[] = {1, 2};
    CHECK(eg_surgery_keep(&g, &grp, keep, 2, &err) == EG_OK, "conv1 4->2: %s", err.msg);
    CHECK(eg_graph_param_count(&g) == 25974, "conv1 4->2: %zu parameters, want 25974", eg_graph_param_count(&g));
    CHECK(eg_graph_macs(&g) == 68064, "conv1 4->2: %zu MACs, want 68064", eg_graph_macs(&g));
    CHECK(g.nodes[c2].pshape[0][1] == 2 && g.nodes[c2].in_shape.c == 2, "conv2 takes %d channels after, want 2",
          g.nodes[c2].pshape[0][1]);

    /* a group built before the surgery no longer describes the graph */
    int stale[] = {0, 3};
    eg_status st = eg_surgery_keep(&g, &grp, stale, 2, &err);
    CHECK(st == EG_ERR_ARG, "a stale group (4 channels, conv1 now has 2) was accepted");
    CHECK(eg_graph_param_count(&g) == 25974, "a rejected surgery changed the graph");
    eg_graph_free(&g);
}

static void test_rejections(void)
{
    eg_graph g;
    if (load(&g, 4)) return;
    eg_dep_group grp;
    eg_error err = {0};
    int c1 = node(&g, "conv1");

    eg_status st = eg_depgroup_build(&g, node(&g, "fc2"), &grp, &err);
    CHECK(st == EG_ERR_ARG && strstr(err.msg, "fc2") && strstr(err.msg, "output"),
          "fc2 (the output): status %d, '%s'", st, err.msg);
    st = eg_depgroup_build(&g, node(&g, "relu1"), &grp, &err);
    CHECK(st == EG_ERR_ARG && strstr(err.msg, "relu1") && strstr(err.msg, "conv2d or linear"),
          "relu1: status %d, '%s'", st, err.msg);
    st = eg_depgroup_build(&g, node(&g, "x"), &grp, &err);
    CHECK(st == EG_ERR_ARG, "the input node: status %d", st);
    CHECK(eg_depgroup_build(&g, -1, &grp, &err) == EG_ERR_ARG, "node -1 accepted");
    CHECK(eg_depgroup_build(&g, g.nnodes, &grp, &err) == EG_ERR_ARG, "node past the end accepted");

    CHECK(eg_depgroup_build(&g, c1, &grp, &err) == EG_OK, "conv1: %s", err.msg);
    size_t before = eg_graph_param_count(&g);
    float *saved = malloc(g.nparam * sizeof *saved);
    memcpy(saved, g.params, g.nparam * sizeof *saved);
    int keep[4] = {0};
    st = eg_surgery_keep(&g, &grp, keep, 0, &err);
    CHECK(st == EG_ERR_ARG && strstr(err.msg, "conv1") && strstr(err.msg, "at least one"),
          "nkeep=0: status %d, '%s'", st, err.msg);
    int unsorted[] = {2, 1};
    st = eg_surgery_keep(&g, &grp, unsorted, 2, &err);
    CHECK(st == EG_ERR_ARG && strstr(err.msg, "ascending"), "unsorted keep: status %d, '%s'", st, err.msg);
    int dup[] = {1, 1};
    CHECK(eg_surgery_keep(&g, &grp, dup, 2, &err) == EG_ERR_ARG, "a repeated channel was accepted");
    int range[] = {0, 4};
    CHECK(eg_surgery_keep(&g, &grp, range, 2, &err) == EG_ERR_ARG, "channel 4 of 4 was accepted");
    int neg[] = {-1, 0};
    CHECK(eg_surgery_keep(&g, &grp, neg, 2, &err) == EG_ERR_ARG, "channel -1 was accepted");
    CHECK(eg_graph_param_count(&g) == before && g.nodes[c1].out == 4 &&
              !memcmp(saved, g.params, g.nparam * sizeof *saved),
          "a rejected surgery changed the graph");
    free(saved);
    eg_graph_free(&g);
}

/* Pruning three layers one after another equals masking all three. */
static void test_chain(void)
{
    eg_graph g, m;
    if (load(&g, 9)) return;
    if (clone(&m, &g)) {
        eg_graph_free(&g);
        return;
    }
    static const char *const layers[] = {"conv2", "conv1", "fc1"};
    static const int k2[] = {1, 4, 6}, k1[] = {0, 3}, k3[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61};
    const int *keeps[] = {k2, k1, k3}, nkeeps[] = {3, 2, 18};
    for (int l = 0; l < 3; l++) {
        int nd = node(&g, layers[l]), j = 0;
        for (int c = 0; c < m.nodes[nd].out; c++) {
            if (j < nkeeps[l] && keeps[l][j] == c) j++;
            else util_zero_channel(&m, nd, c, 1);
        }
        eg_dep_group grp;
        eg_error err = {0};
        CHECK(eg_depgroup_build(&g, nd, &grp, &err) == EG_OK && eg_surgery_keep(&g, &grp, keeps[l], nkeeps[l], &err) == EG_OK,
              "chain %s: %s", layers[l], err.msg);
    }
    eg_rng r;
    eg_rng_seed(&r, 99);
    float x[BATCH * 28 * 28], a[BATCH * CLASSES], b[BATCH * CLASSES];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = eg_rng_range(&r, -2, 2);
    forward(&g, x, a);
    forward(&m, x, b);
    check_close("chain conv2, conv1, fc1", a, b, BATCH * CLASSES, 1e-6, 1e-6);
    CHECK(eg_graph_param_count(&g) == want_params(2, 3, 18), "chain: %zu parameters, want %zu",
          eg_graph_param_count(&g), want_params(2, 3, 18));
    CHECK(eg_graph_macs(&g) == want_macs(2, 3, 18), "chain: %zu MACs, want %zu", eg_graph_macs(&g), want_macs(2, 3, 18));
    eg_graph_free(&g), eg_graph_free(&m);
}

/* A layer read by two nodes needs an op that joins them again (add); a
 * branch that ends nowhere is refused, since it would get no gradient. */
static void test_fan_out(void)
{
    const char *spec = "input x shape=2x6x6\n"
                       "conv2d a out=5 kernel=3 pad=1\n"
                       "relu r\n"
                       "conv2d side in=r out=3 kernel=1\n"
                       "conv2d b in=r out=4 kernel=3\n"
                       "flatten f\n"
                       "linear out out=3\n";
    eg_graph g;
    eg_error err = {0};
    eg_status st = eg_graph_parse_spec(&g, spec, "fan.spec", &err);
    CHECK(st == EG_ERR_SPEC && strstr(err.msg, "fan.spec:4") && strstr(err.msg, "'side' is not used"),
          "a dead branch: status %d, message '%s'", st, err.msg);
    if (!st) eg_graph_free(&g);
}

static void test_select_keep(void)
{
    int keep[8], pruned[8];
    const double s1[] = {3, 1, 2, 1, 5, 1};
    int n = eg_select_keep(s1, 6, 2, keep, pruned);
    /* three tie at 1: the two lowest indices go */
    CHECK(n == 4 && keep[0] == 0 && keep[1] == 2 && keep[2] == 4 && keep[3] == 5,
          "keep {3,1,2,1,5,1} minus 2: got %d kept [%d %d %d %d]", n, keep[0], keep[1], keep[2], keep[3]);
    CHECK(pruned[0] == 1 && pruned[1] == 3, "pruned [%d %d], want [1 3]", pruned[0], pruned[1]);

    const double s2[] = {2, 2, 2, 2, 1};
    n = eg_select_keep(s2, 5, 2, keep, pruned);
    CHECK(n == 3 && pruned[0] == 0 && pruned[1] == 4 && keep[0] == 1 && keep[1] == 2 && keep[2] == 3,
          "{2,2,2,2,1} minus 2: pruned [%d %d], want [0 4]", pruned[0], pruned[1]);

    const double s3[] = {0.5, 0.25, 0.75, 0.125};
    n = eg_select_keep(s3, 4, 3, keep, NULL);
    CHECK(n == 1 && keep[0] == 2, "{.5,.25,.75,.125} minus 3: kept %d, first %d; want [2]", n, keep[0]);
    n = eg_select_keep(s3, 4, 0, keep, pruned);
    CHECK(n == 4 && keep[0] == 0 && keep[3] == 3, "removing 0 kept %d", n);

    /* L1 scores are the sum of |w| over each filter, bias not counted */
    eg_graph g;
    if (load(&g, 5)) return;
    int c2 = node(&g, "conv2");
    double scores[8];
    eg_importance_l1(&g, c2, scores);
    for (int c = 0; c < 8; c++) {
        double want = 0;
        for (int k = 0; k < 36; k++) want += fabs(g.nodes[c2].param[0][c * 36 + k]);
        CHECK(fabs(scores[c] - want) <= 1e-9 * want, "conv2 channel %d: L1 %.9g, want %.9g", c, scores[c], want);
    }
    eg_graph_free(&g);
}

/* Channels removed through hardswish and relu6 (f(0) = 0 for both): the
 * pruned model computes what the masked one does, its convs' weights scaled
 * up so that their outputs reach every piece of both. Through a sigmoid
 * (f(0) = 0.5) removing is refused. */
static void test_activations(void)
{
    static const char mobile[] = "input x shape=1x28x28\n"
                                 "conv2d c1 out=4 kernel=3 pad=1\nhardswish h\nmaxpool2d p kernel=2\n"
                                 "conv2d c2 out=6 kernel=3 pad=1\nrelu6 r\nflatten f\nlinear fc out=10\n";
    static const int keep1[] = {0, 2}, keep2[] = {1, 3, 4};
    const char *layers[] = {"c1", "c2"};
    const int *keeps[] = {keep1, keep2}, nkeeps[] = {2, 3};
    for (int l = 0; l < 2; l++) {
        eg_graph g, m;
        eg_error err = {0};
        eg_rng r;
        if (eg_graph_parse_spec(&g, mobile, "mobile", &err) || eg_graph_parse_spec(&m, mobile, "mobile", &err)) {
            CHECK(0, "mobile spec: %s", err.msg);
            return;
        }
        eg_rng_seed(&r, 41);
        eg_graph_init_params(&g, &r);
        for (int i = 1; i <= 4; i += 3)
            for (size_t k = 0; k < g.nodes[i].psize[0]; k++) g.nodes[i].param[0][k] *= 8;
        memcpy(m.params, g.params, g.nparam * sizeof *g.params);
        int nd = node(&g, layers[l]);
        for (int c = 0, k = 0; c < g.nodes[nd].out; c++)
            if (k < nkeeps[l] && keeps[l][k] == c) k++;
            else util_zero_channel(&m, nd, c, 1);
        float x[BATCH * 28 * 28], masked[BATCH * CLASSES], pruned[BATCH * CLASSES], before[BATCH * CLASSES];
        eg_rng_seed(&r, 42);
        for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = eg_rng_range(&r, -2.5f, 2.5f);
        forward(&g, x, before);
        forward(&m, x, masked);
        eg_dep_group grp;
        eg_status st = eg_depgroup_build(&g, nd, &grp, &err);
        if (!st) st = eg_surgery_keep(&g, &grp, keeps[l], nkeeps[l], &err);
        CHECK(st == EG_OK, "mobile %s: %s", layers[l], err.msg);
        if (!st) {
            forward(&g, x, pruned);
            check_close(layers[l], pruned, masked, BATCH * CLASSES, 1e-6, 1e-6);
            CHECK(util_max_abs_diff(pruned, before, BATCH * CLASSES) > 1e-4f, "mobile %s: removing changed nothing",
                  layers[l]);
        }
        eg_graph_free(&g), eg_graph_free(&m);
    }
    eg_graph g;
    eg_error err = {0};
    eg_dep_group grp;
    if (eg_graph_parse_spec(&g, "input x shape=1x8x8\nconv2d c out=4 kernel=3\nsigmoid s\nconv2d d out=3 kernel=3\n"
                            "flatten f\nlinear fc out=10\n", "sig", &err)) {
        CHECK(0, "sigmoid spec: %s", err.msg);
        return;
    }
    eg_status st = eg_depgroup_build(&g, node(&g, "c"), &grp, &err);
    CHECK(st == EG_ERR_ARG && strstr(err.msg, "pass through sigmoid 's'") && strstr(err.msg, "1 / (1 + e^-x)"),
          "through a sigmoid: status %d, %s", st, err.msg);
    CHECK(eg_depgroup_build(&g, node(&g, "d"), &grp, &err) == EG_OK, "d, after the sigmoid: %s", err.msg);
    eg_graph_free(&g);
}

/* A depthwise conv couples its input and output channels: removing conv
 * c1's channels removes its filters and biases with them, and c2's inputs.
 * The masked model silences a channel in both c1 and the depthwise conv
 * (its bias would otherwise carry on as a constant). */
static void test_depthwise(void)
{
    static const char spec[] = "input x shape=1x28x28\n"
                               "conv2d c1 out=6 kernel=3 pad=1 stride=2\nrelu r1\ndwconv2d dw kernel=3 pad=1\nrelu r2\n"
                               "conv2d c2 out=5 kernel=1\nrelu r3\nflatten f\nlinear fc out=10\n";
    static const int keep[] = {1, 2, 4};
    eg_graph g, m;
    eg_error err = {0};
    eg_rng r;
    if (eg_graph_parse_spec(&g, spec, "dw", &err) || eg_graph_parse_spec(&m, spec, "dw", &err)) {
        CHECK(0, "depthwise spec: %s", err.msg);
        return;
    }
    eg_rng_seed(&r, 43);
    eg_graph_init_params(&g, &r);
    memcpy(m.params, g.params, g.nparam * sizeof *g.params);
    int c1 = node(&g, "c1"), dw = node(&g, "dw");
    for (int c = 0, k = 0; c < 6; c++) {
        if (k < 3 && keep[k] == c) {
            k++;
            continue;
        }
        util_zero_channel(&m, c1, c, 1);
        memset(m.nodes[dw].param[0] + c * 9, 0, 9 * sizeof(float));
        m.nodes[dw].param[1][c] = 0;
    }
    float x[BATCH * 28 * 28], masked[BATCH * CLASSES], pruned[BATCH * CLASSES], before[BATCH * CLASSES];
    eg_rng_seed(&r, 44);
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = eg_rng_range(&r, -2.5f, 2.5f);
    forward(&g, x, before);
    forward(&m, x, masked);
    eg_dep_group grp;
    eg_status st = eg_depgroup_build(&g, c1, &grp, &err);
    if (!st) st = eg_surgery_keep(&g, &grp, keep, 3, &err);
    CHECK(st == EG_OK, "depthwise: %s", err.msg);
    if (!st) {
        CHECK(g.nodes[dw].in_shape.c == 3 && g.nodes[dw].psize[0] == 27 && g.nodes[dw].psize[1] == 3,
              "depthwise: dw has %d channels, %zu weights, %zu biases; want 3, 27, 3", g.nodes[dw].in_shape.c,
              g.nodes[dw].psize[0], g.nodes[dw].psize[1]);
        forward(&g, x, pruned);
        check_close("depthwise", pruned, masked, BATCH * CLASSES, 1e-6, 1e-6);
        CHECK(util_max_abs_diff(pruned, before, BATCH * CLASSES) > 1e-4f, "depthwise: removing changed nothing");
    }
    CHECK(eg_depgroup_build(&g, dw, &grp, &err) == EG_ERR_ARG && strstr(err.msg, "no channels of its own"),
          "depthwise as a root: %s", err.msg);
    eg_graph_free(&g), eg_graph_free(&m);
}

int main(void)
{
    eg_set_threads(1);  /* prepare(..., 1) sizes scratch for one thread */
    test_equivalence();
    test_counts_and_groups();
    test_rejections();
    test_chain();
    test_fan_out();
    test_select_keep();
    test_activations();
    test_depthwise();
    return check_report("surgery");
}
