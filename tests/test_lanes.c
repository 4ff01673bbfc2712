/* Inference in batch lanes (src/graph/lanes.c): the models it takes run
 * there in inference, and every image gets exactly the bits it gets alone
 * (batch 1, image by image), on one and on two threads and in staged
 * batches, for narrow and wide convs of every kernel size it takes, with
 * and without padding, several input channels, linear layers of at most and
 * more than a vector of outputs, convs with and without a pool or a relu after
 * them, models of linear layers alone, and a relu at the end, dense and on
 * CSR copies; the graphs it does not take (over 256 KB an image, N:M copies,
 * training) run image by image. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "util.h"

/* Each model's rows at batch 1 against a batch of n (16: one group of 16 on one
 * thread, none on two; 37: two groups of 16 and leftovers on one thread, a
 * group and leftovers each on two; 150: staged through chunk buffers). */
static void check_same_bits(const char *name, const char *text, int lanes_expected)
{
    eg_graph g;
    if (util_graph(&g, name, text, 7, 0)) return;
    size_t insz = eg_shape_size(g.nodes[0].out_shape), outsz = eg_shape_size(eg_graph_output(&g)->out_shape);
    enum { BIG = 150 };
    eg_rng r;
    eg_rng_seed(&r, 3);
    float *x = malloc(BIG * insz * sizeof *x), *alone = malloc(BIG * outsz * sizeof *alone);
    for (size_t i = 0; i < BIG * insz; i++) x[i] = eg_rng_range(&r, -0.5f, 2.5f);
    CHECK(eg_graph_prepare(&g, 1, 0, 1) == EG_OK, "%s: prepare", name);
    for (int i = 0; i < BIG; i++) {
        eg_graph_forward(&g, x + i * insz, 1);
        memcpy(alone + i * outsz, eg_graph_y(&g), outsz * sizeof *alone);
    }
    int sizes[] = {16, 37, BIG};
    for (int threads = 1; threads <= 2; threads++)
        for (int s = 0; s < 3; s++) {
            int n = sizes[s];
            CHECK(eg_graph_prepare(&g, n, 0, threads) == EG_OK, "%s: prepare %d", name, n);
            /* lane buffers only where a thread gets a whole group */
            int expected = lanes_expected && (n + threads - 1) / threads >= eg_k->vl;
            CHECK((g.plan.lanes != NULL) == expected, "%s, %d images on %d threads: lanes %s", name, n, threads,
                  g.plan.lanes ? "taken" : "not taken");
            eg_graph_forward(&g, x, n);
            char what[96];
            snprintf(what, sizeof what, "%s, %d images on %d threads against each alone", name, n, threads);
            util_same_bits(what, eg_graph_y(&g), alone, (size_t)n * outsz);
        }
    /* lanes turned off (edagari bench --no-lanes): image by image */
    g.plan.no_lanes = 1;
    CHECK(eg_graph_prepare(&g, BIG, 0, 1) == EG_OK && !g.plan.lanes, "%s: lanes with no_lanes", name);
    eg_graph_forward(&g, x, BIG);
    util_same_bits("no lanes", eg_graph_y(&g), alone, (size_t)BIG * outsz);
    free(x), free(alone);
    eg_graph_free(&g);
}

/* Pruned unstructured: conv2d and linear layers on their CSR copies run in
 * lanes too, with the bits of their image-by-image CSR products; N:M
 * copies run image by image; training has no lane buffers. */
