/* ONNX export: a model as an ONNX ModelProto (opset 13 or 14, IR version 7),
 * packed by the protobuf-c code generated from Debian's onnx.proto.
 *
 * One ONNX node per edagari node, named as it and writing a value of the
 * same name, as its op's table entry describes it (eg_onnx_form: conv2d ->
 * Conv, linear -> Gemm with transB=1 so the weight keeps edagari's [out,
 * in] layout, batchnorm2d -> BatchNormalization with its running
 * statistics as "<node>.running_mean" and "<node>.running_var", gap ->
 * GlobalAveragePool, whose [N, C, 1, 1] a later linear flattens, ...). A
 * linear node whose input is still a [C, H, W] tensor in ONNX terms (a spec
 * may feed an input of Cx1x1 straight to a linear) gets a Flatten
 * "<node>_flat" first, since Gemm wants rank 2. Parameters are
 * float32 initializers in raw little-endian bytes, masked weights included
 * as the zeros they are, so a masked or channel-pruned model is exported as
 * what it computes. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int eg_onnx_path(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && !strcmp(path + n - 5, ".onnx");
}

int eg_onnx_opset(const eg_graph *g)
{
    int v = 13;
    for (int i = 0; i < g->nnodes; i++)
        if (eg_ops[g->nodes[i].op]->onnx.opset > v) v = eg_ops[g->nodes[i].op]->onnx.opset;
    return v;
}

#ifndef EG_HAVE_ONNX

int eg_onnx_available(void) { return 0; }

eg_status eg_onnx_export(const eg_graph *g, const char *path, eg_error *err)
{
    (void)g;
    return eg_fail(err, EG_ERR_ARG,
                   "%s: this edagari was built without ONNX support; install protobuf-c-compiler, "
                   "libprotobuf-c-dev and libonnx-dev (./edagari.sh build does) and rebuild",
                   path);
}

#else

#include "onnx.pb-c.h"

int eg_onnx_available(void) { return 1; }

#define ONNX_IR_VERSION 7
#define ONNX_FLOAT 1

/* Every allocation of the message tree, freed together. */
typedef struct {
    void **p;
    size_t n, cap;
    int oom;
} pool;

static void *pool_alloc(pool *pl, size_t size)
{
    if (pl->oom) return NULL;
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? 2 * pl->cap : 256;
        void **np = realloc(pl->p, cap * sizeof *np);
        if (!np) return pl->oom = 1, NULL;
        pl->p = np, pl->cap = cap;
    }
    void *v = calloc(1, size ? size : 1);
    if (!v) return pl->oom = 1, NULL;
    return pl->p[pl->n++] = v;
}

static void pool_free(pool *pl)
{
    for (size_t i = 0; i < pl->n; i++) free(pl->p[i]);
    free(pl->p);
}

static char *pool_str(pool *pl, const char *s)
{
    char *d = pool_alloc(pl, strlen(s) + 1);
    if (d) strcpy(d, s);
    return d;
}

