/* dst [cols x rows] = src [rows x cols] transposed, 16 x 16 blocks at a
 * time through vector registers (vtranspose16). A block short of rows
 * (a layer with fewer than 16 outputs) loads only the rows it has and
 * stores only their lanes; columns past the last full block go one by one.
 * A linear layer's forward multiplies by its transposed weight (linear.c). */
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "internal.h"
#include "kernels/transpose.h"

/* Lanes [0, n) of v to p. */
INLINE void store_lanes(float *p, vf v, int n)
{
#ifdef __AVX512F__
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), (__m512)v);
#else
    for (int l = 0; l < n; l++) p[l] = v[l];
#endif
}

void eg_transpose(float *dst, int ldd, const float *src, int lds, int rows, int cols)
{
    for (int r = 0; r < rows; r += VL) {
        int n = rows - r < VL ? rows - r : VL, c = 0;
        for (; c + VL <= cols; c += VL) {
            vf v[VL];
            for (int i = 0; i < VL; i++) v[i] = i < n ? vload(src + (size_t)(r + i) * lds + c) : vbroadcast(0.0f);
            vtranspose16(v);
            for (int j = 0; j < VL; j++) {
                if (n == VL) vstore(dst + (size_t)(c + j) * ldd + r, v[j]);
                else store_lanes(dst + (size_t)(c + j) * ldd + r, v[j], n);
            }
        }
        for (int i = 0; i < n; i++)
            for (int k = c; k < cols; k++) dst[(size_t)k * ldd + r + i] = src[(size_t)(r + i) * lds + k];
    }
}
