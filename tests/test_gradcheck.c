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
    /* stride 1 but not "same": row offsets with dy laid out twice */
    {"conv2d k5 s1 p0", "input x shape=6x8x7\n" ID "conv2d op out=16 kernel=5\nflatten f\n", 2, 0},
    {"conv2d k3 s1 p0", "input x shape=3x6x7\n" ID "conv2d op out=5 kernel=3\nflatten f\n", 2, 0},
    {"conv2d k5 s1 p1", "input x shape=3x7x6\n" ID "conv2d op out=5 kernel=5 pad=1\nflatten f\n", 2, 0},
    {"conv2d k3 s1 p2", "input x shape=2x4x5\n" ID "conv2d op out=3 kernel=3 pad=2\nflatten f\n", 2, 0},
    {"conv2d k4 s1 p1", "input x shape=3x5x7\n" ID "conv2d op out=4 kernel=4 pad=1\nflatten f\n", 2, 0},
    /* pad > kernel - 1: stride 1 through im2col */
    {"conv2d k2 s1 p2", "input x shape=2x3x4\n" ID "conv2d op out=3 kernel=2 pad=2\nflatten f\n", 2, 0},
    {"linear", "input x shape=9x1x1\n" ID "linear op out=4\n", 3, 0},
    {"relu", "input x shape=2x4x5\n" ID "relu op\nflatten f\n", 2, 1},
    {"sigmoid", "input x shape=2x4x5\n" ID "sigmoid op\nflatten f\n", 2, 0},
    {"hardswish", "input x shape=2x6x8\n" ID "hardswish op\nflatten f\n", 2, 1},
    {"relu6", "input x shape=2x6x8\n" ID "relu6 op\nflatten f\n", 2, 1},
    {"dwconv2d k3 s1 p1", "input x shape=3x5x6\n" ID "dwconv2d op kernel=3 pad=1\nflatten f\n", 2, 0},
    {"dwconv2d k3 s2 p1", "input x shape=2x7x6\n" ID "dwconv2d op kernel=3 stride=2 pad=1\nflatten f\n", 2, 0},
    {"avgpool2d k2", "input x shape=2x5x7\n" ID "avgpool2d op kernel=2\nflatten f\n", 2, 0},
    {"avgpool2d k3 s2 p1", "input x shape=2x7x6\n" ID "avgpool2d op kernel=3 stride=2 pad=1\nflatten f\n", 2, 0},
    {"maxpool2d k2", "input x shape=2x5x7\n" ID "maxpool2d op kernel=2\nflatten f\n", 2, 1},
    {"maxpool2d k3 s2", "input x shape=2x7x7\n" ID "maxpool2d op kernel=3 stride=2\nflatten f\n", 2, 1},
    /* windows clipped at the borders: padding, and ceil mode's last windows */
    {"maxpool2d k3 s2 p1", "input x shape=2x7x8\n" ID "maxpool2d op kernel=3 stride=2 pad=1\nflatten f\n", 2, 1},
    {"maxpool2d k2 ceil", "input x shape=2x5x7\n" ID "maxpool2d op kernel=2 ceil=1\nflatten f\n", 2, 1},
    {"maxpool2d k3 s2 p1 ceil", "input x shape=2x6x8\n" ID "maxpool2d op kernel=3 stride=2 pad=1 ceil=1\nflatten f\n", 2,
     1},
    {"maxpool2d k2 p1 ceil", "input x shape=2x6x7\n" ID "maxpool2d op kernel=2 pad=1 ceil=1\nflatten f\n", 2, 1},
    {"maxpool2d k2 p1, even planes", "input x shape=2x6x8\n" ID "maxpool2d op kernel=2 pad=1\nflatten f\n", 2, 1},
    {"flatten", "input x shape=2x3x4\n" ID "flatten op\n", 2, 0},
    /* gradients flowing through several ops in a row */
    {"chain conv-conv-flatten-linear",
     "input x shape=2x6x6\n" ID "conv2d c1 out=3 kernel=3 pad=1\nconv2d c2 out=4 kernel=3 stride=2\n"
     "flatten f\nlinear fc out=5\n",
     2, 0},
    /* batchnorm2d in training mode: every output depends on every input of its channel */
    {"batchnorm2d", "input x shape=3x4x5\n" ID "batchnorm2d op\nflatten f\n", 3, 0},
    {"batchnorm2d 1x1 maps", "input x shape=4x1x1\n" ID "batchnorm2d op\n", 5, 0},
    {"gap", "input x shape=3x4x5\n" ID "gap op\n", 2, 0},
    /* add: id feeds the conv and the add, so its gradient is the sum of both */
    {"add with fan-out", "input x shape=2x4x5\n" ID "conv2d c out=2 kernel=3 pad=1\nadd op in=c,id\nflatten f\n", 2, 0},
    {"add in=a,a", "input x shape=2x3x4\n" ID "add op in=id,id\nflatten f\n", 2, 0},
    /* a residual block with batchnorm, pooled and classified */
    {"residual block",
     "input x shape=3x5x5\n" ID "conv2d a out=3 kernel=3 pad=1\nbatchnorm2d bna\nconv2d b out=3 kernel=3 pad=1\n"
     "batchnorm2d bnb\nadd res in=bnb,id\ngap g\nlinear fc out=4\n",
     3, 0},
