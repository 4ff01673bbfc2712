/* Regularisation penalties and threshold pruning:
 *   - training steps with l1 + l2 (Adam, SGD with momentum) and with the
 *     soft threshold (prox) against PyTorch (tests/fixtures/penalty_*.txt);
 *   - the penalty's gradient against finite differences of its value;
 *   - prox: one step by hand, and a known fraction of exact zeros;
 *   - threshold pruning masks exactly |w| <= F, and those stay zero;
 *   - the recipe runner end to end on a tiny IDX set, and bad recipes. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "internal.h"
#include "util.h"

static const int weighted[] = {1, 4, 8, 10};  /* conv1, conv2, fc1, fc2 in models/simplecnn */

static int load_simplecnn(eg_graph *g, uint64_t seed)
{
    eg_error err = {0};
    if (eg_graph_load_spec(g, "models/simplecnn", &err)) {
        CHECK(0, "load models/simplecnn: %s", err.msg);
        return -1;
    }
    eg_rng r;
    eg_rng_seed(&r, seed);
    eg_graph_init_params(g, &r);
    return 0;
}

/* n random MNIST-sized samples (values as normalised MNIST's range). */
static void random_data(eg_dataset *ds, int n, uint64_t seed, int zero)
{
    eg_rng r;
    eg_rng_seed(&r, seed);
    *ds = (eg_dataset){.n = n, .c = 1, .h = 28, .w = 28};
    ds->x = malloc((size_t)n * 784 * sizeof *ds->x);
    ds->y = malloc((size_t)n);
    for (int i = 0; i < n * 784; i++) ds->x[i] = zero ? 0.0f : eg_rng_range(&r, -0.4f, 2.8f);
    for (int i = 0; i < n; i++) ds->y[i] = (uint8_t)eg_rng_below(&r, 10);
}

/* ------------------------------------------------------ against PyTorch */

static const char *const penalty_spec =
    "input   x    shape=2x6x6\n"
    "conv2d  conv out=3 kernel=3 pad=1\n"
    "relu    relu\n"
    "flatten flat\n"
    "linear  fc   out=5\n";

/* Three steps (epochs of one batch) of the fixture's optimizer and penalty;
 * parameters after steps 1 and 3, and each step's loss and penalty term. */
