/* The kernels: every loop whose speed depends on the CPU's vector unit.
 *
 * Each file in src/kernels/ is compiled once per ISA variant the build
 * targets (x86-64: avx512, avx2 and generic; aarch64: neon and generic; any
 * other CPU: generic), with that variant's compiler flags and EG_ISA_<NAME>
 * defined, and defines its kernels as EG_KERNEL(name): eg_<name>_<variant>.
 * Each variant's kernels form one eg_kernel_table (table.c);
 * src/core/isa.c picks the best one the CPU runs, or the one EG_ISA names,
 * before main, and the rest of edagari calls kernels through it:
 * eg_k->gemm_nn(...). A kernel calls its own variant's others directly,
 * as EG_KERNEL(transpose)(...).
 *
 * Shapes are row-major with leading dimensions; "VL" below is the active
 * variant's vector width in floats (eg_k->vl). Every kernel sums each
 * result in an order fixed by its shape and the variant, never by the
 * thread count or where an element falls in a tile; across variants the
 * bits differ (vector widths, fused multiply-adds). */
#ifndef EG_KERNELS_H
#define EG_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#if defined(EG_ISA_AVX512)
#define EG_KERNEL(name) eg_##name##_avx512
#elif defined(EG_ISA_AVX2)
#define EG_KERNEL(name) eg_##name##_avx2
#elif defined(EG_ISA_NEON)
#define EG_KERNEL(name) eg_##name##_neon
#else
/* generic kernels, and outside src/kernels the names the table's types are
 * taken from */
#define EG_KERNEL(name) eg_##name##_generic
#endif

/* The widest vector of any variant, in floats: slack that buffers keep for
 * whole-vector reads past their ends. */
#define EG_VL_MAX 16

/* ------------------------------------------------------------ products */

/* C[M x N] += A[M x K] * B[K x N]. */
void EG_KERNEL(gemm_nn)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
/* C = A B, C never read: the same bits as clearing C and gemm_nn. */
void EG_KERNEL(gemm_nn_set)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
/* C[M x N] += A[M x K] * B[N x K]^T */
void EG_KERNEL(gemm_nt)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
/* gemm_nn with row k of B at B + boff[k] instead of at a fixed stride: a
 * convolution reading shifted views of padded planes as the rows of its
 * im2col matrix. */
void EG_KERNEL(gemm_nn_rows)(int M, int N, int K, const float *A, int lda, const float *B, const ptrdiff_t *boff,
                             float *C, int ldc);
/* The same written over C: C = bias[row] + A B, or A B when bias is NULL;
 * the bits of clearing or filling C with the bias first. */
void EG_KERNEL(gemm_nn_rows_set)(int M, int N, int K, const float *A, int lda, const float *B, const ptrdiff_t *boff,
                                 const float *bias, float *C, int ldc);
/* C[M x N] += sum over s < nseg of A_s * B_s^T with A_s = A + s*sa, B_s = B + s*sb:
 * a weight gradient summed over the images of a batch in one call; the
 * _rows form has B_s's rows at B_s + boff[n]. */
void EG_KERNEL(gemm_nt_batch)(int nseg, int M, int N, int K, const float *A, int lda, size_t sa, const float *B,
                              int ldb, size_t sb, float *C, int ldc);
void EG_KERNEL(gemm_nt_batch_rows)(int nseg, int M, int N, int K, const float *A, int lda, size_t sa, const float *B,
                                   const ptrdiff_t *boff, size_t sb, float *C, int ldc);
/* Where gemm_nn's order of terms for N <= VL outputs starts (see
 * one_vector in gemm.c), which the lanes' linear kernel follows. */
int EG_KERNEL(gemm_narrow_k4)(int N, int ldb, int K);
/* The plain triple loops the fast products are tested against (in double). */
void EG_KERNEL(gemm_nn_ref)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
void EG_KERNEL(gemm_nt_ref)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);

/* A stride-1 KS x KS convolution's row-offset product with M outputs and C
 * inputs when small_conv_fits (AVX-512 only: 3x3 with M C <= 2, 5x5 with
 * M = C = 1, whose weights all stay in registers): out [M x oh wp] = bias
 * + W x the shifted views of the C padded planes X (plane floats apart,
 * rows wp wide): the bits of gemm_nn_rows_set on those views. It reads
 * whole vectors past a row's end: a plane holds at least (oh + KS - 1) wp
 * + KS + VL floats. */
int EG_KERNEL(small_conv_fits)(int outputs, int inputs, int kernel);
void EG_KERNEL(small_conv_rows)(int M, int C, int KS, int oh, int wp, size_t plane, const float *W, const float *bias,
                                const float *X, float *out);
/* The same conv pooled 2x2 (relu'd first if relu) as it is computed
 * (inference): output m's pooled rows to dst[m], ldy apart, w / 2 a row;
 * oh even. The bits of small_conv_rows followed by pool2x2_rows. */
