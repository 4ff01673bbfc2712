/* Pruned inference against dense, one thread, median times of repeated
 * runs:
 * Times are the thread's CPU time (see cpu_now).
 *   sparse_speedup layers [spec [node]]  each conv2d and linear node's (or
 *       one node's) forward on
 *       the dense kernel, on CSR and on N:M (m = 4), at 0-99% magnitude
 *       sparsity and at 2:4, batches 1, 64 and 1000, with the path the
 *       automatic choice takes (src/graph/plan.c);
 *   sparse_speedup model [spec]   the whole model's forward, dense against
 *       pruned: magnitude sparsity 50-99% on every layer (each layer alone),
 *       2:4 on every layer, and 25/50/75% of the channels of every layer
 *       that can lose channels (l1) and all but one of them, with the MAC
 *       ratio next to the speed-up and the speed-up as a share of it ("of MACs");
 *   sparse_speedup lanes [spec [node]]  each conv2d and linear node (or
 *       one) in batch lanes, as whole-model batch inference runs it
 *       (src/graph/lanes.c): its dense kernel against its CSR one at
 *       0-99% sparsity, batches 64 and 1000 (AVX-512 builds).
 * Run from the source root. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Seconds of CPU time of the calling thread. Everything timed here runs on
 * one thread (the forward of a one-thread graph enters no parallel region),
 * so this leaves out the time other jobs on a shared machine take the core
 * away, which wall time would count; what they do to the caches still
 * shows. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void run_fn(eg_graph *g, int node, int batch, const float *x);

/* One node over batch rows as inference runs it: a chunk of rows at a time
 * on buffers that hold one chunk (eg_graph_prepare's chunk_rows), or all
 * rows when the buffers hold the batch. */
static void run_node(eg_graph *g, int node, int batch, const float *x)
{
    (void)x;
    int step = g->plan.chunk_rows ? g->plan.chunk_rows : batch;
    for (int a = 0; a < batch; a += step)
        eg_ops[g->nodes[node].op]->forward(g, &g->nodes[node], &g->plan.steps[node], 0,
                                           batch - a < step ? batch - a : step);
}

static void run_model(eg_graph *g, int node, int batch, const float *x)
{
    (void)node;
    eg_graph_forward(g, x, batch);
}

/* Median seconds of fn over `samples` samples of about 2 ms each. */
static double median_time(run_fn *fn, eg_graph *g, int node, int batch, const float *x, int samples)
{
    double t[64];
    int reps = 1;
    for (;;) {
        double t0 = cpu_now();
        for (int r = 0; r < reps; r++) fn(g, node, batch, x);
        if (cpu_now() - t0 > 2e-3 || reps > 1 << 20) break;
        reps *= 2;
    }
    for (int s = 0; s < samples; s++) {
        double t0 = cpu_now();
        for (int r = 0; r < reps; r++) fn(g, node, batch, x);
        t[s] = (cpu_now() - t0) / reps;
    }
    qsort(t, (size_t)samples, sizeof *t, cmp);
    return t[samples / 2];
}

static int load(eg_graph *g, const char *spec)
{
    eg_error err;
    if (eg_graph_load_spec(g, spec, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    eg_rng rng;
    eg_rng_seed(&rng, 7);
    eg_graph_init_params(g, &rng);
    if (eg_graph_enable_masks(g, &err)) return -1;
    return 0;
}

static int weighted_nodes(const eg_graph *g, int *nodes)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_CONV2D || g->nodes[i].op == EG_OP_LINEAR) nodes[n++] = i;
    return n;
}

static const char *path_name(const eg_step *s)
{
    return s->weights == EG_WEIGHTS_CSR ? "csr" : s->weights == EG_WEIGHTS_NM ? "n:m" : "dense";
}

/* sparsity < 0: 2:4 */
static int prune_unstructured(eg_graph *g, const int *nodes, int count, double sparsity)
{
    eg_error err;
    if (sparsity < 0) return eg_prune_nm(g, nodes, count, 2, 4, &err) ? -1 : 0;
    if (sparsity > 0 && eg_prune_magnitude(g, nodes, count, sparsity, 0, &err)) return -1;
    return 0;
}

