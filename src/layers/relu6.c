/* relu6: y = min(max(x, 0), 6), the clip mobile nets use so that
 * activations fit a fixed-point range; the gradient passes where
 * 0 < y < 6. ONNX calls it Clip with min 0 and max 6. */
#include "internal.h"
#include "io/csrc.h"

static void relu6_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t per = eg_shape_size(nd->out_shape), n = (size_t)(hi - lo) * per;
    const float *restrict x = eg_input_step(g, nd, 0)->y + (size_t)lo * per;
    float *restrict y = s->y + (size_t)lo * per;
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? (x[i] < 6.0f ? x[i] : 6.0f) : 0.0f;
}

static void relu6_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t per = eg_shape_size(nd->out_shape), n = (size_t)(hi - lo) * per;
    float *restrict dx = eg_input_step(g, nd, 0)->dy + (size_t)lo * per;
    const float *restrict y = s->y + (size_t)lo * per, *restrict dy = s->dy + (size_t)lo * per;
    int add = s->dx_add[0];
    for (size_t i = 0; i < n; i++) {
        float d = y[i] > 0.0f && y[i] < 6.0f ? dy[i] : 0.0f;
        dx[i] = add ? dx[i] + d : d;
    }
}

/* ----------------------------------------------------------- C export */

static const char c_relu6[] =
    "/* relu6 over n floats: min(max(x, 0), 6); y may be x (in place). */\n"
    "static void relu6(const float *x, float *y, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) y[i] = x[i] > 0.0f ? (x[i] < 6.0f ? x[i] : 6.0f) : 0.0f;\n"
    "}\n\n";

static void relu6_c(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2, const char *y,
                    const char *flow)
{
    (void)g, (void)x2;
    eg_elementwise_c(s, nd, "relu6", c_relu6, x, y, flow);
}

const eg_op_def eg_op_relu6 = {
    .name = "relu6",
    .summary = "min(max(x, 0), 6)",
    .channels = EG_CH_PASS,
    .shape = eg_elementwise_shape,
    .forward = relu6_forward,
    .backward = relu6_backward,
    .onnx = {"Clip", .plain = 1, .consts = {0.0f, 6.0f}, .nconsts = 2},
    .c = {EG_C_OVER_INPUT, .code = relu6_c},
};
