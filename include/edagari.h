/* edagari: train, prune, retrain and evaluate small neural networks.
 *
 * Conventions: tensors are float32, row-major, NCHW. Functions that read the
 * outside world (files, specs, recipes, flags) return an eg_status and fill an
 * eg_error whose message names the file, the line or byte offset, what was
 * expected and what was found. Whoever creates an object frees it with the
 * matching _free function. */
#ifndef EDAGARI_H
#define EDAGARI_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* ---------------------------------------------------------------- errors */

typedef enum {
    EG_OK = 0,
    EG_ERR_IO,      /* a file could not be opened, read or written */
    EG_ERR_FORMAT,  /* a data file is malformed (IDX header, counts, sizes) */
    EG_ERR_SPEC,    /* a model spec is malformed or its shapes are impossible */
    EG_ERR_RECIPE,  /* a recipe is malformed or names something that does not exist */
    EG_ERR_ARG,     /* a bad argument: flag, amount, layer name */
    EG_ERR_NOMEM,
    EG_ERR_NUMERIC,     /* a loss, parameter or statistic is not finite (training diverged) */
    EG_ERR_INTERRUPTED, /* SIGINT or SIGTERM stopped training after a step (eg_stop_signal) */
} eg_status;

typedef struct {
    eg_status code;
    char msg[1024];
} eg_error;

