/* dst [cols x rows] = src [rows x cols] transposed, 16 x 16 blocks at a
 * time through vector registers (vtranspose16). The blocks at the edges
 * (a layer with fewer than 16 outputs, a width not a multiple of 16) load
 * only the rows and columns they have and store only those.
 * A linear layer's forward multiplies by its transposed weight (linear.c);
 * the sparse kernels (csr.c, nm.c) take tiles of 16 samples as lanes. */
#include <string.h>

#include "internal.h"
#include "kernels/transpose.h"

/* Lanes [0, n) of v to p, and from p. */
INLINE void store_lanes(float *p, vf v, int n)
{
#ifdef __AVX512F__
    _mm512_mask_storeu_ps(p, vlanes(n), (__m512)v);
#else
    for (int l = 0; l < n; l++) p[l] = v[l];
#endif
}
INLINE vf load_lanes(const float *p, int n)
{
#ifdef __AVX512F__
    return (vf)_mm512_maskz_loadu_ps(vlanes(n), p);
#else
    vf v = vbroadcast(0.0f);
    for (int l = 0; l < n; l++) v[l] = p[l];
    return v;
#endif
}

/* The block of n <= VL rows and m <= VL columns at (r, c). */
INLINE void block(float *dst, int ldd, const float *src, int lds, int r, int c, int n, int m)
{
    vf v[VL];
    for (int i = 0; i < VL; i++) {
        const float *row = src + (size_t)(r + i) * lds + c;
        v[i] = i >= n ? vbroadcast(0.0f) : m == VL ? vload(row) : load_lanes(row, m);
    }
    vtranspose16(v);
    for (int j = 0; j < m; j++) {
        if (n == VL) vstore(dst + (size_t)(c + j) * ldd + r, v[j]);
        else store_lanes(dst + (size_t)(c + j) * ldd + r, v[j], n);
    }
}

void eg_transpose(float *dst, int ldd, const float *src, int lds, int rows, int cols)
{
    for (int r = 0; r < rows; r += VL) {
        int n = rows - r < VL ? rows - r : VL, c = 0;
        for (; c + VL <= cols; c += VL) block(dst, ldd, src, lds, r, c, n, VL);
        if (c < cols) block(dst, ldd, src, lds, r, c, n, cols - c);
    }
}

void eg_transpose_tile(float *xt, const float *x, int ldx, int m, int in)
{
    if (m < VL) memset(xt, 0, (size_t)in * VL * sizeof *xt);  /* lanes past m read as zero */
    eg_transpose(xt, VL, x, ldx, m, in);
}
