/* Model files (.edg): round trips bit for bit (dense, sparse, signed-zero
 * and bitmap tensors), training that goes on after a load exactly as
 * without the save, the spec printer, atomic saves, and hostile files —
 * truncated at many offsets, wrong magic or version, bad checksum, counts,
 * shapes and offsets that overflow or disagree with the stored spec, a spec
 * that does not parse, random corruption — each a clear error that names
 * the byte offset, without a crash or a leak (the suite also runs under
 * ASan); and the committed hostile files of tests/fixtures/bad_edg. The
 * test reads and patches the format itself, so it also pins the layout
 * documented in src/io/model_file.c. */
#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "internal.h"
#include "util.h"

static char tmpdir[] = "/tmp/eg_model_file.XXXXXX";

static const char SPEC[] =
    "# a small CNN on 8x8 images\n"
    "input     x    shape=1x8x8\n"
    "conv2d    c1   out=4 kernel=3 pad=1\n"
    "relu      r1\n"
    "maxpool2d p1   kernel=2\n"
    "conv2d    c2   out=6 kernel=3 pad=1\n"
    "relu      r2\n"
    "flatten   f\n"
    "linear    fc1  out=32\n"
    "relu      r3\n"
    "linear    fc2  out=10\n";

/* The layout, as src/io/model_file.c documents it. */
enum { HS = 40, ES = 24, REC = 40 };
enum { S_NAME = 1, S_SPEC = 2, S_PARAMS = 3, S_MASKS = 4, S_HISTORY = 5 };

static const char *at(const char *name) { return util_path(tmpdir, name); }

static size_t bitmap_bytes(size_t n) { return (n + 31) / 32 * 4; }

/* Offset of tensor record t in section id (walking the records). */
static size_t record(const uint8_t *b, uint32_t id, int t)
{
    size_t off, len;
    if (edg_section(b, id, &off, &len) < 0) return 0;
    size_t pos = off + 8;
    for (int k = 0; k < t; k++) {
        uint32_t enc = rd32(b + pos + 8), nd = rd32(b + pos + 12);
        uint64_t count = rd64(b + pos + 32), n = 1;
        for (uint32_t d = 0; d < nd; d++) n *= rd32(b + pos + 16 + 4 * d);
        pos += REC + (enc == 0 ? 4 * count : enc == 1 ? 8 * count : enc == 2 ? bitmap_bytes(n) : 8 * count + bitmap_bytes(n));
    }
    return pos;
}

/* How many records of section id use each encoding 0..3. */
static void encodings(const uint8_t *b, uint32_t id, int ntensors, int *count)
{
    memset(count, 0, 4 * sizeof *count);
    for (int t = 0; t < ntensors; t++) {
        uint32_t enc = rd32(b + record(b, id, t) + 8);
        if (enc < 4) count[enc]++;
    }
}

static void make_graph(eg_graph *g, uint64_t seed)
{
    eg_error err;
    eg_status st = eg_graph_parse_spec(g, SPEC, "small", &err);
    CHECK(st == EG_OK, "spec: %s", err.msg);
    eg_rng rng;
    eg_rng_seed(&rng, seed);
    eg_graph_init_params(g, &rng);
}

static void make_data(eg_dataset *ds, int n, uint64_t seed)
{
    eg_rng rng;
    eg_rng_seed(&rng, seed);
    ds->n = n, ds->c = 1, ds->h = 8, ds->w = 8;
    ds->x = malloc((size_t)n * 64 * sizeof *ds->x);
    ds->y = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        ds->y[i] = (uint8_t)(i % 10);
        /* class i%10 brightens one row, so there is something to learn */
        for (int k = 0; k < 64; k++) ds->x[(size_t)i * 64 + k] = eg_rng_range(&rng, -1, 1) + (k / 8 == i % 8 ? 1.5f : 0);
    }
}

static int ntensors(const eg_graph *g)
{
    int t = 0;
    for (int i = 0; i < g->nnodes; i++) t += g->nodes[i].nparams;
    return t;
}

/* Everything the file keeps is the same, bit for bit. */
static void check_same(const char *what, const eg_graph *a, const eg_graph *b)
{
    CHECK(!strcmp(a->name, b->name), "%s: name '%s', want '%s'", what, b->name, a->name);
    CHECK(a->nnodes == b->nnodes && a->nparam == b->nparam, "%s: %d nodes / %zu params, want %d / %zu", what, b->nnodes,
          b->nparam, a->nnodes, a->nparam);
    if (a->nnodes != b->nnodes || a->nparam != b->nparam) return;
    for (int i = 0; i < a->nnodes; i++) {
        const eg_node *x = &a->nodes[i], *y = &b->nodes[i];
        CHECK(x->op == y->op && !strcmp(x->name, y->name) && x->ninputs == y->ninputs &&
                  !memcmp(x->inputs, y->inputs, sizeof x->inputs) && !memcmp(&x->out_shape, &y->out_shape, sizeof x->out_shape) &&
                  x->nparams == y->nparams && !memcmp(x->pshape, y->pshape, sizeof x->pshape),
              "%s: node %d (%s) differs", what, i, x->name);
    }
    CHECK(!memcmp(a->params, b->params, a->nparam * sizeof(float)), "%s: parameters differ", what);
    CHECK(!a->masks == !b->masks, "%s: masks %s, want %s", what, b->masks ? "present" : "absent", a->masks ? "present" : "absent");
    if (a->masks && b->masks) CHECK(!memcmp(a->masks, b->masks, a->nparam * sizeof(float)), "%s: masks differ", what);
    CHECK((!a->history && !b->history) || (a->history && b->history && !strcmp(a->history, b->history)),
          "%s: history differs: '%s' vs '%s'", what, b->history ? b->history : "(none)", a->history ? a->history : "(none)");
}

static void check_same_outputs(const char *what, eg_graph *a, eg_graph *b)
{
    enum { N = 7 };
    float x[N * 64];
    eg_rng rng;
    eg_rng_seed(&rng, 99);
    for (int k = 0; k < N * 64; k++) x[k] = eg_rng_range(&rng, -2, 2);
    CHECK(!eg_graph_prepare(a, N, 0, 1) && !eg_graph_prepare(b, N, 0, 1), "%s: prepare", what);
    eg_graph_forward(a, x, N);
    eg_graph_forward(b, x, N);
    CHECK(!memcmp(eg_graph_y(a), eg_graph_y(b), N * 10 * sizeof(float)), "%s: outputs differ", what);
}

