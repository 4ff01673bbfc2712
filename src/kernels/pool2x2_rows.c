/* The 2x2, stride-2 max pool (with the relu folded before it, if any) read
 * straight from a convolution's output rows, which may lie ld floats apart
 * (the padded rows of conv2d.c's row-offset product): the conv writes its
 * pooled result instead of writing, cropping and re-reading its whole output
 * (pool_fusion.c).
 * - Inference keeps no winner, so the order of the maxima is free: the two
 *   rows first (contiguous), then the pairs along the row.
 * - Training keeps each window's winner in one byte, coded as
 *   eg_pool2x2_forward does: the better of each row's pair (right only if
 *   strictly greater), then the bottom row only if strictly greater, which is
 *   the first maximum in scan order as PyTorch picks it; 4 for a window the
 *   relu cut. The backward spreads dy back onto the winners' places, in the
 *   same strided rows, writing zero everywhere else. */
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "internal.h"
#include "kernels/pool_vec.h"
static const vi zip_lo = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
static const vi zip_hi = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
typedef uint8_t vb __attribute__((vector_size(VL)));

/* n <= VL winner codes, one byte each, to and from int lanes. */
INLINE vi load_codes(const uint8_t *c, int n)
{
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    return (vi)_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(vlanes(n), c));
#else
    vb k8 = {0};
    if (n == VL) memcpy(&k8, c, VL);
    else
        for (int l = 0; l < n; l++) k8[l] = c[l];
    return __builtin_convertvector(k8, vi);
#endif
}

INLINE void store_codes(uint8_t *c, vb k, int n)
{
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    _mm_mask_storeu_epi8(c, vlanes(n), (__m128i)k);
#else
    if (n == VL) memcpy(c, &k, VL);
    else
        for (int l = 0; l < n; l++) c[l] = k[l];
#endif
}

#ifdef __AVX512F__
/* Rows of at most VL floats go two row pairs to a vector: the windows of
 * rows r, r+1 in the first w/2 lanes, those of rows r+2, r+3 after them
 * (conv2's 14-wide rows fill 14 lanes instead of 7). ev and od pick the
 * windows' left and right inputs from (row r, row r+2). */
INLINE void packed_lanes(int ow, vi *ev, vi *od)
{
    for (int l = 0; l < VL; l++) (*ev)[l] = l < ow ? 2 * l : l < 2 * ow ? VL + 2 * (l - ow) : 0;
    *od = *ev + 1;
}
#endif

