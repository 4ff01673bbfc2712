/* flatten: C x H x W maps become C*H*W features (channel c owns a block of H*W). */
#include <string.h>

#include "internal.h"

static int flatten_shape(eg_node *nd, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    nd->out_shape = (eg_shape){(int)eg_shape_size(nd->in_shape), 1, 1};
    return 0;
}

static void flatten_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t per = eg_shape_size(nd->out_shape);
    memcpy(s->y + lo * per, eg_input_step(g, nd, 0)->y + lo * per, (size_t)(hi - lo) * per * sizeof(float));
}

static void flatten_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t per = eg_shape_size(nd->out_shape), n = (size_t)(hi - lo) * per;
    float *dx = eg_input_step(g, nd, 0)->dy + lo * per;
    const float *dy = s->dy + lo * per;
    if (s->dx_add[0])
        for (size_t i = 0; i < n; i++) dx[i] += dy[i];
    else
        memcpy(dx, dy, n * sizeof *dx);
}


const eg_op_def eg_op_flatten = {
    .name = "flatten",
    .summary = "C x H x W maps as C*H*W features",
    .scales = 1,
    .channels = EG_CH_FLATTEN,
    .shape = flatten_shape,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .onnx = {"Flatten", EG_ONNX_AXIS1, {NULL}, 2},
    .c = {EG_C_SAME},
};