/* Saves g, loads it back, checks they agree; returns the file's bytes. */
static uint8_t *round_trip(const char *what, eg_graph *g, const char *name, size_t *n)
{
    eg_error err = {0};
    const char *path = at(name);
    eg_status st = eg_model_save(g, path, &err);
    CHECK(st == EG_OK, "%s: save: %s", what, err.msg);
    eg_graph h;
    st = eg_model_load(&h, path, &err);
    CHECK(st == EG_OK, "%s: load: %s", what, err.msg);
    if (!st) {
        check_same(what, g, &h);
        check_same_outputs(what, g, &h);
        eg_graph_free(&h);
    }
    uint8_t *b = util_read_file(path, n);
    CHECK(b != NULL, "cannot read %s", path);
    return b;
}

/* ------------------------------------------------------------ spec printer */

static void test_write_spec(void)
{
    eg_graph g, h;
    eg_error err;
    make_graph(&g, 1);
    size_t n = eg_graph_write_spec(&g, NULL, 0);
    char *text = malloc(n + 1);
    CHECK(eg_graph_write_spec(&g, text, n + 1) == n && strlen(text) == n, "write_spec: length");
    CHECK(strstr(text, "conv2d    c1     out=4 kernel=3 stride=1 pad=1\n") != NULL, "write_spec: conv line: %s", text);
    CHECK(strstr(text, "relu      r1\n") != NULL, "write_spec: a line without attributes has no trailing space: %s", text);
    eg_status st = eg_graph_parse_spec(&h, text, "printed", &err);
    CHECK(st == EG_OK, "write_spec: the printed spec does not parse: %s\n%s", err.msg, text);
    if (!st) {
        snprintf(h.name, sizeof h.name, "%s", g.name);
        memcpy(h.params, g.params, g.nparam * sizeof(float));
        check_same("printed spec", &g, &h);
        eg_graph_free(&h);
    }
    /* snprintf-style: a short buffer gets a terminated prefix, the same length back */
    char small[20];
    CHECK(eg_graph_write_spec(&g, small, sizeof small) == n && strlen(small) == sizeof small - 1 &&
              !strncmp(small, text, sizeof small - 1),
          "write_spec: truncation");
    free(text);

    /* a pruned model prints its new widths */
    int node = eg_graph_find(&g, "c1");
    eg_dep_group grp;
    int keep[] = {0, 2, 3};
    st = eg_depgroup_build(&g, node, &grp, &err);
    if (!st) st = eg_surgery_keep(&g, &grp, keep, 3, &err);
    CHECK(st == EG_OK, "surgery: %s", err.msg);
    n = eg_graph_write_spec(&g, NULL, 0);
    text = malloc(n + 1);
    eg_graph_write_spec(&g, text, n + 1);
    CHECK(strstr(text, "c1     out=3 ") != NULL, "write_spec after surgery: %s", text);
    st = eg_graph_parse_spec(&h, text, "pruned", &err);
    CHECK(st == EG_OK && h.nodes[4].pshape[0][1] == 3, "pruned spec: %s", st ? err.msg : "c2 takes the wrong inputs");
    if (!st) eg_graph_free(&h);
    free(text);
    eg_graph_free(&g);

    /* every model shipped in models/ prints and re-parses to itself */
    DIR *d = opendir("models");
    struct dirent *e;
    int seen = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[600];
        snprintf(path, sizeof path, "models/%s", e->d_name);
        if (eg_graph_load_spec(&g, path, &err)) continue;  /* not a spec */
        seen++;
        n = eg_graph_write_spec(&g, NULL, 0);
        text = malloc(n + 1);
        eg_graph_write_spec(&g, text, n + 1);
        st = eg_graph_parse_spec(&h, text, path, &err);
        CHECK(st == EG_OK, "%s: printed spec does not parse: %s", path, err.msg);
        if (!st) {
            check_same(path, &g, &h);
            eg_graph_free(&h);
        }
        free(text);
        eg_graph_free(&g);
    }
    if (d) closedir(d);
    CHECK(seen >= 1, "no model specs found in models/");
}

/* -------------------------------------------------------------- round trips */

static uint8_t *dense_file, *masked_file;
static size_t dense_len, masked_len;

