/* ONNX import: models PyTorch exported (tests/fixtures/make_onnx_fixtures.py:
 * SimpleCNN, LeNet-5, a MatMul MLP, a residual CNN with BatchNorm)
 * compute in edagari what they computed in PyTorch, within 1e-4, with
 * initializers in raw_data or float_data; export then import gives back the
 * same parameters bit for bit; hostile files (damaged fields, sizes that
 * disagree or overflow, unknown ops and attributes, dangling names, deep
 * nesting, truncations, random damage) are each an error naming the node or
 * the byte, never a crash. Exits 77 (skipped) without ONNX support. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "internal.h"
#include "util.h"

#ifndef EG_HAVE_ONNX
int main(void)
{
    printf("test_onnx_import: skipped: edagari was built without ONNX (install protobuf-c-compiler libprotobuf-c-dev "
           "libonnx-dev)\n");
    return 77;
}
#else

#include "onnx.pb-c.h"

/* Runs g on the fixture's x and compares with its y; returns the max |diff|. */
static double check_outputs(const char *what, eg_graph *g, const fixture *fx)
{
    const fx_tensor *x = &fx->t[0], *y = &fx->t[1];
    size_t per = eg_shape_size(g->nodes[0].out_shape);
    int n = (int)(x->size / per);
    CHECK(eg_graph_prepare(g, n, 0, 1) == EG_OK, "%s: prepare", what);
    eg_graph_forward(g, x->v, n);
    const eg_node *o = eg_graph_output(g);
    CHECK((size_t)n * eg_shape_size(o->out_shape) == y->size, "%s: %zu outputs, fixture %zu", what,
          (size_t)n * eg_shape_size(o->out_shape), y->size);
    if ((size_t)n * eg_shape_size(o->out_shape) != y->size) return 1e9;
    check_close(what, eg_graph_y(g), y->v, y->size, 1e-4, 1e-4);
    double m = 0;
    for (size_t k = 0; k < y->size; k++) {
        double d = (double)eg_graph_y(g)[k] - y->v[k];
        if ((d < 0 ? -d : d) > m) m = d < 0 ? -d : d;
    }
    return m;
}

static void pytorch_case(const char *name, int nodes, size_t params)
{
    char path[256], fxname[64];
    snprintf(path, sizeof path, "tests/fixtures/onnx/%s.onnx", name);
    snprintf(fxname, sizeof fxname, "onnx/%s", name);
    fixture fx;
    eg_graph g;
    eg_error err = {0};
    if (fx_load(&fx, fxname)) {
        CHECK(0, "fixture %s", fxname);
        return;
    }
    eg_status st = eg_onnx_import(&g, path, &err);
    CHECK(st == EG_OK, "%s: %s", path, err.msg);
    if (!st) {
        CHECK(g.nnodes == nodes, "%s: %d nodes, want %d", name, g.nnodes, nodes);
        CHECK(eg_graph_param_count(&g) == params, "%s: %zu parameters, want %zu", name, eg_graph_param_count(&g), params);
        double m = check_outputs(name, &g, &fx);
        printf("%-11s PyTorch's ONNX export imported: %d nodes, %zu parameters, outputs within %.2g of PyTorch's\n", name,
               g.nnodes, eg_graph_param_count(&g), m);
        eg_graph_free(&g);
    }
    fx_free(&fx);
}

/* Packs m, imports it; returns the status and leaves the message in err. */
static eg_status import_model(Onnx__ModelProto *m, eg_graph *g, eg_error *err)
{
    size_t len = onnx__model_proto__get_packed_size(m);
    uint8_t *b = malloc(len);
    onnx__model_proto__pack(m, b);
    eg_status st = eg_onnx_import_buffer(g, b, len, "crafted.onnx", err);
    free(b);
    return st;
}

