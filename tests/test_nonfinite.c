/* Models that are not finite, at the library level. Training whose first
 * step overflows (fc2's weights near FLT_MAX) stops at that step with
 * EG_ERR_NUMERIC naming the step, the layer and the value, before the step
 * callback (a checkpointer) sees it. A model file holding a nan (as a
 * writer from before these checks could leave) loads, but the runner
 * refuses to evaluate, prune or train it, and the C and ONNX exports, the
 * sensitivity analysis, the model writer and the checkpoint writer (for a
 * nan in the optimizer's state) refuse it, leaving no file. A stop request
 * (what the first SIGINT or SIGTERM makes, eg_stop_signal) ends an epoch
 * after the step in progress with EG_ERR_INTERRUPTED. */
#include <math.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include "util.h"

static char dir[] = "/tmp/eg_nonfinite.XXXXXX";
static const char *at(const char *name) { return util_path(dir, name); }

static int steps_seen;
static eg_status count_steps(void *ctx, eg_graph *g, eg_optim *o, const eg_step_info *s, eg_error *err)
{
    (void)ctx, (void)g, (void)o, (void)s, (void)err;
    steps_seen++;
    return EG_OK;
}

/* The call failed with code and a message holding every word given. */
static void refused(const char *what, eg_status st, const eg_error *err, eg_status code, const char *w1, const char *w2)
{
    CHECK(st == code && strstr(err->msg, w1) && (!w2 || strstr(err->msg, w2)), "%s: status %d, want %d with '%s' and '%s': %s",
          what, st, code, w1, w2 ? w2 : "", err->msg);
}

static void training_diverges(void)
{
    eg_graph g;
    eg_rng r;
    eg_rng_seed(&r, 1);
    if (util_graph(&g, "models/simplecnn", NULL, 1, 0)) return;
    eg_node *fc2 = &g.nodes[eg_graph_find(&g, "fc2")];
    for (size_t k = 0; k < fc2->psize[0]; k++) fc2->param[0][k] = 3e38f;  /* logits overflow to inf */
    eg_dataset ds;
    util_random_dataset(&ds, 64, &r, -1, 1, 10);
    eg_optim o;
    eg_optim_init(&o, EG_OPTIM_SGD, 0.1f);
    o.momentum = 0.9f;
    eg_train_opts to = {.batch = 16, .after_step = count_steps};
    eg_epoch_stats es;
    eg_error err = {0};
    eg_status st = eg_train_epoch(&g, &o, &ds, &to, &r, &es, &err);
    refused("training from overflowing weights", st, &err, EG_ERR_NUMERIC, "step 1, batch 1 of 4: ", "; the batch's loss was ");
    CHECK(strstr(err.msg, "'s weight [") || strstr(err.msg, "'s bias ["), "the layer is not named: %s", err.msg);
    CHECK(steps_seen == 0, "the step callback saw %d steps that diverged", steps_seen);

    /* and its optimizer state is refused by the checkpoint writer */
    size_t bad = eg_first_nonfinite(o.m, o.n);
    CHECK(bad < o.n, "the momentum stayed finite");
    CHECK(eg_graph_check_finite(&g, "x", NULL) == EG_ERR_NUMERIC, "the parameters stayed finite");
    /* zero parameters, so only the optimizer's state stops it */
    eg_train_position pos = {0};
    eg_graph h;
    if (!eg_graph_clone(&h, &g, &err)) {
        for (size_t k = 0; k < h.nparam; k++) h.params[k] = 0;
        st = eg_checkpoint_save(&h, &o, &pos, at("ck.edg"), &err);
        refused("a checkpoint of a diverged momentum", st, &err, EG_ERR_NUMERIC, "cannot save a checkpoint", "momentum");
        CHECK(access(at("ck.edg"), F_OK) != 0, "the checkpoint was written");
        eg_graph_free(&h);
    }
    eg_optim_free(&o);
    eg_dataset_free(&ds);
    eg_graph_free(&g);
}

/* A model file with a nan, as an older writer could leave one: saved with
 * a marker weight, the marker's bytes then turned into a nan. */
static const char *nan_model(eg_graph *g)
{
    const char *path = at("nan.edg");
    eg_node *c1 = &g->nodes[eg_graph_find(g, "conv1")];
    float mark = 1234.5f, nan = NAN;
    c1->param[0][5] = mark;
    eg_error err = {0};
    CHECK(eg_model_save(g, path, &err) == EG_OK, "save: %s", err.msg);
    size_t n = 0;
    uint8_t *b = util_read_file(path, &n);
    for (size_t i = 0; b && i + 4 <= n; i++)
        if (!memcmp(b + i, &mark, 4)) memcpy(b + i, &nan, 4);
    if (b) edg_fix_crc(b, n), util_write_file(path, b, n);
    free(b);
    c1->param[0][5] = nan;
    return path;
}

