/* The whole SimpleCNN (models/simplecnn) against PyTorch: logits, loss, every
 * parameter gradient and the input gradient of one batch, and the parameters
 * after three Adam steps. Unlike the single-op tests this runs the graph as
 * training does, with relu1/relu2 folded into the 2x2 pools that follow them.
 * Reference tensors: tests/fixtures/model_*.txt (see make_fixtures.py). Some
 * inputs have large exactly constant areas, so many pool windows hold exact
 * ties, which the pool must break as PyTorch does (first maximum in scan
 * order). Only the input gradient shows how a tie was broken: tied windows
 * come from identical input patches, so every parameter gradient gets the
 * same term whichever element wins (in PyTorch, a last-maximum rule leaves
 * all parameter gradients within 0.5% of the tolerances below but puts 3364
 * of the 5488 dx entries outside them). Hence the runs with an identity node
 * in front, whose dy is dx.
 *
 * Set EG_TEST_VERBOSE=1 to print the largest differences of every tensor. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "internal.h"
#include "util.h"

/* The references are float64 results rounded once; ours sum in float32
 * through six layers (conv weight gradients sum thousands of products per
 * entry, fc1 392 per output, parameter gradients add per-thread partial
 * sums), so values carry many float32 roundings, not one op's worth, and
 * gradient entries that nearly cancel carry errors of the size of their
 * terms, not of themselves. Hence a relative tolerance plus an absolute
 * floor scaled by the tensor's largest magnitude. Measured (x86-64, Release,
 * 1 and 2 threads): every difference is <= 6.3e-7 of its tensor's largest
 * value (conv1.b; most tensors 1e-7..3e-7), the elementwise relative
 * difference of entries above 1% of that largest value <= 1e-5; the worst
 * element uses 0.12 of the bounds below (dx, conv2.w), 0.13 on kernels
 * without FMA. That leaves ~8x headroom for other vector widths and sum
 * orders, and stays far below what a wrong winner, a relu applied in the
 * wrong place or a lost term gives: a whole window's or image's
 * contribution, >= 1e-3 relative. */
#define RTOL 1e-5
#define FLOOR 1e-6
/* The loss is summed in double from float32 logits (measured: equal). */
#define LOSS_RTOL 1e-6
/* Adam: after three steps each parameter has moved ~3e-3 (lr 1e-3 a step).
 * The float32 and float64 runs differ by rounding in gradients and updates,
 * amplified where a step's gradient is as small as Adam's eps (1e-8): there
 * g / (|g| + eps) depends on g's few leading digits, which cancellation in
 * its sum over the batch leaves to rounding. The worst such entry (fc1.w
 * [2643], step-1 gradient 1.3e-8) moves 8.2374e-4 here and 8.2438e-4 in
 * PyTorch: 6.7e-7 apart, 0.23 of the tolerance below. */
#define ADAM_RTOL 1e-4
#define ADAM_ATOL 1e-6

static const int thread_counts[] = {1, 2};
#define NTHREADS ((int)(sizeof thread_counts / sizeof *thread_counts))

/* The parameterised nodes of the spec and their tensors' names in the fixtures. */
static const char *const layers[] = {"conv1", "conv2", "fc1", "fc2"};
#define NLAYERS 4
#define NPARAMS (2 * NLAYERS)
static const char *const suffix[2] = {"w", "b"};

static int verbose;

/* ------------------------------------------------------------ helpers */

/* got against want elementwise: |got - want| <= rtol |want| + atol. With
 * EG_TEST_VERBOSE, prints the largest difference, absolute and relative to
 * the tensor's largest magnitude, and the worst difference / tolerance. */
static void compare(const char *what, const float *got, const float *want, size_t n, double rtol, double atol)
{
    if (verbose) {
        double worst_abs = 0, worst_tol = 0, scale = util_max_abs(want, n);
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)got[i] - want[i]), tol = rtol * fabs((double)want[i]) + atol;
            if (d > worst_abs) worst_abs = d;
            if (tol > 0 && d / tol > worst_tol) worst_tol = d / tol, at = i;
        }
        printf("  %-40s max |diff| %.3g = %.3g of max |want|; worst [%zu] at %.3g of its tolerance\n", what,
               worst_abs, scale > 0 ? worst_abs / scale : 0, at, worst_tol);
    }
    check_close(what, got, want, n, rtol, atol);
}

