/* The planner: every choice of how a model runs, made in one place when
 * eg_graph_prepare plans it for a batch, training or inference and a thread
 * count, and kept in g->plan (graph/plan.h). In order:
 * - fusion: a relu folded into the 2x2 pool after it, a conv2d computing
 *   the 2x2 pool that is its only consumer, and such a pool writing
 *   straight into the padded input planes of the conv2d after it;
 * - gradients: which consumer writes an input's gradient and which add;
 * - lanes: whether inference runs whole groups of images in batch lanes
 *   (graph/lanes.c), and which pooled convs train in lanes;
 * - weights: in inference, a masked layer's dense, CSR or N:M copy;
 * - kernels: each conv2d's product;
 * - buffers: where every step's output, gradient and saved data lie in one
 *   arena, with the per-thread scratch and gradient blocks.
 * The choices depend on the model, the batch, the thread count and the
 * kernel variant alone, never on timing, so a given run always takes the
 * same paths and gives the same bits. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Rounds up to whole 64-byte lines so every buffer starts aligned. */
static size_t pad16(size_t n) { return (n + 15) & ~(size_t)15; }

/* How many inputs of later nodes read node's output; *last the last reader. */
static int consumers(const eg_graph *g, int node, int *last)
{
    int count = 0;
    for (int i = node + 1; i < g->nnodes; i++)
        for (int s = 0; s < g->nodes[i].ninputs; s++)
            if (g->nodes[i].inputs[s] == node) count++, *last = i;
    return count;
}

/* ---------------------------------------------------------------- fusion */

/* A relu between a node and an op that can apply it itself (a 2x2 pool)
 * is folded into that op when nothing else reads either side of it:
 * max(0, max(window)) is the same value, on a quarter of the elements. */
static void fold_relus(eg_graph *g)
{
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *r = &g->nodes[i];
        int q, unused;
        if (r->op != EG_OP_RELU || g->nodes[r->inputs[0]].op == EG_OP_INPUT) continue;
        if (consumers(g, r->inputs[0], &unused) != 1 || consumers(g, i, &q) != 1) continue;
        if (!eg_ops[g->nodes[q].op]->folds_relu || !eg_ops[g->nodes[q].op]->folds_relu(&g->nodes[q])) continue;
        g->plan.steps[i].relu_folded = 1;
        g->plan.steps[q].relu_in = 1;
    }
}

static int is_pool2x2(const eg_node *nd)
{
    /* unpadded, on even planes, where ceil changes nothing */
    return nd->op == EG_OP_MAXPOOL2D && nd->kernel == 2 && nd->stride == 2 && nd->pad == 0 && nd->in_shape.h % 2 == 0 &&
           nd->in_shape.w % 2 == 0;
}

/* A conv2d is fused with the 2x2 max pool that is its only consumer
 * (directly, or through a relu the pool folds): the conv pools its output
 * rows as it writes them, and in training keeps each window's winner and
 * builds its own output gradient from the pool's dy, so neither its output
 * nor its gradient goes through memory whole. When such a pool's only
 * consumer is a conv2d that reads zero-padded planes, the pool writes those
 * planes' interiors and its own y is never written. */
static void fuse_pools(eg_graph *g)
{
    eg_step *st = g->plan.steps;
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *pool = &g->nodes[i];
        if (!is_pool2x2(pool)) continue;
        int src = pool->inputs[0], unused, next;
        if (st[src].relu_folded) src = g->nodes[src].inputs[0];  /* the relu the pool applies */
        else if (st[i].relu_in) continue;
        if (g->nodes[src].op != EG_OP_CONV2D || consumers(g, src, &unused) != 1) continue;
        st[src].pool_into = i;
        st[i].pooled_in = 1;
        if (consumers(g, i, &next) != 1 || g->nodes[next].inputs[0] != i) continue;
        if (g->nodes[next].op == EG_OP_CONV2D && eg_conv2d_pads_input(&g->nodes[next]))
            st[i].padded_out = next, st[next].padded_in = 1;
    }
}

/* The last consumer in file order runs backward first and writes the
 * input's gradient; earlier consumers add to it. */
