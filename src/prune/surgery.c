/* Surgery: physically remove channels. Every member of a dependency group is
 * sliced with the same keep list through its op's channel hooks, shapes are
 * re-inferred, and the parameters (masks, buffers) are laid out in new,
 * smaller blocks. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The arrays of a node surgery slices: its parameters, their masks, its buffers. */
enum { KIND_PARAM, KIND_MASK, KIND_BUFFER, KINDS };

static int count_of(const eg_node *nd, int kind) { return kind == KIND_BUFFER ? nd->nbuffers : nd->nparams; }
static size_t size_of(const eg_node *nd, int kind, int p) { return kind == KIND_BUFFER ? nd->bsize[p] : nd->psize[p]; }
static float *array_of(eg_node *nd, int kind, int p)
{
    return kind == KIND_PARAM ? nd->param[p] : kind == KIND_MASK ? nd->mask[p] : nd->buffer[p];
}

eg_status eg_surgery_keep(eg_graph *g, const eg_dep_group *grp, const int *keep, int nkeep, eg_error *err)
{
    if (grp->root < 0 || grp->root >= g->nnodes)
        return eg_fail(err, EG_ERR_ARG, "dependency group names node %d; %s has %d nodes", grp->root, g->name,
                       g->nnodes);
    const char *root = g->nodes[grp->root].name;
    /* A group built before an earlier surgery would slice past the arrays. */
    if (grp->channels != g->nodes[grp->root].out_shape.c)
        return eg_fail(err, EG_ERR_ARG, "dependency group of '%s' is stale: built for %d channels, the node now has %d; rebuild it",
                       root, grp->channels, g->nodes[grp->root].out_shape.c);
    if (nkeep < 1)
        return eg_fail(err, EG_ERR_ARG, "pruning would remove all %d channels of '%s'; at least one must stay",
                       grp->channels, root);
    for (int i = 0; i < nkeep; i++)
        if (keep[i] < 0 || keep[i] >= grp->channels || (i && keep[i] <= keep[i - 1]))
            return eg_fail(err, EG_ERR_ARG, "keep list for '%s': entry %d is %d; expected ascending channels in 0..%d",
                           root, i, keep[i], grp->channels - 1);

    /* Detach each node's arrays into arrays of their own, slice them in
     * place, and lay them out again in new, smaller blocks. */
    float *(*own)[KINDS][EG_MAX_PARAMS] = calloc((size_t)g->nnodes, sizeof *own);
    if (!own) return eg_fail(err, EG_ERR_NOMEM, "out of memory for surgery");
    eg_status st = EG_OK;
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; k < KINDS; k++) {
            if (k == KIND_MASK && !g->masks) continue;
            for (int p = 0; p < count_of(&g->nodes[i], k); p++) {
                size_t n = size_of(&g->nodes[i], k, p);
                own[i][k][p] = malloc((n ? n : 1) * sizeof(float));
                if (!own[i][k][p]) st = eg_fail(err, EG_ERR_NOMEM, "out of memory for surgery");
                else memcpy(own[i][k][p], array_of(&g->nodes[i], k, p), n * sizeof(float));
            }
        }
    /* Output slices first: a node that is both a producer and a consumer of
     * the group (a conv between two points of one residual path) sizes its
     * input slice by its output count, set here. */
    for (int pass = 0; pass < 2 && !st; pass++)
        for (int m = 0; m < grp->nmembers; m++) {
            const eg_dep_member *mb = &grp->members[m];
            eg_node *nd = &g->nodes[mb->node];
            if ((mb->role == EG_DEP_IN) != pass) continue;
            for (int k = 0; k < KINDS; k++) {
                if (!own[mb->node][k][0]) continue;
                if (mb->role == EG_DEP_IN) {
                    if (k != KIND_BUFFER) eg_ops[nd->op]->keep_in(nd, own[mb->node][k], keep, nkeep, mb->block);
                } else {
                    eg_ops[nd->op]->keep_out(nd, own[mb->node][k], keep, nkeep);
                }
            }
            if (mb->role == EG_DEP_OUT) nd->out = nkeep;  /* every channel-producing op counts them in out */
        }
    if (!st) st = eg_graph_infer_shapes(g, g->name, err);
    if (!st) st = eg_graph_alloc_params(g, err);
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; k < KINDS; k++)
            for (int p = 0; p < EG_MAX_PARAMS; p++) {
                if (!st && own[i][k][p] && p < count_of(&g->nodes[i], k))
                    memcpy(array_of(&g->nodes[i], k, p), own[i][k][p], size_of(&g->nodes[i], k, p) * sizeof(float));
                free(own[i][k][p]);
            }
    free(own);
    return st;
}
