/* Compressed sparse rows for pruned linear layers in inference: a weight
 * [out, in] with its mask becomes, per output row o, the columns and values
 * of its kept non-zero weights (row o is col/val[rowptr[o] .. rowptr[o+1])).
 * The product y[n, out] += x[n, in] W^T then costs one multiply-add per kept
 * weight and sample instead of one per weight.
 *
 * The fast kernel vectorizes over the batch: up to VL rows of x are
 * transposed into a [in, VL] tile (zero lanes past the last real row), so
 * the VL samples' values of input feature c are one vector, and each output
 * is a chain of vector multiply-adds over its row's kept weights. Fewer
 * than EG_CSR_MIN_VEC rows take a scalar gather per row and output instead,
 * which wastes no lanes. Both sum each output in the same order, the order
 * of its row's columns, so a row's result depends on neither the batch size
 * nor where the row falls in a tile. */
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "kernels/transpose.h"

/* Below this many rows most of a tile's lanes would be wasted, so rows go
 * one at a time (a choice, not measured: batch 1, the case that matters,
 * takes the scalar path either way). */
#define EG_CSR_MIN_VEC 4

size_t eg_csr_build(int out, int in, const float *w, const float *mask, int32_t *rowptr, int32_t *col, float *val)
{
    size_t nz = 0;
    rowptr[0] = 0;
    for (int o = 0; o < out; o++) {
        for (int c = 0; c < in; c++) {
            size_t k = (size_t)o * in + c;
            if (w[k] == 0 || (mask && mask[k] == 0)) continue;
            col[nz] = c;
            val[nz] = w[k];
            nz++;
        }
        rowptr[o + 1] = (int32_t)nz;
    }
    return nz;
}

size_t eg_csr_scratch(int in) { return (size_t)in * VL; }

/* Four outputs at a time, so four independent chains of multiply-adds hide
 * the latency of each: their rows are walked together up to the shortest,
 * then each alone; every output still sums its own row in column order.
 * X(c) is sample lane(s) of input feature c: a vector of the tile, or one
 * float of a row. */
#define CSR_FOUR_ROWS(T, ZERO, X, STORE)                                                   \
    for (int o = 0; o < out; o += 4) {                                                   \
        int q4 = out - o < 4 ? out - o : 4;                                              \
        T acc[4] = {ZERO, ZERO, ZERO, ZERO};                                             \
        int32_t common = INT32_MAX;                                                      \
        for (int q = 0; q < q4; q++)                                                     \
            if (rowptr[o + q + 1] - rowptr[o + q] < common) common = rowptr[o + q + 1] - rowptr[o + q]; \
        if (q4 == 4)                                                                     \
            for (int32_t t = 0; t < common; t++)                                         \
                for (int q = 0; q < 4; q++) {                                            \
                    int32_t k = rowptr[o + q] + t;                                       \
                    acc[q] += val[k] * X(col[k]);                                        \
                }                                                                        \
        else                                                                             \
            common = 0;                                                                  \
        for (int q = 0; q < q4; q++)                                                     \
            for (int32_t k = rowptr[o + q] + common; k < rowptr[o + q + 1]; k++) acc[q] += val[k] * X(col[k]); \
        for (int q = 0; q < q4; q++) STORE(o + q, acc[q]);                               \
    }

void eg_csr_matmul_t(int n, int out, int in, const float *x, int ldx, const int32_t *rowptr, const int32_t *col,
                     const float *val, float *y, int ldy, float *scratch)
{
    int i = 0;
    for (; n - i >= EG_CSR_MIN_VEC; i += VL) {
        int m = n - i < VL ? n - i : VL;
        float *xt = scratch;  /* [in, VL] */
        vtile_transpose(xt, x + (size_t)i * ldx, ldx, m, in);
#define XV(c) vload(xt + (size_t)(c) * VL)
#define STORE_V(oo, a) for (int r = 0; r < m; r++) y[(size_t)(i + r) * ldy + (oo)] += (a)[r]
        CSR_FOUR_ROWS(vf, vbroadcast(0), XV, STORE_V)
#undef XV
#undef STORE_V
    }
    for (; i < n; i++) {
        const float *xr = x + (size_t)i * ldx;
        float *yr = y + (size_t)i * ldy;
#define XS(c) xr[c]
#define STORE_S(oo, a) yr[oo] += (a)
        CSR_FOUR_ROWS(float, 0.0f, XS, STORE_S)
#undef XS
#undef STORE_S
    }
}

void eg_csr_matmul_t_ref(int n, int out, int in, const float *x, int ldx, const int32_t *rowptr, const int32_t *col,
                         const float *val, float *y, int ldy)
{
    (void)in;
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int32_t k = rowptr[o]; k < rowptr[o + 1]; k++) s += (double)val[k] * x[(size_t)i * ldx + col[k]];
            y[(size_t)i * ldy + o] += (float)s;
        }
}