static void gradient_flow(eg_graph *g, char *seen)
{
    memset(seen, 0, (size_t)g->nnodes);
    for (int i = g->nnodes - 1; i >= 0; i--) {
        eg_node *nd = &g->nodes[i];
        eg_step *s = &g->plan.steps[i];
        for (int k = 0; k < nd->ninputs; k++) {
            int src = nd->inputs[k];
            s->dx_add[k] = seen[src];
            seen[src] = 1;
            if (g->nodes[src].op != EG_OP_INPUT) s->needs_dx = 1;
        }
    }
}

/* ------------------------------------------------------- training lanes */

/* Whether conv2d node i trains its threads' whole groups of images in
 * lanes: a fused pool, a gradient it writes (one added to another's goes
 * image by image), and a shape its lane buffers take. */
static int trains_in_lanes(const eg_graph *g, int i)
{
    const eg_step *s = &g->plan.steps[i];
    return g->plan.training && !g->plan.no_lanes && s->pool_into && !s->dx_add[0] &&
           eg_conv2d_trains_in_lanes(g, &g->nodes[i]);
}

/* Between a conv and the next that both train in lanes, everything stays in
 * lanes: their groups are the same (they depend on a thread's rows alone),
 * so the first pools straight into the next's lane planes and the next's
 * input gradient goes to that pool's dy as lanes. */
static void plan_training_lanes(eg_graph *g)
{
    eg_step *st = g->plan.steps;
    for (int i = 0; i < g->nnodes; i++) st[i].lanes_train = g->nodes[i].op == EG_OP_CONV2D && trains_in_lanes(g, i);
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        if (!st[i].lanes_train || !st[i].padded_in) continue;
        int pool = nd->inputs[0], src = g->nodes[pool].inputs[0];
        if (st[src].relu_folded) src = g->nodes[src].inputs[0];  /* the relu the pool applies */
        if (g->nodes[src].op == EG_OP_CONV2D && st[src].pool_into == pool && st[src].lanes_train)
            st[i].lanes_from = src, st[src].lanes_to = i;
    }
}

/* --------------------------------------------------------------- weights */

/* Which copy a masked conv2d or linear node multiplies by in inference.
 * The shares are fixed, calibrated with bench/sparse_speedup.sh (figures in
 * docs/performance.md), not timed on each run, so the path and the bits
 * depend on the model alone.
 * - A linear layer on CSR vectorizes over the batch with four rows or more
 *   a thread and breaks even with dense near density 0.45; with fewer it
 *   gathers one row at a time against a dense row that is one vector
 *   product, and breaks even near 0.05. A convolution vectorizes over
 *   output positions whatever the batch, and CSR, which loads an index and
 *   a weight per kept weight where the dense kernel shares each loaded row
 *   among four outputs, breaks even near 0.5. Each share keeps a margin.
 * - In batch lanes CSR reads its input in place and every layer gains from
 *   density 0.4 on; the N:M kernel has no lanes form (an N:M mask runs on
 *   CSR there).
 * - N:M costs about what CSR costs per kept weight: a linear layer whose
 *   mask is an n:4 pattern with nearly every slot used (an n:4 prune, not an
 *   unstructured mask that happens to fit) runs on its N:M copy where CSR
 *   would be chosen at that density; convolutions never do. */
#define LINEAR_CSR_MAX_DENSITY 0.35
#define LINEAR_CSR_MAX_DENSITY_FEW_ROWS 0.04
#define CONV_CSR_MAX_DENSITY 0.35
#define LANES_CSR_MAX_DENSITY 0.4
enum { NM_MAX_M = 8 };  /* the largest group the N:M copy has room for */

/* Floats of the N:M copy: at most rows x ceil(K/m) x m slots for any m,
 * values then byte indices. */
static size_t nm_floats(const eg_node *nd)
{
    size_t slots = (size_t)nd->out * (nd->psize[0] / (size_t)nd->out + NM_MAX_M - 1);
    return slots + (slots + 3) / 4;
}

