/* Small-matrix products for conv and linear layers, register-blocked with GCC
 * vector extensions (AVX-512 or AVX2 as the target allows), and the plain
 * loops they are tested against. Edges are handled by computing a whole tile
 * (missing rows repeat the last real one, missing columns read a zero-padded
 * copy) and storing only the valid part, so every element goes through the
 * same vector code. Every sum runs in a fixed order, so results depend on
 * neither the thread count nor where a row falls in a tile. */
#include <stddef.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "internal.h"
#include "kernels/vec.h"

/* ------------------------------------------------------------- C += A B */

/* Row k of B starts at B + boff[k], or at B + k*ldb when boff is NULL: the
 * offsets let a convolution read shifted views of a padded image as the rows
 * of B, with no im2col copy. */
INLINE const float *brow(const float *B, int ldb, const ptrdiff_t *boff, int k)
{
    return B + (boff ? boff[k] : (ptrdiff_t)k * ldb);
}

/* acc[r][v] += A[r, 0..K) * B[0..K, v*VL ..) for R (4, 2 or 1) rows: B's
 * row is loaded once per k and reused by all R rows. */
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
 * whole 2 KB array compiled to a memset call per tile (~2% of a training
 * step in narrow convs). */
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
 * back > 0 (AVX-512 only) the last vector starts back columns early and
 * stores only its lanes from back on: the row's last columns as a whole
 * vector ending at N, the ones before it being the previous vector's. */
INLINE void nn_block(int R, int nv, int back, int mr, int j, int K, const float *const a[4], const float *B, int ldb,
                     const ptrdiff_t *boff, float *C, int ldc, onto o)
{
    vf acc[4][8];
    zero_acc(acc, R, nv);
    nn_kernel(R, nv, back, K, a, B + j, ldb, boff, acc);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            float *c = C + (size_t)r * ldc + j + v * VL - (v == nv - 1 ? back : 0);
#ifdef __AVX512F__
            if (back && v == nv - 1) {
                __mmask16 keep = (__mmask16)~((1u << back) - 1);
                vf b = !o.set ? (vf)_mm512_maskz_loadu_ps(keep, c) : vbroadcast(o.bias ? o.bias[r] : 0.0f);
                _mm512_mask_storeu_ps(c, keep, (__m512)(b + acc[r][v]));
                continue;
            }
#endif
            vstore(c, base(o, c, r) + acc[r][v]);
        }
}

#ifdef __AVX512F__
/* K4 below (the lanes' linear kernel sums in the same order) */
int eg_gemm_narrow_k4(int N, int ldb, int K)
{
    int unsafe = N == VL ? 0 : (VL - N + ldb - 1) / ldb;
    return K - unsafe < 0 ? 0 : (K - unsafe) / 4 * 4;
}

/* R rows (mr of them real) of C (+)= A B for a B of rows (no offsets) at
 * most one vector wide, a linear layer of at most 16 outputs: there each
 * row's sum would be one chain of K dependent multiply-adds, which bounds
 * one sample's latency (SimpleCNN's fc1 cut to 16 outputs: 68 -> 35 ns
 * for one row, 855 -> 729 ns for 32). So term k goes to chain k mod 4, the
 * chains added (0 + 1) + (2 + 3); for every R alike, so that a row's bits
 * do not depend on the batch. The loop takes rows 0 .. K4 - 1 four at a
 * time with whole-vector loads; the rows after it, which such a load could
 * read past B's end from, go first with masked loads (in the loop, GCC
 * kept the chains in memory around masked loads: slower than one chain). */
INLINE void one_vector(int R, int mr, int N, int K, const float *const a[4], const float *B, int ldb, float *C,
                       int ldc, onto o)
{
    __mmask16 lanes = vlanes(N);
    int K4 = eg_gemm_narrow_k4(N, ldb, K);
    vf acc[4][8];
    zero_acc(acc, R, 4);
    for (int k = K4; k < K; k++) {
        vf b = (vf)_mm512_maskz_loadu_ps(lanes, B + (size_t)k * ldb);
        for (int r = 0; r < R; r++) acc[r][k % 4] += vbroadcast(a[r][k]) * b;
    }
    for (int k = 0; k < K4; k += 4)
        for (int q = 0; q < 4; q++) {
            vf b = vload(B + (size_t)(k + q) * ldb);
            for (int r = 0; r < R; r++) acc[r][q] += vbroadcast(a[r][k + q]) * b;
        }
    for (int r = 0; r < mr; r++) {
        float *c = C + (size_t)r * ldc;
        vf b = !o.set ? (vf)_mm512_maskz_loadu_ps(lanes, c) : vbroadcast(o.bias ? o.bias[r] : 0.0f);
        _mm512_mask_storeu_ps(c, lanes, (__m512)(b + ((acc[r][0] + acc[r][1]) + (acc[r][2] + acc[r][3]))));
    }
}
#endif

