/* relu: y = max(x, 0); the gradient passes where y > 0. */
#include "internal.h"

static int relu_shape(eg_node *nd, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    nd->out_shape = nd->in_shape;
    return 0;
}

static void relu_forward(eg_graph *g, eg_node *nd, int n)
{
    const float *x = g->nodes[nd->inputs[0]].y;
    long total = (long)n * (long)eg_shape_size(nd->out_shape);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < total; i++) nd->y[i] = x[i] > 0 ? x[i] : 0;
}

static void relu_backward(eg_graph *g, eg_node *nd, int n)
{
    float *dx = g->nodes[nd->inputs[0]].dy;
    long total = (long)n * (long)eg_shape_size(nd->out_shape);
    if (nd->dx_add[0]) {
#pragma omp parallel for schedule(static)
        for (long i = 0; i < total; i++) dx[i] += nd->y[i] > 0 ? nd->dy[i] : 0;
    } else {
#pragma omp parallel for schedule(static)
        for (long i = 0; i < total; i++) dx[i] = nd->y[i] > 0 ? nd->dy[i] : 0;
    }
}

const eg_op_def eg_op_relu = {
    .name = "relu",
    .channels = EG_CH_PASS,
    .shape = relu_shape,
    .forward = relu_forward,
    .backward = relu_backward,
};