static void test_round_trips(void)
{
    eg_graph g;
    eg_error err;
    int enc[4];

    /* dense, no masks, no history */
    make_graph(&g, 3);
    dense_file = round_trip("dense", &g, "dense.edg", &dense_len);
    encodings(dense_file, S_PARAMS, ntensors(&g), enc);
    CHECK(enc[0] == ntensors(&g), "dense model: %d of %d tensors dense", enc[0], ntensors(&g));
    size_t off, len;
    CHECK(edg_section(dense_file, S_MASKS, &off, &len) < 0 && edg_section(dense_file, S_HISTORY, &off, &len) < 0,
          "a dense model without history has no masks or history sections");
    CHECK(dense_len < g.nparam * 4 + 2048, "dense file is %zu bytes for %zu parameters", dense_len, g.nparam);

    /* magnitude-pruned: masks, sparse weights (zeros all +0.0 right after pruning) */
    int nodes[] = {1, 4, 7, 9};
    eg_status st = eg_prune_magnitude(&g, nodes, 4, 0.9, 1, &err);
    CHECK(st == EG_OK, "magnitude: %s", err.msg);
    eg_model_note(&g, "prune magnitude 0.9 (test)");
    size_t n;
    uint8_t *b = round_trip("magnitude 0.9", &g, "sparse.edg", &n);
    encodings(b, S_PARAMS, ntensors(&g), enc);
    CHECK(enc[1] >= 1, "pruned to 90%%: no sparse tensor (dense %d, sparse %d)", enc[0], enc[1]);
    encodings(b, S_MASKS, ntensors(&g), enc);
    CHECK(enc[2] >= 1, "masks: no bitmap tensor (dense %d, sparse %d, bitmap %d)", enc[0], enc[1], enc[2]);
    CHECK(n < dense_len / 3, "90%% sparse file is %zu bytes, dense %zu", n, dense_len);
    free(b);

    /* signed zeros, as masked training leaves them: kept bit for bit */
    size_t negs = 0;
    for (size_t k = 0; k < g.nparam; k++)
        if (g.masks[k] == 0 && (k % 3 == 0)) g.params[k] = -0.0f, negs++;
    CHECK(negs > 100, "test set-up: %zu negative zeros", negs);
    masked_file = round_trip("signed zeros", &g, "signed.edg", &masked_len);
    encodings(masked_file, S_PARAMS, ntensors(&g), enc);
    CHECK(enc[3] >= 1, "negative zeros: no sparse-with-signs tensor (%d %d %d %d)", enc[0], enc[1], enc[2], enc[3]);

    /* a model that is not finite is never saved (what diverged is never
     * written) ... */
    float marks[2] = {1234.5f, -2345.25f}, bad[2] = {nanf("0x123"), -1.0f / 0.0f};
    for (int k = 0; k < 2; k++) {
        g.params[g.nparam - 1 - k] = bad[k];
        st = eg_model_save(&g, at("nan.edg"), &err);
        CHECK(st == EG_ERR_NUMERIC && strstr(err.msg, "cannot save model") && strstr(err.msg, k ? "-inf" : "nan"),
              "a %s parameter: status %d, %s", k ? "-inf" : "nan", st, err.msg);
        CHECK(access(at("nan.edg"), F_OK) != 0, "a model that is not finite was saved");
        g.params[g.nparam - 1 - k] = marks[k];
    }
    /* ... but a file that holds one (an older writer's) loads with its bits, so that info can show it */
    st = eg_model_save(&g, at("nan.edg"), &err);
    size_t nl = 0;
    uint8_t *nb = util_read_file(at("nan.edg"), &nl);
    for (size_t i = 0; nb && i + 4 <= nl; i++)
        for (int k = 0; k < 2; k++)
            if (!memcmp(nb + i, &marks[k], 4)) memcpy(nb + i, &bad[k], 4);
    if (nb) edg_fix_crc(nb, nl), util_write_file(at("nan.edg"), nb, nl);
    free(nb);
    g.params[g.nparam - 1] = bad[0], g.params[g.nparam - 2] = bad[1];
    eg_graph h;
    st = eg_model_load(&h, at("nan.edg"), &err);
    CHECK(st == EG_OK && !memcmp(h.params, g.params, g.nparam * sizeof(float)), "NaN payload: %s", st ? err.msg : "bits differ");
    if (!st) eg_graph_free(&h);
    eg_graph_free(&g);

    /* channel-pruned: the stored spec has the new widths */
    make_graph(&g, 5);
    eg_dep_group grp;
    int keep[] = {1, 4};
    st = eg_depgroup_build(&g, 4, &grp, &err);
    if (!st) st = eg_surgery_keep(&g, &grp, keep, 2, &err);
    CHECK(st == EG_OK, "surgery: %s", err.msg);
    b = round_trip("channel-pruned", &g, "channels.edg", &n);
    free(b);
    /* the file says nothing of where it was saved: the name is the model's */
    snprintf(g.name, sizeof g.name, "my model v2");
    b = round_trip("renamed", &g, "renamed.edg", &n);
    free(b);
    eg_graph_free(&g);
}

/* Each tensor is stored dense or sparse (flat indices and values, 8 bytes a
 * stored value), whichever is smaller: fc1's weights at 0, 50, 99 and 100%
 * zeros (+0.0), each round trip bit for bit. At 50% both take 4 bytes a
 * weight and dense is kept. */
static void test_sparsity_levels(void)
{
    static const double levels[] = {0, 0.5, 0.99, 1};
    static const int want_enc[] = {0, 0, 1, 1};
    size_t sizes[4] = {0};
    for (int l = 0; l < 4; l++) {
        eg_graph g;
        make_graph(&g, 8);
        eg_node *fc1 = &g.nodes[eg_graph_find(&g, "fc1")];
        size_t n = fc1->psize[0], zeros = (size_t)(levels[l] * (double)n + 0.5);
        eg_rng rng;
        eg_rng_seed(&rng, 5);
        int32_t *perm = malloc(n * sizeof *perm);
        for (size_t k = 0; k < n; k++) perm[k] = (int32_t)k;
        eg_rng_shuffle(&rng, perm, (int)n);
        for (size_t k = 0; k < zeros; k++) fc1->param[0][perm[k]] = 0.0f;
        free(perm);
        char what[48], name[48];
        snprintf(what, sizeof what, "fc1 %.0f%% zeros", 100 * levels[l]);
        snprintf(name, sizeof name, "sparsity-%d.edg", l);
        size_t len;
        uint8_t *b = round_trip(what, &g, name, &len);
        size_t rec = record(b, S_PARAMS, 4);  /* c1 w, c1 b, c2 w, c2 b, then fc1's weight */
        uint32_t enc = rd32(b + rec + 8);
        uint64_t count = rd64(b + rec + 32);
        CHECK(enc == (uint32_t)want_enc[l], "%s: encoding %u, want %d", what, enc, want_enc[l]);
        CHECK(count == (enc ? n - zeros : n), "%s: %llu values stored", what, (unsigned long long)count);
        sizes[l] = len;
        free(b);
        eg_graph_free(&g);
    }
    CHECK(sizes[1] == sizes[0] && sizes[2] < sizes[0] / 2 && sizes[3] < sizes[2],
          "file sizes at 0/50/99/100%%: %zu %zu %zu %zu", sizes[0], sizes[1], sizes[2], sizes[3]);
}

/* ------------------------------------------------------ training goes on */

static void train(eg_graph *g, eg_dataset *ds, eg_rng *rng, int epochs, double *loss)
{
    eg_optim o;
    eg_optim_init(&o, EG_OPTIM_ADAM, 0.01f);
    eg_train_opts to = {.batch = 16, .shuffle = 1};
    eg_error err;
    for (int e = 0; e < epochs; e++) {
        eg_epoch_stats es;
        eg_status st = eg_train_epoch(g, &o, ds, &to, rng, &es, &err);
        CHECK(st == EG_OK, "train: %s", err.msg);
        *loss = es.loss;
    }
    eg_optim_free(&o);
}

