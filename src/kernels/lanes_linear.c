/* A linear layer for VL images at once in batch lanes (src/graph/lanes.c):
 * x holds `in` vectors, the VL images' values of each input feature, and
 * y gets `out` vectors, y[o] = bias[o] + the sum of W[o][k] x[k], relu'd
 * when asked (x > 0 ? x : 0, as relu.c). Each sum is taken in the order
 * the dense product (gemm.c) takes it for one image, so that an image's
 * bits are the same in lanes as alone: for more than VL outputs one chain
 * in k order from +0; for at most VL outputs, one_vector's four chains
 * (term k in chain k mod 4, the terms from eg_gemm_narrow_k4 on first,
 * the chains added (0 + 1) + (2 + 3)). */
#include "internal.h"
#include "kernels/vec.h"

#ifdef __AVX512F__
INLINE vf finish(vf b, vf sum, int relu) { return relu ? vmax(vbroadcast(0.0f), b + sum) : b + sum; }

/* Outputs o .. o+R-1 as one chain each: x[k] is loaded once for R
 * multiply-adds in independent chains. */
INLINE void chains_of_one(int R, int o, int in, const float *w, const float *bias, const float *x, int relu, float *y)
{
    vf acc[8];
    for (int r = 0; r < R; r++) acc[r] = vbroadcast(0.0f);
    for (int k = 0; k < in; k++) {
        vf xk = vload(x + (size_t)k * VL);
        for (int r = 0; r < R; r++) acc[r] += vbroadcast(w[(size_t)(o + r) * in + k]) * xk;
    }
    for (int r = 0; r < R; r++) vstore(y + (size_t)(o + r) * VL, finish(vbroadcast(bias[o + r]), acc[r], relu));
}

/* Outputs o .. o+R-1 in one_vector's four chains each. */
INLINE void chains_of_four(int R, int o, int out, int in, const float *w, const float *bias, const float *x, int relu,
                           float *y)
{
    int K4 = eg_gemm_narrow_k4(out, out, in);
    vf acc[4][4];
    for (int r = 0; r < R; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = vbroadcast(0.0f);
    for (int k = K4; k < in; k++)
        for (int r = 0; r < R; r++) acc[r][k % 4] += vbroadcast(w[(size_t)(o + r) * in + k]) * vload(x + (size_t)k * VL);
    for (int k = 0; k < K4; k += 4)
        for (int q = 0; q < 4; q++) {
            vf xk = vload(x + (size_t)(k + q) * VL);
            for (int r = 0; r < R; r++) acc[r][q] += vbroadcast(w[(size_t)(o + r) * in + k + q]) * xk;
        }
    for (int r = 0; r < R; r++) {
        vf sum = (acc[r][0] + acc[r][1]) + (acc[r][2] + acc[r][3]);
        vstore(y + (size_t)(o + r) * VL, finish(vbroadcast(bias[o + r]), sum, relu));
    }
}

/* Outputs o .. o+R-1 on the CSR copy: each sums its row's kept weights in
 * column order from +0, as eg_csr_matmul_t does for one image; the R rows
 * walked together up to the shortest, then each alone (R independent
 * chains). */
INLINE void csr_rows(int R, int o, const int32_t *rowptr, const int32_t *col, const float *val, const float *bias,
                     const float *x, int relu, float *y)
{
    vf acc[8];
    int32_t common = INT32_MAX;
    for (int r = 0; r < R; r++) {
        acc[r] = vbroadcast(0.0f);
        if (rowptr[o + r + 1] - rowptr[o + r] < common) common = rowptr[o + r + 1] - rowptr[o + r];
    }
    for (int32_t u = 0; u < common; u++)
        for (int r = 0; r < R; r++) {
            int32_t k = rowptr[o + r] + u;
            acc[r] += vbroadcast(val[k]) * vload(x + (size_t)col[k] * VL);
        }
    for (int r = 0; r < R; r++) {
        for (int32_t k = rowptr[o + r] + common; k < rowptr[o + r + 1]; k++)
            acc[r] += vbroadcast(val[k]) * vload(x + (size_t)col[k] * VL);
        vstore(y + (size_t)(o + r) * VL, finish(vbroadcast(bias[o + r]), acc[r], relu));
    }
}

void eg_lanes_linear_csr(int out, const int32_t *rowptr, const int32_t *col, const float *val, const float *bias,
                         const float *x, int relu, float *y)
{
    int o = 0;
    for (; o + 8 <= out; o += 8) csr_rows(8, o, rowptr, col, val, bias, x, relu, y);
    for (; o < out; o++) csr_rows(1, o, rowptr, col, val, bias, x, relu, y);
}

void eg_lanes_linear(int out, int in, const float *w, const float *bias, const float *x, int relu, float *y)
{
    int o = 0;
    if (out <= VL) {
        for (; o + 4 <= out; o += 4) chains_of_four(4, o, out, in, w, bias, x, relu, y);
        for (; o < out; o++) chains_of_four(1, o, out, in, w, bias, x, relu, y);
        return;
    }
    for (; o + 8 <= out; o += 8) chains_of_one(8, o, in, w, bias, x, relu, y);
    for (; o + 4 <= out; o += 4) chains_of_one(4, o, in, w, bias, x, relu, y);
    for (; o < out; o++) chains_of_one(1, o, in, w, bias, x, relu, y);
}
#endif
