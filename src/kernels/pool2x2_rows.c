/* Inference's 2x2, stride-2 max pool (with the relu folded before it, if
 * any) read straight from a convolution's output rows, which may lie ld
 * floats apart (the padded rows of conv2d.c's row-offset product): the conv
 * writes its pooled result instead of writing, cropping and re-reading its
 * whole output. No winner is kept, so the order of the maxima is free: the
 * two rows first (contiguous), then the pairs along the row. */
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "internal.h"
#include "kernels/vec.h"

static const vi even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
static const vi odd = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};

INLINE vf vmax(vf a, vf b) { return vselect(b > a, b, a); }

/* VL outputs from 2 VL inputs of rows a and b, relu'd when asked. */
INLINE vf pool_vec(vf a0, vf a1, vf b0, vf b1, int relu)
{
    vf v0 = vmax(a0, b0), v1 = vmax(a1, b1);
    vf m = vmax(__builtin_shuffle(v0, v1, even), __builtin_shuffle(v0, v1, odd));
    return relu ? vmax(m, vbroadcast(0.0f)) : m;
}

void eg_pool2x2_rows(float *restrict y, const float *restrict x, int ld, int rows, int w, int relu)
{
    int ow = w / 2;
    for (int r = 0; r + 1 < rows; r += 2) {
        const float *a = x + (size_t)r * ld, *b = a + ld;
        float *o = y + (size_t)(r / 2) * ow;
        int j = 0;
        for (; j + VL <= ow; j += VL)
            vstore(o + j, pool_vec(vload(a + 2 * j), vload(a + 2 * j + VL), vload(b + 2 * j), vload(b + 2 * j + VL), relu));
#ifdef __AVX512F__
        if (j < ow) {  /* the rest of the row: masked loads and store, nothing read past it */
            int n = 2 * (ow - j);
            __mmask16 m0 = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
            __mmask16 m1 = n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
            vf v = pool_vec((vf)_mm512_maskz_loadu_ps(m0, a + 2 * j), (vf)_mm512_maskz_loadu_ps(m1, a + 2 * j + VL),
                            (vf)_mm512_maskz_loadu_ps(m0, b + 2 * j), (vf)_mm512_maskz_loadu_ps(m1, b + 2 * j + VL), relu);
            _mm512_mask_storeu_ps(o + j, (__mmask16)((1u << (ow - j)) - 1), (__m512)v);
        }
#else
        for (; j < ow; j++) {
            float t = a[2 * j] > a[2 * j + 1] ? a[2 * j] : a[2 * j + 1];
            float u = b[2 * j] > b[2 * j + 1] ? b[2 * j] : b[2 * j + 1];
            float m = u > t ? u : t;
            o[j] = relu && m <= 0 ? 0.0f : m;
        }
#endif
    }
}
