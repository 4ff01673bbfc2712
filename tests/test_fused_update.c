/* eg_reduce_and_update (the fused end of a training step) against the plain
 * pieces it replaces, eg_graph_reduce_grads then eg_optim_update: the same
 * bits for odd parameter counts, 1..3 threads' blocks split as train_step
 * splits them, Adam (with and without weight decay), SGD with momentum, a
 * mask, and no optimizer; over several steps, so m and v matter too. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"

/* Two optimizers and two graphs over the same random start. */
static void run_case(size_t n, int nt, eg_optim_type type, float wd, int masked, int with_optim)
{
    eg_rng rng;
    eg_rng_seed(&rng, n * 7 + (size_t)nt);
    eg_graph fused, plain;
    memset(&fused, 0, sizeof fused);
    memset(&plain, 0, sizeof plain);
    float *buf[6];
    for (int i = 0; i < 6; i++) buf[i] = calloc(n * (size_t)(i % 3 == 1 ? nt : 1), sizeof(float));
    float *mask = calloc(n, sizeof *mask);
    fused.nparam = plain.nparam = n;
    fused.params = buf[0], fused.plan.tgrads = buf[1], fused.grads = buf[2];
    plain.params = buf[3], plain.plan.tgrads = buf[4], plain.grads = buf[5];
    for (size_t i = 0; i < n; i++) {
        fused.params[i] = plain.params[i] = eg_rng_range(&rng, -1, 1);
        mask[i] = eg_rng_range(&rng, 0, 1) < 0.3f ? 0.0f : 1.0f;
    }
    eg_optim a, b;
    eg_optim_init(&a, type, 1e-2f);
    eg_optim_init(&b, type, 1e-2f);
    a.weight_decay = b.weight_decay = wd;
    a.momentum = b.momentum = type == EG_OPTIM_SGD ? 0.9f : 0.0f;
    CHECK(!eg_optim_bind(&a, n) && !eg_optim_bind(&b, n), "bind");
    a.mask = b.mask = masked ? mask : NULL;
    for (int step = 0; step < 4; step++) {
        for (size_t i = 0; i < n * (size_t)nt; i++) {
            float r = eg_rng_range(&rng, -1, 1);
            /* some exact and negative zeros: 0 + (-0) must stay +0 */
            fused.plan.tgrads[i] = plain.plan.tgrads[i] = r < -0.9f ? -0.0f : r > 0.9f ? 0.0f : r;
        }
        a.step++, b.step++;
        for (int t = 0; t < nt; t++) {
            int lo, hi;
            eg_split((int)n, t, nt, &lo, &hi);
            eg_reduce_and_update(&fused, with_optim ? &a : NULL, (size_t)lo, (size_t)hi, nt);
            eg_graph_reduce_grads(&plain, lo, hi, nt, 0);
            if (with_optim) eg_optim_update(&b, plain.params, plain.grads, (size_t)lo, (size_t)hi);
        }
    }
    CHECK(!memcmp(fused.grads, plain.grads, n * sizeof(float)), "n %zu, %d threads: summed gradients differ", n, nt);
    CHECK(!memcmp(fused.params, plain.params, n * sizeof(float)), "n %zu, %d threads, type %d wd %g mask %d: "
          "parameters differ", n, nt, (int)type, wd, masked);
    CHECK(!memcmp(a.m, b.m, n * sizeof(float)), "n %zu, %d threads: first moments differ", n, nt);
    if (type == EG_OPTIM_ADAM)
        CHECK(!memcmp(a.v, b.v, n * sizeof(float)), "n %zu, %d threads: second moments differ", n, nt);
    eg_optim_free(&a);
    eg_optim_free(&b);
    for (int i = 0; i < 6; i++) free(buf[i]);
    free(mask);
}

int main(void)
{
    const size_t sizes[] = {1, 7, 16, 17, 511, 513, 1025, 1537, 26138};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int nt = 1; nt <= 3; nt++) {
            run_case(sizes[s], nt, EG_OPTIM_ADAM, 0.0f, 0, 1);
            run_case(sizes[s], nt, EG_OPTIM_ADAM, 1e-2f, 1, 1);
            run_case(sizes[s], nt, EG_OPTIM_SGD, 1e-3f, 1, 1);
            run_case(sizes[s], nt, EG_OPTIM_ADAM, 0.0f, 0, 0);
        }
    return check_report("test_fused_update");
}
