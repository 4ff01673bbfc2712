/* Network slimming and group scores: the bn_scale criterion scores a
 * channel by |gamma| of the batchnorms in its group (both of a coupled
 * residual group's), a norm criterion sums over a coupled group's producers,
 * groups without a batchnorm are refused with a clear error (by the library
 * and by a recipe, before anything trains), and the L1 penalty on
 * batchnorm scales adds l1 * sign(gamma) to the scales' gradient only. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include "util.h"

static int load(eg_graph *g, const char *spec, uint64_t seed)
{
    eg_error err = {0};
    if (eg_graph_load_spec(g, spec, &err)) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    eg_rng r;
    eg_rng_seed(&r, seed);
    eg_graph_init_params(g, &r);
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_BATCHNORM2D)
            for (size_t k = 0; k < g->nodes[i].psize[0]; k++)
                g->nodes[i].param[0][k] = eg_rng_range(&r, -1.5f, 1.5f);  /* signs too: scores are |gamma| */
    return 0;
}

static eg_status scores_of(eg_graph *g, const char *root, const char *method, double *scores, eg_dep_group *grp,
                           eg_error *err)
{
    eg_status st = eg_depgroup_build(g, eg_graph_find(g, root), grp, err);
    if (st) return st;
    eg_rng r;
    eg_rng_seed(&r, 1);
    return eg_group_scores(g, grp, eg_criterion_find(method), scores, &r, err);
}

static void test_scores(void)
{
    eg_graph g;
    if (load(&g, "models/resnet_small", 3)) return;
    double s[64], want[64];
    eg_dep_group grp;
    eg_error err = {0};
    CHECK(eg_criterion_find("bn_scale") != NULL && strstr(eg_criterion_names(), "bn_scale"), "no bn_scale criterion: %s",
          eg_criterion_names());
    /* an inner conv: bn1a's |gamma| */
    CHECK(scores_of(&g, "conv1a", "bn_scale", s, &grp, &err) == EG_OK, "%s", err.msg);
    const eg_node *bn1a = &g.nodes[eg_graph_find(&g, "bn1a")];
    size_t bad = 0;
    for (int c = 0; c < 8; c++) bad += s[c] != fabs((double)bn1a->param[0][c]);
    CHECK(bad == 0, "bn_scale on conv1a: %zu scores are not |bn1a.gamma|", bad);
    /* the coupled group: |gamma| of bn0 plus |gamma| of bn1b, from either root */
    const eg_node *bn0 = &g.nodes[eg_graph_find(&g, "bn0")], *bn1b = &g.nodes[eg_graph_find(&g, "bn1b")];
    for (int c = 0; c < 8; c++) want[c] = fabs((double)bn0->param[0][c]) + fabs((double)bn1b->param[0][c]);
    const char *roots[2] = {"conv0", "conv1b"};
    for (int k = 0; k < 2; k++) {
        CHECK(scores_of(&g, roots[k], "bn_scale", s, &grp, &err) == EG_OK, "%s", err.msg);
        bad = 0;
        for (int c = 0; c < 8; c++) bad += fabs(s[c] - want[c]) > 1e-12;
        CHECK(bad == 0, "bn_scale from %s: %zu scores are not |bn0.gamma| + |bn1b.gamma|", roots[k], bad);
    }
    /* l1 on the coupled group: conv0's and conv1b's filter norms added */
    double a[8], b[8];
    eg_importance_l1(&g, eg_graph_find(&g, "conv0"), a);
    eg_importance_l1(&g, eg_graph_find(&g, "conv1b"), b);
    CHECK(scores_of(&g, "conv1b", "l1", s, &grp, &err) == EG_OK, "%s", err.msg);
    bad = 0;
    for (int c = 0; c < 8; c++) bad += fabs(s[c] - (a[c] + b[c])) > 1e-9 * (a[c] + b[c]);
    CHECK(bad == 0, "l1 on the coupled group: %zu scores are not the sum of conv0's and conv1b's norms", bad);
    /* one producer: its own norms, bit for bit */
    CHECK(scores_of(&g, "conv3a", "l1", s, &grp, &err) == EG_OK, "%s", err.msg);
    double c3[16];
    eg_importance_l1(&g, eg_graph_find(&g, "conv3a"), c3);
    CHECK(!memcmp(s, c3, sizeof c3), "l1 on conv3a alone differs from eg_importance_l1");
    eg_graph_free(&g);

    /* no batchnorm in the group */
    if (load(&g, "models/simplecnn", 4)) return;
    eg_status st = scores_of(&g, "conv1", "bn_scale", s, &grp, &err);
    CHECK(st == EG_ERR_ARG && strstr(err.msg, "bn_scale") && strstr(err.msg, "no batchnorm2d follows 'conv1'"),
          "bn_scale on simplecnn: %s", st ? err.msg : "accepted");
    eg_graph_free(&g);
}

