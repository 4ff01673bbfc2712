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
    "  --epochs N          epochs (default 1)\n"
    "  --optimizer NAME    adam (default) or sgd; a fresh optimizer, as every train stage\n"
    "  --lr F              learning rate (default 0.001)\n"
    "  --momentum F, --weight-decay F   as in a recipe (default 0)\n"
    "  --batch N           batch size (default 64)\n"
    "  --no-shuffle        keep the data's order\n"
    "  --l1 F, --l2 F, --prox F   penalties on the weights (F*sum|w|, F/2*sum w^2, or L1 by\n"
    "                      its soft threshold after each step), as the recipe's l1=, l2=, prox=\n"
    "  --penalize a,b,...  the layers whose weights are penalised (default every conv2d and linear)\n"
    "  --agp F             gradual magnitude pruning to sparsity F while training (Zhu & Gupta's\n"
    "                      cubic schedule), from step --agp-start (0) to --agp-end, every\n"
    "                      --agp-every steps (100), from --agp-initial (0); --agp-scope global\n"
    "                      (default) or local, --agp-layers, --protect, --floor as in a recipe\n"
    "  --seed N            seed for initialisation and shuffling (default 0)\n"
    "  --threads N         threads to use (default: OMP_NUM_THREADS or every core)\n"
    "  --json FILE         also write the figures as a JSON report\n"
    "  --no-progress       no progress bar\n"
    "  --checkpoint FILE   with --checkpoint-every N: write a checkpoint (the model, the\n"
    "                      optimizer's state and the data position) every N steps, atomically\n"
    "  --resume FILE       go on from a checkpoint of the same command (same options, seed and\n"
    "                      data): the same final weights as an uninterrupted run with the same\n"
    "                      thread count\n";

static const eg_stage_command cmd = {
    "train", "train",
    EG_SF_MODEL | EG_SF_DATA | EG_SF_OUT | EG_SF_JSON | EG_SF_SEED | EG_SF_THREADS | EG_SF_PROGRESS | EG_SF_TRAIN | EG_SF_CHECKPOINT, 0,
    help};

int eg_cmd_train(int argc, char **argv) { return eg_stage_command_main(&cmd, argc, argv); }
