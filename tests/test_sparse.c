/* Sparse inference: a masked SimpleCNN gives the same outputs (within 1e-5)
 * with its linear layers on the CSR kernel as on the dense GEMM, at odd
 * batches, batch 1 and two threads; the CSR copies follow re-pruning between
 * evaluations; training never uses them; the automatic choice follows the
 * density. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "util.h"

static const int weighted[] = {1, 4, 8, 10};  /* conv1, conv2, fc1, fc2 in models/simplecnn */
enum { FC1 = 8, FC2 = 10, MAXN = 37, IN = 28 * 28, K = 10 };

/* Inference outputs [n, K] of g for x with the path forced by sparse (-1 dense, 1 CSR, 0 automatic). */
static void outputs(eg_graph *g, int sparse, const float *x, int n, int threads, float *out)
{
    g->plan.sparse = sparse;
    CHECK(eg_graph_prepare(g, n, 0, threads) == EG_OK, "prepare n=%d", n);
    eg_graph_forward(g, x, n);
    memcpy(out, eg_graph_y(g), (size_t)n * K * sizeof *out);
}

static void test_paths_agree(const float *x)
{
    static const double amounts[] = {0.5, 0.9, 0.99, 1.0};
    static const int batches[] = {1, 3, 17, MAXN};
    float dense[MAXN * K], csr[MAXN * K];
    for (size_t a = 0; a < sizeof amounts / sizeof *amounts; a++) {
        eg_graph g;
        eg_error err = {0};
        if (util_graph(&g, "models/simplecnn", NULL, 1 + a, 1)) return;
        if (amounts[a] < 1)
            CHECK(eg_prune_magnitude(&g, weighted, 4, amounts[a], 0, &err) == EG_OK, "prune %g: %s", amounts[a], err.msg);
        else  /* every weight masked (pruning takes fractions below 1): outputs are the biases' */
            for (int i = 0; i < 4; i++) {
                eg_node *nd = &g.nodes[weighted[i]];
                for (size_t k = 0; k < nd->psize[0]; k++) nd->param[0][k] = nd->mask[0][k] = 0;
            }
        for (size_t b = 0; b < sizeof batches / sizeof *batches; b++)
            for (int threads = 1; threads <= 2; threads++) {
                int n = batches[b];
                outputs(&g, -1, x, n, threads, dense);
                CHECK(g.plan.steps[FC1].weights != EG_WEIGHTS_CSR && !(g.plan.steps[FC2].weights == EG_WEIGHTS_CSR), "forced dense but a node uses its CSR copy");
                outputs(&g, 1, x, n, threads, csr);
                CHECK((g.plan.steps[FC1].weights == EG_WEIGHTS_CSR) && (g.plan.steps[FC2].weights == EG_WEIGHTS_CSR), "forced CSR but fc1 %d fc2 %d", (g.plan.steps[FC1].weights == EG_WEIGHTS_CSR),
                      (g.plan.steps[FC2].weights == EG_WEIGHTS_CSR));
                char what[96];
                snprintf(what, sizeof what, "sparsity %g batch %d threads %d: csr vs dense", amounts[a], n, threads);
                check_close(what, csr, dense, (size_t)n * K, 1e-5, 1e-5);
            }
        eg_graph_free(&g);
    }
}

/* Pruning again between two evaluations at the same batch: the second
 * prepare rebuilds the copies, so the CSR outputs follow the new masks. */
