/* gap: global average pooling, C x H x W -> C features (the mean of each
 * plane); channel c stays channel c, so it passes channels through. */
#include "internal.h"
#include "io/csrc.h"

static int gap_shape(eg_node *nd, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    nd->out_shape = (eg_shape){nd->in_shape.c, 1, 1};
    return 0;
}

static void gap_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t hw = (size_t)nd->in_shape.h * nd->in_shape.w, C = (size_t)nd->in_shape.c;
    const float *x = eg_input_step(g, nd, 0)->y;
    for (size_t p = (size_t)lo * C; p < (size_t)hi * C; p++) s->y[p] = eg_k->sum(x + p * hw, hw) / (float)hw;
}

static void gap_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t hw = (size_t)nd->in_shape.h * nd->in_shape.w, C = (size_t)nd->in_shape.c;
    float *dx = eg_input_step(g, nd, 0)->dy;
    for (size_t p = (size_t)lo * C; p < (size_t)hi * C; p++) {
        float d = s->dy[p] / (float)hw;
        float *dxp = dx + p * hw;
        if (s->dx_add[0])
            for (size_t k = 0; k < hw; k++) dxp[k] += d;
        else
            for (size_t k = 0; k < hw; k++) dxp[k] = d;
    }
}

/* ----------------------------------------------------------- C export */

static const char c_gap[] =
    "/* global average pooling: x [c][hw] -> y [c], the mean of each plane. */\n"
    "static void gap(const float *x, float *y, int c, long hw)\n"
    "{\n"
    "    int i;\n"
    "    long j;\n"
    "    for (i = 0; i < c; i++) {\n"
    "        float sum = 0.0f;\n"
    "        for (j = 0; j < hw; j++) sum += x[i * hw + j];\n"
    "        y[i] = sum / (float)hw;\n"
    "    }\n"
    "}\n\n";

static void gap_c(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2, const char *y,
                  const char *flow)
{
    (void)g, (void)x2;
    char a[32], b[32];
    eg_csrc_shape(a, sizeof a, nd->in_shape);
    eg_csrc_shape(b, sizeof b, nd->out_shape);
    eg_csrc_kernel(s, "gap", c_gap);
    eg_text_add(&s->body, "    /* %s: global average pooling %s -> %s: %s */\n", nd->name, a, b, flow);
    eg_text_add(&s->body, "    gap(%s, %s, %d, %d);\n", x, y, nd->in_shape.c, nd->in_shape.h * nd->in_shape.w);
}

const eg_op_def eg_op_gap = {
    .name = "gap",
    .summary = "global average pooling: the mean of each channel's plane",
    .channels = EG_CH_PASS,
    .shape = gap_shape,
    .forward = gap_forward,
    .backward = gap_backward,
    .onnx = {"GlobalAveragePool", 0, {NULL}, 4, 1},
    .c = {EG_C_NEW, .code = gap_c},
};
