/* edagari finetune M.edg --out F.edg: one train stage starting from a model file. */
#include "cli.h"
#include "stages.h"

static const char help[] =
    "usage: edagari finetune M.edg --out F.edg [--data DIR] [--epochs N] [--optimizer adam|sgd]\n"
    "                        [--lr F] [--momentum F] [--weight-decay F] [--batch N] [--no-shuffle]\n"
    "                        [--l1 F] [--l2 F] [--prox F] [--penalize a,b,...]\n"
    "                        [--agp F --agp-end N [--agp-start N] [--agp-every N] [--agp-initial F]\n"
    "                         [--agp-scope global|local] [--agp-layers a,b,...] [--protect a,b,...] [--floor N]]\n"
    "                        [--seed N] [--threads N] [--json FILE] [--no-progress]\n"
    "                        [--checkpoint FILE --checkpoint-every N] [--resume FILE]\n"
    "\n"
    "Trains a model from a model file on (after pruning, say) and writes it to another:\n"
    "edagari train with a model file. Masked weights stay zero. The optimizer starts\n"
    "fresh (a checkpoint keeps its state, for --resume).\n"
    "  --out F.edg         the model file to write (atomically; may be M.edg itself)\n"
    "  --data DIR          folder with the IDX files, raw or .gz (default data/mnist)\n"
    "  --epochs N          epochs, 0 to 10000 (default 1)\n"
    "  --optimizer NAME    adam (default) or sgd\n"
    EG_HELP_TRAIN_KNOBS
    "  --seed N            seed for shuffling (default 0)\n"
    "  --validation N      hold N training images out (chosen with the seed): not trained on\n"
    EG_HELP_TRAIN_TAIL;

static const eg_stage_command cmd = {
    "finetune", "train",
    EG_SF_DATA | EG_SF_OUT | EG_SF_JSON | EG_SF_SEED | EG_SF_THREADS | EG_SF_PROGRESS | EG_SF_TRAIN | EG_SF_CHECKPOINT, 1, help};

int eg_cmd_finetune(int argc, char **argv) { return eg_stage_command_main(&cmd, argc, argv); }
