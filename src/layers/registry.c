/* The op table, indexed by eg_op_type: adding an op is its own file, one
 * value in eg_op_type and one line here. Every backend (spec parsing,
 * shapes, planning, surgery, dependency groups, ONNX both ways, the C
 * export) reaches the op through its entry. */
#include <string.h>

#include "internal.h"
#include "io/csrc.h"

extern const eg_op_def eg_op_input, eg_op_conv2d, eg_op_linear, eg_op_relu, eg_op_maxpool2d, eg_op_flatten,
    eg_op_batchnorm2d, eg_op_add, eg_op_gap, eg_op_sigmoid, eg_op_hardswish, eg_op_relu6,
    eg_op_avgpool2d, eg_op_dwconv2d;

const eg_op_def *const eg_ops[] = {
    [EG_OP_INPUT] = &eg_op_input,
    [EG_OP_CONV2D] = &eg_op_conv2d,
    [EG_OP_LINEAR] = &eg_op_linear,
    [EG_OP_RELU] = &eg_op_relu,
    [EG_OP_MAXPOOL2D] = &eg_op_maxpool2d,
    [EG_OP_FLATTEN] = &eg_op_flatten,
    [EG_OP_BATCHNORM2D] = &eg_op_batchnorm2d,
    [EG_OP_ADD] = &eg_op_add,
    [EG_OP_GAP] = &eg_op_gap,
    [EG_OP_SIGMOID] = &eg_op_sigmoid,
    [EG_OP_HARDSWISH] = &eg_op_hardswish,
    [EG_OP_RELU6] = &eg_op_relu6,
    [EG_OP_AVGPOOL2D] = &eg_op_avgpool2d,
    [EG_OP_DWCONV2D] = &eg_op_dwconv2d,
};
/* an op in eg_op_type without its line here fails to compile */
_Static_assert(sizeof eg_ops / sizeof eg_ops[0] == EG_OP_COUNT, "one table entry per op");

const eg_op_def *eg_op_find(const char *name, eg_op_type *type)
{
    for (int i = 0; i < EG_OP_COUNT; i++)
        if (!strcmp(eg_ops[i]->name, name)) {
            if (type) *type = (eg_op_type)i;
            return eg_ops[i];
        }
    return NULL;
}

void eg_op_names(char *buf, size_t len, const char *sep, int onnx, int (*keep)(const eg_op_def *op))
{
    size_t at = 0;
    if (len) buf[0] = 0;
    for (int i = 0; i < EG_OP_COUNT; i++) {
        const char *name = onnx ? eg_ops[i]->onnx.type : eg_ops[i]->name;
        if (!name || (keep && !keep(eg_ops[i]))) continue;
        int again = 0;  /* an op_type two ops write (Conv) is listed once */
        for (int j = 0; j < i && onnx; j++)
            again |= (!keep || keep(eg_ops[j])) && eg_ops[j]->onnx.type && !strcmp(eg_ops[j]->onnx.type, name);
        if (again) continue;
        int n = snprintf(buf + at, at < len ? len - at : 0, "%s%s", at ? sep : "", name);
        if (n > 0) at += (size_t)n;
    }
}

int eg_elementwise_shape(eg_node *nd, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    nd->out_shape = nd->in_shape;
    return 0;
}

void eg_elementwise_c(eg_csrc *s, const eg_node *nd, const char *name, const char *text, const char *x, const char *y,
                      const char *flow)
{
    char a[32];
    eg_csrc_shape(a, sizeof a, nd->in_shape);
    size_t n = eg_shape_size(nd->in_shape);
    eg_csrc_kernel(s, name, text);
    eg_text_add(&s->body, "    /* %s: %s over %s = %zu floats: %s */\n", nd->name, name, a, n, flow);
    eg_text_add(&s->body, "    %s(%s, %s, %zu);\n", name, x, y, n);
}