/* A recipe names bn_scale for a layer without a batchnorm: refused before training. */
static void test_recipe_check(void)
{
    char dir[] = "/tmp/eg_slimming.XXXXXX", path[256];
    if (!mkdtemp(dir)) return;
    snprintf(path, sizeof path, "%s/bad.recipe", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "model models/simplecnn\ndata /nonexistent\ntrain epochs=1 optimizer=adam lr=0.001 batch=64 shuffle=yes\n"
               "prune method=bn_scale layer=conv2 amount=2\n");
    fclose(f);
    eg_recipe r;
    eg_error err = {0};
    eg_status st = eg_recipe_load(&r, path, &err);
    CHECK(st == EG_OK, "recipe: %s", err.msg);
    if (!st) {
        FILE *out = fopen("/dev/null", "w");
        eg_run_opts o = {.seed = 0, .threads = 1, .out = out};
        st = eg_recipe_run(&r, &o, &err);
        fclose(out);
        /* the data folder does not exist: a check that ran first names the prune line, not the data */
        CHECK(st == EG_ERR_RECIPE && strstr(err.msg, "bad.recipe:4:") && strstr(err.msg, "no batchnorm2d follows 'conv2'"),
              "bn_scale without a batchnorm: %s", st ? err.msg : "ran");
    }
    /* penalize= takes batchnorms, not other ops */
    f = fopen(path, "w");
    fprintf(f, "model models/resnet_small\ndata /nonexistent\n"
               "train epochs=1 optimizer=adam lr=0.001 batch=64 shuffle=yes l1=0.001 penalize=bn0,relu0\n");
    fclose(f);
    st = eg_recipe_load(&r, path, &err);
    if (!st) {
        FILE *out = fopen("/dev/null", "w");
        eg_run_opts o = {.seed = 0, .threads = 1, .out = out};
        st = eg_recipe_run(&r, &o, &err);
        fclose(out);
    }
    CHECK(st == EG_ERR_RECIPE && strstr(err.msg, "'relu0' is not a conv2d or linear node") && strstr(err.msg, "batchnorm2d"),
          "penalize=bn0,relu0: %s", st ? err.msg : "ran");
    unlink(path);
    rmdir(dir);
}

/* One SGD step with l1 on the batchnorm scales moves each scale by
 * -lr (g + l1 sign(gamma)) and every other parameter by -lr g, where g is the
 * gradient of the cross-entropy alone. */
