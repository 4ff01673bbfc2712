/* Which kernel a masked conv2d or linear node runs on in inference: dense,
 * CSR (src/kernels/csr.c, csr_rows.c) or N:M (src/kernels/nm.c). The
 * choice is made by fixed shares calibrated with bench/sparse_speedup.sh
 * (the figures are below), not by timing each run, so the path (and so
 * every output's bits) depends on the model alone. */
#include "internal.h"

enum { NM_MAX_M = 8 };  /* the largest group the N:M copy has room for */

/* Run on CSR when at most this share of the weights is kept. Measured with
 * `bench/sparse_speedup.sh` (one thread, CPU time, medians; 2026-11-27,
 * machine shared with other jobs).
 * Linear, fc1 of models/simplecnn (392 -> 64), dense time / CSR time:
 *   sparsity   batch 1   batch 64   batch 1000
 *      0%        0.14      0.64       0.71
 *     50%        0.29      1.29       1.33
 *     80%        0.74      2.65       2.52
 *     90%        1.33      3.80       3.55
 *     99%        5.96      6.38       4.25
 * With four rows or more per thread the kernel vectorizes over the batch and
 * breaks even near density 0.6 (0.5 keeps a margin); with fewer it gathers
 * one row at a time and breaks even near 0.15. So the share depends on the
 * rows each thread gets (a batch of one runs dense down to 85% sparsity);
 * a given model, batch and thread count always takes the same path.
 * conv2d, conv1 / conv2 of models/simplecnn (1 -> 4 and 4 -> 8, 3x3):
 *   sparsity   batch 1     batch 64    batch 1000
 *      0%     0.61/0.56   0.66/0.53   0.71/0.56
 *     50%     0.97/0.94   1.00/0.95   0.96/0.99
 *     80%     1.51/1.81   1.33/1.82   1.28/1.69
 *     90%     1.76/2.39   1.65/2.39   1.41/2.13
 *     99%     2.91/3.97   2.45/3.94   1.91/3.31
 * Both kernels are bound by loads: per kept weight CSR loads a column, an
 * offset and the weight besides 8 vectors for 8 multiply-adds, where the
 * dense kernel loads 6 per 8; they break even near density 0.5-0.55, and
 * 0.4 keeps a margin. The batch does not matter: a convolution vectorizes
 * over output positions.
 * The N:M kernel (src/kernels/nm.c) is never chosen by itself: at 2:4 it
 * measured 0.5-1.0 of the dense kernels' speed on these layers (and below
 * CSR at the same density), so a 2:4 model runs its linear layers on CSR and
 * its convolutions dense unless forced (g->sparse = 2). */
#define LINEAR_CSR_MAX_DENSITY 0.5
#define LINEAR_CSR_MAX_DENSITY_FEW_ROWS 0.15
#define CONV_CSR_MAX_DENSITY 0.4

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
    if (eg_nm_build(nd->out, K, n, m, nd->param[0], nd->mask[0], nd->nm_val, nd->nm_idx)) return -1;
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
        int n = eg_nm_max_kept(nd->out, K, 4, nd->param[0], nd->mask[0]);
        use_nm(nd, n > 0 ? n : 1, 4, nm_room);
        return;
    }
    double density = (double)kept / (double)nd->psize[0];
    int rows = (g->batch + g->threads - 1) / (g->threads > 0 ? g->threads : 1);  /* per thread, at most */
    double most = nd->op == EG_OP_CONV2D ? CONV_CSR_MAX_DENSITY
                  : rows >= 4            ? LINEAR_CSR_MAX_DENSITY  /* eg_csr_matmul_t's vector path */
                                         : LINEAR_CSR_MAX_DENSITY_FEW_ROWS;
    nd->csr = density <= most;
}
