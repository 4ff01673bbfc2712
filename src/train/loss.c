/* Softmax cross-entropy, averaged over the batch (PyTorch's CrossEntropyLoss). */
#include <math.h>

#include "internal.h"

#define EXP_KEPT 64

double eg_xent_rows(const float *logits, const uint8_t *labels, int rows, int k, int n, float *dlogits)
{
    double total = 0;
    for (int i = 0; i < rows; i++) {
        const float *z = logits + (size_t)i * k;
        float m = z[0];
        for (int j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
        /* each exponential once: kept for the gradient when k is small
         * (the exp calls were most of the loss's time) */
        double s = 0, e[EXP_KEPT];
        for (int j = 0; j < k; j++) {
            double ej = exp((double)(z[j] - m));
            if (j < EXP_KEPT) e[j] = ej;
            s += ej;
        }
        double lse = (double)m + log(s);
        total += lse - z[labels[i]];
        if (dlogits) {
            /* d(mean loss)/dz = (softmax(z) - onehot) / n */
            float *d = dlogits + (size_t)i * k;
            for (int j = 0; j < k; j++) {
                double p = j < EXP_KEPT ? e[j] / s : exp((double)z[j] - lse);
                d[j] = (float)((p - (j == labels[i])) / n);
            }
        }
    }
    return total;
}

float eg_softmax_xent(const float *logits, const uint8_t *labels, int n, int k, float *dlogits)
{
    return (float)(eg_xent_rows(logits, labels, n, k, n, dlogits) / n);
}
