/* batchnorm2d, add and gap against PyTorch, and the whole residual model
 * (models/resnet_small): logits, loss, every parameter gradient, the running
 * statistics, inference with them, and three Adam steps through the real
 * training loop (one parallel region per step, batchnorm's barriers inside).
 * Reference tensors: tests/fixtures/{bn_train*,add,gap,model_resnet*}.txt
 * (make_fixtures.py --only residual). Set EG_TEST_VERBOSE=1 to print the
 * largest difference of every tensor. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "internal.h"
#include "util.h"

/* Single ops: float64 references rounded once; batchnorm's normalisation
 * divides by a std computed from float32 sums, so a few ulps on top. */
#define OP_RTOL 1e-5
#define OP_FLOOR 1e-6
/* The model: float32 through ten layers against float64 (see
 * test_model_vs_pytorch.c for the reasoning; batchnorm's division by the
 * batch std amplifies rounding in small-variance channels a little). */
#define MODEL_RTOL 1e-5
#define MODEL_FLOOR 1e-6
#define ADAM_RTOL 1e-4
#define ADAM_ATOL 1e-6

static const int thread_counts[] = {1, 2, 3};
#define NTHREADS ((int)(sizeof thread_counts / sizeof *thread_counts))
static int verbose;

/* |got - want| <= rtol |want| + floor * max |want|. */
static void compare(const char *what, const float *got, const float *want, size_t n, double rtol, double floor)
{
    double atol = floor * util_max_abs(want, n);
    if (verbose) {
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)got[i] - want[i]), tol = rtol * fabs((double)want[i]) + atol;
            if (tol > 0 && d / tol > worst) worst = d / tol;
        }
        printf("  %-44s worst difference at %.3g of its tolerance\n", what, worst);
    }
    check_close(what, got, want, n, rtol, atol);
}

