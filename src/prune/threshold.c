/* Threshold pruning: every chosen weight with |w| <= value gets a zero in the
 * graph's mask and becomes 0, as magnitude pruning does with the smallest
 * weights. After training with an L1 penalty (or its soft threshold) most
 * weights sit near or at zero, and this turns them into pruned ones. */
#include <math.h>

#include "internal.h"

eg_status eg_prune_threshold(eg_graph *g, const int *nodes, int count, double value, size_t *masked, eg_error *err)
{
    if (masked) *masked = 0;
    if (!(value >= 0 && isfinite(value)))
        return eg_fail(err, EG_ERR_ARG, "threshold pruning: value must be a finite number >= 0, found %g", value);
    for (int i = 0; i < count; i++) {
        const eg_node *nd = &g->nodes[nodes[i]];
        if (nd->op != EG_OP_CONV2D && nd->op != EG_OP_LINEAR)
            return eg_fail(err, EG_ERR_ARG, "threshold pruning: '%s' is a %s; expected conv2d or linear nodes",
                           nd->name, eg_ops[nd->op]->name);
    }
    eg_status st = eg_graph_enable_masks(g, err);
    if (st) return st;
    size_t n = 0;
    const float v = (float)value;  /* as the weights are: value=0.05 prunes a weight of 0.05f */
    for (int i = 0; i < count; i++) {
        eg_node *nd = &g->nodes[nodes[i]];
        float *w = nd->param[0], *mask = nd->mask[0];
        for (size_t k = 0; k < nd->psize[0]; k++)
            if (fabsf(w[k]) <= v) {
                n += mask[k] != 0;
                mask[k] = 0;
                w[k] = 0;
            }
    }
    if (masked) *masked = n;
    return EG_OK;
}
