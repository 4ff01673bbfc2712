/* C export: a model as C99 source for devices, NAME.h and NAME.c.
 *
 * The model is a chain of single-input ops from its input node to its
 * output. NAME.c holds the parameters as `static const float` arrays (a
 * masked layer as CSR when that is smaller), one small kernel per op kind
 * that occurs, and NAME_infer, which runs one image through the chain with
 * the caller's scratch and no allocation:
 *
 *   - every op that makes a new tensor (conv2d, linear, maxpool2d) reads one
 *     place and writes another: the first reads `input`, the last writes
 *     `output`, and those between alternate between two buffers A and B in
 *     the scratch; relu works in place (it copies only when it reads
 *     `input`), flatten moves nothing (the floats are already in order);
 *   - a max-pool may also work in place (output j reads only inputs j and
 *     later); every choice of in-place pools is tried and the one with the
 *     smallest A + B kept, so NAME_SCRATCH_FLOATS = the largest activation
 *     held in A + the largest held in B;
 *   - convolutions are computed directly, tap by tap (each weight adds its
 *     share to a block of output rows), so they need no im2col buffer;
 *   - batchnorm2d works in place as relu does, with its running statistics
 *     (inference), computed as eg_graph_forward does: (x - mean) * inv * gamma
 *     + beta with inv = 1 / sqrt(var + eps) worked out at export; gap writes
 *     the plane means.
 * A model with a residual add is not a chain: its tensors live in buffers A,
 * B, C, ... instead, in node order; each new tensor takes the first buffer
 * whose tensors are no longer read, relu and batchnorm2d work in place when
 * nothing else reads their input, and add writes into an input only that
 * add reads (see plan_dag).
 *
 * Floats are written with the fewest digits that read back as the same bits,
 * and nothing depends on the time or the paths, so the same model gives the
 * same bytes. Both files are written beside each other as temporary files,
 * then renamed: a failed export leaves neither. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* ------------------------------------------------------------ the plan */

enum { AT_INPUT, AT_A, AT_B, AT_OUTPUT };

/* Buffers of the plan for a model with an add: A, B (AT_A, AT_B), then C, D, ... (AT_MORE + k). */
#define MAX_BUFFERS 8
enum { AT_MORE = 10 };

typedef struct {
    int node;
    int writes;    /* makes a new tensor (else works in place, or moves nothing) */
    int src, dst;  /* AT_* */
    int src2;      /* add: the second input's place */
} c_step;

typedef struct {
    int n;
    c_step *steps;            /* the chain after the input node, in order */
    int input;                /* the input node */
    size_t size_a, size_b;    /* floats of buffers A and B */
    int big_a, big_b;         /* the node whose output sets each size, or -1 */
    int copy;                 /* nothing writes: output = input */
    int nbuf;                 /* a model with an add: its buffers, and their sizes in floats */
    size_t buf_size[MAX_BUFFERS];
    int buf_big[MAX_BUFFERS];
} c_plan;

/* Where the tensors go for one choice of in-place pools (bit i: the i-th
 * pool works in place when it can); returns A + B. */
static size_t assign(const eg_graph *g, c_plan *p, unsigned long choice)
{
    int last = -1, seen = 0;
    for (int i = 0; i < p->n; i++) {
        eg_op_type op = g->nodes[p->steps[i].node].op;
        p->steps[i].writes = op == EG_OP_CONV2D || op == EG_OP_LINEAR || op == EG_OP_MAXPOOL2D || op == EG_OP_GAP ||
                             ((op == EG_OP_RELU || op == EG_OP_BATCHNORM2D) && !seen);
        if (p->steps[i].writes) seen = 1, last = i;
    }
    int at = AT_INPUT, pool = 0;
    p->size_a = p->size_b = 0;
    p->big_a = p->big_b = -1;
    for (int i = 0; i < p->n; i++) {
        c_step *s = &p->steps[i];
        const eg_node *nd = &g->nodes[s->node];
        s->src = at;
        if (!s->writes)
            s->dst = at;
        else if (i == last)
            s->dst = AT_OUTPUT;
        else if (nd->op == EG_OP_MAXPOOL2D && at != AT_INPUT && (choice >> pool & 1))
            s->dst = at;
        else
            s->dst = at == AT_A ? AT_B : AT_A;
        if (nd->op == EG_OP_MAXPOOL2D) pool++;
        size_t size = eg_shape_size(nd->out_shape);
        if (s->dst == AT_A && size > p->size_a) p->size_a = size, p->big_a = s->node;
        if (s->dst == AT_B && size > p->size_b) p->size_b = size, p->big_b = s->node;
        at = s->dst;
    }
    p->copy = last < 0;
    return p->size_a + p->size_b;
}

#define MAX_POOL_CHOICES 16  /* pools whose in-place choice is searched; later ones always alternate */

static int exportable(eg_op_type op)
{
    return op == EG_OP_CONV2D || op == EG_OP_LINEAR || op == EG_OP_RELU || op == EG_OP_MAXPOOL2D || op == EG_OP_FLATTEN ||
           op == EG_OP_BATCHNORM2D || op == EG_OP_ADD || op == EG_OP_GAP;
}

/* A model with an add: every node after the input, in node order. A
 * buffer is free again once the last step that reads any tensor in it has
 * run; a new tensor takes the first free buffer (a new one when none is),
 * and the last node writes output. */
