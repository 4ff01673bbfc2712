/* Private interfaces shared between edagari's modules: the op table and the kernels. */
#ifndef EG_INTERNAL_H
#define EG_INTERNAL_H

#include "edagari.h"

/* How an op treats the channels of its input, which is what dependency
 * groups follow. */
typedef enum {
    EG_CH_SOURCE,   /* input: channels come from the data */
    EG_CH_PRODUCE,  /* conv/linear: consumes input channels, produces its own */
    EG_CH_PASS,     /* relu/maxpool: output channel c is input channel c */
    EG_CH_FLATTEN,  /* flatten: channel c becomes features c*H*W .. (c+1)*H*W-1 */
    EG_CH_COUPLE,   /* add: channel c of every input and of the output is one channel */
} eg_channel_rule;

/* Attributes an op may take in a spec, as a bit set. */
enum { EG_ATTR_OUT = 1, EG_ATTR_KERNEL = 2, EG_ATTR_STRIDE = 4, EG_ATTR_PAD = 8, EG_ATTR_SHAPE = 16 };

typedef struct {
    const char *name;
    eg_channel_rule channels;
    int attrs;        /* EG_ATTR_* the spec may set */
    int required;     /* EG_ATTR_* the spec must set */
    int ninputs;      /* inputs it takes (0: one, or none for input) */
    /* Sets out_shape and parameter shapes from in_shape; a message on error. */
    int (*shape)(eg_node *nd, char *why, size_t whylen);
    /* Floats of saved-for-backward data per sample, and of scratch per
     * thread for a batch of n (either may be NULL: none). */
    size_t (*saved_floats)(const eg_node *nd);
    size_t (*scratch_floats)(const eg_node *nd, int n);
    /* Floats per sample it keeps in inference too (may be NULL: none), in
     * nd->saved: conv2d's zero-padded input planes, whose borders
     * eg_graph_prepare zeroes once (both modes). */
    size_t (*padded_floats)(const eg_node *nd);
    /* Floats of memory the threads of a training pass share for this node,
     * for up to `threads` threads (may be NULL: none), zeroed when
     * allocated; nd->shared points to it (NULL in inference). */
    size_t (*shared_floats)(const eg_node *nd, int threads);
    /* Both run inside one parallel region per pass, each thread on its own
     * images [lo, hi) of the batch; backward adds parameter gradients into
     * this thread's block (eg_tgrad). */
    void (*forward)(eg_graph *g, eg_node *nd, int lo, int hi);
    void (*backward)(eg_graph *g, eg_node *nd, int lo, int hi);
    /* Can apply a relu of its input itself (may be NULL: no). */
    int (*folds_relu)(const eg_node *nd);
    /* Channel hooks for surgery: slice arrays laid out like the node's
     * parameters (the parameters themselves, or their masks) to keep output
     * channels / input channels; the node's attributes are not changed. */
    void (*keep_out)(eg_node *nd, float **p, const int *keep, int nkeep);
    void (*keep_in)(eg_node *nd, float **p, const int *keep, int nkeep, int block);
} eg_op_def;

extern const eg_op_def *const eg_ops[EG_OP_COUNT];
extern const eg_op_def eg_op_input, eg_op_conv2d, eg_op_linear, eg_op_relu, eg_op_maxpool2d,
    eg_op_flatten;
extern const eg_op_def eg_op_batchnorm2d, eg_op_add, eg_op_gap;

/* Threads: wrappers so the code builds with and without OpenMP. */
int eg_thread_id(void);
int eg_thread_count(void);   /* threads a parallel region will get */
int eg_team_size(void);      /* threads in the current parallel region */
void eg_set_threads(int n);
int eg_core_count(void);     /* cores this process may run on (its CPU affinity) */
/* Every thread that computes a pass flushes denormal floats to zero (on x86,
 * as TensorFlow does by default) and restores its own mode afterwards:
 * eg_denormals_flush returns the mode eg_denormals_restore puts back. An
 * operation on a denormal costs ~100 cycles, and Adam's first moment of a
 * weight whose gradient stays zero decays into them (0.9^t): the second
 * epoch of SimpleCNN ran 10% slower than the first. */
unsigned eg_denormals_flush(void);
void eg_denormals_restore(unsigned mode);

