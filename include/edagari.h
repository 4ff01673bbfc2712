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
} eg_dataset;

/* Reads an IDX image file (ubyte, 3 dims) and its label file (ubyte, 1 dim),
 * raw or gzip (zlib detects it), checks magic numbers, sizes and that the
 * counts agree, and normalises x = (pixel/255 - mean) / std. */
eg_status eg_dataset_load_idx(eg_dataset *ds, const char *images_path, const char *labels_path,
                              float mean, float std, eg_error *err);

/* Loads the MNIST-layout pair from dir: "<prefix>-images-idx3-ubyte" and
 * "<prefix>-labels-idx1-ubyte", each raw or with ".gz" appended. prefix is
 * "train" or "t10k". */
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
    /* per-batch buffers */
    float *y, *dy;    /* output [N, out_shape] and dloss/dy */
    float *saved;     /* saved for backward (im2col columns) */
    int32_t *argmax;  /* maxpool: index of each output's source */
    int dx_add[EG_MAX_INPUTS]; /* backward adds into the input's dy (else writes) */
    int needs_dx;     /* some input wants a gradient */
    int relu_folded;  /* a relu whose consumer applies it (its y/dy alias its input's) */
    int relu_in;      /* applies the relu folded into its input */
    double fwd_seconds, bwd_seconds;  /* accumulated when the graph profiles */
} eg_node;

typedef struct {
    char name[64];
    eg_node *nodes;
    int nnodes;
    float *params, *grads;   /* flat blocks, same layout */
    float *masks;            /* same layout again once anything is pruned unstructured, else NULL */
    size_t nparam;
    /* arena for per-batch buffers, sized by eg_graph_prepare */
    float *arena;
    size_t arena_floats;
    int batch, training, threads;
    int profile;             /* time every node's forward and backward */
    float *tgrads;           /* per-thread gradient blocks: threads x nparam */
    float *scratch;          /* per-thread scratch: threads x scratch_per_thread */
    size_t scratch_per_thread;
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
 * saved-for-backward buffers. Reallocates only when something changed. */
eg_status eg_graph_prepare(eg_graph *g, int n, int training, int threads);

int eg_graph_find(const eg_graph *g, const char *name);       /* index or -1 */
const eg_node *eg_graph_output(const eg_graph *g);

/* x: [n, input shape]. The output is eg_graph_output(g)->y, [n, classes]. */
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

/* ----------------------------------------------------------------- train */

typedef struct {
    int batch;
    int shuffle;
    int progress;   /* draw a progress bar on stderr/stdout */
} eg_train_opts;

typedef struct {
    double loss;        /* mean of the batch losses */
    double seconds;
    long images;
} eg_epoch_stats;

/* One epoch over ds; shuffles with rng when opts->shuffle. */
eg_status eg_train_epoch(eg_graph *g, eg_optim *o, const eg_dataset *ds, const eg_train_opts *opts,
                         eg_rng *rng, eg_epoch_stats *st, eg_error *err);
/* Top-1 accuracy in percent over ds, in batches of `batch`. */
eg_status eg_evaluate(eg_graph *g, const eg_dataset *ds, int batch, double *accuracy,
                      double *loss, eg_error *err);

/* ------------------------------------------------------------ pruning */

#define EG_GROUP_MAX 16

typedef enum { EG_DEP_OUT, EG_DEP_IN } eg_dep_role;

/* One slice a channel removal touches: a node's output channels (OUT) or its
 * input channels, each `block` consecutive input features wide (IN; block is
 * H*W when a flatten lies between). */
typedef struct { int node; eg_dep_role role; int block; } eg_dep_member;

typedef struct {
    int root;        /* the node whose output channels are removed */
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

/* The criterion called name, or NULL; and all names, comma separated. */
const eg_criterion *eg_criterion_find(const char *name);
const char *eg_criterion_names(void);

/* Chooses the `count` lowest-scoring channels (ties: lower index first) and
 * writes the rest, ascending, to keep. Returns the number kept. */
int eg_select_keep(const double *scores, int channels, int count, int *keep, int *pruned);

/* ---------------------------------------------------------- model files */

/* A model file (.edg) holds a whole model: its spec (from
 * eg_graph_write_spec), parameters, masks when the graph has them, name and
 * history, behind a magic, a format version and a crc32; the layout is
 * described in src/io/model_file.c. Tensors are stored dense, or sparse when
 * that is smaller. Saving is atomic (a failed save leaves no file and
 * replaces nothing). Loading checks every count, size, shape and offset
 * against the file's length and the stored spec before using it; its errors
 * name the file, the byte offset, what was expected and what was found.
 * Optimizer state and the data position are not stored (yet). */
#define EG_MODEL_VERSION 1

eg_status eg_model_save(const eg_graph *g, const char *path, eg_error *err);
/* Fills g as eg_graph_load_spec does, with the stored parameters, masks and
 * history; on failure g is left empty. */
eg_status eg_model_load(eg_graph *g, const char *path, eg_error *err);
/* 1 when path is to be read as a model file: its name ends in ".edg" or it
 * starts with the model-file magic; else 0 (a model spec). */
int eg_model_path_is_file(const char *path);
/* Loads a model file or else a model spec (whose parameters are zero, to be
 * initialised); *from_file (may be NULL) says which. */
eg_status eg_model_open(eg_graph *g, const char *path, int *from_file, eg_error *err);
/* Appends one line to g->history (control characters become spaces; the
 * oldest lines go when it would pass 64 KiB). Fails only for want of memory
 * (EG_ERR_NOMEM, history unchanged). The stage runner notes every stage. */
eg_status eg_model_note(eg_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --------------------------------------------------------------- recipes */

/* A recipe: the model, the data, then stages run in order:
 *   model  <spec path, or model file: then it is not re-initialised>
 *   data   <dir with IDX files>
 *   train  epochs=N optimizer=adam|sgd lr=F [momentum=F] [weight_decay=F] batch=N shuffle=yes|no
 *   prune  method=l1 layer=<node> amount=<count, or fraction with a '.'>
 *   prune  method=magnitude amount=<sparsity> [scope=global|local] [layers=a,b,...]
 *   eval   batch=N
 * Each train stage starts a fresh optimizer. Paths are taken as given, or
 * relative to the recipe's folder's parent when they do not exist as given. */
typedef enum { EG_STAGE_TRAIN, EG_STAGE_PRUNE, EG_STAGE_EVAL } eg_stage_kind;

typedef struct {
    eg_stage_kind kind;
    int line;
    /* train */
    int epochs, batch, shuffle;
    eg_optim_type optim;
    float lr, momentum, weight_decay;
    /* prune */
    char method[16], layer[EG_NAME_MAX];
    char layers[256];   /* magnitude: comma-separated nodes, empty for every conv2d and linear */
    int local;          /* magnitude: each layer its own ratio (scope=local) */
    double amount;      /* a count when amount_is_count, else a fraction in (0, 1) */
    int amount_is_count;
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
} eg_run_opts;

/* Runs every stage, printing as it goes; writes the model file (o->save) and
 * the JSON report atomically, and neither when a stage fails. A recipe
 * that trains or evaluates loads both data sets; one built from flags loads
 * only what its stages read (train: the training set, eval: the test set);
 * pruning needs no data. */
eg_status eg_recipe_run(const eg_recipe *r, const eg_run_opts *o, eg_error *err);

#endif
