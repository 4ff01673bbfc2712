/* conv2d: 2-D convolution with stride, zero padding and bias, NCHW.
 *
 * A stride-1 convolution (any kernel, pad <= kernel - 1) copies each image
 * once into zero-padded planes (kept in its step's saved block, borders
 * zeroed once by eg_graph_prepare; a pool the plan fused before it writes
 * them itself); the rows of its im2col matrix are then
 * shifted views of those planes (a row-offset product), and outputs are
 * computed on padded rows, then cropped. Its input gradient is the full
 * convolution of dy (padded by kernel - 1 - pad) with flipped filters, and
 * its weight gradient a product of dy, laid out on the forward's padded rows,
 * with the saved padded input, summed over a thread's images 8 at a time;
 * dy goes through padded planes of its own, their borders zero for good.
 * Other strides go through im2col. */
#include <string.h>

#include "internal.h"
#include "io/csrc.h"

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

/* A stride-1 convolution whose offset tables fit on the stack goes through
 * row offsets. pad <= kernel - 1 keeps the input gradient's padding of dy
 * (kernel - 1 - pad) non-negative; larger pads go through im2col. */
#define ROW_MAX_ROWS 2048
static int is_rowconv(const eg_node *nd)
{
    int kk = nd->kernel * nd->kernel;
    return nd->stride == 1 && nd->pad <= nd->kernel - 1 && nd->in_shape.c * kk <= ROW_MAX_ROWS &&
           nd->out * kk <= ROW_MAX_ROWS;
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* One row width L = W + pad serves the forward and both gradients: padding
 * columns are shared between neighbouring rows, the right padding of one row
 * being the left padding of the next.
 * - Forward: the input goes pad rows and pad columns into planes of width L.
 *   Output row oy is computed at L positions, OW = W + 2 pad - k + 1 of them
 *   valid; output x < OW reads columns up to W + 2 pad - 1 of its row's frame,
 *   which lie before the next row's data starts at L + pad.
 * - Input gradient, the full convolution of dy (padded by q = k-1-pad) with
 *   flipped filters: dy goes q rows and q columns into planes of the same
 *   width, since OW + q = W + pad = L. dx x < W reads up to column W + k - 2,
 *   before the next row's data at L + q = W + k - 1.
 * - Weight gradient: the same dy planes, read from q rows and q columns in,
 *   are dy on the forward's padded rows: past a row's OW values come q zeros
 *   (the next row's left padding), and the L - OW = q positions there are the
 *   invalid ones. So one padded dy serves both gradients.
 * Heights are H + 2 pad (input) and OH + 2q = H + k - 1 (dy); k floats of
 * slack cover the last row's view (it reads up to k - 2 past the plane's
 * rows), a vector more the whole vectors the small convs load (small_conv_rows.c),
 * and planes are rounded to a cache line. */
static int row_width(const eg_node *nd) { return nd->in_shape.w + nd->pad; }
static size_t plane_floats(const eg_node *nd)
{
    return round16((size_t)(nd->in_shape.h + 2 * nd->pad) * row_width(nd) + (size_t)nd->kernel + EG_VL_MAX);
}
static int dgrad_pad(const eg_node *nd) { return nd->kernel - 1 - nd->pad; }
static size_t dgrad_plane(const eg_node *nd)
{
    return round16((size_t)(nd->in_shape.h + nd->kernel - 1) * row_width(nd) + (size_t)nd->kernel);
}

/* Where the interior starts in a plane padded by `pad` rows and columns. */
static size_t pad_head(int pad, int wp) { return (size_t)pad * wp + pad; }

/* Copies c planes of h x w into the interiors of padded planes whose
 * borders are already zero. */
static void copy_planes(float *dst, const float *src, int c, int h, int w, int pad, int wp, size_t plane)
{
    for (int ch = 0; ch < c; ch++)
        eg_k->copy_rows(dst + ch * plane + pad_head(pad, wp), wp, src + (size_t)ch * h * w, w, h, w, 0);
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

static size_t lanes_planes(const eg_node *nd);

/* Training keeps each image's padded planes (row offsets) or columns (im2col). */
static size_t conv2d_saved(const eg_node *nd)
{
    /* and a share of the lane planes of a conv that can train in lanes */
    return is_rowconv(nd) ? (size_t)nd->in_shape.c * plane_floats(nd) + round16(lanes_planes(nd) / (size_t)eg_k->vl) : col_floats(nd);
}

/* The backward of a row-offset conv takes a thread's images DY_CHUNK at a
 * time through padded dy planes of its own (dgrad_planes), zeroed once by
 * eg_graph_prepare: the borders stay zero, since only interiors are
 * written, and a chunk's planes stay in cache from one chunk to the next
 * (planes for all the images, written once a step, would go cold between
 * steps). */
#define DY_CHUNK 8
static size_t lanes_floats(const eg_node *nd);

static size_t conv2d_shared(const eg_node *nd, int threads)
{
    return is_rowconv(nd) ? (size_t)threads * (DY_CHUNK * nd->out * dgrad_plane(nd) + lanes_floats(nd)) : 0;
}

static float *dgrad_planes_of(const eg_node *nd, const eg_step *s)
{
    return s->shared + (size_t)eg_thread_id() * DY_CHUNK * nd->out * dgrad_plane(nd);
}

/* Inference keeps the padded planes too: their borders stay zero. */
static size_t conv2d_padded(const eg_node *nd) { return is_rowconv(nd) ? (size_t)nd->in_shape.c * plane_floats(nd) : 0; }

int eg_conv2d_pads_input(const eg_node *nd) { return is_rowconv(nd); }

static size_t conv2d_scratch(const eg_node *nd, int n)
{
    (void)n;
    size_t w = nd->psize[0];
    if (is_rowconv(nd)) {
        /* forward: padded-row output; backward: flipped weights + padded-row dx */
        size_t fwd = (size_t)nd->out * nd->out_shape.h * row_width(nd);
        size_t bwd = (size_t)nd->in_shape.c * nd->in_shape.h * row_width(nd) + w;
        return fwd > bwd ? fwd : bwd;
    }
    /* columns of the input (inference) or of the input gradient, + W^T */
    return col_floats(nd) + w;
}

/* ------------------------------------------------ stride-1 convolution */

#define STEP(g, i) (&(g)->plan.steps[i])

/* The 2x2 pool node this conv computes (its step's pool_into, not 0). */
static const eg_node *fused_pool(const eg_graph *g, const eg_step *s) { return &g->nodes[s->pool_into]; }

/* Where image i's pooled channel c goes, and the distance between its rows:
 * the interior of the next conv's padded plane, or the pool's own output. */
static float *pooled_rows(const eg_graph *g, const eg_node *nd, const eg_step *s, int i, int c, int *ldy)
{
    const eg_node *pool = fused_pool(g, s);
    const eg_step *ps = STEP(g, s->pool_into);
    int h = nd->out_shape.h, w = nd->out_shape.w;
    if (ps->padded_out) {
        const eg_node *next = &g->nodes[ps->padded_out];
        *ldy = row_width(next);
        return STEP(g, ps->padded_out)->saved + ((size_t)i * next->in_shape.c + c) * plane_floats(next) +
               pad_head(next->pad, *ldy);
    }
    *ldy = w / 2;
    return ps->y + i * eg_shape_size(pool->out_shape) + (size_t)c * (h / 2) * (w / 2);
}

/* Pools image i's output rows (rows of out.w floats, ld apart) into the
 * fused pool's y, with the winners in training; or, when the pool feeds a
 * conv that reads padded planes, into that conv's planes. */
static void pool_rows(const eg_graph *g, const eg_node *nd, const eg_step *s, int i, const float *rows, int ld)
{
    const eg_step *ps = STEP(g, s->pool_into);
    size_t poolsz = eg_shape_size(fused_pool(g, s)->out_shape);
    int h = nd->out_shape.h, w = nd->out_shape.w, n = nd->out_shape.c * h, ldy;
    uint8_t *code = g->plan.training ? (uint8_t *)ps->argmax + i * poolsz : NULL;
    if (ps->padded_out) {
        size_t pooled = (size_t)(h / 2) * (w / 2);
        for (int c = 0; c < nd->out_shape.c; c++) {
            float *dst = pooled_rows(g, nd, s, i, c, &ldy);
            const float *src = rows + (size_t)c * h * ld;
            if (code) eg_k->pool2x2_rows_coded(dst, ldy, code + c * pooled, src, ld, h, w, ps->relu_in);
            else eg_k->pool2x2_rows(dst, ldy, src, ld, h, w, ps->relu_in);
        }
        return;
    }
    if (code) eg_k->pool2x2_rows_coded(ps->y + i * poolsz, w / 2, code, rows, ld, n, w, ps->relu_in);
    else eg_k->pool2x2_rows(ps->y + i * poolsz, w / 2, rows, ld, n, w, ps->relu_in);
}

/* Image i's output gradient from the fused pool's dy and winners, c planes
 * of h x w written `pad` rows and columns into planes of width wp (as
 * copy_planes would copy it); with pad 0 and wp = w, into plain planes. */
static void unpool_planes(float *dst, const eg_graph *g, const eg_step *s, int i, int c, int h, int w, int pad, int wp,
                          size_t plane)
{
    const eg_step *ps = STEP(g, s->pool_into);
    size_t poolsz = eg_shape_size(fused_pool(g, s)->out_shape), pooled = (size_t)(h / 2) * (w / 2);
    for (int ch = 0; ch < c; ch++) {
        size_t at = i * poolsz + ch * pooled;
        eg_k->unpool2x2_rows(dst + ch * plane + pad_head(pad, wp), wp, ps->dy + at, (const uint8_t *)ps->argmax + at,
                             h, w);
    }
}

/* C[out.c x N] = bias + W B with rows of B at boff (or ldb apart): on the
 * node's CSR or N:M copy in inference when the plan chose one, else dense;
 * the dense row-offset product writes the bias with its result. */
static void weight_product(const eg_graph *g, const eg_node *nd, const eg_step *s, int N, const float *B, int ldb,
                           const ptrdiff_t *boff, float *C)
{
    int K = (int)(nd->psize[0] / (size_t)nd->out);
    const float *b = nd->param[1];
    eg_weights w = g->plan.training ? EG_WEIGHTS_DENSE : s->weights;
    if (w == EG_WEIGHTS_DENSE && boff) {
        if (eg_k->small_conv_fits(nd->out, nd->in_shape.c, nd->kernel))  /* one or two channels left */
            eg_k->small_conv_rows(nd->out, nd->in_shape.c, nd->kernel, nd->out_shape.h, row_width(nd),
                                  plane_floats(nd), nd->param[0], b, B, C);
        else
            eg_k->gemm_nn_rows_set(nd->out, N, K, nd->param[0], K, B, boff, b, C, N);
        return;
    }
    for (int co = 0; co < nd->out; co++)
        for (int p = 0; p < N; p++) C[(size_t)co * N + p] = b[co];
    if (w == EG_WEIGHTS_CSR)
        eg_k->csr_rows_nn(nd->out, N, s->csr_rowptr, s->csr_col, s->csr_val, B, ldb, boff, C, N);
    else if (w == EG_WEIGHTS_NM)
        eg_k->nm_rows_nn(nd->out, N, K, s->nm_n, s->nm_m, s->nm_val, s->nm_idx, B, ldb, boff, C, N);
    else
        eg_k->gemm_nn(nd->out, N, K, nd->param[0], K, B, ldb, C, N);
}

/* --------------------------------------------- training in batch lanes */

/* A conv pooled 2x2 as it computes trains VL images at a time in batch
 * lanes (src/graph/lanes.c) while a thread has that many left, when the
 * plan says so (lanes_train):
 * - forward: the images transposed into zero-bordered planes (from its
 *   input, or from the padded planes the pool before it wrote; kept for
 *   the backward, after the image-by-image planes in saved), lanes_conv_coded,
 *   the pooled output transposed back to where the image-by-image path puts
 *   it (or left in the next conv's lane planes: lanes_to); the winners'
 *   codes stay in lanes, in the pool's code bytes for those images. Its
 *   output has the same bits either way.
 * - backward: the pool's dy transposed into lanes; lanes_conv_grad_pooled;
 *   for the input gradient, dy spread onto the winners in zero-bordered
 *   planes, their full convolution with the flipped filters (lanes_conv, in
 *   the order of the image-by-image product), transposed back (or left in
 *   lanes for the conv before: lanes_from). The same gradients within
 *   rounding.
 * Each thread's lanes are in the step's shared block after the dy planes:
 * the pooled output (rows ldy apart, laid out as where they go: the gaps,
 * zero for good, go back as the padding between the next conv's rows), the
 * pool's dy, the spread dy's planes, the input gradient, zeros for its
 * bias. */
#define LANES_MAX_FLOATS (1024 * 1024)

/* Floats between pooled rows where they go: the next conv's padded row
 * width, or the pooled width. */
static int pooled_ld(const eg_graph *g, const eg_step *s)
{
    const eg_step *ps = STEP(g, s->pool_into);
    return ps->padded_out ? row_width(&g->nodes[ps->padded_out]) : fused_pool(g, s)->out_shape.w;
}

/* The sizes of a group's lanes (floats, VL images): input planes; pooled
 * output, rows at most out.w apart (the next conv's rows, pooled width +
 * its pad, are wider only when its pad is at least the pooled width: then
 * it runs image by image); pooled dy; spread dy planes; input gradient.
 * By shapes alone: buffer sizes must not depend on fusion (which the arena
 * outlives), nor on the need for an input gradient (known later). */
typedef struct {
    size_t planes, pooled, dyp, spread, dx;
} lane_sizes;

static lane_sizes sizes(const eg_node *nd)
{
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int q = dgrad_pad(nd);
    size_t vl = (size_t)eg_k->vl;
    return (lane_sizes){vl * in.c * (in.h + 2 * nd->pad) * (in.w + 2 * nd->pad), vl * out.c * (out.h / 2) * out.w,
                        vl * out.c * (out.h / 2) * (out.w / 2), vl * out.c * (out.h + 2 * q) * (out.w + 2 * q),
                        vl * eg_shape_size(in)};
}

/* Floats of a group's input planes, 0 if the conv cannot train in lanes. */
static size_t lanes_planes(const eg_node *nd)
{
    lane_sizes z = sizes(nd);
    if (nd->kernel > EG_LANES_MAX_KERNEL || nd->out_shape.h < 2 || nd->out_shape.w < 2 || z.planes > LANES_MAX_FLOATS ||
        z.pooled > LANES_MAX_FLOATS || z.spread > LANES_MAX_FLOATS)
        return 0;
    return z.planes;
}

/* A thread's lanes. */
static size_t lanes_floats(const eg_node *nd)
{
    lane_sizes z = sizes(nd);
    return lanes_planes(nd) ? z.pooled + z.dyp + z.spread + z.dx + round16((size_t)nd->in_shape.c) : 0;
}

int eg_conv2d_trains_in_lanes(const eg_graph *g, const eg_node *nd)
{
    const eg_step *s = eg_step_of(g, nd);
    return is_rowconv(nd) && s->pool_into && lanes_planes(nd) && pooled_ld(g, s) <= nd->out_shape.w;
}

int eg_conv2d_lanes_end(const eg_step *s, int lo, int hi)
{
    int vl = eg_k->vl;
    return s->lanes_train ? lo + (hi - lo) / vl * vl : lo;
}

/* Group i0's input planes: after every image's image-by-image planes,
 * each image's share rounded to a cache line, so that any group's planes
 * are aligned. */
static float *group_planes(const eg_graph *g, const eg_node *nd, const eg_step *s, int i0)
{
    size_t rows = (size_t)g->plan.batch * nd->in_shape.c * plane_floats(nd);
    return s->saved + rows + (size_t)i0 * round16(lanes_planes(nd) / (size_t)eg_k->vl);
}

static float *thread_lanes(const eg_graph *g, const eg_node *nd, const eg_step *s)
{
    return s->shared + (size_t)g->plan.threads * DY_CHUNK * nd->out * dgrad_plane(nd) +
           lanes_floats(nd) * eg_thread_id();
}

/* Groups start wherever a thread's share does, so a plane's interior may
 * have been another group's border: the borders are zeroed for each. */
static void lanes_forward(const eg_graph *g, const eg_node *nd, const eg_step *s, int lo, int end)
{
    int vl = eg_k->vl;
    const eg_node *pool = fused_pool(g, s);
    const eg_step *ps = STEP(g, s->pool_into);
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int pad = nd->pad, xh = in.h + 2 * pad, xw = in.w + 2 * pad, ph = out.h / 2, pw = out.w / 2;
    int ldy = pooled_ld(g, s), wp = row_width(nd);
    size_t yplane = (size_t)vl * ph * ldy, insz = eg_shape_size(in), poolsz = eg_shape_size(pool->out_shape);
    size_t plane = plane_floats(nd), lplane = (size_t)xh * xw * vl;
    const eg_node *next = ps->padded_out ? &g->nodes[ps->padded_out] : NULL;
    size_t ystride = next ? (size_t)next->in_shape.c * plane_floats(next) : poolsz;  /* between images */
    float *ly = thread_lanes(g, nd, s);
    for (int i0 = lo; i0 < end; i0 += vl) {
        float *lx = group_planes(g, nd, s, i0);
        if (!s->lanes_from) {  /* else the conv before pooled into them */
            eg_k->lanes_zero_borders(lx, in.c, xh, xw, pad);
            for (int c = 0; c < in.c; c++)
                if (s->padded_in)  /* padded planes of rows wp wide (the pool before wrote them): whole */
                    eg_k->lanes_from_rows(lx + c * lplane, xw, s->saved + ((size_t)i0 * in.c + c) * plane,
                                          in.c * plane, xh * wp, wp, 0, 0);
                else
                    eg_k->lanes_from_rows(lx + c * lplane, xw,
                                          eg_input_step(g, nd, 0)->y + i0 * insz + (size_t)c * in.h * in.w, insz,
                                          in.h * in.w, in.w, pad, pad);
        }
        uint8_t *codes = (uint8_t *)ps->argmax + i0 * poolsz;
        if (s->lanes_to) {  /* into the interiors of the next conv's lane planes */
            const eg_node *to = &g->nodes[s->lanes_to];
            int tpad = to->pad, th = to->in_shape.h + 2 * tpad, tw = to->in_shape.w + 2 * tpad;
            float *planes = group_planes(g, to, STEP(g, s->lanes_to), i0);
            eg_k->lanes_zero_borders(planes, out.c, th, tw, tpad);
            eg_k->lanes_conv_coded(out.c, in.c, nd->kernel, out.h, out.w, lx, xh, xw, nd->param[0], nd->param[1],
                                   ps->relu_in, planes + ((size_t)tpad * tw + tpad) * vl, tw, (size_t)vl * th * tw,
                                   codes);
            continue;
        }
        eg_k->lanes_conv_coded(out.c, in.c, nd->kernel, out.h, out.w, lx, xh, xw, nd->param[0], nd->param[1],
                               ps->relu_in, ly, ldy, yplane, codes);
        for (int c = 0; c < out.c; c++) {
            int ld;
            eg_k->transpose(pooled_rows(g, nd, s, i0, c, &ld), (int)ystride, ly + c * yplane, vl,
                            (ph - 1) * ldy + pw, vl);
        }
    }
}

/* wf: the filters flipped, channels swapped (row_backward's). */
static void lanes_backward(eg_graph *g, eg_node *nd, const eg_step *s, int lo, int end, const float *wf)
{
    int vl = eg_k->vl;
    const eg_step *ps = STEP(g, s->pool_into);
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int xh = in.h + 2 * nd->pad, xw = in.w + 2 * nd->pad, q = dgrad_pad(nd), dh = out.h + 2 * q, dw = out.w + 2 * q;
    size_t poolsz = eg_shape_size(fused_pool(g, s)->out_shape), insz = eg_shape_size(in);
    lane_sizes z = sizes(nd);
    float *lanes_dyp = thread_lanes(g, nd, s) + z.pooled, *d = lanes_dyp + z.dyp, *lanes_dx = d + z.spread;
    float *zeros = lanes_dx + z.dx;
    float *dx_rows = eg_input_step(g, nd, 0)->dy;
    for (int i0 = lo; i0 < end; i0 += vl) {
        const uint8_t *codes = (const uint8_t *)ps->argmax + i0 * poolsz;
        /* the pool's dy, which the next conv left in lanes, or transposed here */
        float *dyp = s->lanes_to ? ps->dy + i0 * poolsz : lanes_dyp;
        if (!s->lanes_to) eg_k->transpose(dyp, vl, ps->dy + i0 * poolsz, (int)poolsz, vl, (int)poolsz);
        eg_k->lanes_conv_grad_pooled(out.c, in.c, nd->kernel, out.h, out.w, group_planes(g, nd, s, i0), xh, xw, dyp,
                                     codes, eg_tgrad(g, nd, 0), eg_tgrad(g, nd, 1));
        if (!s->needs_dx) continue;
        /* only interiors are written: the borders stay zero */
        eg_k->lanes_spread(d, out.c, out.h / 2, out.w / 2, dh, dw, q, dyp, codes);
        /* the input gradient: left in lanes for the conv before, or transposed back */
        float *dx = s->lanes_from ? dx_rows + i0 * insz : lanes_dx;
        eg_k->lanes_conv(in.c, out.c, nd->kernel, in.h, in.w, d, dh, dw, wf, zeros, 0, 0, dx, in.w,
                         (size_t)vl * in.h * in.w);
        if (!s->lanes_from) eg_k->transpose(dx_rows + i0 * insz, (int)insz, dx, vl, (int)insz, vl);
    }
}

static void row_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    const float *x = eg_input_step(g, nd, 0)->y;
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int k = nd->kernel, wp = row_width(nd), n_out = out.h * wp;
    size_t plane = plane_floats(nd), insz = eg_shape_size(in), outsz = eg_shape_size(out);
    ptrdiff_t off[ROW_MAX_ROWS];
    shift_offsets(off, in.c, k, wp, plane);
    float *acc = eg_scratch(g);
    const eg_step *ps = s->pool_into ? STEP(g, s->pool_into) : NULL;
    int small = s->run == EG_RUN_SMALL || s->run == EG_RUN_SMALL_DIRECT, direct = s->run == EG_RUN_SMALL_DIRECT;
    int end = eg_conv2d_lanes_end(s, lo, hi);
    if (end > lo) lanes_forward(g, nd, s, lo, end);
    for (int i = end; i < hi; i++) {
        float *xp = s->saved + (size_t)i * in.c * plane;
        if (!s->padded_in && !direct) copy_planes(xp, x + (size_t)i * insz, in.c, in.h, in.w, nd->pad, wp, plane);
        if (small) {
            float *dst[2];
            int ldy = 0;
            for (int c = 0; c < nd->out; c++) dst[c] = pooled_rows(g, nd, s, i, c, &ldy);
            if (direct)
                eg_k->small_conv_pool_direct(nd->out, in.c, k, out.h, wp, out.w, nd->pad, nd->param[0], nd->param[1],
                                             x + (size_t)i * insz, ps->relu_in, dst, ldy);
            else
                eg_k->small_conv_pool_rows(nd->out, in.c, k, out.h, wp, out.w, plane, nd->param[0], nd->param[1], xp,
                                           ps->relu_in, dst, ldy);
            continue;
        }
        weight_product(g, nd, s, n_out, xp, 0, off, acc);
        /* padded rows stack like one tall plane: one strided copy crops all,
         * or the fused pool reads them in place */
        if (ps) pool_rows(g, nd, s, i, acc, wp);
        else eg_k->copy_rows(s->y + (size_t)i * outsz, out.w, acc, wp, out.c * out.h, out.w, 0);
    }
}

/* Images lo .. hi (at most DY_CHUNK) of a thread's share. */
static void row_backward_chunk(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi, const float *wf)
{
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int k = nd->kernel, kk = k * k, wp = row_width(nd), q = dgrad_pad(nd), m = hi - lo, n_dx = in.h * wp;
    size_t plane = plane_floats(nd), dplane = dgrad_plane(nd), insz = eg_shape_size(in), outsz = eg_shape_size(out);
    float *dyp = dgrad_planes_of(nd, s), *dxp = eg_scratch(g) + nd->psize[0];
    for (int i = 0; i < m; i++) {
        float *d = dyp + (size_t)i * out.c * dplane;
        if (s->pool_into) unpool_planes(d, g, s, lo + i, out.c, out.h, out.w, q, wp, dplane);
        else copy_planes(d, s->dy + (size_t)(lo + i) * outsz, out.c, out.h, out.w, q, wp, dplane);
    }
    /* dW[co, (ci,ky,kx)] = sum over images and padded rows of dy[co] . shifted x[ci];
     * dy is zero at the invalid positions, so they add nothing */
    ptrdiff_t off[ROW_MAX_ROWS];
    shift_offsets(off, in.c, k, wp, plane);
    eg_k->gemm_nt_batch_rows(m, out.c, in.c * kk, out.h * wp, dyp + (size_t)q * wp + q, (int)dplane,
                             (size_t)out.c * dplane, s->saved + (size_t)lo * in.c * plane, off, (size_t)in.c * plane,
                             eg_tgrad(g, nd, 0), in.c * kk);
    /* db: the sums of the padded dy planes, whose borders are zero */
    float *db = eg_tgrad(g, nd, 1);
    for (int co = 0; co < out.c; co++)
        db[co] += eg_k->sum_blocks(dyp + (size_t)co * dplane, dplane, m, out.c * dplane);
    if (!s->needs_dx) return;
    /* dx is the full convolution of dy with flipped filters (wf) */
    shift_offsets(off, out.c, k, wp, dplane);
    float *dx = eg_input_step(g, nd, 0)->dy;
    for (int i = 0; i < m; i++) {
        eg_k->gemm_nn_rows_set(in.c, n_dx, out.c * kk, wf, out.c * kk, dyp + (size_t)i * out.c * dplane, off, NULL,
                               dxp, n_dx);
        eg_k->copy_rows(dx + (size_t)(lo + i) * insz, in.w, dxp, wp, in.c * in.h, in.w, s->dx_add[0]);
    }
}

static void row_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    /* the filters flipped, channels swapped, for the input gradient */
    int kk = nd->kernel * nd->kernel, ci_n = nd->in_shape.c, co_n = nd->out;
    const float *w = nd->param[0];
    float *wf = eg_scratch(g);
    if (s->needs_dx)
        for (int ci = 0; ci < ci_n; ci++)
            for (int co = 0; co < co_n; co++)
                for (int t = 0; t < kk; t++)
                    wf[((size_t)ci * co_n + co) * kk + t] = w[((size_t)co * ci_n + ci) * kk + (kk - 1 - t)];
    int end = eg_conv2d_lanes_end(s, lo, hi);
    if (end > lo) lanes_backward(g, nd, s, lo, end, wf);
    for (int a = end; a < hi; a += DY_CHUNK) row_backward_chunk(g, nd, s, a, hi - a < DY_CHUNK ? hi : a + DY_CHUNK, wf);
}

