/* The stage runner: loads the model and data a recipe names, runs its train,
 * prune and eval stages in order, prints what each did and builds the JSON
 * report. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "dist/dist.h"


/* A path as given if it exists, else relative to the recipe folder's parent
 * (so `recipes/x.recipe` can say `models/simplecnn` from anywhere); a
 * command's paths are taken as given. */
static void resolve(char *out, size_t len, const eg_recipe *r, const char *p)
{
    struct stat sb;
    const char *recipe = r->path;
    snprintf(out, len, "%s", p);
    if (r->from_flags || p[0] == '/' || !stat(p, &sb)) return;
    const char *slash = strrchr(recipe, '/');
    if (!slash) snprintf(out, len, "../%s", p);
    else snprintf(out, len, "%.*s/../%s", (int)(slash - recipe), recipe, p);
    if (stat(out, &sb)) snprintf(out, len, "%s", p);
}

static void json_model(eg_json *j, const char *key, const eg_graph *g)
{
    eg_json_object(j, key);
    eg_json_num(j, "params", (double)eg_graph_param_count(g));
    eg_json_num(j, "macs", (double)eg_graph_macs(g));
    eg_json_array(j, "layers");
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        if (!nd->nparams) continue;
        eg_json_object(j, NULL);
        eg_json_str(j, "name", nd->name);
        eg_json_str(j, "op", eg_ops[nd->op]->name);
        eg_json_array(j, "weight");
        for (int d = 0; d < nd->pdims[0]; d++) eg_json_num(j, NULL, nd->pshape[0][d]);
        eg_json_array_end(j);
        eg_json_array(j, "output");
        eg_json_num(j, NULL, nd->out_shape.c), eg_json_num(j, NULL, nd->out_shape.h), eg_json_num(j, NULL, nd->out_shape.w);
        eg_json_array_end(j);
        eg_json_num(j, "params", (double)eg_node_params(nd));
        eg_json_num(j, "macs", (double)eg_node_macs(nd));
        eg_json_object_end(j);
    }
    eg_json_array_end(j);
    eg_json_object_end(j);
}

/* Where a stage comes from, for messages: "recipe:line", or the command
 * that built it from its flags. */
static const char *loc(const eg_recipe *r, const eg_stage *s, char *buf, size_t len)
{
    if (r->from_flags) snprintf(buf, len, "%s", r->path);
    else snprintf(buf, len, "%s:%d", r->path, s->line);
    return buf;
}

/* "line 7: " after a stage's tag in the log, or nothing for a command. */
static const char *line_tag(const eg_recipe *r, const eg_stage *s, char *buf, size_t len)
{
    if (r->from_flags) buf[0] = 0;
    else snprintf(buf, len, "line %d: ", s->line);
    return buf;
}

