/* fc1's inference forward, dense GEMM vs CSR, at several sparsities and
 * batches, one thread: median microseconds per forward over 21 samples and
 * the dense/CSR ratio (above 1: CSR is faster).
 * Usage: sparse_speedup [spec] [node]   (run from the source root) */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of one forward of node nd over rows [0, batch). */
static double time_forward(eg_graph *g, eg_node *nd, int batch)
{
    enum { SAMPLES = 21 };
    double t[SAMPLES];
    int reps = 1;
    for (;;) {  /* enough repetitions for about 2 ms a sample */
        double t0 = eg_now();
        for (int r = 0; r < reps; r++) eg_ops[nd->op]->forward(g, nd, 0, batch);
        if (eg_now() - t0 > 2e-3 || reps > 1 << 20) break;
        reps *= 2;
    }
    for (int s = 0; s < SAMPLES; s++) {
        double t0 = eg_now();
        for (int r = 0; r < reps; r++) eg_ops[nd->op]->forward(g, nd, 0, batch);
        t[s] = (eg_now() - t0) / reps;
    }
    qsort(t, SAMPLES, sizeof *t, cmp);
    return t[SAMPLES / 2];
}

int main(int argc, char **argv)
{
    const char *spec = argc > 1 ? argv[1] : "models/simplecnn", *name = argc > 2 ? argv[2] : "fc1";
    static const double sparsity[] = {0, 0.5, 0.8, 0.9, 0.95, 0.99};
    static const int batches[] = {1, 64, 1000};
    eg_set_threads(1);
    printf("%s %s, 1 thread: median us per forward (21 samples), dense / csr\n", spec, name);
    printf("%8s %6s %10s %10s %7s %s\n", "sparsity", "batch", "dense us", "csr us", "ratio", "auto path");
    for (size_t si = 0; si < sizeof sparsity / sizeof *sparsity; si++)
        for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
            eg_graph g;
            eg_error err;
            if (eg_graph_load_spec(&g, spec, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            int node = eg_graph_find(&g, name), batch = batches[bi];
            if (node < 0 || g.nodes[node].op != EG_OP_LINEAR) {
                fprintf(stderr, "%s: no linear node %s\n", spec, name);
                return 1;
            }
            eg_rng rng;
            eg_rng_seed(&rng, 7);
            eg_graph_init_params(&g, &rng);
            if (eg_graph_enable_masks(&g, &err) ||
                (sparsity[si] > 0 && eg_prune_magnitude(&g, &node, 1, sparsity[si], 0, &err))) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            eg_node *nd = &g.nodes[node];
            double t[2];
            int autocsr = 0;
            for (int mode = 0; mode < 3; mode++) {
                g.sparse = mode == 0 ? -1 : mode == 1 ? 1 : 0;
                if (eg_graph_prepare(&g, batch, 0, 1)) return 1;
                float *x = g.nodes[nd->inputs[0]].y;
                for (size_t k = 0; k < (size_t)batch * nd->in_shape.c; k++) x[k] = eg_rng_range(&rng, 0, 2);
                if (mode < 2) t[mode] = time_forward(&g, nd, batch);
                else autocsr = nd->csr;
            }
            printf("%7.0f%% %6d %10.2f %10.2f %7.2f %s\n", sparsity[si] * 100, batch, t[0] * 1e6, t[1] * 1e6,
                   t[0] / t[1], autocsr ? "csr" : "dense");
            eg_graph_free(&g);
        }
    return 0;
}
