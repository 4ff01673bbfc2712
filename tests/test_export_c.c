/* The C export: for each model, the generated NAME.c compiled with
 * `cc -std=c99 -Wall -Wextra -Werror -pedantic -O2` (and stricter warnings,
 * and once more with AddressSanitizer and UBSan, the scratch given exactly
 * NAME_SCRATCH_FLOATS floats) computes what eg_graph_forward computes on the
 * same random images, within 1e-5; it uses no library function but memcpy
 * and memset; its arrays take exactly the flash eg_export_c_size reports;
 * the same model gives the same bytes. Models: SimpleCNN dense,
 * channel-pruned and 90% masked (CSR), LeNet-5 and LeNet-300-100 dense and
 * masked (8-, 16- and 32-bit CSR indices), and crafted chains: strides and
 * padding, kernels larger than the input, overlapping pools, a relu on the
 * input, a pool worked in place, a relu on the output, a fully masked
 * layer, no scratch at all, nothing to compute. Then the failures. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include "util.h"

#define CC_STRICT "cc -std=c99 -Wall -Wextra -Werror -pedantic"
#define CC_EXTRA "-Wconversion -Wsign-conversion -Wshadow -Wdouble-promotion -Wstrict-prototypes " \
                 "-Wmissing-prototypes -Wcast-qual -Wvla"
#define CC_SAN "-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all"
#define IMAGES 3

static char tmpdir[] = "/tmp/eg_export_c.XXXXXX";
static int have_nm, have_san;

static const char *at(const char *name) { return util_path(tmpdir, name); }

/* Runs cmd with its output in log; on failure prints the command and the log. */
static int run(const char *cmd, const char *log)
{
    char full[4096];
    snprintf(full, sizeof full, "%s >%s 2>&1", cmd, log);
    int st = system(full);
    if (st != 0) {
        fprintf(stderr, "command failed (status %d): %s\n", st, cmd);
        char show[1024];
        snprintf(show, sizeof show, "head -c 3000 %s >&2", log);
        if (system(show)) {}
    }
    return st;
}

static int same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = util_read_text(a, &la), *y = util_read_text(b, &lb);
    int same = x && y && la == lb && !memcmp(x, y, la);
    free(x), free(y);
    return same;
}

static int load(eg_graph *g, const char *spec_or_text, int is_text, uint64_t seed)
{
    eg_error err = {0};
    eg_status st = is_text ? eg_graph_parse_spec(g, spec_or_text, "crafted", &err)
                           : eg_graph_load_spec(g, spec_or_text, &err);
    if (st) {
        CHECK(0, "load %s: %s", is_text ? "crafted spec" : spec_or_text, err.msg);
        return -1;
    }
    eg_rng r;
    eg_rng_seed(&r, seed);
    eg_graph_init_params(g, &r);
    return 0;
}

/* The test main: includes NAME.c (so it can add up the sizes of its arrays),
 * reads images from a file, fills scratch and output with NaN before each
 * call, and prints the class and the scores. */
static void write_main(const char *path, const char *name, const eg_graph *g)
{
    char up[64];
    int k = 0;
    for (; name[k]; k++) up[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 32 : name[k]);
    up[k] = 0;
    FILE *f = fopen(path, "w");
    fprintf(f, "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include \"%s.c\"\n\n", name);
    fprintf(f, "int main(int argc, char **argv)\n{\n    unsigned long flash = 0;\n"
               "    long n, k;\n    int i, c;\n    float *in, *out, *scratch = NULL;\n    FILE *f;\n");
    for (int i = 0; i < g->nnodes; i++) {
        eg_c_layer l;
        eg_export_c_layer(&g->nodes[i], &l);
        const char *nm = g->nodes[i].name;
        if (!l.bytes) continue;
        if (!l.csr) fprintf(f, "    flash += sizeof %s_w;\n", nm);
        else if (l.kept) fprintf(f, "    flash += sizeof %s_rows + sizeof %s_cols + sizeof %s_vals;\n", nm, nm, nm);
        else fprintf(f, "    flash += sizeof %s_rows;\n", nm);
        fprintf(f, "    flash += sizeof %s_b;\n", nm);
    }
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_BATCHNORM2D)
            fprintf(f, "    flash += sizeof %s_mean + sizeof %s_inv + sizeof %s_gamma + sizeof %s_beta;\n", g->nodes[i].name,
                    g->nodes[i].name, g->nodes[i].name, g->nodes[i].name);
        else if (g->nodes[i].op == EG_OP_DWCONV2D)
            fprintf(f, "    flash += sizeof %s_w + sizeof %s_b;\n", g->nodes[i].name, g->nodes[i].name);
    fprintf(f, "    if (argc != 3 || !(f = fopen(argv[1], \"rb\"))) return 2;\n"
               "    n = atol(argv[2]);\n"
               "    printf(\"flash %%lu\\n\", flash);\n"
               "    in = malloc(sizeof(float) * %s_INPUT_SIZE);\n"
               "    out = malloc(sizeof(float) * %s_OUTPUT_SIZE);\n"
               "    if (%s_SCRATCH_FLOATS > 0) scratch = malloc(sizeof(float) * (%s_SCRATCH_FLOATS + 0));\n"
               "    for (k = 0; k < n; k++) {\n"
               "        if (fread(in, sizeof(float), %s_INPUT_SIZE, f) != %s_INPUT_SIZE) return 3;\n"
               "        if (scratch) memset(scratch, 0xff, sizeof(float) * (%s_SCRATCH_FLOATS + 0));\n"
               "        memset(out, 0xff, sizeof(float) * %s_OUTPUT_SIZE);\n"
               "        c = %s_infer(in, out, scratch);\n"
               "        printf(\"class %%d\\n\", c);\n"
               "        for (i = 0; i < %s_OUTPUT_SIZE; i++) printf(\"%%.9g\\n\", (double)out[i]);\n"
               "    }\n"
               "    free(in), free(out), free(scratch);\n"
               "    fclose(f);\n"
               "    return 0;\n}\n",
            up, up, up, up, up, up, up, up, name, up);
    fclose(f);
}