static void test_resume(int masked)
{
    const char *what = masked ? "resume (masked)" : "resume";
    eg_graph g, h;
    eg_dataset ds = {0};
    eg_error err;
    double loss = 0, la = 0, lb = 0;
    make_graph(&g, 21);
    make_data(&ds, 96, 4);
    eg_rng rng;
    eg_rng_seed(&rng, 11);
    train(&g, &ds, &rng, 1, &loss);
    if (masked) {
        int nodes[] = {1, 4, 7, 9};
        CHECK(!eg_prune_magnitude(&g, nodes, 4, 0.6, 0, &err), "magnitude: %s", err.msg);
        train(&g, &ds, &rng, 1, &loss);  /* leaves -0.0 where weights are masked */
    }
    eg_status st = eg_model_save(&g, at("resume.edg"), &err);
    CHECK(st == EG_OK, "%s: save: %s", what, err.msg);
    eg_rng rng2 = rng;
    train(&g, &ds, &rng, 2, &la);
    st = eg_model_load(&h, at("resume.edg"), &err);
    CHECK(st == EG_OK, "%s: load: %s", what, err.msg);
    if (!st) {
        train(&h, &ds, &rng2, 2, &lb);
        CHECK(la == lb, "%s: loss %.9g after the load, %.9g without", what, lb, la);
        CHECK(!memcmp(g.params, h.params, g.nparam * sizeof(float)), "%s: parameters differ after two more epochs", what);
        if (masked) {
            CHECK(h.masks && !memcmp(g.masks, h.masks, g.nparam * sizeof(float)), "%s: masks differ", what);
            size_t bad = 0;
            for (size_t k = 0; k < h.nparam; k++) bad += h.masks[k] == 0 && h.params[k] != 0;
            CHECK(bad == 0, "%s: %zu masked weights are not zero", what, bad);
        }
        eg_graph_free(&h);
    }
    eg_graph_free(&g);
    eg_dataset_free(&ds);
}

/* ---------------------------------------------------------- atomic saves */

static int count_tmp_files(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) n += strstr(e->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    return n;
}

static void test_atomic(void)
{
    eg_graph g;
    eg_error err = {0};
    make_graph(&g, 2);
    eg_status st = eg_model_save(&g, at("no-such-dir/m.edg"), &err);
    CHECK(st == EG_ERR_IO && strstr(err.msg, "no-such-dir/m.edg"), "save into a missing folder: %d %s", st, err.msg);
    /* over a folder: the rename fails, the folder stays, no temporary file is left */
    mkdir(at("a-folder"), 0755);
    util_write_file(at("a-folder/keep"), "x", 1);
    st = eg_model_save(&g, at("a-folder"), &err);
    CHECK(st == EG_ERR_IO && strstr(err.msg, "nothing was replaced"), "save over a folder: %d %s", st, err.msg);
    struct stat sb;
    CHECK(!stat(at("a-folder/keep"), &sb), "the folder was touched");
    CHECK(count_tmp_files() == 0, "a temporary file was left behind");
    /* a graph the reader would refuse is refused before anything is written */
    CHECK(!eg_graph_enable_masks(&g, &err), "masks");
    g.masks[0] = 0;  /* masked, but the weight is not zero */
    st = eg_model_save(&g, at("refused.edg"), &err);
    CHECK(st == EG_ERR_ARG && strstr(err.msg, "masked parameters 0"), "inconsistent mask: %d %s", st, err.msg);
    CHECK(stat(at("refused.edg"), &sb) != 0, "a refused save left a file");
    g.masks[0] = 1;
    /* replacing a file leaves the new one */
    util_write_file(at("old.edg"), "old", 3);
    st = eg_model_save(&g, at("old.edg"), &err);
    eg_graph h;
    CHECK(st == EG_OK && !eg_model_load(&h, at("old.edg"), &err), "replace: %s", err.msg);
    if (!st) eg_graph_free(&h);
    CHECK(count_tmp_files() == 0, "a temporary file was left behind");
    eg_graph_free(&g);
}

/* ------------------------------------------------------------- history */

static void test_history(void)
{
    eg_graph g;
    make_graph(&g, 1);
    CHECK(g.history == NULL, "a new graph has no history");
    eg_model_note(&g, "prune l1 %s kept [%d, %d]", "conv1", 0, 3);
    eg_model_note(&g, "a\tbell\a and\nnewline");
    CHECK(g.history && !strcmp(g.history, "prune l1 conv1 kept [0, 3]\na bell  and newline\n"), "history: '%s'",
          g.history ? g.history : "(none)");
    for (int i = 0; i < 2000; i++) eg_model_note(&g, "line %04d %0100d", i, 0);
    size_t n = strlen(g.history);
    CHECK(n <= 65536 && n > 60000, "history is %zu bytes, want at most 64 KiB", n);
    CHECK(!strncmp(g.history, "line ", 5) && strstr(g.history, "line 1999 ") != NULL, "the oldest lines go first");
    size_t len;
    uint8_t *b = round_trip("long history", &g, "history.edg", &len);
    free(b);
    eg_graph_free(&g);
}

/* ------------------------------------------------------------ hostile */

/* Loading b[0..n) as file `name` fails with EG_ERR_FORMAT (or code) and a
 * message holding every word; nothing is left in the graph. */
static void expect_bad(const char *name, const uint8_t *b, size_t n, ...)
{
    const char *path = at(name);
    util_write_file(path, b, n);
    eg_graph g;
    eg_error err = {0};
    eg_status st = eg_model_load(&g, path, &err);
    CHECK(st == EG_ERR_FORMAT, "%s: status %d, want %d (message: %s)", name, st, EG_ERR_FORMAT, st ? err.msg : "none");
    if (!st) eg_graph_free(&g);
    CHECK(!strncmp(err.msg, path, strlen(path)), "%s: the message does not start with the path: %s", name, err.msg);
    va_list ap;
    va_start(ap, n);
    for (const char *w; (w = va_arg(ap, const char *));)
        CHECK(strstr(err.msg, w) != NULL, "%s: message lacks '%s': %s", name, w, err.msg);
    va_end(ap);
    CHECK(g.nodes == NULL && g.params == NULL && g.masks == NULL && g.history == NULL, "%s: a failed load left data", name);
}

/* A copy of base to patch. */
static uint8_t *copy(const uint8_t *base, size_t n)
{
    uint8_t *b = malloc(n + 64);
    memcpy(b, base, n);
    return b;
}

