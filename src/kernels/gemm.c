/* Small-matrix products for conv and linear layers, register-blocked with GCC
 * vector extensions (AVX-512 or AVX2 as the target allows), and the plain
 * loops they are tested against. Every sum runs in a fixed order, so results
 * do not depend on the thread count. */
#include <string.h>

#include "internal.h"

#define VL 16
typedef float vf __attribute__((vector_size(VL * sizeof(float)), aligned(4)));

#define INLINE static inline __attribute__((always_inline))

INLINE vf vload(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
INLINE void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }
INLINE vf vbroadcast(float a) { return (vf){0} + a; }
INLINE float vsum(vf v)
{
    float s = 0;
    for (int i = 0; i < VL; i++) s += v[i];
    return s;
}

/* C[mr rows, nv vectors at column j] += A[mr, K] * B[K, j..]: the A values are
 * broadcast, B's row is loaded once per k for all mr rows. */
INLINE void nn_block(int mr, int nv, int K, const float *A, int lda, const float *B, int ldb,
                     float *C, int ldc)
{
    vf acc[4][2] = {{{0}}};
    for (int k = 0; k < K; k++) {
        vf b[2];
        for (int v = 0; v < nv; v++) b[v] = vload(B + (size_t)k * ldb + v * VL);
        for (int r = 0; r < mr; r++) {
            vf a = vbroadcast(A[(size_t)r * lda + k]);
            for (int v = 0; v < nv; v++) acc[r][v] += a * b[v];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            float *c = C + (size_t)r * ldc + v * VL;
            vstore(c, vload(c) + acc[r][v]);
        }
}

INLINE void nn_rows(int mr, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                    int ldc)
{
    int j = 0;
    for (; j + 2 * VL <= N; j += 2 * VL) nn_block(mr, 2, K, A, lda, B + j, ldb, C + j, ldc);
    for (; j + VL <= N; j += VL) nn_block(mr, 1, K, A, lda, B + j, ldb, C + j, ldc);
    for (; j < N; j++)
        for (int r = 0; r < mr; r++) {
            float s = 0;
            for (int k = 0; k < K; k++) s += A[(size_t)r * lda + k] * B[(size_t)k * ldb + j];
            C[(size_t)r * ldc + j] += s;
        }
}

void eg_gemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                int ldc)
{
    int i = 0;
    for (; i + 4 <= M; i += 4)
        nn_rows(4, N, K, A + (size_t)i * lda, lda, B, ldb, C + (size_t)i * ldc, ldc);
    for (; i < M; i++) nn_rows(1, N, K, A + (size_t)i * lda, lda, B, ldb, C + (size_t)i * ldc, ldc);
}

/* C[mr, nr] += A[mr, K] . B[nr, K]^T: mr x nr dot products along K, each
 * kept in its own vector accumulator and summed across lanes at the end. */
INLINE void nt_block(int mr, int nr, int K, const float *A, int lda, const float *B, int ldb,
                     float *C, int ldc)
{
    vf acc[4][4] = {{{0}}};
    int k = 0;
    for (; k + VL <= K; k += VL) {
        vf b[4];
        for (int c = 0; c < nr; c++) b[c] = vload(B + (size_t)c * ldb + k);
        for (int r = 0; r < mr; r++) {
            vf a = vload(A + (size_t)r * lda + k);
            for (int c = 0; c < nr; c++) acc[r][c] += a * b[c];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++) {
            float s = vsum(acc[r][c]);
            for (int kk = k; kk < K; kk++) s += A[(size_t)r * lda + kk] * B[(size_t)c * ldb + kk];
            C[(size_t)r * ldc + c] += s;
        }
}

INLINE void nt_rows(int mr, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                    int ldc)
{
    int j = 0;
    for (; j + 4 <= N; j += 4) nt_block(mr, 4, K, A, lda, B + (size_t)j * ldb, ldb, C + j, ldc);
    for (; j < N; j++) nt_block(mr, 1, K, A, lda, B + (size_t)j * ldb, ldb, C + j, ldc);
}

void eg_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                int ldc)
{
    int i = 0;
    for (; i + 4 <= M; i += 4)
        nt_rows(4, N, K, A + (size_t)i * lda, lda, B, ldb, C + (size_t)i * ldc, ldc);
    for (; i < M; i++) nt_rows(1, N, K, A + (size_t)i * lda, lda, B, ldb, C + (size_t)i * ldc, ldc);
}

void eg_gemm_nn_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                    int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[(size_t)i * lda + k] * B[(size_t)k * ldb + j];
            C[(size_t)i * ldc + j] += (float)s;
        }
}

void eg_gemm_nt_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                    int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[(size_t)i * lda + k] * B[(size_t)j * ldb + k];
            C[(size_t)i * ldc + j] += (float)s;
        }
}
