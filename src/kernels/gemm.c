/* Small-matrix products for conv and linear layers, register-blocked with
 * GCC vector extensions, and the plain loops they are tested against. The
 * blocks are sized for the variant's vector registers (EG_VREGS: 32 on
 * AVX-512 and NEON, 16 on AVX2 and SSE2). Edges are handled by computing a
 * whole tile (missing rows repeat the last real one, missing columns are
 * loaded as zeros) and storing only the valid part, so every element goes
 * through the same vector code. Every sum runs in a fixed order, so results
 * depend on neither the thread count nor where a row falls in a tile. */
#include <stddef.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/vec.h"

/* ------------------------------------------------------------- C += A B */

/* Row k of B starts at B + boff[k], or at B + k*ldb when boff is NULL: the
 * offsets let a convolution read shifted views of a padded image as the rows
 * of B, with no im2col copy. */
INLINE const float *brow(const float *B, int ldb, const ptrdiff_t *boff, int k)
{
    return B + (boff ? boff[k] : (ptrdiff_t)k * ldb);
}

/* acc[r][v] += A[r, 0..K) * B[0..K, v*VL ..) for R (4, 3, 2 or 1) rows:
 * B's row is loaded once per k and reused by all R rows. */
INLINE void nn_kernel(int R, int nv, int back, int K, const float *const a[4], const float *B, int ldb,
                      const ptrdiff_t *boff, vf acc[4][8])
{
    for (int k = 0; k < K; k++) {
        vf b[8];
        for (int v = 0; v < nv; v++) b[v] = vload(brow(B, ldb, boff, k) + v * VL - (v == nv - 1 ? back : 0));
        for (int r = 0; r < R; r++) {
            vf x = vbroadcast(a[r][k]);
            for (int v = 0; v < nv; v++) acc[r][v] += x * b[v];
        }
    }
}

/* Zeroes only the R x nv accumulators the kernel uses: `= {0}` on the
 * whole array compiled to a memset call per tile. */
INLINE void zero_acc(vf acc[4][8], int R, int nv)
{
    for (int r = 0; r < R; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = vbroadcast(0.0f);
}

/* What a product's result lands on: added to C (bias NULL, set 0), or set
 * to bias[r] + A B (zero when bias is NULL) without reading C: a conv's
 * bias or a cleared gradient costs no pass of its own. */
typedef struct {
    const float *bias;
    int set;
} onto;

INLINE vf base(onto o, const float *c, int r) { return !o.set ? vload(c) : vbroadcast(o.bias ? o.bias[r] : 0.0f); }

/* Columns [j, j + nv VL) of R rows (mr of them real) of C (+)= A B. With
 * back > 0 the last vector starts back columns early and stores only its
 * lanes from back on: the row's last columns as a whole vector ending at N,
 * the ones before it being the previous vector's. */
INLINE void nn_block(int R, int nv, int back, int mr, int j, int K, const float *const a[4], const float *B, int ldb,
                     const ptrdiff_t *boff, float *C, int ldc, onto o)
{
    vf acc[4][8];
    zero_acc(acc, R, nv);
    nn_kernel(R, nv, back, K, a, B + j, ldb, boff, acc);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            float *c = C + (size_t)r * ldc + j + v * VL - (v == nv - 1 ? back : 0);
            vf sum = base(o, c, r) + acc[r][v];
            if (back && v == nv - 1) vstore_part(c, sum, back, VL);
            else vstore(c, sum);
        }
}

/* K4 below (the lanes' linear kernel sums in the same order) */
int EG_KERNEL(gemm_narrow_k4)(int N, int ldb, int K)
{
    int unsafe = N == VL ? 0 : (VL - N + ldb - 1) / ldb;
    return K - unsafe < 0 ? 0 : (K - unsafe) / 4 * 4;
}

/* R rows (mr of them real) of C (+)= A B for a B of rows (no offsets) at
 * most one vector wide, a linear layer of at most VL outputs: there each
 * row's sum would be one chain of K dependent multiply-adds, which bounds
 * one sample's latency. So term k goes to chain k mod 4, the chains added
 * (0 + 1) + (2 + 3); for every R alike, so that a row's bits do not depend
 * on the batch. The loop takes rows 0 .. K4 - 1 four at a time with
 * whole-vector loads; the rows after it, which such a load could read past
 * B's end from, go first with partial loads (in the loop, GCC kept the
 * chains in memory around them). */