static int layers(const char *spec, const char *only)
{
    static const double sparsity[] = {0, 0.5, 0.8, 0.9, 0.95, 0.99, -1};
    static const int batches[] = {1, 64, 1000};
    eg_graph g0;
    if (load(&g0, spec)) return 1;
    int nodes[64], count = weighted_nodes(&g0, nodes);
    printf("%s, each layer's inference forward, 1 thread: median us (21 samples); ratio = dense / that path\n", spec);
    printf("%-6s %8s %6s %10s %10s %10s %7s %7s %s\n", "layer", "sparsity", "batch", "dense us", "csr us", "n:m us",
           "csr", "n:m", "auto");
    for (int c = 0; c < count; c++)
        for (size_t si = 0; (!only || !strcmp(only, g0.nodes[nodes[c]].name)) && si < sizeof sparsity / sizeof *sparsity; si++)
            for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
                eg_graph g;
                if (load(&g, spec)) return 1;
                int node = nodes[c], batch = batches[bi];
                if (prune_unstructured(&g, &node, 1, sparsity[si])) return 1;
                eg_node *nd = &g.nodes[node];
                double t[3];
                const char *autopath = "";
                eg_rng rng;
                eg_rng_seed(&rng, 3);
                for (int mode = 0; mode < 4; mode++) {
                    static const int force[] = {-1, 1, 2, 0};
                    g.plan.sparse = force[mode];
                    if (eg_graph_prepare(&g, batch, 0, 1)) return 1;
                    float *x = g.plan.steps[nd->inputs[0]].y;
                    if (nd->inputs[0] == 0) {  /* the input node reads the caller's buffer */
                        static float *in;
                        free(in);
                        in = malloc((size_t)batch * eg_shape_size(nd->in_shape) * sizeof *in);
                        g.plan.steps[0].y = x = in;
                    }
                    int rows = g.plan.chunk_rows ? g.plan.chunk_rows : batch;  /* what the buffers hold */
                    for (size_t k = 0; k < (size_t)rows * eg_shape_size(nd->in_shape); k++)
                        x[k] = eg_rng_range(&rng, 0, 2);
                    if (mode < 3) t[mode] = median_time(run_node, &g, node, batch, NULL, 21);
                    else autopath = path_name(&g.plan.steps[node]);
                }
                char what[16];
                if (sparsity[si] < 0) snprintf(what, sizeof what, "2:4");
                else snprintf(what, sizeof what, "%.0f%%", sparsity[si] * 100);
                printf("%-6s %8s %6d %10.2f %10.2f %10.2f %7.2f %7.2f %s\n", nd->name, what, batch, t[0] * 1e6,
                       t[1] * 1e6, t[2] * 1e6, t[0] / t[1], t[0] / t[2], autopath);
                fflush(stdout);
                eg_graph_free(&g);
            }
    eg_graph_free(&g0);
    return 0;
}

/* A conv2d or linear node over batch rows as whole-model batch inference
 * runs it (src/graph/lanes.c): groups of eg_k->vl images, each group's input
 * already in lanes and its output beside it (a conv's input in padded
 * planes, pooled as the graph fuses it, relu'd), EG_LANES_GROUPS groups
 * at a time through a linear layer, on the dense weight (node given
 * negated) or the CSR copy. */
static float *lane_buf;
static size_t lane_in, lane_out;  /* floats of a group's input and output */

static void lane_sizes(const eg_graph *g, const eg_node *nd)
{
    int pool = eg_step_of(g, nd)->pool_into;
    eg_shape in = nd->in_shape, to = pool ? g->nodes[pool].out_shape : nd->out_shape;
    lane_in = (size_t)in.c * (in.h + 2 * nd->pad) * (in.w + 2 * nd->pad) * eg_k->vl;
    lane_out = eg_shape_size(to) * eg_k->vl;
}

