/* Strided 2-D copies between padded and plain planes, a row at a time with
 * whole vectors (the last one overlapping) instead of a libc call per row:
 * the rows here are 7 to 30 floats. */
#include <string.h>

#include "internal.h"
#include "kernels/vec.h"

void eg_copy_rows(float *dst, int dst_stride, const float *src, int src_stride, int rows, int width, int add)
{
    for (int r = 0; r < rows; r++) {
        float *d = dst + (size_t)r * dst_stride;
        const float *s = src + (size_t)r * src_stride;
        if (add) {
            for (int c = 0; c < width; c++) d[c] += s[c];
        } else if (width >= VL) {
            int c = 0;
            for (; c + VL <= width; c += VL) vstore(d + c, vload(s + c));
            if (c < width) vstore(d + width - VL, vload(s + width - VL));
        } else {
            for (int c = 0; c < width; c++) d[c] = s[c];
        }
    }
}
