/* sigmoid: y = 1 / (1 + e^-x), elementwise; the gradient passes as
 * dy y (1 - y). */
#include <math.h>

#include "internal.h"
#include "io/csrc.h"

static void sigmoid_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t per = eg_shape_size(nd->out_shape), n = (size_t)(hi - lo) * per;
    const float *restrict x = eg_input_step(g, nd, 0)->y + (size_t)lo * per;
    float *restrict y = s->y + (size_t)lo * per;
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void sigmoid_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    size_t per = eg_shape_size(nd->out_shape), n = (size_t)(hi - lo) * per;
    float *restrict dx = eg_input_step(g, nd, 0)->dy + (size_t)lo * per;
    const float *restrict y = s->y + (size_t)lo * per, *restrict dy = s->dy + (size_t)lo * per;
    if (s->dx_add[0])
        for (size_t i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
    else
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

/* ----------------------------------------------------------- C export */

/* The exported code calls no library function, so it brings its own e^x:
 * x = k ln 2 + r with |r| <= ln 2 / 2 (ln 2 in two parts, so r is exact),
 * e^r by its Taylor series to r^7 (error below 1e-8 of it), times 2^k set
 * in the exponent bits; within a few ulp of expf. */
static const char c_sigmoid[] =
    "/* e^x without the C library: x = k ln2 + r, |r| <= ln2 / 2, e^r by its series\n"
    " * to r^7, times 2^k made in the exponent bits (x clamped to the normal range). */\n"
    "static inline float sigmoid_exp(float x)\n"
    "{\n"
    "    union { float f; unsigned int u; } two_k;\n"
    "    float k, r, p;\n"
    "    if (x > 88.0f) x = 88.0f;\n"
    "    if (x < -87.0f) return 0.0f;\n"
    "    k = (float)(int)(x * 1.44269504f + (x >= 0.0f ? 0.5f : -0.5f));\n"
    "    r = (x - k * 0.693145752f) - k * 1.42860677e-6f;\n"
    "    p = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666667e-1f + r * (4.16666667e-2f +\n"
    "        r * (8.33333333e-3f + r * (1.38888889e-3f + r * 1.98412698e-4f))))));\n"
    "    two_k.u = (unsigned int)((int)k + 127) << 23;\n"
    "    return p * two_k.f;\n"
    "}\n"
    "\n"
    "/* sigmoid over n floats: 1 / (1 + e^-x); y may be x (in place). */\n"
    "static void sigmoid(const float *x, float *y, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) y[i] = 1.0f / (1.0f + sigmoid_exp(-x[i]));\n"
    "}\n\n";

static void sigmoid_c(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2, const char *y,
                      const char *flow)
{
    (void)g, (void)x2;
    eg_elementwise_c(s, nd, "sigmoid", c_sigmoid, x, y, flow);
}

const eg_op_def eg_op_sigmoid = {
    .name = "sigmoid",
    .summary = "1 / (1 + e^-x)",
    .channels = EG_CH_PASS,
    .moves_zero = 1,
    .shape = eg_elementwise_shape,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
    .onnx = {"Sigmoid", .plain = 1},
    .c = {EG_C_OVER_INPUT, .code = sigmoid_c},
};
