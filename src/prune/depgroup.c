/* Dependency groups: everything that must shrink when a node loses output
 * channels. Channels flow unchanged through PASS ops, become blocks of H*W
 * features through a flatten, and end at the input of the next conv/linear. */
#include <string.h>

#include "internal.h"

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
    grp->members[grp->nmembers++] = (eg_dep_member){root, EG_DEP_OUT, 1};

    int stack[64], blocks[64], top = 0;
    stack[top] = root, blocks[top++] = 1;
    while (top) {
        int u = stack[--top], blk = blocks[top];
        for (int v = u + 1; v < g->nnodes; v++) {
            const eg_node *vn = &g->nodes[v];
            int uses = 0;
            for (int s = 0; s < vn->ninputs; s++) uses |= vn->inputs[s] == u;
            if (!uses) continue;
            eg_channel_rule rule = eg_ops[vn->op]->channels;
            if (rule == EG_CH_PRODUCE) {
                if (grp->nmembers == EG_GROUP_MAX)
                    return eg_fail(err, EG_ERR_ARG, "pruning '%s' touches more than %d nodes", rn->name, EG_GROUP_MAX);
                grp->members[grp->nmembers++] = (eg_dep_member){v, EG_DEP_IN, blk};
                continue;
            }
            if (v == g->nnodes - 1)
                return eg_fail(err, EG_ERR_ARG, "the channels of '%s' reach the model output through '%s' and cannot be removed",
                               rn->name, vn->name);
            if (top == 64) return eg_fail(err, EG_ERR_ARG, "pruning '%s': the graph fans out too widely", rn->name);
            stack[top] = v;
            blocks[top++] = rule == EG_CH_FLATTEN ? blk * vn->in_shape.h * vn->in_shape.w : blk;
        }
    }
    return EG_OK;
}
