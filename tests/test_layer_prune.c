/* Layer pruning on models/deepcnn: a layer set to the exact identity is
 * removed with no change to the outputs, the graph stays valid (shapes,
 * parameters, masks of the other layers, its spec), the output layer and
 * shape-changing layers are refused, and the ranking by accuracy drop
 * evaluates each candidate alone on a copy. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"

#define BATCH 4

static void load(eg_graph *g)
{
    eg_error err = {0};
    CHECK(eg_graph_load_spec(g, "models/deepcnn", &err) == EG_OK, "%s", err.msg);
    eg_rng r;
    eg_rng_seed(&r, 2);
    eg_graph_init_params(g, &r);
}

static void forward(eg_graph *g, const float *x, float *out)
{
    CHECK(eg_graph_prepare(g, BATCH, 0, 1) == EG_OK, "prepare");
    eg_graph_forward(g, x, BATCH);
    memcpy(out, eg_graph_y(g), BATCH * 10 * sizeof *out);
}

/* Weights that make a conv (3x3, pad 1) or linear node compute its input. */
static void set_identity(eg_graph *g, const char *name)
{
    eg_node *nd = &g->nodes[eg_graph_find(g, name)];
    memset(nd->param[0], 0, nd->psize[0] * sizeof(float));
    memset(nd->param[1], 0, nd->psize[1] * sizeof(float));
    size_t in = nd->psize[0] / (size_t)nd->out / (nd->op == EG_OP_CONV2D ? 9 : 1);
    for (int o = 0; o < nd->out; o++)
        nd->param[0][nd->op == EG_OP_CONV2D ? ((size_t)o * in + o) * 9 + 4 : (size_t)o * in + o] = 1;
}

static void test_identity_removed(void)
{
    eg_graph g;
    load(&g);
    set_identity(&g, "conv3");
    set_identity(&g, "fc2");
    eg_error err = {0};
    int fc1 = eg_graph_find(&g, "fc1");
    CHECK(eg_graph_enable_masks(&g, &err) == EG_OK, "%s", err.msg);
    int sel[] = {eg_graph_find(&g, "conv1"), fc1};
    CHECK(eg_prune_magnitude(&g, sel, 2, 0.5, 1, &err) == EG_OK, "%s", err.msg);
    size_t fc1n = g.nodes[fc1].psize[0];
    float *fc1w = malloc(fc1n * sizeof *fc1w), *fc1m = malloc(fc1n * sizeof *fc1m);
    memcpy(fc1w, g.nodes[fc1].param[0], fc1n * sizeof *fc1w);
    memcpy(fc1m, g.nodes[fc1].mask[0], fc1n * sizeof *fc1m);
    float x[BATCH * 784], before[BATCH * 10], after[BATCH * 10];
    eg_rng r;
    eg_rng_seed(&r, 4);
    for (int i = 0; i < BATCH * 784; i++) x[i] = eg_rng_range(&r, -1, 2);
    forward(&g, x, before);
    size_t p0 = eg_graph_param_count(&g);
    int n0 = g.nnodes;
    CHECK(eg_layer_remove(&g, eg_graph_find(&g, "conv3"), &err) == EG_OK, "remove conv3: %s", err.msg);
    CHECK(eg_layer_remove(&g, eg_graph_find(&g, "fc2"), &err) == EG_OK, "remove fc2: %s", err.msg);
    CHECK(g.nnodes == n0 - 2 && eg_graph_find(&g, "conv3") < 0 && eg_graph_find(&g, "fc2") < 0, "nodes left: %d", g.nnodes);
    CHECK(eg_graph_param_count(&g) == p0 - 2320 - 4160, "params %zu, want %zu", eg_graph_param_count(&g), p0 - 6480);
    int relu3 = eg_graph_find(&g, "relu3"), relu6 = eg_graph_find(&g, "relu6");
    CHECK(g.nodes[relu3].inputs[0] == eg_graph_find(&g, "relu2"), "relu3 reads %d", g.nodes[relu3].inputs[0]);
    CHECK(g.nodes[relu6].inputs[0] == eg_graph_find(&g, "relu5"), "relu6 reads %d", g.nodes[relu6].inputs[0]);
    fc1 = eg_graph_find(&g, "fc1");
    CHECK(!memcmp(g.nodes[fc1].param[0], fc1w, fc1n * sizeof *fc1w) && !memcmp(g.nodes[fc1].mask[0], fc1m, fc1n * sizeof *fc1m),
          "fc1's weights or masks moved");
    forward(&g, x, after);
    check_close("identity layers removed", after, before, BATCH * 10, 0, 1e-6);
    /* its spec parses back into the same graph */
    size_t len = eg_graph_write_spec(&g, NULL, 0);
    char *text = malloc(len + 1);
    eg_graph_write_spec(&g, text, len + 1);
    eg_graph h;
    CHECK(eg_graph_parse_spec(&h, text, "written", &err) == EG_OK, "spec after removal: %s\n%s", err.msg, text);
    CHECK(h.nnodes == g.nnodes && h.nparam == g.nparam, "re-parsed: %d nodes, %zu params", h.nnodes, h.nparam);
    eg_graph_free(&h);
    free(text), free(fc1w), free(fc1m);
    eg_graph_free(&g);
}

