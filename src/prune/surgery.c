/* Surgery: physically remove channels. Every member of a dependency group is
 * sliced with the same keep list through its op's channel hooks, shapes are
 * re-inferred, and the parameters are laid out in a new, smaller block. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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

    /* Detach each node's parameters (and masks) into arrays of their own,
     * slice them in place, and lay them out again in new, smaller blocks. */
    int nblocks = g->masks ? 2 : 1;
    float *(*own)[2][EG_MAX_PARAMS] = calloc((size_t)g->nnodes, sizeof *own);
    if (!own) return eg_fail(err, EG_ERR_NOMEM, "out of memory for surgery");
    eg_status st = EG_OK;
    for (int i = 0; i < g->nnodes; i++)
        for (int b = 0; b < nblocks; b++)
            for (int p = 0; p < g->nodes[i].nparams; p++) {
                own[i][b][p] = malloc(g->nodes[i].psize[p] * sizeof(float));
                if (!own[i][b][p]) st = eg_fail(err, EG_ERR_NOMEM, "out of memory for surgery");
                else memcpy(own[i][b][p], b ? g->nodes[i].mask[p] : g->nodes[i].param[p], g->nodes[i].psize[p] * sizeof(float));
            }
    for (int m = 0; m < grp->nmembers && !st; m++) {
        const eg_dep_member *mb = &grp->members[m];
        eg_node *nd = &g->nodes[mb->node];
        for (int b = 0; b < nblocks; b++)
            if (mb->role == EG_DEP_OUT)
                eg_ops[nd->op]->keep_out(nd, own[mb->node][b], keep, nkeep);
            else
                eg_ops[nd->op]->keep_in(nd, own[mb->node][b], keep, nkeep, mb->block);
        if (mb->role == EG_DEP_OUT) nd->out = nkeep;  /* every channel-producing op counts them in out */
    }
    if (!st) st = eg_graph_infer_shapes(g, g->name, err);
    if (!st) st = eg_graph_alloc_params(g, err);
    for (int i = 0; i < g->nnodes; i++)
        for (int b = 0; b < nblocks; b++)
            for (int p = 0; p < g->nodes[i].nparams; p++) {
                if (!st) memcpy(b ? g->nodes[i].mask[p] : g->nodes[i].param[p], own[i][b][p], g->nodes[i].psize[p] * sizeof(float));
                free(own[i][b][p]);
            }
    free(own);
    return st;
}