/* Reads the main's output: the flash figure, then per image its class and scores. */
static int read_output(const char *path, unsigned long *flash, int *cls, float *y, int n, int k)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int ok = fscanf(f, "flash %lu", flash) == 1;
    for (int i = 0; ok && i < n; i++) {
        ok = fscanf(f, " class %d", &cls[i]) == 1;
        for (int j = 0; ok && j < k; j++) {
            char tok[64];
            ok = fscanf(f, "%63s", tok) == 1;
            if (ok) y[(size_t)i * k + j] = strtof(tok, NULL);
        }
    }
    fclose(f);
    return ok ? 0 : -1;
}

static int first_max(const float *y, int k)
{
    int b = 0;
    for (int i = 1; i < k; i++)
        if (y[i] > y[b]) b = i;
    return b;
}

/* Exports g as <name>, compiles it and compares it with eg_graph_forward. */
static void check_model(const char *name, eg_graph *g)
{
    eg_error err = {0};
    eg_c_export_size sz;
    if (eg_export_c_size(g, &sz, &err)) {
        CHECK(0, "%s: size: %s", name, err.msg);
        return;
    }
    int nin = (int)sz.input_floats, nout = (int)sz.output_floats;
    CHECK(sz.input_floats == eg_shape_size(g->nodes[0].out_shape), "%s: input size %zu", name, sz.input_floats);
    CHECK(sz.output_floats == eg_shape_size(eg_graph_output(g)->out_shape), "%s: output size %zu", name, sz.output_floats);
    CHECK(sz.ram_bytes == 4 * sz.scratch_floats && sz.scratch_floats == sz.buffer_a + sz.buffer_b + sz.buffer_rest,
          "%s: ram %zu, scratch %zu = %zu + %zu + %zu", name, sz.ram_bytes, sz.scratch_floats, sz.buffer_a, sz.buffer_b,
          sz.buffer_rest);

    /* edagari's own forward on random images */
    float *x = malloc(sizeof(float) * (size_t)nin * IMAGES), *want = malloc(sizeof(float) * (size_t)nout * IMAGES);
    float *got = malloc(sizeof(float) * (size_t)nout * IMAGES);
    eg_rng r;
    eg_rng_seed(&r, 99);
    for (size_t i = 0; i < (size_t)nin * IMAGES; i++) x[i] = eg_rng_range(&r, -1.0f, 2.0f);
    CHECK(eg_graph_prepare(g, IMAGES, 0, 1) == EG_OK, "%s: prepare", name);
    eg_graph_forward(g, x, IMAGES);
    memcpy(want, eg_graph_y(g), sizeof(float) * (size_t)nout * IMAGES);

    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    mkdir(dir, 0700);
    char out[512], hpath[600], cpath[600], again[600], log[600], path[700];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    snprintf(hpath, sizeof hpath, "%s.h", out);
    snprintf(cpath, sizeof cpath, "%s.c", out);
    snprintf(log, sizeof log, "%s/log", dir);
    if (eg_export_c(g, out, &err)) {
        CHECK(0, "%s: export: %s", name, err.msg);
        goto done;
    }
    /* the same model, the same bytes */
    snprintf(again, sizeof again, "%s/again", dir);
    mkdir(again, 0700);
    snprintf(path, sizeof path, "%s/%s", again, name);
    CHECK(eg_export_c(g, path, &err) == EG_OK, "%s: export again: %s", name, err.msg);
    snprintf(path, sizeof path, "%s/%s.c", again, name);
    CHECK(same_file(cpath, path), "%s: a second export wrote a different %s.c", name, name);
    snprintf(path, sizeof path, "%s/%s.h", again, name);
    CHECK(same_file(hpath, path), "%s: a second export wrote a different %s.h", name, name);

    /* what the code includes and what it must not call */
    char *src = util_read_text(cpath, NULL), *hdr = util_read_text(hpath, NULL);
    if (src && hdr) {
        char self[80];
        snprintf(self, sizeof self, "#include \"%s.h\"", name);
        for (const char *p = src; (p = strstr(p, "#include")); p++)
            CHECK(!strncmp(p, self, strlen(self)) || !strncmp(p, "#include <stdint.h>", 19),
                  "%s: %s.c has %.40s", name, name, p);
        CHECK(!strstr(hdr, "#include"), "%s: %s.h includes something", name, name);
        CHECK(!strstr(src, "malloc") && !strstr(src, "printf") && !strstr(src, "static float") &&
                  !strstr(src, "double"),
              "%s: %s.c allocates, prints, keeps state or uses double", name, name);
        CHECK(!!strstr(src, "<stdint.h>") == (sz.csr_layers > 0), "%s: stdint.h only with CSR", name);
        char def[120];
        snprintf(def, sizeof def, "_SCRATCH_FLOATS %zu ", sz.scratch_floats);
        CHECK(strstr(hdr, def) != NULL, "%s: %s.h lacks '%s'", name, name, def);
        snprintf(def, sizeof def, "Flash: %zu bytes", sz.flash_bytes);
        CHECK(strstr(hdr, def) != NULL, "%s: %s.h lacks '%s'", name, name, def);
    }
    free(src), free(hdr);

    /* the images */
    snprintf(path, sizeof path, "%s/images.bin", dir);
    FILE *f = fopen(path, "wb");
    fwrite(x, sizeof(float), (size_t)nin * IMAGES, f);
    fclose(f);

    /* the model alone, with stricter warnings: no undefined symbol but memcpy/memset */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && " CC_STRICT " " CC_EXTRA " -O2 -c %s.c -o %s.o", dir, name, name);
    if (run(cmd, log)) CHECK(0, "%s: %s.c does not compile cleanly with %s %s", name, name, CC_STRICT, CC_EXTRA);
    else if (have_nm) {
        snprintf(cmd, sizeof cmd, "cd %s && nm -u %s.o", dir, name);
        snprintf(path, sizeof path, "%s/nm", dir);
        CHECK(run(cmd, path) == 0, "%s: nm failed", name);
        FILE *nm = fopen(path, "r");
        char line[256];
        while (nm && fgets(line, sizeof line, nm)) {
            char *sym = strrchr(line, ' ');
            sym = sym ? sym + 1 : line;
            sym[strcspn(sym, "\n")] = 0;
            CHECK(!strcmp(sym, "memcpy") || !strcmp(sym, "memset") || !strcmp(sym, "memmove"),
                  "%s: %s.o calls %s", name, name, sym);
        }
        if (nm) fclose(nm);
    }

    /* the main, plain and sanitized */
    snprintf(path, sizeof path, "%s/main.c", dir);
    eg_graph folded;  /* the model the code computes: batchnorms after a layer folded into it */
    if (eg_graph_clone(&folded, g, &err) || eg_graph_fold_batchnorm(&folded, NULL, &err)) {
        CHECK(0, "%s: folding a copy: %s", name, err.msg);
        return;
    }
    write_main(path, name, &folded);
    eg_graph_free(&folded);
    for (int san = 0; san <= have_san; san++) {
        const char *how = san ? "sanitized" : "-O2";
        snprintf(cmd, sizeof cmd, "cd %s && " CC_STRICT " %s main.c -o main%d -lm", dir, san ? CC_SAN : "-O2", san);
        if (run(cmd, log)) {
            CHECK(0, "%s: main.c with %s.c does not compile (%s)", name, name, how);
            continue;
        }
        snprintf(cmd, sizeof cmd, "cd %s && ./main%d images.bin %d", dir, san, IMAGES);
        snprintf(path, sizeof path, "%s/out%d", dir, san);
        if (run(cmd, path)) {
            CHECK(0, "%s: the generated code failed (%s)", name, how);
            continue;
        }
        unsigned long flash = 0;
        int cls[IMAGES];
        if (read_output(path, &flash, cls, got, IMAGES, nout)) {
            CHECK(0, "%s: cannot read the output of the generated code (%s)", name, how);
            continue;
        }
        CHECK(flash == sz.flash_bytes, "%s: the arrays take %lu bytes, eg_export_c_size says %zu", name, flash,
              sz.flash_bytes);
        char what[128];
        snprintf(what, sizeof what, "%s: %s_infer (%s) vs eg_graph_forward", name, name, how);
        check_close(what, got, want, (size_t)nout * IMAGES, 1e-5, 1e-5);
        for (int i = 0; i < IMAGES; i++)
            CHECK(cls[i] == first_max(got + (size_t)i * nout, nout), "%s: image %d: returned %d, largest score at %d",
                  name, i, cls[i], first_max(got + (size_t)i * nout, nout));
    }
done:
    free(x), free(want), free(got);
}

