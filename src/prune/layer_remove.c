/* Layer pruning: a conv2d or linear node whose output has its input's shape
 * can be replaced by the identity, i.e. cut out of the graph with its
 * consumers reading its input instead. Candidates are ranked by what their
 * removal costs on a data set (eg_layer_rank). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

eg_status eg_layer_removable(const eg_graph *g, int node, eg_error *err)
{
    if (node < 0 || node >= g->nnodes) return eg_fail(err, EG_ERR_ARG, "model %s has no node %d", g->name, node);
    const eg_node *nd = &g->nodes[node];
    if (nd->op != EG_OP_CONV2D && nd->op != EG_OP_LINEAR)
        return eg_fail(err, EG_ERR_ARG, "layer pruning: '%s' is a %s; only a conv2d or linear node can be replaced by the identity",
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

eg_status eg_layer_remove(eg_graph *g, int node, eg_error *err)
{
    eg_status st = eg_layer_removable(g, node, err);
    if (st) return st;
    /* keep every other node's parameters (and masks) aside, drop the node,
     * point its consumers at its input, and lay the parameters out again */
    int nblocks = g->masks ? 2 : 1, src = g->nodes[node].inputs[0];
    float *(*own)[2][EG_MAX_PARAMS] = calloc((size_t)g->nnodes, sizeof *own);
    if (!own) return eg_fail(err, EG_ERR_NOMEM, "out of memory for layer pruning");
    for (int i = 0; i < g->nnodes && !st; i++)
        for (int b = 0; b < nblocks && !st; b++)
            for (int p = 0; p < g->nodes[i].nparams; p++) {
                own[i][b][p] = malloc(g->nodes[i].psize[p] * sizeof(float));
                if (!own[i][b][p]) {
                    st = eg_fail(err, EG_ERR_NOMEM, "out of memory for layer pruning");
                    break;
                }
                memcpy(own[i][b][p], b ? g->nodes[i].mask[p] : g->nodes[i].param[p], g->nodes[i].psize[p] * sizeof(float));
            }
    if (!st) {
        for (int i = node + 1; i < g->nnodes; i++)
            for (int s = 0; s < g->nodes[i].ninputs; s++) {
                int *in = &g->nodes[i].inputs[s];
                *in = *in == node ? src : *in > node ? *in - 1 : *in;
            }
        for (int b = 0; b < nblocks; b++)
            for (int p = 0; p < EG_MAX_PARAMS; p++) free(own[node][b][p]);
        memmove(&g->nodes[node], &g->nodes[node + 1], (size_t)(g->nnodes - node - 1) * sizeof *g->nodes);
        memmove(&own[node], &own[node + 1], (size_t)(g->nnodes - node - 1) * sizeof *own);
        g->nnodes--;
        st = eg_graph_infer_shapes(g, g->name, err);
        if (!st) st = eg_graph_alloc_params(g, err);
    }
    for (int i = 0; i < g->nnodes; i++)
        for (int b = 0; b < nblocks; b++)
            for (int p = 0; p < g->nodes[i].nparams; p++) {
                if (!st && own[i][b][p])
                    memcpy(b ? g->nodes[i].mask[p] : g->nodes[i].param[p], own[i][b][p], g->nodes[i].psize[p] * sizeof(float));
                free(own[i][b][p]);
            }
    free(own);
    return st;
}

/* A copy of src (spec written back and parsed, values copied). */
static eg_status copy_graph(eg_graph *dst, const eg_graph *src, eg_error *err)
{
    memset(dst, 0, sizeof *dst);
    size_t len = eg_graph_write_spec(src, NULL, 0);
    char *text = malloc(len + 1);
    if (!text) return eg_fail(err, EG_ERR_NOMEM, "out of memory copying model %s", src->name);
    eg_graph_write_spec(src, text, len + 1);
    eg_status st = eg_graph_parse_spec(dst, text, src->name, err);
    free(text);
    if (!st && dst->nparam != src->nparam)
        st = eg_fail(err, EG_ERR_SPEC, "model %s: its copy has %zu parameters, the model %zu", src->name, dst->nparam, src->nparam);
    if (!st && src->masks) st = eg_graph_enable_masks(dst, err);
    if (st) {
        eg_graph_free(dst);
        return st;
    }
    memcpy(dst->params, src->params, src->nparam * sizeof *src->params);
    if (src->masks) memcpy(dst->masks, src->masks, src->nparam * sizeof *src->masks);
    snprintf(dst->name, sizeof dst->name, "%s", src->name);
    return EG_OK;
}

eg_status eg_layer_rank(const eg_graph *g, const eg_dataset *ds, int batch, const int *protect, int nprotect,
                        eg_layer_score *scores, int *count, double *base_accuracy, eg_error *err)
{
    *count = 0;
    eg_graph m;
    eg_status st = copy_graph(&m, g, err);
    if (!st) st = eg_evaluate(&m, ds, batch, base_accuracy, NULL, err);
    eg_graph_free(&m);
    for (int i = 0; i < g->nnodes && !st; i++) {
        int skip = 0;
        for (int k = 0; k < nprotect; k++) skip |= protect[k] == i;
        if (skip || eg_layer_removable(g, i, NULL)) continue;
        eg_layer_score *s = &scores[(*count)++];
        s->node = i;
        st = copy_graph(&m, g, err);
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
