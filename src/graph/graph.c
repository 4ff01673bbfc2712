/* The model graph: shapes, parameter blocks, the per-batch arena, and forward
 * and backward in topological (file) order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

eg_status eg_graph_infer_shapes(eg_graph *g, const char *filename, eg_error *err)
{
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *nd = &g->nodes[i];
        if (nd->ninputs) nd->in_shape = g->nodes[nd->inputs[0]].out_shape;
        char why[512];
        if (eg_ops[nd->op]->shape(nd, why, sizeof why))
            return eg_fail(err, EG_ERR_SPEC, "%s:%d: %s %s: %s", filename, nd->line,
                           eg_ops[nd->op]->name, nd->name, why);
        /* a node of several inputs (add) takes them all of one shape */
        for (int s = 1; s < nd->ninputs; s++) {
            eg_shape a = nd->in_shape, b = g->nodes[nd->inputs[s]].out_shape;
            if (a.c != b.c || a.h != b.h || a.w != b.w)
                return eg_fail(err, EG_ERR_SPEC, "%s:%d: %s %s: inputs of different shapes: %s is %dx%dx%d, %s is %dx%dx%d",
                               filename, nd->line, eg_ops[nd->op]->name, nd->name, g->nodes[nd->inputs[0]].name, a.c,
                               a.h, a.w, g->nodes[nd->inputs[s]].name, b.c, b.h, b.w);
        }
        for (int p = 0; p < nd->nparams; p++)
            if (nd->psize[p] > (1u << 28))
                return eg_fail(err, EG_ERR_SPEC, "%s:%d: %s %s: parameter %d has %zu values, over 2^28",
                               filename, nd->line, eg_ops[nd->op]->name, nd->name, p, nd->psize[p]);
    }
    /* in total too: a short hostile model file must not make its reader fill gigabytes */
    size_t total = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int p = 0; p < g->nodes[i].nparams; p++) total += g->nodes[i].psize[p];
    if (total > (1u << 28))
        return eg_fail(err, EG_ERR_SPEC, "%s:%d: the model has %zu parameters, over 2^28 in total", filename,
                       g->nodes[g->nnodes - 1].line, total);
    g->batch = 0;  /* buffers must be re-sized */
    return EG_OK;
}

/* The buffer block, as the parameter block: zeros, except a batchnorm's
 * running variance, which starts at 1 as PyTorch's does. */
static eg_status alloc_buffers(eg_graph *g, eg_error *err)
{
    size_t total = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int b = 0; b < g->nodes[i].nbuffers; b++) total += g->nodes[i].bsize[b];
    float *buffers = calloc(total ? total : 1, sizeof *buffers);
    if (!buffers) return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for %zu buffer values", g->name, total);
    free(g->buffers);
    g->buffers = buffers;
    g->nbuffer = total;
    size_t off = 0;
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *nd = &g->nodes[i];
        for (int b = 0; b < nd->nbuffers; b++) {
            nd->buffer[b] = buffers + off;
            off += nd->bsize[b];
        }
        if (nd->op == EG_OP_BATCHNORM2D)
            for (size_t k = 0; k < nd->bsize[1]; k++) nd->buffer[1][k] = 1;
    }
    return EG_OK;
}

eg_status eg_graph_alloc_params(eg_graph *g, eg_error *err)
{
    size_t total = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int p = 0; p < g->nodes[i].nparams; p++) total += g->nodes[i].psize[p];
    float *params = calloc(total ? total : 1, sizeof *params);
    float *masks = g->masks ? malloc((total ? total : 1) * sizeof *masks) : NULL;
    if (!params || (g->masks && !masks)) {
        free(params), free(masks);
        return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for %zu parameters", g->name, total);
    }
    for (size_t i = 0; masks && i < total; i++) masks[i] = 1;
    free(g->params), free(g->grads), free(g->masks);
    g->params = params;
    g->grads = NULL;  /* allocated by the first prepare for training: inference needs none */
    g->masks = masks;
    g->nparam = total;
    size_t off = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int p = 0; p < g->nodes[i].nparams; p++) {
            g->nodes[i].param[p] = params + off;
            g->nodes[i].grad[p] = NULL;
            g->nodes[i].mask[p] = masks ? masks + off : NULL;
            off += g->nodes[i].psize[p];
        }
    return alloc_buffers(g, err);
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

