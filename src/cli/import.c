/* edagari import M.onnx --out M.edg: an ONNX model (as PyTorch exports it) as a model file;
 * and the ONNX half of edagari export. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "internal.h"

static const char help[] =
    "usage: edagari import M.onnx --out M.edg\n"
    "\n"
    "Reads an ONNX model as torch.onnx.export writes it (the nodes below) and\n"
    "writes it as a model file, to prune, fine-tune, evaluate and export like any\n"
    "other. Nodes\n"
    "are named after their weights (PyTorch's module names: conv1.weight gives\n"
    "conv1). Every other command also reads a .onnx file where it takes a model.\n"
    "  --out M.edg   the model file to write (atomically)\n";

/* The help, with the ONNX nodes it reads, from the op table. */
static void print_help(FILE *f)
{
    char onnx[512];
    eg_op_names(onnx, sizeof onnx, ", ", 1, NULL);
    fprintf(f, "%s\nONNX nodes read: %s, Reshape (to a flatten), MatMul + Add (a bias), Identity, Constant\n", help,
            onnx);
}

static int usage_error(const char *fmt, const char *a)
{
    fprintf(stderr, "edagari import: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n");
    print_help(stderr);
    return 2;
}

int eg_cmd_import(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(stdout);
            return 0;
        }
        if (!strcmp(a, "--out")) {
            if (out) return usage_error("%s given twice", a);
            if (i + 1 >= argc || !*argv[i + 1]) return usage_error("%s needs a file name", a);
            out = argv[++i];
        } else if (a[0] == '-' || in) {
            return usage_error("unexpected argument '%s'", a);
        } else {
            in = a;
        }
    }
    if (!in) return usage_error("%s", "no ONNX file given");
    if (!out) return usage_error("%s", "no --out M.edg given");
    if (!eg_onnx_available()) {
        fprintf(stderr, "edagari: error: %s: this edagari was built without ONNX support; install protobuf-c-compiler, "
                        "libprotobuf-c-dev and libonnx-dev (./edagari.sh build does) and rebuild\n", in);
        return 1;
    }
    eg_graph g;
    eg_error err = {0};
    if (eg_onnx_import(&g, in, &err) || eg_model_save(&g, out, &err)) {
        fprintf(stderr, "edagari: error: %s\n", err.msg);
        eg_graph_free(&g);
        return 1;
    }
    printf("edagari import: %s: %d nodes, %zu parameters, %zu MACs per image\n", in, g.nnodes, eg_graph_param_count(&g),
           eg_graph_macs(&g));
    eg_graph_print(&g, stdout);
    printf("wrote %s\n", out);
    eg_graph_free(&g);
    return 0;
}

int eg_cli_export_onnx(eg_graph *g, const char *model, const char *out, int from_file, long seed)
{
    eg_error err = {0};
    if (!from_file) {
        eg_rng rng;
        eg_rng_seed(&rng, (uint64_t)seed);
        eg_graph_init_params(g, &rng);
    }
    if (eg_onnx_export(g, out, &err)) {
        fprintf(stderr, "edagari: error: %s\n", err.msg);
        eg_graph_free(g);
        return 1;
    }
    size_t nz = 0;
    for (int i = 0; i < g->nnodes; i++) nz += g->nodes[i].nparams ? eg_node_nonzeros(&g->nodes[i]) : 0;
    if (from_file)
        printf("edagari export: model %s from %s: %zu parameters (%zu non-zero weights)\n", g->name, model,
               eg_graph_param_count(g), nz);
    else
        printf("edagari export: model %s: %zu parameters, initialised with seed %ld\n", model, eg_graph_param_count(g), seed);
    printf("wrote %s: ONNX opset %d, input '%s' [batch, %d, %d, %d], output '%s'\n", out, eg_onnx_opset(g),
           g->nodes[0].name, g->nodes[0].out_shape.c, g->nodes[0].out_shape.h, g->nodes[0].out_shape.w,
           g->nodes[g->nnodes - 1].name);
    eg_graph_free(g);
    return 0;
}