static void test_not_stale(const float *x)
{
    eg_graph g;
    eg_error err = {0};
    float first[MAXN * K], csr[MAXN * K], dense[MAXN * K];
    if (util_graph(&g, "models/simplecnn", NULL, 9, 1)) return;
    CHECK(eg_prune_magnitude(&g, weighted, 4, 0.8, 0, &err) == EG_OK, "prune 0.8: %s", err.msg);
    outputs(&g, 1, x, MAXN, 1, first);
    CHECK(eg_prune_magnitude(&g, weighted, 4, 0.97, 0, &err) == EG_OK, "prune 0.97: %s", err.msg);
    outputs(&g, 1, x, MAXN, 1, csr);
    outputs(&g, -1, x, MAXN, 1, dense);
    check_close("after re-pruning: csr vs dense", csr, dense, (size_t)MAXN * K, 1e-5, 1e-5);
    int moved = 0;
    for (int i = 0; i < MAXN * K; i++) moved += fabsf(first[i] - csr[i]) > 1e-3f;
    CHECK(moved > 0, "re-pruning changed no output");
    /* weights set by hand then prepared again (as a model load would) */
    for (size_t k = 0; k < g.nodes[FC2].psize[0]; k++) g.nodes[FC2].param[0][k] *= g.nodes[FC2].mask[0][k] * 2;
    outputs(&g, 1, x, MAXN, 1, csr);
    outputs(&g, -1, x, MAXN, 1, dense);
    check_close("after new weights: csr vs dense", csr, dense, (size_t)MAXN * K, 1e-5, 1e-5);
    /* training prepares without copies and runs dense */
    g.plan.sparse = 1;
    CHECK(eg_graph_prepare(&g, MAXN, 1, 1) == EG_OK, "prepare for training");
    CHECK(g.plan.steps[FC1].weights != EG_WEIGHTS_CSR && !(g.plan.steps[FC2].weights == EG_WEIGHTS_CSR) && !g.plan.steps[FC1].csr_val, "training keeps a CSR copy");
    eg_graph_free(&g);
}

/* The automatic choice (graph/plan.c: CSR at density <= 0.4 with a lane
 * group of rows or more per thread of a model that runs in lanes, <= 0.35
 * with four rows or more, <= 0.04 with fewer): at 37 rows (in lanes) dense
 * at 40% sparsity, CSR at 60%; at 8 rows dense at 60% (CSR in lanes, where
 * 8 rows make a group), CSR at 70% and 90%;
 * at one row (the scalar path) dense at 80% and 90%, CSR at 97%; a graph
 * without masks never gets a copy. Evaluation over a small in-memory set
 * gives the same accuracy and loss either way. */
