/* Every op and the loss against PyTorch: outputs and gradients, reproducible bit for bit.
 * Reference tensors come from tests/fixtures (see make_fixtures.py there). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "internal.h"
#include "util.h"

/* The references are float64 results rounded to float32; ours sum in
 * float32, so allow 1e-5 relative plus a little for sums that cancel. */
#define RTOL 1e-5
#define ATOL 1e-6

typedef struct {
    const char *fixture;
    eg_op_type op;
} op_case;

static const op_case cases[] = {
    {"conv2d_k3s1p1", EG_OP_CONV2D}, {"conv2d_k1", EG_OP_CONV2D},       {"conv2d_k3s2p0", EG_OP_CONV2D},
    {"conv2d_k3s2p1", EG_OP_CONV2D}, {"conv2d_k5p2", EG_OP_CONV2D},     {"conv2d_k5p0", EG_OP_CONV2D},
    {"conv2d_k3p0", EG_OP_CONV2D},   {"conv2d_k5p1", EG_OP_CONV2D},     {"conv2d_k3p2", EG_OP_CONV2D},
    {"conv2d_k4p1", EG_OP_CONV2D},   {"linear", EG_OP_LINEAR},
    {"relu", EG_OP_RELU},            {"maxpool2d_k2", EG_OP_MAXPOOL2D}, {"maxpool2d_k3s2", EG_OP_MAXPOOL2D},
    {"maxpool2d_k2s1", EG_OP_MAXPOOL2D}, {"flatten", EG_OP_FLATTEN}, {"sigmoid", EG_OP_SIGMOID},
    {"hardswish", EG_OP_HARDSWISH},  {"relu6", EG_OP_RELU6},
    {"dwconv2d_k3p1", EG_OP_DWCONV2D}, {"dwconv2d_k3s2p1", EG_OP_DWCONV2D}, {"dwconv2d_k5p0", EG_OP_DWCONV2D},
    {"avgpool2d_k2", EG_OP_AVGPOOL2D}, {"avgpool2d_k3s2p1", EG_OP_AVGPOOL2D}, {"avgpool2d_k3s1p1", EG_OP_AVGPOOL2D},
    {"maxpool2d_k3s2p1", EG_OP_MAXPOOL2D}, {"maxpool2d_k2s2_ceil", EG_OP_MAXPOOL2D},
    {"maxpool2d_k3s2p1_ceil", EG_OP_MAXPOOL2D}, {"maxpool2d_k2s2p1_ceil", EG_OP_MAXPOOL2D},
    {"maxpool2d_k2s2p1", EG_OP_MAXPOOL2D},
};

static const int thread_counts[] = {1, 2, 3};

/* What one run produced, copied out of the graph (NULL: not produced). */
typedef struct {
    float *y, *dx, *grad[EG_MAX_PARAMS];
    size_t ny, ndx, ngrad[EG_MAX_PARAMS];
    int nparams;
} run_out;

static void run_out_free(run_out *o)
{
    free(o->y);
    free(o->dx);
    for (int p = 0; p < EG_MAX_PARAMS; p++) free(o->grad[p]);
    memset(o, 0, sizeof *o);
}

/* The spec for one case. With `identity`, a kernel-1 max pool (an exact copy
 * whose dy is then the gradient w.r.t. the op's input) sits before the op:
 * the input node itself has no dy. The graph must end in flat features, so
 * ops with spatial outputs are followed by a flatten. */
static int build_spec(char *spec, size_t len, const op_case *c, const fixture *f, int identity)
{
    const fx_tensor *x = fx_get(f, "x");
    if (!x || (x->ndim != 4 && x->ndim != 2)) return -1;
    int C = x->dims[1], H = x->ndim == 4 ? x->dims[2] : 1, W = x->ndim == 4 ? x->dims[3] : 1;
    char op[256];
    switch (c->op) {
    case EG_OP_CONV2D:
        snprintf(op, sizeof op, "conv2d op out=%d kernel=%d stride=%d pad=%d\nflatten flat\n",
                 (int)fx_scalar(f, "out", 0), (int)fx_scalar(f, "kernel", 0), (int)fx_scalar(f, "stride", 0),
                 (int)fx_scalar(f, "pad", 0));
        break;
    case EG_OP_LINEAR: snprintf(op, sizeof op, "linear op out=%d\n", (int)fx_scalar(f, "out", 0)); break;
    case EG_OP_RELU: snprintf(op, sizeof op, "relu op\nflatten flat\n"); break;
    case EG_OP_MAXPOOL2D: {
        /* pad and ceil: 0 in the fixtures written before them, which lack them */
        const fx_tensor *pad = fx_find(f, "pad"), *ceil = fx_find(f, "ceil");
        snprintf(op, sizeof op, "maxpool2d op kernel=%d stride=%d pad=%d ceil=%d\nflatten flat\n",
                 (int)fx_scalar(f, "kernel", 0), (int)fx_scalar(f, "stride", 0), pad ? (int)pad->v[0] : 0,
                 ceil ? (int)ceil->v[0] : 0);
        break;
    }
    case EG_OP_DWCONV2D:
    case EG_OP_AVGPOOL2D:
        snprintf(op, sizeof op, "%s op kernel=%d stride=%d pad=%d\nflatten flat\n", eg_ops[c->op]->name,
                 (int)fx_scalar(f, "kernel", 0), (int)fx_scalar(f, "stride", 0), (int)fx_scalar(f, "pad", 0));
        break;
    case EG_OP_FLATTEN: snprintf(op, sizeof op, "flatten op\n"); break;
    default: snprintf(op, sizeof op, "%s op\nflatten flat\n", eg_ops[c->op]->name); break;  /* elementwise */
    }
    snprintf(spec, len, "input x shape=%dx%dx%d\n%s%s", C, H, W, identity ? "maxpool2d id kernel=1\n" : "", op);
    return 0;
}

