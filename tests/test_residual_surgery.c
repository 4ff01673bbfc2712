/* Dependency groups and surgery on the residual model with batchnorm
 * (models/resnet_small), in inference mode: removing a group's channels
 * computes what the unpruned model computes with those channels silenced.
 * A channel is silenced by zeroing the scale and shift of every batchnorm
 * in its group: the batchnorm then outputs exactly 0 on it, relu and pooling
 * keep 0, an add of two zeros is 0, gap of 0 is 0, so every consumer sees
 * zeros there, which is what removing its input slice computes. Also: the
 * multi-input spec syntax and its errors. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "util.h"

#define BATCH 5
#define CLASSES 10
#define PIXELS (28 * 28)

static int load(eg_graph *g, uint64_t seed)
{
    eg_error err = {0};
    eg_status st = eg_graph_load_spec(g, "models/resnet_small", &err);
    CHECK(st == EG_OK, "loading models/resnet_small: %s", err.msg);
    if (st) return -1;
    eg_rng r;
    eg_rng_seed(&r, seed);
    eg_graph_init_params(g, &r);
    /* batchnorms that matter: scales, shifts and statistics away from 1 and 0 */
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *nd = &g->nodes[i];
        if (nd->op != EG_OP_BATCHNORM2D) continue;
        for (size_t k = 0; k < nd->psize[0]; k++) {
            nd->param[0][k] = eg_rng_range(&r, 0.5f, 1.5f);
            nd->param[1][k] = eg_rng_range(&r, -0.5f, 0.5f);
            nd->buffer[0][k] = eg_rng_range(&r, -0.3f, 0.3f);
            nd->buffer[1][k] = eg_rng_range(&r, 0.5f, 2.0f);
        }
    }
    return 0;
}

static void forward(eg_graph *g, const float *x, float *logits, int threads)
{
    eg_set_threads(threads);
    eg_status st = eg_graph_prepare(g, BATCH, 0, threads);
    CHECK(st == EG_OK, "prepare failed: %d", st);
    if (st) return;
    eg_graph_forward(g, x, BATCH);
    memcpy(logits, eg_graph_y(g), BATCH * CLASSES * sizeof(float));
}

static int node(const eg_graph *g, const char *name)
{
    int i = eg_graph_find(g, name);
    CHECK(i >= 0, "no node %s", name);
    return i;
}

/* The group's members as "name:role name:role ..." (roles o, i, p). */
static void members_text(const eg_graph *g, const eg_dep_group *grp, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int m = 0; m < grp->nmembers && o < len; m++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s:%c", m ? " " : "", g->nodes[grp->members[m].node].name,
                              "oip"[grp->members[m].role]);
}

/* Prunes `count` channels of root's group (every third from 1) and compares
 * with the unpruned model silenced on them; expect: the group's members. */
