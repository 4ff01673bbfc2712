/* Training's parts: the loss, the optimizers, the penalties and the
 * training loop (src/train/). */
#ifndef EG_TRAIN_H
#define EG_TRAIN_H

#include "edagari.h"

/* ----------------------------------------------------------------- loss */

/* Mean softmax cross-entropy over n rows of k logits. If dlogits is not NULL
 * it receives dloss/dlogits. Returns the loss. */
float eg_softmax_xent(const float *logits, const uint8_t *labels, int n, int k, float *dlogits);

/* ------------------------------------------------------------ optimizers */

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
#endif