/* Builds the case's graph, loads PyTorch's parameters, runs forward and
 * backward at `threads` threads and copies the results into o. */
static int run_case(const op_case *c, const fixture *f, int identity, int threads, run_out *o)
{
    memset(o, 0, sizeof *o);
    char spec[512];
    const fx_tensor *x = fx_get(f, "x"), *y = fx_get(f, "y"), *dout = fx_get(f, "dout");
    if (!x || !y || !dout || build_spec(spec, sizeof spec, c, f, identity)) {
        CHECK(0, "%s: fixture incomplete", f->path);
        return -1;
    }
    eg_graph g;
    eg_error err;
    if (eg_graph_parse_spec(&g, spec, c->fixture, &err)) {
        CHECK(0, "%s: spec rejected: %s", c->fixture, err.msg);
        return -1;
    }
    int k = eg_graph_find(&g, "op"), n = x->dims[0];
    eg_node *nd = &g.nodes[k];
    int ok = 1;
    /* shapes as PyTorch has them */
    ok &= x->size == (size_t)n * eg_shape_size(nd->in_shape);
    ok &= y->size == (size_t)n * eg_shape_size(eg_graph_output(&g)->out_shape) && dout->size == y->size;
    if (y->ndim == 4)
        ok &= nd->out_shape.c == y->dims[1] && nd->out_shape.h == y->dims[2] && nd->out_shape.w == y->dims[3];
    CHECK(ok, "%s: shapes differ from PyTorch's: op in %dx%dx%d out %dx%dx%d", c->fixture, nd->in_shape.c,
          nd->in_shape.h, nd->in_shape.w, nd->out_shape.c, nd->out_shape.h, nd->out_shape.w);
    static const char *const pnames[EG_MAX_PARAMS] = {"w", "b"};
    CHECK(nd->nparams == (fx_find(f, "w") ? 2 : 0), "%s: op has %d parameters", c->fixture, nd->nparams);
    for (int p = 0; ok && p < nd->nparams; p++) {
        const fx_tensor *t = fx_get(f, pnames[p]);
        ok = t && t->size == nd->psize[p];
        CHECK(ok, "%s: parameter %s has %zu values, PyTorch's %zu", c->fixture, pnames[p], nd->psize[p],
              t ? t->size : 0);
        if (ok) memcpy(nd->param[p], t->v, t->size * sizeof *t->v);
    }
    if (!ok || nd->nparams != (fx_find(f, "w") ? 2 : 0)) {
        eg_graph_free(&g);
        return -1;
    }

    eg_set_threads(threads);
    if (eg_graph_prepare(&g, n, 1, threads)) {
        CHECK(0, "%s: eg_graph_prepare failed", c->fixture);
        eg_graph_free(&g);
        return -1;
    }
    eg_graph_forward(&g, x->v, n);
    o->ny = y->size;
    o->y = util_dup_floats(eg_graph_y(&g), o->ny);
    eg_graph_zero_grad(&g);
    eg_graph_backward(&g, dout->v, n);
    if (identity) {
        o->ndx = x->size;
        o->dx = util_dup_floats(g.plan.steps[1].dy, o->ndx);
    }
    o->nparams = nd->nparams;
    for (int p = 0; p < nd->nparams; p++) {
        o->ngrad[p] = nd->psize[p];
        o->grad[p] = util_dup_floats(nd->grad[p], o->ngrad[p]);
    }
    /* Parameter gradients accumulate (g + g is exact, so exactly twice);
     * the input gradient is written afresh. */
    eg_graph_backward(&g, dout->v, n);
    for (int p = 0; p < nd->nparams; p++) {
        size_t bad = 0;
        for (size_t i = 0; i < nd->psize[p]; i++) bad += nd->grad[p][i] != 2 * o->grad[p][i];
        CHECK(bad == 0, "%s: %zu of %zu %s gradients did not accumulate over two backward passes", c->fixture,
              bad, nd->psize[p], pnames[p]);
    }
    if (identity)
        CHECK(!memcmp(g.plan.steps[1].dy, o->dx, o->ndx * sizeof *o->dx),
              "%s: the input gradient changed on a second backward pass", c->fixture);
    eg_graph_free(&g);
    return 0;
}

