/* Times each node's forward and backward over training steps on random data:
 * where an epoch's time goes. Five rounds; each figure is its best round, so
 * other load on the machine shows less. Usage: profile_ops [spec] [batch] [steps] */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

int main(int argc, char **argv)
{
    const char *spec = argc > 1 ? argv[1] : "models/simplecnn";
    int batch = argc > 2 ? atoi(argv[2]) : 64, steps = argc > 3 ? atoi(argv[3]) : 100;
    eg_graph g;
    eg_error err;
    if (eg_graph_load_spec(&g, spec, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    eg_rng rng;
    eg_rng_seed(&rng, 1);
    eg_graph_init_params(&g, &rng);
    eg_graph_prepare(&g, batch, 1, eg_thread_count());
    size_t insz = eg_shape_size(g.nodes[0].out_shape);
    int k = eg_graph_output(&g)->out_shape.c;
    float *x = malloc((size_t)batch * insz * sizeof *x), *d = malloc((size_t)batch * k * sizeof *d);
    uint8_t *y = malloc((size_t)batch);
    for (size_t i = 0; i < (size_t)batch * insz; i++) x[i] = eg_rng_range(&rng, -0.5f, 2.5f);
    for (int i = 0; i < batch; i++) y[i] = (uint8_t)eg_rng_below(&rng, (uint32_t)k);
    eg_optim o;
    eg_optim_init(&o, EG_OPTIM_ADAM, 1e-3f);
    eg_optim_bind(&o, g.nparam);
    int nn = g.nnodes;
    double *best_f = malloc(sizeof(double) * nn), *best_b = malloc(sizeof(double) * nn);
    double best_total = 1e30, best_loss = 1e30, best_opt = 1e30;
    for (int i = 0; i < nn; i++) best_f[i] = best_b[i] = 1e30;
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < nn; i++) g.plan.steps[i].fwd_seconds = g.plan.steps[i].bwd_seconds = 0;
        g.plan.profile = round > 0;  /* round 0 warms up */
        double t_loss = 0, t_opt = 0, t0 = eg_now();
        for (int s = 0; s < steps; s++) {
            eg_graph_forward(&g, x, batch);
            double a = eg_now();
            eg_softmax_xent(eg_graph_y(&g), y, batch, k, d);
            eg_graph_zero_grad(&g);
            double b = eg_now();
            eg_graph_backward(&g, d, batch);
            double c = eg_now();
            eg_optim_step(&o, g.params, g.grads);
            t_loss += b - a, t_opt += eg_now() - c;
        }
        if (!round) continue;
        double total = eg_now() - t0;
        if (total < best_total) best_total = total;
        if (t_loss < best_loss) best_loss = t_loss;
        if (t_opt < best_opt) best_opt = t_opt;
        for (int i = 0; i < nn; i++) {
            if (g.plan.steps[i].fwd_seconds < best_f[i]) best_f[i] = g.plan.steps[i].fwd_seconds;
            if (g.plan.steps[i].bwd_seconds < best_b[i]) best_b[i] = g.plan.steps[i].bwd_seconds;
        }
    }
    double per = 1e6 / steps;
    printf("%s, batch %d, %d threads: %.1f us per step, %.0f images/s (best of 5 rounds)\n", spec, batch,
           eg_thread_count(), best_total * per, (double)steps * batch / best_total);
    printf("  %-8s %-10s %10s %10s\n", "node", "op", "fwd us", "bwd us");
    for (int i = 1; i < nn; i++)
        printf("  %-8s %-10s %10.1f %10.1f\n", g.nodes[i].name, eg_ops[g.nodes[i].op]->name, best_f[i] * per,
               best_b[i] * per);
    printf("  loss %.1f us, optimizer %.1f us\n", best_loss * per, best_opt * per);
    free(best_f), free(best_b);
    eg_optim_free(&o);
    eg_graph_free(&g);
    free(x), free(d), free(y);
    return 0;
}
