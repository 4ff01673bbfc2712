/* dwconv2d: depthwise 2-D convolution with stride, zero padding and bias:
 * each channel convolved with its own k x k filter, weight [C, 1, k, k]
 * (PyTorch's Conv2d with groups = in_channels = out_channels). Output
 * channel c is input channel c, so channel pruning passes through it,
 * slicing its filters and biases with the channels of its group.
 *
 * Its MACs are few (k^2 per output), so it runs direct loops, one tap at a
 * time over the outputs whose input lies inside the plane: the padding is
 * never materialised, and for stride 1 the inner loop is a contiguous axpy. */
#include <string.h>

#include "internal.h"
#include "io/csrc.h"

static int dwconv2d_shape(eg_node *nd, char *why, size_t whylen)
{
    eg_shape in = nd->in_shape;
    int k = nd->kernel, s = nd->stride ? nd->stride : 1, p = nd->pad;
    nd->stride = s;
    if (k < 1 || in.h + 2 * p < k || in.w + 2 * p < k) {
        snprintf(why, whylen, "kernel %d does not fit the %dx%dx%d input with padding %d", k, in.c, in.h, in.w, p);
        return -1;
    }
    nd->out_shape = (eg_shape){in.c, (in.h + 2 * p - k) / s + 1, (in.w + 2 * p - k) / s + 1};
    nd->nparams = 2;
    nd->pdims[0] = 4;
    memcpy(nd->pshape[0], (int[4]){in.c, 1, k, k}, sizeof nd->pshape[0]);
    nd->psize[0] = (size_t)in.c * k * k;
    nd->pdims[1] = 1;
    nd->pshape[1][0] = in.c;
    nd->psize[1] = (size_t)in.c;
    return 0;
}

/* The outputs [*o0, *o1) along one axis that tap offset off (ky - pad)
 * reaches inside an input of n: o * s + off in 0 .. n-1. */
static void tap_range(int off, int s, int n, int on, int *o0, int *o1)
{
    *o0 = off >= 0 ? 0 : (s - 1 - off) / s;
    *o1 = off > n - 1 ? 0 : (n - 1 - off) / s + 1;
    if (*o1 > on) *o1 = on;
}

static void dwconv2d_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    const float *x = eg_input_step(g, nd, 0)->y;
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int k = nd->kernel, st = nd->stride, pad = nd->pad;
    for (long pl = (long)lo * in.c; pl < (long)hi * in.c; pl++) {
        int c = (int)(pl % in.c);
        const float *xp = x + (size_t)pl * in.h * in.w, *w = nd->param[0] + (size_t)c * k * k;
        float *yp = s->y + (size_t)pl * out.h * out.w;
        for (int o = 0; o < out.h * out.w; o++) yp[o] = nd->param[1][c];
        for (int ky = 0; ky < k; ky++) {
            int y0, y1;
            tap_range(ky - pad, st, in.h, out.h, &y0, &y1);
            for (int kx = 0; kx < k; kx++) {
                int x0, x1;
                float wt = w[ky * k + kx];
                tap_range(kx - pad, st, in.w, out.w, &x0, &x1);
                for (int oy = y0; oy < y1; oy++) {
                    const float *xr = xp + (size_t)(oy * st + ky - pad) * in.w + kx - pad;
                    float *yr = yp + (size_t)oy * out.w;
                    for (int ox = x0; ox < x1; ox++) yr[ox] += wt * xr[ox * st];
                }
            }
        }
    }
}

static void dwconv2d_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    const eg_step *src = eg_input_step(g, nd, 0);
    const float *x = src->y;
    float *dx = s->needs_dx ? src->dy : NULL, *dw = eg_tgrad(g, nd, 0), *db = eg_tgrad(g, nd, 1);
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int k = nd->kernel, st = nd->stride, pad = nd->pad;
    for (long pl = (long)lo * in.c; pl < (long)hi * in.c; pl++) {
        int c = (int)(pl % in.c);
        const float *xp = x + (size_t)pl * in.h * in.w, *dyp = s->dy + (size_t)pl * out.h * out.w;
        const float *w = nd->param[0] + (size_t)c * k * k;
        float *dxp = dx ? dx + (size_t)pl * in.h * in.w : NULL;
        if (dxp && !s->dx_add[0]) memset(dxp, 0, (size_t)in.h * in.w * sizeof *dxp);
        float sum = 0;
        for (int o = 0; o < out.h * out.w; o++) sum += dyp[o];
        db[c] += sum;
        for (int ky = 0; ky < k; ky++) {
            int y0, y1;
            tap_range(ky - pad, st, in.h, out.h, &y0, &y1);
            for (int kx = 0; kx < k; kx++) {
                int x0, x1;
                tap_range(kx - pad, st, in.w, out.w, &x0, &x1);
                float gw = 0, wt = w[ky * k + kx];
                for (int oy = y0; oy < y1; oy++) {
                    size_t at = (size_t)(oy * st + ky - pad) * in.w + kx - pad;
                    const float *xr = xp + at, *dyr = dyp + (size_t)oy * out.w;
                    for (int ox = x0; ox < x1; ox++) gw += dyr[ox] * xr[ox * st];
                    if (dxp)
                        for (int ox = x0; ox < x1; ox++) dxp[at + (size_t)ox * st] += wt * dyr[ox];
                }
                dw[(size_t)c * k * k + ky * k + kx] += gw;
            }
        }
    }
}

