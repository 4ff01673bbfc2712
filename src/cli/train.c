/* edagari train --model SPEC|M.edg --out M.edg: one train stage over files. */
#include "cli.h"
#include "stages.h"

static const char help[] =
    "usage: edagari train --model SPEC|M.edg --out M.edg [--data DIR] [--epochs N] [--optimizer adam|sgd]\n"
    "                     [--lr F] [--momentum F] [--weight-decay F] [--batch N] [--no-shuffle]\n"
    "                     [--l1 F] [--l2 F] [--prox F] [--penalize a,b,...]\n"
    "                     [--agp F --agp-end N [--agp-start N] [--agp-every N] [--agp-initial F]\n"
    "                      [--agp-scope global|local] [--agp-layers a,b,...] [--protect a,b,...] [--floor N]]\n"
    "                     [--seed N] [--threads N] [--json FILE] [--no-progress]\n"
    "                     [--checkpoint FILE --checkpoint-every N] [--resume FILE]\n"
    "\n"
    "Trains a model and writes it to a model file. A spec is initialised with the seed;\n"
    "a model file (.edg) goes on from its parameters (and keeps its masks and history).\n"
    "  --model SPEC|M.edg  the model to train\n"
    "  --out M.edg         the model file to write (atomically; nothing is written on failure)\n"
    "  --data DIR          folder with the IDX files, raw or .gz (default data/mnist)\n"
    "  --epochs N          epochs, 0 to 10000 (default 1)\n"
    "  --optimizer NAME    adam (default) or sgd; a fresh optimizer, as every train stage\n"
    EG_HELP_TRAIN_KNOBS
    "  --seed N            seed for initialisation and shuffling (default 0)\n"
    "  --validation N      hold N training images out (chosen with the seed): not trained on\n"
    EG_HELP_TRAIN_TAIL;

static const eg_stage_command cmd = {
    "train", "train",
    EG_SF_MODEL | EG_SF_DATA | EG_SF_OUT | EG_SF_JSON | EG_SF_SEED | EG_SF_THREADS | EG_SF_PROGRESS | EG_SF_TRAIN | EG_SF_CHECKPOINT, 0,
    help};

int eg_cmd_train(int argc, char **argv) { return eg_stage_command_main(&cmd, argc, argv); }