/* An attribute of the given name and type; the caller sets its value. */
static Onnx__AttributeProto *new_attr(pool *pl, const char *name, Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = pool_alloc(pl, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = pool_str(pl, name);
    a->has_type = 1;
    a->type = type;
    return a;
}

static Onnx__AttributeProto *attr_ints(pool *pl, const char *name, const int64_t *v, size_t n)
{
    Onnx__AttributeProto *a = new_attr(pl, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *ints = pool_alloc(pl, n * sizeof *ints);
    if (!a || !ints) return NULL;
    memcpy(ints, v, n * sizeof *ints);
    a->n_ints = n, a->ints = ints;
    return a;
}

static Onnx__AttributeProto *attr_float(pool *pl, const char *name, float v)
{
    Onnx__AttributeProto *a = new_attr(pl, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) a->has_f = 1, a->f = v;
    return a;
}

static Onnx__AttributeProto *attr_int(pool *pl, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = new_attr(pl, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) a->has_i = 1, a->i = v;
    return a;
}

/* A tensor's value info: float32 of the given dims, dims[0] < 0 the symbolic "batch". */
static Onnx__ValueInfoProto *value_info(pool *pl, const char *name, const int64_t *dims, int ndims)
{
    Onnx__ValueInfoProto *vi = pool_alloc(pl, sizeof *vi);
    Onnx__TypeProto *tp = pool_alloc(pl, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = pool_alloc(pl, sizeof *tt);
    Onnx__TensorShapeProto *sh = pool_alloc(pl, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dv = pool_alloc(pl, (size_t)ndims * sizeof *dv);
    if (!vi || !tp || !tt || !sh || !dv) return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i < ndims; i++) {
        Onnx__TensorShapeProto__Dimension *d = pool_alloc(pl, sizeof *d);
        if (!d) return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = pool_str(pl, "batch");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        dv[i] = d;
    }
    sh->n_dim = (size_t)ndims, sh->dim = dv;
    tt->has_elem_type = 1, tt->elem_type = ONNX_FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = pool_str(pl, name);
    vi->type = tp;
    return vi;
}

/* The ONNX model under construction. */
typedef struct {
    pool pl;
    Onnx__NodeProto **nodes;
    size_t nnodes;
    Onnx__TensorProto **inits;
    size_t ninits;
} builder;

static Onnx__NodeProto *add_node(builder *b, const char *op, const char *name, const char *const *in, int nin,
                                 const char *out)
{
    Onnx__NodeProto *n = pool_alloc(&b->pl, sizeof *n);
    char **ins = pool_alloc(&b->pl, (size_t)nin * sizeof *ins);
    char **outs = pool_alloc(&b->pl, sizeof *outs);
    if (!n || !ins || !outs) return NULL;
    onnx__node_proto__init(n);
    n->op_type = pool_str(&b->pl, op);
    n->name = pool_str(&b->pl, name);
    for (int i = 0; i < nin; i++) ins[i] = pool_str(&b->pl, in[i]);
    outs[0] = pool_str(&b->pl, out);
    n->n_input = (size_t)nin, n->input = ins;
    n->n_output = 1, n->output = outs;
    b->nodes[b->nnodes++] = n;
    return n;
}

static int set_attrs(builder *b, Onnx__NodeProto *n, Onnx__AttributeProto **a, int na)
{
    Onnx__AttributeProto **v = pool_alloc(&b->pl, (size_t)na * sizeof *v);
    if (!v) return -1;
    for (int i = 0; i < na; i++) {
        if (!a[i]) return -1;
        v[i] = a[i];
    }
    n->n_attribute = (size_t)na, n->attribute = v;
    return 0;
}

static int add_init(builder *b, const char *name, const float *v, const int *shape, int ndims)
{
    Onnx__TensorProto *t = pool_alloc(&b->pl, sizeof *t);
    int64_t *dims = pool_alloc(&b->pl, (size_t)(ndims ? ndims : 1) * sizeof *dims);  /* 0 dims: a scalar */
    if (!t || !dims) return -1;
    onnx__tensor_proto__init(t);
    size_t count = 1;
    for (int i = 0; i < ndims; i++) dims[i] = shape[i], count *= (size_t)shape[i];
    t->n_dims = (size_t)ndims, t->dims = dims;
    t->has_data_type = 1, t->data_type = ONNX_FLOAT;
    t->name = pool_str(&b->pl, name);
    /* raw_data is little-endian float32, which is how x86 and ARM hold floats */
    uint8_t *raw = pool_alloc(&b->pl, count * sizeof(float));
    if (!raw) return -1;
    if (count) memcpy(raw, v, count * sizeof(float));
    t->has_raw_data = 1;
    t->raw_data.len = count * sizeof(float), t->raw_data.data = raw;
    b->inits[b->ninits++] = t;
    return 0;
}

/* Adds node i of g as its op's ONNX form says (eg_onnx_form); rank[i]
 * gets the rank of its ONNX value (4 or 2). */
static eg_status export_node(builder *b, const eg_graph *g, int i, int *rank, eg_error *err)
{
    const eg_node *nd = &g->nodes[i];
    const eg_onnx_form *f = &eg_ops[nd->op]->onnx;
    if (nd->op == EG_OP_INPUT) {
        rank[i] = 4;
        return EG_OK;
    }
    if (!f->type)
        return eg_fail(err, EG_ERR_ARG, "model %s: node %s: no ONNX export for op %s", g->name, nd->name,
                       eg_ops[nd->op]->name);
    const char *ins[EG_MAX_INPUTS + 4];
    char names[4][EG_NAME_MAX + 16], flat[EG_NAME_MAX + 16];
    int nin = 0, in_rank = rank[nd->inputs[0]], fits = 1;
    for (int k = 0; k < nd->ninputs; k++) {
        ins[nin++] = g->nodes[nd->inputs[k]].name;
        fits &= rank[nd->inputs[k]] == in_rank;  /* an add of a flat and a 4-D tensor cannot be */
    }
    if (f->flattens && in_rank == 4) {  /* Gemm wants [batch, features] */
        snprintf(flat, sizeof flat, "%s_flat", nd->name);
        Onnx__NodeProto *fn = add_node(b, "Flatten", flat, ins, 1, flat);
        Onnx__AttributeProto *fa[1] = {attr_int(&b->pl, "axis", 1)};
        if (!fn || set_attrs(b, fn, fa, 1)) return eg_fail(err, EG_ERR_NOMEM, "out of memory");
        ins[0] = flat, in_rank = 2;
    }
    fits &= !f->needs_4d || in_rank == 4;
    if (!fits) /* an op that needs a [C, H, W] input after a flatten (specs cannot build one), or an add of the two */
        return eg_fail(err, EG_ERR_ARG, "model %s: node %s (%s): its input's ONNX rank does not fit the op (a flattened tensor "
                       "where [N, C, H, W] is needed, or an add of the two)", g->name, nd->name, eg_ops[nd->op]->name);
    /* parameters, then buffers, as initializers named <node><suffix> */
    int bad = 0;
    for (int j = 0; j < 4 && f->inits[j]; j++) {
        snprintf(names[j], sizeof names[j], "%s%s", nd->name, f->inits[j]);
        ins[nin++] = names[j];
        if (j < nd->nparams) bad |= add_init(b, names[j], nd->param[j], nd->pshape[j], nd->pdims[j]);
        else bad |= add_init(b, names[j], nd->buffer[j - nd->nparams], (int[1]){(int)nd->bsize[j - nd->nparams]}, 1);
    }
    /* constant scalar inputs (Clip's min and max), named <node>_in<k> */
    char cnames[2][EG_NAME_MAX + 16];
    for (int j = 0; j < f->nconsts; j++) {
        snprintf(cnames[j], sizeof cnames[j], "%s_in%d", nd->name, nin);
        ins[nin++] = cnames[j];
        bad |= add_init(b, cnames[j], &f->consts[j], NULL, 0);
    }
    Onnx__NodeProto *n = add_node(b, f->type, nd->name, ins, nin, nd->name);
    Onnx__AttributeProto *a[10];  /* one per EG_ONNX_* flag */
    int na = 0;
    int64_t k[2] = {nd->kernel, nd->kernel}, st[2] = {nd->stride, nd->stride}, d[2] = {1, 1};
    int64_t p[4] = {nd->pad, nd->pad, nd->pad, nd->pad};
    if (f->attrs & EG_ONNX_KERNEL) a[na++] = attr_ints(&b->pl, "kernel_shape", k, 2);
    if (f->attrs & EG_ONNX_STRIDES) a[na++] = attr_ints(&b->pl, "strides", st, 2);
    if (f->attrs & EG_ONNX_PADS) a[na++] = attr_ints(&b->pl, "pads", p, 4);
    if (f->attrs & EG_ONNX_DILATIONS) a[na++] = attr_ints(&b->pl, "dilations", d, 2);
    if (f->attrs & EG_ONNX_AXIS1) a[na++] = attr_int(&b->pl, "axis", 1);
    if (f->attrs & EG_ONNX_TRANSB) a[na++] = attr_int(&b->pl, "transB", 1);
    if (f->attrs & EG_ONNX_EPSILON) a[na++] = attr_float(&b->pl, "epsilon", 1e-5f);
    if (f->attrs & EG_ONNX_COUNT_PAD) a[na++] = attr_int(&b->pl, "count_include_pad", 1);
    if (f->attrs & EG_ONNX_GROUP) a[na++] = attr_int(&b->pl, "group", nd->in_shape.c);
    if (f->attrs & EG_ONNX_CEIL) a[na++] = attr_int(&b->pl, "ceil_mode", nd->ceil);
    if (!n || bad || (na && set_attrs(b, n, a, na)) || b->pl.oom) return eg_fail(err, EG_ERR_NOMEM, "out of memory");
    rank[i] = f->rank ? f->rank : in_rank;
    return EG_OK;
}

eg_status eg_onnx_export(const eg_graph *g, const char *path, eg_error *err)
{
    if (g->nnodes < 2 || g->nodes[0].op != EG_OP_INPUT)
        return eg_fail(err, EG_ERR_ARG, "model %s: nothing to export (an input node and at least one op)", g->name);
    char what[4200];
    snprintf(what, sizeof what, "%s: cannot export model %s", path, g->name);
    eg_status st = eg_graph_check_finite(g, what, err);
    if (st) return st;
    builder b = {0};
    int *rank = calloc((size_t)g->nnodes, sizeof *rank);
    b.nodes = pool_alloc(&b.pl, 2 * (size_t)g->nnodes * sizeof *b.nodes);
    b.inits = pool_alloc(&b.pl, 4 * (size_t)g->nnodes * sizeof *b.inits);
    uint8_t *buf = NULL;
    if (!rank || b.pl.oom) {
        st = eg_fail(err, EG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < g->nnodes && !st; i++) st = export_node(&b, g, i, rank, err);
    if (st) goto done;

    const eg_node *in = &g->nodes[0], *out = &g->nodes[g->nnodes - 1];
    int64_t in_dims[4] = {-1, in->out_shape.c, in->out_shape.h, in->out_shape.w};
    int64_t out_dims[4] = {-1, out->out_shape.c, out->out_shape.h, out->out_shape.w};
    Onnx__ValueInfoProto **gin = pool_alloc(&b.pl, sizeof *gin), **gout = pool_alloc(&b.pl, sizeof *gout);
    Onnx__GraphProto *graph = pool_alloc(&b.pl, sizeof *graph);
    Onnx__ModelProto *model = pool_alloc(&b.pl, sizeof *model);
    Onnx__OperatorSetIdProto *opset = pool_alloc(&b.pl, sizeof *opset);
    Onnx__OperatorSetIdProto **opsets = pool_alloc(&b.pl, sizeof *opsets);
    if (b.pl.oom) {
        st = eg_fail(err, EG_ERR_NOMEM, "out of memory");
        goto done;
    }
    gin[0] = value_info(&b.pl, in->name, in_dims, 4);
    gout[0] = value_info(&b.pl, out->name, out_dims, rank[g->nnodes - 1]);
    onnx__graph_proto__init(graph);
    graph->name = pool_str(&b.pl, g->name[0] ? g->name : "edagari");
    graph->n_node = b.nnodes, graph->node = b.nodes;
    graph->n_initializer = b.ninits, graph->initializer = b.inits;
    graph->n_input = 1, graph->input = gin;
    graph->n_output = 1, graph->output = gout;
    onnx__operator_set_id_proto__init(opset);
    opset->domain = pool_str(&b.pl, "");
    opset->has_version = 1, opset->version = eg_onnx_opset(g);
    opsets[0] = opset;
    onnx__model_proto__init(model);
    model->has_ir_version = 1, model->ir_version = ONNX_IR_VERSION;
    model->n_opset_import = 1, model->opset_import = opsets;
    model->producer_name = pool_str(&b.pl, "edagari");
    model->graph = graph;
    if (g->history) model->doc_string = pool_str(&b.pl, g->history);  /* what was done to it */
    if (b.pl.oom) {
        st = eg_fail(err, EG_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t len = onnx__model_proto__get_packed_size(model);
    buf = malloc(len ? len : 1);
    if (!buf) {
        st = eg_fail(err, EG_ERR_NOMEM, "out of memory for %zu bytes of ONNX", len);
        goto done;
    }
    size_t packed = onnx__model_proto__pack(model, buf);
    if (packed != len) {
        st = eg_fail(err, EG_ERR_IO, "%s: protobuf-c packed %zu bytes, expected %zu", path, packed, len);
        goto done;
    }
    st = eg_write_atomic(path, buf, len, err);
done:
    free(buf);
    free(rank);
    pool_free(&b.pl);
    return st;
}

#endif
