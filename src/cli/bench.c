/* edagari bench: how fast a model trains and infers on this machine, and how
 * that compares with what the machine's cores can do at most.
 *
 * It includes the library's private header for four things the public one
 * does not offer: the JSON writer and atomic write every report uses, the
 * monotonic clock, and the thread-count wrappers (plus the op names for the
 * per-layer table). A benchmark is a diagnostic that looks inside the
 * library by nature; copying those pieces here would fork them, and making
 * them public would freeze interfaces that exist for the library's own use. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dist/dist.h"
#include "internal.h"

static const char help[] =
    "usage: edagari bench [--model SPEC] [--threads N] [--seconds S] [--json FILE] [--no-lanes]\n"
    "\n"
    "Measures a model's speed on random inputs (uniform in [-0.42, 2.8], like\n"
    "normalised MNIST) with freshly initialised parameters:\n"
    "  - the machine's peak: an FMA loop on 16-float vectors, one thread and N threads;\n"
    "  - training images/s at batch 64 (whole Adam steps, as `edagari run` trains),\n"
    "    with a per-layer table of the step's time;\n"
    "  - inference images/s at batch 1000, 64 and 1;\n"
    "  - achieved GFLOP/s (2 x MACs x images/s; training counts 3 x the forward MACs)\n"
    "    and the fraction of the peak.\n"
    "Each figure is the median of 7 timed rounds after a warm-up.\n"
    "  --model SPEC   model spec (default models/simplecnn)\n"
    "  --threads N    threads, at most one per core (default: OMP_NUM_THREADS or every core)\n"
    "  --seconds S    time to spend measuring, roughly (default 3; each round runs at\n"
    "                 least one step, so a large model can take longer)\n"
    "  --json FILE    also write the figures as JSON (written atomically)\n"
    "  --no-lanes     run image by image even where batch lanes could (inference of 16\n"
    "                 images or more a thread, and training's pooled convs), to compare\n";

#define ROUNDS 7
#define TRAIN_BATCH 64
#define TRAIN_STEPS 4      /* steps per timed call: one eg_train_epoch over 4 batches */
#define INFER_IMAGES 1000  /* random images the inference passes cycle through */
#define SEED 1

static const int infer_batches[] = {1000, 64, 1};
#define NINFER (int)(sizeof infer_batches / sizeof infer_batches[0])

/* ------------------------------------------------------------ statistics */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static double best(const double *v, int n)
{
    double hi = v[0];
    for (int i = 1; i < n; i++) hi = v[i] > hi ? v[i] : hi;
    return hi;
}

/* Spread of the rounds around their median, in percent: (max - min) / median. */
static double spread(const double *v, int n)
{
    double lo = v[0], hi = v[0];
    for (int i = 1; i < n; i++) lo = v[i] < lo ? v[i] : lo, hi = v[i] > hi ? v[i] : hi;
    double m = median(v, n);
    return m > 0 ? 100.0 * (hi - lo) / m : 0;
}

/* ------------------------------------------------------------------ peak */

/* Seconds for `threads` threads each running the active kernels' FMA loop
 * iters times; *flops gets the FLOPs done. */
static double fma_time(int threads, long iters, double *flops)
{
    static volatile float sink[1024];
    double t0 = eg_now(), f = 0;
    if (threads == 1) {
        f = eg_k->fma_peak(iters, 1.0f, &sink[0]);
    } else {
#pragma omp parallel num_threads(threads) reduction(+ : f)
        f = eg_k->fma_peak(iters, 1.0f + (float)eg_thread_id(), &sink[eg_thread_id() % 1024]);
    }
    *flops = f;
    return eg_now() - t0;
}

/* GFLOP/s of each of ROUNDS rounds at `threads` threads, within about `budget` seconds. */
static void measure_peak(int threads, double budget, double gflops[ROUNDS])
{
    long iters = 1 << 12;
    double t, flops;
    while ((t = fma_time(threads, iters, &flops)) < 2e-3 && iters < (1L << 40)) iters *= 2;  /* warm-up, too */
    double want = (double)iters * (budget / (ROUNDS + 1)) / (t > 1e-9 ? t : 1e-9);
    iters = want < 1024 ? 1024 : want > 1e12 ? (long)1e12 : (long)want;
    fma_time(threads, iters, &flops);  /* one more warm-up round at the final size */
    for (int r = 0; r < ROUNDS; r++) {
        double s = fma_time(threads, iters, &flops);
        gflops[r] = flops / s * 1e-9;
    }
}

