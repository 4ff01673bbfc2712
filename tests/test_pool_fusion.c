/* A conv2d is fused with the 2x2 max pool after it (directly or through a
 * folded relu; the planner, src/graph/plan.c). The fused inference forward must
 * give what the unfused forward gives (within 1e-5), at batch 1, at a batch
 * the chunk buffers hold and at one staged through them, on one and two
 * threads; fused training must give the unfused outputs and parameter
 * gradients bit for bit (the same values reach the same sums); on
 * odd shapes (one channel, widths that are no multiple of the vector, a
 * stride-2 conv on the im2col path, no relu, pools writing the next conv's
 * padded planes, counted by padded_count; convs of one or two channels,
 * which pool in registers); and a conv whose output has
 * another consumer is left unfused. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "util.h"

static const char *one_channel =
    "input x shape=1x6x10\nconv2d c out=1 kernel=3 pad=1\nrelu r\nmaxpool2d p kernel=2\nflatten f\nlinear l out=3\n";
static const char *stride2_no_relu =
    "input x shape=2x15x15\nconv2d c out=3 kernel=3 stride=2 pad=1\nmaxpool2d p kernel=2\nrelu r\n"
    "conv2d c2 out=5 kernel=3 pad=1\nrelu r2\nmaxpool2d p2 kernel=2\nflatten f\nlinear l out=4\n";
/* the im2col conv's pool writes the next conv's padded planes */
static const char *stride2_into_conv =
    "input x shape=2x15x15\nconv2d c out=3 kernel=3 stride=2 pad=1\nrelu r\nmaxpool2d p kernel=2\n"
    "conv2d c2 out=4 kernel=3 pad=1\nrelu r2\nflatten f\nlinear l out=4\n";
/* convs of one or two channels pool in registers in inference
 * (eg_conv3x3_pool_rows), the first into the second's padded planes */
static const char *two_small_convs =
    "input x shape=1x8x12\nconv2d c out=2 kernel=3 pad=1\nrelu r\nmaxpool2d p kernel=2\n"
    "conv2d c2 out=1 kernel=3 pad=1\nrelu r2\nmaxpool2d p2 kernel=2\nflatten f\nlinear l out=3\n";
static const char *one_channel_5x5 =
    "input x shape=1x8x12\nconv2d c out=1 kernel=5 pad=2\nrelu r\nmaxpool2d p kernel=2\nflatten f\nlinear l out=3\n";
static const char *two_consumers =
    "input x shape=1x8x8\nconv2d c out=2 kernel=3 pad=1\nmaxpool2d p kernel=2 in=c\nmaxpool2d q kernel=2 in=c\n"
    "add s in=p,q\nflatten f\nlinear l out=3\n";

static int fused_count(const eg_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++) n += g->plan.steps[i].pool_into != 0;
    return n;
}

/* Pools that write a conv's padded planes, each with its conv marked. */
static int padded_count(const eg_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->plan.steps[i].padded_out) n += g->plan.steps[g->plan.steps[i].padded_out].padded_in && g->plan.steps[i].pooled_in;
    return n;
}

/* Output and parameter gradients of one training step. */
static float *train_step(eg_graph *g, const float *x, int n, int threads, size_t *len)
{
    size_t k = eg_shape_size(eg_graph_output(g)->out_shape);
    *len = (size_t)n * k + g->nparam;
    float *r = malloc(*len * sizeof *r), *dout = malloc((size_t)n * k * sizeof *dout);
    if (eg_graph_prepare(g, n, 1, threads)) return free(r), free(dout), NULL;
    eg_graph_forward(g, x, n);
    memcpy(r, eg_graph_y(g), (size_t)n * k * sizeof *r);
    for (size_t i = 0; i < (size_t)n * k; i++) dout[i] = (float)((i * 7 % 11) - 5) / 16;
    eg_graph_zero_grad(g);
    eg_graph_backward(g, dout, n);
    memcpy(r + (size_t)n * k, g->grads, g->nparam * sizeof *r);
    free(dout);
    return r;
}

