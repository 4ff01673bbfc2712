/* The 2x2 max pool on vectors, shared by the plain pools (pool2x2_rows.c),
 * the convs that pool as they compute (small_conv_rows.c) and the batch
 * lanes (lanes_conv.c), so that their bits agree.
 * - Inference keeps no winner: the maximum of the two rows, then of each
 *   pair of columns, then the relu.
 * - Training keeps each window's winner as a byte (row 2 + column; 4 where
 *   the relu cut it): the better of each row's pair (the right one only if
 *   strictly greater), then the bottom row's only if strictly greater (the
 *   first maximum in scan order, as PyTorch picks it), then the relu. */
#ifndef EG_POOL_VEC_H
#define EG_POOL_VEC_H

#include "kernels/vec.h"

/* VL outputs from 2 VL inputs of rows a and b, relu'd when asked. */
INLINE vf pool_vec(vf a0, vf a1, vf b0, vf b1, int relu)
{
    vf v0 = vmax(a0, b0), v1 = vmax(a1, b1);
    vf m = vmax(veven(v0, v1), vodd(v0, v1));
    return relu ? vmax(m, vbroadcast(0.0f)) : m;
}

/* VL windows pooled as training pools them, given each window's top left
 * and right (tl, tr) and bottom left and right (bl, br) inputs; their
 * winners' codes in *code. On AVX-512 the comparisons stay in mask
 * registers and the codes are made as bytes from them (vector masks and a
 * narrowing store made this bound by one port). */
INLINE vf pool_window_coded(vf tl, vf tr, vf bl, vf br, int relu, vb *code)
{
#ifdef EG_ISA_AVX512
    __mmask16 top_right = _mm512_cmp_ps_mask((__m512)tr, (__m512)tl, _CMP_GT_OQ);
    __mmask16 bottom_right = _mm512_cmp_ps_mask((__m512)br, (__m512)bl, _CMP_GT_OQ);
    __m512 t = _mm512_mask_blend_ps(top_right, (__m512)tl, (__m512)tr);
    __m512 u = _mm512_mask_blend_ps(bottom_right, (__m512)bl, (__m512)br);
    __mmask16 down = _mm512_cmp_ps_mask(u, t, _CMP_GT_OQ);
    __m512 m = _mm512_mask_blend_ps(down, t, u);
    __mmask16 dead = relu ? _mm512_cmp_ps_mask(m, _mm512_setzero_ps(), _CMP_LE_OQ) : 0;
    m = _mm512_mask_mov_ps(m, dead, _mm512_setzero_ps());
    __m128i k = _mm_maskz_mov_epi8(top_right, _mm_set1_epi8(1));
    k = _mm_mask_mov_epi8(k, down, _mm_mask_mov_epi8(_mm_set1_epi8(2), bottom_right, _mm_set1_epi8(3)));
    *code = (vb)_mm_mask_mov_epi8(k, dead, _mm_set1_epi8(4));
    return (vf)m;
#else
    vi right = tr > tl, bright = br > bl;  /* -1 where the right one wins */
    vf t = vselect(right, tr, tl), u = vselect(bright, br, bl);
    vi down = u > t;
    vf m = vselect(down, u, t);
    vi k = (down & (2 - bright)) | (~down & -right);
    if (relu) {
        vi dead = m <= vbroadcast(0.0f);
        m = vselect(dead, vbroadcast(0.0f), m);
        k = (dead & 4) | (~dead & k);
    }
    *code = vcodes_narrow(k);
    return m;
#endif
}

#endif
