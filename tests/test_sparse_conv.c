/* Sparse convolutions in inference: a masked model gives the same outputs
 * (within 1e-5) with its conv2d layers on CSR (eg_csr_rows_nn) as on the
 * dense kernels, at 0%, 50%, 99% and 100% sparsity, on odd shapes: 1x1
 * kernels, widths that are not multiples of the vector width, stride 2
 * (im2col), 5x5 without padding, batch 1, two threads, and a layer pruned to
 * one channel. The kernel itself against a plain product, with and without
 * row offsets; and the automatic choice by density. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "util.h"

/* a: 3x3 pad 1 on a 7-wide input; b: 1x1; c: 3x3 stride 2 (im2col) */
static const char *odd_spec =
    "input x shape=3x9x7\n"
    "conv2d a out=5 kernel=3 pad=1\n"
    "relu r1\n"
    "conv2d b out=6 kernel=1\n"
    "conv2d c out=4 kernel=3 stride=2 pad=1\n"
    "relu r2\n"
    "flatten f\n"
    "linear l1 out=13\n";
/* 5x5 without padding on 28 x 28: 24 rows of 28 positions, so every block
 * width of the kernel (8, 4, 1 vectors and single columns) is used */
static const char *wide_spec =
    "input x shape=2x28x28\n"
    "conv2d a out=3 kernel=5\n"
    "relu r\n"
    "maxpool2d p kernel=2\n"
    "conv2d b out=5 kernel=3 pad=1\n"
    "flatten f\n"
    "linear l out=3\n";

enum { MAXN = 17 };

static int conv_nodes(const eg_graph *g, int *nodes)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_CONV2D) nodes[n++] = i;
    return n;
}

/* Masks a share of every conv's weights: magnitude (each layer alone), or all of them. */
static void mask_convs(eg_graph *g, double sparsity)
{
    int nodes[16], n = conv_nodes(g, nodes);
    eg_error err = {0};
    if (sparsity >= 1) {
        for (int i = 0; i < n; i++) {
            eg_node *nd = &g->nodes[nodes[i]];
            for (size_t k = 0; k < nd->psize[0]; k++) nd->param[0][k] = nd->mask[0][k] = 0;
        }
    } else if (sparsity > 0) {
        CHECK(eg_prune_magnitude(g, nodes, n, sparsity, 0, &err) == EG_OK, "prune: %s", err.msg);
    }
}

/* CSR == dense on g for every batch and thread count; every conv forced onto CSR. */
static void compare(eg_graph *g, const char *what, const float *x)
{
    static const int batches[] = {1, 3, MAXN};
    int nodes[16], nc = conv_nodes(g, nodes);
    for (size_t b = 0; b < sizeof batches / sizeof *batches; b++)
        for (int threads = 1; threads <= 2; threads++) {
            int n = batches[b];
            float *dense = util_outputs(g, -1, x, n, threads);
            for (int i = 0; i < nc; i++) CHECK(g->plan.steps[nodes[i]].weights != EG_WEIGHTS_CSR, "%s: forced dense, %s on CSR", what, g->nodes[nodes[i]].name);
            float *csr = util_outputs(g, 1, x, n, threads);
            for (int i = 0; i < nc; i++) CHECK(g->plan.steps[nodes[i]].weights == EG_WEIGHTS_CSR, "%s: forced CSR, %s dense", what, g->nodes[nodes[i]].name);
            char label[128];
            snprintf(label, sizeof label, "%s, batch %d, %d threads: csr vs dense", what, n, threads);
            check_close(label, csr, dense, (size_t)n * eg_shape_size(eg_graph_output(g)->out_shape), 1e-5, 1e-5);
            free(dense), free(csr);
        }
}

static void test_models(const float *x)
{
    static const double sparsity[] = {0, 0.5, 0.99, 1.0};
    const char *specs[] = {odd_spec, wide_spec}, *names[] = {"odd", "wide"};
    for (int s = 0; s < 2; s++)
        for (size_t a = 0; a < sizeof sparsity / sizeof *sparsity; a++) {
            eg_graph g;
            if (util_graph(&g, "spec", specs[s], 10 + a, 1)) return;
            mask_convs(&g, sparsity[a]);
            char what[64];
            snprintf(what, sizeof what, "%s spec at %g%% sparsity", names[s], 100 * sparsity[a]);
            compare(&g, what, x);
            eg_graph_free(&g);
        }
}

/* conv a cut to its strongest channel (b then reads one input channel),
 * then half of every conv's weights masked. */
