/* ONNX import: a model as PyTorch's torch.onnx.export writes it, read into
 * an edagari graph.
 *
 * Nothing from the file is trusted. First a walk over the protobuf wire
 * format checks every tag, length and nesting depth against the message
 * descriptors protoc-c generated (so a damaged file is reported at its byte
 * offset, and a file of deeply nested messages cannot exhaust the stack of
 * protobuf-c's recursive decoder); then protobuf-c decodes it; then every
 * node, attribute and initializer is checked against what edagari can run,
 * and the model is rebuilt as a spec text (so the spec parser checks the
 * shapes as it checks any spec) whose parameters are copied from the
 * initializers after their dimensions are compared with the parsed ones.
 *
 * ONNX -> edagari: Conv -> conv2d; Gemm, and MatMul followed by an Add of
 * a constant -> linear; Relu -> relu; MaxPool -> maxpool2d; Flatten, and a
 * Reshape to [batch, features] -> flatten; BatchNormalization (inference
 * form: its running statistics) -> batchnorm2d; Add of two computed
 * tensors -> add; GlobalAveragePool -> gap; Identity -> nothing. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifndef EG_HAVE_ONNX

eg_status eg_onnx_import_buffer(eg_graph *g, const void *data, size_t len, const char *label, eg_error *err)
{
    (void)data, (void)len;
    memset(g, 0, sizeof *g);
    return eg_fail(err, EG_ERR_ARG,
                   "%s: this edagari was built without ONNX support; install protobuf-c-compiler, "
                   "libprotobuf-c-dev and libonnx-dev (./edagari.sh build does) and rebuild",
                   label);
}

eg_status eg_onnx_import(eg_graph *g, const char *path, eg_error *err)
{
    return eg_onnx_import_buffer(g, NULL, 0, path, err);
}

#else

#include <math.h>
#include <stdio.h>

#include "onnx.pb-c.h"

#define ONNX_FLOAT 1
#define ONNX_INT64 7
#define MAX_DEPTH 32             /* nested messages: a model needs about 8 */
#define MAX_NODES 4096           /* ONNX nodes, initializers and values: far more than any model here */
#define MAX_ATTR_INT (1 << 20)   /* as model specs allow */
#define MAX_TENSOR ((size_t)1 << 28)
#define MAX_FILE ((size_t)1 << 30)

/* ------------------------------------------------------- the wire format */

static int read_varint(const uint8_t *b, size_t len, size_t *at, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        if (*at >= len) return -1;
        uint8_t c = b[(*at)++];
        x |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -2;
}

static int wire_type_of(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_DOUBLE: return 1;
    case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_FLOAT: return 5;
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_BYTES: case PROTOBUF_C_TYPE_MESSAGE: return 2;
    default: return 0;
    }
}

/* Checks the message of type d in b[lo, hi): every tag, every length inside
 * its message, wire types that match the fields', at most MAX_DEPTH levels. */
static eg_status wire_check(const uint8_t *b, size_t lo, size_t hi, const ProtobufCMessageDescriptor *d, int depth,
                            const char *label, eg_error *err)
{
    if (depth > MAX_DEPTH)
        return eg_fail(err, EG_ERR_FORMAT, "%s: byte %zu: messages nested %d deep (a %s); an ONNX model needs about 8",
                       label, lo, depth, d->name);
    size_t at = lo;
    while (at < hi) {
        size_t start = at;
        uint64_t tag, v;
        int r = read_varint(b, hi, &at, &tag);
        if (r)
            return eg_fail(err, EG_ERR_FORMAT, "%s: byte %zu: a field tag of %s %s", label, start, d->name,
                           r == -1 ? "runs past the end of its message" : "is over 10 bytes");
        uint32_t num = (uint32_t)(tag >> 3);
        int wt = (int)(tag & 7);
        if (tag >> 3 == 0 || tag >> 32)
            return eg_fail(err, EG_ERR_FORMAT, "%s: byte %zu: field number %llu in %s; expected 1 to 2^29", label,
                           start, (unsigned long long)(tag >> 3), d->name);
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, (unsigned)num);
        if (f) {
            int want = wire_type_of(f->type);
            int packed = f->label == PROTOBUF_C_LABEL_REPEATED && want != 2 && wt == 2;
            if (wt != want && !packed)
                return eg_fail(err, EG_ERR_FORMAT, "%s: byte %zu: field %s of %s: expected wire type %d, found %d",
                               label, start, f->name, d->name, want, wt);
        }
        char fname[80];  /* "graph (7)", or "7" for a field ONNX does not define */
        if (f) snprintf(fname, sizeof fname, "%s (%u)", f->name, num);
        else snprintf(fname, sizeof fname, "%u", num);
        switch (wt) {
        case 0:
            if ((r = read_varint(b, hi, &at, &v)))
                return eg_fail(err, EG_ERR_FORMAT, "%s: byte %zu: the value of field %s of %s %s", label, start, fname,
                               d->name, r == -1 ? "runs past the end of its message" : "is over 10 bytes");
            break;
        case 1:
        case 5: {
            size_t w = wt == 1 ? 8 : 4;
            if (hi - at < w)
                return eg_fail(err, EG_ERR_FORMAT, "%s: byte %zu: field %s of %s needs %zu bytes, %zu are left in its message",
                               label, start, fname, d->name, w, hi - at);
            at += w;
            break;
        }
        case 2: {
            if ((r = read_varint(b, hi, &at, &v)))
                return eg_fail(err, EG_ERR_FORMAT, "%s: byte %zu: the length of field %s of %s %s", label, start, fname,
                               d->name, r == -1 ? "runs past the end of its message" : "is over 10 bytes");
            if (v > hi - at)
                return eg_fail(err, EG_ERR_FORMAT, "%s: byte %zu: field %s of %s is %llu bytes long; its message ends %zu bytes later",
                               label, start, fname, d->name, (unsigned long long)v, hi - at);
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                eg_status st = wire_check(b, at, at + (size_t)v, f->descriptor, depth + 1, label, err);
                if (st) return st;
            }
            if (f && f->label == PROTOBUF_C_LABEL_REPEATED && wire_type_of(f->type) != 2 && wire_type_of(f->type) != 0 &&
                v % (wire_type_of(f->type) == 1 ? 8 : 4))
                return eg_fail(err, EG_ERR_FORMAT, "%s: byte %zu: packed field %s of %s: %llu bytes is not a whole number of values",
                               label, start, f->name, d->name, (unsigned long long)v);
            at += (size_t)v;
            break;
        }
        default:
            return eg_fail(err, EG_ERR_FORMAT, "%s: byte %zu: field %s of %s has wire type %d, which ONNX never uses",
                           label, start, fname, d->name, wt);
        }
    }
    return EG_OK;
}

/* ------------------------------------------------------- the importer */

enum { V_ACT, V_CONST };

/* A named value of the ONNX graph: a tensor edagari computes (node) or a constant. */
typedef struct {
    const char *name;
    int kind;
    int node;                       /* V_ACT: the edagari node that computes it */
    int rank;                       /* V_ACT: 4 ([N, C, H, W]) or 2 ([N, F]) */
    const Onnx__TensorProto *t;     /* V_CONST */
    int pad;                        /* V_ACT: zeros a Pad put on every side of H and W, which only the
                                     * AveragePool after it may read (as its padding) */
} value;

/* An edagari node being built. */
typedef struct {
    char name[EG_NAME_MAX];
    eg_op_type op;
    int in, in2;                    /* edagari node index of its input (add: and of its second, else -1) */
    int out, kernel, stride, pad, ceil;
    eg_shape shape;                 /* input */
    int onnx;                       /* the ONNX node it comes from (-1: the graph input) */
    float *w, *b;                   /* weight [out, in] or [out, in, k, k] (owned); bias [out] (owned);
                                     * batchnorm2d: scale and shift [C] */
    float *mean, *var;              /* batchnorm2d: running statistics [C] (owned) */
    size_t channels;                /* batchnorm2d: C */
    int64_t wdims[4];
    int wndims;
    int bias_open;                  /* MatMul: an Add of a constant may still give the bias */
    long flat_features;             /* Reshape: the feature count it named, or -1 */
} pnode;

typedef struct {
    const char *label;
    eg_error *err;
    Onnx__GraphProto *gp;
    value *vals;
    int nvals;
    pnode *nodes;
    int nnodes;
} importer;

static const char *str(const char *s) { return s ? s : ""; }