static void test_refused(void)
{
    eg_graph g;
    load(&g);
    eg_error err = {0};
    static const char *const no[] = {"fc3", "conv2", "conv1", "fc1", "relu3", "x", "flat"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        err.msg[0] = 0;
        CHECK(eg_layer_remove(&g, eg_graph_find(&g, no[i]), &err) == EG_ERR_ARG && strstr(err.msg, no[i]),
              "removing %s: %s", no[i], err.msg);
    }
    CHECK(strstr((eg_layer_remove(&g, eg_graph_find(&g, "fc3"), &err), err.msg), "output"), "fc3: %s", err.msg);
    CHECK(strstr((eg_layer_remove(&g, eg_graph_find(&g, "conv2"), &err), err.msg), "8x14x14 to 16x14x14"), "conv2: %s", err.msg);
    CHECK(g.nnodes == 17 && g.nparam == 60938, "a refused removal changed the model");
    eg_graph_free(&g);
}

static void test_rank(void)
{
    eg_graph g;
    load(&g);
    set_identity(&g, "conv4");
    eg_dataset ds = {.n = 40, .c = 1, .h = 28, .w = 28};
    ds.x = malloc(40 * 784 * sizeof *ds.x);
    ds.y = malloc(40);
    eg_rng r;
    eg_rng_seed(&r, 8);
    for (int i = 0; i < 40 * 784; i++) ds.x[i] = eg_rng_range(&r, -1, 2);
    /* labels the model itself gives, so it scores 100% and any change shows */
    CHECK(eg_graph_prepare(&g, 40, 0, 1) == EG_OK, "prepare");
    eg_graph_forward(&g, ds.x, 40);
    for (int i = 0; i < 40; i++) {
        const float *z = eg_graph_y(&g) + i * 10;
        int best = 0;
        for (int k = 1; k < 10; k++) best = z[k] > z[best] ? k : best;
        ds.y[i] = (uint8_t)best;
    }
    eg_layer_score sc[18];
    int n = 0, prot[] = {eg_graph_find(&g, "fc2")};
    double base = 0;
    eg_error err = {0};
    CHECK(eg_layer_rank(&g, &ds, 16, prot, 1, sc, &n, &base, &err) == EG_OK, "%s", err.msg);
    CHECK(base == 100 && n == 2, "base %g, %d candidates (want conv3, conv4; fc2 protected)", base, n);
    /* each score is that layer's removal from a fresh copy, evaluated; the
     * identity conv4 costs nothing; cheapest first */
    for (int i = 0; i < n; i++) {
        eg_graph c;
        load(&c);
        set_identity(&c, "conv4");
        double acc = -1, loss;
        CHECK(eg_layer_remove(&c, sc[i].node, &err) == EG_OK, "%s", err.msg);
        CHECK(eg_evaluate(&c, &ds, 16, &acc, &loss, &err) == EG_OK, "%s", err.msg);
        CHECK(acc == sc[i].accuracy && loss == sc[i].loss && sc[i].drop == base - acc, "score %d: %g%% %g, recomputed %g%% %g",
              i, sc[i].accuracy, sc[i].loss, acc, loss);
        if (i) CHECK(sc[i].drop > sc[i - 1].drop || (sc[i].drop == sc[i - 1].drop && sc[i].loss >= sc[i - 1].loss), "not sorted");
        if (sc[i].node == eg_graph_find(&g, "conv4")) CHECK(sc[i].drop == 0, "the identity conv4 costs %g", sc[i].drop);
        eg_graph_free(&c);
    }
    printf("ranking: %s %.1f%%, %s %.1f%%\n", n > 0 ? g.nodes[sc[0].node].name : "-", n > 0 ? sc[0].accuracy : 0,
           n > 1 ? g.nodes[sc[1].node].name : "-", n > 1 ? sc[1].accuracy : 0);
    CHECK(g.nnodes == 17 && g.nparam == 60938, "ranking changed the model");
    CHECK(eg_layer_rank(&g, &ds, 16, NULL, 0, sc, &n, &base, &err) == EG_OK && n == 3, "unprotected: %d candidates", n);
    eg_dataset_free(&ds);
    eg_graph_free(&g);
}

/* models/resnet_small: block 1's branch silenced (bn1b's scale and shift
 * zero, so it adds exactly 0) is removed with no output change; the other
 * batchnorms keep their running statistics; bad adds are refused. */