#undef ID
};

/* loss = sum(y * r) over the output, in double. */
static double loss_of(eg_graph *g, const float *x, int n, const float *r)
{
    eg_graph_forward(g, x, n);
    const eg_node *out = eg_graph_output(g);
    size_t m = (size_t)n * eg_shape_size(out->out_shape);
    double s = 0;
    for (size_t i = 0; i < m; i++) s += (double)eg_graph_y(g)[i] * r[i];
    return s;
}

/* Compares analytic gradients with central differences of loss(v), one
 * element of v at a time; `loss` evaluates with v as it is. */
typedef double (*loss_fn)(void *ctx);

static double fd_noise = 1e-6;  /* the comparison's absolute floor */

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
        double err = fabs(fd - an), lim = TOL * fmax(fabs(fd), fabs(an)) + 1e-3 * scale + fd_noise;
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
    float *dx = copy_of(g.plan.steps[1].dy, nx), *grads = copy_of(g.grads, g.nparam);

    graph_ctx ctx = {&g, x, r, n};
    char what[128];
    /* a conv's bias right before a batchnorm has gradient 0: its finite
     * difference is the loss's float32 rounding (~1e-8) over 2 eps */
    fd_noise = strstr(c->spec, "batchnorm2d") && strstr(c->spec, "conv2d") ? 5e-6 : 1e-6;
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

/* ------------------------------------------------- the whole SimpleCNN */

/* models/simplecnn as training runs it (relu1/relu2 folded into the 2x2
 * pools), loss = mean softmax cross-entropy, checked on MODEL_PICK random
 * entries of every parameter tensor and of the input (half of them among
 * entries whose gradient is at least 1e-2 of the tensor's largest).
 *
 * No perturbation may carry a pre-activation across a relu kink or change a
 * pool's winner. A conv1 weight moves all 4 x 784 conv1 outputs of an image,
 * and on random images some of those windows always sit within reach of a
 * tie or of 0 (measured: 18 of 20 conv1.w entries cross at eps 1e-3, 5 still
 * at 6.25e-5). So the parameters are checked on MNIST-like images: 0
 * everywhere but an 8x8 box of random values in [0, 1). Background windows
 * are exact ties (identical patches, which a parameter change moves alike,
 * so the tie holds) or dead by a clear margin; only ~150 pool1 windows per
 * image around the box are distinct. The input gradient is checked on random
 * images (perturbing a background pixel would break an exact tie), where an
 * input entry moves only a 3x3 patch of conv1.
 *
 * Every perturbed pass compares the pools' winners (4: no positive value)
 * and fc1's signs with the unperturbed pass. An entry whose step 1e-3
 * changed them is retried with 2.5e-4, then 6.25e-5; one that crosses at
 * every step is not compared but counted, and more than a quarter of a
 * tensor's entries crossing fails the check. With MODEL_SEED every entry
 * goes through at 1e-3 with no crossing (over seeds 1..100, 95 pass; the
 * rest fail only the quarter rule, on conv1).
 *
 * The float32 forward pass makes the loss noisy by ~2.5e-9 (logits rounded
 * to float32; the cross-entropy is summed here in double), ~1e-6 in a
 * difference with eps 1e-3, which matters for the input gradient's small
 * entries. Tolerance: 2e-2 relative + 1e-3 of the tensor's largest gradient
 * + 5e-9 / eps. The worst entry uses ~0.13 of it. */
