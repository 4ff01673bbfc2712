/* Finite-difference checks of every op's input and parameter gradients and of the loss.
 * Central differences of loss = sum(out * r) for a fixed random r (of the mean
 * cross-entropy for eg_softmax_xent), one element at a time, against backward. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"

/* Step and tolerance for central differences in float32. Conv, linear and
 * flatten are linear in what is perturbed, and relu/maxpool are checked away
 * from their kinks, so the error left is rounding in the loss. */
#define EPS 1e-2
#define TOL 1e-2
#define THREADS 1  /* thousands of tiny passes; threads are covered by test_ops_vs_pytorch */

typedef struct {
    const char *name;
    const char *spec;  /* node 1 is a kernel-1 max pool (identity) whose dy is dloss/d(op input) */
    int n;
    int spaced;        /* inputs distinct, 0.1 apart and |x| >= 0.05: no ties, no kinks */
} gc_case;

static const gc_case cases[] = {
#define ID "maxpool2d id kernel=1\n"
    {"conv2d k3 s1 p1", "input x shape=2x5x6\n" ID "conv2d op out=3 kernel=3 pad=1\nflatten f\n", 2, 0},
    {"conv2d k1", "input x shape=3x3x5\n" ID "conv2d op out=2 kernel=1\nflatten f\n", 2, 0},
    {"conv2d k3 s2 p0", "input x shape=2x7x6\n" ID "conv2d op out=3 kernel=3 stride=2\nflatten f\n", 2, 0},
    {"conv2d k5 s2 p2", "input x shape=2x6x7\n" ID "conv2d op out=3 kernel=5 stride=2 pad=2\nflatten f\n", 2, 0},
    {"linear", "input x shape=9x1x1\n" ID "linear op out=4\n", 3, 0},
    {"relu", "input x shape=2x4x5\n" ID "relu op\nflatten f\n", 2, 1},
    {"maxpool2d k2", "input x shape=2x5x7\n" ID "maxpool2d op kernel=2\nflatten f\n", 2, 1},
    {"maxpool2d k3 s2", "input x shape=2x7x7\n" ID "maxpool2d op kernel=3 stride=2\nflatten f\n", 2, 1},
    {"flatten", "input x shape=2x3x4\n" ID "flatten op\n", 2, 0},
    /* gradients flowing through several ops in a row */
    {"chain conv-conv-flatten-linear",
     "input x shape=2x6x6\n" ID "conv2d c1 out=3 kernel=3 pad=1\nconv2d c2 out=4 kernel=3 stride=2\n"
     "flatten f\nlinear fc out=5\n",
     2, 0},
#undef ID
};

/* loss = sum(y * r) over the output, in double. */
static double loss_of(eg_graph *g, const float *x, int n, const float *r)
{
    eg_graph_forward(g, x, n);
    const eg_node *out = eg_graph_output(g);
    size_t m = (size_t)n * eg_shape_size(out->out_shape);
    double s = 0;
    for (size_t i = 0; i < m; i++) s += (double)out->y[i] * r[i];
    return s;
}

/* Compares analytic gradients with central differences of loss(v), one
 * element of v at a time; `loss` evaluates with v as it is. */
typedef double (*loss_fn)(void *ctx);

