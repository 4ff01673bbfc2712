/* A linear layer for G groups of VL images at once in batch lanes
 * (src/graph/lanes.c): group g's x holds `in` vectors at x + g stride, the
 * VL images' values of each input feature, and gets `out` vectors at
 * y + g stride, y[o] = bias[o] + the sum of W[o][k] x[k], relu'd when
 * asked (x > 0 ? x : 0, as relu.c). A weight is loaded once for the G
 * groups. Each sum is taken in the order the image-by-image product takes
 * it, so that an image's bits are the same in lanes as alone:
 * - dense (gemm.c), more than VL outputs: one chain in k order from +0;
 * - dense, at most VL outputs: one_vector's four chains (term k in chain
 *   k mod 4, the terms from eg_gemm_narrow_k4 on first, the chains added
 *   (0 + 1) + (2 + 3));
 * - on the CSR copy (eg_csr_matmul_t): one chain over the row's kept
 *   weights in column order from +0. */
#include "kernels/kernels.h"
#include "kernels/vec.h"

/* G is 1 or 2: the kernels below are compiled for those */
_Static_assert(EG_LANES_GROUPS == 2, "lanes_linear.c handles one or two groups");

/* Outputs at a time: ROWS G chains, 8 or 16 with 32 registers, 4 or 8
 * with 16. */
#define ROWS (EG_VREGS >= 32 ? 8 : 4)

INLINE vf finish(vf b, vf sum, int relu) { return relu ? vmax(vbroadcast(0.0f), b + sum) : b + sum; }

INLINE vf lane(const float *x, size_t stride, int g, size_t k) { return vload(x + g * stride + k * VL); }

/* Outputs o .. o+R-1 as one chain each, for G groups. */
INLINE void chains_of_one(int R, int G, int o, int in, const float *w, const float *bias, const float *x,
                          size_t stride, int relu, float *y)
{
    vf acc[8][2];
    for (int r = 0; r < R; r++)
        for (int g = 0; g < G; g++) acc[r][g] = vbroadcast(0.0f);
    for (int k = 0; k < in; k++) {
        vf xk[2];
        for (int g = 0; g < G; g++) xk[g] = lane(x, stride, g, (size_t)k);
        for (int r = 0; r < R; r++) {
            vf wv = vbroadcast(w[(size_t)(o + r) * in + k]);
            for (int g = 0; g < G; g++) acc[r][g] += wv * xk[g];
        }
    }
    for (int r = 0; r < R; r++)
        for (int g = 0; g < G; g++)
            vstore(y + g * stride + (size_t)(o + r) * VL, finish(vbroadcast(bias[o + r]), acc[r][g], relu));
}

/* Output o in one_vector's four chains, for G groups. */
INLINE void chains_of_four(int G, int o, int out, int in, const float *w, const float *bias, const float *x,
                           size_t stride, int relu, float *y)
{
    int K4 = EG_KERNEL(gemm_narrow_k4)(out, out, in);
    const float *wo = w + (size_t)o * in;
    vf acc[2][4];
    for (int g = 0; g < G; g++)
        for (int q = 0; q < 4; q++) acc[g][q] = vbroadcast(0.0f);
    for (int k = K4; k < in; k++)
        for (int g = 0; g < G; g++) acc[g][k % 4] += vbroadcast(wo[k]) * lane(x, stride, g, (size_t)k);
    for (int k = 0; k < K4; k += 4)
        for (int q = 0; q < 4; q++) {
            vf wv = vbroadcast(wo[k + q]);
            for (int g = 0; g < G; g++) acc[g][q] += wv * lane(x, stride, g, (size_t)(k + q));
        }
    for (int g = 0; g < G; g++) {
        vf sum = (acc[g][0] + acc[g][1]) + (acc[g][2] + acc[g][3]);
        vstore(y + g * stride + (size_t)o * VL, finish(vbroadcast(bias[o]), sum, relu));
    }
}

/* Outputs o .. o+R-1 on the CSR copy, for G groups: the R rows walked
 * together up to the shortest, then each alone. */
INLINE void csr_rows(int R, int G, int o, const int32_t *rowptr, const int32_t *col, const float *val,
                     const float *bias, const float *x, size_t stride, int relu, float *y)
{
    vf acc[8][2];
    int32_t common = INT32_MAX;
    for (int r = 0; r < R; r++) {
        for (int g = 0; g < G; g++) acc[r][g] = vbroadcast(0.0f);
        if (rowptr[o + r + 1] - rowptr[o + r] < common) common = rowptr[o + r + 1] - rowptr[o + r];
    }
    for (int32_t u = 0; u < common; u++)
        for (int r = 0; r < R; r++) {
            int32_t k = rowptr[o + r] + u;
            vf wv = vbroadcast(val[k]);
            for (int g = 0; g < G; g++) acc[r][g] += wv * lane(x, stride, g, (size_t)col[k]);
        }
    for (int r = 0; r < R; r++) {
        for (int32_t k = rowptr[o + r] + common; k < rowptr[o + r + 1]; k++) {
            vf wv = vbroadcast(val[k]);
            for (int g = 0; g < G; g++) acc[r][g] += wv * lane(x, stride, g, (size_t)col[k]);
        }
        for (int g = 0; g < G; g++)
            vstore(y + g * stride + (size_t)(o + r) * VL, finish(vbroadcast(bias[o + r]), acc[r][g], relu));
    }
}

INLINE void dense_groups(int G, int out, int in, const float *w, const float *bias, const float *x, size_t stride,
                         int relu, float *y)
{
    int o = 0;
    if (out <= VL) {
        for (; o < out; o++) chains_of_four(G, o, out, in, w, bias, x, stride, relu, y);
        return;
    }
    for (; o + ROWS <= out; o += ROWS) chains_of_one(ROWS, G, o, in, w, bias, x, stride, relu, y);
    for (; o < out; o++) chains_of_one(1, G, o, in, w, bias, x, stride, relu, y);
}

INLINE void csr_groups(int G, int out, const int32_t *rowptr, const int32_t *col, const float *val,
                       const float *bias, const float *x, size_t stride, int relu, float *y)
{
    int o = 0;
    for (; o + ROWS <= out; o += ROWS) csr_rows(ROWS, G, o, rowptr, col, val, bias, x, stride, relu, y);
    for (; o < out; o++) csr_rows(1, G, o, rowptr, col, val, bias, x, stride, relu, y);
}

void EG_KERNEL(lanes_linear)(int G, int out, int in, const float *w, const float *bias, const float *x, size_t stride,
                     int relu, float *y)
{
    if (G == 1) dense_groups(1, out, in, w, bias, x, stride, relu, y);
    else dense_groups(2, out, in, w, bias, x, stride, relu, y);
}

void EG_KERNEL(lanes_linear_csr)(int G, int out, const int32_t *rowptr, const int32_t *col, const float *val,
                         const float *bias, const float *x, size_t stride, int relu, float *y)
{
    if (G == 1) csr_groups(1, out, rowptr, col, val, bias, x, stride, relu, y);
    else csr_groups(2, out, rowptr, col, val, bias, x, stride, relu, y);
}