/* ------------------------------------------------------ any convolution */

static void im2col_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    const float *x = eg_input_step(g, nd, 0)->y;
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int ohw = out.h * out.w;
    size_t insz = eg_shape_size(in), outsz = eg_shape_size(out), cols = col_floats(nd);
    for (int i = lo; i < hi; i++) {
        float *col = g->plan.training ? s->saved + (size_t)i * cols : eg_scratch(g);
        eg_k->im2col(col, x + (size_t)i * insz, in.c, in.h, in.w, nd->kernel, nd->stride, nd->pad, out.h, out.w);
        float *y = s->y + (size_t)i * outsz;
        weight_product(g, nd, s, ohw, col, ohw, NULL, y);
        if (s->pool_into) pool_rows(g, nd, s, i, y, out.w);
    }
}

static void im2col_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int ckk = in.c * nd->kernel * nd->kernel, ohw = out.h * out.w;
    size_t insz = eg_shape_size(in), outsz = eg_shape_size(out), cols = col_floats(nd);
    if (s->pool_into)  /* dy, whole, from the fused pool's */
        for (int i = lo; i < hi; i++)
            unpool_planes(s->dy + (size_t)i * outsz, g, s, i, 1, out.c * out.h, out.w, 0, out.w, outsz);
    /* dW += sum over images of dy_i col_i^T; db += sums of dy */
    float *dw = eg_tgrad(g, nd, 0), *db = eg_tgrad(g, nd, 1);
    eg_k->gemm_nt_batch(hi - lo, out.c, ckk, ohw, s->dy + (size_t)lo * outsz, ohw, outsz, s->saved + (size_t)lo * cols,
                        ohw, cols, dw, ckk);
    for (int i = lo; i < hi; i++)
        for (int co = 0; co < out.c; co++)
            db[co] += eg_k->sum(s->dy + (size_t)i * outsz + (size_t)co * ohw, (size_t)ohw);
    if (!s->needs_dx) return;
    /* dx = col2im(W^T dy), image by image */
    float *dcol = eg_scratch(g), *wt = dcol + cols;
    for (int co = 0; co < out.c; co++)
        for (int r = 0; r < ckk; r++) wt[(size_t)r * out.c + co] = nd->param[0][(size_t)co * ckk + r];
    for (int i = lo; i < hi; i++) {
        memset(dcol, 0, cols * sizeof *dcol);
        eg_k->gemm_nn(ckk, ohw, out.c, wt, out.c, s->dy + (size_t)i * outsz, ohw, dcol, ohw);
        float *dx = eg_input_step(g, nd, 0)->dy + (size_t)i * insz;
        if (!s->dx_add[0]) memset(dx, 0, insz * sizeof *dx);
        eg_k->col2im_add(dx, dcol, in.c, in.h, in.w, nd->kernel, nd->stride, nd->pad, out.h, out.w);
    }
}

