/* N:M semi-structured pruning: in every group of m consecutive weights of a
 * row along the input dimension (a linear layer's inputs; a convolution's
 * (input channel, ky, kx) in that order, its flattened filter) at most n are
 * kept: the n of largest |w|, ties kept by the lower index. A row whose
 * length is not a multiple of m ends with a shorter group, which keeps
 * min(n, its length). Weights masked before count as the smallest, and
 * nothing masked is ever unmasked, so a group may keep fewer than n.
 * Inference runs such layers on the N:M kernel (src/kernels/nm.c). */
#include "internal.h"

/* |w|, or -1 for a weight already masked, so it goes first. */
static float magnitude(const eg_node *nd, size_t k)
{
    return nd->mask[0][k] == 0 ? -1.0f : (nd->param[0][k] < 0 ? -nd->param[0][k] : nd->param[0][k]);
}

eg_status eg_prune_nm(eg_graph *g, const int *nodes, int count, int n, int m, eg_error *err)
{
    if (m < 2 || m > EG_NM_MAX_M || n < 1 || n >= m)
        return eg_fail(err, EG_ERR_ARG, "N:M pruning: needs 1 <= n < m <= %d, found n=%d m=%d", EG_NM_MAX_M, n, m);
    for (int i = 0; i < count; i++) {
        const eg_node *nd = &g->nodes[nodes[i]];
        if (nd->op != EG_OP_CONV2D && nd->op != EG_OP_LINEAR)
            return eg_fail(err, EG_ERR_ARG, "N:M pruning: '%s' is a %s; expected conv2d or linear nodes", nd->name,
                           eg_ops[nd->op]->name);
    }
    eg_status st = eg_graph_enable_masks(g, err);
    if (st) return st;
    for (int i = 0; i < count; i++) {
        eg_node *nd = &g->nodes[nodes[i]];
        size_t K = nd->psize[0] / (size_t)nd->out;
        for (size_t r = 0; r < (size_t)nd->out; r++)
            for (size_t g0 = 0; g0 < K; g0 += (size_t)m) {
                size_t len = K - g0 < (size_t)m ? K - g0 : (size_t)m, base = r * K + g0;
                /* rank of each weight in its group: how many beat it (larger,
                 * or as large at a lower index); the first n ranks stay */
                for (size_t a = 0; a < len; a++) {
                    float fa = magnitude(nd, base + a);
                    size_t beaten = 0;
                    for (size_t b = 0; b < len; b++) {
                        float fb = magnitude(nd, base + b);
                        beaten += fb > fa || (fb == fa && b < a);
                    }
                    if (beaten >= (size_t)n) nd->mask[0][base + a] = 0;
                }
                for (size_t a = 0; a < len; a++)
                    if (nd->mask[0][base + a] == 0) nd->param[0][base + a] = 0;
            }
    }
    return EG_OK;
}
