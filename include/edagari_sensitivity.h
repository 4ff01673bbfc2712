/* edagari: Sensitivity analysis: what each layer, pruned alone, costs in accuracy. */
#ifndef EDAGARI_SENSITIVITY_H
#define EDAGARI_SENSITIVITY_H

#include "edagari.h"

/* ------------------------------------------------- sensitivity analysis */

/* How much each layer, pruned alone, costs in test accuracy: every layer
 * at every ratio on a fresh copy of the model, evaluated on a test set.
 * Each cell is exactly what `edagari prune` with that layer and amount, then
 * `edagari eval`, would give: channels (l1, l2, fpgm, random) remove
 * round(ratio x channels) of the layer's channels by the criterion, with
 * everything they feed; magnitude masks that fraction of the layer's
 * weights (scope=local, layers=<that layer>). */
#define EG_SENS_MAX_RATIOS 64

typedef struct {
    const char *method;   /* a criterion (eg_criterion_find) or "magnitude"; NULL: l1 */
    const double *ratios; /* increasing, each in (0, 1) */
    int nratios;
    const char *layers;   /* comma-separated nodes; NULL or "": every layer that can be pruned
                           * (channels: eg_depgroup_build succeeds; magnitude: every conv2d and linear) */
    int batch;            /* evaluation batch; 0: 1000, as edagari eval */
    uint64_t seed;        /* random: each cell draws from a generator freshly seeded with it */
    int threads;          /* 0: leave the thread count as it is */
    FILE *log;            /* a line per layer as it is done, or NULL */
    const char *model_label, *data_label;  /* what the report names the model and the data by (may be NULL) */
    const char *set;      /* what the evaluated set is: "test" (NULL) or "validation" */
} eg_sensitivity_opts;

typedef struct {
    double accuracy, loss;  /* test accuracy in percent and mean loss; NaN when skipped */
    long removed;           /* channels removed, or weights of the layer zero afterwards (magnitude) */
    size_t params, macs;    /* the whole model's after this prune; magnitude: non-zero parameters and
                             * the MACs of non-zero weights */
    int skipped;            /* round(ratio x channels) is every channel: nothing to evaluate (edagari
                             * prune refuses it too) */
} eg_sens_cell;

typedef struct {
    char name[EG_NAME_MAX];
    int node;
    char op[16];           /* its op's name */
    long units;            /* channels (structured) or weights (magnitude) of the layer */
} eg_sens_layer;

typedef struct {
    char method[16];
    int magnitude;         /* weights rather than channels */
    char model[64];        /* the graph's name */
    char model_label[1024], data_label[1024];
    char set[16];              /* "test" or "validation": the evaluated set */
    int nratios, nlayers;
    double ratios[EG_SENS_MAX_RATIOS];
    eg_sens_layer *layers;     /* [nlayers] */
    eg_sens_cell *cells;       /* [nlayers x nratios], layer by layer */
    double dense_accuracy, dense_loss;
    size_t dense_params, dense_macs;
    int test_images, batch;
    uint64_t seed;
    double seconds;
} eg_sensitivity;

/* Parses "0.1,0.2,0.5" into ratios (at most max): each a number in (0, 1),
 * strictly increasing. *n gets the count. Errors say which entry and why. */
eg_status eg_sensitivity_parse_ratios(const char *text, double *ratios, int max, int *n, eg_error *err);
/* The nodes the analysis covers for method and a layer list (see
 * eg_sensitivity_opts.layers) into nodes (room for g->nnodes), *count of
 * them. EG_ERR_ARG for an unknown method, an unknown, repeated or
 * unprunable layer, or none left. */
eg_status eg_sensitivity_layers(const eg_graph *g, const char *method, const char *layers, int *nodes, int *count,
                                eg_error *err);
/* Runs the analysis; g is not changed. On success s holds the results
 * (free with eg_sensitivity_free); on failure s is empty. */
eg_status eg_sensitivity_run(const eg_graph *g, const eg_dataset *test, const eg_sensitivity_opts *o,
                             eg_sensitivity *s, eg_error *err);
void eg_sensitivity_free(eg_sensitivity *s);
/* The cell of layer l at ratio r. */
static inline const eg_sens_cell *eg_sens_at(const eg_sensitivity *s, int l, int r)
{
    return &s->cells[(size_t)l * (size_t)s->nratios + (size_t)r];
}
/* Writes the results as JSON / as an SVG plot of accuracy against ratio, one
 * line per layer (eg_svg_write_plot), atomically. */
eg_status eg_sensitivity_write_json(const eg_sensitivity *s, const char *path, eg_error *err);
eg_status eg_sensitivity_write_svg(const eg_sensitivity *s, const char *path, eg_error *err);

#endif