/* "node 'NAME' (#i, OP)" for messages */
static void node_label(const importer *im, int i, char *buf, size_t len)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    char name[96];
    snprintf(name, sizeof name, "%s", str(n->name));
    for (char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
    char op[40];
    snprintf(op, sizeof op, "%s", str(n->op_type));
    for (char *c = op; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
    snprintf(buf, len, "node '%s' (#%d, %s)", name, i, op);
}

#define NODE_FAIL(im, i, code, ...)                                                  \
    do {                                                                             \
        char nl_[160], m_[700];                                                      \
        node_label((im), (i), nl_, sizeof nl_);                                      \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                        \
        return eg_fail((im)->err, (code), "%s: %s: %s", (im)->label, nl_, m_);        \
    } while (0)

/* A printable copy of a name from the file, for messages. */
static const char *safe(const char *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s", str(s));
    for (char *c = buf; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
    return buf;
}

static value *find_value(importer *im, const char *name)
{
    for (int i = im->nvals - 1; i >= 0; i--)
        if (!strcmp(im->vals[i].name, name)) return &im->vals[i];
    return NULL;
}

/* The dims of a tensor and their product (at most MAX_TENSOR), or -1 with a reason in why. */
static int tensor_count(const Onnx__TensorProto *t, size_t *count, char *why, size_t wlen)
{
    size_t c = 1;
    if (t->n_dims > 8) return snprintf(why, wlen, "has %zu dimensions, at most 8 expected", t->n_dims), -1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || (uint64_t)t->dims[i] > MAX_TENSOR)
            return snprintf(why, wlen, "dimension %zu is %lld; expected 0 to 2^28", i, (long long)t->dims[i]), -1;
        c *= (size_t)t->dims[i];
        if (c > MAX_TENSOR) return snprintf(why, wlen, "has over 2^28 values"), -1;
    }
    *count = c;
    return 0;
}

/* A float32 tensor's values, from raw_data or float_data (malloc'ed copy, may be NULL for 0 values). */
static int tensor_floats(const Onnx__TensorProto *t, float **out, size_t *count, char *why, size_t wlen)
{
    *out = NULL;
    if (!t->has_data_type || t->data_type != ONNX_FLOAT)
        return snprintf(why, wlen, "has data type %d; expected float32 (1)", t->has_data_type ? t->data_type : 0), -1;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return snprintf(why, wlen, "keeps its data in an external file, which edagari does not read"), -1;
    if (tensor_count(t, count, why, wlen)) return -1;
    size_t n = *count;
    if (t->has_raw_data) {
        if (t->raw_data.len != n * sizeof(float))
            return snprintf(why, wlen, "has %zu bytes of raw_data; its dims need %zu", t->raw_data.len, n * sizeof(float)), -1;
        if (t->n_float_data) return snprintf(why, wlen, "has both raw_data and float_data"), -1;
    } else if (t->n_float_data != n) {
        return snprintf(why, wlen, "has %zu float_data values; its dims need %zu", t->n_float_data, n), -1;
    }
    if (!n) return 0;
    float *v = malloc(n * sizeof *v);
    if (!v) return snprintf(why, wlen, "out of memory for %zu values", n), -1;
    if (t->has_raw_data)
        memcpy(v, t->raw_data.data, n * sizeof *v);  /* little-endian float32, as this machine holds floats */
    else
        memcpy(v, t->float_data, n * sizeof *v);
    for (size_t k = 0; k < n; k++)
        if (v[k] != v[k] || v[k] - v[k] != 0) {
            free(v);
            return snprintf(why, wlen, "value %zu is not finite", k), -1;
        }
    *out = v;
    return 0;
}

/* An int64 tensor's values (Reshape's shape), at most max of them. */
static int tensor_ints(const Onnx__TensorProto *t, int64_t *out, size_t max, size_t *count, char *why, size_t wlen)
{
    if (!t->has_data_type || t->data_type != ONNX_INT64)
        return snprintf(why, wlen, "has data type %d; expected int64 (7)", t->has_data_type ? t->data_type : 0), -1;
    if (tensor_count(t, count, why, wlen)) return -1;
    if (*count > max) return snprintf(why, wlen, "has %zu values; expected at most %zu", *count, max), -1;
    if (t->has_raw_data) {
        if (t->raw_data.len != *count * 8)
            return snprintf(why, wlen, "has %zu bytes of raw_data; its dims need %zu", t->raw_data.len, *count * 8), -1;
        if (*count) memcpy(out, t->raw_data.data, *count * 8);
    } else {
        if (t->n_int64_data != *count)
            return snprintf(why, wlen, "has %zu int64_data values; its dims need %zu", t->n_int64_data, *count), -1;
        if (*count) memcpy(out, t->int64_data, *count * 8);
    }
    return 0;
}

/* Attributes of one node, looked up by name; each name may appear once. */
typedef struct {
    const char *name;
    const Onnx__AttributeProto *a;
} attr;

static eg_status get_attrs(importer *im, int i, attr *want, int nwant)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    for (size_t k = 0; k < n->n_attribute; k++) {
        const Onnx__AttributeProto *a = n->attribute[k];
        char b[64];
        int found = 0;
        for (int w = 0; w < nwant; w++)
            if (!strcmp(str(a->name), want[w].name)) {
                if (want[w].a) NODE_FAIL(im, i, EG_ERR_FORMAT, "attribute %s given twice", want[w].name);
                want[w].a = a;
                found = 1;
            }
        if (!found) {
            char known[256] = "";
            for (int w = 0; w < nwant; w++) {
                strcat(known, w ? ", " : "");
                strncat(known, want[w].name, sizeof known - strlen(known) - 3);
            }
            NODE_FAIL(im, i, EG_ERR_ARG, "attribute '%s' is not supported (edagari reads: %s)", safe(a->name, b, sizeof b),
                      nwant ? known : "none");
        }
    }
    return EG_OK;
}

/* An INTS attribute with exactly n values each in [lo, hi], or def when absent (def may be NULL: required). */
static eg_status attr_ints(importer *im, int i, const attr *a, int n, long lo, long hi, const long *def, long *out)
{
    if (!a->a) {
        if (!def) NODE_FAIL(im, i, EG_ERR_FORMAT, "attribute %s is missing", a->name);
        for (int k = 0; k < n; k++) out[k] = def[k];
        return EG_OK;
    }
    if (a->a->n_ints != (size_t)n)
        NODE_FAIL(im, i, EG_ERR_ARG, "attribute %s has %zu values; expected %d (2-D only)", a->name, a->a->n_ints, n);
    for (int k = 0; k < n; k++) {
        int64_t v = a->a->ints[k];
        if (v < lo || v > hi)
            NODE_FAIL(im, i, EG_ERR_ARG, "attribute %s[%d] is %lld; expected %ld to %ld", a->name, k, (long long)v, lo, hi);
        out[k] = (long)v;
    }
    return EG_OK;
}

static eg_status attr_int(importer *im, int i, const attr *a, long lo, long hi, long def, long *out)
{
    *out = def;
    if (!a->a) return EG_OK;
    if (!a->a->has_i && a->a->n_ints)
        NODE_FAIL(im, i, EG_ERR_FORMAT, "attribute %s: expected one integer, found a list", a->name);
    if (a->a->i < lo || a->a->i > hi)
        NODE_FAIL(im, i, EG_ERR_ARG, "attribute %s is %lld; edagari supports %ld to %ld", a->name, (long long)a->a->i, lo, hi);
    *out = (long)a->a->i;
    return EG_OK;
}

static eg_status attr_float(importer *im, int i, const attr *a, float def, float *out)
{
    *out = def;
    if (!a->a) return EG_OK;
    if (!a->a->has_f || a->a->f != a->a->f || a->a->f - a->a->f != 0)
        NODE_FAIL(im, i, EG_ERR_FORMAT, "attribute %s: expected a finite float", a->name);
    *out = a->a->f;
    return EG_OK;
}

/* auto_pad must be absent or NOTSET: edagari's padding is explicit. */
static eg_status no_auto_pad(importer *im, int i, const attr *a)
{
    if (!a->a) return EG_OK;
    if (!a->a->has_s || a->a->s.len != 6 || memcmp(a->a->s.data, "NOTSET", 6))
        NODE_FAIL(im, i, EG_ERR_ARG, "attribute auto_pad other than NOTSET is not supported; export with explicit pads");
    return EG_OK;
}

/* The computed tensor input k of node i, of rank want (0: any); with pad,
 * also the output of a Pad (its zeros on each side in *pad). */
