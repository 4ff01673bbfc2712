/* maxpool2d: the maximum over each k x k window (stride defaults to k),
 * PyTorch's MaxPool2d: padding that never wins (-infinity), the output size
 * rounded down, or up with ceil (ceil_mode). Training remembers which input won,
 * the first maximum in scan order, as PyTorch does: its index in the plane,
 * or for the common 2x2 stride-2 case (src/kernels/pool2x2.c) its place 0..3
 * in the window. */
#include <string.h>

#include "internal.h"
#include "io/csrc.h"

#define POOL_SCRATCH 16384  /* floats of scratch for the 2x2 kernel: 64 KiB */

/* Outputs along a side of n inputs. In ceil mode the last window must start
 * inside the input or the left padding, as PyTorch's rule. */
static int out_size(const eg_node *nd, int n)
{
    int span = n + 2 * nd->pad - nd->kernel, s = nd->stride;
    int out = (nd->ceil ? (span + s - 1) / s : span / s) + 1;
    if (nd->ceil && (out - 1) * s >= n + nd->pad) out--;
    return out;
}

static int maxpool2d_shape(eg_node *nd, char *why, size_t whylen)
{
    eg_shape in = nd->in_shape;
    if (!nd->stride) nd->stride = nd->kernel;
    int k = nd->kernel, p = nd->pad;
    if (k < 1 || 2 * p > k || k > in.h + 2 * p || k > in.w + 2 * p) {
        snprintf(why, whylen, "kernel %d, stride %d, pad %d do not fit the %dx%dx%d input (pad at most half the kernel, "
                 "as PyTorch)", k, nd->stride, p, in.c, in.h, in.w);
        return -1;
    }
    if (nd->ceil > 1) {
        snprintf(why, whylen, "ceil %d: expected 0 (round the output size down) or 1 (up)", nd->ceil);
        return -1;
    }
    nd->out_shape = (eg_shape){in.c, out_size(nd, in.h), out_size(nd, in.w)};
    return 0;
}

/* Unpadded, on even planes (where ceil changes nothing): the 2x2 kernel. */
static int is_2x2(const eg_node *nd)
{
    return nd->kernel == 2 && nd->stride == 2 && nd->pad == 0 && nd->in_shape.h % 2 == 0 && nd->in_shape.w % 2 == 0;
}

/* Planes per 2x2 chunk: stacked planes of even height pool like one tall
 * plane, so many small planes go through the kernel in one call. */
static int chunk_planes(const eg_node *nd)
{
    int per = (int)(POOL_SCRATCH / eg_k->pool2x2_scratch(nd->in_shape.h, nd->in_shape.w));
    return per < 1 ? 1 : per;
}

/* A relu just before a 2x2 pool is applied after it instead: max(0, max)
 * is the same value, on a quarter of the elements. */
static int maxpool2d_folds_relu(const eg_node *nd) { return is_2x2(nd); }

static void maxpool2d_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    const float *x = eg_input_step(g, nd, 0)->y;
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int ihw = in.h * in.w, ohw = out.h * out.w;
    long first = (long)lo * out.c, planes = (long)hi * out.c;
    if (s->pooled_in) return;  /* its conv wrote y (the plan fused them) */
    if (is_2x2(nd)) {
        int per = chunk_planes(nd);
        for (long p0 = first; p0 < planes; p0 += per) {
            long np = planes - p0 < per ? planes - p0 : per;
            eg_k->pool2x2_forward(s->y + p0 * ohw, g->plan.training ? s->argmax + p0 * ohw : NULL, eg_scratch(g),
                               x + p0 * ihw, (int)np * in.h, in.w, s->relu_in);
        }
        return;
    }
    for (long pl = first; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * ihw;
        float *yp = s->y + (size_t)pl * ohw;
        int32_t *ap = g->plan.training ? s->argmax + (size_t)pl * ohw : NULL;
        for (int oy = 0; oy < out.h; oy++)
            for (int ox = 0; ox < out.w; ox++) {
                /* never empty: a window starts before the input's end and ends after its start */
                int y0, y1, x0, x1;
                eg_pool_window(nd, oy, ox, &y0, &y1, &x0, &x1);
                int best = y0 * in.w + x0;
                float m = xp[best];
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) {
                        int at = iy * in.w + ix;
                        if (xp[at] > m) m = xp[at], best = at;
                    }
                yp[oy * out.w + ox] = m;
                if (ap) ap[oy * out.w + ox] = best;
            }
    }
}

