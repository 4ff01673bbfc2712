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

#endif