eg_status eg_graph_enable_masks(eg_graph *g, eg_error *err)
{
    if (g->masks) return EG_OK;
    g->masks = malloc((g->nparam ? g->nparam : 1) * sizeof *g->masks);
    if (!g->masks) return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for masks", g->name);
    for (size_t i = 0; i < g->nparam; i++) g->masks[i] = 1;
    size_t off = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int p = 0; p < g->nodes[i].nparams; p++) {
            g->nodes[i].mask[p] = g->masks + off;
            off += g->nodes[i].psize[p];
        }
    return EG_OK;
}

size_t eg_node_nonzeros(const eg_node *nd)
{
    size_t nz = 0;
    for (size_t k = 0; nd->nparams && k < nd->psize[0]; k++) nz += nd->param[0][k] != 0;
    return nz;
}

void eg_graph_free(eg_graph *g)
{
    free(g->nodes);
    free(g->params);
    free(g->grads);
    free(g->masks);
    free(g->buffers);
    free(g->arena);
    free(g->history);
    memset(g, 0, sizeof *g);
}

void eg_graph_init_params(eg_graph *g, eg_rng *rng)
{
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *nd = &g->nodes[i];
        if (nd->op == EG_OP_BATCHNORM2D) {  /* as PyTorch: scale 1, shift 0, statistics of N(0, 1) */
            for (size_t k = 0; k < nd->psize[0]; k++) nd->param[0][k] = 1, nd->param[1][k] = 0;
            for (size_t k = 0; k < nd->bsize[0]; k++) nd->buffer[0][k] = 0, nd->buffer[1][k] = 1;
            continue;
        }
        if (nd->op != EG_OP_CONV2D && nd->op != EG_OP_LINEAR) continue;
        /* kaiming_uniform(a=sqrt(5)) and the bias rule both give 1/sqrt(fan_in) */
        size_t fan_in = nd->psize[0] / (size_t)nd->out;
        float bound = 1.0f / sqrtf((float)fan_in);
        for (int p = 0; p < nd->nparams; p++)
            for (size_t k = 0; k < nd->psize[p]; k++) nd->param[p][k] = eg_rng_range(rng, -bound, bound);
    }
}

/* Rounds up to whole 64-byte lines so every buffer starts aligned. */
static size_t pad16(size_t n) { return (n + 15) & ~(size_t)15; }

static int consumers(const eg_graph *g, int node, int *last)
{
    int count = 0;
    for (int i = node + 1; i < g->nnodes; i++)
        for (int s = 0; s < g->nodes[i].ninputs; s++)
            if (g->nodes[i].inputs[s] == node) count++, *last = i;
    return count;
}

/* A relu between a node and an op that can apply it itself (a 2x2 pool)
 * is folded into that op when nothing else reads either side of it. */
static void fold_relus(eg_graph *g)
{
    for (int i = 0; i < g->nnodes; i++) g->nodes[i].relu_folded = g->nodes[i].relu_in = 0;
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *r = &g->nodes[i];
        int q, unused;
        if (r->op != EG_OP_RELU || g->nodes[r->inputs[0]].op == EG_OP_INPUT) continue;
        if (consumers(g, r->inputs[0], &unused) != 1 || consumers(g, i, &q) != 1) continue;
        if (!eg_ops[g->nodes[q].op]->folds_relu || !eg_ops[g->nodes[q].op]->folds_relu(&g->nodes[q])) continue;
        r->relu_folded = 1;
        g->nodes[q].relu_in = 1;
    }
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
    if (training || !g->masks || (nd->op != EG_OP_LINEAR && nd->op != EG_OP_CONV2D) || g->sparse < 0) return wt;
    return wt + pad16((size_t)nd->out + 1) + 2 * pad16(nd->psize[0]) + pad16(eg_sparse_nm_floats(nd));
}

