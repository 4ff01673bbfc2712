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

/* The step's coefficients; the loops are kernels (kernels/optim_update.c). */
void eg_optim_update(eg_optim *o, float *params, const float *grads, size_t lo, size_t hi)
{
    eg_update_coefs c = {.lr = o->lr, .wd = o->weight_decay, .mu = o->momentum, .nesterov = o->nesterov,
                         .first = o->step == 1};
    if (o->type == EG_OPTIM_ADAM) {
        double bc1 = 1.0 - pow(o->beta1, (double)o->step), bc2 = 1.0 - pow(o->beta2, (double)o->step);
        /* PyTorch divides sqrt(v) by sqrt(bc2); multiplying by its reciprocal
         * differs by at most an ulp in the denominator and saves one of the two
         * divisions per weight, which with the square root bound the step */
        c.b1 = o->beta1, c.b2 = o->beta2, c.eps = o->eps;
        c.step = (float)(o->lr / bc1), c.inv_bc2_sqrt = (float)(1.0 / sqrt(bc2));
        eg_k->adam_update(params, grads, o->m, o->v, o->mask, lo, hi, &c);
    } else
        eg_k->sgd_update(params, grads, o->m, o->mask, lo, hi, &c);
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
