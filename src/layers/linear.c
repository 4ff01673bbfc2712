/* linear: y = x W^T + b over flat features (a flatten node comes first). */
#include <string.h>

#include "internal.h"
#include "io/csrc.h"

static int linear_shape(eg_node *nd, char *why, size_t whylen)
{
    eg_shape in = nd->in_shape;
    if (nd->out < 1) {
        snprintf(why, whylen, "needs out >= 1, found out=%d", nd->out);
        return -1;
    }
    if (in.h != 1 || in.w != 1) {
        snprintf(why, whylen, "needs flat features (C x 1 x 1), found %dx%dx%d; hint: put a flatten node before it",
                 in.c, in.h, in.w);
        return -1;
    }
    nd->out_shape = (eg_shape){nd->out, 1, 1};
    nd->nparams = 2;
    nd->pdims[0] = 2;
    nd->pshape[0][0] = nd->out;
    nd->pshape[0][1] = in.c;
    nd->psize[0] = (size_t)nd->out * in.c;
    nd->pdims[1] = 1;
    nd->pshape[1][0] = nd->out;
    nd->psize[1] = (size_t)nd->out;
    return 0;
}

/* Forward: W transposed. Backward: dy transposed, [out, n], for the weight
 * gradient. In inference with a CSR or N:M copy: the kernel's transposed
 * tile of x (eg_nm_scratch is the same size). */
static size_t linear_scratch(const eg_node *nd, int n)
{
    size_t dyt = (size_t)nd->out * n, tile = eg_k->csr_scratch(nd->in_shape.c), wt = nd->psize[0];
    size_t most = dyt > tile ? dyt : tile;
    return most > wt ? most : wt;
}

/* The dense forward multiplies x by W^T, which the plan keeps in inference
 * and training transposes into scratch on every call, rather than taking
 * row-by-row dot products with W (gemm_nt): those sum each output across a
 * vector's lanes at the end and stream all of W past every four rows of x,
 * while x W^T broadcasts x and reads W^T in order. Always the same product,
 * so an image's output does not depend on the batch or the thread count. */

static void linear_forward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    const float *x = eg_input_step(g, nd, 0)->y, *w = nd->param[0], *b = nd->param[1];
    int in = nd->in_shape.c, out = nd->out;
    if (hi <= lo) return;
    for (int i = lo; i < hi; i++) memcpy(s->y + (size_t)i * out, b, (size_t)out * sizeof *b);
    /* a pruned layer in inference multiplies only its kept weights (the plan
     * rebuilds the copy in every prepare for inference) */
    if (s->weights == EG_WEIGHTS_CSR && !g->plan.training) {
        eg_k->csr_matmul_t(hi - lo, out, in, x + (size_t)lo * in, in, s->csr_rowptr, s->csr_col, s->csr_val,
                        s->y + (size_t)lo * out, out, eg_scratch(g));
        return;
    }
    if (s->weights == EG_WEIGHTS_NM && !g->plan.training) {  /* an N:M copy, likewise */
        eg_k->nm_matmul_t(hi - lo, out, in, s->nm_n, s->nm_m, x + (size_t)lo * in, in, s->nm_val, s->nm_idx,
                       s->y + (size_t)lo * out, out, eg_scratch(g));
        return;
    }
    float *wt = s->wt;
    if (g->plan.training) eg_k->transpose(wt = eg_scratch(g), out, w, in, out, in);
    eg_k->gemm_nn(hi - lo, out, in, x + (size_t)lo * in, in, wt, out, s->y + (size_t)lo * out, out);
}

static void linear_backward(eg_graph *g, eg_node *nd, eg_step *s, int lo, int hi)
{
    const float *x = eg_input_step(g, nd, 0)->y, *dy = s->dy, *w = nd->param[0];
    int in = nd->in_shape.c, out = nd->out, m = hi - lo;
    if (m <= 0) return;
    /* dW += dy^T x and db += column sums of dy, over this thread's rows */
    float *dyt = eg_scratch(g), *dw = eg_tgrad(g, nd, 0), *db = eg_tgrad(g, nd, 1);
    eg_k->transpose(dyt, m, dy + (size_t)lo * out, out, m, out);
    for (int o = 0; o < out; o++) db[o] += eg_k->sum(dyt + (size_t)o * m, (size_t)m);
    eg_k->gemm_nn(out, in, m, dyt, m, x + (size_t)lo * in, in, dw, in);
    if (!s->needs_dx) return;
    /* dx = dy W */
    float *dx = eg_input_step(g, nd, 0)->dy + (size_t)lo * in;
    if (s->dx_add[0]) eg_k->gemm_nn(m, in, out, dy + (size_t)lo * out, out, w, in, dx, in);
    else eg_k->gemm_nn_set(m, in, out, dy + (size_t)lo * out, out, w, in, dx, in);
}

