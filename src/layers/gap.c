/* gap: global average pooling, C x H x W -> C features (the mean of each
 * plane); channel c stays channel c, so it passes channels through. */
#include "internal.h"

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

const eg_op_def eg_op_gap = {
    .name = "gap",
    .channels = EG_CH_PASS,
    .shape = gap_shape,
    .forward = gap_forward,
    .backward = gap_backward,
};