void EG_KERNEL(small_conv_pool_rows)(int M, int C, int KS, int oh, int wp, int w, size_t plane, const float *W,
                                     const float *bias, const float *X, int relu, float *const dst[2], int ldy);
/* The same from the unpadded C x h x (wp - pad) input X, read in place as
 * if it had pad zeros around it (h = oh + KS - 1 - 2 pad). */
void EG_KERNEL(small_conv_pool_direct)(int M, int C, int KS, int oh, int wp, int w, int pad, const float *W,
                                       const float *bias, const float *X, int relu, float *const dst[2], int ldy);

/* ------------------------------------------------------------- lanes */

/* Batch lanes (src/graph/lanes.c, and conv2d.c in training): VL images at
 * once, each value a vector of theirs. A stride-1 KS x KS conv (KS <=
 * EG_LANES_MAX_KERNEL) with M outputs of C padded planes of xh x xw
 * vectors, oh x ow outputs; with pool, pooled 2x2 (oh, ow even), relu'd
 * first if relu; without, relu'd if relu. Output m's (y, x), pooled or not,
 * at y + m yplane + (y yw + x) VL. The bits of the row-offset product and
 * the fused pool or the relu for each image; on a CSR copy (C KS KS <=
 * EG_LANES_MAX_TERMS), those of its CSR product (lanes_conv.c). */
#define EG_LANES_MAX_KERNEL 5
#define EG_LANES_MAX_TERMS 2048
void EG_KERNEL(lanes_conv)(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw, const float *w,
                           const float *bias, int pool, int relu, float *y, int yw, size_t yplane);
void EG_KERNEL(lanes_conv_csr)(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw,
                               const int32_t *rowptr, const int32_t *col, const float *val, const float *bias, int pool,
                               int relu, float *y, int yw, size_t yplane);
/* The same, pooled as training pools (pool2x2_rows.c: the first maximum in
 * scan order, relu'd if relu), and output m's pooled (y, x) winner codes
 * (0-3, 4 where the relu cut it) as VL bytes at codes + ((m oh/2 + y) ow/2
 * + x) VL. */
void EG_KERNEL(lanes_conv_coded)(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw, const float *w,
                                 const float *bias, int relu, float *y, int yw, size_t yplane, uint8_t *codes);
/* Its weight and bias gradients: dw [M, C, KS, KS] += the sum over the VL
 * images and every conv output (y, x) of dy there times x[c][y + ky][x +
 * kx], db [M] += the sums of dy, where dy is the pooled gradient dyp
 * ([M][oh/2][ow/2] vectors) at each window's winner (codes as above), zero
 * elsewhere (lanes_conv_grad.c). */
void EG_KERNEL(lanes_conv_grad_pooled)(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw,
                                       const float *dyp, const uint8_t *codes, float *dw, float *db);
/* dyp onto its windows' winners, zero elsewhere: the interiors of M planes
 * of rows xw vectors wide, from pad rows and columns in (the input of the
 * input gradient's full convolution). */
void EG_KERNEL(lanes_spread)(float *d, int M, int ph, int pw, int xh, int xw, int pad, const float *dyp,
                             const uint8_t *codes);
/* Zeroes the borders of c planes of xh x xw vectors padded by pad. */
void EG_KERNEL(lanes_zero_borders)(float *x, int c, int xh, int xw, int pad);
/* For G (1 .. EG_LANES_GROUPS) groups, x and y stride floats apart:
 * y [out vectors] = bias + W x for x [in vectors], relu'd if relu: the
 * bits of linear.c's dense product for each image; on the layer's CSR
 * copy, the bits of csr_matmul_t (lanes_linear.c). */
#define EG_LANES_GROUPS 2
void EG_KERNEL(lanes_linear)(int G, int out, int in, const float *w, const float *bias, const float *x, size_t stride,
                             int relu, float *y);
void EG_KERNEL(lanes_linear_csr)(int G, int out, const int32_t *rowptr, const int32_t *col, const float *val,
                                 const float *bias, const float *x, size_t stride, int relu, float *y);
/* n floats of each of VL rows (src, ld floats apart) into lanes: float s
 * of each to row r0 + s / rw, column c0 + s % rw of a plane of rows xw
 * vectors wide, each transposed vector straight to its place. */
void EG_KERNEL(lanes_from_rows)(float *plane, int xw, const float *src, size_t ld, int n, int rw, int r0, int c0);

/* ---------------------------------------------------------- transposes */

/* dst [cols x rows] (leading dimension ldd) = src [rows x cols] (lds) transposed. */
void EG_KERNEL(transpose)(float *dst, int ldd, const float *src, int lds, int rows, int cols);
/* The VL rows (lds apart) of src's first cols (<= VL) columns transposed:
 * column j, a vector, to to[j]. */