INLINE void one_vector(int R, int mr, int N, int K, const float *const a[4], const float *B, int ldb, float *C,
                       int ldc, onto o)
{
    int K4 = EG_KERNEL(gemm_narrow_k4)(N, ldb, K);
    vf acc[4][8];
    zero_acc(acc, R, 4);
    for (int k = K4; k < K; k++) {
        vf b = vload_n(B + (size_t)k * ldb, N);
        for (int r = 0; r < R; r++) acc[r][k % 4] += vbroadcast(a[r][k]) * b;
    }
    for (int k = 0; k < K4; k += 4)
        for (int q = 0; q < 4; q++) {
            vf b = vload(B + (size_t)(k + q) * ldb);
            for (int r = 0; r < R; r++) acc[r][q] += vbroadcast(a[r][k + q]) * b;
        }
    for (int r = 0; r < mr; r++) {
        float *c = C + (size_t)r * ldc;
        vf b = !o.set ? vload_n(c, N) : vbroadcast(o.bias ? o.bias[r] : 0.0f);
        vstore_n(c, b + ((acc[r][0] + acc[r][1]) + (acc[r][2] + acc[r][3])), N);
    }
}

/* Vectors of columns a block of R rows takes: with 32 registers 16 / R (5
 * for three rows, 8 for one), so that 15-16 independent chains of
 * multiply-adds hide the loads' latency too; with 16 registers 12 / R,
 * since the R rows share each loaded vector of B, which must stay in a
 * register besides. */
#define NN_VECTORS(R) ((R) == 1 ? 8 : (EG_VREGS >= 32 ? 16 : 12) / (R))

/* R rows (mr <= R of them real) of C (+)= A B, NN_VECTORS(R) vectors of
 * columns at a time; the whole vectors left go 4, 2 and 1 at a time (one
 * row of a 64-wide layer is 4 chains, not one chain four times), the last
 * partial one as a whole vector ending at N. Every element sums its k in
 * order whatever R is, so the result does not depend on the tiling. */
INLINE void nn_rows(int R, int mr, int N, int K, const float *A, int lda, const float *B, int ldb,
                    const ptrdiff_t *boff, float *C, int ldc, onto o)
{
    const int NV = NN_VECTORS(R);
    const float *a[4];
    for (int r = 0; r < 4; r++) a[r] = A + (size_t)(r < mr ? r : mr - 1) * lda;
    if (!boff && N <= VL) {
        one_vector(R, mr, N, K, a, B, ldb, C, ldc, o);
        return;
    }
    int j = 0;
    for (; j + NV * VL <= N; j += NV * VL) nn_block(R, NV, 0, mr, j, K, a, B, ldb, boff, C, ldc, o);
    int rest = N - j;
    if (rest % VL && N >= VL) {
        /* the columns left as whole vectors, the last ending at N: plain
         * loads in the same block as the vectors before it (a one-vector
         * tail of partial loads would be a single chain per row, whose
         * latency a few extra columns would pay in full) */
        int nv = rest / VL + 1, back = VL - rest % VL;
        if (nv > 4) nn_block(R, 4, 0, mr, j, K, a, B, ldb, boff, C, ldc, o), j += 4 * VL, nv -= 4;
        if (nv == 4) nn_block(R, 4, back, mr, j, K, a, B, ldb, boff, C, ldc, o);
        if (nv == 3) nn_block(R, 3, back, mr, j, K, a, B, ldb, boff, C, ldc, o);
        if (nv == 2) nn_block(R, 2, back, mr, j, K, a, B, ldb, boff, C, ldc, o);
        if (nv == 1) nn_block(R, 1, back, mr, j, K, a, B, ldb, boff, C, ldc, o);
        return;
    }
    if (NV > 4 && j + 4 * VL <= N) nn_block(R, 4, 0, mr, j, K, a, B, ldb, boff, C, ldc, o), j += 4 * VL;
    if (NV > 2 && j + 2 * VL <= N) nn_block(R, 2, 0, mr, j, K, a, B, ldb, boff, C, ldc, o), j += 2 * VL;
    if (j + VL <= N) nn_block(R, 1, 0, mr, j, K, a, B, ldb, boff, C, ldc, o), j += VL;
    if (j < N) {
        /* fewer than VL columns in all: partial loads, the lanes past N
         * read as zero (narrow convs) */
        vf acc[4][8];
        zero_acc(acc, R, 1);
        for (int k = 0; k < K; k++) {
            vf b = vload_n(brow(B, ldb, boff, k) + j, N - j);
            for (int r = 0; r < R; r++) acc[r][0] += vbroadcast(a[r][k]) * b;
        }
        for (int r = 0; r < mr; r++) {
            float *c = C + (size_t)r * ldc + j;
            vf b = !o.set ? vload_n(c, N - j) : vbroadcast(o.bias ? o.bias[r] : 0.0f);
            vstore_n(c, b + acc[r][0], N - j);
        }
    }
}

