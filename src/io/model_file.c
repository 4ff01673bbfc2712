/* Model files (.edg): a whole model in one versioned, checksummed file.
 *
 * Every field is little-endian and fixed-width. The file is a header, a
 * table of sections, then the sections (each starting on an 8-byte
 * boundary; the bytes between them are zero):
 *
 *   header (40 bytes)
 *     0   8  magic  89 45 44 47 0d 0a 1a 0a  ("\x89EDG\r\n\x1a\n": binary, and
 *                   line-ending conversions show)
 *     8   4  format version (1)
 *    12   4  header size in bytes (40; a reader takes larger, ignoring the rest)
 *    16   4  section table entry size in bytes (24; likewise)
 *    20   4  number of sections (1..64)
 *    24   8  body length: bytes after the header, to the end of the file
 *    32   4  crc32 (zlib) of those bytes
 *    36   4  flags (0)
 *   section table, right after the header: one entry per section
 *     0   4  id (below)
 *     4   4  flags: bit 0 "required": a reader that does not know the id
 *               must refuse the file; unknown sections without it are skipped
 *     8   8  offset of the section from the start of the file
 *    16   8  length in bytes
 *   sections, in table order, after the table and not overlapping:
 *     1  name     the model's name, 1..63 printable bytes (optional)
 *     2  spec     the model spec as text (eg_graph_write_spec), at most 1 MiB
 *     3  params   tensors: u32 count, u32 0, then one record per parameter
 *                 tensor in node order (weight, then bias)
 *     4  masks    the same layout, present when the graph has masks; values 0 or 1
 *     5  history  text lines, each ending in '\n', at most 64 KiB (optional)
 *     6  optimizer  a checkpoint's optimizer state and
 *     7  position   its data position (exact resume): both or neither, laid
 *                   out in src/io/checkpoint.c; optional (a reader that lacks
 *                   them skips them), checked against the model when read
 *     8  buffers  the same layout for every node's buffers (state that is not
 *                 trained: a batchnorm2d's running mean, buffer 0, and running
 *                 variance, buffer 1; one dimension, the channels), present
 *                 when the model has any and then required: a reader that
 *                 does not know it refuses the file rather than lose them
 *     9  normalize  the input normalisation the model was trained with,
 *                 (x - mean) / std per input channel: u32 channels C (the
 *                 spec's input channels), u32 0, C f32 means, C f32 stds
 *                 (finite, stds > 0); required when present, so that a
 *                 reader cannot feed the model inputs scaled otherwise
 *   tensor record (40-byte header, then the values)
 *     0   4  node index in the stored spec
 *     4   4  parameter index (0 weight, 1 bias), or buffer index
 *     8   4  encoding: 0 dense, 1 sparse, 2 bitmap, 3 sparse with signed zeros
 *    12   4  number of dimensions (1..4)
 *    16  16  dimensions, 4 x u32 (unused ones 0)
 *    32   8  count: values (dense, bitmap) or stored entries (sparse)
 *    40      dense: count f32;
 *            sparse: count u32 flat indices (ascending), then count f32
 *            values; every other value is +0.0;
 *            bitmap (0/1 tensors, masks): a bitmap of the values;
 *            sparse with signed zeros: as sparse, then a bitmap whose bit k
 *            is set where value k is -0.0 (training leaves masked weights at
 *            -0.0 as often as +0.0; stored entries have their bit clear).
 *            A bitmap of n bits is ceil(n / 8) bytes, bit k in byte k / 8
 *            (least significant first), zero-padded to a multiple of 4 bytes.
 *
 * The writer picks the smallest encoding for each tensor, so masked weights
 * at high sparsity go sparse and masks go as bitmaps. A change to any of
 * this that an older reader would misread bumps the version. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"
#include "io/le.h"

static const uint8_t MAGIC[8] = {0x89, 'E', 'D', 'G', '\r', '\n', 0x1a, '\n'};

enum { HEADER_SIZE = 40, ENTRY_SIZE = 24, RECORD_SIZE = 40, MAX_SECTIONS = 64 };
enum { SEC_NAME = 1, SEC_SPEC = 2, SEC_PARAMS = 3, SEC_MASKS = 4, SEC_HISTORY = 5, SEC_OPTIM = 6, SEC_POSITION = 7,
       SEC_BUFFERS = 8, SEC_NORMALIZE = 9, SEC_KNOWN = 9 };
/* What a tensor section holds. */
enum { TENSORS_PARAMS, TENSORS_MASKS, TENSORS_BUFFERS };
enum { SEC_REQUIRED = 1 };
enum { ENC_DENSE = 0, ENC_SPARSE = 1, ENC_BITMAP = 2, ENC_SPARSE_SIGNED = 3 };
static const char *const enc_names[] = {"dense", "sparse", "bitmap", "sparse with signed zeros"};
#define MAX_SPEC ((size_t)1 << 20)
#define MAX_HISTORY ((size_t)1 << 16)
/* above what a model of 2^28 parameters with masks and Adam's state takes */
#define MAX_FILE ((size_t)1 << 33)
#define MAX_NAME (sizeof(((eg_graph *)0)->name) - 1)

static const char *const section_names[] = {"?",        "name",     "spec",    "params",   "masks",
                                            "history",  "optimizer", "position", "buffers", "normalize"};

static int known_section(uint32_t id) { return id >= 1 && id <= SEC_KNOWN && section_names[id][0]; }
static const char *section_name(uint32_t id) { return known_section(id) ? section_names[id] : "unknown"; }

