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

/* Masks the `count` smallest of refs[0..n), passing over the weights of a
 * node already down to its floor: left[i] weights of nodes[i] are unmasked
 * so far, floor[i] must stay. Returns how many it masked. */
static size_t prune_smallest(eg_graph *g, weight_ref *refs, size_t n, size_t count, const int *nodes, int nn,
                             size_t *left, const size_t *floor)
{
    qsort(refs, n, sizeof *refs, by_magnitude);
    size_t done = 0;
    for (size_t i = 0; done < count && i < n; i++) {
        int l = 0;
        while (l < nn - 1 && nodes[l] != refs[i].node) l++;
        if (left[l] <= floor[l]) continue;
        eg_node *nd = &g->nodes[refs[i].node];
        nd->mask[0][refs[i].at] = 0;
        nd->param[0][refs[i].at] = 0;
        left[l]--, done++;
    }
    return done;
}

eg_status eg_prune_magnitude(eg_graph *g, const int *nodes, int count, double amount, int global, eg_error *err)
{
    return eg_prune_magnitude_floor(g, nodes, count, amount, global, NULL, err);
}

eg_status eg_prune_magnitude_floor(eg_graph *g, const int *nodes, int count, double amount, int global,
                                   const size_t *keep_at_least, eg_error *err)
{
    if (!(amount >= 0 && amount < 1))
        return eg_fail(err, EG_ERR_ARG, "magnitude pruning: amount must be a fraction in [0, 1), found %g", amount);
    size_t total = 0, floors = 0;
    for (int i = 0; i < count; i++) {
        const eg_node *nd = &g->nodes[nodes[i]];
        if (nd->op != EG_OP_CONV2D && nd->op != EG_OP_LINEAR)
            return eg_fail(err, EG_ERR_ARG, "magnitude pruning: '%s' is a %s; expected conv2d or linear nodes",
                           nd->name, eg_ops[nd->op]->name);
        size_t f = keep_at_least ? keep_at_least[i] : 0;
        if (f > nd->psize[0])
            return eg_fail(err, EG_ERR_ARG, "magnitude pruning: the floor of '%s' is %zu weights but it has only %zu",
                           nd->name, f, nd->psize[0]);
        size_t want = (size_t)llround(amount * (double)nd->psize[0]);
        if (!global && nd->psize[0] - want < f)
            return eg_fail(err, EG_ERR_ARG,
                           "magnitude pruning: amount %g of the %zu weights of '%s' would leave %zu, below its floor of %zu",
                           amount, nd->psize[0], nd->name, nd->psize[0] - want, f);
        total += nd->psize[0], floors += f;
    }
    size_t want = (size_t)llround(amount * (double)total);
    if (global && total - want < floors)
        return eg_fail(err, EG_ERR_ARG,
                       "magnitude pruning: amount %g of %zu weights would leave %zu, fewer than the layers' floors (%zu in all)",
                       amount, total, total - want, floors);
    eg_status st = eg_graph_enable_masks(g, err);
    if (st) return st;
    weight_ref *refs = malloc((total ? total : 1) * sizeof *refs);
    size_t *left = malloc(((size_t)count + 1) * sizeof *left), *floor = malloc(((size_t)count + 1) * sizeof *floor);
    if (!refs || !left || !floor) {
        free(refs), free(left), free(floor);
        return eg_fail(err, EG_ERR_NOMEM, "magnitude pruning: out of memory for %zu weights", total);
    }
    size_t n = 0;
    for (int i = 0; i < count; i++) {
        const eg_node *nd = &g->nodes[nodes[i]];
        left[i] = nd->psize[0];
        floor[i] = keep_at_least ? keep_at_least[i] : 0;
        size_t first = n;
        for (size_t k = 0; k < nd->psize[0]; k++)
            refs[n++] = (weight_ref){fabsf(nd->param[0][k]), nodes[i], (int32_t)k};
        if (!global)
            prune_smallest(g, refs + first, nd->psize[0], (size_t)llround(amount * (double)nd->psize[0]), nodes + i, 1,
                           left + i, floor + i);
    }
    if (global) prune_smallest(g, refs, total, want, nodes, count, left, floor);
    free(refs), free(left), free(floor);
    return EG_OK;
}