/* The import of m must fail with a message holding both words (w2 may be NULL). */
static void expect_error(const char *what, Onnx__ModelProto *m, const char *w1, const char *w2)
{
    eg_graph g;
    eg_error err = {0};
    eg_status st = import_model(m, &g, &err);
    CHECK(st != EG_OK, "%s: imported, expected an error", what);
    CHECK(g.nnodes == 0 && g.params == NULL, "%s: a failed import left a graph", what);
    if (st == EG_OK) {
        eg_graph_free(&g);
        return;
    }
    CHECK(strstr(err.msg, w1) && (!w2 || strstr(err.msg, w2)), "%s: message lacks '%s'/'%s': %s", what, w1, w2 ? w2 : "",
          err.msg);
    printf("  %-26s %s\n", what, err.msg);
}

static Onnx__TensorProto *init_named(Onnx__ModelProto *m, const char *name)
{
    for (size_t k = 0; k < m->graph->n_initializer; k++)
        if (!strcmp(m->graph->initializer[k]->name, name)) return m->graph->initializer[k];
    return NULL;
}

static Onnx__AttributeProto *attr_named(Onnx__NodeProto *n, const char *name)
{
    for (size_t k = 0; k < n->n_attribute; k++)
        if (!strcmp(n->attribute[k]->name, name)) return n->attribute[k];
    return NULL;
}