/* The inference copies are rebuilt on every prepare for inference, which
 * every evaluation calls first (eg_evaluate, the bench command, the tests),
 * and parameters do not change between a prepare with training 0 and the
 * forwards after it: training prepares with training 1 first, and pruning or
 * surgery changes weights only between evaluations. So a copy is never
 * stale; training never reads one. */
void eg_graph_build_copies(eg_graph *g)
{
    float *at = g->arena + (g->arena_floats - g->csr_floats);
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *nd = &g->nodes[i];
        size_t wt = wt_floats(nd, g->training), room = copy_floats(g, nd, g->training) - wt;
        nd->csr = nd->nm_n = nd->nm_m = 0;
        nd->csr_rowptr = nd->csr_col = NULL;
        nd->csr_val = nd->nm_val = NULL;
        nd->nm_idx = NULL;
        nd->wt = wt ? at : NULL;
        if (wt) eg_k->transpose(nd->wt, nd->out, nd->param[0], nd->in_shape.c, nd->out, nd->in_shape.c);
        at += wt;
        if (!room || !nd->mask[0]) continue;
        nd->csr_rowptr = (int32_t *)at;
        nd->csr_col = (int32_t *)(at + pad16((size_t)nd->out + 1));
        nd->csr_val = at + pad16((size_t)nd->out + 1) + pad16(nd->psize[0]);
        at += room;
        size_t kept = eg_k->csr_build(nd->out, (int)(nd->psize[0] / (size_t)nd->out), nd->param[0], nd->mask[0],
                                   nd->csr_rowptr, nd->csr_col, nd->csr_val);
        eg_sparse_choose(g, nd, kept, at - room + pad16((size_t)nd->out + 1) + 2 * pad16(nd->psize[0]));
    }
}

/* Inference takes a thread's images through every node this many at a time,
 * so that a chunk's activations stay in cache from one layer to the next
 * (a whole share of a 1000-image batch would not: SimpleCNN's conv1 output
 * alone is 12 KB an image). Each image's result does not depend on the
 * chunk it is in. Training runs the whole share: backward needs it. Over
 * more images than threads x chunk, the buffers hold one chunk per thread
 * and are reused, so that the outputs of a layer are not written to memory
 * that has long left the caches (forward_staged). */
#define EG_INFER_CHUNK 32

/* Lane buffers' padding is zero from here on: only interiors are written. */
static void clear_lanes(eg_graph *g)
{
    if (g->lanes) memset(g->lanes, 0, g->lanes_floats * (size_t)g->threads * sizeof *g->lanes);
}

