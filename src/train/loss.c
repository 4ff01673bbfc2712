/* Softmax cross-entropy, averaged over the batch (PyTorch's CrossEntropyLoss). */
#include <math.h>

#include "internal.h"

double eg_xent_rows(const float *logits, const uint8_t *labels, int rows, int k, int n, float *dlogits)
{
    double total = 0;
    for (int i = 0; i < rows; i++) {
        const float *z = logits + (size_t)i * k;
        float m = z[0];
        for (int j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
        double s = 0;
        for (int j = 0; j < k; j++) s += exp((double)(z[j] - m));
        double lse = (double)m + log(s);
        total += lse - z[labels[i]];
        if (dlogits) {
            /* d(mean loss)/dz = (softmax(z) - onehot) / n */
            float *d = dlogits + (size_t)i * k;
            for (int j = 0; j < k; j++)
                d[j] = (float)((exp((double)z[j] - lse) - (j == labels[i])) / n);
        }
    }
    return total;
}

float eg_softmax_xent(const float *logits, const uint8_t *labels, int n, int k, float *dlogits)
{
    return (float)(eg_xent_rows(logits, labels, n, k, n, dlogits) / n);
}
