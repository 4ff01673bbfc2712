/* Pruning: dependency groups, surgery, the criteria, masks, schedules,
 * LSH merging and layer removal (src/prune/). */
#ifndef EG_PRUNE_H
#define EG_PRUNE_H

#include "edagari.h"
#include "train/train.h"

/* ------------------------------------------------------------ pruning */

#define EG_GROUP_MAX 32

/* OUT: a producer's output channels; IN: a consumer's input channels; PASS:
 * the per-channel parameters and buffers of an op that passes channels
 * through (batchnorm2d's scale, shift and running statistics). */
typedef enum { EG_DEP_OUT, EG_DEP_IN, EG_DEP_PASS } eg_dep_role;

/* One slice a channel removal touches: a node's output channels (OUT) or its
 * input channels, each `block` consecutive input features wide (IN; block is
 * H*W when a flatten lies between). */
typedef struct { int node; eg_dep_role role; int block; } eg_dep_member;

typedef struct {
    int root;        /* the node whose output channels are removed; a residual
                      * add couples it with every other producer feeding the add
                      * (more OUT members), all sliced with the same keep list */
    int channels;    /* its current channel count */
    int nmembers;
    eg_dep_member members[EG_GROUP_MAX];
} eg_dep_group;

/* Everything that must shrink with root's output channels. Fails when the
 * channels reach the model output or pass through an op that cannot follow. */
eg_status eg_depgroup_build(const eg_graph *g, int root, eg_dep_group *grp, eg_error *err);

/* Keeps only channels keep[0..nkeep-1] (ascending) of the group, slicing every
 * member, and re-lays the parameter block. Gradients and any optimizer state
 * are invalid afterwards. */
eg_status eg_surgery_keep(eg_graph *g, const eg_dep_group *grp, const int *keep, int nkeep,
                          eg_error *err);

/* Channel-importance scores, one per output channel of a conv2d or linear
 * node (its weights only, bias not counted), [channels]; lower is pruned first. */
/* L1 norm of each output channel's weights. */
void eg_importance_l1(const eg_graph *g, int node, double *scores);
/* L2 (Euclidean) norm of each output channel's weights. */
void eg_importance_l2(const eg_graph *g, int node, double *scores);
/* FPGM: sum of each filter's Euclidean distances to the layer's other filters. */
void eg_importance_fpgm(const eg_graph *g, int node, double *scores);
/* Uniform draws in [0, 1) from rng, in channel order: the same for the same rng state. */
void eg_importance_random(const eg_graph *g, int node, double *scores, eg_rng *rng);

/* A channel-importance criterion: scores[c] for each output channel of node,
 * lower is pruned first. rng serves criteria that draw (random). */
typedef void eg_importance_fn(const eg_graph *g, int node, double *scores, eg_rng *rng);
typedef struct {
    const char *name;   /* as a recipe names it: method=<name> */
    const char *label;  /* what the scores are, for printing */
    eg_importance_fn *score;
} eg_criterion;

/* Unstructured magnitude pruning of the weights of nodes[0..count) (conv2d
 * or linear): masks the round(amount x N) weights of smallest |w|, N
 * counted over all of them (global) or per node (local); ties go to the
 * earlier node and index. Already-pruned weights are 0 and go first, so
 * amount is the sparsity the weights have afterwards. */
eg_status eg_prune_magnitude(eg_graph *g, const int *nodes, int count, double amount, int global, eg_error *err);
/* The same with a floor: node nodes[i] keeps at least keep_at_least[i]
 * weights (NULL: no floor, as eg_prune_magnitude; recipes and commands pass
 * 1 unless floor= says otherwise, so no layer is emptied). Global scope
 * passes over the weights of layers at their floor and still masks exactly
 * round(amount x N); an amount the floors cannot allow is an error. */
eg_status eg_prune_magnitude_floor(eg_graph *g, const int *nodes, int count, double amount, int global,
                                   const size_t *keep_at_least, eg_error *err);

