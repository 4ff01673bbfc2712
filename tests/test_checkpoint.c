/* Checkpoints (.edg sections 6 and 7): training stopped mid-epoch by the
 * per-step hook and resumed from the checkpoint it wrote ends with the same
 * parameters, bit for bit, as uninterrupted training (Adam; SGD with
 * Nesterov momentum on a masked model); every field of the optimizer and
 * the position reads back as written; and damaged checkpoint sections are
 * clear errors naming the byte offset (no crash, no leak under ASan). */
#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "internal.h"
#include "util.h"

static char tmpdir[] = "/tmp/eg_checkpoint.XXXXXX";

static const char SPEC[] =
    "input     x    shape=1x8x8\n"
    "conv2d    c1   out=4 kernel=3 pad=1\n"
    "relu      r1\n"
    "maxpool2d p1   kernel=2\n"
    "flatten   f\n"
    "linear    fc1  out=16\n"
    "relu      r2\n"
    "linear    fc2  out=10\n";

enum { HS = 40, ES = 24, S_OPTIM = 6, S_POSITION = 7 };

static const char *at(const char *name) { return util_path(tmpdir, name); }

static void make_graph(eg_graph *g, eg_rng *rng)
{
    eg_error err;
    CHECK(eg_graph_parse_spec(g, SPEC, "small", &err) == EG_OK, "spec: %s", err.msg);
    eg_graph_init_params(g, rng);
}

static void make_data(eg_dataset *ds, int n)
{
    eg_rng rng;
    eg_rng_seed(&rng, 4);
    ds->n = n, ds->c = 1, ds->h = 8, ds->w = 8;
    ds->x = malloc((size_t)n * 64 * sizeof *ds->x);
    ds->y = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        ds->y[i] = (uint8_t)(i % 10);
        for (int k = 0; k < 64; k++) ds->x[(size_t)i * 64 + k] = eg_rng_range(&rng, -1, 1) + (k / 8 == i % 8 ? 1.5f : 0);
    }
}

/* ------------------------------------------------------- stop and resume */

/* The per-step hook: a checkpoint every `every` steps, and a stop (an
 * error, as a kill would end the run) after step `stop_at`. */
typedef struct {
    int every;
    long stop_at;
    eg_train_position pos;
    int saved;
} stopper;

static eg_status stop_step(void *ctx, eg_graph *g, eg_optim *o, const eg_step_info *si, eg_error *err)
{
    stopper *s = ctx;
    if (o->step % s->every == 0) {
        s->pos.batch = si->batch + 1, s->pos.batches = si->batches;
        s->pos.loss_sum = si->loss_sum, s->pos.penalty_sum = si->penalty_sum;
        eg_status st = eg_checkpoint_save(g, o, &s->pos, at("stop.edg"), err);
        if (st) return st;
        s->saved++;
    }
    if (o->step == s->stop_at) return eg_fail(err, EG_ERR_ARG, "stopped at step %ld", o->step);
    return EG_OK;
}

static void setup_optim(eg_optim *o, int sgd)
{
    eg_optim_init(o, sgd ? EG_OPTIM_SGD : EG_OPTIM_ADAM, sgd ? 0.02f : 0.01f);
    if (sgd) o->momentum = 0.9f, o->nesterov = 1, o->weight_decay = 1e-3f;
}