static eg_status plan_dag(const eg_graph *g, c_plan *p, eg_error *err)
{
    int n = g->nnodes - 1, *last = calloc((size_t)g->nnodes, sizeof *last), *uses = calloc((size_t)g->nnodes, sizeof *uses);
    int *at = calloc((size_t)g->nnodes, sizeof *at);
    p->steps = calloc((size_t)(n ? n : 1), sizeof *p->steps);
    if (!last || !uses || !at || !p->steps) {
        free(last), free(uses), free(at);
        return eg_fail(err, EG_ERR_NOMEM, "out of memory");
    }
    p->n = n;
    p->input = 0;
    for (int v = 1; v < g->nnodes; v++)
        for (int k = 0; k < g->nodes[v].ninputs; k++) {
            int u = g->nodes[v].inputs[k];
            uses[u]++;
            last[u] = v;
        }
    int until[MAX_BUFFERS];  /* the last node that reads a tensor in each buffer */
    eg_status st = EG_OK;
    at[0] = AT_INPUT;
    for (int v = 1; v < g->nnodes && !st; v++) {
        c_step *s = &p->steps[v - 1];
        const eg_node *nd = &g->nodes[v];
        int a = nd->inputs[0], b = nd->ninputs > 1 ? nd->inputs[1] : -1, dst = -1;
        s->node = v;
        s->src = at[a];
        s->src2 = b >= 0 ? at[b] : 0;
        int alone_a = uses[a] == 1 && at[a] != AT_INPUT, alone_b = b >= 0 && b != a && uses[b] == 1 && at[b] != AT_INPUT;
        if (nd->op == EG_OP_FLATTEN) {
            dst = at[a];  /* the same floats: it only extends how long they are read */
        } else if ((nd->op == EG_OP_RELU || nd->op == EG_OP_BATCHNORM2D || nd->op == EG_OP_ADD) && alone_a &&
                   v != g->nnodes - 1) {
            dst = at[a];
        } else if (nd->op == EG_OP_ADD && alone_b && v != g->nnodes - 1) {
            dst = at[b];
        }
        int fresh = dst < 0;
        s->writes = fresh;
        if (dst < 0 && v == g->nnodes - 1) dst = AT_OUTPUT;
        if (dst < 0) {
            int k = 0;
            while (k < p->nbuf && until[k] >= v) k++;
            if (k == MAX_BUFFERS) {
                st = eg_fail(err, EG_ERR_ARG, "model %s: node %s: the C export keeps at most %d tensors at a time",
                             g->name, nd->name, MAX_BUFFERS);
                break;
            }
            if (k == p->nbuf) p->buf_size[p->nbuf] = 0, p->buf_big[p->nbuf] = -1, until[p->nbuf++] = 0;
            dst = k == 0 ? AT_A : k == 1 ? AT_B : AT_MORE + k;
        }
        if (v == g->nnodes - 1 && dst != AT_OUTPUT) {
            st = eg_fail(err, EG_ERR_ARG, "model %s: the last node %s computes nothing new; the C export of a model with an "
                         "add needs it to", g->name, nd->name);
            break;
        }
        s->dst = at[v] = dst;
        if (dst != AT_OUTPUT && dst != AT_INPUT) {
            int k = dst == AT_A ? 0 : dst == AT_B ? 1 : dst - AT_MORE;
            size_t size = eg_shape_size(nd->out_shape);
            if (size > p->buf_size[k]) p->buf_size[k] = size, p->buf_big[k] = v;
            if (fresh || last[v] > until[k]) until[k] = last[v];
        }
    }
    p->size_a = p->nbuf > 0 ? p->buf_size[0] : 0;
    p->size_b = p->nbuf > 1 ? p->buf_size[1] : 0;
    p->big_a = p->nbuf > 0 ? p->buf_big[0] : -1;
    p->big_b = p->nbuf > 1 ? p->buf_big[1] : -1;
    free(last), free(uses), free(at);
    return st;
}

static eg_status plan_build(const eg_graph *g, c_plan *p, eg_error *err)
{
    memset(p, 0, sizeof *p);
    if (g->nnodes < 1) return eg_fail(err, EG_ERR_ARG, "model %s: no nodes to export", g->name);
    int adds = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        adds += nd->op == EG_OP_ADD;
        if (nd->op != EG_OP_INPUT && !exportable(nd->op))
            return eg_fail(err, EG_ERR_ARG, "model %s: node %s: the C export has no code for op %s", g->name, nd->name,
                           (unsigned)nd->op < EG_OP_COUNT ? eg_ops[nd->op]->name : "?");
    }
    if (adds) return plan_dag(g, p, err);
    /* walk back from the output to the input */
    int n = 0, at = g->nnodes - 1;
    while (g->nodes[at].op != EG_OP_INPUT) {
        const eg_node *nd = &g->nodes[at];
        if (nd->ninputs != 1)
            return eg_fail(err, EG_ERR_ARG, "model %s: node %s (%s) takes %d inputs; the C export handles chains of single-input ops",
                           g->name, nd->name, eg_ops[nd->op]->name, nd->ninputs);
        n++, at = nd->inputs[0];
    }
    p->input = at;
    p->n = n;
    p->steps = calloc((size_t)(n ? n : 1), sizeof *p->steps);
    if (!p->steps) return eg_fail(err, EG_ERR_NOMEM, "out of memory");
    for (int i = n - 1, k = g->nnodes - 1; i >= 0; i--, k = g->nodes[k].inputs[0]) p->steps[i].node = k;
    int pools = 0;
    for (int i = 0; i < n; i++) pools += g->nodes[p->steps[i].node].op == EG_OP_MAXPOOL2D;
    if (pools > MAX_POOL_CHOICES) pools = MAX_POOL_CHOICES;
    unsigned long best = 0;
    size_t best_total = assign(g, p, 0);
    for (unsigned long c = 1; c < (1ul << pools); c++) {
        size_t t = assign(g, p, c);
        if (t < best_total) best_total = t, best = c;  /* ties: the first, all alternating */
    }
    assign(g, p, best);
    return EG_OK;
}

static void plan_free(c_plan *p) { free(p->steps); }

/* ------------------------------------------------------------ sizes */

static int has_weights(const eg_node *nd) { return nd->op == EG_OP_CONV2D || nd->op == EG_OP_LINEAR; }

/* A weight is stored in CSR unless masked and zero. */
static int csr_keeps(const eg_node *nd, size_t k) { return nd->mask[0][k] != 0 || nd->param[0][k] != 0; }

void eg_export_c_layer(const eg_node *nd, eg_c_layer *l)
{
    memset(l, 0, sizeof *l);
    if (!has_weights(nd) || nd->nparams < 2 || nd->out < 1) return;
    size_t n = nd->psize[0], rows = (size_t)nd->out, cols = n / rows, bias = nd->psize[1];
    l->dense_bytes = (n + bias) * sizeof(float);
    l->bytes = l->dense_bytes;
    l->kept = n;
    if (!nd->mask[0] || !n) return;
    size_t nnz = 0;
    for (size_t k = 0; k < n; k++) nnz += csr_keeps(nd, k);
    size_t top = nnz > cols - 1 ? nnz : cols - 1;  /* the largest row offset or column index */
    if (top > 0xffffffffu) return;
    int ib = top <= 0xff ? 1 : top <= 0xffff ? 2 : 4;
    size_t csr = nnz * (sizeof(float) + (size_t)ib) + (rows + 1) * (size_t)ib + bias * sizeof(float);
    if (csr >= l->dense_bytes) return;
    l->csr = 1;
    l->kept = nnz;
    l->index_bytes = ib;
    l->bytes = csr;
}

static void fill_size(const eg_graph *g, const c_plan *p, eg_c_export_size *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < p->n; i++) {
        const eg_node *nd = &g->nodes[p->steps[i].node];
        if (!has_weights(nd)) continue;
        eg_c_layer l;
        eg_export_c_layer(nd, &l);
        s->flash_bytes += l.bytes;
        s->dense_bytes += l.dense_bytes;
        s->layers++;
        s->csr_layers += l.csr;
    }
    for (int i = 0; i < p->n; i++) {  /* batchnorm2d: mean, inv, gamma, beta per channel */
        const eg_node *nd = &g->nodes[p->steps[i].node];
        if (nd->op != EG_OP_BATCHNORM2D) continue;
        s->flash_bytes += 4 * nd->psize[0] * sizeof(float);
        s->dense_bytes += 4 * nd->psize[0] * sizeof(float);
    }
    s->buffer_a = p->size_a;
    s->buffer_b = p->size_b;
    for (int k = 2; k < p->nbuf; k++) s->buffer_rest += p->buf_size[k];
    s->scratch_floats = p->size_a + p->size_b + s->buffer_rest;
    s->ram_bytes = s->scratch_floats * sizeof(float);
    s->input_floats = eg_shape_size(g->nodes[p->input].out_shape);
    s->output_floats = eg_shape_size(g->nodes[g->nnodes - 1].out_shape);
}