/* Automated gradual pruning (Zhu & Gupta 2017) during training: at steps
 * t = start, start + every, ..., end (t counts optimizer steps done in the
 * train stage), the weights of nodes are magnitude-pruned (global or local,
 * floors as eg_prune_magnitude_floor) to the sparsity
 *   s_t = final + (initial - final) (1 - (t - start) / (end - start))^3,
 * so pruning is fast early and slow near the end; masks keep the pruned
 * weights (and their optimizer state) at zero in between and after. */
typedef struct {
    double initial, final;     /* s_i in [0, 1), s_f in (s_i, 1) */
    long start, end, every;    /* t0 >= 0, end > t0, every >= 1 dividing end - t0 */
    int global;
    const int *nodes;
    int count;
    const size_t *keep_at_least;   /* per node, or NULL: no floor */
    FILE *log;                 /* a line per pruning step, or NULL */
    int prunes;                /* pruning steps done (set by eg_agp_after_step) */
    double sparsity;           /* the last target applied */
    eg_step_fn *next;          /* another per-step callback (checkpoints) run after it, or NULL */
    void *next_ctx;
} eg_agp;

/* Checks the schedule's numbers (not the nodes). */
eg_status eg_agp_check(const eg_agp *a, eg_error *err);
/* The target sparsity at step t (initial before start, final after end). */
double eg_agp_sparsity(const eg_agp *a, long t);
/* 1 when t is one of the pruning steps. */
int eg_agp_due(const eg_agp *a, long t);
/* An eg_step_fn for ctx = an eg_agp: prunes when due, zeroes the optimizer
 * state of every masked weight, then calls a->next (may be NULL). */
eg_status eg_agp_after_step(void *ctx, eg_graph *g, eg_optim *o, const eg_step_info *si, eg_error *err);
/* Threshold pruning: masks every weight of nodes[0..count) (conv2d or
 * linear) with |w| <= value (value >= 0, rounded to float32 as the weights
 * are), as magnitude pruning masks them;
 * *masked (may be NULL) gets how many weights it newly masked. */
eg_status eg_prune_threshold(eg_graph *g, const int *nodes, int count, double value, size_t *masked, eg_error *err);

/* bn_scale (network slimming): |scale| of the batchnorm2d in node's group
 * (summed over its batchnorms; 0 when it has none: eg_criterion_check). */
void eg_importance_bn_scale(const eg_graph *g, int node, double *scores);
/* EG_ERR_ARG when crit cannot score the group (bn_scale without a batchnorm2d). */
eg_status eg_criterion_check(const eg_criterion *crit, const eg_graph *g, const eg_dep_group *grp, eg_error *err);
/* Scores of the group's channels [grp->channels]: the criterion's scores of
 * the root, plus those of every other producer a residual add couples to it;
 * bn_scale: |scale| of the group's batchnorms. Checks with eg_criterion_check. */
eg_status eg_group_scores(const eg_graph *g, const eg_dep_group *grp, const eg_criterion *crit, double *scores,
                          eg_rng *rng, eg_error *err);
/* First-order Taylor importance (src/prune/taylor.c), from `batches`
 * batches of `batch` training samples taken in turn from a shuffle of ds by
 * rng; the weights do not change (the gradient blocks do). weight_scores
 * (may be NULL), laid out as g->params, gets sum over batches of |w * g| for
 * every parameter; channel_scores (may be NULL) gets, for each output
 * channel of conv2d or linear node `node`, the mean over batches of
 * |1/M sum of z * dL/dz| over the batch and the channel's M output
 * positions (Molchanov et al. 2017). Under MPI the gradients are the whole
 * batch's, summed across ranks, so every rank gets the same scores. */
eg_status eg_taylor_scores(eg_graph *g, const eg_dataset *ds, int batches, int batch, eg_rng *rng,
                           double *weight_scores, int node, double *channel_scores, eg_error *err);
/* Unstructured pruning by any per-weight score laid out as g->params
 * (lower goes first): as eg_prune_magnitude with |w| replaced by scores;
 * weights already masked go first; ties to the earlier node and index. */
eg_status eg_prune_scores(eg_graph *g, const int *nodes, int count, const double *scores, double amount, int global,
                          eg_error *err);
