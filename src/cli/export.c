/* edagari export --format c|onnx --out NAME SPEC|M.edg: a model as C code for devices, or as ONNX. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dist/dist.h"
#include "internal.h"

static const char help[] =
    "usage: edagari export --format c --out NAME [--seed N] SPEC|M.edg|M.onnx\n"
    "       edagari export --format onnx --out M.onnx [--seed N] SPEC|M.edg|M.onnx\n"
    "\n"
    "Writes a model as C99 code for a device: NAME.h and NAME.c, with the parameters\n"
    "as const arrays (a masked layer in CSR when that is smaller) and\n"
    "  int NAME_infer(const float *input, float *output, float *scratch);\n"
    "for one image, which needs NAME_SCRATCH_FLOATS floats of scratch, no allocation\n"
    "and no C library. The same model gives the same bytes.\n"
    "With --format onnx it writes one ONNX file (opset 13, or 14 for a hardswish),\n"
    "masked weights stored as their zeros.\n"
    "  --format F    c (C99 source) or onnx\n"
    "  --out NAME    [folder/]NAME: writes NAME.h and NAME.c (both, or on failure\n"
    "                neither); NAME must be a C identifier\n"
    "  --seed N      a spec's parameters are initialised with this seed (default 0);\n"
    "                a model file (.edg) keeps its own\n";

static int exported(const eg_op_def *op) { return op->c.place != EG_C_NONE; }

/* The help, with the ops each format takes, from the op table. */
static void print_help(FILE *f)
{
    char onnx[512], c[512];
    eg_op_names(onnx, sizeof onnx, ", ", 1, NULL);
    eg_op_names(c, sizeof c, ", ", 0, exported);
    fprintf(f, "%s\nC export ops: %s\nONNX nodes written: %s\n", help, c, onnx);
}

static int usage_error(const char *fmt, const char *a)
{
    fprintf(stderr, "edagari export: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n");
    print_help(stderr);
    return 2;
}

int eg_cmd_export(int argc, char **argv)
{
    const char *format = NULL, *out = NULL, *model = NULL, *seed_arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(stdout);
            return 0;
        }
        const char **slot = !strcmp(a, "--format") ? &format : !strcmp(a, "--out") ? &out
                            : !strcmp(a, "--seed") ? &seed_arg : NULL;
        if (!slot) {
            if (a[0] == '-' || model) return usage_error("unexpected argument '%s'", a);
            model = a;
            continue;
        }
        if (*slot) return usage_error("%s given twice", a);
        if (i + 1 >= argc) return usage_error("%s needs a value", a);
        *slot = argv[++i];
        if (!**slot) return usage_error("%s: expected a value, found an empty string", a);
    }
    if (!model) return usage_error("%s", "no model given (a spec or a model file)");
    if (!format) return usage_error("%s", "no --format given (--format c or --format onnx)");
    if (strcmp(format, "c") && strcmp(format, "onnx"))
        return usage_error("--format: expected c or onnx, found '%s'", format);
    if (!out) return usage_error("%s", "no --out NAME given for the files it writes (NAME.h, NAME.c)");
    long seed = 0;
    if (seed_arg && eg_cli_int("--seed", seed_arg, 0, 0x7fffffffffffffffL, &seed)) {
        fputs(help, stderr);
        return 2;
    }
    int from_file = eg_model_path_is_file(model) || eg_onnx_path(model);
    if (from_file && seed_arg)
        return usage_error("--seed: %s is a model file, whose parameters are kept; --seed initialises a spec", model);

    eg_graph g;
    eg_error err = {0};
    if (eg_model_open(&g, model, &from_file, &err)) {
        fprintf(stderr, "edagari: error: %s\n", err.msg);
        return 1;
    }
    if (!from_file) {
        eg_rng rng;
        eg_rng_seed(&rng, (uint64_t)seed);
        eg_graph_init_params(&g, &rng);
    }
    if (!strcmp(format, "onnx")) return eg_cli_export_onnx(&g, model, out, from_file, seed);
    eg_c_export_size sz;
    if (eg_export_c_size(&g, &sz, &err) || (eg_dist_root() && eg_export_c(&g, out, &err))) {  /* under MPI, rank 0 writes */
        fprintf(stderr, "edagari: error: %s\n", err.msg);
        eg_graph_free(&g);
        return 1;
    }
    if (from_file)
        printf("edagari export: model %s from %s: %zu parameters\n", g.name, model, eg_graph_param_count(&g));
    else
        printf("edagari export: model %s: %zu parameters, initialised with seed %ld\n", model, eg_graph_param_count(&g),
               seed);
    printf("  %-8s %-9s %s\n", "layer", "op", "stored");
    for (int i = 0; i < g.nnodes; i++) {
        eg_c_layer l;
        eg_export_c_layer(&g.nodes[i], &l);
        if (!l.bytes) continue;
        if (l.csr)
            printf("  %-8s %-9s CSR, %zu of %zu weights, %d-bit indices: %zu bytes (dense %zu)\n", g.nodes[i].name,
                   eg_ops[g.nodes[i].op]->name, l.kept, g.nodes[i].psize[0], 8 * l.index_bytes, l.bytes, l.dense_bytes);
        else
            printf("  %-8s %-9s dense: %zu bytes\n", g.nodes[i].name, eg_ops[g.nodes[i].op]->name, l.bytes);
    }
    const char *name = strrchr(out, '/');
    name = name ? name + 1 : out;
    printf("flash %zu bytes of parameters; RAM %zu bytes of scratch (%zu floats: buffers of %zu + %zu", sz.flash_bytes,
           sz.ram_bytes, sz.scratch_floats, sz.buffer_a, sz.buffer_b);
    if (sz.buffer_rest) printf(" + %zu in more buffers", sz.buffer_rest);  /* a model with a residual add */
    printf(")\n");
    printf("wrote %s.h and %s.c: int %s_infer(const float *input, float *output, float *scratch)\n", out, out, name);
    eg_graph_free(&g);
    return 0;
}
