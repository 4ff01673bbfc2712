/* edagari sensitivity M.edg: how much each layer, pruned alone, costs in
 * test (or validation) accuracy at a range of ratios (eg_sensitivity_run); prints a table,
 * writes a JSON report and an SVG plot. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dist/dist.h"

#define MNIST_MEAN 0.1307f  /* a model file without a normalisation of its own */
#define MNIST_STD 0.3081f

static const char help[] =
    "usage: edagari sensitivity M.edg [--data DIR] [--method l1|l2|fpgm|random|bn_scale|magnitude]\n"
    "                           [--ratios 0.1,0.2,...] [--layers a,b,...] [--batch N] [--threads N]\n"
    "                           [--seed N] [--validation N] [--json FILE] [--svg FILE]\n"
    "\n"
    "Prunes each layer alone, at each ratio, on a fresh copy of the model, and\n"
    "evaluates it on the test set: which layers can lose how much. Each figure is\n"
    "what edagari prune (--layer NODE --amount RATIO, or --method magnitude --scope\n"
    "local --layers NODE --amount RATIO) followed by edagari eval would give.\n"
    "  --data DIR      folder with the t10k IDX files, raw or .gz (default data/mnist)\n"
    "  --method M      l1 (default), l2, fpgm or random: remove round(ratio x channels)\n"
    "                  channels with everything they feed; magnitude: zero that fraction\n"
    "                  of the layer's weights, the smallest first\n"
    "  --ratios LIST   increasing fractions in (0, 1) (default 0.1,0.2,...,0.9)\n"
    "  --layers LIST   the layers to analyse (default: every one the method can prune)\n"
    "  --batch N       evaluation batch size (default 1000)\n"
    "  --threads N     threads, at most one per core (default: OMP_NUM_THREADS or every core)\n"
    "  --seed N        seed for random (each prune draws as edagari prune --seed N)\n"
    "  --validation N  evaluate on N training images held out (chosen with the seed, as\n"
    "                  edagari prune --validation N does), not on the test set\n"
    "  --json FILE     write every figure as JSON (atomically)\n"
    "  --svg FILE      write a plot of accuracy against ratio, a line per layer (atomically)\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "edagari sensitivity: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", help);
    return 2;
}

/* A file we will write: its folder must exist and be writable, and it must
 * not be a folder; checked before the analysis runs. */
static int check_out(const char *what, const char *path)
{
    char dir[4096];
    struct stat sb;
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    const char *why = NULL;
    if ((slash && !slash[1]) || (!stat(path, &sb) && S_ISDIR(sb.st_mode))) why = "expected a file name, found a folder";
    else if (stat(dir, &sb)) why = strerror(errno);
    else if (!S_ISDIR(sb.st_mode)) why = "not a folder";
    else if (access(dir, W_OK)) why = strerror(errno);
    if (!why) return 0;
    fprintf(stderr, "edagari: error: %s %s: folder %s: %s\n", what, path, dir, why);
    return -1;
}

static void print_table(const eg_sensitivity *s)
{
    printf("\n%s accuracy (%%) with one layer pruned by %s; unpruned %.2f%%\n", s->set, s->method, s->dense_accuracy);
    printf("  %-12s %9s", "layer", s->magnitude ? "weights" : "channels");
    for (int r = 0; r < s->nratios; r++) printf(" %6g", s->ratios[r]);
    printf("\n");
    int any_skipped = 0;
    for (int l = 0; l < s->nlayers; l++) {
        printf("  %-12s %9ld", s->layers[l].name, s->layers[l].units);
        for (int r = 0; r < s->nratios; r++) {
            const eg_sens_cell *c = eg_sens_at(s, l, r);
            if (c->skipped) printf(" %6s", "-"), any_skipped = 1;
            else printf(" %6.2f", c->accuracy);
        }
        printf("\n");
    }
    if (!s->magnitude) {
        printf("channels removed (round(ratio x channels)):\n");
        for (int l = 0; l < s->nlayers; l++) {
            printf("  %-12s %9ld", s->layers[l].name, s->layers[l].units);
            for (int r = 0; r < s->nratios; r++) printf(" %6ld", eg_sens_at(s, l, r)->removed);
            printf("\n");
        }
    }
    if (any_skipped) printf("-: every channel would go (edagari prune refuses that too)\n");
}

