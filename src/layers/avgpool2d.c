/* avgpool2d: the mean of each k x k window (stride defaults to k), zero
 * padding counted in the mean, floor division: PyTorch's AvgPool2d with its
 * defaults (count_include_pad=True, ceil_mode=False). Every window divides
 * by k * k, so the gradient spreads dy / (k k) over the window's inputs. */
#include <string.h>

#include "internal.h"
#include "io/csrc.h"

static int avgpool2d_shape(eg_node *nd, char *why, size_t whylen)
{
    eg_shape in = nd->in_shape;
    if (!nd->stride) nd->stride = nd->kernel;
    int k = nd->kernel, p = nd->pad;
    if (k < 1 || 2 * p > k || k > in.h + 2 * p || k > in.w + 2 * p) {
        snprintf(why, whylen, "kernel %d, stride %d, pad %d do not fit the %dx%dx%d input (pad at most half the kernel, "
                 "as PyTorch)", k, nd->stride, p, in.c, in.h, in.w);
        return -1;
    }
    nd->out_shape = (eg_shape){in.c, (in.h + 2 * p - k) / nd->stride + 1, (in.w + 2 * p - k) / nd->stride + 1};
    return 0;
}

static void avgpool2d_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    const float *x = eg_input_step(g, nd, 0)->y;
    eg_shape in = nd->in_shape, out = nd->out_shape;
    float area = (float)(nd->kernel * nd->kernel);
    for (long pl = (long)lo * out.c; pl < (long)hi * out.c; pl++) {
        const float *xp = x + (size_t)pl * in.h * in.w;
        float *yp = s->y + (size_t)pl * out.h * out.w;
        for (int oy = 0; oy < out.h; oy++)
            for (int ox = 0; ox < out.w; ox++) {
                int y0, y1, x0, x1;
                eg_pool_window(nd, oy, ox, &y0, &y1, &x0, &x1);
                float sum = 0.0f;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) sum += xp[iy * in.w + ix];
                yp[oy * out.w + ox] = sum / area;
            }
    }
}

static void avgpool2d_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    float *dx = eg_input_step(g, nd, 0)->dy;
    eg_shape in = nd->in_shape, out = nd->out_shape;
    float area = (float)(nd->kernel * nd->kernel);
    for (long pl = (long)lo * out.c; pl < (long)hi * out.c; pl++) {
        float *dxp = dx + (size_t)pl * in.h * in.w;
        const float *dyp = s->dy + (size_t)pl * out.h * out.w;
        if (!s->dx_add[0]) memset(dxp, 0, (size_t)in.h * in.w * sizeof *dxp);
        for (int oy = 0; oy < out.h; oy++)
            for (int ox = 0; ox < out.w; ox++) {
                int y0, y1, x0, x1;
                eg_pool_window(nd, oy, ox, &y0, &y1, &x0, &x1);
                float d = dyp[oy * out.w + ox] / area;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) dxp[iy * in.w + ix] += d;
            }
    }
}

/* ----------------------------------------------------------- C export */

static const char c_avgpool[] =
    "/* k x k average pooling, stride s, zero padding p counted in the mean:\n"
    " * x [c][h][wd] -> y [c][oh][ow]. Not in place: a padded window reads inputs\n"
    " * before the output it writes. */\n"
    "static void avgpool2d(const float *x, float *y, int c, int h, int wd, int oh, int ow, int k, int s, int p)\n"
    "{\n"
    "    int i, oy, ox, iy, ix;\n"
    "    for (i = 0; i < c; i++)\n"
    "        for (oy = 0; oy < oh; oy++)\n"
    "            for (ox = 0; ox < ow; ox++) {\n"
    "                int y0 = oy * s - p, x0 = ox * s - p, y1 = y0 + k, x1 = x0 + k;\n"
    "                float sum = 0.0f;\n"
    "                if (y0 < 0) y0 = 0;\n"
    "                if (x0 < 0) x0 = 0;\n"
    "                if (y1 > h) y1 = h;\n"
    "                if (x1 > wd) x1 = wd;\n"
    "                for (iy = y0; iy < y1; iy++)\n"
    "                    for (ix = x0; ix < x1; ix++) sum += x[((long)i * h + iy) * wd + ix];\n"
    "                y[((long)i * oh + oy) * ow + ox] = sum / (float)(k * k);\n"
    "            }\n"
    "}\n\n";

static void avgpool2d_c(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2, const char *y,
                        const char *flow)
{
    (void)g, (void)x2;
    char a[32], b[32];
    eg_csrc_shape(a, sizeof a, nd->in_shape);
    eg_csrc_shape(b, sizeof b, nd->out_shape);
    eg_shape in = nd->in_shape, out = nd->out_shape;
    eg_csrc_kernel(s, "avgpool2d", c_avgpool);
    eg_text_add(&s->body, "    /* %s: avgpool2d %s -> %s, window %d, stride %d, pad %d: %s */\n", nd->name, a, b,
                nd->kernel, nd->stride, nd->pad, flow);
    eg_text_add(&s->body, "    avgpool2d(%s, %s, %d, %d, %d, %d, %d, %d, %d, %d);\n", x, y, in.c, in.h, in.w, out.h,
                out.w, nd->kernel, nd->stride, nd->pad);
}

const eg_op_def eg_op_avgpool2d = {
    .name = "avgpool2d",
    .summary = "the mean of each k x k window, zero padding counted (kernel, stride, pad)",
    .scales = 1,
    .channels = EG_CH_PASS,
    .attrs = EG_ATTR_KERNEL | EG_ATTR_STRIDE | EG_ATTR_PAD,
    .required = EG_ATTR_KERNEL,
    .shape = avgpool2d_shape,
    .forward = avgpool2d_forward,
    .backward = avgpool2d_backward,
    .onnx = {"AveragePool", EG_ONNX_KERNEL | EG_ONNX_STRIDES | EG_ONNX_PADS | EG_ONNX_COUNT_PAD, {NULL}, 4, 1},
    .c = {EG_C_NEW, .code = avgpool2d_c},
};