static void test_vs_pytorch(const char *name, int threads)
{
    fixture f;
    if (fx_load(&f, name)) {
        CHECK(0, "cannot load fixture %s", name);
        return;
    }
    eg_set_threads(threads);
    eg_graph g;
    eg_error err = {0};
    CHECK(eg_graph_parse_spec(&g, penalty_spec, "penalty_spec", &err) == EG_OK, "spec: %s", err.msg);
    static const char *const pnames[4] = {"conv.w", "conv.b", "fc.w", "fc.b"};
    const int pnode[4] = {1, 1, 4, 4}, pidx[4] = {0, 1, 0, 1};
    const fx_tensor *x = fx_get(&f, "x"), *labels = fx_get(&f, "labels");
    int ok = x && labels && x->size == 8 * 72 && labels->size == 8;
    for (int k = 0; k < 4 && ok; k++) {
        char key[32];
        snprintf(key, sizeof key, "p0.%s", pnames[k]);
        const fx_tensor *t = fx_get(&f, key);
        ok = t && t->size == g.nodes[pnode[k]].psize[pidx[k]];
        if (ok) memcpy(g.nodes[pnode[k]].param[pidx[k]], t->v, t->size * sizeof *t->v);
    }
    CHECK(ok, "%s: fixture incomplete", name);
    if (!ok) {
        eg_graph_free(&g), fx_free(&f);
        return;
    }
    eg_dataset ds = {.n = 8, .c = 2, .h = 6, .w = 6};
    ds.x = util_dup_floats(x->v, x->size);
    ds.y = malloc(8);
    for (int i = 0; i < 8; i++) ds.y[i] = (uint8_t)labels->v[i];

    eg_optim o;
    eg_optim_init(&o, fx_scalar(&f, "type", -1) == 1 ? EG_OPTIM_ADAM : EG_OPTIM_SGD, fx_scalar(&f, "lr", 0));
    o.momentum = fx_scalar(&f, "momentum", 0);
    eg_penalty pen;
    const int nodes[2] = {1, 4};
    CHECK(eg_penalty_init(&pen, &g, nodes, 2, fx_scalar(&f, "l1", -1), fx_scalar(&f, "l2", -1),
                          fx_scalar(&f, "prox", -1), &err) == EG_OK,
          "%s: penalty: %s", name, err.msg);
    eg_train_opts to = {.batch = 8, .shuffle = 0, .progress = 0, .penalty = &pen};
    eg_rng rng;
    eg_rng_seed(&rng, 0);
    for (int s = 1; s <= 3; s++) {
        eg_epoch_stats st;
        CHECK(eg_train_epoch(&g, &o, &ds, &to, &rng, &st, &err) == EG_OK, "%s: train: %s", name, err.msg);
        char key[32], what[96];
        snprintf(key, sizeof key, "loss%d", s);
        float want_loss = fx_scalar(&f, key, NAN), got_loss = (float)st.loss;
        snprintf(what, sizeof what, "%s (%d threads) step %d loss", name, threads, s);
        check_close(what, &got_loss, &want_loss, 1, 1e-5, 0);
        snprintf(key, sizeof key, "penalty%d", s);
        float want_pen = fx_scalar(&f, key, NAN), got_pen = (float)st.penalty;
        snprintf(what, sizeof what, "%s (%d threads) step %d penalty", name, threads, s);
        check_close(what, &got_pen, &want_pen, 1, 1e-6, 0);
        if (s == 2) continue;
        for (int k = 0; k < 4; k++) {
            snprintf(key, sizeof key, "p%d.%s", s, pnames[k]);
            const fx_tensor *t = fx_get(&f, key);
            const eg_node *nd = &g.nodes[pnode[k]];
            snprintf(what, sizeof what, "%s (%d threads) after step %d: %s", name, threads, s, pnames[k]);
            if (t && t->size == nd->psize[pidx[k]]) check_close(what, nd->param[pidx[k]], t->v, t->size, 1e-5, 1e-7);
            else CHECK(0, "%s: missing", key);
            /* the soft threshold's exact zeros are torch's exact zeros */
            size_t zeros = 0, differ = 0;
            for (size_t i = 0; t && i < t->size && i < nd->psize[pidx[k]]; i++) {
                zeros += t->v[i] == 0;
                differ += (t->v[i] == 0) != (nd->param[pidx[k]][i] == 0);
            }
            CHECK(differ == 0, "%s: %zu entries are zero in one and not the other (torch has %zu zeros)", what,
                  differ, zeros);
            if (fx_scalar(&f, "prox", 0) > 0 && pidx[k] == 0 && s == 3)
                CHECK(zeros > 0, "%s: the soft threshold left no exact zero", what);
        }
    }
    eg_penalty_free(&pen);
    eg_optim_free(&o);
    eg_dataset_free(&ds);
    eg_graph_free(&g);
    fx_free(&f);
}

/* --------------------------------------------------- finite differences */

/* The gradient eg_penalty_grad adds against central differences of
 * eg_penalty_value, on every parameter of SimpleCNN with conv2 and fc2
 * penalised (some weights exactly 0, where sign(0) = 0 and the symmetric
 * difference is 0 too); every other parameter must get nothing. */
static void test_finite_differences(void)
{
    eg_graph g;
    eg_error err = {0};
    if (load_simplecnn(&g, 11)) return;
    const eg_node *c2 = &g.nodes[4], *f2 = &g.nodes[10];
    for (int k = 0; k < 10; k++) c2->param[0][k * 17] = 0, f2->param[0][k * 31] = 0;
    eg_penalty pen;
    const int nodes[2] = {4, 10};
    CHECK(eg_penalty_init(&pen, &g, nodes, 2, 0.3f, 0.7f, 0.0f, &err) == EG_OK, "penalty: %s", err.msg);
    float *grad = calloc(g.nparam, sizeof *grad);
    double value = eg_penalty_grad(&pen, g.params, grad, 0, g.nparam);
    /* the value from its definition */
    double want = 0;
    for (int i = 0; i < 2; i++) {
        const eg_node *nd = &g.nodes[nodes[i]];
        for (size_t k = 0; k < nd->psize[0]; k++) {
            double w = nd->param[0][k];
            want += 0.3f * fabs(w) + 0.5 * 0.7f * w * w;
        }
    }
    CHECK(fabs(value - want) <= 1e-12 * want, "penalty value %.17g, by definition %.17g", value, want);
    CHECK(eg_penalty_value(&pen, g.params) == value, "eg_penalty_value differs from the step's sum");
    size_t bad = 0, at_zero = 0, checked = 0;
    const float h = 1e-3f;
    for (size_t i = 0; i < g.nparam; i++) {
        float w = g.params[i], wp = w + h, wm = w - h;
        if (pen.sel[i] != 0 && w != 0 && fabsf(w) <= h) continue;  /* the kink lies inside the difference */
        g.params[i] = wp;
        double fp = eg_penalty_value(&pen, g.params);
        g.params[i] = wm;
        double fm = eg_penalty_value(&pen, g.params);
        g.params[i] = w;
        double fd = (fp - fm) / ((double)wp - (double)wm);
        checked++;
        at_zero += pen.sel[i] != 0 && w == 0;
        if (!(fabs(fd - grad[i]) <= 1e-6 + 1e-5 * fabs(fd))) {
            if (bad < 5) fprintf(stderr, "  param %zu (w %g, selected %g): gradient %.9g, finite difference %.9g\n", i,
                                 w, pen.sel[i], grad[i], fd);
            bad++;
        }
        if (pen.sel[i] == 0 && grad[i] != 0) bad++;
    }
    CHECK(bad == 0, "%zu of %zu gradients differ from finite differences", bad, checked);
    CHECK(at_zero == 20, "%zu weights at exactly 0 checked, want 20", at_zero);
    free(grad);
    eg_penalty_free(&pen);
    eg_graph_free(&g);
}

