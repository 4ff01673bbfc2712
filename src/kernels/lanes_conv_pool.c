/* A stride-1 convolution with its fused 2x2 max pool (and the relu the pool
 * folds), for VL images at once in batch lanes (src/graph/lanes.c): every
 * value is a vector of the VL images' values, so each multiply-add is a
 * whole vector whatever the channel count or the row width.
 * The input is C planes of xh x xw vectors that already hold the padding
 * (zero vectors); output m's pooled (py, px) goes to y + m yplane +
 * (py yw + px) VL.
 * Each conv output is bias[m] + the sum over (c, ky, kx) in order of
 * W[m][c][ky][kx] x[c][y + ky][x + kx], from +0, padding terms included:
 * term for term the sum of the row-offset product (eg_gemm_nn_rows_set) and
 * of the small convs, and pooled as pool_vec pools (the maximum of the two
 * rows, then of the two columns, then the relu), so an image's bits are
 * the same in lanes as alone. */
#include "internal.h"
#include "kernels/vec.h"

#ifdef __AVX512F__
/* The four conv outputs of each pooled output, pooled and stored. */
INLINE void pool_store(int P, const vf acc[2][8], float bias, int relu, float *out)
{
    vf b = vbroadcast(bias);
    for (int j = 0; j < P; j += 2) {
        vf left = vmax(b + acc[0][j], b + acc[1][j]), right = vmax(b + acc[0][j + 1], b + acc[1][j + 1]);
        vf m = vmax(left, right);
        vstore(out + (size_t)(j / 2) * VL, relu ? vmax(m, vbroadcast(0.0f)) : m);
    }
}

/* Output channels m0 .. m0+R-1, conv rows 2 py and 2 py + 1, conv columns
 * x0 .. x0+P-1 (P/2 pooled columns). Each input row's P + KS - 1 vectors
 * are loaded once for the KS kx shifts and R channels. */
INLINE void block(int R, int P, int KS, int C, int m0, int py, int x0, const float *x, int xh, int xw,
                  const float *w, const float *bias, int relu, float *y, int yw, size_t yplane)
{
    vf acc[4][2][8];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < 2; t++)
            for (int j = 0; j < P; j++) acc[r][t][j] = vbroadcast(0.0f);
    /* t, kx, r and j unrolled, so that the accumulators' indices are
     * constants and they stay in registers; ky unrolled at most 3 times
     * (all 5 made GCC keep the 5x5 kernels' accumulators in memory: 50-57%
     * of the peak, against 75-80% now) */
    for (int c = 0; c < C; c++)
#pragma GCC unroll 3
    for (int ky = 0; ky < KS; ky++) {
#pragma GCC unroll 2
        for (int t = 0; t < 2; t++) {
            const float *row = x + (((size_t)c * xh + 2 * py + t + ky) * xw + x0) * VL;
            vf in[8 + 4];
#pragma GCC unroll 12
            for (int j = 0; j < P + KS - 1; j++) in[j] = vload(row + (size_t)j * VL);
#pragma GCC unroll 5
            for (int kx = 0; kx < KS; kx++)
#pragma GCC unroll 4
                for (int r = 0; r < R; r++) {
                    vf wv = vbroadcast(w[(((size_t)(m0 + r) * C + c) * KS + ky) * KS + kx]);
#pragma GCC unroll 8
                    for (int j = 0; j < P; j++) acc[r][t][j] += wv * in[j + kx];
                }
        }
    }
    for (int r = 0; r < R; r++)
        pool_store(P, acc[r], bias[m0 + r], relu, y + (size_t)(m0 + r) * yplane + ((size_t)py * yw + x0 / 2) * VL);
}

/* Every pooled row of channels m0 .. m0+R-1: 8 conv columns a block for one
 * channel, 4 for two or more (16 chains), then 2 for an odd pooled width. */
INLINE void channels(int R, int KS, int C, int m0, int ph, int pw, const float *x, int xh, int xw, const float *w,
                     const float *bias, int relu, float *y, int yw, size_t yplane)
{
    const int P = R == 1 ? 8 : 4;
    for (int py = 0; py < ph; py++) {
        int x0 = 0;
        for (; x0 + P <= 2 * pw; x0 += P) block(R, P, KS, C, m0, py, x0, x, xh, xw, w, bias, relu, y, yw, yplane);
        for (; x0 + 4 <= 2 * pw; x0 += 4) block(R, 4, KS, C, m0, py, x0, x, xh, xw, w, bias, relu, y, yw, yplane);
        for (; x0 < 2 * pw; x0 += 2) block(R, 2, KS, C, m0, py, x0, x, xh, xw, w, bias, relu, y, yw, yplane);
    }
}

