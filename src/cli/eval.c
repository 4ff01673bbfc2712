/* edagari eval M.edg: one eval stage on a model file. */
#include "cli.h"
#include "stages.h"

static const char help[] =
    "usage: edagari eval M.edg [--data DIR] [--batch N] [--threads N] [--json FILE]\n"
    "\n"
    "Prints a model file's top-1 accuracy and loss on the test set.\n"
    "  --data DIR    folder with the t10k IDX files, raw or .gz (default data/mnist)\n"
    "  --batch N     batch size (default 1000)\n"
    "  --threads N   threads, at most one per core (default: OMP_NUM_THREADS or every core)\n"
    "  --json FILE   also write the figures as a JSON report\n";

static const eg_stage_command cmd = {"eval", "eval", EG_SF_DATA | EG_SF_JSON | EG_SF_THREADS | EG_SF_EVAL, 1, help};

int eg_cmd_eval(int argc, char **argv) { return eg_stage_command_main(&cmd, argc, argv); }
