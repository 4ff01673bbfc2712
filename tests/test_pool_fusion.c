/* Inference fuses a conv2d with the 2x2 max pool after it (directly or
 * through a folded relu; src/graph/pool_fusion.c): the fused forward must
 * give what the unfused training forward gives (within 1e-5), at batch 1,
 * at a batch the chunk buffers hold and at one staged through them, on one
 * and two threads; on odd shapes (one channel, widths that are no multiple
 * of the vector, a stride-2 conv on the im2col path, no relu); and a conv
 * whose output has another consumer is left unfused. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"

static const char *one_channel =
    "input x shape=1x6x10\nconv2d c out=1 kernel=3 pad=1\nrelu r\nmaxpool2d p kernel=2\nflatten f\nlinear l out=3\n";
static const char *stride2_no_relu =
    "input x shape=2x15x15\nconv2d c out=3 kernel=3 stride=2 pad=1\nmaxpool2d p kernel=2\nrelu r\n"
    "conv2d c2 out=5 kernel=3 pad=1\nrelu r2\nmaxpool2d p2 kernel=2\nflatten f\nlinear l out=4\n";
static const char *two_consumers =
    "input x shape=1x8x8\nconv2d c out=2 kernel=3 pad=1\nmaxpool2d p kernel=2 in=c\nmaxpool2d q kernel=2 in=c\n"
    "add s in=p,q\nflatten f\nlinear l out=3\n";

static int load(eg_graph *g, const char *spec, const char *text)
{
    eg_error err = {0};
    eg_status st = text ? eg_graph_parse_spec(g, text, spec, &err) : eg_graph_load_spec(g, spec, &err);
    if (st) {
        CHECK(0, "%s: %s", spec, err.msg);
        return -1;
    }
    eg_rng r;
    eg_rng_seed(&r, 11);
    eg_graph_init_params(g, &r);
    return 0;
}

static int fused_count(const eg_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++) n += g->nodes[i].pool_into != 0;
    return n;
}

static void check_spec(const char *name, const char *text, int want_fused)
{
    enum { BIG = 70 };
    eg_graph g;
    if (load(&g, name, text)) return;
    size_t insz = eg_shape_size(g.nodes[0].out_shape), k = eg_shape_size(eg_graph_output(&g)->out_shape);
    eg_rng r;
    eg_rng_seed(&r, 5);
    float *x = malloc(BIG * insz * sizeof *x), *want = malloc(BIG * k * sizeof *want);
    for (size_t i = 0; i < BIG * insz; i++) x[i] = eg_rng_range(&r, -1, 2);
    /* the reference: training's forward, which never fuses */
    CHECK(eg_graph_prepare(&g, BIG, 1, 1) == EG_OK, "%s: prepare for training", name);
    CHECK(fused_count(&g) == 0, "%s: training fused %d convs", name, fused_count(&g));
    eg_graph_forward(&g, x, BIG);
    memcpy(want, eg_graph_output(&g)->y, BIG * k * sizeof *want);
    static const int batches[] = {1, 5, BIG};
    for (int threads = 1; threads <= 2; threads++)
        for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
            int n = batches[bi];
            CHECK(eg_graph_prepare(&g, n, 0, threads) == EG_OK, "%s: prepare for inference", name);
            CHECK(fused_count(&g) == want_fused, "%s: %d convs fused, want %d", name, fused_count(&g), want_fused);
            eg_graph_forward(&g, x, n);
            char what[96];
            snprintf(what, sizeof what, "%s batch %d, %d threads", name, n, threads);
            check_close(what, eg_graph_output(&g)->y, want, (size_t)n * k, 1e-5, 1e-5);
        }
    free(x), free(want);
    eg_graph_free(&g);
}

int main(void)
{
    check_spec("models/simplecnn", NULL, 2);
    check_spec("models/lenet5", NULL, 2);
    check_spec("one_channel", one_channel, 1);
    check_spec("stride2_no_relu", stride2_no_relu, 2);
    check_spec("two_consumers", two_consumers, 0);
    return check_report("pool_fusion");
}
