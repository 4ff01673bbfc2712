/* edagari: Recipes: a model, its data and stages, run in order (docs/recipes.md). */
#ifndef EDAGARI_RECIPE_H
#define EDAGARI_RECIPE_H

#include "edagari.h"

/* --------------------------------------------------------------- recipes */

/* A recipe: the model, the data, then stages run in order:
 *   model  <spec path, or model file: then it is not re-initialised>
 *   data   <dir with IDX files>
 *   train  epochs=N optimizer=adam|sgd lr=F [momentum=F] [weight_decay=F] batch=N shuffle=yes|no
 *          [l1=F] [l2=F] [prox=F] [penalize=a,b,...]   (see eg_penalty)
 *          [checkpoint=FILE checkpoint_every=N]   (a checkpoint every N steps, atomically)
 *   prune  method=l1 layer=<node> amount=<count, or fraction with a '.'>
 *   prune  method=magnitude amount=<sparsity> [scope=global|local] [layers=a,b,...]
 *   prune  method=threshold value=<F: prunes |w| <= F> [layers=a,b,...]
 *   prune  method=taylor layer=<node> amount=<count or fraction> [batches=N] [batch=N]
 *   prune  method=taylor amount=<sparsity> [scope=global|local] [layers=a,b,...] [batches=N] [batch=N]
 *   prune  method=nm n=<N> m=<M> [layers=a,b,...]   (N:M, see eg_prune_nm)
 *   eval   batch=N
 * Each train stage starts a fresh optimizer. Paths are taken as given, or
 * relative to the recipe's folder's parent when they do not exist as given. */
typedef enum { EG_STAGE_TRAIN, EG_STAGE_PRUNE, EG_STAGE_EVAL } eg_stage_kind;

/* What a recipe (or a command's flags) may set: 0 < lr <= EG_LR_MAX;
 * momentum and weight_decay from 0 to below 1; epochs 0 to EG_EPOCHS_MAX;
 * batch (train, eval, taylor) 1 to EG_BATCH_MAX. Anything else is an error
 * naming the line and column. */
#define EG_LR_MAX 10.0
#define EG_EPOCHS_MAX 10000
#define EG_BATCH_MAX 65536

typedef struct {
    eg_stage_kind kind;
    int line;
    /* train */
    int epochs, batch, shuffle;
    eg_optim_type optim;
    float lr, momentum, weight_decay;
    float l1, l2, prox; /* penalty strengths, 0 for none */
    char penalize[256]; /* comma-separated nodes whose weights are penalised, empty for every conv2d and linear */
    long checkpoint_every;   /* write a checkpoint every N optimizer steps (0: never) ... */
    char checkpoint[1024];   /* ... to this file (eg_checkpoint_save) */
    /* prune */
    char method[16], layer[EG_NAME_MAX];
    char layers[256];   /* magnitude, threshold: comma-separated nodes, empty for every conv2d and linear */
    int local;          /* magnitude: each layer its own ratio (scope=local) */
    double amount;      /* a count when amount_is_count, else a fraction in (0, 1) */
    int amount_is_count;
    double value;       /* threshold: weights with |w| <= value are pruned; < 0 until given */
    int batches;        /* taylor: training batches its scores come from (batch= their size); 0 until given */
    int nm_n, nm_m;     /* nm: keep n of every m consecutive weights (eg_prune_nm); 0 until given */
    /* method=lsh: hash bits and tables, cosine threshold (0 until given: defaults) */
    int lsh_bits, lsh_tables;
    double lsh_threshold;
    /* method=layer: remove the `count` layers whose removal costs least (0: layer= names one) */
    int layer_count;
    /* every multi-layer prune: protected nodes, and the floor each layer keeps
     * (floor >= 1: weights, else a fraction of them; 0: one weight) */
    char protect[256];
    double floor;
    /* train agp=F: gradual magnitude pruning to sparsity F (eg_agp) */
    double agp, agp_initial;
    long agp_start, agp_end, agp_every;
    int agp_local;
    char agp_layers[256];
} eg_stage;

#define EG_RECIPE_MAX_STAGES 64

#define EG_RECIPE_MAX_CHANNELS 64

typedef struct {
    char path[1024], model[1024], data[1024];
    /* normalize mean=M[,M...] std=S[,S...]: the input normalisation per
     * channel (one value: every channel); norm_c 0: none given */
    int norm_c;
    float norm_mean[EG_RECIPE_MAX_CHANNELS], norm_std[EG_RECIPE_MAX_CHANNELS];
    /* validation images=N: N training images held out (chosen with the run's
     * seed) for the choices that rank on a set, which read them instead of
     * the test set; 0: none */
    long validation;
    int nstages;
    eg_stage stages[EG_RECIPE_MAX_STAGES];
    int from_flags;     /* built by a command (path is its name, e.g. "edagari prune"): messages
                         * name the command instead of recipe lines; paths are taken as given */
} eg_recipe;

eg_status eg_recipe_load(eg_recipe *r, const char *path, eg_error *err);
/* Parses one line as a recipe holds it ("prune method=l1 layer=conv1
 * amount=2", a stage appended to r; or model/data): how commands build their
 * recipes from flags. */
eg_status eg_recipe_parse_line(eg_recipe *r, const char *text, int line, eg_error *err);

typedef struct {
    uint64_t seed;
    int threads;
    const char *data;       /* overrides the recipe's data folder when not NULL */
    const char *json;       /* report path, or NULL */
    int progress;           /* progress bars (when stdout is a terminal) */
    FILE *out;              /* where the human-readable log goes */
    const char *save;       /* model file to write the final model to (atomically), or NULL */
    const char *resume;     /* a checkpoint to resume the recipe's only stage, a train stage, from; or NULL */
} eg_run_opts;

/* Runs every stage, printing as it goes; writes the model file (o->save) and
 * the JSON report atomically, and neither when a stage fails. A recipe
 * that trains or evaluates loads both data sets; one built from flags loads
 * only what its stages read (train: the training set, eval: the test set);
 * pruning needs no data. */
eg_status eg_recipe_run(const eg_recipe *r, const eg_run_opts *o, eg_error *err);

#endif