static int weighted(const eg_graph *g, int *nodes)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_CONV2D || g->nodes[i].op == EG_OP_LINEAR) nodes[n++] = i;
    return n;
}

static void layer(const eg_graph *g, const char *node, eg_c_layer *l)
{
    int i = eg_graph_find(g, node);
    memset(l, 0, sizeof *l);
    if (i < 0) CHECK(0, "no node %s", node);
    else eg_export_c_layer(&g->nodes[i], l);
}

static eg_c_export_size size_of(const eg_graph *g)
{
    eg_c_export_size s = {0};
    eg_error err = {0};
    CHECK(eg_export_c_size(g, &s, &err) == EG_OK, "size: %s", err.msg);
    return s;
}

static void test_simplecnn(void)
{
    eg_graph g;
    eg_error err = {0};
    eg_c_layer l;
    if (load(&g, "models/simplecnn", 0, 1)) return;
    eg_c_export_size s = size_of(&g);
    /* conv1 4x28x28 in A, pool1 4x14x14 in B (later tensors are smaller) */
    CHECK(s.scratch_floats == 3136 + 784 && s.buffer_a == 3136, "simplecnn: scratch %zu (A %zu)", s.scratch_floats,
          s.buffer_a);
    CHECK(s.flash_bytes == 26138 * 4 && s.csr_layers == 0 && s.layers == 4, "simplecnn: flash %zu", s.flash_bytes);
    check_model("simplecnn", &g);

    /* conv1 loses channels 1 and 2 (and conv2 their inputs); conv2 keeps 5 of 8 (and fc1 their blocks) */
    eg_dep_group grp;
    CHECK(!eg_depgroup_build(&g, eg_graph_find(&g, "conv1"), &grp, &err) && !eg_surgery_keep(&g, &grp, (int[]){0, 3}, 2, &err),
          "prune conv1: %s", err.msg);
    CHECK(!eg_depgroup_build(&g, eg_graph_find(&g, "conv2"), &grp, &err) &&
              !eg_surgery_keep(&g, &grp, (int[]){0, 2, 3, 5, 7}, 5, &err),
          "prune conv2: %s", err.msg);
    s = size_of(&g);
    /* 2x28x28 in A, 2x14x14 in B */
    CHECK(s.scratch_floats == 1568 + 392, "pruned simplecnn: scratch %zu", s.scratch_floats);
    CHECK(s.flash_bytes == eg_graph_param_count(&g) * 4, "pruned simplecnn: flash %zu for %zu parameters",
          s.flash_bytes, eg_graph_param_count(&g));
    check_model("pruned", &g);
    eg_graph_free(&g);

    /* 90% masked: fc1 in CSR with 16-bit indices */
    if (load(&g, "models/simplecnn", 0, 2)) return;
    int nodes[8], n = weighted(&g, nodes);
    CHECK(eg_prune_magnitude(&g, nodes, n, 0.9, 1, &err) == EG_OK, "magnitude: %s", err.msg);
    layer(&g, "fc1", &l);
    CHECK(l.csr && l.index_bytes == 2 && l.kept == eg_node_nonzeros(&g.nodes[eg_graph_find(&g, "fc1")]) &&
              l.bytes == l.kept * 6 + 65 * 2 + 64 * 4,
          "masked fc1: csr %d, %d-byte indices, %zu kept, %zu bytes", l.csr, l.index_bytes, l.kept, l.bytes);
    s = size_of(&g);
    CHECK(s.flash_bytes < s.dense_bytes / 4 && s.csr_layers >= 2, "masked simplecnn: flash %zu of %zu dense, %d CSR",
          s.flash_bytes, s.dense_bytes, s.csr_layers);
    check_model("masked", &g);
    /* through a model file: the same code */
    CHECK(eg_model_save(&g, at("masked.edg"), &err) == EG_OK, "save: %s", err.msg);
    eg_graph h;
    if (eg_model_load(&h, at("masked.edg"), &err) == EG_OK) {
        mkdir(at("fromfile"), 0700);
        CHECK(eg_export_c(&h, at("fromfile/masked"), &err) == EG_OK, "export the loaded model: %s", err.msg);
        CHECK(same_file(at("fromfile/masked.c"), at("masked/masked.c")) &&
                  same_file(at("fromfile/masked.h"), at("masked/masked.h")),
              "the model loaded from a file exports differently");
        eg_graph_free(&h);
    } else {
        CHECK(0, "load: %s", err.msg);
    }
    eg_graph_free(&g);

    /* lightly masked layers stay dense: CSR would be larger */
    if (load(&g, "models/simplecnn", 0, 3)) return;
    n = weighted(&g, nodes);
    CHECK(eg_prune_magnitude(&g, nodes, n, 0.2, 0, &err) == EG_OK, "magnitude 0.2: %s", err.msg);
    s = size_of(&g);
    CHECK(s.csr_layers == 0 && s.flash_bytes == s.dense_bytes, "20%% masked: %d CSR layers", s.csr_layers);
    eg_graph_free(&g);
}

