/* Small helpers shared by the C test programs (header-only, like check.h):
 * paths in a test's temporary folder and its removal, whole-file read and
 * write, the little-endian fields of .edg files, random MNIST-sized data,
 * a graph's outputs for comparing two graphs, and checks on float arrays
 * and fixture tensors. */
#ifndef EG_TEST_UTIL_H
#define EG_TEST_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "fixture.h"
#include "internal.h"

/* dir/name in one of 8 rotating buffers: for names used at once. */
static inline const char *util_path(const char *dir, const char *name)
{
    static char buf[8][512];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* The whole file in a malloc'd buffer, with a 0 after its end and room for
 * 64 more bytes (tests that grow a file in place); NULL if it cannot be
 * opened or read. */
static inline uint8_t *util_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = n < 0 ? NULL : malloc((size_t)n + 64);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) free(b), b = NULL;
    fclose(f);
    if (b) b[n] = 0;
    if (len) *len = b ? (size_t)n : 0;
    return b;
}

/* The same, as text. */
static inline char *util_read_text(const char *path, size_t *len) { return (char *)util_read_file(path, len); }

/* Removes path and, if it is a folder, everything in it (a test's
 * temporary folder at the end). */
static inline void util_remove_tree(const char *path)
{
    struct stat sb;
    DIR *d = !lstat(path, &sb) && S_ISDIR(sb.st_mode) ? opendir(path) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[1024];
        if (snprintf(p, sizeof p, "%s/%s", path, e->d_name) < (int)sizeof p) util_remove_tree(p);
    }
    if (d) closedir(d), rmdir(path);
    else remove(path);
}

/* Writes n bytes of b as path; a failure to create it is a test failure. */
static inline void util_write_file(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f) return;
    if (n) fwrite(b, 1, n, f);
    fclose(f);
}

/* ": byte OFF: ", the text a refusal of a damaged file must contain; in one
 * of 8 rotating buffers, for several in one message. */
static inline const char *util_byte_at(size_t off)
{
    static char buf[8][48];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 48, ": byte %zu: ", off);
    return p;
}

/* Little-endian fields, as .edg files store them. */
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static inline void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void wr64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* .edg layout (src/io/model_file.c): a 40-byte header with the section
 * count at 20 and the crc32 of everything after the header at 32, then
 * 24-byte section entries (id, flags, offset, length). */
enum { EDG_HEADER = 40, EDG_ENTRY = 24 };

/* Makes the crc right again after a test patched the n bytes of b. */
static inline void edg_fix_crc(uint8_t *b, size_t n)
{
    wr32(b + 32, (uint32_t)crc32(0L, b + EDG_HEADER, (uInt)(n - EDG_HEADER)));
}

/* Index in the section table of section id, or -1; its offset and length. */
static inline int edg_section(const uint8_t *b, uint32_t id, size_t *off, size_t *len)
{
    for (uint32_t i = 0; i < rd32(b + 20); i++) {
        const uint8_t *e = b + EDG_HEADER + i * EDG_ENTRY;
        if (rd32(e) == id) {
            *off = (size_t)rd64(e + 8), *len = (size_t)rd64(e + 16);
            return (int)i;
        }
    }
    return -1;
}

/* n random 1x28x28 samples with values in [lo, hi) and labels below
 * classes, drawn from r (all values first, then all labels). */
static inline void util_random_dataset(eg_dataset *ds, int n, eg_rng *r, float lo, float hi, int classes)
{
    *ds = (eg_dataset){.n = n, .c = 1, .h = 28, .w = 28};
    ds->x = malloc((size_t)n * 784 * sizeof *ds->x);
    ds->y = malloc((size_t)n);
    for (size_t i = 0; i < (size_t)n * 784; i++) ds->x[i] = eg_rng_range(r, lo, hi);
    for (int i = 0; i < n; i++) ds->y[i] = (uint8_t)eg_rng_below(r, (uint32_t)classes);
}

/* g from the spec text (named name), or from the spec file name when text
 * is NULL, its parameters initialised from seed; with masks, masks enabled
 * (all ones). A failure is a test failure and returns -1. */
static inline int util_graph(eg_graph *g, const char *name, const char *text, uint64_t seed, int masks)
{
    eg_error err = {0};
    eg_status st = text ? eg_graph_parse_spec(g, text, name, &err) : eg_graph_load_spec(g, name, &err);
    if (st) {
        CHECK(0, "%s: %s", name, err.msg);
        return -1;
    }
    eg_rng r;
    eg_rng_seed(&r, seed);
    eg_graph_init_params(g, &r);
    if (masks) CHECK(eg_graph_enable_masks(g, &err) == EG_OK, "%s: masks: %s", name, err.msg);
    return 0;
}

/* A malloc'd copy of g's output for the n inputs x, with g->plan.sparse set to
 * sparse (-1 dense, 1 sparse, 0 automatic). */
static inline float *util_outputs(eg_graph *g, int sparse, const float *x, int n, int threads)
{
    g->plan.sparse = sparse;
    CHECK(eg_graph_prepare(g, n, 0, threads) == EG_OK, "prepare");
    eg_graph_forward(g, x, n);
    size_t k = (size_t)n * eg_shape_size(eg_graph_output(g)->out_shape);
    float *out = malloc(k * sizeof *out);
    memcpy(out, eg_graph_y(g), k * sizeof *out);
    return out;
}

/* A malloc'd copy of the n floats at v (never NULL for n = 0 unless out of memory). */
static inline float *util_dup_floats(const float *v, size_t n)
{
    float *d = malloc((n ? n : 1) * sizeof *d);
    if (d && n) memcpy(d, v, n * sizeof *d);
    return d;
}

/* max |v[i]| */
static inline double util_max_abs(const float *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)v[i]) > m) m = fabs((double)v[i]);
    return m;
}

/* Whether batch lanes run (src/graph/lanes.c): on every kernel variant. */
static inline int util_lanes_run(void) { return 1; }

/* Checks that a and b hold the same bits; names the first difference. */
static inline void util_same_bits(const char *what, const float *a, const float *b, size_t n)
{
    size_t i = 0;
    while (i < n && !memcmp(&a[i], &b[i], sizeof *a)) i++;
    CHECK(i == n, "%s: first difference at [%zu]: %.9g vs %.9g", what, i, i < n ? a[i] : 0, i < n ? b[i] : 0);
}

/* The fixture tensor name, which must hold size values; NULL (and a failed
 * check) otherwise. */
static inline const fx_tensor *util_need(const fixture *f, const char *name, size_t size)
{
    const fx_tensor *t = fx_get(f, name);
    CHECK(t && t->size == size, "%s: tensor %s has %zu values, expected %zu", f->path, name, t ? t->size : 0, size);
    return t && t->size == size ? t : NULL;
}

static inline float util_max_abs_diff(const float *a, const float *b, size_t n)
{
    float d = 0;
    for (size_t i = 0; i < n; i++) d = fabsf(a[i] - b[i]) > d ? fabsf(a[i] - b[i]) : d;
    return d;
}

/* Zeroes output channel c of a conv/linear node: its filter (a row of the
 * weight) and, when with_bias, its bias — the masked twin of removing it. */
static inline void util_zero_channel(eg_graph *g, int nd, int c, int with_bias)
{
    eg_node *n = &g->nodes[nd];
    size_t per = n->psize[0] / (size_t)n->out;
    memset(n->param[0] + (size_t)c * per, 0, per * sizeof(float));
    if (with_bias) n->param[1][c] = 0;
}

#endif
