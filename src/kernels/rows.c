/* Strided 2-D copies between padded and plain planes, a row at a time with
 * whole vectors instead of a libc call per row: the rows here are 7 to 30
 * floats. With AVX-512 a row's tail is one masked load and store. */
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "internal.h"
#include "kernels/vec.h"

#ifdef __AVX512F__
void eg_copy_rows(float *dst, int dst_stride, const float *src, int src_stride, int rows, int width, int add)
{
    __mmask16 tail = (__mmask16)((1u << (width % 16)) - 1);
    for (int r = 0; r < rows; r++) {
        float *d = dst + (size_t)r * dst_stride;
        const float *s = src + (size_t)r * src_stride;
        int c = 0;
        for (; c + 16 <= width; c += 16) {
            __m512 v = _mm512_loadu_ps(s + c);
            _mm512_storeu_ps(d + c, add ? _mm512_add_ps(_mm512_loadu_ps(d + c), v) : v);
        }
        if (tail) {
            __m512 v = _mm512_maskz_loadu_ps(tail, s + c);
            if (add) v = _mm512_add_ps(_mm512_maskz_loadu_ps(tail, d + c), v);
            _mm512_mask_storeu_ps(d + c, tail, v);
        }
    }
}
#else
void eg_copy_rows(float *dst, int dst_stride, const float *src, int src_stride, int rows, int width, int add)
{
    for (int r = 0; r < rows; r++) {
        float *restrict d = dst + (size_t)r * dst_stride;
        const float *restrict s = src + (size_t)r * src_stride;
        if (add)
            for (int c = 0; c < width; c++) d[c] += s[c];
        else if (width >= VL) {
            int c = 0;
            for (; c + VL <= width; c += VL) vstore(d + c, vload(s + c));
            if (c < width) vstore(d + width - VL, vload(s + width - VL));
        } else {
            for (int c = 0; c < width; c++) d[c] = s[c];
        }
    }
}
#endif