static void test_lenets(void)
{
    eg_graph g;
    eg_error err = {0};
    eg_c_layer l;
    int nodes[8], n;
    /* LeNet-5: c1 6x28x28 in A, pool1 6x14x14 in B; 61,706 parameters */
    if (load(&g, "models/lenet5", 0, 4)) return;
    eg_c_export_size s = size_of(&g);
    CHECK(s.scratch_floats == 4704 + 1176 && s.flash_bytes == 61706 * 4, "lenet5: scratch %zu, flash %zu",
          s.scratch_floats, s.flash_bytes);
    check_model("lenet5", &g);
    /* every layer 90% masked alone: c1 and c2 in CSR with 8-bit indices */
    n = weighted(&g, nodes);
    CHECK(eg_prune_magnitude(&g, nodes, n, 0.9, 0, &err) == EG_OK, "magnitude: %s", err.msg);
    layer(&g, "c1", &l);
    CHECK(l.csr && l.index_bytes == 1 && l.kept == 15, "lenet5 c1: csr %d, %d-byte indices, %zu kept", l.csr,
          l.index_bytes, l.kept);
    layer(&g, "c2", &l);
    CHECK(l.csr && l.index_bytes == 1 && l.kept == 240, "lenet5 c2: csr %d, %d-byte indices, %zu kept", l.csr,
          l.index_bytes, l.kept);
    check_model("lenet5_masked", &g);
    eg_graph_free(&g);

    /* LeNet-300-100: fc1 300 in A, fc2 100 in B */
    if (load(&g, "models/lenet300100", 0, 5)) return;
    s = size_of(&g);
    CHECK(s.scratch_floats == 400 && s.flash_bytes == 266610 * 4, "lenet300100: scratch %zu, flash %zu",
          s.scratch_floats, s.flash_bytes);
    check_model("lenet300100", &g);
    /* 70% of each layer: fc1 keeps 70,560 weights, past 16-bit indices */
    n = weighted(&g, nodes);
    CHECK(eg_prune_magnitude(&g, nodes, n, 0.7, 0, &err) == EG_OK, "magnitude: %s", err.msg);
    layer(&g, "fc1", &l);
    CHECK(l.csr && l.index_bytes == 4 && l.kept == 70560 && l.bytes == 70560 * 8 + 301 * 4 + 300 * 4,
          "lenet300100 fc1: csr %d, %d-byte indices, %zu kept, %zu bytes", l.csr, l.index_bytes, l.kept, l.bytes);
    layer(&g, "fc2", &l);
    CHECK(l.csr && l.index_bytes == 2 && l.kept == 9000, "lenet300100 fc2: csr %d, %d-byte indices, %zu kept", l.csr,
          l.index_bytes, l.kept);
    check_model("lenet300100_masked", &g);
    eg_graph_free(&g);
}

