/* conv2d: 2-D convolution with stride, zero padding and bias, NCHW.
 *
 * The common "same" convolution (stride 1, output as large as the input)
 * copies each image once into a zero-padded plane; the rows of its im2col
 * matrix are then shifted views of that plane (a row-offset product), and
 * outputs are computed on padded rows, then cropped. Its input gradient is
 * the same kind of convolution of dy with flipped filters, and its weight
 * gradient a product of padded dy with the saved padded input, summed over
 * the thread's images in one call. Every other shape goes through im2col. */
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

/* ------------------------------------------------------------ geometry */

/* A "same" convolution whose offset tables fit on the stack. */
#define SAME_MAX_ROWS 2048
static int is_same(const eg_node *nd)
{
    int kk = nd->kernel * nd->kernel;
    return nd->stride == 1 && nd->out_shape.h == nd->in_shape.h && nd->out_shape.w == nd->in_shape.w &&
           nd->in_shape.c * kk <= SAME_MAX_ROWS && nd->out * kk <= SAME_MAX_ROWS;
}

/* Padded planes: width W + 2 pad, height H + 2 pad, plus k floats of slack
 * (a shifted view reads that far past the last row), rounded to a cache line. */
static int padded_width(const eg_node *nd) { return nd->in_shape.w + 2 * nd->pad; }
static size_t plane_floats(const eg_node *nd)
{
    size_t n = (size_t)(nd->in_shape.h + 2 * nd->pad) * padded_width(nd) + (size_t)nd->kernel;
    return (n + 15) & ~(size_t)15;
}

/* Copies c planes of h x w into zeroed padded planes. */
static void pad_planes(float *dst, const float *src, int c, int h, int w, int pad, int wp, size_t plane)
{
    memset(dst, 0, (size_t)c * plane * sizeof *dst);
    for (int ch = 0; ch < c; ch++)
        eg_copy_rows(dst + ch * plane + (size_t)pad * wp + pad, wp, src + (size_t)ch * h * w, w, h, w, 0);
}

/* Where row (ch, ky, kx) of the virtual im2col matrix starts in padded planes. */
static void shift_offsets(ptrdiff_t *off, int c, int k, int wp, size_t plane)
{
    for (int ch = 0; ch < c; ch++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) off[(ch * k + ky) * k + kx] = (ptrdiff_t)(ch * plane) + ky * wp + kx;
}

static size_t col_floats(const eg_node *nd)
{
    return (size_t)nd->in_shape.c * nd->kernel * nd->kernel * nd->out_shape.h * nd->out_shape.w;
}

/* Training keeps each image's padded planes ("same") or columns (im2col). */
static size_t conv2d_saved(const eg_node *nd)
{
    return is_same(nd) ? (size_t)nd->in_shape.c * plane_floats(nd) : col_floats(nd);
}

static size_t conv2d_scratch(const eg_node *nd, int n)
{
    size_t w = nd->psize[0];
    if (is_same(nd)) {
        /* forward: padded input + padded-row output; backward: every image's
         * padded dy + padded-row dx + flipped weights */
        size_t rows_out = (size_t)nd->in_shape.h * padded_width(nd);
        size_t fwd = (size_t)nd->in_shape.c * plane_floats(nd) + (size_t)nd->out * rows_out;
        size_t bwd = (size_t)n * nd->out * plane_floats(nd) + (size_t)nd->in_shape.c * rows_out + w;
        return fwd > bwd ? fwd : bwd;
    }
    /* columns of the input (inference) or of the input gradient, + W^T */
    return col_floats(nd) + w;
}

/* ------------------------------------------------------ same convolution */

static void same_forward(eg_graph *g, eg_node *nd, int lo, int hi)
{
    const float *x = g->nodes[nd->inputs[0]].y, *w = nd->param[0], *b = nd->param[1];
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int k = nd->kernel, wp = padded_width(nd), rows = in.c * k * k, n_out = in.h * wp;
    size_t plane = plane_floats(nd), insz = eg_shape_size(in), outsz = eg_shape_size(out);
    ptrdiff_t off[SAME_MAX_ROWS];
    shift_offsets(off, in.c, k, wp, plane);
    float *scratch = eg_scratch(g), *acc = scratch + (size_t)in.c * plane;
    for (int i = lo; i < hi; i++) {
        float *xp = g->training ? nd->saved + (size_t)i * in.c * plane : scratch;
        pad_planes(xp, x + (size_t)i * insz, in.c, in.h, in.w, nd->pad, wp, plane);
        for (int co = 0; co < out.c; co++)
            for (int p = 0; p < n_out; p++) acc[(size_t)co * n_out + p] = b[co];
        eg_gemm_nn_rows(out.c, n_out, rows, w, rows, xp, off, acc, n_out);
        /* padded rows stack like one tall plane: one strided copy crops all */
        eg_copy_rows(nd->y + (size_t)i * outsz, out.w, acc, wp, out.c * out.h, out.w, 0);
    }
}

