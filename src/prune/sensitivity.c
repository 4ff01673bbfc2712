/* Sensitivity analysis: every layer pruned alone at every ratio, each time
 * on a fresh copy of the model, and evaluated on the test set. A cell does
 * exactly what the prune stage does (src/recipe/run.c): the same channel
 * count, criterion, selection and surgery, or the same magnitude masking,
 * so it gives the accuracy `edagari prune` then `edagari eval` would. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "dist/dist.h"

eg_status eg_sensitivity_parse_ratios(const char *text, double *ratios, int max, int *n, eg_error *err)
{
    *n = 0;
    if (!text || !*text) return eg_fail(err, EG_ERR_ARG, "ratios: expected fractions such as 0.1,0.2,0.5, found nothing");
    for (const char *p = text;;) {
        size_t len = strcspn(p, ",");
        char item[64];
        if (*n == max)
            return eg_fail(err, EG_ERR_ARG, "ratios '%s': more than %d ratios", text, max);
        if (len == 0 || len >= sizeof item)
            return eg_fail(err, EG_ERR_ARG, "ratios '%s': ratio %d is %s; expected a fraction such as 0.5", text, *n + 1,
                           len ? "too long" : "empty");
        memcpy(item, p, len);
        item[len] = 0;
        char *end;
        double r = strtod(item, &end);
        if (end == item || *end || item[0] == ' ' || item[0] == '\t')
            return eg_fail(err, EG_ERR_ARG, "ratios '%s': ratio %d is '%s'; expected a number", text, *n + 1, item);
        if (!(r > 0 && r < 1))
            return eg_fail(err, EG_ERR_ARG, "ratios '%s': ratio %d is %s; expected a fraction strictly between 0 and 1",
                           text, *n + 1, item);
        if (*n > 0 && !(r > ratios[*n - 1]))
            return eg_fail(err, EG_ERR_ARG, "ratios '%s': ratio %d (%s) is not greater than the one before (%g); expected increasing ratios",
                           text, *n + 1, item, ratios[*n - 1]);
        ratios[(*n)++] = r;
        p += len;
        if (!*p) break;
        p++;
        if (!*p) return eg_fail(err, EG_ERR_ARG, "ratios '%s': ends with a comma; expected another ratio after it", text);
    }
    return EG_OK;
}

static int is_weighted(const eg_node *nd) { return nd->op == EG_OP_CONV2D || nd->op == EG_OP_LINEAR; }

/* Whether node i can be analysed by the method (crit: its channel
 * criterion, NULL for magnitude); why not into err. bn_scale leaves out the
 * groups without a batchnorm. */
static int can_prune(const eg_graph *g, const eg_criterion *crit, int magnitude, int i, eg_error *err)
{
    const eg_node *nd = &g->nodes[i];
    if (magnitude) {
        if (is_weighted(nd)) return 1;
        eg_fail(err, EG_ERR_ARG, "node '%s' is a %s and has no weights to prune; expected a conv2d or linear node", nd->name,
                eg_ops[nd->op]->name);
        return 0;
    }
    eg_dep_group grp;
    return eg_depgroup_build(g, i, &grp, err) == EG_OK && eg_criterion_check(crit, g, &grp, err) == EG_OK;
}