/* The same with an absolute floor of `floor` times the largest |want|. */
static void compare_floor(const char *what, const float *got, const float *want, size_t n, double rtol,
                          double floor)
{
    compare(what, got, want, n, rtol, floor * util_max_abs(want, n));
}

/* Loads models/simplecnn; with `identity`, a kernel-1 max pool (an exact copy,
 * and not a 2x2 pool, so no relu folds into it) is inserted right after the
 * input: its dy is the gradient w.r.t. the input, which the input node lacks. */
static int load_simplecnn(eg_graph *g, int identity)
{
    eg_error err;
    if (!identity) {
        if (eg_graph_load_spec(g, "models/simplecnn", &err)) {
            CHECK(0, "models/simplecnn rejected: %s", err.msg);
            return -1;
        }
        return 0;
    }
    FILE *fp = fopen("models/simplecnn", "rb");
    char text[8192];
    size_t len = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
    if (fp) fclose(fp);
    text[len] = 0;
    char *line = strstr(text, "\ninput");  /* the spec starts with comments */
    char *eol = line ? strchr(line + 1, '\n') : NULL;
    static const char id[] = "maxpool2d id kernel=1\n";
    if (!eol || len + sizeof id >= sizeof text) {
        CHECK(0, "models/simplecnn: cannot read its input line");
        return -1;
    }
    eol++;
    memmove(eol + strlen(id), eol, strlen(eol) + 1);
    memcpy(eol, id, strlen(id));
    if (eg_graph_parse_spec(g, text, "models/simplecnn (with identity)", &err)) {
        CHECK(0, "models/simplecnn with an identity node rejected: %s", err.msg);
        return -1;
    }
    return 0;
}

/* Copies the fixture's parameters "<prefix><layer>.<w|b>" into g. */
static int set_params(eg_graph *g, const fixture *f, const char *prefix)
{
    for (int l = 0; l < NLAYERS; l++) {
        int k = eg_graph_find(g, layers[l]);
        CHECK(k >= 0 && g->nodes[k].nparams == 2, "simplecnn has no node %s with 2 parameters", layers[l]);
        if (k < 0 || g->nodes[k].nparams != 2) return -1;
        eg_node *nd = &g->nodes[k];
        for (int p = 0; p < 2; p++) {
            char name[64];
            snprintf(name, sizeof name, "%s%s.%s", prefix, layers[l], suffix[p]);
            const fx_tensor *t = util_need(f, name, nd->psize[p]);
            if (!t) return -1;
            memcpy(nd->param[p], t->v, t->size * sizeof *t->v);
        }
    }
    return 0;
}

/* Labels as eg_softmax_xent takes them. */
static uint8_t *labels_of(const fx_tensor *t)
{
    uint8_t *l = malloc(t->size);
    for (size_t i = 0; i < t->size; i++) l[i] = (uint8_t)t->v[i];
    return l;
}

/* The relus in front of the two 2x2 pools must be folded into them: that is
 * what this test is for (fold_relus in src/graph/graph.c). */
static void check_folded(const eg_graph *g)
{
    static const char *const relus[] = {"relu1", "relu2"}, *const pools[] = {"pool1", "pool2"};
    for (int i = 0; i < 2; i++) {
        int r = eg_graph_find(g, relus[i]), p = eg_graph_find(g, pools[i]);
        CHECK(r >= 0 && p >= 0 && g->plan.steps[r].relu_folded && g->plan.steps[p].relu_in,
              "%s is not folded into %s: this test no longer covers the fold", relus[i], pools[i]);
    }
    int r3 = eg_graph_find(g, "relu3");
    CHECK(r3 >= 0 && !g->plan.steps[r3].relu_folded, "relu3 (before a linear) is folded");
}

/* The pools' own tie rule on the values they saw: each output must be
 * max(0, window) of the relu's input and its recorded winner (0..3 in scan
 * order) the first maximum, or 4 (no gradient) when nothing in the window is
 * positive. Independent of the PyTorch reference; it says where a mismatch
 * comes from if the comparisons fail. Counts exact positive ties. */
