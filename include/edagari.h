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

/* ------------------------------------------------------------------ CPU */

/* The kernels run as one of the build's ISA variants: "avx512", "avx2" and
 * "generic" on x86-64, "neon" and "generic" on aarch64. The best one the
 * CPU supports is chosen at start-up, or the one the environment variable
 * EG_ISA names (a lower one, to measure or test it). */
const char *eg_isa_name(void);         /* the variant in use */
int eg_isa_vector_floats(void);        /* its vector width in floats */
const char *eg_isa_best(void);         /* the best this CPU runs */
const char *eg_isa_available(void);    /* every variant this CPU runs, best first, space-separated */
/* Switches to a variant: EG_ERR_ARG naming the choices for an unknown name
 * or one this CPU cannot run. A graph prepared before is prepared again by
 * its next eg_graph_prepare. */
eg_status eg_isa_select(const char *name, eg_error *err);
/* EG_ISA as start-up read it: EG_OK when unset or valid, else why it
 * was refused (the best variant runs instead). */
eg_status eg_isa_check_env(eg_error *err);

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
/* Moves n samples of ds, chosen by a shuffle seeded with seed, into *held
 * (in ds's order); ds keeps the others, in their order. */
eg_status eg_dataset_hold_out(eg_dataset *ds, int n, uint64_t seed, eg_dataset *held, eg_error *err);
/* Every value of channel c becomes (x - mean[c]) / std[c]. */
void eg_dataset_normalize(eg_dataset *ds, const float *mean, const float *std);
/* Channel c's mean and (population) standard deviation over the set, in
 * double precision; a channel that is constant gets std 1. */
void eg_dataset_channel_stats(const eg_dataset *ds, float *mean, float *std);

/* ---------------------------------------------------------------- graph */

typedef struct { int c, h, w; } eg_shape;  /* per sample; features are c x 1 x 1 */

#define EG_NAME_MAX 32

/* A model: a DAG of named nodes, their parameters, and how it runs
 * (src/graph/graph.h). */
typedef struct eg_graph eg_graph;
typedef struct eg_node eg_node;

/* ----------------------------------------------------------------- models */

/* Opens a model: a spec (docs/models.md; its parameters initialised from
 * seed as PyTorch initialises Conv2d and Linear), a model file (.edg) or an
 * ONNX file (.onnx). NULL on failure, with err saying why. Close it with
 * eg_close. */
eg_graph *eg_open(const char *path, uint64_t seed, eg_error *err);
/* The same from a spec's text; name names it in messages. */
eg_graph *eg_open_spec(const char *text, const char *name, uint64_t seed, eg_error *err);
void eg_close(eg_graph *g);

/* Its nodes in topological (file) order: node 0 is the input, the last
 * the output. */
int eg_node_count(const eg_graph *g);
const char *eg_node_name(const eg_graph *g, int i);
const char *eg_node_op(const eg_graph *g, int i);   /* "conv2d", "relu", ... */
eg_shape eg_node_shape(const eg_graph *g, int i);   /* its output's, per sample */
size_t eg_graph_param_count(const eg_graph *g);
size_t eg_graph_macs(const eg_graph *g);           /* multiply-accumulates per sample */
/* Prints a table of nodes with shapes, parameters and MACs. */
void eg_graph_print(const eg_graph *g, FILE *f);

/* n samples x [n, input shape] through the model on `threads` threads (0:
 * every core) into out [n, output size]. */
eg_status eg_infer(eg_graph *g, const float *x, int n, int threads, float *out, eg_error *err);

/* One recipe stage on the model, written as a recipe line (docs/recipes.md):
 * "train epochs=1 optimizer=adam lr=0.001 batch=64", "prune method=l1
 * layer=conv1 amount=2", "prune method=magnitude amount=0.9", "eval
 * batch=1000", ... Training and Taylor scores read train; evaluation and
 * layer removal read test (NULL where the stage needs none). seed seeds
 * shuffling and random choices; log (may be NULL) gets what `edagari run`
 * prints for the stage. */
typedef struct {
    const eg_dataset *train, *test;
    uint64_t seed;
    int threads;  /* 0: every core */
    FILE *log;
} eg_stage_opts;
eg_status eg_graph_stage(eg_graph *g, const char *stage, const eg_stage_opts *o, eg_error *err);

typedef enum { EG_OPTIM_SGD, EG_OPTIM_ADAM } eg_optim_type;

/* Top-1 accuracy in percent over ds, in batches of `batch`. */
eg_status eg_evaluate(eg_graph *g, const eg_dataset *ds, int batch, double *accuracy,
                      double *loss, eg_error *err);


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
eg_status eg_model_save(const eg_graph *g, const char *path, eg_error *err);

/* ------------------------------------------------------------- C export */

/* A model as C99 code for devices (src/io/export_c.c): NAME.h and NAME.c
 * with the parameters as const arrays and one function
 *   int NAME_infer(const float *input, float *output, float *scratch);
 * that allocates nothing and calls no library function. A layer with masks
 * (nd->mask[0]) is stored CSR when that is smaller than dense. */

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

#endif