static void test_header(void)
{
    const uint8_t *d = dense_file;
    size_t n = dense_len;
    uint8_t *b;
    expect_bad("empty.edg", d, 0, util_byte_at(0), "not an edagari model file", "an empty file", NULL);
    expect_bad("gif.edg", (const uint8_t *)"GIF89a\1\0\0\0", 10, util_byte_at(0), "expected the magic 89 45 44 47 0d 0a 1a 0a",
               "found 47 49 46 38 39 61 01 00", NULL);
    expect_bad("spec.edg", (const uint8_t *)SPEC, sizeof SPEC - 1, util_byte_at(0), "(text: a model spec?)", NULL);
    expect_bad("magic-only.edg", d, 8, util_byte_at(8), "truncated header", "ends after 8 bytes", NULL);

    b = copy(d, n);
    wr32(b + 8, 2);
    expect_bad("version2.edg", b, n, util_byte_at(8), "format version: expected 1, found 2", "newer edagari", NULL);
    wr32(b + 8, 0);
    expect_bad("version0.edg", b, n, util_byte_at(8), "format version: expected 1, found 0", NULL);
    memcpy(b, d, n);
    wr32(b + 12, 41);
    expect_bad("header-size.edg", b, n, util_byte_at(12), "header size: expected 40", "found 41", NULL);
    memcpy(b, d, n);
    wr32(b + 16, 8);
    expect_bad("entry-size.edg", b, n, util_byte_at(16), "section entry size: expected 24", "found 8", NULL);
    memcpy(b, d, n);
    wr32(b + 20, 0);
    expect_bad("no-sections.edg", b, n, util_byte_at(20), "section count: expected 1 to 64, found 0", NULL);
    wr32(b + 20, 0xffffffffu);
    expect_bad("many-sections.edg", b, n, util_byte_at(20), "found 4294967295", NULL);
    memcpy(b, d, n);
    wr32(b + 36, 1);
    expect_bad("flags.edg", b, n, util_byte_at(36), "header flags: expected 0", NULL);
    memcpy(b, d, n);
    wr64(b + 24, 0xffffffffffffffffull);
    char w0[96];
    snprintf(w0, sizeof w0, "truncated: the file ends after %zu bytes; the header says its body alone is 18446744073709551615", n);
    expect_bad("body-length.edg", b, n, util_byte_at(n), w0, NULL);
    memcpy(b, d, n);
    memcpy(b + n, "garbage!", 8);
    expect_bad("trailing.edg", b, n + 8, util_byte_at(n), "8 bytes after the end of the model file", NULL);
    memcpy(b, d, n);
    b[n / 2] ^= 0x10;
    char want[64];
    snprintf(want, sizeof want, "the %zu bytes after it give", n - HS);
    expect_bad("bad-crc.edg", b, n, util_byte_at(32), "checksum: the header says crc32", want, "damaged", NULL);
    free(b);

    /* truncated at every offset in the first 600 bytes and the last 64, every 7th between */
    int checked = 0;
    for (size_t len = 0; len < n; len += len < 600 || len + 64 >= n ? 1 : 7) {
        char name[64], w1[64];
        snprintf(name, sizeof name, "cut-%zu.edg", len);
        if (len < 8)
            snprintf(w1, sizeof w1, len ? "truncated header: the file ends after %zu bytes" : "an empty file", len);
        else if (len < HS)
            snprintf(w1, sizeof w1, "truncated header: the file ends after %zu bytes", len);
        else
            snprintf(w1, sizeof w1, "truncated: the file ends after %zu bytes", len);
        expect_bad(name, d, len, util_byte_at(len ? len : 0), w1, NULL);
        remove(at(name));
        checked++;
    }
    CHECK(checked > 600, "only %d truncations", checked);
}

/* Section table problems: offsets, lengths, ids. */
static void test_sections(void)
{
    size_t n = dense_len, off, len;
    uint8_t *b = copy(dense_file, n);
    int s_spec = edg_section(b, S_SPEC, &off, &len);
    CHECK(s_spec >= 0, "no spec section");
    size_t e = HS + (size_t)s_spec * ES;

    wr64(b + e + 8, n + 8);
    edg_fix_crc(b, n);
    char w[96];
    snprintf(w, sizeof w, "offset %zu is past the end of the file at byte %zu", n + 8, n);
    expect_bad("offset-past-end.edg", b, n, util_byte_at(e + 8), w, NULL);

    memcpy(b, dense_file, n);
    wr64(b + e + 16, 0xffffffffffffffffull);  /* offset + length wraps round */
    edg_fix_crc(b, n);
    expect_bad("length-overflow.edg", b, n, util_byte_at(e + 16), "18446744073709551615 bytes from byte", "past the end of the file", NULL);

    memcpy(b, dense_file, n);
    wr64(b + e + 8, HS);  /* inside the header */
    edg_fix_crc(b, n);
    expect_bad("inside-header.edg", b, n, util_byte_at(e + 8), "offset 40; expected at least", NULL);

    memcpy(b, dense_file, n);
    size_t e_next = e + ES;  /* the params section starts where the spec does */
    wr64(b + e_next + 8, off);
    edg_fix_crc(b, n);
    expect_bad("overlap.edg", b, n, util_byte_at(e_next + 8), "after the previous section", NULL);

    memcpy(b, dense_file, n);
    wr32(b + e_next, S_SPEC);
    edg_fix_crc(b, n);
    expect_bad("duplicate.edg", b, n, util_byte_at(e_next), "a second spec section", NULL);

    memcpy(b, dense_file, n);
    wr32(b + e, 77);
    wr32(b + e + 4, 1);
    edg_fix_crc(b, n);
    expect_bad("unknown-required.edg", b, n, util_byte_at(e), "id 77, which this version does not know, and is marked required", NULL);

    memcpy(b, dense_file, n);
    wr32(b + e, 77);
    wr32(b + e + 4, 0);
    edg_fix_crc(b, n);
    expect_bad("no-spec.edg", b, n, util_byte_at(HS), "no spec section (id 2)", NULL);

    /* an unknown optional section (a later version's) is skipped */
    memcpy(b, dense_file, n);
    int s_name = edg_section(b, S_NAME, &off, &len);
    CHECK(s_name >= 0, "no name section");
    wr32(b + HS + (size_t)s_name * ES, 42);
    edg_fix_crc(b, n);
    util_write_file(at("later.edg"), b, n);
    eg_graph g;
    eg_error err;
    eg_status st = eg_model_load(&g, at("later.edg"), &err);
    CHECK(st == EG_OK, "an unknown optional section: %s", err.msg);
    if (!st) {
        CHECK(!strcmp(g.name, "later.edg"), "without a name section the name is the file's, found '%s'", g.name);
        eg_graph_free(&g);
    }

    /* an empty name */
    memcpy(b, dense_file, n);
    wr64(b + HS + (size_t)s_name * ES + 16, 0);
    edg_fix_crc(b, n);
    expect_bad("empty-name.edg", b, n, "name: empty", NULL);
    memcpy(b, dense_file, n);
    edg_section(b, S_NAME, &off, &len);
    b[off] = '\n';
    edg_fix_crc(b, n);
    expect_bad("name-newline.edg", b, n, util_byte_at(off), "name: byte 0x0a; expected printable text", NULL);
    free(b);
}