static eg_status padded_input(importer *im, int i, size_t k, int want, value **out, int *pad)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    char b[96];
    value *v = find_value(im, n->input[k]);
    if (!v) NODE_FAIL(im, i, EG_ERR_FORMAT, "input %zu '%s' is not the graph input, an initializer or an earlier node's output",
                      k, safe(n->input[k], b, sizeof b));
    if (v->kind != V_ACT)
        NODE_FAIL(im, i, EG_ERR_ARG, "input %zu '%s' is a constant; edagari expects a computed tensor there", k,
                  safe(n->input[k], b, sizeof b));
    if (want && v->rank != want)
        NODE_FAIL(im, i, EG_ERR_ARG, "input %zu '%s' has rank %d; expected rank %d (%s)", k, safe(n->input[k], b, sizeof b),
                  v->rank, want, want == 4 ? "N x C x H x W" : "N x features");
    if (v->pad && !pad)
        NODE_FAIL(im, i, EG_ERR_ARG, "input %zu '%s' is a Pad's output; edagari reads a Pad only as the padding of the "
                  "AveragePool after it", k, safe(n->input[k], b, sizeof b));
    if (pad) *pad = v->pad;
    *out = v;
    return EG_OK;
}

static eg_status act_input(importer *im, int i, size_t k, int want, value **out)
{
    return padded_input(im, i, k, want, out, NULL);
}

/* The constant input k of node i (an initializer or a Constant node's value). */
static eg_status const_input(importer *im, int i, size_t k, const Onnx__TensorProto **out)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    char b[96];
    value *v = find_value(im, n->input[k]);
    if (!v) NODE_FAIL(im, i, EG_ERR_FORMAT, "input %zu '%s' is not the graph input, an initializer or an earlier node's output",
                      k, safe(n->input[k], b, sizeof b));
    if (v->kind != V_CONST)
        NODE_FAIL(im, i, EG_ERR_ARG, "input %zu '%s' is computed; edagari needs a constant (an initializer) there", k,
                  safe(n->input[k], b, sizeof b));
    *out = v->t;
    return EG_OK;
}

static eg_status add_value(importer *im, const char *name, int kind, int node, int rank, const Onnx__TensorProto *t)
{
    if (im->nvals == 3 * MAX_NODES + 2)
        return eg_fail(im->err, EG_ERR_ARG, "%s: more than %d values", im->label, 3 * MAX_NODES + 2);
    im->vals[im->nvals++] = (value){name, kind, node, rank, t, 0};
    return EG_OK;
}

/* A new edagari node fed by node `in`, named after base (made a valid, unique node name). */
static pnode *add_pnode(importer *im, eg_op_type op, int in, int onnx, const char *base)
{
    pnode *p = &im->nodes[im->nnodes];
    memset(p, 0, sizeof *p);
    p->op = op, p->in = in, p->in2 = -1, p->onnx = onnx, p->flat_features = -1;
    char name[EG_NAME_MAX];
    size_t n = 0;
    for (const char *c = str(base); *c && n < EG_NAME_MAX - 6; c++) {
        char ch = *c;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
        if (!ok) ch = '_';
        if (ch == '_' && (n == 0 || name[n - 1] == '_')) continue;  /* no leading or doubled '_' */
        name[n++] = ch;
    }
    while (n && name[n - 1] == '_') n--;
    name[n] = 0;
    if (!n || (name[0] >= '0' && name[0] <= '9')) {
        char t[64];
        snprintf(t, sizeof t, "%s%s%s", eg_ops[op]->name, n ? "_" : "", name);
        snprintf(name, sizeof name, "%.*s", EG_NAME_MAX - 6, t);
    }
    snprintf(p->name, sizeof p->name, "%s", name);
    for (int k = 2;; k++) {
        int clash = 0;
        for (int j = 0; j < im->nnodes && !clash; j++) clash = !strcmp(im->nodes[j].name, p->name);
        if (!clash) break;
        char cand[64];
        snprintf(cand, sizeof cand, "%s_%d", name, k);
        snprintf(p->name, sizeof p->name, "%.31s", cand);
    }
    im->nnodes++;
    return p;
}

/* The name an edagari node gets: its weight's without ".weight" (PyTorch's
 * module name), else the ONNX node's, else its output's. */
static const char *base_name(const Onnx__NodeProto *n, const char *weight, char *buf, size_t len)
{
    if (weight && *weight) {
        snprintf(buf, len, "%s", weight);
        size_t l = strlen(buf);
        if (l > 7 && !strcmp(buf + l - 7, ".weight")) buf[l - 7] = 0;
        return buf;
    }
    snprintf(buf, len, "%s", n->name && *n->name ? n->name : str(n->output[0]));
    for (char *c = buf; *c; c++)  /* "/Relu_1" reads as edagari's "relu_1" */
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
    return buf;
}

/* Gives an output value to node i: edagari node `node`, rank. */
static eg_status set_output(importer *im, int i, int node, int rank)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    char b[96];
    if (find_value(im, n->output[0]))
        NODE_FAIL(im, i, EG_ERR_FORMAT, "output '%s' is already defined by an earlier node or an initializer",
                  safe(n->output[0], b, sizeof b));
    return add_value(im, n->output[0], V_ACT, node, rank, NULL);
}

static eg_status import_conv(importer *im, int i)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    if (n->n_input < 2 || n->n_input > 3) NODE_FAIL(im, i, EG_ERR_FORMAT, "expected 2 or 3 inputs (X, W, B), found %zu", n->n_input);
    value *x;
    const Onnx__TensorProto *w, *b = NULL;
    eg_status st = act_input(im, i, 0, 4, &x);
    if (!st) st = const_input(im, i, 1, &w);
    if (!st && n->n_input == 3 && *str(n->input[2])) st = const_input(im, i, 2, &b);
    if (st) return st;
    attr a[] = {{"kernel_shape", 0}, {"strides", 0}, {"pads", 0}, {"dilations", 0}, {"group", 0}, {"auto_pad", 0}};
    if ((st = get_attrs(im, i, a, 6)) || (st = no_auto_pad(im, i, &a[5]))) return st;
    char why[200] = "";
    float *wv = NULL, *bv = NULL;
    size_t wn, bn = 0;
    if (tensor_floats(w, &wv, &wn, why, sizeof why)) NODE_FAIL(im, i, EG_ERR_FORMAT, "weight: %s", why);
    if (w->n_dims != 4 || w->dims[2] != w->dims[3] || w->dims[0] < 1 || w->dims[1] < 1 || w->dims[2] < 1 ||
        w->dims[0] > MAX_ATTR_INT || w->dims[2] > MAX_ATTR_INT) {
        free(wv);
        NODE_FAIL(im, i, EG_ERR_ARG, "weight: expected [out, in, k, k] with a square kernel, found %zu dims", w->n_dims);
    }
    long out = (long)w->dims[0], k = (long)w->dims[2];
    long ks[2] = {0}, s[2] = {0}, p[4] = {0}, d[2] = {0}, group = 0;
    const long one[2] = {1, 1}, zero[4] = {0, 0, 0, 0}, kk[2] = {k, k};
    if ((st = attr_ints(im, i, &a[0], 2, k, k, kk, ks)) || (st = attr_ints(im, i, &a[1], 2, 1, MAX_ATTR_INT, one, s)) ||
        (st = attr_ints(im, i, &a[2], 4, 0, MAX_ATTR_INT, zero, p)) || (st = attr_ints(im, i, &a[3], 2, 1, 1, one, d)) ||
        (st = attr_int(im, i, &a[4], 1, MAX_ATTR_INT, 1, &group))) {
        free(wv);
        return st;
    }
    if (s[0] != s[1] || p[0] != p[1] || p[0] != p[2] || p[0] != p[3]) {
        free(wv);
        NODE_FAIL(im, i, EG_ERR_ARG, "strides %ldx%ld, pads %ld,%ld,%ld,%ld: edagari's conv2d has one stride and one pad for every side",
                  s[0], s[1], p[0], p[1], p[2], p[3]);
    }
    /* group 1: a conv2d; one group per output, one input each: a dwconv2d (fill_params
     * checks that the groups are the input's channels) */
    int depthwise = group > 1 && group == out && w->dims[1] == 1;
    if (group > 1 && !depthwise) {
        free(wv);
        NODE_FAIL(im, i, EG_ERR_ARG, "group %ld with a %lldx%lldx%ldx%ld weight: edagari reads plain convs (group 1) and "
                  "depthwise ones (one group per channel, weight [C, 1, k, k]), not other grouped convs", group,
                  (long long)w->dims[0], (long long)w->dims[1], k, k);
    }
    if (b) {
        if (tensor_floats(b, &bv, &bn, why, sizeof why) || bn != (size_t)out) {
            free(wv), free(bv);
            if (bn != (size_t)out && !*why) snprintf(why, sizeof why, "has %zu values; the weight has %ld outputs", bn, out);
            NODE_FAIL(im, i, EG_ERR_FORMAT, "bias: %s", why);
        }
    }
    char nb[EG_NAME_MAX + 8];
    pnode *pn = add_pnode(im, depthwise ? EG_OP_DWCONV2D : EG_OP_CONV2D, x->node, i, base_name(n, n->input[1], nb, sizeof nb));
    pn->out = (int)out, pn->kernel = (int)k, pn->stride = (int)s[0], pn->pad = (int)p[0];
    pn->w = wv, pn->b = bv;
    pn->wndims = 4;
    for (int q = 0; q < 4; q++) pn->wdims[q] = w->dims[q];
    return set_output(im, i, im->nnodes - 1, 4);
}