/* The share [*lo, *hi) of `total` items that thread t of nt takes. */
static inline void eg_split(int total, int t, int nt, int *lo, int *hi)
{
    *lo = (int)((long)total * t / nt);
    *hi = (int)((long)total * (t + 1) / nt);
}

/* This thread's scratch space in g (eg_op_def.scratch_floats floats). */
static inline float *eg_scratch(eg_graph *g) { return g->scratch + g->scratch_per_thread * eg_thread_id(); }

/* This thread's gradient block for parameter p of nd. */
static inline float *eg_tgrad(eg_graph *g, const eg_node *nd, int p)
{
    return g->tgrads + g->nparam * eg_thread_id() + (size_t)(nd->grad[p] - g->grads);
}

static inline size_t eg_shape_size(eg_shape s) { return (size_t)s.c * s.h * s.w; }

/* Copies a [a, c, b] tensor keeping slices keep[] (ascending) of its middle axis into dst
 * [a, nkeep, b]; dst may be src. Every channel hook is this with different a, c, b. */
void eg_keep_slices(float *dst, const float *src, size_t a, size_t c, size_t b, const int *keep,
                    int nkeep);

/* Allocates zeroed parameter and gradient blocks (and, when the graph has
 * masks, a mask block of ones) for the current shapes and points every
 * node's views into them (the old blocks are freed). */
eg_status eg_graph_alloc_params(eg_graph *g, eg_error *err);

/* dst: a copy of src with its own parameter, buffer and mask blocks
 * (src/graph/clone.c). */
eg_status eg_graph_clone(eg_graph *dst, const eg_graph *src, eg_error *err);

/* Recipe keys of lsh merging, layer removal, protect=, floor= and agp
 * (src/recipe/stage_keys.c). eg_stage_key_more returns 1 when it took the
 * key, 0 when the key is not one of these, -1 for a bad value (why says
 * what); eg_stage_check_more checks a whole stage once its keys are read
 * and fills defaults: -1 on error, 1 for a prune method it owns, else 0. */
int eg_stage_key_more(eg_stage *s, const char *key, const char *v, char *why, size_t len);
int eg_stage_check_more(eg_stage *s, char *why, size_t len);

/* ------------------------------------------------------------------ json */

#define EG_JSON_DEPTH 16

/* Builds a JSON document in memory; keys are NULL inside arrays. */
typedef struct {
    char *buf;
    size_t len, cap;
    int depth, oom;
    int comma[EG_JSON_DEPTH], in_array[EG_JSON_DEPTH], scalars_only[EG_JSON_DEPTH];
} eg_json;

void eg_json_object(eg_json *j, const char *key);
void eg_json_object_end(eg_json *j);
void eg_json_array(eg_json *j, const char *key);
void eg_json_array_end(eg_json *j);
void eg_json_num(eg_json *j, const char *key, double v);
void eg_json_str(eg_json *j, const char *key, const char *v);
/* A prune stage's sizes: params_before/after, macs_before/after, seconds. */
void eg_json_sizes(eg_json *j, size_t p0, size_t p1, size_t m0, size_t m1, double seconds);
void eg_json_free(eg_json *j);

/* Prune stages of method=lsh and method=layer for the stage runner
 * (src/recipe/run_prune_more.c): run, print to out, fill the stage's JSON
 * object and write the history line into note. tag is "line N: " or "". */
eg_status eg_stage_prune_lsh(eg_graph *g, const eg_stage *s, eg_rng *rng, FILE *out, eg_json *j, const char *tag,
                             char *note, size_t nlen, eg_error *err);
eg_status eg_stage_prune_layer(eg_graph *g, const eg_stage *s, const eg_dataset *test, const int *protect, int nprotect,
                               FILE *out, eg_json *j, const char *tag, char *note, size_t nlen, eg_error *err);

/* Appends to the message of an error already set (err may be NULL) and
 * returns code, as eg_fail does. */
eg_status eg_fail_more(eg_error *err, eg_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Finite checks (src/core/finite.c): the first element of x[0..n) that is
 * a nan or an infinity, or n; and EG_ERR_NUMERIC naming the first such
 * parameter or batchnorm statistic of g, "<what>: conv1's weight [17 of
 * 36] is nan". */
size_t eg_first_nonfinite(const float *x, size_t n);
eg_status eg_graph_check_finite(const eg_graph *g, const char *what, eg_error *err);