/* "[0, 3]" into buf. */
static const char *ints_text(char *buf, size_t len, const int *v, int n)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < n && o < len; i++) o += (size_t)snprintf(buf + o, len - o, i ? ", %d" : "%d", v[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

static void print_ints(FILE *f, const int *v, int n)
{
    fprintf(f, "[");
    for (int i = 0; i < n; i++) fprintf(f, i ? ", %d" : "%d", v[i]);
    fprintf(f, "]");
}

static void json_ints(eg_json *j, const char *key, const int *v, int n)
{
    eg_json_array(j, key);
    for (int i = 0; i < n; i++) eg_json_num(j, NULL, v[i]);
    eg_json_array_end(j);
}

/* Channels a prune stage removes from a layer with c channels. */
static int prune_count(const eg_stage *s, int c)
{
    return s->amount_is_count ? (int)s->amount : (int)(s->amount * c + 0.5);
}

/* The nodes a list of a stage names (key=list: a magnitude or threshold
 * stage's layers=, a train stage's penalize=), or every conv2d and linear
 * when the list is empty. nodes has room for every node of g. */
static eg_status layer_list(const eg_recipe *r, const eg_stage *s, const eg_graph *g, const char *key,
                            const char *list, int *nodes, int *count, eg_error *err)
{
    char where[1100];
    *count = 0;
    if (!list[0]) {
        for (int i = 0; i < g->nnodes; i++)
            if (g->nodes[i].op == EG_OP_CONV2D || g->nodes[i].op == EG_OP_LINEAR) nodes[(*count)++] = i;
        return EG_OK;
    }
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        char name[EG_NAME_MAX] = "";
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
        int node = len < sizeof name ? eg_graph_find(g, name) : -1;
        /* penalize= also takes batchnorms: the L1 penalty on their scales is network slimming */
        int bn = !strcmp(key, "penalize") && node >= 0 && g->nodes[node].op == EG_OP_BATCHNORM2D;
        if (node < 0 || (g->nodes[node].op != EG_OP_CONV2D && g->nodes[node].op != EG_OP_LINEAR && !bn))
            return eg_fail(err, EG_ERR_RECIPE, "%s: %s=%s: '%.*s' is %s; expected conv2d or linear nodes%s",
                           loc(r, s, where, sizeof where), key, list, (int)len, p,
                           node < 0 ? "not a node of the model" : "not a conv2d or linear node",
                           strcmp(key, "penalize") ? "" : " (or batchnorm2d: their scales)");
        for (int k = 0; k < *count; k++)
            if (nodes[k] == node)
                return eg_fail(err, EG_ERR_RECIPE, "%s: %s=%s names '%s' twice", loc(r, s, where, sizeof where), key, list, name);
        nodes[(*count)++] = node;
        p += len + (p[len] == ',');
    }
    return EG_OK;
}

/* The nodes protect= names into prot (room for every node), *nprot of them. */
static eg_status protected_layers(const eg_recipe *r, const eg_stage *s, const eg_graph *g, int *prot, int *nprot,
                                  eg_error *err)
{
    *nprot = 0;
    return s->protect[0] ? layer_list(r, s, g, "protect", s->protect, prot, nprot, err) : EG_OK;
}

/* nodes[0..*count) of a list key= named, less the protected ones: a
 * protected node named in the list itself, or nothing left, is an error. */
static eg_status drop_protected(const eg_recipe *r, const eg_stage *s, const eg_graph *g, const char *key,
                                const char *list, int *nodes, int *count, eg_error *err)
{
    char where[1100];
    int *prot = malloc((size_t)g->nnodes * sizeof *prot), nprot = 0, n = 0;
    if (!prot) return eg_fail(err, EG_ERR_NOMEM, "out of memory");
    eg_status st = protected_layers(r, s, g, prot, &nprot, err);
    for (int i = 0; i < *count && !st; i++) {
        int hit = 0;
        for (int k = 0; k < nprot; k++) hit |= prot[k] == nodes[i];
        if (hit && list[0])
            st = eg_fail(err, EG_ERR_RECIPE, "%s: %s=%s names '%s', which protect=%s protects", loc(r, s, where, sizeof where),
                         key, list, g->nodes[nodes[i]].name, s->protect);
        if (!hit) nodes[n++] = nodes[i];
    }
    free(prot);
    if (!st && !n)
        st = eg_fail(err, EG_ERR_RECIPE, "%s: protect=%s leaves no layer to prune", loc(r, s, where, sizeof where), s->protect);
    *count = n;
    return st;
}

/* The nodes a magnitude or threshold stage prunes. */
static eg_status prune_layers(const eg_recipe *r, const eg_stage *s, const eg_graph *g, int *nodes, int *count,
                              eg_error *err)
{
    eg_status st = layer_list(r, s, g, "layers", s->layers, nodes, count, err);
    return st ? st : drop_protected(r, s, g, "layers", s->layers, nodes, count, err);
}

/* The floor (eg_prune_magnitude_floor) of each of nodes[0..count) for a
 * stage's floor=: a count, a fraction of the layer's weights, or 0: one. */
static size_t *layer_floors(const eg_graph *g, const eg_stage *s, const int *nodes, int count)
{
    size_t *f = malloc(((size_t)count + 1) * sizeof *f);
    for (int i = 0; f && i < count; i++) {
        size_t w = g->nodes[nodes[i]].psize[0];
        f[i] = s->floor >= 1 ? (size_t)s->floor : s->floor > 0 ? (size_t)ceil(s->floor * (double)w) : 1;
    }
    return f;
}

/* The nodes whose weights a train stage penalises. */
static eg_status penalized_layers(const eg_recipe *r, const eg_stage *s, const eg_graph *g, int *nodes, int *count,
                                  eg_error *err)
{
    return layer_list(r, s, g, "penalize", s->penalize, nodes, count, err);
}

static int has_penalty(const eg_stage *s) { return s->l1 > 0 || s->l2 > 0 || s->prox > 0; }

/* Checks every prune stage (and every train stage's penalize=) against the
 * model before anything runs, so a typo fails in a second, not after an
 * epoch of training. Channel counts
 * are followed through the stages: a fraction, or a second prune of the
 * same layer, that would leave no channel fails here too. */
static eg_status check_prunes(const eg_recipe *r, const eg_graph *g, eg_error *err)
{
    int *left = malloc((size_t)g->nnodes * sizeof *left);
    if (!left) return eg_fail(err, EG_ERR_NOMEM, "out of memory checking %s", r->path);
    for (int k = 0; k < g->nnodes; k++) left[k] = g->nodes[k].out_shape.c;
    eg_status st = EG_OK;
    char where[1100];
    for (int i = 0; i < r->nstages && !st; i++) {
        const eg_stage *s = &r->stages[i];
        int unstructured = s->kind == EG_STAGE_PRUNE && (!strcmp(s->method, "magnitude") || !strcmp(s->method, "threshold") ||
                                                         (!strcmp(s->method, "taylor") && !s->layer[0]) || !strcmp(s->method, "nm"));
        if ((s->kind == EG_STAGE_TRAIN && s->penalize[0]) || unstructured) {
            int *nodes = malloc((size_t)g->nnodes * sizeof *nodes), count;
            if (!nodes) st = eg_fail(err, EG_ERR_NOMEM, "out of memory");
            else st = unstructured ? prune_layers(r, s, g, nodes, &count, err) : penalized_layers(r, s, g, nodes, &count, err);
            free(nodes);
            continue;
        }
        if (s->kind == EG_STAGE_TRAIN && s->agp > 0) {
            int *nodes = malloc((size_t)g->nnodes * sizeof *nodes), count;
            if (!nodes) st = eg_fail(err, EG_ERR_NOMEM, "out of memory");
            else st = layer_list(r, s, g, "agp_layers", s->agp_layers, nodes, &count, err);
            if (!st) st = drop_protected(r, s, g, "agp_layers", s->agp_layers, nodes, &count, err);
            free(nodes);
            continue;
        }
        if (s->kind != EG_STAGE_PRUNE) continue;
        if (!strcmp(s->method, "layer")) {  /* a named layer must be removable; protect= must name layers */
            int *prot = malloc((size_t)g->nnodes * sizeof *prot), nprot;
            eg_error e2;
            if (!prot) st = eg_fail(err, EG_ERR_NOMEM, "out of memory");
            else st = protected_layers(r, s, g, prot, &nprot, err);
            free(prot);
            if (!st && s->layer[0] && eg_graph_find(g, s->layer) < 0)
                st = eg_fail(err, EG_ERR_RECIPE, "%s: prune method=layer layer=%s: model %s has no such node",
                             loc(r, s, where, sizeof where), s->layer, g->name);
            else if (!st && s->layer[0] && eg_layer_removable(g, eg_graph_find(g, s->layer), &e2))
                st = eg_fail(err, EG_ERR_RECIPE, "%s: %s", loc(r, s, where, sizeof where), e2.msg);
            continue;
        }
        int node = eg_graph_find(g, s->layer);
        if (node < 0) {
            char names[512] = "";
            for (int k = 0; k < g->nnodes; k++)
                if (g->nodes[k].nparams && strlen(names) + EG_NAME_MAX + 3 < sizeof names)
                    strcat(strcat(names, names[0] ? ", " : ""), g->nodes[k].name);
            st = eg_fail(err, EG_ERR_RECIPE, "%s: prune layer=%s: model %s has no such node; its layers are: %s",
                         loc(r, s, where, sizeof where), s->layer, g->name, names);
            break;
        }
        eg_dep_group grp;
        eg_error e2;
        if (eg_depgroup_build(g, node, &grp, &e2) || eg_criterion_check(eg_criterion_find(s->method), g, &grp, &e2)) {
            st = eg_fail(err, EG_ERR_RECIPE, "%s: %s", loc(r, s, where, sizeof where), e2.msg);
            break;
        }
        int c = left[node], count = prune_count(s, c);
        if (count >= c)
            st = eg_fail(err, EG_ERR_RECIPE,
                         "%s: prune amount=%g would remove %d of the %d channels layer %s has%s; at most %d can be removed",
                         loc(r, s, where, sizeof where), s->amount, count, c, s->layer,
                         c < grp.channels ? " left after the earlier prune stages" : "", c - 1);
        left[node] = c - count;
    }
    free(left);
    return st;
}

/* The report's and the model file's folders are checked before the run
 * too, so a typo fails at once, not after the training it was meant to keep. */
static eg_status check_out_path(const char *what, const char *path, eg_error *err)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    struct stat sb;
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    if (!*path) return eg_fail(err, EG_ERR_IO, "%s: expected a file name, found an empty string", what);
    if ((slash && !slash[1]) || (!stat(path, &sb) && S_ISDIR(sb.st_mode)))
        return eg_fail(err, EG_ERR_IO, "%s %s: expected a file name, found a folder", what, path);
    if (stat(dir, &sb))
        return eg_fail(err, EG_ERR_IO, "%s %s: folder %s: %s", what, path, dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return eg_fail(err, EG_ERR_IO, "%s %s: %s is not a folder", what, path, dir);
    if (access(dir, W_OK))
        return eg_fail(err, EG_ERR_IO, "%s %s: cannot write in folder %s: %s", what, path, dir, strerror(errno));
    return EG_OK;
}

typedef struct {
    const eg_recipe *r;
    const eg_run_opts *o;
    eg_graph *g;
    eg_dataset *train, *test;
    eg_rng *rng;
    eg_json *j;
    FILE *out;
    double acc_trained, acc_pruned, acc_final;
    int pruned_since_train, trained_since_prune, any_prune;
    int as_loaded;          /* loaded from a model file, and no stage has changed it yet */
    const char *data_dir;
    eg_optim *resume_optim;         /* --resume: the checkpoint's optimizer and position, for */
    eg_train_position *resume_pos;  /* the (only) train stage, which takes them; else NULL */
    eg_dataset *val;                /* the images held out of the training set (validation), or NULL */
} runner;

/* A line of the model's history; out of memory is the only failure. */
#define NOTE(R, err, ...) \
    (eg_model_note((R)->g, __VA_ARGS__) ? eg_fail(err, EG_ERR_NOMEM, "out of memory for the model's history") : EG_OK)

/* "l1 1e-05, prox 0.1 on the weights of every conv2d and linear": a train
 * stage's penalty, for the log and the history. */
static const char *penalty_text(const eg_stage *s, char *buf, size_t len)
{
    size_t o = 0;
    const float v[3] = {s->l1, s->l2, s->prox};
    static const char *const names[3] = {"l1", "l2", "prox"};
    for (int k = 0; k < 3; k++)
        if (v[k] > 0 && o < len) o += (size_t)snprintf(buf + o, len - o, "%s%s %g", o ? ", " : "", names[k], v[k]);
    if (o < len)
        snprintf(buf + o, len - o, " on the weights of %s", s->penalize[0] ? s->penalize : "every conv2d and linear");
    return buf;
}

/* A float a recipe gave, as the decimal it was most likely written as
 * (0.0005f is reported as 0.0005, not 0.0005000000237). */
static double as_written(float f)
{
    char b[32];
    snprintf(b, sizeof b, "%.7g", f);
    return strtod(b, NULL);
}

/* A train stage's settings and the seed, as a checkpoint keeps them: a
 * resume must run the same stage. */
static void stage_text(const eg_stage *s, uint64_t seed, char *buf, size_t len)
{
    snprintf(buf, len, "train epochs=%d optimizer=%s lr=%.9g momentum=%.9g weight_decay=%.9g batch=%d shuffle=%s l1=%.9g "
             "l2=%.9g prox=%.9g penalize=%s seed=%llu", s->epochs, s->optim == EG_OPTIM_ADAM ? "adam" : "sgd", s->lr,
             s->momentum, s->weight_decay, s->batch, s->shuffle ? "yes" : "no", s->l1, s->l2, s->prox,
             s->penalize[0] ? s->penalize : "-", (unsigned long long)seed);
}

/* The per-step hook of a train stage with checkpoint_every: a checkpoint
 * after every Nth optimizer step (and one where a signal stops it). */
typedef struct {
    const eg_stage *s;
    eg_train_position pos;  /* everything but the batch and the losses, kept up to date by run_train */
    int written;
    long saved_step;        /* the optimizer step of the last checkpoint written (-1: none) */
    eg_step_info last;      /* the last step done */
} checkpointer;

static eg_status write_checkpoint(checkpointer *c, const eg_graph *g, const eg_optim *o, eg_error *err)
{
    c->pos.batch = c->last.batch + 1;
    c->pos.batches = c->last.batches;
    c->pos.loss_sum = c->last.loss_sum;
    c->pos.penalty_sum = c->last.penalty_sum;
    c->written++;
    c->saved_step = o->step;
    return eg_dist_root() ? eg_checkpoint_save(g, o, &c->pos, c->s->checkpoint, err) : EG_OK;  /* rank 0 writes */
}

static eg_status checkpoint_step(void *ctx, eg_graph *g, eg_optim *o, const eg_step_info *si, eg_error *err)
{
    checkpointer *c = ctx;
    c->last = *si;
    return o->step % c->s->checkpoint_every ? EG_OK : write_checkpoint(c, g, o, err);
}

/* A train stage that stopped early, at a step that diverged (EG_ERR_NUMERIC)
 * or on a signal (EG_ERR_INTERRUPTED; then a last checkpoint is written
 * when the stage keeps them): err's message, which says where in the
 * epoch, with the stage, the epoch and what was kept. */
static eg_status stopped(runner *R, const eg_stage *s, checkpointer *ck, const eg_graph *g, const eg_optim *o,
                         int epoch, eg_status st, eg_error *err)
{
    char where[1100], what[1100], kept[2400];
    snprintf(what, sizeof what, "%s", err->msg);
    loc(R->r, s, where, sizeof where);
    int sig = eg_stop_signal();
    if (st == EG_ERR_INTERRUPTED && s->checkpoint_every && ck->last.batches && ck->saved_step != o->step) {
        eg_status cs = write_checkpoint(ck, g, o, err);
        if (cs) return cs;
    }
    if (!s->checkpoint_every)
        snprintf(kept, sizeof kept, "; nothing was written (--checkpoint FILE --checkpoint-every N, or a recipe's "
                 "checkpoint= and checkpoint_every=, keep a run's state)");
    else if (ck->saved_step < 0)
        snprintf(kept, sizeof kept, "; no checkpoint was written yet, and nothing else was");
    else if (st == EG_ERR_NUMERIC)
        snprintf(kept, sizeof kept, "; the last good checkpoint, %s (step %ld), is kept; nothing else was written",
                 s->checkpoint, ck->saved_step);
    else
        snprintf(kept, sizeof kept, "; checkpoint written to %s (step %ld)%s%s", s->checkpoint, ck->saved_step,
                 R->r->from_flags ? ": to go on, run the same command with --resume " : "",
                 R->r->from_flags ? s->checkpoint : "");
    if (st == EG_ERR_INTERRUPTED)
        return eg_fail(err, st, "%s: stopped by %s in epoch %d of %d, %s%s", where, sig == SIGINT ? "SIGINT" : "SIGTERM",
                       epoch + 1, s->epochs, what, kept);
    return eg_fail(err, st, "%s: training diverged in epoch %d of %d, at %s (%s lr %g: a smaller one may help)%s", where,
                   epoch + 1, s->epochs, what, s->optim == EG_OPTIM_ADAM ? "adam" : "sgd", s->lr, kept);
}

/* A resume runs the stage the checkpoint was written by, on the same data. */
static eg_status check_resume(runner *R, const eg_stage *s, const eg_train_position *want, const eg_train_position *have,
                              eg_error *err)
{
    const char *ck = R->o->resume;
    if (strcmp(want->stage, have->stage))
        return eg_fail(err, EG_ERR_ARG, "%s: the checkpoint was written by '%s'; this run is '%s': resume with the same options and seed",
                       ck, have->stage, want->stage);
    if (want->samples != have->samples || want->c != have->c || want->h != have->h || want->w != have->w ||
        want->images_crc != have->images_crc || want->labels_crc != have->labels_crc)
        return eg_fail(err, EG_ERR_ARG, "%s: the checkpoint was trained on %d images of %dx%dx%d (crc32 %08x, labels %08x); the data in %s is %d images of %dx%dx%d (crc32 %08x, labels %08x): resume on the same data",
                       ck, have->samples, have->c, have->h, have->w, have->images_crc, have->labels_crc, R->data_dir,
                       want->samples, want->c, want->h, want->w, want->images_crc, want->labels_crc);
    int bs = s->batch < want->samples ? s->batch : want->samples;
    if (have->batches != (want->samples + bs - 1) / bs)
        return eg_fail(err, EG_ERR_ARG, "%s: the checkpoint has %d batches per epoch; this run has %d", ck, have->batches,
                       (want->samples + bs - 1) / bs);
    return EG_OK;
}

static eg_status run_train(runner *R, const eg_stage *s, eg_error *err)
{
    eg_optim opt;
    eg_optim_init(&opt, s->optim, s->lr);
    opt.momentum = s->momentum;
    opt.weight_decay = s->weight_decay;
    char tag[32], pen_text[400];
    eg_penalty pen = {0};
    /* no bar under mpirun: Open MPI gives rank 0 a terminal even when its output goes to a file */
    eg_train_opts to = {.batch = s->batch, .shuffle = s->shuffle, .progress = R->o->progress && eg_dist_size() == 1};
    eg_status st = EG_OK;
    /* where the stage stands: for checkpoints and for a resume's checks */
    checkpointer ck = {s, {0}, 0, -1, {0}};
    ck.pos.epochs = s->epochs;
    ck.pos.threads = eg_thread_count();
    ck.pos.seed = R->o->seed;
    stage_text(s, R->o->seed, ck.pos.stage, sizeof ck.pos.stage);
    int first_epoch = 0;
    if (s->checkpoint_every || R->resume_pos) eg_train_position_data(&ck.pos, R->train);
    if (R->resume_pos) {
        const eg_train_position *rp = R->resume_pos;
        st = check_resume(R, s, &ck.pos, rp, err);
        if (st) return st;
        eg_optim_free(&opt);
        opt = *R->resume_optim;  /* takes the state over */
        R->resume_optim->m = R->resume_optim->v = NULL;
        first_epoch = rp->epoch;
        *R->rng = rp->rng;
        to.start_batch = rp->batch;
        to.start_loss = rp->loss_sum;
        to.start_penalty = rp->penalty_sum;
        fprintf(R->out, "[train] resuming from %s: epoch %d of %d, %d of %d batches done, optimizer step %ld\n",
                R->o->resume, rp->epoch + 1, rp->epochs, rp->batch, rp->batches, opt.step);
        if (rp->threads != ck.pos.threads)
            fprintf(R->out, "  note: the checkpoint ran with %d thread%s, this run with %d: the result will not be bit-identical to an uninterrupted run\n",
                    rp->threads, rp->threads == 1 ? "" : "s", ck.pos.threads);
    }
    if (s->checkpoint_every) {
        to.after_step = checkpoint_step;
        to.step_ctx = &ck;
    }
    if (has_penalty(s)) {
        /* built once for the stage: the layout cannot change while it trains */
        int *nodes = malloc((size_t)R->g->nnodes * sizeof *nodes), count = 0;
        if (!nodes) return eg_fail(err, EG_ERR_NOMEM, "out of memory for the penalty");
        st = penalized_layers(R->r, s, R->g, nodes, &count, err);
        if (!st) st = eg_penalty_init(&pen, R->g, nodes, count, s->l1, s->l2, s->prox, err);
        free(nodes);
        if (st) {
            eg_penalty_free(&pen);
            return st;
        }
        to.penalty = &pen;
        penalty_text(s, pen_text, sizeof pen_text);
    }
    eg_agp agp = {0};
    int *agp_nodes = NULL;
    size_t *agp_floor = NULL;
    if (s->agp > 0) {
        int count = 0;
        long bs = s->batch < R->train->n ? s->batch : R->train->n, steps = (long)s->epochs * ((R->train->n + bs - 1) / bs);
        char where[1100];
        agp_nodes = malloc((size_t)R->g->nnodes * sizeof *agp_nodes);
        if (!agp_nodes) st = eg_fail(err, EG_ERR_NOMEM, "out of memory for agp");
        if (!st) st = layer_list(R->r, s, R->g, "agp_layers", s->agp_layers, agp_nodes, &count, err);
        if (!st) st = drop_protected(R->r, s, R->g, "agp_layers", s->agp_layers, agp_nodes, &count, err);
        if (!st && !(agp_floor = layer_floors(R->g, s, agp_nodes, count))) st = eg_fail(err, EG_ERR_NOMEM, "out of memory for agp");
        agp = (eg_agp){s->agp_initial, s->agp, s->agp_start, s->agp_end, s->agp_every, !s->agp_local, agp_nodes, count,
                       agp_floor, R->out, 0, 0, NULL, NULL};
        eg_error e2;
        if (!st && eg_agp_check(&agp, &e2)) st = eg_fail(err, EG_ERR_RECIPE, "%s: %s", loc(R->r, s, where, sizeof where), e2.msg);
        if (!st && s->agp_end > steps)
            st = eg_fail(err, EG_ERR_RECIPE, "%s: agp_end=%ld is past the stage's last step: %d epoch%s of %d images in batches of %ld is %ld steps",
                         loc(R->r, s, where, sizeof where), s->agp_end, s->epochs, s->epochs == 1 ? "" : "s", R->train->n, bs, steps);
        if (st) {
            free(agp_nodes), free(agp_floor);
            eg_penalty_free(&pen);
            return st;
        }
        agp.next = to.after_step;  /* checkpoints, if any, after the pruning */
        agp.next_ctx = to.step_ctx;
        to.after_step = eg_agp_after_step;
        to.step_ctx = &agp;
        fprintf(R->out, "[agp] %s%s magnitude pruning to %.1f%% of the weights of %s, cubic from %.1f%% at step %ld to step %ld, every %ld steps\n",
                line_tag(R->r, s, tag, sizeof tag), s->agp_local ? "local" : "global", 100 * s->agp,
                s->agp_layers[0] ? s->agp_layers : "every conv2d and linear", 100 * s->agp_initial, s->agp_start, s->agp_end, s->agp_every);
        eg_json_num(R->j, "agp", s->agp);
        eg_json_num(R->j, "agp_initial", s->agp_initial);
        eg_json_num(R->j, "agp_start", (double)s->agp_start);
        eg_json_num(R->j, "agp_end", (double)s->agp_end);
        eg_json_num(R->j, "agp_every", (double)s->agp_every);
        eg_json_str(R->j, "agp_scope", s->agp_local ? "local" : "global");
    }
    fprintf(R->out, "[train] %s%d epoch%s, %s lr %g, batch %d%s%s%s\n", line_tag(R->r, s, tag, sizeof tag), s->epochs,
            s->epochs == 1 ? "" : "s", s->optim == EG_OPTIM_ADAM ? "adam" : "sgd", s->lr, s->batch,
            s->shuffle ? ", shuffled" : "", to.penalty ? "; penalty " : "", to.penalty ? pen_text : "");
    if (to.penalty) {
        eg_json_num(R->j, "l1", as_written(s->l1));
        eg_json_num(R->j, "l2", as_written(s->l2));
        eg_json_num(R->j, "prox", as_written(s->prox));
        eg_json_array(R->j, "penalize");
        for (int i = 0; i < R->g->nnodes; i++) {
            const eg_node *nd = &R->g->nodes[i];
            if (nd->nparams && pen.sel[nd->param[0] - R->g->params] != 0) eg_json_str(R->j, NULL, nd->name);
        }
        eg_json_array_end(R->j);
    }
    eg_json_array(R->j, "epochs");
    double secs = 0, last = 0;
    uint64_t sent0 = eg_dist_bytes_sent();  /* under MPI: what this rank hands to the allreduces */
    double mpi0 = eg_dist_seconds();
    eg_stop_catch(1);  /* a signal now finishes the step, and the stage stops there */
    int e = first_epoch;
    for (; e < s->epochs && !st; e++) {
        eg_epoch_stats es;
        ck.pos.epoch = e;
        ck.pos.rng = *R->rng;  /* as the epoch begins, before its shuffle */
        st = eg_train_epoch(R->g, &opt, R->train, &to, R->rng, &es, err);
        to.start_batch = 0, to.start_loss = to.start_penalty = 0;
        if (st) break;
        secs += es.seconds;
        last = es.loss;
        if (to.penalty)  /* the loss trained on, and its two terms */
            fprintf(R->out, "  epoch %d/%d: mean loss %.4f = cross-entropy %.4f + penalty %.4f  (%.3f s, %.0f images/s)\n",
                    e + 1, s->epochs, es.loss, es.loss - es.penalty, es.penalty, es.seconds, (es.seconds > 0 ? es.images / es.seconds : 0));
        else
            fprintf(R->out, "  epoch %d/%d: mean loss %.4f  (%.3f s, %.0f images/s)\n", e + 1, s->epochs,
                    es.loss, es.seconds, (es.seconds > 0 ? es.images / es.seconds : 0));
        fflush(R->out);  /* a log file sees each epoch as it ends */
        eg_json_object(R->j, NULL);
        eg_json_num(R->j, "epoch", e + 1);
        eg_json_num(R->j, "loss", es.loss);
        if (to.penalty) eg_json_num(R->j, "penalty", es.penalty);
        eg_json_num(R->j, "seconds", es.seconds);
        eg_json_num(R->j, "images_per_s", (es.seconds > 0 ? es.images / es.seconds : 0));
        eg_json_object_end(R->j);
    }
    eg_stop_catch(0);
    if (!st && eg_stop_signal())  /* came after the last step */
        st = eg_fail(err, EG_ERR_INTERRUPTED, "after its last step (%ld)", opt.step), e -= e > first_epoch;
    if (st == EG_ERR_NUMERIC || st == EG_ERR_INTERRUPTED) st = stopped(R, s, &ck, R->g, &opt, e, st, err);
    eg_json_array_end(R->j);
    eg_json_num(R->j, "seconds", secs);
    if (eg_dist_size() > 1 && !st && s->epochs > 0) {
        int bs = s->batch < R->train->n ? s->batch : R->train->n;
        long steps = (long)s->epochs * ((R->train->n + bs - 1) / bs);
        double per_step = (double)(eg_dist_bytes_sent() - sent0) / (double)steps;
        double wait = (eg_dist_seconds() - mpi0) / (double)steps;
        fprintf(R->out, "  MPI: %d ranks; each hands %.0f bytes per step to the allreduce, %.0f us in it per step (%ld steps)\n",
                eg_dist_size(), per_step, 1e6 * wait, steps);
        eg_json_num(R->j, "mpi_ranks", eg_dist_size());
        eg_json_num(R->j, "mpi_bytes_per_step", per_step);
        eg_json_num(R->j, "mpi_seconds_per_step", wait);  /* rank 0's, waiting for the others included */
    }
    if (s->checkpoint_every) {
        fprintf(R->out, "  %d checkpoint%s written to %s (every %ld steps)\n", ck.written, ck.written == 1 ? "" : "s",
                s->checkpoint, s->checkpoint_every);
        eg_json_str(R->j, "checkpoint", s->checkpoint);
        eg_json_num(R->j, "checkpoints", ck.written);
    }
    eg_optim_free(&opt);
    eg_penalty_free(&pen);
    if (s->agp > 0 && !st) {
        size_t w = 0, nz = 0;
        for (int i = 0; i < agp.count; i++) w += R->g->nodes[agp_nodes[i]].psize[0], nz += eg_node_nonzeros(&R->g->nodes[agp_nodes[i]]);
        fprintf(R->out, "  agp: %d pruning steps; %zu of %zu weights non-zero (%.2f%% sparse)\n", agp.prunes, nz, w, 100.0 * (1 - (double)nz / (double)w));
        eg_json_num(R->j, "agp_prunes", agp.prunes);
        eg_json_num(R->j, "weights", (double)w);
        eg_json_num(R->j, "nonzeros", (double)nz);
        R->any_prune = 1;
        st = NOTE(R, err, "agp during training: %s magnitude pruning to %.1f%%, steps %ld..%ld every %ld: %zu of %zu weights non-zero",
                  s->agp_local ? "local" : "global", 100 * s->agp, s->agp_start, s->agp_end, s->agp_every, nz, w);
    }
    free(agp_nodes), free(agp_floor);
    R->trained_since_prune = 1;
    R->pruned_since_train = s->agp > 0;  /* the next eval stands after agp's pruning */
    R->as_loaded = 0;
    if (!st)
        st = NOTE(R, err, "train %d epoch%s, %s lr %g, batch %d%s%s%s, seed %llu, on %s (%d images): last epoch's loss %.4f%s",
                  s->epochs, s->epochs == 1 ? "" : "s", s->optim == EG_OPTIM_ADAM ? "adam" : "sgd", s->lr, s->batch,
                  s->shuffle ? ", shuffled" : "", to.penalty ? ", penalty " : "", to.penalty ? pen_text : "",
                  (unsigned long long)R->o->seed, R->data_dir, R->train->n, last,
                  to.penalty ? " (with the penalty)" : "");
    return st;
}

static eg_status run_eval(runner *R, const eg_stage *s, eg_error *err)
{
    double t0 = eg_now(), acc, loss;
    eg_status st = eg_evaluate(R->g, R->test, s->batch, &acc, &loss, err);
    if (st) return st;
    double secs = eg_now() - t0;
    const char *when = R->as_loaded ? "as loaded" : R->pruned_since_train ? "after pruning"
                     : R->any_prune ? "after retraining" : "trained";
    if (R->pruned_since_train) R->acc_pruned = acc;
    else if (!R->any_prune && !R->as_loaded) R->acc_trained = acc;
    R->acc_final = acc;
    char tag[32];
    fprintf(R->out, "[eval] %stest accuracy %.2f%% (%s), loss %.4f  (%d images, %.3f s)\n", line_tag(R->r, s, tag, sizeof tag),
            acc, when, loss, R->test->n, secs);
    eg_json_str(R->j, "when", when);
    eg_json_num(R->j, "accuracy", acc);
    eg_json_num(R->j, "loss", loss);
    eg_json_num(R->j, "seconds", secs);
    return NOTE(R, err, "eval on %s (%d images): accuracy %.2f%%, loss %.4f", R->data_dir, R->test->n, acc, loss);
}

/* Bytes of a model's parameters stored dense, and with every masked weight
 * tensor in CSR (4-byte values and column indices, a row pointer per output
 * channel). */
static void model_bytes(const eg_graph *g, size_t *dense, size_t *sparse)
{
    *dense = g->nparam * sizeof(float);
    *sparse = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        for (int p = 0; p < nd->nparams; p++)
            *sparse += p == 0 && g->masks && (nd->op == EG_OP_CONV2D || nd->op == EG_OP_LINEAR)
                           ? eg_node_nonzeros(nd) * 8 + ((size_t)nd->out + 1) * 4
                           : nd->psize[p] * 4;  /* batchnorm scales are never masked */
    }
}