eg_status eg_sensitivity_layers(const eg_graph *g, const char *method, const char *layers, int *nodes, int *count,
                                eg_error *err)
{
    *count = 0;
    if (!method) method = "l1";
    int magnitude = !strcmp(method, "magnitude");
    const eg_criterion *crit = magnitude ? NULL : eg_criterion_find(method);
    if (!magnitude && !crit)
        return eg_fail(err, EG_ERR_ARG, "method: expected one of %s (channels) or magnitude (weights), found '%s'",
                       eg_criterion_names(), method);
    /* the layers the method can prune, for messages */
    char names[512] = "";
    eg_error why;
    for (int i = 0; i < g->nnodes; i++)
        if (can_prune(g, crit, magnitude, i, &why) && strlen(names) + EG_NAME_MAX + 3 < sizeof names)
            strcat(strcat(names, names[0] ? ", " : ""), g->nodes[i].name);
    if (!layers || !*layers) {
        for (int i = 0; i < g->nnodes; i++)
            if (can_prune(g, crit, magnitude, i, &why)) nodes[(*count)++] = i;
        if (!*count)
            return eg_fail(err, EG_ERR_ARG, "model %s has no layer whose %s method %s can prune%s", g->name,
                           magnitude ? "weights" : "channels", method,
                           crit && !strcmp(method, "bn_scale") ? " (it needs a batchnorm2d in the layer's group)" : "");
        return EG_OK;
    }
    for (const char *p = layers;;) {
        size_t len = strcspn(p, ",");
        if (len == 0)
            return eg_fail(err, EG_ERR_ARG, "layers '%s': an empty name; expected names separated by single commas", layers);
        char name[EG_NAME_MAX];
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
        int node = len < sizeof name ? eg_graph_find(g, name) : -1;
        if (node < 0)
            return eg_fail(err, EG_ERR_ARG, "layers '%s': model %s has no node '%.*s'; the layers %s can prune are: %s", layers,
                           g->name, (int)len, p, method, names[0] ? names : "none");
        if (!can_prune(g, crit, magnitude, node, &why))
            return eg_fail(err, EG_ERR_ARG, "layers '%s': %s; the layers %s can prune are: %s", layers, why.msg, method,
                           names[0] ? names : "none");
        for (int k = 0; k < *count; k++)
            if (nodes[k] == node) return eg_fail(err, EG_ERR_ARG, "layers '%s' names '%s' twice", layers, name);
        nodes[(*count)++] = node;
        p += len;
        if (!*p) break;
        if (!*++p) return eg_fail(err, EG_ERR_ARG, "layers '%s': ends with a comma; expected another name after it", layers);
    }
    return EG_OK;
}

/* Parameters and MACs of a model: all of them, or (magnitude) the non-zero
 * parameters and the MACs of non-zero weights, as the prune stage reports. */
static void figures(const eg_graph *g, int magnitude, size_t *params, size_t *macs)
{
    if (!magnitude) {
        *params = eg_graph_param_count(g);
        *macs = eg_graph_macs(g);
        return;
    }
    size_t nz = 0, m = 0;
    for (size_t k = 0; k < g->nparam; k++) nz += g->params[k] != 0;
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        size_t mi = eg_node_macs(nd);
        if (is_weighted(nd) && nd->psize[0])
            mi = (size_t)((double)mi * (double)eg_node_nonzeros(nd) / (double)nd->psize[0] + 0.5);
        m += mi;
    }
    *params = nz;
    *macs = m;
}

/* One cell: layer `node` of a copy of g pruned at `ratio`, then evaluated. */
static eg_status run_cell(const eg_graph *g, const eg_dataset *test, const eg_sensitivity *s, int node, double ratio,
                          eg_sens_cell *cell, eg_error *err)
{
    memset(cell, 0, sizeof *cell);
    cell->accuracy = cell->loss = NAN;
    eg_dep_group grp;
    int c = 0, count = 0;
    if (!s->magnitude) {
        eg_status st = eg_depgroup_build(g, node, &grp, err);
        if (st) return st;
        c = grp.channels;
        count = (int)(ratio * c + 0.5);  /* as the prune stage counts a fraction */
        cell->removed = count;
        if (count >= c) {
            cell->skipped = 1;
            return EG_OK;
        }
    }
    eg_graph m;
    eg_status st = eg_graph_clone(&m, g, err);
    if (st) return st;
    if (s->magnitude) {
        st = eg_prune_magnitude(&m, &node, 1, ratio, 0, err);
        if (!st) cell->removed = (long)(m.nodes[node].psize[0] - eg_node_nonzeros(&m.nodes[node]));
    } else {
        double *scores = malloc((size_t)c * sizeof *scores);
        int *keep = malloc((size_t)c * sizeof *keep);
        if (!scores || !keep) {
            st = eg_fail(err, EG_ERR_NOMEM, "out of memory for pruning");
        } else {
            eg_rng rng;  /* what edagari prune --seed S draws from */
            eg_rng_seed(&rng, s->seed);
            st = eg_group_scores(&m, &grp, eg_criterion_find(s->method), scores, &rng, err);
            int nkeep = st ? 0 : eg_select_keep(scores, c, count, keep, NULL);
            if (!st)
                st = nkeep < 0 ? eg_fail(err, EG_ERR_NOMEM, "out of memory for pruning")
                               : eg_surgery_keep(&m, &grp, keep, nkeep, err);
        }
        free(scores), free(keep);
    }
    if (!st) st = eg_evaluate(&m, test, s->batch, &cell->accuracy, &cell->loss, err);
    if (!st) figures(&m, s->magnitude, &cell->params, &cell->macs);
    eg_graph_free(&m);
    return st;
}