/* Gemm (A x B' + C) and MatMul (A x B): a linear node; B a constant [in, out] or, transposed, [out, in]. */
static eg_status import_linear(importer *im, int i, int gemm)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    if (gemm ? n->n_input < 2 || n->n_input > 3 : n->n_input != 2)
        NODE_FAIL(im, i, EG_ERR_FORMAT, "expected %s inputs, found %zu", gemm ? "2 or 3 (A, B, C)" : "2 (A, B)", n->n_input);
    value *x;
    const Onnx__TensorProto *w, *c = NULL;
    eg_status st = act_input(im, i, 0, 2, &x);
    if (!st) st = const_input(im, i, 1, &w);
    if (!st && gemm && n->n_input == 3 && *str(n->input[2])) st = const_input(im, i, 2, &c);
    if (st) return st;
    long trans_a = 0, trans_b = 0;
    float alpha = 1, beta = 1;
    if (gemm) {
        attr a[] = {{"alpha", 0}, {"beta", 0}, {"transA", 0}, {"transB", 0}};
        if ((st = get_attrs(im, i, a, 4)) || (st = attr_float(im, i, &a[0], 1, &alpha)) ||
            (st = attr_float(im, i, &a[1], 1, &beta)) || (st = attr_int(im, i, &a[2], 0, 0, 0, &trans_a)) ||
            (st = attr_int(im, i, &a[3], 0, 1, 0, &trans_b)))
            return st;
    } else if ((st = get_attrs(im, i, NULL, 0))) {
        return st;
    }
    char why[200];
    float *bv = NULL, *cv = NULL;
    size_t bn, cn = 0;
    if (tensor_floats(w, &bv, &bn, why, sizeof why)) NODE_FAIL(im, i, EG_ERR_FORMAT, "weight: %s", why);
    if (w->n_dims != 2 || w->dims[0] < 1 || w->dims[1] < 1 || w->dims[0] > MAX_ATTR_INT || w->dims[1] > MAX_ATTR_INT) {
        free(bv);
        NODE_FAIL(im, i, EG_ERR_ARG, "weight: expected a matrix with both sizes from 1 to 2^20, found %zu dims", w->n_dims);
    }
    long out = trans_b ? (long)w->dims[0] : (long)w->dims[1], in = trans_b ? (long)w->dims[1] : (long)w->dims[0];
    float *wv = malloc(bn * sizeof *wv), *bias = calloc((size_t)out, sizeof *bias);
    if (!wv || !bias) {
        free(bv), free(wv), free(bias);
        return eg_fail(im->err, EG_ERR_NOMEM, "%s: out of memory", im->label);
    }
    for (long o = 0; o < out; o++)  /* edagari's layout: [out, in], times alpha */
        for (long f = 0; f < in; f++) wv[o * in + f] = alpha * (trans_b ? bv[o * in + f] : bv[f * out + o]);
    free(bv);
    if (c) {
        int bad = tensor_floats(c, &cv, &cn, why, sizeof why);
        if (!bad && cn != 1 && cn != (size_t)out) bad = 1, snprintf(why, sizeof why, "has %zu values; expected 1 or %ld", cn, out);
        if (!bad && c->n_dims == 2 && c->dims[0] != 1) bad = 1, snprintf(why, sizeof why, "is %lldx%lld; expected a row", (long long)c->dims[0], (long long)c->dims[1]);
        if (bad) {
            free(wv), free(bias), free(cv);
            NODE_FAIL(im, i, EG_ERR_FORMAT, "bias C: %s", why);
        }
        for (long o = 0; o < out; o++) bias[o] = beta * cv[cn == 1 ? 0 : o];
        free(cv);
    }
    char nb[EG_NAME_MAX + 8];
    pnode *pn = add_pnode(im, EG_OP_LINEAR, x->node, i, base_name(n, n->input[1], nb, sizeof nb));
    pn->out = (int)out;
    pn->w = wv, pn->b = bias;
    pn->wndims = 2, pn->wdims[0] = out, pn->wdims[1] = in;
    pn->bias_open = !gemm;
    return set_output(im, i, im->nnodes - 1, 2);
}

/* How many node inputs and graph outputs read the value called name. */
static int count_uses(const importer *im, const char *name)
{
    int n = 0;
    for (size_t i = 0; i < im->gp->n_node; i++)
        for (size_t k = 0; k < im->gp->node[i]->n_input; k++) n += !strcmp(str(im->gp->node[i]->input[k]), name);
    for (size_t k = 0; k < im->gp->n_output; k++) n += !strcmp(str(im->gp->output[k]->name), name);
    return n;
}

/* Add: the bias of the MatMul before it (its only reader), as PyTorch writes x @ W + b. */
static eg_status import_add(importer *im, int i)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    if (n->n_input != 2) NODE_FAIL(im, i, EG_ERR_FORMAT, "expected 2 inputs, found %zu", n->n_input);
    eg_status st = get_attrs(im, i, NULL, 0);
    if (st) return st;
    value *a = find_value(im, n->input[0]), *b = find_value(im, n->input[1]);
    char q[96];
    for (int k = 0; k < 2; k++)
        if (!(k ? b : a))
            NODE_FAIL(im, i, EG_ERR_FORMAT, "input %d '%s' is not the graph input, an initializer or an earlier node's output", k,
                      safe(n->input[k], q, sizeof q));
    if (a->pad || b->pad) return act_input(im, i, a->pad ? 0 : 1, 0, &a);  /* refused, with the reason */
    if (a->kind == V_ACT && b->kind == V_ACT) {  /* a residual connection; the spec parser checks the shapes agree */
        if (a->rank != b->rank)
            NODE_FAIL(im, i, EG_ERR_ARG, "adds a rank-%d and a rank-%d tensor; edagari adds tensors of one shape", a->rank, b->rank);
        char nb[EG_NAME_MAX + 8];
        pnode *pn = add_pnode(im, EG_OP_ADD, a->node, i, base_name(n, NULL, nb, sizeof nb));
        pn->in2 = b->node;
        return set_output(im, i, im->nnodes - 1, a->rank);
    }
    if (a->kind == V_CONST && b->kind == V_CONST) NODE_FAIL(im, i, EG_ERR_ARG, "Add of two constants is not supported");
    value *x = a->kind == V_ACT ? a : b;
    const Onnx__TensorProto *c = a->kind == V_ACT ? b->t : a->t;
    pnode *pn = &im->nodes[x->node];
    if (pn->op != EG_OP_LINEAR || !pn->bias_open || count_uses(im, x->name) != 1)
        NODE_FAIL(im, i, EG_ERR_ARG, "Add of a constant is supported only as the bias of a MatMul whose result it alone reads");
    char why[200] = "";
    float *cv;
    size_t cn;
    int bad = tensor_floats(c, &cv, &cn, why, sizeof why);
    if (!bad && cn != (size_t)pn->out && cn != 1)
        bad = 1, snprintf(why, sizeof why, "has %zu values; expected 1 or %d", cn, pn->out);
    if (!bad && c->n_dims > 2) bad = 1, snprintf(why, sizeof why, "has %zu dims; expected a row", c->n_dims);
    if (!bad && c->n_dims == 2 && c->dims[0] != 1) bad = 1, snprintf(why, sizeof why, "is not a row");
    if (bad) {
        free(cv);
        NODE_FAIL(im, i, EG_ERR_FORMAT, "bias: %s", why);
    }
    for (int o = 0; o < pn->out; o++) pn->b[o] = cv[cn == 1 ? 0 : o];
    free(cv);
    pn->bias_open = 0;
    return set_output(im, i, x->node, 2);
}

