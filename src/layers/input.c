/* input: the model's entry; its output is the caller's batch, not a copy. */
#include "internal.h"

static int input_shape(eg_node *nd, char *why, size_t whylen)
{
    eg_shape s = nd->in_shape;
    if (s.c < 1 || s.h < 1 || s.w < 1) {
        snprintf(why, whylen, "needs shape=CxHxW with positive sizes, found %dx%dx%d", s.c, s.h, s.w);
        return -1;
    }
    nd->out_shape = s;
    return 0;
}

const eg_op_def eg_op_input = {
    .name = "input",
    .summary = "the data: shape=CxHxW",
    .channels = EG_CH_SOURCE,
    .attrs = EG_ATTR_SHAPE,
    .required = EG_ATTR_SHAPE,
    .shape = input_shape,
};
