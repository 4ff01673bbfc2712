/* The 2x2 max pool of inference on vectors, in the one order the plain
 * pool (pool2x2_rows.c) and the convs that pool as they compute
 * (small_conv_rows.c) share, so that their bits agree: the maximum of the
 * two rows, then of each pair of columns, then the relu. GCC's
 * __builtin_shuffle keeps it out of vec.h (see transpose.h). */
#ifndef EG_POOL_VEC_H
#define EG_POOL_VEC_H

#include "kernels/vec.h"

/* Lanes 0, 2, 4, ... and 1, 3, 5, ... of a pair of vectors: the windows'
 * left and right inputs. */
static const vi even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
static const vi odd = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};

/* VL outputs from 2 VL inputs of rows a and b, relu'd when asked. */
INLINE vf pool_vec(vf a0, vf a1, vf b0, vf b1, int relu)
{
    vf v0 = vmax(a0, b0), v1 = vmax(a1, b1);
    vf m = vmax(__builtin_shuffle(v0, v1, even), __builtin_shuffle(v0, v1, odd));
    return relu ? vmax(m, vbroadcast(0.0f)) : m;
}

#endif
