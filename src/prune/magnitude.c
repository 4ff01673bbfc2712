/* Unstructured magnitude pruning: the weights of smallest |w| get a zero in
 * the graph's mask, over all chosen layers at once (global) or layer by
 * layer (local). Shapes stay; the mask keeps them zero through training. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

typedef struct {
    float mag;
    int32_t node, at;  /* where the weight is: node index, offset in param 0 */
} weight_ref;

/* By magnitude, then by position: ties go to the earlier layer and index. */
static int by_magnitude(const void *a, const void *b)
{
    const weight_ref *x = a, *y = b;
    if (x->mag != y->mag) return x->mag < y->mag ? -1 : 1;
    if (x->node != y->node) return x->node < y->node ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* Masks the `count` smallest of refs[0..n). */
static void prune_smallest(eg_graph *g, weight_ref *refs, size_t n, size_t count)
{
    qsort(refs, n, sizeof *refs, by_magnitude);
    for (size_t i = 0; i < count && i < n; i++) {
        eg_node *nd = &g->nodes[refs[i].node];
        nd->mask[0][refs[i].at] = 0;
        nd->param[0][refs[i].at] = 0;
    }
}

eg_status eg_prune_magnitude(eg_graph *g, const int *nodes, int count, double amount, int global, eg_error *err)
{
    if (!(amount >= 0 && amount < 1))
        return eg_fail(err, EG_ERR_ARG, "magnitude pruning: amount must be a fraction in [0, 1), found %g", amount);
    size_t total = 0;
    for (int i = 0; i < count; i++) {
        const eg_node *nd = &g->nodes[nodes[i]];
        if (nd->op != EG_OP_CONV2D && nd->op != EG_OP_LINEAR)
            return eg_fail(err, EG_ERR_ARG, "magnitude pruning: '%s' is a %s; expected conv2d or linear nodes",
                           nd->name, eg_ops[nd->op]->name);
        total += nd->psize[0];
    }
    eg_status st = eg_graph_enable_masks(g, err);
    if (st) return st;
    weight_ref *refs = malloc((total ? total : 1) * sizeof *refs);
    if (!refs) return eg_fail(err, EG_ERR_NOMEM, "magnitude pruning: out of memory for %zu weights", total);
    size_t n = 0;
    for (int i = 0; i < count; i++) {
        const eg_node *nd = &g->nodes[nodes[i]];
        size_t first = n;
        for (size_t k = 0; k < nd->psize[0]; k++)
            refs[n++] = (weight_ref){fabsf(nd->param[0][k]), nodes[i], (int32_t)k};
        if (!global) prune_smallest(g, refs + first, nd->psize[0], (size_t)llround(amount * (double)nd->psize[0]));
    }
    if (global) prune_smallest(g, refs, total, (size_t)llround(amount * (double)total));
    free(refs);
    return EG_OK;
}