static void check_group(const char *root, const char *expect, int count, uint64_t seed)
{
    eg_graph g, masked;
    if (load(&g, seed)) return;
    if (load(&masked, seed)) {
        eg_graph_free(&g);
        return;
    }
    eg_dep_group grp;
    eg_error err = {0};
    eg_status st = eg_depgroup_build(&g, node(&g, root), &grp, &err);
    CHECK(st == EG_OK, "group of %s: %s", root, err.msg);
    if (st) goto done;
    char got[512];
    members_text(&g, &grp, got, sizeof got);
    CHECK(!strcmp(got, expect), "group of %s: members '%s', expected '%s'", root, got, expect);

    int C = grp.channels, keep[64], nkeep = 0, gone[64] = {0};
    for (int k = 0; k < count; k++) gone[(1 + 3 * k) % C] = 1;
    for (int c = 0; c < C; c++)
        if (!gone[c]) keep[nkeep++] = c;
    /* silence the removed channels in the copy: every batchnorm of the group */
    int bns = 0;
    for (int m = 0; m < grp.nmembers; m++) {
        eg_node *nd = &masked.nodes[grp.members[m].node];
        if (nd->op != EG_OP_BATCHNORM2D) continue;
        bns++;
        for (int c = 0; c < C; c++)
            if (gone[c]) nd->param[0][c] = nd->param[1][c] = 0;
    }
    CHECK(bns > 0, "group of %s has no batchnorm", root);
    /* the running statistics the pruned batchnorms must keep */
    float before_rm[64], before_rv[64];
    int bn = -1;
    for (int m = 0; m < grp.nmembers && bn < 0; m++)
        if (g.nodes[grp.members[m].node].op == EG_OP_BATCHNORM2D) bn = grp.members[m].node;
    for (int c = 0; bn >= 0 && c < C; c++) before_rm[c] = g.nodes[bn].buffer[0][c], before_rv[c] = g.nodes[bn].buffer[1][c];

    st = eg_surgery_keep(&g, &grp, keep, nkeep, &err);
    CHECK(st == EG_OK, "surgery on %s: %s", root, err.msg);
    if (st) goto done;
    for (int m = 0; m < grp.nmembers; m++) {
        const eg_node *nd = &g.nodes[grp.members[m].node];
        int ch = grp.members[m].role == EG_DEP_IN ? nd->in_shape.c : nd->out_shape.c;
        CHECK(ch == nkeep * (grp.members[m].role == EG_DEP_IN ? grp.members[m].block : 1),
              "after pruning %s: %s has %d channels on its %s, expected %d", root, nd->name, ch,
              grp.members[m].role == EG_DEP_IN ? "input" : "output", nkeep);
    }
    size_t bad = 0;
    for (int j = 0; bn >= 0 && j < nkeep; j++)
        bad += g.nodes[bn].buffer[0][j] != before_rm[keep[j]] || g.nodes[bn].buffer[1][j] != before_rv[keep[j]];
    CHECK(bad == 0, "after pruning %s: %zu running statistics of %s are not the kept channels'", root, bad,
          bn >= 0 ? g.nodes[bn].name : "?");
    CHECK(g.nbuffer < masked.nbuffer, "after pruning %s: %zu buffer values, before %zu", root, g.nbuffer, masked.nbuffer);

    float *x = malloc(BATCH * PIXELS * sizeof *x), a[BATCH * CLASSES], b[BATCH * CLASSES];
    eg_rng r;
    eg_rng_seed(&r, seed + 7);
    for (int i = 0; i < BATCH * PIXELS; i++) x[i] = eg_rng_range(&r, -1.0f, 2.5f);
    for (int threads = 1; threads <= 2; threads++) {
        forward(&masked, x, a, threads);
        forward(&g, x, b, threads);
        float d = util_max_abs_diff(a, b, BATCH * CLASSES);
        CHECK(d <= 1e-6f, "pruning %d of %d channels of %s (%d threads): logits differ from the silenced model's by %g",
              count, C, root, threads, d);
    }
    /* the pruned model still trains: a forward and backward in training mode */
    if (!eg_graph_prepare(&g, BATCH, 1, 2)) {
        float dout[BATCH * CLASSES];
        for (int i = 0; i < BATCH * CLASSES; i++) dout[i] = 0.01f * (float)(i % 7);
        eg_graph_forward(&g, x, BATCH);
        eg_graph_zero_grad(&g);
        eg_graph_backward(&g, dout, BATCH);
        int finite = 1;
        for (size_t k = 0; k < g.nparam; k++) finite &= isfinite(g.grads[k]);
        CHECK(finite, "after pruning %s: training gives non-finite gradients", root);
    }
    /* and its spec parses back to the same shapes */
    size_t len = eg_graph_write_spec(&g, NULL, 0);
    char *text = malloc(len + 1);
    eg_graph_write_spec(&g, text, len + 1);
    eg_graph back;
    st = eg_graph_parse_spec(&back, text, "pruned", &err);
    CHECK(st == EG_OK && back.nparam == g.nparam && back.nbuffer == g.nbuffer, "pruned spec does not parse back: %s",
          st ? err.msg : "sizes differ");
    if (!st) eg_graph_free(&back);
    free(text);
    free(x);
done:
    eg_graph_free(&g);
    eg_graph_free(&masked);
}

