/* A stride-1 convolution for VL images at once in batch lanes
 * (src/graph/lanes.c), with the 2x2 max pool fused into it if any (and
 * the relu that pool folds), or the relu after it: every value is a vector
 * of the VL images' values, so each multiply-add is a whole vector
 * whatever the channel count or the row width.
 * The input is C planes of xh x xw vectors that already hold the padding
 * (zero vectors); output m's (y, x), pooled or not, goes to y + m plane +
 * (y yw + x) VL.
 * Each conv output is bias[m] + the sum over (c, ky, kx) in order of
 * W[m][c][ky][kx] x[c][y + ky][x + kx], from +0, padding terms included:
 * term for term the sum of the row-offset product (eg_gemm_nn_rows_set) and
 * of the small convs; pooled as pool_vec pools (the maximum of the two
 * rows, then of the two columns, then the relu), or relu'd as relu.c
 * does; so an image's bits are the same in lanes as alone. On a CSR copy,
 * the sum leaves out the pruned terms, as the image-by-image CSR product
 * (csr_rows.c) does. */
#include "kernels/kernels.h"
#include "kernels/pool_vec.h"

/* Where the results go; training's pool also keeps its winners' codes. */
typedef struct {
    float *y;
    int yw, pool, relu;
    size_t plane;
    uint8_t *codes;  /* output m's pooled (y, x) codes at codes + ((m ph + y) pw + x) VL */
    int ph, pw;
} target;

/* Output channel m's conv rows y0 .. y0+T-1, columns x0 .. x0+P-1: pooled
 * (T = 2, P even; POOL 2 with codes) or each stored. */
INLINE void store(int POOL, int T, int P, const vf acc[2][8], float bias, const target *o, int m, int y0, int x0)
{
    vf b = vbroadcast(bias), zero = vbroadcast(0.0f);
    if (POOL && T == 2) {  /* never T = 1: pooled heights are even */
        size_t at = (size_t)m * o->plane + ((size_t)y0 / 2 * o->yw + x0 / 2) * VL;
        float *out = o->y + at;
        if (POOL == 2) {
            uint8_t *codes = o->codes + (((size_t)m * o->ph + y0 / 2) * o->pw + x0 / 2) * VL;
            for (int j = 0; j + 1 < P; j += 2) {  /* as training's pool pools rows */
                vb code;
                vstore(out + (size_t)(j / 2) * VL, pool_window_coded(b + acc[0][j], b + acc[0][j + 1], b + acc[1][j],
                                                                     b + acc[1][j + 1], o->relu, &code));
                vcodes_store(codes + (size_t)(j / 2) * VL, code, VL);
            }
            return;
        }
        for (int j = 0; j + 1 < P; j += 2) {
            vf left = vmax(b + acc[0][j], b + acc[1][j]), right = vmax(b + acc[0][j + 1], b + acc[1][j + 1]);
            vf mx = vmax(left, right);
            vstore(out + (size_t)(j / 2) * VL, o->relu ? vmax(mx, zero) : mx);
        }
        return;
    }
    for (int t = 0; t < T; t++)
        for (int j = 0; j < P; j++) {
            vf v = b + acc[t][j];
            vstore(o->y + (size_t)m * o->plane + ((size_t)(y0 + t) * o->yw + x0 + j) * VL, o->relu ? vmax(zero, v) : v);
        }
}

/* Output channels m0 .. m0+R-1, conv rows y0 .. y0+T-1, columns x0 ..
 * x0+P-1. Each input row's P + KS - 1 vectors are loaded once for the KS
 * kx shifts and R channels. */
INLINE void block(int POOL, int R, int T, int P, int KS, int C, int m0, int y0, int x0, const float *x, int xh,
                  int xw, const float *w, const float *bias, const target *o)
{
    vf acc[4][2][8];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < P; j++) acc[r][t][j] = vbroadcast(0.0f);
    /* t, kx, r and j unrolled, so that the accumulators' indices are
     * constants and they stay in registers; ky unrolled at most 3 times
     * (all 5 made GCC keep the 5x5 kernels' accumulators in memory: 50-57%
     * of the peak, against 75-80% now) */
    for (int c = 0; c < C; c++)