static void nan_model_refused(void)
{
    eg_graph g;
    eg_rng r;
    eg_rng_seed(&r, 2);
    if (util_graph(&g, "models/simplecnn", NULL, 2, 0)) return;
    const char *path = nan_model(&g);
    eg_graph h;
    eg_error err = {0};
    eg_status st = eg_model_load(&h, path, &err);
    CHECK(st == EG_OK && isnan(h.nodes[1].param[0][5]), "the file with a nan does not load: %s", err.msg);
    if (!st) eg_graph_free(&h);

    static const char *const lines[] = {"eval batch=10", "prune method=l1 layer=conv1 amount=1", "train epochs=1"};
    for (int i = 0; i < 3; i++) {
        eg_recipe rc = {.from_flags = 1};
        snprintf(rc.path, sizeof rc.path, "edagari test");
        snprintf(rc.model, sizeof rc.model, "%s", path);
        st = eg_recipe_parse_line(&rc, lines[i], 0, &err);
        FILE *out = fopen("/dev/null", "w");
        eg_run_opts o = {.threads = 1, .data = at("no-data"), .out = out, .save = at("out.edg")};
        if (!st) st = eg_recipe_run(&rc, &o, &err);
        if (out) fclose(out);
        refused(lines[i], st, &err, EG_ERR_NUMERIC, "conv1's weight [5 of 36] is nan",
                "a model that is not finite is neither trained, pruned nor evaluated");
        CHECK(access(at("out.edg"), F_OK) != 0, "%s: a model was written", lines[i]);
    }
    st = eg_export_c(&g, at("net"), &err);
    refused("C export", st, &err, EG_ERR_NUMERIC, "cannot export it as C", "conv1's weight [5 of 36] is nan");
    CHECK(access(at("net.c"), F_OK) != 0 && access(at("net.h"), F_OK) != 0, "the C export wrote a file");
    if (eg_onnx_available()) {
        st = eg_onnx_export(&g, at("net.onnx"), &err);
        refused("ONNX export", st, &err, EG_ERR_NUMERIC, "cannot export model", "conv1's weight [5 of 36] is nan");
        CHECK(access(at("net.onnx"), F_OK) != 0, "the ONNX export wrote a file");
    }
    st = eg_model_save(&g, at("again.edg"), &err);
    refused("model file", st, &err, EG_ERR_NUMERIC, "cannot save model", "is nan");
    CHECK(access(at("again.edg"), F_OK) != 0, "a model with a nan was saved");
    double ratio = 0.5;
    eg_dataset ds;
    util_random_dataset(&ds, 8, &r, -1, 1, 10);
    eg_sensitivity s;
    eg_sensitivity_opts so = {.ratios = &ratio, .nratios = 1};
    st = eg_sensitivity_run(&g, &ds, &so, &s, &err);
    refused("sensitivity", st, &err, EG_ERR_NUMERIC, "cannot analyse it", "is nan");
    if (!st) eg_sensitivity_free(&s);
    eg_dataset_free(&ds);
    eg_graph_free(&g);
}

static void stop_request(void)
{
    eg_graph g;
    eg_rng r;
    eg_rng_seed(&r, 3);
    if (util_graph(&g, "models/simplecnn", NULL, 3, 0)) return;
    eg_dataset ds;
    util_random_dataset(&ds, 64, &r, -1, 1, 10);
    eg_optim o;
    eg_optim_init(&o, EG_OPTIM_ADAM, 1e-3f);
    eg_train_opts to = {.batch = 16, .after_step = count_steps};
    eg_epoch_stats es;
    eg_error err = {0};
    steps_seen = 0;
    eg_stop_request(SIGINT);
    eg_status st = eg_train_epoch(&g, &o, &ds, &to, &r, &es, &err);
    refused("a stop request", st, &err, EG_ERR_INTERRUPTED, "after step 1, batch 1 of 4", NULL);
    CHECK(steps_seen == 1 && o.step == 1, "a stop request: %d steps seen, optimizer step %ld", steps_seen, o.step);
    CHECK(eg_stop_signal() == SIGINT, "the stop signal is %d", eg_stop_signal());
    eg_optim_free(&o);
    eg_dataset_free(&ds);
    eg_graph_free(&g);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    training_diverges();
    nan_model_refused();
    stop_request();  /* last: the request stays */
    util_remove_tree(dir);
    return check_report("nonfinite");
}