/* weight [C, 1, k, k] and bias [C]: a channel is one filter and one bias. */
static void dwconv2d_keep(eg_node *nd, float **p, const int *keep, int nkeep)
{
    size_t c = (size_t)nd->in_shape.c;
    eg_keep_slices(p[0], p[0], 1, c, nd->psize[0] / c, keep, nkeep);
    eg_keep_slices(p[1], p[1], 1, c, 1, keep, nkeep);
}

/* ----------------------------------------------------------- C export */

static const char c_dwconv[] =
    "/* depthwise conv2d, weights w [c][k][k] and bias b [c]: x [c][h][wd] ->\n"
    " * y [c][oh][ow], stride s, zero padding pad; each plane starts as its bias,\n"
    " * then every tap of its own filter adds in, in the order (ky, kx). */\n"
    "static void dwconv2d(const float *x, float *y, const float *w, const float *b, int c, int h, int wd,\n"
    "                     int oh, int ow, int k, int s, int pad)\n"
    "{\n"
    "    long plane = (long)oh * ow, p;\n"
    "    int i, ky, kx;\n"
    "    for (i = 0; i < c; i++) {\n"
    "        float *yo = y + i * plane;\n"
    "        for (p = 0; p < plane; p++) yo[p] = b[i];\n"
    "        for (ky = 0; ky < k; ky++)\n"
    "            for (kx = 0; kx < k; kx++) conv_tap(yo, x + i * ((long)h * wd), *w++, h, wd, oh, ow, ky, kx, s, pad);\n"
    "    }\n"
    "}\n\n";

static void dwconv2d_c(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2, const char *y,
                       const char *flow)
{
    (void)g, (void)x2;
    char a[32], b[32];
    eg_csrc_shape(a, sizeof a, nd->in_shape);
    eg_csrc_shape(b, sizeof b, nd->out_shape);
    eg_shape in = nd->in_shape, out = nd->out_shape;
    eg_csrc_kernel(s, "conv_tap", eg_csrc_conv_tap);
    eg_csrc_kernel(s, "dwconv2d", c_dwconv);
    eg_text_add(&s->body, "    /* %s: depthwise conv2d %s -> %s, kernel %d, stride %d, padding %d: %s */\n", nd->name, a,
                b, nd->kernel, nd->stride, nd->pad, flow);
    eg_text_add(&s->body, "    dwconv2d(%s, %s, %s_w, %s_b, %d, %d, %d, %d, %d, %d, %d, %d);\n", x, y, nd->name, nd->name,
                in.c, in.h, in.w, out.h, out.w, nd->kernel, nd->stride, nd->pad);
}

/* its filters and biases as the C export's const arrays, dense */
static void dwconv2d_c_params(eg_csrc *s, const eg_node *nd)
{
    char id[EG_NAME_MAX + 8];
    eg_text_add(&s->params, "/* %s: depthwise filters %dx1x%dx%d, then biases */\n", nd->name, nd->in_shape.c, nd->kernel,
                nd->kernel);
    snprintf(id, sizeof id, "%s_w", nd->name);
    eg_csrc_floats(s, id, nd->param[0], nd->psize[0]);
    snprintf(id, sizeof id, "%s_b", nd->name);
    eg_csrc_floats(s, id, nd->param[1], nd->psize[1]);
    eg_text_add(&s->params, "\n");
}

const eg_op_def eg_op_dwconv2d = {
    .name = "dwconv2d",
    .summary = "depthwise 2-D convolution with bias: a k x k filter per channel (kernel, stride, pad)",
    .channels = EG_CH_PASS,
    .attrs = EG_ATTR_KERNEL | EG_ATTR_STRIDE | EG_ATTR_PAD,
    .required = EG_ATTR_KERNEL,
    .shape = dwconv2d_shape,
    .forward = dwconv2d_forward,
    .backward = dwconv2d_backward,
    .keep_out = dwconv2d_keep,
    .onnx = {"Conv", EG_ONNX_KERNEL | EG_ONNX_STRIDES | EG_ONNX_PADS | EG_ONNX_DILATIONS | EG_ONNX_GROUP,
             {".weight", ".bias"}, 4, 1},
    .c = {EG_C_NEW, .params = dwconv2d_c_params, .code = dwconv2d_c},
};
