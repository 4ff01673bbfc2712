/* Model spec files: one node per line, `<op> <name> [in=a[,b]] [key=value ...]`.
 * The parser is strict: every error names the file, line and column, what
 * was expected and what was found. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
    const char *file;
    int line;
    eg_error *err;
} spec_ctx;

#define SPEC_FAIL(c, col, ...)                                                             \
    do {                                                                                \
        char m_[768];                                                                   \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                           \
        return eg_fail((c)->err, EG_ERR_SPEC, "%s:%d:%d: %s", (c)->file, (c)->line, (col), m_); \
    } while (0)

/* Sizes and attributes stay far enough below INT_MAX that the layers'
 * shape arithmetic (h + 2 * pad, ...) cannot overflow. */
#define SPEC_INT_MAX (1 << 20)
#define SPEC_SIZE_MAX ((size_t)1 << 28)

/* A decimal integer in 0..SPEC_INT_MAX that fills the whole token. */
static int parse_int(const char *s, size_t len, int *out)
{
    if (len == 0 || len > 9) return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > SPEC_INT_MAX) return -1;
    *out = v;
    return 0;
}

static eg_status parse_shape(spec_ctx *c, int col, const char *v, size_t len, eg_shape *out)
{
    int dims[3], nd = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || v[i] == 'x') {
            if (nd == 3 || parse_int(v + start, i - start, &dims[nd]) || dims[nd] < 1)
                SPEC_FAIL(c, col, "shape: expected CxHxW with three integers from 1 to 1048576 (e.g. 1x28x28), found '%.*s'",
                          (int)len, v);
            nd++;
            start = i + 1;
        }
    if (nd != 3)
        SPEC_FAIL(c, col, "shape: expected CxHxW with three integers from 1 to 1048576 (e.g. 1x28x28), found '%.*s'",
                  (int)len, v);
    if ((size_t)dims[0] * dims[1] * dims[2] > SPEC_SIZE_MAX)
        SPEC_FAIL(c, col, "shape: %.*s is %zu values per sample, at most 2^28", (int)len, v,
                  (size_t)dims[0] * dims[1] * dims[2]);
    *out = (eg_shape){dims[0], dims[1], dims[2]};
    return EG_OK;
}

/* in the order of the EG_ATTR_* bits */
const eg_attr_def eg_attrs[EG_ATTR_COUNT] = {
    {"out", offsetof(eg_node, out), 0, -1},
    {"kernel", offsetof(eg_node, kernel), 0, -1},
    {"stride", offsetof(eg_node, stride), 1, -1},  /* 0 would silently mean the op's default (1, or the kernel) */
    {"pad", offsetof(eg_node, pad), 0, 0},
    {"shape", 0, 0, -1},
    {"ceil", offsetof(eg_node, ceil), 0, 0},
};

static int *attr_slot(eg_node *nd, int a) { return (int *)((char *)nd + eg_attrs[a].offset); }
static int attr_value(const eg_node *nd, int a) { return *(const int *)((const char *)nd + eg_attrs[a].offset); }

