/* relu: y = max(x, 0); the gradient passes where y > 0. */
#include "internal.h"
#include "io/csrc.h"

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

/* ----------------------------------------------------------- C export */

static const char c_relu[] =
    "/* relu over n floats; y may be x (in place). */\n"
    "static void relu(const float *x, float *y, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;\n"
    "}\n\n";

static void relu_c(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2, const char *y,
                   const char *flow)
{
    (void)g, (void)x2;
    char a[32];
    eg_csrc_shape(a, sizeof a, nd->in_shape);
    size_t n = eg_shape_size(nd->in_shape);
    eg_csrc_kernel(s, "relu", c_relu);
    if (nd->in_shape.h == 1 && nd->in_shape.w == 1)
        eg_text_add(&s->body, "    /* %s: relu over %zu floats: %s */\n", nd->name, n, flow);
    else
        eg_text_add(&s->body, "    /* %s: relu over %s = %zu floats: %s */\n", nd->name, a, n, flow);
    eg_text_add(&s->body, "    relu(%s, %s, %zu);\n", x, y, n);
}

const eg_op_def eg_op_relu = {
    .name = "relu",
    .summary = "max(x, 0)",
    .scales = 1,
    .channels = EG_CH_PASS,
    .shape = eg_elementwise_shape,
    .forward = relu_forward,
    .backward = relu_backward,
    .onnx = {"Relu", .plain = 1},
    .c = {EG_C_OVER_INPUT, .code = relu_c},
};
