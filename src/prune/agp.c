/* Automated gradual pruning (Zhu & Gupta 2017, "To prune, or not to prune"):
 * during training, every `every` steps from `start` to `end`, the chosen
 * weights are magnitude-pruned to a sparsity that follows a cubic from
 * `initial` to `final`. Called by the training loop after optimizer steps. */
#include <math.h>

#include "internal.h"

eg_status eg_agp_check(const eg_agp *a, eg_error *err)
{
    if (!(a->final > 0 && a->final < 1))
        return eg_fail(err, EG_ERR_ARG, "agp: the final sparsity must be a fraction in (0, 1), found %g", a->final);
    if (!(a->initial >= 0 && a->initial < a->final))
        return eg_fail(err, EG_ERR_ARG, "agp: the initial sparsity must be in [0, %g) (below the final one), found %g",
                       a->final, a->initial);
    if (a->start < 0) return eg_fail(err, EG_ERR_ARG, "agp: the start step must be >= 0, found %ld", a->start);
    if (a->end <= a->start)
        return eg_fail(err, EG_ERR_ARG, "agp: the end step (%ld) must come after the start step (%ld)", a->end, a->start);
    if (a->every < 1) return eg_fail(err, EG_ERR_ARG, "agp: the pruning frequency must be >= 1 step, found %ld", a->every);
    if ((a->end - a->start) % a->every)
        return eg_fail(err, EG_ERR_ARG,
                       "agp: end - start (%ld - %ld = %ld steps) must be a whole number of pruning intervals of %ld steps",
                       a->end, a->start, a->end - a->start, a->every);
    return EG_OK;
}

double eg_agp_sparsity(const eg_agp *a, long t)
{
    if (t <= a->start) return a->initial;
    if (t >= a->end) return a->final;
    double r = 1.0 - (double)(t - a->start) / (double)(a->end - a->start);
    return a->final + (a->initial - a->final) * r * r * r;
}

int eg_agp_due(const eg_agp *a, long t)
{
    return t >= a->start && t <= a->end && (t - a->start) % a->every == 0;
}

eg_status eg_agp_after_step(void *ctx, eg_graph *g, eg_optim *o, const eg_step_info *si, eg_error *err)
{
    eg_agp *a = ctx;
    long t = o->step;
    if (!eg_agp_due(a, t)) return a->next ? a->next(a->next_ctx, g, o, si, err) : EG_OK;
    double s = eg_agp_sparsity(a, t);
    eg_status st = eg_prune_magnitude_floor(g, a->nodes, a->count, s, a->global, a->keep_at_least, err);
    if (st) return st;
    /* masks may be new: the optimizer must see them from the next step on,
     * and the state of the weights just masked is zeroed now */
    o->mask = g->masks;
    for (size_t i = 0; i < g->nparam && i < o->n; i++)
        if (g->masks[i] == 0) {
            if (o->m) o->m[i] = 0;
            if (o->v) o->v[i] = 0;
        }
    a->prunes++;
    a->sparsity = s;
    if (a->log) {
        size_t w = 0, nz = 0;
        for (int i = 0; i < a->count; i++) w += g->nodes[a->nodes[i]].psize[0], nz += eg_node_nonzeros(&g->nodes[a->nodes[i]]);
        fprintf(a->log, "  agp step %ld: target sparsity %.2f%%, %zu of %zu weights non-zero\n", t, 100 * s, nz, w);
    }
    return a->next ? a->next(a->next_ctx, g, o, si, err) : EG_OK;
}