/* Readers open files through these (src/io/file_read.c): without blocking,
 * then anything but a regular file (a folder, a FIFO, a device) is refused,
 * so a FIFO never hangs a reader and /dev/zero never fills memory. Errors
 * read "<path>: cannot open <what>: <why>", the why from eg_path_why.
 * eg_open_regular gives the descriptor (the caller closes it) and the
 * file's size; eg_check_regular only checks, for readers that open the
 * path themselves; eg_read_regular reads the whole file (at most max
 * bytes, else EG_ERR_FORMAT) into a malloc'ed buffer. */
eg_status eg_open_regular(const char *path, const char *what, int *fd, size_t *size, eg_error *err);
eg_status eg_check_regular(const char *path, const char *what, eg_error *err);
eg_status eg_read_regular(const char *path, const char *what, size_t max, uint8_t **buf, size_t *len, eg_error *err);
/* Why path could not be opened, errno e, into buf: "permission denied",
 * "a symlink loop ...", "no such folder DIR", "no such file", "DIR is not a
 * folder", ... */
const char *eg_path_why(const char *path, int e, char *buf, size_t len);

/* Writes to a temporary file beside path, syncs, then renames over path:
 * a failure never leaves a half-written file. */
eg_status eg_write_atomic(const char *path, const void *data, size_t len, eg_error *err);
/* The first half of that: data into tmp, flushed and synced (tmp is removed
 * on failure), for callers that rename several files together; tmp stays
 * held (removed if SIGINT, SIGTERM or SIGHUP ends the process) until the
 * caller renames or removes it and calls eg_temp_release (temp_file.c). */
eg_status eg_write_temp(const char *path, const char *tmp, const void *data, size_t len, eg_error *err);
void eg_temp_hold(const char *tmp);
void eg_temp_release(const char *tmp);
/* Graceful stops (temp_file.c): while eg_stop_catch(1) is in force, the
 * first SIGINT or SIGTERM is only recorded, and eg_stop_signal() returns it
 * (0 before one came); the training loop stops after the step in progress
 * and returns EG_ERR_INTERRUPTED.
 * A second signal, or one outside, ends the process at once. */
void eg_stop_catch(int on);
int eg_stop_signal(void);
/* Records sig as the stop signal unless one came already (under MPI: a
 * stop another rank caught). */
void eg_stop_request(int sig);

/* Model files with a checkpoint's sections (src/io/model_file.c): saved
 * with o and pos (both, or neither: a plain model file); loaded, o and pos
 * (may be NULL) filled when the file has them, *has_ckpt (may be NULL)
 * saying whether it does. eg_model_parse reads a file already in memory,
 * named path in messages (the fuzz harness calls it). On failure nothing
 * is left to free. */
eg_status eg_model_save_sections(const eg_graph *g, const eg_optim *o, const eg_train_position *pos, const char *path,
                                 eg_error *err);
eg_status eg_model_load_sections(eg_graph *g, eg_optim *o, eg_train_position *pos, int *has_ckpt, const char *path,
                                 eg_error *err);
eg_status eg_model_parse(eg_graph *g, eg_optim *o, eg_train_position *pos, int *has_ckpt, const uint8_t *b, size_t n,
                         const char *path, eg_error *err);
/* The checkpoint sections' bytes (src/io/checkpoint.c; malloc'ed, NULL
 * when out of memory), and their readers: the section [off, off + len) of
 * the file b, checked against g, every problem named by its byte offset. */
uint8_t *eg_ckpt_encode_optim(const eg_optim *o, size_t *len);
uint8_t *eg_ckpt_encode_position(const eg_train_position *p, size_t *len);
eg_status eg_ckpt_read_optim(const char *path, const uint8_t *b, size_t off, size_t len, const eg_graph *g,
                             eg_optim *o, eg_error *err);
eg_status eg_ckpt_read_position(const char *path, const uint8_t *b, size_t off, size_t len, eg_train_position *p,
                                eg_error *err);

/* The pieces of a pass, for callers that run a whole training step in one
 * parallel region (src/train/loop.c); not for inference over more images
 * than its chunk buffers hold (g->chunk_rows: eg_graph_forward stages those). Each is called by every thread of the
 * region with its own rows [lo, hi) of the batch. */