/* weight [out, in]: output features are rows. */
static void linear_keep_out(eg_node *nd, float **p, const int *keep, int nkeep)
{
    eg_keep_slices(p[0], p[0], 1, (size_t)nd->out, (size_t)nd->in_shape.c, keep, nkeep);
    eg_keep_slices(p[1], p[1], 1, (size_t)nd->out, 1, keep, nkeep);
}

/* An input channel is `block` consecutive columns (H*W of a flattened map). */
static void linear_keep_in(eg_node *nd, float **p, const int *keep, int nkeep, int block)
{
    eg_keep_slices(p[0], p[0], (size_t)nd->out, (size_t)nd->in_shape.c / (size_t)block,
                   (size_t)block, keep, nkeep);
}

/* ----------------------------------------------------------- C export */

static const char c_dense[] =
    "/* linear, dense weights w [m][n] and bias b [m]: y[o] = b[o] + sum of w[o][i] x[i]. */\n"
    "static void linear_dense(const float *x, float *y, const float *w, const float *b, long n, long m)\n"
    "{\n"
    "    long o, i;\n"
    "    for (o = 0; o < m; o++, w += n) {\n"
    "        float acc = b[o];\n"
    "        for (i = 0; i < n; i++) acc += w[i] * x[i];\n"
    "        y[o] = acc;\n"
    "    }\n"
    "}\n\n";

static const char c_csr[] =
    "/* linear, CSR weights with @N-bit indices: the kept weights of output o are\n"
    " * vals[rows[o] .. rows[o+1]-1], at inputs cols[]; bias b [m]. */\n"
    "static void linear_csr@N(const float *x, float *y, const @T *rows, const @T *cols,\n"
    "                         const float *vals, const float *b, long m)\n"
    "{\n"
    "    long o, j;\n"
    "    for (o = 0; o < m; o++) {\n"
    "        float acc = b[o];\n"
    "        for (j = (long)rows[o]; j < (long)rows[o + 1]; j++) acc += vals[j] * x[cols[j]];\n"
    "        y[o] = acc;\n"
    "    }\n"
    "}\n\n";

static void linear_c(eg_csrc *s, const eg_graph *g, const eg_node *nd, const char *x, const char *x2, const char *y,
                     const char *flow)
{
    (void)g, (void)x2;
    eg_c_layer l;
    eg_export_c_layer(nd, &l);
    char a[32], b[32];
    eg_csrc_shape(a, sizeof a, nd->in_shape);
    eg_csrc_shape(b, sizeof b, nd->out_shape);
    int in = nd->in_shape.c, out = nd->out_shape.c;
    eg_text_add(&s->body, "    /* %s: linear %s -> %s, %s weights: %s */\n", nd->name, a, b, l.csr ? "CSR" : "dense", flow);
    if (!l.csr) {
        eg_csrc_kernel(s, "linear_dense", c_dense);
        eg_text_add(&s->body, "    linear_dense(%s, %s, %s_w, %s_b, %d, %d);\n", x, y, nd->name, nd->name, in, out);
        return;
    }
    eg_csrc_kernel_typed(s, "linear_csr", c_csr, l.index_bytes);
    if (l.kept)
        eg_text_add(&s->body, "    linear_csr%d(%s, %s, %s_rows, %s_cols, %s_vals, %s_b, %d);\n", 8 * l.index_bytes, x, y,
                    nd->name, nd->name, nd->name, nd->name, out);
    else
        eg_text_add(&s->body, "    linear_csr%d(%s, %s, %s_rows, 0, 0, %s_b, %d);\n", 8 * l.index_bytes, x, y, nd->name,
                    nd->name, out);
}

const eg_op_def eg_op_linear = {
    .name = "linear",
    .summary = "fully connected: x W^T + b (out)",
    .channels = EG_CH_PRODUCE,
    .attrs = EG_ATTR_OUT,
    .required = EG_ATTR_OUT,
    .shape = linear_shape,
    .scratch_floats = linear_scratch,
    .forward = linear_forward,
    .backward = linear_backward,
    .keep_out = linear_keep_out,
    .keep_in = linear_keep_in,
    .onnx = {"Gemm", EG_ONNX_TRANSB, {".weight", ".bias"}, 2, .flattens = 1},
    .c = {EG_C_NEW, 1, .code = linear_c},
};