/* Damaged copies of SimpleCNN's file, one field at a time (each restored after). */
static void crafted_cases(const uint8_t *file, size_t len)
{
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, file);
    CHECK(m && m->graph && m->graph->n_node == 10, "simplecnn.onnx decodes to 10 nodes");
    if (!m || !m->graph || m->graph->n_node != 10) return;
    Onnx__GraphProto *gp = m->graph;
    Onnx__TensorProto *w1 = init_named(m, "conv1.weight"), *w2 = init_named(m, "conv2.weight");
    CHECK(w1 && w2, "conv1.weight and conv2.weight are initializers");
    if (!w1 || !w2) return;

    /* float_data instead of raw_data: the same model */
    {
        fixture fx;
        eg_graph a, b;
        eg_error err = {0};
        CHECK(fx_load(&fx, "onnx/simplecnn") == 0, "fixture");
        CHECK(eg_onnx_import_buffer(&a, file, len, "raw", &err) == EG_OK, "raw: %s", err.msg);
        for (size_t k = 0; k < gp->n_initializer; k++) {
            Onnx__TensorProto *t = gp->initializer[k];
            t->n_float_data = t->raw_data.len / 4;
            t->float_data = (float *)t->raw_data.data;
            t->has_raw_data = 0;
        }
        eg_status st = import_model(m, &b, &err);
        CHECK(st == EG_OK, "float_data: %s", err.msg);
        if (!st) {
            CHECK(b.nparam == a.nparam && !memcmp(a.params, b.params, a.nparam * sizeof(float)),
                  "float_data and raw_data give the same parameters");
            double d = check_outputs("float_data", &b, &fx);
            printf("simplecnn   with float_data initializers: the same parameters bit for bit, outputs within %.2g\n", d);
            eg_graph_free(&b);
        }
        for (size_t k = 0; k < gp->n_initializer; k++) {
            Onnx__TensorProto *t = gp->initializer[k];
            t->n_float_data = 0, t->float_data = NULL, t->has_raw_data = 1;
        }
        eg_graph_free(&a);
        fx_free(&fx);
    }

    printf("crafted files, each refused:\n");
    w1->raw_data.len -= 4;
    expect_error("raw_data short", m, "node '/conv1/Conv'", "140 bytes of raw_data");
    w1->raw_data.len += 4;

    int64_t d0 = w1->dims[0];
    w1->dims[0] = (int64_t)1 << 40;
    expect_error("dims overflow", m, "/conv1/Conv", "dimension 0 is 1099511627776");
    w1->dims[0] = -4;
    expect_error("negative dim", m, "/conv1/Conv", "dimension 0 is -4");
    w1->dims[0] = d0;

    int64_t t1 = w2->dims[1];
    w2->dims[1] = 2;  /* 8x2x3x3 and half the bytes: a consistent tensor, but conv2's input has 4 channels */
    w2->raw_data.len /= 2;
    expect_error("weight vs input channels", m, "node '/conv2/Conv'", "8x2x3x3");
    w2->dims[1] = t1;
    w2->raw_data.len *= 2;

    int32_t dt = w1->data_type;
    w1->data_type = 11;
    expect_error("double weights", m, "/conv1/Conv", "data type 11");
    w1->data_type = dt;

    w1->has_data_location = 1, w1->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    expect_error("external data", m, "/conv1/Conv", "external file");
    w1->has_data_location = 0;

    char *op = gp->node[1]->op_type;
    gp->node[1]->op_type = "Softmax";
    expect_error("unknown op", m, "(#1, Softmax)", "not supported");
    gp->node[1]->op_type = "BatchNormalization";
    expect_error("batchnorm of 1 input", m, "(#1, BatchNormalization)", "expected 5 inputs");
    gp->node[1]->op_type = op;

    char *in = gp->node[3]->input[0];
    gp->node[3]->input[0] = "nowhere";
    expect_error("dangling input", m, "node '/conv2/Conv'", "'nowhere' is not the graph input");
    gp->node[3]->input[0] = in;

    Onnx__AttributeProto *dil = attr_named(gp->node[0], "dilations");
    CHECK(dil && dil->n_ints == 2, "conv1 has dilations");
    if (dil) {
        int64_t v = dil->ints[0];
        dil->ints[0] = 2;
        expect_error("dilation 2", m, "/conv1/Conv", "dilations[0] is 2");
        dil->ints[0] = v;
    }
    Onnx__AttributeProto *ks = attr_named(gp->node[2], "kernel_shape");
    CHECK(ks && ks->n_ints == 2, "pool1 has kernel_shape");
    if (ks) {
        int64_t v = ks->ints[0];
        ks->ints[0] = 30;  /* larger than the 28x28 input: the spec parser's error, blamed on the node */
        ks->ints[1] = 30;
        expect_error("kernel larger than input", m, "node '/MaxPool' (#2, MaxPool)", "kernel 30");
        ks->ints[0] = ks->ints[1] = v;
    }
    Onnx__AttributeProto *cm = attr_named(gp->node[2], "ceil_mode"), *pd = attr_named(gp->node[2], "pads");
    CHECK(cm && pd && pd->n_ints == 4, "pool1 has ceil_mode and pads");
    if (cm && pd && pd->n_ints == 4) {
        cm->i = 2;
        expect_error("ceil_mode 2", m, "node '/MaxPool' (#2, MaxPool)", "ceil_mode is 2; edagari supports 0 to 1");
        cm->i = 0;
        pd->ints[2] = 1;
        expect_error("pads not alike", m, "node '/MaxPool'", "pads 0, 0, 1, 0");
        pd->ints[0] = pd->ints[1] = pd->ints[2] = pd->ints[3] = 2;  /* over half the 2x2 kernel: the spec parser's error */
        expect_error("pads over half the kernel", m, "node '/MaxPool'", "pad at most half the kernel");
        pd->ints[0] = pd->ints[1] = pd->ints[2] = pd->ints[3] = 0;
    }
    char *oname = gp->output[0]->name;
    gp->output[0]->name = "/Relu_2_output_0";
    expect_error("output not the last node", m, "graph output", NULL);
    gp->output[0]->name = oname;
    char *pname = gp->node[2]->output[0];
    gp->node[2]->output[0] = gp->node[0]->output[0];
    expect_error("a name defined twice", m, "node '/MaxPool'", "already defined");
    gp->node[2]->output[0] = pname;
    onnx__model_proto__free_unpacked(m, NULL);
}