static void fd_compare(const char *what, float *v, size_t count, const float *analytic, loss_fn loss, void *ctx)
{
    double scale = 0;
    for (size_t i = 0; i < count; i++)
        if (fabs(analytic[i]) > scale) scale = fabs(analytic[i]);
    size_t bad = 0;
    double worst = 0;
    for (size_t i = 0; i < count; i++) {
        float v0 = v[i];
        v[i] = v0 + (float)EPS;
        double hp = (double)v[i] - v0, lp = loss(ctx);
        v[i] = v0 - (float)EPS;
        double hm = (double)v0 - v[i], lm = loss(ctx);
        v[i] = v0;
        double fd = (lp - lm) / (hp + hm), an = analytic[i];
        /* relative, with a floor for entries near zero next to large ones */
        double err = fabs(fd - an), lim = TOL * fmax(fabs(fd), fabs(an)) + 1e-3 * scale + 1e-6;
        if (err / lim > worst) worst = err / lim;
        if (!(err <= lim)) {
            if (bad < 5) fprintf(stderr, "  %s[%zu]: analytic %.7g, finite difference %.7g\n", what, i, an, fd);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %zu of %zu gradients differ from finite differences (worst %.2f x tolerance)", what, bad,
          count, worst);
}

typedef struct {
    eg_graph *g;
    const float *x, *r;
    int n;
} graph_ctx;

static double graph_loss(void *ctx)
{
    graph_ctx *c = ctx;
    return loss_of(c->g, c->x, c->n, c->r);
}

static float *copy_of(const float *v, size_t n)
{
    float *d = malloc((n ? n : 1) * sizeof *d);
    if (d && n) memcpy(d, v, n * sizeof *d);
    return d;
}

static void test_case(const gc_case *c, uint64_t seed)
{
    eg_graph g;
    eg_error err;
    if (eg_graph_parse_spec(&g, c->spec, c->name, &err)) {
        CHECK(0, "%s: spec rejected: %s", c->name, err.msg);
        return;
    }
    eg_rng rng;
    eg_rng_seed(&rng, seed);
    eg_graph_init_params(&g, &rng);  /* biases too, so a dropped bias term would show */
    int n = c->n;
    size_t nx = (size_t)n * eg_shape_size(g.nodes[0].out_shape);
    size_t ny = (size_t)n * eg_shape_size(eg_graph_output(&g)->out_shape);
    float *x = malloc(nx * sizeof *x), *r = malloc(ny * sizeof *r);
    if (c->spaced) {
        /* a shuffled grid ..., -0.15, -0.05, 0.05, 0.15, ...: 0.1 apart, none near 0 */
        int32_t *perm = malloc(nx * sizeof *perm);
        for (size_t i = 0; i < nx; i++) perm[i] = (int32_t)i;
        eg_rng_shuffle(&rng, perm, (int)nx);
        for (size_t i = 0; i < nx; i++) x[i] = 0.1f * (float)(perm[i] - (int32_t)(nx / 2)) + 0.05f;
        free(perm);
    } else {
        for (size_t i = 0; i < nx; i++) x[i] = eg_rng_range(&rng, -1, 1);
    }
    for (size_t i = 0; i < ny; i++) r[i] = eg_rng_range(&rng, -1, 1);

    eg_set_threads(THREADS);
    if (eg_graph_prepare(&g, n, 1, THREADS)) {
        CHECK(0, "%s: eg_graph_prepare failed", c->name);
        goto done;
    }
    eg_graph_forward(&g, x, n);
    eg_graph_zero_grad(&g);
    eg_graph_backward(&g, r, n);
    float *dx = copy_of(g.nodes[1].dy, nx), *grads = copy_of(g.grads, g.nparam);

    graph_ctx ctx = {&g, x, r, n};
    char what[128];
    snprintf(what, sizeof what, "%s dx", c->name);
    fd_compare(what, x, nx, dx, graph_loss, &ctx);
    for (int i = 0; i < g.nnodes; i++) {
        eg_node *nd = &g.nodes[i];
        for (int p = 0; p < nd->nparams; p++) {
            snprintf(what, sizeof what, "%s %s.%s", c->name, nd->name, p ? "bias" : "weight");
            fd_compare(what, nd->param[p], nd->psize[p], grads + (nd->grad[p] - g.grads), graph_loss, &ctx);
        }
    }
    free(dx);
    free(grads);
done:
    free(x);
    free(r);
    eg_graph_free(&g);
}

typedef struct {
    const float *z;
    const uint8_t *labels;
    int n, k;
} xent_ctx;

static double xent_loss(void *ctx)
{
    xent_ctx *c = ctx;
    return eg_softmax_xent(c->z, c->labels, c->n, c->k, NULL);
}

static void test_xent(void)
{
    enum { N = 4, K = 6 };
    eg_rng rng;
    eg_rng_seed(&rng, 77);
    float z[N * K], dz[N * K];
    uint8_t labels[N];
    for (int i = 0; i < N * K; i++) z[i] = eg_rng_range(&rng, -3, 3);
    for (int i = 0; i < N; i++) labels[i] = (uint8_t)eg_rng_below(&rng, K);
    eg_softmax_xent(z, labels, N, K, dz);
    xent_ctx ctx = {z, labels, N, K};
    fd_compare("softmax_xent dlogits", z, N * K, dz, xent_loss, &ctx);
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) test_case(&cases[i], 1000 + i);
    test_xent();
    return check_report("gradcheck");
}