eg_status eg_graph_prepare(eg_graph *g, int n, int training, int threads)
{
    if (threads < 1) threads = 1;
    if (training && alloc_grads(g)) return EG_ERR_NOMEM;
    size_t csr = 0;
    for (int i = 0; i < g->nnodes; i++) csr += copy_floats(g, &g->nodes[i], training);
    /* fusion changes no buffer size: it follows g->unfused even when the arena stays */
    eg_graph_fuse_pools(g);
    /* lane buffers only where a thread gets a whole group of images */
    int lane_rows = !training && !g->no_lanes && (n + threads - 1) / threads >= eg_k->vl;
    size_t lanes = lane_rows ? pad16(eg_lanes_floats(g)) : 0;
    if (g->arena && g->batch == n && g->training == training && g->threads == threads && g->csr_floats == csr &&
        g->lanes_floats == lanes) {
        if (!training) eg_graph_build_copies(g);
        clear_lanes(g);
        return EG_OK;
    }
    fold_relus(g);
    eg_graph_fuse_pools(g);  /* again, after the folds it looks through */
    lanes = lane_rows ? pad16(eg_lanes_floats(g)) : 0;
    int inputs = 0;
    for (int i = 0; i < g->nnodes; i++) inputs += g->nodes[i].op == EG_OP_INPUT;
    int rows = !training && inputs == 1 && g->nnodes > 1 && n > threads * EG_INFER_CHUNK ? threads * EG_INFER_CHUNK : n;
    size_t total = 0, scratch = 0, tgrads = training ? pad16(g->nparam) * (size_t)threads : 0;
    for (int pass = 0; pass < 2; pass++) {
        float *at = g->arena;
        total = 0;
        for (int i = 0; i < g->nnodes; i++) {
            eg_node *nd = &g->nodes[i];
            const eg_op_def *op = eg_ops[nd->op];
            int last = i == g->nnodes - 1;
            size_t out = (size_t)(last ? n : rows) * eg_shape_size(nd->out_shape);
            /* staged inference: the input's chunks, the output node's chunks */
            size_t extra = rows == n ? 0 : pad16((size_t)rows * eg_shape_size(nd->out_shape));
            if (rows < n && !last && nd->op != EG_OP_INPUT) extra = 0;
            size_t saved = training && op->saved_floats ? (size_t)n * op->saved_floats(nd)
                           : !training && op->padded_floats ? (size_t)(last ? n : rows) * op->padded_floats(nd)
                                                            : 0;
            size_t y = nd->op == EG_OP_INPUT || nd->relu_folded ? 0 : pad16(out);
            size_t dy = training && nd->op != EG_OP_INPUT && !nd->relu_folded ? pad16(out) : 0;
            size_t shared = training && op->shared_floats ? pad16(op->shared_floats(nd, threads)) : 0;
            if (pass && nd->relu_folded) {
                /* works in place on its input's buffers, through its consumer */
                nd->y = g->nodes[nd->inputs[0]].y;
                nd->dy = g->nodes[nd->inputs[0]].dy;
                nd->saved = NULL;
                nd->argmax = NULL;
            } else if (pass) {
                nd->y = y ? at : NULL;
                nd->dy = dy ? at + y : NULL;
                nd->saved = saved ? at + y + dy : NULL;
                nd->argmax = (int32_t *)nd->saved;
                /* padded planes: borders zero from here on, only interiors are written */
                if (saved && op->padded_floats && op->padded_floats(nd)) memset(nd->saved, 0, saved * sizeof *nd->saved);
                nd->shared = shared ? at + y + dy + pad16(saved) : NULL;
                /* zero once: conv2d keeps zero-bordered planes there */
                if (shared) memset(nd->shared, 0, shared * sizeof *nd->shared);
                if (extra && nd->op == EG_OP_INPUT) g->stage = at + y + dy + pad16(saved) + shared;
                if (extra && last) g->chunk_out = at + y + dy + pad16(saved) + shared;
                at += y + dy + pad16(saved) + shared + extra;
            }
            total += y + dy + pad16(saved) + shared + extra;
            if (op->scratch_floats && pass == 0) {
                /* an inference forward call never gets more than a chunk */
                size_t s = pad16(op->scratch_floats(nd, training || n < EG_INFER_CHUNK ? n : EG_INFER_CHUNK));
                if (s > scratch) scratch = s;
            }
        }
        if (pass == 0) {
            free(g->arena);
            g->arena = aligned_alloc(64, (total + tgrads + (scratch + lanes) * (size_t)threads + csr + 16) *
                                             sizeof(float));
            if (!g->arena) return EG_ERR_NOMEM;
        }
    }
    g->tgrads = training ? g->arena + total : NULL;
    g->scratch = g->arena + total + tgrads;
    g->scratch_per_thread = scratch;
    g->lanes = lanes ? g->scratch + scratch * (size_t)threads : NULL;
    g->lanes_floats = lanes;
    g->csr_floats = csr;
    g->arena_floats = total + tgrads + (scratch + lanes) * (size_t)threads + csr;
    g->batch = n;
    g->training = training;
    g->threads = threads;
    clear_lanes(g);
    g->chunk_rows = rows < n ? rows : 0;
    if (!g->chunk_rows) g->stage = g->chunk_out = NULL;
    /* The last consumer in file order runs backward first and writes the
     * input's gradient; earlier consumers add to it. */
    char *seen = calloc((size_t)g->nnodes, 1);
    if (!seen) return EG_ERR_NOMEM;
    for (int i = g->nnodes - 1; i >= 0; i--) {
        eg_node *nd = &g->nodes[i];
        nd->needs_dx = 0;
        for (int s = 0; s < nd->ninputs; s++) {
            int src = nd->inputs[s];
            nd->dx_add[s] = seen[src];
            seen[src] = 1;
            if (g->nodes[src].op != EG_OP_INPUT) nd->needs_dx = 1;
        }
    }
    free(seen);
    eg_graph_build_copies(g);  /* in training it only clears every node's copies */
    return EG_OK;
}

