/* batchnorm2d: y = gamma (x - mean) / sqrt(var + eps) + beta per channel, as
 * PyTorch's BatchNorm2d (affine, eps 1e-5, momentum 0.1). Training
 * normalises with the batch's mean and biased variance and moves the running
 * statistics (buffers, not parameters) towards them, with the unbiased
 * variance as PyTorch does; inference normalises with the running ones.
 *
 * The statistics are over the whole batch, but each thread of a pass holds
 * only its own images: every thread sums its rows per channel into its slot
 * of its step's shared block, waits at a barrier, then adds all slots in thread order, so
 * every thread gets the same bits and a given thread count reproduces. The
 * backward pass does the same for sum(dy) and sum(dy * xhat). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io/csrc.h"
#include "core/vec16.h"

#define BN_MOMENTUM 0.1f

static int batchnorm2d_shape(eg_node *nd, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    int c = nd->in_shape.c;
    nd->out_shape = nd->in_shape;
    nd->nparams = 2;  /* gamma (scale), beta (shift) */
    nd->nbuffers = 2; /* running mean, running variance */
    for (int p = 0; p < 2; p++) {
        nd->pdims[p] = 1;
        nd->pshape[p][0] = c;
        nd->psize[p] = (size_t)c;
        nd->bsize[p] = (size_t)c;
    }
    return 0;
}

/* xhat, for backward. */
static size_t batchnorm2d_saved(const eg_node *nd) { return eg_shape_size(nd->out_shape); }

/* Per thread: forward partial sums (2C doubles) and its row count (1
 * double), backward partial sums (2C doubles), then this pass's mean and
 * 1/std (2C floats). */
#define SLOT_FLOATS(c) (2 * (4 * (size_t)(c) + 1) + 2 * (size_t)(c))
static size_t batchnorm2d_shared(const eg_node *nd, int threads) { return (size_t)threads * SLOT_FLOATS(nd->in_shape.c); }

static double *fwd_part(const eg_node *nd, const eg_step *s, int t)
{
    return (double *)(s->shared + (size_t)t * SLOT_FLOATS(nd->in_shape.c));
}
static double *bwd_part(const eg_node *nd, const eg_step *s, int t)
{
    return fwd_part(nd, s, t) + 2 * (size_t)nd->in_shape.c + 1;
}
static float *stats(const eg_node *nd, const eg_step *s, int t)
{
    return (float *)(fwd_part(nd, s, t) + 4 * (size_t)nd->in_shape.c + 1);
}

/* Values per channel in the whole batch of the last forward pass: the rows
 * of every thread of the team, times H*W. */
static double batch_count(const eg_node *nd, const eg_step *s)
{
    double rows = 0;
    for (int t = 0, nt = eg_team_size(); t < nt; t++) rows += fwd_part(nd, s, t)[2 * nd->in_shape.c];
    return rows * nd->in_shape.h * nd->in_shape.w;
}

/* Sums of a[k] and a[k] * b[k] over one plane of n floats: 16 float lanes
 * (a lane adds at most n / 16 terms, 49 for 28x28), added in double in lane
 * order, so the result depends on n alone, on every ISA. */
static void plane_sums(const float *a, const float *b, size_t n, double *s1, double *s2)
{
    f16v u = {0}, v = {0};
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        f16v x = v16_load(a + k);
        u += x;
        v += x * v16_load(b + k);
    }
    double t1 = 0, t2 = 0;
    for (int l = 0; l < 16; l++) t1 += u[l], t2 += v[l];
    for (; k < n; k++) t1 += a[k], t2 += (double)a[k] * b[k];
    *s1 = t1, *s2 = t2;
}

/* Sums of a and a * b (b NULL: a^2) per channel over rows [lo, hi). */
static void channel_sums(const eg_node *nd, const float *a, const float *b, int lo, int hi, double *s1, double *s2)
{
    int C = nd->in_shape.c;
    size_t hw = (size_t)nd->in_shape.h * nd->in_shape.w;
    memset(s1, 0, (size_t)C * sizeof *s1);
    memset(s2, 0, (size_t)C * sizeof *s2);
    for (int i = lo; i < hi; i++)
        for (int c = 0; c < C; c++) {
            const float *ap = a + ((size_t)i * C + c) * hw, *bp = b ? b + ((size_t)i * C + c) * hw : ap;
            double u, v;
            plane_sums(ap, bp, hw, &u, &v);
            s1[c] += u, s2[c] += v;
        }
}

/* The whole batch's sums: every thread's slot added in thread order. */
static void batch_sums(const eg_node *nd, const eg_step *s, double *(*part)(const eg_node *, const eg_step *, int),
                       int c, double *s1, double *s2)
{
    int C = nd->in_shape.c, nt = eg_team_size();
    *s1 = *s2 = 0;
    for (int t = 0; t < nt; t++) *s1 += part(nd, s, t)[c], *s2 += part(nd, s, t)[C + c];
}

