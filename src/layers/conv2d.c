/* conv2d: 2-D convolution with stride, zero padding and bias, NCHW.
 * Each image goes through im2col and one matrix product; the weight gradient
 * sums dy_i col_i^T over the thread's images in a single batched product. */
#include <string.h>

#include "internal.h"

static int conv2d_shape(eg_node *nd, char *why, size_t whylen)
{
    eg_shape in = nd->in_shape;
    int k = nd->kernel, s = nd->stride ? nd->stride : 1, p = nd->pad;
    nd->stride = s;
    if (k < 1 || s < 1 || p < 0 || nd->out < 1) {
        snprintf(why, whylen, "needs out >= 1, kernel >= 1, stride >= 1, pad >= 0; found out=%d kernel=%d stride=%d pad=%d",
                 nd->out, k, s, p);
        return -1;
    }
    if (in.h + 2 * p < k || in.w + 2 * p < k) {
        snprintf(why, whylen, "kernel %d does not fit the %dx%dx%d input with padding %d", k, in.c,
                 in.h, in.w, p);
        return -1;
    }
    nd->out_shape = (eg_shape){nd->out, (in.h + 2 * p - k) / s + 1, (in.w + 2 * p - k) / s + 1};
    nd->nparams = 2;
    nd->pdims[0] = 4;
    memcpy(nd->pshape[0], (int[4]){nd->out, in.c, k, k}, sizeof nd->pshape[0]);
    nd->psize[0] = (size_t)nd->out * in.c * k * k;
    nd->pdims[1] = 1;
    nd->pshape[1][0] = nd->out;
    nd->psize[1] = (size_t)nd->out;
    return 0;
}

static size_t col_floats(const eg_node *nd)
{
    return (size_t)nd->in_shape.c * nd->kernel * nd->kernel * nd->out_shape.h * nd->out_shape.w;
}

/* Training keeps every image's columns for the weight gradient. */
static size_t conv2d_saved(const eg_node *nd) { return col_floats(nd); }

/* im2col columns (inference) or input-gradient columns, plus W transposed. */
static size_t conv2d_scratch(const eg_node *nd, int n)
{
    (void)n;
    return col_floats(nd) + nd->psize[0];
}

static void conv2d_forward(eg_graph *g, eg_node *nd, int lo, int hi)
{
    const eg_node *src = &g->nodes[nd->inputs[0]];
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int ckk = in.c * nd->kernel * nd->kernel, ohw = out.h * out.w;
    size_t insz = eg_shape_size(in), outsz = eg_shape_size(out), cols = col_floats(nd);
    const float *w = nd->param[0], *b = nd->param[1];
    for (int i = lo; i < hi; i++) {
        float *col = g->training ? nd->saved + (size_t)i * cols : eg_scratch(g);
        eg_im2col(col, src->y + (size_t)i * insz, in.c, in.h, in.w, nd->kernel, nd->stride, nd->pad,
                  out.h, out.w);
        float *y = nd->y + (size_t)i * outsz;
        for (int co = 0; co < out.c; co++)
            for (int p = 0; p < ohw; p++) y[(size_t)co * ohw + p] = b[co];
        eg_gemm_nn(out.c, ohw, ckk, w, ckk, col, ohw, y, ohw);
    }
}

static void conv2d_backward(eg_graph *g, eg_node *nd, int lo, int hi)
{
    eg_node *src = &g->nodes[nd->inputs[0]];
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int ckk = in.c * nd->kernel * nd->kernel, ohw = out.h * out.w;
    size_t insz = eg_shape_size(in), outsz = eg_shape_size(out), cols = col_floats(nd);
    if (hi <= lo) return;
    /* dW += sum over images of dy_i col_i^T; db += sums of dy */
    float *dw = eg_tgrad(g, nd, 0), *db = eg_tgrad(g, nd, 1);
    eg_gemm_nt_batch(hi - lo, out.c, ckk, ohw, nd->dy + (size_t)lo * outsz, ohw, outsz,
                     nd->saved + (size_t)lo * cols, ohw, cols, dw, ckk);
    for (int i = lo; i < hi; i++)
        for (int co = 0; co < out.c; co++) db[co] += eg_sum(nd->dy + (size_t)i * outsz + (size_t)co * ohw, (size_t)ohw);
    if (!nd->needs_dx) return;
    /* dx = col2im(W^T dy), image by image */
    float *dcol = eg_scratch(g), *wt = dcol + cols;
    for (int co = 0; co < out.c; co++)
        for (int r = 0; r < ckk; r++) wt[(size_t)r * out.c + co] = nd->param[0][(size_t)co * ckk + r];
    for (int i = lo; i < hi; i++) {
        memset(dcol, 0, cols * sizeof *dcol);
        eg_gemm_nn(ckk, ohw, out.c, wt, out.c, nd->dy + (size_t)i * outsz, ohw, dcol, ohw);
        float *dx = src->dy + (size_t)i * insz;
        if (!nd->dx_add[0]) memset(dx, 0, insz * sizeof *dx);
        eg_col2im_add(dx, dcol, in.c, in.h, in.w, nd->kernel, nd->stride, nd->pad, out.h, out.w);
    }
}

/* weight [out, in, k, k]: output channels are its first axis. */
static void conv2d_keep_out(eg_node *nd, float **p, const int *keep, int nkeep)
{
    eg_keep_slices(p[0], p[0], 1, (size_t)nd->out, nd->psize[0] / (size_t)nd->out, keep, nkeep);
    eg_keep_slices(p[1], p[1], 1, (size_t)nd->out, 1, keep, nkeep);
    nd->out = nkeep;
}

/* Input channels are the weight's second axis; a conv's input channel is one plane. */
static void conv2d_keep_in(eg_node *nd, float **p, const int *keep, int nkeep, int block)
{
    (void)block;
    eg_keep_slices(p[0], p[0], (size_t)nd->out, (size_t)nd->in_shape.c,
                   (size_t)nd->kernel * nd->kernel, keep, nkeep);
}

const eg_op_def eg_op_conv2d = {
    .name = "conv2d",
    .channels = EG_CH_PRODUCE,
    .attrs = EG_ATTR_OUT | EG_ATTR_KERNEL | EG_ATTR_STRIDE | EG_ATTR_PAD,
    .required = EG_ATTR_OUT | EG_ATTR_KERNEL,
    .shape = conv2d_shape,
    .saved_floats = conv2d_saved,
    .scratch_floats = conv2d_scratch,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .keep_out = conv2d_keep_out,
    .keep_in = conv2d_keep_in,
};