eg_status eg_export_c_size(const eg_graph *g, eg_c_export_size *s, eg_error *err)
{
    c_plan p;
    eg_status st = plan_build(g, &p, err);
    if (st) return st;
    fill_size(g, &p, s);
    plan_free(&p);
    return EG_OK;
}

/* ------------------------------------------------------------ text */

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} sb;

static void sb_add(sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sb *s, const char *fmt, ...)
{
    if (s->oom) return;
    for (int tries = 0; tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->buf ? s->buf + s->len : NULL, s->buf ? s->cap - s->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            s->oom = 1;
            return;
        }
        if (s->buf && s->len + (size_t)n < s->cap) {
            s->len += (size_t)n;
            return;
        }
        size_t cap = s->cap ? s->cap : 1 << 16;
        while (cap <= s->len + (size_t)n) cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b) {
            s->oom = 1;
            return;
        }
        s->buf = b, s->cap = cap;
    }
}

/* Text from the model (its name, its history) made safe inside a C comment:
 * printable ASCII only, and no comment delimiters or trigraphs. */
static void sb_comment_text(sb *s, const char *t)
{
    char prev = 0;
    for (; *t; t++) {
        char c = *t >= 0x20 && *t < 0x7f ? *t : '_';
        if ((prev == '*' && c == '/') || (prev == '/' && c == '*') || (prev == '?' && c == '?')) sb_add(s, " ");
        sb_add(s, "%c", c);
        prev = c;
    }
}

/* The shortest of %.6g .. %.9g that reads back as the same bits, as a C float literal. */
static void float_literal(char *out, size_t cap, float v)
{
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(out, cap - 3, "%.*g", digits, (double)v);
        float back = strtof(out, NULL);
        if (!memcmp(&back, &v, sizeof v)) break;
    }
    if (!strpbrk(out, ".e")) strcat(out, ".0");
    strcat(out, "f");
}

#define LINE_WIDTH 100

/* Appends item k of an initializer list, starting a new line when this one
 * would pass LINE_WIDTH; col tracks the current column. */
static void sb_list_item(sb *s, size_t *col, size_t k, const char *lit)
{
    size_t len = strlen(lit) + 2;
    if (*col + len > LINE_WIDTH) {
        sb_add(s, "%s\n    ", k ? "," : "");
        *col = 4;
    } else {
        sb_add(s, ", ");
    }
    sb_add(s, "%s", lit);
    *col += len;
}

static void sb_floats(sb *s, const char *name, const float *v, size_t n)
{
    sb_add(s, "static const float %s[%zu] = {", name, n);
    size_t col = LINE_WIDTH;
    for (size_t k = 0; k < n; k++) {
        char lit[40];
        float_literal(lit, sizeof lit, v[k]);
        sb_list_item(s, &col, k, lit);
    }
    sb_add(s, "\n};\n");
}

static const char *index_type(int bytes) { return bytes == 1 ? "uint8_t" : bytes == 2 ? "uint16_t" : "uint32_t"; }

static void sb_indices(sb *s, const char *name, int bytes, const size_t *v, size_t n)
{
    sb_add(s, "static const %s %s[%zu] = {", index_type(bytes), name, n);
    size_t col = LINE_WIDTH;
    for (size_t k = 0; k < n; k++) {
        char lit[32];
        snprintf(lit, sizeof lit, "%zu", v[k]);
        sb_list_item(s, &col, k, lit);
    }
    sb_add(s, "\n};\n");
}

/* Appends text with every "@T" replaced by type and every "@N" by bits. */
static void sb_template(sb *s, const char *text, const char *type, int bits)
{
    for (const char *p = text; *p; p++) {
        if (p[0] == '@' && p[1] == 'T') sb_add(s, "%s", type), p++;
        else if (p[0] == '@' && p[1] == 'N') sb_add(s, "%d", bits), p++;
        else sb_add(s, "%c", *p);
    }
}

static void shape_text(char *out, size_t cap, eg_shape sh)
{
    if (sh.h == 1 && sh.w == 1) snprintf(out, cap, "%d", sh.c);
    else snprintf(out, cap, "%dx%dx%d", sh.c, sh.h, sh.w);
}

static const char *const more_places[MAX_BUFFERS][2] = {{"buf_a", "A"}, {"buf_b", "B"}, {"buf_c", "C"}, {"buf_d", "D"},
                                                       {"buf_e", "E"}, {"buf_f", "F"}, {"buf_g", "G"}, {"buf_h", "H"}};

static const char *place(int at)
{
    if (at >= AT_MORE) return more_places[at - AT_MORE][0];
    return at == AT_INPUT ? "input" : at == AT_A ? "buf_a" : at == AT_B ? "buf_b" : "output";
}

static const char *place_name(int at)
{
    if (at >= AT_MORE) return more_places[at - AT_MORE][1];
    return at == AT_INPUT ? "input" : at == AT_A ? "A" : at == AT_B ? "B" : "output";
}

/* ------------------------------------------------------------ kernels */

static const char k_tap[] =
    "/* A kernel tap reaches outputs o = first .. end-1 (of the on outputs): those\n"
    " * whose input o*s + off lies in 0 .. n-1; the others read zero padding. */\n"
    "static int tap_first(int off, int s)\n"
    "{\n"
    "    return off >= 0 ? 0 : (s - 1 - off) / s;\n"
    "}\n"
    "\n"
    "static int tap_end(int off, int s, int n, int on)\n"
    "{\n"
    "    int e;\n"
    "    if (off > n - 1) return 0;\n"
    "    e = (n - 1 - off) / s + 1;\n"
    "    return e < on ? e : on;\n"
    "}\n"
    "\n"
    "/* One tap (ky, kx) of one filter on one input plane: y[oy][ox] += w *\n"
    " * x[oy*s + ky - pad][ox*s + kx - pad] for every output whose input lies in\n"
    " * the h x wd plane x (outside it the padding is zero and adds nothing). */\n"
    "static void conv_tap(float *y, const float *x, float w, int h, int wd, int oh, int ow, int ky, int kx,\n"
    "                     int s, int pad)\n"
    "{\n"
    "    int y0 = tap_first(ky - pad, s), y1 = tap_end(ky - pad, s, h, oh);\n"
    "    int x0 = tap_first(kx - pad, s), x1 = tap_end(kx - pad, s, wd, ow);\n"
    "    int oy, ox;\n"
    "    for (oy = y0; oy < y1; oy++) {\n"
    "        const float *xr = x + (long)(oy * s + ky - pad) * wd;\n"
    "        float *yr = y + (long)oy * ow;\n"
    "        for (ox = x0; ox < x1; ox++) yr[ox] += w * xr[ox * s + kx - pad];\n"
    "    }\n"
    "}\n\n";

