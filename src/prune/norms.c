/* Norm criteria: the L1 and L2 norms of each output channel's weights. */
#include <math.h>

#include "internal.h"

/* Weights per output channel of a conv2d (in*k*k) or linear (in) node. */
static size_t filter_size(const eg_node *nd) { return nd->psize[0] / (size_t)nd->out; }

void eg_importance_l1(const eg_graph *g, int node, double *scores)
{
    const eg_node *nd = &g->nodes[node];
    size_t per = filter_size(nd);
    for (int c = 0; c < nd->out; c++) {
        const float *w = nd->param[0] + (size_t)c * per;
        double s = 0;
        for (size_t k = 0; k < per; k++) s += fabs((double)w[k]);
        scores[c] = s;
    }
}

void eg_importance_l2(const eg_graph *g, int node, double *scores)
{
    const eg_node *nd = &g->nodes[node];
    size_t per = filter_size(nd);
    for (int c = 0; c < nd->out; c++) {
        const float *w = nd->param[0] + (size_t)c * per;
        double s = 0;
        for (size_t k = 0; k < per; k++) s += (double)w[k] * w[k];
        scores[c] = sqrt(s);
    }
}