void EG_KERNEL(transpose_to)(float *const *to, const float *src, int lds, int cols);
/* xt [in, VL] = the first m (<= VL) rows of x [., ldx] transposed: lane r
 * of xt + c VL is x[r][c], lanes from m on zero. */
void EG_KERNEL(transpose_tile)(float *xt, const float *x, int ldx, int m, int in);

/* -------------------------------------------------------------- sparse */

/* Compressed sparse rows of a dense weight w [out, in]: the weights that are
 * non-zero and kept by mask (may be NULL: every non-zero), row by row in
 * column order. rowptr has out + 1 entries, col and val room for every
 * weight; returns the number kept. */
size_t EG_KERNEL(csr_build)(int out, int in, const float *w, const float *mask, int32_t *rowptr, int32_t *col,
                            float *val);
/* y[n, out] += x[n, in] W^T for W in CSR form, with csr_scratch(in) floats
 * of scratch; the reference twin is the plain loop in double. */
size_t EG_KERNEL(csr_scratch)(int in);
void EG_KERNEL(csr_matmul_t)(int n, int out, int in, const float *x, int ldx, const int32_t *rowptr,
                             const int32_t *col, const float *val, float *y, int ldy, float *scratch);
void EG_KERNEL(csr_matmul_t_ref)(int n, int out, int in, const float *x, int ldx, const int32_t *rowptr,
                                 const int32_t *col, const float *val, float *y, int ldy);
/* C[M x N] += A B for A [M x K] in CSR and row k of B at B + boff[k] (or
 * B + k*ldb when boff is NULL): a pruned convolution's product. */
void EG_KERNEL(csr_rows_nn)(int M, int N, const int32_t *rowptr, const int32_t *col, const float *val, const float *B,
                            int ldb, const ptrdiff_t *boff, float *C, int ldc);
/* N:M weights (nm.c): the most kept weights in any group of m of w [R, K]
 * (kept: non-zero and mask, which may be NULL, not 0); the packing into n
 * slots per group (val, idx [R, ceil(K/m), n]; -1 when a group keeps more
 * than n); C[M x N] += A B with rows of B as for csr_rows_nn; and
 * y[rows, out] += x W^T with nm_scratch(in) floats of scratch. */
int EG_KERNEL(nm_max_kept)(int R, int K, int m, const float *w, const float *mask);
int EG_KERNEL(nm_build)(int R, int K, int n, int m, const float *w, const float *mask, float *val, uint8_t *idx);
void EG_KERNEL(nm_rows_nn)(int M, int N, int K, int n, int m, const float *val, const uint8_t *idx, const float *B,
                           int ldb, const ptrdiff_t *boff, float *C, int ldc);
size_t EG_KERNEL(nm_scratch)(int in);
void EG_KERNEL(nm_matmul_t)(int rows, int out, int in, int n, int m, const float *x, int ldx, const float *val,
                            const uint8_t *idx, float *y, int ldy, float *scratch);

/* ------------------------------------------------------------- pooling */

/* 2x2, stride 2 max pooling of an H x W plane (H, W even; planes may be
 * stacked) into y [H/2 x W/2]; code (may be NULL) gets each window's winner
 * 0..3 in scan order. With relu, y = max(0, max) and a window with no
 * positive value gets winner 4. Backward writes (or with add, adds to)
 * every element of dx. Both need pool2x2_scratch(H, W) floats of scratch. */
size_t EG_KERNEL(pool2x2_scratch)(int H, int W);
void EG_KERNEL(pool2x2_forward)(float *y, int32_t *code, float *scratch, const float *x, int H, int W, int relu);
void EG_KERNEL(pool2x2_backward)(float *dx, const float *dy, const int32_t *code, float *scratch, int H, int W,
                                 int add);
/* 2x2 stride-2 max pool (relu after it when relu) of `rows` rows of w
 * floats lying ld apart (rows and w even; stacked planes of even height pool
 * as one), into rows/2 rows of w/2 floats lying ldy apart (pool2x2_rows.c;
 * ldy > w/2 writes into a padded plane). The coded form, for training, also
 * writes each window's winner as pool2x2_forward does, one byte each;
 * unpool2x2_rows is its backward: it writes all `rows` rows of w floats (ld
 * apart) of the input gradient, dy at each winner and zero elsewhere. */
void EG_KERNEL(pool2x2_rows)(float *y, int ldy, const float *x, int ld, int rows, int w, int relu);
void EG_KERNEL(pool2x2_rows_coded)(float *y, int ldy, uint8_t *code, const float *x, int ld, int rows, int w,
                                   int relu);
void EG_KERNEL(unpool2x2_rows)(float *dx, int ld, const float *dy, const uint8_t *code, int rows, int w);