static void test_one_channel(const float *x)
{
    eg_graph g;
    eg_error err = {0};
    if (util_graph(&g, "spec", odd_spec, 21, 1)) return;
    eg_dep_group grp;
    int a = eg_graph_find(&g, "a"), keep = 2;
    CHECK(eg_depgroup_build(&g, a, &grp, &err) == EG_OK, "group: %s", err.msg);
    CHECK(eg_surgery_keep(&g, &grp, &keep, 1, &err) == EG_OK, "surgery: %s", err.msg);
    CHECK(g.nodes[a].out == 1 && g.nodes[eg_graph_find(&g, "b")].in_shape.c == 1, "not cut to one channel");
    CHECK(eg_graph_enable_masks(&g, &err) == EG_OK, "masks: %s", err.msg);
    mask_convs(&g, 0.5);
    compare(&g, "one channel left in a", x);
    eg_graph_free(&g);
}

/* The automatic choice: dense at 0% and 50%, CSR at 70% and 90% (conv's
 * share is 0.35). */
static void test_auto(const float *x)
{
    static const double sparsity[] = {0, 0.5, 0.7, 0.9};
    for (int i = 0; i < 4; i++) {
        eg_graph g;
        if (util_graph(&g, "spec", wide_spec, 30, 1)) return;
        mask_convs(&g, sparsity[i]);
        free(util_outputs(&g, 0, x, 2, 1));
        int nodes[16], nc = conv_nodes(&g, nodes);
        for (int k = 0; k < nc; k++)
            CHECK((g.plan.steps[nodes[k]].weights == EG_WEIGHTS_CSR) == (i >= 2), "at %g%% sparsity %s: csr %d",
                  100 * sparsity[i], g.nodes[nodes[k]].name, g.plan.steps[nodes[k]].weights == EG_WEIGHTS_CSR);
        eg_graph_free(&g);
    }
}

/* eg_csr_rows_nn against the plain product of the dense matrix, rows of B
 * read at a stride and through offsets (every other row of a taller B). */
static void test_kernel(void)
{
    static const int shapes[][3] = {{1, 1, 1}, {3, 17, 5}, {5, 213, 9}, {2, 128, 3}, {7, 64, 40}, {4, 15, 36}};
    eg_rng r;
    eg_rng_seed(&r, 8);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int sparse_pct = 0; sparse_pct <= 100; sparse_pct += 50) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float *A = malloc((size_t)M * K * sizeof *A), *B = malloc((size_t)2 * K * N * sizeof *B);
            float *C = malloc((size_t)M * N * sizeof *C), *R = malloc((size_t)M * N * sizeof *R);
            float *val = malloc((size_t)M * K * sizeof *val);
            int32_t *rowptr = malloc((size_t)(M + 1) * sizeof *rowptr), *col = malloc((size_t)M * K * sizeof *col);
            ptrdiff_t *off = malloc((size_t)K * sizeof *off);
            for (int i = 0; i < M * K; i++) A[i] = (int)eg_rng_below(&r, 100) < sparse_pct ? 0 : eg_rng_range(&r, -1, 1);
            for (int i = 0; i < 2 * K * N; i++) B[i] = eg_rng_range(&r, -2, 2);
            for (int k = 0; k < K; k++) off[k] = (ptrdiff_t)(2 * k + 1) * N;
            eg_k->csr_build(M, K, A, NULL, rowptr, col, val);
            for (int viaoff = 0; viaoff < 2; viaoff++) {
                for (int i = 0; i < M * N; i++) C[i] = R[i] = (float)(i % 7);
                eg_k->csr_rows_nn(M, N, rowptr, col, val, viaoff ? B : B + N, 2 * N, viaoff ? off : NULL, C, N);
                eg_k->gemm_nn_ref(M, N, K, A, K, B + N, 2 * N, R, N);
                char what[96];
                snprintf(what, sizeof what, "csr rows %dx%dx%d, %d%% zeros, %s", M, N, K, sparse_pct,
                         viaoff ? "offsets" : "stride");
                check_close(what, C, R, (size_t)M * N, 1e-5, 1e-5);
            }
            free(A), free(B), free(C), free(R), free(val), free(rowptr), free(col), free(off);
        }
}

int main(void)
{
    eg_rng r;
    eg_rng_seed(&r, 3);
    size_t nx = (size_t)MAXN * 2 * 28 * 28;
    float *x = malloc(nx * sizeof *x);
    for (size_t i = 0; i < nx; i++) x[i] = eg_rng_range(&r, -1.5f, 2.5f);
    test_kernel();
    test_models(x);
    test_one_channel(x);
    test_auto(x);
    free(x);
    return check_report("sparse_conv");
}
