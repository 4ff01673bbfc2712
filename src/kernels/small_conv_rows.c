/* The row-offset product of a stride-1 convolution (conv2d.c) when it has
 * so few weights that all of them stay in registers: a 3x3 conv with
 * outputs x inputs <= 2, or a 5x5 one with one of each: convs pruned to one
 * or two channels. There the general product (gemm.c) loads a vector of
 * input for every multiply-add or two. Here T output rows are computed
 * together: input row y + r serves output rows y + r - ky for every ky, so
 * 4 rows of a 3x3 conv cost 6 x 3 loads instead of 4 x 9 (and each load
 * feeds both outputs of a two-channel conv).
 * out[m][y wp + x] = bias[m] + sum over (c, ky, kx) in order of
 * W[m][c][ky][kx] X[c plane + (y + ky) wp + x + kx], for y < oh, x < wp:
 * exactly eg_gemm_nn_rows_set's sum, term for term, so the bits are the
 * same. Pooled in inference, it may also read an input that is not in
 * padded planes where it lies (eg_small_conv_pool_direct): the padding's
 * terms, zeros, are skipped or read as masked-off lanes. */
#include "kernels/kernels.h"
#include "kernels/pool_vec.h"

int EG_KERNEL(small_conv_fits)(int outputs, int inputs, int kernel)
{
#ifdef EG_ISA_AVX512
    return (kernel == 3 && outputs * inputs <= 2) || (kernel == 5 && outputs * inputs == 1);
#else
    (void)outputs, (void)inputs, (void)kernel;
    return 0;
#endif
}

#ifdef EG_ISA_AVX512
/* Where a fused 2x2 pool puts its rows: output m's pooled row r at
 * dst[m] + r ldy, ow of them a row, relu'd first when relu is set. */
typedef struct {
    float *dst[2];
    int ldy, ow, relu;
} pooled;

/* Where the input is: padded planes, plane floats apart with rows wp wide
 * (DIRECT 0), or the unpadded C x h x w input, read in place as if it had
 * pad zeros around it (DIRECT 1: no copy into planes, which would cost a
 * one-channel conv a good part of its time). DIRECT 2 is 1 for a
 * two-vector strip whose first vector lies inside the input's rows from
 * kx = pad = KS / 2 on: plain loads there, cheaper than masked ones. */
typedef struct {
    const float *x;
    size_t plane;
    int h, w, pad;
} source;

/* p + by for a `by` that may point before the start of p's array (the lanes
 * that would read there are masked off): in integers, so that no such
 * pointer is formed. */
INLINE const float *shifted(const float *p, int by)
{
    return (const float *)((uintptr_t)p + (uintptr_t)((intptr_t)by * (intptr_t)sizeof *p));
}

/* The block's T rows (T even) pooled in pairs by pool_vec, as
 * eg_pool2x2_rows pools them: the bits of the conv's output pooled. */
INLINE void pool_block(int M, int T, int NV, vf acc[2][8][2], const float *bias, int y, int x0, const pooled *p)
{
    int j0 = x0 / 2, n = p->ow - j0 < NV * VL / 2 ? p->ow - j0 : NV * VL / 2;
    for (int m = 0; m < M; m++) {
        vf b = vbroadcast(bias ? bias[m] : 0.0f);
        for (int t = 0; t < T; t += 2) {
            int v1 = NV - 1;  /* a row of one vector pools it twice; the lanes past n go unstored */
            vf o = pool_vec(b + acc[m][t][0], b + acc[m][t][v1], b + acc[m][t + 1][0], b + acc[m][t + 1][v1], p->relu);
            _mm512_mask_storeu_ps(p->dst[m] + (size_t)((y + t) / 2) * p->ldy + j0, vlanes(n), (__m512)o);
        }
    }
}

/* Output rows y .. y+T-1, columns x0 .. x0 + NV VL: NV vectors, whose
 * lanes `lanes` are real, of a KS x KS conv. Each output row's sum is a
 * chain of KS KS C dependent multiply-adds, so the block's M T NV chains
 * are what hides their latency. */
