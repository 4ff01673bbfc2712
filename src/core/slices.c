/* The one tensor-slicing primitive surgery needs. */
#include <string.h>

#include "internal.h"

void eg_keep_slices(float *dst, const float *src, size_t a, size_t c, size_t b, const int *keep,
                    int nkeep)
{
    for (size_t i = 0; i < a; i++)
        for (int j = 0; j < nkeep; j++)
            memmove(dst + (i * (size_t)nkeep + (size_t)j) * b, src + (i * c + (size_t)keep[j]) * b,
                   b * sizeof *dst);
}
