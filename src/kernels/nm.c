/* N:M semi-structured sparse weights: in every group of m consecutive weights
 * of a row (the input dimension: a linear layer's inputs, a convolution's
 * (channel, ky, kx) in that order) at most n are kept. Such a row is stored
 * as n slots per group, each a value and its offset inside the group (a
 * byte), in offset order; a group keeping fewer than n fills the rest with
 * value 0 at offset 0. A row of K weights has ceil(K / m) groups (the last
 * may be shorter than m). Unlike CSR there are no row pointers and no
 * column indices: the loops have a fixed trip count, and the indices take a
 * byte each.
 *
 * Kernels: eg_nm_rows_nn, C += A B with rows of B at offsets (convolutions,
 * vectorized over output positions), and eg_nm_matmul_t, y += x W^T
 * (linear layers, vectorized over the batch like eg_csr_matmul_t). Each
 * output sums its row's slots in order, so its value does not depend on
 * where it falls in a tile. */
#include <stddef.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/vec.h"

static int kept(const float *w, const float *mask, size_t k) { return w[k] != 0 && !(mask && mask[k] == 0); }

int EG_KERNEL(nm_max_kept)(int R, int K, int m, const float *w, const float *mask)
{
    int most = 0;
    for (int r = 0; r < R; r++)
        for (int g0 = 0; g0 < K; g0 += m) {
            int c = 0;
            for (int i = g0; i < K && i < g0 + m; i++) c += kept(w, mask, (size_t)r * K + i);
            if (c > most) most = c;
        }
    return most;
}

int EG_KERNEL(nm_build)(int R, int K, int n, int m, const float *w, const float *mask, float *val, uint8_t *idx)
{
    int G = (K + m - 1) / m;
    for (int r = 0; r < R; r++)
        for (int g = 0; g < G; g++) {
            float *v = val + ((size_t)r * G + g) * n;
            uint8_t *ix = idx + ((size_t)r * G + g) * n;
            int s = 0;
            for (int i = 0; i < m && g * m + i < K; i++) {
                size_t k = (size_t)r * K + (size_t)g * m + i;
                if (!kept(w, mask, k)) continue;
                if (s == n) return -1;
                v[s] = w[k];
                ix[s++] = (uint8_t)i;
            }
            for (; s < n; s++) v[s] = 0, ix[s] = 0;
        }
    return 0;
}

INLINE const float *row_of(const float *B, int ldb, const ptrdiff_t *boff, int k)
{
    return B + (boff ? boff[k] : (ptrdiff_t)k * ldb);
}

/* nv vectors of row r's columns [j, j + nv*VL): nv independent chains over
 * its G groups of n slots. */
INLINE void nm_row_block(int nv, int G, int n, int m, const float *v, const uint8_t *ix, const float *B, int ldb,
                         const ptrdiff_t *boff, int j, float *c)
{
    vf a[8];
    for (int t = 0; t < nv; t++) a[t] = vbroadcast(0);
    for (int g = 0; g < G; g++)
        for (int s = g * n; s < g * n + n; s++) {
            const float *b = row_of(B, ldb, boff, g * m + ix[s]) + j;
            vf x = vbroadcast(v[s]);
            for (int t = 0; t < nv; t++) a[t] += x * vload(b + t * VL);
        }
    for (int t = 0; t < nv; t++) vstore(c + j + t * VL, vload(c + j + t * VL) + a[t]);
}

/* The body of eg_nm_rows_nn, inlined with constant n and m for 2:4. */
INLINE void nm_rows(int M, int N, int K, int n, int m, const float *val, const uint8_t *idx, const float *B, int ldb,
                    const ptrdiff_t *boff, float *C, int ldc)
{
    int G = (K + m - 1) / m, S = G * n;  /* slots per row */
    for (int r = 0; r < M; r++) {
        const float *v = val + (size_t)r * S;
        const uint8_t *ix = idx + (size_t)r * S;
        float *c = C + (size_t)r * ldc;
        int j = 0;
        for (; j + 8 * VL <= N; j += 8 * VL) nm_row_block(8, G, n, m, v, ix, B, ldb, boff, j, c);
        for (; j + 4 * VL <= N; j += 4 * VL) nm_row_block(4, G, n, m, v, ix, B, ldb, boff, j, c);
        for (; j + VL <= N; j += VL) nm_row_block(1, G, n, m, v, ix, B, ldb, boff, j, c);
        if (j < N && N >= VL) {  /* the last columns: a vector ending at N, its new lanes kept */
            vf a = vbroadcast(0);
            for (int g = 0; g < G; g++)
                for (int s = g * n; s < g * n + n; s++)
                    a += vbroadcast(v[s]) * vload(row_of(B, ldb, boff, g * m + ix[s]) + N - VL);
            for (int l = j - (N - VL); l < VL; l++) c[N - VL + l] += a[l];
            j = N;
        }
        for (; j < N; j++) {
            float a = 0;
            for (int g = 0; g < G; g++)
                for (int s = g * n; s < g * n + n; s++) a += v[s] * row_of(B, ldb, boff, g * m + ix[s])[j];
            c[j] += a;
        }
    }
}