/* Packs nd's weights as n:m into room; 0 on success. */
static int use_nm(const eg_node *nd, eg_step *s, int n, int m, float *room)
{
    int K = (int)(nd->psize[0] / (size_t)nd->out);
    size_t slots = (size_t)nd->out * (size_t)((K + m - 1) / m) * (size_t)n;
    s->nm_val = room;
    s->nm_idx = (uint8_t *)(room + slots);
    if (eg_k->nm_build(nd->out, K, n, m, nd->param[0], nd->mask[0], s->nm_val, s->nm_idx)) return -1;
    s->weights = EG_WEIGHTS_NM;
    s->nm_n = n;
    s->nm_m = m;
    return 0;
}

static void choose_weights(const eg_graph *g, const eg_node *nd, eg_step *s, size_t kept, int lanes, float *nm_room)
{
    const eg_plan *p = &g->plan;
    int K = (int)(nd->psize[0] / (size_t)nd->out);
    s->weights = EG_WEIGHTS_DENSE;
    if (p->sparse == 1) {
        s->weights = EG_WEIGHTS_CSR;
        return;
    }
    if (p->sparse == 2) {  /* the smallest n that holds every group of 4 */
        int n = eg_k->nm_max_kept(nd->out, K, 4, nd->param[0], nd->mask[0]);
        use_nm(nd, s, n > 0 ? n : 1, 4, nm_room);
        return;
    }
    double density = (double)kept / (double)nd->psize[0];
    int rows = (p->batch + p->threads - 1) / (p->threads > 0 ? p->threads : 1);  /* per thread, at most */
    if (lanes) {
        if (density <= LANES_CSR_MAX_DENSITY) s->weights = EG_WEIGHTS_CSR;
        return;
    }
    /* a row shorter than a group (K < 4) fits any N:M pattern: not a prune */
    if (nd->op == EG_OP_LINEAR && rows >= 4 && K >= 4 && kept < nd->psize[0]) {
        int n = eg_k->nm_max_kept(nd->out, K, 4, nd->param[0], nd->mask[0]);
        /* what an n:4 prune keeps: n of each group, min(n, length) of a short last one */
        double full = (double)nd->out * ((K / 4) * n + (K % 4 < n ? K % 4 : n));
        if (n >= 1 && n <= 4 * LINEAR_CSR_MAX_DENSITY && (double)kept >= 0.8 * full && !use_nm(nd, s, n, 4, nm_room))
            return;
    }
    double most = nd->op == EG_OP_CONV2D ? CONV_CSR_MAX_DENSITY
                  : rows >= 4            ? LINEAR_CSR_MAX_DENSITY
                                         : LINEAR_CSR_MAX_DENSITY_FEW_ROWS;
    if (density <= most) s->weights = EG_WEIGHTS_CSR;
}

/* Arena floats for node nd's inference copies of its weight. Every linear
 * node: the weight transposed. Conv2d and linear nodes of a masked graph
 * (unless forced dense): a CSR copy, its row pointers and room for every
 * weight's column and value, so re-pruning never needs a larger arena; then
 * room for an N:M copy. */
static size_t wt_floats(const eg_node *nd, int training)
{
    return !training && nd->op == EG_OP_LINEAR ? pad16(nd->psize[0]) : 0;
}
static size_t copy_floats(const eg_graph *g, const eg_node *nd, int training)
{
    size_t wt = wt_floats(nd, training);
    if (training || !g->masks || (nd->op != EG_OP_LINEAR && nd->op != EG_OP_CONV2D) || g->plan.sparse < 0) return wt;
    return wt + pad16((size_t)nd->out + 1) + 2 * pad16(nd->psize[0]) + pad16(nm_floats(nd));
}

/* The inference copies are rebuilt on every prepare for inference, which
 * every evaluation calls first, and parameters do not change between a
 * prepare with training 0 and the forwards after it: training prepares
 * with training 1 first, and pruning or surgery changes weights only
 * between evaluations. So a copy is never stale; training never reads one. */