/* What an unstructured prune stage (magnitude, threshold) leaves, after its
 * own header line and JSON keys: each conv2d and linear layer's weights,
 * non-zeros, sparsity and the MACs left, the totals and the model's size
 * dense and with CSR weights, in the log and the report. *weights and
 * *nonzero get the totals. */
static void report_masked(runner *R, double secs, size_t *weights_out, size_t *nonzero_out)
{
    const eg_graph *g = R->g;
    fprintf(R->out, "  %-8s %9s %9s %9s %12s\n", "layer", "weights", "non-zero", "sparsity", "MACs left");
    eg_json_array(R->j, "layers");
    size_t weights = 0, nonzero = 0, macs = 0, macs_left = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        if (nd->op != EG_OP_CONV2D && nd->op != EG_OP_LINEAR) continue;
        size_t nz = eg_node_nonzeros(nd), m = eg_node_macs(nd), ml = (size_t)((double)m * (double)nz / (double)nd->psize[0] + 0.5);
        weights += nd->psize[0], nonzero += nz, macs += m, macs_left += ml;
        fprintf(R->out, "  %-8s %9zu %9zu %8.1f%% %12zu\n", nd->name, nd->psize[0], nz, 100.0 * (1 - (double)nz / (double)nd->psize[0]), ml);
        eg_json_object(R->j, NULL);
        eg_json_str(R->j, "name", nd->name);
        eg_json_num(R->j, "weights", (double)nd->psize[0]);
        eg_json_num(R->j, "nonzeros", (double)nz);
        eg_json_num(R->j, "macs", (double)m);
        eg_json_num(R->j, "macs_effective", (double)ml);
        eg_json_object_end(R->j);
    }
    eg_json_array_end(R->j);
    size_t dense, sparse;
    model_bytes(g, &dense, &sparse);
    fprintf(R->out, "  %-8s %9zu %9zu %8.1f%% %12zu   (MACs dense %zu)\n", "total", weights, nonzero,
            100.0 * (1 - (double)nonzero / (double)weights), macs_left, macs);
    fprintf(R->out, "  model %zu bytes dense, %zu bytes with sparse weights in CSR\n", dense, sparse);
    eg_json_num(R->j, "weights", (double)weights);
    eg_json_num(R->j, "nonzeros", (double)nonzero);
    eg_json_num(R->j, "macs_dense", (double)macs);
    eg_json_num(R->j, "macs_effective", (double)macs_left);
    eg_json_num(R->j, "bytes_dense", (double)dense);
    eg_json_num(R->j, "bytes_sparse", (double)sparse);
    eg_json_num(R->j, "seconds", secs);
    R->pruned_since_train = 1;
    R->any_prune = 1;
    R->as_loaded = 0;
    *weights_out = weights;
    *nonzero_out = nonzero;
}