void eg_pool2x2_rows(float *restrict y, int ldy, const float *restrict x, int ld, int rows, int w, int relu)
{
    int ow = w / 2, r = 0;
#ifdef __AVX512F__
    if (w <= VL) {  /* two row pairs a vector, as in eg_pool2x2_rows_coded */
        vi ev, od;
        packed_lanes(ow, &ev, &od);
        __mmask16 in = vlanes(w), lo = vlanes(ow), hi = (__mmask16)(vlanes(2 * ow) & ~lo);
        for (; r + 3 < rows; r += 4) {
            const float *a = x + (size_t)r * ld;
            vf t = (vf)_mm512_maskz_loadu_ps(in, a), u = (vf)_mm512_maskz_loadu_ps(in, a + ld);
            vf t2 = (vf)_mm512_maskz_loadu_ps(in, a + 2 * ld), u2 = (vf)_mm512_maskz_loadu_ps(in, a + 3 * ld);
            vf v0 = vmax(t, u), v2 = vmax(t2, u2);
            vf m = vmax(__builtin_shuffle(v0, v2, ev), __builtin_shuffle(v0, v2, od));
            if (relu) m = vmax(m, vbroadcast(0.0f));
            float *o = y + (size_t)(r / 2) * ldy;
            _mm512_mask_storeu_ps(o, lo, (__m512)m);
            _mm512_mask_storeu_ps(o + ldy - ow, hi, (__m512)m);  /* lanes ow.. land at the next row's start */
        }
    }
#endif
    for (; r + 1 < rows; r += 2) {
        const float *a = x + (size_t)r * ld, *b = a + ld;
        float *o = y + (size_t)(r / 2) * ldy;
        int j = 0;
        for (; j + VL <= ow; j += VL)
            vstore(o + j, pool_vec(vload(a + 2 * j), vload(a + 2 * j + VL), vload(b + 2 * j), vload(b + 2 * j + VL), relu));
#ifdef __AVX512F__
        if (j < ow) {  /* the rest of the row: masked loads and store, nothing read past it */
            int n = 2 * (ow - j);
            __mmask16 m0 = vlanes(n), m1 = vlanes(n - VL);
            vf v = pool_vec((vf)_mm512_maskz_loadu_ps(m0, a + 2 * j), (vf)_mm512_maskz_loadu_ps(m1, a + 2 * j + VL),
                            (vf)_mm512_maskz_loadu_ps(m0, b + 2 * j), (vf)_mm512_maskz_loadu_ps(m1, b + 2 * j + VL), relu);
            _mm512_mask_storeu_ps(o + j, vlanes(ow - j), (__m512)v);
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

/* ---------------------------------------------------------- training */

/* VL outputs and their winners (one byte each) from 2 VL inputs of rows a
 * and b; the windows' left and right inputs are lanes ev and od of (a0,
 * a1). */
INLINE vf pool_vec_coded(vf a0, vf a1, vf b0, vf b1, vi ev, vi od, int relu, vb *code)
{
    vf ta = __builtin_shuffle(a0, a1, ev), tb = __builtin_shuffle(a0, a1, od);
    vf ba = __builtin_shuffle(b0, b1, ev), bb = __builtin_shuffle(b0, b1, od);
#ifdef __AVX512F__
    __m128i k;
    vf m = pool_window_coded(ta, tb, ba, bb, relu, &k);
    *code = (vb)k;
    return m;
#else
    vi tr = tb > ta, br = bb > ba;  /* -1 where the right one wins */
    vf t = vselect(tr, tb, ta), u = vselect(br, bb, ba);
    vi down = u > t;
    vf m = vselect(down, u, t);
    vi k = (down & (2 - br)) | (~down & -tr);
    if (relu) {
        vi dead = m <= vbroadcast(0.0f);
        m = vselect(dead, vbroadcast(0.0f), m);
        k = (dead & 4) | (~dead & k);
    }
    *code = __builtin_convertvector(k, vb);
    return m;
#endif
}

#ifndef __AVX512F__
/* One window, for the tails without masked vectors. */
static float pool_one(const float *a, const float *b, int relu, uint8_t *code)
{
    int tr = a[1] > a[0], br = b[1] > b[0];
    float t = tr ? a[1] : a[0], u = br ? b[1] : b[0];
    int down = u > t;
    float m = down ? u : t;
    *code = (uint8_t)(down ? 2 + br : tr);
    if (relu && m <= 0) m = 0, *code = 4;
    return m;
}
#endif

void eg_pool2x2_rows_coded(float *restrict y, int ldy, uint8_t *restrict code, const float *restrict x, int ld,
                           int rows, int w, int relu)
{
    int ow = w / 2, r = 0;
#ifdef __AVX512F__
    if (w <= VL) {
        vi ev, od;
        vb k;
        packed_lanes(ow, &ev, &od);
        __mmask16 in = vlanes(w), lo = vlanes(ow), hi = (__mmask16)(vlanes(2 * ow) & ~lo);
        for (; r + 3 < rows; r += 4) {
            const float *a = x + (size_t)r * ld;
            vf v = pool_vec_coded((vf)_mm512_maskz_loadu_ps(in, a), (vf)_mm512_maskz_loadu_ps(in, a + 2 * ld),
                                  (vf)_mm512_maskz_loadu_ps(in, a + ld), (vf)_mm512_maskz_loadu_ps(in, a + 3 * ld), ev,
                                  od, relu, &k);
            float *o = y + (size_t)(r / 2) * ldy;
            _mm512_mask_storeu_ps(o, lo, (__m512)v);
            _mm512_mask_storeu_ps(o + ldy - ow, hi, (__m512)v);  /* lanes ow.. land at the next row's start */
            store_codes(code + (size_t)(r / 2) * ow, k, 2 * ow);
        }
    }
#endif
    for (; r + 1 < rows; r += 2) {
        const float *a = x + (size_t)r * ld, *b = a + ld;
        float *o = y + (size_t)(r / 2) * ldy;
        uint8_t *c = code + (size_t)(r / 2) * ow;
        vb k;
        int j = 0;
        for (; j + VL <= ow; j += VL) {
            vstore(o + j, pool_vec_coded(vload(a + 2 * j), vload(a + 2 * j + VL), vload(b + 2 * j),
                                         vload(b + 2 * j + VL), even, odd, relu, &k));
            store_codes(c + j, k, VL);
        }
#ifdef __AVX512F__
        if (j < ow) {
            int n = 2 * (ow - j);
            __mmask16 m0 = vlanes(n), m1 = vlanes(n - VL);
            vf v = pool_vec_coded((vf)_mm512_maskz_loadu_ps(m0, a + 2 * j), (vf)_mm512_maskz_loadu_ps(m1, a + 2 * j + VL),
                                  (vf)_mm512_maskz_loadu_ps(m0, b + 2 * j), (vf)_mm512_maskz_loadu_ps(m1, b + 2 * j + VL),
                                  even, odd, relu, &k);
            _mm512_mask_storeu_ps(o + j, vlanes(ow - j), (__m512)v);
            store_codes(c + j, k, ow - j);
        }
#else
        for (; j < ow; j++) o[j] = pool_one(a + 2 * j, b + 2 * j, relu, c + j);
#endif
    }
}

/* Two rows of dx from VL windows: each dy goes to its winner's place, zero
 * to the other three. The windows of lanes z0 (z1) interleaved make
 * top0 and bot0 (top1 and bot1): the two halves of a row pair's rows, or
 * two row pairs of short rows. */
INLINE void unpool_vec(vf d, vi k, vi z0, vi z1, vf *top0, vf *top1, vf *bot0, vf *bot1)
{
    vf z = vbroadcast(0.0f);
    vf tl = vselect(k == 0, d, z), tr = vselect(k == 1, d, z);
    vf bl = vselect(k == 2, d, z), br = vselect(k == 3, d, z);
    *top0 = __builtin_shuffle(tl, tr, z0), *top1 = __builtin_shuffle(tl, tr, z1);
    *bot0 = __builtin_shuffle(bl, br, z0), *bot1 = __builtin_shuffle(bl, br, z1);
}

void eg_unpool2x2_rows(float *restrict dx, int ld, const float *restrict dy, const uint8_t *restrict code, int rows,
                       int w)
{
    int ow = w / 2, r = 0;
#ifdef __AVX512F__
    if (w <= VL) {  /* two row pairs a vector, as in eg_pool2x2_rows_coded */
        vi next;    /* windows ow.. interleaved: rows r+2 and r+3 */
        for (int l = 0; l < VL; l++) next[l] = ow + l / 2 + (l % 2 ? VL : 0);
        __mmask16 out = vlanes(w);
        for (; r + 3 < rows; r += 4) {
            vf t0, t1, b0, b1;
            size_t at = (size_t)(r / 2) * ow;
            unpool_vec((vf)_mm512_maskz_loadu_ps(vlanes(2 * ow), dy + at), load_codes(code + at, 2 * ow), zip_lo, next,
                       &t0, &t1, &b0, &b1);
            float *a = dx + (size_t)r * ld;
            _mm512_mask_storeu_ps(a, out, (__m512)t0), _mm512_mask_storeu_ps(a + ld, out, (__m512)b0);
            _mm512_mask_storeu_ps(a + 2 * ld, out, (__m512)t1), _mm512_mask_storeu_ps(a + 3 * ld, out, (__m512)b1);
        }
    }
#endif
    for (; r + 1 < rows; r += 2) {
        float *a = dx + (size_t)r * ld, *b = a + ld;
        const float *d = dy + (size_t)(r / 2) * ow;
        const uint8_t *c = code + (size_t)(r / 2) * ow;
        vf t0, t1, b0, b1;
        int j = 0;
        for (; j + VL <= ow; j += VL) {
            unpool_vec(vload(d + j), load_codes(c + j, VL), zip_lo, zip_hi, &t0, &t1, &b0, &b1);
            vstore(a + 2 * j, t0), vstore(a + 2 * j + VL, t1);
            vstore(b + 2 * j, b0), vstore(b + 2 * j + VL, b1);
        }
        if (j == ow) continue;
#ifdef __AVX512F__
        __mmask16 in = vlanes(ow - j);
        unpool_vec((vf)_mm512_maskz_loadu_ps(in, d + j), load_codes(c + j, ow - j), zip_lo, zip_hi, &t0, &t1, &b0, &b1);
        int n = 2 * (ow - j);
        __mmask16 m0 = vlanes(n), m1 = vlanes(n - VL);
        _mm512_mask_storeu_ps(a + 2 * j, m0, (__m512)t0), _mm512_mask_storeu_ps(a + 2 * j + VL, m1, (__m512)t1);
        _mm512_mask_storeu_ps(b + 2 * j, m0, (__m512)b0), _mm512_mask_storeu_ps(b + 2 * j + VL, m1, (__m512)b1);
#else
        for (; j < ow; j++)
            for (int q = 0; q < 4; q++) (q < 2 ? a : b)[2 * j + q % 2] = c[j] == q ? d[j] : 0.0f;
#endif
    }
}