static const char k_conv_dense[] =
    "/* conv2d, dense weights w [m][c][k][k] and bias b [m]: x [c][h][wd] ->\n"
    " * y [m][oh][ow], stride s, zero padding pad. Each output plane starts as its\n"
    " * bias; then every weight adds its tap, in the order (input channel, ky, kx). */\n"
    "static void conv2d_dense(const float *x, float *y, const float *w, const float *b, int c, int h, int wd,\n"
    "                         int m, int oh, int ow, int k, int s, int pad)\n"
    "{\n"
    "    long plane = (long)oh * ow, p;\n"
    "    int o, i, ky, kx;\n"
    "    for (o = 0; o < m; o++) {\n"
    "        float *yo = y + o * plane;\n"
    "        for (p = 0; p < plane; p++) yo[p] = b[o];\n"
    "        for (i = 0; i < c; i++)\n"
    "            for (ky = 0; ky < k; ky++)\n"
    "                for (kx = 0; kx < k; kx++) conv_tap(yo, x + i * ((long)h * wd), *w++, h, wd, oh, ow, ky, kx, s, pad);\n"
    "    }\n"
    "}\n\n";

static const char k_conv_csr[] =
    "/* conv2d, CSR weights with @N-bit indices: the kept weights of filter o are\n"
    " * vals[rows[o] .. rows[o+1]-1], at columns cols[] = (input channel * k + ky) * k\n"
    " * + kx; bias b [m]. x [h][wd] planes -> y [m][oh][ow], stride s, padding pad. */\n"
    "static void conv2d_csr@N(const float *x, float *y, const @T *rows, const @T *cols,\n"
    "                         const float *vals, const float *b, int h, int wd, int m, int oh, int ow, int k,\n"
    "                         int s, int pad)\n"
    "{\n"
    "    long plane = (long)oh * ow, p, j;\n"
    "    int o;\n"
    "    for (o = 0; o < m; o++) {\n"
    "        float *yo = y + o * plane;\n"
    "        for (p = 0; p < plane; p++) yo[p] = b[o];\n"
    "        for (j = (long)rows[o]; j < (long)rows[o + 1]; j++) {\n"
    "            long col = (long)cols[j], i = col / ((long)k * k);\n"
    "            int t = (int)(col - i * k * k);\n"
    "            conv_tap(yo, x + i * ((long)h * wd), vals[j], h, wd, oh, ow, t / k, t % k, s, pad);\n"
    "        }\n"
    "    }\n"
    "}\n\n";

static const char k_linear_dense[] =
    "/* linear, dense weights w [m][n] and bias b [m]: y[o] = b[o] + sum of w[o][i] x[i]. */\n"
    "static void linear_dense(const float *x, float *y, const float *w, const float *b, long n, long m)\n"
    "{\n"
    "    long o, i;\n"
    "    for (o = 0; o < m; o++, w += n) {\n"
    "        float acc = b[o];\n"
    "        for (i = 0; i < n; i++) acc += w[i] * x[i];\n"
    "        y[o] = acc;\n"
    "    }\n"
    "}\n\n";

static const char k_linear_csr[] =
    "/* linear, CSR weights with @N-bit indices: the kept weights of output o are\n"
    " * vals[rows[o] .. rows[o+1]-1], at inputs cols[]; bias b [m]. */\n"
    "static void linear_csr@N(const float *x, float *y, const @T *rows, const @T *cols,\n"
    "                         const float *vals, const float *b, long m)\n"
    "{\n"
    "    long o, j;\n"
    "    for (o = 0; o < m; o++) {\n"
    "        float acc = b[o];\n"
    "        for (j = (long)rows[o]; j < (long)rows[o + 1]; j++) acc += vals[j] * x[cols[j]];\n"
    "        y[o] = acc;\n"
    "    }\n"
    "}\n\n";

static const char k_relu[] =
    "/* relu over n floats; y may be x (in place). */\n"
    "static void relu(const float *x, float *y, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;\n"
    "}\n\n";

static const char k_pool[] =
    "/* k x k max pooling with stride s, no padding: x [c][h][wd] -> y [c][oh][ow];\n"
    " * the first largest value of a window wins. y may be x (in place): output j\n"
    " * reads only inputs j and later, which nothing before it has overwritten. */\n"
    "static void maxpool2d(const float *x, float *y, int c, int h, int wd, int oh, int ow, int k, int s)\n"
    "{\n"
    "    int i, oy, ox, ky, kx;\n"
    "    for (i = 0; i < c; i++)\n"
    "        for (oy = 0; oy < oh; oy++)\n"
    "            for (ox = 0; ox < ow; ox++) {\n"
    "                const float *win = x + ((long)i * h + (long)oy * s) * wd + (long)ox * s;\n"
    "                float best = win[0];\n"
    "                for (ky = 0; ky < k; ky++)\n"
    "                    for (kx = 0; kx < k; kx++)\n"
    "                        if (win[(long)ky * wd + kx] > best) best = win[(long)ky * wd + kx];\n"
    "                y[((long)i * oh + oy) * ow + ox] = best;\n"
    "            }\n"
    "}\n\n";

static const char k_bn[] =
    "/* batchnorm2d in inference: y = (x - mean) * inv * gamma + beta per channel,\n"
    " * inv = 1 / sqrt(running variance + eps) worked out at export; y may be x. */\n"
    "static void batchnorm2d(const float *x, float *y, const float *mean, const float *inv, const float *gamma,\n"
    "                        const float *beta, int c, long hw)\n"
    "{\n"
    "    int i;\n"
    "    long j;\n"
    "    for (i = 0; i < c; i++)\n"
    "        for (j = 0; j < hw; j++) y[i * hw + j] = (x[i * hw + j] - mean[i]) * inv[i] * gamma[i] + beta[i];\n"
    "}\n\n";

static const char k_add[] =
    "/* y = a + b over n floats; y may be a or b. */\n"
    "static void add(const float *a, const float *b, float *y, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) y[i] = a[i] + b[i];\n"
    "}\n\n";

static const char k_gap[] =
    "/* global average pooling: x [c][hw] -> y [c], the mean of each plane. */\n"
    "static void gap(const float *x, float *y, int c, long hw)\n"
    "{\n"
    "    int i;\n"
    "    long j;\n"
    "    for (i = 0; i < c; i++) {\n"
    "        float sum = 0.0f;\n"
    "        for (j = 0; j < hw; j++) sum += x[i * hw + j];\n"
    "        y[i] = sum / (float)hw;\n"
    "    }\n"
    "}\n\n";

