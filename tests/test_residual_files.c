/* Model files of the residual BatchNorm model: the running statistics
 * (buffers) survive a save and a load bit for bit, before and after
 * surgery, and the reader refuses a file whose buffers are missing or do not
 * match the stored spec, naming the byte. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "internal.h"
#include "util.h"

#define BATCH 6

static char dir[] = "/tmp/eg_resfiles.XXXXXX";

/* resnet_small with trained-looking state: random parameters and running
 * statistics moved by a few training passes. */
static int make_model(eg_graph *g)
{
    eg_error err = {0};
    if (eg_graph_load_spec(g, "models/resnet_small", &err)) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    eg_rng r;
    eg_rng_seed(&r, 5);
    eg_graph_init_params(g, &r);
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_BATCHNORM2D)
            for (size_t k = 0; k < g->nodes[i].psize[0]; k++) g->nodes[i].param[0][k] = eg_rng_range(&r, 0.5f, 1.5f);
    float *x = malloc(BATCH * 784 * sizeof *x);
    for (int i = 0; i < BATCH * 784; i++) x[i] = eg_rng_range(&r, -0.5f, 2.5f);
    eg_set_threads(2);
    if (eg_graph_prepare(g, BATCH, 1, 2)) CHECK(0, "prepare failed");
    else
        for (int pass = 0; pass < 3; pass++) eg_graph_forward(g, x, BATCH);
    free(x);
    return 0;
}

static void logits(eg_graph *g, float *out)
{
    float x[BATCH * 784];
    eg_rng r;
    eg_rng_seed(&r, 9);
    for (int i = 0; i < BATCH * 784; i++) x[i] = eg_rng_range(&r, -0.5f, 2.5f);
    if (eg_graph_prepare(g, BATCH, 0, 2)) {
        CHECK(0, "prepare failed");
        return;
    }
    eg_graph_forward(g, x, BATCH);
    memcpy(out, eg_graph_y(g), BATCH * 10 * sizeof *out);
}

static void round_trip(eg_graph *g, const char *what)
{
    char path[256];
    snprintf(path, sizeof path, "%s/m.edg", dir);
    eg_error err = {0};
    eg_status st = eg_model_save(g, path, &err);
    CHECK(st == EG_OK, "%s: save: %s", what, err.msg);
    eg_graph h;
    st = st ? st : eg_model_load(&h, path, &err);
    CHECK(st == EG_OK, "%s: load: %s", what, err.msg);
    if (st) return;
    CHECK(h.nbuffer == g->nbuffer && h.nbuffer > 0 && !memcmp(h.buffers, g->buffers, g->nbuffer * sizeof(float)),
          "%s: the %zu buffer values did not come back (%zu loaded)", what, g->nbuffer, h.nbuffer);
    CHECK(h.nparam == g->nparam && !memcmp(h.params, g->params, g->nparam * sizeof(float)), "%s: parameters differ", what);
    /* and they are where the nodes read them */
    int bn = eg_graph_find(&h, "bn3b");
    CHECK(bn >= 0 && h.nodes[bn].buffer[1] == h.buffers + (g->nodes[bn].buffer[1] - g->buffers) &&
              h.nodes[bn].buffer[1][0] == g->nodes[bn].buffer[1][0],
          "%s: bn3b's running variance is not in place", what);
    float a[BATCH * 10], b[BATCH * 10];
    logits(g, a);
    logits(&h, b);
    CHECK(!memcmp(a, b, sizeof a), "%s: the loaded model computes other logits", what);
    eg_graph_free(&h);
}

static void expect_refused(const uint8_t *b, size_t n, const char *want1, const char *want2)
{
    char path[256];
    snprintf(path, sizeof path, "%s/bad.edg", dir);
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
    eg_graph g;
    eg_error err = {0};
    eg_status st = eg_model_load(&g, path, &err);
    CHECK(st == EG_ERR_FORMAT, "a damaged file loaded (expected '%s')", want1);
    if (!st) {
        eg_graph_free(&g);
        return;
    }
    CHECK(strstr(err.msg, want1) && strstr(err.msg, want2) && strstr(err.msg, "byte "), "message '%s' lacks '%s' / '%s'",
          err.msg, want1, want2);
    unlink(path);
}

static void test_damage(eg_graph *g)
{
    char path[256];
    snprintf(path, sizeof path, "%s/m.edg", dir);
    eg_error err = {0};
    if (eg_model_save(g, path, &err)) {
        CHECK(0, "save: %s", err.msg);
        return;
    }
    size_t n = 0, so, len;
    uint8_t *b = util_read_file(path, &n);
    CHECK(n > 40, "cannot read %s back", path);
    if (n <= 40) {
        free(b);
        return;
    }
    int at = edg_section(b, 8, &so, &len);
    CHECK(at >= 0, "no buffers section (id 8) in the file");
    if (at < 0) {
        free(b);
        return;
    }
    uint8_t *e = b + 40 + 24 * at;
    CHECK(rd32(e + 4) == 1, "the buffers section is not marked required");
    uint8_t *c = malloc(n);
    /* the buffers section renamed to an optional unknown id: the running statistics are missing */
    memcpy(c, b, n);
    wr32(c + 40 + 24 * at, 9);
    wr32(c + 40 + 24 * at + 4, 0);
    edg_fix_crc(c, n);
    expect_refused(c, n, "no buffers section", "running statistics");
    /* one tensor fewer than the spec's batchnorms hold */
    memcpy(c, b, n);
    wr32(c + so, rd32(b + so) - 1);
    edg_fix_crc(c, n);
    expect_refused(c, n, "buffers: tensor count: expected 12", "found 11");
    /* the first record names another buffer */
    memcpy(c, b, n);
    wr32(c + so + 8 + 4, 1);
    edg_fix_crc(c, n);
    expect_refused(c, n, "running mean", "expected node 2 (bn0) buffer 0, found node 2 buffer 1");
    /* the first record's shape is not the channel count */
    memcpy(c, b, n);
    wr32(c + so + 8 + 16, 7);
    edg_fix_crc(c, n);
    expect_refused(c, n, "shape: expected 8 (from the stored spec), found 7", "bn0");
    free(c);
    free(b);
    unlink(path);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    eg_graph g;
    if (make_model(&g)) return check_report("residual_files");
    round_trip(&g, "resnet_small");
    test_damage(&g);
    /* after surgery on a coupled group and an inner conv */
    int roots[2] = {eg_graph_find(&g, "conv1b"), eg_graph_find(&g, "conv3a")};
    for (int k = 0; k < 2; k++) {
        eg_dep_group grp;
        eg_error err = {0};
        int keep[16], nkeep = 0;
        if (eg_depgroup_build(&g, roots[k], &grp, &err)) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        for (int c = 0; c < grp.channels; c += 2) keep[nkeep++] = c;
        CHECK(eg_surgery_keep(&g, &grp, keep, nkeep, &err) == EG_OK, "surgery: %s", err.msg);
    }
    round_trip(&g, "resnet_small pruned");
    eg_graph_free(&g);
    rmdir(dir);
    return check_report("residual_files");
}
