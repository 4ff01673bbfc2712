/* LSH merging: planted duplicates (exact and positively scaled) in linear
 * neurons and conv filters (into a conv, and through a flatten into a
 * linear layer) are found and merged away, and the outputs do not change;
 * negative factors and unplanted units are left alone; bad options and
 * layers are refused. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"

#define BATCH 6

static void load(eg_graph *g, uint64_t seed)
{
    eg_error err = {0};
    eg_status st = eg_graph_load_spec(g, "models/simplecnn", &err);
    CHECK(st == EG_OK, "load: %s", err.msg);
    eg_rng r;
    eg_rng_seed(&r, seed);
    eg_graph_init_params(g, &r);
}

static void forward(eg_graph *g, const float *x, float *out)
{
    CHECK(eg_graph_prepare(g, BATCH, 0, 1) == EG_OK, "prepare");
    eg_graph_forward(g, x, BATCH);
    memcpy(out, eg_graph_y(g), BATCH * 10 * sizeof *out);
}

/* Unit `dst` of node becomes s x unit `src` (incoming weights and bias). */
static void plant(eg_graph *g, const char *name, int dst, int src, float s)
{
    eg_node *nd = &g->nodes[eg_graph_find(g, name)];
    size_t per = nd->psize[0] / (size_t)nd->out;
    for (size_t k = 0; k < per; k++) nd->param[0][dst * per + k] = s * nd->param[0][src * per + k];
    nd->param[1][dst] = s * nd->param[1][src];
}

/* Merges on `layer` after planting; checks the count, the outputs, and that
 * exactly one unit of each planted group survives. groups: -1-terminated
 * lists, then a second -1. */
static void case_merge(const char *layer, const int *groups, int expect, double threshold, const char *what)
{
    eg_graph g;
    load(&g, 7);
    int node = eg_graph_find(&g, layer), n0 = g.nodes[node].out;
    for (const int *p = groups; *p >= 0; p++) {
        int first = *p;
        float scale[] = {1.0f, 2.5f, 0.7f, 1.0f};
        for (int k = 0; p[1] >= 0; k++) plant(&g, layer, *++p, first, scale[k % 4]);
        p++;
    }
    float x[BATCH * 784], before[BATCH * 10], after[BATCH * 10];
    eg_rng r;
    eg_rng_seed(&r, 3);
    for (int i = 0; i < BATCH * 784; i++) x[i] = eg_rng_range(&r, -1, 2);
    forward(&g, x, before);
    eg_lsh_opts o = {8, 4, threshold, 1000};
    eg_lsh_result res;
    eg_error err = {0};
    eg_rng_seed(&r, 11);
    eg_status st = eg_lsh_merge(&g, node, &o, &r, &res, &err);
    CHECK(st == EG_OK, "%s: merge: %s", what, err.msg);
    if (st) {
        eg_graph_free(&g);
        return;
    }
    CHECK(res.merged == expect, "%s: merged %d units, expected %d", what, res.merged, expect);
    CHECK(g.nodes[node].out == n0 - expect, "%s: %d units left, expected %d", what, g.nodes[node].out, n0 - expect);
    /* every removed unit is a planted one, and every group keeps one unit */
    char *gone = calloc((size_t)n0, 1);
    for (int i = 0; i < res.merged; i++) {
        gone[res.removed[i]] = 1;
        CHECK(res.scale[i] > 0, "%s: merge %d has scale %g", what, i, res.scale[i]);
    }
    int planted_gone = 0;
    for (const int *p = groups; *p >= 0; p++) {
        int kept = 0;
        for (; *p >= 0; p++) kept += !gone[*p], planted_gone += gone[*p];
        CHECK(kept == 1, "%s: a planted group keeps %d units, expected 1", what, kept);
    }
    CHECK(planted_gone == res.merged, "%s: %d of the %d removed units were planted", what, planted_gone, res.merged);
    free(gone);
    forward(&g, x, after);
    check_close(what, after, before, BATCH * 10, 0, 1e-6);
    eg_lsh_result_free(&res);
    eg_graph_free(&g);
}

static void test_refusals(void)
{
    eg_graph g;
    load(&g, 1);
    eg_lsh_result res;
    eg_error err = {0};
    eg_rng r;
    eg_rng_seed(&r, 1);
    eg_lsh_opts ok = {8, 4, 0.9, 4};
    CHECK(eg_lsh_merge(&g, eg_graph_find(&g, "fc2"), &ok, &r, &res, &err) == EG_ERR_ARG && strstr(err.msg, "output"),
          "merging the output layer: %s", err.msg);
    CHECK(eg_lsh_merge(&g, eg_graph_find(&g, "relu1"), &ok, &r, &res, &err) == EG_ERR_ARG, "merging a relu: %s", err.msg);
    eg_lsh_opts bad[] = {{0, 4, 0.9, 4}, {33, 4, 0.9, 4}, {8, 0, 0.9, 4}, {8, 4, 0, 4}, {8, 4, 1.5, 4}, {8, 4, -0.5, 4}, {8, 4, 0.9, -1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        CHECK(eg_lsh_merge(&g, eg_graph_find(&g, "fc1"), &bad[i], &r, &res, &err) == EG_ERR_ARG && err.msg[0],
              "bad options %zu accepted", i);
    }
    CHECK(g.nodes[eg_graph_find(&g, "fc1")].out == 64, "a refused merge changed fc1");
    /* a negative factor is never merged (relu does not commute with it);
     * nor a random unit with anything at a high threshold */
    plant(&g, "fc1", 9, 4, -2.0f);
    eg_lsh_opts hi = {8, 8, 0.99, 64};
    CHECK(eg_lsh_merge(&g, eg_graph_find(&g, "fc1"), &hi, &r, &res, &err) == EG_OK, "%s", err.msg);
    CHECK(res.merged == 0, "merged %d units of a model with only a negatively scaled pair", res.merged);
    eg_lsh_result_free(&res);
    /* max_merges bounds the count */
    plant(&g, "fc1", 10, 4, 1.0f), plant(&g, "fc1", 11, 4, 3.0f), plant(&g, "fc1", 12, 4, 0.5f);
    hi.max_merges = 2;
    CHECK(eg_lsh_merge(&g, eg_graph_find(&g, "fc1"), &hi, &r, &res, &err) == EG_OK, "%s", err.msg);
    CHECK(res.merged == 2 && g.nodes[eg_graph_find(&g, "fc1")].out == 62, "max_merges 2: merged %d", res.merged);
    eg_lsh_result_free(&res);
    eg_graph_free(&g);
}

int main(void)
{
    /* fc1 neurons: a twin, a group of three with scales 2.5 and 0.7 */
    static const int fc1[] = {2, 5, -1, 3, 9, 40, -1, -1};
    case_merge("fc1", fc1, 3, 0.9999, "fc1 (linear -> relu -> linear)");
    /* conv2 filters, through relu, pool and flatten into fc1's columns */
    static const int conv2[] = {1, 6, -1, 0, 4, -1, -1};
    case_merge("conv2", conv2, 2, 0.9999, "conv2 (conv -> relu -> pool -> flatten -> linear)");
    /* conv1 filters into conv2's input channels */
    static const int conv1[] = {0, 3, 2, -1, -1};
    case_merge("conv1", conv1, 2, 0.9999, "conv1 (conv -> relu -> pool -> conv)");
    test_refusals();
    return check_report("test_lsh");
}