/* BatchNormalization in inference form: scale, shift, running mean and
 * variance as constants [C]. edagari's batchnorm2d has PyTorch's eps of
 * 1e-5; another epsilon goes into the variance, which gives the same
 * sqrt(var + eps). */
static eg_status import_batchnorm(importer *im, int i)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    if (n->n_input != 5) NODE_FAIL(im, i, EG_ERR_FORMAT, "expected 5 inputs (X, scale, B, mean, var), found %zu", n->n_input);
    value *x;
    const Onnx__TensorProto *t[4];
    eg_status st = act_input(im, i, 0, 4, &x);
    for (size_t k = 0; k < 4 && !st; k++) st = const_input(im, i, k + 1, &t[k]);
    if (st) return st;
    attr a[] = {{"epsilon", 0}, {"momentum", 0}, {"training_mode", 0}, {"spatial", 0}};
    float eps, momentum;
    long training, spatial;
    if ((st = get_attrs(im, i, a, 4)) || (st = attr_float(im, i, &a[0], 1e-5f, &eps)) ||
        (st = attr_float(im, i, &a[1], 0.9f, &momentum)) || (st = attr_int(im, i, &a[2], 0, 0, 0, &training)) ||
        (st = attr_int(im, i, &a[3], 1, 1, 1, &spatial)))
        return st;
    if (!(eps > 0)) NODE_FAIL(im, i, EG_ERR_ARG, "epsilon %g: expected a positive number", (double)eps);
    static const char *const what[4] = {"scale", "B", "mean", "var"};
    float *v[4] = {0};
    size_t c = 0;
    for (int k = 0; k < 4; k++) {
        char why[200] = "";
        size_t cnt;
        int bad = tensor_floats(t[k], &v[k], &cnt, why, sizeof why);
        if (!bad && t[k]->n_dims != 1) bad = 1, snprintf(why, sizeof why, "has %zu dims; expected 1", t[k]->n_dims);
        if (!bad && k && cnt != c) bad = 1, snprintf(why, sizeof why, "has %zu values; scale has %zu", cnt, c);
        if (!bad && !cnt) bad = 1, snprintf(why, sizeof why, "is empty");
        if (!bad && k == 3)
            for (size_t q = 0; q < cnt && !bad; q++)
                if (!(v[3][q] + eps > 0)) bad = 1, snprintf(why, sizeof why, "value %zu is %g: var + epsilon must be positive", q, (double)v[3][q]);
        if (bad) {
            for (int q = 0; q < 4; q++) free(v[q]);
            NODE_FAIL(im, i, EG_ERR_FORMAT, "%s: %s", what[k], why);
        }
        c = cnt;
    }
    if (fabsf(eps - 1e-5f) > 1e-9f)  /* the float nearest 1e-5, as PyTorch writes it, is taken as it */
        for (size_t q = 0; q < c; q++) v[3][q] = (float)((double)v[3][q] + (double)eps - 1e-5);
    char nb[EG_NAME_MAX + 8];
    pnode *pn = add_pnode(im, EG_OP_BATCHNORM2D, x->node, i, base_name(n, n->input[1], nb, sizeof nb));
    pn->w = v[0], pn->b = v[1], pn->mean = v[2], pn->var = v[3];
    pn->channels = c;
    return set_output(im, i, im->nnodes - 1, 4);
}

/* MaxPool (symmetric pads, floor or ceil mode) and AveragePool (symmetric
 * pads counted in the mean, as PyTorch's AvgPool2d by default, floor mode),
 * square. */
static eg_status import_pool(importer *im, int i, eg_op_type op)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    if (n->n_input != 1) NODE_FAIL(im, i, EG_ERR_FORMAT, "expected 1 input, found %zu", n->n_input);
    value *x;
    int avg = op == EG_OP_AVGPOOL2D, zeros = 0;  /* a Pad's before an AveragePool */
    eg_status st = avg ? padded_input(im, i, 0, 4, &x, &zeros) : act_input(im, i, 0, 4, &x);
    if (st) return st;
    /* MaxPool's storage_order, AveragePool's count_include_pad */
    attr a[] = {{"kernel_shape", 0}, {"strides", 0}, {"pads", 0}, {"dilations", 0}, {"ceil_mode", 0},
                {avg ? "count_include_pad" : "storage_order", 0}, {"auto_pad", 0}};
    long k[2] = {0}, s[2] = {0}, p[4] = {0}, d[2] = {0}, ceil = 0, last = 0;
    const long one[2] = {1, 1}, zero[4] = {0, 0, 0, 0};
    if ((st = get_attrs(im, i, a, 7)) || (st = no_auto_pad(im, i, &a[6])) ||
        (st = attr_ints(im, i, &a[0], 2, 1, MAX_ATTR_INT, NULL, k)) ||
        (st = attr_ints(im, i, &a[1], 2, 1, MAX_ATTR_INT, one, s)) ||
        (st = attr_ints(im, i, &a[2], 4, 0, MAX_ATTR_INT, zero, p)) ||
        (st = attr_ints(im, i, &a[3], 2, 1, 1, one, d)) || (st = attr_int(im, i, &a[4], 0, !avg, 0, &ceil)) ||
        (st = attr_int(im, i, &a[5], 0, avg, 0, &last)))
        return st;
    if (k[0] != k[1] || s[0] != s[1])
        NODE_FAIL(im, i, EG_ERR_ARG, "kernel %ldx%ld, strides %ldx%ld: edagari's %s is square", k[0], k[1], s[0], s[1],
                  eg_ops[op]->name);
    if (p[0] != p[1] || p[0] != p[2] || p[0] != p[3])
        NODE_FAIL(im, i, EG_ERR_ARG, "pads %ld, %ld, %ld, %ld: edagari pads every side alike", p[0], p[1], p[2], p[3]);
    if (avg && p[0] && !last)  /* without the padding in the mean, border windows divide by less */
        NODE_FAIL(im, i, EG_ERR_ARG, "pads %ld with count_include_pad 0: edagari's avgpool2d counts the padding, as "
                  "PyTorch's AvgPool2d does by default", p[0]);
    char nb[EG_NAME_MAX + 8];
    pnode *pn = add_pnode(im, op, x->node, i, base_name(n, NULL, nb, sizeof nb));
    pn->kernel = (int)k[0], pn->stride = (int)s[0], pn->pad = (int)p[0] + zeros, pn->ceil = (int)ceil;
    return set_output(im, i, im->nnodes - 1, 4);
}

/* Pad (opset 11 on): zeros on every side of H and W alike, which is how
 * PyTorch writes an AvgPool2d's padding (counted in the mean); the
 * AveragePool after it takes them as its own (padded_input). */
static eg_status import_pad(importer *im, int i)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    if (n->n_input < 2 || n->n_input > 3)
        NODE_FAIL(im, i, EG_ERR_FORMAT, "expected 2 or 3 inputs (data, pads, constant_value; opset 11 or later), found %zu",
                  n->n_input);
    attr a[] = {{"mode", 0}};
    eg_status st = get_attrs(im, i, a, 1);
    if (st) return st;
    if (a[0].a && (!a[0].a->has_s || a[0].a->s.len != 8 || memcmp(a[0].a->s.data, "constant", 8)))
        NODE_FAIL(im, i, EG_ERR_ARG, "mode other than constant is not supported");
    value *x;
    const Onnx__TensorProto *t;
    if ((st = act_input(im, i, 0, 4, &x)) || (st = const_input(im, i, 1, &t))) return st;
    int64_t p[8];
    size_t np;
    char why[200];
    if (tensor_ints(t, p, 8, &np, why, sizeof why)) NODE_FAIL(im, i, EG_ERR_FORMAT, "pads: %s", why);
    if (np != 8 || p[0] || p[1] || p[4] || p[5] || p[2] != p[3] || p[2] != p[6] || p[2] != p[7] || p[2] < 0 ||
        p[2] > MAX_ATTR_INT)
        NODE_FAIL(im, i, EG_ERR_ARG, "pads: edagari pads H and W alike on every side, and not N or C");
    if (n->n_input == 3 && *str(n->input[2])) {
        float *v;
        size_t cnt;
        if ((st = const_input(im, i, 2, &t))) return st;
        if (tensor_floats(t, &v, &cnt, why, sizeof why)) NODE_FAIL(im, i, EG_ERR_FORMAT, "constant_value: %s", why);
        int zero = cnt == 1 && v[0] == 0;
        free(v);
        if (!zero) NODE_FAIL(im, i, EG_ERR_ARG, "constant_value: edagari pads with one zero");
    }
    if ((st = set_output(im, i, x->node, 4))) return st;
    im->vals[im->nvals - 1].pad = (int)p[2];
    return EG_OK;
}