static void check_sparse(const char *name, const char *text, int lanes_expected)
{
    eg_graph g;
    if (util_graph(&g, name, text, 5, 1)) return;
    CHECK(eg_graph_prepare(&g, 64, 1, 1) == EG_OK && g.plan.lanes == NULL, "training has lane buffers");
    eg_rng r;
    eg_rng_seed(&r, 9);
    for (int i = 0; i < g.nnodes; i++) {  /* 70% of every layer's weights pruned at random */
        eg_node *nd = &g.nodes[i];
        for (size_t k = 0; nd->nparams && k < nd->psize[0]; k++)
            if (eg_rng_uniform(&r) < 0.7f) nd->mask[0][k] = 0, nd->param[0][k] = 0;
    }
    enum { N = 40 };
    size_t insz = eg_shape_size(g.nodes[0].out_shape), outsz = eg_shape_size(eg_graph_output(&g)->out_shape);
    float *x = malloc(N * insz * sizeof *x), *alone = malloc(N * outsz * sizeof *alone);
    for (size_t i = 0; i < N * insz; i++) x[i] = eg_rng_range(&r, -0.5f, 2.5f);
    for (int sparse = 1; sparse <= 2; sparse++) {
        g.plan.sparse = sparse;
        CHECK(eg_graph_prepare(&g, 1, 0, 1) == EG_OK, "prepare");
        int copies = 0, weighted = 0;
        for (int i = 0; i < g.nnodes; i++) {
            const eg_node *nd = &g.nodes[i];
            weighted += nd->nparams > 0;
            copies += g.plan.steps[i].weights == (sparse == 1 ? EG_WEIGHTS_CSR : EG_WEIGHTS_NM);
        }
        CHECK(sparse == 1 ? copies == weighted : copies > 0, "%s, sparse %d: %d of %d layers have sparse copies", name,
              sparse, copies, weighted);
        for (int i = 0; i < N; i++) {
            eg_graph_forward(&g, x + i * insz, 1);
            memcpy(alone + i * outsz, eg_graph_y(&g), outsz * sizeof *alone);
        }
        CHECK(eg_graph_prepare(&g, N, 0, 1) == EG_OK, "prepare");
        float *y = malloc(N * outsz * sizeof *y);
        int in_lanes = eg_lanes_forward(&g, x, y, 0, N) == N / eg_k->vl * eg_k->vl;
        free(y);
        CHECK(in_lanes == (sparse == 1 && lanes_expected), "%s, sparse %d: lanes %s", name, sparse,
              in_lanes ? "taken" : "not taken");
        eg_graph_forward(&g, x, N);
        char what[96];
        snprintf(what, sizeof what, "%s on %s copies, 40 images against each alone", name, sparse == 1 ? "CSR" : "N:M");
        util_same_bits(what, eg_graph_y(&g), alone, N * outsz);
    }
    free(x), free(alone);
    eg_graph_free(&g);
}

int main(void)
{
    int lanes = util_lanes_run();
    check_same_bits("models/simplecnn", NULL, lanes);
    check_same_bits("models/lenet5", NULL, lanes);
    /* SimpleCNN with 75% of its channels and fc1's outputs cut */
    check_same_bits("narrow", "input x shape=1x28x28\nconv2d c1 out=1 kernel=3 pad=1\nrelu r1\nmaxpool2d p1 kernel=2\n"
                              "conv2d c2 out=2 kernel=3 pad=1\nrelu r2\nmaxpool2d p2 kernel=2\nflatten f\n"
                              "linear l1 out=16\nrelu r3\nlinear l2 out=10\n", lanes);
    /* three input channels, odd pooled widths, kernels 1, 2 and 4, no
     * relu before a pool, a relu at the end */
    check_same_bits("odd", "input x shape=3x18x10\nconv2d c1 out=3 kernel=1\nmaxpool2d p1 kernel=2\n"
                           "conv2d c2 out=5 kernel=4 pad=2\nrelu r2\nmaxpool2d p2 kernel=2\n"
                           "conv2d c3 out=4 kernel=2\nrelu r3\nmaxpool2d p3 kernel=2\nflatten f\n"
                           "linear l1 out=17\nrelu r4\nlinear l2 out=3\nrelu r5\n", lanes);
    /* convs without a pool after them, with and without a relu, odd sizes */
    static const char *unpooled = "input x shape=2x11x9\nconv2d a out=3 kernel=3 pad=1\nrelu r\n"
                                  "conv2d b out=4 kernel=2\nrelu s\nmaxpool2d p kernel=2\n"
                                  "conv2d c out=2 kernel=3 pad=1\nflatten f\nlinear l out=5\n";
    check_same_bits("unpooled", unpooled, lanes);
    check_same_bits("models/deepcnn", NULL, lanes);
    check_same_bits("models/cnn3", NULL, lanes);  /* groups of 1.3 MB */
    /* linear layers alone */
    check_same_bits("models/lenet300100", NULL, lanes);
    check_same_bits("features", "input x shape=20x1x1\nlinear l1 out=7\nrelu r\nlinear l2 out=33\n", lanes);
    /* groups over 4 MB: image by image */
    check_same_bits("large", "input x shape=3x160x160\nconv2d c out=4 kernel=3 pad=1\nrelu r\n"
                             "maxpool2d p kernel=2\nflatten f\nlinear l out=10\n", 0);
    check_sparse("models/lenet5", NULL, lanes);
    check_sparse("unpooled", unpooled, lanes);
    return check_report("test_lanes");
}
