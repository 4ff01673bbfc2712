/* The first-order Taylor criterion against a direct computation. */
/* On SimpleCNN with random data: eg_taylor_scores's per-weight scores equal
 * sum over the batches of |w * g|, each batch's gradient taken here with
 * the plain forward/backward and the loss; its per-channel scores for conv2
 * (whose ReLU is folded into the pool) and fc1 equal the Molchanov et al.
 * form computed from the layer's output z and dL/dz, |1/M sum z dL/dz|
 * averaged over the batches; the weights are left as they were; the same
 * rng state gives the same bits. Then eg_prune_scores masks exactly the
 * lowest scores (global and local, ties to the earlier index, weights
 * masked before first) and a recipe prunes with method=taylor on weights
 * and on channels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include "util.h"

#define N 50       /* images */
#define BATCH 16
#define BATCHES 4  /* 64 rows: the last batch wraps round to the start of the shuffle */

static void make_data(eg_dataset *ds, uint64_t seed)
{
    eg_rng r;
    eg_rng_seed(&r, seed);
    util_random_dataset(ds, N, &r, -0.5f, 2.5f, 10);
}

static int load(eg_graph *g)
{
    eg_error err = {0};
    eg_status st = eg_graph_load_spec(g, "models/simplecnn", &err);
    CHECK(st == EG_OK, "loading models/simplecnn: %s", err.msg);
    if (st) return -1;
    eg_rng r;
    eg_rng_seed(&r, 11);
    eg_graph_init_params(g, &r);
    return 0;
}

/* The scores computed here from the definitions, batch by batch. */
static void direct(eg_graph *g, const eg_dataset *ds, uint64_t seed, double *wscore, const char *layer, double *cscore)
{
    eg_rng r;
    eg_rng_seed(&r, seed);
    int32_t order[N];
    for (int i = 0; i < N; i++) order[i] = i;
    eg_rng_shuffle(&r, order, N);
    const eg_node *nd = &g->nodes[eg_graph_find(g, layer)];
    int C = nd->out_shape.c, M = nd->out_shape.h * nd->out_shape.w;
    memset(wscore, 0, g->nparam * sizeof *wscore);
    memset(cscore, 0, (size_t)C * sizeof *cscore);
    float *x = malloc((size_t)BATCH * 784 * sizeof *x), dlogits[BATCH * 10];
    uint8_t y[BATCH];
    g->plan.unfused = 1;  /* a conv fused with its pool writes neither its y nor its dy */
    eg_graph_prepare(g, BATCH, 1, eg_thread_count());
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < BATCH; i++) {
            int s = order[(b * BATCH + i) % N];
            memcpy(x + (size_t)i * 784, ds->x + (size_t)s * 784, 784 * sizeof *x);
            y[i] = ds->y[s];
        }
        eg_graph_zero_grad(g);
        eg_graph_forward(g, x, BATCH);
        eg_softmax_xent(eg_graph_y(g), y, BATCH, 10, dlogits);
        eg_graph_backward(g, dlogits, BATCH);
        for (size_t k = 0; k < g->nparam; k++) wscore[k] += fabs((double)g->params[k] * g->grads[k]);
        for (int c = 0; c < C; c++) {
            double s = 0;  /* z and dL/dz of channel c over the batch's images and positions */
            for (int i = 0; i < BATCH; i++)
                for (int m = 0; m < M; m++) {
                    size_t at = ((size_t)i * C + c) * M + m;
                    s += (double)eg_step_of(g, nd)->y[at] * eg_step_of(g, nd)->dy[at];
                }
            cscore[c] += fabs(s / M) / BATCHES;
        }
    }
    g->plan.unfused = 0;
    free(x);
}

static void close_doubles(const char *what, const double *got, const double *want, size_t n, double rtol)
{
    double top = 0;
    for (size_t i = 0; i < n; i++) top = fmax(top, fabs(want[i]));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= rtol * fabs(want[i]) + 1e-6 * top)) {
            if (bad++ < 5) fprintf(stderr, "  %s[%zu]: got %.9g, want %.9g\n", what, i, got[i], want[i]);
        }
    CHECK(bad == 0, "%s: %zu of %zu scores differ from the direct computation", what, bad, n);
    CHECK(top > 0, "%s: every score is zero: nothing was tested", what);
}