/* Training batches (and their size) a taylor stage scores on. */
static int taylor_batches(const eg_stage *s) { return s->batches ? s->batches : 10; }
static int taylor_batch(const eg_stage *s) { return s->batch ? s->batch : 64; }

/* method=taylor on weights: masks the weights of smallest |w x gradient|
 * summed over training batches, as magnitude masks by |w|. */
static eg_status prune_taylor_weights(runner *R, const eg_stage *s, const int *nodes, int count, eg_error *err)
{
    double *scores = malloc((R->g->nparam ? R->g->nparam : 1) * sizeof *scores);
    if (!scores) return eg_fail(err, EG_ERR_NOMEM, "out of memory for taylor scores");
    eg_status st = eg_taylor_scores(R->g, R->train, taylor_batches(s), taylor_batch(s), R->rng, scores, -1, NULL, err);
    if (!st) st = eg_prune_scores(R->g, nodes, count, scores, s->amount, !s->local, err);
    free(scores);
    return st;
}

/* method=magnitude, method=threshold and method=taylor without layer=:
 * masks weights of the chosen layers. */
static eg_status run_prune_masked(runner *R, const eg_stage *s, eg_error *err)
{
    int threshold = !strcmp(s->method, "threshold"), taylor = !strcmp(s->method, "taylor"), nm = !strcmp(s->method, "nm");
    double t0 = eg_now();
    eg_graph *g = R->g;
    int *nodes = malloc((size_t)g->nnodes * sizeof *nodes), count;
    if (!nodes) return eg_fail(err, EG_ERR_NOMEM, "out of memory for pruning");
    size_t masked = 0;
    eg_status st = prune_layers(R->r, s, g, nodes, &count, err);
    if (!st && nm) st = eg_prune_nm(g, nodes, count, s->nm_n, s->nm_m, err);
    else if (!st && threshold) st = eg_prune_threshold(g, nodes, count, s->value, &masked, err);
    else if (!st && taylor) st = prune_taylor_weights(R, s, nodes, count, err);
    size_t *floors = st || threshold || taylor ? NULL : layer_floors(g, s, nodes, count);
    if (!st && !threshold && !taylor && !floors) st = eg_fail(err, EG_ERR_NOMEM, "out of memory for pruning");
    else if (!st && !threshold && !taylor) st = eg_prune_magnitude_floor(g, nodes, count, s->amount, !s->local, floors, err);
    free(floors);
    free(nodes);
    if (st) return st;
    double secs = eg_now() - t0;
    char tag[32];
    const char *which = s->layers[0] ? s->layers : "every conv2d and linear";
    if (nm) {
        fprintf(R->out, "[prune] %sN:M, %d of every %d consecutive weights of each row of %s kept  (%.4f s)\n",
                line_tag(R->r, s, tag, sizeof tag), s->nm_n, s->nm_m, which, secs);
        eg_json_str(R->j, "method", "nm");
        eg_json_num(R->j, "n", s->nm_n);
        eg_json_num(R->j, "m", s->nm_m);
    } else if (threshold) {
        fprintf(R->out, "[prune] %sthreshold, the weights of %s with |w| <= %g: %zu newly masked  (%.4f s)\n",
                line_tag(R->r, s, tag, sizeof tag), which, s->value, masked, secs);
        eg_json_str(R->j, "method", "threshold");
        eg_json_num(R->j, "value", s->value);
        eg_json_num(R->j, "masked", (double)masked);
    } else if (taylor) {
        fprintf(R->out, "[prune] %staylor, |w x gradient| over %d batches of %d, %s, %.1f%% of the weights of %s  (%.4f s)\n",
                line_tag(R->r, s, tag, sizeof tag), taylor_batches(s), taylor_batch(s),
                s->local ? "each layer alone" : "one threshold for all", 100 * s->amount, which, secs);
        eg_json_str(R->j, "method", "taylor");
        eg_json_str(R->j, "scope", s->local ? "local" : "global");
        eg_json_num(R->j, "amount", s->amount);
        eg_json_num(R->j, "batches", taylor_batches(s));
        eg_json_num(R->j, "batch", taylor_batch(s));
    } else {
        fprintf(R->out, "[prune] %smagnitude, %s, %.1f%% of the weights of %s  (%.4f s)\n", line_tag(R->r, s, tag, sizeof tag),
                s->local ? "each layer alone" : "one threshold for all", 100 * s->amount, which, secs);
        eg_json_str(R->j, "method", "magnitude");
        eg_json_str(R->j, "scope", s->local ? "local" : "global");
        eg_json_num(R->j, "amount", s->amount);
    }
    size_t weights, nonzero;
    report_masked(R, secs, &weights, &nonzero);
    if (nm)
        return NOTE(R, err, "prune nm %d:%d, the weights of %s: %zu of %zu weights non-zero", s->nm_n, s->nm_m, which,
                    nonzero, weights);
    if (threshold)
        return NOTE(R, err, "prune threshold, the weights of %s with |w| <= %g: %zu of %zu weights non-zero", which,
                    s->value, nonzero, weights);
    return NOTE(R, err, "prune %s, %s, %.1f%% of the weights of %s: %zu of %zu weights non-zero", taylor ? "taylor" : "magnitude",
                s->local ? "local" : "global", 100 * s->amount, which, nonzero, weights);
}

