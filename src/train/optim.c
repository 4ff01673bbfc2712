/* Optimizers: SGD (momentum, Nesterov, weight decay) and Adam, following
 * PyTorch's update rules step for step. State is laid out like the
 * parameter block, so each step is one flat loop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void eg_optim_init(eg_optim *o, eg_optim_type type, float lr)
{
    memset(o, 0, sizeof *o);
    o->type = type;
    o->lr = lr;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
}

eg_status eg_optim_bind(eg_optim *o, size_t n)
{
    free(o->m);
    free(o->v);
    o->n = n;
    o->step = 0;
    o->m = calloc(n ? n : 1, sizeof *o->m);
    o->v = o->type == EG_OPTIM_ADAM ? calloc(n ? n : 1, sizeof *o->v) : NULL;
    if (!o->m || (o->type == EG_OPTIM_ADAM && !o->v)) return EG_ERR_NOMEM;
    return EG_OK;
}

static void sgd_update(eg_optim *o, float *p, const float *g, size_t lo, size_t hi)
{
    float lr = o->lr, mu = o->momentum, wd = o->weight_decay;
    for (size_t i = lo; i < hi; i++) {
        float d = g[i] + wd * p[i];
        if (mu != 0) {
            /* the first step starts the buffer at the gradient itself */
            o->m[i] = o->step == 1 ? d : mu * o->m[i] + d;
            d = o->nesterov ? d + mu * o->m[i] : o->m[i];
        }
        p[i] -= lr * d;
    }
}

static void adam_update(eg_optim *o, float *p, const float *g, size_t lo, size_t hi)
{
    float b1 = o->beta1, b2 = o->beta2, wd = o->weight_decay, eps = o->eps;
    double bc1 = 1.0 - pow(b1, (double)o->step), bc2 = 1.0 - pow(b2, (double)o->step);
    /* PyTorch divides sqrt(v) by sqrt(bc2); multiplying by its reciprocal
     * differs by at most an ulp in the denominator and saves one of the two
     * divisions per weight, which with the square root bound the step */
    float step_size = (float)(o->lr / bc1), inv_bc2_sqrt = (float)(1.0 / sqrt(bc2));
    float *m = o->m, *v = o->v;
    for (size_t i = lo; i < hi; i++) {
        float d = g[i] + wd * p[i];
        m[i] = m[i] * b1 + d * (1 - b1);
        v[i] = v[i] * b2 + d * d * (1 - b2);
        p[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_bc2_sqrt + eps);
    }
}

/* With a mask, a pruned weight's gradient, optimizer state and value are all
 * zeroed at every step, so it stays exactly zero whatever the update rule. */
static void apply_mask(eg_optim *o, float *params, size_t lo, size_t hi)
{
    const float *mask = o->mask;
    float *m = o->m, *v = o->v;
    /* a select, not a product: w * 0 would leave -0.0 for negative w */
    for (size_t i = lo; i < hi; i++) {
        int keep = mask[i] != 0;
        m[i] = keep ? m[i] : 0.0f;
        if (v) v[i] = keep ? v[i] : 0.0f;
        params[i] = keep ? params[i] : 0.0f;
    }
}

void eg_optim_update(eg_optim *o, float *params, const float *grads, size_t lo, size_t hi)
{
    if (o->type == EG_OPTIM_ADAM)
        adam_update(o, params, grads, lo, hi);
    else
        sgd_update(o, params, grads, lo, hi);
    if (o->mask) apply_mask(o, params, lo, hi);
}

void eg_optim_step(eg_optim *o, float *params, const float *grads)
{
    o->step++;
    eg_optim_update(o, params, grads, 0, o->n);
}

void eg_optim_free(eg_optim *o)
{
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}
