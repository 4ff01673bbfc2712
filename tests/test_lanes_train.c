/* Training in batch lanes (src/layers/conv2d.c: convs with a fused 2x2
 * pool train VL images at a time on AVX-512 machines): against the same
 * graph trained image by image (g->plan.no_lanes), every output of the forward
 * has the same bits, and every parameter gradient agrees within 1e-5 of
 * its tensor's largest (the lanes sum weight gradients in another order;
 * the first conv's gradient covers the input gradients of the later
 * ones). Every node's gradient buffer is poisoned with NaN before a pass,
 * so a gradient the lanes fail to write shows. Batches of 16, 37 and 64 on
 * one and two threads: whole groups, leftovers, groups that start at odd
 * images, and a last batch smaller than the one the buffers were prepared
 * for. Convs whose pool feeds the next conv's padded planes or a flatten,
 * convs reading those planes, 1, 2 and 3 input channels, kernels 1, 3, 4
 * and 5, pools with and without a relu; and a conv whose next conv's
 * padded rows are too wide, which trains image by image. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "util.h"

enum { MAXN = 64 };

/* One forward and backward of g on n images (prepared for a batch of
 * `batch`: a last, smaller batch of an epoch runs on the same buffers);
 * copies of the output and of every gradient to out and grads. */
static void pass(eg_graph *g, int batch, int n, int threads, const float *x, const float *dout, float *out,
                 float *grads)
{
    CHECK(eg_graph_prepare(g, batch, 1, threads) == EG_OK, "prepare");
    /* every gradient the pass should write, poisoned: none is left from the pass before */
    for (int i = 0; i < g->nnodes; i++) {
        eg_step *s = &g->plan.steps[i];
        if (!s->dy || s->relu_folded) continue;
        for (size_t k = 0; k < (size_t)n * eg_shape_size(g->nodes[i].out_shape); k++) s->dy[k] = NAN;
    }
    eg_graph_zero_grad(g);
    eg_graph_forward(g, x, n);
    const eg_node *last = eg_graph_output(g);
    memcpy(out, eg_graph_y(g), (size_t)n * eg_shape_size(last->out_shape) * sizeof *out);
    eg_graph_backward(g, dout, n);
    memcpy(grads, g->grads, g->nparam * sizeof *grads);
}

static void check_training(const char *name, const char *text, int lanes_expected)
{
    eg_graph g;
    if (util_graph(&g, name, text, 11, 0)) return;
    size_t insz = eg_shape_size(g.nodes[0].out_shape), outsz = eg_shape_size(eg_graph_output(&g)->out_shape);
    eg_rng r;
    eg_rng_seed(&r, 4);
    float *x = malloc(MAXN * insz * sizeof *x), *dout = malloc(MAXN * outsz * sizeof *dout);
    for (size_t i = 0; i < MAXN * insz; i++) x[i] = eg_rng_range(&r, -0.5f, 2.5f);
    for (size_t i = 0; i < MAXN * outsz; i++) dout[i] = eg_rng_range(&r, -1, 1);
    float *out = malloc(MAXN * outsz * sizeof *out), *want_out = malloc(MAXN * outsz * sizeof *out);
    float *grads = malloc(g.nparam * sizeof *grads), *want = malloc(g.nparam * sizeof *want);
    /* the last: 37 images after a batch of 64 on the same buffers, where
     * the groups start at other images than the 64's did */
    static const int batches[] = {16, 37, 64, 64}, sizes[] = {16, 37, 64, 37};
    for (int threads = 1; threads <= 2; threads++)
        for (int s = 0; s < 4; s++) {
            int n = sizes[s], lo, hi;
            char what[128];
            g.plan.no_lanes = 1;
            pass(&g, batches[s], n, threads, x, dout, want_out, want);
            g.plan.no_lanes = 0;
            if (s == 3) pass(&g, 64, 64, threads, x, dout, out, grads);
            pass(&g, batches[s], n, threads, x, dout, out, grads);
            /* every pooled conv's lanes on thread 0's share */
            eg_split(n, 0, threads < n ? threads : n, &lo, &hi);
            for (int i = 0; i < g.nnodes; i++) {
                if (!g.plan.steps[i].pool_into) continue;
                int end = eg_conv2d_lanes_end(&g.plan.steps[i], lo, hi);
                CHECK(end == (lanes_expected ? lo + (hi - lo) / eg_k->vl * eg_k->vl : lo),
                      "%s, %d images on %d threads: %s's lanes end at %d", name, n, threads, g.nodes[i].name, end);
            }
            snprintf(what, sizeof what, "%s, %d images on %d threads: output", name, n, threads);
            util_same_bits(what, out, want_out, (size_t)n * outsz);
            size_t at = 0;
            for (int i = 0; i < g.nnodes; i++)
                for (int p = 0; p < g.nodes[i].nparams; p++) {
                    size_t k = g.nodes[i].psize[p];
                    double scale = util_max_abs(want + at, k), worst = 0;
                    for (size_t j = 0; j < k; j++) {
                        double off = fabs((double)grads[at + j] - want[at + j]);
                        if (!(off <= worst)) worst = off;  /* a NaN stays */
                    }
                    CHECK(worst <= 1e-5 * scale, "%s, %d images on %d threads: %s gradient %d off by %g (largest %g)",
                          name, n, threads, g.nodes[i].name, p, worst, scale);
                    at += k;
                }
        }
    free(x), free(dout), free(out), free(want_out), free(grads), free(want);
    eg_graph_free(&g);
}

int main(void)
{
    int lanes = util_lanes_run();
    check_training("models/simplecnn", NULL, lanes);
    check_training("models/lenet5", NULL, lanes);
    /* one channel, its pool into a flatten */
    check_training("flat", "input x shape=1x12x14\nconv2d c out=1 kernel=3 pad=1\nrelu r\nmaxpool2d p kernel=2\n"
                           "flatten f\nlinear l out=5\n", lanes);
    /* three input channels, kernel 1, no relu before the pool, odd pooled widths */
    check_training("odd", "input x shape=3x18x10\nconv2d c1 out=3 kernel=1\nmaxpool2d p1 kernel=2\n"
                          "conv2d c2 out=5 kernel=4 pad=2\nrelu r2\nmaxpool2d p2 kernel=2\nflatten f\n"
                          "linear l out=3\n", lanes);
    /* the next conv's padded rows (1 + 2) wider than the conv's (2): image by image */
    check_training("wide", "input x shape=2x2x2\nconv2d c1 out=2 kernel=1\nrelu r\nmaxpool2d p kernel=2\n"
                           "conv2d c2 out=3 kernel=3 pad=2\nflatten f\nlinear l out=2\n", 0);
    return check_report("test_lanes_train");
}