/* The plain op whose ONNX op_type is op, or EG_OP_COUNT; with consts
 * (nc values), the one whose constant inputs hold those values. */
static eg_op_type plain_op(const char *op, const float *consts, int nc)
{
    for (int k = 0; k < EG_OP_COUNT; k++) {
        const eg_onnx_form *f = &eg_ops[k]->onnx;
        if (!f->plain || strcmp(f->type, op) || (consts && f->nconsts != nc)) continue;
        int same = 1;
        for (int j = 0; consts && j < nc; j++) same &= f->consts[j] == consts[j];
        if (same) return (eg_op_type)k;
    }
    return EG_OP_COUNT;
}

/* The plain ops (eg_onnx_form.plain): one computed input and no
 * attributes, known from the op table by their op_type (Relu, Sigmoid,
 * HardSwish) and the values of their constant scalar inputs (relu6: Clip
 * with min 0 and max 6). */
static eg_status import_plain(importer *im, int i, const char *op)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    const eg_onnx_form *f = &eg_ops[plain_op(op, NULL, 0)]->onnx;
    eg_status st = get_attrs(im, i, NULL, 0);
    if (st) return st;
    if (n->n_input != (size_t)(1 + f->nconsts))
        NODE_FAIL(im, i, EG_ERR_FORMAT, "expected %d input(s), found %zu", 1 + f->nconsts, n->n_input);
    float c[2] = {0, 0};
    for (int k = 0; k < f->nconsts; k++) {
        const Onnx__TensorProto *t;
        float *v;
        size_t cnt;
        char why[200];
        if ((st = const_input(im, i, (size_t)k + 1, &t))) return st;
        if (tensor_floats(t, &v, &cnt, why, sizeof why)) NODE_FAIL(im, i, EG_ERR_FORMAT, "input %d: %s", k + 1, why);
        c[k] = cnt == 1 ? v[0] : 0;
        free(v);
        if (cnt != 1) NODE_FAIL(im, i, EG_ERR_FORMAT, "input %d: expected one value, found %zu", k + 1, cnt);
    }
    eg_op_type plain = plain_op(op, c, f->nconsts);
    if (plain == EG_OP_COUNT)  /* only Clip has constants: its min and max */
        NODE_FAIL(im, i, EG_ERR_ARG, "min %g and max %g: edagari imports a Clip from %g to %g (%s) only", c[0], c[1],
                  f->consts[0], f->consts[1], eg_ops[plain_op(op, NULL, 0)]->name);
    value *x;
    if ((st = act_input(im, i, 0, 0, &x))) return st;
    char nb[EG_NAME_MAX + 8];
    add_pnode(im, plain, x->node, i, base_name(n, NULL, nb, sizeof nb));
    return set_output(im, i, im->nnodes - 1, x->rank);
}

/* Identity, Flatten, Reshape and GlobalAveragePool */
static eg_status import_simple(importer *im, int i, const char *op)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    int reshape = !strcmp(op, "Reshape"), flatten = !strcmp(op, "Flatten");
    if (op[0] == 'G' && n->n_input != 1) NODE_FAIL(im, i, EG_ERR_FORMAT, "expected 1 input, found %zu", n->n_input);
    if (n->n_input != (size_t)(reshape ? 2 : 1))
        NODE_FAIL(im, i, EG_ERR_FORMAT, "expected %d input(s), found %zu", reshape ? 2 : 1, n->n_input);
    value *x = find_value(im, n->input[0]);
    if (x && x->kind == V_CONST && !strcmp(op, "Identity")) {  /* PyTorch copies shared weights this way */
        eg_status st = get_attrs(im, i, NULL, 0);
        char b[96];
        if (st) return st;
        if (find_value(im, n->output[0]))
            NODE_FAIL(im, i, EG_ERR_FORMAT, "output '%s' is already defined", safe(n->output[0], b, sizeof b));
        return add_value(im, n->output[0], V_CONST, -1, 0, x->t);
    }
    eg_status st = act_input(im, i, 0, 0, &x);
    if (st) return st;
    char nb[EG_NAME_MAX + 8];
    if (!strcmp(op, "GlobalAveragePool")) {  /* [N, C, 1, 1] in ONNX; gap's C x 1 x 1 here */
        if ((st = get_attrs(im, i, NULL, 0))) return st;
        if (x->rank != 4) NODE_FAIL(im, i, EG_ERR_ARG, "input has rank %d; expected N x C x H x W", x->rank);
        add_pnode(im, EG_OP_GAP, x->node, i, base_name(n, NULL, nb, sizeof nb));
        return set_output(im, i, im->nnodes - 1, 4);
    }
    if (!strcmp(op, "Identity")) {
        if ((st = get_attrs(im, i, NULL, 0))) return st;
        return set_output(im, i, x->node, x->rank);
    }
    long features = -1;
    if (flatten) {
        attr a[] = {{"axis", 0}};
        long axis;
        if ((st = get_attrs(im, i, a, 1)) || (st = attr_int(im, i, &a[0], -3, 1, 1, &axis))) return st;
        if (axis != 1 && axis != 1 - x->rank)
            NODE_FAIL(im, i, EG_ERR_ARG, "axis %ld of a rank-%d tensor: edagari flattens everything after the batch (axis 1)", axis,
                      x->rank);
    } else {
        attr a[] = {{"allowzero", 0}};
        long allowzero;
        if ((st = get_attrs(im, i, a, 1)) || (st = attr_int(im, i, &a[0], 0, 0, 0, &allowzero))) return st;
        const Onnx__TensorProto *t;
        if ((st = const_input(im, i, 1, &t))) return st;
        int64_t shape[8];
        size_t ns;
        char why[200];
        if (tensor_ints(t, shape, 8, &ns, why, sizeof why)) NODE_FAIL(im, i, EG_ERR_FORMAT, "shape: %s", why);
        /* [batch or -1 or 0, features or -1]: what x.view(x.size(0), -1) and flatten give */
        if (ns != 2 || shape[0] < -1 || shape[1] < -1 || (shape[0] == -1 && shape[1] == -1) || shape[1] == 0 ||
            shape[1] > (int64_t)MAX_TENSOR)
            NODE_FAIL(im, i, EG_ERR_ARG, "shape %s: edagari supports a Reshape to [batch, features] only (a flatten)",
                      ns == 2 ? "with those values" : "of other than 2 values");
        features = (long)shape[1];
    }
    if ((x->rank == 2 || im->nodes[x->node].op == EG_OP_GAP) && features < 0)
        return set_output(im, i, x->node, 2);  /* already flat (gap gives C x 1 x 1) */
    pnode *pn = add_pnode(im, EG_OP_FLATTEN, x->node, i, base_name(n, NULL, nb, sizeof nb));
    pn->flat_features = features;
    return set_output(im, i, im->nnodes - 1, 2);
}

static eg_status import_constant(importer *im, int i)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    attr a[] = {{"value", 0}};
    eg_status st = get_attrs(im, i, a, 1);
    if (st) return st;
    if (n->n_input) NODE_FAIL(im, i, EG_ERR_FORMAT, "a Constant takes no inputs, found %zu", n->n_input);
    if (!a[0].a || !a[0].a->t) NODE_FAIL(im, i, EG_ERR_ARG, "expected a tensor attribute 'value'");
    char b[96];
    if (find_value(im, n->output[0]))
        NODE_FAIL(im, i, EG_ERR_FORMAT, "output '%s' is already defined", safe(n->output[0], b, sizeof b));
    return add_value(im, n->output[0], V_CONST, -1, 0, a[0].a->t);
}

