/* Commands that are one-stage runs over model files (train, finetune, prune,
 * eval): their flags are parsed here, in one place, into an in-memory recipe
 * that the stage runner runs, so each stage has one implementation. */
#ifndef EG_CLI_STAGES_H
#define EG_CLI_STAGES_H

/* Flag groups a command accepts. */
enum {
    EG_SF_MODEL = 1,      /* --model SPEC|FILE (else the model is the first argument) */
    EG_SF_DATA = 2,       /* --data DIR */
    EG_SF_OUT = 4,        /* --out FILE, required: the model file written */
    EG_SF_JSON = 8,       /* --json FILE */
    EG_SF_SEED = 16,      /* --seed N */
    EG_SF_THREADS = 32,   /* --threads N */
    EG_SF_PROGRESS = 64,  /* --no-progress */
    EG_SF_TRAIN = 128,    /* --epochs --optimizer --lr --momentum --weight-decay --batch --no-shuffle */
    EG_SF_PRUNE = 256,    /* --method --layer --amount --scope --layers */
    EG_SF_EVAL = 512,     /* --batch */
    EG_SF_CHECKPOINT = 1024,  /* --checkpoint FILE --checkpoint-every N --resume FILE */
};

typedef struct {
    const char *name;    /* the subcommand: "train" */
    const char *stage;   /* the recipe stage it runs: "train", "prune" or "eval" */
    unsigned flags;      /* EG_SF_* */
    int needs_file;      /* the model must be a model file, not a spec */
    const char *help;    /* the --help text */
} eg_stage_command;

/* Parses argv (argv[0] is the subcommand) and runs the stage. Returns the
 * exit status: 0 done, 1 failed (the error printed), 2 a usage error. */
int eg_stage_command_main(const eg_stage_command *c, int argc, char **argv);

/* The help lines edagari train and edagari finetune share (the options
 * both take alike), so a new training option is described once. */
#define EG_HELP_TRAIN_KNOBS \
    "  --lr F              learning rate, above 0 and at most 10 (default 0.001)\n" \
    "  --momentum F, --weight-decay F   as in a recipe, from 0 to below 1 (default 0)\n" \
    "  --batch N           batch size, 1 to 65536 (default 64)\n" \
    "  --no-shuffle        keep the data's order\n" \
    "  --l1 F, --l2 F, --prox F   penalties on the weights (F*sum|w|, F/2*sum w^2, or L1 by\n" \
    "                      its soft threshold after each step), as the recipe's l1=, l2=, prox=\n" \
    "  --penalize a,b,...  the layers whose weights are penalised (default every conv2d and linear)\n" \
    "  --agp F             gradual magnitude pruning to sparsity F while training (Zhu & Gupta's\n" \
    "                      cubic schedule), from step --agp-start (0) to --agp-end, every\n" \
    "                      --agp-every steps (100), from --agp-initial (0); --agp-scope global\n" \
    "                      (default) or local, --agp-layers, --protect, --floor as in a recipe\n"
#define EG_HELP_TRAIN_TAIL \
    "  --threads N         threads, at most one per core (default: OMP_NUM_THREADS or every core)\n" \
    "  --json FILE         also write the figures as a JSON report\n" \
    "  --no-progress       no progress bar\n" \
    "  --checkpoint FILE   with --checkpoint-every N: write a checkpoint (the model, the\n" \
    "                      optimizer's state and the data position) every N steps, atomically\n" \
    "  --resume FILE       go on from a checkpoint of the same command (same options, seed and\n" \
    "                      data): the same final weights as an uninterrupted run with the same\n" \
    "                      thread count\n"

#endif
