/* Regularisation penalties on chosen weights, as loss terms: L1 (l1 * sum |w|),
 * L2 (l2 / 2 * sum w^2) and the L1 proximal step (soft thresholding by
 * lr * prox after each optimizer step). Which parameters are penalised is a
 * 0/1 block laid out as the graph's parameters, like the masks, so the
 * training step handles its share of the parameters in one flat loop:
 * eg_penalty_grad before the optimizer's update, eg_penalty_prox after it. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"
#include "core/vec16.h"

#define PL 16  /* the sums' lanes (core/vec16.h), the same on every ISA */
typedef double vd __attribute__((vector_size(PL / 2 * sizeof(double))));

eg_status eg_penalty_init(eg_penalty *p, const eg_graph *g, const int *nodes, int count, float l1, float l2,
                          float prox, eg_error *err)
{
    p->l1 = l1, p->l2 = l2, p->prox = prox;
    p->n = g->nparam;
    p->sel = NULL;
    const float s[3] = {l1, l2, prox};
    static const char *const names[3] = {"l1", "l2", "prox"};
    for (int k = 0; k < 3; k++)
        if (!(s[k] >= 0 && isfinite(s[k])))
            return eg_fail(err, EG_ERR_ARG, "penalty: %s must be a finite number >= 0, found %g", names[k], s[k]);
    for (int i = 0; i < count; i++) {
        if (nodes[i] < 0 || nodes[i] >= g->nnodes)
            return eg_fail(err, EG_ERR_ARG, "penalty: node index %d is outside the model's %d nodes", nodes[i],
                           g->nnodes);
        const eg_node *nd = &g->nodes[nodes[i]];
        if (nd->op != EG_OP_CONV2D && nd->op != EG_OP_LINEAR && nd->op != EG_OP_BATCHNORM2D)
            return eg_fail(err, EG_ERR_ARG, "penalty: '%s' is a %s; expected conv2d, linear or batchnorm2d nodes",
                           nd->name, eg_ops[nd->op]->name);
    }
    p->sel = calloc(p->n ? p->n : 1, sizeof *p->sel);
    if (!p->sel) return eg_fail(err, EG_ERR_NOMEM, "penalty: out of memory for %zu parameters", p->n);
    for (int i = 0; i < count; i++) {
        const eg_node *nd = &g->nodes[nodes[i]];
        float *sel = p->sel + (nd->param[0] - g->params);
        for (size_t k = 0; k < nd->psize[0]; k++) sel[k] = 1;
    }
    return EG_OK;
}

void eg_penalty_free(eg_penalty *p)
{
    free(p->sel);
    p->sel = NULL;
}

/* Half a float vector's lanes, widened to double. */
V16_INLINE vd low_half(f16v a) { return __builtin_convertvector(__builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7), vd); }
V16_INLINE vd high_half(f16v a)
{
    return __builtin_convertvector(__builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15), vd);
}

/* The sums of |w| and w^2 over the selected parameters of [lo, hi), adding
 * l1 sign(w) + l2 w to their gradients when add. Each of PL lanes sums
 * the parameters lo + j, lo + j + PL, ... in double; the lanes are then
 * added in order, so the result depends on [lo, hi) alone. Branch-free: an
 * unselected gradient is stored back unchanged. */
static inline void penalty_sums(const float *params, const float *sel, float *grads, float l1, float l2,
                                size_t lo, size_t hi, const int add, double *abs_sum, double *sq_sum)
{
    vd s1[2] = {{0}}, s2[2] = {{0}};
    const f16v zero = {0}, l1v = l1 - zero, l2v = l2 - zero;
    size_t i = lo;
    for (; i + PL <= hi; i += PL) {
        f16v w = v16_load(params + i);
        i16v on = v16_load(sel + i) != 0;
        if (add) {
            f16v sign = __builtin_convertvector((i16v)(w < 0) - (i16v)(w > 0), f16v);  /* 1, -1, or 0 at 0 */
            f16v g = v16_load(grads + i);
            v16_store(grads + i, v16_select(on, g + (l1v * sign + l2v * w), g));
        }
        f16v a = v16_select(on, (f16v)((i16v)w & 0x7fffffff), zero);  /* |w| where selected */
        vd a0 = low_half(a), a1 = high_half(a);
        s1[0] += a0, s1[1] += a1;
        s2[0] += a0 * a0, s2[1] += a1 * a1;
    }
    double t1[PL], t2[PL];
    for (int j = 0; j < PL; j++) t1[j] = s1[j / (PL / 2)][j % (PL / 2)], t2[j] = s2[j / (PL / 2)][j % (PL / 2)];
    for (int j = 0; i < hi; i++, j++) {  /* the tail, lane by lane as above */
        float w = params[i];
        if (sel[i] == 0) continue;
        if (add) grads[i] += l1 * (float)((w > 0) - (w < 0)) + l2 * w;
        double a = fabsf(w);
        t1[j] += a, t2[j] += a * a;
    }
    *abs_sum = *sq_sum = 0;
    for (int j = 0; j < PL; j++) *abs_sum += t1[j], *sq_sum += t2[j];
}

double eg_penalty_grad(const eg_penalty *p, const float *params, float *grads, size_t lo, size_t hi)
{
    double abs_sum, sq_sum;
    if (grads && (p->l1 != 0 || p->l2 != 0))
        penalty_sums(params, p->sel, grads, p->l1, p->l2, lo, hi, 1, &abs_sum, &sq_sum);
    else  /* prox alone adds no gradient */
        penalty_sums(params, p->sel, NULL, 0, 0, lo, hi, 0, &abs_sum, &sq_sum);
    return ((double)p->l1 + (double)p->prox) * abs_sum + 0.5 * (double)p->l2 * sq_sum;
}

void eg_penalty_prox(const eg_penalty *p, float *params, float lr, size_t lo, size_t hi)
{
    const float t = lr * p->prox, *sel = p->sel;
    if (!(t > 0)) return;
    for (size_t i = lo; i < hi; i++) {
        float w = params[i], a = fabsf(w) - t, soft = a > 0 ? copysignf(a, w) : 0.0f;
        params[i] = sel[i] != 0 ? soft : w;
    }
}

double eg_penalty_value(const eg_penalty *p, const float *params)
{
    return eg_penalty_grad(p, params, NULL, 0, p->n);
}
