/* The embedding API (include/edagari.h) as a program that includes only
 * the public headers sees it: a spec opened and inspected, trained, pruned
 * and evaluated by recipe stages on a data set built in memory, run with
 * eg_infer, saved and opened again with the same outputs, and its bad
 * inputs refused with messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "edagari.h"

enum { N = 256 };

/* Images whose class is the brightest of ten bands, so training learns. */
static void make_set(eg_dataset *ds, uint64_t seed)
{
    eg_rng r;
    eg_rng_seed(&r, seed);
    ds->n = N, ds->c = 1, ds->h = 28, ds->w = 28;
    ds->x = malloc((size_t)N * 784 * sizeof *ds->x);
    ds->y = malloc(N);
    for (int i = 0; i < N; i++) {
        ds->y[i] = (uint8_t)eg_rng_below(&r, 10);
        for (int p = 0; p < 784; p++)
            ds->x[(size_t)i * 784 + p] = eg_rng_range(&r, -0.4f, 0.4f) + (p / 28 / 3 == ds->y[i] ? 2.0f : 0.0f);
    }
}

int main(void)
{
    eg_error err = {0};
    eg_graph *g = eg_open("models/simplecnn", 0, &err);
    CHECK(g != NULL, "open models/simplecnn: %s", err.msg);
    if (!g) return check_report("api");
    CHECK(eg_node_count(g) == 11 && !strcmp(eg_node_name(g, 1), "conv1") && !strcmp(eg_node_op(g, 1), "conv2d"),
          "nodes: %d, node 1 %s (%s)", eg_node_count(g), eg_node_name(g, 1), eg_node_op(g, 1));
    eg_shape s = eg_node_shape(g, 1);
    CHECK(s.c == 4 && s.h == 28 && s.w == 28, "conv1's output %dx%dx%d", s.c, s.h, s.w);
    CHECK(eg_node_name(g, 99) == NULL && eg_node_op(g, -1) == NULL, "a node out of range has a name");
    CHECK(eg_graph_param_count(g) == 26138 && eg_graph_macs(g) == 110400, "%zu parameters, %zu MACs",
          eg_graph_param_count(g), eg_graph_macs(g));

    eg_dataset train = {0}, test = {0};
    make_set(&train, 1);
    make_set(&test, 2);
    eg_stage_opts o = {.train = &train, .test = &test, .seed = 3, .threads = 2};
    CHECK(eg_graph_stage(g, "train epochs=3 optimizer=adam lr=0.003 batch=32", &o, &err) == EG_OK, "train: %s", err.msg);
    double acc = 0, loss = 0;
    CHECK(eg_evaluate(g, &test, 64, &acc, &loss, &err) == EG_OK && acc > 50, "after training: %.1f%% (%s)", acc,
          err.msg);
    CHECK(eg_graph_stage(g, "prune method=l1 layer=conv1 amount=2", &o, &err) == EG_OK, "prune: %s", err.msg);
    CHECK(eg_graph_param_count(g) == 25974 && eg_node_shape(g, 1).c == 2, "pruned: %zu parameters, conv1 %d channels",
          eg_graph_param_count(g), eg_node_shape(g, 1).c);
    CHECK(eg_graph_stage(g, "eval batch=100", &o, &err) == EG_OK, "eval: %s", err.msg);

    float *out = malloc(8 * 10 * sizeof *out), *again = malloc(8 * 10 * sizeof *again);
    CHECK(eg_infer(g, test.x, 8, 1, out, &err) == EG_OK, "infer: %s", err.msg);
    const char *path = "/tmp/eg_test_api.edg";
    CHECK(eg_model_save(g, path, &err) == EG_OK, "save: %s", err.msg);
    eg_graph *h = eg_open(path, 99, &err);
    CHECK(h && eg_infer(h, test.x, 8, 2, again, &err) == EG_OK && !memcmp(out, again, 8 * 10 * sizeof *out),
          "the saved model does not compute what it did: %s", err.msg);
    remove(path);

    /* refused, with a reason */
    CHECK(eg_graph_stage(g, "prune method=l1 layer=nope amount=1", &o, &err) == EG_ERR_RECIPE && strstr(err.msg, "nope"),
          "an unknown layer: %s", err.msg);
    eg_stage_opts no_data = {.seed = 1};
    CHECK(eg_graph_stage(g, "train epochs=1", &no_data, &err) && strstr(err.msg, "training set"), "train without data: %s",
          err.msg);
    CHECK(eg_graph_stage(g, "bogus x=1", &o, &err) != EG_OK, "a bogus stage was taken");
    CHECK(eg_open("no/such/model", 0, &err) == NULL && strstr(err.msg, "no/such/model"), "a missing model: %s", err.msg);
    CHECK(eg_open_spec("input x shape=1x2x2\nlinear l out=3\n", "text", 0, &err) == NULL && strstr(err.msg, "text"),
          "a linear on a 1x2x2 input was taken: %s", err.msg);
    eg_graph *t = eg_open_spec("input x shape=4x1x1\nlinear l out=3\n", "text", 0, &err);
    CHECK(t && eg_infer(t, out, 0, 1, again, &err) == EG_ERR_ARG, "0 samples were run");
    eg_close(t);
    free(out), free(again);
    eg_close(h);
    eg_close(g);
    eg_dataset_free(&train);
    eg_dataset_free(&test);
    return check_report("api");
}
