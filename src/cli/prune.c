/* edagari prune M.edg --out P.edg: one prune stage over model files. */
#include "cli.h"
#include "stages.h"

static const char help[] =
    "usage: edagari prune M.edg --out P.edg --layer NODE --amount X [--method CRITERION] [--seed N]\n"
    "       edagari prune M.edg --out P.edg --method magnitude --amount F [--scope global|local]\n"
    "                     [--layers a,b,...] [--protect a,b,...] [--floor N] [--json FILE]\n"
    "       edagari prune M.edg --out P.edg --method taylor [--layer NODE] --amount X [--data DIR]\n"
    "                     [--batches N] [--batch N] [--threads N]\n"
    "       edagari prune M.edg --out P.edg --method nm --n N --m M [--layers a,b,...]\n"
    "       edagari prune M.edg --out P.edg --method lsh --layer NODE --amount N [--bits B]\n"
    "                     [--tables T] [--threshold COS] [--seed N]\n"
    "       edagari prune M.edg --out P.edg --method layer (--layer NODE | --count K --data DIR)\n"
    "                     [--protect a,b,...]\n"
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
    "LSH: --method lsh merges up to N near-duplicate units of --layer (cosine >= --threshold,\n"
    "default 0.9, found with --bits 8 x --tables 8 random hyperplanes) into their twins.\n"
    "Layers: --method layer replaces --layer NODE (a conv2d or linear whose output shape is\n"
    "its input's) by the identity, or the --count K whose removal costs least on --data's test set\n"
    "(with --validation N: on N training images held out, chosen with --seed).\n"
    "  --out P.edg   the model file to write (atomically; nothing is written on failure)\n"
    "  --protect     layers never pruned; --floor N (or a fraction): weights each layer keeps (1)\n"
    "  --seed N      seed for criteria that draw (random; taylor's batches)\n"
    "  --data DIR, --threads N   taylor and layer --count: the data, threads\n"
    "  --json FILE   also write the figures as a JSON report\n";

static const eg_stage_command cmd = {"prune", "prune", EG_SF_OUT | EG_SF_JSON | EG_SF_SEED | EG_SF_PRUNE | EG_SF_DATA | EG_SF_THREADS, 1,
                                     help};

int eg_cmd_prune(int argc, char **argv) { return eg_stage_command_main(&cmd, argc, argv); }