static void check_pool_rule(const eg_graph *g, int n, const char *what)
{
    static const char *const pools[] = {"pool1", "pool2"};
    for (int i = 0; i < 2; i++) {
        int k = eg_graph_find(g, pools[i]);
        if (k < 0) continue;
        const eg_node *pool = &g->nodes[k];
        const eg_step *ps = &g->plan.steps[k];
        /* the relu's input: with the fold, the relu's y is its input's */
        const eg_node *relu = &g->nodes[pool->inputs[0]];
        const float *x = g->plan.steps[relu->inputs[0]].y;
        eg_shape in = pool->in_shape, out = pool->out_shape;
        size_t bad_y = 0, bad_code = 0, bad_at_tie = 0, ties = 0, dead = 0;
        for (long pl = 0; pl < (long)n * out.c; pl++)
            for (int oy = 0; oy < out.h; oy++)
                for (int ox = 0; ox < out.w; ox++) {
                    const float *w0 = x + (size_t)pl * in.h * in.w + (size_t)2 * oy * in.w + 2 * ox;
                    float v[4] = {w0[0], w0[1], w0[in.w], w0[in.w + 1]};
                    int first = 0, count = 1;
                    for (int j = 1; j < 4; j++) {
                        if (v[j] > v[first]) first = j, count = 1;
                        else if (v[j] == v[first]) count++;
                    }
                    float m = v[first] > 0 ? v[first] : 0;
                    int want = v[first] > 0 ? first : (ps->relu_in ? 4 : first);
                    size_t o = (size_t)pl * out.h * out.w + (size_t)oy * out.w + ox;
                    if (v[first] > 0 && count > 1) ties++;
                    if (v[first] <= 0) dead++;
                    if (ps->y[o] != m) bad_y++;
                    if (ps->argmax[o] != want) {
                        if (bad_code + bad_at_tie < 5)
                            fprintf(stderr, "  %s %s: plane %ld window (%d,%d) values %.9g %.9g %.9g %.9g: winner %d, want %d\n",
                                    what, pools[i], pl, oy, ox, v[0], v[1], v[2], v[3], ps->argmax[o], want);
                        if (count > 1) bad_at_tie++;
                        else bad_code++;
                    }
                }
        CHECK(bad_y == 0, "%s %s: %zu outputs are not max(0, window)", what, pools[i], bad_y);
        CHECK(bad_code + bad_at_tie == 0, "%s %s: %zu winners wrong (%zu of them at exact ties)", what, pools[i],
              bad_code + bad_at_tie, bad_at_tie);
        if (verbose)
            printf("  %s %s: %zu windows with exact positive ties, %zu with no positive value\n", what, pools[i],
                   ties, dead);
    }
}

/* --------------------------------------------------- one forward/backward */

typedef struct {
    float *logits, loss, *grad[NPARAMS], *dx;
} model_out;

static void model_out_free(model_out *o)
{
    free(o->logits);
    free(o->dx);
    for (int p = 0; p < NPARAMS; p++) free(o->grad[p]);
    memset(o, 0, sizeof *o);
}

/* Forward, mean cross-entropy, backward of the fixture's batch at `threads`,
 * with each conv and its pool fused (src/graph/plan.c) or apart; apart,
 * the pools' outputs and winners are checked against their rule. */
static int run_model(const fixture *f, int identity, int fused, int threads, model_out *o)
{
    memset(o, 0, sizeof *o);
    eg_graph g;
    if (load_simplecnn(&g, identity)) return -1;
    const eg_node *in = &g.nodes[0], *out = eg_graph_output(&g);
    size_t per = eg_shape_size(in->out_shape);
    int k = out->out_shape.c;
    const fx_tensor *x = fx_get(f, "x"), *lab = fx_get(f, "labels");
    int n = x && x->ndim == 4 ? x->dims[0] : 0;
    if (!n || !util_need(f, "x", (size_t)n * per) || !util_need(f, "labels", (size_t)n) || set_params(&g, f, "")) {
        CHECK(0, "%s: fixture does not fit models/simplecnn", f->path);
        eg_graph_free(&g);
        return -1;
    }
    eg_set_threads(threads);
    g.plan.unfused = !fused;
    if (eg_graph_prepare(&g, n, 1, threads)) {
        CHECK(0, "eg_graph_prepare failed");
        eg_graph_free(&g);
        return -1;
    }
    check_folded(&g);
    uint8_t *labels = labels_of(lab);
    float *dlogits = malloc((size_t)n * k * sizeof *dlogits);
    eg_graph_forward(&g, x->v, n);
    char what[64];
    snprintf(what, sizeof what, "threads=%d%s", threads, identity ? "" : " (direct)");
    for (int c = 0; c < 2; c++) {
        int conv = eg_graph_find(&g, c ? "conv2" : "conv1");
        CHECK(conv >= 0 && (g.plan.steps[conv].pool_into != 0) == fused, "%s: conv%d %sfused", what, c + 1, fused ? "not " : "");
    }
    if (!fused) check_pool_rule(&g, n, what);
    o->logits = util_dup_floats(eg_graph_y(&g), (size_t)n * k);
    o->loss = eg_softmax_xent(eg_graph_y(&g), labels, n, k, dlogits);
    eg_graph_zero_grad(&g);
    eg_graph_backward(&g, dlogits, n);
    for (int l = 0; l < NLAYERS; l++) {
        const eg_node *nd = &g.nodes[eg_graph_find(&g, layers[l])];
        for (int p = 0; p < 2; p++) o->grad[2 * l + p] = util_dup_floats(nd->grad[p], nd->psize[p]);
    }
    if (identity) o->dx = util_dup_floats(g.plan.steps[1].dy, (size_t)n * per);
    free(labels);
    free(dlogits);
    eg_graph_free(&g);
    return 0;
}