static void maxpool2d_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    float *dx = eg_input_step(g, nd, 0)->dy;
    eg_shape in = nd->in_shape, out = nd->out_shape;
    long first = (long)lo * out.c, planes = (long)hi * out.c;
    int ohw = out.h * out.w, ihw = in.h * in.w;
    if (s->pooled_in) return;  /* its conv reads dy (the plan fused them) */
    if (is_2x2(nd)) {
        int per = chunk_planes(nd);
        for (long p0 = first; p0 < planes; p0 += per) {
            long np = planes - p0 < per ? planes - p0 : per;
            eg_k->pool2x2_backward(dx + p0 * ihw, s->dy + p0 * ohw, s->argmax + p0 * ohw, eg_scratch(g),
                                (int)np * in.h, in.w, s->dx_add[0]);
        }
        return;
    }
    for (long pl = first; pl < planes; pl++) {
        float *dxp = dx + (size_t)pl * ihw;
        const float *dyp = s->dy + (size_t)pl * ohw;
        const int32_t *ap = s->argmax + (size_t)pl * ohw;
        if (!s->dx_add[0]) memset(dxp, 0, (size_t)ihw * sizeof *dxp);
        for (int o = 0; o < ohw; o++) dxp[ap[o]] += dyp[o];
    }
}

/* One int32 winner index per output element, kept in the float arena (one
 * byte each when its conv computes it: graph/plan.c). */
static size_t maxpool2d_saved(const eg_node *nd) { return eg_shape_size(nd->out_shape); }

static size_t maxpool2d_scratch(const eg_node *nd, int n)
{
    (void)n;
    size_t one = eg_k->pool2x2_scratch(nd->in_shape.h, nd->in_shape.w);
    return one > POOL_SCRATCH ? one : POOL_SCRATCH;
}

/* ----------------------------------------------------------- C export */

static const char c_pool[] =
    "/* k x k max pooling with stride s, padding p that never wins: x [c][h][wd]\n"
    " * -> y [c][oh][ow], each window clipped to the plane; the first largest\n"
    " * value of a window wins. Unpadded, y may be x (in place): output j reads\n"
    " * only inputs j and later, which nothing before it has overwritten. */\n"
    "static void maxpool2d(const float *x, float *y, int c, int h, int wd, int oh, int ow, int k, int s, int p)\n"
    "{\n"
    "    int i, oy, ox, iy, ix;\n"
    "    for (i = 0; i < c; i++)\n"
    "        for (oy = 0; oy < oh; oy++)\n"
    "            for (ox = 0; ox < ow; ox++) {\n"
    "                int y0 = oy * s - p, x0 = ox * s - p, y1 = y0 + k, x1 = x0 + k;\n"
    "                float best;\n"
    "                if (y0 < 0) y0 = 0;\n"
    "                if (x0 < 0) x0 = 0;\n"
    "                if (y1 > h) y1 = h;\n"
    "                if (x1 > wd) x1 = wd;\n"
    "                best = x[((long)i * h + y0) * wd + x0];\n"
    "                for (iy = y0; iy < y1; iy++)\n"
    "                    for (ix = x0; ix < x1; ix++)\n"
    "                        if (x[((long)i * h + iy) * wd + ix] > best) best = x[((long)i * h + iy) * wd + ix];\n"
    "                y[((long)i * oh + oy) * ow + ox] = best;\n"
    "            }\n"
    "}\n\n";

static void maxpool2d_c(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2, const char *y,
                        const char *flow)
{
    (void)g, (void)x2;
    char a[32], b[32];
    eg_csrc_shape(a, sizeof a, nd->in_shape);
    eg_csrc_shape(b, sizeof b, nd->out_shape);
    eg_shape in = nd->in_shape, out = nd->out_shape;
    eg_csrc_kernel(s, "maxpool2d", c_pool);
    eg_text_add(&s->body, "    /* %s: maxpool2d %s -> %s, window %d, stride %d, pad %d%s: %s */\n", nd->name, a, b,
                nd->kernel, nd->stride, nd->pad, nd->ceil ? ", ceil" : "", flow);
    eg_text_add(&s->body, "    maxpool2d(%s, %s, %d, %d, %d, %d, %d, %d, %d, %d);\n", x, y, in.c, in.h, in.w, out.h,
                out.w, nd->kernel, nd->stride, nd->pad);
}

/* A padded window reads inputs before the output it writes: not in place. */
static eg_c_place maxpool2d_c_place(const eg_node *nd) { return nd->pad ? EG_C_NEW : EG_C_NEW_OR_OVER; }

const eg_op_def eg_op_maxpool2d = {
    .name = "maxpool2d",
    .summary = "the maximum of each k x k window, padding never wins (kernel, stride, pad, ceil)",
    .scales = 1,
    .channels = EG_CH_PASS,
    .attrs = EG_ATTR_KERNEL | EG_ATTR_STRIDE | EG_ATTR_PAD | EG_ATTR_CEIL,
    .required = EG_ATTR_KERNEL,
    .shape = maxpool2d_shape,
    .saved_floats = maxpool2d_saved,
    .scratch_floats = maxpool2d_scratch,
    .folds_relu = maxpool2d_folds_relu,
    .forward = maxpool2d_forward,
    .backward = maxpool2d_backward,
    .onnx = {"MaxPool", EG_ONNX_KERNEL | EG_ONNX_STRIDES | EG_ONNX_PADS | EG_ONNX_CEIL, {NULL}, 4, 1},
    .c = {EG_C_NEW_OR_OVER, .code = maxpool2d_c, .place_of = maxpool2d_c_place},
};