static eg_status parse_line(eg_graph *g, spec_ctx *c, char *line, int *cap)
{
    /* tokens: start column and length */
    const char *tok[32];
    int col[32], len[32], nt = 0;
    for (char *p = line; *p && *p != '#';) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (nt == 32) SPEC_FAIL(c, (int)(p - line) + 1, "too many fields on one line (at most 32)");
        tok[nt] = p;
        col[nt] = (int)(p - line) + 1;
        while (*p && *p != '#' && !isspace((unsigned char)*p)) p++;
        len[nt] = (int)(p - tok[nt]);
        nt++;
    }
    if (nt == 0) return EG_OK;

    int op = -1;
    for (int i = 0; i < EG_OP_COUNT; i++)
        if ((int)strlen(eg_ops[i]->name) == len[0] && !strncmp(eg_ops[i]->name, tok[0], (size_t)len[0]))
            op = i;
    if (op < 0) {
        char known[256] = "";
        for (int i = 0; i < EG_OP_COUNT; i++) {
            strcat(known, i ? ", " : "");
            strcat(known, eg_ops[i]->name);
        }
        SPEC_FAIL(c, col[0], "unknown op '%.*s'; expected one of: %s", len[0], tok[0], known);
    }
    if (nt < 2) SPEC_FAIL(c, col[0] + len[0], "expected a node name after '%s'", eg_ops[op]->name);
    if (len[1] >= EG_NAME_MAX || !(isalpha((unsigned char)tok[1][0]) || tok[1][0] == '_'))
        SPEC_FAIL(c, col[1], "expected a node name (a letter, then letters, digits or '_', under %d characters), found '%.*s'",
                  EG_NAME_MAX, len[1], tok[1]);
    for (int i = 0; i < len[1]; i++)
        if (!isalnum((unsigned char)tok[1][i]) && tok[1][i] != '_')
            SPEC_FAIL(c, col[1] + i, "node name '%.*s': character '%c' is not a letter, digit or '_'",
                      len[1], tok[1], tok[1][i]);
    for (int i = 0; i < g->nnodes; i++)
        if ((int)strlen(g->nodes[i].name) == len[1] && !strncmp(g->nodes[i].name, tok[1], (size_t)len[1]))
            SPEC_FAIL(c, col[1], "node '%.*s' is defined twice (first on line %d)", len[1], tok[1],
                      g->nodes[i].line);

    if (g->nnodes == *cap) {
        int ncap = *cap ? 2 * *cap : 16;
        eg_node *nn = realloc(g->nodes, (size_t)ncap * sizeof *nn);
        if (!nn) return eg_fail(c->err, EG_ERR_NOMEM, "%s: out of memory", c->file);
        g->nodes = nn;
        *cap = ncap;
    }
    eg_node *nd = &g->nodes[g->nnodes];
    memset(nd, 0, sizeof *nd);
    memcpy(nd->name, tok[1], (size_t)len[1]);
    nd->op = (eg_op_type)op;
    nd->line = c->line;
    /* The forward pass feeds the caller's batch to every input node, and
     * only the first one's shape is checked against the data. */
    if (op == EG_OP_INPUT && g->nnodes > 0)
        SPEC_FAIL(c, col[0], "a model has one input node, '%s' (line %d); found a second, '%.*s'",
                  g->nodes[0].name, g->nodes[0].line, len[1], tok[1]);
    /* default input: the previous node */
    if (op != EG_OP_INPUT) {
        if (g->nnodes == 0)
            SPEC_FAIL(c, col[0], "the first node must be 'input', found '%s'", eg_ops[op]->name);
        nd->ninputs = 1;
        nd->inputs[0] = g->nnodes - 1;
    }

    int seen = 0;
    for (int t = 2; t < nt; t++) {
        const char *eq = memchr(tok[t], '=', (size_t)len[t]);
        if (!eq) SPEC_FAIL(c, col[t], "expected key=value, found '%.*s'", len[t], tok[t]);
        int klen = (int)(eq - tok[t]), vlen = len[t] - klen - 1;
        const char *v = eq + 1;
        if (klen == 2 && !strncmp(tok[t], "in", 2)) {
            if (op == EG_OP_INPUT) SPEC_FAIL(c, col[t], "an input node takes no 'in='");
            const char *end = v + vlen;
            int nin = 0;
            for (const char *s = v; s <= end;) {
                const char *e = memchr(s, ',', (size_t)(end - s));
                if (!e) e = end;
                int found = -1;
                for (int i = 0; i < g->nnodes; i++)
                    if ((int)strlen(g->nodes[i].name) == e - s && !strncmp(g->nodes[i].name, s, (size_t)(e - s)))
                        found = i;
                if (found < 0)
                    SPEC_FAIL(c, col[t] + (int)(s - tok[t]), "in: no node named '%.*s' before this line",
                              (int)(e - s), s);
                int most = eg_ops[op]->ninputs ? eg_ops[op]->ninputs : 1;
                if (nin == most)
                    SPEC_FAIL(c, col[t], "op %s takes %d input%s, found more in '%.*s'", eg_ops[op]->name, most,
                              most == 1 ? "" : "s", len[t], tok[t]);
                nd->inputs[nin++] = found;
                s = e + 1;
            }
            nd->ninputs = nin;
            continue;
        }
        int a = -1;
        for (int i = 0; i < EG_ATTR_COUNT; i++)
            if ((int)strlen(eg_attrs[i].name) == klen && !strncmp(eg_attrs[i].name, tok[t], (size_t)klen)) a = i;
        if (a < 0 || !(eg_ops[op]->attrs & (1 << a))) {
            char allowed[128] = "in";
            for (int i = 0; i < EG_ATTR_COUNT; i++)
                if (eg_ops[op]->attrs & (1 << i)) strcat(strcat(allowed, ", "), eg_attrs[i].name);
            if (op == EG_OP_INPUT) strcpy(allowed, "shape");
            SPEC_FAIL(c, col[t], "op %s has no attribute '%.*s'; expected one of: %s", eg_ops[op]->name,
                      klen, tok[t], allowed);
        }
        if (seen & (1 << a)) SPEC_FAIL(c, col[t], "attribute '%s' given twice", eg_attrs[a].name);
        seen |= 1 << a;
        if (1 << a == EG_ATTR_SHAPE) {
            eg_status st = parse_shape(c, col[t] + klen + 1, v, (size_t)vlen, &nd->in_shape);
            if (st) return st;
            continue;
        }
        int val;
        if (parse_int(v, (size_t)vlen, &val))
            SPEC_FAIL(c, col[t] + klen + 1, "%s: expected a non-negative integer up to %d, found '%.*s'",
                      eg_attrs[a].name, SPEC_INT_MAX, vlen, v);
        if (val < eg_attrs[a].min)  /* min is 0 or 1 */
            SPEC_FAIL(c, col[t] + klen + 1, "%s: expected a positive integer, found '%d'", eg_attrs[a].name, val);
        *attr_slot(nd, a) = val;
    }
    if (eg_ops[op]->ninputs > 1 && nd->ninputs != eg_ops[op]->ninputs)
        SPEC_FAIL(c, col[0], "op %s takes %d inputs, found %d; expected in=<node>,<node>", eg_ops[op]->name,
                  eg_ops[op]->ninputs, nd->ninputs);
    int missing = eg_ops[op]->required & ~seen;
    for (int i = 0; i < EG_ATTR_COUNT; i++)
        if (missing & (1 << i))
            SPEC_FAIL(c, col[0], "op %s needs '%s='", eg_ops[op]->name, eg_attrs[i].name);
    g->nnodes++;
    return EG_OK;
}