/* Fused training against unfused (g->plan.unfused on entry), bit for bit: the
 * gradients of the first conv cover the input gradients of the later ones.
 * Image by image: a fused first conv that trains in batch lanes sums its
 * weight gradient in another order (test_lanes_train checks it). */
static void check_training(eg_graph *g, const char *name, const float *x, int n, int threads, int want_fused)
{
    size_t la, lb;
    float *apart = train_step(g, x, n, threads, &la);
    g->plan.unfused = 0;
    g->plan.no_lanes = 1;
    float *fused = train_step(g, x, n, threads, &lb);
    g->plan.unfused = 1;
    g->plan.no_lanes = 0;
    CHECK(apart && fused && la == lb, "%s: training step failed", name);
    if (apart && fused && la == lb) {
        CHECK(fused_count(g) == want_fused, "%s training: %d convs fused, want %d", name, fused_count(g), want_fused);
        size_t bad = 0;
        for (size_t i = 0; i < la; i++) bad += memcmp(&apart[i], &fused[i], sizeof *apart) != 0;
        CHECK(bad == 0, "%s training, %d threads: %zu of %zu outputs and gradients differ from unfused", name, threads,
              bad, la);
    }
    free(apart), free(fused);
}

static void check_spec(const char *name, const char *text, int want_fused, int want_padded)
{
    enum { BIG = 70 };
    eg_graph g;
    if (util_graph(&g, name, text, 11, 0)) return;
    size_t insz = eg_shape_size(g.nodes[0].out_shape), k = eg_shape_size(eg_graph_output(&g)->out_shape);
    eg_rng r;
    eg_rng_seed(&r, 5);
    float *x = malloc(BIG * insz * sizeof *x), *want = malloc(BIG * k * sizeof *want);
    for (size_t i = 0; i < BIG * insz; i++) x[i] = eg_rng_range(&r, -1, 2);
    /* the reference: every node on its own */
    g.plan.unfused = 1;
    CHECK(eg_graph_prepare(&g, BIG, 0, 1) == EG_OK, "%s: prepare unfused", name);
    CHECK(fused_count(&g) == 0, "%s: unfused graph fused %d convs", name, fused_count(&g));
    eg_graph_forward(&g, x, BIG);
    memcpy(want, eg_graph_y(&g), BIG * k * sizeof *want);
    for (int threads = 1; threads <= 2; threads++) check_training(&g, name, x, BIG, threads, want_fused);
    g.plan.unfused = 0;
    static const int batches[] = {1, 5, BIG};
    for (int threads = 1; threads <= 2; threads++)
        for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
            int n = batches[bi];
            CHECK(eg_graph_prepare(&g, n, 0, threads) == EG_OK, "%s: prepare for inference", name);
            CHECK(fused_count(&g) == want_fused, "%s: %d convs fused, want %d", name, fused_count(&g), want_fused);
            CHECK(padded_count(&g) == want_padded, "%s: %d pools write padded planes, want %d", name, padded_count(&g),
                  want_padded);
            eg_graph_forward(&g, x, n);
            char what[96];
            snprintf(what, sizeof what, "%s batch %d, %d threads", name, n, threads);
            check_close(what, eg_graph_y(&g), want, (size_t)n * k, 1e-5, 1e-5);
        }
    free(x), free(want);
    eg_graph_free(&g);
}

int main(void)
{
    check_spec("models/simplecnn", NULL, 2, 1);
    check_spec("models/lenet5", NULL, 2, 1);
    check_spec("one_channel", one_channel, 1, 0);
    check_spec("stride2_no_relu", stride2_no_relu, 2, 0);
    check_spec("stride2_into_conv", stride2_into_conv, 1, 1);
    check_spec("two_small_convs", two_small_convs, 2, 1);
    check_spec("one_channel_5x5", one_channel_5x5, 1, 0);
    check_spec("two_consumers", two_consumers, 0, 0);
    return check_report("pool_fusion");
}
