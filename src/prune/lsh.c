/* LSH merging: find units whose incoming weights (and bias) point the same
 * way with random-hyperplane hashing (SimHash), then fold each redundant one
 * into its twin: its outgoing weights are added to the twin's, scaled by the
 * positive factor between their incoming vectors, and surgery removes it.
 * No data is needed. See eg_lsh_merge in edagari.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct { uint32_t sig; int unit; } signed_unit;
typedef struct { int a, b; double cos; } unit_pair;

static int by_signature(const void *x, const void *y)
{
    const signed_unit *p = x, *q = y;
    if (p->sig != q->sig) return p->sig < q->sig ? -1 : 1;
    return (p->unit > q->unit) - (p->unit < q->unit);
}

static int by_units(const void *x, const void *y)
{
    const unit_pair *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    return (p->b > q->b) - (p->b < q->b);
}

/* Most similar first; ties by the lower pair of units, so the order is fixed. */
static int by_similarity(const void *x, const void *y)
{
    const unit_pair *p = x, *q = y;
    if (p->cos != q->cos) return p->cos > q->cos ? -1 : 1;
    return by_units(x, y);
}

/* A standard normal draw (Box-Muller on the run's generator). */
static double gaussian(eg_rng *rng)
{
    double u = 1.0 - (double)eg_rng_uniform(rng), v = (double)eg_rng_uniform(rng);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static int scales(const eg_op_def *op) { return op->scales; }

/* Merging is exact only if every op between the unit and its consumers
 * commutes with a positive per-channel scale (eg_op_def.scales). */
static eg_status check_path(const eg_graph *g, int root, eg_error *err)
{
    int stack[64], top = 0;
    stack[top++] = root;
    while (top) {
        int u = stack[--top];
        for (int v = u + 1; v < g->nnodes; v++) {
            const eg_node *vn = &g->nodes[v];
            int uses = 0;
            for (int s = 0; s < vn->ninputs; s++) uses |= vn->inputs[s] == u;
            if (!uses || vn->op == EG_OP_CONV2D || vn->op == EG_OP_LINEAR) continue;
            if (!eg_ops[vn->op]->scales) {
                char exact[256];
                eg_op_names(exact, sizeof exact, ", ", 0, scales);
                return eg_fail(err, EG_ERR_ARG,
                               "lsh merging of '%s': its channels pass through '%s', a %s; merging is exact only through %s",
                               g->nodes[root].name, vn->name, eg_ops[vn->op]->name, exact);
            }
            if (top == 64) return eg_fail(err, EG_ERR_ARG, "lsh merging of '%s': the graph fans out too widely", g->nodes[root].name);
            stack[top++] = v;
        }
    }
    return EG_OK;
}

/* Adds s x (input channel `from`) to input channel `to` of a consumer whose
 * weight is [out, channels, inner]; a masked entry the sum makes non-zero is
 * unmasked, so the added weight is kept. */
static void fold_columns(eg_node *nd, int channels, int from, int to, double s)
{
    size_t inner = nd->psize[0] / ((size_t)nd->out * (size_t)channels);
    for (int o = 0; o < nd->out; o++) {
        size_t f = ((size_t)o * channels + from) * inner, t = ((size_t)o * channels + to) * inner;
        for (size_t k = 0; k < inner; k++) {
            float *w = nd->param[0];
            w[t + k] = (float)((double)w[t + k] + s * (double)w[f + k]);
            if (nd->mask[0] && nd->mask[0][f + k] != 0) nd->mask[0][t + k] = 1;
        }
    }
}

void eg_lsh_result_free(eg_lsh_result *res)
{
    free(res->removed), free(res->twin), free(res->scale), free(res->cosine);
    memset(res, 0, sizeof *res);
}

eg_status eg_lsh_merge(eg_graph *g, int node, const eg_lsh_opts *o, eg_rng *rng, eg_lsh_result *res, eg_error *err)
{
    memset(res, 0, sizeof *res);
    if (o->bits < 1 || o->bits > 32)
        return eg_fail(err, EG_ERR_ARG, "lsh merging: bits must be in 1..32, found %d", o->bits);
    if (o->tables < 1 || o->tables > 256)
        return eg_fail(err, EG_ERR_ARG, "lsh merging: tables must be in 1..256, found %d", o->tables);
    if (!(o->threshold > 0 && o->threshold <= 1))
        return eg_fail(err, EG_ERR_ARG, "lsh merging: threshold must be a cosine similarity in (0, 1], found %g", o->threshold);
    if (o->max_merges < 0) return eg_fail(err, EG_ERR_ARG, "lsh merging: amount must be >= 0, found %d", o->max_merges);
    eg_dep_group grp;
    eg_status st = eg_depgroup_build(g, node, &grp, err);
    if (!st) st = check_path(g, node, err);
    if (st) return st;
    eg_node *nd = &g->nodes[node];
    int n = nd->out;
    size_t per = nd->psize[0] / (size_t)n, dim = per + (nd->nparams > 1);

    double *vec = malloc((size_t)n * dim * sizeof *vec), *norm = malloc((size_t)n * sizeof *norm);
    double *planes = malloc((size_t)o->bits * dim * sizeof *planes);
    signed_unit *su = malloc((size_t)n * sizeof *su);
    char *alive = malloc((size_t)n);
    int *keep = malloc((size_t)n * sizeof *keep);
    size_t npairs = 0, cap = 64;
    unit_pair *pairs = malloc(cap * sizeof *pairs);
    res->removed = malloc((size_t)n * sizeof *res->removed);
    res->twin = malloc((size_t)n * sizeof *res->twin);
    res->scale = malloc((size_t)n * sizeof *res->scale);
    res->cosine = malloc((size_t)n * sizeof *res->cosine);
    if (!vec || !norm || !planes || !su || !alive || !keep || !pairs || !res->removed || !res->twin || !res->scale ||
        !res->cosine) {
        st = eg_fail(err, EG_ERR_NOMEM, "lsh merging: out of memory for %d units", n);
        goto done;
    }
    for (int c = 0; c < n; c++) {
        double s = 0;
        for (size_t k = 0; k < per; k++) vec[c * dim + k] = nd->param[0][c * per + k];
        if (dim > per) vec[c * dim + per] = nd->param[1][c];
        for (size_t k = 0; k < dim; k++) s += vec[c * dim + k] * vec[c * dim + k];
        norm[c] = sqrt(s);
        alive[c] = 1;
    }
    /* Units that share a signature in any table are candidates. */
    for (int t = 0; t < o->tables; t++) {
        for (size_t k = 0; k < (size_t)o->bits * dim; k++) planes[k] = gaussian(rng);
        for (int c = 0; c < n; c++) {
            uint32_t sig = 0;
            for (int b = 0; b < o->bits; b++) {
                double d = 0;
                for (size_t k = 0; k < dim; k++) d += planes[b * dim + k] * vec[c * dim + k];
                sig |= (uint32_t)(d >= 0) << b;
            }
            su[c] = (signed_unit){sig, c};
        }
        qsort(su, (size_t)n, sizeof *su, by_signature);
        for (int lo = 0, hi; lo < n; lo = hi) {
            for (hi = lo + 1; hi < n && su[hi].sig == su[lo].sig; hi++) {}
            for (int i = lo; i < hi; i++)
                for (int j = i + 1; j < hi; j++) {
                    if (npairs == cap) {
                        unit_pair *p = realloc(pairs, 2 * cap * sizeof *pairs);
                        if (!p) {
                            st = eg_fail(err, EG_ERR_NOMEM, "lsh merging: out of memory for candidate pairs");
                            goto done;
                        }
                        pairs = p, cap *= 2;
                    }
                    pairs[npairs++] = (unit_pair){su[i].unit, su[j].unit, 0};  /* a < b: sorted by unit within a bucket */
                }
        }
    }
    qsort(pairs, npairs, sizeof *pairs, by_units);
    size_t m = 0;
    for (size_t i = 0; i < npairs; i++)
        if (!m || pairs[i].a != pairs[m - 1].a || pairs[i].b != pairs[m - 1].b) pairs[m++] = pairs[i];
    res->candidates = (int)m;
    size_t nsim = 0;
    for (size_t i = 0; i < m; i++) {
        int a = pairs[i].a, b = pairs[i].b;
        if (norm[a] == 0 || norm[b] == 0) continue;  /* no direction to compare */
        double d = 0;
        for (size_t k = 0; k < dim; k++) d += vec[a * dim + k] * vec[b * dim + k];
        double cs = d / (norm[a] * norm[b]);
        if (cs > 1) cs = 1;
        if (cs >= o->threshold) pairs[nsim++] = (unit_pair){a, b, cs};
    }
    res->similar = (int)nsim;
    qsort(pairs, nsim, sizeof *pairs, by_similarity);
    for (size_t i = 0; i < nsim && res->merged < o->max_merges; i++) {
        int a = pairs[i].a, b = pairs[i].b;
        if (!alive[a] || !alive[b]) continue;
        /* the smaller vector goes: the error of an inexact pair is its part
         * orthogonal to the twin, which is smaller that way */
        int gone = norm[b] <= norm[a] ? b : a, twin = gone == b ? a : b;
        double d = 0;
        for (size_t k = 0; k < dim; k++) d += vec[gone * dim + k] * vec[twin * dim + k];
        double s = d / (norm[twin] * norm[twin]);
        if (!(s > 0)) continue;  /* relu does not commute with a negative scale */
        for (int k = 0; k < grp.nmembers; k++)
            if (grp.members[k].role == EG_DEP_IN) fold_columns(&g->nodes[grp.members[k].node], n, gone, twin, s);
        alive[gone] = 0;
        res->removed[res->merged] = gone, res->twin[res->merged] = twin;
        res->scale[res->merged] = s, res->cosine[res->merged] = pairs[i].cos;
        res->merged++;
    }
    if (res->merged) {
        int nkeep = 0;
        for (int c = 0; c < n; c++)
            if (alive[c]) keep[nkeep++] = c;
        st = eg_surgery_keep(g, &grp, keep, nkeep, err);
    }
done:
    free(vec), free(norm), free(planes), free(su), free(alive), free(keep), free(pairs);
    if (st) eg_lsh_result_free(res);
    return st;
}