static void batchnorm2d_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    const float *x = eg_input_step(g, nd, 0)->y, *gamma = nd->param[0], *beta = nd->param[1];
    int C = nd->in_shape.c;
    size_t hw = (size_t)nd->in_shape.h * nd->in_shape.w;
    if (!g->plan.training) {
        for (int i = lo; i < hi; i++)
            for (int c = 0; c < C; c++) {
                float mean = nd->buffer[0][c], inv = (float)(1 / sqrt((double)nd->buffer[1][c] + EG_BN_EPS));
                const float *xp = x + ((size_t)i * C + c) * hw;
                float *yp = s->y + ((size_t)i * C + c) * hw;
                for (size_t k = 0; k < hw; k++) yp[k] = (xp[k] - mean) * inv * gamma[c] + beta[c];
            }
        return;
    }
    int t = eg_thread_id();
    assert(eg_team_size() <= g->plan.threads);
    double *part = fwd_part(nd, s, t);
    channel_sums(nd, x, NULL, lo, hi, part, part + C);
    part[2 * C] = hi - lo;
#pragma omp barrier
    double count = batch_count(nd, s);
    float *st = stats(nd, s, t);
    for (int c = 0; c < C; c++) {
        double s1, s2;
        batch_sums(nd, s, fwd_part, c, &s1, &s2);
        double mean = s1 / count, var = s2 / count - mean * mean;
        if (var < 0) var = 0;
        st[c] = (float)mean;
        st[C + c] = (float)(1 / sqrt(var + EG_BN_EPS));
        if (t == 0) {
            double unbiased = count > 1 ? var * count / (count - 1) : var;
            nd->buffer[0][c] = (1 - BN_MOMENTUM) * nd->buffer[0][c] + BN_MOMENTUM * (float)mean;
            nd->buffer[1][c] = (1 - BN_MOMENTUM) * nd->buffer[1][c] + BN_MOMENTUM * (float)unbiased;
        }
    }
    for (int i = lo; i < hi; i++)
        for (int c = 0; c < C; c++) {
            const float *xp = x + ((size_t)i * C + c) * hw;
            float *xh = s->saved + ((size_t)i * C + c) * hw, *yp = s->y + ((size_t)i * C + c) * hw;
            float mean = st[c], inv = st[C + c];
            for (size_t k = 0; k < hw; k++) {
                xh[k] = (xp[k] - mean) * inv;
                yp[k] = xh[k] * gamma[c] + beta[c];
            }
        }
}

static void batchnorm2d_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    int C = nd->in_shape.c, t = eg_thread_id();
    size_t hw = (size_t)nd->in_shape.h * nd->in_shape.w;
    double *part = bwd_part(nd, s, t);
    /* sum(dy) and sum(dy * xhat) over this thread's rows: its share of
     * dbeta and dgamma, and of the batch sums dx needs */
    channel_sums(nd, s->dy, s->saved, lo, hi, part, part + C);
    float *dgamma = eg_tgrad(g, nd, 0), *dbeta = eg_tgrad(g, nd, 1);
    for (int c = 0; c < C; c++) dbeta[c] += (float)part[c], dgamma[c] += (float)part[C + c];
    if (!s->needs_dx) return;
#pragma omp barrier
    /* dx = gamma / std * (dy - mean(dy) - xhat * mean(dy * xhat)) */
    const float *st = stats(nd, s, t), *gamma = nd->param[0];
    double count = batch_count(nd, s);
    float *dx = eg_input_step(g, nd, 0)->dy;
    for (int c = 0; c < C; c++) {
        double sd, sdx;
        batch_sums(nd, s, bwd_part, c, &sd, &sdx);
        float scale = gamma[c] * st[C + c], mdy = (float)(sd / count), mdx = (float)(sdx / count);
        for (int i = lo; i < hi; i++) {
            const float *dyp = s->dy + ((size_t)i * C + c) * hw, *xh = s->saved + ((size_t)i * C + c) * hw;
            float *dxp = dx + ((size_t)i * C + c) * hw;
            if (s->dx_add[0])
                for (size_t k = 0; k < hw; k++) dxp[k] += scale * (dyp[k] - mdy - xh[k] * mdx);
            else
                for (size_t k = 0; k < hw; k++) dxp[k] = scale * (dyp[k] - mdy - xh[k] * mdx);
        }
    }
}

/* gamma, beta (or the running mean and variance: the same layout) are [C]. */
static void batchnorm2d_keep_out(eg_node *nd, float **p, const int *keep, int nkeep)
{
    eg_keep_slices(p[0], p[0], 1, (size_t)nd->in_shape.c, 1, keep, nkeep);
    eg_keep_slices(p[1], p[1], 1, (size_t)nd->in_shape.c, 1, keep, nkeep);
}