static const double model_eps[] = {1e-3, 2.5e-4, 6.25e-5};
#define NEPS (sizeof model_eps / sizeof *model_eps)
#define MODEL_TOL 2e-2
#define MODEL_FLOOR 1e-3
#define MODEL_NOISE 5e-9
#define MODEL_PICK 20
#define MODEL_N 2
#define MODEL_SEED 102

typedef struct {
    eg_graph *g;
    const float *x;
    const uint8_t *labels;
    int n, pool[2], fc1;
    int32_t *codes[2];  /* the unperturbed pass's pool winners */
    float *fc1_y;       /* and fc1's outputs */
    long eps_used[NEPS];
} model_ctx;

/* Mean cross-entropy of the current logits, in double. */
static double xent_double(const float *z, const uint8_t *labels, int n, int k)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *r = z + (size_t)i * k;
        double m = r[0], s = 0;
        for (int j = 1; j < k; j++) m = r[j] > m ? r[j] : m;
        for (int j = 0; j < k; j++) s += exp((double)r[j] - m);
        total += m + log(s) - r[labels[i]];
    }
    return total / n;
}

/* Whether the last forward pass took the same relu/pool branches as the first. */
static int same_branches(const model_ctx *c)
{
    for (int i = 0; i < 2; i++) {
        const eg_node *nd = &c->g->nodes[c->pool[i]];
        const int32_t *argmax = c->g->plan.steps[c->pool[i]].argmax;
        if (memcmp(argmax, c->codes[i], (size_t)c->n * eg_shape_size(nd->out_shape) * sizeof *argmax))
            return 0;
    }
    const eg_node *fc1 = &c->g->nodes[c->fc1];
    for (size_t i = 0; i < (size_t)c->n * eg_shape_size(fc1->out_shape); i++)
        if ((c->g->plan.steps[c->fc1].y[i] > 0) != (c->fc1_y[i] > 0)) return 0;
    return 1;
}

static double model_loss(model_ctx *c, int *same)
{
    eg_graph_forward(c->g, c->x, c->n);
    *same = same_branches(c);
    const eg_node *out = eg_graph_output(c->g);
    return xent_double(eg_graph_y(c->g), c->labels, c->n, out->out_shape.c);
}

/* The central difference of the loss in v[i] with step eps; *same: no
 * branch changed at either end. */
static double central(model_ctx *c, float *v, size_t i, double eps, int *same)
{
    float v0 = v[i];
    int same_p, same_m;
    v[i] = v0 + (float)eps;
    double hp = (double)v[i] - v0, lp = model_loss(c, &same_p);
    v[i] = v0 - (float)eps;
    double hm = (double)v0 - v[i], lm = model_loss(c, &same_m);
    v[i] = v0;
    *same = same_p && same_m;
    return (lp - lm) / (hp + hm);
}

/* Central differences on MODEL_PICK random entries of v (all when fewer),
 * each with the largest step of model_eps that crosses no kink. */