static void test_penalty(void)
{
    eg_graph g, h;
    if (load(&g, "models/resnet_small", 5) || load(&h, "models/resnet_small", 5)) return;
    enum { N = 16 };
    eg_dataset ds;
    eg_rng r;
    eg_rng_seed(&r, 6);
    util_random_dataset(&ds, N, &r, -0.5f, 2.5f, 10);
    int bns[6], nb = 0;
    for (int i = 0; i < g.nnodes; i++)
        if (g.nodes[i].op == EG_OP_BATCHNORM2D) bns[nb++] = i;
    eg_penalty pen;
    eg_error err = {0};
    const float l1 = 0.05f, lr = 0.1f;
    CHECK(eg_penalty_init(&pen, &g, bns, nb, l1, 0, 0, &err) == EG_OK, "penalty: %s", err.msg);
    size_t sel = 0;
    for (size_t k = 0; k < pen.n; k++) sel += pen.sel[k] != 0;
    CHECK(sel == 8 + 8 + 8 + 16 + 16 + 16, "the penalty selects %zu parameters, expected the 72 scales", sel);
    float *before = malloc(g.nparam * sizeof *before);
    memcpy(before, g.params, g.nparam * sizeof *before);
    eg_set_threads(2);
    eg_optim o1, o2;
    eg_optim_init(&o1, EG_OPTIM_SGD, lr);
    eg_optim_init(&o2, EG_OPTIM_SGD, lr);
    eg_train_opts with = {.batch = N, .penalty = &pen}, without = {.batch = N};
    eg_epoch_stats st;
    CHECK(eg_train_epoch(&g, &o1, &ds, &with, &r, &st, &err) == EG_OK, "%s", err.msg);
    CHECK(st.penalty > 0, "no penalty term reported");
    CHECK(eg_train_epoch(&h, &o2, &ds, &without, &r, &st, &err) == EG_OK, "%s", err.msg);
    size_t bad = 0, moved = 0;
    for (size_t k = 0; k < g.nparam; k++) {
        float w = before[k], sign = (float)((w > 0) - (w < 0));
        /* h took -lr g, so g's step should be that minus lr l1 sign(w) on the scales */
        float want = pen.sel[k] != 0 ? h.params[k] - lr * (l1 * sign) : h.params[k];
        bad += fabsf(g.params[k] - want) > 1e-6f + 1e-5f * fabsf(want);
        moved += pen.sel[k] != 0 && g.params[k] != h.params[k];
    }
    CHECK(bad == 0, "%zu parameters did not take the penalised step", bad);
    CHECK(moved == sel, "%zu of %zu scales moved differently with the penalty", moved, sel);
    free(before), free(ds.x), free(ds.y);
    eg_optim_free(&o1), eg_optim_free(&o2);
    eg_penalty_free(&pen);
    eg_graph_free(&g), eg_graph_free(&h);
}

/* Sensitivity analysis with bn_scale takes exactly the layers whose group
 * has a batchnorm, and a model without one is a clear error. */
static void test_sensitivity_layers(void)
{
    eg_graph g;
    if (load(&g, "models/resnet_small", 3)) return;
    int *nodes = malloc((size_t)g.nnodes * sizeof *nodes), count = 0, want = 0;
    eg_error err = {0};
    for (int i = 0; i < g.nnodes; i++) {
        eg_dep_group grp;
        eg_error e2;
        if (eg_depgroup_build(&g, i, &grp, &e2)) continue;
        for (int m = 0; m < grp.nmembers; m++)
            if (g.nodes[grp.members[m].node].op == EG_OP_BATCHNORM2D) {
                want++;
                break;
            }
    }
    CHECK(eg_sensitivity_layers(&g, "bn_scale", NULL, nodes, &count, &err) == EG_OK, "%s", err.msg);
    CHECK(want > 0 && count == want, "bn_scale sensitivity: %d layers, expected the %d with a batchnorm", count, want);
    for (int k = 0; k < count; k++)
        CHECK(g.nodes[nodes[k]].op == EG_OP_CONV2D, "bn_scale sensitivity takes %s", g.nodes[nodes[k]].name);
    eg_graph_free(&g);
    if (load(&g, "models/simplecnn", 3) == 0) {
        CHECK(eg_sensitivity_layers(&g, "bn_scale", NULL, nodes, &count, &err) == EG_ERR_ARG &&
                  strstr(err.msg, "bn_scale"),
              "bn_scale sensitivity of a model without batchnorms: %s", err.msg);
        eg_graph_free(&g);
    }
    free(nodes);
}

int main(void)
{
    test_sensitivity_layers();
    test_scores();
    test_recipe_check();
    test_penalty();
    return check_report("slimming");
}