static void test_stop_and_resume(int sgd)
{
    const char *what = sgd ? "sgd, masked" : "adam";
    enum { EPOCHS = 3 };
    eg_dataset ds = {0};
    make_data(&ds, 90);  /* batches of 16: 5 full and one of 10 */
    eg_error err = {0};
    eg_graph a, b;
    eg_rng ra, rb;
    eg_rng_seed(&ra, 7), eg_rng_seed(&rb, 7);
    make_graph(&a, &ra), make_graph(&b, &rb);
    if (sgd) {
        int nodes[] = {1, 5, 7};
        CHECK(!eg_prune_magnitude(&a, nodes, 3, 0.5, 1, &err) && !eg_prune_magnitude(&b, nodes, 3, 0.5, 1, &err),
              "%s: prune: %s", what, err.msg);
    }
    eg_train_opts to = {.batch = 16, .shuffle = 1};
    eg_epoch_stats sa[EPOCHS] = {{0}}, sb = {0};

    /* uninterrupted */
    eg_optim oa;
    setup_optim(&oa, sgd);
    for (int e = 0; e < EPOCHS; e++) CHECK(!eg_train_epoch(&a, &oa, &ds, &to, &ra, &sa[e], &err), "%s: %s", what, err.msg);

    /* stopped after step 10 (epoch 1, batch 4), the last checkpoint at step 8 (epoch 1, 2 batches done) */
    eg_optim ob;
    setup_optim(&ob, sgd);
    stopper s = {.every = 4, .stop_at = 10};
    s.pos.epochs = EPOCHS, s.pos.threads = eg_thread_count();
    snprintf(s.pos.stage, sizeof s.pos.stage, "test %s", what);
    eg_train_position_data(&s.pos, &ds);
    eg_train_opts tb = to;
    tb.after_step = stop_step, tb.step_ctx = &s;
    eg_status st = EG_OK;
    for (int e = 0; e < EPOCHS && !st; e++) {
        s.pos.epoch = e, s.pos.rng = rb;
        st = eg_train_epoch(&b, &ob, &ds, &tb, &rb, &sb, &err);
    }
    CHECK(st == EG_ERR_ARG && strstr(err.msg, "stopped at step 10"), "%s: the hook did not stop training: %d %s", what,
          st, err.msg);
    CHECK(s.saved == 2, "%s: %d checkpoints, want 2", what, s.saved);
    eg_optim_free(&ob);
    eg_graph_free(&b);

    /* resumed: a fresh process would have nothing but the file */
    eg_graph c;
    eg_optim oc;
    eg_train_position p;
    st = eg_checkpoint_load(&c, &oc, &p, at("stop.edg"), &err);
    CHECK(st == EG_OK, "%s: load: %s", what, err.msg);
    if (st) {
        eg_graph_free(&a), eg_optim_free(&oa), eg_dataset_free(&ds);
        return;
    }
    CHECK(p.epoch == 1 && p.batch == 2 && p.batches == 6 && oc.step == 8, "%s: position epoch %d batch %d/%d step %ld",
          what, p.epoch, p.batch, p.batches, oc.step);
    eg_rng rc = p.rng;
    eg_train_opts tc = to;
    tc.start_batch = p.batch, tc.start_loss = p.loss_sum, tc.start_penalty = p.penalty_sum;
    for (int e = p.epoch; e < EPOCHS; e++) {
        eg_epoch_stats sc = {0};
        CHECK(!eg_train_epoch(&c, &oc, &ds, &tc, &rc, &sc, &err), "%s: resume: %s", what, err.msg);
        /* the resumed epoch's mean loss counts the batches before the stop too */
        CHECK(sa[e].loss == sc.loss, "%s: epoch %d's loss %.9g, uninterrupted %.9g", what, e, sc.loss, sa[e].loss);
        long want = e == p.epoch ? 90 - 16 * p.batch : 90;
        CHECK(sc.images == want, "%s: epoch %d trained %ld images, want %ld", what, e, sc.images, want);
        tc.start_batch = 0, tc.start_loss = tc.start_penalty = 0;
    }
    CHECK(!memcmp(a.params, c.params, a.nparam * sizeof(float)), "%s: parameters differ after the resume", what);
    CHECK(!memcmp(oa.m, oc.m, a.nparam * sizeof(float)) && (!oa.v || !memcmp(oa.v, oc.v, a.nparam * sizeof(float))) &&
              oa.step == oc.step, "%s: optimizer state differs after the resume", what);
    CHECK(!memcmp(&ra, &rc, sizeof ra), "%s: the generator differs after the resume", what);
    if (sgd) CHECK(c.masks && !memcmp(a.masks, c.masks, a.nparam * sizeof(float)), "%s: masks differ", what);
    eg_graph_free(&a), eg_graph_free(&c);
    eg_optim_free(&oa), eg_optim_free(&oc);
    eg_dataset_free(&ds);
}