static void test_scores(const char *layer)
{
    eg_graph g, h;
    eg_dataset ds = {0};
    if (load(&g) || load(&h)) return;
    make_data(&ds, 5);
    int node = eg_graph_find(&g, layer), C = g.nodes[node].out_shape.c;
    double *w1 = malloc(g.nparam * sizeof *w1), *w2 = malloc(g.nparam * sizeof *w2), c1[64], c2[64], c3[64];
    float *before = malloc(g.nparam * sizeof *before);
    memcpy(before, g.params, g.nparam * sizeof *before);
    eg_rng r;
    eg_rng_seed(&r, 7);
    eg_error err = {0};
    CHECK(eg_taylor_scores(&g, &ds, BATCHES, BATCH, &r, w1, node, c1, &err) == EG_OK, "%s", err.msg);
    CHECK(!memcmp(before, g.params, g.nparam * sizeof *before), "%s: the scores changed the weights", layer);
    direct(&h, &ds, 7, w2, layer, c2);
    close_doubles("weight scores", w1, w2, g.nparam, 1e-4);
    char what[64];
    snprintf(what, sizeof what, "%s channel scores", layer);
    close_doubles(what, c1, c2, (size_t)C, 1e-3);
    /* the same rng state, the same bits; another state, other batches */
    eg_rng_seed(&r, 7);
    CHECK(eg_taylor_scores(&g, &ds, BATCHES, BATCH, &r, NULL, node, c3, &err) == EG_OK, "%s", err.msg);
    CHECK(!memcmp(c1, c3, (size_t)C * sizeof *c1), "%s: not reproducible", layer);
    eg_rng_seed(&r, 8);
    CHECK(eg_taylor_scores(&g, &ds, BATCHES, BATCH, &r, NULL, node, c3, &err) == EG_OK, "%s", err.msg);
    CHECK(memcmp(c1, c3, (size_t)C * sizeof *c1) != 0, "%s: another shuffle gave the same scores", layer);
    /* a filter and bias of zeros scores exactly 0 */
    eg_node *nd = &g.nodes[node];
    size_t per = nd->psize[0] / (size_t)nd->out;
    memset(nd->param[0] + 2 * per, 0, per * sizeof(float));
    nd->param[1][2] = 0;
    eg_rng_seed(&r, 7);
    CHECK(eg_taylor_scores(&g, &ds, BATCHES, BATCH, &r, NULL, node, c3, &err) == EG_OK, "%s", err.msg);
    CHECK(c3[2] == 0, "%s: a zero filter scores %g", layer, c3[2]);
    /* bad arguments */
    CHECK(eg_taylor_scores(&g, &ds, 0, BATCH, &r, w1, -1, NULL, &err) == EG_ERR_ARG && strstr(err.msg, "batches"),
          "batches=0: %s", err.msg);
    CHECK(eg_taylor_scores(&g, &ds, 1, BATCH, &r, NULL, eg_graph_find(&g, "relu1"), c3, &err) == EG_ERR_ARG &&
              strstr(err.msg, "relu1"), "a relu node: %s", err.msg);
    free(w1), free(w2), free(before);
    eg_graph_free(&g), eg_graph_free(&h), eg_dataset_free(&ds);
}

static void test_prune_scores(void)
{
    eg_graph g;
    if (load(&g)) return;
    int nodes[2] = {eg_graph_find(&g, "conv1"), eg_graph_find(&g, "conv2")};
    size_t n1 = g.nodes[nodes[0]].psize[0], n2 = g.nodes[nodes[1]].psize[0];
    double *sc = calloc(g.nparam, sizeof *sc);
    size_t o1 = (size_t)(g.nodes[nodes[0]].param[0] - g.params), o2 = (size_t)(g.nodes[nodes[1]].param[0] - g.params);
    for (size_t k = 0; k < n1; k++) sc[o1 + k] = 1.0 + (double)(k % 5);  /* 1..5, repeating: ties */
    for (size_t k = 0; k < n2; k++) sc[o2 + k] = 0.5 + (double)k;
    eg_error err = {0};
    /* global: 20 of 36 + 288; conv2's 0.5 and 1.5 go first, then conv1's five 1.0s,
     * conv2's 2.5, conv1's 2.0s ... ties to the earlier layer */
    CHECK(eg_prune_scores(&g, nodes, 2, sc, 20.0 / (double)(n1 + n2), 1, &err) == EG_OK, "%s", err.msg);
    size_t masked = 0;
    double worst_masked = -1, best_kept = 1e30;
    for (int i = 0; i < 2; i++) {
        const eg_node *nd = &g.nodes[nodes[i]];
        size_t off = (size_t)(nd->param[0] - g.params);
        for (size_t k = 0; k < nd->psize[0]; k++) {
            if (nd->mask[0][k] == 0) {
                masked++, worst_masked = fmax(worst_masked, sc[off + k]);
                CHECK(nd->param[0][k] == 0, "a masked weight is not zero");
            } else {
                best_kept = fmin(best_kept, sc[off + k]);
            }
        }
    }
    CHECK(masked == 20, "global: %zu masked, want 20", masked);
    CHECK(worst_masked <= best_kept, "global: masked a score of %g but kept one of %g", worst_masked, best_kept);
    /* 0.5, eight 1.0s, 1.5, seven 2.0s, 2.5 make 18; two of conv1's seven 3.0s
     * (k = 2, 7, 12, ...) make 20: the lower indices */
    const float *m1 = g.nodes[nodes[0]].mask[0], *mk2 = g.nodes[nodes[1]].mask[0];
    CHECK(m1[2] == 0 && m1[7] == 0 && m1[12] != 0 && mk2[2] == 0 && mk2[3] != 0, "global: ties not to the lower index");
    /* local, a second time at a higher amount: the weights masked before go first */
    for (size_t k = 0; k < n2; k++) sc[o2 + k] = 1000.0 - (double)k;  /* now the reverse order */
    CHECK(eg_prune_scores(&g, &nodes[1], 1, sc, 0.5, 0, &err) == EG_OK, "%s", err.msg);
    size_t m2 = 0, kept_old = 0;
    for (size_t k = 0; k < n2; k++) m2 += g.nodes[nodes[1]].mask[0][k] == 0;
    for (size_t k = 0; k < 2; k++) kept_old += g.nodes[nodes[1]].mask[0][k] != 0;
    CHECK(m2 == n2 / 2, "local: %zu of conv2's %zu masked, want half", m2, n2);
    CHECK(kept_old == 0, "local: weights masked before came back");
    CHECK(g.nodes[nodes[1]].mask[0][n2 - 1] == 0 && g.nodes[nodes[1]].mask[0][n2 / 2] != 0,
          "local: not the lowest new scores");
    CHECK(eg_prune_scores(&g, nodes, 2, sc, 1.0, 1, &err) == EG_ERR_ARG, "amount 1 accepted");
    free(sc);
    eg_graph_free(&g);
}

int main(void)
{
    eg_set_threads(2);
    test_scores("conv2");
    test_scores("fc1");
    test_prune_scores();
    return check_report("test_taylor");
}
