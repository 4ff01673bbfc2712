/* The optimizers' updates as flat loops over a range of parameters, which
 * GCC vectorizes for the variant's vector width (src/train/optim.c holds
 * the rules and computes each step's coefficients). A mask is applied in
 * the same pass: a pruned weight's value and state are zeroed at every
 * step, by a select, not a product (w * 0 would leave -0.0 for negative w). */
#include <math.h>

#include "kernels/kernels.h"

void EG_KERNEL(adam_update)(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                            const float *restrict mask, size_t lo, size_t hi, const eg_update_coefs *c)
{
    float b1 = c->b1, b2 = c->b2, wd = c->wd, eps = c->eps, step = c->step, inv_bc2_sqrt = c->inv_bc2_sqrt;
    float one_b1 = 1 - b1, one_b2 = 1 - b2;
    for (size_t i = lo; i < hi; i++) {
        float d = g[i] + wd * p[i];
        m[i] = m[i] * b1 + d * one_b1;
        v[i] = v[i] * b2 + d * d * one_b2;
        p[i] -= step * m[i] / (sqrtf(v[i]) * inv_bc2_sqrt + eps);
    }
    if (mask)
        for (size_t i = lo; i < hi; i++) {
            int keep = mask[i] != 0;
            m[i] = keep ? m[i] : 0.0f;
            v[i] = keep ? v[i] : 0.0f;
            p[i] = keep ? p[i] : 0.0f;
        }
}

void EG_KERNEL(sgd_update)(float *restrict p, const float *restrict g, float *restrict m, const float *restrict mask,
                           size_t lo, size_t hi, const eg_update_coefs *c)
{
    float lr = c->lr, mu = c->mu, wd = c->wd;
    if (mu != 0)
        for (size_t i = lo; i < hi; i++) {
            float d = g[i] + wd * p[i];
            m[i] = c->first ? d : mu * m[i] + d;  /* the first step starts the buffer at the gradient */
            d = c->nesterov ? d + mu * m[i] : m[i];
            p[i] -= lr * d;
        }
    else
        for (size_t i = lo; i < hi; i++) p[i] -= lr * (g[i] + wd * p[i]);
    if (mask)
        for (size_t i = lo; i < hi; i++) {
            int keep = mask[i] != 0;
            m[i] = keep ? m[i] : 0.0f;
            p[i] = keep ? p[i] : 0.0f;
        }
}