/* --------------------------------------------------------------- fields */

static uint8_t *ck_file, *adam_file;  /* checkpoints of a masked model with SGD and Adam state, for the hostile cases */
static size_t ck_len, adam_len;

static void test_fields(void)
{
    eg_rng rng;
    eg_rng_seed(&rng, 3);
    eg_graph g;
    make_graph(&g, &rng);
    eg_error err = {0};
    int nodes[] = {1, 5, 7};
    CHECK(!eg_prune_magnitude(&g, nodes, 3, 0.5, 1, &err), "prune: %s", err.msg);
    for (int type = 0; type < 2; type++) {
        eg_optim o;
        eg_optim_init(&o, type ? EG_OPTIM_ADAM : EG_OPTIM_SGD, 0.125f);
        o.momentum = 0.5f, o.weight_decay = 0.25f, o.beta1 = 0.75f, o.beta2 = 0.875f, o.eps = 1e-6f, o.nesterov = !type;
        CHECK(!eg_optim_bind(&o, g.nparam), "bind");
        o.step = 12345;
        for (size_t k = 0; k < g.nparam; k++) {
            o.m[k] = g.masks[k] ? eg_rng_range(&rng, -1, 1) : 0.0f;
            if (o.v) o.v[k] = g.masks[k] ? eg_rng_range(&rng, 0, 1) : 0.0f;
        }
        eg_train_position p = {.epoch = 2, .epochs = 5, .batch = 7, .batches = 9, .threads = 3, .seed = 0xfeedbeefcafe,
                               .loss_sum = 1.0 / 3, .penalty_sum = 2.0 / 7, .samples = 130, .c = 1, .h = 8, .w = 8,
                               .images_crc = 0x89abcdef, .labels_crc = 0x01234567};
        eg_rng_seed(&p.rng, 77);
        snprintf(p.stage, sizeof p.stage, "train epochs=5 optimizer=%s", type ? "adam" : "sgd");
        const char *path = at(type ? "adam.edg" : "sgd.edg");
        eg_status st = eg_checkpoint_save(&g, &o, &p, path, &err);
        CHECK(st == EG_OK, "save: %s", err.msg);
        eg_graph h;
        eg_optim q;
        eg_train_position r;
        st = eg_checkpoint_load(&h, &q, &r, path, &err);
        CHECK(st == EG_OK, "load: %s", err.msg);
        if (!st) {
            CHECK(q.type == o.type && q.lr == o.lr && q.momentum == o.momentum && q.weight_decay == o.weight_decay &&
                      q.beta1 == o.beta1 && q.beta2 == o.beta2 && q.eps == o.eps && q.nesterov == o.nesterov &&
                      q.step == o.step && q.n == o.n,
                  "%s: optimizer settings differ", path);
            CHECK(!memcmp(q.m, o.m, o.n * 4) && (!o.v || !memcmp(q.v, o.v, o.n * 4)) && !o.v == !q.v, "%s: state differs", path);
            CHECK(r.epoch == p.epoch && r.epochs == p.epochs && r.batch == p.batch && r.batches == p.batches &&
                      r.threads == p.threads && r.seed == p.seed && !memcmp(&r.rng, &p.rng, sizeof p.rng) &&
                      r.loss_sum == p.loss_sum && r.penalty_sum == p.penalty_sum && r.samples == p.samples &&
                      r.c == p.c && r.h == p.h && r.w == p.w && r.images_crc == p.images_crc &&
                      r.labels_crc == p.labels_crc && !strcmp(r.stage, p.stage),
                  "%s: position differs", path);
            CHECK(!memcmp(h.params, g.params, g.nparam * 4) && h.masks && !memcmp(h.masks, g.masks, g.nparam * 4),
                  "%s: the model differs", path);
            eg_graph_free(&h);
            eg_optim_free(&q);
        }
        /* a plain load reads the model of a checkpoint */
        st = eg_model_load(&h, path, &err);
        CHECK(st == EG_OK, "plain load of a checkpoint: %s", err.msg);
        if (!st) eg_graph_free(&h);
        uint8_t **file = type ? &adam_file : &ck_file;
        *file = util_read_file(path, type ? &adam_len : &ck_len);
        CHECK(*file != NULL, "cannot read %s", path);
        eg_optim_free(&o);
    }
    /* a model file is not a checkpoint */
    CHECK(!eg_model_save(&g, at("plain.edg"), &err), "save: %s", err.msg);
    eg_graph h;
    eg_optim q = {0};
    eg_train_position r;
    eg_status st = eg_checkpoint_load(&h, &q, &r, at("plain.edg"), &err);
    CHECK(st == EG_ERR_FORMAT && strstr(err.msg, "not a checkpoint"), "a plain model as a checkpoint: %d %s", st, err.msg);
    CHECK(h.nodes == NULL && q.m == NULL, "a failed checkpoint load left data");
    /* state for another model is refused before anything is written */
    eg_optim o;
    eg_optim_init(&o, EG_OPTIM_SGD, 0.1f);
    CHECK(!eg_optim_bind(&o, g.nparam - 1), "bind");
    eg_train_position p = {.epochs = 1, .batches = 1, .threads = 1, .samples = 1, .c = 1, .h = 1, .w = 1};
    st = eg_checkpoint_save(&g, &o, &p, at("refused.edg"), &err);
    CHECK(st == EG_ERR_ARG && strstr(err.msg, "state for"), "state for another model: %d %s", st, err.msg);
    CHECK(access(at("refused.edg"), F_OK) != 0, "a refused checkpoint left a file");
    eg_optim_free(&o);
    eg_graph_free(&g);
}

