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
 * same. */
#include "internal.h"
#include "kernels/vec.h"

int eg_small_conv_fits(int outputs, int inputs, int kernel)
{
#ifdef __AVX512F__
    return (kernel == 3 && outputs * inputs <= 2) || (kernel == 5 && outputs * inputs == 1);
#else
    (void)outputs, (void)inputs, (void)kernel;
    return 0;
#endif
}

#ifdef __AVX512F__
/* Where a fused 2x2 pool puts its rows: output m's pooled row r at
 * dst[m] + r ldy, ow of them a row, relu'd first when relu is set. */
typedef struct {
    float *dst[2];
    int ldy, ow, relu;
} pooled;

/* The block's T rows (T even) pooled in pairs, as eg_pool2x2_rows pools
 * them: the maximum of the two rows, then of each pair of columns, then
 * the relu; so the bits are those of the conv's output pooled. */
INLINE void pool_block(int M, int T, int NV, vf acc[2][8][2], const float *bias, int y, int x0, const pooled *p)
{
    static const vi even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    static const vi odd = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
    int j0 = x0 / 2, n = p->ow - j0 < NV * VL / 2 ? p->ow - j0 : NV * VL / 2;
    for (int m = 0; m < M; m++) {
        vf b = vbroadcast(bias ? bias[m] : 0.0f);
        for (int t = 0; t < T; t += 2) {
            vf v[2];
            for (int k = 0; k < NV; k++) v[k] = vmax(b + acc[m][t][k], b + acc[m][t + 1][k]);
            if (NV == 1) v[1] = v[0];
            vf o = vmax(__builtin_shuffle(v[0], v[1], even), __builtin_shuffle(v[0], v[1], odd));
            if (p->relu) o = vmax(o, vbroadcast(0.0f));
            _mm512_mask_storeu_ps(p->dst[m] + (size_t)((y + t) / 2) * p->ldy + j0, vlanes(n), (__m512)o);
        }
    }
}

/* Output rows y .. y+T-1, columns x0 .. x0 + NV VL: NV vectors, whose
 * lanes `lanes` are real, of a KS x KS conv. Each output row's sum is a
 * chain of KS KS C dependent multiply-adds, so the block's M T NV chains
 * are what hides their latency. */
INLINE void rows_block(int M, int C, int KS, int T, int NV, const vf w[2][25], const float *bias, const float *X,
                       size_t plane, int wp, int y, int x0, const __mmask16 lanes[2], float *out, size_t N,
                       const pooled *pool)
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
        for (int r = 0; r < T + KS - 1; r++)
#pragma GCC unroll 5
            for (int kx = 0; kx < KS; kx++)
#pragma GCC unroll 2
                for (int v = 0; v < NV; v++) {
                    const float *at = X + c * plane + (size_t)(y + r) * wp + x0 + v * VL + kx;
                    /* the first of two vectors is full (conv_rows): a
                     * plain load, as masked ones cost the 1-channel conv1 7% */
                    vf in = NV == 2 && v == 0 ? vload(at) : (vf)_mm512_maskz_loadu_ps(lanes[v], at);
#pragma GCC unroll 8
                    for (int t = 0; t < T; t++) {
                        int ky = r - t;
                        if (ky < 0 || ky >= KS) continue;
                        for (int m = 0; m < M; m++) acc[m][t][v] += w[m][(c * KS + ky) * KS + kx] * in;
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
 * weights in registers, takes 6 rows of one vector or 4 of two (LeNet-5's
 * c1 cut to one channel: 518 -> about 300 ns an image; 4 rows beat 2 and
 * matched 6). This is the strip of columns [x0, x0 + NV VL). */
INLINE void strip(int M, int C, int KS, int NV, int oh, int wp, size_t plane, const vf w[2][25], const float *bias,
                  const float *X, int x0, float *out, const pooled *pool)
{
    const int T = KS == 3 ? 8 / (M * NV) : NV == 1 ? 6 : 4;
    const __mmask16 lanes[2] = {vlanes(wp - x0), vlanes(wp - x0 - VL)};
    size_t N = (size_t)oh * wp;
    int y = 0;
    for (; y + T <= oh; y += T) rows_block(M, C, KS, T, NV, w, bias, X, plane, wp, y, x0, lanes, out, N, pool);
    if (pool)  /* oh is even */
        for (; y < oh; y += 2) rows_block(M, C, KS, 2, NV, w, bias, X, plane, wp, y, x0, lanes, out, N, pool);
    for (; y < oh; y++) rows_block(M, C, KS, 1, NV, w, bias, X, plane, wp, y, x0, lanes, out, N, NULL);
}

/* Strips of NV vectors, so that the first of two is always full: a last
 * strip no wider than one vector takes one. */
INLINE void conv_rows(int M, int C, int KS, int NV, int oh, int wp, size_t plane, const float *W, const float *bias,
                      const float *X, float *out, const pooled *pool)
{
    const int K = C * KS * KS;
    vf w[2][25];
    for (int m = 0; m < M; m++)
        for (int j = 0; j < K; j++) w[m][j] = vbroadcast(W[m * K + j]);
    for (int x0 = 0; x0 < wp; x0 += NV * VL)
        if (NV == 2 && wp - x0 <= VL) strip(M, C, KS, 1, oh, wp, plane, w, bias, X, x0, out, pool);
        else strip(M, C, KS, NV, oh, wp, plane, w, bias, X, x0, out, pool);
}

static void dispatch(int M, int C, int KS, int oh, int wp, size_t plane, const float *W, const float *bias,
                     const float *X, float *out, const pooled *p)
{
    int one = wp <= VL;
    if (KS == 5) one ? conv_rows(1, 1, 5, 1, oh, wp, plane, W, bias, X, out, p)
                     : conv_rows(1, 1, 5, 2, oh, wp, plane, W, bias, X, out, p);
    else if (M == 1 && C == 1) one ? conv_rows(1, 1, 3, 1, oh, wp, plane, W, bias, X, out, p)
                                   : conv_rows(1, 1, 3, 2, oh, wp, plane, W, bias, X, out, p);
    else if (M == 2) one ? conv_rows(2, 1, 3, 1, oh, wp, plane, W, bias, X, out, p)
                         : conv_rows(2, 1, 3, 2, oh, wp, plane, W, bias, X, out, p);
    else one ? conv_rows(1, 2, 3, 1, oh, wp, plane, W, bias, X, out, p)
             : conv_rows(1, 2, 3, 2, oh, wp, plane, W, bias, X, out, p);
}
#endif

void eg_small_conv_rows(int M, int C, int KS, int oh, int wp, size_t plane, const float *W, const float *bias,
                        const float *X, float *out)
{
#ifdef __AVX512F__
    dispatch(M, C, KS, oh, wp, plane, W, bias, X, out, NULL);
#else
    (void)M, (void)C, (void)KS, (void)oh, (void)wp, (void)plane, (void)W, (void)bias, (void)X, (void)out;
#endif
}

void eg_small_conv_pool_rows(int M, int C, int KS, int oh, int wp, int w, size_t plane, const float *W,
                             const float *bias, const float *X, int relu, float *const dst[2], int ldy)
{
#ifdef __AVX512F__
    pooled p = {{dst[0], M > 1 ? dst[1] : dst[0]}, ldy, w / 2, relu};
    dispatch(M, C, KS, oh, wp, plane, W, bias, X, NULL, &p);
#else
    (void)M, (void)C, (void)KS, (void)oh, (void)wp, (void)w, (void)plane, (void)W, (void)bias, (void)X, (void)relu,
        (void)dst, (void)ldy;
#endif
}