static void test_model(void)
{
    fixture f;
    if (fx_load(&f, "model_simplecnn")) {
        CHECK(0, "cannot load fixture model_simplecnn");
        return;
    }
    model_out first[NTHREADS] = {{0}}, first_fused[NTHREADS] = {{0}};
    for (int run = 0; run < 3; run++)
        for (int t = 0; t < NTHREADS; t++) {
            int threads = thread_counts[t], identity = run < 2, fused = run > 0;
            model_out o;
            if (run_model(&f, identity, fused, threads, &o)) {
                model_out_free(&o);
                continue;
            }
            char what[160];
            const char *how = !identity ? " (direct)" : fused ? " (fused)" : "";
            if (verbose) printf("model threads=%d%s\n", threads, how);
            const fx_tensor *want = fx_get(&f, "logits");
            snprintf(what, sizeof what, "model threads=%d%s logits", threads, how);
            if (want) compare_floor(what, o.logits, want->v, want->size, RTOL, FLOOR);
            snprintf(what, sizeof what, "model threads=%d%s loss", threads, how);
            if ((want = fx_get(&f, "loss"))) compare(what, &o.loss, want->v, 1, LOSS_RTOL, 0);
            for (int p = 0; p < NPARAMS; p++) {
                char name[64];
                snprintf(name, sizeof name, "grad.%s.%s", layers[p / 2], suffix[p % 2]);
                snprintf(what, sizeof what, "model threads=%d%s %s", threads, how, name);
                if ((want = fx_get(&f, name))) compare_floor(what, o.grad[p], want->v, want->size, RTOL, FLOOR);
            }
            if (o.dx) {
                snprintf(what, sizeof what, "model threads=%d dx", threads);
                if ((want = fx_get(&f, "dx"))) compare_floor(what, o.dx, want->v, want->size, RTOL, FLOOR);
            }
            /* Logits and dx are computed image by image: the same bits at
             * every thread count. Parameter gradients are summed per thread:
             * the same bits at the same thread count, with or without the
             * identity node, fused or apart (both sum the same padded dy),
             * unless a thread has a lane group of images (eg_k->vl): then a
             * fused conv trains them in lanes, which sum in another order,
             * and the fused runs are compared with each other. */
            int n = fx_get(&f, "x")->dims[0], lanes = fused && (n + threads - 1) / threads >= eg_k->vl;
            if (lanes && !first_fused[t].logits) {
                first_fused[t] = o;
                continue;
            }
            if (!first[t].logits) {
                first[t] = o;
                continue;
            }
            const fx_tensor *lg = fx_get(&f, "logits");
            snprintf(what, sizeof what, "model threads=%d%s logits vs first run", threads, how);
            if (lg) util_same_bits(what, o.logits, first[t].logits, lg->size);
            for (int p = 0; p < NPARAMS; p++) {
                char name[64];
                snprintf(name, sizeof name, "grad.%s.%s", layers[p / 2], suffix[p % 2]);
                const fx_tensor *gt = fx_get(&f, name);
                snprintf(what, sizeof what, "model threads=%d%s %s vs first run", threads, how, name);
                if (gt) util_same_bits(what, o.grad[p], (lanes ? first_fused : first)[t].grad[p], gt->size);
            }
            model_out_free(&o);
        }
    const fx_tensor *lg = fx_get(&f, "logits"), *dx = fx_get(&f, "dx");
    for (int t = 1; t < NTHREADS; t++) {
        char what[160];
        snprintf(what, sizeof what, "model logits threads=%d vs threads=%d", thread_counts[t], thread_counts[0]);
        if (lg && first[t].logits && first[0].logits) util_same_bits(what, first[t].logits, first[0].logits, lg->size);
        snprintf(what, sizeof what, "model dx threads=%d vs threads=%d", thread_counts[t], thread_counts[0]);
        if (dx && first[t].dx && first[0].dx) util_same_bits(what, first[t].dx, first[0].dx, dx->size);
    }
    for (int t = 0; t < NTHREADS; t++) model_out_free(&first[t]), model_out_free(&first_fused[t]);
    fx_free(&f);
}