/* Shape and size of tensor p of a node: a parameter (or its mask), or a buffer. */
static int tensor_dims(const eg_node *nd, int kind, int p, const int **dims, size_t *n)
{
    if (kind == TENSORS_BUFFERS) {
        static _Thread_local int one[4];
        one[0] = (int)nd->bsize[p];
        *dims = one;
        *n = nd->bsize[p];
        return 1;
    }
    *dims = nd->pshape[p];
    *n = nd->psize[p];
    return nd->pdims[p];
}

static int tensors_of(const eg_node *nd, int kind) { return kind == TENSORS_BUFFERS ? nd->nbuffers : nd->nparams; }

/* Printable text: what names and history lines may hold (UTF-8 passes). */
static int text_byte(uint8_t c) { return c >= 0x20 && c != 0x7f; }

/* ------------------------------------------------------------------ writing */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    int oom;
} wbuf;

static uint8_t *grow(wbuf *w, size_t n)
{
    if (w->oom) return NULL;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n) cap *= 2;
        uint8_t *np = realloc(w->p, cap);
        if (!np) {
            w->oom = 1;
            return NULL;
        }
        w->p = np;
        w->cap = cap;
    }
    uint8_t *at = w->p + w->len;
    w->len += n;
    return at;
}

static void put32(wbuf *w, uint32_t v)
{
    uint8_t *p = grow(w, 4);
    if (p) le_set32(p, v);
}

static void put64(wbuf *w, uint64_t v)
{
    uint8_t *p = grow(w, 8);
    if (p) le_set64(p, v);
}

static void put_bytes(wbuf *w, const void *src, size_t n)
{
    uint8_t *p = grow(w, n);
    if (p && n) memcpy(p, src, n);
}

static void align8(wbuf *w)
{
    size_t pad = (8 - w->len % 8) % 8;
    uint8_t *p = grow(w, pad);
    if (p) memset(p, 0, pad);
}

/* Bytes a tensor of n values takes in each encoding (SIZE_MAX: not possible). */
static size_t bitmap_bytes(size_t n) { return (n + 31) / 32 * 4; }

#define NEG_ZERO 0x80000000u

/* Whether sparse encodings store value v: sparse (1) stores all but +0.0,
 * so the round trip is exact; sparse with signed zeros (3) leaves out -0.0
 * too, whose signs its bitmap keeps. */
static int stored(uint32_t u, int enc) { return enc == ENC_SPARSE ? u != 0 : u != 0 && u != NEG_ZERO; }

/* The smallest encoding for v[0..n) and, for sparse ones, the entries stored. */
static int choose_encoding(const float *v, size_t n, size_t *count)
{
    size_t bits = 0, values = 0;
    int binary = 1;
    for (size_t k = 0; k < n; k++) {
        uint32_t u = le_f2u(v[k]);
        bits += u != 0;
        values += u != 0 && u != NEG_ZERO;
        binary &= u == 0 || u == le_f2u(1.0f);
    }
    size_t best = 4 * n;
    int enc = ENC_DENSE;
    *count = n;
    if (binary && bitmap_bytes(n) < best) best = bitmap_bytes(n), enc = ENC_BITMAP;
    if (8 * bits < best) best = 8 * bits, enc = ENC_SPARSE, *count = bits;
    if (8 * values + bitmap_bytes(n) < best) enc = ENC_SPARSE_SIGNED, *count = values;
    return enc;
}

static void put_tensor(wbuf *w, int node, int p, const eg_node *nd, int kind, const float *v)
{
    const int *dims;
    size_t n, count;
    int ndims = tensor_dims(nd, kind, p, &dims, &n);
    int enc = choose_encoding(v, n, &count);
    put32(w, (uint32_t)node);
    put32(w, (uint32_t)p);
    put32(w, (uint32_t)enc);
    put32(w, (uint32_t)ndims);
    for (int d = 0; d < 4; d++) put32(w, d < ndims ? (uint32_t)dims[d] : 0);
    put64(w, count);
    if (enc == ENC_DENSE) {
        for (size_t k = 0; k < n; k++) put32(w, le_f2u(v[k]));
        return;
    }
    if (enc == ENC_SPARSE || enc == ENC_SPARSE_SIGNED) {
        for (size_t k = 0; k < n; k++)
            if (stored(le_f2u(v[k]), enc)) put32(w, (uint32_t)k);
        for (size_t k = 0; k < n; k++)
            if (stored(le_f2u(v[k]), enc)) put32(w, le_f2u(v[k]));
        if (enc == ENC_SPARSE) return;
    }
    /* a bitmap: the 1.0 values, or the -0.0 ones */
    uint8_t *bits = grow(w, bitmap_bytes(n));
    if (!bits) return;
    memset(bits, 0, bitmap_bytes(n));
    for (size_t k = 0; k < n; k++)
        if (enc == ENC_BITMAP ? v[k] != 0 : le_f2u(v[k]) == NEG_ZERO) bits[k / 8] |= (uint8_t)(1u << (k % 8));
}

static int tensor_count(const eg_graph *g, int kind)
{
    int t = 0;
    for (int i = 0; i < g->nnodes; i++) t += tensors_of(&g->nodes[i], kind);
    return t;
}

static float *tensor_values(const eg_node *nd, int kind, int p)
{
    return kind == TENSORS_PARAMS ? nd->param[p] : kind == TENSORS_MASKS ? nd->mask[p] : nd->buffer[p];
}

static void put_tensors(wbuf *w, const eg_graph *g, int kind)
{
    put32(w, (uint32_t)tensor_count(g, kind));
    put32(w, 0);
    for (int i = 0; i < g->nnodes; i++)
        for (int p = 0; p < tensors_of(&g->nodes[i], kind); p++)
            put_tensor(w, i, p, &g->nodes[i], kind, tensor_values(&g->nodes[i], kind, p));
}