INLINE void rows_block(int M, int C, int KS, int T, int NV, int DIRECT, const vf w[2][25], const float *bias,
                       const source *src, int wp, int y, int x0, const __mmask16 lanes[2],
                       const __mmask16 cols[5][2], float *out, size_t N, const pooled *pool)
{
    vf acc[2][8][2];
    for (int m = 0; m < M; m++)
        for (int t = 0; t < T; t++)
            for (int v = 0; v < NV; v++) acc[m][t][v] = vbroadcast(0.0f);
    /* unrolled whole, so that the weights' indices are constants and the
     * weights stay in registers */
#pragma GCC unroll 2
    for (int c = 0; c < C; c++)
#pragma GCC unroll 10
        for (int r = 0; r < T + KS - 1; r++) {
            const float *row;
            if (DIRECT) {
                /* a padding row adds nothing: its terms would be zeros
                 * added to sums that are never -0 */
                int in_row = y + r - src->pad;
                if (in_row < 0 || in_row >= src->h) continue;
                row = shifted(src->x + ((size_t)c * src->h + in_row) * src->w, x0 - src->pad);
            } else
                row = src->x + c * src->plane + (size_t)(y + r) * wp + x0;
#pragma GCC unroll 5
            for (int kx = 0; kx < KS; kx++)
#pragma GCC unroll 2
                for (int v = 0; v < NV; v++) {
                    /* plain loads where they can be, as masked ones cost
                     * the small convs 7-10%: the first of two vectors is
                     * full (conv_rows), and a row of one vector may read
                     * past its end, as planes have VL floats to spare */
                    vf in;
                    if (DIRECT == 2 && v == 0 && kx >= KS / 2) in = vload(shifted(row, kx));
                    else if (DIRECT) in = (vf)_mm512_maskz_loadu_ps(cols[kx][v], shifted(row, v * VL + kx));
                    else if (NV == 1 || v == 0) in = vload(row + v * VL + kx);
                    else in = (vf)_mm512_maskz_loadu_ps(lanes[v], row + v * VL + kx);
#pragma GCC unroll 8
                    for (int t = 0; t < T; t++) {
                        int ky = r - t;
                        if (ky < 0 || ky >= KS) continue;
                        for (int m = 0; m < M; m++) acc[m][t][v] += w[m][(c * KS + ky) * KS + kx] * in;
                    }
                }
        }
    if (pool) {
        pool_block(M, T, NV, acc, bias, y, x0, pool);
        return;
    }
    for (int m = 0; m < M; m++)
        for (int t = 0; t < T; t++)
            for (int v = 0; v < NV; v++)
                _mm512_mask_storeu_ps(out + m * N + (size_t)(y + t) * wp + x0 + v * VL, lanes[v],
                                      (__m512)(vbroadcast(bias ? bias[m] : 0.0f) + acc[m][t][v]));
}

/* Rows up to 16 wide take one vector a row, wider ones two. A 3x3 conv
 * takes T rows a block for 8 chains (two outputs and two vectors: 16
 * accumulators and 18 weights fill the registers); a 5x5 one, with 25
 * weights in registers, takes 6 rows of one vector or 4 of two (enough
 * chains to hide the multiply-adds' latency). This is the strip of columns
 * [x0, x0 + NV VL). */
INLINE void strip(int M, int C, int KS, int NV, int DIRECT, int oh, int wp, const vf w[2][25], const float *bias,
                  const source *src, int x0, float *out, const pooled *pool)
{
    const int T = KS == 3 ? 8 / (M * NV) : NV == 1 ? 6 : 4;
    const __mmask16 lanes[2] = {vlanes(wp - x0), vlanes(wp - x0 - VL)};
    /* DIRECT: the lanes of the load at kx, v that fall in the input's row,
     * columns 0 <= x0 + v VL + kx - pad + lane < w */
    __mmask16 cols[5][2] = {{0}};
    for (int kx = 0; DIRECT && kx < KS; kx++)
        for (int v = 0; v < NV; v++) {
            int first = x0 + v * VL + kx - src->pad;
            cols[kx][v] = vlanes(src->w - first) & (__mmask16)~vlanes(-first);
        }
    size_t N = (size_t)oh * wp;
    int y = 0;
    for (; y + T <= oh; y += T) rows_block(M, C, KS, T, NV, DIRECT, w, bias, src, wp, y, x0, lanes, cols, out, N, pool);
    if (pool)  /* oh is even */
        for (; y < oh; y += 2) rows_block(M, C, KS, 2, NV, DIRECT, w, bias, src, wp, y, x0, lanes, cols, out, N, pool);
    for (; y < oh; y++) rows_block(M, C, KS, 1, NV, DIRECT, w, bias, src, wp, y, x0, lanes, cols, out, N, NULL);
}

/* Strips of NV vectors, so that the first of two is always full: a last
 * strip no wider than one vector takes one. */
