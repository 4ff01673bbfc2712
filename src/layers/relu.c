/* relu: y = max(x, 0); the gradient passes where y > 0. */
#include "internal.h"

static int relu_shape(eg_node *nd, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    nd->out_shape = nd->in_shape;
    return 0;
}

static void relu_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t per = eg_shape_size(nd->out_shape), n = (size_t)(hi - lo) * per;
    const float *restrict x = eg_input_step(g, nd, 0)->y + (size_t)lo * per;
    float *restrict y = s->y + (size_t)lo * per;
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

static void relu_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    /* local restrict pointers and unconditional loads let the loops vectorize */
    size_t per = eg_shape_size(nd->out_shape), n = (size_t)(hi - lo) * per;
    float *restrict dx = eg_input_step(g, nd, 0)->dy + (size_t)lo * per;
    const float *restrict y = s->y + (size_t)lo * per, *restrict dy = s->dy + (size_t)lo * per;
    if (s->dx_add[0]) {
        for (size_t i = 0; i < n; i++) {
            float d = dy[i];
            dx[i] += y[i] > 0 ? d : 0;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float d = dy[i];
            dx[i] = y[i] > 0 ? d : 0;
        }
    }
}

const eg_op_def eg_op_relu = {
    .name = "relu",
    .channels = EG_CH_PASS,
    .shape = relu_shape,
    .forward = relu_forward,
    .backward = relu_backward,
};