/* Sets err (if not NULL) and returns code, so callers can `return eg_fail(...)`. */
eg_status eg_fail(eg_error *err, eg_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------ rng */

/* xoshiro256**: small, fast, and the same bits on every platform. */
typedef struct { uint64_t s[4]; } eg_rng;

void     eg_rng_seed(eg_rng *r, uint64_t seed);
uint64_t eg_rng_next(eg_rng *r);
float    eg_rng_uniform(eg_rng *r);                    /* [0, 1) */
float    eg_rng_range(eg_rng *r, float lo, float hi);  /* [lo, hi) */
uint32_t eg_rng_below(eg_rng *r, uint32_t n);          /* [0, n), unbiased */
void     eg_rng_shuffle(eg_rng *r, int32_t *a, int n); /* Fisher-Yates */

/* ----------------------------------------------------------------- data */

/* A labelled image set: images normalised once at load, labels 0..classes-1. */
typedef struct {
    int n, c, h, w;   /* n samples of c x h x w */
    float *x;         /* [n, c, h, w], normalised */
    uint8_t *y;       /* [n] */
    /* the files it was read from, for messages ("" when built in memory) */
    char images_path[1024], labels_path[1024];
} eg_dataset;

/* Reads an IDX image file (ubyte, 3 dims) and its label file (ubyte, 1 dim),
 * raw or gzip (zlib detects it), checks magic numbers, sizes and that the
 * counts agree, and normalises x = (pixel/255 - mean) / std. Only regular
 * files are read; each header is checked against the file's size (for
 * gzip: against the most it can inflate to, and the stream is inflated no
 * further than the header says) before the payload is. */
eg_status eg_dataset_load_idx(eg_dataset *ds, const char *images_path, const char *labels_path,
                              float mean, float std, eg_error *err);

/* Loads the MNIST-layout pair from dir: "<prefix>-images-idx3-ubyte" and
 * "<prefix>-labels-idx1-ubyte", each raw or with ".gz" appended. prefix is
 * "train" or "t10k". A folder that is missing, unreadable or not a folder
 * is named as such; only missing files get the hint to fetch MNIST. */
eg_status eg_dataset_load_dir(eg_dataset *ds, const char *dir, const char *prefix,
                              float mean, float std, eg_error *err);
void eg_dataset_free(eg_dataset *ds);

/* ---------------------------------------------------------------- graph */

typedef enum {
    EG_OP_INPUT,
    EG_OP_CONV2D,
    EG_OP_LINEAR,
    EG_OP_RELU,
    EG_OP_MAXPOOL2D,
    EG_OP_FLATTEN,
    EG_OP_BATCHNORM2D,
    EG_OP_ADD,
    EG_OP_GAP,
    EG_OP_COUNT
} eg_op_type;

typedef struct { int c, h, w; } eg_shape;  /* per sample; features are c x 1 x 1 */

#define EG_NAME_MAX 32
#define EG_MAX_INPUTS 2
#define EG_MAX_PARAMS 2

/* One named node of the model DAG. Parameters and their gradients are views
 * into the graph's flat blocks; y/dy are views into the graph's arena. */
typedef struct eg_node {
    char name[EG_NAME_MAX];
    eg_op_type op;
    int ninputs, inputs[EG_MAX_INPUTS];  /* indices of earlier nodes */
    int line;                            /* spec line, for messages */
    /* attributes (each op reads those it declares) */
    int out;       /* conv: output channels; linear: output features */
    int kernel, stride, pad;
    eg_shape in_shape, out_shape;
    /* parameters: weight then bias */
    int nparams;
    int pdims[EG_MAX_PARAMS], pshape[EG_MAX_PARAMS][4];
    size_t psize[EG_MAX_PARAMS];
    float *param[EG_MAX_PARAMS], *grad[EG_MAX_PARAMS];
    float *mask[EG_MAX_PARAMS];  /* 1 kept, 0 pruned; NULL while the graph has no masks */
    /* buffers: state that is not trained (batchnorm2d: running mean, then
     * running variance), views into the graph's buffer block */
    int nbuffers;
    size_t bsize[EG_MAX_PARAMS];
    float *buffer[EG_MAX_PARAMS];
    float *shared;    /* per-pass memory the threads exchange partial sums through (batchnorm2d) */
    /* per-batch buffers */
    float *y, *dy;    /* output [N, out_shape] and dloss/dy */
    float *saved;     /* saved for backward (im2col columns) */
    int32_t *argmax;  /* maxpool: index of each output's source */
    int dx_add[EG_MAX_INPUTS]; /* backward adds into the input's dy (else writes) */
    int needs_dx;     /* some input wants a gradient */
    int relu_folded;  /* a relu whose consumer applies it (its y/dy alias its input's) */
    int relu_in;      /* applies the relu folded into its input */
    int pool_into;    /* conv2d writing the pooled output of this 2x2 pool node (0: none) */
    int pooled_in;    /* a 2x2 pool its producing conv2d computes (pool_fusion.c) */
    int padded_out;   /* such a pool: the conv2d whose zero-padded input planes it writes instead of y (0: none) */
    int padded_in;    /* conv2d whose padded input planes its producer writes (pool_fusion.c) */
    double fwd_seconds, bwd_seconds;  /* accumulated when the graph profiles */
    /* inference only: the kept weights in compressed sparse rows, in the
     * arena, rebuilt by every eg_graph_prepare with training 0; csr says the
     * forward uses them (see linear.c) */
    int csr;
    int32_t *csr_rowptr, *csr_col;
    float *csr_val;
    /* inference only, likewise: an N:M copy (at most nm_n kept weights in
     * every nm_m consecutive weights of a row; see src/kernels/nm.c), used
     * by the forward when nm_n > 0 */
    int nm_n, nm_m;
    float *nm_val;
    uint8_t *nm_idx;
    /* inference only, likewise: a linear layer's weight transposed, [in, out]
     * (training transposes it in scratch on every forward; see linear.c) */
    float *wt;
} eg_node;

typedef struct {
    char name[64];
    eg_node *nodes;
    int nnodes;
    float *params, *grads;   /* flat blocks, same layout; grads NULL until a prepare for training */
    float *masks;            /* same layout again once anything is pruned unstructured, else NULL */
    size_t nparam;
    float *buffers;          /* every node's buffers (nbuffer floats), in node order */
    size_t nbuffer;
    /* arena for per-batch buffers, sized by eg_graph_prepare */
    float *arena;
    size_t arena_floats;
    int batch, training, threads;
    int profile;             /* time every node's forward and backward */
    int unfused;             /* for tests: every conv2d and 2x2 pool run apart (set before eg_graph_prepare) */
    float *tgrads;           /* per-thread gradient blocks: threads x nparam */
    float *scratch;          /* per-thread scratch: threads x scratch_per_thread */
    size_t scratch_per_thread;
    size_t csr_floats;       /* arena floats reserved for the nodes' inference copies (CSR, N:M, W^T) */
    int chunk_rows;          /* inference over more images than threads x 32: the per-batch buffers
                              * hold only this many rows (one chunk per thread), the input is
                              * staged in `stage`, the output node computes into `chunk_out` and
                              * its y holds the whole batch (see eg_graph_forward) */
    float *stage, *chunk_out;
    float *lanes;            /* inference in batch lanes: per-thread buffers, lanes_floats each (NULL:
                              * the graph runs image by image; see src/graph/lanes.c) */
    size_t lanes_floats;
    int no_lanes;            /* for benches: inference image by image even where lanes could run
                              * (set before eg_graph_prepare) */
    int sparse;              /* for tests and benches: 1 forces the CSR path for every masked conv2d and
                              * linear node in inference, 2 the N:M path (m = 4), -1 the dense one;
                              * 0 (the default) decides by density and pattern (src/graph/sparse_choice.c) */
    char *history;           /* what was done to the model, text lines each ending in '\n', or NULL:
                              * kept by model files, freed by eg_graph_free (see eg_model_note) */
} eg_graph;

/* Parses a model spec (see models/simplecnn): one node per line,
 *   <op> <name> [in=<node>[,<node>]] [key=value ...]
 * '#' starts a comment. A node's input defaults to the previous node. Shapes
 * are inferred and checked; errors name the file, line and column. */
eg_status eg_graph_load_spec(eg_graph *g, const char *path, eg_error *err);
eg_status eg_graph_parse_spec(eg_graph *g, const char *text, const char *filename, eg_error *err);
void eg_graph_free(eg_graph *g);
/* Writes a spec for g whose parse re-creates its nodes (ops, names, inputs,
 * attributes, hence every shape), snprintf-style: at most len bytes with the
 * NUL into buf (may be NULL when len is 0); returns the length of the whole
 * text. Model files store it. */
size_t eg_graph_write_spec(const eg_graph *g, char *buf, size_t len);

/* Initialises parameters as PyTorch does by default for Conv2d and Linear:
 * weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void eg_graph_init_params(eg_graph *g, eg_rng *rng);

/* Sizes the arena for batch n; training also allocates gradient and
 * saved-for-backward buffers (and, the first time, g->grads: a graph that
 * is only evaluated never has any). Reallocates only when something changed. */
eg_status eg_graph_prepare(eg_graph *g, int n, int training, int threads);

int eg_graph_find(const eg_graph *g, const char *name);       /* index or -1 */
const eg_node *eg_graph_output(const eg_graph *g);

/* x: [n, input shape]. The output is eg_graph_output(g)->y, [n, classes].
 * In inference over more than threads x 32 images the other nodes' y hold
 * only the last chunks, not the whole batch (see chunk_rows). */
void eg_graph_forward(eg_graph *g, const float *x, int n);
/* dout: dloss/doutput [n, classes]. Adds parameter gradients into g->grads. */
void eg_graph_backward(eg_graph *g, const float *dout, int n);
void eg_graph_zero_grad(eg_graph *g);

/* Gives the graph a mask block of ones (no-op if it has one). Masked
 * parameters stay exactly zero through training: see eg_optim_step. */
eg_status eg_graph_enable_masks(eg_graph *g, eg_error *err);
/* Non-zero weights (param 0) of a node. */
size_t eg_node_nonzeros(const eg_node *nd);

size_t eg_node_macs(const eg_node *nd);    /* multiply-accumulates per sample */
size_t eg_node_params(const eg_node *nd);
size_t eg_graph_macs(const eg_graph *g);
size_t eg_graph_param_count(const eg_graph *g);
/* Prints a table of nodes with shapes, parameters and MACs. */
void eg_graph_print(const eg_graph *g, FILE *f);

/* Re-infers every shape and parameter size after attributes changed. */
eg_status eg_graph_infer_shapes(eg_graph *g, const char *filename, eg_error *err);

/* ----------------------------------------------------------------- loss */

/* Mean softmax cross-entropy over n rows of k logits. If dlogits is not NULL
 * it receives dloss/dlogits. Returns the loss. */
float eg_softmax_xent(const float *logits, const uint8_t *labels, int n, int k, float *dlogits);

/* ------------------------------------------------------------ optimizers */

typedef enum { EG_OPTIM_SGD, EG_OPTIM_ADAM } eg_optim_type;

typedef struct {
    eg_optim_type type;
    float lr, momentum, weight_decay, beta1, beta2, eps;
    int nesterov;
    long step;
    size_t n;
    float *m, *v;   /* Adam moments / SGD momentum buffer, laid out as g->params */
    const float *mask;  /* when set: gradients, state and parameters are masked at every step */
} eg_optim;

/* PyTorch's defaults: Adam betas 0.9/0.999, eps 1e-8; SGD momentum 0. */
void eg_optim_init(eg_optim *o, eg_optim_type type, float lr);
/* Allocates state for n parameters (zeroed). */
eg_status eg_optim_bind(eg_optim *o, size_t n);
void eg_optim_step(eg_optim *o, float *params, const float *grads);
void eg_optim_free(eg_optim *o);

/* ---------------------------------------------------------------- penalty */

/* Regularisation of chosen weights during training, as a term of the loss:
 *   l1:   l1 * sum |w|,       gradient l1 * sign(w), sign(0) = 0;
 *   l2:   l2 / 2 * sum w^2,   gradient l2 * w;
 *   prox: prox * sum |w| too, but applied after each optimizer step as the
 *         soft threshold w <- sign(w) * max(|w| - lr * prox, 0), which
 *         leaves exact zeros (no gradient).
 * The gradients are added to the loss's before the optimizer sees them, so
 * with Adam they pass through the moments like any loss term. (PyTorch's
 * Adam weight_decay does the same, so l2=F equals weight_decay=F on those
 * weights; AdamW's decoupled decay would not.) The selection is a block
 * laid out as the graph's parameters, like the masks. */
typedef struct {
    float l1, l2, prox;
    size_t n;      /* parameters of the graph it was built for */
    float *sel;    /* [n]: 1 for a penalised weight, 0 elsewhere (every bias) */
} eg_penalty;

/* Selects the weights (param 0, never biases) of nodes[0..count), each a
 * conv2d or linear node, or a batchnorm2d (its scale: network slimming), of g's current layout; strengths must be >= 0 and
 * finite. p is overwritten (free an earlier one first); on failure it holds
 * nothing to free. Build it again after surgery changes the layout. */
eg_status eg_penalty_init(eg_penalty *p, const eg_graph *g, const int *nodes, int count, float l1, float l2,
                          float prox, eg_error *err);
void eg_penalty_free(eg_penalty *p);
/* The penalty's value at params: (l1 + prox) * sum |w| + l2 / 2 * sum w^2
 * over the selected weights. */
double eg_penalty_value(const eg_penalty *p, const float *params);

/* ----------------------------------------------------------------- train */

/* What a per-step callback is told after each optimizer step. */
typedef struct {
    int batch;          /* the batch just done, 0-based, in this epoch */
    int batches;        /* batches in the epoch */
    double loss_sum;    /* the batch losses of this epoch so far, 0..batch */
    double penalty_sum; /* their penalty terms */
} eg_step_info;

/* Called after every optimizer step (checkpoints, pruning schedules); a
 * status other than EG_OK stops the epoch and is returned by it. */
typedef eg_status eg_step_fn(void *ctx, eg_graph *g, eg_optim *o, const eg_step_info *s, eg_error *err);

typedef struct {
    int batch;
    int shuffle;
    int progress;   /* draw a progress bar on stderr/stdout */
    const eg_penalty *penalty;  /* NULL: the loss is the cross-entropy alone */
    eg_step_fn *after_step;     /* may be NULL */
    void *step_ctx;             /* passed to after_step */
    /* Resume: the epoch skips its first start_batch batches (drawing its
     * shuffle as usual, so rng must be as that epoch began), whose losses
     * summed to start_loss and start_penalty. 0 for a whole epoch. */
    int start_batch;
    double start_loss, start_penalty;
} eg_train_opts;

typedef struct {
    double loss;        /* mean of the batch losses (cross-entropy plus the penalty) */
    double penalty;     /* mean of the batches' penalty terms (0 without one) */
    double seconds;
    long images;
} eg_epoch_stats;

/* One epoch over ds; shuffles with rng when opts->shuffle. Stops with
 * EG_ERR_NUMERIC at the first step whose loss or parameters are not finite
 * (the batchnorm statistics too, at the epoch's last step), before
 * after_step sees that step; and with EG_ERR_INTERRUPTED after the step in
 * progress when a stop signal came (src/io/temp_file.c). err says which
 * step and, for a nan, which parameter and value. */
eg_status eg_train_epoch(eg_graph *g, eg_optim *o, const eg_dataset *ds, const eg_train_opts *opts,
                         eg_rng *rng, eg_epoch_stats *st, eg_error *err);
/* Top-1 accuracy in percent over ds, in batches of `batch`. */
eg_status eg_evaluate(eg_graph *g, const eg_dataset *ds, int batch, double *accuracy,
                      double *loss, eg_error *err);

/* ------------------------------------------------------------ pruning */

#define EG_GROUP_MAX 32

/* OUT: a producer's output channels; IN: a consumer's input channels; PASS:
 * the per-channel parameters and buffers of an op that passes channels
 * through (batchnorm2d's scale, shift and running statistics). */
typedef enum { EG_DEP_OUT, EG_DEP_IN, EG_DEP_PASS } eg_dep_role;

/* One slice a channel removal touches: a node's output channels (OUT) or its
 * input channels, each `block` consecutive input features wide (IN; block is
 * H*W when a flatten lies between). */
typedef struct { int node; eg_dep_role role; int block; } eg_dep_member;

typedef struct {
    int root;        /* the node whose output channels are removed; a residual
                      * add couples it with every other producer feeding the add
                      * (more OUT members), all sliced with the same keep list */
    int channels;    /* its current channel count */
    int nmembers;
    eg_dep_member members[EG_GROUP_MAX];
} eg_dep_group;

/* Everything that must shrink with root's output channels. Fails when the
 * channels reach the model output or pass through an op that cannot follow. */
eg_status eg_depgroup_build(const eg_graph *g, int root, eg_dep_group *grp, eg_error *err);

/* Keeps only channels keep[0..nkeep-1] (ascending) of the group, slicing every
 * member, and re-lays the parameter block. Gradients and any optimizer state
 * are invalid afterwards. */
eg_status eg_surgery_keep(eg_graph *g, const eg_dep_group *grp, const int *keep, int nkeep,
                          eg_error *err);

/* Channel-importance scores, one per output channel of a conv2d or linear
 * node (its weights only, bias not counted), [channels]; lower is pruned first. */
/* L1 norm of each output channel's weights. */
void eg_importance_l1(const eg_graph *g, int node, double *scores);
/* L2 (Euclidean) norm of each output channel's weights. */
void eg_importance_l2(const eg_graph *g, int node, double *scores);
/* FPGM: sum of each filter's Euclidean distances to the layer's other filters. */
void eg_importance_fpgm(const eg_graph *g, int node, double *scores);
/* Uniform draws in [0, 1) from rng, in channel order: the same for the same rng state. */
void eg_importance_random(const eg_graph *g, int node, double *scores, eg_rng *rng);

/* A channel-importance criterion: scores[c] for each output channel of node,
 * lower is pruned first. rng serves criteria that draw (random). */
typedef void eg_importance_fn(const eg_graph *g, int node, double *scores, eg_rng *rng);
typedef struct {
    const char *name;   /* as a recipe names it: method=<name> */
    const char *label;  /* what the scores are, for printing */
    eg_importance_fn *score;
} eg_criterion;

/* Unstructured magnitude pruning of the weights of nodes[0..count) (conv2d
 * or linear): masks the round(amount x N) weights of smallest |w|, N
 * counted over all of them (global) or per node (local); ties go to the
 * earlier node and index. Already-pruned weights are 0 and go first, so
 * amount is the sparsity the weights have afterwards. */
eg_status eg_prune_magnitude(eg_graph *g, const int *nodes, int count, double amount, int global, eg_error *err);
/* The same with a floor: node nodes[i] keeps at least keep_at_least[i]
 * weights (NULL: no floor, as eg_prune_magnitude; recipes and commands pass
 * 1 unless floor= says otherwise, so no layer is emptied). Global scope
 * passes over the weights of layers at their floor and still masks exactly
 * round(amount x N); an amount the floors cannot allow is an error. */
eg_status eg_prune_magnitude_floor(eg_graph *g, const int *nodes, int count, double amount, int global,
                                   const size_t *keep_at_least, eg_error *err);

/* Automated gradual pruning (Zhu & Gupta 2017) during training: at steps
 * t = start, start + every, ..., end (t counts optimizer steps done in the
 * train stage), the weights of nodes are magnitude-pruned (global or local,
 * floors as eg_prune_magnitude_floor) to the sparsity
 *   s_t = final + (initial - final) (1 - (t - start) / (end - start))^3,
 * so pruning is fast early and slow near the end; masks keep the pruned
 * weights (and their optimizer state) at zero in between and after. */
typedef struct {
    double initial, final;     /* s_i in [0, 1), s_f in (s_i, 1) */
    long start, end, every;    /* t0 >= 0, end > t0, every >= 1 dividing end - t0 */
    int global;
    const int *nodes;
    int count;
    const size_t *keep_at_least;   /* per node, or NULL: no floor */
    FILE *log;                 /* a line per pruning step, or NULL */
    int prunes;                /* pruning steps done (set by eg_agp_after_step) */
    double sparsity;           /* the last target applied */
    eg_step_fn *next;          /* another per-step callback (checkpoints) run after it, or NULL */
    void *next_ctx;
} eg_agp;

/* Checks the schedule's numbers (not the nodes). */
eg_status eg_agp_check(const eg_agp *a, eg_error *err);
/* The target sparsity at step t (initial before start, final after end). */
double eg_agp_sparsity(const eg_agp *a, long t);
/* 1 when t is one of the pruning steps. */
int eg_agp_due(const eg_agp *a, long t);
/* An eg_step_fn for ctx = an eg_agp: prunes when due, zeroes the optimizer
 * state of every masked weight, then calls a->next (may be NULL). */
eg_status eg_agp_after_step(void *ctx, eg_graph *g, eg_optim *o, const eg_step_info *si, eg_error *err);
/* Threshold pruning: masks every weight of nodes[0..count) (conv2d or
 * linear) with |w| <= value (value >= 0, rounded to float32 as the weights
 * are), as magnitude pruning masks them;
 * *masked (may be NULL) gets how many weights it newly masked. */
eg_status eg_prune_threshold(eg_graph *g, const int *nodes, int count, double value, size_t *masked, eg_error *err);

/* bn_scale (network slimming): |scale| of the batchnorm2d in node's group
 * (summed over its batchnorms; 0 when it has none: eg_criterion_check). */
void eg_importance_bn_scale(const eg_graph *g, int node, double *scores);
/* EG_ERR_ARG when crit cannot score the group (bn_scale without a batchnorm2d). */
eg_status eg_criterion_check(const eg_criterion *crit, const eg_graph *g, const eg_dep_group *grp, eg_error *err);
/* Scores of the group's channels [grp->channels]: the criterion's scores of
 * the root, plus those of every other producer a residual add couples to it;
 * bn_scale: |scale| of the group's batchnorms. Checks with eg_criterion_check. */
eg_status eg_group_scores(const eg_graph *g, const eg_dep_group *grp, const eg_criterion *crit, double *scores,
                          eg_rng *rng, eg_error *err);
/* First-order Taylor importance (src/prune/taylor.c), from `batches`
 * batches of `batch` training samples taken in turn from a shuffle of ds by
 * rng; the weights do not change (the gradient blocks do). weight_scores
 * (may be NULL), laid out as g->params, gets sum over batches of |w * g| for
 * every parameter; channel_scores (may be NULL) gets, for each output
 * channel of conv2d or linear node `node`, the mean over batches of
 * |1/M sum of z * dL/dz| over the batch and the channel's M output
 * positions (Molchanov et al. 2017). Under MPI the gradients are the whole
 * batch's, summed across ranks, so every rank gets the same scores. */
eg_status eg_taylor_scores(eg_graph *g, const eg_dataset *ds, int batches, int batch, eg_rng *rng,
                           double *weight_scores, int node, double *channel_scores, eg_error *err);
/* Unstructured pruning by any per-weight score laid out as g->params
 * (lower goes first): as eg_prune_magnitude with |w| replaced by scores;
 * weights already masked go first; ties to the earlier node and index. */
eg_status eg_prune_scores(eg_graph *g, const int *nodes, int count, const double *scores, double amount, int global,
                          eg_error *err);
/* N:M pruning of the weights of nodes[0..count) (conv2d or linear): in every
 * group of m consecutive weights of a row along the input dimension (a
 * conv's flattened in x k x k filter) the n of largest |w| are kept (ties:
 * the lower index), the rest masked; a shorter last group keeps min(n, its
 * length). 1 <= n < m <= EG_NM_MAX_M. See src/prune/nm.c. */
#define EG_NM_MAX_M 64
eg_status eg_prune_nm(eg_graph *g, const int *nodes, int count, int n, int m, eg_error *err);

/* The criterion called name, or NULL; and all names, comma separated. */
const eg_criterion *eg_criterion_find(const char *name);
const char *eg_criterion_names(void);

/* Chooses the `count` lowest-scoring channels (ties: lower index first) and
 * writes the rest, ascending, to keep. Returns the number kept. */
int eg_select_keep(const double *scores, int channels, int count, int *keep, int *pruned);

/* LSH merging (data-free): each output unit's incoming vector (its filter
 * or weight row, then its bias) is hashed with random-hyperplane LSH
 * (SimHash: `bits` signs of dot products with Gaussian directions, in each
 * of `tables` tables, drawn from rng); units that share a bucket in some
 * table are compared by cosine similarity, and each pair at or above
 * `threshold` is a candidate: the unit of smaller norm is removed and its
 * outgoing weights (the consumers' input columns or channels) are added to
 * its twin's, scaled by s = <v_small, v_big> / |v_big|^2 > 0. When the
 * vectors are exactly proportional this changes no output, because only
 * relu, max-pooling and flatten lie between the unit and its consumers and
 * each commutes with a positive scale. Pairs are merged best first (cosine,
 * then index), at most max_merges of them. Other ops in between (or the
 * model output) are refused. */
typedef struct {
    int bits;          /* hyperplanes per table, 1..32 */
    int tables;        /* hash tables, 1..256 */
    double threshold;  /* cosine similarity needed, in (0, 1] */
    int max_merges;    /* units to remove at most */
} eg_lsh_opts;

typedef struct {
    int merged;        /* units removed */
    int candidates;    /* distinct pairs that shared a bucket */
    int similar;       /* of those, pairs at or above the threshold */
    int *removed, *twin;   /* [merged]: removed unit (index before the merge) and the unit it went into */
    double *scale, *cosine;  /* [merged] */
} eg_lsh_result;

eg_status eg_lsh_merge(eg_graph *g, int node, const eg_lsh_opts *o, eg_rng *rng, eg_lsh_result *res, eg_error *err);
void eg_lsh_result_free(eg_lsh_result *res);

/* Layer pruning: a conv2d or linear node whose output shape equals its
 * input shape (say a 3x3 pad-1 conv with as many outputs as inputs) is
 * replaced by the identity: removed, its consumers reading its input. A
 * residual add node names its branch: the input whose layers the other
 * input does not share (each used only there) is replaced by zero, i.e. the
 * branch and the add are removed and the add's readers read the skip. The
 * output layer, shape-changing layers, adds of two branches and branches
 * used elsewhere are refused (EG_ERR_ARG). Other nodes keep their
 * parameters, masks and buffers. */
eg_status eg_layer_removable(const eg_graph *g, int node, eg_error *err);   /* err may be NULL */
eg_status eg_layer_remove(eg_graph *g, int node, eg_error *err);

typedef struct {
    int node;                  /* index in the graph ranked */
    double accuracy, loss;     /* on the data set with this layer alone removed */
    double drop;               /* base accuracy minus accuracy, in points */
} eg_layer_score;
/* Every removable node not in protect[0..nprotect), each removed alone from
 * a copy of g and evaluated on ds: scores (room for g->nnodes) cheapest
 * first (smallest drop, then lowest loss, then the earlier node), *count of
 * them; g is not changed. */
eg_status eg_layer_rank(const eg_graph *g, const eg_dataset *ds, int batch, const int *protect, int nprotect,
                        eg_layer_score *scores, int *count, double *base_accuracy, eg_error *err);

/* ------------------------------------------------- sensitivity analysis */

/* How much each layer, pruned alone, costs in test accuracy: every layer
 * at every ratio on a fresh copy of the model, evaluated on a test set.
 * Each cell is exactly what `edagari prune` with that layer and amount, then
 * `edagari eval`, would give: channels (l1, l2, fpgm, random) remove
 * round(ratio x channels) of the layer's channels by the criterion, with
 * everything they feed; magnitude masks that fraction of the layer's
 * weights (scope=local, layers=<that layer>). */
#define EG_SENS_MAX_RATIOS 64

typedef struct {
    const char *method;   /* a criterion (eg_criterion_find) or "magnitude"; NULL: l1 */
    const double *ratios; /* increasing, each in (0, 1) */
    int nratios;
    const char *layers;   /* comma-separated nodes; NULL or "": every layer that can be pruned
                           * (channels: eg_depgroup_build succeeds; magnitude: every conv2d and linear) */
    int batch;            /* evaluation batch; 0: 1000, as edagari eval */
    uint64_t seed;        /* random: each cell draws from a generator freshly seeded with it */
    int threads;          /* 0: leave the thread count as it is */
    FILE *log;            /* a line per layer as it is done, or NULL */
    const char *model_label, *data_label;  /* what the report names the model and the data by (may be NULL) */
} eg_sensitivity_opts;

typedef struct {
    double accuracy, loss;  /* test accuracy in percent and mean loss; NaN when skipped */
    long removed;           /* channels removed, or weights of the layer zero afterwards (magnitude) */
    size_t params, macs;    /* the whole model's after this prune; magnitude: non-zero parameters and
                             * the MACs of non-zero weights */
    int skipped;            /* round(ratio x channels) is every channel: nothing to evaluate (edagari
                             * prune refuses it too) */
} eg_sens_cell;

typedef struct {
    char name[EG_NAME_MAX];
    int node;
    eg_op_type op;
    long units;            /* channels (structured) or weights (magnitude) of the layer */
} eg_sens_layer;

typedef struct {
    char method[16];
    int magnitude;         /* weights rather than channels */
    char model[64];        /* the graph's name */
    char model_label[1024], data_label[1024];
    int nratios, nlayers;
    double ratios[EG_SENS_MAX_RATIOS];
    eg_sens_layer *layers;     /* [nlayers] */
    eg_sens_cell *cells;       /* [nlayers x nratios], layer by layer */
    double dense_accuracy, dense_loss;
    size_t dense_params, dense_macs;
    int test_images, batch;
    uint64_t seed;
    double seconds;
} eg_sensitivity;

/* Parses "0.1,0.2,0.5" into ratios (at most max): each a number in (0, 1),
 * strictly increasing. *n gets the count. Errors say which entry and why. */
eg_status eg_sensitivity_parse_ratios(const char *text, double *ratios, int max, int *n, eg_error *err);
/* The nodes the analysis covers for method and a layer list (see
 * eg_sensitivity_opts.layers) into nodes (room for g->nnodes), *count of
 * them. EG_ERR_ARG for an unknown method, an unknown, repeated or
 * unprunable layer, or none left. */
eg_status eg_sensitivity_layers(const eg_graph *g, const char *method, const char *layers, int *nodes, int *count,
                                eg_error *err);
/* Runs the analysis; g is not changed. On success s holds the results
 * (free with eg_sensitivity_free); on failure s is empty. */
eg_status eg_sensitivity_run(const eg_graph *g, const eg_dataset *test, const eg_sensitivity_opts *o,
                             eg_sensitivity *s, eg_error *err);
void eg_sensitivity_free(eg_sensitivity *s);
/* The cell of layer l at ratio r. */
static inline const eg_sens_cell *eg_sens_at(const eg_sensitivity *s, int l, int r)
{
    return &s->cells[(size_t)l * (size_t)s->nratios + (size_t)r];
}
/* Writes the results as JSON / as an SVG plot of accuracy against ratio, one
 * line per layer (eg_svg_write_plot), atomically. */
eg_status eg_sensitivity_write_json(const eg_sensitivity *s, const char *path, eg_error *err);
eg_status eg_sensitivity_write_svg(const eg_sensitivity *s, const char *path, eg_error *err);

/* ---------------------------------------------------------------- plots */

/* One line of a plot: n points; a NaN y leaves a gap. */
typedef struct {
    const char *name;   /* for the legend */
    const double *x, *y;
    int n;
} eg_plot_series;

/* A line chart: axes with ticks at round values, grid lines, axis labels, a
 * title, a legend and an optional dashed reference line. */
typedef struct {
    const char *title, *subtitle, *xlabel, *ylabel;   /* subtitle may be NULL */
    const eg_plot_series *series;
    int nseries;
    double xmin, xmax;      /* x range; equal: from the data */
    double ymin, ymax;      /* y range; equal: from the data (and ref_y), widened to round ticks */
    double ref_y;           /* a dashed horizontal line at this y, or NaN */
    const char *ref_label;  /* its legend entry */
    const char *note;       /* small text under the legend, lines split at '\n', or NULL */
    int width, height;      /* pixels; 0: 800 x 500 */
} eg_plot;

/* The SVG text of a plot (malloc'ed, NUL-terminated; *len its length, may be
 * NULL), or NULL when out of memory. */
char *eg_svg_plot(const eg_plot *p, size_t *len);
/* Writes it to path atomically. */
eg_status eg_svg_write_plot(const eg_plot *p, const char *path, eg_error *err);

/* ---------------------------------------------------------- model files */

/* A model file (.edg) holds a whole model: its spec (from
 * eg_graph_write_spec), parameters, masks when the graph has them, name and
 * history, behind a magic, a format version and a crc32; the layout is
 * described in src/io/model_file.c. Tensors are stored dense, or sparse when
 * that is smaller. Saving is atomic (a failed save leaves no file and
 * replaces nothing). Loading checks every count, size, shape and offset
 * against the file's length and the stored spec before using it; its errors
 * name the file, the byte offset, what was expected and what was found.
 * A checkpoint (eg_checkpoint_save) also holds the optimizer state and the
 * data position. */
#define EG_MODEL_VERSION 1

eg_status eg_model_save(const eg_graph *g, const char *path, eg_error *err);
/* Fills g as eg_graph_load_spec does, with the stored parameters, masks and
 * history; on failure g is left empty. */
eg_status eg_model_load(eg_graph *g, const char *path, eg_error *err);
/* 1 when path is to be read as a model file: its name ends in ".edg" or it
 * starts with the model-file magic; else 0 (a model spec). */
int eg_model_path_is_file(const char *path);
/* Loads a model file, an ONNX file (a name ending in .onnx: eg_onnx_import)
 * or else a model spec (whose parameters are zero, to be initialised);
 * *from_file (may be NULL) is 1 for the first two. */
eg_status eg_model_open(eg_graph *g, const char *path, int *from_file, eg_error *err);
/* Appends one line to g->history (control characters become spaces; the
 * oldest lines go when it would pass 64 KiB). Fails only for want of memory
 * (EG_ERR_NOMEM, history unchanged). The stage runner notes every stage. */
eg_status eg_model_note(eg_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where a train stage stands, for an exact resume: a checkpoint's data
 * position section (with the optimizer's state in another). */
#define EG_STAGE_TEXT_MAX 512
typedef struct {
    int epoch;          /* the epoch in progress, 0-based */
    int epochs;         /* the stage's epochs */
    int batch;          /* batches of that epoch done (may be all of them) */
    int batches;        /* batches in an epoch */
    int threads;        /* the thread count it ran with (bit-identical results need the same) */
    uint64_t seed;
    eg_rng rng;         /* the generator as the epoch began, before its shuffle */
    double loss_sum, penalty_sum;  /* the epoch's batch losses so far */
    /* the training set it reads: a resume on other data is refused */
    int samples, c, h, w;
    uint32_t images_crc, labels_crc;  /* crc32 of x (float32, little-endian) and of y */
    char stage[EG_STAGE_TEXT_MAX];    /* the train stage's settings as text; a resume must match them */
} eg_train_position;

/* Fills the data fields of p (samples, shape, checksums) from ds. */
void eg_train_position_data(eg_train_position *p, const eg_dataset *ds);

/* A model file with the optimizer's state (type, hyperparameters, step,
 * moments or momentum buffer; laid out as g->params) and p, atomically. */
eg_status eg_checkpoint_save(const eg_graph *g, const eg_optim *o, const eg_train_position *p, const char *path,
                             eg_error *err);
/* Loads a checkpoint: g as eg_model_load does, o (bound to g->nparam,
 * free with eg_optim_free) and p. Fails (EG_ERR_FORMAT) for a model file
 * without them; on failure nothing is left to free. */
eg_status eg_checkpoint_load(eg_graph *g, eg_optim *o, eg_train_position *p, const char *path, eg_error *err);

/* ------------------------------------------------------------- C export */

/* A model as C99 code for devices (src/io/export_c.c): NAME.h and NAME.c
 * with the parameters as const arrays and one function
 *   int NAME_infer(const float *input, float *output, float *scratch);
 * that allocates nothing and calls no library function. A layer with masks
 * (nd->mask[0]) is stored CSR when that is smaller than dense. */

/* How one conv2d or linear node's parameters are stored (all zero for other ops). */
typedef struct {
    int csr;             /* CSR (row offsets per output, column indices, values), else dense */
    size_t kept;         /* weights stored: all of them dense; in CSR those not masked-and-zero */
    int index_bytes;     /* CSR: bytes of each row offset and column index (1, 2 or 4) */
    size_t bytes;        /* flash: weights, bias and indices as exported */
    size_t dense_bytes;  /* the same stored dense */
} eg_c_layer;
void eg_export_c_layer(const eg_node *nd, eg_c_layer *l);

/* What the export of a model needs: what `edagari info` reports and the
 * exporter writes into NAME.h. */
typedef struct {
    size_t flash_bytes;      /* every layer's eg_c_layer.bytes */
    size_t dense_bytes;      /* the same with every layer dense */
    size_t scratch_floats;   /* NAME_SCRATCH_FLOATS = buffer_a + buffer_b + buffer_rest */
    size_t buffer_a, buffer_b;  /* the two activation buffers, in floats */
    size_t buffer_rest;      /* a model with a residual add: its buffers after A and B (C, D, ...), in floats */
    size_t ram_bytes;        /* scratch_floats * sizeof(float) */
    size_t input_floats, output_floats;  /* the caller's buffers */
    int layers, csr_layers;  /* conv2d and linear nodes, and how many are CSR */
} eg_c_export_size;
/* Fails (EG_ERR_ARG) for an op the export has no code for, or a model with
 * residual adds it cannot lay out (too many tensors alive at once, or a last
 * node that computes nothing new). */
eg_status eg_export_c_size(const eg_graph *g, eg_c_export_size *s, eg_error *err);

/* Writes <out>.h and <out>.c (out = [folder/]NAME, NAME a C identifier),
 * both or neither; the same model gives the same bytes. Fails for
 * parameters that are not finite. */
eg_status eg_export_c(const eg_graph *g, const char *out, eg_error *err);

/* ----------------------------------------------------------------- ONNX */

/* ONNX in and out (src/io/onnx_import.c, onnx_export.c), built when
 * protobuf-c and libonnx-dev's onnx.proto are there; otherwise every call
 * fails with EG_ERR_ARG saying what to install. */
int eg_onnx_available(void);
/* 1 when path names an ONNX file (its name ends in ".onnx"). */
int eg_onnx_path(const char *path);

/* Writes g as an ONNX model (opset 13, IR version 7) atomically: Conv,
 * Relu, MaxPool, Flatten, Gemm, BatchNormalization, Add and
 * GlobalAveragePool nodes named as g's, parameters as float32 initializers
 * "<node>.weight" and "<node>.bias" (batchnorm2d: also "<node>.running_mean"
 * and "<node>.running_var"; masked weights stored as their zeros), input "<input node>" [batch, C, H, W] with a
 * symbolic batch, output "<last node>" [batch, classes]. */
eg_status eg_onnx_export(const eg_graph *g, const char *path, eg_error *err);

/* Reads an ONNX model as PyTorch exports it (Conv, Relu, MaxPool,
 * Flatten/Reshape, Gemm, MatMul + Add, BatchNormalization, Add,
 * GlobalAveragePool, Identity) into g, as eg_model_load
 * does: nodes named after their weights or ONNX names, the parameters
 * copied, a history line saying where it came from. Everything is checked
 * before use; errors name the file and the byte offset, or the ONNX node
 * and what it holds. On failure g is left empty. */
eg_status eg_onnx_import(eg_graph *g, const char *path, eg_error *err);
/* The same from len bytes in memory; label names them in messages. */
eg_status eg_onnx_import_buffer(eg_graph *g, const void *data, size_t len, const char *label, eg_error *err);

/* --------------------------------------------------------------- recipes */

/* A recipe: the model, the data, then stages run in order:
 *   model  <spec path, or model file: then it is not re-initialised>
 *   data   <dir with IDX files>
 *   train  epochs=N optimizer=adam|sgd lr=F [momentum=F] [weight_decay=F] batch=N shuffle=yes|no
 *          [l1=F] [l2=F] [prox=F] [penalize=a,b,...]   (see eg_penalty)
 *          [checkpoint=FILE checkpoint_every=N]   (a checkpoint every N steps, atomically)
 *   prune  method=l1 layer=<node> amount=<count, or fraction with a '.'>
 *   prune  method=magnitude amount=<sparsity> [scope=global|local] [layers=a,b,...]
 *   prune  method=threshold value=<F: prunes |w| <= F> [layers=a,b,...]
 *   prune  method=taylor layer=<node> amount=<count or fraction> [batches=N] [batch=N]
 *   prune  method=taylor amount=<sparsity> [scope=global|local] [layers=a,b,...] [batches=N] [batch=N]
 *   prune  method=nm n=<N> m=<M> [layers=a,b,...]   (N:M, see eg_prune_nm)
 *   eval   batch=N
 * Each train stage starts a fresh optimizer. Paths are taken as given, or
 * relative to the recipe's folder's parent when they do not exist as given. */
typedef enum { EG_STAGE_TRAIN, EG_STAGE_PRUNE, EG_STAGE_EVAL } eg_stage_kind;

/* What a recipe (or a command's flags) may set: 0 < lr <= EG_LR_MAX;
 * momentum and weight_decay from 0 to below 1; epochs 0 to EG_EPOCHS_MAX;
 * batch (train, eval, taylor) 1 to EG_BATCH_MAX. Anything else is an error
 * naming the line and column. */
#define EG_LR_MAX 10.0
#define EG_EPOCHS_MAX 10000
#define EG_BATCH_MAX 65536

typedef struct {
    eg_stage_kind kind;
    int line;
    /* train */
    int epochs, batch, shuffle;
    eg_optim_type optim;
    float lr, momentum, weight_decay;
    float l1, l2, prox; /* penalty strengths, 0 for none */
    char penalize[256]; /* comma-separated nodes whose weights are penalised, empty for every conv2d and linear */
    long checkpoint_every;   /* write a checkpoint every N optimizer steps (0: never) ... */
    char checkpoint[1024];   /* ... to this file (eg_checkpoint_save) */
    /* prune */
    char method[16], layer[EG_NAME_MAX];
    char layers[256];   /* magnitude, threshold: comma-separated nodes, empty for every conv2d and linear */
    int local;          /* magnitude: each layer its own ratio (scope=local) */
    double amount;      /* a count when amount_is_count, else a fraction in (0, 1) */
    int amount_is_count;
    double value;       /* threshold: weights with |w| <= value are pruned; < 0 until given */
    int batches;        /* taylor: training batches its scores come from (batch= their size); 0 until given */
    int nm_n, nm_m;     /* nm: keep n of every m consecutive weights (eg_prune_nm); 0 until given */
    /* method=lsh: hash bits and tables, cosine threshold (0 until given: defaults) */
    int lsh_bits, lsh_tables;
    double lsh_threshold;
    /* method=layer: remove the `count` layers whose removal costs least (0: layer= names one) */
    int layer_count;
    /* every multi-layer prune: protected nodes, and the floor each layer keeps
     * (floor >= 1: weights, else a fraction of them; 0: one weight) */
    char protect[256];
    double floor;
    /* train agp=F: gradual magnitude pruning to sparsity F (eg_agp) */
    double agp, agp_initial;
    long agp_start, agp_end, agp_every;
    int agp_local;
    char agp_layers[256];
} eg_stage;

#define EG_RECIPE_MAX_STAGES 64

typedef struct {
    char path[1024], model[1024], data[1024];
    int nstages;
    eg_stage stages[EG_RECIPE_MAX_STAGES];
    int from_flags;     /* built by a command (path is its name, e.g. "edagari prune"): messages
                         * name the command instead of recipe lines; paths are taken as given */
} eg_recipe;

eg_status eg_recipe_load(eg_recipe *r, const char *path, eg_error *err);
/* Parses one line as a recipe holds it ("prune method=l1 layer=conv1
 * amount=2", a stage appended to r; or model/data): how commands build their
 * recipes from flags. */
eg_status eg_recipe_parse_line(eg_recipe *r, const char *text, int line, eg_error *err);

typedef struct {
    uint64_t seed;
    int threads;
    const char *data;       /* overrides the recipe's data folder when not NULL */
    const char *json;       /* report path, or NULL */
    int progress;           /* progress bars (when stdout is a terminal) */
    FILE *out;              /* where the human-readable log goes */
    const char *save;       /* model file to write the final model to (atomically), or NULL */
    const char *resume;     /* a checkpoint to resume the recipe's only stage, a train stage, from; or NULL */
} eg_run_opts;

/* Runs every stage, printing as it goes; writes the model file (o->save) and
 * the JSON report atomically, and neither when a stage fails. A recipe
 * that trains or evaluates loads both data sets; one built from flags loads
 * only what its stages read (train: the training set, eval: the test set);
 * pruning needs no data. */
eg_status eg_recipe_run(const eg_recipe *r, const eg_run_opts *o, eg_error *err);

#endif