INLINE void conv_rows(int M, int C, int KS, int NV, int DIRECT, int oh, int wp, const float *W, const float *bias,
                      const source *src, float *out, const pooled *pool)
{
    const int K = C * KS * KS;
    vf w[2][25];
    for (int m = 0; m < M; m++)
        for (int j = 0; j < K; j++) w[m][j] = vbroadcast(W[m * K + j]);
    for (int x0 = 0; x0 < wp; x0 += NV * VL)
        if (NV == 2 && wp - x0 <= VL) strip(M, C, KS, 1, DIRECT, oh, wp, w, bias, src, x0, out, pool);
        else if (NV == 2 && DIRECT && src->pad == KS / 2 && x0 + KS / 2 + VL <= src->w)
            strip(M, C, KS, 2, 2, oh, wp, w, bias, src, x0, out, pool);
        else strip(M, C, KS, NV, DIRECT, oh, wp, w, bias, src, x0, out, pool);
}

INLINE void shapes(int M, int C, int KS, int DIRECT, int oh, int wp, const float *W, const float *bias,
                   const source *src, float *out, const pooled *p)
{
    int one = wp <= VL;
    if (KS == 5) one ? conv_rows(1, 1, 5, 1, DIRECT, oh, wp, W, bias, src, out, p)
                     : conv_rows(1, 1, 5, 2, DIRECT, oh, wp, W, bias, src, out, p);
    else if (M == 1 && C == 1) one ? conv_rows(1, 1, 3, 1, DIRECT, oh, wp, W, bias, src, out, p)
                                   : conv_rows(1, 1, 3, 2, DIRECT, oh, wp, W, bias, src, out, p);
    else if (M == 2) one ? conv_rows(2, 1, 3, 1, DIRECT, oh, wp, W, bias, src, out, p)
                         : conv_rows(2, 1, 3, 2, DIRECT, oh, wp, W, bias, src, out, p);
    else one ? conv_rows(1, 2, 3, 1, DIRECT, oh, wp, W, bias, src, out, p)
             : conv_rows(1, 2, 3, 2, DIRECT, oh, wp, W, bias, src, out, p);
}

static void dispatch(int M, int C, int KS, int oh, int wp, const float *W, const float *bias, const source *src,
                     float *out, const pooled *p)
{
    if (src->h) shapes(M, C, KS, 1, oh, wp, W, bias, src, out, p);
    else shapes(M, C, KS, 0, oh, wp, W, bias, src, out, p);
}
#endif

void EG_KERNEL(small_conv_rows)(int M, int C, int KS, int oh, int wp, size_t plane, const float *W, const float *bias,
                        const float *X, float *out)
{
#ifdef EG_ISA_AVX512
    source src = {X, plane, 0, 0, 0};
    dispatch(M, C, KS, oh, wp, W, bias, &src, out, NULL);
#else
    (void)M, (void)C, (void)KS, (void)oh, (void)wp, (void)plane, (void)W, (void)bias, (void)X, (void)out;
#endif
}

void EG_KERNEL(small_conv_pool_rows)(int M, int C, int KS, int oh, int wp, int w, size_t plane, const float *W,
                             const float *bias, const float *X, int relu, float *const dst[2], int ldy)
{
#ifdef EG_ISA_AVX512
    pooled p = {{dst[0], M > 1 ? dst[1] : dst[0]}, ldy, w / 2, relu};
    source src = {X, plane, 0, 0, 0};
    dispatch(M, C, KS, oh, wp, W, bias, &src, NULL, &p);
#else
    (void)M, (void)C, (void)KS, (void)oh, (void)wp, (void)w, (void)plane, (void)W, (void)bias, (void)X, (void)relu,
        (void)dst, (void)ldy;
#endif
}

void EG_KERNEL(small_conv_pool_direct)(int M, int C, int KS, int oh, int wp, int w, int pad, const float *W,
                               const float *bias, const float *X, int relu, float *const dst[2], int ldy)
{
#ifdef EG_ISA_AVX512
    pooled p = {{dst[0], M > 1 ? dst[1] : dst[0]}, ldy, w / 2, relu};
    source src = {X, 0, oh + KS - 1 - 2 * pad, wp - pad, pad};
    dispatch(M, C, KS, oh, wp, W, bias, &src, NULL, &p);
#else
    (void)M, (void)C, (void)KS, (void)oh, (void)wp, (void)w, (void)pad, (void)W, (void)bias, (void)X, (void)relu,
        (void)dst, (void)ldy;
#endif
}
