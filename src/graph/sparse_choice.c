/* Which kernel a masked conv2d or linear node runs on in inference: dense,
 * CSR (src/kernels/csr.c, csr_rows.c) or N:M (src/kernels/nm.c). The
 * choice is made by fixed shares calibrated with bench/sparse_speedup.sh
 * (the figures are below), not by timing each run, so the path (and so
 * every output's bits) depends on the model alone. */
#include "internal.h"

enum { NM_MAX_M = 8 };  /* the largest group the N:M copy has room for */

/* Run on CSR when at most this share of the weights is kept. Measured with
 * `bench/sparse_speedup.sh` (one thread, CPU time, medians; machine shared
 * with other jobs).
 * Linear, fc1 of models/simplecnn (392 -> 64), dense time / CSR time,
 * remeasured 2026-11-28 after the dense forward went through W^T (1.5x
 * faster, 4x at batch 1) and CSR took two tiles at a time:
 *   sparsity   batch 1   batch 64   batch 1000
 *      0%        0.07      0.46       0.48
 *     50%        0.13      0.87       0.86
 *     80%        0.32      1.82       1.74
 *     90%        0.60      2.61       2.61
 *     95%        1.05      3.53       3.48
 *     99%        2.66      5.22       5.16
 * With four rows or more per thread the kernel vectorizes over the batch and
 * breaks even near density 0.45 (0.35 keeps a margin); with fewer it gathers
 * one row at a time against a dense row that is one vector product, and
 * breaks even near 0.05 (0.04). So the share depends on the rows each
 * thread gets; a given model, batch and thread count always takes the same
 * path.
 * conv2d: conv1 / conv2 of models/simplecnn (1 -> 4 and 4 -> 8, 3x3) and
 * c1 / c2 of models/lenet5 (1 -> 6 and 6 -> 16, 5x5), dense time / CSR
 * time, remeasured 2026-11-28 after the dense kernels got 16 accumulator
 * chains and wrote the bias with the product:
 *   sparsity   batch 1                  batch 64                 batch 1000
 *      0%     0.65/0.61 0.60/0.49      0.68/0.60 0.57/0.48      0.68/0.60 0.58/0.51
 *     50%     0.95/0.98 1.05/0.92      0.96/1.03 0.97/0.97      0.97/1.03 1.05/0.94
 *     80%     1.24/1.43 1.70/1.95      1.20/1.45 1.71/1.93      1.26/1.49 1.71/2.01
 *     90%     1.44/1.81 2.25/3.14      1.45/1.81 2.30/2.97      1.39/1.76 2.23/3.01
 *     99%     1.98/2.38 3.82/6.00      2.01/2.47 3.46/6.51      1.98/2.49 3.45/6.43
 * CSR loads a column offset and the weight for each kept weight besides the
 * shifted row, where the dense kernel shares each loaded row among four
 * output channels: they break even near density 0.5 on every layer and
 * batch; 0.35 keeps a margin. The batch does not matter: a convolution
 * vectorizes over output positions.
 * N:M (src/kernels/nm.c), dense time / N:M time at 2:4 (CSR alongside),
 * measured before the dense linear forward went through W^T:
 *   layer    batch 1       batch 64      batch 1000
 *   conv1   0.83 (0.91)   0.82 (0.89)   0.83 (0.90)
 *   conv2   0.97 (1.02)   0.99 (0.99)   0.97 (0.98)
 *   c2      0.90 (0.90)   0.90 (0.89)   0.89 (0.90)
 *   fc1     0.19 (0.28)   1.26 (1.20)   1.32 (1.24)
 *   f1      0.17 (0.25)   1.35 (1.24)   1.32 (1.24)
 * and for fc1 after: 0.10 / 0.80 / 0.77 (CSR 0.13 / 0.75 / 0.74). N:M costs
 * about what CSR costs per kept weight, so a convolution stays dense at 2:4,
 * and a linear layer whose mask is an N:M pattern with groups of 4, nearly
 * every slot used (at least 80% of them: an n:4 prune, not an unstructured
 * mask that happens to fit), runs on its N:M copy when CSR would be chosen
 * at that density: 1:4, with four rows or more per thread. */