static void test_auto(const float *x)
{
    eg_graph g;
    eg_error err = {0};
    float out[MAXN * K];
    if (util_graph(&g, "models/simplecnn", NULL, 5, 1)) return;
    int fc1 = FC1;
    CHECK(eg_prune_magnitude(&g, &fc1, 1, 0.4, 0, &err) == EG_OK, "prune 0.4: %s", err.msg);
    outputs(&g, 0, x, MAXN, 1, out);
    CHECK(g.plan.steps[FC1].weights != EG_WEIGHTS_CSR, "fc1 at 40%% sparsity runs on CSR");
    CHECK(eg_prune_magnitude(&g, &fc1, 1, 0.6, 0, &err) == EG_OK, "prune 0.6: %s", err.msg);
    outputs(&g, 0, x, MAXN, 1, out);
    CHECK((g.plan.steps[FC1].weights == EG_WEIGHTS_CSR) == (eg_lanes_floats(&g) > 0), "fc1 at 60%% sparsity, 37 rows: csr %d, lanes %d",
          (g.plan.steps[FC1].weights == EG_WEIGHTS_CSR), eg_lanes_floats(&g) > 0);
    outputs(&g, 0, x, 8, 1, out);  /* a lane group where vectors are 8 floats or fewer */
    int lanes8 = 8 >= eg_k->vl && eg_lanes_floats(&g) > 0;
    CHECK((g.plan.steps[FC1].weights == EG_WEIGHTS_CSR) == lanes8, "fc1 at 60%% sparsity, 8 rows: csr %d, lanes %d", (g.plan.steps[FC1].weights == EG_WEIGHTS_CSR), lanes8);
    CHECK(eg_prune_magnitude(&g, &fc1, 1, 0.7, 0, &err) == EG_OK, "prune 0.7: %s", err.msg);
    outputs(&g, 0, x, 8, 1, out);
    CHECK((g.plan.steps[FC1].weights == EG_WEIGHTS_CSR), "fc1 at 70%% sparsity, 8 rows, runs dense");
    CHECK(eg_prune_magnitude(&g, &fc1, 1, 0.8, 0, &err) == EG_OK, "prune 0.8: %s", err.msg);
    outputs(&g, 0, x, 1, 1, out);
    CHECK(g.plan.steps[FC1].weights != EG_WEIGHTS_CSR, "fc1 at 80%% sparsity, one row, runs on CSR");
    outputs(&g, 0, x, 7, 2, out);  /* 4 rows for the first thread */
    CHECK((g.plan.steps[FC1].weights == EG_WEIGHTS_CSR), "fc1 at 80%% sparsity, 7 rows on 2 threads, runs dense");
    CHECK(eg_prune_magnitude(&g, &fc1, 1, 0.9, 0, &err) == EG_OK, "prune 0.9: %s", err.msg);
    outputs(&g, 0, x, 1, 1, out);
    CHECK(g.plan.steps[FC1].weights != EG_WEIGHTS_CSR, "fc1 at 90%% sparsity, one row, runs on CSR");
    outputs(&g, 0, x, 8, 1, out);
    CHECK((g.plan.steps[FC1].weights == EG_WEIGHTS_CSR) && !(g.plan.steps[FC2].weights == EG_WEIGHTS_CSR), "at 90%%: fc1 csr %d (want 1), fc2 csr %d (want 0)",
          (g.plan.steps[FC1].weights == EG_WEIGHTS_CSR), (g.plan.steps[FC2].weights == EG_WEIGHTS_CSR));
    CHECK(eg_prune_magnitude(&g, &fc1, 1, 0.97, 0, &err) == EG_OK, "prune 0.97: %s", err.msg);
    outputs(&g, 0, x, 1, 1, out);
    CHECK((g.plan.steps[FC1].weights == EG_WEIGHTS_CSR), "fc1 at 97%% sparsity, one row, runs dense");

    eg_dataset ds = {.n = MAXN, .c = 1, .h = 28, .w = 28, .x = (float *)x, .y = malloc(MAXN)};
    for (int i = 0; i < MAXN; i++) ds.y[i] = (uint8_t)(i % K);
    double acc[2], loss[2];
    for (int m = 0; m < 2; m++) {
        g.plan.sparse = m ? 1 : -1;
        CHECK(eg_evaluate(&g, &ds, 8, &acc[m], &loss[m], &err) == EG_OK, "evaluate: %s", err.msg);
    }
    CHECK(acc[0] == acc[1] && fabs(loss[0] - loss[1]) <= 1e-5 * fabs(loss[0]), "evaluate: dense %g%% %.9g, csr %g%% %.9g",
          acc[0], loss[0], acc[1], loss[1]);
    free(ds.y);
    eg_graph_free(&g);

    if (util_graph(&g, "models/simplecnn", NULL, 6, 1)) return;
    free(g.masks);
    g.masks = NULL;
    for (int i = 0; i < g.nnodes; i++) g.nodes[i].mask[0] = g.nodes[i].mask[1] = NULL;
    outputs(&g, 1, x, 5, 1, out);
    size_t wt_only = 0;  /* the linear layers' transposed weights, no more */
    for (int i = 0; i < g.nnodes; i++)
        if (g.nodes[i].op == EG_OP_LINEAR) wt_only += (g.nodes[i].psize[0] + 15) / 16 * 16;
    CHECK(g.plan.steps[FC1].weights != EG_WEIGHTS_CSR && !g.plan.steps[FC1].csr_val && g.plan.copy_floats == wt_only, "an unmasked graph got a CSR copy");
    eg_graph_free(&g);
}

int main(void)
{
    eg_rng r;
    eg_rng_seed(&r, 3);
    float *x = malloc((size_t)MAXN * IN * sizeof *x);
    for (size_t i = 0; i < (size_t)MAXN * IN; i++) x[i] = eg_rng_range(&r, -0.5f, 2.5f);
    test_paths_agree(x);
    test_not_stale(x);
    test_auto(x);
    free(x);
    return check_report("sparse");
}