/* The training step adds exactly that gradient: one SGD step with and
 * without the penalty from the same parameters differ by lr times it, and
 * with l2 = F under Adam the step equals Adam's weight_decay = F when every
 * parameter is penalised (PyTorch's Adam decays through the moments too). */
static void test_step_adds_gradient(int threads)
{
    eg_set_threads(threads);
    eg_graph a, b;
    eg_error err = {0};
    if (load_simplecnn(&a, 12) || load_simplecnn(&b, 12)) return;
    eg_dataset ds;
    random_data(&ds, 64, 13, 0);
    eg_penalty pen;
    CHECK(eg_penalty_init(&pen, &b, weighted, 4, 0.01f, 0.2f, 0, &err) == EG_OK, "penalty: %s", err.msg);
    float *pgrad = calloc(b.nparam, sizeof *pgrad);
    eg_penalty_grad(&pen, b.params, pgrad, 0, b.nparam);
    float *before = util_dup_floats(a.params, a.nparam);
    eg_optim oa, ob;
    eg_optim_init(&oa, EG_OPTIM_SGD, 0.5f);
    eg_optim_init(&ob, EG_OPTIM_SGD, 0.5f);
    eg_train_opts ta = {.batch = 64}, tb = {.batch = 64, .penalty = &pen};
    eg_epoch_stats sa, sb;
    eg_rng r;
    eg_rng_seed(&r, 0);
    CHECK(eg_train_epoch(&a, &oa, &ds, &ta, &r, &sa, &err) == EG_OK, "train: %s", err.msg);
    CHECK(eg_train_epoch(&b, &ob, &ds, &tb, &r, &sb, &err) == EG_OK, "train: %s", err.msg);
    size_t bad = 0;
    for (size_t i = 0; i < a.nparam; i++) {
        /* a = w - lr g and b = w - lr (g + p) each round once or twice: a few
         * ulps of the parameters, and of lr (|g| + |p|) */
        double diff = (double)a.params[i] - b.params[i], want = 0.5 * pgrad[i];
        double g = ((double)before[i] - a.params[i]) / 0.5;
        double tol = ldexp(fmax(fmax(fabs(a.params[i]), fabs(b.params[i])), fabs(before[i])), -21) +
                     ldexp(0.5 * (fabs(g) + fabs(pgrad[i])), -21);
        if (!(fabs(diff - want) <= tol)) bad++;
        if (pen.sel[i] == 0 && a.params[i] != b.params[i]) bad++;
    }
    CHECK(bad == 0, "%d threads: %zu parameters did not move by lr times the penalty's gradient", threads, bad);
    double pv = eg_penalty_value(&pen, before);
    CHECK(fabs(sb.penalty - pv) <= 1e-6 * pv && fabs(sb.loss - sa.loss - pv) <= 1e-5 * sb.loss,
          "%d threads: step loss %.9g = %.9g + penalty %.9g; want the penalty %.9g at the step's start", threads,
          sb.loss, sa.loss, sb.penalty, pv);
    eg_optim_free(&oa), eg_optim_free(&ob);
    eg_penalty_free(&pen);
    eg_graph_free(&a), eg_graph_free(&b);

    /* Adam: l2 on every parameter against weight_decay on every parameter */
    eg_graph c, d;
    if (load_simplecnn(&c, 14) || load_simplecnn(&d, 14)) return;
    eg_optim oc, od;
    eg_optim_init(&oc, EG_OPTIM_ADAM, 1e-2f);
    eg_optim_init(&od, EG_OPTIM_ADAM, 1e-2f);
    od.weight_decay = 0.3f;
    float *all = malloc(c.nparam * sizeof *all);
    for (size_t i = 0; i < c.nparam; i++) all[i] = 1;
    eg_penalty full = {.l2 = 0.3f, .n = c.nparam, .sel = all};
    eg_train_opts tc = {.batch = 32, .penalty = &full}, td = {.batch = 32};
    for (int e = 0; e < 2; e++) {
        eg_rng_seed(&r, 1);
        CHECK(eg_train_epoch(&c, &oc, &ds, &tc, &r, &sa, &err) == EG_OK, "train: %s", err.msg);
        eg_rng_seed(&r, 1);
        CHECK(eg_train_epoch(&d, &od, &ds, &td, &r, &sb, &err) == EG_OK, "train: %s", err.msg);
    }
    /* not bit for bit: the penalty rounds g + l2 w and then Adam adds its
     * weight_decay of 0, where weight_decay rounds g + wd w once; Adam
     * magnifies that where the two nearly cancel (measured: 3e-8, on lr 1e-2) */
    check_close("Adam l2 against Adam weight_decay", c.params, d.params, c.nparam, 1e-6, 2e-7);
    eg_optim_free(&oc), eg_optim_free(&od);
    free(all), free(before), free(pgrad);
    eg_dataset_free(&ds);
    eg_graph_free(&c), eg_graph_free(&d);
}