int eg_graph_find(const eg_graph *g, const char *name)
{
    for (int i = 0; i < g->nnodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return i;
    return -1;
}

const eg_node *eg_graph_output(const eg_graph *g) { return &g->nodes[g->nnodes - 1]; }

/* Runs fn(g, nd, lo, hi) with its clock when the graph profiles (thread 0's share). */
static void run_node(eg_graph *g, eg_node *nd, int backward, int lo, int hi)
{
    const eg_op_def *op = eg_ops[nd->op];
    int timed = g->profile && eg_thread_id() == 0;
    double t0 = timed ? eg_now() : 0;
    (backward ? op->backward : op->forward)(g, nd, lo, hi);
    if (timed) *(backward ? &nd->bwd_seconds : &nd->fwd_seconds) += eg_now() - t0;
}


void eg_graph_forward_part(eg_graph *g, int lo, int hi)
{
    if (!g->training) lo = eg_lanes_forward(g, g->nodes[0].y, g->nodes[g->nnodes - 1].y, lo, hi);
    int step = g->training ? hi - lo : EG_INFER_CHUNK;
    for (int a = lo; a < hi; a += step) {
        int b = hi - a < step ? hi : a + step;
        for (int i = 0; i < g->nnodes; i++)
            if (g->nodes[i].op != EG_OP_INPUT && !g->nodes[i].relu_folded) run_node(g, &g->nodes[i], 0, a, b);
    }
}

void eg_graph_backward_part(eg_graph *g, int lo, int hi)
{
    memset(g->tgrads + g->nparam * eg_thread_id(), 0, g->nparam * sizeof *g->tgrads);
    for (int i = g->nnodes - 1; i >= 0; i--) {
        eg_node *nd = &g->nodes[i];
        if (nd->op == EG_OP_INPUT || nd->relu_folded || (!nd->needs_dx && !nd->nparams)) continue;
        run_node(g, nd, 1, lo, hi);
    }
}

void eg_graph_reduce_grads(eg_graph *g, int plo, int phi, int nt, int add)
{
    eg_k->reduce_blocks(g->grads, g->tgrads, g->nparam, nt, (size_t)plo, (size_t)phi, add);
}

void eg_graph_set_input(eg_graph *g, const float *x)
{
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_INPUT) g->nodes[i].y = (float *)x;  /* read only */
}

/* One parallel region per pass: each thread takes a fixed share of the batch
 * through every node, so there is no barrier between layers. */
/* Inference over more images than the chunk buffers hold: each thread
 * copies a chunk of its images into its rows of the staging buffer, takes
 * them through every node on its rows [t*C, t*C + len) of the chunk-sized
 * buffers, and copies the output node's rows to their place in the batch. */
static void forward_staged(eg_graph *g, const float *x, int n)
{
    eg_node *last = &g->nodes[g->nnodes - 1];
    float *result = last->y;
    size_t insz = 0, outsz = eg_shape_size(last->out_shape);
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_INPUT) g->nodes[i].y = g->stage, insz = eg_shape_size(g->nodes[i].out_shape);
    last->y = g->chunk_out;