void eg_graph_set_input(eg_graph *g, const float *x);
void eg_graph_forward_part(eg_graph *g, int lo, int hi);
/* Backward from the output's dy into this thread's own gradient block. */
void eg_graph_backward_part(eg_graph *g, int lo, int hi);
/* After a barrier: parameters [plo, phi) of the nt thread blocks, summed in
 * thread order, added to (add) or written into g->grads. */
void eg_graph_reduce_grads(eg_graph *g, int plo, int phi, int nt, int add);
/* eg_graph_reduce_grads (add = 0) of [lo, hi) then, if o, eg_optim_update of
 * it, chunk by chunk in one pass (src/train/fused_update.c); same bits. */
void eg_reduce_and_update(eg_graph *g, eg_optim *o, size_t lo, size_t hi, int nt);

/* Cross-entropy of `rows` rows: returns the sum of their losses and, if
 * dlogits is not NULL, writes their gradient of the mean over n rows. */
double eg_xent_rows(const float *logits, const uint8_t *labels, int rows, int k, int n, float *dlogits);

/* EG_ERR_ARG unless ds's images have g's input shape and every label is
 * one of g's outputs; the message names the data file (and the label's
 * byte) when ds was read from one. */
eg_status eg_data_fits(const eg_graph *g, const eg_dataset *ds, eg_error *err);

/* The gradient of the mean cross-entropy over the samples order[0..n) of ds
 * (under MPI: the whole batch's, summed across ranks) into g->grads, with no
 * update; returns the mean loss. g is prepared for training at a batch of
 * at least n; xb, labels and losses as eg_train_epoch sizes them. */
double eg_batch_gradient(eg_graph *g, const eg_dataset *ds, const int32_t *order, int n, float *xb,
                         uint8_t *labels, double *losses);

/* The update of parameters [lo, hi) for the optimizer's current step. */
void eg_optim_update(eg_optim *o, float *params, const float *grads, size_t lo, size_t hi);

/* The penalty's share of a training step on parameters [lo, hi), called by
 * each thread on its own range (src/train/penalty.c). eg_penalty_grad adds
 * l1 * sign(w) + l2 * w to the selected parameters' grads and returns the
 * penalty term over the range, summed in double in an order fixed by the
 * range;
 * eg_penalty_prox soft-thresholds the selected parameters by lr * prox
 * after the optimizer's update. */
double eg_penalty_grad(const eg_penalty *p, const float *params, float *grads, size_t lo, size_t hi);
void eg_penalty_prox(const eg_penalty *p, float *params, float lr, size_t lo, size_t hi);

/* --------------------------------------------------------------- kernels */

/* C[M x N] += A[M x K] * B[K x N]; row-major with leading dimensions. */
void eg_gemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                int ldc);
/* C = A B, C never read: the same bits as clearing C and eg_gemm_nn. */
void eg_gemm_nn_set(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
/* C[M x N] += A[M x K] * B[N x K]^T */
void eg_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                int ldc);
/* The same two products with row k of B at B + boff[k] (k < K for nn, the
 * N rows of B for nt) instead of at a fixed stride. */
void eg_gemm_nn_rows(int M, int N, int K, const float *A, int lda, const float *B, const ptrdiff_t *boff, float *C,
                     int ldc);
/* The row-offset nn product written over C, not added: C = bias[row] + A B,
 * or just A B when bias is NULL; the same bits as clearing or filling C
 * with the bias first, and one pass over C fewer. */
void eg_gemm_nn_rows_set(int M, int N, int K, const float *A, int lda, const float *B, const ptrdiff_t *boff,
                         const float *bias, float *C, int ldc);
void eg_gemm_nt_batch_rows(int nseg, int M, int N, int K, const float *A, int lda, size_t sa, const float *B,
                           const ptrdiff_t *boff, size_t sb, float *C, int ldc);
/* C[M x N] += sum over s < nseg of A_s * B_s^T with A_s = A + s*sa, B_s = B + s*sb:
 * a weight gradient summed over the images of a batch in one call. */
void eg_gemm_nt_batch(int nseg, int M, int N, int K, const float *A, int lda, size_t sa, const float *B,
                      int ldb, size_t sb, float *C, int ldc);