static void build_copies(eg_graph *g)
{
    eg_plan *p = &g->plan;
    float *at = p->arena + (p->arena_floats - p->copy_floats);
    int lanes = !p->no_lanes && p->lanes_floats && (p->batch + p->threads - 1) / p->threads >= eg_k->vl;
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *nd = &g->nodes[i];
        eg_step *s = &p->steps[i];
        size_t wt = wt_floats(nd, p->training), room = copy_floats(g, nd, p->training) - wt;
        s->weights = EG_WEIGHTS_DENSE;
        s->nm_n = s->nm_m = 0;
        s->csr_rowptr = s->csr_col = NULL;
        s->csr_val = s->nm_val = NULL;
        s->nm_idx = NULL;
        s->wt = wt ? at : NULL;
        if (wt) eg_k->transpose(s->wt, nd->out, nd->param[0], nd->in_shape.c, nd->out, nd->in_shape.c);
        at += wt;
        if (!room || !nd->mask[0]) continue;
        s->csr_rowptr = (int32_t *)at;
        s->csr_col = (int32_t *)(at + pad16((size_t)nd->out + 1));
        s->csr_val = at + pad16((size_t)nd->out + 1) + pad16(nd->psize[0]);
        at += room;
        size_t kept = eg_k->csr_build(nd->out, (int)(nd->psize[0] / (size_t)nd->out), nd->param[0], nd->mask[0],
                                      s->csr_rowptr, s->csr_col, s->csr_val);
        choose_weights(g, nd, s, kept, lanes, at - room + pad16((size_t)nd->out + 1) + 2 * pad16(nd->psize[0]));
    }
}

/* --------------------------------------------------------------- kernels */

/* Each conv2d's product: stride 1 reads its input as shifted views of
 * zero-padded planes (conv2d.c), others go through im2col; in inference a
 * dense conv pooled as it computes, cut to one or two channels, takes the
 * small conv that keeps all its weights in registers, reading a 3x3 conv's
 * input in place when no pool before it wrote padded planes (a 5x5 one's
 * masked loads would cost more than the copy). */
static void choose_kernels(eg_graph *g)
{
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        eg_step *s = &g->plan.steps[i];
        s->run = EG_RUN_PLAIN;
        if (nd->op != EG_OP_CONV2D) continue;
        s->run = eg_conv2d_pads_input(nd) ? EG_RUN_ROWS : EG_RUN_IM2COL;
        if (s->run == EG_RUN_ROWS && s->pool_into && !g->plan.training && s->weights == EG_WEIGHTS_DENSE &&
            eg_k->small_conv_fits(nd->out, nd->in_shape.c, nd->kernel))
            s->run = !s->padded_in && nd->kernel == 3 ? EG_RUN_SMALL_DIRECT : EG_RUN_SMALL;
    }
}

/* --------------------------------------------------------------- buffers */

/* Lane buffers' padding is zero from here on: only interiors are written. */
static void clear_lanes(eg_plan *p)
{
    if (p->lanes) memset(p->lanes, 0, p->lanes_floats * (size_t)p->threads * sizeof *p->lanes);
}

/* The gradient block, laid out as the parameters; only training needs it. */
static eg_status alloc_grads(eg_graph *g)
{
    if (g->grads) return EG_OK;
    g->grads = calloc(g->nparam ? g->nparam : 1, sizeof *g->grads);
    if (!g->grads) return EG_ERR_NOMEM;
    size_t off = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int p = 0; p < g->nodes[i].nparams; p++) {
            g->nodes[i].grad[p] = g->grads + off;
            off += g->nodes[i].psize[p];
        }
    return EG_OK;
}

/* Every step's fusion, lanes and gradient flags, from nothing. */
static void plan_steps(eg_graph *g, char *seen)
{
    eg_plan *p = &g->plan;
    for (int i = 0; i < g->nnodes; i++) {
        eg_step *s = &p->steps[i];
        s->relu_folded = s->relu_in = s->pool_into = s->pooled_in = s->padded_out = s->padded_in = 0;
        s->needs_dx = 0;
    }
    fold_relus(g);
    if (!p->unfused) fuse_pools(g);
    gradient_flow(g, seen);
    plan_training_lanes(g);
}

/* Lays every step's buffers out in the arena (allocating it when at is
 * NULL); returns the floats the steps take. */