static void conv2d_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    if (hi > lo) (s->run == EG_RUN_IM2COL ? im2col_forward : row_forward)(g, nd, s, lo, hi);
}

static void conv2d_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    if (hi > lo) (s->run == EG_RUN_IM2COL ? im2col_backward : row_backward)(g, nd, s, lo, hi);
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

/* ----------------------------------------------------------- C export */

const char eg_csrc_conv_tap[] =
    "/* A kernel tap reaches outputs o = first .. end-1 (of the on outputs): those\n"
    " * whose input o*s + off lies in 0 .. n-1; the others read zero padding. */\n"
    "static int tap_first(int off, int s)\n"
    "{\n"
    "    return off >= 0 ? 0 : (s - 1 - off) / s;\n"
    "}\n"
    "\n"
    "static int tap_end(int off, int s, int n, int on)\n"
    "{\n"
    "    int e;\n"
    "    if (off > n - 1) return 0;\n"
    "    e = (n - 1 - off) / s + 1;\n"
    "    return e < on ? e : on;\n"
    "}\n"
    "\n"
    "/* One tap (ky, kx) of one filter on one input plane: y[oy][ox] += w *\n"
    " * x[oy*s + ky - pad][ox*s + kx - pad] for every output whose input lies in\n"
    " * the h x wd plane x (outside it the padding is zero and adds nothing). */\n"
    "static void conv_tap(float *y, const float *x, float w, int h, int wd, int oh, int ow, int ky, int kx,\n"
    "                     int s, int pad)\n"
    "{\n"
    "    int y0 = tap_first(ky - pad, s), y1 = tap_end(ky - pad, s, h, oh);\n"
    "    int x0 = tap_first(kx - pad, s), x1 = tap_end(kx - pad, s, wd, ow);\n"
    "    int oy, ox;\n"
    "    for (oy = y0; oy < y1; oy++) {\n"
    "        const float *xr = x + (long)(oy * s + ky - pad) * wd;\n"
    "        float *yr = y + (long)oy * ow;\n"
    "        for (ox = x0; ox < x1; ox++) yr[ox] += w * xr[ox * s + kx - pad];\n"
    "    }\n"
    "}\n\n";