/* The stored spec must re-create g exactly, or the file could not be read
 * back into the same model: checked before anything is written. */
static eg_status check_spec(const eg_graph *g, const char *spec, const char *path, eg_error *err)
{
    eg_graph h;
    eg_error e2;
    if (eg_graph_parse_spec(&h, spec, "(spec written from the graph)", &e2))
        return eg_fail(err, EG_ERR_SPEC, "%s: cannot save model %s: its spec does not parse back: %s", path, g->name,
                       e2.msg);
    const char *why = NULL;
    int at = -1;
    if (h.nnodes != g->nnodes || h.nparam != g->nparam || h.nbuffer != g->nbuffer) why = "the node or parameter count differs";
    for (int i = 0; !why && i < g->nnodes; i++) {
        const eg_node *a = &g->nodes[i], *b = &h.nodes[i];
        at = i;
        if (a->op != b->op || strcmp(a->name, b->name) || a->ninputs != b->ninputs ||
            memcmp(a->inputs, b->inputs, sizeof a->inputs) || a->nparams != b->nparams ||
            memcmp(&a->out_shape, &b->out_shape, sizeof a->out_shape))
            why = "a node differs";
        for (int p = 0; !why && p < a->nparams; p++)
            if (a->pdims[p] != b->pdims[p] || a->psize[p] != b->psize[p] ||
                memcmp(a->pshape[p], b->pshape[p], sizeof a->pshape[p]))
                why = "a parameter shape differs";
    }
    eg_graph_free(&h);
    if (why)
        return eg_fail(err, EG_ERR_SPEC, "%s: cannot save model %s: the spec written from it does not re-create it (%s%s%s)",
                       path, g->name, why, at >= 0 ? " at node " : "", at >= 0 ? g->nodes[at].name : "");
    return EG_OK;
}

/* What a reader would refuse is refused before writing, so every file saved reads back. */
static eg_status check_graph(const eg_graph *g, const char *path, eg_error *err)
{
    char what[4200];
    snprintf(what, sizeof what, "%s: cannot save model %s", path, g->name);
    eg_status st = eg_graph_check_finite(g, what, err);  /* a model file never holds what diverged */
    if (st) return st;
    size_t hl = g->history ? strlen(g->history) : 0;
    if (hl > MAX_HISTORY)
        return eg_fail(err, EG_ERR_ARG, "%s: cannot save: the history is %zu bytes, at most %zu", path, hl, MAX_HISTORY);
    for (size_t k = 0; k < hl; k++)
        if (!text_byte((uint8_t)g->history[k]) && g->history[k] != '\n')
            return eg_fail(err, EG_ERR_ARG, "%s: cannot save: history byte %zu is 0x%02x, not text", path, k,
                           (unsigned)(uint8_t)g->history[k]);
    if (hl && g->history[hl - 1] != '\n')
        return eg_fail(err, EG_ERR_ARG, "%s: cannot save: the history does not end with a newline", path);
    for (size_t k = 0; g->masks && k < g->nparam; k++)
        if ((g->masks[k] != 0 && g->masks[k] != 1) || (g->masks[k] == 0 && g->params[k] != 0))
            return eg_fail(err, EG_ERR_ARG, "%s: cannot save: parameter %zu has mask %g and value %g; masks are 0 or 1 and masked parameters 0",
                           path, k, g->masks[k], g->params[k]);
    return EG_OK;
}

eg_status eg_model_save(const eg_graph *g, const char *path, eg_error *err)
{
    return eg_model_save_sections(g, NULL, NULL, path, err);
}