/* N:M pruning of the weights of nodes[0..count) (conv2d or linear): in every
 * group of m consecutive weights of a row along the input dimension (a
 * conv's flattened in x k x k filter) the n of largest |w| are kept (ties:
 * the lower index), the rest masked; a shorter last group keeps min(n, its
 * length). 1 <= n < m <= EG_NM_MAX_M. See src/prune/nm.c. */
#define EG_NM_MAX_M 64
eg_status eg_prune_nm(eg_graph *g, const int *nodes, int count, int n, int m, eg_error *err);

/* The criterion called name, or NULL; and all names, comma separated. */
const eg_criterion *eg_criterion_find(const char *name);
const char *eg_criterion_names(void);

/* Chooses the `count` lowest-scoring channels (ties: lower index first) and
 * writes the rest, ascending, to keep. Returns the number kept. */
int eg_select_keep(const double *scores, int channels, int count, int *keep, int *pruned);

/* LSH merging (data-free): each output unit's incoming vector (its filter
 * or weight row, then its bias) is hashed with random-hyperplane LSH
 * (SimHash: `bits` signs of dot products with Gaussian directions, in each
 * of `tables` tables, drawn from rng); units that share a bucket in some
 * table are compared by cosine similarity, and each pair at or above
 * `threshold` is a candidate: the unit of smaller norm is removed and its
 * outgoing weights (the consumers' input columns or channels) are added to
 * its twin's, scaled by s = <v_small, v_big> / |v_big|^2 > 0. When the
 * vectors are exactly proportional this changes no output, because only
 * relu, max-pooling and flatten lie between the unit and its consumers and
 * each commutes with a positive scale. Pairs are merged best first (cosine,
 * then index), at most max_merges of them. Other ops in between (or the
 * model output) are refused. */
typedef struct {
    int bits;          /* hyperplanes per table, 1..32 */
    int tables;        /* hash tables, 1..256 */
    double threshold;  /* cosine similarity needed, in (0, 1] */
    int max_merges;    /* units to remove at most */
} eg_lsh_opts;

typedef struct {
    int merged;        /* units removed */
    int candidates;    /* distinct pairs that shared a bucket */
    int similar;       /* of those, pairs at or above the threshold */
    int *removed, *twin;   /* [merged]: removed unit (index before the merge) and the unit it went into */
    double *scale, *cosine;  /* [merged] */
} eg_lsh_result;

eg_status eg_lsh_merge(eg_graph *g, int node, const eg_lsh_opts *o, eg_rng *rng, eg_lsh_result *res, eg_error *err);
void eg_lsh_result_free(eg_lsh_result *res);

/* Layer pruning: a conv2d or linear node whose output shape equals its
 * input shape (say a 3x3 pad-1 conv with as many outputs as inputs) is
 * replaced by the identity: removed, its consumers reading its input. A
 * residual add node names its branch: the input whose layers the other
 * input does not share (each used only there) is replaced by zero, i.e. the
 * branch and the add are removed and the add's readers read the skip. The
 * output layer, shape-changing layers, adds of two branches and branches
 * used elsewhere are refused (EG_ERR_ARG). Other nodes keep their
 * parameters, masks and buffers. */
eg_status eg_layer_removable(const eg_graph *g, int node, eg_error *err);   /* err may be NULL */
eg_status eg_layer_remove(eg_graph *g, int node, eg_error *err);
/* Marks in gone (g->nnodes bytes) the nodes removing removable `node` takes
 * out: itself, and a residual add's branch. */
void eg_layer_removal_set(const eg_graph *g, int node, char *gone);

typedef struct {
    int node;                  /* index in the graph ranked */
    double accuracy, loss;     /* on the data set with this layer alone removed */
    double drop;               /* base accuracy minus accuracy, in points */
} eg_layer_score;
/* Every removable node not in protect[0..nprotect), each removed alone from
 * a copy of g and evaluated on ds: scores (room for g->nnodes) cheapest
 * first (smallest drop, then lowest loss, then the earlier node), *count of
 * them; g is not changed. */
eg_status eg_layer_rank(const eg_graph *g, const eg_dataset *ds, int batch, const int *protect, int nprotect,
                        eg_layer_score *scores, int *count, double *base_accuracy, eg_error *err);

#endif
