/* The flags of the one-stage commands (train, finetune, prune, eval), parsed
 * in one place. Stage options become the key=value pairs of a recipe stage
 * line (--weight-decay 0.01 is weight_decay=0.01), which the recipe parser
 * checks as it checks a recipe's; the runner then runs that one stage. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "internal.h"
#include "stages.h"

typedef struct {
    const char *flag;
    unsigned group;     /* EG_SF_* */
    const char *key;    /* the recipe key it sets, or NULL */
    int has_value;
} flag_def;

static const flag_def flag_defs[] = {
    {"--model", EG_SF_MODEL, NULL, 1},
    {"--data", EG_SF_DATA, NULL, 1},
    {"--out", EG_SF_OUT, NULL, 1},
    {"--json", EG_SF_JSON, NULL, 1},
    {"--seed", EG_SF_SEED, NULL, 1},
    {"--threads", EG_SF_THREADS, NULL, 1},
    {"--no-progress", EG_SF_PROGRESS, NULL, 0},
    {"--epochs", EG_SF_TRAIN, "epochs", 1},
    {"--optimizer", EG_SF_TRAIN, "optimizer", 1},
    {"--lr", EG_SF_TRAIN, "lr", 1},
    {"--momentum", EG_SF_TRAIN, "momentum", 1},
    {"--weight-decay", EG_SF_TRAIN, "weight_decay", 1},
    {"--batch", EG_SF_TRAIN | EG_SF_EVAL | EG_SF_PRUNE, "batch", 1},
    {"--batches", EG_SF_PRUNE, "batches", 1},
    {"--no-shuffle", EG_SF_TRAIN, "shuffle=no", 0},
    {"--method", EG_SF_PRUNE, "method", 1},
    {"--layer", EG_SF_PRUNE, "layer", 1},
    {"--amount", EG_SF_PRUNE, "amount", 1},
    {"--scope", EG_SF_PRUNE, "scope", 1},
    {"--layers", EG_SF_PRUNE, "layers", 1},
    {"--checkpoint", EG_SF_CHECKPOINT, "checkpoint", 1},
    {"--checkpoint-every", EG_SF_CHECKPOINT, "checkpoint_every", 1},
    {"--resume", EG_SF_CHECKPOINT, NULL, 1},
    {"--n", EG_SF_PRUNE, "n", 1},
    {"--m", EG_SF_PRUNE, "m", 1},
    /* penalties and gradual pruning while training, as the train stage's keys */
    {"--l1", EG_SF_TRAIN, "l1", 1},
    {"--l2", EG_SF_TRAIN, "l2", 1},
    {"--prox", EG_SF_TRAIN, "prox", 1},
    {"--penalize", EG_SF_TRAIN, "penalize", 1},
    {"--agp", EG_SF_TRAIN, "agp", 1},
    {"--agp-initial", EG_SF_TRAIN, "agp_initial", 1},
    {"--agp-start", EG_SF_TRAIN, "agp_start", 1},
    {"--agp-end", EG_SF_TRAIN, "agp_end", 1},
    {"--agp-every", EG_SF_TRAIN, "agp_every", 1},
    {"--agp-scope", EG_SF_TRAIN, "agp_scope", 1},
    {"--agp-layers", EG_SF_TRAIN, "agp_layers", 1},
    {"--protect", EG_SF_TRAIN | EG_SF_PRUNE, "protect", 1},
    {"--floor", EG_SF_TRAIN | EG_SF_PRUNE, "floor", 1},
    /* lsh merging and layer removal */
    {"--bits", EG_SF_PRUNE, "bits", 1},
    {"--tables", EG_SF_PRUNE, "tables", 1},
    {"--threshold", EG_SF_PRUNE, "threshold", 1},
    {"--count", EG_SF_PRUNE, "count", 1},
    /* the recipe's validation and normalize lines */
    {"--validation", EG_SF_TRAIN | EG_SF_PRUNE, NULL, 1},
    {"--mean", EG_SF_DATA, NULL, 1},
    {"--std", EG_SF_DATA, NULL, 1},
};
enum { NFLAGS = sizeof flag_defs / sizeof flag_defs[0] };

/* Prints "edagari <command>: <message>" and the usage; returns 2. */
static int usage_error(const eg_stage_command *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const eg_stage_command *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "edagari %s: ", c->name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", c->help);
    return 2;
}

