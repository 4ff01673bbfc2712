/* Scores for a whole dependency group. A group fed by several producers (a
 * residual add couples them) loses the same channels from each, so each
 * channel's score is the sum of the criterion's scores over the group's
 * producers; for one producer that is its score unchanged. The bn_scale
 * criterion (network slimming, Liu et al. 2017) scores channel c by |gamma_c|
 * of the group's batchnorms instead, summed when there are several. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int is_bn_scale(const eg_criterion *crit) { return crit && !strcmp(crit->name, "bn_scale"); }

eg_status eg_criterion_check(const eg_criterion *crit, const eg_graph *g, const eg_dep_group *grp, eg_error *err)
{
    if (!is_bn_scale(crit)) return EG_OK;
    for (int m = 0; m < grp->nmembers; m++)
        if (g->nodes[grp->members[m].node].op == EG_OP_BATCHNORM2D) return EG_OK;
    return eg_fail(err, EG_ERR_ARG, "method bn_scale scores channels by the scale of their batchnorm2d, but no batchnorm2d "
                   "follows '%s'; use a norm criterion (l1, l2) for it", g->nodes[grp->root].name);
}

/* |gamma| summed over the group's batchnorms; 0 where it has none. */
static void bn_scales(const eg_graph *g, const eg_dep_group *grp, double *scores)
{
    memset(scores, 0, (size_t)grp->channels * sizeof *scores);
    for (int m = 0; m < grp->nmembers; m++) {
        const eg_node *nd = &g->nodes[grp->members[m].node];
        if (nd->op != EG_OP_BATCHNORM2D) continue;
        for (int c = 0; c < grp->channels; c++) scores[c] += fabs((double)nd->param[0][c]);
    }
}

void eg_importance_bn_scale(const eg_graph *g, int node, double *scores)
{
    eg_dep_group grp;
    eg_error err;
    if (eg_depgroup_build(g, node, &grp, &err)) {  /* callers check groups first */
        memset(scores, 0, (size_t)g->nodes[node].out_shape.c * sizeof *scores);
        return;
    }
    bn_scales(g, &grp, scores);
}

eg_status eg_group_scores(const eg_graph *g, const eg_dep_group *grp, const eg_criterion *crit, double *scores,
                          eg_rng *rng, eg_error *err)
{
    eg_status st = eg_criterion_check(crit, g, grp, err);
    if (st) return st;
    if (is_bn_scale(crit)) {
        bn_scales(g, grp, scores);
        return EG_OK;
    }
    crit->score(g, grp->root, scores, rng);
    double *more = NULL;
    for (int m = 0; m < grp->nmembers; m++) {
        const eg_dep_member *mb = &grp->members[m];
        if (mb->role != EG_DEP_OUT || mb->node == grp->root) continue;
        if (!more && !(more = malloc((size_t)grp->channels * sizeof *more)))
            return eg_fail(err, EG_ERR_NOMEM, "out of memory for scores");
        crit->score(g, mb->node, more, rng);
        for (int c = 0; c < grp->channels; c++) scores[c] += more[c];
    }
    free(more);
    return EG_OK;
}
