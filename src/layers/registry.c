/* The op table, indexed by eg_op_type: adding an op is one line here. */
#include "internal.h"

const eg_op_def *const eg_ops[EG_OP_COUNT] = {
    [EG_OP_INPUT] = &eg_op_input,
    [EG_OP_CONV2D] = &eg_op_conv2d,
    [EG_OP_LINEAR] = &eg_op_linear,
    [EG_OP_RELU] = &eg_op_relu,
    [EG_OP_MAXPOOL2D] = &eg_op_maxpool2d,
    [EG_OP_FLATTEN] = &eg_op_flatten,
    [EG_OP_BATCHNORM2D] = &eg_op_batchnorm2d,
    [EG_OP_ADD] = &eg_op_add,
    [EG_OP_GAP] = &eg_op_gap,
};
_Static_assert(sizeof eg_ops / sizeof eg_ops[0] == EG_OP_COUNT, "one table entry per op");

