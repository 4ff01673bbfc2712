/* The stage runner's part for lsh merging and layer removal: runs the
 * stage on the graph, prints what it did and fills the report (run.c
 * calls these from run_prune and notes the history line they write). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

eg_status eg_stage_prune_lsh(eg_graph *g, const eg_stage *s, eg_rng *rng, FILE *out, eg_json *j, const char *tag,
                             char *note, size_t nlen, eg_error *err)
{
    double t0 = eg_now();
    int node = eg_graph_find(g, s->layer);
    if (node < 0) return eg_fail(err, EG_ERR_ARG, "prune method=lsh: model %s has no node '%s'", g->name, s->layer);
    int c = g->nodes[node].out;
    eg_lsh_opts o = {s->lsh_bits, s->lsh_tables, s->lsh_threshold,
                     s->amount_is_count ? (int)s->amount : (int)(s->amount * c + 0.5)};
    size_t p0 = eg_graph_param_count(g), m0 = eg_graph_macs(g);
    eg_lsh_result res;
    eg_status st = eg_lsh_merge(g, node, &o, rng, &res, err);
    if (st) return st;
    double secs = eg_now() - t0;
    size_t p1 = eg_graph_param_count(g), m1 = eg_graph_macs(g);
    fprintf(out, "[prune] %slsh on %s: %d bits x %d tables, cosine >= %g; %d candidate pairs shared a bucket, %d similar enough\n",
            tag, s->layer, o.bits, o.tables, o.threshold, res.candidates, res.similar);
    fprintf(out, "  merged %d of at most %d units (of %d)%s", res.merged, o.max_merges, c, res.merged ? ":" : "");
    for (int i = 0; i < res.merged; i++)
        fprintf(out, "%s %d -> %d (x%.4g, cos %.4f)", i ? "," : "", res.removed[i], res.twin[i], res.scale[i], res.cosine[i]);
    fprintf(out, "\n  params %zu -> %zu, MACs %zu -> %zu  (%.4f s)\n", p0, p1, m0, m1, secs);
    if (res.merged) {
        fprintf(out, "model after pruning:\n");
        eg_graph_print(g, out);
    }
    eg_json_str(j, "layer", s->layer);
    eg_json_str(j, "method", "lsh");
    eg_json_num(j, "bits", o.bits);
    eg_json_num(j, "tables", o.tables);
    eg_json_num(j, "threshold", o.threshold);
    eg_json_num(j, "candidates", res.candidates);
    eg_json_num(j, "similar", res.similar);
    eg_json_num(j, "merged", res.merged);
    eg_json_array(j, "merges");
    for (int i = 0; i < res.merged; i++) {
        eg_json_object(j, NULL);
        eg_json_num(j, "removed", res.removed[i]);
        eg_json_num(j, "twin", res.twin[i]);
        eg_json_num(j, "scale", res.scale[i]);
        eg_json_num(j, "cosine", res.cosine[i]);
        eg_json_object_end(j);
    }
    eg_json_array_end(j);
    eg_json_sizes(j, p0, p1, m0, m1, secs);
    snprintf(note, nlen, "prune lsh %s (%d bits x %d tables, cosine >= %g): merged %d of %d units; params %zu -> %zu, MACs %zu -> %zu",
             s->layer, o.bits, o.tables, o.threshold, res.merged, c, p0, p1, m0, m1);
    eg_lsh_result_free(&res);
    return EG_OK;
}

eg_status eg_stage_prune_layer(eg_graph *g, const eg_stage *s, const eg_dataset *test, const char *set, const int *protect,
                               int nprotect, FILE *out, eg_json *j, const char *tag, char *note, size_t nlen, eg_error *err)
{
    double t0 = eg_now();
    size_t p0 = eg_graph_param_count(g), m0 = eg_graph_macs(g);
    int *remove = malloc((size_t)g->nnodes * sizeof *remove), nremove = 0;
    eg_layer_score *sc = malloc((size_t)g->nnodes * sizeof *sc);
    char names[512] = "";
    eg_status st = remove && sc ? EG_OK : eg_fail(err, EG_ERR_NOMEM, "out of memory for layer pruning");
    eg_json_str(j, "method", "layer");
    if (!st && s->layer[0]) {
        remove[nremove++] = eg_graph_find(g, s->layer);
        st = eg_layer_removable(g, remove[0], err);
        if (!st) fprintf(out, "[prune] %slayer %s: %s\n", tag, s->layer,
                         g->nodes[remove[0]].op == EG_OP_ADD ? "its residual branch replaced by zero (branch and add removed)" : "replaced by the identity");
    } else if (!st) {
        int n = 0;
        double base = 0;
        if (!test || !test->n)
            st = eg_fail(err, EG_ERR_ARG, "prune method=layer count=%d ranks layers on the %s set; give data", s->layer_count, set);
        if (!st) st = eg_layer_rank(g, test, 1000, protect, nprotect, sc, &n, &base, err);
        if (!st && n < s->layer_count)
            st = eg_fail(err, EG_ERR_ARG, "prune method=layer count=%d: model %s has only %d removable layer%s (a conv2d or linear node, not the output, whose output shape is its input's, or a residual add's branch%s)",
                         s->layer_count, g->name, n, n == 1 ? "" : "s", nprotect ? ", not protected" : "");
        /* the cheapest that do not overlap: a layer inside a residual branch
         * already chosen goes with it, so the next one is taken instead */
        char *taken = calloc((size_t)g->nnodes, 1), *marks = malloc((size_t)g->nnodes);
        if (!st) {
            if (!taken || !marks) st = eg_fail(err, EG_ERR_NOMEM, "out of memory for layer pruning");
            for (int i = 0; i < n && !st && nremove < s->layer_count; i++) {
                int overlap = 0;
                eg_layer_removal_set(g, sc[i].node, marks);
                for (int k = 0; k < g->nnodes; k++) overlap |= marks[k] && taken[k];
                if (overlap) continue;
                for (int k = 0; k < g->nnodes; k++) taken[k] |= marks[k];
                remove[nremove++] = sc[i].node;
            }
            if (!st && nremove < s->layer_count)
                st = eg_fail(err, EG_ERR_ARG, "prune method=layer count=%d: model %s has only %d removable layers that do not "
                             "overlap (a layer inside a residual branch goes with it)", s->layer_count, g->name, nremove);
        }
        if (!st) {
            fprintf(out, "[prune] %slayer: the %d cheapest of %d removable layers, by %s accuracy with each removed alone (%d images; %.2f%% with all)\n",
                    tag, s->layer_count, n, set, test->n, base);
            eg_json_num(j, "base_accuracy", base);
            eg_json_array(j, "ranking");
            for (int i = 0; i < n; i++) {
                int chosen = 0;
                for (int k = 0; k < nremove; k++) chosen |= remove[k] == sc[i].node;
                fprintf(out, "  %-10s %6.2f%%  (%+.2f points)%s\n", g->nodes[sc[i].node].name, sc[i].accuracy, -sc[i].drop,
                        chosen ? "  removed" : taken[sc[i].node] ? "  removed with a branch" : "");
                eg_json_object(j, NULL);
                eg_json_str(j, "name", g->nodes[sc[i].node].name);
                eg_json_num(j, "accuracy", sc[i].accuracy);
                eg_json_num(j, "drop", sc[i].drop);
                eg_json_object_end(j);
            }
            eg_json_array_end(j);
        }
        free(taken), free(marks);
    }
    /* from the last node back, so the earlier indices stay valid */
    for (int i = 0; i < nremove; i++)
        for (int k = i + 1; k < nremove; k++)
            if (remove[k] > remove[i]) {
                int t = remove[i];
                remove[i] = remove[k], remove[k] = t;
            }
    eg_json_array(j, "removed");
    for (int i = 0; i < nremove && !st; i++) {
        const char *name = g->nodes[remove[i]].name;
        eg_json_str(j, NULL, name);
        if (strlen(names) + EG_NAME_MAX + 24 < sizeof names)
            strcat(strcat(strcat(names, names[0] ? ", " : ""), name), g->nodes[remove[i]].op == EG_OP_ADD ? " (with its branch)" : "");
        st = eg_layer_remove(g, remove[i], err);
    }
    eg_json_array_end(j);
    free(remove), free(sc);
    if (st) return st;
    double secs = eg_now() - t0;
    size_t p1 = eg_graph_param_count(g), m1 = eg_graph_macs(g);
    fprintf(out, "  removed %s; params %zu -> %zu, MACs %zu -> %zu  (%.4f s)\nmodel after pruning:\n", names, p0, p1, m0, m1, secs);
    eg_graph_print(g, out);
    eg_json_sizes(j, p0, p1, m0, m1, secs);
    snprintf(note, nlen, "prune layer: removed %s (layers replaced by the identity, residual branches by zero); params %zu -> %zu, MACs %zu -> %zu",
             names, p0, p1, m0, m1);
    return EG_OK;
}