static const char k_copy[] =
    "/* y = x, n floats. */\n"
    "static void copy(const float *x, float *y, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) y[i] = x[i];\n"
    "}\n\n";

/* ------------------------------------------------------------ the files */

static int bits_index(int bytes) { return bytes == 1 ? 0 : bytes == 2 ? 1 : 2; }

static void name_upper(char *out, const char *name)
{
    for (; *name; name++) *out++ = (*name >= 'a' && *name <= 'z') ? (char)(*name - 'a' + 'A') : *name;
    *out = 0;
}

static void sb_history(sb *s, const eg_graph *g)
{
    if (!g->history || !*g->history) return;
    sb_add(s, " *\n * History of the model:\n");
    for (const char *p = g->history; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[1100];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
        sb_add(s, " *   ");
        sb_comment_text(s, line);
        sb_add(s, "\n");
        p += n + (nl ? 1 : 0);
    }
}


/* What a step does, for the layer table and the comments: "input -> A", "A, in place". */
static void step_flow(char *out, size_t cap, const eg_graph *g, const c_step *st)
{
    if (g->nodes[st->node].op == EG_OP_ADD)
        snprintf(out, cap, "%s + %s -> %s", place_name(st->src), place_name(st->src2), place_name(st->dst));
    else if (g->nodes[st->node].op == EG_OP_FLATTEN)
        snprintf(out, cap, "%s, as is", place_name(st->src));
    else if (st->src == st->dst)
        snprintf(out, cap, "%s, in place", place_name(st->src));
    else
        snprintf(out, cap, "%s -> %s", place_name(st->src), place_name(st->dst));
}

/* "4x1x3x3 + 4: dense, 160 bytes" */
static void params_text(char *out, size_t cap, const eg_node *nd)
{
    eg_c_layer l;
    eg_export_c_layer(nd, &l);
    char w[64];
    if (nd->op == EG_OP_CONV2D)
        snprintf(w, sizeof w, "%dx%dx%dx%d + %d", nd->pshape[0][0], nd->pshape[0][1], nd->pshape[0][2],
                 nd->pshape[0][3], nd->out);
    else
        snprintf(w, sizeof w, "%dx%d + %d", nd->pshape[0][0], nd->pshape[0][1], nd->out);
    if (l.csr)
        snprintf(out, cap, "%s: CSR, %zu of %zu weights, %d-bit indices, %zu bytes", w, l.kept, nd->psize[0],
                 8 * l.index_bytes, l.bytes);
    else
        snprintf(out, cap, "%s: dense, %zu bytes", w, l.bytes);
}

static void sb_header(sb *s, const eg_graph *g, const c_plan *p, const eg_c_export_size *sz, const char *name)
{
    char up[80], more[256] = "";
    for (int k = 2, o = 0; k < p->nbuf; k++)
        o += snprintf(more + o, sizeof more - (size_t)o, " + buffer %s (%zu)", more_places[k][1], p->buf_size[k]);
    name_upper(up, name);
    eg_shape is = g->nodes[p->input].out_shape;
    sb_add(s, "/* %s.h: the model ", name);
    sb_comment_text(s, g->name);
    sb_add(s, " as C99 code, written by `edagari export --format c`.\n"
              " *\n"
              " *   int %s_infer(const float *input, float *output, float *scratch);\n"
              " *\n",
           name);
    sb_add(s, " * input    %s_INPUT_SIZE floats: one image as [C][H][W] = [%d][%d][%d],\n"
              " *          normalised as the training data were (edagari's loader:\n"
              " *          (pixel / 255 - 0.1307) / 0.3081)\n",
           up, is.c, is.h, is.w);
    sb_add(s, " * output   %s_OUTPUT_SIZE floats: the %zu scores (logits), one per class\n", up, sz->output_floats);
    if (sz->scratch_floats)
        sb_add(s, " * scratch  %s_SCRATCH_FLOATS floats of working memory (nothing is kept in it\n"
                  " *          between calls; it must not overlap input or output)\n",
               up);
    else
        sb_add(s, " * scratch  not used: %s_SCRATCH_FLOATS is 0 and the pointer may be NULL\n", up);
    sb_add(s, " * returns  the index of the largest score, the first on ties\n"
              " *\n"
              " * %s.c allocates nothing, keeps no state (its arrays are read-only) and calls\n"
              " * no library function (a compiler may still turn a loop into memcpy or\n"
              " * memset); calls with different scratch buffers may run at the same time.\n"
              " *\n",
           name);
    sb_add(s, " * Flash: %zu bytes of parameters in const arrays (weights, biases", sz->flash_bytes);
    for (int i = 0; i < p->n; i++)
        if (g->nodes[p->steps[i].node].op == EG_OP_BATCHNORM2D) {
            sb_add(s, ", batchnorm\n * statistics");
            break;
        }
    if (sz->csr_layers)
        sb_add(s, " and CSR\n * indices; %zu bytes if every layer were dense).\n", sz->dense_bytes);
    else
        sb_add(s, ").\n");
    sb_add(s, " * RAM: %zu bytes of scratch, besides the caller's input (%zu bytes) and\n"
              " * output (%zu bytes).\n",
           sz->ram_bytes, sz->input_floats * sizeof(float), sz->output_floats * sizeof(float));
    if (sz->scratch_floats && p->nbuf) {
        sb_add(s, " *\n * %s_SCRATCH_FLOATS = the sizes of buffers, one after the other:\n", up);
        for (int k = 0; k < p->nbuf; k++)
            sb_add(s, " *   %s: %zu floats (the largest tensor it holds, %s's output)\n", more_places[k][1], p->buf_size[k],
                   g->nodes[p->buf_big[k]].name);
        sb_add(s, " * The model has a residual add, so tensors are kept while\n"
                  " * later layers still read them: each new tensor takes the first buffer\n"
                  " * none of whose tensors is read any more. relu and batchnorm2d work in\n"
                  " * place when nothing else reads their input, add writes into an input only\n"
                  " * it reads, flatten moves nothing, and the last layer writes output.\n");
    } else if (sz->scratch_floats) {
        sb_add(s, " *\n * %s_SCRATCH_FLOATS = buffer A (%zu floats: the largest activation it holds,\n"
                  " * %s's output)",
               up, p->size_a, g->nodes[p->big_a].name);
        if (p->size_b)
            sb_add(s, " + buffer B (%zu floats, %s's output), B right after A", p->size_b, g->nodes[p->big_b].name);
        sb_add(s, ".\n"
                  " * A layer that makes a new tensor reads it from one place and writes it\n"
                  " * to another: the first reads input, the last writes output, and those\n"
                  " * between alternate between A and B. relu works in place, a max-pool in\n"
                  " * place when that makes A + B smaller, flatten moves nothing, and\n"
                  " * convolutions are computed directly, tap by tap, with no more memory.\n");
    }
    sb_add(s, " *\n * Layers:\n *   %-8s %-9s %-9s %-9s %-14s %s\n", "node", "op", "input", "output", "data",
           "parameters");
    for (int i = 0; i < p->n; i++) {
        const eg_node *nd = &g->nodes[p->steps[i].node];
        char a[32], b[32], flow[40], par[160] = "";
        shape_text(a, sizeof a, nd->in_shape);
        shape_text(b, sizeof b, nd->out_shape);
        step_flow(flow, sizeof flow, g, &p->steps[i]);
        if (has_weights(nd)) params_text(par, sizeof par, nd);
        sb_add(s, " *   %-8s %-9s %-9s %-9s %-14s %s", nd->name, eg_ops[nd->op]->name, a, b, flow, par);
        while (s->len && s->buf[s->len - 1] == ' ') s->len--;  /* no trailing blanks */
        sb_add(s, "\n");
    }
    if (p->copy) sb_add(s, " *   (no layer computes anything: the output is a copy of the input)\n");
    sb_history(s, g);
    sb_add(s, " */\n"
              "#ifndef %s_H\n"
              "#define %s_H\n"
              "\n"
              "#define %s_INPUT_C %d\n"
              "#define %s_INPUT_H %d\n"
              "#define %s_INPUT_W %d\n"
              "#define %s_INPUT_SIZE %zu    /* floats: [C][H][W] of one image */\n"
              "#define %s_OUTPUT_SIZE %zu    /* floats: one score per class */\n"
              "#define %s_SCRATCH_FLOATS %zu    /* buffer A (%zu) + buffer B (%zu)%s */\n"
              "\n"
              "#ifdef __cplusplus\n"
              "extern \"C\" {\n"
              "#endif\n"
              "\n"
              "/* Runs one image through the model: see above. */\n"
              "int %s_infer(const float *input, float *output, float *scratch);\n"
              "\n"
              "#ifdef __cplusplus\n"
              "}\n"
              "#endif\n"
              "\n"
              "#endif\n",
           up, up, up, is.c, up, is.h, up, is.w, up, sz->input_floats, up, sz->output_floats, up, sz->scratch_floats,
           p->size_a, p->size_b, more, name);
}

