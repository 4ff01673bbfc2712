/* edagari run RECIPE: the whole pipeline a recipe describes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char help[] =
    "usage: edagari run RECIPE [--seed N] [--threads N] [--data DIR] [--json FILE] [--save FILE]\n"
    "                          [--no-progress]\n"
    "\n"
    "Runs the recipe's stages (train, prune, eval) in order and prints what each did.\n"
    "The recipe's model is a spec (initialised with the seed) or a model file (.edg).\n"
    "  --seed N      seed for initialisation and shuffling (default 0); the same seed\n"
    "                and thread count give the same bits\n"
    "  --threads N   threads, at most one per core (default: OMP_NUM_THREADS or every core)\n"
    "  --data DIR    folder with the four IDX files, raw or .gz (overrides the recipe)\n"
    "  --json FILE   also write the figures as a JSON report (written atomically)\n"
    "  --save FILE   write the final model to a model file (.edg, written atomically;\n"
    "                nothing is written when a stage fails)\n"
    "  --no-progress no progress bar (it is only drawn when stdout is a terminal)\n";

int eg_cmd_run(int argc, char **argv)
{
    eg_run_opts o = {.progress = isatty(STDOUT_FILENO)};
    const char *recipe = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            return 0;
        } else if (!strcmp(a, "--seed")) {
            if (eg_cli_int(a, i + 1 < argc ? argv[++i] : NULL, 0, 0x7fffffffffffffffL, &v)) {
                fputs(help, stderr);  /* a usage error: say how it is used */
                return 2;
            }
            o.seed = (uint64_t)v;
        } else if (!strcmp(a, "--threads")) {
            if (eg_cli_int(a, i + 1 < argc ? argv[++i] : NULL, 1, 1024, &v)) {
                fputs(help, stderr);
                return 2;
            }
            o.threads = (int)eg_cli_clamp_threads(v);
        } else if (!strcmp(a, "--data") || !strcmp(a, "--json") || !strcmp(a, "--save")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "edagari run: %s needs a value\n%s", a, help);
                return 2;
            }
            *(a[2] == 'd' ? &o.data : a[2] == 'j' ? &o.json : &o.save) = argv[++i];
        } else if (!strcmp(a, "--no-progress")) {
            o.progress = 0;
        } else if (a[0] == '-' || recipe) {
            fprintf(stderr, "edagari run: unexpected argument '%s'\n%s", a, help);
            return 2;
        } else {
            recipe = a;
        }
    }
    if (!recipe) {
        fprintf(stderr, "edagari run: no recipe given\n%s", help);
        return 2;
    }
    eg_recipe r;
    eg_error err = {0};
    return eg_recipe_load(&r, recipe, &err) || eg_recipe_run(&r, &o, &err) ? eg_cli_failed(&err) : 0;
}