eg_status eg_model_save_sections(const eg_graph *g, const eg_optim *o, const eg_train_position *pos, const char *path,
                                 eg_error *err)
{
    eg_status st = check_graph(g, path, err);
    if (st) return st;
    size_t slen = eg_graph_write_spec(g, NULL, 0);
    char *spec = malloc(slen + 1);
    if (!spec) return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for the spec", path);
    eg_graph_write_spec(g, spec, slen + 1);
    if (slen > MAX_SPEC) st = eg_fail(err, EG_ERR_SPEC, "%s: cannot save: the spec is %zu bytes, at most %zu", path, slen, MAX_SPEC);
    if (!st) st = check_spec(g, spec, path, err);
    if (st) {
        free(spec);
        return st;
    }

    /* name: printable bytes only */
    char name[MAX_NAME + 1];
    size_t nl = 0;
    for (const char *c = g->name; *c && nl < MAX_NAME; c++)
        name[nl++] = text_byte((uint8_t)*c) ? *c : '?';
    size_t hl = g->history ? strlen(g->history) : 0;
    uint32_t ids[9];
    int ns = 0;
    size_t olen = 0, plen = 0;
    uint8_t *ob = o && pos ? eg_ckpt_encode_optim(o, &olen) : NULL;
    uint8_t *pb = o && pos ? eg_ckpt_encode_position(pos, &plen) : NULL;
    if (o && pos && (!ob || !pb)) {
        free(spec), free(ob), free(pb);
        return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for the checkpoint", path);
    }
    if (nl) ids[ns++] = SEC_NAME;
    ids[ns++] = SEC_SPEC;
    ids[ns++] = SEC_PARAMS;
    if (g->masks) ids[ns++] = SEC_MASKS;
    if (hl) ids[ns++] = SEC_HISTORY;
    if (g->nbuffer) ids[ns++] = SEC_BUFFERS;
    if (g->norm_c) ids[ns++] = SEC_NORMALIZE;
    if (ob) ids[ns++] = SEC_OPTIM, ids[ns++] = SEC_POSITION;

    wbuf w = {0};
    grow(&w, HEADER_SIZE + (size_t)ns * ENTRY_SIZE);
    if (!w.oom) memset(w.p, 0, w.len);
    for (int s = 0; s < ns; s++) {
        align8(&w);
        size_t start = w.len;
        switch (ids[s]) {
        case SEC_NAME: put_bytes(&w, name, nl); break;
        case SEC_SPEC: put_bytes(&w, spec, slen); break;
        case SEC_PARAMS: put_tensors(&w, g, TENSORS_PARAMS); break;
        case SEC_MASKS: put_tensors(&w, g, TENSORS_MASKS); break;
        case SEC_BUFFERS: put_tensors(&w, g, TENSORS_BUFFERS); break;
        case SEC_HISTORY: put_bytes(&w, g->history, hl); break;
        case SEC_OPTIM: put_bytes(&w, ob, olen); break;
        case SEC_POSITION: put_bytes(&w, pb, plen); break;
        case SEC_NORMALIZE:
            put32(&w, (uint32_t)g->norm_c);
            put32(&w, 0);
            for (int k = 0; k < 2 * g->norm_c; k++) put32(&w, le_f2u(g->norm[k]));
            break;
        }
        if (w.oom) break;
        uint8_t *e = w.p + HEADER_SIZE + (size_t)s * ENTRY_SIZE;
        le_set32(e, ids[s]);
        int optional = ids[s] == SEC_NAME || (ids[s] >= SEC_HISTORY && ids[s] <= SEC_POSITION);
        le_set32(e + 4, optional ? 0 : SEC_REQUIRED);
        le_set64(e + 8, start);
        le_set64(e + 16, w.len - start);
    }
    free(spec), free(ob), free(pb);
    if (w.oom) {
        free(w.p);
        return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory building the model file", path);
    }
    memcpy(w.p, MAGIC, 8);
    le_set32(w.p + 8, EG_MODEL_VERSION);
    le_set32(w.p + 12, HEADER_SIZE);
    le_set32(w.p + 16, ENTRY_SIZE);
    le_set32(w.p + 20, (uint32_t)ns);
    le_set64(w.p + 24, w.len - HEADER_SIZE);
    le_set32(w.p + 32, (uint32_t)crc32_z(0L, w.p + HEADER_SIZE, w.len - HEADER_SIZE));
    le_set32(w.p + 36, 0);
    st = eg_write_atomic(path, w.p, w.len, err);
    free(w.p);
    return st;
}

/* ------------------------------------------------------------------ reading */

typedef struct {
    const char *path;
    const uint8_t *b;
    size_t n;
    eg_error *err;
} reader;