static const char c_dense[] =
    "/* conv2d, dense weights w [m][c][k][k] and bias b [m]: x [c][h][wd] ->\n"
    " * y [m][oh][ow], stride s, zero padding pad. Each output plane starts as its\n"
    " * bias; then every weight adds its tap, in the order (input channel, ky, kx). */\n"
    "static void conv2d_dense(const float *x, float *y, const float *w, const float *b, int c, int h, int wd,\n"
    "                         int m, int oh, int ow, int k, int s, int pad)\n"
    "{\n"
    "    long plane = (long)oh * ow, p;\n"
    "    int o, i, ky, kx;\n"
    "    for (o = 0; o < m; o++) {\n"
    "        float *yo = y + o * plane;\n"
    "        for (p = 0; p < plane; p++) yo[p] = b[o];\n"
    "        for (i = 0; i < c; i++)\n"
    "            for (ky = 0; ky < k; ky++)\n"
    "                for (kx = 0; kx < k; kx++) conv_tap(yo, x + i * ((long)h * wd), *w++, h, wd, oh, ow, ky, kx, s, pad);\n"
    "    }\n"
    "}\n\n";

static const char c_csr[] =
    "/* conv2d, CSR weights with @N-bit indices: the kept weights of filter o are\n"
    " * vals[rows[o] .. rows[o+1]-1], at columns cols[] = (input channel * k + ky) * k\n"
    " * + kx; bias b [m]. x [h][wd] planes -> y [m][oh][ow], stride s, padding pad. */\n"
    "static void conv2d_csr@N(const float *x, float *y, const @T *rows, const @T *cols,\n"
    "                         const float *vals, const float *b, int h, int wd, int m, int oh, int ow, int k,\n"
    "                         int s, int pad)\n"
    "{\n"
    "    long plane = (long)oh * ow, p, j;\n"
    "    int o;\n"
    "    for (o = 0; o < m; o++) {\n"
    "        float *yo = y + o * plane;\n"
    "        for (p = 0; p < plane; p++) yo[p] = b[o];\n"
    "        for (j = (long)rows[o]; j < (long)rows[o + 1]; j++) {\n"
    "            long col = (long)cols[j], i = col / ((long)k * k);\n"
    "            int t = (int)(col - i * k * k);\n"
    "            conv_tap(yo, x + i * ((long)h * wd), vals[j], h, wd, oh, ow, t / k, t % k, s, pad);\n"
    "        }\n"
    "    }\n"
    "}\n\n";