/* The stored spec: not parsing, disagreeing with the tensors, not text. */
static void test_spec_section(void)
{
    size_t n = dense_len, off, len;
    uint8_t *b = copy(dense_file, n);
    edg_section(b, S_SPEC, &off, &len);
    char *text = malloc(len + 1);
    memcpy(text, b + off, len);
    text[len] = 0;
    /* line 2 is the first conv: "conv2d    c1     out=4 ..." */
    char *l2 = strchr(text, '\n') + 1;
    size_t l2off = off + (size_t)(l2 - text);
    CHECK(!strncmp(l2, "conv2d ", 7), "stored spec line 2: %.20s", l2);
    b[l2off + 4] = '3';  /* conv3d */
    edg_fix_crc(b, n);
    expect_bad("spec-unknown-op.edg", b, n, util_byte_at(l2off), "the stored spec does not parse: line 2, column 1: unknown op 'conv3d'",
               NULL);

    memcpy(b, dense_file, n);
    char *o = strstr(l2, "out=4");
    b[off + (size_t)(o - text) + 4] = '5';  /* c1 gets 5 channels: the tensors disagree */
    edg_fix_crc(b, n);
    size_t rec = record(b, S_PARAMS, 0);
    expect_bad("spec-disagrees.edg", b, n, util_byte_at(rec + 16), "tensor 0 (c1 weight): shape: expected 5x1x3x3 (from the stored spec), found 4x1x3x3",
               NULL);

    memcpy(b, dense_file, n);
    b[off + 3] = 0;
    edg_fix_crc(b, n);
    expect_bad("spec-nul.edg", b, n, util_byte_at(off + 3), "spec: a NUL byte", NULL);

    /* a spec that parses to a different, valid model with the same tensor count */
    memcpy(b, dense_file, n);
    char *k = strstr(l2, "kernel=3");
    b[off + (size_t)(k - text) + 7] = '1';
    edg_fix_crc(b, n);
    expect_bad("spec-kernel.edg", b, n, util_byte_at(rec + 16 + 8), "expected 4x1x1x1 (from the stored spec), found 4x1x3x3", NULL);

    /* only an input: the parse itself says what is wrong, at the section's start */
    memcpy(b, dense_file, n);
    memset(b + off + (size_t)(l2 - text), ' ', len - (size_t)(l2 - text));
    edg_fix_crc(b, n);
    expect_bad("spec-one-node.edg", b, n, util_byte_at(off), "the stored spec does not parse: expected an input node and at least one op",
               NULL);
    free(text);
    free(b);
}

