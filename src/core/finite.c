/* Finite checks: a model with a nan or an infinity in it is never
 * evaluated, pruned, exported or written, and training stops at the step
 * that made one. */
#include <math.h>

#include "internal.h"

size_t eg_first_nonfinite(const float *x, size_t n)
{
    /* blocks without an early exit vectorize; only a bad block is searched */
    enum { BLOCK = 256 };
    for (size_t lo = 0; lo < n; lo += BLOCK) {
        size_t hi = n - lo < BLOCK ? n : lo + BLOCK;
        int bad = 0;
        for (size_t i = lo; i < hi; i++) bad |= !isfinite(x[i]);
        if (bad)
            for (size_t i = lo; i < hi; i++)
                if (!isfinite(x[i])) return i;
    }
    return n;
}

eg_status eg_graph_check_finite(const eg_graph *g, const char *what, eg_error *err)
{
    static const char *const names[2][2] = {{"weight", "bias"}, {"scale", "shift"}};
    static const char *const stats[2] = {"running mean", "running variance"};
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        int bn = nd->op == EG_OP_BATCHNORM2D;
        for (int b = 0; b < 2; b++)  /* parameters, then buffers */
            for (int p = 0; p < (b ? nd->nbuffers : nd->nparams); p++) {
                const float *x = b ? nd->buffer[p] : nd->param[p];
                size_t n = b ? nd->bsize[p] : nd->psize[p], k = eg_first_nonfinite(x, n);
                if (k < n)
                    return eg_fail(err, EG_ERR_NUMERIC, "%s: %s's %s [%zu of %zu] is %g", what, nd->name,
                                   b ? stats[p] : names[bn][p], k, n, (double)x[k]);
            }
    }
    return EG_OK;
}