static void test_op(const op_case *c)
{
    fixture f;
    if (fx_load(&f, c->fixture)) {
        CHECK(0, "cannot load fixture %s", c->fixture);
        return;
    }
    static const char *const gnames[EG_MAX_PARAMS] = {"dw", "db"};
    /* Outputs and input gradients are computed image by image, so every run
     * must match the first bit for bit; parameter gradients are summed per
     * thread, so they must match the first run at the same thread count. */
    run_out base = {0}, same_threads[sizeof thread_counts / sizeof *thread_counts] = {{0}};
    for (int identity = 1; identity >= 0; identity--)
        for (size_t t = 0; t < sizeof thread_counts / sizeof *thread_counts; t++) {
            int threads = thread_counts[t];
            run_out o;
            if (run_case(c, &f, identity, threads, &o)) {
                run_out_free(&o);
                continue;
            }
            char what[128];
            snprintf(what, sizeof what, "%s%s threads=%d y", c->fixture, identity ? "" : " (direct)", threads);
            check_close(what, o.y, fx_get(&f, "y")->v, o.ny, RTOL, ATOL);
            if (o.dx) {
                snprintf(what, sizeof what, "%s threads=%d dx", c->fixture, threads);
                const fx_tensor *dx = fx_get(&f, "dx");
                CHECK(dx && dx->size == o.ndx, "%s: dx missing", c->fixture);
                if (dx && dx->size == o.ndx) check_close(what, o.dx, dx->v, o.ndx, RTOL, ATOL);
            }
            for (int p = 0; p < o.nparams; p++) {
                snprintf(what, sizeof what, "%s%s threads=%d %s", c->fixture, identity ? "" : " (direct)", threads,
                         gnames[p]);
                const fx_tensor *gt = fx_get(&f, gnames[p]);
                CHECK(gt && gt->size == o.ngrad[p], "%s: %s missing", c->fixture, gnames[p]);
                if (gt && gt->size == o.ngrad[p]) check_close(what, o.grad[p], gt->v, o.ngrad[p], RTOL, ATOL);
            }
            if (!same_threads[t].y) {
                same_threads[t] = o;
                if (!base.y) base = o;
                continue;
            }
            /* with or without the identity node in front */
            snprintf(what, sizeof what, "%s%s threads=%d y vs first run", c->fixture, identity ? "" : " (direct)",
                     threads);
            util_same_bits(what, o.y, base.y, o.ny);
            if (o.dx) {
                snprintf(what, sizeof what, "%s threads=%d dx vs first run", c->fixture, threads);
                util_same_bits(what, o.dx, base.dx, o.ndx);
            }
            for (int p = 0; p < o.nparams; p++) {
                snprintf(what, sizeof what, "%s%s threads=%d %s vs first run", c->fixture,
                         identity ? "" : " (direct)", threads, gnames[p]);
                util_same_bits(what, o.grad[p], same_threads[t].grad[p], o.ngrad[p]);
            }
            run_out_free(&o);
        }
    for (size_t t = 0; t < sizeof thread_counts / sizeof *thread_counts; t++) run_out_free(&same_threads[t]);
    fx_free(&f);
}

/* Mean softmax cross-entropy and its gradient w.r.t. the logits. */
static void test_xent(void)
{
    fixture f;
    if (fx_load(&f, "xent")) {
        CHECK(0, "cannot load fixture xent");
        return;
    }
    const fx_tensor *z = fx_get(&f, "logits"), *lab = fx_get(&f, "labels"), *loss = fx_get(&f, "loss"),
                    *dz = fx_get(&f, "dlogits");
    CHECK(z && lab && loss && dz && z->ndim == 2 && lab->size == (size_t)z->dims[0] && dz->size == z->size,
          "xent fixture incomplete");
    if (z && lab && loss && dz && z->ndim == 2 && lab->size == (size_t)z->dims[0] && dz->size == z->size) {
        int n = z->dims[0], k = z->dims[1];
        uint8_t *labels = malloc((size_t)n);
        float *got = malloc(z->size * sizeof *got);
        for (int i = 0; i < n; i++) labels[i] = (uint8_t)lab->v[i];
        float l = eg_softmax_xent(z->v, labels, n, k, got);
        /* computed in double and rounded once: no float sums, no need for atol */
        check_close("xent loss", &l, loss->v, 1, RTOL, 0);
        check_close("xent dlogits", got, dz->v, z->size, RTOL, 1e-12);
        float l2 = eg_softmax_xent(z->v, labels, n, k, NULL);
        CHECK(l2 == l, "xent loss without dlogits: %.9g vs %.9g", l2, l);
        free(labels);
        free(got);
    }
    fx_free(&f);
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) test_op(&cases[i]);
    test_xent();
    return check_report("ops_vs_pytorch");
}