/* ------------------------------------------------------------ model runs */

typedef struct {
    eg_graph *g;
    /* training */
    eg_dataset ds;     /* TRAIN_STEPS batches of random images and labels */
    eg_optim opt;
    eg_rng rng;
    eg_error err;
    int failed;
    /* inference */
    float *x;          /* INFER_IMAGES random images */
    size_t insz;
    int batch, pos;
    float *init;       /* the initial parameters, which inference runs on */
    double *lfwd, *lbwd, *layer;  /* per-layer seconds: each round's, then medians */
} bench;

/* Frees everything b holds, and the graph; prints error if there is one. Returns rc. */
static int bench_end(bench *b, const char *error, int rc)
{
    if (error) fprintf(stderr, "edagari: error: %s\n", error);
    free(b->x), free(b->ds.y), free(b->init), free(b->lfwd), free(b->lbwd), free(b->layer);
    eg_optim_free(&b->opt);
    eg_graph_free(b->g);
    return rc;
}

static void train_call(bench *b)
{
    eg_train_opts o = {.batch = TRAIN_BATCH, .shuffle = 0, .progress = 0};
    eg_epoch_stats st;
    if (!b->failed && eg_train_epoch(b->g, &b->opt, &b->ds, &o, &b->rng, &st, &b->err)) b->failed = 1;
}

static void infer_call(bench *b)
{
    if (b->pos + b->batch > INFER_IMAGES) b->pos = 0;
    eg_graph_forward(b->g, b->x + (size_t)b->pos * b->insz, b->batch);
    b->pos += b->batch;
}

/* Warm-up for a fifth of `budget` (at least two calls), then ROUNDS rounds of
 * as many calls as fill the rest; secs[r] gets round r's seconds per call.
 * With profile, the graph times its nodes (thread 0's share) and every
 * round's per-node seconds per training step go to b->lfwd and b->lbwd.
 * Returns the calls per round. */
static long measure(void (*call)(bench *), bench *b, double budget, double secs[ROUNDS], int profile)
{
    eg_graph *g = b->g;
    call(b);  /* the first call allocates */
    double t0 = eg_now(), t;
    long n = 0;
    do {
        call(b);
        n++;
    } while ((t = eg_now() - t0) < 0.2 * budget && !b->failed);
    double fit = 0.8 * budget / ROUNDS / (t > 1e-9 ? t / (double)n : 1e-9);
    long calls = fit < 1 ? 1 : fit > 1e9 ? (long)1e9 : (long)fit;
    g->plan.profile = profile;
    for (int r = 0; r < ROUNDS && !b->failed; r++) {
        for (int i = 0; i < g->nnodes; i++) g->plan.steps[i].fwd_seconds = g->plan.steps[i].bwd_seconds = 0;
        t0 = eg_now();
        for (long c = 0; c < calls; c++) call(b);
        secs[r] = (eg_now() - t0) / (double)calls;
        for (int i = 0; i < g->nnodes && profile; i++) {
            b->lfwd[r * g->nnodes + i] = g->plan.steps[i].fwd_seconds / (double)(calls * TRAIN_STEPS);
            b->lbwd[r * g->nnodes + i] = g->plan.steps[i].bwd_seconds / (double)(calls * TRAIN_STEPS);
        }
    }
    g->plan.profile = 0;
    return calls;
}

/* ------------------------------------------------------------ arguments */

static int parse_seconds(const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end || errno || !(x >= 0.05 && x <= 3600)) {
        fprintf(stderr, "edagari bench: --seconds: expected a number of seconds from 0.05 to 3600, found '%s'\n",
                v ? v : "(nothing)");
        return -1;
    }
    *out = x;
    return 0;
}

/* The report's folder must exist and be writable before time is spent measuring. */
static int check_json_path(const char *path)
{
    struct stat sb;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!*path || (slash && !slash[1]) || (!stat(path, &sb) && S_ISDIR(sb.st_mode))) {
        fprintf(stderr, "edagari: error: --json '%s': expected a file name\n", path);
        return -1;
    }
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    const char *why = stat(dir, &sb) ? strerror(errno)
                    : !S_ISDIR(sb.st_mode) ? "not a folder"
                    : access(dir, W_OK) ? strerror(errno) : NULL;
    if (why) {
        fprintf(stderr, "edagari: error: --json %s: cannot write in folder %s: %s\n", path, dir, why);
        return -1;
    }
    return 0;
}