/* -------------------------------------------------- copies, sums, im2col */

/* dst rows [r * dst_stride, + width) = (or += with add) src rows, r < rows. */
void EG_KERNEL(copy_rows)(float *dst, int dst_stride, const float *src, int src_stride, int rows, int width, int add);
/* The sum of n floats, in an order fixed by n alone; of count blocks of n
 * floats lying stride apart. */
float EG_KERNEL(sum)(const float *x, size_t n);
float EG_KERNEL(sum_blocks)(const float *x, size_t n, int count, size_t stride);
/* dst[p] (+= with add, else =) 0 + blocks[p] + blocks[stride + p] + ...
 * (count blocks, added in order) for p in [lo, hi): per-thread gradient
 * blocks summed in thread order. */
void EG_KERNEL(reduce_blocks)(float *dst, const float *blocks, size_t stride, int count, size_t lo, size_t hi, int add);
/* im2col for one image: x [C, H, W] -> col [C*k*k, OH*OW] (zero padding);
 * col2im, adding: dx [C, H, W] += scatter of dcol [C*k*k, OH*OW]. */
void EG_KERNEL(im2col)(float *col, const float *x, int C, int H, int W, int k, int stride, int pad, int OH, int OW);
void EG_KERNEL(col2im_add)(float *dx, const float *dcol, int C, int H, int W, int k, int stride, int pad, int OH,
                           int OW);

/* ---------------------------------------------------------- optimizers */

/* The updates of parameters [lo, hi) (src/train/optim.c computes the
 * step's coefficients). Adam, as PyTorch: d = g + wd p; m = b1 m + (1 - b1)
 * d; v = b2 v + (1 - b2) d^2; p -= step m / (sqrt(v) inv_bc2_sqrt + eps).
 * SGD: d = g + wd p; with momentum mu, m = (first ? d : mu m + d) and d =
 * nesterov ? d + mu m : m; p -= lr d. Then, with a mask, m, v and p are
 * zero where it is (a select, so no -0 is left). */
typedef struct {
    float lr, wd, b1, b2, eps, step, inv_bc2_sqrt, mu;
    int nesterov, first;
} eg_update_coefs;
void EG_KERNEL(adam_update)(float *p, const float *g, float *m, float *v, const float *mask, size_t lo, size_t hi,
                            const eg_update_coefs *c);
void EG_KERNEL(sgd_update)(float *p, const float *g, float *m, const float *mask, size_t lo, size_t hi,
                           const eg_update_coefs *c);

/* --------------------------------------------------------------- peak */

/* Independent chains of vector multiply-adds, iters times, their sum to
 * *out: returns the FLOPs done (peak.c). */
double EG_KERNEL(fma_peak)(long iters, float seed, volatile float *out);

/* ----------------------------------------------------------- the table */

/* Every kernel above, once each: the table's members and what table.c fills. */
#define EG_KERNEL_LIST(K)                                                                                          \
    K(gemm_nn) K(gemm_nn_set) K(gemm_nt) K(gemm_nn_rows) K(gemm_nn_rows_set) K(gemm_nt_batch) K(gemm_nt_batch_rows) \
    K(gemm_narrow_k4) K(gemm_nn_ref) K(gemm_nt_ref) K(small_conv_fits) K(small_conv_rows) K(small_conv_pool_rows)   \
    K(small_conv_pool_direct) K(lanes_conv) K(lanes_conv_csr) K(lanes_conv_coded) K(lanes_conv_grad_pooled)         \
    K(lanes_spread) K(lanes_zero_borders) K(lanes_linear) K(lanes_linear_csr) K(lanes_from_rows) K(transpose)       \
    K(transpose_to) K(transpose_tile) K(csr_build) K(csr_scratch) K(csr_matmul_t) K(csr_matmul_t_ref)              \
    K(csr_rows_nn) K(nm_max_kept) K(nm_build) K(nm_rows_nn) K(nm_scratch) K(nm_matmul_t) K(pool2x2_scratch)        \
    K(pool2x2_forward) K(pool2x2_backward) K(pool2x2_rows) K(pool2x2_rows_coded) K(unpool2x2_rows) K(copy_rows)     \
    K(sum) K(sum_blocks) K(reduce_blocks) K(im2col) K(col2im_add) K(adam_update) K(sgd_update) K(fma_peak)

#define EG_KERNEL_MEMBER(name) __typeof__(EG_KERNEL(name)) *name;
typedef struct {
    const char *name;  /* "avx512", "avx2", "neon", "generic" */
    int vl;            /* floats a vector, and images a lane group */
    EG_KERNEL_LIST(EG_KERNEL_MEMBER)
} eg_kernel_table;
#undef EG_KERNEL_MEMBER

/* The active variant's table (src/core/isa.c). */
extern const eg_kernel_table *eg_k;

#endif