/* The C export's call: the tap kernel and the dense or CSR one (by the
 * index width the weights were stored with). */
static void conv2d_c(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2, const char *y,
                     const char *flow)
{
    (void)g, (void)x2;
    eg_c_layer l;
    eg_export_c_layer(nd, &l);
    char a[32], b[32];
    eg_csrc_shape(a, sizeof a, nd->in_shape);
    eg_csrc_shape(b, sizeof b, nd->out_shape);
    eg_shape in = nd->in_shape, out = nd->out_shape;
    eg_csrc_kernel(s, "conv_tap", eg_csrc_conv_tap);
    eg_text_add(&s->body, "    /* %s: conv2d %s -> %s, kernel %d, stride %d, padding %d, %s weights: %s */\n", nd->name, a,
                b, nd->kernel, nd->stride, nd->pad, l.csr ? "CSR" : "dense", flow);
    if (!l.csr) {
        eg_csrc_kernel(s, "conv2d_dense", c_dense);
        eg_text_add(&s->body, "    conv2d_dense(%s, %s, %s_w, %s_b, %d, %d, %d, %d, %d, %d, %d, %d, %d);\n", x, y,
                    nd->name, nd->name, in.c, in.h, in.w, out.c, out.h, out.w, nd->kernel, nd->stride, nd->pad);
        return;
    }
    eg_csrc_kernel_typed(s, "conv2d_csr", c_csr, l.index_bytes);
    if (l.kept)
        eg_text_add(&s->body, "    conv2d_csr%d(%s, %s, %s_rows, %s_cols, %s_vals, %s_b, %d, %d, %d, %d, %d, %d, %d, %d);\n",
                    8 * l.index_bytes, x, y, nd->name, nd->name, nd->name, nd->name, in.h, in.w, out.c, out.h, out.w,
                    nd->kernel, nd->stride, nd->pad);
    else
        eg_text_add(&s->body, "    conv2d_csr%d(%s, %s, %s_rows, 0, 0, %s_b, %d, %d, %d, %d, %d, %d, %d, %d);\n",
                    8 * l.index_bytes, x, y, nd->name, nd->name, in.h, in.w, out.c, out.h, out.w, nd->kernel,
                    nd->stride, nd->pad);
}

const eg_op_def eg_op_conv2d = {
    .name = "conv2d",
    .summary = "2-D convolution with bias (out, kernel, stride, pad)",
    .channels = EG_CH_PRODUCE,
    .attrs = EG_ATTR_OUT | EG_ATTR_KERNEL | EG_ATTR_STRIDE | EG_ATTR_PAD,
    .required = EG_ATTR_OUT | EG_ATTR_KERNEL,
    .shape = conv2d_shape,
    .saved_floats = conv2d_saved,
    .shared_floats = conv2d_shared,
    .scratch_floats = conv2d_scratch,
    .padded_floats = conv2d_padded,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .keep_out = conv2d_keep_out,
    .keep_in = conv2d_keep_in,
    .onnx = {"Conv", EG_ONNX_KERNEL | EG_ONNX_STRIDES | EG_ONNX_PADS | EG_ONNX_DILATIONS, {".weight", ".bias"}, 4, 1},
    .c = {EG_C_NEW, 1, .code = conv2d_c},
};