void eg_sensitivity_free(eg_sensitivity *s)
{
    free(s->layers);
    free(s->cells);
    memset(s, 0, sizeof *s);
}

eg_status eg_sensitivity_run(const eg_graph *g, const eg_dataset *test, const eg_sensitivity_opts *o,
                             eg_sensitivity *s, eg_error *err)
{
    double t0 = eg_now();
    memset(s, 0, sizeof *s);
    char what[128];
    snprintf(what, sizeof what, "model %s: cannot analyse it", g->name);
    eg_status fst = eg_graph_check_finite(g, what, err);
    if (fst) return fst;
    const char *method = o->method ? o->method : "l1";
    if (o->nratios < 1 || o->nratios > EG_SENS_MAX_RATIOS)
        return eg_fail(err, EG_ERR_ARG, "ratios: expected 1 to %d of them, found %d", EG_SENS_MAX_RATIOS, o->nratios);
    for (int r = 0; r < o->nratios; r++) {
        if (!(o->ratios[r] > 0 && o->ratios[r] < 1))
            return eg_fail(err, EG_ERR_ARG, "ratio %d is %g; expected a fraction strictly between 0 and 1", r + 1, o->ratios[r]);
        if (r && !(o->ratios[r] > o->ratios[r - 1]))
            return eg_fail(err, EG_ERR_ARG, "ratio %d (%g) is not greater than the one before (%g); expected increasing ratios",
                           r + 1, o->ratios[r], o->ratios[r - 1]);
    }
    if (o->batch < 0) return eg_fail(err, EG_ERR_ARG, "batch size must be at least 1, found %d", o->batch);
    int *nodes = malloc((size_t)g->nnodes * sizeof *nodes), count = 0;
    if (!nodes) return eg_fail(err, EG_ERR_NOMEM, "out of memory");
    eg_status st = eg_sensitivity_layers(g, method, o->layers, nodes, &count, err);
    if (st) {
        free(nodes);
        return st;
    }
    snprintf(s->method, sizeof s->method, "%s", method);
    s->magnitude = !strcmp(method, "magnitude");
    snprintf(s->model, sizeof s->model, "%s", g->name);
    snprintf(s->model_label, sizeof s->model_label, "%s", o->model_label ? o->model_label : g->name);
    snprintf(s->data_label, sizeof s->data_label, "%s", o->data_label ? o->data_label : "");
    s->nratios = o->nratios;
    memcpy(s->ratios, o->ratios, (size_t)o->nratios * sizeof *o->ratios);
    s->batch = o->batch ? o->batch : 1000;
    s->seed = o->seed;
    s->test_images = test->n;
    snprintf(s->set, sizeof s->set, "%s", o->set ? o->set : "test");
    s->nlayers = count;
    s->layers = calloc((size_t)count, sizeof *s->layers);
    s->cells = calloc((size_t)count * (size_t)o->nratios, sizeof *s->cells);
    if (!s->layers || !s->cells) {
        free(nodes);
        eg_sensitivity_free(s);
        return eg_fail(err, EG_ERR_NOMEM, "out of memory for the results");
    }
    for (int l = 0; l < count; l++) {
        const eg_node *nd = &g->nodes[nodes[l]];
        snprintf(s->layers[l].name, sizeof s->layers[l].name, "%s", nd->name);
        s->layers[l].node = nodes[l];
        snprintf(s->layers[l].op, sizeof s->layers[l].op, "%s", eg_ops[nd->op]->name);
        s->layers[l].units = s->magnitude ? (long)nd->psize[0] : nd->out_shape.c;
    }
    free(nodes);
    if (o->threads > 0) eg_set_threads(o->threads);

    /* Under MPI each rank evaluates its share of the cells, each alone on
     * the whole test set (so each is what one process gives), and the
     * cells are then sent to every rank. */
    int ranks = eg_dist_size(), me = eg_dist_rank();
    eg_dist_local(+1);
    /* the dense model, evaluated on a copy as every cell is */
    eg_graph m;
    st = eg_graph_clone(&m, g, err);
    if (!st) {
        st = eg_evaluate(&m, test, s->batch, &s->dense_accuracy, &s->dense_loss, err);
        figures(&m, s->magnitude, &s->dense_params, &s->dense_macs);
        eg_graph_free(&m);
    }
    if (!st && o->log)
        fprintf(o->log, "dense: %s accuracy %.2f%%, loss %.4f (%d images)\n", s->set, s->dense_accuracy, s->dense_loss,
                test->n);
    for (int l = 0; l < count && !st; l++) {
        double tl = eg_now();
        for (int r = 0; r < s->nratios && !st; r++)
            if ((l * s->nratios + r) % ranks == me)
                st = run_cell(g, test, s, s->layers[l].node, s->ratios[r], &s->cells[(size_t)l * s->nratios + r], err);
        if (!st && o->log && ranks == 1) {
            fprintf(o->log, "%s (%ld %s):", s->layers[l].name, s->layers[l].units, s->magnitude ? "weights" : "channels");
            for (int r = 0; r < s->nratios; r++) {
                const eg_sens_cell *c = eg_sens_at(s, l, r);
                if (c->skipped) fprintf(o->log, " -");
                else fprintf(o->log, " %.2f", c->accuracy);
            }
            fprintf(o->log, "  (%.2f s)\n", eg_now() - tl);
            fflush(o->log);
        }
    }
    eg_dist_local(-1);
    for (int k = 0; !st && ranks > 1 && k < count * s->nratios; k++)
        eg_dist_bcast(&s->cells[k], sizeof s->cells[k], k % ranks);
    for (int l = 0; !st && ranks > 1 && o->log && l < count; l++) {
        fprintf(o->log, "%s (%ld %s):", s->layers[l].name, s->layers[l].units, s->magnitude ? "weights" : "channels");
        for (int r = 0; r < s->nratios; r++) {
            const eg_sens_cell *c = eg_sens_at(s, l, r);
            if (c->skipped) fprintf(o->log, " -");
            else fprintf(o->log, " %.2f", c->accuracy);
        }
        fprintf(o->log, "  (cells shared among %d ranks)\n", ranks);
    }
    if (st) {
        eg_sensitivity_free(s);
        return st;
    }
    s->seconds = eg_now() - t0;
    return EG_OK;
}