/* A stride-1 KS x KS convolution's row-offset product with M outputs and
 * C inputs when eg_small_conv_fits (3x3 with M C <= 2, 5x5 with M = C = 1;
 * never on builds without AVX-512): out [M x oh wp] = bias + W x the
 * shifted views of the C padded planes X (plane floats apart, rows wp
 * wide), the same bits as eg_gemm_nn_rows_set on those views
 * (small_conv_rows.c). It reads whole vectors past a row's end: a plane
 * holds at least (oh + KS - 1) wp + KS + VL floats. */
int eg_small_conv_fits(int outputs, int inputs, int kernel);
void eg_small_conv_rows(int M, int C, int KS, int oh, int wp, size_t plane, const float *W, const float *bias,
                        const float *X, float *out);
/* The same conv with its output pooled 2x2 (relu'd first if relu) as it is
 * computed, never stored whole (inference): output m's pooled rows go to
 * dst[m], ldy apart, w / 2 of them a row for an output w wide; oh even.
 * The bits of eg_small_conv_rows followed by eg_pool2x2_rows. */
void eg_small_conv_pool_rows(int M, int C, int KS, int oh, int wp, int w, size_t plane, const float *W,
                             const float *bias, const float *X, int relu, float *const dst[2], int ldy);
/* The same from the unpadded C x h x (wp - pad) input X, read in place as
 * if it had pad zeros around it (h = oh + KS - 1 - 2 pad): the bits of
 * copying it into zero-bordered planes, then eg_small_conv_pool_rows. */
void eg_small_conv_pool_direct(int M, int C, int KS, int oh, int wp, int w, int pad, const float *W,
                               const float *bias, const float *X, int relu, float *const dst[2], int ldy);
/* Batch lanes (src/graph/lanes.c; AVX-512 only): VL images at once, each
 * value a vector of theirs. A stride-1 KS x KS conv (KS <= EG_LANES_MAX_KERNEL)
 * with M outputs of C padded planes of xh x xw vectors, oh x ow outputs;
 * with pool, pooled 2x2 (oh, ow even), relu'd first if relu; without,
 * relu'd if relu. Output m's (y, x), pooled or not, at y + m yplane +
 * (y yw + x) VL. The bits of the row-offset product and the fused pool or
 * the relu for each image; on a CSR copy (C KS KS <= EG_LANES_MAX_TERMS),
 * those of its CSR product (lanes_conv.c). */
#define EG_LANES_MAX_KERNEL 5
#define EG_LANES_MAX_TERMS 2048
void eg_lanes_conv(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw, const float *w,
                   const float *bias, int pool, int relu, float *y, int yw, size_t yplane);
/* The same, pooled as training pools (pool2x2_rows.c: the first maximum
 * in scan order, relu'd if relu), and output m's pooled (y, x) winner codes
 * (0-3, 4 where the relu cut it) as VL bytes at codes + ((m oh/2 + y)
 * ow/2 + x) VL. */
void eg_lanes_conv_coded(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw, const float *w,
                         const float *bias, int relu, float *y, int yw, size_t yplane, uint8_t *codes);
/* Its weight and bias gradients: dw [M, C, KS, KS] += the sum over the
 * VL images and every conv output (y, x) of dy there times x[c][y + ky][x
 * + kx], db [M] += the sums of dy, where dy is the pooled gradient dyp
 * ([M][oh/2][ow/2] vectors) at each window's winner (codes as above), zero
 * elsewhere (lanes_conv_grad.c). */
void eg_lanes_conv_grad_pooled(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw, const float *dyp,
                               const uint8_t *codes, float *dw, float *db);
/* n floats of each of VL rows (src, ld floats apart) into lanes: float s
 * of each to row r0 + s / rw, column c0 + s % rw of a plane of rows xw
 * vectors wide (transposing VL floats at a time, each vector straight to
 * its place; through a block and a copy, SimpleCNN with 75% of its
 * channels cut took 355 instead of 330 ns an image, batch 1000). */
void eg_lanes_from_rows(float *plane, int xw, const float *src, size_t ld, int n, int rw, int r0, int c0);
void eg_lanes_conv_csr(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw, const int32_t *rowptr,
                       const int32_t *col, const float *val, const float *bias, int pool, int relu, float *y, int yw,
                       size_t yplane);
