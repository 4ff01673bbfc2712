/* AGP: during training the masked fraction follows Zhu & Gupta's cubic
 * schedule exactly at every pruning step (global and local scope), holds in
 * between and after, and masked weights and their Adam moments stay zero
 * through every step; the schedule's numbers are checked. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"

typedef struct {
    eg_agp *agp;
    long steps;
    int bad_state;    /* steps after which a masked weight or moment was not zero */
    int bad_count;    /* steps after which the masked count was not the schedule's */
} watch;

/* The schedule's target in force after step t: that of the last pruning step. */
static double in_force(const eg_agp *a, long t)
{
    if (t < a->start) return -1;  /* nothing pruned yet */
    long last = t > a->end ? a->end : a->start + (t - a->start) / a->every * a->every;
    return eg_agp_sparsity(a, last);
}

static eg_status check_step(void *ctx, eg_graph *g, eg_optim *o, const eg_step_info *si, eg_error *err)
{
    watch *w = ctx;
    eg_status st = eg_agp_after_step(w->agp, g, o, si, err);
    if (st) return st;
    w->steps++;
    const eg_agp *a = w->agp;
    double s = in_force(a, o->step);
    size_t masked = 0, total = 0;
    int ok = 1;
    for (int i = 0; i < a->count; i++) {
        const eg_node *nd = &g->nodes[a->nodes[i]];
        size_t m = 0;
        for (size_t k = 0; g->masks && k < nd->psize[0]; k++) m += nd->mask[0][k] == 0;
        if (!a->global && s >= 0) ok &= m == (size_t)llround(s * (double)nd->psize[0]);
        masked += m, total += nd->psize[0];
    }
    if (a->global) ok &= masked == (s >= 0 ? (size_t)llround(s * (double)total) : 0);
    if (!ok) {
        if (!w->bad_count) fprintf(stderr, "  step %ld: %zu of %zu masked, schedule %g\n", o->step, masked, total, s);
        w->bad_count++;
    }
    for (size_t k = 0; g->masks && k < g->nparam; k++)
        if (g->masks[k] == 0 && (g->params[k] != 0 || o->m[k] != 0 || o->v[k] != 0 || signbit(g->params[k]))) {
            w->bad_state++;
            break;
        }
    return EG_OK;
}

static void make_data(eg_dataset *ds, int n, uint64_t seed)
{
    eg_rng r;
    eg_rng_seed(&r, seed);
    ds->n = n, ds->c = 1, ds->h = 28, ds->w = 28;
    ds->x = malloc((size_t)n * 784 * sizeof *ds->x);
    ds->y = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        ds->y[i] = (uint8_t)(i % 10);
        for (int k = 0; k < 784; k++) ds->x[(size_t)i * 784 + k] = eg_rng_range(&r, -0.5f, 1.5f) + (k % 10 == ds->y[i]);
    }
}

static void run(int global, double initial, const char *what)
{
    eg_graph g;
    eg_error err = {0};
    CHECK(eg_graph_load_spec(&g, "models/simplecnn", &err) == EG_OK, "%s", err.msg);
    eg_rng r;
    eg_rng_seed(&r, 5);
    eg_graph_init_params(&g, &r);
    int nodes[4] = {eg_graph_find(&g, "conv1"), eg_graph_find(&g, "conv2"), eg_graph_find(&g, "fc1"), eg_graph_find(&g, "fc2")};
    eg_agp a = {.initial = initial, .final = 0.9, .start = 3, .end = 23, .every = 4, .global = global,
                .nodes = nodes, .count = 4};
    CHECK(eg_agp_check(&a, &err) == EG_OK, "%s: %s", what, err.msg);
    watch w = {&a, 0, 0, 0};
    eg_dataset ds;
    make_data(&ds, 480, 9);   /* 30 steps of 16 */
    eg_optim o;
    eg_optim_init(&o, EG_OPTIM_ADAM, 0.01f);
    eg_train_opts to = {.batch = 16, .shuffle = 1, .after_step = check_step, .step_ctx = &w};
    eg_epoch_stats es;
    CHECK(eg_train_epoch(&g, &o, &ds, &to, &r, &es, &err) == EG_OK, "%s: %s", what, err.msg);
    CHECK(w.steps == 30, "%s: %ld steps watched", what, w.steps);
    CHECK(a.prunes == 6, "%s: %d pruning steps, expected 6 (3, 7, ..., 23)", what, a.prunes);
    CHECK(w.bad_count == 0, "%s: the masked count left the schedule after %d steps", what, w.bad_count);
    CHECK(w.bad_state == 0, "%s: masked weights or moments non-zero after %d steps", what, w.bad_state);
    CHECK(a.sparsity == 0.9, "%s: last target %g", what, a.sparsity);
    /* a second epoch: the final sparsity holds, nothing is pruned again */
    CHECK(eg_train_epoch(&g, &o, &ds, &to, &r, &es, &err) == EG_OK, "%s: %s", what, err.msg);
    CHECK(a.prunes == 6 && w.bad_count == 0 && w.bad_state == 0, "%s: after the schedule: %d prunes, %d, %d", what, a.prunes,
          w.bad_count, w.bad_state);
    eg_optim_free(&o);
    eg_dataset_free(&ds);
    eg_graph_free(&g);
}

int main(void)
{
    eg_agp a = {.initial = 0.1, .final = 0.9, .start = 100, .end = 500, .every = 100};
    CHECK(eg_agp_sparsity(&a, 0) == 0.1 && eg_agp_sparsity(&a, 100) == 0.1, "before/at start");
    CHECK(eg_agp_sparsity(&a, 500) == 0.9 && eg_agp_sparsity(&a, 9000) == 0.9, "at/after end");
    /* halfway: s_f + (s_i - s_f) / 8 */
    CHECK(fabs(eg_agp_sparsity(&a, 300) - (0.9 - 0.8 / 8)) < 1e-15, "halfway: %.17g", eg_agp_sparsity(&a, 300));
    CHECK(fabs(eg_agp_sparsity(&a, 200) - (0.9 - 0.8 * 0.421875)) < 1e-15, "a quarter: %.17g", eg_agp_sparsity(&a, 200));
    int due = 0;
    for (long t = 0; t < 1000; t++) due += eg_agp_due(&a, t);
    CHECK(due == 5 && eg_agp_due(&a, 100) && eg_agp_due(&a, 500) && !eg_agp_due(&a, 150), "due %d times", due);
    eg_error err = {0};
    eg_agp bad[] = {{.final = 0, .end = 10, .every = 1}, {.final = 1, .end = 10, .every = 1},
                    {.initial = 0.9, .final = 0.5, .end = 10, .every = 1}, {.final = 0.5, .start = -1, .end = 10, .every = 1},
                    {.final = 0.5, .start = 10, .end = 10, .every = 1}, {.final = 0.5, .end = 10, .every = 0},
                    {.final = 0.5, .end = 10, .every = 3}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        CHECK(eg_agp_check(&bad[i], &err) == EG_ERR_ARG && strstr(err.msg, "agp"), "bad schedule %zu accepted", i);
    }
    run(1, 0.0, "global");
    run(0, 0.0, "local");
    run(1, 0.25, "global from 25%");
    return check_report("test_agp");
}