INLINE void kernel_size(int KS, int M, int C, int ph, int pw, const float *x, int xh, int xw, const float *w,
                        const float *bias, int relu, float *y, int yw, size_t yplane)
{
    int m = 0;
    for (; m + 2 <= M; m += 2) channels(2, KS, C, m, ph, pw, x, xh, xw, w, bias, relu, y, yw, yplane);
    if (m < M) channels(1, KS, C, m, ph, pw, x, xh, xw, w, bias, relu, y, yw, yplane);
}

/* A conv on its CSR copy (eg_csr_build: output m's kept weights, their
 * indices (c, ky, kx) into the filter in order, and values): the same sums
 * without the pruned terms, which are zeros (the row-offset CSR product,
 * csr_rows.c, sums the same terms in the same order). off[f] is where
 * filter index f's input starts, in vectors from a block's corner. One
 * channel at a time: P columns of two rows, each kept weight a broadcast
 * for 2 P loads and multiply-adds. */
INLINE void sparse_block(int P, int32_t k0, int32_t k1, const int32_t *col, const float *val, const ptrdiff_t *off,
                         const float *corner, int xw, float bias, int relu, float *out)
{
    vf acc[2][8];
    for (int t = 0; t < 2; t++)
        for (int j = 0; j < P; j++) acc[t][j] = vbroadcast(0.0f);
    for (int32_t k = k0; k < k1; k++) {
        const float *in = corner + off[col[k]] * VL;
        vf wv = vbroadcast(val[k]);
        for (int t = 0; t < 2; t++)
            for (int j = 0; j < P; j++) acc[t][j] += wv * vload(in + ((size_t)t * xw + j) * VL);
    }
    pool_store(P, acc, bias, relu, out);
}

void eg_lanes_conv_pool_csr(int M, int C, int KS, int ph, int pw, const float *x, int xh, int xw,
                            const int32_t *rowptr, const int32_t *col, const float *val, const float *bias, int relu,
                            float *y, int yw, size_t yplane)
{
    ptrdiff_t off[EG_LANES_MAX_TERMS];  /* C KS KS of them at most */
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < KS; ky++)
            for (int kx = 0; kx < KS; kx++) off[(c * KS + ky) * KS + kx] = ((ptrdiff_t)c * xh + ky) * xw + kx;
    for (int m = 0; m < M; m++)
        for (int py = 0; py < ph; py++) {
            const float *row = x + (size_t)2 * py * xw * VL;
            float *out = y + (size_t)m * yplane + (size_t)py * yw * VL;
            int x0 = 0;
            for (; x0 + 8 <= 2 * pw; x0 += 8)
                sparse_block(8, rowptr[m], rowptr[m + 1], col, val, off, row + (size_t)x0 * VL, xw, bias[m], relu,
                             out + (size_t)x0 / 2 * VL);
            for (; x0 < 2 * pw; x0 += 2)
                sparse_block(2, rowptr[m], rowptr[m + 1], col, val, off, row + (size_t)x0 * VL, xw, bias[m], relu,
                             out + (size_t)x0 / 2 * VL);
        }
}

void eg_lanes_conv_pool(int M, int C, int KS, int ph, int pw, const float *x, int xh, int xw, const float *w,
                        const float *bias, int relu, float *y, int yw, size_t yplane)
{
    switch (KS) {  /* at most EG_LANES_MAX_KERNEL */
    case 1: kernel_size(1, M, C, ph, pw, x, xh, xw, w, bias, relu, y, yw, yplane); break;
    case 2: kernel_size(2, M, C, ph, pw, x, xh, xw, w, bias, relu, y, yw, yplane); break;
    case 3: kernel_size(3, M, C, ph, pw, x, xh, xw, w, bias, relu, y, yw, yplane); break;
    case 4: kernel_size(4, M, C, ph, pw, x, xh, xw, w, bias, relu, y, yw, yplane); break;
    default: kernel_size(5, M, C, ph, pw, x, xh, xw, w, bias, relu, y, yw, yplane); break;
    }
}
#endif