/* For G (1 .. EG_LANES_GROUPS) groups, x and y stride floats apart:
 * y [out vectors] = bias + W x for x [in vectors], relu'd if relu: the
 * bits of linear.c's dense product for each image; and on the layer's CSR
 * copy, the bits of eg_csr_matmul_t (lanes_linear.c). */
#define EG_LANES_GROUPS 2
void eg_lanes_linear(int G, int out, int in, const float *w, const float *bias, const float *x, size_t stride,
                     int relu, float *y);
void eg_lanes_linear_csr(int G, int out, const int32_t *rowptr, const int32_t *col, const float *val,
                         const float *bias, const float *x, size_t stride, int relu, float *y);
/* The K4 of gemm.c's product for linear layers of N <= VL outputs: where
 * its order of terms starts (see one_vector). */
int eg_gemm_narrow_k4(int N, int ldb, int K);
/* The lane floats a thread needs to run g in lanes (EG_LANES_GROUPS
 * groups), 0 if it cannot. */
size_t eg_lanes_floats(const eg_graph *g);
/* Runs the whole groups of VL rows in [lo, hi) of an inference forward in
 * lanes, if g runs in lanes: rows of the input at x, of the output at y;
 * returns the first row not done. */
int eg_lanes_forward(eg_graph *g, const float *x, float *y, int lo, int hi);
/* dst [cols x rows] (leading dimension ldd) = src [rows x cols] (lds) transposed. */
void eg_transpose(float *dst, int ldd, const float *src, int lds, int rows, int cols);
/* The VL rows (lds apart) of src's first cols (<= VL) columns transposed:
 * column j, a vector, to to[j]. */
void eg_transpose_to(float *const *to, const float *src, int lds, int cols);
/* xt [in, VL] = the first m (<= VL) rows of x [., ldx] transposed: lane r
 * of xt + c VL is x[r][c], lanes from m on zero. */
void eg_transpose_tile(float *xt, const float *x, int ldx, int m, int in);
/* The plain triple loops the fast kernels are tested against. */
void eg_gemm_nn_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                    int ldc);
void eg_gemm_nt_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                    int ldc);

/* Compressed sparse rows of a dense weight w [out, in]: the weights that are
 * non-zero and kept by mask (may be NULL: every non-zero), row by row in
 * column order. rowptr has out + 1 entries, col and val room for every
 * weight; returns the number kept. */
size_t eg_csr_build(int out, int in, const float *w, const float *mask, int32_t *rowptr, int32_t *col, float *val);
/* y[n, out] += x[n, in] W^T for W in CSR form, with eg_csr_scratch(in) floats
 * of scratch; the reference twin is the plain loop in double. */
size_t eg_csr_scratch(int in);
void eg_csr_matmul_t(int n, int out, int in, const float *x, int ldx, const int32_t *rowptr, const int32_t *col,
                     const float *val, float *y, int ldy, float *scratch);
void eg_csr_matmul_t_ref(int n, int out, int in, const float *x, int ldx, const int32_t *rowptr, const int32_t *col,
                         const float *val, float *y, int ldy);
/* C[M x N] += A B for A [M x K] in CSR and row k of B at B + boff[k] (or
 * B + k*ldb when boff is NULL): a pruned convolution's product. */
void eg_csr_rows_nn(int M, int N, const int32_t *rowptr, const int32_t *col, const float *val, const float *B,
                    int ldb, const ptrdiff_t *boff, float *C, int ldc);
/* N:M weights (src/kernels/nm.c): the most kept weights in any group of m of
 * w [R, K] (kept: non-zero and mask, which may be NULL, not 0); the packing
 * into n slots per group (val, idx [R, ceil(K/m), n]; -1 when a group keeps
 * more than n); C[M x N] += A B with rows of B as for eg_csr_rows_nn; and
 * y[rows, out] += x W^T with eg_nm_scratch(in) floats of scratch. */
int eg_nm_max_kept(int R, int K, int m, const float *w, const float *mask);
int eg_nm_build(int R, int K, int n, int m, const float *w, const float *mask, float *val, uint8_t *idx);
void eg_nm_rows_nn(int M, int N, int K, int n, int m, const float *val, const uint8_t *idx, const float *B, int ldb,
                   const ptrdiff_t *boff, float *C, int ldc);
size_t eg_nm_scratch(int in);
void eg_nm_matmul_t(int rows, int out, int in, int n, int m, const float *x, int ldx, const float *val,
                    const uint8_t *idx, float *y, int ldy, float *scratch);