static size_t lay_out(eg_graph *g, int n, int rows, float *at, size_t *scratch)
{
    eg_plan *p = &g->plan;
    int training = p->training, threads = p->threads;
    size_t total = 0;
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *nd = &g->nodes[i];
        eg_step *s = &p->steps[i];
        const eg_op_def *op = eg_ops[nd->op];
        int last = i == g->nnodes - 1;
        size_t out = (size_t)(last ? n : rows) * eg_shape_size(nd->out_shape);
        /* staged inference: the input's chunks, the output node's chunks */
        size_t extra = rows == n ? 0 : pad16((size_t)rows * eg_shape_size(nd->out_shape));
        if (rows < n && !last && nd->op != EG_OP_INPUT) extra = 0;
        size_t saved = training && op->saved_floats ? (size_t)n * op->saved_floats(nd)
                       : !training && op->padded_floats ? (size_t)(last ? n : rows) * op->padded_floats(nd)
                                                        : 0;
        size_t y = nd->op == EG_OP_INPUT || s->relu_folded ? 0 : pad16(out);
        size_t dy = training && nd->op != EG_OP_INPUT && !s->relu_folded ? pad16(out) : 0;
        size_t shared = training && op->shared_floats ? pad16(op->shared_floats(nd, threads)) : 0;
        if (at && s->relu_folded) {
            /* works in place on its input's buffers, through its consumer */
            s->y = p->steps[nd->inputs[0]].y;
            s->dy = p->steps[nd->inputs[0]].dy;
            s->saved = NULL;
            s->argmax = NULL;
            s->shared = NULL;
        } else if (at) {
            s->y = y ? at : NULL;
            s->dy = dy ? at + y : NULL;
            s->saved = saved ? at + y + dy : NULL;
            s->argmax = (int32_t *)s->saved;
            /* padded planes: borders zero from here on, only interiors are written */
            if (saved && op->padded_floats && op->padded_floats(nd)) memset(s->saved, 0, saved * sizeof *s->saved);
            s->shared = shared ? at + y + dy + pad16(saved) : NULL;
            /* zero once: conv2d keeps zero-bordered planes there */
            if (shared) memset(s->shared, 0, shared * sizeof *s->shared);
            if (extra && nd->op == EG_OP_INPUT) p->stage = at + y + dy + pad16(saved) + shared;
            if (extra && last) p->chunk_out = at + y + dy + pad16(saved) + shared;
            at += y + dy + pad16(saved) + shared + extra;
        }
        total += y + dy + pad16(saved) + shared + extra;
        if (op->scratch_floats && scratch) {
            /* an inference forward call never gets more than a chunk */
            size_t sc = pad16(op->scratch_floats(nd, training || n < EG_INFER_CHUNK ? n : EG_INFER_CHUNK));
            if (sc > *scratch) *scratch = sc;
        }
    }
    return total;
}

/* Makes every inference-time choice that can change between two prepares
 * with the same buffers: the weights' copies (parameters changed) and the
 * kernels. */
static void choose(eg_graph *g)
{
    build_copies(g);
    choose_kernels(g);
}

