/* dst [cols x rows] = src [rows x cols] transposed, VL x VL blocks at a
 * time through vector registers (full_block with AVX-512, else
 * vtranspose). The blocks at the edges (a layer with fewer than VL
 * outputs, a width not a multiple of VL) load only the rows and columns
 * they have and store only those. A linear layer's forward multiplies by
 * its transposed weight (linear.c); the sparse kernels (csr.c, nm.c) and
 * the batch lanes take tiles of VL samples as lanes. */
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/vec.h"

/* The block of n <= VL rows and m <= VL columns at (r, c). */
INLINE void block(float *dst, int ldd, const float *src, int lds, int r, int c, int n, int m)
{
    vf v[VL];
    for (int i = 0; i < VL; i++) {
        const float *row = src + (size_t)(r + i) * lds + c;
        v[i] = i >= n ? vbroadcast(0.0f) : vload_n(row, m);
    }
    vtranspose(v);
    for (int j = 0; j < m; j++) vstore_n(dst + (size_t)(c + j) * ldd + r, v[j], n);
}

#ifdef EG_ISA_AVX512
/* A whole block, with half the shuffles of vtranspose: the loads put
 * rows a, 4 + a, 8 + a and 12 + a's columns 4 q .. 4 q + 3 in the four
 * 128-bit lanes of v[a] (a masked broadcast from memory is a load and a
 * blend, which two ports execute, not one), and a 4 x 4 transpose inside
 * each lane finishes columns 4 q .. 4 q + 3: 42 cycles a block instead of
 * 54 when src is in L1. Column j goes to to[j] if to is given, else to
 * dst + j ldd. */
INLINE void full_block(float *dst, int ldd, float *const *to, const float *src, int lds)
{
    for (int q = 0; q < 4; q++) {
        __m512 v[4];
        for (int a = 0; a < 4; a++) {
            const float *p = src + (size_t)a * lds + 4 * q;
            v[a] = _mm512_castps128_ps512(_mm_loadu_ps(p));
            v[a] = _mm512_mask_broadcast_f32x4(v[a], 0x00f0, _mm_loadu_ps(p + 4 * (size_t)lds));
            v[a] = _mm512_mask_broadcast_f32x4(v[a], 0x0f00, _mm_loadu_ps(p + 8 * (size_t)lds));
            v[a] = _mm512_mask_broadcast_f32x4(v[a], 0xf000, _mm_loadu_ps(p + 12 * (size_t)lds));
        }
        __m512d t0 = _mm512_castps_pd(_mm512_unpacklo_ps(v[0], v[1]));
        __m512d t1 = _mm512_castps_pd(_mm512_unpackhi_ps(v[0], v[1]));
        __m512d t2 = _mm512_castps_pd(_mm512_unpacklo_ps(v[2], v[3]));
        __m512d t3 = _mm512_castps_pd(_mm512_unpackhi_ps(v[2], v[3]));
        __m512 col[4] = {_mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2)), _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2)),
                         _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3)), _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3))};
        for (int j = 0; j < 4; j++) _mm512_storeu_ps(to ? to[4 * q + j] : dst + (size_t)(4 * q + j) * ldd, col[j]);
    }
}
#endif

void EG_KERNEL(transpose_to)(float *const *to, const float *src, int lds, int cols)
{
#ifdef EG_ISA_AVX512
    if (cols == VL) {
        full_block(NULL, 0, to, src, lds);
        return;
    }
#endif
    float tmp[VL * VL];
    block(tmp, VL, src, lds, 0, 0, VL, cols);
    for (int j = 0; j < cols; j++) vstore(to[j], vload(tmp + j * VL));
}

void EG_KERNEL(transpose)(float *dst, int ldd, const float *src, int lds, int rows, int cols)
{
    for (int r = 0; r < rows; r += VL) {
        int n = rows - r < VL ? rows - r : VL, c = 0;
#ifdef EG_ISA_AVX512
        if (n == VL)
            for (; c + VL <= cols; c += VL)
                full_block(dst + (size_t)c * ldd + r, ldd, NULL, src + (size_t)r * lds + c, lds);
#endif
        for (; c + VL <= cols; c += VL) block(dst, ldd, src, lds, r, c, n, VL);
        if (c < cols) block(dst, ldd, src, lds, r, c, n, cols - c);
    }
}

void EG_KERNEL(transpose_tile)(float *xt, const float *x, int ldx, int m, int in)
{
    if (m < VL) memset(xt, 0, (size_t)in * VL * sizeof *xt);  /* lanes past m read as zero */
    EG_KERNEL(transpose)(xt, VL, x, ldx, m, in);
}

void EG_KERNEL(lanes_from_rows)(float *plane, int xw, const float *src, size_t ld, int n, int rw, int r0, int c0)
{
    int col = 0;
    float *at = plane + ((size_t)r0 * xw + c0) * VL;  /* the next float's place */
    for (int f0 = 0; f0 < n; f0 += VL) {
        int cnt = n - f0 < VL ? n - f0 : VL;
        float *to[VL];
        for (int f = 0; f < cnt; f++) {
            to[f] = at;
            at += VL;
            if (++col == rw) col = 0, at += ((size_t)xw - rw) * VL;  /* on to the next row */
        }
        EG_KERNEL(transpose_to)(to, src + f0, (int)ld, cnt);
    }
}
