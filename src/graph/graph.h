/* What a model is: a DAG of named nodes in file order, each an op with its
 * attributes, shapes and views of the graph's parameter, gradient, mask and
 * buffer blocks. How it runs (buffers, fusion, kernels, lanes, sparse
 * copies) is the plan's (graph/plan.h), made by eg_graph_prepare. */
#ifndef EG_GRAPH_H
#define EG_GRAPH_H

#include "edagari.h"

/* The ops, in the order of the op table (layers/registry.c); a new one
 * goes last. */
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
    EG_OP_SIGMOID,
    EG_OP_HARDSWISH,
    EG_OP_RELU6,
    EG_OP_AVGPOOL2D,
    EG_OP_DWCONV2D,
    EG_OP_COUNT
} eg_op_type;

#define EG_MAX_INPUTS 2
#define EG_MAX_PARAMS 2

#include "graph/plan.h"

/* One named node of the model DAG: its op, inputs, attributes and shapes,
 * and views of its parameters (weight then bias), their gradients and
 * masks, and its buffers, in the graph's flat blocks. */
struct eg_node {
    char name[EG_NAME_MAX];
    eg_op_type op;
    int ninputs, inputs[EG_MAX_INPUTS];  /* indices of earlier nodes */
    int line;                            /* spec line, for messages */
    /* attributes (each op reads those it declares) */
    int out;       /* conv: output channels; linear: output features */
    int kernel, stride, pad;
    int ceil;      /* pools: 1 rounds the output size up, as PyTorch's ceil_mode */
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
};

struct eg_graph {
    char name[64];
    eg_node *nodes;
    int nnodes;
    float *params, *grads;   /* flat blocks, same layout; grads NULL until a prepare for training */
    float *masks;            /* same layout again once anything is pruned unstructured, else NULL */
    size_t nparam;
    float *buffers;          /* every node's buffers (nbuffer floats), in node order */
    size_t nbuffer;
    char *history;           /* what was done to the model, text lines each ending in '\n', or NULL:
                              * kept by model files, freed by eg_graph_free (see eg_model_note) */
    int norm_c;              /* the input normalisation it was trained with, (x - mean) / std per
                              * channel: norm[c] the means, norm[norm_c + c] the stds; 0: none */
    float *norm;
    eg_plan plan;            /* how it runs: made by eg_graph_prepare (graph/plan.c) */
};

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

/* Plans g for batch n (graph/plan.c): what every node runs and where its
 * buffers lie; training also allocates gradient and saved-for-backward
 * buffers (and, the first time, g->grads: a graph that is only evaluated
 * never has any). Plans again only when something changed. */
eg_status eg_graph_prepare(eg_graph *g, int n, int training, int threads);

int eg_graph_find(const eg_graph *g, const char *name);       /* index or -1 */
const eg_node *eg_graph_output(const eg_graph *g);

/* x: [n, input shape]. The output is eg_graph_y(g), [n, classes]. In
 * inference over more than threads x 32 images the other nodes' outputs
 * hold only the last chunks, not the whole batch (see eg_plan.chunk_rows). */
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

/* Drops the nodes marked in gone; whatever read a dropped node reads
 * redirect[it] instead. Every other node keeps its arrays (parameters,
 * masks, buffers). */
eg_status eg_graph_remove_nodes(eg_graph *g, const char *gone, const int *redirect, eg_error *err);

#define EG_BN_EPS 1e-5  /* batchnorm2d's epsilon, PyTorch's default */

/* Folds each batchnorm2d that alone reads a conv2d, dwconv2d or linear
 * into its weights and bias, for inference and export (the C export folds
 * a copy); *folded (may be NULL) gets how many. */
eg_status eg_graph_fold_batchnorm(eg_graph *g, int *folded, eg_error *err);


#endif