static void test_residual(void)
{
    eg_graph g;
    eg_error err = {0};
    CHECK(eg_graph_load_spec(&g, "models/resnet_small", &err) == EG_OK, "%s", err.msg);
    eg_rng r;
    eg_rng_seed(&r, 6);
    eg_graph_init_params(&g, &r);
    for (int i = 0; i < g.nnodes; i++)  /* running statistics of a trained model: means, positive variances */
        for (size_t k = 0; g.nodes[i].nbuffers && k < g.nodes[i].bsize[0]; k++)
            g.nodes[i].buffer[0][k] = 0.1f * (float)(k % 7) - 0.3f, g.nodes[i].buffer[1][k] = 0.5f + 0.1f * (float)(k % 5);
    eg_node *bn = &g.nodes[eg_graph_find(&g, "bn1b")];
    memset(bn->param[0], 0, bn->psize[0] * sizeof(float));
    memset(bn->param[1], 0, bn->psize[1] * sizeof(float));
    const eg_node *bn3 = &g.nodes[eg_graph_find(&g, "bn3a")];
    float stats[64];
    memcpy(stats, bn3->buffer[0], bn3->bsize[0] * sizeof(float));
    memcpy(stats + 32, bn3->buffer[1], bn3->bsize[1] * sizeof(float));
    float x[BATCH * 784], before[BATCH * 10], after[BATCH * 10];
    for (int i = 0; i < BATCH * 784; i++) x[i] = eg_rng_range(&r, -1, 2);
    forward(&g, x, before);
    size_t p0 = eg_graph_param_count(&g);
    int n0 = g.nnodes;
    CHECK(eg_layer_remove(&g, eg_graph_find(&g, "res1"), &err) == EG_OK, "remove res1's branch: %s", err.msg);
    static const char *const gone[] = {"conv1a", "bn1a", "relu1a", "conv1b", "bn1b", "res1"};
    for (int i = 0; i < 6; i++) CHECK(eg_graph_find(&g, gone[i]) < 0, "%s is still there", gone[i]);
    CHECK(g.nnodes == n0 - 6, "%d nodes", g.nnodes);
    CHECK(g.nodes[eg_graph_find(&g, "relu1")].inputs[0] == eg_graph_find(&g, "pool0"), "relu1 does not read pool0");
    CHECK(eg_graph_param_count(&g) == p0 - 2 * (584 + 16), "params %zu, want %zu", eg_graph_param_count(&g), p0 - 1200);
    bn3 = &g.nodes[eg_graph_find(&g, "bn3a")];
    CHECK(!memcmp(stats, bn3->buffer[0], bn3->bsize[0] * sizeof(float)) && !memcmp(stats + 32, bn3->buffer[1], bn3->bsize[1] * sizeof(float)),
          "bn3a's running statistics changed");
    forward(&g, x, after);
    check_close("silenced residual branch removed", after, before, BATCH * 10, 0, 1e-6);
    /* the other block's branch is a candidate too; its conv3a is one as a layer */
    CHECK(eg_layer_removable(&g, eg_graph_find(&g, "res3"), &err) == EG_OK, "%s", err.msg);
    CHECK(eg_layer_removable(&g, eg_graph_find(&g, "conv3a"), &err) == EG_OK, "%s", err.msg);
    CHECK(eg_layer_removable(&g, eg_graph_find(&g, "conv2"), &err) == EG_ERR_ARG, "conv2 changes the shape");
    eg_graph_free(&g);

    static const char two[] = "input x shape=1x8x8\nconv2d c1 out=4 kernel=3 pad=1\nconv2d c2 in=x out=4 kernel=3 pad=1\n"
                              "add s in=c1,c2\nflatten f\nlinear fc out=3\n";
    CHECK(eg_graph_parse_spec(&g, two, "two", &err) == EG_OK, "%s", err.msg);
    CHECK(eg_layer_remove(&g, eg_graph_find(&g, "s"), &err) == EG_ERR_ARG && strstr(err.msg, "both inputs of 's'"), "%s", err.msg);
    eg_graph_free(&g);
    static const char shared[] = "input x shape=1x8x8\nconv2d c0 out=4 kernel=3 pad=1\nconv2d c1 out=4 kernel=3 pad=1\n"
                                 "add s in=c1,c0\nadd t in=s,c1\nflatten f\nlinear fc out=3\n";
    CHECK(eg_graph_parse_spec(&g, shared, "shared", &err) == EG_OK, "%s", err.msg);
    CHECK(eg_layer_remove(&g, eg_graph_find(&g, "s"), &err) == EG_ERR_ARG && strstr(err.msg, "'c1' also feeds 't'"), "%s", err.msg);
    CHECK(g.nnodes == 7, "a refused removal changed the graph");
    eg_graph_free(&g);
}

int main(void)
{
    test_identity_removed();
    test_refused();
    test_rank();
    test_residual();
    return check_report("test_layer_prune");
}
