/* Private interfaces shared between edagari's modules: every module's
 * header, the op table, threads, reports and atomic writes. */
#ifndef EG_INTERNAL_H
#define EG_INTERNAL_H

#include "edagari.h"
#include "edagari_plot.h"
#include "edagari_recipe.h"
#include "edagari_sensitivity.h"
#include "graph/graph.h"
#include "io/io.h"
#include "kernels/kernels.h"
#include "prune/prune.h"
#include "train/train.h"

/* How an op treats the channels of its input, which is what dependency
 * groups follow. */
typedef enum {
    EG_CH_SOURCE,   /* input: channels come from the data */
    EG_CH_PRODUCE,  /* conv/linear: consumes input channels, produces its own */
    EG_CH_PASS,     /* relu/maxpool: output channel c is input channel c */
    EG_CH_FLATTEN,  /* flatten: channel c becomes features c*H*W .. (c+1)*H*W-1 */
    EG_CH_COUPLE,   /* add: channel c of every input and of the output is one channel */
} eg_channel_rule;

/* Attributes an op may take in a spec, as a bit set: bit a is eg_attrs[a]. */
enum {
    EG_ATTR_OUT = 1, EG_ATTR_KERNEL = 2, EG_ATTR_STRIDE = 4, EG_ATTR_PAD = 8, EG_ATTR_SHAPE = 16,
    EG_ATTR_CEIL = 32,
};
#define EG_ATTR_COUNT 6

/* A spec attribute: its name, the eg_node int it sets (shape: in_shape
 * instead), the least value it takes, and the value a spec written back
 * leaves it out at (-1: always written). Kept in graph/spec.c. */
typedef struct {
    const char *name;
    size_t offset;
    int min, omit_at;
} eg_attr_def;
extern const eg_attr_def eg_attrs[EG_ATTR_COUNT];

/* ONNX attributes an op's ONNX node carries, as a bit set: kernel_shape,
 * strides, pads (symmetric), dilations (1) from the node's kernel, stride
 * and pad; axis = 1; transB = 1; epsilon = 1e-5; count_include_pad = 1;
 * group = the input's channels (a depthwise Conv); ceil_mode from the
 * node's ceil (io/onnx_export.c). */
enum {
    EG_ONNX_KERNEL = 1, EG_ONNX_STRIDES = 2, EG_ONNX_PADS = 4, EG_ONNX_DILATIONS = 8,
    EG_ONNX_AXIS1 = 16, EG_ONNX_TRANSB = 32, EG_ONNX_EPSILON = 64, EG_ONNX_COUNT_PAD = 128,
    EG_ONNX_GROUP = 256, EG_ONNX_CEIL = 512,
};

/* The op's ONNX node, both ways. */
typedef struct {
    const char *type;      /* its op_type ("Conv"); NULL: it has none (input) */
    unsigned attrs;        /* EG_ONNX_* */
    const char *inits[4];  /* the initializers' name suffixes: its parameters, then its buffers */
    int rank;              /* its output's rank in ONNX: 4 ([N, C, H, W]), 2 ([N, features]), 0: its input's */
    int needs_4d;          /* its input must be [N, C, H, W] */
    int flattens;          /* a 4-D input is flattened first (Gemm takes [N, features]) */
    /* a one-input op without parameters or attributes, imported from its
     * op_type alone (io/onnx_import.c): relu, sigmoid; or from its op_type
     * and the values of its constant inputs (relu6: Clip, min 0, max 6) */
    int plain;
    float consts[2];       /* scalar inputs after x, exported as initializers and */
    int nconsts;           /* matched on import: Clip's min and max */
    int opset;             /* the opset its op_type needs, when above the export's default (HardSwish: 14) */
} eg_onnx_form;

/* How the C export (io/export_c.c) places an op's output: a new tensor;
 * over its input (when nothing else reads that); a new tensor or over its
 * input, whichever needs less memory (output j reads only inputs j and
 * later); or the same floats, nothing moved. 0: no C export. */
typedef enum { EG_C_NONE, EG_C_NEW, EG_C_OVER_INPUT, EG_C_NEW_OR_OVER, EG_C_SAME } eg_c_place;