#pragma omp parallel num_threads(g->threads)
    {
        unsigned fp_mode = eg_denormals_flush();
        int t = eg_thread_id(), lo, hi, base = t * EG_INFER_CHUNK, alone = eg_team_size() == 1;
        eg_split(n, t, eg_team_size(), &lo, &hi);
        /* lanes read the images and write the results where they lie */
        lo = eg_lanes_forward(g, x, result, lo, hi);
        for (int a = lo; a < hi; a += EG_INFER_CHUNK) {
            int len = hi - a < EG_INFER_CHUNK ? hi - a : EG_INFER_CHUNK;
            /* one thread (base 0) reads its chunk where it lies: the input
             * node is not shared with another thread's chunk */
            if (alone)
                for (int i = 0; i < g->nnodes; i++) {
                    if (g->nodes[i].op == EG_OP_INPUT) g->nodes[i].y = (float *)x + (size_t)a * insz;
                }
            else
                memcpy(g->stage + (size_t)base * insz, x + (size_t)a * insz, (size_t)len * insz * sizeof *x);
            eg_graph_forward_part(g, base, base + len);
            memcpy(result + (size_t)a * outsz, g->chunk_out + (size_t)base * outsz, (size_t)len * outsz * sizeof *x);
        }
        eg_denormals_restore(fp_mode);
    }
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_INPUT) g->nodes[i].y = g->stage;
    last->y = result;
}

void eg_graph_forward(eg_graph *g, const float *x, int n)
{
    if (g->chunk_rows && n > g->chunk_rows) {
        forward_staged(g, x, n);
        return;
    }
    eg_graph_set_input(g, x);
    if (n <= 1 || g->threads <= 1) {  /* batch 1 (latency): no parallel region to enter and leave */
        unsigned fp_mode = eg_denormals_flush();
        eg_graph_forward_part(g, 0, n);
        eg_denormals_restore(fp_mode);
        return;
    }
    /* no more threads than rows: a thread with nothing to do still has to
     * be scheduled for the join, which costs dearly on a busy machine */
#pragma omp parallel num_threads(n < g->threads ? (n > 0 ? n : 1) : g->threads)
    {
        unsigned fp_mode = eg_denormals_flush();
        int lo, hi;
        eg_split(n, eg_thread_id(), eg_team_size(), &lo, &hi);
        eg_graph_forward_part(g, lo, hi);
        eg_denormals_restore(fp_mode);
    }
}

/* Each thread adds its images' parameter gradients into its own block; the
 * blocks are then summed into g->grads in thread order, so a given thread
 * count always gives the same bits. */
void eg_graph_backward(eg_graph *g, const float *dout, int n)
{
    eg_node *last = &g->nodes[g->nnodes - 1];
    size_t k = eg_shape_size(last->out_shape);
#pragma omp parallel num_threads(n < g->threads ? (n > 0 ? n : 1) : g->threads)
    {
        unsigned fp_mode = eg_denormals_flush();
        int t = eg_thread_id(), nt = eg_team_size(), lo, hi;
        eg_split(n, t, nt, &lo, &hi);
        memcpy(last->dy + lo * k, dout + lo * k, (size_t)(hi - lo) * k * sizeof *dout);
        eg_graph_backward_part(g, lo, hi);
#pragma omp barrier
        eg_split((int)g->nparam, t, nt, &lo, &hi);
        eg_graph_reduce_grads(g, lo, hi, nt, 1);
        eg_denormals_restore(fp_mode);
    }
}

void eg_graph_zero_grad(eg_graph *g)
{
    if (g->grads) memset(g->grads, 0, g->nparam * sizeof *g->grads);
}

size_t eg_node_params(const eg_node *nd)
{
    size_t s = 0;
    for (int p = 0; p < nd->nparams; p++) s += nd->psize[p];
    return s;
}

size_t eg_node_macs(const eg_node *nd)
{
    /* one multiply-accumulate per weight per output position */
    if (nd->op == EG_OP_CONV2D) return nd->psize[0] * (size_t)nd->out_shape.h * nd->out_shape.w;
    if (nd->op == EG_OP_LINEAR) return nd->psize[0];
    return 0;
}

size_t eg_graph_macs(const eg_graph *g)
{
    size_t s = 0;
    for (int i = 0; i < g->nnodes; i++) s += eg_node_macs(&g->nodes[i]);
    return s;
}

size_t eg_graph_param_count(const eg_graph *g) { return g->nparam; }
