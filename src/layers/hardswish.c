/* hardswish: y = x relu6(x + 3) / 6, elementwise (MobileNetV3's cheap
 * swish); the gradient passes as dy (2x + 3) / 6 on (-3, 3), dy above it,
 * 0 below, read from the input since y does not give x back. */
#include "internal.h"
#include "io/csrc.h"

static void hardswish_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t per = eg_shape_size(nd->out_shape), n = (size_t)(hi - lo) * per;
    const float *restrict x = eg_input_step(g, nd, 0)->y + (size_t)lo * per;
    float *restrict y = s->y + (size_t)lo * per;
    for (size_t i = 0; i < n; i++) {
        float t = x[i] + 3.0f;
        t = t < 0.0f ? 0.0f : t > 6.0f ? 6.0f : t;
        y[i] = x[i] * t / 6.0f;  /* divided, not times 1/6: PyTorch's rounding */
    }
}

static void hardswish_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t per = eg_shape_size(nd->out_shape), n = (size_t)(hi - lo) * per;
    const eg_step *in = eg_input_step(g, nd, 0);
    const float *restrict x = in->y + (size_t)lo * per, *restrict dy = s->dy + (size_t)lo * per;
    float *restrict dx = in->dy + (size_t)lo * per;
    int add = s->dx_add[0];
    for (size_t i = 0; i < n; i++) {
        float v = x[i], d = v < -3.0f ? 0.0f : v > 3.0f ? dy[i] : dy[i] * (v / 3.0f + 0.5f);
        dx[i] = add ? dx[i] + d : d;
    }
}

/* ----------------------------------------------------------- C export */

static const char c_hardswish[] =
    "/* hardswish over n floats: x relu6(x + 3) / 6; y may be x (in place). */\n"
    "static void hardswish(const float *x, float *y, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        float v = x[i], t = v + 3.0f;\n"
    "        t = t < 0.0f ? 0.0f : t > 6.0f ? 6.0f : t;\n"
    "        y[i] = v * t / 6.0f;\n"
    "    }\n"
    "}\n\n";

static void hardswish_c(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2, const char *y,
                        const char *flow)
{
    (void)g, (void)x2;
    eg_elementwise_c(s, nd, "hardswish", c_hardswish, x, y, flow);
}

const eg_op_def eg_op_hardswish = {
    .name = "hardswish",
    .summary = "x relu6(x + 3) / 6",
    .channels = EG_CH_PASS,
    .shape = eg_elementwise_shape,
    .forward = hardswish_forward,
    .backward = hardswish_backward,
    .onnx = {"HardSwish", .plain = 1, .opset = 14},
    .c = {EG_C_OVER_INPUT, .code = hardswish_c},
};
