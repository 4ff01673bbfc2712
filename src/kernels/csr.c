/* Compressed sparse rows for pruned linear layers in inference: a weight
 * [out, in] with its mask becomes, per output row o, the columns and values
 * of its kept non-zero weights (row o is col/val[rowptr[o] .. rowptr[o+1])).
 * The product y[n, out] += x[n, in] W^T then costs one multiply-add per kept
 * weight and sample instead of one per weight.
 *
 * The fast kernel vectorizes over the batch: up to VL rows of x are
 * transposed into a [in, VL] tile (zero lanes past the last real row), so
 * the VL samples' values of input feature c are one vector, and each output
 * is a chain of vector multiply-adds over its row's kept weights; two tiles
 * share each kept weight's loads, and VL outputs' sums are transposed back
 * into row segments of y. Fewer
 * than EG_CSR_MIN_VEC rows take a scalar gather per row and output instead,
 * which wastes no lanes. Both sum each output in the same order, the order
 * of its row's columns, so a row's result depends on neither the batch size
 * nor where the row falls in a tile. */
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/vec.h"

/* Below this many rows most of a tile's lanes would be wasted, so rows go
 * one at a time (a choice, not measured: batch 1, the case that matters,
 * takes the scalar path either way). */
#define EG_CSR_MIN_VEC 4

size_t EG_KERNEL(csr_build)(int out, int in, const float *w, const float *mask, int32_t *rowptr, int32_t *col, float *val)
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

/* two transposed tiles */
size_t EG_KERNEL(csr_scratch)(int in) { return 2 * (size_t)in * VL; }

/* How far rows o .. o+3 are walked side by side: the length of the
 * shortest, or 0 when fewer than four rows are left (q4 < 4). */
INLINE int32_t shared_length(int q4, int o, const int32_t *rowptr)
{
    if (q4 < 4) return 0;
    int32_t common = INT32_MAX;
    for (int q = 0; q < 4; q++)
        if (rowptr[o + q + 1] - rowptr[o + q] < common) common = rowptr[o + q + 1] - rowptr[o + q];
    return common;
}

/* Outputs o .. o+3 (q4 of them real) for the samples of T tiles at once:
 * each kept weight's column and value are loaded once for the T tiles.
 * Like one_sample below, the four rows are walked together up to the
 * shortest, then each alone, every output summing its row in column order
 * from zero. */
INLINE void four_rows_tiles(int T, int q4, int o, const int32_t *rowptr, const int32_t *col, const float *val,
                            float *const xt[2], vf acc[2][4])
{
    for (int t = 0; t < T; t++)
        for (int q = 0; q < 4; q++) acc[t][q] = vbroadcast(0);
    int32_t common = shared_length(q4, o, rowptr);
    for (int32_t u = 0; u < common; u++)
        for (int q = 0; q < 4; q++) {
            int32_t k = rowptr[o + q] + u;
            for (int t = 0; t < T; t++) acc[t][q] += val[k] * vload(xt[t] + (size_t)col[k] * VL);
        }
    for (int q = 0; q < q4; q++)
        for (int32_t k = rowptr[o + q] + common; k < rowptr[o + q + 1]; k++)
            for (int t = 0; t < T; t++) acc[t][q] += val[k] * vload(xt[t] + (size_t)col[k] * VL);
}

/* y rows [i, i + m) (m <= T VL), outputs [o, o + cnt) += the T tiles'
 * sums: res[t][j] holds output o+j for the tile's VL samples; transposed,
 * they are the rows' segments, added a vector at a time. */
INLINE void add_sums(int T, vf res[2][VL], int m, int cnt, float *y, int ldy, int i, int o)
{
    for (int t = 0; t < T; t++) {
        vtranspose(res[t]);
        for (int r = 0; r < VL && t * VL + r < m; r++) {
            float *yr = y + (size_t)(i + t * VL + r) * ldy + o;
            if (cnt == VL) vstore(yr, vload(yr) + res[t][r]);
            else
                for (int j = 0; j < cnt; j++) yr[j] += res[t][r][j];
        }
    }
}

/* Rows [i, i + m) of the product, m <= T VL, T = 1 or 2 tiles. */
INLINE void csr_tiles(int T, int m, int i, int out, int in, const float *x, int ldx, const int32_t *rowptr,
                      const int32_t *col, const float *val, float *y, int ldy, float *scratch)
{
    float *xt[2] = {scratch, scratch + (size_t)in * VL};
    for (int t = 0; t < T; t++)
        EG_KERNEL(transpose_tile)(xt[t], x + (size_t)(i + t * VL) * ldx, ldx, m - t * VL < VL ? m - t * VL : VL, in);
    for (int o = 0; o < out; o += VL) {
        int cnt = out - o < VL ? out - o : VL;
        vf res[2][VL];
        for (int g = 0; g < VL; g += 4) {
            vf acc[2][4];
            int q4 = cnt - g < 4 ? (cnt - g > 0 ? cnt - g : 0) : 4;
            if (q4) four_rows_tiles(T, q4, o + g, rowptr, col, val, xt, acc);
            for (int t = 0; t < T; t++)
                for (int q = 0; q < 4; q++) res[t][g + q] = q < q4 ? acc[t][q] : vbroadcast(0);
        }
        add_sums(T, res, m, cnt, y, ldy, i, o);
    }
}

/* The path of one sample at a time: four outputs at a time, so four
 * independent chains of multiply-adds hide the latency of each; their rows
 * are walked together up to the shortest, then each alone, every output
 * summing its own row in column order (four_rows_tiles walks them the same
 * way). */
static void one_sample(int out, const float *x, const int32_t *rowptr, const int32_t *col, const float *val,
                       float *y)
{
    for (int o = 0; o < out; o += 4) {
        int q4 = out - o < 4 ? out - o : 4;
        float acc[4] = {0, 0, 0, 0};
        int32_t common = shared_length(q4, o, rowptr);
        for (int32_t u = 0; u < common; u++)
            for (int q = 0; q < 4; q++) {
                int32_t k = rowptr[o + q] + u;
                acc[q] = eg_madd(val[k], x[col[k]], acc[q]);
            }
        for (int q = 0; q < q4; q++)
            for (int32_t k = rowptr[o + q] + common; k < rowptr[o + q + 1]; k++)
                acc[q] = eg_madd(val[k], x[col[k]], acc[q]);
        for (int q = 0; q < q4; q++) y[o + q] += acc[q];
    }
}

void EG_KERNEL(csr_matmul_t)(int n, int out, int in, const float *x, int ldx, const int32_t *rowptr, const int32_t *col,
                     const float *val, float *y, int ldy, float *scratch)
{
    int i = 0;
    /* 2 VL samples at a time: a kept weight's column and value serve both
     * tiles, and the sums go to y a row segment at a time */
    for (; n - i > VL; i += 2 * VL)
        csr_tiles(2, n - i < 2 * VL ? n - i : 2 * VL, i, out, in, x, ldx, rowptr, col, val, y, ldy, scratch);
    if (n - i >= EG_CSR_MIN_VEC) csr_tiles(1, n - i, i, out, in, x, ldx, rowptr, col, val, y, ldy, scratch), i = n;
    for (; i < n; i++) one_sample(out, x + (size_t)i * ldx, rowptr, col, val, y + (size_t)i * ldy);
}

void EG_KERNEL(csr_matmul_t_ref)(int n, int out, int in, const float *x, int ldx, const int32_t *rowptr, const int32_t *col,
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