static eg_status run_prune(runner *R, const eg_stage *s, eg_error *err)
{
    if (!strcmp(s->method, "magnitude") || !strcmp(s->method, "threshold") || !strcmp(s->method, "nm") ||
        (!strcmp(s->method, "taylor") && !s->layer[0]))
        return run_prune_masked(R, s, err);
    char where[1100], tag[32];
    if (!strcmp(s->method, "lsh") || !strcmp(s->method, "layer")) {
        char note[1024];
        int *prot = malloc((size_t)R->g->nnodes * sizeof *prot), nprot = 0;
        eg_status st = prot ? protected_layers(R->r, s, R->g, prot, &nprot, err) : eg_fail(err, EG_ERR_NOMEM, "out of memory");
        line_tag(R->r, s, tag, sizeof tag);
        if (!st && s->method[1] == 's') st = eg_stage_prune_lsh(R->g, s, R->rng, R->out, R->j, tag, note, sizeof note, err);
        else if (!st)
            st = eg_stage_prune_layer(R->g, s, R->val ? R->val : R->test, R->val ? "validation" : "test", prot, nprot,
                                      R->out, R->j, tag, note, sizeof note, err);
        free(prot);
        if (st) return st;
        R->pruned_since_train = 1;
        R->any_prune = 1;
        R->as_loaded = 0;
        return NOTE(R, err, "%s", note);
    }
    double t0 = eg_now();
    eg_graph *g = R->g;
    int node = eg_graph_find(g, s->layer);
    eg_dep_group grp;
    eg_status st = eg_depgroup_build(g, node, &grp, err);
    if (st) return st;
    int c = grp.channels;
    int count = prune_count(s, c);
    if (count >= c)
        return eg_fail(err, EG_ERR_ARG, "%s: removing %d of the %d channels of %s would leave none",
                       loc(R->r, s, where, sizeof where), count, c, s->layer);
    double *scores = malloc((size_t)c * sizeof *scores);
    int *keep = malloc((size_t)c * sizeof *keep), *pruned = malloc((size_t)c * sizeof *pruned);
    if (!scores || !keep || !pruned) {
        free(scores), free(keep), free(pruned);
        return eg_fail(err, EG_ERR_NOMEM, "out of memory for pruning");
    }
    static const eg_criterion taylor = {"taylor", "Taylor scores |mean z x dL/dz|", NULL};
    const eg_criterion *crit = strcmp(s->method, "taylor") ? eg_criterion_find(s->method) : &taylor;
    if (crit->score) st = eg_group_scores(g, &grp, crit, scores, R->rng, err);
    else st = eg_taylor_scores(g, R->train, taylor_batches(s), taylor_batch(s), R->rng, NULL, node, scores, err);
    if (st) {
        free(scores), free(keep), free(pruned);
        return st;
    }
    int nkeep = eg_select_keep(scores, c, count, keep, pruned);
    size_t p0 = eg_graph_param_count(g), m0 = eg_graph_macs(g);
    st = eg_surgery_keep(g, &grp, keep, nkeep, err);
    if (!st) {
        double secs = eg_now() - t0;
        size_t p1 = eg_graph_param_count(g), m1 = eg_graph_macs(g);
        fprintf(R->out, "[prune] %s%s on %s: removing %d of %d channels\n", line_tag(R->r, s, tag, sizeof tag), s->method,
                s->layer, count, c);
        fprintf(R->out, "  %s", crit->label);
        /* a residual add couples several producers (bn_scale: batchnorms): their scores are summed (taylor: the root's alone) */
        eg_dep_role scored = strcmp(crit->name, "bn_scale") ? EG_DEP_OUT : EG_DEP_PASS;
        int producers = 0;
        for (int m = 0; crit->score && m < grp.nmembers; m++) producers += grp.members[m].role == scored;
        for (int m = 0, k = 0; producers > 1 && m < grp.nmembers; m++)
            if (grp.members[m].role == scored)
                fprintf(R->out, "%s%s", k++ ? (k == producers ? " and " : ", ") : " summed over ", g->nodes[grp.members[m].node].name);
        fprintf(R->out, ":");
        for (int i = 0; i < c; i++) fprintf(R->out, crit->score ? " %.4f" : " %.4g", scores[i]);  /* taylor's are small */
        fprintf(R->out, "\n  pruned channels ");
        print_ints(R->out, pruned, count);
        fprintf(R->out, ", kept ");
        print_ints(R->out, keep, nkeep);
        fprintf(R->out, "; sliced:");
        for (int m = 0; m < grp.nmembers; m++)
            fprintf(R->out, " %s (%s)", g->nodes[grp.members[m].node].name,
                    grp.members[m].role == EG_DEP_OUT ? "outputs" : grp.members[m].role == EG_DEP_IN ? "inputs" : "channels");
        fprintf(R->out, "\n  params %zu -> %zu (%+.1f%%), MACs %zu -> %zu (%+.1f%%)  (%.4f s)\n", p0, p1,
                100.0 * ((double)p1 - (double)p0) / (double)p0, m0, m1,
                100.0 * ((double)m1 - (double)m0) / (double)m0, secs);
        fprintf(R->out, "model after pruning:\n");
        eg_graph_print(g, R->out);
        eg_json_str(R->j, "layer", s->layer);
        eg_json_str(R->j, "method", s->method);
        eg_json_array(R->j, "scores");
        for (int i = 0; i < c; i++) eg_json_num(R->j, NULL, scores[i]);
        eg_json_array_end(R->j);
        json_ints(R->j, "pruned", pruned, count);
        json_ints(R->j, "kept", keep, nkeep);
        eg_json_sizes(R->j, p0, p1, m0, m1, secs);
        char a[512], b[512];
        st = NOTE(R, err, "prune %s %s: removed %d of %d channels %s, kept %s; params %zu -> %zu, MACs %zu -> %zu",
                  s->method, s->layer, count, c, ints_text(a, sizeof a, pruned, count),
                  ints_text(b, sizeof b, keep, nkeep), p0, p1, m0, m1);
    }
    free(scores), free(keep), free(pruned);
    R->pruned_since_train = 1;
    R->any_prune = 1;
    R->as_loaded = 0;
    return st;
}