/* A node's parameter arrays: <node>_w dense, or <node>_rows, _cols, _vals in
 * CSR; and <node>_b. Node names are C identifiers and every suffix is one
 * word, so no two arrays (and no kernel) share a name. */
static eg_status sb_params(sb *s, const eg_node *nd)
{
    eg_c_layer l;
    eg_export_c_layer(nd, &l);
    char id[EG_NAME_MAX + 8], shape[64];
    if (nd->op == EG_OP_CONV2D)
        snprintf(shape, sizeof shape, "[%d][%d][%d][%d]", nd->pshape[0][0], nd->pshape[0][1], nd->pshape[0][2],
                 nd->pshape[0][3]);
    else
        snprintf(shape, sizeof shape, "[%d][%d]", nd->pshape[0][0], nd->pshape[0][1]);
    size_t n = nd->psize[0], rows = (size_t)nd->out, cols = n / rows;
    if (!l.csr) {
        sb_add(s, "/* %s: %s weights %s */\n", nd->name, eg_ops[nd->op]->name, shape);
        snprintf(id, sizeof id, "%s_w", nd->name);
        sb_floats(s, id, nd->param[0], n);
    } else {
        sb_add(s, "/* %s: %s weights %s in CSR, %zu of %zu kept (%.1f%% masked): the kept weights\n"
                  " * of output %s o are %s_vals[%s_rows[o] .. %s_rows[o+1]-1], at the columns\n"
                  " * %s_cols[] of row o%s */\n",
               nd->name, eg_ops[nd->op]->name, shape, l.kept, n, 100.0 * (1.0 - (double)l.kept / (double)n),
               nd->op == EG_OP_CONV2D ? "channel" : "feature", nd->name, nd->name, nd->name, nd->name,
               nd->op == EG_OP_CONV2D ? " ((input channel * k + ky) * k + kx)" : " (input features)");
        size_t *rp = malloc((rows + 1) * sizeof *rp), *ci = malloc((l.kept ? l.kept : 1) * sizeof *ci);
        float *v = malloc((l.kept ? l.kept : 1) * sizeof *v);
        if (!rp || !ci || !v) {
            free(rp), free(ci), free(v);
            return EG_ERR_NOMEM;
        }
        size_t j = 0;
        rp[0] = 0;
        for (size_t o = 0; o < rows; o++) {
            for (size_t c = 0; c < cols; c++)
                if (csr_keeps(nd, o * cols + c)) ci[j] = c, v[j] = nd->param[0][o * cols + c], j++;
            rp[o + 1] = j;
        }
        snprintf(id, sizeof id, "%s_rows", nd->name);
        sb_indices(s, id, l.index_bytes, rp, rows + 1);
        if (l.kept) {
            snprintf(id, sizeof id, "%s_cols", nd->name);
            sb_indices(s, id, l.index_bytes, ci, l.kept);
            snprintf(id, sizeof id, "%s_vals", nd->name);
            sb_floats(s, id, v, l.kept);
        } else {
            sb_add(s, "/* (every weight is masked: no columns, no values) */\n");
        }
        free(rp), free(ci), free(v);
    }
    sb_add(s, "/* %s: bias [%d] */\n", nd->name, nd->out);
    snprintf(id, sizeof id, "%s_b", nd->name);
    sb_floats(s, id, nd->param[1], nd->psize[1]);
    sb_add(s, "\n");
    return EG_OK;
}

/* A batchnorm2d's arrays <node>_mean, _inv, _gamma, _beta: what its
 * inference computes with, inv as eg_graph_forward works it out. */
static void batchnorm_inv(const eg_node *nd, float *inv)
{
    for (size_t c = 0; c < nd->bsize[1]; c++) inv[c] = (float)(1 / sqrt((double)nd->buffer[1][c] + 1e-5));
}

static void sb_bn_params(sb *s, const eg_node *nd)
{
    char id[EG_NAME_MAX + 8];
    size_t c = nd->psize[0];
    float *inv = malloc((c ? c : 1) * sizeof *inv);
    if (!inv) {
        s->oom = 1;
        return;
    }
    batchnorm_inv(nd, inv);
    sb_add(s, "/* %s: batchnorm2d of %zu channels: running mean, 1 / sqrt(running variance + 1e-5), scale, shift */\n",
           nd->name, c);
    snprintf(id, sizeof id, "%s_mean", nd->name);
    sb_floats(s, id, nd->buffer[0], c);
    snprintf(id, sizeof id, "%s_inv", nd->name);
    sb_floats(s, id, inv, c);
    snprintf(id, sizeof id, "%s_gamma", nd->name);
    sb_floats(s, id, nd->param[0], c);
    snprintf(id, sizeof id, "%s_beta", nd->name);
    sb_floats(s, id, nd->param[1], c);
    sb_add(s, "\n");
    free(inv);
}