/* ------------------------------------------------------------------ prox */

static float soft(float w, float t)
{
    float a = fabsf(w) - t;
    return a > 0 ? copysignf(a, w) : 0.0f;
}

/* One SGD step by hand: with prox the selected weights are the step without
 * it, soft-thresholded by lr * prox, bit for bit; the rest are the same. */
static void test_prox_one_step(void)
{
    eg_graph a, b;
    eg_error err = {0};
    if (load_simplecnn(&a, 21) || load_simplecnn(&b, 21)) return;
    eg_dataset ds;
    random_data(&ds, 50, 22, 0);
    const int two[2] = {4, 8};  /* conv2, fc1 */
    eg_penalty pen;
    const float lr = 0.05f, prox = 0.4f, t = lr * prox;
    CHECK(eg_penalty_init(&pen, &b, two, 2, 0, 0, prox, &err) == EG_OK, "penalty: %s", err.msg);
    eg_optim oa, ob;
    eg_optim_init(&oa, EG_OPTIM_SGD, lr);
    eg_optim_init(&ob, EG_OPTIM_SGD, lr);
    eg_train_opts ta = {.batch = 50}, tb = {.batch = 50, .penalty = &pen};
    eg_epoch_stats st;
    eg_rng r;
    eg_rng_seed(&r, 0);
    CHECK(eg_train_epoch(&a, &oa, &ds, &ta, &r, &st, &err) == EG_OK, "train: %s", err.msg);
    CHECK(eg_train_epoch(&b, &ob, &ds, &tb, &r, &st, &err) == EG_OK, "train: %s", err.msg);
    size_t bad = 0, zeros = 0, selected = 0;
    for (size_t i = 0; i < a.nparam; i++) {
        float want = pen.sel[i] != 0 ? soft(a.params[i], t) : a.params[i];
        bad += memcmp(&want, &b.params[i], sizeof want) != 0;
        selected += pen.sel[i] != 0;
        zeros += pen.sel[i] != 0 && b.params[i] == 0;
    }
    CHECK(bad == 0, "%zu parameters differ from the soft threshold of the plain step", bad);
    CHECK(zeros > selected / 10, "only %zu of %zu weights became exact zeros", zeros, selected);
    eg_optim_free(&oa), eg_optim_free(&ob);
    eg_penalty_free(&pen);
    eg_dataset_free(&ds);
    eg_graph_free(&a), eg_graph_free(&b);
}