/* R rows (mr <= R of them real) of C (+)= A B, 16/R vectors of columns at
 * a time (5 for three rows, 8 for one) so that 15-16 independent chains of
 * multiply-adds hide the loads' latency too; the whole vectors left go 4,
 * 2 and 1 at a time (one row of a 64-wide layer is 4 chains, not one chain
 * four times).
 * Every element sums its k in order whatever R is, so the result does not
 * depend on the tiling. */
INLINE void nn_rows(int R, int mr, int N, int K, const float *A, int lda, const float *B, int ldb,
                    const ptrdiff_t *boff, float *C, int ldc, onto o)
{
    const int NV = R == 1 ? 8 : 16 / R;
    const float *a[4];
    for (int r = 0; r < 4; r++) a[r] = A + (size_t)(r < mr ? r : mr - 1) * lda;
#ifdef __AVX512F__
    if (!boff && N <= VL) {
        one_vector(R, mr, N, K, a, B, ldb, C, ldc, o);
        return;
    }
#endif
    int j = 0;
    for (; j + NV * VL <= N; j += NV * VL) nn_block(R, NV, 0, mr, j, K, a, B, ldb, boff, C, ldc, o);
#ifdef __AVX512F__
    int rest = N - j;
    if (rest % VL && N >= VL) {
        /* the columns left as whole vectors, the last ending at N: plain
         * loads in the same block as the vectors before it (a masked
         * one-vector tail, a single chain per row, made conv2's 2 extra
         * columns of 210 cost a sixth of its input gradient) */
        int nv = rest / VL + 1, back = VL - rest % VL;
        if (nv > 4) nn_block(R, 4, 0, mr, j, K, a, B, ldb, boff, C, ldc, o), j += 4 * VL, nv -= 4;
        if (nv == 4) nn_block(R, 4, back, mr, j, K, a, B, ldb, boff, C, ldc, o);
        if (nv == 3) nn_block(R, 3, back, mr, j, K, a, B, ldb, boff, C, ldc, o);
        if (nv == 2) nn_block(R, 2, back, mr, j, K, a, B, ldb, boff, C, ldc, o);
        if (nv == 1) nn_block(R, 1, back, mr, j, K, a, B, ldb, boff, C, ldc, o);
        return;
    }
#endif
    if (NV > 4 && j + 4 * VL <= N) nn_block(R, 4, 0, mr, j, K, a, B, ldb, boff, C, ldc, o), j += 4 * VL;
    if (NV > 2 && j + 2 * VL <= N) nn_block(R, 2, 0, mr, j, K, a, B, ldb, boff, C, ldc, o), j += 2 * VL;
    if (j + VL <= N) nn_block(R, 1, 0, mr, j, K, a, B, ldb, boff, C, ldc, o), j += VL;
    if (j < N) {
        vf acc[4][8];
        zero_acc(acc, R, 1);
#ifdef __AVX512F__
        /* fewer than VL columns in all: masked loads, the lanes past N
         * read as zero (narrow convs, N = 14) */
        __mmask16 tail = (__mmask16)((1u << (N - j)) - 1);
        for (int k = 0; k < K; k++) {
            vf b = (vf)_mm512_maskz_loadu_ps(tail, brow(B, ldb, boff, k) + j);
            for (int r = 0; r < R; r++) acc[r][0] += vbroadcast(a[r][k]) * b;
        }
        for (int r = 0; r < mr; r++) {
            float *c = C + (size_t)r * ldc + j;
            vf b = !o.set ? (vf)_mm512_maskz_loadu_ps(tail, c) : vbroadcast(o.bias ? o.bias[r] : 0.0f);
            _mm512_mask_storeu_ps(c, tail, (__m512)(b + acc[r][0]));
        }
#else
        /* the last N-j columns: copy them into a zero-padded tile, K in chunks
         * (lanes past N-j are never stored; zeroing them keeps stack garbage,
         * perhaps slow denormals, out) */
        enum { KC = 64 };
        float tile[KC * VL];
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            memset(tile, 0, (size_t)kc * VL * sizeof(float));
            for (int k = 0; k < kc; k++)
                memcpy(tile + k * VL, brow(B, ldb, boff, k0 + k) + j, (size_t)(N - j) * sizeof(float));
            const float *ak[4] = {a[0] + k0, a[1] + k0, a[2] + k0, a[3] + k0};
            nn_kernel(R, 1, 0, kc, ak, tile, VL, NULL, acc);
        }
        for (int r = 0; r < mr; r++)
            for (int c = 0; c < N - j; c++) {
                float *at = C + (size_t)r * ldc + j + c;
                *at = (!o.set ? *at : o.bias ? o.bias[r] : 0.0f) + acc[r][0][c];
            }
#endif
    }
}