void EG_KERNEL(nm_rows_nn)(int M, int N, int K, int n, int m, const float *val, const uint8_t *idx, const float *B, int ldb,
                   const ptrdiff_t *boff, float *C, int ldc)
{
    if (n == 2 && m == 4) nm_rows(M, N, K, 2, 4, val, idx, B, ldb, boff, C, ldc);
    else nm_rows(M, N, K, n, m, val, idx, B, ldb, boff, C, ldc);
}

size_t EG_KERNEL(nm_scratch)(int in) { return (size_t)in * VL; }

/* One sample, four outputs at a time (all rows have S slots), four
 * independent chains; X(c) is the sample's input feature c. */
#define NM_FOUR_ROWS(T, ZERO, X, STORE)                                                  \
    for (int o = 0; o < out; o += 4) {                                                 \
        int q4 = out - o < 4 ? out - o : 4;                                            \
        const float *v[4];                                                             \
        const uint8_t *ix[4];                                                          \
        for (int q = 0; q < 4; q++) {                                                  \
            int oq = o + (q < q4 ? q : q4 - 1); /* missing rows repeat the last */     \
            v[q] = val + (size_t)oq * S, ix[q] = idx + (size_t)oq * S;                  \
        }                                                                              \
        T acc[4] = {ZERO, ZERO, ZERO, ZERO};                                           \
        for (int g = 0; g < G; g++)                                                    \
            for (int s = g * n; s < g * n + n; s++)                                    \
                for (int q = 0; q < 4; q++) acc[q] = eg_madd(v[q][s], X(g * m + ix[q][s]), acc[q]);   \
        for (int q = 0; q < q4; q++) STORE(o + q, acc[q]);                             \
    }

/* The vector path over one tile xt [in, VL] (lanes past nr zero): four
 * outputs at a time, the group's base in the tile advanced once per group.
 * Inlined with constant n and m for 2:4, so the slot loop unrolls. */
INLINE void nm_tile(int n, int m, int G, int out, const float *val, const uint8_t *idx, const float *xt, int nr,
                    float *y, int ldy)
{
    int S = G * n;
    for (int o = 0; o < out; o += 4) {
        int q4 = out - o < 4 ? out - o : 4;
        const float *v[4];
        const uint8_t *ix[4];
        for (int q = 0; q < 4; q++) {
            int oq = o + (q < q4 ? q : q4 - 1);  /* missing rows repeat the last */
            v[q] = val + (size_t)oq * S, ix[q] = idx + (size_t)oq * S;
        }
        vf acc[4] = {vbroadcast(0), vbroadcast(0), vbroadcast(0), vbroadcast(0)};
        const float *xg = xt;
        for (int s0 = 0; s0 < S; s0 += n, xg += (size_t)m * VL)
            for (int s = s0; s < s0 + n; s++)
                for (int q = 0; q < 4; q++) acc[q] += vbroadcast(v[q][s]) * vload(xg + (size_t)ix[q][s] * VL);
        for (int q = 0; q < q4; q++)
            for (int r = 0; r < nr; r++) y[(size_t)r * ldy + o + q] += acc[q][r];
    }
}

void EG_KERNEL(nm_matmul_t)(int rows, int out, int in, int n, int m, const float *x, int ldx, const float *val,
                    const uint8_t *idx, float *y, int ldy, float *scratch)
{
    int G = (in + m - 1) / m, S = G * n;
    int i = 0;
    for (; rows - i >= 4; i += VL) {  /* fewer rows waste most lanes: scalar below */
        int nr = rows - i < VL ? rows - i : VL;
        float *xt = scratch;  /* [in, VL]: lane r is row i + r */
        EG_KERNEL(transpose_tile)(xt, x + (size_t)i * ldx, ldx, nr, in);
        if (n == 2 && m == 4) nm_tile(2, 4, G, out, val, idx, xt, nr, y + (size_t)i * ldy, ldy);
        else nm_tile(n, m, G, out, val, idx, xt, nr, y + (size_t)i * ldy, ldy);
    }
    for (; i < rows; i++) {
        const float *xr = x + (size_t)i * ldx;
        float *yr = y + (size_t)i * ldy;
#define XS(c) xr[c]
#define STORE_S(oo, a) yr[oo] += (a)
        NM_FOUR_ROWS(float, 0.0f, XS, STORE_S)
#undef XS
#undef STORE_S
    }
}