static void fd_subset(const char *what, float *v, size_t count, const float *analytic, model_ctx *c, eg_rng *rng)
{
    double scale = 0;
    for (size_t i = 0; i < count; i++)
        if (fabs(analytic[i]) > scale) scale = fabs(analytic[i]);
    int32_t *idx = malloc(count * sizeof *idx);
    for (size_t i = 0; i < count; i++) idx[i] = (int32_t)i;
    eg_rng_shuffle(rng, idx, (int)count);
    /* half the picks at random; the other half among entries whose gradient
     * is not negligible (most of fc1.w's are 0: features that are 0 in both
     * images), moved to the front of the rest in their shuffled order */
    size_t picks = count < MODEL_PICK ? count : MODEL_PICK, bad = 0, crossed = 0, front = picks / 2;
    for (size_t j = front; j < count && front < picks; j++)
        if (fabs(analytic[idx[j]]) >= 1e-2 * scale) {
            int32_t t = idx[front];
            idx[front++] = idx[j];
            idx[j] = t;
        }
    double worst = 0;
    for (size_t j = 0; j < picks; j++) {
        size_t i = (size_t)idx[j];
        int same = 0, e = -1;
        double fd = 0;
        while (!same && ++e < (int)NEPS) fd = central(c, v, i, model_eps[e], &same);
        if (!same) {
            crossed++;
            continue;
        }
        c->eps_used[e]++;
        double an = analytic[i], err = fabs(fd - an),
               lim = MODEL_TOL * fmax(fabs(fd), fabs(an)) + MODEL_FLOOR * scale + MODEL_NOISE / model_eps[e];
        if (err / lim > worst) worst = err / lim;
        if (!(err <= lim)) {
            if (bad < 5)
                fprintf(stderr, "  %s[%zu]: analytic %.7g, finite difference %.7g (eps %g)\n", what, i, an, fd,
                        model_eps[e]);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %zu of %zu sampled gradients differ from finite differences (worst %.2f x tolerance)",
          what, bad, picks - crossed, worst);
    CHECK(crossed <= picks / 4, "%s: %zu of %zu perturbations crossed a relu kink or changed a pool winner", what,
          crossed, picks);
    if (getenv("EG_TEST_VERBOSE"))
        printf("  %-22s %2zu sampled, %zu crossed a kink (not compared), worst %.3f x tolerance\n", what, picks,
               crossed, worst);
    free(idx);
}

/* models/simplecnn with a kernel-1 max pool (an identity, whose dy is the
 * input gradient) right after its input line. */
static int load_simplecnn_with_identity(eg_graph *g)
{
    FILE *fp = fopen("models/simplecnn", "rb");
    char text[8192];
    size_t len = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
    if (fp) fclose(fp);
    text[len] = 0;
    static const char id[] = "maxpool2d id kernel=1\n";
    char *line = strstr(text, "\ninput"), *eol = line ? strchr(line + 1, '\n') : NULL;
    eg_error err;
    if (!eol || len + sizeof id >= sizeof text) {
        CHECK(0, "models/simplecnn: cannot read its input line");
        return -1;
    }
    eol++;
    memmove(eol + strlen(id), eol, strlen(eol) + 1);
    memcpy(eol, id, strlen(id));
    if (eg_graph_parse_spec(g, text, "models/simplecnn (with identity)", &err)) {
        CHECK(0, "models/simplecnn rejected: %s", err.msg);
        return -1;
    }
    return 0;
}

/* Backward once on x, then central differences of the input's entries
 * (inputs) or of the parameters' (!inputs). */
static void fd_simplecnn(eg_graph *g, float *x, const uint8_t *labels, int inputs, eg_rng *rng)
{
    int n = MODEL_N, k = eg_graph_output(g)->out_shape.c;
    size_t nx = (size_t)n * eg_shape_size(g->nodes[0].out_shape);
    model_ctx c = {g, x, labels, n, {eg_graph_find(g, "pool1"), eg_graph_find(g, "pool2")},
                   eg_graph_find(g, "fc1"), {NULL, NULL}, NULL, {0}};
    float *dlogits = malloc((size_t)n * k * sizeof *dlogits);
    eg_graph_forward(g, x, n);
    eg_softmax_xent(eg_graph_y(g), labels, n, k, dlogits);
    eg_graph_zero_grad(g);
    eg_graph_backward(g, dlogits, n);
    float *dx = copy_of(g->plan.steps[1].dy, nx), *grads = copy_of(g->grads, g->nparam);
    for (int i = 0; i < 2; i++) {
        const eg_node *nd = &g->nodes[c.pool[i]];
        size_t m = (size_t)n * eg_shape_size(nd->out_shape);
        c.codes[i] = malloc(m * sizeof *c.codes[i]);
        memcpy(c.codes[i], g->plan.steps[c.pool[i]].argmax, m * sizeof *c.codes[i]);
    }
    c.fc1_y = copy_of(g->plan.steps[c.fc1].y, (size_t)n * eg_shape_size(g->nodes[c.fc1].out_shape));
    if (inputs) fd_subset("simplecnn x", x, nx, dx, &c, rng);
    for (int i = 0; !inputs && i < g->nnodes; i++) {
        eg_node *nd = &g->nodes[i];
        for (int p = 0; p < nd->nparams; p++) {
            char what[128];
            snprintf(what, sizeof what, "simplecnn %s.%s", nd->name, p ? "b" : "w");
            fd_subset(what, nd->param[p], nd->psize[p], grads + (nd->grad[p] - g->grads), &c, rng);
        }
    }
    if (getenv("EG_TEST_VERBOSE"))
        printf("  simplecnn %s: steps 1e-3 / 2.5e-4 / 6.25e-5 used for %ld / %ld / %ld entries\n",
               inputs ? "x" : "parameters", c.eps_used[0], c.eps_used[1], c.eps_used[2]);
    free(dx);
    free(grads);
    free(c.codes[0]);
    free(c.codes[1]);
    free(c.fc1_y);
    free(dlogits);
}

static void test_simplecnn(void)
{
    eg_graph g;
    if (load_simplecnn_with_identity(&g)) return;
    eg_rng rng;
    eg_rng_seed(&rng, MODEL_SEED);
    eg_graph_init_params(&g, &rng);
    int n = MODEL_N, k = eg_graph_output(&g)->out_shape.c;
    eg_shape in = g.nodes[0].out_shape;
    size_t per = eg_shape_size(in), nx = (size_t)n * per;
    float *x = calloc(nx, sizeof *x);
    uint8_t labels[MODEL_N];
    for (int i = 0; i < n; i++) labels[i] = (uint8_t)eg_rng_below(&rng, (uint32_t)k);
    eg_set_threads(THREADS);
    if (in.c != 1 || in.h != 28 || in.w != 28 || eg_graph_find(&g, "pool1") < 0 || eg_graph_find(&g, "pool2") < 0 ||
        eg_graph_find(&g, "fc1") < 0 || eg_graph_prepare(&g, n, 1, THREADS)) {
        CHECK(0, "simplecnn: not 1x28x28, nodes pool1/pool2/fc1 missing or eg_graph_prepare failed");
        goto done;
    }
    CHECK(g.plan.steps[eg_graph_find(&g, "pool1")].relu_in && g.plan.steps[eg_graph_find(&g, "pool2")].relu_in,
          "simplecnn: relu1/relu2 are not folded into the pools (the fold is what this covers)");
    /* MNIST-like images for the parameters: an 8x8 box of values in [0, 1) on 0 */
    for (int im = 0; im < n; im++) {
        int r0 = 4 + (int)eg_rng_below(&rng, 12), c0 = 4 + (int)eg_rng_below(&rng, 12);
        for (int r = 0; r < 8; r++)
            for (int col = 0; col < 8; col++) x[(size_t)im * per + (size_t)(r0 + r) * 28 + c0 + col] = eg_rng_uniform(&rng);
    }
    fd_simplecnn(&g, x, labels, 0, &rng);
    /* random images for the input gradient */
    for (size_t i = 0; i < nx; i++) x[i] = eg_rng_range(&rng, -1, 1);
    fd_simplecnn(&g, x, labels, 1, &rng);
done:
    free(x);
    eg_graph_free(&g);
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) test_case(&cases[i], 1000 + i);
    test_xent();
    test_simplecnn();
    return check_report("gradcheck");
}
