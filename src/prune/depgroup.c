/* Dependency groups: everything that must shrink when a node loses output
 * channels. The group is the set of node outputs that carry the same
 * channels: channels flow unchanged through PASS ops (relu, pooling,
 * batchnorm2d, gap), become blocks of H*W features through a flatten, and
 * end at the input of the next conv/linear. A residual add makes its inputs
 * and its output one set of channels, so from an add the search also runs
 * backwards, up each other input to the producers feeding it, and those
 * producers lose the same channels (with every consumer of theirs). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
    const eg_graph *g;
    eg_dep_group *grp;
    char *in_set;    /* node outputs that carry the group's channels */
    int *queue, head, tail;
    eg_error *err;
} search;

static eg_status add_member(search *s, int node, eg_dep_role role, int block)
{
    eg_dep_group *grp = s->grp;
    if (grp->nmembers == EG_GROUP_MAX)
        return eg_fail(s->err, EG_ERR_ARG, "pruning '%s' touches more than %d nodes", s->g->nodes[grp->root].name,
                       EG_GROUP_MAX);
    grp->members[grp->nmembers++] = (eg_dep_member){node, role, block};
    return EG_OK;
}

/* Node v's output carries the group's channels. */
static eg_status join(search *s, int v)
{
    if (s->in_set[v]) return EG_OK;
    const eg_node *vn = &s->g->nodes[v];
    const char *root = s->g->nodes[s->grp->root].name;
    if (v == s->g->nnodes - 1)
        return eg_fail(s->err, EG_ERR_ARG, "the channels of '%s' reach the model output through '%s' and cannot be removed",
                       root, vn->name);
    if (eg_ops[vn->op]->moves_zero)
        return eg_fail(s->err, EG_ERR_ARG, "pruning '%s': its channels pass through %s '%s', which maps a removed "
                       "channel's zeros to %s, so removing them would change what the model computes", root,
                       eg_ops[vn->op]->name, vn->name, eg_ops[vn->op]->summary);
    if (vn->out_shape.c % s->grp->channels)
        return eg_fail(s->err, EG_ERR_ARG, "pruning '%s': the %d channels of '%s' do not line up with its %d",
                       root, vn->out_shape.c, vn->name, s->grp->channels);
    s->in_set[v] = 1;
    s->queue[s->tail++] = v;
    eg_channel_rule rule = eg_ops[vn->op]->channels;
    if (rule == EG_CH_PRODUCE) return add_member(s, v, EG_DEP_OUT, 1);
    if (vn->nbuffers || vn->nparams) return add_member(s, v, EG_DEP_PASS, 1);  /* batchnorm2d */
    return EG_OK;
}

/* What node u, whose output carries the channels, ties to them: the input
 * it passes them from (unless it produces them) and every consumer. */
static eg_status follow(search *s, int u)
{
    const eg_graph *g = s->g;
    const eg_node *un = &g->nodes[u];
    const char *root = g->nodes[s->grp->root].name;
    eg_status st = EG_OK;
    switch (eg_ops[un->op]->channels) {
    case EG_CH_SOURCE:
        return eg_fail(s->err, EG_ERR_ARG, "the channels of '%s' are added to the model input '%s' and cannot be removed",
                       root, un->name);
    case EG_CH_PRODUCE: break;
    case EG_CH_FLATTEN:
        if (!s->in_set[un->inputs[0]] && un->in_shape.h * un->in_shape.w != 1)
            return eg_fail(s->err, EG_ERR_ARG, "pruning '%s': its channels meet a flatten's features at '%s', which "
                           "cannot be followed back to %dx%dx%d maps", root, un->name, un->in_shape.c, un->in_shape.h,
                           un->in_shape.w);
        st = join(s, un->inputs[0]);  /* a flatten of 1x1 maps passes channels */
        break;
    case EG_CH_PASS:
        st = join(s, un->inputs[0]);
        break;
    case EG_CH_COUPLE:
        for (int k = 0; k < un->ninputs && !st; k++) st = join(s, un->inputs[k]);
        break;
    }
    for (int v = u + 1; v < g->nnodes && !st; v++) {
        const eg_node *vn = &g->nodes[v];
        int uses = 0;
        for (int k = 0; k < vn->ninputs; k++) uses |= vn->inputs[k] == u;
        if (!uses) continue;
        if (eg_ops[vn->op]->channels == EG_CH_PRODUCE)
            st = add_member(s, v, EG_DEP_IN, un->out_shape.c / s->grp->channels);
        else
            st = join(s, v);
    }
    return st;
}

eg_status eg_depgroup_build(const eg_graph *g, int root, eg_dep_group *grp, eg_error *err)
{
    if (root < 0 || root >= g->nnodes) return eg_fail(err, EG_ERR_ARG, "no node %d in %s", root, g->name);
    const eg_node *rn = &g->nodes[root];
    if (eg_ops[rn->op]->channels != EG_CH_PRODUCE)
        return eg_fail(err, EG_ERR_ARG, "node '%s' is a %s and has no channels of its own to prune; expected a conv2d or linear node",
                       rn->name, eg_ops[rn->op]->name);
    if (root == g->nnodes - 1)
        return eg_fail(err, EG_ERR_ARG, "node '%s' is the model's output: its channels are the classes and cannot be removed",
                       rn->name);
    memset(grp, 0, sizeof *grp);
    grp->root = root;
    grp->channels = rn->out_shape.c;
    search s = {g, grp, calloc((size_t)g->nnodes, 1), malloc((size_t)g->nnodes * sizeof(int)), 0, 0, err};
    eg_status st = s.in_set && s.queue ? join(&s, root) : eg_fail(err, EG_ERR_NOMEM, "out of memory");
    while (!st && s.head < s.tail) st = follow(&s, s.queue[s.head++]);
    free(s.in_set);
    free(s.queue);
    return st;
}