/* FNV-1a over a model's layout, parameters and masks: equal on every rank
 * when the ranks hold the same model. */
static uint64_t model_hash(const eg_graph *g)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *blocks[2] = {(const unsigned char *)g->params, (const unsigned char *)g->masks};
    for (int i = 0; i < g->nnodes; i++) h = (h ^ (uint64_t)g->nodes[i].out_shape.c) * 0x100000001b3ULL;
    for (int b = 0; b < 2 && blocks[b]; b++)
        for (size_t k = 0; k < g->nparam * sizeof(float); k++) h = (h ^ blocks[b][k]) * 0x100000001b3ULL;
    return h;
}

/* Under MPI: after a stage that changes the model, every rank must hold the
 * same one (the same updates, the same pruning decisions); a rank that
 * does not stops the run rather than go on with a model of its own. */
static eg_status ranks_agree(const runner *R, const eg_stage *s, eg_error *err)
{
    if (eg_dist_size() < 2 || s->kind == EG_STAGE_EVAL || eg_dist_same(model_hash(R->g))) return EG_OK;
    char where[1100];
    return eg_fail(err, EG_ERR_ARG, "%s: rank %d's model differs from another rank's after this stage (hash %016llx)",
                   loc(R->r, s, where, sizeof where), eg_dist_rank(), (unsigned long long)model_hash(R->g));
}

/* EDAGARI_RANK_DUMP=DIR: every rank writes its final model to
 * DIR/rank<N>.edg, so a test (or a doubtful user) can check that the ranks
 * agree bit for bit; only rank 0 writes --save and --json. */
static eg_status dump_rank_model(const eg_graph *g, eg_error *err)
{
    const char *dir = getenv("EDAGARI_RANK_DUMP");
    if (!dir || !*dir) return EG_OK;
    char path[4200];
    snprintf(path, sizeof path, "%s/rank%d.edg", dir, eg_dist_rank());
    return eg_model_save(g, path, err);
}

/* --resume: g, the model the command names, is replaced by the
 * checkpoint's, which must be the same model (spec and masks) trained on. */
