/* Model files and checkpoints, the C export's layer details and the ONNX
 * reader (src/io/). */
#ifndef EG_IO_H
#define EG_IO_H

#include "edagari.h"
#include "train/train.h"

/* ---------------------------------------------------------- model files */

#define EG_MODEL_VERSION 1

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

/* How one conv2d or linear node's parameters are stored (all zero for other ops). */
typedef struct {
    int csr;             /* CSR (row offsets per output, column indices, values), else dense */
    size_t kept;         /* weights stored: all of them dense; in CSR those not masked-and-zero */
    int index_bytes;     /* CSR: bytes of each row offset and column index (1, 2 or 4) */
    size_t bytes;        /* flash: weights, bias and indices as exported */
    size_t dense_bytes;  /* the same stored dense */
} eg_c_layer;
void eg_export_c_layer(const eg_node *nd, eg_c_layer *l);

/* ----------------------------------------------------------------- ONNX */

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
/* The opset eg_onnx_export writes for g: 13, or the highest an op of g
 * needs (eg_onnx_form.opset: HardSwish 14). */
int eg_onnx_opset(const eg_graph *g);

#endif