/* ------------------------------------------------------------- training */

static void test_adam(int threads)
{
    fixture f;
    if (fx_load(&f, "model_adam")) {
        CHECK(0, "cannot load fixture model_adam");
        return;
    }
    eg_graph g;
    if (load_simplecnn(&g, 0)) {
        fx_free(&f);
        return;
    }
    size_t per = eg_shape_size(g.nodes[0].out_shape);
    int k = eg_graph_output(&g)->out_shape.c, steps = 3;
    const fx_tensor *x1 = fx_get(&f, "x1");
    int n = x1 && x1->ndim == 4 ? x1->dims[0] : 0;
    const fx_tensor *xs[3], *ls[3], *loss[3];
    int ok = n > 0 && set_params(&g, &f, "p0.") == 0;
    for (int s = 0; ok && s < steps; s++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", s + 1);
        ok &= (xs[s] = util_need(&f, name, (size_t)n * per)) != NULL;
        snprintf(name, sizeof name, "labels%d", s + 1);
        ok &= (ls[s] = util_need(&f, name, (size_t)n)) != NULL;
        snprintf(name, sizeof name, "loss%d", s + 1);
        ok &= (loss[s] = util_need(&f, name, 1)) != NULL;
    }
    eg_set_threads(threads);
    if (!ok || eg_graph_prepare(&g, n, 1, threads)) {
        CHECK(0, "model_adam: fixture incomplete or eg_graph_prepare failed");
        eg_graph_free(&g);
        fx_free(&f);
        return;
    }
    check_folded(&g);
    eg_optim o;
    eg_optim_init(&o, EG_OPTIM_ADAM, fx_scalar(&f, "lr", 0));
    CHECK(eg_optim_bind(&o, g.nparam) == EG_OK, "eg_optim_bind failed");
    float *dlogits = malloc((size_t)n * k * sizeof *dlogits);
    if (verbose) printf("adam threads=%d\n", threads);
    for (int s = 0; s < steps; s++) {
        uint8_t *labels = labels_of(ls[s]);
        eg_graph_forward(&g, xs[s]->v, n);
        char what[160];  /* fused with their convs, the pools' rule is checked by test_model */
        float l = eg_softmax_xent(eg_graph_y(&g), labels, n, k, dlogits);
        snprintf(what, sizeof what, "adam threads=%d step %d loss", threads, s + 1);
        compare(what, &l, loss[s]->v, 1, LOSS_RTOL, 0);
        eg_graph_zero_grad(&g);
        eg_graph_backward(&g, dlogits, n);
        eg_optim_step(&o, g.params, g.grads);
        free(labels);
    }
    for (int l = 0; l < NLAYERS; l++) {
        const eg_node *nd = &g.nodes[eg_graph_find(&g, layers[l])];
        for (int p = 0; p < 2; p++) {
            char name[64], what[96];
            snprintf(name, sizeof name, "p3.%s.%s", layers[l], suffix[p]);
            const fx_tensor *want = util_need(&f, name, nd->psize[p]);
            if (!want) continue;
            snprintf(what, sizeof what, "adam threads=%d %s", threads, name);
            compare(what, nd->param[p], want->v, want->size, ADAM_RTOL, ADAM_ATOL);
        }
    }
    CHECK(o.step == steps, "adam: %ld steps counted", o.step);
    free(dlogits);
    eg_optim_free(&o);
    eg_graph_free(&g);
    fx_free(&f);
}

int main(void)
{
    const char *v = getenv("EG_TEST_VERBOSE");
    verbose = v && *v && strcmp(v, "0");
    test_model();
    for (int t = 0; t < NTHREADS; t++) test_adam(thread_counts[t]);
    return check_report("model_vs_pytorch");
}