static eg_status resume_model(eg_graph *g, const char *model_path, const char *ck_path, eg_optim *o,
                              eg_train_position *p, eg_error *err)
{
    eg_graph c;
    eg_status st = eg_checkpoint_load(&c, o, p, ck_path, err);
    if (st) {
        eg_graph_free(g);
        return st;
    }
    size_t la = eg_graph_write_spec(g, NULL, 0), lb = eg_graph_write_spec(&c, NULL, 0);
    char *a = malloc(la + 1), *b = malloc(lb + 1);
    if (!a || !b) st = eg_fail(err, EG_ERR_NOMEM, "out of memory");
    if (!st) {
        eg_graph_write_spec(g, a, la + 1), eg_graph_write_spec(&c, b, lb + 1);
        size_t k = 0, line = 1;
        for (; k < la && k < lb && a[k] == b[k]; k++) line += a[k] == '\n';
        if (k < la || k < lb) {
            const char *ea = a + k, *eb = b + k;
            while (ea > a && ea[-1] != '\n') ea--;
            while (eb > b && eb[-1] != '\n') eb--;
            st = eg_fail(err, EG_ERR_ARG, "%s: the checkpoint holds another model than %s: line %zu of their specs is '%.*s' in the checkpoint, '%.*s' in %s",
                         ck_path, model_path, line, (int)strcspn(eb, "\n"), eb, (int)strcspn(ea, "\n"), ea, model_path);
        } else if (!g->masks != !c.masks || (g->masks && memcmp(g->masks, c.masks, g->nparam * sizeof *g->masks))) {
            st = eg_fail(err, EG_ERR_ARG, "%s: the checkpoint's masks differ from those of %s: it was not trained from that model",
                         ck_path, model_path);
        }
    }
    free(a), free(b);
    eg_graph_free(g);
    if (st) {
        eg_graph_free(&c);
        eg_optim_free(o);
        return st;
    }
    *g = c;
    return EG_OK;
}

/* The input normalisation, (x - mean) / std per channel: the model's own
 * (what it was trained with), else the recipe's; else for a model file
 * that stores none MNIST's, which every model stored before the files kept
 * it was trained with; else (a spec) worked out from the training set, or
 * MNIST's when there is none. The sets are normalised with it and the
 * model keeps it. Data whose channels are not the model's are left to the
 * stages to refuse. */
static eg_status normalize_data(const eg_recipe *r, eg_graph *g, int from_file, eg_dataset *train, eg_dataset *test,
                                eg_dataset *val, FILE *out, eg_error *err)
{
    const eg_dataset *any = train->x ? train : test->x ? test : NULL;
    int c = g->nodes[0].out_shape.c;
    if (!any || any->c != c) return EG_OK;
    float *norm = malloc(2 * (size_t)c * sizeof *norm);
    if (!norm) return eg_fail(err, EG_ERR_NOMEM, "out of memory for the normalisation");
    const char *from;
    if (g->norm_c) {
        memcpy(norm, g->norm, 2 * (size_t)c * sizeof *norm);
        from = "the model's";
        for (int k = 0; k < r->norm_c && k < c; k++)
            if (r->norm_mean[r->norm_c == 1 ? 0 : k] != norm[k] || r->norm_std[r->norm_c == 1 ? 0 : k] != norm[c + k]) {
                eg_fail(err, EG_ERR_ARG, "%s: normalize: channel %d: mean %g, std %g; the model was trained with mean %.9g, "
                        "std %.9g (its inputs must be scaled as they were)", r->path, k, r->norm_mean[r->norm_c == 1 ? 0 : k],
                        r->norm_std[r->norm_c == 1 ? 0 : k], norm[k], norm[c + k]);
                free(norm);
                return EG_ERR_ARG;
            }
    } else if (r->norm_c) {
        if (r->norm_c != 1 && r->norm_c != c) {
            free(norm);
            return eg_fail(err, EG_ERR_ARG, "%s: normalize: %d values; the model's input has %d channels (give one value "
                           "for all, or one for each)", r->path, r->norm_c, c);
        }
        for (int k = 0; k < c; k++)
            norm[k] = r->norm_mean[r->norm_c == 1 ? 0 : k], norm[c + k] = r->norm_std[r->norm_c == 1 ? 0 : k];
        from = r->from_flags ? "--mean and --std" : "the recipe's";
    } else if (train->x && !from_file) {
        eg_dataset_channel_stats(train, norm, norm + c);
        from = "the training set's";
    } else {
        for (int k = 0; k < c; k++) norm[k] = 0.1307f, norm[c + k] = 0.3081f;
        from = from_file ? "MNIST's (the model file stores none)" : "MNIST's";
    }
    if (train->x) eg_dataset_normalize(train, norm, norm + c);
    if (test->x) eg_dataset_normalize(test, norm, norm + c);
    if (val->x) eg_dataset_normalize(val, norm, norm + c);
    free(g->norm);
    g->norm = norm, g->norm_c = c;
    fprintf(out, "normalize: %s, (x - mean) / std with mean %.4g", from, norm[0]);
    for (int k = 1; k < c && k < 4; k++) fprintf(out, ",%.4g", norm[k]);
    fprintf(out, "%s, std %.4g", c > 4 ? ",..." : "", norm[c]);
    for (int k = 1; k < c && k < 4; k++) fprintf(out, ",%.4g", norm[c + k]);
    fprintf(out, "%s\n", c > 4 ? ",..." : "");
    return EG_OK;
}