eg_status eg_sensitivity_write_json(const eg_sensitivity *s, const char *path, eg_error *err)
{
    eg_json j = {0};
    eg_json_object(&j, NULL);
    eg_json_str(&j, "command", "sensitivity");
    eg_json_str(&j, "model", s->model_label);
    eg_json_str(&j, "model_name", s->model);
    if (s->data_label[0]) eg_json_str(&j, "data", s->data_label);
    eg_json_num(&j, "test_images", s->test_images);
    eg_json_str(&j, "set", s->set);
    eg_json_num(&j, "batch", s->batch);
    eg_json_str(&j, "method", s->method);
    eg_json_str(&j, "granularity", s->magnitude ? "weights" : "channels");
    if (!strcmp(s->method, "random")) eg_json_num(&j, "seed", (double)s->seed);
    eg_json_str(&j, "params_and_macs", s->magnitude ? "non-zero parameters and MACs of non-zero weights, whole model"
                                                    : "parameters and MACs of the whole pruned model");
    eg_json_array(&j, "ratios");
    for (int r = 0; r < s->nratios; r++) eg_json_num(&j, NULL, s->ratios[r]);
    eg_json_array_end(&j);
    eg_json_object(&j, "dense");
    eg_json_num(&j, "accuracy", s->dense_accuracy);
    eg_json_num(&j, "loss", s->dense_loss);
    eg_json_num(&j, "params", (double)s->dense_params);
    eg_json_num(&j, "macs", (double)s->dense_macs);
    eg_json_object_end(&j);
    eg_json_array(&j, "layers");
    for (int l = 0; l < s->nlayers; l++) {
        const eg_sens_layer *L = &s->layers[l];
        eg_json_object(&j, NULL);
        eg_json_str(&j, "name", L->name);
        eg_json_str(&j, "op", L->op);
        eg_json_num(&j, s->magnitude ? "weights" : "channels", (double)L->units);
        eg_json_array(&j, "results");
        for (int r = 0; r < s->nratios; r++) {
            const eg_sens_cell *c = eg_sens_at(s, l, r);
            eg_json_object(&j, NULL);
            eg_json_num(&j, "ratio", s->ratios[r]);
            eg_json_num(&j, "removed", (double)c->removed);
            if (c->skipped) {
                eg_json_str(&j, "skipped", "would remove every channel");
                eg_json_num(&j, "accuracy", NAN);  /* null */
            } else {
                eg_json_num(&j, "accuracy", c->accuracy);
                eg_json_num(&j, "loss", c->loss);
                eg_json_num(&j, "params", (double)c->params);
                eg_json_num(&j, "macs", (double)c->macs);
            }
            eg_json_object_end(&j);
        }
        eg_json_array_end(&j);
        eg_json_object_end(&j);
    }
    eg_json_array_end(&j);
    eg_json_num(&j, "seconds", s->seconds);
    eg_json_object_end(&j);
    eg_status st = j.oom ? eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for the report", path)
                         : eg_write_atomic(path, j.buf, j.len, err);
    eg_json_free(&j);
    return st;
}