#define LINEAR_CSR_MAX_DENSITY 0.35
#define LINEAR_CSR_MAX_DENSITY_FEW_ROWS 0.04
#define CONV_CSR_MAX_DENSITY 0.35

/* With a lane group of rows or more per thread, a model that runs in batch lanes
 * (src/graph/lanes.c) multiplies there, where CSR reads its input in place
 * and breaks even sooner. Dense time / CSR time of each layer in lanes,
 * batch 64 (`bench/sparse_speedup.sh --layers`, 2026-11-28):
 *   sparsity   conv1 conv2 fc1  fc2    c1   c2   f1   f2   f3
 *      50%     0.88  0.92  0.87 1.64   1.00 1.05 0.86 0.91 1.58
 *      60%     1.02  1.08  1.01 1.92   1.19 1.29 1.07 1.13 1.88
 *      70%     1.19  1.37  1.28 2.65   1.51 1.66 1.36 1.48 2.55
 * so every layer gains from density 0.4 on. The N:M kernel has no lanes
 * form: in lanes an N:M mask runs on CSR. */
#define LANES_CSR_MAX_DENSITY 0.4

size_t eg_sparse_nm_floats(const eg_node *nd)
{
    /* at most rows x ceil(K/m) x m slots for any m: values, then byte indices */
    size_t slots = (size_t)nd->out * (nd->psize[0] / (size_t)nd->out + NM_MAX_M - 1);
    return slots + (slots + 3) / 4;
}

/* Packs nd's weights as n:m into room; 0 on success. */
static int use_nm(eg_node *nd, int n, int m, float *room)
{
    int K = (int)(nd->psize[0] / (size_t)nd->out);
    size_t slots = (size_t)nd->out * (size_t)((K + m - 1) / m) * (size_t)n;
    nd->nm_val = room;
    nd->nm_idx = (uint8_t *)(room + slots);
    if (eg_k->nm_build(nd->out, K, n, m, nd->param[0], nd->mask[0], nd->nm_val, nd->nm_idx)) return -1;
    nd->nm_n = n;
    nd->nm_m = m;
    return 0;
}

void eg_sparse_choose(eg_graph *g, eg_node *nd, size_t kept, float *nm_room)
{
    int K = (int)(nd->psize[0] / (size_t)nd->out);
    nd->csr = 0;
    nd->nm_n = nd->nm_m = 0;
    if (g->sparse == 1) {
        nd->csr = 1;
        return;
    }
    if (g->sparse == 2) {  /* the smallest n that holds every group of 4 */
        int n = eg_k->nm_max_kept(nd->out, K, 4, nd->param[0], nd->mask[0]);
        use_nm(nd, n > 0 ? n : 1, 4, nm_room);
        return;
    }
    double density = (double)kept / (double)nd->psize[0];
    int rows = (g->batch + g->threads - 1) / (g->threads > 0 ? g->threads : 1);  /* per thread, at most */
    if (rows >= eg_k->vl && !g->no_lanes && eg_lanes_floats(g)) {
        nd->csr = density <= LANES_CSR_MAX_DENSITY;
        return;
    }
    /* a row shorter than a group (K < 4) fits any N:M pattern: not a prune */
    if (nd->op == EG_OP_LINEAR && rows >= 4 && K >= 4 && kept < nd->psize[0]) {
        int n = eg_k->nm_max_kept(nd->out, K, 4, nd->param[0], nd->mask[0]);
        /* what an n:4 prune keeps: n of each group, min(n, length) of a short last one */
        double full = (double)nd->out * ((K / 4) * n + (K % 4 < n ? K % 4 : n));
        if (n >= 1 && n <= 4 * LINEAR_CSR_MAX_DENSITY && (double)kept >= 0.8 * full && !use_nm(nd, n, 4, nm_room))
            return;
    }
    double most = nd->op == EG_OP_CONV2D ? CONV_CSR_MAX_DENSITY
                  : rows >= 4            ? LINEAR_CSR_MAX_DENSITY  /* eg_csr_matmul_t's vector path */
                                         : LINEAR_CSR_MAX_DENSITY_FEW_ROWS;
    nd->csr = density <= most;
}