static eg_status bad(reader *R, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static eg_status bad(reader *R, size_t at, const char *fmt, ...)
{
    char m[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return eg_fail(R->err, EG_ERR_FORMAT, "%s: byte %zu: %s", R->path, at, m);
}

/* Callers have checked that the bytes are there. */
static uint32_t get32(const reader *R, size_t at) { return le_get32(R->b + at); }
static uint64_t get64(const reader *R, size_t at) { return le_get64(R->b + at); }

/* The bytes [at, at + k) lie inside the section that ends at `end`. */
static eg_status need(reader *R, size_t at, uint64_t k, size_t end, const char *sec, const char *what)
{
    if (k <= end - at) return EG_OK;
    return bad(R, at, "%s needs %llu bytes, but the %s section ends at byte %zu (%llu bytes short)", what,
               (unsigned long long)k, sec, end, (unsigned long long)(k - (end - at)));
}

static void shape_text(char *buf, size_t len, const uint32_t *dims, int nd)
{
    size_t o = 0;
    buf[0] = 0;
    for (int d = 0; d < nd && o < len; d++) o += (size_t)snprintf(buf + o, len - o, d ? "x%u" : "%u", dims[d]);
}

/* One tensor record at *pos of a params, masks or buffers section ending
 * at end, checked against node i, parameter (buffer) p of g, decoded into dst. */
static eg_status read_tensor(reader *R, eg_graph *g, int t, int i, int p, size_t *pos, size_t end, int kind)
{
    static const char *const secs[] = {"params", "masks", "buffers"};
    const char *sec = secs[kind];
    int masks = kind == TENSORS_MASKS;
    const eg_node *nd = &g->nodes[i];
    const int *dims;
    size_t n;
    int ndims = tensor_dims(nd, kind, p, &dims, &n);
    char what[96], want[64], found[64];
    snprintf(what, sizeof what, "tensor %d (%s %s)", t, nd->name,
             kind == TENSORS_BUFFERS ? (p ? "running variance" : "running mean") : p ? "bias" : "weight");
    size_t rec = *pos;
    eg_status st = need(R, rec, RECORD_SIZE, end, sec, what);
    if (st) return st;
    uint32_t node = get32(R, rec), param = get32(R, rec + 4), enc = get32(R, rec + 8), fdims = get32(R, rec + 12);
    if (node != (uint32_t)i || param != (uint32_t)p)
        return bad(R, rec, "%s: expected node %d (%s) %s %d, found node %u %s %u", what, i, nd->name,
                   kind == TENSORS_BUFFERS ? "buffer" : "parameter", p, node, kind == TENSORS_BUFFERS ? "buffer" : "parameter",
                   param);
    if (enc > ENC_SPARSE_SIGNED)
        return bad(R, rec + 8, "%s: encoding: expected 0 (dense), 1 (sparse), 2 (bitmap) or 3 (sparse with signed zeros), found %u",
                   what, enc);
    uint32_t wd[4], fd[4];
    for (int d = 0; d < 4; d++) {
        wd[d] = d < ndims ? (uint32_t)dims[d] : 0;
        fd[d] = get32(R, rec + 16 + 4 * (size_t)d);
    }
    shape_text(want, sizeof want, wd, ndims);
    if (fdims != (uint32_t)ndims)
        return bad(R, rec + 12, "%s: dimensions: expected %d (%s, from the stored spec), found %u", what, ndims,
                   want, fdims);
    for (int d = 0; d < 4; d++)
        if (fd[d] != wd[d]) {
            shape_text(found, sizeof found, fd, ndims);
            return bad(R, rec + 16 + 4 * (size_t)d, "%s: shape: expected %s (from the stored spec), found %s%s", what,
                       want, found, d >= ndims ? " with an unused dimension set" : "");
        }
    uint64_t count = get64(R, rec + 32);
    int sparse = enc == ENC_SPARSE || enc == ENC_SPARSE_SIGNED;
    if (!sparse && count != n)
        return bad(R, rec + 32, "%s: count: a %s tensor of %s holds %zu values, found %llu", what, enc_names[enc], want,
                   n, (unsigned long long)count);
    if (sparse && count > n)
        return bad(R, rec + 32, "%s: count: a sparse tensor of %s stores at most %zu values, found %llu", what, want,
                   n, (unsigned long long)count);
    /* count <= n <= 2^28 now, so these products cannot overflow */
    uint64_t bytes = enc == ENC_DENSE ? 4 * count : enc == ENC_SPARSE ? 8 * count
                   : enc == ENC_BITMAP ? bitmap_bytes(n) : 8 * count + bitmap_bytes(n);
    size_t at = rec + RECORD_SIZE;
    st = need(R, at, bytes, end, sec, what);
    if (st) return st;
    float *dst = tensor_values(nd, kind, p);
    if (enc == ENC_DENSE)
        for (size_t k = 0; k < n; k++) dst[k] = le_u2f(get32(R, at + 4 * k));
    if (sparse) {
        memset(dst, 0, n * sizeof *dst);
        size_t vals = at + 4 * count;
        for (size_t j = 0; j < count; j++) {
            uint32_t k = get32(R, at + 4 * j);
            if (k >= n)
                return bad(R, at + 4 * j, "%s: sparse index %zu is %u; expected an index below the tensor's %zu values",
                           what, j, k, n);
            if (j && k <= get32(R, at + 4 * (j - 1)))
                return bad(R, at + 4 * j, "%s: sparse index %zu is %u, after %u; expected ascending indices", what, j,
                           k, get32(R, at + 4 * (j - 1)));
            dst[k] = le_u2f(get32(R, vals + 4 * j));
        }
    }
    if (enc == ENC_BITMAP || enc == ENC_SPARSE_SIGNED) {
        size_t bm = at + (enc == ENC_BITMAP ? 0 : 8 * count);
        for (size_t k = 0; k < 8 * bitmap_bytes(n); k++) {
            if (!((R->b[bm + k / 8] >> (k % 8)) & 1)) continue;
            if (k >= n)
                return bad(R, bm + k / 8, "%s: bitmap padding bit %zu is set; expected the bits past the %zu values to be 0",
                           what, k, n);
            if (enc == ENC_BITMAP) {
                dst[k] = 1.0f;
                continue;
            }
            if (le_f2u(dst[k]))
                return bad(R, bm + k / 8, "%s: the sign bit of value %zu is set, but that value is stored (%g); expected signs only for zeros",
                           what, k, dst[k]);
            dst[k] = le_u2f(NEG_ZERO);
        }
        if (enc == ENC_BITMAP)
            for (size_t k = 0; k < n; k++)
                if (!((R->b[bm + k / 8] >> (k % 8)) & 1)) dst[k] = 0.0f;
    }
    if (masks && enc != ENC_BITMAP)
        for (size_t k = 0; k < n; k++)
            if (dst[k] != 0 && dst[k] != 1)
                return bad(R, rec, "%s: mask value %zu is %g; expected 0 or 1", what, k, dst[k]);
    if (masks)
        for (size_t k = 0; k < n; k++)
            if (dst[k] == 0 && nd->param[p][k] != 0)
                return bad(R, rec, "%s: value %zu is masked but its parameter is %g; expected masked parameters to be 0",
                           what, k, nd->param[p][k]);
    *pos = at + bytes;
    return EG_OK;
}

static eg_status read_tensors(reader *R, eg_graph *g, size_t start, size_t end, int kind)
{
    static const char *const secs[] = {"params", "masks", "buffers"};
    const char *sec = secs[kind];
    eg_status st = need(R, start, 8, end, sec, "the tensor count");
    if (st) return st;
    int want = tensor_count(g, kind);
    uint32_t have = get32(R, start);
    if (have != (uint32_t)want)
        return bad(R, start, "%s: tensor count: expected %d (the stored spec's %s tensors), found %u", sec, want,
                   kind == TENSORS_BUFFERS ? "buffer" : "parameter", have);
    if (get32(R, start + 4))
        return bad(R, start + 4, "%s: reserved field: expected 0, found %u", sec, get32(R, start + 4));
    size_t pos = start + 8;
    int t = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int p = 0; p < tensors_of(&g->nodes[i], kind); p++, t++) {
            st = read_tensor(R, g, t, i, p, &pos, end, kind);
            if (st) return st;
        }
    if (pos != end)
        return bad(R, pos, "%s: %zu bytes left over after the last tensor; expected the section to end here", sec,
                   end - pos);
    return EG_OK;
}

static eg_status read_spec(reader *R, eg_graph *g, size_t start, size_t len)
{
    if (len > MAX_SPEC) return bad(R, start, "spec: %zu bytes; expected at most %zu", len, MAX_SPEC);
    const uint8_t *nul = memchr(R->b + start, 0, len);
    if (nul) return bad(R, (size_t)(nul - R->b), "spec: a NUL byte; expected text");
    char *text = malloc(len + 1), label[1100];
    if (!text) return eg_fail(R->err, EG_ERR_NOMEM, "%s: out of memory for the spec", R->path);
    memcpy(text, R->b + start, len);
    text[len] = 0;
    snprintf(label, sizeof label, "%s(spec)", R->path);
    eg_error e2;
    eg_status st = eg_graph_parse_spec(g, text, label, &e2);
    if (st == EG_ERR_NOMEM) {
        free(text);
        return eg_fail(R->err, st, "%s", e2.msg);
    }
    if (st) {
        /* "<label>:LINE[:COLUMN]: why" names the byte where that line starts */
        size_t ll = strlen(label), at = start;
        const char *rest = e2.msg;
        long line = 0, col = 0;
        if (!strncmp(rest, label, ll)) {
            rest += ll;
            if (rest[0] == ':' && rest[1] >= '0' && rest[1] <= '9') {
                char *e;
                line = strtol(rest + 1, &e, 10);
                rest = e;
                if (rest[0] == ':' && rest[1] >= '0' && rest[1] <= '9') {
                    col = strtol(rest + 1, &e, 10);
                    rest = e;
                }
                for (long l = 1; l < line && at < start + len; l++) {
                    const char *nl = memchr(text + (at - start), '\n', start + len - at);
                    at = nl ? start + (size_t)(nl - text) + 1 : start + len;
                }
            }
            if (*rest == ':') rest++;
            while (*rest == ' ') rest++;
        }
        free(text);
        if (line && col) return bad(R, at + (size_t)col - 1, "the stored spec does not parse: line %ld, column %ld: %s", line, col, rest);
        if (line) return bad(R, at, "the stored spec does not parse: line %ld: %s", line, rest);
        return bad(R, at, "the stored spec does not parse: %s", rest);
    }
    free(text);
    return EG_OK;
}

/* Name and history: printable bytes (history: lines ending in '\n'). */
static eg_status read_text(reader *R, uint32_t id, size_t start, size_t len)
{
    const char *sec = section_name(id);
    size_t max = id == SEC_NAME ? MAX_NAME : MAX_HISTORY;
    if (id == SEC_NAME && len == 0) return bad(R, start, "name: empty; expected 1 to %zu bytes", max);
    if (len > max) return bad(R, start, "%s: %zu bytes; expected at most %zu", sec, len, max);
    for (size_t k = 0; k < len; k++) {
        uint8_t c = R->b[start + k];
        if (!text_byte(c) && !(id == SEC_HISTORY && c == '\n'))
            return bad(R, start + k, "%s: byte 0x%02x; expected printable text%s", sec, c,
                       id == SEC_HISTORY ? " in lines" : "");
    }
    if (id == SEC_HISTORY && len && R->b[start + len - 1] != '\n')
        return bad(R, start + len - 1, "history: the last line does not end with a newline");
    return EG_OK;
}

static eg_status parse(reader *R, eg_graph *g, eg_optim *o, eg_train_position *pos, int *has_ckpt)
{
    const uint8_t *b = R->b;
    size_t n = R->n, m = n < 8 ? n : 8;
    if (memcmp(b, MAGIC, m) || n == 0) {
        char hex[40] = "", *h = hex;
        int text = m > 0;
        for (size_t k = 0; k < m; k++) {
            h += sprintf(h, k ? " %02x" : "%02x", b[k]);
            text &= b[k] == '\n' || b[k] == '\t' || (b[k] >= 0x20 && b[k] < 0x7f);
        }
        return bad(R, 0, "not an edagari model file: expected the magic 89 45 44 47 0d 0a 1a 0a (\"\\x89EDG\\r\\n\\x1a\\n\"), found %s%s",
                   n ? hex : "an empty file", text ? " (text: a model spec?)" : "");
    }
    if (n < HEADER_SIZE)
        return bad(R, n, "truncated header: the file ends after %zu bytes; expected a %d-byte header", n, HEADER_SIZE);
    uint32_t version = get32(R, 8), hs = get32(R, 12), es = get32(R, 16), ns = get32(R, 20), crc = get32(R, 32);
    uint64_t body = get64(R, 24);
    if (version != EG_MODEL_VERSION)
        return bad(R, 8, "format version: expected %d, found %u%s", EG_MODEL_VERSION, version,
                   version > EG_MODEL_VERSION ? " (written by a newer edagari)" : "");
    if (hs < HEADER_SIZE || hs > 4096 || hs % 8)
        return bad(R, 12, "header size: expected %d (or a larger multiple of 8 up to 4096), found %u", HEADER_SIZE, hs);
    if (es < ENTRY_SIZE || es > 1024 || es % 8)
        return bad(R, 16, "section entry size: expected %d (or a larger multiple of 8 up to 1024), found %u", ENTRY_SIZE, es);
    if (ns < 1 || ns > MAX_SECTIONS)
        return bad(R, 20, "section count: expected 1 to %d, found %u", MAX_SECTIONS, ns);
    if (get32(R, 36)) return bad(R, 36, "header flags: expected 0, found 0x%x", get32(R, 36));
    if (hs > n) return bad(R, n, "truncated header: the file ends after %zu bytes; the header says it is %u bytes", n, hs);
    if (body > n - hs) {
        if (body > UINT64_MAX - hs)
            return bad(R, n, "truncated: the file ends after %zu bytes; the header says its body alone is %llu bytes", n,
                       (unsigned long long)body);
        return bad(R, n, "truncated: the file ends after %zu bytes; the header says it is %llu (%llu bytes missing)", n,
                   (unsigned long long)hs + body, (unsigned long long)(body - (n - hs)));
    }
    if (body < n - hs)
        return bad(R, hs + (size_t)body, "%zu bytes after the end of the model file; the header says it is %llu bytes",
                   n - hs - (size_t)body, (unsigned long long)hs + body);
    uint32_t sum = (uint32_t)crc32_z(0L, b + hs, n - hs);
    if (sum != crc)
        return bad(R, 32, "checksum: the header says crc32 %08x, the %zu bytes after it give %08x; the file is damaged",
                   crc, n - hs, sum);
    size_t table_end = hs + (size_t)ns * es;
    if (table_end > n)
        return bad(R, hs, "the section table (%u entries of %u bytes) ends at byte %zu, past the end of the file at byte %zu",
                   ns, es, table_end, n);

    size_t off[SEC_KNOWN + 1] = {0}, len[SEC_KNOWN + 1] = {0};
    int where[SEC_KNOWN + 1] = {0};  /* 1 + entry index, 0: absent */
    size_t prev_end = table_end;
    for (uint32_t i = 0; i < ns; i++) {
        size_t e = hs + (size_t)i * es;
        uint32_t id = get32(R, e), flags = get32(R, e + 4);
        uint64_t so = get64(R, e + 8), sl = get64(R, e + 16);
        if (so < prev_end)
            return bad(R, e + 8, "section %u (%s): offset %llu; expected at least %zu, after the %s", i, section_name(id),
                       (unsigned long long)so, prev_end, i ? "previous section" : "section table");
        if (so > n)
            return bad(R, e + 8, "section %u (%s): offset %llu is past the end of the file at byte %zu", i,
                       section_name(id), (unsigned long long)so, n);
        if (sl > n - so)
            return bad(R, e + 16, "section %u (%s): %llu bytes from byte %llu end past the end of the file at byte %zu", i,
                       section_name(id), (unsigned long long)sl, (unsigned long long)so, n);
        prev_end = (size_t)(so + sl);
        if (!known_section(id)) {
            if (flags & SEC_REQUIRED)
                return bad(R, e, "section %u has id %u, which this version does not know, and is marked required; expected ids 1 to %d (written by a newer edagari?)",
                           i, id, SEC_KNOWN);
            continue;  /* an optional section of a later version */
        }
        if (where[id])
            return bad(R, e, "section %u: a second %s section (id %u; the first is section %d)", i, section_name(id), id,
                       where[id] - 1);
        where[id] = (int)i + 1;
        off[id] = (size_t)so, len[id] = (size_t)sl;
    }
    for (uint32_t id = SEC_SPEC; id <= SEC_PARAMS; id++)
        if (!where[id]) return bad(R, hs, "section table: no %s section (id %u); every model file has one", section_name(id), id);

    eg_status st = read_spec(R, g, off[SEC_SPEC], len[SEC_SPEC]);
    if (st) return st;
    g->name[0] = 0;  /* the name section's, else the file's (eg_model_load) */
    if (where[SEC_NAME]) {
        st = read_text(R, SEC_NAME, off[SEC_NAME], len[SEC_NAME]);
        if (st) return st;
        memcpy(g->name, b + off[SEC_NAME], len[SEC_NAME]);
        g->name[len[SEC_NAME]] = 0;
    }
    st = read_tensors(R, g, off[SEC_PARAMS], off[SEC_PARAMS] + len[SEC_PARAMS], TENSORS_PARAMS);
    if (st) return st;
    if (where[SEC_MASKS]) {
        st = eg_graph_enable_masks(g, R->err);
        if (!st) st = read_tensors(R, g, off[SEC_MASKS], off[SEC_MASKS] + len[SEC_MASKS], TENSORS_MASKS);
        if (st) return st;
    }
    /* a model with running statistics must bring them: the defaults are not the trained model */
    if (g->nbuffer && !where[SEC_BUFFERS])
        return bad(R, hs, "section table: no buffers section (id %d); the stored spec's batchnorm2d nodes need their "
                   "running statistics (%zu values)", SEC_BUFFERS, g->nbuffer);
    if (where[SEC_BUFFERS]) {
        st = read_tensors(R, g, off[SEC_BUFFERS], off[SEC_BUFFERS] + len[SEC_BUFFERS], TENSORS_BUFFERS);
        if (st) return st;
    }
    if (where[SEC_NORMALIZE]) {
        size_t at = off[SEC_NORMALIZE], l = len[SEC_NORMALIZE];
        uint32_t c = l >= 8 ? get32(R, at) : 0, in = (uint32_t)g->nodes[0].out_shape.c;
        if (l < 8 || c != in || l != 8 + 8 * (size_t)c)
            return bad(R, at, "the normalize section: %zu bytes for %u channels; expected %zu, for the spec's %u input "
                       "channels", l, c, 8 + 8 * (size_t)in, in);
        g->norm = malloc(2 * (size_t)c * sizeof *g->norm);
        if (!g->norm) return eg_fail(R->err, EG_ERR_NOMEM, "%s: out of memory for the normalisation", R->path);
        g->norm_c = (int)c;
        for (uint32_t k = 0; k < 2 * c; k++) {
            float v = le_u2f(get32(R, at + 8 + 4 * (size_t)k));
            if (!(v - v == 0) || (k >= c && !(v > 0)))
                return bad(R, at + 8 + 4 * (size_t)k, "the normalize section: channel %u's %s is %g; expected a finite "
                           "number%s", k % c, k < c ? "mean" : "std", v, k < c ? "" : " above 0");
            g->norm[k] = v;
        }
    }
    if (where[SEC_HISTORY] && len[SEC_HISTORY]) {
        st = read_text(R, SEC_HISTORY, off[SEC_HISTORY], len[SEC_HISTORY]);
        if (st) return st;
        g->history = malloc(len[SEC_HISTORY] + 1);
        if (!g->history) return eg_fail(R->err, EG_ERR_NOMEM, "%s: out of memory for the history", R->path);
        memcpy(g->history, b + off[SEC_HISTORY], len[SEC_HISTORY]);
        g->history[len[SEC_HISTORY]] = 0;
    }
    if ((where[SEC_OPTIM] != 0) != (where[SEC_POSITION] != 0)) {
        uint32_t have = where[SEC_OPTIM] ? SEC_OPTIM : SEC_POSITION;
        return bad(R, hs + (size_t)(where[have] - 1) * es, "the %s section (id %u) without the %s section (id %u); a checkpoint has both",
                   section_name(have), have, section_name(SEC_OPTIM + SEC_POSITION - have), SEC_OPTIM + SEC_POSITION - have);
    }
    if (where[SEC_OPTIM]) {
        /* checked whether or not the caller wants them */
        eg_optim ol;
        eg_train_position pl;
        st = eg_ckpt_read_optim(R->path, b, off[SEC_OPTIM], len[SEC_OPTIM], g, o ? o : &ol, R->err);
        if (st) return st;
        if (!o) eg_optim_free(&ol);
        st = eg_ckpt_read_position(R->path, b, off[SEC_POSITION], len[SEC_POSITION], pos ? pos : &pl, R->err);
        if (st) {
            if (o) eg_optim_free(o);
            return st;
        }
    }
    if (has_ckpt) *has_ckpt = where[SEC_OPTIM] != 0;
    return EG_OK;
}

eg_status eg_model_parse(eg_graph *g, eg_optim *o, eg_train_position *pos, int *has_ckpt, const uint8_t *b, size_t n,
                         const char *path, eg_error *err)
{
    memset(g, 0, sizeof *g);
    if (has_ckpt) *has_ckpt = 0;
    reader R = {path, b, n, err};
    eg_status st = parse(&R, g, o, pos, has_ckpt);
    if (st) eg_graph_free(g);
    else if (!g->name[0]) {
        const char *base = strrchr(path, '/');
        snprintf(g->name, sizeof g->name, "%s", base ? base + 1 : path);
    }
    return st;
}

eg_status eg_model_load(eg_graph *g, const char *path, eg_error *err)
{
    return eg_model_load_sections(g, NULL, NULL, NULL, path, err);
}

eg_status eg_model_load_sections(eg_graph *g, eg_optim *o, eg_train_position *pos, int *has_ckpt, const char *path,
                                 eg_error *err)
{
    memset(g, 0, sizeof *g);
    uint8_t *buf;
    size_t n;
    eg_status st = eg_read_regular(path, "model file", MAX_FILE, &buf, &n, err);
    if (st) return st;
    st = eg_model_parse(g, o, pos, has_ckpt, buf, n, path, err);
    free(buf);
    return st;
}

int eg_model_path_is_file(const char *path)
{
    size_t n = strlen(path);
    if (n >= 4 && !strcmp(path + n - 4, ".edg")) return 1;
    uint8_t head[8];
    int fd;
    size_t size;
    if (eg_open_regular(path, "model file", &fd, &size, NULL)) return 0;  /* the spec reader says why */
    int is = size >= 8 && read(fd, head, 8) == 8 && !memcmp(head, MAGIC, 8);
    close(fd);
    return is;
}

eg_status eg_model_open(eg_graph *g, const char *path, int *from_file, eg_error *err)
{
    int file = eg_model_path_is_file(path);
    if (from_file) *from_file = file || eg_onnx_path(path);
    if (!file && eg_onnx_path(path)) return eg_onnx_import(g, path, err);  /* src/io/onnx_import.c */
    if (file) return eg_model_load(g, path, err);
    eg_status st = eg_check_regular(path, "model spec", err);  /* the spec reader's own open would block on a FIFO */
    return st ? (memset(g, 0, sizeof *g), st) : eg_graph_load_spec(g, path, err);
}

eg_status eg_model_note(eg_graph *g, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    size_t ll = strlen(line);
    for (size_t k = 0; k < ll; k++)
        if (!text_byte((uint8_t)line[k])) line[k] = ' ';
    line[ll++] = '\n';
    line[ll] = 0;
    size_t have = g->history ? strlen(g->history) : 0, drop = 0;
    while (have - drop + ll > MAX_HISTORY) {  /* the oldest lines go first */
        const char *nl = strchr(g->history + drop, '\n');
        drop = nl ? (size_t)(nl - g->history) + 1 : have;
    }
    char *h = malloc(have - drop + ll + 1);
    if (!h) return EG_ERR_NOMEM;
    if (have > drop) memcpy(h, g->history + drop, have - drop);
    memcpy(h + have - drop, line, ll + 1);
    free(g->history);
    g->history = h;
    return EG_OK;
}
