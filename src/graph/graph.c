/* The model graph: shapes, the parameter, mask and buffer blocks, and
 * forward and backward over the plan's steps in topological (file) order. */
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
    g->plan.batch = 0;  /* the plan must be made again */
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
    g->plan.batch = 0;  /* the plan's gradient blocks and copies follow the layout */
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
    free(g->history);
    free(g->norm);
    eg_plan_free(&g->plan);
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
        if (nd->op != EG_OP_CONV2D && nd->op != EG_OP_LINEAR && nd->op != EG_OP_DWCONV2D) continue;
        /* kaiming_uniform(a=sqrt(5)) and the bias rule both give 1/sqrt(fan_in); a
         * weight's first axis is its outputs (a depthwise conv's: its channels) */
        size_t fan_in = nd->psize[0] / (size_t)nd->pshape[0][0];
        float bound = 1.0f / sqrtf((float)fan_in);
        for (int p = 0; p < nd->nparams; p++)
            for (size_t k = 0; k < nd->psize[p]; k++) nd->param[p][k] = eg_rng_range(rng, -bound, bound);
    }
}

int eg_graph_find(const eg_graph *g, const char *name)
{
    for (int i = 0; i < g->nnodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return i;
    return -1;
}

const eg_node *eg_graph_output(const eg_graph *g) { return &g->nodes[g->nnodes - 1]; }

/* Runs node nd's forward or backward with its clock when the plan profiles
 * (thread 0's share). */
static void run_node(eg_graph *g, int i, int backward, int lo, int hi)
{
    const eg_op_def *op = eg_ops[g->nodes[i].op];
    eg_step *s = &g->plan.steps[i];
    int timed = g->plan.profile && eg_thread_id() == 0;
    double t0 = timed ? eg_now() : 0;
    (backward ? op->backward : op->forward)(g, &g->nodes[i], s, lo, hi);
    if (timed) *(backward ? &s->bwd_seconds : &s->fwd_seconds) += eg_now() - t0;
}

void eg_graph_forward_part(eg_graph *g, int lo, int hi)
{
    eg_plan *p = &g->plan;
    if (!p->training) lo = eg_lanes_forward(g, p->steps[0].y, eg_graph_y(g), lo, hi);
    int step = p->training ? hi - lo : EG_INFER_CHUNK;
    for (int a = lo; a < hi; a += step) {
        int b = hi - a < step ? hi : a + step;
        for (int i = 0; i < g->nnodes; i++)
            if (g->nodes[i].op != EG_OP_INPUT && !p->steps[i].relu_folded) run_node(g, i, 0, a, b);
    }
}

void eg_graph_backward_part(eg_graph *g, int lo, int hi)
{
    memset(g->plan.tgrads + g->nparam * eg_thread_id(), 0, g->nparam * sizeof *g->plan.tgrads);
    for (int i = g->nnodes - 1; i >= 0; i--) {
        const eg_node *nd = &g->nodes[i];
        const eg_step *s = &g->plan.steps[i];
        if (nd->op == EG_OP_INPUT || s->relu_folded || (!s->needs_dx && !nd->nparams)) continue;
        run_node(g, i, 1, lo, hi);
    }
}

void eg_graph_reduce_grads(eg_graph *g, int plo, int phi, int nt, int add)
{
    eg_k->reduce_blocks(g->grads, g->plan.tgrads, g->nparam, nt, (size_t)plo, (size_t)phi, add);
}

void eg_graph_set_input(eg_graph *g, const float *x)
{
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_INPUT) g->plan.steps[i].y = (float *)x;  /* read only */
}

/* One parallel region per pass: each thread takes a fixed share of the batch
 * through every node, so there is no barrier between layers. */
/* Inference over more images than the chunk buffers hold: each thread
 * copies a chunk of its images into its rows of the staging buffer, takes
 * them through every node on its rows [t*C, t*C + len) of the chunk-sized
 * buffers, and copies the output node's rows to their place in the batch. */
static void forward_staged(eg_graph *g, const float *x, int n)
{
    eg_plan *p = &g->plan;
    eg_step *last = &p->steps[g->nnodes - 1];
    float *result = last->y;
    size_t insz = 0, outsz = eg_shape_size(g->nodes[g->nnodes - 1].out_shape);
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_INPUT) p->steps[i].y = p->stage, insz = eg_shape_size(g->nodes[i].out_shape);
    last->y = p->chunk_out;
