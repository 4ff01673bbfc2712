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

#ifdef __AVX512F__
/* VL windows pooled as training pools them, given each window's top left
 * and right (tl, tr) and bottom left and right (bl, br) inputs: the better
 * of each row's pair (the right one only if strictly greater), then the
 * bottom row's only if strictly greater (the first maximum in scan order,
 * as PyTorch picks it), then the relu; each window's winner as a byte (row
 * 2 + column; 4 where the relu cut it). The comparisons stay in mask
 * registers and the codes are made as bytes from them (with AVX-512BW):
 * vector masks and a narrowing store made this p5-bound (conv1's pool in
 * training: 257 -> 211 ns an image). pool2x2_rows.c pools rows with it,
 * the lanes (lanes_conv.c) vectors of images. */
INLINE vf pool_window_coded(vf tl, vf tr, vf bl, vf br, int relu, __m128i *code)
{
    __mmask16 top_right = _mm512_cmp_ps_mask((__m512)tr, (__m512)tl, _CMP_GT_OQ);
    __mmask16 bottom_right = _mm512_cmp_ps_mask((__m512)br, (__m512)bl, _CMP_GT_OQ);
    __m512 t = _mm512_mask_blend_ps(top_right, (__m512)tl, (__m512)tr);
    __m512 u = _mm512_mask_blend_ps(bottom_right, (__m512)bl, (__m512)br);
    __mmask16 down = _mm512_cmp_ps_mask(u, t, _CMP_GT_OQ);
    __m512 m = _mm512_mask_blend_ps(down, t, u);
    __mmask16 dead = relu ? _mm512_cmp_ps_mask(m, _mm512_setzero_ps(), _CMP_LE_OQ) : 0;
    m = _mm512_mask_mov_ps(m, dead, _mm512_setzero_ps());
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    __m128i k = _mm_maskz_mov_epi8(top_right, _mm_set1_epi8(1));
    k = _mm_mask_mov_epi8(k, down, _mm_mask_mov_epi8(_mm_set1_epi8(2), bottom_right, _mm_set1_epi8(3)));
    *code = _mm_mask_mov_epi8(k, dead, _mm_set1_epi8(4));
#else
    __m512i k = _mm512_maskz_mov_epi32(top_right, _mm512_set1_epi32(1));
    k = _mm512_mask_mov_epi32(k, down, _mm512_mask_mov_epi32(_mm512_set1_epi32(2), bottom_right, _mm512_set1_epi32(3)));
    *code = _mm512_cvtepi32_epi8(_mm512_mask_mov_epi32(k, dead, _mm512_set1_epi32(4)));
#endif
    return (vf)m;
}
#endif

#endif