static eg_status import_node(importer *im, int i)
{
    const Onnx__NodeProto *n = im->gp->node[i];
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx")) {
        char b[64];
        NODE_FAIL(im, i, EG_ERR_ARG, "op domain '%s' is not supported (only the standard ONNX ops)", safe(n->domain, b, sizeof b));
    }
    if (n->n_output < 1 || !*str(n->output[0])) NODE_FAIL(im, i, EG_ERR_FORMAT, "has no output");
    for (size_t k = 1; k < n->n_output; k++)
        if (*str(n->output[k])) NODE_FAIL(im, i, EG_ERR_ARG, "has %zu outputs; edagari reads single-output nodes", n->n_output);
    for (size_t k = 0; k < n->n_input; k++)
        if (!n->input[k]) NODE_FAIL(im, i, EG_ERR_FORMAT, "input %zu has no name", k);
    const char *op = str(n->op_type);
    if (im->nnodes + 2 > MAX_NODES) NODE_FAIL(im, i, EG_ERR_ARG, "more than %d nodes", MAX_NODES);
    if (!strcmp(op, "Conv")) return import_conv(im, i);
    if (!strcmp(op, "Gemm")) return import_linear(im, i, 1);
    if (!strcmp(op, "MatMul")) return import_linear(im, i, 0);
    if (!strcmp(op, "Add")) return import_add(im, i);
    if (!strcmp(op, "MaxPool")) return import_pool(im, i, EG_OP_MAXPOOL2D);
    if (!strcmp(op, "AveragePool")) return import_pool(im, i, EG_OP_AVGPOOL2D);
    if (!strcmp(op, "Pad")) return import_pad(im, i);
    if (plain_op(op, NULL, 0) != EG_OP_COUNT) return import_plain(im, i, op);
    if (!strcmp(op, "Identity") || !strcmp(op, "Flatten") || !strcmp(op, "Reshape") || !strcmp(op, "GlobalAveragePool"))
        return import_simple(im, i, op);
    if (!strcmp(op, "BatchNormalization")) return import_batchnorm(im, i);
    if (!strcmp(op, "Constant")) return import_constant(im, i);
    char known[512];
    eg_op_names(known, sizeof known, ", ", 1, NULL);
    NODE_FAIL(im, i, EG_ERR_ARG,
              "op is not supported; edagari imports %s, and Reshape (to a flatten), MatMul + Add (a bias), Pad (before "
              "an AveragePool), Identity and Constant", known);
}

/* The graph input: the one input that is not an initializer, float32 [N, C, H, W] or [N, F]. */
static eg_status import_input(importer *im)
{
    const Onnx__GraphProto *gp = im->gp;
    const Onnx__ValueInfoProto *in = NULL;
    char b[96];
    for (size_t k = 0; k < gp->n_input; k++) {
        const Onnx__ValueInfoProto *v = gp->input[k];
        if (!v->name || !*v->name) return eg_fail(im->err, EG_ERR_FORMAT, "%s: graph input %zu has no name", im->label, k);
        value *c = find_value(im, v->name);
        if (c && c->kind == V_CONST) continue;  /* older exporters list initializers as inputs too */
        if (in)
            return eg_fail(im->err, EG_ERR_ARG, "%s: graph inputs '%s' and '%s': edagari models have one input", im->label,
                           safe(in->name, b, sizeof b), v->name);
        in = v;
    }
    if (!in) return eg_fail(im->err, EG_ERR_FORMAT, "%s: the graph has no input (other than initializers)", im->label);
    const char *nm = safe(in->name, b, sizeof b);
    if (!in->type || in->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !in->type->tensor_type ||
        !in->type->tensor_type->has_elem_type || in->type->tensor_type->elem_type != ONNX_FLOAT)
        return eg_fail(im->err, EG_ERR_ARG, "%s: graph input '%s': expected a float32 tensor", im->label, nm);
    const Onnx__TensorShapeProto *sh = in->type->tensor_type->shape;
    if (!sh || (sh->n_dim != 4 && sh->n_dim != 2))
        return eg_fail(im->err, EG_ERR_ARG, "%s: graph input '%s': expected [N, C, H, W] or [N, features], found %zu dims",
                       im->label, nm, sh ? sh->n_dim : 0);
    int d[3] = {1, 1, 1};
    for (size_t k = 1; k < sh->n_dim; k++) {
        const Onnx__TensorShapeProto__Dimension *dm = sh->dim[k];
        if (dm->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || dm->dim_value < 1 ||
            dm->dim_value > MAX_ATTR_INT)
            return eg_fail(im->err, EG_ERR_ARG, "%s: graph input '%s': dimension %zu must be a number from 1 to 2^20", im->label,
                           nm, k);
        d[k - 1] = (int)dm->dim_value;
    }
    if ((size_t)d[0] * d[1] * d[2] > MAX_TENSOR)
        return eg_fail(im->err, EG_ERR_ARG, "%s: graph input '%s' has over 2^28 values per sample", im->label, nm);
    pnode *p = add_pnode(im, EG_OP_INPUT, -1, -1, in->name);
    p->shape = (eg_shape){d[0], d[1], d[2]};
    return add_value(im, in->name, V_ACT, 0, (int)sh->n_dim, NULL);
}

/* The spec text of the nodes built (malloc'ed). */
static char *spec_text(const importer *im)
{
    size_t cap = (size_t)im->nnodes * (3 * EG_NAME_MAX + 80) + 1, n = 0;  /* three names and four numbers a line */
    char *s = malloc(cap);
    if (!s) return NULL;
    for (int i = 0; i < im->nnodes; i++) {
        const pnode *p = &im->nodes[i];
        const char *in = p->in >= 0 ? im->nodes[p->in].name : "";
        int attrs = eg_ops[p->op]->attrs;
        if (p->op == EG_OP_INPUT) {
            n += (size_t)snprintf(s + n, cap - n, "input %s shape=%dx%dx%d\n", p->name, p->shape.c, p->shape.h, p->shape.w);
            continue;
        }
        n += (size_t)snprintf(s + n, cap - n, "%s %s in=%s", eg_ops[p->op]->name, p->name, in);
        if (p->in2 >= 0) n += (size_t)snprintf(s + n, cap - n, ",%s", im->nodes[p->in2].name);
        /* the attributes the op takes (eg_attrs; shape is the input's), but those at
         * the value a spec may leave them out at */
        const int vals[EG_ATTR_COUNT] = {p->out, p->kernel, p->stride, p->pad, 0, p->ceil};
        for (int a = 0; a < EG_ATTR_COUNT; a++)
            if ((attrs & (1 << a)) && 1 << a != EG_ATTR_SHAPE && vals[a] != eg_attrs[a].omit_at)
                n += (size_t)snprintf(s + n, cap - n, " %s=%d", eg_attrs[a].name, vals[a]);
        n += (size_t)snprintf(s + n, cap - n, "\n");
    }
    return s;
}

/* After the spec parsed: every weight's dims against the shapes the parser
 * inferred, every Reshape's feature count; then the parameters go in. */
static eg_status fill_params(importer *im, eg_graph *g)
{
    for (int i = 0; i < im->nnodes; i++) {
        const pnode *p = &im->nodes[i];
        eg_node *nd = &g->nodes[i];
        if (p->onnx >= 0 && p->op == EG_OP_FLATTEN && p->flat_features >= 0 &&
            (size_t)p->flat_features != eg_shape_size(nd->in_shape))
            NODE_FAIL(im, p->onnx, EG_ERR_ARG, "reshapes to %ld features; its input has %dx%dx%d = %zu", p->flat_features,
                      nd->in_shape.c, nd->in_shape.h, nd->in_shape.w, eg_shape_size(nd->in_shape));
        if (p->op == EG_OP_BATCHNORM2D) {
            if (p->channels != (size_t)nd->in_shape.c || nd->nparams != 2 || nd->nbuffers != 2)
                NODE_FAIL(im, p->onnx, EG_ERR_ARG, "has %zu channels of statistics; its input has %d channels", p->channels,
                          nd->in_shape.c);
            memcpy(nd->param[0], p->w, p->channels * sizeof(float));
            memcpy(nd->param[1], p->b, p->channels * sizeof(float));
            memcpy(nd->buffer[0], p->mean, p->channels * sizeof(float));
            memcpy(nd->buffer[1], p->var, p->channels * sizeof(float));
            continue;
        }
        if (p->op != EG_OP_CONV2D && p->op != EG_OP_LINEAR && p->op != EG_OP_DWCONV2D) continue;
        if (nd->pdims[0] != p->wndims) NODE_FAIL(im, p->onnx, EG_ERR_ARG, "weight has %d dims, expected %d", p->wndims, nd->pdims[0]);
        for (int k = 0; k < p->wndims; k++)
            if (p->wdims[k] != nd->pshape[0][k]) {
                if (p->op != EG_OP_LINEAR)
                    NODE_FAIL(im, p->onnx, EG_ERR_ARG, "weight is %lldx%lldx%lldx%lld; its %dx%dx%d input needs %dx%dx%dx%d",
                              (long long)p->wdims[0], (long long)p->wdims[1], (long long)p->wdims[2], (long long)p->wdims[3],
                              nd->in_shape.c, nd->in_shape.h, nd->in_shape.w, nd->pshape[0][0], nd->pshape[0][1],
                              nd->pshape[0][2], nd->pshape[0][3]);
                NODE_FAIL(im, p->onnx, EG_ERR_ARG, "weight is %lld outputs x %lld inputs; its input has %d features",
                          (long long)p->wdims[0], (long long)p->wdims[1], nd->pshape[0][1]);
            }
        memcpy(nd->param[0], p->w, nd->psize[0] * sizeof(float));
        if (p->b)
            memcpy(nd->param[1], p->b, nd->psize[1] * sizeof(float));
        else
            memset(nd->param[1], 0, nd->psize[1] * sizeof(float));
    }
    return EG_OK;
}