#pragma omp parallel num_threads(p->threads)
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
                    if (g->nodes[i].op == EG_OP_INPUT) p->steps[i].y = (float *)x + (size_t)a * insz;
                }
            else
                memcpy(p->stage + (size_t)base * insz, x + (size_t)a * insz, (size_t)len * insz * sizeof *x);
            eg_graph_forward_part(g, base, base + len);
            memcpy(result + (size_t)a * outsz, p->chunk_out + (size_t)base * outsz, (size_t)len * outsz * sizeof *x);
        }
        eg_denormals_restore(fp_mode);
    }
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_INPUT) p->steps[i].y = p->stage;
    last->y = result;
}

void eg_graph_forward(eg_graph *g, const float *x, int n)
{
    eg_plan *p = &g->plan;
    if (p->chunk_rows && n > p->chunk_rows) {
        forward_staged(g, x, n);
        return;
    }
    eg_graph_set_input(g, x);
    if (n <= 1 || p->threads <= 1) {  /* batch 1 (latency): no parallel region to enter and leave */
        unsigned fp_mode = eg_denormals_flush();
        eg_graph_forward_part(g, 0, n);
        eg_denormals_restore(fp_mode);
        return;
    }
    /* no more threads than rows: a thread with nothing to do still has to
     * be scheduled for the join, which costs dearly on a busy machine */
#pragma omp parallel num_threads(n < p->threads ? (n > 0 ? n : 1) : p->threads)
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
    eg_plan *p = &g->plan;
    float *dy = p->steps[g->nnodes - 1].dy;
    size_t k = eg_shape_size(g->nodes[g->nnodes - 1].out_shape);
#pragma omp parallel num_threads(n < p->threads ? (n > 0 ? n : 1) : p->threads)
    {
        unsigned fp_mode = eg_denormals_flush();
        int t = eg_thread_id(), nt = eg_team_size(), lo, hi;
        eg_split(n, t, nt, &lo, &hi);
        memcpy(dy + lo * k, dout + lo * k, (size_t)(hi - lo) * k * sizeof *dout);
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
    if (nd->op == EG_OP_CONV2D || nd->op == EG_OP_DWCONV2D) return nd->psize[0] * (size_t)nd->out_shape.h * nd->out_shape.w;
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

/* The arrays of a node that move with it: parameters, masks, buffers. */
enum { KIND_PARAM, KIND_MASK, KIND_BUFFER, KINDS };
static int count_of(const eg_node *nd, int kind) { return kind == KIND_BUFFER ? nd->nbuffers : nd->nparams; }
static size_t size_of(const eg_node *nd, int kind, int p) { return kind == KIND_BUFFER ? nd->bsize[p] : nd->psize[p]; }
static float *array_of(eg_node *nd, int kind, int p)
{
    return kind == KIND_PARAM ? nd->param[p] : kind == KIND_MASK ? nd->mask[p] : nd->buffer[p];
}

eg_status eg_graph_remove_nodes(eg_graph *g, const char *gone, const int *redirect, eg_error *err)
{
    int n = g->nnodes, *index = malloc((size_t)n * sizeof *index);
    float *(*own)[KINDS][EG_MAX_PARAMS] = calloc((size_t)n, sizeof *own);
    eg_status st = index && own ? EG_OK : eg_fail(err, EG_ERR_NOMEM, "out of memory removing nodes");
    for (int i = 0; i < n && !st; i++)
        for (int k = 0; k < KINDS && !st; k++) {
            if (k == KIND_MASK && !g->masks) continue;
            for (int p = 0; p < count_of(&g->nodes[i], k) && !st; p++) {
                size_t sz = size_of(&g->nodes[i], k, p);
                own[i][k][p] = malloc((sz ? sz : 1) * sizeof(float));
                if (!own[i][k][p]) st = eg_fail(err, EG_ERR_NOMEM, "out of memory removing nodes");
                else memcpy(own[i][k][p], array_of(&g->nodes[i], k, p), sz * sizeof(float));
            }
        }
    if (!st) {
        int m = 0;
        for (int i = 0; i < n; i++) index[i] = gone[i] ? -1 : m++;
        for (int i = 0; i < n; i++) {
            if (gone[i]) {
                for (int k = 0; k < KINDS; k++)
                    for (int p = 0; p < EG_MAX_PARAMS; p++) free(own[i][k][p]);
                continue;
            }
            eg_node *nd = &g->nodes[i];
            for (int s = 0; s < nd->ninputs; s++) {
                int src = nd->inputs[s];
                while (gone[src]) src = redirect[src];
                nd->inputs[s] = index[src];
            }
            g->nodes[index[i]] = *nd;
            memmove(own[index[i]], own[i], sizeof *own);
        }
        g->nnodes = m;
        st = eg_graph_infer_shapes(g, g->name, err);
        if (!st) st = eg_graph_alloc_params(g, err);
        for (int i = 0; i < g->nnodes; i++)
            for (int k = 0; k < KINDS; k++) {
                if (k == KIND_MASK && !g->masks) continue;
                for (int p = 0; p < count_of(&g->nodes[i], k); p++)
                    if (!st) memcpy(array_of(&g->nodes[i], k, p), own[i][k][p], size_of(&g->nodes[i], k, p) * sizeof(float));
            }
        for (int i = 0; i < g->nnodes; i++)
            for (int k = 0; k < KINDS; k++)
                for (int p = 0; p < EG_MAX_PARAMS; p++) free(own[i][k][p]), own[i][k][p] = NULL;
    } else {
        for (int i = 0; own && i < n; i++)
            for (int k = 0; k < KINDS; k++)
                for (int p = 0; p < EG_MAX_PARAMS; p++) free(own[i][k][p]);
    }
    free(index), free(own);
    return st;
}

/* Folds every batchnorm2d whose input is a conv2d, dwconv2d or linear read
 * by it alone into that node: W' = W s and b' = (b - mean) s + beta per
 * output channel, s = gamma / sqrt(var + eps), then drops the batchnorm.
 * The model then computes what it computed in inference (not in training:
 * the batch statistics are gone). */
eg_status eg_graph_fold_batchnorm(eg_graph *g, int *folded, eg_error *err)
{
    int n = g->nnodes, count = 0;
    char *gone = calloc((size_t)n, 1);
    int *redirect = malloc((size_t)n * sizeof *redirect);
    if (!gone || !redirect) {
        free(gone), free(redirect);
        return eg_fail(err, EG_ERR_NOMEM, "out of memory folding batchnorms");
    }
    for (int i = 0; i < n; i++) {
        const eg_node *bn = &g->nodes[i];
        if (bn->op != EG_OP_BATCHNORM2D) continue;
        int src = bn->inputs[0], readers = 0;
        eg_node *p = &g->nodes[src];
        for (int j = 0; j < n; j++)
            for (int k = 0; k < g->nodes[j].ninputs; k++) readers += g->nodes[j].inputs[k] == src;
        if ((p->op != EG_OP_CONV2D && p->op != EG_OP_DWCONV2D && p->op != EG_OP_LINEAR) || readers != 1) continue;
        size_t rows = (size_t)p->pshape[0][0], per = p->psize[0] / rows;
        int sound = 1;  /* a variance no inference can use stays, for the exports' checks to name */
        for (size_t c = 0; c < rows; c++) sound &= bn->buffer[1][c] + EG_BN_EPS > 0 && isfinite(bn->buffer[1][c]);
        if (!sound) continue;
        for (size_t c = 0; c < rows; c++) {
            float s = (float)(bn->param[0][c] / sqrt((double)bn->buffer[1][c] + EG_BN_EPS));
            for (size_t k = 0; k < per; k++) p->param[0][c * per + k] *= s;
            p->param[1][c] = (p->param[1][c] - bn->buffer[0][c]) * s + bn->param[1][c];
        }
        gone[i] = 1, redirect[i] = src, count++;
    }
    eg_status st = count ? eg_graph_remove_nodes(g, gone, redirect, err) : EG_OK;
    free(gone), free(redirect);
    if (!st && folded) *folded = count;
    return st;
}