#pragma GCC unroll 3
        for (int ky = 0; ky < KS; ky++) {
#pragma GCC unroll 2
            for (int t = 0; t < T; t++) {
                const float *row = x + (((size_t)c * xh + y0 + t + ky) * xw + x0) * VL;
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
    for (int r = 0; r < R; r++) store(POOL, T, P, acc[r], bias[m0 + r], o, m0 + r, y0, x0);
}

/* Columns a block of R channels takes: 16 chains with 32 registers (8
 * columns for one channel, 4 for two), 8 with 16, whose loaded input
 * vectors must stay in registers too. */
#define LANE_COLS(R) ((EG_VREGS >= 32 ? 8 : 4) / ((R) == 1 ? 1 : 2))

/* Conv rows y0 .. y0+T-1 of channels m0 .. m0+R-1: LANE_COLS columns a
 * block, then 4, 2 and 1. */
INLINE void rows(int POOL, int R, int T, int KS, int C, int m0, int y0, int ow, const float *x, int xh, int xw,
                 const float *w, const float *bias, const target *o)
{
    const int P = LANE_COLS(R);
    int x0 = 0;
    for (; x0 + P <= ow; x0 += P) block(POOL, R, T, P, KS, C, m0, y0, x0, x, xh, xw, w, bias, o);
    for (; x0 + 4 <= ow; x0 += 4) block(POOL, R, T, 4, KS, C, m0, y0, x0, x, xh, xw, w, bias, o);
    for (; x0 + 2 <= ow; x0 += 2) block(POOL, R, T, 2, KS, C, m0, y0, x0, x, xh, xw, w, bias, o);
    for (; !POOL && x0 < ow; x0++) block(POOL, R, T, 1, KS, C, m0, y0, x0, x, xh, xw, w, bias, o);
}

/* Every conv row of channels m0 .. m0+R-1, two at a time (a pool's pair),
 * then a last odd one. */
INLINE void channels(int POOL, int R, int KS, int C, int m0, int oh, int ow, const float *x, int xh, int xw,
                     const float *w, const float *bias, const target *o)
{
    int y0 = 0;
    for (; y0 + 2 <= oh; y0 += 2) rows(POOL, R, 2, KS, C, m0, y0, ow, x, xh, xw, w, bias, o);
    if (!POOL && y0 < oh) rows(POOL, R, 1, KS, C, m0, y0, ow, x, xh, xw, w, bias, o);
}

INLINE void kernel_size(int POOL, int KS, int M, int C, int oh, int ow, const float *x, int xh, int xw,
                        const float *w, const float *bias, const target *o)
{
    int m = 0;
    for (; m + 2 <= M; m += 2) channels(POOL, 2, KS, C, m, oh, ow, x, xh, xw, w, bias, o);
    if (m < M) channels(POOL, 1, KS, C, m, oh, ow, x, xh, xw, w, bias, o);
}

/* pooled (with codes or not) or not, known at compile time: the pool's
 * stores cost the small convs 10% as a branch */
INLINE void pooled(int KS, int M, int C, int oh, int ow, const float *x, int xh, int xw, const float *w,
                   const float *bias, const target *o)
{
    if (o->codes) kernel_size(2, KS, M, C, oh, ow, x, xh, xw, w, bias, o);
    else if (o->pool) kernel_size(1, KS, M, C, oh, ow, x, xh, xw, w, bias, o);
    else kernel_size(0, KS, M, C, oh, ow, x, xh, xw, w, bias, o);
}

static void by_kernel(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw, const float *w,
                      const float *bias, const target *o)
{
    switch (KS) {  /* at most EG_LANES_MAX_KERNEL */
    case 1: pooled(1, M, C, oh, ow, x, xh, xw, w, bias, o); break;
    case 2: pooled(2, M, C, oh, ow, x, xh, xw, w, bias, o); break;
    case 3: pooled(3, M, C, oh, ow, x, xh, xw, w, bias, o); break;
    case 4: pooled(4, M, C, oh, ow, x, xh, xw, w, bias, o); break;
    default: pooled(5, M, C, oh, ow, x, xh, xw, w, bias, o); break;
    }
}

void EG_KERNEL(lanes_conv)(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw, const float *w,
                   const float *bias, int pool, int relu, float *y, int yw, size_t yplane)
{
    target o = {y, yw, pool, relu, yplane, NULL, 0, 0};
    by_kernel(M, C, KS, oh, ow, x, xh, xw, w, bias, &o);
}

void EG_KERNEL(lanes_conv_coded)(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw, const float *w,
                         const float *bias, int relu, float *y, int yw, size_t yplane, uint8_t *codes)
{
    target o = {y, yw, 1, relu, yplane, codes, oh / 2, ow / 2};
    by_kernel(M, C, KS, oh, ow, x, xh, xw, w, bias, &o);
}

/* A conv on its CSR copy (eg_csr_build: output m's kept weights, their
 * indices (c, ky, kx) into the filter in order, and values): the same sums
 * without the pruned terms, which are zeros. off[f] is where filter index
 * f's input starts, in vectors from a block's corner. One channel at a
 * time: P columns of T rows, each kept weight a broadcast for T P loads
 * and multiply-adds. */
INLINE void sparse_block(int T, int P, int m, int y0, int x0, const int32_t *rowptr, const int32_t *col,
                         const float *val, const ptrdiff_t *off, const float *x, int xw, const float *bias,
                         const target *o)
{
    vf acc[2][8];
    for (int t = 0; t < T; t++)
        for (int j = 0; j < P; j++) acc[t][j] = vbroadcast(0.0f);
    const float *corner = x + ((size_t)y0 * xw + x0) * VL;
    for (int32_t k = rowptr[m]; k < rowptr[m + 1]; k++) {
        const float *in = corner + off[col[k]] * VL;
        vf wv = vbroadcast(val[k]);
        for (int t = 0; t < T; t++)
            for (int j = 0; j < P; j++) acc[t][j] += wv * vload(in + ((size_t)t * xw + j) * VL);
    }
    if (o->pool) store(1, T, P, acc, bias[m], o, m, y0, x0);
    else store(0, T, P, acc, bias[m], o, m, y0, x0);
}

INLINE void sparse_rows(int T, int m, int y0, int ow, const int32_t *rowptr, const int32_t *col, const float *val,
                        const ptrdiff_t *off, const float *x, int xw, const float *bias, const target *o)
{
    const int P = EG_VREGS >= 32 ? 8 : 4;  /* T P accumulators */
    int x0 = 0;
    for (; x0 + P <= ow; x0 += P) sparse_block(T, P, m, y0, x0, rowptr, col, val, off, x, xw, bias, o);
    for (; x0 + 2 <= ow; x0 += 2) sparse_block(T, 2, m, y0, x0, rowptr, col, val, off, x, xw, bias, o);
    for (; x0 < ow; x0++) sparse_block(T, 1, m, y0, x0, rowptr, col, val, off, x, xw, bias, o);
}

void EG_KERNEL(lanes_conv_csr)(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw, const int32_t *rowptr,
                       const int32_t *col, const float *val, const float *bias, int pool, int relu, float *y, int yw,
                       size_t yplane)
{
    target o = {y, yw, pool, relu, yplane, NULL, 0, 0};
    ptrdiff_t off[EG_LANES_MAX_TERMS];  /* C KS KS of them at most */
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < KS; ky++)
            for (int kx = 0; kx < KS; kx++) off[(c * KS + ky) * KS + kx] = ((ptrdiff_t)c * xh + ky) * xw + kx;
    for (int m = 0; m < M; m++) {
        int y0 = 0;
        for (; y0 + 2 <= oh; y0 += 2) sparse_rows(2, m, y0, ow, rowptr, col, val, off, x, xw, bias, &o);
        if (y0 < oh) sparse_rows(1, m, y0, ow, rowptr, col, val, off, x, xw, bias, &o);
    }
}
