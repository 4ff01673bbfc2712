/* A conv2d is fused with the 2x2 max pool that is its only consumer
 * (directly, or through a relu the pool folds): the conv pools its output
 * rows as it writes them (eg_pool2x2_rows), so the conv's whole output is
 * never cropped into its buffer and read back. In training it also keeps
 * each window's winner (eg_pool2x2_rows_coded), and its backward builds its
 * output gradient from the pool's dy and winners (eg_unpool2x2_rows) right
 * where its gradient products read it, so neither the conv's output nor its
 * gradient ever goes through memory whole.
 * When such a pool's only consumer is a conv2d that reads zero-padded
 * planes (conv2d.c's row-offset product), the pool's rows go straight into
 * those planes' interior and the pool's own y is never written: that conv
 * copies nothing in, and the borders were zeroed once by eg_graph_prepare. */
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
    for (int i = 0; i < g->nnodes; i++)
        g->nodes[i].pool_into = g->nodes[i].pooled_in = g->nodes[i].padded_out = g->nodes[i].padded_in = 0;
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
        if (consumer_count(g, i) != 1) continue;
        for (int j = i + 1; j < g->nnodes; j++) {
            eg_node *next = &g->nodes[j];
            if (next->ninputs && next->inputs[0] == i) {
                if (next->op == EG_OP_CONV2D && eg_conv2d_pads_input(next)) pool->padded_out = j, next->padded_in = 1;
                break;
            }
        }
    }
}