/* The last rows of a product take a kernel of as many rows, 1 to 3 (a
 * pruned layer with one channel left costs a quarter of a four-row tile,
 * not all of it). A row-kernel's loads are shared by its rows, so fewer
 * rows means more loads per multiply-add. */
static onto rows_below(onto o, int r) { return (onto){o.bias ? o.bias + r : NULL, o.set}; }

static void nn_any(int mr, int N, int K, const float *A, int lda, const float *B, int ldb, const ptrdiff_t *boff,
                   float *C, int ldc, onto o)
{
    if (mr == 1) nn_rows(1, 1, N, K, A, lda, B, ldb, boff, C, ldc, o);
    else if (mr == 2) nn_rows(2, 2, N, K, A, lda, B, ldb, boff, C, ldc, o);
    else if (mr == 3) nn_rows(3, 3, N, K, A, lda, B, ldb, boff, C, ldc, o);
    else nn_rows(4, mr, N, K, A, lda, B, ldb, boff, C, ldc, o);
}

/* Rows per kernel call: fours, and the rest in one call; five left go as
 * 3 + 2, not 4 + 1 (a lone row loads a vector per multiply-add). */
static int rows_next(int left) { return left == 5 ? 3 : left < 4 ? left : 4; }

static void gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb, const ptrdiff_t *boff,
                 float *C, int ldc, onto o)
{
    for (int i = 0, r; i < M; i += r)
        nn_any(r = rows_next(M - i), N, K, A + (size_t)i * lda, lda, B, ldb, boff, C + (size_t)i * ldc, ldc,
               rows_below(o, i));
}

void EG_KERNEL(gemm_nn)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    gemm(M, N, K, A, lda, B, ldb, NULL, C, ldc, (onto){NULL, 0});
}

void EG_KERNEL(gemm_nn_set)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    gemm(M, N, K, A, lda, B, ldb, NULL, C, ldc, (onto){NULL, 1});
}

void EG_KERNEL(gemm_nn_rows)(int M, int N, int K, const float *A, int lda, const float *B, const ptrdiff_t *boff,
                             float *C, int ldc)
{
    gemm(M, N, K, A, lda, B, 0, boff, C, ldc, (onto){NULL, 0});
}

void EG_KERNEL(gemm_nn_rows_set)(int M, int N, int K, const float *A, int lda, const float *B, const ptrdiff_t *boff,
                                 const float *bias, float *C, int ldc)
{
    gemm(M, N, K, A, lda, B, 0, boff, C, ldc, (onto){bias, 1});
}

/* ----------------------------------------------------------- C += A B^T */

/* Tiles of C += A B^T: TR rows of A against 4 rows of B (5 for a width
 * that leaves one over), each element a vector accumulator of lane-wise
 * products along K, summed across its lanes at the end: 16 or 20
 * accumulators with 32 registers, 8 or 10 with 16. */
#define TR (EG_VREGS >= 32 ? 4 : 2)

/* One segment's share of a TR x NC tile: acc[r NC + c] += the lane-wise
 * products of row r of A and row c of B along K, zeros past K in its last
 * partial vector. a and b already point at the segment's rows. */
INLINE void nt_tile_seg(int NC, int K, const float *const a[TR], const float *const b[5], vf acc[20])
{
    vf s[20];
    for (int t = 0; t < TR * NC; t++) s[t] = acc[t];
    int kt = K - K % VL;
    for (int k = 0; k < kt; k += VL) {
        vf bv[5];
        for (int c = 0; c < NC; c++) bv[c] = vload(b[c] + k);
        for (int r = 0; r < TR; r++) {
            vf av = vload(a[r] + k);
            for (int c = 0; c < NC; c++) s[r * NC + c] += av * bv[c];
        }
    }
    if (kt < K) {
        vf at[TR], bt[5];
        for (int r = 0; r < TR; r++) at[r] = vload_n(a[r] + kt, K - kt);
        for (int c = 0; c < NC; c++) bt[c] = vload_n(b[c] + kt, K - kt);
        for (int r = 0; r < TR; r++)
            for (int c = 0; c < NC; c++) s[r * NC + c] += at[r] * bt[c];
    }
    for (int t = 0; t < TR * NC; t++) acc[t] = s[t];
}