/* The spec line of a parser message "label:LINE:..." as the ONNX node it came from. */
static void blame_node(importer *im, eg_error *err)
{
    size_t l = strlen(im->label);
    if (!err || strncmp(err->msg, im->label, l) || err->msg[l] != ':') return;
    long line = strtol(err->msg + l + 1, NULL, 10);
    if (line < 1 || line > im->nnodes || im->nodes[line - 1].onnx < 0) return;
    char nl[160], m[sizeof err->msg];
    node_label(im, im->nodes[line - 1].onnx, nl, sizeof nl);
    const char *rest = err->msg + l + 1;  /* past "LINE:" or "LINE:COL:" of the spec made from the file */
    while ((*rest >= '0' && *rest <= '9') || *rest == ':') rest++;
    while (*rest == ' ') rest++;
    snprintf(m, sizeof m, "%s: %s: %s", im->label, nl, rest);
    snprintf(err->msg, sizeof err->msg, "%s", m);
}

static eg_status import_model(importer *im, const Onnx__ModelProto *m, eg_graph *g)
{
    Onnx__GraphProto *gp = m->graph;
    char b[96];
    if (!gp) return eg_fail(im->err, EG_ERR_FORMAT, "%s: no graph in the model", im->label);
    im->gp = gp;
    for (size_t k = 0; k < m->n_opset_import; k++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[k];
        if ((!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) && o->has_version && (o->version < 7 || o->version > 21))
            return eg_fail(im->err, EG_ERR_ARG, "%s: opset %lld; edagari reads opsets 7 to 21", im->label, (long long)o->version);
    }
    if (gp->n_node > MAX_NODES || gp->n_initializer > MAX_NODES || gp->n_input > MAX_NODES)
        return eg_fail(im->err, EG_ERR_ARG, "%s: %zu nodes, %zu initializers, %zu inputs; at most %d of each", im->label,
                       gp->n_node, gp->n_initializer, gp->n_input, MAX_NODES);
    if (gp->n_sparse_initializer)
        return eg_fail(im->err, EG_ERR_ARG, "%s: sparse initializers are not supported; export them dense", im->label);
    im->vals = calloc(3 * MAX_NODES + 2, sizeof *im->vals);
    im->nodes = calloc(MAX_NODES, sizeof *im->nodes);
    if (!im->vals || !im->nodes) return eg_fail(im->err, EG_ERR_NOMEM, "%s: out of memory", im->label);
    for (size_t k = 0; k < gp->n_initializer; k++) {
        const Onnx__TensorProto *t = gp->initializer[k];
        if (!t->name || !*t->name) return eg_fail(im->err, EG_ERR_FORMAT, "%s: initializer %zu has no name", im->label, k);
        if (find_value(im, t->name))
            return eg_fail(im->err, EG_ERR_FORMAT, "%s: initializer '%s' is defined twice", im->label, safe(t->name, b, sizeof b));
        eg_status st = add_value(im, t->name, V_CONST, -1, 0, t);
        if (st) return st;
    }
    eg_status st = import_input(im);
    if (st) return st;
    for (size_t i = 0; i < gp->n_node && !st; i++) st = import_node(im, (int)i);
    if (st) return st;
    if (gp->n_output != 1 || !gp->output[0]->name)
        return eg_fail(im->err, EG_ERR_ARG, "%s: the graph has %zu outputs; edagari models have one", im->label, gp->n_output);
    value *out = find_value(im, gp->output[0]->name);
    if (!out || out->kind != V_ACT)
        return eg_fail(im->err, EG_ERR_FORMAT, "%s: graph output '%s' is not computed by any node", im->label,
                       safe(gp->output[0]->name, b, sizeof b));
    if (out->pad)
        return eg_fail(im->err, EG_ERR_ARG, "%s: graph output '%s' is a Pad's output; edagari reads a Pad only as the padding "
                       "of the AveragePool after it", im->label, safe(gp->output[0]->name, b, sizeof b));
    if (out->node != im->nnodes - 1)
        return eg_fail(im->err, EG_ERR_ARG, "%s: graph output '%s' is computed by %s, but nodes after it compute something else",
                       im->label, safe(gp->output[0]->name, b, sizeof b), im->nodes[out->node].name);
    for (int i = 0; i < im->nnodes; i++)
        if (im->nodes[i].bias_open) im->nodes[i].bias_open = 0;  /* a MatMul without an Add: no bias */
    char *text = spec_text(im);
    if (!text) return eg_fail(im->err, EG_ERR_NOMEM, "%s: out of memory", im->label);
    st = eg_graph_parse_spec(g, text, im->label, im->err);
    free(text);
    if (st) {
        blame_node(im, im->err);
        return st;
    }
    st = fill_params(im, g);
    if (st) return st;
    /* the model's name: the file's, without folders and ".onnx" */
    const char *base = strrchr(im->label, '/');
    snprintf(g->name, sizeof g->name, "%s", base ? base + 1 : im->label);
    size_t nl = strlen(g->name);
    if (nl > 5 && !strcmp(g->name + nl - 5, ".onnx")) g->name[nl - 5] = 0;
    long long opset = 0;
    for (size_t k = 0; k < m->n_opset_import; k++)
        if (!m->opset_import[k]->domain || !*m->opset_import[k]->domain) opset = m->opset_import[k]->version;
    char prod[64], ver[32];
    if (eg_model_note(g, "import from ONNX %s (producer %s %s, opset %lld): %zu ONNX nodes as %d edagari nodes", im->label,
                      safe(m->producer_name, prod, sizeof prod), safe(m->producer_version, ver, sizeof ver), opset, gp->n_node,
                      g->nnodes))
        return eg_fail(im->err, EG_ERR_NOMEM, "%s: out of memory", im->label);
    return EG_OK;
}

eg_status eg_onnx_import_buffer(eg_graph *g, const void *data, size_t len, const char *label, eg_error *err)
{
    memset(g, 0, sizeof *g);
    const uint8_t *b = data;
    if (!len) return eg_fail(err, EG_ERR_FORMAT, "%s: byte 0: empty; expected an ONNX model (protobuf)", label);
    eg_status st = wire_check(b, 0, len, &onnx__model_proto__descriptor, 0, label, err);
    if (st) return st;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, b);
    if (!m)
        return eg_fail(err, EG_ERR_FORMAT, "%s: protobuf-c could not decode the model (a value out of range: an enum, a "
                                           "varint in a packed list)", label);
    importer im = {label, err, NULL, NULL, 0, NULL, 0};
    st = import_model(&im, m, g);
    if (st) eg_graph_free(g), memset(g, 0, sizeof *g);
    for (int i = 0; im.nodes && i < im.nnodes; i++)
        free(im.nodes[i].w), free(im.nodes[i].b), free(im.nodes[i].mean), free(im.nodes[i].var);
    free(im.nodes);
    free(im.vals);
    onnx__model_proto__free_unpacked(m, NULL);
    return st;
}

eg_status eg_onnx_import(eg_graph *g, const char *path, eg_error *err)
{
    memset(g, 0, sizeof *g);
    uint8_t *buf;
    size_t len;
    eg_status st = eg_read_regular(path, "ONNX file", MAX_FILE, &buf, &len, err);
    if (st) return st;
    st = eg_onnx_import_buffer(g, buf, len, path, err);
    free(buf);
    return st;
}

#endif