static void expect_fail(const char *spec, const char *want1, const char *want2)
{
    eg_graph g;
    eg_error err = {0};
    eg_status st = eg_graph_parse_spec(&g, spec, "t.spec", &err);
    CHECK(st == EG_ERR_SPEC, "spec accepted, expected an error with '%s'", want1);
    if (st == EG_OK) {
        eg_graph_free(&g);
        return;
    }
    CHECK(strstr(err.msg, want1) && (!want2 || strstr(err.msg, want2)), "message '%s' lacks '%s' or '%s'", err.msg, want1,
          want2 ? want2 : "");
}

static void test_spec_syntax(void)
{
    /* an add writes back as it was given */
    const char *spec = "input x shape=2x4x4\nconv2d c out=2 kernel=3 pad=1\nadd r in=c,x\nrelu q\ngap g\n";
    eg_graph g;
    eg_error err = {0};
    eg_status st = eg_graph_parse_spec(&g, spec, "t.spec", &err);
    CHECK(st == EG_OK, "add spec: %s", err.msg);
    if (!st) {
        const eg_node *r = &g.nodes[2];
        CHECK(r->op == EG_OP_ADD && r->ninputs == 2 && r->inputs[0] == 1 && r->inputs[1] == 0, "add r: inputs %d,%d of %d",
              r->inputs[0], r->inputs[1], r->ninputs);
        char buf[512];
        eg_graph_write_spec(&g, buf, sizeof buf);
        CHECK(strstr(buf, "add       r      in=c,x\n") != NULL, "written spec: %s", buf);
        /* pruning c: its channels are added to the data, which cannot lose them */
        eg_dep_group grp;
        st = eg_depgroup_build(&g, 1, &grp, &err);
        CHECK(st == EG_ERR_ARG && strstr(err.msg, "model input"), "pruning c: %s", st ? err.msg : "accepted");
        eg_graph_free(&g);
    }
    expect_fail("input x shape=2x4x4\nconv2d c out=3 kernel=3 pad=1\nadd r in=c,x\ngap g\n", "t.spec:3: add r: inputs of different shapes",
                "c is 3x4x4, x is 2x4x4");
    expect_fail("input x shape=2x4x4\nconv2d c out=2 kernel=3 pad=1\nadd r\ngap g\n", "t.spec:3:1: op add takes 2 inputs, found 1",
                NULL);
    expect_fail("input x shape=2x4x4\nconv2d c out=2 kernel=3 pad=1\nadd r in=c,x,c\ngap g\n", "op add takes 2 inputs, found more",
                NULL);
    expect_fail("input x shape=2x4x4\nconv2d c out=2 kernel=3 pad=1\nadd r in=c,y\ngap g\n", "t.spec:3:12: in: no node named 'y'",
                NULL);
    expect_fail("input x shape=2x4x4\nconv2d c out=2 kernel=3 pad=1\nrelu r in=c,x\ngap g\n", "op relu takes 1 input", NULL);
    expect_fail("input x shape=2x4x4\nbatchnorm2d b out=3\ngap g\n", "op batchnorm2d has no attribute 'out'", NULL);
}

/* The classifier's outputs stay, and so does anything coupled to them. */
static void test_protected(void)
{
    eg_graph g;
    if (load(&g, 3)) return;
    eg_dep_group grp;
    eg_error err = {0};
    eg_status st = eg_depgroup_build(&g, node(&g, "fc"), &grp, &err);
    CHECK(st == EG_ERR_ARG && strstr(err.msg, "model's output"), "pruning fc: %s", st ? err.msg : "accepted");
    eg_graph_free(&g);
    const char *spec = "input x shape=1x4x4\nconv2d c out=3 kernel=3 pad=1\ngap g\nlinear a out=5\nlinear b out=5\n"
                       "add y in=a,b\n";
    st = eg_graph_parse_spec(&g, spec, "t.spec", &err);
    CHECK(st == EG_OK, "%s", err.msg);
    if (st) return;
    st = eg_depgroup_build(&g, 3, &grp, &err);
    CHECK(st == EG_ERR_ARG && strstr(err.msg, "reach the model output"), "pruning a: %s", st ? err.msg : "accepted");
    eg_graph_free(&g);
}