/* ----------------------------------------------------------- C export */

static const char c_bn[] =
    "/* batchnorm2d in inference: y = (x - mean) * inv * gamma + beta per channel,\n"
    " * inv = 1 / sqrt(running variance + eps) worked out at export; y may be x. */\n"
    "static void batchnorm2d(const float *x, float *y, const float *mean, const float *inv, const float *gamma,\n"
    "                        const float *beta, int c, long hw)\n"
    "{\n"
    "    int i;\n"
    "    long j;\n"
    "    for (i = 0; i < c; i++)\n"
    "        for (j = 0; j < hw; j++) y[i * hw + j] = (x[i * hw + j] - mean[i]) * inv[i] * gamma[i] + beta[i];\n"
    "}\n\n";

/* 1 / sqrt(running variance + eps), as the inference forward works it out. */
static float inv_std(const eg_node *nd, size_t c) { return (float)(1 / sqrt((double)nd->buffer[1][c] + EG_BN_EPS)); }

/* <node>_mean, _inv, _gamma, _beta: what its inference computes with. */
static void batchnorm2d_c_params(eg_csrc *s, const eg_node *nd)
{
    char id[EG_NAME_MAX + 8];
    size_t c = nd->psize[0];
    float *inv = malloc((c ? c : 1) * sizeof *inv);
    if (!inv) {
        s->params.oom = 1;
        return;
    }
    for (size_t k = 0; k < c; k++) inv[k] = inv_std(nd, k);
    eg_text_add(&s->params,
                "/* %s: batchnorm2d of %zu channels: running mean, 1 / sqrt(running variance + 1e-5), scale, shift */\n",
                nd->name, c);
    snprintf(id, sizeof id, "%s_mean", nd->name);
    eg_csrc_floats(s, id, nd->buffer[0], c);
    snprintf(id, sizeof id, "%s_inv", nd->name);
    eg_csrc_floats(s, id, inv, c);
    snprintf(id, sizeof id, "%s_gamma", nd->name);
    eg_csrc_floats(s, id, nd->param[0], c);
    snprintf(id, sizeof id, "%s_beta", nd->name);
    eg_csrc_floats(s, id, nd->param[1], c);
    eg_text_add(&s->params, "\n");
    free(inv);
}

static int batchnorm2d_c_check(const eg_node *nd, char *why, size_t len)
{
    for (size_t k = 0; k < nd->psize[0]; k++)
        if (!isfinite(nd->param[0][k]) || !isfinite(nd->param[1][k]) || !isfinite(nd->buffer[0][k]) ||
            !isfinite(inv_std(nd, k)) || !(nd->buffer[1][k] >= 0)) {
            snprintf(why, len,
                     "%s's channel %zu has scale %g, shift %g, running mean %g and variance %g; the C export needs "
                     "finite values and a variance >= 0",
                     nd->name, k, (double)nd->param[0][k], (double)nd->param[1][k], (double)nd->buffer[0][k],
                     (double)nd->buffer[1][k]);
            return -1;
        }
    return 0;
}

static void batchnorm2d_c(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2,
                          const char *y, const char *flow)
{
    (void)g, (void)x2;
    char a[32];
    eg_csrc_shape(a, sizeof a, nd->in_shape);
    eg_csrc_kernel(s, "batchnorm2d", c_bn);
    eg_text_add(&s->body, "    /* %s: batchnorm2d over %s, running statistics: %s */\n", nd->name, a, flow);
    eg_text_add(&s->body, "    batchnorm2d(%s, %s, %s_mean, %s_inv, %s_gamma, %s_beta, %d, %d);\n", x, y, nd->name,
                nd->name, nd->name, nd->name, nd->in_shape.c, nd->in_shape.h * nd->in_shape.w);
}

const eg_op_def eg_op_batchnorm2d = {
    .name = "batchnorm2d",
    .summary = "batch normalisation of each channel, as PyTorch's BatchNorm2d",
    .channels = EG_CH_PASS,
    .shape = batchnorm2d_shape,
    .saved_floats = batchnorm2d_saved,
    .shared_floats = batchnorm2d_shared,
    .forward = batchnorm2d_forward,
    .backward = batchnorm2d_backward,
    .keep_out = batchnorm2d_keep_out,
    .onnx = {"BatchNormalization", EG_ONNX_EPSILON, {".weight", ".bias", ".running_mean", ".running_var"}, 4, 1},
    .c = {EG_C_OVER_INPUT, .params = batchnorm2d_c_params, .check = batchnorm2d_c_check, .code = batchnorm2d_c},
};
