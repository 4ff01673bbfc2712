/* Sparse weights times dense rows, for pruned convolutions in inference:
 * C[M x N] += A B with A [M x K] in compressed sparse rows (eg_csr_build) and
 * row k of B at B + boff[k] (the shifted views of a padded image that the
 * stride-1 convolution reads) or at B + k*ldb (im2col columns).
 *
 * Each output row is a chain of vector multiply-adds over its kept weights,
 * vectorized over the columns (output positions): eight vectors at a time,
 * so one broadcast of a weight serves 8 loads and 8 multiply-adds in
 * independent chains, then four, then one vector; the last columns are one
 * more vector ending at column N (its lanes already done are dropped), and
 * rows shorter than a vector go column by column. Every element sums its row's kept weights in
 * column order, so its value does not depend on where it falls in a tile. */
#include <stddef.h>

#include "kernels/kernels.h"
#include "kernels/vec.h"

INLINE const float *row_of(const float *B, int ldb, const ptrdiff_t *boff, int32_t k)
{
    return B + (boff ? boff[k] : (ptrdiff_t)k * ldb);
}

/* nv vectors of row m's columns [j, j + nv*VL): nv independent chains. */
INLINE void csr_row_block(int nv, int32_t k0, int32_t k1, const int32_t *col, const float *val, const float *B,
                          int ldb, const ptrdiff_t *boff, int j, float *c)
{
    vf a[8];
    for (int v = 0; v < nv; v++) a[v] = vbroadcast(0);
    for (int32_t k = k0; k < k1; k++) {
        const float *b = row_of(B, ldb, boff, col[k]) + j;
        vf x = vbroadcast(val[k]);
        for (int v = 0; v < nv; v++) a[v] += x * vload(b + v * VL);
    }
    for (int v = 0; v < nv; v++) vstore(c + j + v * VL, vload(c + j + v * VL) + a[v]);
}

void EG_KERNEL(csr_rows_nn)(int M, int N, const int32_t *rowptr, const int32_t *col, const float *val, const float *B,
                    int ldb, const ptrdiff_t *boff, float *C, int ldc)
{
    for (int m = 0; m < M; m++) {
        float *c = C + (size_t)m * ldc;
        int32_t k0 = rowptr[m], k1 = rowptr[m + 1];
        if (k0 == k1) continue;
        int j = 0;
        for (; j + 8 * VL <= N; j += 8 * VL) csr_row_block(8, k0, k1, col, val, B, ldb, boff, j, c);
        for (; j + 4 * VL <= N; j += 4 * VL) csr_row_block(4, k0, k1, col, val, B, ldb, boff, j, c);
        for (; j + VL <= N; j += VL) csr_row_block(1, k0, k1, col, val, B, ldb, boff, j, c);
        if (j < N && N >= VL) {  /* the last columns: a vector ending at N, its new lanes kept */
            vf a = vbroadcast(0);
            for (int32_t k = k0; k < k1; k++) a += vbroadcast(val[k]) * vload(row_of(B, ldb, boff, col[k]) + N - VL);
            for (int l = j - (N - VL); l < VL; l++) c[N - VL + l] += a[l];
            j = N;
        }
        for (; j < N; j++) {
            float s = 0;
            for (int32_t k = k0; k < k1; k++) s += val[k] * row_of(B, ldb, boff, col[k])[j];
            c[j] += s;
        }
    }
}