/* Tensor records: counts, encodings, shapes, sizes, indices. */
static void test_tensors(void)
{
    size_t n = dense_len, off, len;
    uint8_t *b = copy(dense_file, n);
    edg_section(b, S_PARAMS, &off, &len);
    size_t r0 = record(b, S_PARAMS, 0), r1 = record(b, S_PARAMS, 1);

    wr32(b + off, 9);
    edg_fix_crc(b, n);
    expect_bad("tensor-count.edg", b, n, util_byte_at(off), "params: tensor count: expected 8 (the stored spec's parameter tensors), found 9", NULL);

    memcpy(b, dense_file, n);
    wr32(b + r1, 4);
    edg_fix_crc(b, n);
    expect_bad("tensor-node.edg", b, n, util_byte_at(r1), "tensor 1 (c1 bias): expected node 1 (c1) parameter 1, found node 4 parameter 1",
               NULL);

    memcpy(b, dense_file, n);
    wr32(b + r0 + 8, 9);
    edg_fix_crc(b, n);
    expect_bad("tensor-encoding.edg", b, n, util_byte_at(r0 + 8), "encoding: expected 0 (dense), 1 (sparse), 2 (bitmap) or 3", "found 9", NULL);

    memcpy(b, dense_file, n);
    wr32(b + r0 + 12, 3);
    edg_fix_crc(b, n);
    expect_bad("tensor-ndims.edg", b, n, util_byte_at(r0 + 12), "dimensions: expected 4 (4x1x3x3, from the stored spec), found 3", NULL);

    memcpy(b, dense_file, n);
    wr32(b + r0 + 16, 0x40000000u);  /* a dimension that would overflow a product */
    edg_fix_crc(b, n);
    expect_bad("tensor-dim.edg", b, n, util_byte_at(r0 + 16), "expected 4x1x3x3 (from the stored spec), found 1073741824x1x3x3", NULL);

    memcpy(b, dense_file, n);
    wr32(b + r1 + 20, 1);  /* an unused dimension of a 1-d bias */
    edg_fix_crc(b, n);
    expect_bad("tensor-unused-dim.edg", b, n, util_byte_at(r1 + 20), "with an unused dimension set", NULL);

    memcpy(b, dense_file, n);
    wr64(b + r0 + 32, 0xffffffffffffffffull);
    edg_fix_crc(b, n);
    expect_bad("tensor-count-huge.edg", b, n, util_byte_at(r0 + 32), "count: a dense tensor of 4x1x3x3 holds 36 values, found 18446744073709551615",
               NULL);

    memcpy(b, dense_file, n);
    wr32(b + r0 + 8, 1);  /* sparse, count 36: then the payload of 288 bytes runs into the next record */
    edg_fix_crc(b, n);
    eg_graph g;
    eg_error err;
    util_write_file(at("tensor-sparse-36.edg"), b, n);
    eg_status st = eg_model_load(&g, at("tensor-sparse-36.edg"), &err);
    CHECK(st == EG_ERR_FORMAT, "dense read as sparse loaded");
    if (!st) eg_graph_free(&g);

    /* the params section shortened by 4 bytes: the last record's values do not fit */
    memcpy(b, dense_file, n);
    int s = edg_section(b, S_PARAMS, &off, &len);
    wr64(b + HS + (size_t)s * ES + 16, len - 4);
    edg_fix_crc(b, n);
    size_t last = record(b, S_PARAMS, 7);
    char w[128];
    snprintf(w, sizeof w, "tensor 7 (fc2 bias) needs 40 bytes, but the params section ends at byte %zu (4 bytes short)", off + len - 4);
    expect_bad("tensor-short.edg", b, n, util_byte_at(last + REC), w, NULL);

    /* params is the last section of this file: 8 bytes more in it are left over */
    memcpy(b, dense_file, n);
    CHECK(off + len == n, "params is not the last section");
    memset(b + n, 0, 8);
    wr64(b + HS + (size_t)s * ES + 16, len + 8);
    wr64(b + 24, n + 8 - HS);
    edg_fix_crc(b, n + 8);
    expect_bad("tensor-leftover.edg", b, n + 8, util_byte_at(n), "params: 8 bytes left over after the last tensor", NULL);
    free(b);

    /* the masked file: sparse indices, signed zeros, mask bitmaps */
    n = masked_len;
    b = copy(masked_file, n);
    int t = 0, enc = -1;
    size_t r = 0;
    for (t = 0; t < 8; t++) {
        r = record(b, S_PARAMS, t);
        enc = (int)rd32(b + r + 8);
        if (enc == 3) break;
    }
    CHECK(enc == 3, "no signed-zero record");
    uint64_t count = rd64(b + r + 32);
    size_t numel = 1;
    char shape[64] = "";
    for (uint32_t d = 0; d < rd32(b + r + 12); d++) {
        numel *= rd32(b + r + 16 + 4 * d);
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), d ? "x%u" : "%u", rd32(b + r + 16 + 4 * d));
    }
    CHECK(count >= 2, "too few stored values: %llu", (unsigned long long)count);

    wr32(b + r + REC + 4, (uint32_t)numel);
    edg_fix_crc(b, n);
    snprintf(w, sizeof w, "sparse index 1 is %zu; expected an index below the tensor's %zu values", numel, numel);
    expect_bad("sparse-index.edg", b, n, util_byte_at(r + REC + 4), w, NULL);

    memcpy(b, masked_file, n);
    uint32_t i0 = rd32(b + r + REC), i1 = rd32(b + r + REC + 4);
    wr32(b + r + REC, i1), wr32(b + r + REC + 4, i0);
    edg_fix_crc(b, n);
    expect_bad("sparse-order.edg", b, n, util_byte_at(r + REC + 4), "expected ascending indices", NULL);

    memcpy(b, masked_file, n);
    wr64(b + r + 32, numel + 1);
    edg_fix_crc(b, n);
    snprintf(w, sizeof w, "count: a sparse tensor of %s stores at most %zu values, found %zu", shape, numel, numel + 1);
    expect_bad("sparse-count.edg", b, n, util_byte_at(r + 32), w, NULL);

    memcpy(b, masked_file, n);
    size_t bm = r + REC + 8 * count;  /* the sign bitmap: set the bit of stored value 0 */
    b[bm + i0 / 8] |= (uint8_t)(1u << (i0 % 8));
    edg_fix_crc(b, n);
    expect_bad("sign-of-stored.edg", b, n, util_byte_at(bm + i0 / 8), "the sign bit of value", "expected signs only for zeros", NULL);

    /* masks: a bitmap padding bit, and a masked weight that is not zero */
    memcpy(b, masked_file, n);
    size_t m0 = record(b, S_MASKS, 0);
    CHECK(rd32(b + m0 + 8) == 2, "c1's mask is not a bitmap");
    /* c1 weight: 36 values, 8 bytes of bitmap; bit 37 is padding */
    b[m0 + REC + 4] |= 0x20;
    edg_fix_crc(b, n);
    expect_bad("mask-padding.edg", b, n, util_byte_at(m0 + REC + 4), "bitmap padding bit 37 is set", NULL);

    /* the first tensor stored dense with a bitmap mask: clear the mask bit of a non-zero value */
    memcpy(b, masked_file, n);
    static const char *const names[] = {"c1 weight", "c1 bias", "c2 weight", "c2 bias", "fc1 weight", "fc1 bias", "fc2 weight", "fc2 bias"};
    int tt = -1, k = -1;
    for (int q = 0; q < 8 && tt < 0; q++)
        if (rd32(b + record(b, S_PARAMS, q) + 8) == 0 && rd32(b + record(b, S_MASKS, q) + 8) == 2) tt = q;
    CHECK(tt >= 0, "set-up: no dense tensor with a bitmap mask");
    if (tt >= 0) {
        size_t pr = record(b, S_PARAMS, tt), mr = record(b, S_MASKS, tt);
        for (size_t q = 0; q < rd64(b + pr + 32) && k < 0; q++)
            if ((b[mr + REC + q / 8] >> (q % 8) & 1) && (rd32(b + pr + REC + 4 * q) & 0x7fffffffu)) k = (int)q;
        CHECK(k >= 0, "set-up: no kept non-zero value");
        if (k >= 0) {
            b[mr + REC + k / 8] &= (uint8_t)~(1u << (k % 8));
            edg_fix_crc(b, n);
            snprintf(w, sizeof w, "tensor %d (%s): value %d is masked but its parameter is", tt, names[tt], k);
            expect_bad("mask-nonzero.edg", b, n, util_byte_at(mr), w, "expected masked parameters to be 0", NULL);
        }
    }

    /* history: a control byte, a missing final newline */
    memcpy(b, masked_file, n);
    CHECK(edg_section(b, S_HISTORY, &off, &len) >= 0, "no history section");
    b[off + 2] = 7;
    edg_fix_crc(b, n);
    expect_bad("history-bell.edg", b, n, util_byte_at(off + 2), "history: byte 0x07", NULL);
    memcpy(b, masked_file, n);
    b[off + len - 1] = 'x';
    edg_fix_crc(b, n);
    expect_bad("history-newline.edg", b, n, util_byte_at(off + len - 1), "the last line does not end with a newline", NULL);
    free(b);
}

/* Random damage with the checksum repaired: the loader either refuses the
 * file or reads a model; it never crashes, reads out of bounds or leaks. */