/* The default spec is found from the current folder or, failing that, from
 * the source tree the binary was built in (<tree>/<build dir>/edagari). */
static const char *default_model(char *buf, size_t len)
{
    static const char def[] = "models/simplecnn";
    if (!access(def, R_OK)) return def;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *s = strrchr(exe, '/');
        if (s) {
            *s = 0;
            snprintf(buf, len, "%s/../%s", exe, def);
            if (!access(buf, R_OK)) return buf;
        }
    }
    return def;
}

/* ------------------------------------------------------------------ main */

typedef struct {
    double secs[ROUNDS], ips[ROUNDS];
    long calls;
    int images_per_call;
    double images_per_s, gflops, fraction;
} figure;

static void finish_figure(figure *f, double flops_per_image, double peak)
{
    for (int r = 0; r < ROUNDS; r++) f->ips[r] = f->images_per_call / f->secs[r];
    f->images_per_s = median(f->ips, ROUNDS);
    f->gflops = flops_per_image * f->images_per_s * 1e-9;
    f->fraction = f->gflops / peak;
}

/* Opens object `key` with a figure's fields; the caller adds more and closes it. */
static void json_figure(eg_json *j, const char *key, const figure *f, int batch)
{
    eg_json_object(j, key);
    eg_json_num(j, "batch", batch);
    eg_json_num(j, "images_per_s", f->images_per_s);
    eg_json_num(j, "gflops", f->gflops);
    eg_json_num(j, "fraction_of_peak", f->fraction);
    eg_json_num(j, "spread_percent", spread(f->ips, ROUNDS));
    eg_json_num(j, "calls_per_round", (double)f->calls);
    eg_json_array(j, "rounds_images_per_s");
    for (int r = 0; r < ROUNDS; r++) eg_json_num(j, NULL, f->ips[r]);
    eg_json_array_end(j);
}

