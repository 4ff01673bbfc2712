/* L1-norm channel importance and choosing which channels to keep. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

void eg_importance_l1(const eg_graph *g, int node, double *scores)
{
    const eg_node *nd = &g->nodes[node];
    size_t per = nd->psize[0] / (size_t)nd->out;
    for (int c = 0; c < nd->out; c++) {
        double s = 0;
        for (size_t k = 0; k < per; k++) s += fabs((double)nd->param[0][(size_t)c * per + k]);
        scores[c] = s;
    }
}

int eg_select_keep(const double *scores, int channels, int count, int *keep, int *pruned)
{
    int *order = malloc((size_t)channels * sizeof *order);
    char *gone = calloc((size_t)channels, 1);
    if (!order || !gone) {
        free(order), free(gone);
        return -1;
    }
    /* insertion sort by (score, index): stable, and channel counts are small */
    for (int i = 0; i < channels; i++) {
        int j = i;
        while (j > 0 && scores[order[j - 1]] > scores[i]) order[j] = order[j - 1], j--;
        order[j] = i;
    }
    for (int i = 0; i < count && i < channels; i++) gone[order[i]] = 1;
    int nkeep = 0, np = 0;
    for (int c = 0; c < channels; c++) {
        if (gone[c]) {
            if (pruned) pruned[np++] = c;
        } else {
            keep[nkeep++] = c;
        }
    }
    free(order), free(gone);
    return nkeep;
}
