/* First-order Taylor importance: how much the loss would change, to first
 * order, if a weight (or a whole channel) were set to zero, measured on
 * training batches with the weights unchanged.
 *   weights:  score(w) = sum over batches b of |w * g_b(w)|, g_b the gradient
 *             of batch b's mean loss;
 *   channels: (Molchanov et al. 2017) the mean over batches of
 *             |1/M sum over the batch's images and the M positions of the
 *             channel's output z times dL/dz|. As z = W_c x + b_c, that sum
 *             is sum_s w_s g_s + b_c g_b over the filter's weights and its
 *             bias, so it is computed from parameters and gradients, and
 *             it equals the form on the ReLU's output when a ReLU follows
 *             (dL/dz is zero wherever the ReLU cut z).
 * Under MPI every batch's gradient is the whole batch's, summed across the
 * ranks before any score is formed, so every rank ranks the same numbers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

eg_status eg_taylor_scores(eg_graph *g, const eg_dataset *ds, int batches, int batch, eg_rng *rng,
                           double *weight_scores, int node, double *channel_scores, eg_error *err)
{
    if (batches < 1) return eg_fail(err, EG_ERR_ARG, "taylor: batches must be at least 1, found %d", batches);
    if (batch < 1) return eg_fail(err, EG_ERR_ARG, "taylor: batch must be at least 1, found %d", batch);
    if (ds->n < 1) return eg_fail(err, EG_ERR_ARG, "taylor: the training set is empty");
    eg_status st = eg_data_fits(g, ds, err);
    if (st) return st;
    const eg_node *nd = channel_scores ? &g->nodes[node] : NULL;
    if (nd && nd->op != EG_OP_CONV2D && nd->op != EG_OP_LINEAR)
        return eg_fail(err, EG_ERR_ARG, "taylor: '%s' is a %s; expected a conv2d or linear node", nd->name,
                       eg_ops[nd->op]->name);
    if (batch > ds->n) batch = ds->n;
    size_t insz = (size_t)ds->c * ds->h * ds->w;
    int32_t *order = malloc((size_t)ds->n * sizeof *order), *rows = malloc((size_t)batch * sizeof *rows);
    float *xb = malloc((size_t)batch * insz * sizeof *xb);
    uint8_t *labels = malloc((size_t)batch);
    double *losses = malloc(2 * (size_t)eg_thread_count() * sizeof *losses);
    if (!order || !rows || !xb || !labels || !losses || eg_graph_prepare(g, batch, 1, eg_thread_count())) {
        st = eg_fail(err, EG_ERR_NOMEM, "taylor: out of memory at batch %d", batch);
        goto done;
    }
    for (int i = 0; i < ds->n; i++) order[i] = i;
    eg_rng_shuffle(rng, order, ds->n);
    if (weight_scores) memset(weight_scores, 0, g->nparam * sizeof *weight_scores);
    if (nd) memset(channel_scores, 0, (size_t)nd->out * sizeof *channel_scores);
    /* batches follow one another through the shuffled order, from its start again when it runs out */
    for (int b = 0; b < batches; b++) {
        for (int i = 0; i < batch; i++) rows[i] = order[((size_t)b * batch + i) % (size_t)ds->n];
        eg_batch_gradient(g, ds, rows, batch, xb, labels, losses);
        if (weight_scores)
            for (size_t k = 0; k < g->nparam; k++) weight_scores[k] += fabs((double)g->params[k] * g->grads[k]);
        if (nd) {
            size_t per = nd->psize[0] / (size_t)nd->out, M = (size_t)nd->out_shape.h * nd->out_shape.w;
            for (int c = 0; c < nd->out; c++) {
                const float *w = nd->param[0] + (size_t)c * per, *gw = nd->grad[0] + (size_t)c * per;
                double s = 0;
                for (size_t k = 0; k < per; k++) s += (double)w[k] * gw[k];
                if (nd->nparams > 1) s += (double)nd->param[1][c] * nd->grad[1][c];
                channel_scores[c] += fabs(s / (double)M) / batches;
            }
        }
    }
done:
    free(order), free(rows), free(xb), free(labels), free(losses);
    return st;
}

typedef struct {
    double score;
    int32_t node, at;  /* node index, offset in its weight */
} scored_weight;

/* By score, then by position: ties go to the earlier layer and index. */
static int by_score(const void *a, const void *b)
{
    const scored_weight *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    if (x->node != y->node) return x->node < y->node ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

static void mask_lowest(eg_graph *g, scored_weight *w, size_t n, size_t count)
{
    qsort(w, n, sizeof *w, by_score);
    for (size_t i = 0; i < count && i < n; i++) {
        eg_node *nd = &g->nodes[w[i].node];
        nd->mask[0][w[i].at] = 0;
        nd->param[0][w[i].at] = 0;
    }
}

eg_status eg_prune_scores(eg_graph *g, const int *nodes, int count, const double *scores, double amount, int global,
                          eg_error *err)
{
    if (!(amount >= 0 && amount < 1))
        return eg_fail(err, EG_ERR_ARG, "pruning: amount must be a fraction in [0, 1), found %g", amount);
    size_t total = 0;
    for (int i = 0; i < count; i++) {
        const eg_node *nd = &g->nodes[nodes[i]];
        if (nd->op != EG_OP_CONV2D && nd->op != EG_OP_LINEAR)
            return eg_fail(err, EG_ERR_ARG, "pruning: '%s' is a %s; expected conv2d or linear nodes", nd->name,
                           eg_ops[nd->op]->name);
        total += nd->psize[0];
    }
    eg_status st = eg_graph_enable_masks(g, err);
    if (st) return st;
    scored_weight *w = malloc((total ? total : 1) * sizeof *w);
    if (!w) return eg_fail(err, EG_ERR_NOMEM, "pruning: out of memory for %zu weights", total);
    size_t n = 0;
    for (int i = 0; i < count; i++) {
        const eg_node *nd = &g->nodes[nodes[i]];
        size_t first = n, off = (size_t)(nd->param[0] - g->params);
        for (size_t k = 0; k < nd->psize[0]; k++)  /* weights pruned before go first */
            w[n++] = (scored_weight){nd->mask[0][k] == 0 ? -1.0 : scores[off + k], nodes[i], (int32_t)k};
        if (!global) mask_lowest(g, w + first, nd->psize[0], (size_t)llround(amount * (double)nd->psize[0]));
    }
    if (global) mask_lowest(g, w, total, (size_t)llround(amount * (double)total));
    free(w);
    return EG_OK;
}
