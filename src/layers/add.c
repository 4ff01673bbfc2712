/* add: y = a + b for two inputs of one shape (a residual connection,
 * `add res in=branch,skip`). Both inputs get dy; an input that feeds other
 * nodes too gets it added to theirs (dx_add). */
#include <string.h>

#include "internal.h"

static int add_shape(eg_node *nd, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    nd->out_shape = nd->in_shape;  /* eg_graph_infer_shapes checks the other input's shape */
    return 0;
}

static void add_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t per = eg_shape_size(nd->out_shape), n = (size_t)(hi - lo) * per;
    const float *restrict a = eg_input_step(g, nd, 0)->y + (size_t)lo * per;
    const float *restrict b = eg_input_step(g, nd, 1)->y + (size_t)lo * per;
    float *restrict y = s->y + (size_t)lo * per;
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void add_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t per = eg_shape_size(nd->out_shape), n = (size_t)(hi - lo) * per;
    const float *dy = s->dy + (size_t)lo * per;
    /* in input order: with in=a,a the first writes and the second adds */
    for (int k = 0; k < 2; k++) {
        if (g->nodes[nd->inputs[k]].op == EG_OP_INPUT) continue;  /* the data has no gradient */
        float *dx = eg_input_step(g, nd, k)->dy + (size_t)lo * per;
        if (s->dx_add[k])
            for (size_t i = 0; i < n; i++) dx[i] += dy[i];
        else
            memcpy(dx, dy, n * sizeof *dx);
    }
}

const eg_op_def eg_op_add = {
    .name = "add",
    .channels = EG_CH_COUPLE,
    .ninputs = 2,
    .shape = add_shape,
    .forward = add_forward,
    .backward = add_backward,
};