/* Infers shapes node by node and stops at the first output over 2^28 values,
 * where it arises: further on, a flatten's int feature count would wrap
 * round. Other shape errors are left to eg_graph_infer_shapes to report. */
static eg_status check_sizes(eg_graph *g, const char *filename, eg_error *err)
{
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *nd = &g->nodes[i];
        if (nd->ninputs) nd->in_shape = g->nodes[nd->inputs[0]].out_shape;
        char why[512];
        if (eg_ops[nd->op]->shape(nd, why, sizeof why)) return EG_OK;
        eg_shape o = nd->out_shape;
        if (eg_shape_size(o) > SPEC_SIZE_MAX)
            return eg_fail(err, EG_ERR_SPEC, "%s:%d: %s %s: output of %dx%dx%d is over 2^28 values per sample",
                           filename, nd->line, eg_ops[nd->op]->name, nd->name, o.c, o.h, o.w);
    }
    return EG_OK;
}

eg_status eg_graph_parse_spec(eg_graph *g, const char *text, const char *filename, eg_error *err)
{
    memset(g, 0, sizeof *g);
    const char *base = strrchr(filename, '/');
    snprintf(g->name, sizeof g->name, "%s", base ? base + 1 : filename);
    spec_ctx c = {filename, 0, err};
    int cap = 0;
    eg_status st = EG_OK;
    for (const char *p = text; *p && !st;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        c.line++;
        if (n >= sizeof line) {
            st = eg_fail(err, EG_ERR_SPEC, "%s:%d: line is %zu characters, at most %zu", filename, c.line,
                         n, sizeof line - 1);
            break;
        }
        memcpy(line, p, n);
        line[n] = 0;
        st = parse_line(g, &c, line, &cap);
        p += n + (nl ? 1 : 0);
    }
    if (!st && g->nnodes < 2)
        st = eg_fail(err, EG_ERR_SPEC, "%s: expected an input node and at least one op, found %d node(s)",
                     filename, g->nnodes);
    if (!st) st = check_sizes(g, filename, err);
    /* every node but the last must feed another: an unused branch would get
     * no gradient, and nothing reads what it computes */
    for (int i = 0; !st && i < g->nnodes - 1; i++) {
        int used = 0;
        for (int j = i + 1; j < g->nnodes && !used; j++)
            for (int s = 0; s < g->nodes[j].ninputs; s++) used |= g->nodes[j].inputs[s] == i;
        if (!used)
            st = eg_fail(err, EG_ERR_SPEC, "%s:%d: node '%s' is not used by any later node; only the last node (%s) may be the output",
                         filename, g->nodes[i].line, g->nodes[i].name, g->nodes[g->nnodes - 1].name);
    }
    if (!st) st = eg_graph_infer_shapes(g, filename, err);
    if (!st) {
        eg_shape o = g->nodes[g->nnodes - 1].out_shape;
        if (o.h != 1 || o.w != 1)
            st = eg_fail(err, EG_ERR_SPEC, "%s:%d: the last node '%s' must give flat class scores (C x 1 x 1), found %dx%dx%d",
                         filename, g->nodes[g->nnodes - 1].line, g->nodes[g->nnodes - 1].name, o.c, o.h, o.w);
    }
    if (!st) st = eg_graph_alloc_params(g, err);
    if (st) eg_graph_free(g);
    return st;
}