/* Sensitivity analysis evaluates copies of the model: with its running
 * statistics, so the unpruned figures are the model's own. */
static void test_sensitivity_copy(void)
{
    eg_graph g;
    if (load(&g, 21)) return;
    enum { N = 40 };
    eg_dataset ds;
    eg_rng r;
    eg_rng_seed(&r, 22);
    util_random_dataset(&ds, N, &r, -0.5f, 2.5f, CLASSES);
    double acc, loss;
    eg_error err = {0};
    eg_set_threads(1);
    CHECK(eg_evaluate(&g, &ds, 10, &acc, &loss, &err) == EG_OK, "%s", err.msg);
    double ratios[1] = {0.25};
    eg_sensitivity_opts o = {.method = "l1", .ratios = ratios, .nratios = 1, .layers = "conv1a", .batch = 10, .threads = 1};
    eg_sensitivity s;
    eg_status st = eg_sensitivity_run(&g, &ds, &o, &s, &err);
    CHECK(st == EG_OK, "sensitivity: %s", err.msg);
    if (!st) {
        CHECK(s.dense_loss == loss && s.dense_accuracy == acc, "sensitivity's unpruned loss %.9g, the model's %.9g",
              s.dense_loss, loss);
        eg_sensitivity_free(&s);
    }
    free(ds.x), free(ds.y);
    eg_graph_free(&g);
}

/* Folding the batchnorms into the convs before them computes what the
 * model computes in inference, with six nodes fewer and their parameters gone. */
static void test_fold(void)
{
    eg_graph g, f;
    eg_error err = {0};
    if (load(&g, 21)) return;
    if (eg_graph_clone(&f, &g, &err)) {
        CHECK(0, "clone: %s", err.msg);
        eg_graph_free(&g);
        return;
    }
    int folded = 0;
    CHECK(eg_graph_fold_batchnorm(&f, &folded, &err) == EG_OK, "fold: %s", err.msg);
    /* scale and shift of 3 x 8 and 3 x 16 channels, and every running statistic */
    CHECK(folded == 6 && f.nnodes == g.nnodes - 6 && f.nparam == g.nparam - 2 * (3 * 8 + 3 * 16) && f.nbuffer == 0,
          "fold: %d folded, %d nodes of %d, %zu parameters of %zu, %zu statistics", folded, f.nnodes, g.nnodes, f.nparam,
          g.nparam, f.nbuffer);
    for (int i = 0; i < f.nnodes; i++) CHECK(f.nodes[i].op != EG_OP_BATCHNORM2D, "fold: %s is left", f.nodes[i].name);
    eg_rng r;
    eg_rng_seed(&r, 22);
    float x[BATCH * PIXELS], a[BATCH * CLASSES], b[BATCH * CLASSES];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = eg_rng_range(&r, -2.5f, 2.5f);
    forward(&g, x, a, 1);
    forward(&f, x, b, 1);
    check_close("folded", b, a, BATCH * CLASSES, 1e-5, 1e-5);
    eg_graph_free(&g), eg_graph_free(&f);
}

int main(void)
{
    /* an inner conv: its batchnorm and the next conv's inputs */
    check_group("conv1a", "conv1a:o bn1a:p conv1b:i", 3, 11);
    check_group("conv3a", "conv3a:o bn3a:p conv3b:i", 5, 12);
    /* the residual groups: the stem and block 1's second conv feed res1 */
    check_group("conv0", "conv0:o bn0:p conv1a:i bn1b:p conv1b:o conv2:i", 3, 13);
    check_group("conv1b", "conv1b:o bn1b:p conv1a:i conv2:i bn0:p conv0:o", 2, 14);
    /* the downsample and block 2's second conv feed res3, and gap feeds fc */
    check_group("conv2", "conv2:o bn2:p conv3a:i bn3b:p conv3b:o fc:i", 6, 15);
    test_spec_syntax();
    test_protected();
    test_sensitivity_copy();
    test_fold();
    return check_report("residual_surgery");
}
