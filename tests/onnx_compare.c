/* Test helper (not a test itself): runs a model in edagari and an ONNX file
 * in onnxruntime on the same inputs and compares the outputs.
 *
 *   onnx_compare --available          exit 0 when edagari has ONNX, else 77
 *   onnx_compare MODEL ONNX ORT_DIR ORT_RUN_JS [--seed N] [--inputs FIXTURE] [--tol T] [--batch N]
 *
 * MODEL is a spec (initialised with --seed), a model file or an ONNX file;
 * the inputs are 8 (--batch) images drawn from a fixed generator (a quarter of each
 * exactly zero, as MNIST's background, the rest uniform in [-2, 2]), or the
 * tensor x of a fixture (tests/fixtures/NAME.txt). Passes when every output
 * is within T (default 1e-4) times max(1, |edagari's|) of onnxruntime's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "internal.h"

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--available")) return eg_onnx_available() ? 0 : 77;
    if (argc < 5) {
        fprintf(stderr, "usage: onnx_compare MODEL ONNX ORT_DIR ORT_RUN_JS [--seed N] [--inputs FIXTURE] [--tol T]\n");
        return 2;
    }
    const char *model = argv[1], *onnx = argv[2], *ort = argv[3], *js = argv[4], *fx_name = NULL;
    long seed = 0;
    double tol = 1e-4;
    int batch = 8;
    for (int i = 5; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seed")) seed = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--inputs")) fx_name = argv[i + 1];
        else if (!strcmp(argv[i], "--tol")) tol = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
    }
    eg_graph g;
    eg_error err = {0};
    int from_file;
    if (eg_model_open(&g, model, &from_file, &err)) {
        fprintf(stderr, "onnx_compare: %s\n", err.msg);
        return 1;
    }
    if (!from_file) {
        eg_rng r;
        eg_rng_seed(&r, (uint64_t)seed);
        eg_graph_init_params(&g, &r);
    }
    eg_shape in = g.nodes[0].out_shape;
    size_t per = eg_shape_size(in);
    int n = batch > 0 && batch <= 64 ? batch : 8;
    float *x = NULL;
    fixture fx = {0};
    if (fx_name) {
        if (fx_load(&fx, fx_name) || fx.n < 1 || strcmp(fx.t[0].name, "x") || fx.t[0].size % per) {
            fprintf(stderr, "onnx_compare: fixture %s: expected a first tensor x of whole images\n", fx_name);
            return 1;
        }
        n = (int)(fx.t[0].size / per);
        x = fx.t[0].v;
    } else {
        x = malloc((size_t)n * per * sizeof *x);
        eg_rng r;
        eg_rng_seed(&r, 12345);
        for (size_t k = 0; k < (size_t)n * per; k++) x[k] = (k % per) < per / 4 ? 0.0f : eg_rng_range(&r, -2, 2);
    }
    if (eg_graph_prepare(&g, n, 0, 1)) {
        fprintf(stderr, "onnx_compare: out of memory\n");
        return 1;
    }
    eg_graph_forward(&g, x, n);
    const eg_node *o = eg_graph_output(&g);
    const float *oy = eg_graph_y(&g);
    size_t outs = (size_t)n * eg_shape_size(o->out_shape);

    char inpath[] = "/tmp/onnx_compare_in.XXXXXX", outpath[] = "/tmp/onnx_compare_out.XXXXXX";
    int fi = mkstemp(inpath), fo = mkstemp(outpath);
    FILE *f = fi >= 0 ? fdopen(fi, "wb") : NULL;
    if (!f || fo < 0 || fwrite(x, sizeof *x, (size_t)n * per, f) != (size_t)n * per || fclose(f)) {
        fprintf(stderr, "onnx_compare: cannot write %s\n", inpath);
        return 1;
    }
    close(fo);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "node '%s' '%s' '%s' '%s' '%s' %d %d %d %d >/dev/null", js, ort, onnx, inpath, outpath, n, in.c, in.h,
             in.w);
    int rc = system(cmd);
    float *y = malloc(outs * sizeof *y + 1);
    f = fopen(outpath, "rb");
    size_t got = f ? fread(y, sizeof *y, outs + 1, f) : 0;
    if (f) fclose(f);
    remove(inpath), remove(outpath);
    if (rc) {
        fprintf(stderr, "onnx_compare: onnxruntime failed (%s)\n", cmd);
        return 1;
    }
    if (got != outs) {
        fprintf(stderr, "onnx_compare: onnxruntime gave %zu outputs, edagari %zu\n", got, outs);
        return 1;
    }
    double maxdiff = 0;
    size_t bad = 0;
    for (size_t k = 0; k < outs; k++) {
        double d = (double)y[k] - (double)oy[k], a = oy[k] < 0 ? -oy[k] : oy[k];
        d = d < 0 ? -d : d;
        if (!(d <= tol * (a > 1 ? a : 1))) {
            if (bad++ < 5) fprintf(stderr, "  output %zu: onnxruntime %.9g, edagari %.9g\n", k, y[k], oy[k]);
        }
        if (d > maxdiff || d != d) maxdiff = d;
    }
    printf("onnx_compare: %s vs %s in onnxruntime: %zu outputs of %d images, max |diff| %.3g (tolerance %g): %s\n", model,
           onnx, outs, n, maxdiff, tol, bad ? "DIFFER" : "equal");
    free(y);
    if (!fx_name) free(x);
    fx_free(&fx);
    eg_graph_free(&g);
    return bad ? 1 : 0;
}
