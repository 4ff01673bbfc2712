/* FPGM (He et al. 2019): filters near the layer's geometric median are the most replaceable. */
#include <math.h>
#include <string.h>

#include "internal.h"

/* Each filter's score is the sum of its Euclidean distances to the other
 * filters of the layer; the filter minimising it stands in for the geometric
 * median, and its neighbours are what the rest of the layer can represent. */
void eg_importance_fpgm(const eg_graph *g, int node, double *scores)
{
    const eg_node *nd = &g->nodes[node];
    size_t per = nd->psize[0] / (size_t)nd->out;
    memset(scores, 0, (size_t)nd->out * sizeof *scores);
    for (int a = 0; a < nd->out; a++) {
        const float *wa = nd->param[0] + (size_t)a * per;
        for (int b = a + 1; b < nd->out; b++) {
            const float *wb = nd->param[0] + (size_t)b * per;
            double s = 0;
            for (size_t k = 0; k < per; k++) {
                double d = (double)wa[k] - wb[k];
                s += d * d;
            }
            double dist = sqrt(s);
            scores[a] += dist;
            scores[b] += dist;
        }
    }
}