/* Chooses node nd's inference path from its kept weights (CSR already built
 * by eg_graph_build_copies), building its N:M copy in nm_room (eg_sparse_nm_floats
 * floats) when that path is taken: sets nd->csr, nd->nm_*. */
size_t eg_sparse_nm_floats(const eg_node *nd);
void eg_sparse_choose(eg_graph *g, eg_node *nd, size_t kept, float *nm_room);
/* Fills g's inference copies (arena room reserved by eg_graph_prepare):
 * every linear node's transposed weight, and the CSR copies of masked
 * conv2d and linear nodes, deciding which use them; called by every
 * eg_graph_prepare (in training it only clears them). */
void eg_graph_build_copies(eg_graph *g);

/* 2x2, stride 2 max pooling of an H x W plane (H, W even; planes may be
 * stacked) into y [H/2 x W/2]; code (may be NULL) gets each window's winner
 * 0..3 in scan order. With relu, y = max(0, max) and a window with no
 * positive value gets winner 4. Backward writes (or with add, adds to)
 * every element of dx. Both need eg_pool2x2_scratch(H, W) floats of scratch. */
size_t eg_pool2x2_scratch(int H, int W);
void eg_pool2x2_forward(float *y, int32_t *code, float *scratch, const float *x, int H, int W, int relu);
void eg_pool2x2_backward(float *dx, const float *dy, const int32_t *code, float *scratch, int H, int W, int add);

/* 2x2 stride-2 max pool (relu after it when relu) of `rows` rows of w
 * floats lying ld apart (rows and w even; stacked planes of even height pool
 * as one), into rows/2 rows of w/2 floats lying ldy apart (pool2x2_rows.c;
 * ldy > w/2 writes into a padded plane). The coded form,
 * for training, also writes each window's winner as eg_pool2x2_forward does,
 * one byte each; eg_unpool2x2_rows is its backward: it writes all `rows`
 * rows of w floats (ld apart) of the input gradient, dy at each winner and
 * zero elsewhere. */
void eg_pool2x2_rows(float *y, int ldy, const float *x, int ld, int rows, int w, int relu);
void eg_pool2x2_rows_coded(float *y, int ldy, uint8_t *code, const float *x, int ld, int rows, int w, int relu);
void eg_unpool2x2_rows(float *dx, int ld, const float *dy, const uint8_t *code, int rows, int w);
/* Marks each conv2d whose only consumer is a 2x2 pool (through a folded relu
 * or not), unless g->unfused: the conv writes the pooled output into the
 * pool's y (and in training the winners into its argmax) and takes its own
 * gradient from the pool's dy; the pool's forward and backward do nothing
 * (pool_fusion.c). */
void eg_graph_fuse_pools(eg_graph *g);
/* Whether a conv2d reads its input as zero-padded planes in nd->saved
 * (stride 1: the row-offset product of conv2d.c), which a fused pool before
 * it can write directly. */
int eg_conv2d_pads_input(const eg_node *nd);
/* The end of the images of [lo, hi) a training pass of conv2d node nd
 * runs in batch lanes (whole groups of VL from lo; lo when none). */
int eg_conv2d_lanes_end(const eg_graph *g, const eg_node *nd, int lo, int hi);
/* dst rows [r * dst_stride, + width) = (or += with add) src rows, r < rows. */
void eg_copy_rows(float *dst, int dst_stride, const float *src, int src_stride, int rows, int width, int add);

/* The sum of n floats, vectorized, in an order fixed by n alone. */
float eg_sum(const float *x, size_t n);
/* The sum of count blocks of n floats lying stride apart. */
float eg_sum_blocks(const float *x, size_t n, int count, size_t stride);

/* im2col for one image: x [C, H, W] -> col [C*k*k, OH*OW] (zero padding). */
void eg_im2col(float *col, const float *x, int C, int H, int W, int k, int stride, int pad, int OH,
               int OW);
/* col2im, adding: dx [C, H, W] += scatter of dcol [C*k*k, OH*OW]. */
void eg_col2im_add(float *dx, const float *dcol, int C, int H, int W, int k, int stride, int pad,
                   int OH, int OW);


/* Monotonic wall clock in seconds. */
double eg_now(void);

#endif
