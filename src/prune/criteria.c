/* The table of channel-importance criteria a prune stage can name. Adding a
 * criterion is a scoring function and one line here. */
#include <string.h>

#include "internal.h"

static void score_l1(const eg_graph *g, int node, double *scores, eg_rng *rng)
{
    (void)rng;
    eg_importance_l1(g, node, scores);
}

static void score_l2(const eg_graph *g, int node, double *scores, eg_rng *rng)
{
    (void)rng;
    eg_importance_l2(g, node, scores);
}

static void score_fpgm(const eg_graph *g, int node, double *scores, eg_rng *rng)
{
    (void)rng;
    eg_importance_fpgm(g, node, scores);
}

static void score_bn_scale(const eg_graph *g, int node, double *scores, eg_rng *rng)
{
    (void)rng;
    eg_importance_bn_scale(g, node, scores);
}

static const eg_criterion criteria[] = {
    {"l1", "L1 norms", score_l1},
    {"l2", "L2 norms", score_l2},
    {"fpgm", "sums of distances to the other filters", score_fpgm},
    {"random", "random scores", eg_importance_random},
    {"bn_scale", "batchnorm scales |gamma|", score_bn_scale},
};

const eg_criterion *eg_criterion_find(const char *name)
{
    for (size_t i = 0; i < sizeof criteria / sizeof criteria[0]; i++)
        if (!strcmp(criteria[i].name, name)) return &criteria[i];
    return NULL;
}

const char *eg_criterion_names(void)
{
    static char names[256];
    if (!names[0])
        for (size_t i = 0; i < sizeof criteria / sizeof criteria[0]; i++) {
            if (i) strcat(names, ", ");
            strcat(names, criteria[i].name);
        }
    return names;
}