/* ------------------------------------------------------------- hostile */

static void expect_bad(const char *name, const uint8_t *b, size_t n, ...)
{
    eg_graph g;
    eg_optim o = {0};
    eg_train_position p;
    eg_error err = {0};
    int has = -1;
    char path[64];
    snprintf(path, sizeof path, "%s.edg", name);
    /* in memory, as the fuzz harness reads */
    eg_status st = eg_model_parse(&g, &o, &p, &has, b, n, path, &err);
    CHECK(st == EG_ERR_FORMAT, "%s: status %d, want %d (%s)", name, st, EG_ERR_FORMAT, st ? err.msg : "loaded");
    if (!st) eg_graph_free(&g), eg_optim_free(&o);
    CHECK(g.nodes == NULL && o.m == NULL && o.v == NULL, "%s: a failed load left data", name);
    va_list ap;
    va_start(ap, n);
    for (const char *w; (w = va_arg(ap, const char *));)
        CHECK(strstr(err.msg, w) != NULL, "%s: message lacks '%s': %s", name, w, err.msg);
    va_end(ap);
}

static void test_hostile(void)
{
    size_t n = ck_len, oo, ol, po, pl;
    const uint8_t *d = ck_file;
    int so = edg_section(d, S_OPTIM, &oo, &ol), sp = edg_section(d, S_POSITION, &po, &pl);
    CHECK(so >= 0 && sp >= 0, "the checkpoint lacks its sections");
    if (so < 0 || sp < 0) return;
    uint8_t *b = malloc(n + 64);
#define RESET() memcpy(b, d, n)
    RESET();
    wr32(b + oo, 2), edg_fix_crc(b, n);
    expect_bad("optim-type", b, n, util_byte_at(oo), "optimizer: type: expected 0 (sgd) or 1 (adam), found 2", NULL);
    RESET();
    wr32(b + oo + 4, 6), edg_fix_crc(b, n);
    expect_bad("optim-flags", b, n, util_byte_at(oo + 4), "flags: expected 0 or 1 (nesterov), found 0x6", NULL);
    RESET();
    wr32(b + oo + 8, 0x7fc00000u), edg_fix_crc(b, n);  /* lr NaN */
    expect_bad("optim-lr", b, n, util_byte_at(oo + 8), "optimizer: lr is nan; expected a finite number >= 0", NULL);
    RESET();
    wr32(b + oo + 24, 0x3f800000u), edg_fix_crc(b, n);  /* beta2 1.0 */
    expect_bad("optim-beta2", b, n, util_byte_at(oo + 24), "beta2 is 1; expected a finite number >= 0 and below 1", NULL);
    RESET();
    wr64(b + oo + 32, 0xffffffffffffffffull), edg_fix_crc(b, n);
    expect_bad("optim-step", b, n, util_byte_at(oo + 32), "step 18446744073709551615; expected at most 2^62", NULL);
    RESET();
    wr64(b + oo + 40, 0x4000000000000000ull), edg_fix_crc(b, n);  /* 4 x n would overflow */
    expect_bad("optim-n", b, n, util_byte_at(oo + 40), "state for 4611686018427387904 parameters; the model has", NULL);
    RESET();
    wr32(b + oo + 48, 2), edg_fix_crc(b, n);
    expect_bad("optim-buffers", b, n, util_byte_at(oo + 48), "2 buffers; expected 1 for sgd", NULL);
    RESET();
    wr32(b + oo + 52, 9), edg_fix_crc(b, n);
    expect_bad("optim-reserved", b, n, util_byte_at(oo + 52), "reserved field: expected 0, found 9", NULL);
    RESET();
    wr64(b + HS + (size_t)so * ES + 16, ol - 4), edg_fix_crc(b, n);
    expect_bad("optim-short", b, n, util_byte_at(oo), "optimizer: ", "expected", "(the header and 1 x", NULL);
    RESET();
    wr64(b + HS + (size_t)so * ES + 16, 10), edg_fix_crc(b, n);
    expect_bad("optim-header", b, n, util_byte_at(oo), "optimizer: 10 bytes; expected at least its 56-byte header", NULL);
    /* momentum where the first parameter is masked (c1's weight 0 is the smallest? find a masked one) */
    {
        eg_graph g;
        eg_error err;
        CHECK(!eg_model_parse(&g, NULL, NULL, NULL, d, n, "x", &err), "parse: %s", err.msg);
        size_t k = 0;
        while (k < g.nparam && g.masks[k]) k++;
        CHECK(k < g.nparam, "no masked parameter");
        eg_graph_free(&g);
        RESET();
        wr32(b + oo + 56 + 4 * k, 0x3f800000u), edg_fix_crc(b, n);
        char w[96];
        snprintf(w, sizeof w, "optimizer: momentum %zu is 1 where the parameter is masked; expected 0", k);
        expect_bad("optim-masked", b, n, util_byte_at(oo + 56 + 4 * k), w, NULL);
    }

    RESET();
    wr32(b + po, 5), edg_fix_crc(b, n);  /* epoch 5 of 5 */
    expect_bad("pos-epoch", b, n, util_byte_at(po), "position: epoch 5; expected one below the stage's 5 epochs", NULL);
    RESET();
    wr32(b + po + 4, 0), edg_fix_crc(b, n);
    expect_bad("pos-epochs", b, n, util_byte_at(po + 4), "position: epochs is 0; expected 1 to", NULL);
    RESET();
    wr32(b + po + 8, 10), edg_fix_crc(b, n);
    expect_bad("pos-batch", b, n, util_byte_at(po + 8), "position: batch 10; expected at most the epoch's 9 batches", NULL);
    RESET();
    wr32(b + po + 12, 131), wr32(b + po + 8, 1), edg_fix_crc(b, n);
    expect_bad("pos-batches", b, n, util_byte_at(po + 12), "131 batches per epoch; expected at most one per sample (130)", NULL);
    RESET();
    wr32(b + po + 16, 5000), edg_fix_crc(b, n);
    expect_bad("pos-threads", b, n, util_byte_at(po + 16), "position: threads is 5000; expected 1 to 1024", NULL);
    RESET();
    wr32(b + po + 20, 0x80000000u), edg_fix_crc(b, n);
    expect_bad("pos-samples", b, n, util_byte_at(po + 20), "position: samples is 2147483648", NULL);
    RESET();
    wr32(b + po + 44, 0xffffffffu), edg_fix_crc(b, n);
    expect_bad("pos-text-length", b, n, util_byte_at(po + 44), "stage text of 4294967295 bytes; expected at most 511", NULL);
    RESET();
    wr32(b + po + 44, rd32(d + po + 44) - 1), edg_fix_crc(b, n);
    expect_bad("pos-length", b, n, util_byte_at(po), "position: ", "(the header and the", NULL);
    RESET();
    b[po + 104 + 3] = '\n', edg_fix_crc(b, n);
    expect_bad("pos-text", b, n, util_byte_at(po + 107), "position: stage text byte 0x0a; expected printable text", NULL);
    RESET();
    memset(b + po + 56, 0, 32), edg_fix_crc(b, n);
    expect_bad("pos-rng", b, n, util_byte_at(po + 56), "the generator's state is all zero", NULL);
    /* Adam's second moment below zero, where a parameter is kept */
    if (adam_file) {
        size_t ao, al;
        edg_section(adam_file, S_OPTIM, &ao, &al);
        uint8_t *a = malloc(adam_len);
        memcpy(a, adam_file, adam_len);
        uint64_t np = rd64(a + ao + 40);
        size_t k = np - 1;  /* fc2's last bias: never masked */
        wr32(a + ao + 56 + 4 * (np + k), 0xbf800000u), edg_fix_crc(a, adam_len);
        char w[96];
        snprintf(w, sizeof w, "optimizer: second moment %zu is -1; expected a value >= 0", k);
        expect_bad("adam-negative-v", a, adam_len, util_byte_at(ao + 56 + 4 * (np + k)), w, NULL);
        /* and a first moment that is not finite, which a resume would train on */
        memcpy(a, adam_file, adam_len);
        wr32(a + ao + 56 + 4 * k, 0x7f800000u), edg_fix_crc(a, adam_len);
        snprintf(w, sizeof w, "optimizer: first moment %zu is inf; expected a finite value", k);
        expect_bad("adam-infinite-m", a, adam_len, util_byte_at(ao + 56 + 4 * k), w, NULL);
        free(a);
    }
    /* one section without the other: turn the position section into an unknown optional one */
    RESET();
    wr32(b + HS + (size_t)sp * ES, 99), edg_fix_crc(b, n);
    expect_bad("optim-alone", b, n, util_byte_at(HS + (size_t)so * ES), "the optimizer section (id 6) without the position section (id 7)", NULL);
    RESET();
    wr32(b + HS + (size_t)so * ES, 99), edg_fix_crc(b, n);
    expect_bad("position-alone", b, n, util_byte_at(HS + (size_t)sp * ES), "the position section (id 7) without the optimizer section (id 6)", NULL);
    /* truncated anywhere in the two sections */
    for (size_t len = oo; len < n; len += 5) {
        char name[32];
        snprintf(name, sizeof name, "cut-%zu", len);
        expect_bad(name, d, len, util_byte_at(len), "truncated", NULL);
    }
#undef RESET
    free(b);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    eg_set_threads(2);
    test_stop_and_resume(0);
    test_stop_and_resume(1);
    test_fields();
    if (ck_file) test_hostile();
    free(ck_file);
    free(adam_file);
    util_remove_tree(tmpdir);
    return check_report("checkpoint");
}
