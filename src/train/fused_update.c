/* The end of a training step in one pass: each thread sums the per-thread
 * gradient blocks over its parameter range and applies the optimizer to it
 * chunk by chunk, so the summed gradients are still in L1 when the update
 * reads them. Same bits as eg_graph_reduce_grads (add = 0) followed by
 * eg_optim_update over the whole range: the sum starts at 0 and adds the
 * blocks in thread order, and the update is the same code. */
#include "internal.h"

/* 512 floats: the chunk's gradients, m, v, params and blocks stay in L1 */
#define CHUNK 512

void eg_reduce_and_update(eg_graph *g, eg_optim *o, size_t lo, size_t hi, int nt)
{
    for (size_t a = lo; a < hi; a += CHUNK) {
        size_t b = hi - a < CHUNK ? hi : a + CHUNK;
        eg_k->reduce_blocks(g->grads, g->plan.tgrads, g->nparam, nt, a, b, 0);
        if (o) eg_optim_update(o, g->params, g->grads, a, b);
    }
}