/* One row of A against 4 TR rows of B: the accumulators of a TR x 4 tile,
 * each element summed in the same order, so a lone last row (a batch of
 * one, a layer left with one channel) gets the bits a full tile would give
 * it without computing copies of itself. */
INLINE void nt_row_seg(int K, const float *a, const float *const b[4 * TR], vf acc[4 * TR])
{
    vf s[4 * TR];
    for (int t = 0; t < 4 * TR; t++) s[t] = acc[t];
    int kt = K - K % VL;
    for (int k = 0; k < kt; k += VL) {
        vf av = vload(a + k);
        for (int c = 0; c < 4 * TR; c++) s[c] += av * vload(b[c] + k);
    }
    if (kt < K) {
        vf at = vload_n(a + kt, K - kt);
        for (int c = 0; c < 4 * TR; c++) s[c] += at * vload_n(b[c] + kt, K - kt);
    }
    for (int t = 0; t < 4 * TR; t++) acc[t] = s[t];
}

/* sum[e] = the sum of v[e]'s lanes, e < n (sum has room for n rounded up
 * to VL). */
INLINE void lane_sums(const vf *v, int n, float *sum)
{
    for (int q = 0; q < n; q += VL) {
        vf part[VL];
        for (int i = 0; i < VL; i++) part[i] = q + i < n ? v[q + i] : vbroadcast(0.0f);
        vf h = vhsum_many(part);
        memcpy(sum + q, &h, sizeof h);
    }
}

/* C[M x N] += sum over segments s of A_s B_s^T, in tiles of vector
 * accumulators: TR x 4 elements, TR x 5 for the last five columns (conv1's
 * nine columns as 4 + 5, not 4 + 4 + 4 with three of the last four
 * wasted), or 1 x 4 TR for a lone last row of A. The segments (a batch's
 * images) are the outer loop and up to NT_GROUP tiles' accumulators wait
 * in an L1 buffer between them: each image's rows are read from L1 by
 * every tile, instead of every tile streaming the whole batch from L2. A
 * lane still sums its segments and K in order, so the bits do not depend
 * on the grouping; the lanes are summed once at the end. */
#define NT_GROUP (96 / TR)
typedef struct {
    int i, j, w;  /* the tile's first row and column, its width */
} nt_at;

static void nt_batch(int nseg, int M, int N, int K, const float *A, int lda, size_t sa, const float *B, int ldb,
                     const ptrdiff_t *boff, size_t sb, float *C, int ldc)
{
    for (int i = 0, j = 0; i < M;) {
        nt_at at[NT_GROUP];
        int n = 0;
        for (; n < NT_GROUP && i < M; n++) {
            int w = M - i == 1 && TR > 1 ? 4 * TR : N - j == 5 ? 5 : 4;
            at[n] = (nt_at){i, j, w};
            j += w;
            if (j >= N) j = 0, i += TR;
        }
        vf acc[NT_GROUP][20];
        for (int t = 0; t < n; t++)
            for (int e = 0; e < 20; e++) acc[t][e] = vbroadcast(0.0f);
        for (int s = 0; s < nseg; s++)
            for (int t = 0; t < n; t++) {
                int ti = at[t].i, tj = at[t].j, mr = M - ti < TR ? M - ti : TR;
                const float *As = A + s * sa + (size_t)ti * lda, *Bs = B + s * sb;
                if (mr == 1 && TR > 1) {
                    const float *b[4 * TR];
                    int nr = N - tj < 4 * TR ? N - tj : 4 * TR;
                    for (int c = 0; c < 4 * TR; c++) b[c] = brow(Bs, ldb, boff, tj + (c < nr ? c : nr - 1));
                    nt_row_seg(K, As, b, acc[t]);
                } else {
                    const float *a[TR], *b[5];
                    int nr = N - tj < at[t].w ? N - tj : at[t].w;
                    for (int r = 0; r < TR; r++) a[r] = As + (size_t)(r < mr ? r : mr - 1) * lda;
                    for (int c = 0; c < at[t].w; c++) b[c] = brow(Bs, ldb, boff, tj + (c < nr ? c : nr - 1));
                    if (at[t].w == 5) nt_tile_seg(5, K, a, b, acc[t]);
                    else nt_tile_seg(4, K, a, b, acc[t]);
                }
            }
        for (int t = 0; t < n; t++) {
            int ti = at[t].i, tj = at[t].j, mr = M - ti < TR ? M - ti : TR, w = at[t].w;
            int nr = N - tj < w ? N - tj : w;
            float sum[20 + VL] = {0};
            if (w == 5) {  /* the fifth column through the same sums, so a TR x 4 tile's bits */
                vf four[4 * TR], fifth[TR];
                for (int e = 0; e < 4 * TR; e++) four[e] = acc[t][e / 4 * 5 + e % 4];
                for (int r = 0; r < TR; r++) fifth[r] = acc[t][r * 5 + 4];
                float last[TR + VL];
                lane_sums(four, 4 * TR, sum);
                lane_sums(fifth, TR, last);
                for (int r = 0; r < mr; r++) {
                    for (int c = 0; c < 4; c++) C[(size_t)(ti + r) * ldc + tj + c] += sum[r * 4 + c];
                    C[(size_t)(ti + r) * ldc + tj + 4] += last[r];
                }
                continue;
            }
            lane_sums(acc[t], 4 * TR, sum);
            for (int r = 0; r < mr; r++)
                for (int c = 0; c < nr; c++) C[(size_t)(ti + r) * ldc + tj + c] += sum[r * w + c];
        }
    }
}