typedef struct eg_csrc eg_csrc;  /* the C source being written (io/csrc.h) */

typedef struct {
    eg_c_place place;
    int weights;  /* param 0 is a weight matrix (rows: outputs) the export stores dense or CSR, param 1 a bias */
    /* Writes the node's const arrays besides the weights (may be NULL). */
    void (*params)(eg_csrc *s, const eg_node *nd);
    /* Nonzero with why (naming the node) when the node's values cannot be
     * exported (may be NULL; weights and biases are checked finite for every op). */
    int (*check)(const eg_node *nd, char *why, size_t len);
    /* Declares the kernels the node calls (eg_csrc_kernel) and writes its
     * call into NAME_infer: x (x2: add's second input) to y; flow says
     * where its tensors are, for the comment. */
    void (*code)(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2, const char *y,
                 const char *flow);
    /* The node's place when it differs from node to node (may be NULL: place). */
    eg_c_place (*place_of)(const eg_node *nd);
} eg_c_form;

typedef struct {
    const char *name;
    const char *summary;   /* what it computes, for help texts: "max(x, 0)" */
    eg_channel_rule channels;
    int scales;            /* commutes with a positive scale of each channel (relu, pooling,
                            * flatten): LSH merging may fold a unit into its twin across it */
    int moves_zero;        /* f(0) != 0 (sigmoid): a removed channel's zeros would reach its
                            * consumers as a constant, so channels cannot be removed through it */
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
     * its step's saved block: conv2d's zero-padded input planes, whose borders
     * eg_graph_prepare zeroes once (both modes). */
    size_t (*padded_floats)(const eg_node *nd);
    /* Floats of memory the threads of a training pass share for this node,
     * for up to `threads` threads (may be NULL: none), zeroed when
     * allocated; its step's shared points to it (NULL in inference). */
    size_t (*shared_floats)(const eg_node *nd, int threads);
    /* Both run inside one parallel region per pass, each thread on its own
     * images [lo, hi) of the batch, with the node's step s of the plan
     * (buffers, fusion, kernel); backward adds parameter gradients into this
     * thread's block (eg_tgrad). */
    void (*forward)(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi);
    void (*backward)(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi);
    /* Can apply a relu of its input itself (may be NULL: no). */
    int (*folds_relu)(const eg_node *nd);
    /* Channel hooks for surgery: slice arrays laid out like the node's
     * parameters (the parameters themselves, or their masks) to keep output
     * channels / input channels; the node's attributes are not changed. */
    void (*keep_out)(eg_node *nd, float **p, const int *keep, int nkeep);
    void (*keep_in)(eg_node *nd, float **p, const int *keep, int nkeep, int block);
    eg_onnx_form onnx;
    eg_c_form c;
} eg_op_def;

/* For the elementwise ops (layers/registry.c): the shape rule (out = in),
 * and the C export's call of kernel `name` (its text: a function
 * name(const float *x, float *y, long n)) over the node's input. */
int eg_elementwise_shape(eg_node *nd, char *why, size_t whylen);
void eg_elementwise_c(eg_csrc *s, const eg_node *nd, const char *name, const char *text, const char *x, const char *y,
                      const char *flow);

/* The op table, indexed by eg_op_type (layers/registry.c). */
extern const eg_op_def *const eg_ops[EG_OP_COUNT];
/* The op named name, its type in *type (may be NULL); NULL when none is. */
const eg_op_def *eg_op_find(const char *name, eg_op_type *type);
/* The names of the ops keep takes (NULL: every op), or their ONNX op_types
 * when they have one (each once), sep between them, snprintf-style into buf. */
void eg_op_names(char *buf, size_t len, const char *sep, int onnx, int (*keep)(const eg_op_def *op));

/* Threads: wrappers so the code builds with and without OpenMP. */
int eg_thread_id(void);
int eg_thread_count(void);   /* threads a parallel region will get */
int eg_team_size(void);      /* threads in the current parallel region */
void eg_set_threads(int n);
int eg_core_count(void);     /* cores this process may run on (its CPU affinity) */
/* Every thread that computes a pass flushes denormal floats to zero (on x86
 * and aarch64, as TensorFlow does by default) and restores its own mode
 * afterwards: eg_denormals_flush returns the mode eg_denormals_restore puts
 * back. An operation on a denormal costs ~100 cycles, and Adam's first
 * moment of a weight whose gradient stays zero decays into them (0.9^t),
 * so a second epoch would run slower than the first. */