static void run_lanes(eg_graph *g, int node, int batch, const float *x)
{
    (void)x;
    const eg_node *nd = &g->nodes[node < 0 ? -node : node];
    const eg_step *s = eg_step_of(g, nd);
    int dense = node < 0, C = nd->in_shape.c, xh = nd->in_shape.h + 2 * nd->pad, xw = nd->in_shape.w + 2 * nd->pad;
    size_t stride = lane_in + lane_out;
    for (int a = 0, G; a + eg_k->vl <= batch; a += G * eg_k->vl) {
        G = (batch - a) / eg_k->vl < EG_LANES_GROUPS ? (batch - a) / eg_k->vl : EG_LANES_GROUPS;
        float *xl = lane_buf + (size_t)a / eg_k->vl * stride;
        if (nd->op == EG_OP_CONV2D) {
            G = 1;  /* convs go group by group */
            int pool = s->pool_into != 0;
            eg_shape to = pool ? g->nodes[s->pool_into].out_shape : nd->out_shape;
            if (dense)
                eg_k->lanes_conv(nd->out, C, nd->kernel, nd->out_shape.h, nd->out_shape.w, xl, xh, xw, nd->param[0],
                              nd->param[1], pool, 1, xl + lane_in, to.w, (size_t)to.h * to.w * eg_k->vl);
            else
                eg_k->lanes_conv_csr(nd->out, C, nd->kernel, nd->out_shape.h, nd->out_shape.w, xl, xh, xw, s->csr_rowptr,
                                  s->csr_col, s->csr_val, nd->param[1], pool, 1, xl + lane_in, to.w,
                                  (size_t)to.h * to.w * eg_k->vl);
        } else if (dense)
            eg_k->lanes_linear(G, nd->out, C, nd->param[0], nd->param[1], xl, stride, 1, xl + lane_in);
        else
            eg_k->lanes_linear_csr(G, nd->out, s->csr_rowptr, s->csr_col, s->csr_val, nd->param[1], xl, stride, 1,
                                xl + lane_in);
    }
}

/* Each conv2d and linear node's (or one node's) dense and CSR kernels in
 * lanes, batches 64 and 1000: the figures the shares of
 * src/graph/plan.c for batches that run in lanes come from. */
static int lanes_layers(const char *spec, const char *only)
{
    static const double sparsity[] = {0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99};
    static const int batches[] = {64, 1000};
    eg_graph g0;
    if (load(&g0, spec)) return 1;
    int nodes[64], count = weighted_nodes(&g0, nodes);
    printf("%s, each layer in batch lanes (as whole-model batch inference runs it: %d images a group, the\n"
           "input already in lanes, pooled as fused, relu applied), 1 thread: median us (21 samples);\n"
           "ratio = dense / csr\n", spec, eg_k->vl);
    printf("%-6s %8s %6s %10s %10s %7s\n", "layer", "sparsity", "batch", "dense us", "csr us", "csr");
    for (int c = 0; c < count; c++)
        for (size_t si = 0; (!only || !strcmp(only, g0.nodes[nodes[c]].name)) && si < sizeof sparsity / sizeof *sparsity; si++)
            for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
                eg_graph g;
                if (load(&g, spec)) return 1;
                int node = nodes[c], batch = batches[bi];
                eg_node *nd = &g.nodes[node];
                if (prune_unstructured(&g, &node, 1, sparsity[si])) return 1;
                g.plan.sparse = 1;  /* build the CSR copy */
                if (eg_graph_prepare(&g, batch, 0, 1)) return 1;
                lane_sizes(&g, nd);
                free(lane_buf);
                size_t floats = (size_t)batch / eg_k->vl * (lane_in + lane_out);
                lane_buf = aligned_alloc(64, floats * sizeof *lane_buf);
                eg_rng rng;
                eg_rng_seed(&rng, 3);
                for (size_t k = 0; k < floats; k++) lane_buf[k] = eg_rng_range(&rng, 0, 2);
                double td = median_time(run_lanes, &g, -node, batch, NULL, 21);
                double tc = median_time(run_lanes, &g, node, batch, NULL, 21);
                printf("%-6s %7.0f%% %6d %10.2f %10.2f %7.2f\n", nd->name, sparsity[si] * 100, batch, td * 1e6,
                       tc * 1e6, td / tc);
                fflush(stdout);
                eg_graph_free(&g);
            }
    eg_graph_free(&g0);
    return 0;
}

/* Removes round(frac x channels) channels (lowest l1) of every layer whose
 * channels can go, in file order; frac 1 keeps one channel each. */
static int prune_structured(eg_graph *g, double frac)
{
    const eg_criterion *l1 = eg_criterion_find("l1");
    for (int i = 0; i < g->nnodes; i++) {
        eg_dep_group grp;
        eg_error err;
        if ((g->nodes[i].op != EG_OP_CONV2D && g->nodes[i].op != EG_OP_LINEAR) || eg_depgroup_build(g, i, &grp, &err))
            continue;
        int c = grp.channels, drop = frac >= 1 ? c - 1 : (int)(frac * c + 0.5);
        if (drop < 1 || drop >= c) continue;
        double *scores = malloc((size_t)c * sizeof *scores);
        int *keep = malloc((size_t)c * sizeof *keep), *pruned = malloc((size_t)c * sizeof *pruned);
        l1->score(g, i, scores, NULL);
        int nkeep = eg_select_keep(scores, c, drop, keep, pruned);
        eg_status st = eg_surgery_keep(g, &grp, keep, nkeep, &err);
        free(scores), free(keep), free(pruned);
        if (st) {
            fprintf(stderr, "%s\n", err.msg);
            return -1;
        }
    }
    return 0;
}