eg_status eg_graph_prepare(eg_graph *g, int n, int training, int threads)
{
    eg_plan *p = &g->plan;
    if (threads < 1) threads = 1;
    if (training && alloc_grads(g)) return EG_ERR_NOMEM;
    if (p->nsteps != g->nnodes) {
        eg_step *steps = calloc((size_t)g->nnodes, sizeof *steps);
        if (!steps) return EG_ERR_NOMEM;
        free(p->steps);
        p->steps = steps;
        p->nsteps = g->nnodes;
        p->batch = 0;
    }
    char *seen = malloc((size_t)g->nnodes);
    if (!seen) return EG_ERR_NOMEM;
    size_t copies = 0;
    for (int i = 0; i < g->nnodes; i++) copies += copy_floats(g, &g->nodes[i], training);
    int same = p->arena && p->batch == n && p->training == training && p->threads == threads &&
               p->copy_floats == copies && p->kernels == eg_k;
    p->training = training, p->threads = threads;
    /* fusion changes no buffer size: it follows p->unfused even when the arena stays */
    plan_steps(g, seen);
    free(seen);
    /* lane buffers only where a thread gets a whole group of images */
    int lane_rows = !training && !p->no_lanes && (n + threads - 1) / threads >= eg_k->vl;
    size_t lanes = lane_rows ? pad16(eg_lanes_floats(g)) : 0;
    if (same && p->lanes_floats == lanes) {
        choose(g);
        clear_lanes(p);
        return EG_OK;
    }
    int inputs = 0;
    for (int i = 0; i < g->nnodes; i++) inputs += g->nodes[i].op == EG_OP_INPUT;
    int rows = !training && inputs == 1 && g->nnodes > 1 && n > threads * EG_INFER_CHUNK ? threads * EG_INFER_CHUNK : n;
    size_t scratch = 0, tgrads = training ? pad16(g->nparam) * (size_t)threads : 0;
    size_t total = lay_out(g, n, rows, NULL, &scratch);
    free(p->arena);
    p->arena_floats = total + tgrads + (scratch + lanes) * (size_t)threads + copies;
    p->arena = aligned_alloc(64, (p->arena_floats + 16) * sizeof(float));
    if (!p->arena) {
        p->batch = 0;
        return EG_ERR_NOMEM;
    }
    p->stage = p->chunk_out = NULL;
    lay_out(g, n, rows, p->arena, NULL);
    p->tgrads = training ? p->arena + total : NULL;
    p->scratch = p->arena + total + tgrads;
    p->scratch_per_thread = scratch;
    p->lanes = lanes ? p->scratch + scratch * (size_t)threads : NULL;
    p->lanes_floats = lanes;
    p->copy_floats = copies;
    p->batch = n;
    p->kernels = eg_k;
    p->chunk_rows = rows < n ? rows : 0;
    clear_lanes(p);
    choose(g);
    return EG_OK;
}

void eg_plan_free(eg_plan *p)
{
    free(p->steps);
    free(p->arena);
    memset(p, 0, sizeof *p);
}

/* ---------------------------------------------------------------- print */

static const char *run_name(const eg_node *nd, const eg_step *s)
{
    switch (s->run) {
    case EG_RUN_ROWS: return "row-offset";
    case EG_RUN_IM2COL: return "im2col";
    case EG_RUN_SMALL: return "small conv";
    case EG_RUN_SMALL_DIRECT: return "small conv, in place";
    default: return nd->op == EG_OP_LINEAR ? "product" : "-";
    }
}

void eg_plan_print(const eg_graph *g, FILE *f)
{
    const eg_plan *p = &g->plan;
    if (!p->steps) return;
    fprintf(f, "plan: batch %d, %s, %d thread%s, %s kernels (%d floats a vector)\n", p->batch,
            p->training ? "training" : "inference", p->threads, p->threads == 1 ? "" : "s", eg_k->name, eg_k->vl);
    if (p->lanes)
        fprintf(f, "  whole groups of %d images run through the model in batch lanes; the kernels below take the rest\n",
                eg_k->vl);
    fprintf(f, "  %-8s %-11s %-20s %-7s %s\n", "node", "op", "kernel", "weights", "fused / lanes");
    for (int i = 1; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        const eg_step *s = &p->steps[i];
        const char *w = nd->nparams == 0 || nd->op == EG_OP_BATCHNORM2D ? "-"
                        : s->weights == EG_WEIGHTS_CSR                  ? "csr"
                        : s->weights == EG_WEIGHTS_NM                   ? "n:m"
                                                                        : "dense";
        char fused[96] = "";
        if (s->relu_folded) snprintf(fused, sizeof fused, "applied by %s", g->nodes[i + 1].name);
        else if (s->pooled_in) snprintf(fused, sizeof fused, "computed by its conv");
        else if (s->pool_into)
            snprintf(fused, sizeof fused, "pools into %s%s%s", g->nodes[s->pool_into].name,
                     p->steps[s->pool_into].padded_out ? " (into the next conv's planes)" : "",
                     s->lanes_train ? "; trains in lanes" : "");
        if (*fused) fprintf(f, "  %-8s %-11s %-20s %-7s %s\n", nd->name, eg_ops[nd->op]->name, run_name(nd, s), w, fused);
        else fprintf(f, "  %-8s %-11s %-20s %s\n", nd->name, eg_ops[nd->op]->name, run_name(nd, s), w);
    }
}