/* The last rows of a product take a kernel of as many rows, 1 to 3 (a
 * pruned layer with one channel left costs a quarter of a four-row tile,
 * not all of it). A row-kernel's loads are shared by its rows, so fewer
 * rows means more loads per multiply-add: three rows in one kernel ran
 * 1.4x faster than two-plus-one on LeNet-5's c1 cut to 3 channels. */
static onto rows_below(onto o, int r) { return (onto){o.bias ? o.bias + r : NULL, o.set}; }

static void nn_strided(int mr, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                       onto o)
{
    if (mr == 1) nn_rows(1, 1, N, K, A, lda, B, ldb, NULL, C, ldc, o);
    else if (mr == 2) nn_rows(2, 2, N, K, A, lda, B, ldb, NULL, C, ldc, o);
    else if (mr == 3) nn_rows(3, 3, N, K, A, lda, B, ldb, NULL, C, ldc, o);
    else nn_rows(4, mr, N, K, A, lda, B, ldb, NULL, C, ldc, o);
}

static void nn_offsets(int mr, int N, int K, const float *A, int lda, const float *B, const ptrdiff_t *boff,
                       float *C, int ldc, onto o)
{
    if (mr == 1) nn_rows(1, 1, N, K, A, lda, B, 0, boff, C, ldc, o);
    else if (mr == 2) nn_rows(2, 2, N, K, A, lda, B, 0, boff, C, ldc, o);
    else if (mr == 3) nn_rows(3, 3, N, K, A, lda, B, 0, boff, C, ldc, o);
    else nn_rows(4, mr, N, K, A, lda, B, 0, boff, C, ldc, o);
}

/* Rows per kernel call: fours, and the rest in one call; five left go as
 * 3 + 2, not 4 + 1 (a lone row loads a vector per multiply-add). */
static int rows_next(int left) { return left == 5 ? 3 : left < 4 ? left : 4; }

void eg_gemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0, r; i < M; i += r)
        nn_strided(r = rows_next(M - i), N, K, A + (size_t)i * lda, lda, B, ldb, C + (size_t)i * ldc, ldc,
                   (onto){NULL, 0});
}

void eg_gemm_nn_set(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0, r; i < M; i += r)
        nn_strided(r = rows_next(M - i), N, K, A + (size_t)i * lda, lda, B, ldb, C + (size_t)i * ldc, ldc,
                   (onto){NULL, 1});
}

static void gemm_nn_rows(int M, int N, int K, const float *A, int lda, const float *B, const ptrdiff_t *boff,
                         float *C, int ldc, onto o)
{
    for (int i = 0, r; i < M; i += r)
        nn_offsets(r = rows_next(M - i), N, K, A + (size_t)i * lda, lda, B, boff, C + (size_t)i * ldc, ldc,
                   rows_below(o, i));
}

void eg_gemm_nn_rows(int M, int N, int K, const float *A, int lda, const float *B, const ptrdiff_t *boff, float *C,
                     int ldc)
{
    gemm_nn_rows(M, N, K, A, lda, B, boff, C, ldc, (onto){NULL, 0});
}

void eg_gemm_nn_rows_set(int M, int N, int K, const float *A, int lda, const float *B, const ptrdiff_t *boff,
                         const float *bias, float *C, int ldc)
{
    gemm_nn_rows(M, N, K, A, lda, B, boff, C, ldc, (onto){bias, 1});
}

/* ----------------------------------------------------------- C += A B^T */

/* Sums each of 16 vectors across its lanes: lane i of the result is the sum
 * of v[i]. Four rounds of pairwise shuffles instead of 16 serial reductions. */
INLINE vf hsum16(vf v[16])
{
    static const vi lo1 = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
    static const vi hi1 = {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};
    static const vi lo2 = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
    static const vi hi2 = {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31};
    static const vi lo3 = {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29};
    static const vi hi3 = {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31};
    static const vi lo4 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    static const vi hi4 = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
    vf w[8], x[4], y[2];
    for (int i = 0; i < 8; i++) w[i] = __builtin_shuffle(v[2 * i], v[2 * i + 1], lo1) + __builtin_shuffle(v[2 * i], v[2 * i + 1], hi1);
    for (int i = 0; i < 4; i++) x[i] = __builtin_shuffle(w[2 * i], w[2 * i + 1], lo2) + __builtin_shuffle(w[2 * i], w[2 * i + 1], hi2);
    for (int i = 0; i < 2; i++) y[i] = __builtin_shuffle(x[2 * i], x[2 * i + 1], lo3) + __builtin_shuffle(x[2 * i], x[2 * i + 1], hi3);
    return __builtin_shuffle(y[0], y[1], lo4) + __builtin_shuffle(y[0], y[1], hi4);
}