static void test_fuzz(void)
{
    eg_rng rng;
    eg_rng_seed(&rng, 2024);
    int refused = 0, loaded = 0;
    for (int it = 0; it < 3000; it++) {
        const uint8_t *base = it % 2 ? masked_file : dense_file;
        size_t n = it % 2 ? masked_len : dense_len;
        uint8_t *b = copy(base, n);
        int flips = 1 + (int)eg_rng_below(&rng, 4);
        for (int f = 0; f < flips; f++) {
            /* half the damage in the first 400 bytes: header, table, spec */
            size_t pos = eg_rng_below(&rng, 2) ? eg_rng_below(&rng, 400 < n ? 400 : (uint32_t)n) : eg_rng_below(&rng, (uint32_t)n);
            b[pos] = eg_rng_below(&rng, 3) ? (uint8_t)eg_rng_below(&rng, 256) : (uint8_t)(b[pos] ^ 0x80);
        }
        if (eg_rng_below(&rng, 8)) edg_fix_crc(b, n);
        util_write_file(at("fuzz.edg"), b, n);
        eg_graph g;
        eg_error err = {0};
        eg_status st = eg_model_load(&g, at("fuzz.edg"), &err);
        if (st == EG_OK) {
            loaded++;
            eg_graph_free(&g);
        } else {
            refused++;
            CHECK(st == EG_ERR_FORMAT && strstr(err.msg, ": byte ") != NULL, "fuzz %d: status %d, message %s", it, st, err.msg);
            if (st != EG_ERR_FORMAT || !strstr(err.msg, ": byte ")) {
                free(b);
                break;
            }
        }
        free(b);
    }
    printf("fuzz: %d refused, %d loaded (damage in values only)\n", refused, loaded);
    CHECK(refused > 1500, "only %d of 3000 damaged files were refused", refused);
}

/* The committed hostile files (tests/fixtures/make_bad_edg.py): each
 * refused with the byte offset and the phrase expected.txt gives. */
static void test_committed(void)
{
    const char *dir = "tests/fixtures/bad_edg";
    char list[256], line[1024];
    snprintf(list, sizeof list, "%s/expected.txt", dir);
    FILE *f = fopen(list, "r");
    CHECK(f != NULL, "cannot open %s", list);
    if (!f) return;
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\n")] = 0;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        CHECK(t1 && t2, "%s: a line without two tabs: %s", list, line);
        if (!t1 || !t2) continue;
        *t1 = *t2 = 0;
        char path[1400], where[1100];
        snprintf(path, sizeof path, "%s/%s", dir, line);
        snprintf(where, sizeof where, ": byte %s: ", t1 + 1);
        eg_graph g;
        eg_error err = {0};
        eg_status st = eg_model_load(&g, path, &err);
        CHECK(st == EG_ERR_FORMAT, "%s: status %d, want %d (%s)", path, st, EG_ERR_FORMAT, st ? err.msg : "loaded");
        if (!st) eg_graph_free(&g);
        CHECK(!strncmp(err.msg, path, strlen(path)) && strstr(err.msg, where) && strstr(err.msg, t2 + 1),
              "%s: want '%s%s...%s', found: %s", path, path, where, t2 + 1, err.msg);
        CHECK(g.nodes == NULL && g.params == NULL && g.masks == NULL && g.history == NULL, "%s: a failed load left data", path);
        cases++;
    }
    fclose(f);
    CHECK(cases >= 15, "only %d committed cases", cases);
}

static void test_path_kinds(void)
{
    util_write_file(at("spec-file"), SPEC, sizeof SPEC - 1);
    util_write_file(at("no-extension"), dense_file, dense_len);
    CHECK(!eg_model_path_is_file(at("spec-file")), "a spec taken for a model file");
    CHECK(eg_model_path_is_file(at("no-extension")), "a model file without .edg not recognised by its magic");
    CHECK(eg_model_path_is_file(at("missing.edg")), "a .edg path is a model file even before it exists");
    eg_graph g;
    eg_error err;
    int from_file = -1;
    CHECK(!eg_model_open(&g, at("spec-file"), &from_file, &err) && from_file == 0, "open a spec: %s", err.msg);
    eg_graph_free(&g);
    CHECK(!eg_model_open(&g, at("no-extension"), &from_file, &err) && from_file == 1, "open a model file: %s", err.msg);
    eg_graph_free(&g);
    eg_status st = eg_model_open(&g, at("missing.edg"), &from_file, &err);
    CHECK(st == EG_ERR_IO && strstr(err.msg, "cannot open model file"), "missing file: %d %s", st, err.msg);
    st = eg_model_load(&g, tmpdir, &err);
    CHECK(st == EG_ERR_IO && strstr(err.msg, "it is a folder"), "a folder: %d %s", st, err.msg);
}

/* The normalisation a model was trained with: kept, then refused when the
 * section does not fit the spec or holds a std that is not above 0. */
static void test_normalize(void)
{
    eg_graph g, h;
    eg_error err = {0};
    make_graph(&g, 5);
    int c = g.nodes[0].out_shape.c;
    g.norm = malloc(2 * (size_t)c * sizeof *g.norm);
    for (int k = 0; k < c; k++) g.norm[k] = 0.25f + (float)k, g.norm[c + k] = 0.5f;
    g.norm_c = c;
    const char *path = at("norm.edg");
    eg_status st = eg_model_save(&g, path, &err);
    CHECK(st == EG_OK, "save with a normalisation: %s", err.msg);
    st = st ? st : eg_model_load(&h, path, &err);
    CHECK(st == EG_OK, "load with a normalisation: %s", err.msg);
    if (!st) {
        CHECK(h.norm_c == c && !memcmp(h.norm, g.norm, 2 * (size_t)c * sizeof *g.norm),
              "the normalisation came back as %d channels", h.norm_c);
        eg_graph_free(&h);
    }
    size_t n, off, len;
    uint8_t *b = util_read_file(path, &n);
    if (b && edg_section(b, 9, &off, &len) >= 0) {
        uint8_t *p = copy(b, n);
        wr32(p + off, (uint32_t)c + 1);
        edg_fix_crc(p, n);
        expect_bad("norm-channels.edg", p, n, util_byte_at(off), "the normalize section", "for the spec's", NULL);
        memcpy(p, b, n);
        wr32(p + off + 8 + 4 * (size_t)c, 0);  /* channel 0's std: +0.0 */
        edg_fix_crc(p, n);
        expect_bad("norm-std.edg", p, n, util_byte_at(off + 8 + 4 * (size_t)c), "channel 0's std is 0", "above 0", NULL);
        free(p);
    } else {
        CHECK(0, "norm.edg has no normalize section (id 9)");
    }
    free(b);
    eg_graph_free(&g);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_write_spec();
    test_round_trips();
    test_sparsity_levels();
    test_resume(0);
    test_resume(1);
    test_atomic();
    test_history();
    test_normalize();
    if (dense_file && masked_file) {
        test_header();
        test_sections();
        test_spec_section();
        test_tensors();
        test_fuzz();
        test_committed();
        test_path_kinds();
    }
    free(dense_file);
    free(masked_file);
    util_remove_tree(tmpdir);
    return check_report("model_file");
}