eg_status eg_graph_load_spec(eg_graph *g, const char *path, eg_error *err)
{
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "rb");
    if (!f) return eg_fail(err, EG_ERR_IO, "%s: cannot open model spec: %s", path, strerror(errno));
    char *text = malloc(1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    int big = text && n == (1 << 20) - 1 && fgetc(f) != EOF, bad = ferror(f);
    fclose(f);
    if (!text) return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory", path);
    if (big || bad) {
        free(text);
        return eg_fail(err, bad ? EG_ERR_IO : EG_ERR_SPEC, "%s: %s", path,
                       bad ? "read error" : "a model spec is at most 1 MiB");
    }
    text[n] = 0;
    if (memchr(text, 0, n)) {
        size_t at = (size_t)((char *)memchr(text, 0, n) - text);
        free(text);
        return eg_fail(err, EG_ERR_SPEC, "%s: byte %zu: a NUL byte; expected a text model spec", path, at);
    }
    eg_status st = eg_graph_parse_spec(g, text, path, err);
    free(text);
    return st;
}

/* The printer: one line per node, `<op> <name> [in=...] <attributes>`, with
 * in= only where the input is not the previous node and every attribute the
 * op declares, so the parse re-creates the node whatever the defaults. */
size_t eg_graph_write_spec(const eg_graph *g, char *buf, size_t len)
{
    size_t n = 0;
#define OUT(...)                                                                         \
    do {                                                                                 \
        int k_ = snprintf(n < len ? buf + n : NULL, n < len ? len - n : 0, __VA_ARGS__); \
        if (k_ > 0) n += (size_t)k_;                                                     \
    } while (0)
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        const eg_op_def *op = eg_ops[nd->op];
        OUT("%-9s %s", op->name, nd->name);
        /* the attributes it declares, but those at the value a spec may leave them out at */
        int written = 0;
        for (int a = 0; a < EG_ATTR_COUNT; a++)
            if ((op->attrs & (1 << a)) && (1 << a == EG_ATTR_SHAPE || attr_value(nd, a) != eg_attrs[a].omit_at))
                written |= 1 << a;
        int more = (nd->ninputs && (nd->ninputs > 1 || nd->inputs[0] != i - 1)) || written;
        if (more && strlen(nd->name) < 6) OUT("%*s", (int)(6 - strlen(nd->name)), "");  /* names in a column */
        if (nd->ninputs && (nd->ninputs > 1 || nd->inputs[0] != i - 1)) {
            OUT(" in=");
            for (int s = 0; s < nd->ninputs; s++) OUT("%s%s", s ? "," : "", g->nodes[nd->inputs[s]].name);
        }
        for (int a = 0; a < EG_ATTR_COUNT; a++)
            if (written & (1 << a) && 1 << a != EG_ATTR_SHAPE) OUT(" %s=%d", eg_attrs[a].name, attr_value(nd, a));
        if (written & EG_ATTR_SHAPE) OUT(" shape=%dx%dx%d", nd->in_shape.c, nd->in_shape.h, nd->in_shape.w);
        OUT("\n");
    }
#undef OUT
    if (len && n >= len) buf[len - 1] = 0;
    return n;
}
