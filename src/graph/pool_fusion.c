/* A conv2d is fused with the 2x2 max pool that is its only consumer
 * (directly, or through a relu the pool folds): the conv pools its output
 * rows as it writes them (eg_pool2x2_rows), so the conv's whole output is
 * never cropped into its buffer and read back. In training it also keeps
 * each window's winner (eg_pool2x2_rows_coded), and its backward builds its
 * output gradient from the pool's dy and winners (eg_unpool2x2_rows) right
 * where its gradient products read it, so neither the conv's output nor its
 * gradient ever goes through memory whole. */
#include "internal.h"

static int is_pool2x2(const eg_node *nd)
{
    return nd->op == EG_OP_MAXPOOL2D && nd->kernel == 2 && nd->stride == 2 && nd->in_shape.h % 2 == 0 &&
           nd->in_shape.w % 2 == 0;
}

static int consumer_count(const eg_graph *g, int node)
{
    int count = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int s = 0; s < g->nodes[i].ninputs; s++) count += g->nodes[i].inputs[s] == node;
    return count;
}

void eg_graph_fuse_pools(eg_graph *g)
{
    for (int i = 0; i < g->nnodes; i++) g->nodes[i].pool_into = g->nodes[i].pooled_in = 0;
    if (g->unfused) return;
    for (int i = 0; i < g->nnodes; i++) {
        eg_node *pool = &g->nodes[i];
        if (!is_pool2x2(pool)) continue;
        int src = pool->inputs[0];
        if (g->nodes[src].relu_folded) src = g->nodes[src].inputs[0];  /* the relu pool applies */
        else if (pool->relu_in) continue;
        if (g->nodes[src].op != EG_OP_CONV2D || consumer_count(g, src) != 1) continue;
        g->nodes[src].pool_into = i;
        pool->pooled_in = 1;
    }
}