/* A known fraction: on all-zero images conv1's weights get no gradient, so
 * Adam leaves them and k steps of prox make them sign(w) max(|w| - k lr F, 0)
 * (iterated in float); the zeros are exactly the weights that started with
 * |w| within k thresholds. The other layers train, and their zeros are all
 * selected weights; biases are never thresholded. */
static void test_prox_known_fraction(void)
{
    eg_set_threads(2);
    eg_graph g;
    eg_error err = {0};
    if (load_simplecnn(&g, 31)) return;
    eg_dataset ds;
    random_data(&ds, 160, 32, 1);
    eg_penalty pen;
    const float lr = 1e-3f, prox = 4.0f, t = lr * prox;
    CHECK(eg_penalty_init(&pen, &g, weighted, 4, 0, 0, prox, &err) == EG_OK, "penalty: %s", err.msg);
    const eg_node *c1 = &g.nodes[1];
    float *want = util_dup_floats(c1->param[0], c1->psize[0]);
    eg_optim o;
    eg_optim_init(&o, EG_OPTIM_ADAM, lr);
    eg_train_opts to = {.batch = 16, .penalty = &pen};
    eg_epoch_stats st;
    eg_rng r;
    eg_rng_seed(&r, 0);
    int steps = 0;
    for (int e = 0; e < 4; e++, steps += 10)
        CHECK(eg_train_epoch(&g, &o, &ds, &to, &r, &st, &err) == EG_OK, "train: %s", err.msg);
    size_t predicted = 0, zeros = 0, bad = 0;
    for (size_t k = 0; k < c1->psize[0]; k++) {
        for (int s = 0; s < steps; s++) want[k] = soft(want[k], t);
        predicted += want[k] == 0;
        zeros += c1->param[0][k] == 0;
        bad += memcmp(&want[k], &c1->param[0][k], sizeof *want) != 0;
    }
    /* 40 steps of 4e-3: |w| <= 0.16 of conv1's U(-1/3, 1/3) weights, about half */
    CHECK(bad == 0 && zeros == predicted, "conv1: %zu weights differ from the formula; %zu zeros, predicted %zu", bad,
          zeros, predicted);
    CHECK(predicted > c1->psize[0] / 4 && predicted < c1->psize[0], "conv1: %zu of %zu zeros predicted", predicted,
          c1->psize[0]);
    size_t bias_zeros = 0;
    for (size_t i = 0; i < g.nparam; i++) bias_zeros += pen.sel[i] == 0 && g.params[i] == 0;
    CHECK(bias_zeros == 0, "%zu biases are exactly zero", bias_zeros);
    free(want);
    eg_optim_free(&o);
    eg_penalty_free(&pen);
    eg_dataset_free(&ds);
    eg_graph_free(&g);
}

/* ------------------------------------------------------------ threshold */

/* Masks exactly the weights with |w| <= F of the chosen layers (weights
 * equal to F included), none of the biases or other layers; a second,
 * higher threshold counts only the newly masked; the masked weights and
 * their optimizer state stay exactly zero through training with a penalty. */