/* Bytes a ModelProto whose graph -> node -> attribute -> graph -> ... nest `depth` times. */
static uint8_t *nesting_bomb(int depth, size_t *len)
{
    size_t cap = (size_t)depth * 24 + 16, n = 0;
    uint8_t *b = malloc(cap), *t = malloc(cap);
    /* innermost: an empty GraphProto; wrap: NodeProto{attribute(5): AttributeProto{g(6): Graph}} inside Graph{node(1)} */
    for (int d = 0; d < depth; d++) {
        static const uint8_t tags[3] = {0x32 /* attr.g = 6 */, 0x2a /* node.attribute = 5 */, 0x0a /* graph.node = 1 */};
        for (int k = 0; k < 3; k++) {
            size_t m = 0;
            t[m++] = tags[k];
            size_t v = n;
            do {
                t[m++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
                v >>= 7;
            } while (v);
            memcpy(t + m, b, n);
            n += m;
            memcpy(b, t, n);
        }
    }
    /* ModelProto.graph = 7 */
    size_t m = 0;
    t[m++] = 0x3a;
    size_t v = n;
    do {
        t[m++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    memcpy(t + m, b, n);
    *len = n + m;
    free(b);
    return t;
}

static void hostile_bytes(const uint8_t *file, size_t len)
{
    eg_graph g;
    eg_error err = {0};
    size_t blen;
    uint8_t *bomb = nesting_bomb(20000, &blen);
    eg_status st = eg_onnx_import_buffer(&g, bomb, blen, "bomb.onnx", &err);
    CHECK(st != EG_OK && strstr(err.msg, "nested"), "20000-deep nesting: %s", err.msg);
    printf("  %-26s %s\n", "nested 20000 deep", err.msg);
    free(bomb);

    CHECK(eg_onnx_import_buffer(&g, file, 0, "empty.onnx", &err) != EG_OK && strstr(err.msg, "byte 0"), "empty: %s", err.msg);
    /* truncations: an error, or (cut between top-level fields) the whole model */
    int refused = 0, tried = 0;
    for (size_t cut = 1; cut < len; cut += len / 400 + 1, tried++) {
        st = eg_onnx_import_buffer(&g, file, cut, "cut.onnx", &err);
        if (st) {
            refused++;
            CHECK(strstr(err.msg, "cut.onnx") != NULL, "truncated at %zu: %s", cut, err.msg);
        } else {
            CHECK(g.nnodes == 11, "truncated at %zu: imported %d nodes", cut, g.nnodes);
            eg_graph_free(&g);
        }
    }
    printf("  truncated at %d offsets: %d refused, the rest cut between top-level fields\n", tried, refused);
    CHECK(refused > tried * 9 / 10, "only %d of %d truncations refused", refused, tried);
    /* random damage: never a crash (ASan watches); what imports runs */
    uint8_t *b = malloc(len);
    eg_rng r;
    eg_rng_seed(&r, 99);
    int ok = 0;
    float x[784] = {0};
    for (int trial = 0; trial < 1500; trial++) {
        memcpy(b, file, len);
        int flips = 1 + (int)eg_rng_below(&r, 4);
        for (int k = 0; k < flips; k++) {
            size_t at = eg_rng_below(&r, (uint32_t)len);
            /* most bytes are weights, where damage is harmless: aim at the structure too */
            if (trial % 2) at = eg_rng_below(&r, 600) % len;
            b[at] = (uint8_t)eg_rng_next(&r);
        }
        st = eg_onnx_import_buffer(&g, b, len, "damaged.onnx", &err);
        if (!st) {
            ok++;
            if (eg_shape_size(g.nodes[0].out_shape) <= 784 && eg_graph_prepare(&g, 1, 0, 1) == EG_OK)
                eg_graph_forward(&g, x, 1);
            eg_graph_free(&g);
        } else {
            CHECK(err.msg[0] && strstr(err.msg, "damaged.onnx"), "damaged file: message '%s'", err.msg);
        }
    }
    printf("  1500 randomly damaged files: %d still imported (damage in weights or names), the rest refused\n", ok);
    free(b);
}

/* export then import: the same spec and parameters, bit for bit */
static void round_trip(const char *spec, int prune)
{
    eg_graph a, b;
    eg_error err = {0};
    int from_file;
    eg_status st = eg_model_open(&a, spec, &from_file, &err);
    CHECK(st == EG_OK, "%s: %s", spec, err.msg);
    if (st) return;
    if (!from_file) {
        eg_rng r;
        eg_rng_seed(&r, 5);
        eg_graph_init_params(&a, &r);
    }
    if (prune == 1) {  /* channels: conv1 loses 2 of its filters */
        eg_dep_group grp;
        int keep[2] = {0, 3};
        CHECK(eg_depgroup_build(&a, 1, &grp, &err) == EG_OK && eg_surgery_keep(&a, &grp, keep, 2, &err) == EG_OK, "%s",
              err.msg);
    } else if (prune == 2) {  /* 90% of every weight masked */
        int nodes[8], n = 0;
        for (int i = 0; i < a.nnodes; i++)
            if (a.nodes[i].op == EG_OP_CONV2D || a.nodes[i].op == EG_OP_LINEAR) nodes[n++] = i;
        CHECK(eg_prune_magnitude(&a, nodes, n, 0.9, 1, &err) == EG_OK, "%s", err.msg);
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/eg_test_onnx_round_trip.%d.onnx", (int)getpid());
    CHECK(eg_onnx_export(&a, path, &err) == EG_OK, "export %s: %s", spec, err.msg);
    st = eg_onnx_import(&b, path, &err);
    CHECK(st == EG_OK, "import of the export of %s: %s", spec, err.msg);
    if (!st) {
        char sa[4096], sb[4096];
        eg_graph_write_spec(&a, sa, sizeof sa);
        eg_graph_write_spec(&b, sb, sizeof sb);
        CHECK(!strcmp(sa, sb), "%s: the spec changed:\n%s\n--\n%s", spec, sa, sb);
        CHECK(a.nparam == b.nparam && !memcmp(a.params, b.params, a.nparam * sizeof(float)),
              "%s: the parameters changed", spec);
        CHECK(a.nbuffer == b.nbuffer && (!a.nbuffer || !memcmp(a.buffers, b.buffers, a.nbuffer * sizeof(float))),
              "%s: the running statistics changed", spec);
        printf("%-28s export -> import: the same spec and %zu parameters bit for bit%s\n", spec, b.nparam,
               prune == 1 ? " (channel-pruned)" : prune == 2 ? " (90% masked)" : "");
        eg_graph_free(&b);
    }
    remove(path);
    eg_graph_free(&a);
}

int main(void)
{
    pytorch_case("simplecnn", 11, 26138);
    pytorch_case("lenet5", 13, 61706);
    pytorch_case("mlp_matmul", 5, 25450);
    pytorch_case("resbn", 11, 786);
    pytorch_case("sigmoid_cnn", 5, 2 * 9 + 2 + 1352 * 10 + 10);
    /* the reference architectures: MobileNetV1 (its BatchNorms folded by PyTorch) and ResNet-8 */
    pytorch_case("mobilenet_v1_vww", 58, 210850);
    pytorch_case("resnet8", 30, 78186);
    /* a MobileNet block: a depthwise Conv (group 8) as a dwconv2d */
    pytorch_case("dwconv_cnn", 13, 506);
    /* a padded AvgPool2d: torch 1.13 writes a Pad, then an AveragePool without pads */
    pytorch_case("avgpool_cnn", 9, 4 * 9 + 4 + 6 * 4 * 9 + 6 + 6 * 7 * 7 * 10 + 10);
    /* torch 1.13 writes F.relu6 as Relu then Clip(0, 6): relu, relu6 */
    pytorch_case("mobile_cnn", 9, 4 * 9 + 4 + 6 * 4 * 9 + 6 + 6 * 14 * 14 * 10 + 10);
    /* MaxPool2d with padding and ceil_mode: MaxPool's pads and ceil_mode */
    pytorch_case("maxpool_cnn", 9, 4 * 9 + 4 + 6 * 4 * 9 + 6 + 6 * 8 * 8 * 10 + 10);
    size_t len = 0;
    uint8_t *file = util_read_file("tests/fixtures/onnx/simplecnn.onnx", &len);
    CHECK(file && len > 1000, "read simplecnn.onnx");
    if (file) {
        crafted_cases(file, len);
        hostile_bytes(file, len);
    }
    free(file);
    round_trip("models/simplecnn", 0);
    round_trip("models/simplecnn", 1);
    round_trip("models/simplecnn", 2);
    round_trip("models/lenet5", 0);
    round_trip("models/lenet300100", 0);
    round_trip("tests/fixtures/onnx/lenet5.onnx", 0);
    round_trip("models/resnet_small", 0);
    round_trip("tests/fixtures/onnx/resbn.onnx", 0);  /* statistics and affine parameters far from 0 and 1 */
    return check_report("test_onnx_import");
}
#endif
