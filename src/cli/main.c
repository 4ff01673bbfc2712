/* edagari: dispatches to the subcommand named by the first argument. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dist/dist.h"
#include "internal.h"

static const eg_command commands[] = {
    {"run", eg_cmd_run, "run a recipe: train, prune, retrain, evaluate"},
    {"info", eg_cmd_info, "print a model (spec or .edg file): nodes, shapes, parameters, sparsity, MACs"},
    {"train", eg_cmd_train, "train a spec or model file, write a model file (.edg)"},
    {"prune", eg_cmd_prune, "prune a model file (channels or weights), write another"},
    {"finetune", eg_cmd_finetune, "train a model file on, write another"},
    {"eval", eg_cmd_eval, "test accuracy of a model file"},
    {"export", eg_cmd_export, "write a model as C code for devices (NAME.h, NAME.c) or as ONNX"},
    {"import", eg_cmd_import, "read an ONNX model (as PyTorch exports it), write a model file (.edg)"},
    {"sensitivity", eg_cmd_sensitivity, "prune each layer alone at each ratio: accuracy table, JSON, SVG plot"},
    {"bench", eg_cmd_bench, "measure training and inference speed against the machine's peak"},
};

int eg_cli_int(const char *flag, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "edagari: %s: expected an integer from %ld to %ld, found '%s'\n", flag, lo, hi,
                v ? v : "(nothing)");
        return -1;
    }
    *out = x;
    return 0;
}

int eg_cli_failed(const eg_error *err)
{
    fflush(stdout);
    if (err->code != EG_ERR_INTERRUPTED) {
        fprintf(stderr, "edagari: error: %s\n", err->msg);
        return 1;
    }
    fprintf(stderr, "edagari: %s\n", err->msg);
    return 128 + eg_stop_signal();  /* what a shell reports for a process the signal ended: 130, 143 */
}

long eg_cli_clamp_threads(long n)
{
#ifndef _OPENMP
    if (n > 1)
        fprintf(stderr, "edagari: warning: --threads %ld: this edagari is built without OpenMP (EG_OPENMP=OFF) "
                "and runs one thread\n", n);
    return 1;
#else
    long cores = eg_core_count();
    if (n <= cores) return n;
    fprintf(stderr, "edagari: warning: --threads %ld is more than the %ld core%s this process may run on; using %ld "
            "(threads beyond the cores only wait for each other)\n", n, cores, cores == 1 ? "" : "s", cores);
    return cores;
#endif
}

/* What this binary was built with, as a bug report or a test needs it. */
static void version(void)
{
    printf("edagari %s\n", EG_VERSION);
#ifdef _OPENMP
    printf("threads  %d (OpenMP: the cores this process may run on)\n", eg_core_count());
#else
    printf("threads  1 (built without OpenMP)\n");
#endif
    printf("kernels  %s (%s runs)\n", eg_isa_available(), eg_isa_name());
}

static void usage(FILE *f)
{
    fprintf(f, "usage: edagari <command> [options]   (edagari <command> --help for its options)\n"
            "       edagari --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
}

/* libgomp spins about 300,000 times at a barrier before it sleeps. On a
 * machine whose cores are busy with other work, that made a two-thread epoch
 * 30 times slower than one thread (15.7 s against 0.5 s); 3,000 spins cost
 * nothing when the machine is idle and fall back to one-thread speed when it
 * is not. libgomp reads its settings when it loads, so the only way to
 * change the default is to start again with it set; a user's own
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone. */
static void bounded_spinning(char **argv)
{
    if (getenv("GOMP_SPINCOUNT") || getenv("OMP_WAIT_POLICY")) return;
    setenv("GOMP_SPINCOUNT", "3000", 1);
    execv("/proc/self/exe", argv);  /* returns only if it failed: go on as we are */
}

/* A command's status, after leaving the MPI job (when there is one): a
 * failure on any rank stops them all. */
static int finish(int rc)
{
    eg_dist_finish(rc);
    return rc;
}

int main(int argc, char **argv)
{
    bounded_spinning(argv);  /* before MPI_Init: exec keeps the pid and the environment mpirun gave */
    eg_dist_init(&argc, &argv);
    eg_error err;
    if (eg_isa_check_env(&err)) {
        fprintf(stderr, "edagari: error: %s\n", err.msg);
        return finish(2);
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return finish(argc < 2 ? 2 : 0);
    }
    if (!strcmp(argv[1], "--version")) {
        version();
        return finish(0);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return finish(commands[i].run(argc - 1, argv + 1));
    fprintf(stderr, "edagari: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return finish(2);
}