static void test_crafted(void)
{
    eg_graph g;
    eg_error err = {0};
    int nodes[8], n;
    /* strides and padding; a relu reading the input (a copy into A) */
    static const char strided[] =
        "input     x   shape=3x11x9\n"
        "relu      r0\n"
        "conv2d    c1  out=5 kernel=3 stride=2 pad=1\n"   /* 5x6x5 */
        "relu      r1\n"
        "conv2d    c2  out=4 kernel=4 stride=3 pad=2\n"   /* 4x3x2 */
        "maxpool2d p1  kernel=2 stride=1\n"               /* 4x2x1 */
        "flatten   f\n"
        "linear    fc  out=7\n";
    if (!load(&g, strided, 1, 6)) {
        eg_c_export_size s = size_of(&g);
        /* r0 3x11x9 in A, c1 5x6x5 in B */
        CHECK(s.buffer_a == 297 && s.buffer_b == 150, "strided: A %zu, B %zu", s.buffer_a, s.buffer_b);
        check_model("strided", &g);
        n = weighted(&g, nodes);
        CHECK(eg_prune_magnitude(&g, nodes, n, 0.6, 0, &err) == EG_OK, "magnitude: %s", err.msg);
        eg_c_layer l;
        layer(&g, "c1", &l);
        CHECK(l.csr && l.kept == 54, "strided c1: csr %d, %zu kept", l.csr, l.kept);
        check_model("strided_masked", &g);
        eg_graph_free(&g);
    }
    /* a 5x5 kernel over a 5x4 input with padding 3 (taps that reach no
     * output), overlapping 3x3 pools with stride 2, a relu on the output */
    static const char wide[] =
        "input     x    shape=2x5x4\n"
        "conv2d    c1   out=3 kernel=5 pad=3\n"            /* 3x7x6 */
        "maxpool2d p1   kernel=3 stride=2\n"               /* 3x3x2 */
        "conv2d    c2   out=2 kernel=3 stride=2 pad=2\n"   /* 2x3x2 */
        "flatten   f\n"
        "linear    fc1  out=6\n"
        "relu      r1\n"
        "linear    fc2  out=3\n"
        "relu      r2\n";
    if (!load(&g, wide, 1, 7)) {
        check_model("wide", &g);
        n = weighted(&g, nodes);
        CHECK(eg_prune_magnitude(&g, nodes, n, 0.75, 1, &err) == EG_OK, "magnitude: %s", err.msg);
        check_model("wide_masked", &g);
        eg_graph_free(&g);
    }
    /* a pool in place: with it in B, c3 goes to A, which c1 already made large */
    static const char inplace[] =
        "input     x   shape=1x8x8\n"
        "conv2d    c1  out=8 kernel=3 pad=1\n"    /* 512 */
        "conv2d    c2  out=1 kernel=3 pad=1\n"    /* 64 */
        "maxpool2d p   kernel=2\n"                /* 16, in place in B */
        "conv2d    c3  out=16 kernel=3 pad=1\n"   /* 256 */
        "flatten   f\n"
        "linear    fc  out=10\n";
    if (!load(&g, inplace, 1, 8)) {
        eg_c_export_size s = size_of(&g);
        CHECK(s.buffer_a == 512 && s.buffer_b == 64, "in place: A %zu, B %zu (alternating: 512 + 256)", s.buffer_a,
              s.buffer_b);
        check_model("inplace", &g);
        char *h = util_read_text(at("inplace/inplace.h"), NULL);
        CHECK(h && strstr(h, "B, in place"), "in place: the layer table does not show the pool in place");
        free(h);
        eg_graph_free(&g);
    }
    /* sigmoid, in place, with the exported code's own e^x: the outputs match
     * edagari's as every model's do (check_model's tolerance) */
    static const char sigmoid[] =
        "input     x  shape=2x6x6\n"
        "conv2d    c  out=4 kernel=3 pad=1\n"
        "sigmoid   s\n"
        "maxpool2d p  kernel=2\n"
        "flatten   f\n"
        "linear    l  out=6\n"
        "sigmoid   t\n";
    if (!load(&g, sigmoid, 1, 12)) {
        check_model("sigmoid", &g);
        char *c = util_read_text(at("sigmoid/sigmoid.c"), NULL);
        CHECK(c && strstr(c, "sigmoid(buf_a, buf_a, 144);") && strstr(c, "static inline float sigmoid_exp(float x)"),
              "sigmoid: no in-place sigmoid call or no e^x of its own in sigmoid.c");
        free(c);
        eg_graph_free(&g);
    }
    /* hardswish and relu6, in place; the convs' weights scaled up so that
     * their outputs reach every piece of both (below -3, above 6) */
    static const char mobile[] =
        "input     x  shape=2x6x6\n"
        "conv2d    c  out=4 kernel=3 pad=1\n"
        "hardswish h\n"
        "conv2d    d  out=4 kernel=3 pad=1\n"
        "relu6     r\n"
        "flatten   f\n"
        "linear    l  out=5\n";
    if (!load(&g, mobile, 1, 13)) {
        for (int i = 1; i <= 3; i += 2)
            for (size_t k = 0; k < g.nodes[i].psize[0]; k++) g.nodes[i].param[0][k] *= 16;
        check_model("mobile", &g);
        char *c = util_read_text(at("mobile/mobile.c"), NULL);
        CHECK(c && strstr(c, "hardswish(buf_a, buf_a, 144);") && strstr(c, "relu6(buf_b, buf_b, 144);"),
              "mobile: no in-place hardswish or relu6 call in mobile.c");
        free(c);
        eg_graph_free(&g);
    }
    /* depthwise convs, strided and padded, then not */
    static const char dw[] =
        "input     x  shape=2x9x9\n"
        "conv2d    c  out=4 kernel=3 pad=1\n"
        "dwconv2d  d  kernel=3 stride=2 pad=1\n"  /* 4x5x5 */
        "relu      r\n"
        "dwconv2d  e  kernel=2\n"                 /* 4x4x4 */
        "flatten   f\n"
        "linear    l  out=3\n";
    if (!load(&g, dw, 1, 15)) {
        check_model("dwconv", &g);
        char *c = util_read_text(at("dwconv/dwconv.c"), NULL);
        CHECK(c && strstr(c, "d_w, d_b, 4, 9, 9, 5, 5, 3, 2, 1);") && strstr(c, "e_w, e_b, 4, 5, 5, 4, 4, 2, 1, 0);"),
              "dwconv: no dwconv2d calls with the shapes, kernels, strides and pads in dwconv.c");
        free(c);
        eg_graph_free(&g);
    }
    /* average pools, padded (the padding counted in the mean) and not */
    static const char avg[] =
        "input     x  shape=2x9x9\n"
        "conv2d    c  out=4 kernel=3 pad=1\n"
        "avgpool2d p  kernel=3 stride=2 pad=1\n"   /* 4x5x5 */
        "relu      r\n"
        "avgpool2d q  kernel=2\n"                  /* 4x2x2 */
        "flatten   f\n"
        "linear    l  out=3\n";
    if (!load(&g, avg, 1, 14)) {
        check_model("avgpool", &g);
        char *c = util_read_text(at("avgpool/avgpool.c"), NULL);
        CHECK(c && strstr(c, "4, 9, 9, 5, 5, 3, 2, 1);") && strstr(c, "4, 5, 5, 2, 2, 2, 2, 0);"),
              "avgpool: no avgpool2d calls with the shapes, kernels, strides and pads in avgpool.c");
        free(c);
        eg_graph_free(&g);
    }
    /* max pools padded (never placed over their input), one in ceil mode; the
     * 2x2 one on even planes is neither fused with its conv nor the 2x2 kernel
     * (folding the relu after it) */
    static const char maxpad[] =
        "input     x  shape=2x10x10\n"
        "conv2d    c  out=4 kernel=3 pad=1\n"
        "maxpool2d p  kernel=2 pad=1\n"                   /* 4x6x6 */
        "relu      r\n"
        "maxpool2d q  kernel=3 stride=2 pad=1 ceil=1\n"   /* 4x4x4, floor: 4x3x3 */
        "flatten   f\n"
        "linear    l  out=3\n";
    if (!load(&g, maxpad, 1, 15)) {
        check_model("maxpad", &g);
        char *c = util_read_text(at("maxpad/maxpad.c"), NULL);
        CHECK(c && strstr(c, "4, 10, 10, 6, 6, 2, 2, 1);") && strstr(c, "4, 6, 6, 4, 4, 3, 2, 1);"),
              "maxpad: no maxpool2d calls with the shapes, kernels, strides and pads in maxpad.c");
        free(c);
        eg_graph_free(&g);
    }
    /* a pool as the last op writes the output; the relu after it works there */
    static const char lastpool[] =
        "input     x  shape=2x6x6\n"
        "conv2d    c  out=3 kernel=3\n"   /* 3x4x4 */
        "maxpool2d p  kernel=4\n"         /* 3x1x1 */
        "flatten   f\n"
        "relu      r\n";
    if (!load(&g, lastpool, 1, 9)) {
        eg_c_export_size s = size_of(&g);
        CHECK(s.buffer_a == 48 && s.buffer_b == 0, "last pool: A %zu, B %zu", s.buffer_a, s.buffer_b);
        check_model("lastpool", &g);
        eg_graph_free(&g);
    }
    /* one layer: no scratch at all */
    static const char one[] = "input x shape=4x1x1\nlinear fc out=3\n";
    if (!load(&g, one, 1, 10)) {
        eg_c_export_size s = size_of(&g);
        CHECK(s.scratch_floats == 0, "one layer: scratch %zu", s.scratch_floats);
        /* text that would break a C comment goes into the header's comment harmlessly */
        snprintf(g.name, sizeof g.name, "a*/b/*c?\?/");
        g.history = strdup("init from spec x*/y /* z ?\?/\n\xc3\xa9t\xc3\xa9 \t ok*\n");
        check_model("one", &g);
        char *h = util_read_text(at("one/one.h"), NULL);
        CHECK(h && strstr(h, "the model a* /b/ *c? ?/ as C99") && strstr(h, " *   init from spec x* /y / * z ? ?/\n"),
              "one: the model's name and history are not in the header as expected");
        free(h);
        eg_graph_free(&g);
    }
    /* nothing to compute: the output is a copy of the input */
    static const char none[] = "input x shape=5x1x1\nflatten f\n";
    if (!load(&g, none, 1, 11)) {
        check_model("none", &g);
        eg_graph_free(&g);
    }
    /* a fully masked layer: CSR with row offsets only, its output is its bias */
    static const char two[] = "input x shape=4x1x1\nlinear a out=5\nrelu r\nlinear b out=3\n";
    if (!load(&g, two, 1, 12)) {
        CHECK(eg_graph_enable_masks(&g, &err) == EG_OK, "masks: %s", err.msg);
        eg_node *a = &g.nodes[eg_graph_find(&g, "a")];
        for (size_t k = 0; k < a->psize[0]; k++) a->param[0][k] = a->mask[0][k] = 0;
        eg_c_layer l;
        eg_export_c_layer(a, &l);
        CHECK(l.csr && l.kept == 0 && l.bytes == 6 + 20, "fully masked: csr %d, %zu kept, %zu bytes", l.csr, l.kept,
              l.bytes);
        check_model("allmasked", &g);
        eg_graph_free(&g);
    }
}