static void sb_step(sb *s, const eg_graph *g, const c_step *st)
{
    const eg_node *nd = &g->nodes[st->node];
    char a[32], b[32], flow[40];
    shape_text(a, sizeof a, nd->in_shape);
    shape_text(b, sizeof b, nd->out_shape);
    step_flow(flow, sizeof flow, g, st);
    const char *x = place(st->src), *y = place(st->dst);
    eg_shape in = nd->in_shape, out = nd->out_shape;
    switch (nd->op) {
    case EG_OP_CONV2D: {
        eg_c_layer l;
        eg_export_c_layer(nd, &l);
        sb_add(s, "    /* %s: conv2d %s -> %s, kernel %d, stride %d, padding %d, %s weights: %s */\n", nd->name, a, b,
               nd->kernel, nd->stride, nd->pad, l.csr ? "CSR" : "dense", flow);
        if (!l.csr)
            sb_add(s, "    conv2d_dense(%s, %s, %s_w, %s_b, %d, %d, %d, %d, %d, %d, %d, %d, %d);\n", x, y, nd->name,
                   nd->name, in.c, in.h, in.w, out.c, out.h, out.w, nd->kernel, nd->stride, nd->pad);
        else if (l.kept)
            sb_add(s, "    conv2d_csr%d(%s, %s, %s_rows, %s_cols, %s_vals, %s_b, %d, %d, %d, %d, %d, %d, %d, %d);\n",
                   8 * l.index_bytes, x, y, nd->name, nd->name, nd->name, nd->name, in.h, in.w, out.c, out.h, out.w,
                   nd->kernel, nd->stride, nd->pad);
        else
            sb_add(s, "    conv2d_csr%d(%s, %s, %s_rows, 0, 0, %s_b, %d, %d, %d, %d, %d, %d, %d, %d);\n",
                   8 * l.index_bytes, x, y, nd->name, nd->name, in.h, in.w, out.c, out.h, out.w, nd->kernel,
                   nd->stride, nd->pad);
        break;
    }
    case EG_OP_LINEAR: {
        eg_c_layer l;
        eg_export_c_layer(nd, &l);
        sb_add(s, "    /* %s: linear %s -> %s, %s weights: %s */\n", nd->name, a, b, l.csr ? "CSR" : "dense", flow);
        if (!l.csr)
            sb_add(s, "    linear_dense(%s, %s, %s_w, %s_b, %d, %d);\n", x, y, nd->name, nd->name, in.c, out.c);
        else if (l.kept)
            sb_add(s, "    linear_csr%d(%s, %s, %s_rows, %s_cols, %s_vals, %s_b, %d);\n", 8 * l.index_bytes, x, y,
                   nd->name, nd->name, nd->name, nd->name, out.c);
        else
            sb_add(s, "    linear_csr%d(%s, %s, %s_rows, 0, 0, %s_b, %d);\n", 8 * l.index_bytes, x, y, nd->name,
                   nd->name, out.c);
        break;
    }
    case EG_OP_RELU:
        if (in.h == 1 && in.w == 1)
            sb_add(s, "    /* %s: relu over %zu floats: %s */\n", nd->name, eg_shape_size(in), flow);
        else
            sb_add(s, "    /* %s: relu over %s = %zu floats: %s */\n", nd->name, a, eg_shape_size(in), flow);
        sb_add(s, "    relu(%s, %s, %zu);\n", x, y, eg_shape_size(in));
        break;
    case EG_OP_MAXPOOL2D:
        sb_add(s, "    /* %s: maxpool2d %s -> %s, window %d, stride %d: %s */\n", nd->name, a, b, nd->kernel,
               nd->stride, flow);
        sb_add(s, "    maxpool2d(%s, %s, %d, %d, %d, %d, %d, %d, %d);\n", x, y, in.c, in.h, in.w, out.h, out.w,
               nd->kernel, nd->stride);
        break;
    case EG_OP_FLATTEN:
        sb_add(s, "    /* %s: flatten %s -> %s: the same floats in the same order, nothing to do (%s) */\n", nd->name,
               a, b, place_name(st->src));
        break;
    case EG_OP_BATCHNORM2D:
        sb_add(s, "    /* %s: batchnorm2d over %s, running statistics: %s */\n", nd->name, a, flow);
        sb_add(s, "    batchnorm2d(%s, %s, %s_mean, %s_inv, %s_gamma, %s_beta, %d, %d);\n", x, y, nd->name, nd->name,
               nd->name, nd->name, in.c, in.h * in.w);
        break;
    case EG_OP_ADD:
        sb_add(s, "    /* %s: add %s + %s, %s: %s */\n", nd->name, g->nodes[nd->inputs[0]].name,
               g->nodes[nd->inputs[1]].name, a, flow);
        sb_add(s, "    add(%s, %s, %s, %zu);\n", x, place(st->src2), y, eg_shape_size(in));
        break;
    case EG_OP_GAP:
        sb_add(s, "    /* %s: global average pooling %s -> %s: %s */\n", nd->name, a, b, flow);
        sb_add(s, "    gap(%s, %s, %d, %d);\n", x, y, in.c, in.h * in.w);
        break;
    default:
        break;
    }
}

