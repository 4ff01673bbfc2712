/* Layer pruning: a conv2d or linear node whose output has its input's shape
 * can be replaced by the identity, i.e. cut out of the graph with its
 * consumers reading its input instead; the branch of a residual add beside
 * an identity skip can be replaced by zero, i.e. the branch and the add cut
 * out, the add's readers reading the skip. Candidates are ranked by what
 * their removal costs on a data set (eg_layer_rank). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The branch of residual add `node` that can go, into *branch (0 or 1):
 * the input whose ancestors include nodes the other input's do not, each
 * used only inside that branch or by the add; those nodes are marked in
 * gone (room for g->nnodes, may be NULL). */
static eg_status residual_branch(const eg_graph *g, int node, int *branch, char *gone, eg_error *err)
{
    const eg_node *nd = &g->nodes[node];
    if (nd->ninputs != 2 || nd->inputs[0] == nd->inputs[1])
        return eg_fail(err, EG_ERR_ARG, "layer pruning: '%s' does not add two different inputs; there is no branch to remove", nd->name);
    char *anc = calloc((size_t)g->nnodes * 2, 1);
    if (!anc) return eg_fail(err, EG_ERR_NOMEM, "out of memory for layer pruning");
    for (int k = 0; k < 2; k++) {  /* ancestors of each input, itself included (nodes come in file order) */
        char *a = anc + (size_t)k * g->nnodes;
        a[nd->inputs[k]] = 1;
        for (int i = nd->inputs[k]; i >= 0; i--)
            if (a[i])
                for (int s = 0; s < g->nodes[i].ninputs; s++) a[g->nodes[i].inputs[s]] = 1;
    }
    int own[2] = {0, 0};
    for (int i = 0; i < g->nnodes; i++) own[0] += anc[i] && !anc[g->nnodes + i], own[1] += anc[g->nnodes + i] && !anc[i];
    eg_status st = EG_OK;
    if (own[0] && own[1])
        st = eg_fail(err, EG_ERR_ARG,
                     "layer pruning: both inputs of '%s' ('%s', '%s') have layers of their own; only a branch beside an identity skip can be removed",
                     nd->name, g->nodes[nd->inputs[0]].name, g->nodes[nd->inputs[1]].name);
    int k = own[0] ? 0 : 1;
    const char *mine = anc + (size_t)k * g->nnodes, *other = anc + (size_t)(1 - k) * g->nnodes;
    for (int i = 0; i < g->nnodes && !st; i++) {
        if (!mine[i] || other[i]) continue;
        for (int j = i + 1; j < g->nnodes && !st; j++)
            for (int s = 0; s < g->nodes[j].ninputs; s++)
                if (g->nodes[j].inputs[s] == i && j != node && !(mine[j] && !other[j]))
                    st = eg_fail(err, EG_ERR_ARG, "layer pruning: the branch of '%s' cannot go: its node '%s' also feeds '%s'",
                                 nd->name, g->nodes[i].name, g->nodes[j].name);
    }
    if (!st && gone)
        for (int i = 0; i < g->nnodes; i++) gone[i] = mine[i] && !other[i];
    *branch = k;
    free(anc);
    return st;
}

eg_status eg_layer_removable(const eg_graph *g, int node, eg_error *err)
{
    if (node < 0 || node >= g->nnodes) return eg_fail(err, EG_ERR_ARG, "model %s has no node %d", g->name, node);
    const eg_node *nd = &g->nodes[node];
    if (nd->op == EG_OP_ADD && node != g->nnodes - 1) {
        int k;
        return residual_branch(g, node, &k, NULL, err);
    }
    if (nd->op != EG_OP_CONV2D && nd->op != EG_OP_LINEAR)
        return eg_fail(err, EG_ERR_ARG,
                       "layer pruning: '%s' is a %s; only a conv2d or linear node (replaced by the identity) or a residual add (its branch removed) can go",
                       nd->name, eg_ops[nd->op]->name);
    if (node == g->nnodes - 1)
        return eg_fail(err, EG_ERR_ARG, "layer pruning: '%s' is the model's output layer (its outputs are the classes); it cannot be removed",
                       nd->name);
    eg_shape a = nd->in_shape, b = nd->out_shape;
    if (a.c != b.c || a.h != b.h || a.w != b.w)
        return eg_fail(err, EG_ERR_ARG,
                       "layer pruning: '%s' maps %dx%dx%d to %dx%dx%d; only a layer whose output has its input's shape can become the identity",
                       nd->name, a.c, a.h, a.w, b.c, b.h, b.w);
    return EG_OK;
}

void eg_layer_removal_set(const eg_graph *g, int node, char *gone)
{
    int k;
    memset(gone, 0, (size_t)g->nnodes);
    if (g->nodes[node].op == EG_OP_ADD) residual_branch(g, node, &k, gone, NULL);
    gone[node] = 1;
}

eg_status eg_layer_remove(eg_graph *g, int node, eg_error *err)
{
    eg_status st = eg_layer_removable(g, node, err);
    if (st) return st;
    char *gone = calloc((size_t)g->nnodes, 1);
    int *redirect = malloc((size_t)g->nnodes * sizeof *redirect);
    if (!gone || !redirect) {
        free(gone), free(redirect);
        return eg_fail(err, EG_ERR_NOMEM, "out of memory for layer pruning");
    }
    if (g->nodes[node].op == EG_OP_ADD) {
        /* the branch goes, and the add with it: its readers read the skip */
        int k;
        st = residual_branch(g, node, &k, gone, err);
        redirect[node] = g->nodes[node].inputs[1 - k];
    } else {
        redirect[node] = g->nodes[node].inputs[0];
    }
    gone[node] = 1;
    if (!st) st = eg_graph_remove_nodes(g, gone, redirect, err);
    free(gone), free(redirect);
    return st;
}

eg_status eg_layer_rank(const eg_graph *g, const eg_dataset *ds, int batch, const int *protect, int nprotect,
                        eg_layer_score *scores, int *count, double *base_accuracy, eg_error *err)
{
    *count = 0;
    eg_graph m;
    eg_status st = eg_graph_clone(&m, g, err);
    if (!st) st = eg_evaluate(&m, ds, batch, base_accuracy, NULL, err);
    eg_graph_free(&m);
    for (int i = 0; i < g->nnodes && !st; i++) {
        int skip = 0;
        for (int k = 0; k < nprotect; k++) skip |= protect[k] == i;
        if (skip || eg_layer_removable(g, i, NULL)) continue;
        eg_layer_score *s = &scores[(*count)++];
        s->node = i;
        st = eg_graph_clone(&m, g, err);
        if (!st) st = eg_layer_remove(&m, i, err);
        if (!st) st = eg_evaluate(&m, ds, batch, &s->accuracy, &s->loss, err);
        s->drop = *base_accuracy - s->accuracy;
        eg_graph_free(&m);
    }
    /* cheapest first: smallest drop, then lowest loss (small sets tie on
     * accuracy), then the earlier node (insertion sort: few layers) */
    for (int i = 1; i < *count; i++)
        for (int j = i; j > 0 && (scores[j].drop < scores[j - 1].drop ||
                                  (scores[j].drop == scores[j - 1].drop && scores[j].loss < scores[j - 1].loss)); j--) {
            eg_layer_score t = scores[j];
            scores[j] = scores[j - 1], scores[j - 1] = t;
        }
    return st;
}
