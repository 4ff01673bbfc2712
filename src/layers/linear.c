/* linear: y = x W^T + b over flat features (a flatten node comes first).
 * Rows of the batch are split over threads for y and dx, rows of W for dW. */
#include <string.h>

#include "internal.h"

static int linear_shape(eg_node *nd, char *why, size_t whylen)
{
    eg_shape in = nd->in_shape;
    if (nd->out < 1) {
        snprintf(why, whylen, "needs out >= 1, found out=%d", nd->out);
        return -1;
    }
    if (in.h != 1 || in.w != 1) {
        snprintf(why, whylen, "needs flat features (C x 1 x 1), found %dx%dx%d; hint: put a flatten node before it",
                 in.c, in.h, in.w);
        return -1;
    }
    nd->out_shape = (eg_shape){nd->out, 1, 1};
    nd->nparams = 2;
    nd->pdims[0] = 2;
    nd->pshape[0][0] = nd->out;
    nd->pshape[0][1] = in.c;
    nd->psize[0] = (size_t)nd->out * in.c;
    nd->pdims[1] = 1;
    nd->pshape[1][0] = nd->out;
    nd->psize[1] = (size_t)nd->out;
    return 0;
}

/* dy transposed, [out, n], for the weight gradient. */
static size_t linear_scratch(const eg_node *nd, int n) { return (size_t)nd->out * n; }

static void linear_forward(eg_graph *g, eg_node *nd, int n)
{
    const float *x = g->nodes[nd->inputs[0]].y, *w = nd->param[0], *b = nd->param[1];
    int in = nd->in_shape.c, out = nd->out;
#pragma omp parallel
    {
        int lo, hi;
        eg_split(n, eg_thread_id(), eg_thread_count(), &lo, &hi);
        for (int i = lo; i < hi; i++) memcpy(nd->y + (size_t)i * out, b, (size_t)out * sizeof *b);
        if (hi > lo)
            eg_gemm_nt(hi - lo, out, in, x + (size_t)lo * in, in, w, in, nd->y + (size_t)lo * out, out);
    }
}

static void linear_backward(eg_graph *g, eg_node *nd, int n)
{
    eg_node *src = &g->nodes[nd->inputs[0]];
    const float *x = src->y, *dy = nd->dy, *w = nd->param[0];
    int in = nd->in_shape.c, out = nd->out;
#pragma omp parallel
    {
        int t = eg_thread_id(), nt = eg_thread_count(), lo, hi;
        /* dW[lo..hi) += dy^T[lo..hi) x ; db[lo..hi) += column sums of dy */
        eg_split(out, t, nt, &lo, &hi);
        float *dyt = eg_scratch(g);
        for (int o = lo; o < hi; o++) {
            float s = 0;
            for (int i = 0; i < n; i++) {
                float d = dy[(size_t)i * out + o];
                dyt[(size_t)(o - lo) * n + i] = d;
                s += d;
            }
            nd->grad[1][o] += s;
        }
        if (hi > lo)
            eg_gemm_nn(hi - lo, in, n, dyt, n, x, in, nd->grad[0] + (size_t)lo * in, in);
        if (nd->needs_dx) {
            /* dx[lo..hi) = dy[lo..hi) W */
            eg_split(n, t, nt, &lo, &hi);
            float *dx = src->dy + (size_t)lo * in;
            if (!nd->dx_add[0]) memset(dx, 0, (size_t)(hi - lo) * in * sizeof *dx);
            if (hi > lo) eg_gemm_nn(hi - lo, in, out, dy + (size_t)lo * out, out, w, in, dx, in);
        }
    }
}

/* weight [out, in]: output features are rows. */
static void linear_keep_out(eg_node *nd, float **p, const int *keep, int nkeep)
{
    eg_keep_slices(p[0], p[0], 1, (size_t)nd->out, (size_t)nd->in_shape.c, keep, nkeep);
    eg_keep_slices(p[1], p[1], 1, (size_t)nd->out, 1, keep, nkeep);
    nd->out = nkeep;
}

/* An input channel is `block` consecutive columns (H*W of a flattened map). */
static void linear_keep_in(eg_node *nd, float **p, const int *keep, int nkeep, int block)
{
    eg_keep_slices(p[0], p[0], (size_t)nd->out, (size_t)nd->in_shape.c / (size_t)block,
                   (size_t)block, keep, nkeep);
}

const eg_op_def eg_op_linear = {
    .name = "linear",
    .channels = EG_CH_PRODUCE,
    .attrs = EG_ATTR_OUT,
    .required = EG_ATTR_OUT,
    .shape = linear_shape,
    .scratch_floats = linear_scratch,
    .forward = linear_forward,
    .backward = linear_backward,
    .keep_out = linear_keep_out,
    .keep_in = linear_keep_in,
};