/* Batchnorms that matter: scales, shifts and running statistics away from 1 and 0. */
static void random_bn(eg_graph *g, uint64_t seed)
{
    eg_rng r;
    eg_rng_seed(&r, seed);
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *nd = &g->nodes[i];
        if (nd->op != EG_OP_BATCHNORM2D) continue;
        for (size_t k = 0; k < nd->psize[0]; k++) {
            nd->param[0][k] = eg_rng_range(&r, 0.5f, 1.5f), nd->param[1][k] = eg_rng_range(&r, -0.5f, 0.5f);
            nd->buffer[0][k] = eg_rng_range(&r, -0.3f, 0.3f), nd->buffer[1][k] = eg_rng_range(&r, 0.5f, 2.0f);
        }
    }
}

/* Residual models: batchnorm2d, add and gap; tensors kept for a later add. */
static void test_residual(void)
{
    eg_graph g;
    eg_error err = {0};
    if (!load(&g, "models/resnet_small", 0, 13)) {
        random_bn(&g, 14);
        eg_c_export_size s = size_of(&g);
        /* conv0 8x28x28 in A; pool0 8x14x14 kept in B for res1 while conv1a, conv1b use A and C */
        CHECK(s.buffer_a == 6272 && s.buffer_b == 1568 && s.buffer_rest == 1568, "resnet_small: A %zu, B %zu, rest %zu",
              s.buffer_a, s.buffer_b, s.buffer_rest);
        check_model("resnet", &g);
        char *h = util_read_text(at("resnet/resnet.h"), NULL);
        CHECK(h && strstr(h, "res1     add       8x14x14   8x14x14   C + B -> C") &&
                  strstr(h, "gap      gap       16x7x7    16        C -> A"),
              "resnet: the layer table does not show the add in place and gap");
        CHECK(h && strstr(h, "for the C export: 6 batchnorms folded into the layers before"),
              "resnet: the header's history does not say the batchnorms were folded");
        free(h);
        char *c = util_read_text(at("resnet/resnet.c"), NULL);
        CHECK(c && !strstr(c, "batchnorm2d("), "resnet: a batchnorm left in resnet.c, every one follows a conv");
        free(c);
        /* pruned: the coupled group and an inner conv */
        const char *roots[2] = {"conv0", "conv3a"};
        for (int k = 0; k < 2; k++) {
            eg_dep_group grp;
            int keep[16], nkeep = 0;
            CHECK(eg_depgroup_build(&g, eg_graph_find(&g, roots[k]), &grp, &err) == EG_OK, "%s", err.msg);
            for (int c = 1; c < grp.channels; c += 2) keep[nkeep++] = c;
            CHECK(eg_surgery_keep(&g, &grp, keep, nkeep, &err) == EG_OK, "surgery: %s", err.msg);
        }
        check_model("resnet_pruned", &g);
        eg_graph_free(&g);
    }
    /* an add of the input (never written in place) and of a tensor two more
     * nodes read (so the add needs a buffer of its own); batchnorm and relu
     * reading a tensor something else reads too */
    static const char shared[] =
        "input       x   shape=2x5x5\n"
        "conv2d      c   out=2 kernel=3 pad=1\n"
        "add         s   in=c,x\n"
        "batchnorm2d b   in=c\n"
        "relu        r   in=c\n"
        "add         t   in=b,r\n"
        "add         u   in=t,s\n"
        "gap         g\n"
        "linear      fc  out=3\n";
    if (!load(&g, shared, 1, 15)) {
        random_bn(&g, 16);
        check_model("shared", &g);
        char *h = util_read_text(at("shared/shared.h"), NULL);
        CHECK(h && strstr(h, "s        add       2x5x5     2x5x5     A + input -> B") &&
                  strstr(h, "b        batchnorm2d 2x5x5     2x5x5     A -> C") && strstr(h, "t        add       2x5x5     2x5x5     C + D -> C"),
              "shared: the layer table does not show the adds and batchnorm as planned");
        free(h);
        eg_graph_free(&g);
    }
    /* a chain with batchnorm and gap, no add: the two-buffer plan */
    static const char chain[] =
        "input       x   shape=1x6x6\n"
        "batchnorm2d b0\n"
        "conv2d      c   out=3 kernel=3\n"
        "batchnorm2d b1\n"
        "relu        r\n"
        "gap         g\n"
        "linear      fc  out=4\n";
    if (!load(&g, chain, 1, 17)) {
        random_bn(&g, 18);
        eg_c_export_size s = size_of(&g);
        CHECK(s.buffer_rest == 0 && s.buffer_a == 36 && s.buffer_b == 48, "bn chain: A %zu, B %zu, rest %zu", s.buffer_a,
              s.buffer_b, s.buffer_rest);
        check_model("bnchain", &g);
        /* b0 reads the input and stays; b1 folds into c */
        char *c = util_read_text(at("bnchain/bnchain.c"), NULL);
        const char *b = c ? strstr(c, "    batchnorm2d(") : NULL;
        CHECK(b && !strstr(b + 1, "    batchnorm2d("), "bn chain: not one batchnorm2d call left in bnchain.c");
        free(c);
        /* a running variance the code cannot hold */
        g.nodes[1].buffer[1][0] = -1;
        eg_status st = eg_export_c(&g, at("bnchain/bad"), &err);
        CHECK(st == EG_ERR_ARG && strstr(err.msg, "b0's channel 0") && strstr(err.msg, "variance -1"), "negative variance: %s",
              st ? err.msg : "exported");
        eg_graph_free(&g);
    }
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static void test_failures(void)
{
    eg_graph g;
    eg_error err = {0};
    if (load(&g, "models/simplecnn", 0, 1)) return;
    mkdir(at("fail"), 0700);
    static const char *const bad_names[] = {"1net", "my-net", "", "net.c", "_net"};
    for (int i = 0; i < 5; i++) {
        char out[600];
        snprintf(out, sizeof out, "%s/%s", at("fail"), bad_names[i]);
        eg_status st = eg_export_c(&g, out, &err);
        CHECK(st == EG_ERR_ARG && strstr(err.msg, "must be a C identifier"), "name '%s': status %d, %s", bad_names[i],
              st, err.msg);
    }
    eg_status st = eg_export_c(&g, at("nowhere/net"), &err);
    CHECK(st == EG_ERR_IO && strstr(err.msg, "does not exist"), "missing folder: status %d, %s", st, err.msg);
    g.nodes[eg_graph_find(&g, "fc1")].param[1][3] = NAN;
    st = eg_export_c(&g, at("fail/net"), &err);
    CHECK(st == EG_ERR_NUMERIC && strstr(err.msg, "fc1's bias [3 of 64] is nan"), "a NaN bias: status %d, %s", st, err.msg);
    CHECK(count_files(at("fail")) == 0, "failed exports left %d files", count_files(at("fail")));
    /* a file in the way of the temporary file: neither file is written, nothing is left */
    g.nodes[eg_graph_find(&g, "fc1")].param[1][3] = 0;
    char blocker[600];
    snprintf(blocker, sizeof blocker, "%s/net.c.tmp.%ld", at("fail"), (long)getpid());
    mkdir(blocker, 0700);
    st = eg_export_c(&g, at("fail/net"), &err);
    CHECK(st == EG_ERR_IO, "a blocked temporary file: status %d, %s", st, err.msg);
    rmdir(blocker);
    CHECK(count_files(at("fail")) == 0, "a failed export left %d files", count_files(at("fail")));
    eg_graph_free(&g);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (system("command -v cc >/dev/null 2>&1")) {
        fprintf(stderr, "test_export_c: FAILED: no C compiler 'cc' on the PATH; it compiles the generated code\n");
        return 1;
    }
    have_nm = system("command -v nm >/dev/null 2>&1") == 0;
    if (!have_nm) fprintf(stderr, "test_export_c: no 'nm': the check for library calls is skipped\n");
    /* a sanitized build of the generated code, when the compiler has the runtimes */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd %s && printf 'int main(void) { return 0; }\\n' >san.c && cc " CC_SAN " san.c -o san && ./san",
             tmpdir);
    have_san = run(cmd, at("san.log")) == 0;
    if (!have_san) fprintf(stderr, "test_export_c: cc cannot build with sanitizers here: that run is skipped\n");
    remove(at("san.c")), remove(at("san")), remove(at("san.log"));
    eg_set_threads(1);

    test_simplecnn();
    test_lenets();
    test_crafted();
    test_residual();
    test_failures();

    if (!check_failures) {
        util_remove_tree(tmpdir);
    } else {
        fprintf(stderr, "files kept in %s\n", tmpdir);
    }
    return check_report("export_c");
}
