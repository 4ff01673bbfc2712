/* How a model runs: the plan eg_graph_prepare makes (graph/plan.c) for a
 * batch size, training or inference and a thread count. It holds, per node,
 * a step: which kernel the node runs, where its buffers lie in the arena,
 * what it is fused with, whether it runs in batch lanes, and the sparse or
 * transposed copies of its weights; and, for the graph, the arena, the
 * per-thread scratch and gradient blocks and the lanes' buffers. The model
 * (graph/graph.h) does not change when it is planned. */
#ifndef EG_PLAN_H
#define EG_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kernels/kernels.h"

/* The kernel a node runs. */
typedef enum {
    EG_RUN_PLAIN,         /* the op's own code (every op but conv2d) */
    EG_RUN_ROWS,          /* conv2d: the row-offset product on zero-padded planes (stride 1) */
    EG_RUN_IM2COL,        /* conv2d: columns, then a product */
    EG_RUN_SMALL,         /* conv2d in inference, one or two channels left: the small conv, pooled as it is computed */
    EG_RUN_SMALL_DIRECT,  /* the same reading its input in place, not from padded planes */
} eg_run;

/* What a conv2d or linear node multiplies by in inference. */
typedef enum {
    EG_WEIGHTS_DENSE,
    EG_WEIGHTS_CSR,  /* compressed sparse rows of the kept weights (kernels/csr.c, csr_rows.c) */
    EG_WEIGHTS_NM,   /* an N:M copy: at most nm_n kept in every nm_m consecutive weights of a row (kernels/nm.c) */
} eg_weights;

typedef struct {
    eg_run run;
    eg_weights weights;
    /* per-batch buffers in the arena */
    float *y, *dy;        /* output [N, out_shape] and dloss/dy */
    float *saved;         /* saved for backward (im2col columns, padded planes, xhat), or padded planes */
    int32_t *argmax;      /* maxpool: each output's source (one byte each when its conv pools) */
    float *shared;        /* memory a training pass's threads share (batchnorm2d's partial sums, conv2d's dy planes) */
    /* gradients */
    int dx_add[EG_MAX_INPUTS];  /* backward adds into the input's dy (else writes) */
    int needs_dx;               /* some input wants a gradient */
    /* fusion */
    int relu_folded;  /* a relu whose consumer applies it (its y/dy alias its input's) */
    int relu_in;      /* applies the relu folded into its input */
    int pool_into;    /* conv2d writing the pooled output of this 2x2 pool node (0: none) */
    int pooled_in;    /* a 2x2 pool its producing conv2d computes */
    int padded_out;   /* such a pool: the conv2d whose zero-padded input planes it writes instead of y (0: none) */
    int padded_in;    /* conv2d whose padded input planes its producer writes */
    /* training in batch lanes: a pooled conv2d takes its threads' whole
     * groups of eg_k->vl images in lanes; lanes_from is the conv whose pool
     * writes its lane planes, lanes_to the conv it writes them for (node
     * indices, 0: none) */
    int lanes_train, lanes_from, lanes_to;
    /* inference copies of the weight, in the arena, rebuilt by every
     * prepare for inference */
    int32_t *csr_rowptr, *csr_col;
    float *csr_val;
    int nm_n, nm_m;
    float *nm_val;
    uint8_t *nm_idx;
    float *wt;            /* linear: the weight transposed, [in, out] */
    double fwd_seconds, bwd_seconds;  /* accumulated when the plan profiles */
} eg_step;

typedef struct {
    eg_step *steps;   /* one per node */
    int nsteps;
    const eg_kernel_table *kernels;  /* the variant it was made for */
    int batch, training, threads;
    float *arena;
    size_t arena_floats;
    float *tgrads;    /* per-thread gradient blocks: threads x nparam */
    float *scratch;   /* per-thread scratch: threads x scratch_per_thread */
    size_t scratch_per_thread;
    size_t copy_floats;  /* arena floats reserved for the nodes' inference copies (CSR, N:M, W^T) */
    int chunk_rows;      /* inference over more images than threads x 32: the per-batch buffers
                          * hold only this many rows (one chunk per thread), the input is
                          * staged in `stage`, the output node computes into `chunk_out` and
                          * its y holds the whole batch (see eg_graph_forward) */
    float *stage, *chunk_out;
    float *lanes;     /* inference in batch lanes: per-thread buffers, lanes_floats each (NULL:
                       * the graph runs image by image; see graph/lanes.c) */
    size_t lanes_floats;
    /* set before eg_graph_prepare, for tests and benches */
    int profile;      /* time every node's forward and backward */
    int unfused;      /* every conv2d and 2x2 pool run apart */
    int no_lanes;     /* image by image even where lanes could run */
    int sparse;       /* 1 forces the CSR path for every masked conv2d and linear node in inference,
                       * 2 the N:M path (m = 4), -1 the dense one; 0 (the default) decides by
                       * density and pattern */
} eg_plan;

/* Inference takes a thread's images through every node this many at a
 * time, so that a chunk's activations stay in cache from one layer to the
 * next; each image's result does not depend on the chunk it is in.
 * Training runs the whole share: backward needs it. Over more images than
 * threads x chunk, the buffers hold one chunk per thread and are reused
 * (eg_graph_forward), so that a layer's outputs are not written to memory
 * that has long left the caches. */
#define EG_INFER_CHUNK 32

/* The step of node nd of g, and of its input k. */
#define eg_step_of(g, nd) (&(g)->plan.steps[(nd) - (g)->nodes])
#define eg_input_step(g, nd, k) (&(g)->plan.steps[(nd)->inputs[k]])

/* The output node's output, [batch, classes]. */
#define eg_graph_y(g) ((g)->plan.steps[(g)->nnodes - 1].y)

/* Prints each node's step: kernel, weights, fusion, lanes. */
struct eg_graph;
void eg_plan_print(const struct eg_graph *g, FILE *f);

#endif