void EG_KERNEL(gemm_nt_batch)(int nseg, int M, int N, int K, const float *A, int lda, size_t sa, const float *B,
                              int ldb, size_t sb, float *C, int ldc)
{
    nt_batch(nseg, M, N, K, A, lda, sa, B, ldb, NULL, sb, C, ldc);
}

void EG_KERNEL(gemm_nt_batch_rows)(int nseg, int M, int N, int K, const float *A, int lda, size_t sa, const float *B,
                                   const ptrdiff_t *boff, size_t sb, float *C, int ldc)
{
    nt_batch(nseg, M, N, K, A, lda, sa, B, 0, boff, sb, C, ldc);
}

void EG_KERNEL(gemm_nt)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    EG_KERNEL(gemm_nt_batch)(1, M, N, K, A, lda, 0, B, ldb, 0, C, ldc);
}

/* ------------------------------------------------------------ sums */

float EG_KERNEL(sum_blocks)(const float *x, size_t n, int count, size_t stride)
{
    vf acc[4] = {{0}};  /* four chains hide the add latency */
    float tail = 0;
    for (int b = 0; b < count; b++) {
        const float *xb = x + (size_t)b * stride;
        size_t i = 0;
        for (; i + 4 * VL <= n; i += 4 * VL)
            for (int u = 0; u < 4; u++) acc[u] += vload(xb + i + (size_t)u * VL);
        for (; i + VL <= n; i += VL) acc[0] += vload(xb + i);
        for (; i < n; i++) tail += xb[i];
    }
    return vhsum((acc[0] + acc[1]) + (acc[2] + acc[3])) + tail;
}

float EG_KERNEL(sum)(const float *x, size_t n) { return EG_KERNEL(sum_blocks)(x, n, 1, 0); }

/* A vector of parameters at a time (GCC left the plain loop scalar), one
 * addition per block, so passes that add accumulate exactly. */
void EG_KERNEL(reduce_blocks)(float *dst, const float *blocks, size_t stride, int count, size_t lo, size_t hi, int add)
{
    size_t p = lo;
    for (; p + VL <= hi; p += VL) {
        vf sum = vbroadcast(0.0f);
        for (int u = 0; u < count; u++) sum += vload(blocks + stride * (size_t)u + p);
        vstore(dst + p, add ? vload(dst + p) + sum : sum);
    }
    for (; p < hi; p++) {
        float sum = 0;
        for (int u = 0; u < count; u++) sum += blocks[stride * (size_t)u + p];
        dst[p] = add ? dst[p] + sum : sum;
    }
}

/* ------------------------------------------------------ reference twins */

void EG_KERNEL(gemm_nn_ref)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[(size_t)i * lda + k] * B[(size_t)k * ldb + j];
            C[(size_t)i * ldc + j] += (float)s;
        }
}

void EG_KERNEL(gemm_nt_ref)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[(size_t)i * lda + k] * B[(size_t)j * ldb + k];
            C[(size_t)i * ldc + j] += (float)s;
        }
}