eg_status eg_sensitivity_write_svg(const eg_sensitivity *s, const char *path, eg_error *err)
{
    eg_plot_series *series = calloc((size_t)s->nlayers + 1, sizeof *series);
    double *y = malloc(((size_t)s->nlayers * (size_t)s->nratios + 1) * sizeof *y);
    char (*names)[EG_NAME_MAX + 32] = calloc((size_t)s->nlayers + 1, sizeof *names);
    if (!series || !y || !names) {
        free(series), free(y), free(names);
        return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for the plot", path);
    }
    for (int l = 0; l < s->nlayers; l++) {
        for (int r = 0; r < s->nratios; r++) {
            const eg_sens_cell *c = eg_sens_at(s, l, r);
            y[(size_t)l * s->nratios + r] = c->skipped ? NAN : c->accuracy;
        }
        snprintf(names[l], sizeof names[l], "%s (%ld %s)", s->layers[l].name, s->layers[l].units,
                 s->magnitude ? "weights" : s->layers[l].units == 1 ? "channel" : "channels");
        series[l] = (eg_plot_series){names[l], s->ratios, y + (size_t)l * s->nratios, s->nratios};
    }
    char title[200], subtitle[2300], xlabel[200], ref[64];
    snprintf(title, sizeof title, "Sensitivity of %s to %s pruning, one layer at a time", s->model, s->method);
    snprintf(subtitle, sizeof subtitle, "%s; %s accuracy on %d images%s%s", s->model_label, s->set, s->test_images,
             s->data_label[0] ? " of " : "", s->data_label);
    if (s->magnitude)
        snprintf(xlabel, sizeof xlabel, "fraction of the layer's weights set to zero (smallest magnitudes)");
    else
        snprintf(xlabel, sizeof xlabel, "fraction of the layer's channels removed (lowest %s scores)", s->method);
    snprintf(ref, sizeof ref, "unpruned: %.2f%%", s->dense_accuracy);
    int skipped = 0;
    for (size_t k = 0; k < (size_t)s->nlayers * (size_t)s->nratios; k++) skipped |= s->cells[k].skipped;
    const char *note = s->magnitude ? "the other layers stay dense"
                     : skipped ? "removed: round(ratio x channels)\nno point: every channel would go"
                               : "removed: round(ratio x channels)";
    char ylabel[48];
    snprintf(ylabel, sizeof ylabel, "%s accuracy (%%)", s->set);
    eg_plot p = {.title = title, .subtitle = subtitle, .xlabel = xlabel, .ylabel = ylabel,
                 .series = series, .nseries = s->nlayers, .xmin = 0, .xmax = 1, .ymin = 0, .ymax = 0,
                 .ref_y = s->dense_accuracy, .ref_label = ref, .note = note};
    eg_status st = eg_svg_write_plot(&p, path, err);
    free(series), free(y), free(names);
    return st;
}
