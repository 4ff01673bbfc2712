/* The end of a training step in one pass: each thread sums the per-thread
 * gradient blocks over its parameter range and applies the optimizer to it
 * chunk by chunk, so the summed gradients are still in L1 when the update
 * reads them. Same bits as eg_graph_reduce_grads (add = 0) followed by
 * eg_optim_update over the whole range: the sum starts at 0 and adds the
 * blocks in thread order, and the update is the same code. */
#include "internal.h"

/* 512 floats: the chunk's gradients, m, v, params and blocks stay in L1 */
#define CHUNK 512

/* grads[a, b) = 0 + block 0 + block 1 + ...: the lanes run in parallel,
 * each adds in the same order as the scalar reduction. */
static void sum_blocks(float *restrict grads, const float *restrict tgrads, size_t stride, int nt, size_t a,
                       size_t b)
{
    for (size_t p = a; p < b; p++) grads[p] = 0.0f + tgrads[p];
    for (int u = 1; u < nt; u++) {
        const float *restrict blk = tgrads + stride * (size_t)u;
        for (size_t p = a; p < b; p++) grads[p] += blk[p];
    }
}

void eg_reduce_and_update(eg_graph *g, eg_optim *o, size_t lo, size_t hi, int nt)
{
    for (size_t a = lo; a < hi; a += CHUNK) {
        size_t b = hi - a < CHUNK ? hi : a + CHUNK;
        sum_blocks(g->grads, g->tgrads, g->nparam, nt, a, b);
        if (o) eg_optim_update(o, g->params, g->grads, a, b);
    }
}