int eg_cmd_bench(int argc, char **argv)
{
    char defbuf[4200];
    const char *spec = NULL, *json = NULL;
    double budget = 3.0;
    int threads = 0, no_lanes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            return 0;
        } else if (!strcmp(a, "--threads")) {
            if (eg_cli_int(a, i + 1 < argc ? argv[++i] : NULL, 1, 1024, &v)) {
                fputs(help, stderr);
                return 2;
            }
            threads = (int)eg_cli_clamp_threads(v);
        } else if (!strcmp(a, "--seconds")) {
            if (parse_seconds(i + 1 < argc ? argv[++i] : NULL, &budget)) {
                fputs(help, stderr);
                return 2;
            }
        } else if (!strcmp(a, "--no-lanes")) {
            no_lanes = 1;
        } else if (!strcmp(a, "--model") || !strcmp(a, "--json")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "edagari bench: %s needs a value\n%s", a, help);
                return 2;
            }
            *(a[2] == 'm' ? &spec : &json) = argv[++i];
        } else {
            fprintf(stderr, "edagari bench: unexpected argument '%s'\n%s", a, help);
            return 2;
        }
    }
    if (!spec) spec = default_model(defbuf, sizeof defbuf);
    if (json && check_json_path(json)) return 1;
    eg_set_threads(threads);
    int nt = eg_thread_count();

    eg_graph g;
    eg_error err = {0};
    if (eg_check_regular(spec, "model spec", &err) || eg_graph_load_spec(&g, spec, &err)) {
        fprintf(stderr, "edagari: error: %s\n", err.msg);
        return 1;
    }
    g.plan.no_lanes = no_lanes;
    double t_start = eg_now();
    eg_rng rng;
    eg_rng_seed(&rng, SEED);
    eg_graph_init_params(&g, &rng);
    const eg_node *in = &g.nodes[0];
    int k = eg_graph_output(&g)->out_shape.c;
    size_t insz = eg_shape_size(in->out_shape), macs = eg_graph_macs(&g);
    bench b = {.g = &g, .insz = insz};
    b.ds = (eg_dataset){.n = TRAIN_BATCH * TRAIN_STEPS, .c = in->out_shape.c, .h = in->out_shape.h, .w = in->out_shape.w};
    size_t nimg = INFER_IMAGES > b.ds.n ? INFER_IMAGES : (size_t)b.ds.n, nn = (size_t)g.nnodes;
    b.x = malloc(nimg * insz * sizeof *b.x);
    b.ds.y = malloc((size_t)b.ds.n);
    b.init = malloc(g.nparam * sizeof *b.init);
    b.lfwd = calloc(ROUNDS * nn, sizeof *b.lfwd);
    b.lbwd = calloc(ROUNDS * nn, sizeof *b.lbwd);
    b.layer = calloc(4 * nn, sizeof *b.layer);
    eg_optim_init(&b.opt, EG_OPTIM_ADAM, 1e-3f);
    if (!b.x || !b.ds.y || !b.init || !b.lfwd || !b.lbwd || !b.layer || eg_optim_bind(&b.opt, g.nparam))
        return bench_end(&b, "out of memory", 1);
    for (size_t i = 0; i < nimg * insz; i++) b.x[i] = eg_rng_range(&rng, -0.42f, 2.8f);
    for (int i = 0; i < b.ds.n; i++) b.ds.y[i] = (uint8_t)eg_rng_below(&rng, (uint32_t)(k > 0 ? k : 1));
    b.ds.x = b.x;   /* training reads the first TRAIN_STEPS batches of the same images */
    b.rng = rng;
    memcpy(b.init, g.params, g.nparam * sizeof *b.init);

    printf("edagari bench %s: %d thread%s, %zu parameters, %zu MACs per image\n", spec, nt, nt == 1 ? "" : "s",
           eg_graph_param_count(&g), macs);
    printf("kernels: %s, %d floats a vector (this CPU runs: %s; EG_ISA chooses)\n", eg_isa_name(),
           eg_isa_vector_floats(), eg_isa_available());
    printf("random inputs (uniform in [-0.42, 2.8]) and random parameters (seed %d); median of %d rounds after "
           "warm-up, about %.3g s\n",
           SEED, ROUNDS, budget);
    if (no_lanes) printf("image by image (--no-lanes)\n");
    fflush(stdout);

    /* the machine: one core, then every thread we use */
    double peak1[ROUNDS], peakn[ROUNDS];
    measure_peak(1, 0.04 * budget, peak1);
    measure_peak(nt, 0.06 * budget, peakn);
    double p1 = median(peak1, ROUNDS), pn = median(peakn, ROUNDS);
    printf("peak (FMA loop, %d-float vectors): 1 thread %.1f GFLOP/s, %d thread%s %.1f GFLOP/s\n"
           "  (best rounds %.1f and %.1f; a median well below the best means other work shared the cores)\n",
           eg_isa_vector_floats(), p1, nt, nt == 1 ? "" : "s", pn, best(peak1, ROUNDS), best(peakn, ROUNDS));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int busy = nt < cores ? nt : (int)cores;
    if (busy > 1 && pn < 0.75 * busy * p1)
        printf("  note: %d threads reach only %.2f times one thread's peak: other work is using the cores,\n"
               "  and every figure below suffers from it\n",
               nt, pn / p1);
    fflush(stdout);

    /* training: whole steps as eg_train_epoch takes them */
    figure train = {.images_per_call = TRAIN_BATCH * TRAIN_STEPS};
    train.calls = measure(train_call, &b, 0.40 * budget, train.secs, 1);
    if (b.failed) return bench_end(&b, b.err.msg, 1);
    finish_figure(&train, 3.0 * 2.0 * (double)macs, pn);
    int rows0 = TRAIN_BATCH / nt;  /* thread 0's share of a batch (eg_split) */

    /* inference, with the parameters as they were before training */
    memcpy(g.params, b.init, g.nparam * sizeof *b.init);
    figure inf[NINFER];
    for (int q = 0; q < NINFER; q++) {
        inf[q] = (figure){.images_per_call = infer_batches[q]};
        b.batch = infer_batches[q], b.pos = 0;
        if (eg_graph_prepare(&g, b.batch, 0, nt)) return bench_end(&b, "out of memory for inference", 1);
        inf[q].calls = measure(infer_call, &b, 0.5 / NINFER * budget, inf[q].secs, 0);
        finish_figure(&inf[q], 2.0 * (double)macs, pn);
    }
    double total = eg_now() - t_start;

    /* the table */
    printf("\n  %-22s %12s %10s %10s %8s\n", "", "images/s", "GFLOP/s", "% of peak", "spread");
    printf("  %-22s %12.0f %10.2f %9.2f%% %7.0f%%\n", "train, batch 64", train.images_per_s, train.gflops,
           100 * train.fraction, spread(train.ips, ROUNDS));
    for (int q = 0; q < NINFER; q++) {
        char name[32];
        snprintf(name, sizeof name, "inference, batch %d", infer_batches[q]);
        printf("  %-22s %12.0f %10.2f %9.2f%% %7.0f%%\n", name, inf[q].images_per_s, inf[q].gflops,
               100 * inf[q].fraction, spread(inf[q].ips, ROUNDS));
    }
    printf("  GFLOP/s = 2 x MACs x images/s; training counts 3 x the forward MACs (forward, input gradient,\n"
           "  weight gradient); %% of the %d-thread peak; spread = (max - min) / median of the rounds' images/s\n",
           nt);

    /* per layer, as thread 0 saw its share of each training step */
    double step = median(train.secs, ROUNDS) / TRAIN_STEPS, sum = 0;
    printf("\ntraining step per layer: %.1f us per step of %d images; each layer's time is thread 0's, on its\n"
           "%d images; GFLOP/s of that one core, and its %% of the 1-thread peak (%.1f GFLOP/s); backward counts\n"
           "the weight gradient and, where an input needs one, the input gradient\n",
           step * 1e6, TRAIN_BATCH, rows0, p1);
    printf("  %-8s %-10s %9s %8s %8s %6s %8s %8s %6s %7s\n", "node", "op", "MACs/img", "fwd us", "GFLOP/s",
           "%peak", "bwd us", "GFLOP/s", "%peak", "% step");
    /* per node: median seconds forward and backward, and their GFLOP/s */
    double *fwd = b.layer, *bwd = fwd + nn, *fgf = fwd + 2 * nn, *bgf = fwd + 3 * nn;
    for (int i = 0; i < g.nnodes; i++) {
        const eg_node *nd = &g.nodes[i];
        const eg_step *st = &g.plan.steps[i];
        double f[ROUNDS], bw[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) f[r] = b.lfwd[r * nn + i], bw[r] = b.lbwd[r * nn + i];
        fwd[i] = median(f, ROUNDS), bwd[i] = median(bw, ROUNDS);
        double m = (double)eg_node_macs(nd);
        /* backward: the weight gradient (one forward's MACs) and, when an
         * input wants it, the input gradient (another) */
        double bm = m * ((nd->nparams > 0) + (st->needs_dx != 0));
        fgf[i] = fwd[i] > 0 ? 2 * m * rows0 / fwd[i] * 1e-9 : 0;
        bgf[i] = bwd[i] > 0 ? 2 * bm * rows0 / bwd[i] * 1e-9 : 0;
        if (nd->op == EG_OP_INPUT) continue;
        sum += fwd[i] + bwd[i];
        if (st->relu_folded) {
            printf("  %-8s %-10s %9s   (applied by its consumer)\n", nd->name, eg_ops[nd->op]->name, "-");
            continue;
        }
        char fg[16] = "-", bg[16] = "-", fp[16] = "-", bp[16] = "-";
        if (m > 0) {
            snprintf(fg, sizeof fg, "%.1f", fgf[i]);
            snprintf(bg, sizeof bg, "%.1f", bgf[i]);
            snprintf(fp, sizeof fp, "%.0f%%", 100 * fgf[i] / p1);
            snprintf(bp, sizeof bp, "%.0f%%", 100 * bgf[i] / p1);
        }
        printf("  %-8s %-10s %9zu %8.1f %8s %6s %8.1f %8s %6s %6.1f%%\n", nd->name, eg_ops[nd->op]->name,
               eg_node_macs(nd), fwd[i] * 1e6, fg, fp, bwd[i] * 1e6, bg, bp, 100 * (fwd[i] + bwd[i]) / step);
    }
    double other = step - sum;
    printf("  %-19s %9s %8.1f us, %.1f%% of the step: gathering the batch, the loss, summing the\n"
           "  %-19s %9s threads' gradients, Adam, waiting at the barrier\n",
           "other", "", other * 1e6, 100 * other / step, "", "");
    printf("total %.2f s\n", total);

    int rc = 0;
    if (json && eg_dist_root()) {  /* under MPI, rank 0 writes */
        eg_json j = {0};
        eg_json_object(&j, NULL);
        eg_json_str(&j, "model", spec);
        eg_json_num(&j, "threads", nt);
        eg_json_str(&j, "kernels", eg_isa_name());
        eg_json_num(&j, "params", (double)eg_graph_param_count(&g));
        eg_json_num(&j, "macs_per_image", (double)macs);
        eg_json_str(&j, "inputs", "random, uniform in [-0.42, 2.8]; parameters from eg_graph_init_params");
        eg_json_num(&j, "seed", SEED);
        eg_json_num(&j, "rounds", ROUNDS);
        eg_json_num(&j, "seconds_budget", budget);
        eg_json_num(&j, "seconds_total", total);
        eg_json_object(&j, "peak");
        eg_json_str(&j, "isa", eg_isa_name());
        eg_json_num(&j, "vector_floats", eg_isa_vector_floats());
        eg_json_num(&j, "gflops_per_core", p1);
        eg_json_num(&j, "gflops_total", pn);
        eg_json_num(&j, "threads", nt);
        eg_json_num(&j, "gflops_per_core_best", best(peak1, ROUNDS));
        eg_json_num(&j, "gflops_total_best", best(peakn, ROUNDS));
        eg_json_num(&j, "scaling", pn / p1);  /* well below min(threads, cores): the cores were shared */
        eg_json_array(&j, "rounds_per_core");
        for (int r = 0; r < ROUNDS; r++) eg_json_num(&j, NULL, peak1[r]);
        eg_json_array_end(&j);
        eg_json_array(&j, "rounds_total");
        for (int r = 0; r < ROUNDS; r++) eg_json_num(&j, NULL, peakn[r]);
        eg_json_array_end(&j);
        eg_json_object_end(&j);

        json_figure(&j, "train", &train, TRAIN_BATCH);
        eg_json_str(&j, "flops_counting", "2 x 3 x forward MACs per image (forward, input gradient, weight gradient)");
        eg_json_num(&j, "flops_per_image", 6.0 * (double)macs);
        eg_json_num(&j, "step_seconds", step);
        eg_json_num(&j, "thread0_images", rows0);
        eg_json_num(&j, "other_seconds", other);
        eg_json_array(&j, "layers");
        for (int i = 0; i < g.nnodes; i++) {
            const eg_node *nd = &g.nodes[i];
            if (nd->op == EG_OP_INPUT) continue;
            eg_json_object(&j, NULL);
            eg_json_str(&j, "node", nd->name);
            eg_json_str(&j, "op", eg_ops[nd->op]->name);
            eg_json_num(&j, "macs", (double)eg_node_macs(nd));
            eg_json_num(&j, "folded", g.plan.steps[i].relu_folded);
            eg_json_num(&j, "fwd_seconds", fwd[i]);
            eg_json_num(&j, "bwd_seconds", bwd[i]);
            eg_json_num(&j, "fwd_gflops_per_core", fgf[i]);
            eg_json_num(&j, "bwd_gflops_per_core", bgf[i]);
            eg_json_object_end(&j);
        }
        eg_json_array_end(&j);
        eg_json_object_end(&j);

        eg_json_object(&j, "inference");
        eg_json_num(&j, "lanes", !no_lanes);
        for (int q = 0; q < NINFER; q++) {
            char key[32];
            snprintf(key, sizeof key, "batch%d", infer_batches[q]);
            json_figure(&j, key, &inf[q], infer_batches[q]);
            eg_json_object_end(&j);
        }
        eg_json_object_end(&j);
        eg_json_object_end(&j);
        if (j.oom) {
            fprintf(stderr, "edagari: error: out of memory for the JSON report\n");
            rc = 1;
        } else if (eg_write_atomic(json, j.buf, j.len, &err)) {
            fprintf(stderr, "edagari: error: %s\n", err.msg);
            rc = 1;
        } else {
            printf("report written to %s\n", json);
        }
        eg_json_free(&j);
    }
    return bench_end(&b, NULL, rc);
}
