/* Strided 2-D copies between padded and plain planes, a row at a time with
 * whole vectors instead of a libc call per row: the rows here are 7 to 30
 * floats. A row's tail is the last whole vector again, or a partial one. */
#include "kernels/kernels.h"
#include "kernels/vec.h"

void EG_KERNEL(copy_rows)(float *dst, int dst_stride, const float *src, int src_stride, int rows, int width, int add)
{
    int tail = width % VL;
    for (int r = 0; r < rows; r++) {
        float *d = dst + (size_t)r * dst_stride;
        const float *s = src + (size_t)r * src_stride;
        int c = 0;
        for (; c + VL <= width; c += VL) vstore(d + c, add ? vload(d + c) + vload(s + c) : vload(s + c));
        if (tail && !add && width >= VL) {
            vstore(d + width - VL, vload(s + width - VL));  /* the last whole vector, overlapping */
        } else if (tail) {
            vf v = vload_n(s + c, tail);
            vstore_n(d + c, add ? vload_n(d + c, tail) + v : v, tail);
        }
    }
}