unsigned eg_denormals_flush(void);
void eg_denormals_restore(unsigned mode);

/* The share [*lo, *hi) of `total` items that thread t of nt takes. */
static inline void eg_split(int total, int t, int nt, int *lo, int *hi)
{
    *lo = (int)((long)total * t / nt);
    *hi = (int)((long)total * (t + 1) / nt);
}

/* This thread's scratch space in g (eg_op_def.scratch_floats floats). */
static inline float *eg_scratch(eg_graph *g) { return g->plan.scratch + g->plan.scratch_per_thread * eg_thread_id(); }

/* This thread's gradient block for parameter p of nd. */
static inline float *eg_tgrad(eg_graph *g, const eg_node *nd, int p)
{
    return g->plan.tgrads + g->nparam * eg_thread_id() + (size_t)(nd->grad[p] - g->grads);
}

static inline size_t eg_shape_size(eg_shape s) { return (size_t)s.c * s.h * s.w; }

/* The window of pool output (oy, ox) clipped to the input plane: rows
 * [*y0, *y1), columns [*x0, *x1), from the node's kernel, stride and pad. */
static inline void eg_pool_window(const eg_node *nd, int oy, int ox, int *y0, int *y1, int *x0, int *x1)
{
    int k = nd->kernel, top = oy * nd->stride - nd->pad, left = ox * nd->stride - nd->pad;
    *y0 = top < 0 ? 0 : top, *x0 = left < 0 ? 0 : left;
    *y1 = top + k > nd->in_shape.h ? nd->in_shape.h : top + k;
    *x1 = left + k > nd->in_shape.w ? nd->in_shape.w : left + k;
}

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
 * object and write the history line into note. tag is "line N: " or "";
 * layer ranking reads test, the set called set ("validation" or "test"). */
eg_status eg_stage_prune_lsh(eg_graph *g, const eg_stage *s, eg_rng *rng, FILE *out, eg_json *j, const char *tag,
                             char *note, size_t nlen, eg_error *err);
eg_status eg_stage_prune_layer(eg_graph *g, const eg_stage *s, const eg_dataset *test, const char *set, const int *protect,
                               int nprotect, FILE *out, eg_json *j, const char *tag, char *note, size_t nlen, eg_error *err);

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

/* -------------------------------------------------- running the graph */

/* The lane floats a thread needs to run g in lanes (EG_LANES_GROUPS
 * groups of eg_k->vl images), 0 if it cannot. */
size_t eg_lanes_floats(const eg_graph *g);
/* Runs the whole groups of VL rows in [lo, hi) of an inference forward in
 * lanes, if g runs in lanes: rows of the input at x, of the output at y;
 * returns the first row not done. */
int eg_lanes_forward(eg_graph *g, const float *x, float *y, int lo, int hi);
/* Whether a conv2d reads its input as zero-padded planes in its saved block
 * (stride 1: the row-offset product of conv2d.c), which a fused pool before
 * it can write directly. */
int eg_conv2d_pads_input(const eg_node *nd);
/* Whether conv2d node nd, fused with its pool, has the shape training in
 * batch lanes takes (the planner decides whether it does). */
int eg_conv2d_trains_in_lanes(const eg_graph *g, const eg_node *nd);
/* The end of the images of [lo, hi) a training pass of a conv2d step runs
 * in batch lanes (whole groups of eg_k->vl from lo; lo when none). */
int eg_conv2d_lanes_end(const eg_step *s, int lo, int hi);
/* Frees a plan's steps and arena (eg_graph_free calls it). */
void eg_plan_free(eg_plan *p);

/* The table of a variant this CPU runs, by name, or NULL (tests run
 * every variant's kernels side by side). */
const eg_kernel_table *eg_isa_table(const char *name);

/* Monotonic wall clock in seconds. */
double eg_now(void);

#endif
