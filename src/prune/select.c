/* Choosing which channels to keep from their importance scores. */
#include <stdlib.h>

#include "internal.h"

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