static void test_threshold(void)
{
    eg_set_threads(2);
    eg_graph g;
    eg_error err = {0};
    if (load_simplecnn(&g, 41)) return;
    const float F = 0.03f;
    g.nodes[4].param[0][5] = F, g.nodes[4].param[0][6] = -F, g.nodes[4].param[0][7] = nextafterf(F, 1);
    float *before = util_dup_floats(g.params, g.nparam);
    const int three[3] = {4, 8, 10};  /* conv1 left alone */
    size_t masked = 0, want = 0;
    CHECK(eg_prune_threshold(&g, three, 3, F, &masked, &err) == EG_OK, "threshold: %s", err.msg);
    size_t bad = 0;
    for (int i = 0; i < g.nnodes; i++) {
        const eg_node *nd = &g.nodes[i];
        int chosen = i == 4 || i == 8 || i == 10;
        for (int p = 0; p < nd->nparams; p++)
            for (size_t k = 0; k < nd->psize[p]; k++) {
                size_t at = (size_t)(nd->param[p] - g.params) + k;
                int prune = chosen && p == 0 && fabsf(before[at]) <= F;
                want += prune;
                bad += (nd->mask[p][k] == 0) != prune;
                bad += prune ? nd->param[p][k] != 0 : memcmp(&nd->param[p][k], &before[at], sizeof(float)) != 0;
            }
    }
    CHECK(bad == 0, "%zu parameters masked or changed where |w| <= %g says otherwise", bad, F);
    CHECK(masked == want && want > 1000, "%zu newly masked, want %zu", masked, want);
    CHECK(g.nodes[4].mask[0][5] == 0 && g.nodes[4].mask[0][6] == 0 && g.nodes[4].mask[0][7] == 1,
          "|w| == F must be pruned, the next float above kept");
    size_t again = 0;
    CHECK(eg_prune_threshold(&g, three, 3, 2 * F, &again, &err) == EG_OK, "threshold 2F: %s", err.msg);
    size_t want2 = 0;
    for (size_t i = 0; i < g.nparam; i++) want2 += g.masks[i] == 0;
    CHECK(again == want2 - want, "second threshold: %zu newly masked, want %zu", again, want2 - want);

    eg_dataset ds;
    random_data(&ds, 128, 42, 0);
    eg_penalty pen;
    CHECK(eg_penalty_init(&pen, &g, weighted, 4, 1e-3f, 1e-3f, 1.0f, &err) == EG_OK, "penalty: %s", err.msg);
    for (int type = 0; type < 2; type++) {
        eg_optim o;
        eg_optim_init(&o, type ? EG_OPTIM_ADAM : EG_OPTIM_SGD, 1e-2f);
        o.momentum = type ? 0 : 0.9f;
        eg_train_opts to = {.batch = 32, .shuffle = 1, .penalty = &pen};
        eg_epoch_stats st;
        eg_rng r;
        eg_rng_seed(&r, 43);
        for (int e = 0; e < 2; e++) CHECK(eg_train_epoch(&g, &o, &ds, &to, &r, &st, &err) == EG_OK, "train: %s", err.msg);
        size_t nonzero = 0, state = 0;
        for (size_t i = 0; i < g.nparam; i++)
            if (g.masks[i] == 0) nonzero += g.params[i] != 0, state += o.m[i] != 0 || (o.v && o.v[i] != 0);
        CHECK(nonzero == 0 && state == 0, "%s: %zu masked weights and %zu state entries became non-zero",
              type ? "adam" : "sgd", nonzero, state);
        eg_optim_free(&o);
    }
    eg_penalty_free(&pen);
    CHECK(eg_prune_threshold(&g, three, 3, -0.1, NULL, &err) == EG_ERR_ARG && strstr(err.msg, ">= 0"),
          "a negative value: '%s'", err.msg);
    const int relu[1] = {2};
    CHECK(eg_prune_threshold(&g, relu, 1, 0.1, NULL, &err) == EG_ERR_ARG && strstr(err.msg, "relu1"),
          "a relu node: '%s'", err.msg);
    CHECK(eg_penalty_init(&pen, &g, relu, 1, 0.1f, 0, 0, &err) == EG_ERR_ARG && strstr(err.msg, "relu1"),
          "penalty on a relu node: '%s'", err.msg);
    CHECK(eg_penalty_init(&pen, &g, weighted, 4, -0.1f, 0, 0, &err) == EG_ERR_ARG && strstr(err.msg, "l1"),
          "penalty l1 -0.1: '%s'", err.msg);
    eg_penalty_free(&pen);
    free(before);
    eg_dataset_free(&ds);
    eg_graph_free(&g);
}

/* ----------------------------------------------------------- the runner */

static const char *tmpdir;

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) || w != len ? -1 : 0;
}

static void be32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v; }

/* "<prefix>-images-idx3-ubyte" and "-labels-idx1-ubyte" of n 28x28 images
 * whose label is drawn as a bright bar's row, so the model can learn it. */
static int write_idx(const char *dir, const char *prefix, int n, uint64_t seed)
{
    eg_rng r;
    eg_rng_seed(&r, seed);
    size_t isz = 16 + (size_t)n * 784;
    uint8_t *img = calloc(isz, 1), *lab = calloc(8 + (size_t)n, 1);
    be32(img, 0x803), be32(img + 4, (uint32_t)n), be32(img + 8, 28), be32(img + 12, 28);
    be32(lab, 0x801), be32(lab + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        int y = (int)eg_rng_below(&r, 10);
        lab[8 + i] = (uint8_t)y;
        uint8_t *p = img + 16 + (size_t)i * 784;
        for (int k = 0; k < 784; k++) p[k] = (uint8_t)eg_rng_below(&r, 40);
        for (int c = 4; c < 24; c++) p[(2 + 2 * y) * 28 + c] = 255;
    }
    char path[512];
    int rc = 0;
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    rc |= write_file(path, img, isz);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    rc |= write_file(path, lab, 8 + (size_t)n);
    free(img), free(lab);
    return rc;
}