eg_status eg_recipe_run(const eg_recipe *r, const eg_run_opts *o, eg_error *err)
{
    double t_start = eg_now();
    FILE *out = o->out ? o->out : stdout;
    char model_path[2100], data_dir[2100];
    resolve(model_path, sizeof model_path, r, r->model);
    if (o->data) snprintf(data_dir, sizeof data_dir, "%s", o->data);
    else if (r->data[0]) resolve(data_dir, sizeof data_dir, r, r->data);
    else snprintf(data_dir, sizeof data_dir, "data/mnist");
    eg_set_threads(o->threads);

    eg_status st = EG_OK;
    /* only rank 0 writes: the other machines need not have these folders */
    if (o->json && eg_dist_root()) st = check_out_path("--json", o->json, err);
    if (!st && o->save && eg_dist_root()) st = check_out_path("model file", o->save, err);
    for (int i = 0; i < r->nstages && !st; i++)
        if (r->stages[i].checkpoint[0]) {
            if (eg_dist_root()) st = check_out_path("checkpoint", r->stages[i].checkpoint, err);
            if (!st && o->save && !strcmp(o->save, r->stages[i].checkpoint))
                st = eg_fail(err, EG_ERR_ARG, "%s: the model file and the checkpoint would be the same file", o->save);
        }
    if (!st && o->json && o->save && !strcmp(o->json, o->save))
        st = eg_fail(err, EG_ERR_ARG, "%s: the model file and the JSON report would be the same file", o->save);
    if (!st && o->resume && (r->nstages != 1 || r->stages[0].kind != EG_STAGE_TRAIN))
        st = eg_fail(err, EG_ERR_ARG, "%s: --resume continues a single train stage (edagari train or finetune); %s has %d stage%s",
                     o->resume, r->path, r->nstages, r->nstages == 1 ? "" : "s");
    if (st) return st;
    eg_graph g;
    int from_file = 0;
    st = eg_model_open(&g, model_path, &from_file, err);
    if (st) return st;
    eg_optim ck_optim = {0};
    eg_train_position ck_pos;
    if (o->resume) {
        st = resume_model(&g, model_path, o->resume, &ck_optim, &ck_pos, err);
        if (st) return st;
    }
    /* a model that is not finite (a file from a run that diverged) is neither trained, pruned nor evaluated */
    char what[2200];
    snprintf(what, sizeof what, "%s", o->resume ? o->resume : model_path);
    if (eg_graph_check_finite(&g, what, err))
        st = eg_fail_more(err, EG_ERR_NUMERIC, "; a model that is not finite is neither trained, pruned nor evaluated");
    if (!st) st = check_prunes(r, &g, err);
    if (st) {
        eg_graph_free(&g);
        eg_optim_free(&ck_optim);
        return st;
    }
    /* A recipe that trains or evaluates loads both sets, so a damaged data
     * folder fails before any stage runs; a command loads only the set its
     * stage reads (eval: the test set); pruning needs none. */
    int need_train = 0, need_test = 0;
    for (int i = 0; i < r->nstages; i++) {
        need_train |= r->stages[i].kind == EG_STAGE_TRAIN;
        need_test |= r->stages[i].kind == EG_STAGE_EVAL;
        need_train |= r->stages[i].kind == EG_STAGE_PRUNE && !strcmp(r->stages[i].method, "taylor");
        need_test |= r->stages[i].kind == EG_STAGE_PRUNE && r->stages[i].layer_count > 0;  /* ranks layers on it */
    }
    if (!r->from_flags && (need_train || need_test)) need_train = need_test = 1;
    need_train |= r->validation > 0;  /* held out of it */
    eg_dataset train = {0}, test = {0}, val = {0};
    double t0 = eg_now();
    /* loaded as they are (bytes scaled to [0, 1]); normalize_data then scales them */
    if (need_train) st = eg_dataset_load_dir(&train, data_dir, "train", 0, 1, err);
    if (!st && need_test) st = eg_dataset_load_dir(&test, data_dir, "t10k", 0, 1, err);
    if (st) {
        eg_graph_free(&g);
        eg_optim_free(&ck_optim);
        eg_dataset_free(&train);
        return st;
    }
    double t_data = eg_now() - t0;
    if (!eg_dist_same((uint64_t)train.n << 32 | (uint32_t)test.n)) {
        eg_graph_free(&g), eg_dataset_free(&train), eg_dataset_free(&test);
        return eg_fail(err, EG_ERR_ARG, "%s: rank %d loaded %d train and %d test images, another rank a different number; "
                       "every rank must read the same data", data_dir, eg_dist_rank(), train.n, test.n);
    }
    fprintf(out, "%s%s: seed %llu, %d thread%s\n", r->from_flags ? "" : "edagari run ", r->path,
            (unsigned long long)o->seed, eg_thread_count(), eg_thread_count() == 1 ? "" : "s");
    if (eg_dist_size() > 1)
        fprintf(out, "MPI: %d ranks of %d thread%s; each takes its share of every batch, gradients summed across ranks\n",
                eg_dist_size(), eg_thread_count(), eg_thread_count() == 1 ? "" : "s");
    const eg_dataset *any = need_train ? &train : &test;
    if (need_train && need_test)
        fprintf(out, "data %s: %d train / %d test images of %dx%dx%d  (%.3f s)\n", data_dir, train.n, test.n,
                train.c, train.h, train.w, t_data);
    else if (need_train || need_test)
        fprintf(out, "data %s: %d %s images of %dx%dx%d  (%.3f s)\n", data_dir, any->n, need_train ? "train" : "test",
                any->c, any->h, any->w, t_data);
    if (r->validation) {
        st = eg_dataset_hold_out(&train, r->validation > train.n ? train.n : (int)r->validation, o->seed, &val, err);
        if (!st)
            fprintf(out, "validation: %d of the training images held out (chosen with seed %llu), %d left to train on; "
                    "layer ranking reads them, not the test set\n", val.n, (unsigned long long)o->seed, train.n);
    }
    if (st || (st = normalize_data(r, &g, from_file, &train, &test, &val, out, err))) {
        eg_graph_free(&g), eg_dataset_free(&train), eg_dataset_free(&test), eg_dataset_free(&val);
        eg_optim_free(&ck_optim);
        return st;
    }

    eg_rng rng;
    eg_rng_seed(&rng, o->seed);
    if (!from_file && !o->resume) {  /* a checkpoint's model has its parameters and history */
        eg_graph_init_params(&g, &rng);
        if (eg_model_note(&g, "init from spec %s, seed %llu", model_path, (unsigned long long)o->seed)) {
            eg_graph_free(&g), eg_dataset_free(&train), eg_dataset_free(&test), eg_dataset_free(&val);
            return eg_fail(err, EG_ERR_NOMEM, "out of memory for the model's history");
        }
    }
    fprintf(out, "model %s: %zu parameters, %zu MACs per image%s\n", model_path, eg_graph_param_count(&g),
            eg_graph_macs(&g), from_file ? " (loaded from a model file, not re-initialised)" : "");
    eg_graph_print(&g, out);

    eg_json j = {0};
    eg_json_object(&j, NULL);
    eg_json_str(&j, r->from_flags ? "command" : "recipe", r->path);
    eg_json_str(&j, "model", model_path);
    eg_json_num(&j, "model_from_file", from_file);
    if (need_train || need_test) eg_json_str(&j, "data", data_dir);
    eg_json_num(&j, "seed", (double)o->seed);
    eg_json_num(&j, "threads", eg_thread_count());
    eg_json_num(&j, "ranks", eg_dist_size());
    eg_json_num(&j, "data_seconds", t_data);
    json_model(&j, "model_before", &g);
    eg_json_array(&j, "stages");
    runner R = {r, o, &g, &train, &test, &rng, &j, out, -1, -1, -1, 0, 0, 0, from_file, data_dir, NULL, NULL,
                val.n ? &val : NULL};
    if (o->resume) R.resume_optim = &ck_optim, R.resume_pos = &ck_pos;
    static const char *const kinds[] = {"train", "prune", "eval"};
    for (int i = 0; i < r->nstages && !st; i++) {
        const eg_stage *s = &r->stages[i];
        eg_json_object(&j, NULL);
        eg_json_str(&j, "stage", kinds[s->kind]);
        if (!r->from_flags) eg_json_num(&j, "line", s->line);
        st = s->kind == EG_STAGE_TRAIN ? run_train(&R, s, err)
           : s->kind == EG_STAGE_PRUNE ? run_prune(&R, s, err)
                                       : run_eval(&R, s, err);
        if (!st) st = ranks_agree(&R, s, err);
        eg_json_object_end(&j);
    }
    eg_json_array_end(&j);
    /* the model file first: a report is written only when everything else was */
    if (!st && o->save && eg_dist_root()) st = eg_model_save(&g, o->save, err);
    if (!st) st = dump_rank_model(&g, err);
    double total = eg_now() - t_start;
    if (!st) {
        json_model(&j, "model_after", &g);
        eg_json_object(&j, "accuracy");
        if (R.acc_trained >= 0) eg_json_num(&j, "trained", R.acc_trained);
        if (R.acc_pruned >= 0) eg_json_num(&j, "after_pruning", R.acc_pruned);
        if (R.acc_final >= 0) eg_json_num(&j, "final", R.acc_final);
        eg_json_object_end(&j);
        if (o->save) eg_json_str(&j, "saved", o->save);
        eg_json_num(&j, "total_seconds", total);
        eg_json_object_end(&j);
        fprintf(out, "summary: params %zu, MACs %zu", eg_graph_param_count(&g), eg_graph_macs(&g));
        if (g.masks) {
            size_t nz = 0;
            for (size_t k = 0; k < g.nparam; k++) nz += g.params[k] != 0;
            fprintf(out, " (%zu parameters non-zero)", nz);
        }
        const char *sep = "; accuracy";
        if (R.acc_trained >= 0) fprintf(out, "%s trained %.2f%%", sep, R.acc_trained), sep = ",";
        if (R.acc_pruned >= 0) fprintf(out, "%s after pruning %.2f%%", sep, R.acc_pruned), sep = ",";
        if (R.acc_final >= 0) fprintf(out, "%s final %.2f%%", sep, R.acc_final);
        fprintf(out, "; total %.3f s\n", total);
        if (o->save) {
            struct stat sb;
            fprintf(out, "model saved to %s (%lld bytes)\n", o->save, stat(o->save, &sb) ? -1LL : (long long)sb.st_size);
        }
        if (o->json && eg_dist_root()) {
            if (j.oom) st = eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for the report", o->json);
            else st = eg_write_atomic(o->json, j.buf, j.len, err);
            if (!st) fprintf(out, "report written to %s\n", o->json);
        }
    }
    eg_json_free(&j);
    eg_graph_free(&g);
    eg_optim_free(&ck_optim);
    eg_dataset_free(&train);
    eg_dataset_free(&test);
    eg_dataset_free(&val);
    return st;
}

eg_status eg_graph_stage(eg_graph *g, const char *stage, const eg_stage_opts *o, eg_error *err)
{
    eg_recipe r = {0};
    snprintf(r.path, sizeof r.path, "stage '%.900s'", stage);
    r.from_flags = 1;
    eg_status st = eg_recipe_parse_line(&r, stage, 1, err);
    if (st) return st;
    if (r.nstages != 1) return eg_fail(err, EG_ERR_ARG, "%s: expected a train, prune or eval stage", r.path);
    const eg_stage *s = &r.stages[0];
    int taylor = s->kind == EG_STAGE_PRUNE && !strcmp(s->method, "taylor");
    if ((s->kind == EG_STAGE_TRAIN || taylor) && !o->train)
        return eg_fail(err, EG_ERR_ARG, "%s: reads a training set; none given", r.path);
    if ((s->kind == EG_STAGE_EVAL || (s->kind == EG_STAGE_PRUNE && s->layer_count > 0)) && !o->test)
        return eg_fail(err, EG_ERR_ARG, "%s: reads a test set; none given", r.path);
    if ((st = check_prunes(&r, g, err))) return st;
    FILE *out = o->log ? o->log : fopen("/dev/null", "w");
    if (!out) return eg_fail(err, EG_ERR_IO, "/dev/null: cannot open it for the stage's log");
    if (o->threads > 0) eg_set_threads(o->threads);
    eg_rng rng;
    eg_rng_seed(&rng, o->seed);
    eg_run_opts ro = {.seed = o->seed, .threads = o->threads, .out = out};
    eg_dataset none = {0}, *train = o->train ? (eg_dataset *)o->train : &none, *test = o->test ? (eg_dataset *)o->test : &none;
    eg_json j = {0};
    eg_json_object(&j, NULL);
    runner R = {&r, &ro, g, train, test, &rng, &j, out, -1, -1, -1, 0, 0, 0, 1, "", NULL, NULL, NULL};
    st = s->kind == EG_STAGE_TRAIN ? run_train(&R, s, err) : s->kind == EG_STAGE_PRUNE ? run_prune(&R, s, err)
                                                                                     : run_eval(&R, s, err);
    eg_json_free(&j);
    if (!o->log) fclose(out);
    return st;
}