/* One segment's share of a 4 x NC tile of C += A B^T (NC = 4, or 5 for
 * a width that leaves one column over): acc[r NC + c] += the lane-wise
 * products of row r of A and row c of B along K, a zero tail for K's last
 * partial vector. a and b already point at the segment's rows. */
INLINE void nt_tile_seg(int NC, int K, const float *const a[4], const float *const b[5], vf acc[20])
{
    vf s[20];
    for (int t = 0; t < 4 * NC; t++) s[t] = acc[t];
    int kt = K - K % VL;
    for (int k = 0; k < kt; k += VL) {
        vf bv[5];
        for (int c = 0; c < NC; c++) bv[c] = vload(b[c] + k);
        for (int r = 0; r < 4; r++) {
            vf av = vload(a[r] + k);
            for (int c = 0; c < NC; c++) s[r * NC + c] += av * bv[c];
        }
    }
    if (kt < K) {
#if defined(__AVX512F__) && VL == 16
        /* K's tail by masked loads, zeros in the lanes past K: the same
         * values as the padded copies below, without 9 memcpy calls */
        __mmask16 lanes = (__mmask16)((1u << (K - kt)) - 1);
        vf at[4], bt[5];
        for (int r = 0; r < 4; r++) at[r] = (vf)_mm512_maskz_loadu_ps(lanes, a[r] + kt);
        for (int c = 0; c < NC; c++) bt[c] = (vf)_mm512_maskz_loadu_ps(lanes, b[c] + kt);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < NC; c++) s[r * NC + c] += at[r] * bt[c];
#else
        float at[4][VL] = {{0}}, bt[5][VL] = {{0}};
        for (int r = 0; r < 4; r++) memcpy(at[r], a[r] + kt, (size_t)(K - kt) * sizeof(float));
        for (int c = 0; c < NC; c++) memcpy(bt[c], b[c] + kt, (size_t)(K - kt) * sizeof(float));
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < NC; c++) s[r * NC + c] += vload(at[r]) * vload(bt[c]);
#endif
    }
    for (int t = 0; t < 4 * NC; t++) acc[t] = s[t];
}

/* One row of A against 16 rows of B: the same sixteen accumulators as a
 * 4x4 tile, each element summed in the same order, so a lone last row (a
 * batch of one, a layer left with one channel) gets the bits a 4x4 tile
 * would give it without computing three copies of itself. */
INLINE void nt_row16_seg(int K, const float *a, const float *const b[16], vf acc[16])
{
    vf s[16];
    for (int t = 0; t < 16; t++) s[t] = acc[t];
    int kt = K - K % VL;
    for (int k = 0; k < kt; k += VL) {
        vf av = vload(a + k);
        for (int c = 0; c < 16; c++) s[c] += av * vload(b[c] + k);
    }
    if (kt < K) {
        float at[VL] = {0}, bt[VL];
        memcpy(at, a + kt, (size_t)(K - kt) * sizeof(float));
        for (int c = 0; c < 16; c++) {
            memset(bt, 0, sizeof bt);
            memcpy(bt, b[c] + kt, (size_t)(K - kt) * sizeof(float));
            s[c] += vload(at) * vload(bt);
        }
    }
    for (int t = 0; t < 16; t++) acc[t] = s[t];
}

/* C[M x N] += sum over segments s of A_s B_s^T, in tiles of vector
 * accumulators: 4x4 elements, 4x5 for the last five columns (conv1's nine
 * columns as 4 + 5, not 4 + 4 + 4 with three of the last four wasted), or
 * 1x16 for a lone last row of A. The
 * segments (a batch's images) are the outer loop and up to NT_GROUP tiles'
 * accumulators wait in an L1 buffer between them: each image's rows are
 * read from L1 by every tile, instead of every tile streaming the whole
 * batch from L2 (weight gradients of 32 images: conv1 25 -> 19.5 us, conv2
 * 36 -> 30 us). A lane still sums its segments and K in order, so the bits
 * do not depend on the grouping; the lanes are summed once at the end. */
