/* maxpool2d: the maximum over each k x k window (stride defaults to k, no
 * padding, floor division as PyTorch). Training remembers which input won,
 * the first maximum in scan order, as PyTorch does. */
#include <string.h>

#include "internal.h"

static int maxpool2d_shape(eg_node *nd, char *why, size_t whylen)
{
    eg_shape in = nd->in_shape;
    if (!nd->stride) nd->stride = nd->kernel;
    if (nd->kernel < 1 || nd->stride < 1 || nd->kernel > in.h || nd->kernel > in.w) {
        snprintf(why, whylen, "kernel %d, stride %d do not fit the %dx%dx%d input", nd->kernel,
                 nd->stride, in.c, in.h, in.w);
        return -1;
    }
    nd->out_shape = (eg_shape){in.c, (in.h - nd->kernel) / nd->stride + 1,
                               (in.w - nd->kernel) / nd->stride + 1};
    return 0;
}

static void maxpool2d_forward(eg_graph *g, eg_node *nd, int n)
{
    const float *x = g->nodes[nd->inputs[0]].y;
    eg_shape in = nd->in_shape, out = nd->out_shape;
    int k = nd->kernel, s = nd->stride;
    long planes = (long)n * out.c;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * in.h * in.w;
        float *yp = nd->y + (size_t)pl * out.h * out.w;
        int32_t *ap = g->training ? nd->argmax + (size_t)pl * out.h * out.w : NULL;
        for (int oy = 0; oy < out.h; oy++)
            for (int ox = 0; ox < out.w; ox++) {
                int best = oy * s * in.w + ox * s;
                float m = xp[best];
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int at = (oy * s + ky) * in.w + ox * s + kx;
                        if (xp[at] > m) m = xp[at], best = at;
                    }
                yp[oy * out.w + ox] = m;
                if (ap) ap[oy * out.w + ox] = best;
            }
    }
}

static void maxpool2d_backward(eg_graph *g, eg_node *nd, int n)
{
    float *dx = g->nodes[nd->inputs[0]].dy;
    eg_shape in = nd->in_shape, out = nd->out_shape;
    long planes = (long)n * out.c;
    int ohw = out.h * out.w, ihw = in.h * in.w;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        float *dxp = dx + (size_t)pl * ihw;
        if (!nd->dx_add[0]) memset(dxp, 0, (size_t)ihw * sizeof *dxp);
        const float *dyp = nd->dy + (size_t)pl * ohw;
        const int32_t *ap = nd->argmax + (size_t)pl * ohw;
        for (int o = 0; o < ohw; o++) dxp[ap[o]] += dyp[o];
    }
}

/* One int32 winner index per output element, kept in the float arena. */
static size_t maxpool2d_saved(const eg_node *nd) { return eg_shape_size(nd->out_shape); }

const eg_op_def eg_op_maxpool2d = {
    .name = "maxpool2d",
    .channels = EG_CH_PASS,
    .attrs = EG_ATTR_KERNEL | EG_ATTR_STRIDE,
    .required = EG_ATTR_KERNEL,
    .shape = maxpool2d_shape,
    .saved_floats = maxpool2d_saved,
    .forward = maxpool2d_forward,
    .backward = maxpool2d_backward,
};