/* MACs of the kept weights. */
static double effective_macs(const eg_graph *g)
{
    double m = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        if (nd->nparams) m += (double)eg_node_macs(nd) * (double)eg_node_nonzeros(nd) / (double)nd->psize[0];
    }
    return m;
}

static int model(const char *spec)
{
    static const int batches[] = {1, 1000};
    /* "1 ch" keeps one channel of every layer: what is left costs little
     * beyond what does not shrink with MACs (reading the input, padding,
     * pooling, calls), a bound on every structured speed-up */
    enum { NCASE = 10 };
    static const char *names[NCASE] = {"50%", "80%", "90%", "95%", "99%", "2:4", "25% ch", "50% ch", "75% ch", "1 ch"};
    eg_graph dense;
    if (load(&dense, spec)) return 1;
    size_t insz = eg_shape_size(dense.nodes[0].out_shape);
    float *x = malloc((size_t)1000 * insz * sizeof *x);
    eg_rng rng;
    eg_rng_seed(&rng, 5);
    for (size_t k = 0; k < 1000 * insz; k++) x[k] = eg_rng_range(&rng, -0.5f, 2.5f);
    double dense_macs = (double)eg_graph_macs(&dense);
    printf("%s, whole-model inference forward, 1 thread: median us per batch (15 samples, dense and pruned\n"
           "timed alternately); speed-up = dense time / pruned time, MAC ratio = dense MACs / MACs of kept weights\n",
           spec);
    printf("%-8s %6s %10s %10s %8s %9s %8s  %s\n", "pruning", "batch", "dense us", "pruned us", "speed-up",
           "MAC ratio", "of MACs", "paths");
    for (int c = 0; c < NCASE; c++) {
        eg_graph g;
        if (load(&g, spec)) return 1;
        int nodes[64], count = weighted_nodes(&g, nodes);
        static const double sp[NCASE] = {0.5, 0.8, 0.9, 0.95, 0.99, -1, 0, 0, 0, 0};
        static const double ch[NCASE] = {0, 0, 0, 0, 0, 0, 0.25, 0.5, 0.75, 1};
        if (ch[c] > 0 ? prune_structured(&g, ch[c]) : prune_unstructured(&g, nodes, count, sp[c])) return 1;
        for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
            int batch = batches[bi];
            if (eg_graph_prepare(&dense, batch, 0, 1) || eg_graph_prepare(&g, batch, 0, 1)) return 1;
            /* alternate so that load on the machine hits both alike */
            double td[15], tp[15];
            for (int s = 0; s < 15; s++) {
                td[s] = median_time(run_model, &dense, 0, batch, x, 1);
                tp[s] = median_time(run_model, &g, 0, batch, x, 1);
            }
            qsort(td, 15, sizeof *td, cmp);
            qsort(tp, 15, sizeof *tp, cmp);
            char paths[256] = "";
            count = weighted_nodes(&g, nodes);
            for (int k = 0; k < count; k++)
                snprintf(paths + strlen(paths), sizeof paths - strlen(paths), "%s%s %s", k ? ", " : "",
                         g.nodes[nodes[k]].name, path_name(&g.plan.steps[nodes[k]]));
            double speedup = td[7] / tp[7], macr = dense_macs / effective_macs(&g);
            printf("%-8s %6d %10.1f %10.1f %7.2fx %8.2fx %7.0f%%  %s\n", names[c], batch, td[7] * 1e6, tp[7] * 1e6,
                   speedup, macr, 100 * speedup / macr, paths);
            fflush(stdout);
        }
        eg_graph_free(&g);
    }
    eg_graph_free(&dense);
    free(x);
    return 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "model", *spec = argc > 2 ? argv[2] : "models/simplecnn";
    eg_set_threads(1);
    if (!strcmp(what, "layers")) return layers(spec, argc > 3 ? argv[3] : NULL);
    if (!strcmp(what, "model")) return model(spec);
    if (!strcmp(what, "lanes")) return lanes_layers(spec, argc > 3 ? argv[3] : NULL);
    fprintf(stderr, "usage: sparse_speedup layers|model|lanes [spec [node]]\n");
    return 2;
}