#define NT_GROUP 24
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
            int w = M - i == 1 ? 16 : N - j == 5 ? 5 : 4;
            at[n] = (nt_at){i, j, w};
            j += w;
            if (j >= N) j = 0, i += 4;
        }
        vf acc[NT_GROUP][20];
        for (int t = 0; t < n; t++)
            for (int e = 0; e < 20; e++) acc[t][e] = vbroadcast(0.0f);
        for (int s = 0; s < nseg; s++)
            for (int t = 0; t < n; t++) {
                int ti = at[t].i, tj = at[t].j, mr = M - ti < 4 ? M - ti : 4;
                const float *As = A + s * sa + (size_t)ti * lda, *Bs = B + s * sb;
                if (mr == 1) {
                    const float *b[16];
                    int nr = N - tj < 16 ? N - tj : 16;
                    for (int c = 0; c < 16; c++) b[c] = brow(Bs, ldb, boff, tj + (c < nr ? c : nr - 1));
                    nt_row16_seg(K, As, b, acc[t]);
                } else {
                    const float *a[4], *b[5];
                    int nr = N - tj < at[t].w ? N - tj : at[t].w;
                    for (int r = 0; r < 4; r++) a[r] = As + (size_t)(r < mr ? r : mr - 1) * lda;
                    for (int c = 0; c < at[t].w; c++) b[c] = brow(Bs, ldb, boff, tj + (c < nr ? c : nr - 1));
                    if (at[t].w == 5) nt_tile_seg(5, K, a, b, acc[t]);
                    else nt_tile_seg(4, K, a, b, acc[t]);
                }
            }
        for (int t = 0; t < n; t++) {
            int ti = at[t].i, tj = at[t].j, mr = M - ti < 4 ? M - ti : 4, w = at[t].w;
            int nr = N - tj < w ? N - tj : w;
            if (w == 5) {  /* its fifth column through the same sum, so a 4x4 tile's bits */
                vf four[16], fifth[16];
                for (int e = 0; e < 16; e++) four[e] = acc[t][e / 4 * 5 + e % 4], fifth[e] = vbroadcast(0.0f);
                for (int r = 0; r < 4; r++) fifth[r] = acc[t][r * 5 + 4];
                vf sum = hsum16(four), last = hsum16(fifth);
                for (int r = 0; r < mr; r++) {
                    for (int c = 0; c < 4; c++) C[(size_t)(ti + r) * ldc + tj + c] += sum[r * 4 + c];
                    C[(size_t)(ti + r) * ldc + tj + 4] += last[r];
                }
                continue;
            }
            vf sum = hsum16(acc[t]);
            for (int r = 0; r < mr; r++)
                for (int c = 0; c < nr; c++) C[(size_t)(ti + r) * ldc + tj + c] += sum[r * w + c];
        }
    }
}

void eg_gemm_nt_batch(int nseg, int M, int N, int K, const float *A, int lda, size_t sa, const float *B,
                      int ldb, size_t sb, float *C, int ldc)
{
    nt_batch(nseg, M, N, K, A, lda, sa, B, ldb, NULL, sb, C, ldc);
}

void eg_gemm_nt_batch_rows(int nseg, int M, int N, int K, const float *A, int lda, size_t sa, const float *B,
                           const ptrdiff_t *boff, size_t sb, float *C, int ldc)
{
    nt_batch(nseg, M, N, K, A, lda, sa, B, 0, boff, sb, C, ldc);
}

void eg_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    eg_gemm_nt_batch(1, M, N, K, A, lda, 0, B, ldb, 0, C, ldc);
}

/* ------------------------------------------------------------ sums */

float eg_sum_blocks(const float *x, size_t n, int count, size_t stride)
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
    /* the lanes in a tree: 16 serial additions were most of a short sum */
    static const vi hi8 = {8, 9, 10, 11, 12, 13, 14, 15, 0, 0, 0, 0, 0, 0, 0, 0};
    static const vi hi4 = {4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const vi hi2 = {2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    vf t = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    t += __builtin_shuffle(t, hi8);
    t += __builtin_shuffle(t, hi4);
    t += __builtin_shuffle(t, hi2);
    return (t[0] + t[1]) + tail;
}

float eg_sum(const float *x, size_t n) { return eg_sum_blocks(x, n, 1, 0); }

/* ------------------------------------------------------ reference twins */

void eg_gemm_nn_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[(size_t)i * lda + k] * B[(size_t)k * ldb + j];
            C[(size_t)i * ldc + j] += (float)s;
        }
}

void eg_gemm_nt_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[(size_t)i * lda + k] * B[(size_t)j * ldb + k];
            C[(size_t)i * ldc + j] += (float)s;
        }
}