/* Runs recipe text (written to tmpdir/name) with the tiny data set; returns
 * the status, the log in *log (freed by the caller). */
static eg_status run_text(const char *name, const char *text, const char *save, char **log, eg_error *err)
{
    char path[512], logpath[512], json[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    snprintf(logpath, sizeof logpath, "%s/%s.log", tmpdir, name);
    snprintf(json, sizeof json, "%s/%s.json", tmpdir, name);
    write_file(path, text, strlen(text));
    eg_recipe r;
    eg_status st = eg_recipe_load(&r, path, err);
    *log = NULL;
    if (st) return st;
    FILE *out = fopen(logpath, "w");
    eg_run_opts o = {.seed = 3, .threads = 2, .data = tmpdir, .json = json, .out = out, .save = save};
    st = eg_recipe_run(&r, &o, err);
    fclose(out);
    *log = util_read_text(logpath, NULL);
    return st;
}

static void test_runner(void)
{
    eg_error err = {0};
    char *log = NULL, save[512];
    snprintf(save, sizeof save, "%s/final.edg", tmpdir);
    eg_status st = run_text("ok.recipe",
                            "model models/simplecnn\n"
                            "train epochs=2 optimizer=adam lr=0.003 batch=32 l1=0.0005 l2=0.001 prox=0.5 penalize=conv2,fc1\n"
                            "eval\n"
                            "prune method=threshold value=0.004 layers=fc1,fc2\n"
                            "eval\n"
                            "train epochs=1 optimizer=sgd lr=0.01 momentum=0.9 l1=0.0001\n"
                            "eval\n",
                            save, &log, &err);
    CHECK(st == EG_OK, "recipe run: %s", err.msg);
    if (log) {
        CHECK(strstr(log, "penalty l1 0.0005, l2 0.001, prox 0.5 on the weights of conv2,fc1") != NULL,
              "the train line names the penalty:\n%s", log);
        CHECK(strstr(log, "= cross-entropy ") && strstr(log, " + penalty "), "the epoch line splits the loss:\n%s", log);
        CHECK(strstr(log, "[prune] line 4: threshold, the weights of fc1,fc2 with |w| <= 0.004:") != NULL,
              "threshold header:\n%s", log);
        CHECK(strstr(log, "  layer      weights  non-zero  sparsity    MACs left") && strstr(log, "bytes with sparse weights in CSR"),
              "threshold reports the magnitude table:\n%s", log);
        CHECK(strstr(log, "penalty l1 0.0001 on the weights of every conv2d and linear") != NULL,
              "the second train stage penalises every layer:\n%s", log);
    }
    free(log);
    char json[512];
    snprintf(json, sizeof json, "%s/ok.recipe.json", tmpdir);
    char *j = util_read_text(json, NULL);
    CHECK(j && strstr(j, "\"l1\": 0.0005,") && strstr(j, "\"penalize\": [\"conv2\", \"fc1\"]") &&
              strstr(j, "\"method\": \"threshold\"") && strstr(j, "\"value\": 0.004,") && strstr(j, "\"penalty\": "),
          "the report has the penalty and the threshold: %.400s", j ? j : "(none)");
    free(j);
    /* the saved model: the threshold's masks hold their zeros through the last stage */
    eg_graph g;
    if (eg_model_load(&g, save, &err) == EG_OK) {
        size_t masked = 0, bad = 0;
        for (size_t i = 0; g.masks && i < g.nparam; i++) masked += g.masks[i] == 0, bad += g.masks[i] == 0 && g.params[i] != 0;
        CHECK(g.masks && masked > 0 && bad == 0, "saved model: %zu masked, %zu of them non-zero", masked, bad);
        CHECK(g.history && strstr(g.history, "penalty l1 0.0005, l2 0.001, prox 0.5 on the weights of conv2,fc1") &&
                  strstr(g.history, "prune threshold, the weights of fc1,fc2 with |w| <= 0.004"),
              "history: %s", g.history ? g.history : "(none)");
        eg_graph_free(&g);
    } else {
        CHECK(0, "load %s: %s", save, err.msg);
    }
}

/* Each bad recipe fails with the file, line and column and what is wrong. */
static void test_bad_recipes(void)
{
    static const struct { const char *line, *msg; } bad[] = {
        {"train l1=-0.1", "l1: expected a non-negative number, found '-0.1'"},
        {"train l2=-1e-3", "l2: expected a non-negative number, found '-1e-3'"},
        {"train prox=x", "prox: expected a non-negative number, found 'x'"},
        {"train l1=1e40", "l1: expected a penalty strength below 1e30"},
        {"train l2=nan", "l2: expected a non-negative number"},
        {"train penalize=conv1", "no penalty to apply; give l1=, l2= or prox="},
        {"train l1=0.1 l1=0.2", "key 'l1' given twice"},
        {"eval l1=0.1", "eval has no key 'l1'"},
        {"prune l1=0.1", "prune has no key 'l1'"},
        {"train value=0.1", "train has no key 'value'"},
        {"prune method=threshold", "prune method=threshold needs value="},
        {"prune method=threshold value=-0.01", "value: expected a non-negative number, found '-0.01'"},
        {"prune method=threshold value=0.1 amount=0.5", "not amount=, layer= or scope="},
        {"prune method=threshold value=0.1 layer=conv1", "not amount=, layer= or scope="},
        {"prune method=magnitude amount=0.5 value=0.1", "value= goes with method=threshold"},
        {"prune method=l1 layer=conv1 amount=1 value=0.1", "value= goes with method=threshold"},
        {"prune method=thresh value=0.1", "magnitude or threshold (weights), found 'thresh'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[512], path[512];
        snprintf(text, sizeof text, "model models/simplecnn\n%s\n", bad[i].line);
        snprintf(path, sizeof path, "%s/bad%zu.recipe", tmpdir, i);
        write_file(path, text, strlen(text));
        eg_recipe r;
        eg_error err = {0};
        char where[600];
        snprintf(where, sizeof where, "%s:2:", path);
        eg_status st = eg_recipe_load(&r, path, &err);
        CHECK(st == EG_ERR_RECIPE && strstr(err.msg, bad[i].msg) && strstr(err.msg, where),
              "'%s': status %d, '%s'; want '%s' at %s", bad[i].line, st, err.msg, bad[i].msg, where);
    }
    /* names checked against the model before any data is read or training starts */
    static const struct { const char *line, *msg; } names[] = {
        {"train l1=0.1 penalize=conv1,conv9", ":3: penalize=conv1,conv9: 'conv9' is not a node of the model"},
        {"train l2=0.1 penalize=relu1", ":3: penalize=relu1: 'relu1' is not a conv2d or linear node"},
        {"train prox=0.1 penalize=fc1,fc1", ":3: penalize=fc1,fc1 names 'fc1' twice"},
        {"prune method=threshold value=0.1 layers=fc9", ":3: layers=fc9: 'fc9' is not a node of the model"},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char text[512], path[512];
        snprintf(text, sizeof text, "model models/simplecnn\ndata /nonexistent/folder\n%s\n", names[i].line);
        snprintf(path, sizeof path, "%s/names%zu.recipe", tmpdir, i);
        write_file(path, text, strlen(text));
        eg_recipe r;
        eg_error err = {0};
        eg_status st = eg_recipe_load(&r, path, &err);
        FILE *null = fopen("/dev/null", "w");
        eg_run_opts o = {.threads = 1, .out = null};
        if (!st) st = eg_recipe_run(&r, &o, &err);
        fclose(null);
        CHECK(st == EG_ERR_RECIPE && strstr(err.msg, names[i].msg) && strstr(err.msg, path),
              "'%s': status %d, '%s'; want '%s'", names[i].line, st, err.msg, names[i].msg);
    }
}

int main(void)
{
    char dir[] = "/tmp/eg_penalty_XXXXXX";
    tmpdir = mkdtemp(dir);
    if (!tmpdir || write_idx(tmpdir, "train", 320, 1) || write_idx(tmpdir, "t10k", 100, 2)) {
        fprintf(stderr, "cannot make the test data set\n");
        return 1;
    }
    static const char *const cases[] = {"penalty_adam", "penalty_sgd", "penalty_prox"};
    for (int t = 1; t <= 2; t++)
        for (int c = 0; c < 3; c++) test_vs_pytorch(cases[c], t);
    test_finite_differences();
    test_step_adds_gradient(1);
    test_step_adds_gradient(2);
    eg_set_threads(2);
    test_prox_one_step();
    test_prox_known_fraction();
    test_threshold();
    test_runner();
    test_bad_recipes();
    /* tidy up the temporary folder */
    util_remove_tree(tmpdir);
    return check_report("penalty");
}