int eg_cmd_sensitivity(int argc, char **argv)
{
    const char *model = NULL, *data = "data/mnist", *method = "l1", *ratios_text = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9";
    const char *layers = NULL, *json = NULL, *svg = NULL;
    long batch = 1000, threads = 0, seed = 0, validation = 0;
    static const char *const flags[] = {"--data", "--method", "--ratios", "--layers", "--batch", "--threads",
                                        "--seed", "--json", "--svg", "--validation"};
    enum { NF = sizeof flags / sizeof flags[0] };
    int given[NF] = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            return 0;
        }
        int f = 0;
        while (f < NF && strcmp(a, flags[f])) f++;
        if (f == NF) {
            if (a[0] == '-' || model) return usage_error("unexpected argument '%s'", a);
            model = a;
            continue;
        }
        if (given[f]) return usage_error("%s given twice", a);
        given[f] = 1;
        if (i + 1 >= argc) return usage_error("%s needs a value", a);
        const char *v = argv[++i];
        if (!*v) return usage_error("%s: expected a value, found an empty string", a);
        switch (f) {
        case 0: data = v; break;
        case 1: method = v; break;
        case 2: ratios_text = v; break;
        case 3: layers = v; break;
        case 4:
        case 5:
        case 6:
            if (eg_cli_int(a, v, f == 6 ? 0 : 1, f == 6 ? 0x7fffffffffffffffL : f == 4 ? 1000000 : 1024,
                           f == 4 ? &batch : f == 5 ? &threads : &seed)) {
                fputs(help, stderr);  /* eg_cli_int said what was wrong */
                return 2;
            }
            if (f == 5) threads = eg_cli_clamp_threads(threads);
            break;
        case 7: json = v; break;
        case 8: svg = v; break;
        default:
            if (eg_cli_int(a, v, 1, 1000000000L, &validation)) {
                fputs(help, stderr);
                return 2;
            }
        }
    }
    if (!model) return usage_error("no model file given");
    eg_error err = {0};
    double ratios[EG_SENS_MAX_RATIOS];
    int nratios;
    if (eg_sensitivity_parse_ratios(ratios_text, ratios, EG_SENS_MAX_RATIOS, &nratios, &err))
        return usage_error("--%s", err.msg);
    if (strcmp(method, "magnitude") && !eg_criterion_find(method))
        return usage_error("--method: expected one of %s (channels) or magnitude (weights), found '%s'", eg_criterion_names(),
                           method);
    if (!eg_model_path_is_file(model) && !eg_onnx_path(model)) {
        if (access(model, R_OK)) {
            fprintf(stderr, "edagari: error: %s: cannot open model file: %s\n", model, strerror(errno));
            return 1;
        }
        return usage_error("%s is a model spec, not a model file (.edg); train one first with edagari train --model %s", model,
                           model);
    }
    if (json && svg && !strcmp(json, svg)) return usage_error("--json and --svg name the same file, %s", json);
    if ((json && check_out("--json", json)) || (svg && check_out("--svg", svg))) return 1;

    eg_graph g;
    if (eg_model_load(&g, model, &err)) {
        fprintf(stderr, "edagari: error: %s\n", err.msg);
        return 1;
    }
    int *nodes = malloc((size_t)g.nnodes * sizeof *nodes), count;
    if (!nodes) {
        eg_graph_free(&g);
        fprintf(stderr, "edagari: error: out of memory\n");
        return 1;
    }
    eg_status st = eg_sensitivity_layers(&g, method, layers, nodes, &count, &err);
    free(nodes);
    if (st) {
        eg_graph_free(&g);
        return usage_error("%s", err.msg);
    }
    /* the test set, or the images --validation holds out of the training set */
    eg_dataset test = {0}, train = {0};
    if (validation ? eg_dataset_load_dir(&train, data, "train", 0, 1, &err) ||
                         eg_dataset_hold_out(&train, (int)(validation < train.n ? validation : train.n), (uint64_t)seed,
                                             &test, &err)
                   : eg_dataset_load_dir(&test, data, "t10k", 0, 1, &err)) {
        eg_graph_free(&g), eg_dataset_free(&train);
        fprintf(stderr, "edagari: error: %s\n", err.msg);
        return 1;
    }
    eg_dataset_free(&train);
    /* as the stage runner normalises a model file's inputs: its own normalisation, else MNIST's */
    if (test.c == g.nodes[0].out_shape.c) {
        float *norm = malloc(2 * (size_t)test.c * sizeof *norm);
        if (!norm) {
            eg_graph_free(&g), eg_dataset_free(&test);
            fprintf(stderr, "edagari: error: out of memory\n");
            return 1;
        }
        for (int k = 0; k < test.c; k++)
            norm[k] = g.norm_c ? g.norm[k] : MNIST_MEAN, norm[test.c + k] = g.norm_c ? g.norm[test.c + k] : MNIST_STD;
        eg_dataset_normalize(&test, norm, norm + test.c);
        free(norm);
    }
    printf("edagari sensitivity: model %s (%s, %zu parameters, %zu MACs per image), method %s, %d ratio%s\n", model, g.name,
           eg_graph_param_count(&g), eg_graph_macs(&g), method, nratios, nratios == 1 ? "" : "s");
    if (validation)
        printf("data %s: %d training images held out (chosen with seed %ld) of %dx%dx%d, for validation\n", data, test.n,
               seed, test.c, test.h, test.w);
    else
        printf("data %s: %d test images of %dx%dx%d\n", data, test.n, test.c, test.h, test.w);
    eg_sensitivity_opts o = {.method = method, .ratios = ratios, .nratios = nratios, .layers = layers,
                             .batch = (int)batch, .seed = (uint64_t)seed, .threads = (int)threads, .log = stdout,
                             .model_label = model, .data_label = data, .set = validation ? "validation" : "test"};
    eg_sensitivity s;
    st = eg_sensitivity_run(&g, &test, &o, &s, &err);
    eg_graph_free(&g);
    eg_dataset_free(&test);
    if (st) {
        fflush(stdout);
        fprintf(stderr, "edagari: error: %s\n", err.msg);
        return 1;
    }
    print_table(&s);
    printf("%d layer%s x %d ratio%s in %.2f s\n", s.nlayers, s.nlayers == 1 ? "" : "s", s.nratios,
           s.nratios == 1 ? "" : "s", s.seconds);
    if (!eg_dist_root()) json = svg = NULL;  /* under MPI, rank 0 writes */
    if (!st && json && !(st = eg_sensitivity_write_json(&s, json, &err))) printf("report written to %s\n", json);
    if (!st && svg && !(st = eg_sensitivity_write_svg(&s, svg, &err))) printf("plot written to %s\n", svg);
    eg_sensitivity_free(&s);
    if (st) {
        fflush(stdout);
        fprintf(stderr, "edagari: error: %s\n", err.msg);
        return 1;
    }
    return 0;
}
