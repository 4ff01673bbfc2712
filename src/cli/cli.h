/* The command-line front end: one file per subcommand. */
#ifndef EG_CLI_H
#define EG_CLI_H

#include "internal.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;   /* one line */
} eg_command;

int eg_cmd_run(int argc, char **argv);
int eg_cmd_info(int argc, char **argv);
int eg_cmd_train(int argc, char **argv);
int eg_cmd_prune(int argc, char **argv);
int eg_cmd_finetune(int argc, char **argv);
int eg_cmd_eval(int argc, char **argv);
int eg_cmd_export(int argc, char **argv);
int eg_cmd_sensitivity(int argc, char **argv);
int eg_cmd_bench(int argc, char **argv);
int eg_cmd_import(int argc, char **argv);
/* export --format onnx of an opened model (src/cli/import.c); frees g. */
int eg_cli_export_onnx(eg_graph *g, const char *model, const char *out, int from_file, long seed);

/* Prints a failed command's error and returns its exit status: 1, or for a
 * training stopped by a signal (EG_ERR_INTERRUPTED) 128 + the signal. */
int eg_cli_failed(const eg_error *err);

/* Parses a whole decimal integer in [lo, hi] for flag `flag`; prints an error
 * and returns -1 otherwise. */
int eg_cli_int(const char *flag, const char *v, long lo, long hi, long *out);

/* --threads N above the cores this process may run on: a warning, and
 * the core count instead. */
long eg_cli_clamp_threads(long n);

#endif
