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
#include "io/csrc.h"

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

static eg_c_place place_of(const eg_graph *g, int node)
{
    const eg_c_form *c = &eg_ops[g->nodes[node].op]->c;
    return c->place_of ? c->place_of(&g->nodes[node]) : c->place;
}

/* Where the tensors go for one choice of in-place layers (bit i: the i-th
 * that may write over its input does, when it can); returns A + B. */
static size_t assign(const eg_graph *g, c_plan *p, unsigned long choice)
{
    int last = -1, seen = 0;
    for (int i = 0; i < p->n; i++) {
        eg_c_place pl = place_of(g, p->steps[i].node);
        /* over its input, unless that is the caller's input */
        p->steps[i].writes = pl == EG_C_NEW || pl == EG_C_NEW_OR_OVER || (pl == EG_C_OVER_INPUT && !seen);
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
        else if (place_of(g, s->node) == EG_C_NEW_OR_OVER && at != AT_INPUT && (choice >> pool & 1))
            s->dst = at;
        else
            s->dst = at == AT_A ? AT_B : AT_A;
        if (place_of(g, s->node) == EG_C_NEW_OR_OVER) pool++;
        size_t size = eg_shape_size(nd->out_shape);
        if (s->dst == AT_A && size > p->size_a) p->size_a = size, p->big_a = s->node;
        if (s->dst == AT_B && size > p->size_b) p->size_b = size, p->big_b = s->node;
        at = s->dst;
    }
    p->copy = last < 0;
    return p->size_a + p->size_b;
}

#define MAX_POOL_CHOICES 16  /* layers whose in-place choice is searched; later ones always alternate */

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
        eg_c_place pl = place_of(g, v);
        if (pl == EG_C_SAME) {
            dst = at[a];  /* the same floats: it only extends how long they are read */
        } else if (pl == EG_C_OVER_INPUT && alone_a && v != g->nnodes - 1) {
            dst = at[a];
        } else if (pl == EG_C_OVER_INPUT && alone_b && v != g->nnodes - 1) {
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
        adds += nd->ninputs > 1;
        if (nd->op != EG_OP_INPUT && !eg_ops[nd->op]->c.place)
            return eg_fail(err, EG_ERR_ARG, "model %s: node %s: the C export has no code for op %s", g->name, nd->name,
                           eg_ops[nd->op]->name);
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
    for (int i = 0; i < n; i++) pools += place_of(g, p->steps[i].node) == EG_C_NEW_OR_OVER;
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

static int has_weights(const eg_node *nd) { return eg_ops[nd->op]->c.weights; }

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
    for (int i = 0; i < p->n; i++) {  /* the other arrays (batchnorm2d's statistics), as written */
        const eg_node *nd = &g->nodes[p->steps[i].node];
        if (!eg_ops[nd->op]->c.params) continue;
        eg_csrc c = {0};
        eg_ops[nd->op]->c.params(&c, nd);
        s->flash_bytes += c.flash;
        s->dense_bytes += c.flash;
        free(c.params.buf);
    }
    s->buffer_a = p->size_a;
    s->buffer_b = p->size_b;
    for (int k = 2; k < p->nbuf; k++) s->buffer_rest += p->buf_size[k];
    s->scratch_floats = p->size_a + p->size_b + s->buffer_rest;
    s->ram_bytes = s->scratch_floats * sizeof(float);
    s->input_floats = eg_shape_size(g->nodes[p->input].out_shape);
    s->output_floats = eg_shape_size(g->nodes[g->nnodes - 1].out_shape);
}

/* What the C code computes: a copy of g with its batchnorms folded into
 * the layers before them (eg_graph_fold_batchnorm), which the exported
 * code then neither stores nor runs. */
static eg_status folded_copy(const eg_graph *g, eg_graph *f, eg_error *err)
{
    int folded = 0;
    eg_status st = eg_graph_clone(f, g, err);
    if (st) return st;
    if (!(st = eg_graph_fold_batchnorm(f, &folded, err)) && folded)
        st = eg_model_note(f, "for the C export: %d batchnorm%s folded into the layer%s before", folded,
                           folded == 1 ? "" : "s", folded == 1 ? "" : "s");
    if (st) eg_graph_free(f);
    return st;
}