static eg_status sb_source(sb *s, const eg_graph *g, const c_plan *p, const eg_c_export_size *sz, const char *name)
{
    char up[80];
    name_upper(up, name);
    int conv_dense = 0, conv_csr[3] = {0}, lin_dense = 0, lin_csr[3] = {0}, relu = 0, pool = 0, bn = 0, add = 0, gap = 0;
    for (int i = 0; i < p->n; i++) {
        const eg_node *nd = &g->nodes[p->steps[i].node];
        eg_c_layer l;
        eg_export_c_layer(nd, &l);
        if (nd->op == EG_OP_CONV2D) *(l.csr ? &conv_csr[bits_index(l.index_bytes)] : &conv_dense) = 1;
        if (nd->op == EG_OP_LINEAR) *(l.csr ? &lin_csr[bits_index(l.index_bytes)] : &lin_dense) = 1;
        relu |= nd->op == EG_OP_RELU;
        pool |= nd->op == EG_OP_MAXPOOL2D;
        bn |= nd->op == EG_OP_BATCHNORM2D;
        add |= nd->op == EG_OP_ADD;
        gap |= nd->op == EG_OP_GAP;
    }
    int any_csr = sz->csr_layers > 0, any_conv = conv_dense || conv_csr[0] || conv_csr[1] || conv_csr[2];
    sb_add(s, "/* %s.c: the model ", name);
    sb_comment_text(s, g->name);
    sb_add(s, " as C99 code, written by `edagari export --format c`.\n"
              " * The interface, the memory it needs and its layers are described in %s.h.\n"
              " * Parameters first, then one kernel per kind of layer, then %s_infer. */\n"
              "#include \"%s.h\"\n",
           name, name, name);
    if (any_csr) sb_add(s, "#include <stdint.h>  /* the CSR index types; no library code */\n");
    sb_add(s, "\n/* ---------------------------------------------------------------- parameters */\n\n");
    for (int i = 0; i < p->n; i++) {
        const eg_node *nd = &g->nodes[p->steps[i].node];
        if (has_weights(nd) && sb_params(s, nd)) return EG_ERR_NOMEM;
        if (nd->op == EG_OP_BATCHNORM2D) sb_bn_params(s, nd);
    }
    sb_add(s, "/* ---------------------------------------------------------------- kernels */\n\n");
    static const char *const types[3] = {"uint8_t", "uint16_t", "uint32_t"};
    if (any_conv) sb_add(s, "%s", k_tap);
    if (conv_dense) sb_add(s, "%s", k_conv_dense);
    for (int t = 0; t < 3; t++)
        if (conv_csr[t]) sb_template(s, k_conv_csr, types[t], 8 << t);
    if (lin_dense) sb_add(s, "%s", k_linear_dense);
    for (int t = 0; t < 3; t++)
        if (lin_csr[t]) sb_template(s, k_linear_csr, types[t], 8 << t);
    if (relu) sb_add(s, "%s", k_relu);
    if (pool) sb_add(s, "%s", k_pool);
    if (bn) sb_add(s, "%s", k_bn);
    if (add) sb_add(s, "%s", k_add);
    if (gap) sb_add(s, "%s", k_gap);
    if (p->copy) sb_add(s, "%s", k_copy);
    sb_add(s, "/* ---------------------------------------------------------------- inference */\n\n"
              "int %s_infer(const float *input, float *output, float *scratch)\n"
              "{\n",
           name);
    if (p->size_a) sb_add(s, "    float *buf_a = scratch;    /* buffer A: up to %zu floats */\n", p->size_a);
    if (p->size_b)
        sb_add(s, "    float *buf_b = scratch + %zu;    /* buffer B: up to %zu floats */\n", p->size_a, p->size_b);
    size_t off = p->size_a + p->size_b;
    for (int k = 2; k < p->nbuf; k++) {
        sb_add(s, "    float *%s = scratch + %zu;    /* buffer %s: up to %zu floats */\n", more_places[k][0], off,
               more_places[k][1], p->buf_size[k]);
        off += p->buf_size[k];
    }
    sb_add(s, "    int i, best = 0;\n");
    if (!p->size_a) sb_add(s, "    (void)scratch;    /* no activation is kept between input and output */\n");
    sb_add(s, "\n");
    for (int i = 0; i < p->n; i++) sb_step(s, g, &p->steps[i]);
    if (p->copy)
        sb_add(s, "    /* nothing to compute: the output is the input */\n    copy(input, output, %s_OUTPUT_SIZE);\n",
               up);
    sb_add(s, "\n"
              "    /* the predicted class: the first index of the largest score */\n"
              "    for (i = 1; i < %s_OUTPUT_SIZE; i++)\n"
              "        if (output[i] > output[best]) best = i;\n"
              "    return best;\n"
              "}\n",
           up);
    return EG_OK;
}

/* ------------------------------------------------------------ writing */

static eg_status check_params(const eg_graph *g, const c_plan *p, eg_error *err)
{
    char what[128];
    snprintf(what, sizeof what, "model %s: cannot export it as C", g->name);
    eg_status st = eg_graph_check_finite(g, what, err);
    for (int i = 0; i < p->n && !st; i++) {
        const eg_node *nd = &g->nodes[p->steps[i].node];
        for (size_t k = 0; nd->op == EG_OP_BATCHNORM2D && k < nd->psize[0]; k++)
            if (!(nd->buffer[1][k] >= 0))
                return eg_fail(err, EG_ERR_ARG, "model %s: %s's channel %zu has running variance %g; the C export needs a "
                               "variance >= 0", g->name, nd->name, k, (double)nd->buffer[1][k]);
    }
    return st;
}

eg_status eg_export_c(const eg_graph *g, const char *out, eg_error *err)
{
    const char *name = strrchr(out, '/');
    name = name ? name + 1 : out;
    size_t nl = strlen(name);
    int ident = nl > 0 && ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'));
    for (size_t k = 0; k < nl; k++)
        ident &= (name[k] >= 'a' && name[k] <= 'z') || (name[k] >= 'A' && name[k] <= 'Z') ||
                 (name[k] >= '0' && name[k] <= '9') || name[k] == '_';
    if (!ident || nl > 48)
        return eg_fail(err, EG_ERR_ARG,
                       "%s: the name '%s' must be a C identifier (a letter, then letters, digits or '_', at most 48): "
                       "it names the function %s_infer and the files %s.h and %s.c",
                       out, name, nl ? name : "NAME", nl ? name : "NAME", nl ? name : "NAME");
    if (strlen(out) > 4000) return eg_fail(err, EG_ERR_ARG, "%s: the path is too long", out);
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)(name - out), out);
    struct stat sb_dir;
    if (*dir && (stat(dir, &sb_dir) || !S_ISDIR(sb_dir.st_mode)))
        return eg_fail(err, EG_ERR_IO, "%s: folder %s does not exist", out, dir);

    c_plan p;
    eg_status st = plan_build(g, &p, err);
    if (st) return st;
    if ((st = check_params(g, &p, err))) {
        plan_free(&p);
        return st;
    }
    eg_c_export_size sz;
    fill_size(g, &p, &sz);
    sb h = {0}, c = {0};
    sb_header(&h, g, &p, &sz, name);
    st = sb_source(&c, g, &p, &sz, name);
    plan_free(&p);
    if (st || h.oom || c.oom) {
        free(h.buf), free(c.buf);
        return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for the C code", out);
    }

    char hpath[4100], cpath[4100], htmp[4200], ctmp[4200];
    snprintf(hpath, sizeof hpath, "%s.h", out);
    snprintf(cpath, sizeof cpath, "%s.c", out);
    snprintf(htmp, sizeof htmp, "%s.tmp.%ld", hpath, (long)getpid());
    snprintf(ctmp, sizeof ctmp, "%s.tmp.%ld", cpath, (long)getpid());
    st = eg_write_temp(hpath, htmp, h.buf, h.len, err);
    if (!st && (st = eg_write_temp(cpath, ctmp, c.buf, c.len, err))) remove(htmp), eg_temp_release(htmp);
    free(h.buf), free(c.buf);
    if (st) return st;
    if (rename(ctmp, cpath)) {
        int e = errno;
        remove(ctmp), remove(htmp);
        eg_temp_release(ctmp), eg_temp_release(htmp);
        return eg_fail(err, EG_ERR_IO, "%s: cannot write: %s (nothing was replaced)", cpath, strerror(e));
    }
    eg_temp_release(ctmp);
    int bad = rename(htmp, hpath) != 0, e = errno;
    if (bad) remove(htmp);
    eg_temp_release(htmp);
    if (bad) return eg_fail(err, EG_ERR_IO, "%s: cannot write: %s (%s was written)", hpath, strerror(e), cpath);
    return EG_OK;
}