static int parse(eg_graph *g, const char *spec, const char *what)
{
    eg_error err;
    if (eg_graph_parse_spec(g, spec, what, &err)) {
        CHECK(0, "%s: spec rejected: %s", what, err.msg);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ batchnorm2d */

static void test_bn(const char *name)
{
    fixture f;
    if (fx_load(&f, name)) {
        CHECK(0, "cannot load fixture %s", name);
        return;
    }
    const fx_tensor *x = fx_get(&f, "x");
    if (!x || x->ndim != 4) {
        CHECK(0, "%s: no 4-d x", name);
        fx_free(&f);
        return;
    }
    int n = x->dims[0], C = x->dims[1];
    char spec[256];
    snprintf(spec, sizeof spec, "input x shape=%dx%dx%d\nmaxpool2d id kernel=1\nbatchnorm2d op\nflatten f\n", C,
             x->dims[2], x->dims[3]);
    float *first_y = NULL;
    for (int ti = 0; ti < NTHREADS; ti++)
        for (int rep = 0; rep < 2; rep++) {
            int threads = thread_counts[ti];
            eg_graph g;
            if (parse(&g, spec, name)) break;
            eg_node *nd = &g.nodes[eg_graph_find(&g, "op")], *id = &g.nodes[1];
            const fx_tensor *w = util_need(&f, "w", (size_t)C), *b = util_need(&f, "b", (size_t)C),
                            *rm0 = util_need(&f, "rm0", (size_t)C), *rv0 = util_need(&f, "rv0", (size_t)C),
                            *y = util_need(&f, "y", x->size),
                            *dout = util_need(&f, "dout", x->size), *dx = util_need(&f, "dx", x->size),
                            *dw = util_need(&f, "dw", (size_t)C), *db = util_need(&f, "db", (size_t)C),
                            *rm1 = util_need(&f, "rm1", (size_t)C), *rv1 = util_need(&f, "rv1", (size_t)C),
                            *ye = util_need(&f, "y_eval", x->size);
            CHECK(nd->nparams == 2 && nd->nbuffers == 2 && g.nparam == 2 * (size_t)C && g.nbuffer == 2 * (size_t)C,
                  "%s: batchnorm2d of %d channels has %zu parameters and %zu buffer values", name, C, g.nparam, g.nbuffer);
            if (!w || !b || !rm0 || !rv0 || !y || !dout || !dx || !dw || !db || !rm1 || !rv1 || !ye) {
                eg_graph_free(&g);
                break;
            }
            memcpy(nd->param[0], w->v, C * sizeof(float));
            memcpy(nd->param[1], b->v, C * sizeof(float));
            memcpy(nd->buffer[0], rm0->v, C * sizeof(float));
            memcpy(nd->buffer[1], rv0->v, C * sizeof(float));
            eg_set_threads(threads);
            char what[128];
            if (eg_graph_prepare(&g, n, 1, threads)) {
                CHECK(0, "prepare failed");
                eg_graph_free(&g);
                break;
            }
            eg_graph_forward(&g, x->v, n);
            snprintf(what, sizeof what, "%s threads=%d y (training)", name, threads);
            compare(what, eg_graph_y(&g), y->v, y->size, OP_RTOL, OP_FLOOR);
            if (!first_y) {
                first_y = malloc(y->size * sizeof *first_y);
                memcpy(first_y, eg_graph_y(&g), y->size * sizeof *first_y);
            } else if (threads == thread_counts[0]) {
                CHECK(!memcmp(first_y, eg_graph_y(&g), y->size * sizeof *first_y),
                      "%s: a second run at %d threads gave other bits", name, threads);
            }
            snprintf(what, sizeof what, "%s threads=%d running mean", name, threads);
            compare(what, nd->buffer[0], rm1->v, (size_t)C, OP_RTOL, OP_FLOOR);
            snprintf(what, sizeof what, "%s threads=%d running variance", name, threads);
            compare(what, nd->buffer[1], rv1->v, (size_t)C, OP_RTOL, OP_FLOOR);
            eg_graph_zero_grad(&g);
            eg_graph_backward(&g, dout->v, n);
            snprintf(what, sizeof what, "%s threads=%d dx", name, threads);
            compare(what, eg_step_of(&g, id)->dy, dx->v, dx->size, OP_RTOL, OP_FLOOR);
            snprintf(what, sizeof what, "%s threads=%d dgamma", name, threads);
            compare(what, nd->grad[0], dw->v, (size_t)C, OP_RTOL, OP_FLOOR);
            snprintf(what, sizeof what, "%s threads=%d dbeta", name, threads);
            compare(what, nd->grad[1], db->v, (size_t)C, OP_RTOL, OP_FLOOR);
            /* inference uses the running statistics the pass left */
            if (eg_graph_prepare(&g, n, 0, threads)) CHECK(0, "prepare failed");
            else {
                eg_graph_forward(&g, x->v, n);
                snprintf(what, sizeof what, "%s threads=%d y (inference)", name, threads);
                compare(what, eg_graph_y(&g), ye->v, ye->size, OP_RTOL, OP_FLOOR);
            }
            eg_graph_free(&g);
        }
    free(first_y);
    fx_free(&f);
}

/* -------------------------------------------------------------------- add */

static void test_add(void)
{
    fixture f;
    if (fx_load(&f, "add")) {
        CHECK(0, "cannot load fixture add");
        return;
    }
    const fx_tensor *x1 = fx_get(&f, "x1"), *x2 = fx_get(&f, "x2");
    if (!x1 || !x2 || x1->ndim != 4 || x2->size != x1->size) {
        CHECK(0, "add fixture incomplete");
        fx_free(&f);
        return;
    }
    int n = x1->dims[0];
    char spec[256];
    snprintf(spec, sizeof spec, "input x shape=%dx%dx%d\nmaxpool2d a kernel=1 in=x\nmaxpool2d b kernel=1 in=x\n"
                                "add op in=a,b\nflatten f\n", x1->dims[1], x1->dims[2], x1->dims[3]);
    eg_graph g;
    if (parse(&g, spec, "add")) {
        fx_free(&f);
        return;
    }
    const fx_tensor *y = util_need(&f, "y", x1->size), *dout = util_need(&f, "dout", x1->size),
                    *dx1 = util_need(&f, "dx1", x1->size), *dx2 = util_need(&f, "dx2", x1->size);
    eg_node *a = &g.nodes[1], *b = &g.nodes[2], *op = &g.nodes[3];
    if (y && dout && dx1 && dx2 && !eg_graph_prepare(&g, n, 1, 1)) {
        /* the op alone, on two different inputs put where a and b leave theirs */
        eg_step *as = eg_step_of(&g, a), *bs = eg_step_of(&g, b), *ops = eg_step_of(&g, op);
        memcpy(as->y, x1->v, x1->size * sizeof(float));
        memcpy(bs->y, x2->v, x2->size * sizeof(float));
        eg_ops[EG_OP_ADD]->forward(&g, op, ops, 0, n);
        compare("add y", ops->y, y->v, y->size, 0, 0);
        memcpy(ops->dy, dout->v, dout->size * sizeof(float));
        eg_ops[EG_OP_ADD]->backward(&g, op, ops, 0, n);
        compare("add dx1", as->dy, dx1->v, dx1->size, 0, 0);
        compare("add dx2", bs->dy, dx2->v, dx2->size, 0, 0);
    }
    eg_graph_free(&g);
    /* one node on both sides: its gradient is dout twice */
    snprintf(spec, sizeof spec, "input x shape=%dx%dx%d\nmaxpool2d a kernel=1\nadd op in=a,a\nflatten f\n", x1->dims[1],
             x1->dims[2], x1->dims[3]);
    if (!parse(&g, spec, "add in=a,a") && dout && !eg_graph_prepare(&g, n, 1, 2)) {
        eg_set_threads(2);
        eg_graph_forward(&g, x1->v, n);
        size_t bad = 0;
        for (size_t i = 0; i < x1->size; i++) bad += eg_graph_y(&g)[i] != 2 * x1->v[i];
        CHECK(bad == 0, "add in=a,a: %zu outputs are not 2a", bad);
        eg_graph_backward(&g, dout->v, n);
        bad = 0;
        for (size_t i = 0; i < x1->size; i++) bad += g.plan.steps[1].dy[i] != 2 * dout->v[i];
        CHECK(bad == 0, "add in=a,a: %zu input gradients are not 2 dout", bad);
    }
    eg_graph_free(&g);
    fx_free(&f);
}

/* -------------------------------------------------------------------- gap */

static void test_gap(void)
{
    fixture f;
    if (fx_load(&f, "gap")) {
        CHECK(0, "cannot load fixture gap");
        return;
    }
    const fx_tensor *x = fx_get(&f, "x");
    if (!x || x->ndim != 4) {
        CHECK(0, "gap fixture incomplete");
        fx_free(&f);
        return;
    }
    int n = x->dims[0];
    size_t ny = (size_t)n * x->dims[1];
    char spec[256];
    snprintf(spec, sizeof spec, "input x shape=%dx%dx%d\nmaxpool2d id kernel=1\ngap op\n", x->dims[1], x->dims[2],
             x->dims[3]);
    const fx_tensor *y = util_need(&f, "y", ny), *dout = util_need(&f, "dout", ny), *dx = util_need(&f, "dx", x->size);
    for (int ti = 0; ti < NTHREADS && y && dout && dx; ti++) {
        eg_graph g;
        if (parse(&g, spec, "gap")) break;
        eg_set_threads(thread_counts[ti]);
        if (!eg_graph_prepare(&g, n, 1, thread_counts[ti])) {
            eg_graph_forward(&g, x->v, n);
            compare("gap y", eg_graph_y(&g), y->v, ny, OP_RTOL, OP_FLOOR);
            eg_graph_backward(&g, dout->v, n);
            compare("gap dx", g.plan.steps[1].dy, dx->v, dx->size, OP_RTOL, OP_FLOOR);
        }
        eg_graph_free(&g);
    }
    fx_free(&f);
}

/* ------------------------------------------------------- the residual model */

/* Sets every parameter <node>.w / <node>.b (prefix + that) from the fixture. */
static int set_params(eg_graph *g, const fixture *f, const char *prefix)
{
    int ok = 1;
    for (int i = 0; i < g->nnodes; i++)
        for (int p = 0; p < g->nodes[i].nparams; p++) {
            char name[64];
            snprintf(name, sizeof name, "%s%s.%s", prefix, g->nodes[i].name, p ? "b" : "w");
            const fx_tensor *t = util_need(f, name, g->nodes[i].psize[p]);
            if (t) memcpy(g->nodes[i].param[p], t->v, t->size * sizeof(float));
            ok &= t != NULL;
        }
    return ok;
}

static uint8_t *labels_of(const fx_tensor *t)
{
    uint8_t *l = malloc(t->size);
    for (size_t i = 0; i < t->size; i++) l[i] = (uint8_t)t->v[i];
    return l;
}

static void test_model(void)
{
    fixture f;
    if (fx_load(&f, "model_resnet")) {
        CHECK(0, "cannot load fixture model_resnet");
        return;
    }
    for (int ti = 0; ti < NTHREADS; ti++) {
        int threads = thread_counts[ti];
        eg_graph g;
        eg_error err;
        if (eg_graph_load_spec(&g, "models/resnet_small", &err)) {
            CHECK(0, "%s", err.msg);
            break;
        }
        const fx_tensor *x = fx_get(&f, "x"), *lab = fx_get(&f, "labels");
        int n = x ? x->dims[0] : 0, k = eg_graph_output(&g)->out_shape.c;
        const fx_tensor *logits = util_need(&f, "logits", (size_t)n * k), *loss = util_need(&f, "loss", 1),
                        *eval = util_need(&f, "eval_logits", (size_t)n * k);
        if (!x || !lab || !logits || !loss || !eval || !set_params(&g, &f, "")) {
            eg_graph_free(&g);
            break;
        }
        eg_set_threads(threads);
        if (eg_graph_prepare(&g, n, 1, threads)) {
            CHECK(0, "prepare failed");
            eg_graph_free(&g);
            break;
        }
        char what[128];
        eg_graph_forward(&g, x->v, n);
        snprintf(what, sizeof what, "resnet threads=%d logits", threads);
        compare(what, eg_graph_y(&g), logits->v, logits->size, MODEL_RTOL, MODEL_FLOOR);
        uint8_t *labels = labels_of(lab);
        float *dl = malloc(logits->size * sizeof *dl);
        float l = eg_softmax_xent(eg_graph_y(&g), labels, n, k, dl);
        snprintf(what, sizeof what, "resnet threads=%d loss", threads);
        compare(what, &l, loss->v, 1, MODEL_RTOL, 0);
        eg_graph_zero_grad(&g);
        eg_graph_backward(&g, dl, n);
        for (int i = 0; i < g.nnodes; i++) {
            eg_node *nd = &g.nodes[i];
            for (int p = 0; p < nd->nparams; p++) {
                char name[64];
                snprintf(name, sizeof name, "grad.%s.%s", nd->name, p ? "b" : "w");
                const fx_tensor *t = util_need(&f, name, nd->psize[p]);
                snprintf(what, sizeof what, "resnet threads=%d %s", threads, name);
                /* the floor scales with the node's largest gradient; a conv's
                 * gradients are sums over the batch and every position that
                 * cancel (its bias's before a batchnorm to 0, float64 ~1e-18),
                 * so their rounding is bounded by a few ulps of the sum of
                 * the terms' sizes, |dy| (bias) and |dy| max |x| (weight) */
                double floor = MODEL_FLOOR * fmax(util_max_abs(nd->grad[0], nd->psize[0]), util_max_abs(t->v, t->size));
                const float *dy = eg_step_of(&g, nd)->dy;
                if (nd->op == EG_OP_CONV2D && dy) {
                    const eg_node *in = &g.nodes[nd->inputs[0]];
                    size_t hw = (size_t)nd->out_shape.h * nd->out_shape.w, per = nd->out * hw;
                    double xmax = p ? 1 : util_max_abs(eg_step_of(&g, in)->y, (size_t)n * eg_shape_size(in->out_shape));
                    for (int c = 0; c < nd->out; c++) {
                        double terms = 0;
                        for (int i = 0; i < n; i++)
                            for (size_t k = 0; k < hw; k++) terms += fabs(dy[(size_t)i * per + c * hw + k]);
                        floor = fmax(floor, MODEL_FLOOR * terms * xmax);
                    }
                }
                if (t) check_close(what, nd->grad[p], t->v, t->size, MODEL_RTOL, floor);
            }
            for (int b = 0; b < nd->nbuffers; b++) {
                char name[64];
                snprintf(name, sizeof name, "%s.%s", nd->name, b ? "rv" : "rm");
                const fx_tensor *t = util_need(&f, name, nd->bsize[b]);
                snprintf(what, sizeof what, "resnet threads=%d %s", threads, name);
                if (t) compare(what, nd->buffer[b], t->v, t->size, MODEL_RTOL, MODEL_FLOOR);
            }
        }
        if (!eg_graph_prepare(&g, n, 0, threads)) {
            eg_graph_forward(&g, x->v, n);
            snprintf(what, sizeof what, "resnet threads=%d logits in inference", threads);
            compare(what, eg_graph_y(&g), eval->v, eval->size, MODEL_RTOL, MODEL_FLOOR);
        }
        free(labels), free(dl);
        eg_graph_free(&g);
    }
    fx_free(&f);
}

/* Three Adam steps through eg_train_epoch: a data set of the three batches
 * in order, batch 16, not shuffled. */
static void test_adam(int threads)
{
    fixture f;
    if (fx_load(&f, "model_resnet_adam")) {
        CHECK(0, "cannot load fixture model_resnet_adam");
        return;
    }
    eg_graph g;
    eg_error err;
    if (eg_graph_load_spec(&g, "models/resnet_small", &err)) {
        CHECK(0, "%s", err.msg);
        fx_free(&f);
        return;
    }
    const fx_tensor *xs[3], *ls[3], *loss[3];
    int ok = set_params(&g, &f, "p0.");
    for (int s = 0; s < 3; s++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", s + 1), xs[s] = fx_get(&f, name);
        snprintf(name, sizeof name, "labels%d", s + 1), ls[s] = fx_get(&f, name);
        snprintf(name, sizeof name, "loss%d", s + 1), loss[s] = util_need(&f, name, 1);
        ok &= xs[s] && ls[s] && loss[s] && xs[s]->dims[0] == 16;
    }
    if (ok) {
        eg_dataset ds = {.n = 48, .c = 1, .h = 28, .w = 28, .x = malloc(48 * 784 * sizeof(float)), .y = malloc(48)};
        for (int s = 0; s < 3; s++) {
            memcpy(ds.x + (size_t)s * 16 * 784, xs[s]->v, 16 * 784 * sizeof(float));
            for (int i = 0; i < 16; i++) ds.y[s * 16 + i] = (uint8_t)ls[s]->v[i];
        }
        eg_set_threads(threads);
        eg_optim o;
        eg_optim_init(&o, EG_OPTIM_ADAM, fx_scalar(&f, "lr", 0));
        o.eps = fx_scalar(&f, "eps", 0);  /* 1e-4: see make_fixtures.py */
        eg_train_opts to = {.batch = 16, .shuffle = 0};
        eg_epoch_stats st;
        eg_rng rng;
        eg_rng_seed(&rng, 1);
        CHECK(eg_train_epoch(&g, &o, &ds, &to, &rng, &st, &err) == EG_OK, "train: %s", err.msg);
        float mean = (loss[0]->v[0] + loss[1]->v[0] + loss[2]->v[0]) / 3, got = (float)st.loss;
        char what[128];
        snprintf(what, sizeof what, "resnet adam threads=%d mean loss", threads);
        compare(what, &got, &mean, 1, MODEL_RTOL, 0);
        for (int i = 0; i < g.nnodes; i++) {
            eg_node *nd = &g.nodes[i];
            for (int p = 0; p < nd->nparams; p++) {
                char name[64];
                snprintf(name, sizeof name, "p3.%s.%s", nd->name, p ? "b" : "w");
                const fx_tensor *t = util_need(&f, name, nd->psize[p]);
                snprintf(what, sizeof what, "resnet adam threads=%d %s", threads, name);
                if (t) check_close(what, nd->param[p], t->v, t->size, ADAM_RTOL, ADAM_ATOL);
            }
            for (int b = 0; b < nd->nbuffers; b++) {
                char name[64];
                snprintf(name, sizeof name, "%s3.%s", b ? "rv" : "rm", nd->name);
                const fx_tensor *t = util_need(&f, name, nd->bsize[b]);
                snprintf(what, sizeof what, "resnet adam threads=%d %s", threads, name);
                if (t) check_close(what, nd->buffer[b], t->v, t->size, ADAM_RTOL, ADAM_ATOL);
            }
        }
        eg_optim_free(&o);
        free(ds.x), free(ds.y);
    }
    eg_graph_free(&g);
    fx_free(&f);
}

int main(void)
{
    verbose = getenv("EG_TEST_VERBOSE") != NULL;
    test_bn("bn_train");
    test_bn("bn_train_1x1");
    test_add();
    test_gap();
    test_model();
    for (int t = 0; t < NTHREADS; t++) test_adam(thread_counts[t]);
    return check_report("residual_vs_pytorch");
}