int eg_stage_command_main(const eg_stage_command *c, int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *out = NULL, *json = NULL, *resume = NULL, *validation = NULL;
    const char *mean = NULL, *std = NULL;
    long seed = 0, threads = 0;
    int progress = isatty(STDOUT_FILENO), given[NFLAGS] = {0};
    char line[1024];
    size_t ll = (size_t)snprintf(line, sizeof line, "%s", c->stage);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(c->help, stdout);
            return 0;
        }
        int f = 0;
        while (f < NFLAGS && strcmp(a, flag_defs[f].flag)) f++;
        if (f == NFLAGS) {
            if (a[0] == '-' || (c->flags & EG_SF_MODEL) || model)
                return usage_error(c, "unexpected argument '%s'", a);
            model = a;
            continue;
        }
        const flag_def *d = &flag_defs[f];
        if (!(d->group & c->flags)) return usage_error(c, "%s is not an option of edagari %s", a, c->name);
        if (given[f]) return usage_error(c, "%s given twice", a);
        given[f] = 1;
        const char *v = NULL;
        if (d->has_value) {
            if (i + 1 >= argc) return usage_error(c, "%s needs a value", a);
            v = argv[++i];
        }
        if (d->group == EG_SF_SEED) {
            if (eg_cli_int(a, v, 0, 0x7fffffffffffffffL, &seed)) {
                fputs(c->help, stderr);  /* eg_cli_int said what was wrong */
                return 2;
            }
        } else if (d->group == EG_SF_THREADS) {
            if (eg_cli_int(a, v, 1, 1024, &threads)) {
                fputs(c->help, stderr);
                return 2;
            }
            threads = eg_cli_clamp_threads(threads);
        } else if (d->group == EG_SF_PROGRESS) {
            progress = 0;
        } else if (!strcmp(d->flag, "--validation")) {
            validation = v;
        } else if (!strcmp(d->flag, "--mean") || !strcmp(d->flag, "--std")) {
            *(d->flag[2] == 'm' ? &mean : &std) = v;
        } else if (!d->key) {
            if (!*v) return usage_error(c, "%s: expected a path, found an empty string", a);
            *(d->group == EG_SF_MODEL ? &model : d->group == EG_SF_DATA ? &data : d->group == EG_SF_OUT ? &out
              : d->group == EG_SF_CHECKPOINT ? &resume : &json) = v;
        } else {
            /* a stage option: one token of the stage line */
            if (v && !*v) return usage_error(c, "%s: expected a value, found an empty string", a);
            for (const char *p = v; p && *p; p++)
                if (isspace((unsigned char)*p) || *p == '#' || *p == '=')
                    return usage_error(c, "%s '%s': a value has no spaces, '#' or '='", a, v);
            int k = snprintf(line + ll, sizeof line - ll, v ? " %s=%s" : " %s", d->key, v ? v : "");
            if (k < 0 || (size_t)k >= sizeof line - ll) return usage_error(c, "%s %s: the options are too long", a, v ? v : "");
            ll += (size_t)k;
        }
    }
    if (!model)
        return usage_error(c, "%s", c->flags & EG_SF_MODEL ? "no model given (--model SPEC or model file)" : "no model file given");
    if ((c->flags & EG_SF_OUT) && !out) return usage_error(c, "no --out FILE given for the model it writes");
    eg_error err = {0};
    if (c->needs_file && !eg_model_path_is_file(model) && !eg_onnx_path(model)) {
        if (eg_check_regular(model, "model file", &err)) {
            fprintf(stderr, "edagari: error: %s\n", err.msg);
            return 1;
        }
        return usage_error(c, "%s is a model spec, not a model file (.edg); start from a spec with edagari train --model SPEC",
                           model);
    }

    eg_recipe r;
    memset(&r, 0, sizeof r);
    r.from_flags = 1;
    snprintf(r.path, sizeof r.path, "edagari %s", c->name);
    if (strlen(model) >= sizeof r.model) return usage_error(c, "model path '%s' is too long", model);
    strcpy(r.model, model);
    if ((mean != NULL) != (std != NULL)) return usage_error(c, "%s without %s", mean ? "--mean" : "--std", mean ? "--std" : "--mean");
    char held[96], norm[1100];
    snprintf(held, sizeof held, "validation images=%.60s", validation ? validation : "");
    snprintf(norm, sizeof norm, "normalize mean=%.500s std=%.500s", mean ? mean : "", std ? std : "");
    if (eg_recipe_parse_line(&r, line, 0, &err) || (validation && eg_recipe_parse_line(&r, held, 0, &err)) ||
        (mean && eg_recipe_parse_line(&r, norm, 0, &err))) {
        fprintf(stderr, "%s\n%s", err.msg, c->help);
        return 2;
    }
    eg_run_opts o = {.seed = (uint64_t)seed, .threads = (int)threads, .data = data, .json = json,
                     .progress = progress, .out = stdout, .save = out, .resume = resume};
    return eg_recipe_run(&r, &o, &err) ? eg_cli_failed(&err) : 0;
}