eg_status eg_export_c_size(const eg_graph *g, eg_c_export_size *s, eg_error *err)
{
    eg_graph f;
    c_plan p;
    eg_status st = folded_copy(g, &f, err);
    if (st) return st;
    if (!(st = plan_build(&f, &p, err))) {
        fill_size(&f, &p, s);
        plan_free(&p);
    }
    eg_graph_free(&f);
    return st;
}

/* ------------------------------------------------------------ text */

void eg_text_add(eg_text *t, const char *fmt, ...)
{
    if (t->oom) return;
    for (int tries = 0; tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap : 1 << 16;
        while (cap <= t->len + (size_t)n) cap *= 2;
        char *nb = realloc(t->buf, cap);
        if (!nb) {
            t->oom = 1;
            return;
        }
        t->buf = nb, t->cap = cap;
    }
}

/* Text from the model (its name, its history) made safe inside a C comment:
 * printable ASCII only, and no comment delimiters or trigraphs. */
static void sb_comment_text(eg_text *s, const char *t)
{
    char prev = 0;
    for (; *t; t++) {
        char c = *t >= 0x20 && *t < 0x7f ? *t : '_';
        if ((prev == '*' && c == '/') || (prev == '/' && c == '*') || (prev == '?' && c == '?')) eg_text_add(s, " ");
        eg_text_add(s, "%c", c);
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
static void sb_list_item(eg_text *s, size_t *col, size_t k, const char *lit)
{
    size_t len = strlen(lit) + 2;
    if (*col + len > LINE_WIDTH) {
        eg_text_add(s, "%s\n    ", k ? "," : "");
        *col = 4;
    } else {
        eg_text_add(s, ", ");
    }
    eg_text_add(s, "%s", lit);
    *col += len;
}

static void sb_floats(eg_text *s, const char *name, const float *v, size_t n)
{
    eg_text_add(s, "static const float %s[%zu] = {", name, n);
    size_t col = LINE_WIDTH;
    for (size_t k = 0; k < n; k++) {
        char lit[40];
        float_literal(lit, sizeof lit, v[k]);
        sb_list_item(s, &col, k, lit);
    }
    eg_text_add(s, "\n};\n");
}

static const char *index_type(int bytes) { return bytes == 1 ? "uint8_t" : bytes == 2 ? "uint16_t" : "uint32_t"; }

static void sb_indices(eg_text *s, const char *name, int bytes, const size_t *v, size_t n)
{
    eg_text_add(s, "static const %s %s[%zu] = {", index_type(bytes), name, n);
    size_t col = LINE_WIDTH;
    for (size_t k = 0; k < n; k++) {
        char lit[32];
        snprintf(lit, sizeof lit, "%zu", v[k]);
        sb_list_item(s, &col, k, lit);
    }
    eg_text_add(s, "\n};\n");
}

/* Appends text with every "@T" replaced by type and every "@N" by bits. */
static void sb_template(eg_text *s, const char *text, const char *type, int bits)
{
    for (const char *p = text; *p; p++) {
        if (p[0] == '@' && p[1] == 'T') eg_text_add(s, "%s", type), p++;
        else if (p[0] == '@' && p[1] == 'N') eg_text_add(s, "%d", bits), p++;
        else eg_text_add(s, "%c", *p);
    }
}

void eg_csrc_shape(char *out, size_t cap, eg_shape sh)
{
    if (sh.h == 1 && sh.w == 1) snprintf(out, cap, "%d", sh.c);
    else snprintf(out, cap, "%dx%dx%d", sh.c, sh.h, sh.w);
}

void eg_csrc_floats(eg_csrc *s, const char *name, const float *v, size_t n)
{
    sb_floats(&s->params, name, v, n);
    s->flash += n * sizeof(float);
}

/* Whether the kernel key (of index width bytes, 0: none) is written
 * already; notes it when not. */
static int kernel_seen(eg_csrc *s, const char *key, int bytes)
{
    char k[sizeof s->keys[0]];
    snprintf(k, sizeof k, "%s/%d", key, bytes);
    for (int i = 0; i < s->nkeys; i++)
        if (!strcmp(s->keys[i], k)) return 1;
    if (s->nkeys == EG_CSRC_MAX_KERNELS) return s->kernels.oom = 1;
    memcpy(s->keys[s->nkeys++], k, sizeof k);
    return 0;
}

void eg_csrc_kernel(eg_csrc *s, const char *key, const char *text)
{
    if (!kernel_seen(s, key, 0)) eg_text_add(&s->kernels, "%s", text);
}

void eg_csrc_kernel_typed(eg_csrc *s, const char *key, const char *text, int bytes)
{
    if (!kernel_seen(s, key, bytes)) sb_template(&s->kernels, text, index_type(bytes), 8 * bytes);
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

/* ------------------------------------------------------------ the files */

static void name_upper(char *out, const char *name)
{
    for (; *name; name++) *out++ = (*name >= 'a' && *name <= 'z') ? (char)(*name - 'a' + 'A') : *name;
    *out = 0;
}

static void sb_history(eg_text *s, const eg_graph *g)
{
    if (!g->history || !*g->history) return;
    eg_text_add(s, " *\n * History of the model:\n");
    for (const char *p = g->history; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[1100];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
        eg_text_add(s, " *   ");
        sb_comment_text(s, line);
        eg_text_add(s, "\n");
        p += n + (nl ? 1 : 0);
    }
}


/* What a step does, for the layer table and the comments: "input -> A", "A, in place". */
static void step_flow(char *out, size_t cap, const eg_graph *g, const c_step *st)
{
    if (g->nodes[st->node].ninputs > 1)
        snprintf(out, cap, "%s + %s -> %s", place_name(st->src), place_name(st->src2), place_name(st->dst));
    else if (place_of(g, st->node) == EG_C_SAME)
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
    int at = 0;
    for (int d = 0; d < nd->pdims[0]; d++) at += snprintf(w + at, sizeof w - (size_t)at, "%s%d", d ? "x" : "", nd->pshape[0][d]);
    snprintf(w + at, sizeof w - (size_t)at, " + %d", nd->out);
    if (l.csr)
        snprintf(out, cap, "%s: CSR, %zu of %zu weights, %d-bit indices, %zu bytes", w, l.kept, nd->psize[0],
                 8 * l.index_bytes, l.bytes);
    else
        snprintf(out, cap, "%s: dense, %zu bytes", w, l.bytes);
}

static void sb_header(eg_text *s, const eg_graph *g, const c_plan *p, const eg_c_export_size *sz, const char *name)
{
    char up[80], more[256] = "";
    for (int k = 2, o = 0; k < p->nbuf; k++)
        o += snprintf(more + o, sizeof more - (size_t)o, " + buffer %s (%zu)", more_places[k][1], p->buf_size[k]);
    name_upper(up, name);
    eg_shape is = g->nodes[p->input].out_shape;
    eg_text_add(s, "/* %s.h: the model ", name);
    sb_comment_text(s, g->name);
    eg_text_add(s, " as C99 code, written by `edagari export --format c`.\n"
              " *\n"
              " *   int %s_infer(const float *input, float *output, float *scratch);\n"
              " *\n",
           name);
    eg_text_add(s, " * input    %s_INPUT_SIZE floats: one image as [C][H][W] = [%d][%d][%d],\n"
              " *          normalised as the training data were: channel c's values\n"
              " *          (pixel / 255, or the data's floats) as (x - mean[c]) / std[c] with\n"
              " *          mean[] = %s_INPUT_MEAN and std[] = %s_INPUT_STD\n",
           up, is.c, is.h, is.w, up, up);
    eg_text_add(s, " * output   %s_OUTPUT_SIZE floats: the %zu scores (logits), one per class\n", up, sz->output_floats);
    if (sz->scratch_floats)
        eg_text_add(s, " * scratch  %s_SCRATCH_FLOATS floats of working memory (nothing is kept in it\n"
                  " *          between calls; it must not overlap input or output)\n",
               up);
    else
        eg_text_add(s, " * scratch  not used: %s_SCRATCH_FLOATS is 0 and the pointer may be NULL\n", up);
    eg_text_add(s, " * returns  the index of the largest score, the first on ties\n"
              " *\n"
              " * %s.c allocates nothing, keeps no state (its arrays are read-only) and calls\n"
              " * no library function (a compiler may still turn a loop into memcpy or\n"
              " * memset); calls with different scratch buffers may run at the same time.\n"
              " *\n",
           name);
    eg_text_add(s, " * Flash: %zu bytes of parameters in const arrays (weights, biases", sz->flash_bytes);
    for (int i = 0; i < p->n; i++)
        if (eg_ops[g->nodes[p->steps[i].node].op]->c.params) {
            eg_text_add(s, ", the other\n * layers' arrays");
            break;
        }
    if (sz->csr_layers)
        eg_text_add(s, " and CSR\n * indices; %zu bytes if every layer were dense).\n", sz->dense_bytes);
    else
        eg_text_add(s, ").\n");
    eg_text_add(s, " * RAM: %zu bytes of scratch, besides the caller's input (%zu bytes) and\n"
              " * output (%zu bytes).\n",
           sz->ram_bytes, sz->input_floats * sizeof(float), sz->output_floats * sizeof(float));
    if (sz->scratch_floats && p->nbuf) {
        eg_text_add(s, " *\n * %s_SCRATCH_FLOATS = the sizes of buffers, one after the other:\n", up);
        for (int k = 0; k < p->nbuf; k++)
            eg_text_add(s, " *   %s: %zu floats (the largest tensor it holds, %s's output)\n", more_places[k][1], p->buf_size[k],
                   g->nodes[p->buf_big[k]].name);
        eg_text_add(s, " * The model has a residual add, so tensors are kept while\n"
                  " * later layers still read them: each new tensor takes the first buffer\n"
                  " * none of whose tensors is read any more. relu and batchnorm2d work in\n"
                  " * place when nothing else reads their input, add writes into an input only\n"
                  " * it reads, flatten moves nothing, and the last layer writes output.\n");
    } else if (sz->scratch_floats) {
        eg_text_add(s, " *\n * %s_SCRATCH_FLOATS = buffer A (%zu floats: the largest activation it holds,\n"
                  " * %s's output)",
               up, p->size_a, g->nodes[p->big_a].name);
        if (p->size_b)
            eg_text_add(s, " + buffer B (%zu floats, %s's output), B right after A", p->size_b, g->nodes[p->big_b].name);
        eg_text_add(s, ".\n"
                  " * A layer that makes a new tensor reads it from one place and writes it\n"
                  " * to another: the first reads input, the last writes output, and those\n"
                  " * between alternate between A and B. relu works in place, a max-pool in\n"
                  " * place when that makes A + B smaller, flatten moves nothing, and\n"
                  " * convolutions are computed directly, tap by tap, with no more memory.\n");
    }
    eg_text_add(s, " *\n * Layers:\n *   %-8s %-9s %-9s %-9s %-14s %s\n", "node", "op", "input", "output", "data",
           "parameters");
    for (int i = 0; i < p->n; i++) {
        const eg_node *nd = &g->nodes[p->steps[i].node];
        char a[32], b[32], flow[40], par[160] = "";
        eg_csrc_shape(a, sizeof a, nd->in_shape);
        eg_csrc_shape(b, sizeof b, nd->out_shape);
        step_flow(flow, sizeof flow, g, &p->steps[i]);
        if (has_weights(nd)) params_text(par, sizeof par, nd);
        eg_text_add(s, " *   %-8s %-9s %-9s %-9s %-14s %s", nd->name, eg_ops[nd->op]->name, a, b, flow, par);
        while (s->len && s->buf[s->len - 1] == ' ') s->len--;  /* no trailing blanks */
        eg_text_add(s, "\n");
    }
    if (p->copy) eg_text_add(s, " *   (no layer computes anything: the output is a copy of the input)\n");
    sb_history(s, g);
    eg_text_add(s, " */\n"
              "#ifndef %s_H\n"
              "#define %s_H\n"
              "\n"
              "#define %s_INPUT_C %d\n"
              "#define %s_INPUT_H %d\n"
              "#define %s_INPUT_W %d\n"
              "#define %s_INPUT_SIZE %zu    /* floats: [C][H][W] of one image */\n"
              "#define %s_OUTPUT_SIZE %zu    /* floats: one score per class */\n"
              "#define %s_SCRATCH_FLOATS %zu    /* buffer A (%zu) + buffer B (%zu)%s */\n",
           up, up, up, is.c, up, is.h, up, is.w, up, sz->input_floats, up, sz->output_floats, up, sz->scratch_floats,
           p->size_a, p->size_b, more);
    /* the normalisation it was trained with (a model file that stores none: MNIST's), as initialisers */
    for (int k = 0; k < 2; k++) {
        eg_text_add(s, "#define %s_INPUT_%s {", up, k ? "STD" : "MEAN");
        for (int c = 0; c < is.c; c++)
            eg_text_add(s, "%s%.9gf", c ? ", " : "", g->norm_c ? g->norm[k * is.c + c] : k ? 0.3081 : 0.1307);
        eg_text_add(s, "}    /* per input channel */\n");
    }
    eg_text_add(s, "\n"
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
           name);
}

/* A node's parameter arrays: <node>_w dense, or <node>_rows, _cols, _vals in
 * CSR; and <node>_b. Node names are C identifiers and every suffix is one
 * word, so no two arrays (and no kernel) share a name. */
static eg_status sb_params(eg_text *s, const eg_node *nd)
{
    eg_c_layer l;
    eg_export_c_layer(nd, &l);
    char id[EG_NAME_MAX + 8], shape[64];
    int conv = nd->pdims[0] == 4, at = 0;
    for (int d = 0; d < nd->pdims[0]; d++) at += snprintf(shape + at, sizeof shape - (size_t)at, "[%d]", nd->pshape[0][d]);
    size_t n = nd->psize[0], rows = (size_t)nd->out, cols = n / rows;
    if (!l.csr) {
        eg_text_add(s, "/* %s: %s weights %s */\n", nd->name, eg_ops[nd->op]->name, shape);
        snprintf(id, sizeof id, "%s_w", nd->name);
        sb_floats(s, id, nd->param[0], n);
    } else {
        eg_text_add(s, "/* %s: %s weights %s in CSR, %zu of %zu kept (%.1f%% masked): the kept weights\n"
                  " * of output %s o are %s_vals[%s_rows[o] .. %s_rows[o+1]-1], at the columns\n"
                  " * %s_cols[] of row o%s */\n",
               nd->name, eg_ops[nd->op]->name, shape, l.kept, n, 100.0 * (1.0 - (double)l.kept / (double)n),
               conv ? "channel" : "feature", nd->name, nd->name, nd->name, nd->name,
               conv ? " ((input channel * k + ky) * k + kx)" : " (input features)");
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
            eg_text_add(s, "/* (every weight is masked: no columns, no values) */\n");
        }
        free(rp), free(ci), free(v);
    }
    eg_text_add(s, "/* %s: bias [%d] */\n", nd->name, nd->out);
    snprintf(id, sizeof id, "%s_b", nd->name);
    sb_floats(s, id, nd->param[1], nd->psize[1]);
    eg_text_add(s, "\n");
    return EG_OK;
}

/* Node st's call into NAME_infer, by its op's code. */
static void sb_step(eg_csrc *c, const eg_graph *g, const c_step *st)
{
    const eg_node *nd = &g->nodes[st->node];
    char flow[40];
    step_flow(flow, sizeof flow, g, st);
    if (eg_ops[nd->op]->c.code)
        eg_ops[nd->op]->c.code(c, g, nd, place(st->src), place(st->src2), place(st->dst), flow);
    else  /* moves nothing (flatten) */
        eg_text_add(&c->body, "    /* %s: %s: the same floats in the same order, nothing to do (%s) */\n", nd->name,
                    eg_ops[nd->op]->name, place_name(st->src));
}

static const char k_copy[] =
    "/* y = x, n floats. */\n"
    "static void copy(const float *x, float *y, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) y[i] = x[i];\n"
    "}\n\n";

/* NAME.c: the parameters, the kernels the layers call and NAME_infer,
 * each layer writing its part through its op's table entry. */
static eg_status sb_source(eg_text *s, const eg_graph *g, const c_plan *p, const eg_c_export_size *sz, const char *name)
{
    char up[80];
    name_upper(up, name);
    eg_csrc c = {0};
    for (int i = 0; i < p->n; i++) {
        const eg_node *nd = &g->nodes[p->steps[i].node];
        if (has_weights(nd) && sb_params(&c.params, nd)) c.params.oom = 1;
        if (eg_ops[nd->op]->c.params) eg_ops[nd->op]->c.params(&c, nd);
    }
    for (int i = 0; i < p->n; i++) sb_step(&c, g, &p->steps[i]);
    if (p->copy) {
        eg_csrc_kernel(&c, "copy", k_copy);
        eg_text_add(&c.body, "    /* nothing to compute: the output is the input */\n    copy(input, output, %s_OUTPUT_SIZE);\n",
                    up);
    }
    eg_text_add(s, "/* %s.c: the model ", name);
    sb_comment_text(s, g->name);
    eg_text_add(s, " as C99 code, written by `edagari export --format c`.\n"
                   " * The interface, the memory it needs and its layers are described in %s.h.\n"
                   " * Parameters first, then one kernel per kind of layer, then %s_infer. */\n"
                   "#include \"%s.h\"\n",
                name, name, name);
    if (sz->csr_layers) eg_text_add(s, "#include <stdint.h>  /* the CSR index types; no library code */\n");
    eg_text_add(s, "\n/* ---------------------------------------------------------------- parameters */\n\n");
    eg_text_add(s, "%.*s", (int)c.params.len, c.params.buf ? c.params.buf : "");
    eg_text_add(s, "/* ---------------------------------------------------------------- kernels */\n\n");
    eg_text_add(s, "%.*s", (int)c.kernels.len, c.kernels.buf ? c.kernels.buf : "");
    eg_text_add(s, "/* ---------------------------------------------------------------- inference */\n\n"
                   "int %s_infer(const float *input, float *output, float *scratch)\n"
                   "{\n",
                name);
    if (p->size_a) eg_text_add(s, "    float *buf_a = scratch;    /* buffer A: up to %zu floats */\n", p->size_a);
    if (p->size_b)
        eg_text_add(s, "    float *buf_b = scratch + %zu;    /* buffer B: up to %zu floats */\n", p->size_a, p->size_b);
    size_t off = p->size_a + p->size_b;
    for (int k = 2; k < p->nbuf; k++) {
        eg_text_add(s, "    float *%s = scratch + %zu;    /* buffer %s: up to %zu floats */\n", more_places[k][0], off,
                    more_places[k][1], p->buf_size[k]);
        off += p->buf_size[k];
    }
    eg_text_add(s, "    int i, best = 0;\n");
    if (!p->size_a) eg_text_add(s, "    (void)scratch;    /* no activation is kept between input and output */\n");
    eg_text_add(s, "\n%.*s", (int)c.body.len, c.body.buf ? c.body.buf : "");
    eg_text_add(s, "\n"
                   "    /* the predicted class: the first index of the largest score */\n"
                   "    for (i = 1; i < %s_OUTPUT_SIZE; i++)\n"
                   "        if (output[i] > output[best]) best = i;\n"
                   "    return best;\n"
                   "}\n",
                up);
    int oom = c.params.oom || c.kernels.oom || c.body.oom;
    free(c.params.buf), free(c.kernels.buf), free(c.body.buf);
    return oom ? EG_ERR_NOMEM : EG_OK;
}

/* ------------------------------------------------------------ writing */

static eg_status check_params(const eg_graph *g, const c_plan *p, eg_error *err)
{
    char what[128];
    snprintf(what, sizeof what, "model %s: cannot export it as C", g->name);
    eg_status st = eg_graph_check_finite(g, what, err);
    for (int i = 0; i < p->n && !st; i++) {
        const eg_node *nd = &g->nodes[p->steps[i].node];
        char why[512];
        if (eg_ops[nd->op]->c.check && eg_ops[nd->op]->c.check(nd, why, sizeof why))
            return eg_fail(err, EG_ERR_ARG, "model %s: %s", g->name, why);
    }
    return st;
}

static eg_status write_c(const eg_graph *g, const char *out, const char *name, eg_error *err);

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

    eg_graph f;
    eg_status st = folded_copy(g, &f, err);
    if (st) return st;
    st = write_c(&f, out, name, err);
    eg_graph_free(&f);
    return st;
}

/* eg_export_c's files, for the model it computes (folded_copy). */
static eg_status write_c(const eg_graph *g, const char *out, const char *name, eg_error *err)
{
    c_plan p;
    eg_status st = plan_build(g, &p, err);
    if (st) return st;
    if ((st = check_params(g, &p, err))) {
        plan_free(&p);
        return st;
    }
    eg_c_export_size sz;
    fill_size(g, &p, &sz);
    eg_text h = {0}, c = {0};
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
