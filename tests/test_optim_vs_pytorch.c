/* Adam and SGD against torch.optim: three steps each, parameters compared after every step.
 * The fixtures (tests/fixtures) give the gradients of each step. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "internal.h"

#define RTOL 1e-5
#define ATOL 1e-7
/* A step moves a parameter by ~lr, far below 1e-5 of its value, so each
 * step's update is also compared on its own: 1e-3 of the update, plus a few
 * float32 ulps of the parameter for the rounding in p_after - p_before. */
#define UPDATE_RTOL 1e-3
#define UPDATE_ULPS 4.0

static const char *const cases[] = {"adam", "adam_wd", "sgd_momentum", "sgd_nesterov", "sgd_plain"};

/* (after - before) against (want_after - want_before), element by element. */
static void check_update(const char *what, const float *before, const float *after, const float *want_before,
                         const float *want_after, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double got = (double)after[i] - before[i], want = (double)want_after[i] - want_before[i];
        double ulp = ldexp(fmax(fabs(after[i]), fabs(before[i])), -23);
        if (!(fabs(got - want) <= UPDATE_RTOL * fabs(want) + UPDATE_ULPS * ulp)) {
            if (bad < 5) fprintf(stderr, "  %s[%zu]: update %.9g, torch's %.9g\n", what, i, got, want);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %zu of %zu updates differ from torch.optim's", what, bad, n);
}

static void test_case(const char *name)
{
    fixture f;
    if (fx_load(&f, name)) {
        CHECK(0, "cannot load fixture %s", name);
        return;
    }
    const fx_tensor *p0 = fx_get(&f, "p0"), *g[3] = {fx_get(&f, "g1"), fx_get(&f, "g2"), fx_get(&f, "g3")},
                    *want[3] = {fx_get(&f, "p1"), fx_get(&f, "p2"), fx_get(&f, "p3")};
    int complete = p0 != NULL;
    for (int s = 0; s < 3 && complete; s++)
        complete = g[s] && want[s] && g[s]->size == p0->size && want[s]->size == p0->size;
    CHECK(complete, "%s: fixture incomplete", name);
    if (!complete) {
        fx_free(&f);
        return;
    }
    eg_optim_type type = fx_scalar(&f, "type", -1) == 1 ? EG_OPTIM_ADAM : EG_OPTIM_SGD;
    eg_optim o;
    eg_optim_init(&o, type, fx_scalar(&f, "lr", 0));
    if (type == EG_OPTIM_ADAM) {
        /* init must give PyTorch's defaults, not the fixture */
        CHECK(o.beta1 == fx_scalar(&f, "beta1", 0) && o.beta2 == fx_scalar(&f, "beta2", 0) &&
                  o.eps == fx_scalar(&f, "eps", 0),
              "%s: default betas/eps %g %g %g differ from torch's", name, o.beta1, o.beta2, o.eps);
    } else {
        o.momentum = fx_scalar(&f, "momentum", 0);
        o.nesterov = fx_scalar(&f, "nesterov", 0) != 0;
    }
    o.weight_decay = fx_scalar(&f, "weight_decay", 0);
    size_t n = p0->size;
    CHECK(eg_optim_bind(&o, n) == EG_OK, "%s: eg_optim_bind failed", name);
    float *p = malloc(n * sizeof *p), *prev = malloc(n * sizeof *prev);
    memcpy(p, p0->v, n * sizeof *p);
    for (int s = 0; s < 3; s++) {
        memcpy(prev, p, n * sizeof *p);
        eg_optim_step(&o, p, g[s]->v);
        char what[64];
        snprintf(what, sizeof what, "%s step %d params", name, s + 1);
        check_close(what, p, want[s]->v, n, RTOL, ATOL);
        snprintf(what, sizeof what, "%s step %d update", name, s + 1);
        check_update(what, prev, p, s ? want[s - 1]->v : p0->v, want[s]->v, n);
    }
    CHECK(o.step == 3, "%s: step counter %ld after 3 steps", name, o.step);
    free(p);
    free(prev);
    eg_optim_free(&o);
    fx_free(&f);
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) test_case(cases[i]);
    return check_report("optim_vs_pytorch");
}