static void same_backward(eg_graph *g, eg_node *nd, int lo, int hi)
{
    eg_node *src = &g->nodes[nd->inputs[0]];
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int k = nd->kernel, kk = k * k, wp = padded_width(nd), n_out = in.h * wp, m = hi - lo;
    size_t plane = plane_floats(nd), insz = eg_shape_size(in), outsz = eg_shape_size(out);
    float *dyp = eg_scratch(g), *dxp = dyp + (size_t)m * out.c * plane, *wf = dxp + (size_t)in.c * n_out;
    for (int i = 0; i < m; i++)
        pad_planes(dyp + (size_t)i * out.c * plane, nd->dy + (size_t)(lo + i) * outsz, out.c, out.h, out.w,
                   nd->pad, wp, plane);
    /* dW[co, (ci,ky,kx)] = sum over images and padded rows of dy[co] . shifted x[ci];
     * dy's pad columns are zero, so the padded rows add nothing extra */
    ptrdiff_t off[SAME_MAX_ROWS];
    shift_offsets(off, in.c, k, wp, plane);
    eg_gemm_nt_batch_rows(m, out.c, in.c * kk, n_out, dyp + (size_t)nd->pad * wp + nd->pad, (int)plane,
                          (size_t)out.c * plane, nd->saved + (size_t)lo * in.c * plane, off, (size_t)in.c * plane,
                          eg_tgrad(g, nd, 0), in.c * kk);
    float *db = eg_tgrad(g, nd, 1);
    for (int i = lo; i < hi; i++)
        for (int co = 0; co < out.c; co++) db[co] += eg_sum(nd->dy + (size_t)i * outsz + (size_t)co * out.h * out.w, (size_t)out.h * out.w);
    if (!nd->needs_dx) return;
    /* dx is the same convolution of dy with flipped filters, channels swapped */
    const float *w = nd->param[0];
    for (int ci = 0; ci < in.c; ci++)
        for (int co = 0; co < out.c; co++)
            for (int t = 0; t < kk; t++)
                wf[((size_t)ci * out.c + co) * kk + t] = w[((size_t)co * in.c + ci) * kk + (kk - 1 - t)];
    shift_offsets(off, out.c, k, wp, plane);
    for (int i = 0; i < m; i++) {
        memset(dxp, 0, (size_t)in.c * n_out * sizeof *dxp);
        eg_gemm_nn_rows(in.c, n_out, out.c * kk, wf, out.c * kk, dyp + (size_t)i * out.c * plane, off, dxp, n_out);
        eg_copy_rows(src->dy + (size_t)(lo + i) * insz, in.w, dxp, wp, in.c * in.h, in.w, nd->dx_add[0]);
    }
}

/* ------------------------------------------------------ any convolution */

static void im2col_forward(eg_graph *g, eg_node *nd, int lo, int hi)
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

static void im2col_backward(eg_graph *g, eg_node *nd, int lo, int hi)
{
    eg_node *src = &g->nodes[nd->inputs[0]];
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int ckk = in.c * nd->kernel * nd->kernel, ohw = out.h * out.w;
    size_t insz = eg_shape_size(in), outsz = eg_shape_size(out), cols = col_floats(nd);
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

static void conv2d_forward(eg_graph *g, eg_node *nd, int lo, int hi)
{
    if (hi > lo) (is_same(nd) ? same_forward : im2col_forward)(g, nd, lo, hi);
}

static void conv2d_backward(eg_graph *g, eg_node *nd, int lo, int hi)
{
    if (hi > lo) (is_same(nd) ? same_backward : im2col_backward)(g, nd, lo, hi);
}

/* weight [out, in, k, k]: output channels are its first axis. */
static void conv2d_keep_out(eg_node *nd, float **p, const int *keep, int nkeep)
{
    eg_keep_slices(p[0], p[0], 1, (size_t)nd->out, nd->psize[0] / (size_t)nd->out, keep, nkeep);
    eg_keep_slices(p[1], p[1], 1, (size_t)nd->out, 1, keep, nkeep);
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
