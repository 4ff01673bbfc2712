/* add: y = a + b for two inputs of one shape (a residual connection,
 * `add res in=branch,skip`). Both inputs get dy; an input that feeds other
 * nodes too gets it added to theirs (dx_add). */
#include <string.h>

#include "internal.h"
#include "io/csrc.h"

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

/* ----------------------------------------------------------- C export */

static const char c_add[] =
    "/* y = a + b over n floats; y may be a or b. */\n"
    "static void add(const float *a, const float *b, float *y, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) y[i] = a[i] + b[i];\n"
    "}\n\n";

static void add_c(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2, const char *y,
                  const char *flow)
{
    char a[32];
    eg_csrc_shape(a, sizeof a, nd->in_shape);
    eg_csrc_kernel(s, "add", c_add);
    eg_text_add(&s->body, "    /* %s: add %s + %s, %s: %s */\n", nd->name, g->nodes[nd->inputs[0]].name,
                g->nodes[nd->inputs[1]].name, a, flow);
    eg_text_add(&s->body, "    add(%s, %s, %s, %zu);\n", x, x2, y, eg_shape_size(nd->in_shape));
}

const eg_op_def eg_op_add = {
    .name = "add",
    .summary = "the sum of two inputs of one shape (a residual connection)",
    .channels = EG_CH_COUPLE,
    .ninputs = 2,
    .shape = add_shape,
    .forward = add_forward,
    .backward = add_backward,
    .onnx = {"Add"},
    .c = {EG_C_OVER_INPUT, .code = add_c},
};
