/* edagari prune M.edg --out P.edg: one prune stage over model files. */
#include "cli.h"
#include "stages.h"

static const char help[] =
    "usage: edagari prune M.edg --out P.edg --layer NODE --amount X [--method CRITERION] [--seed N]\n"
    "       edagari prune M.edg --out P.edg --method magnitude --amount F [--scope global|local]\n"
    "                     [--layers a,b,...] [--json FILE]\n"
    "       edagari prune M.edg --out P.edg --method taylor [--layer NODE] --amount X [--data DIR]\n"
    "                     [--batches N] [--batch N] [--threads N]\n"
    "       edagari prune M.edg --out P.edg --method nm --n N --m M [--layers a,b,...]\n"
    "\n"
    "Prunes a model file and writes the result to another (no data needed but for taylor).\n"
    "Channels: --layer NODE loses --amount X output channels (a count, or a fraction\n"
    "with a '.') chosen by --method (default l1; see the recipe's prune stage for the\n"
    "criteria), with everything they feed; the tensors really shrink.\n"
    "Weights: --method magnitude masks the smallest weights so that a fraction F of\n"
    "them is zero, over all the layers at once (--scope global, default) or each\n"
    "alone (local), in every conv2d and linear node or those --layers lists.\n"
    "Taylor: --method taylor scores by |weight x gradient| over --batches N (default\n"
    "10) training batches of --batch N (default 64) from --data DIR (default\n"
    "data/mnist): channels with --layer, weights without (as magnitude).\n"
    "N:M: --method nm keeps the N largest of every M consecutive weights of each\n"
    "row (a linear layer's inputs, a conv's flattened in x k x k filter).\n"
    "  --out P.edg   the model file to write (atomically; nothing is written on failure)\n"
    "  --seed N      seed for criteria that draw (random; taylor's batches)\n"
    "  --data DIR, --threads N   taylor only: the training data, threads\n"
    "  --json FILE   also write the figures as a JSON report\n";

static const eg_stage_command cmd = {"prune", "prune", EG_SF_OUT | EG_SF_JSON | EG_SF_SEED | EG_SF_PRUNE | EG_SF_DATA | EG_SF_THREADS, 1,
                                     help};

int eg_cmd_prune(int argc, char **argv) { return eg_stage_command_main(&cmd, argc, argv); }
