/* The random criterion: the baseline every pruning method is compared to. */
#include "internal.h"

void eg_importance_random(const eg_graph *g, int node, double *scores, eg_rng *rng)
{
    const eg_node *nd = &g->nodes[node];
    /* 53 random bits per score, so ties are practically impossible */
    for (int c = 0; c < nd->out; c++) scores[c] = (double)(eg_rng_next(rng) >> 11) * 0x1p-53;
}
