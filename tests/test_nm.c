/* N:M pruning and its kernel: masks keep exactly min(n, group length) of
 * every group of m consecutive weights of a row, the largest (ties: the
 * lower index), checked against a sort of each group; earlier masks are
 * never undone; masked weights and their Adam state stay zero in training;
 * the N:M inference path equals the dense one within 1e-5 on odd shapes
 * (groups cut short at the row's end, 1x1 and stride-2 convs, batch 1, two
 * threads) at 2:4, 1:4, 0% and 100% sparsity and for an unstructured mask,
 * and the automatic choice takes it for N:M prunes only;
 * the kernels against plain products; the recipe keys and their errors. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "util.h"

/* rows of 27 (a), 5 (b), 54 (c), 80 (l1) and 13 (l2) weights: every group
 * size below leaves a shorter last group somewhere */
static const char *odd_spec =
    "input x shape=3x9x7\n"
    "conv2d a out=5 kernel=3 pad=1\n"
    "relu r1\n"
    "conv2d b out=6 kernel=1\n"
    "conv2d c out=4 kernel=3 stride=2 pad=1\n"
    "relu r2\n"
    "flatten f\n"
    "linear l1 out=13\n"
    "relu r3\n"
    "linear l2 out=3\n";

enum { MAXN = 17, IN = 3 * 9 * 7 };

static int build(eg_graph *g, uint64_t seed, int ties)
{
    eg_error err = {0};
    if (eg_graph_parse_spec(g, odd_spec, "spec", &err)) {
        CHECK(0, "parse: %s", err.msg);
        return -1;
    }
    eg_rng r;
    eg_rng_seed(&r, seed);
    eg_graph_init_params(g, &r);
    if (ties)  /* magnitudes 1, 2 or 3 with either sign: ties everywhere */
        for (size_t k = 0; k < g->nparam; k++) g->params[k] = (float)(1 + (int)eg_rng_below(&r, 3)) * (eg_rng_below(&r, 2) ? 1 : -1);
    return 0;
}

static int weighted(const eg_graph *g, int *nodes)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == EG_OP_CONV2D || g->nodes[i].op == EG_OP_LINEAR) nodes[n++] = i;
    return n;
}

/* Kept slots of one group by a sort: magnitude descending, then index. */
static void expect_group(const float *w, const float *before_mask, int len, int n, int *keep)
{
    int order[64];
    for (int i = 0; i < len; i++) order[i] = i;
    for (int i = 1; i < len; i++)  /* insertion sort, stable */
        for (int j = i; j > 0; j--) {
            float a = before_mask[order[j - 1]] ? (w[order[j - 1]] < 0 ? -w[order[j - 1]] : w[order[j - 1]]) : -1;
            float b = before_mask[order[j]] ? (w[order[j]] < 0 ? -w[order[j]] : w[order[j]]) : -1;
            if (b > a) {
                int t = order[j];
                order[j] = order[j - 1], order[j - 1] = t;
            } else {
                break;
            }
        }
    for (int i = 0; i < len; i++) keep[i] = 0;
    for (int i = 0; i < len && i < n; i++) keep[order[i]] = before_mask[order[i]] != 0;
}

/* Prunes n:m (after an optional magnitude prune) and checks every group. */
static void test_masks(int n, int m, double pre, int ties)
{
    eg_graph g;
    eg_error err = {0};
    if (build(&g, 40 + (uint64_t)(n * 10 + m), ties)) return;
    int nodes[16], count = weighted(&g, nodes);
    CHECK(eg_graph_enable_masks(&g, &err) == EG_OK, "masks");
    if (pre > 0) CHECK(eg_prune_magnitude(&g, nodes, count, pre, 0, &err) == EG_OK, "magnitude: %s", err.msg);
    float *w0 = malloc(g.nparam * sizeof *w0), *m0 = malloc(g.nparam * sizeof *m0);
    memcpy(w0, g.params, g.nparam * sizeof *w0);
    memcpy(m0, g.masks, g.nparam * sizeof *m0);
    CHECK(eg_prune_nm(&g, nodes, count, n, m, &err) == EG_OK, "nm %d:%d: %s", n, m, err.msg);
    size_t bad = 0, over = 0, short_count = 0, unmasked = 0, nonzero_masked = 0;
    for (int c = 0; c < count; c++) {
        eg_node *nd = &g.nodes[nodes[c]];
        size_t off = (size_t)(nd->param[0] - g.params), K = nd->psize[0] / (size_t)nd->out;
        for (size_t r = 0; r < (size_t)nd->out; r++)
            for (size_t g0 = 0; g0 < K; g0 += (size_t)m) {
                int len = (int)(K - g0 < (size_t)m ? K - g0 : (size_t)m), keep[64], kept = 0;
                size_t at = off + r * K + g0;
                expect_group(w0 + at, m0 + at, len, n, keep);
                for (int i = 0; i < len; i++) {
                    bad += (g.masks[at + i] != 0) != keep[i];
                    kept += g.masks[at + i] != 0;
                    unmasked += m0[at + i] == 0 && g.masks[at + i] != 0;
                    nonzero_masked += g.masks[at + i] == 0 && g.params[at + i] != 0;
                }
                over += kept > n;
                short_count += pre == 0 && kept != (len < n ? len : n);
            }
    }
    CHECK(bad == 0, "%d:%d (pre %g, ties %d): %zu weights kept or masked against the sort", n, m, pre, ties, bad);
    CHECK(over == 0 && short_count == 0, "%d:%d: %zu groups keep more than n, %zu not exactly min(n, length)", n, m,
          over, short_count);
    CHECK(unmasked == 0 && nonzero_masked == 0, "%d:%d: %zu unmasked, %zu masked but non-zero", n, m, unmasked,
          nonzero_masked);
    free(w0), free(m0);
    eg_graph_free(&g);
}

/* Ties by hand: |w| = 1, 1, 1, 1 keeps the first two; 3, -5, 5, 0 keeps -5, 5. */
static void test_ties_by_hand(void)
{
    eg_graph g;
    eg_error err = {0};
    if (eg_graph_parse_spec(&g, "input x shape=8x1x1\nlinear l out=1\n", "spec", &err)) return;
    float w[8] = {1, -1, 1, -1, 3, -5, 5, 0};
    memcpy(g.nodes[1].param[0], w, sizeof w);
    int node = 1;
    CHECK(eg_prune_nm(&g, &node, 1, 2, 4, &err) == EG_OK, "nm: %s", err.msg);
    const float want[8] = {1, -1, 0, 0, 0, -5, 5, 0}, wmask[8] = {1, 1, 0, 0, 0, 1, 1, 0};
    CHECK(!memcmp(g.nodes[1].param[0], want, sizeof want) && !memcmp(g.nodes[1].mask[0], wmask, sizeof wmask),
          "by hand: got %g %g %g %g %g %g %g %g", g.nodes[1].param[0][0], g.nodes[1].param[0][1],
          g.nodes[1].param[0][2], g.nodes[1].param[0][3], g.nodes[1].param[0][4], g.nodes[1].param[0][5],
          g.nodes[1].param[0][6], g.nodes[1].param[0][7]);
    eg_graph_free(&g);
}

/* Training after a 2:4 prune: masked weights and Adam's moments stay zero. */
static void test_training(void)
{
    eg_graph g;
    eg_error err = {0};
    if (eg_graph_load_spec(&g, "models/simplecnn", &err)) {
        CHECK(0, "load: %s", err.msg);
        return;
    }
    eg_rng r;
    eg_rng_seed(&r, 2);
    eg_graph_init_params(&g, &r);
    int nodes[16], count = weighted(&g, nodes);
    CHECK(eg_prune_nm(&g, nodes, count, 2, 4, &err) == EG_OK, "nm: %s", err.msg);
    eg_dataset ds;
    util_random_dataset(&ds, 96, &r, -0.4f, 2.8f, 10);
    eg_optim o;
    eg_optim_init(&o, EG_OPTIM_ADAM, 1e-2f);
    eg_train_opts to = {.batch = 32, .shuffle = 1};
    eg_epoch_stats st;
    for (int e = 0; e < 2; e++) CHECK(eg_train_epoch(&g, &o, &ds, &to, &r, &st, &err) == EG_OK, "train: %s", err.msg);
    size_t bad = 0, masked = 0, moved_state = 0;
    for (size_t k = 0; k < g.nparam; k++)
        if (g.masks[k] == 0) {
            masked++;
            bad += g.params[k] != 0 || o.m[k] != 0 || o.v[k] != 0;
        } else {
            moved_state += o.v[k] != 0;
        }
    CHECK(masked > 12000 && bad == 0, "%zu masked, %zu of them with a non-zero weight or moment", masked, bad);
    CHECK(moved_state > 1000, "Adam state never moved (%zu)", moved_state);
    /* still 2:4 in every group */
    for (int c = 0; c < count; c++) {
        const eg_node *nd = &g.nodes[nodes[c]];
        int most = eg_k->nm_max_kept(nd->out, (int)(nd->psize[0] / (size_t)nd->out), 4, nd->param[0], nd->mask[0]);
        CHECK(most <= 2, "%s: a group of 4 keeps %d after training", nd->name, most);
    }
    eg_optim_free(&o);
    eg_dataset_free(&ds);
    eg_graph_free(&g);
}

/* The N:M path (forced, m = 4) equals dense for several masks. */
static void test_paths_agree(const float *x)
{
    static const char *cases[] = {"2:4", "1:4", "0%", "100%", "unstructured 60%"};
    static const int want_n[] = {2, 1, 4, 1, -1};
    static const int batches[] = {1, 3, MAXN};
    for (int c = 0; c < 5; c++) {
        eg_graph g;
        eg_error err = {0};
        if (build(&g, 60 + (uint64_t)c, 0)) return;
        int nodes[16], count = weighted(&g, nodes);
        CHECK(eg_graph_enable_masks(&g, &err) == EG_OK, "masks");
        if (c < 2) CHECK(eg_prune_nm(&g, nodes, count, want_n[c], 4, &err) == EG_OK, "nm: %s", err.msg);
        if (c == 3)
            for (int i = 0; i < count; i++)
                for (size_t k = 0; k < g.nodes[nodes[i]].psize[0]; k++) g.nodes[nodes[i]].param[0][k] = g.nodes[nodes[i]].mask[0][k] = 0;
        if (c == 4) CHECK(eg_prune_magnitude(&g, nodes, count, 0.6, 0, &err) == EG_OK, "magnitude: %s", err.msg);
        for (size_t b = 0; b < sizeof batches / sizeof *batches; b++)
            for (int threads = 1; threads <= 2; threads++) {
                int n = batches[b];
                float *dense = util_outputs(&g, -1, x, n, threads);
                float *nm = util_outputs(&g, 2, x, n, threads);
                for (int i = 0; i < count; i++) {
                    const eg_node *nd = &g.nodes[nodes[i]];
                    const eg_step *s = eg_step_of(&g, nd);
                    CHECK(s->weights == EG_WEIGHTS_NM && s->nm_m == 4 && (want_n[c] < 0 ? s->nm_n >= 1 : s->nm_n == want_n[c]),
                          "%s: %s runs %d:%d (weights %d)", cases[c], nd->name, s->nm_n, s->nm_m, (int)s->weights);
                }
                char what[96];
                snprintf(what, sizeof what, "%s, batch %d, %d threads: n:m vs dense", cases[c], n, threads);
                check_close(what, nm, dense, (size_t)n * 3, 1e-5, 1e-5);
                free(dense), free(nm);
            }
        /* the default choice takes N:M for an N:M prune sparse enough for
         * CSR (1:4, not 2:4) in linear layers with four rows or more per
         * thread; never in convs (dense is faster there), never for the
         * other masks */
        for (int b = 0; b < 2; b++) {
            int n = b ? 8 : 1;
            free(util_outputs(&g, 0, x, n, 2));
            for (int i = 0; i < count; i++) {
                const eg_node *nd = &g.nodes[nodes[i]];
                const eg_step *s = eg_step_of(&g, nd);
                int want = c == 1 && nd->op == EG_OP_LINEAR && n >= 8, nm = s->weights == EG_WEIGHTS_NM;
                CHECK(nm == want && (!want || (s->nm_n == want_n[c] && s->nm_m == 4)),
                      "%s, batch %d: auto gave %s %d:%d, want N:M %d", cases[c], n, nd->name, s->nm_n, s->nm_m, want);
            }
        }
        eg_graph_free(&g);
    }
}

/* eg_nm_rows_nn and eg_nm_matmul_t against plain products of the dense matrix. */
static void test_kernels(void)
{
    static const int shapes[][3] = {{1, 1, 1}, {3, 17, 5}, {5, 213, 9}, {6, 64, 13}, {9, 37, 40}};
    static const int nm[][2] = {{2, 4}, {1, 4}, {3, 8}, {4, 4}};
    eg_rng r;
    eg_rng_seed(&r, 12);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t p = 0; p < sizeof nm / sizeof *nm; p++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], n = nm[p][0], m = nm[p][1];
            int G = (K + m - 1) / m;
            float *A = malloc((size_t)M * K * sizeof *A), *B = malloc((size_t)K * N * sizeof *B);
            float *C = malloc((size_t)M * N * sizeof *C), *R = malloc((size_t)M * N * sizeof *R);
            float *val = malloc((size_t)M * G * n * sizeof *val), *scratch = malloc(eg_k->nm_scratch(K) * sizeof *scratch);
            uint8_t *idx = malloc((size_t)M * G * n);
            ptrdiff_t *off = malloc((size_t)K * sizeof *off);
            for (int i = 0; i < M * K; i++) A[i] = (i % m) < n ? eg_rng_range(&r, -1, 1) : 0;  /* n:m by position */
            for (int i = 0; i < K * N; i++) B[i] = eg_rng_range(&r, -2, 2);
            for (int k = 0; k < K; k++) off[k] = (ptrdiff_t)(K - 1 - k) * N;  /* rows reversed */
            CHECK(eg_k->nm_max_kept(M, K, m, A, NULL) <= n, "pattern");
            CHECK(eg_k->nm_build(M, K, n, m, A, NULL, val, idx) == 0, "build %d:%d", n, m);
            if (n > 1) CHECK(eg_k->nm_build(M, K, n - 1, m, A, NULL, val, idx) == -1 || K < 2, "too few slots accepted");
            eg_k->nm_build(M, K, n, m, A, NULL, val, idx);
            char what[96];
            /* C += A B, B read by stride */
            for (int i = 0; i < M * N; i++) C[i] = R[i] = (float)(i % 5);
            eg_k->nm_rows_nn(M, N, K, n, m, val, idx, B, N, NULL, C, N);
            eg_k->gemm_nn_ref(M, N, K, A, K, B, N, R, N);
            snprintf(what, sizeof what, "nm rows %dx%dx%d %d:%d", M, N, K, n, m);
            check_close(what, C, R, (size_t)M * N, 1e-5, 1e-5);
            /* through offsets: row k of B is stored at row K-1-k */
            float *Brev = malloc((size_t)K * N * sizeof *Brev);
            for (int k = 0; k < K; k++) memcpy(Brev + (size_t)(K - 1 - k) * N, B + (size_t)k * N, (size_t)N * sizeof *B);
            for (int i = 0; i < M * N; i++) C[i] = (float)(i % 5);
            eg_k->nm_rows_nn(M, N, K, n, m, val, idx, Brev, 0, off, C, N);
            snprintf(what, sizeof what, "nm rows via offsets %dx%dx%d %d:%d", M, N, K, n, m);
            check_close(what, C, R, (size_t)M * N, 1e-5, 1e-5);
            free(Brev);
            /* y[N x M] += x[N x K] A^T, x = B^T laid out [N, K] */
            float *x = malloc((size_t)N * K * sizeof *x);
            for (int i = 0; i < N; i++)
                for (int k = 0; k < K; k++) x[(size_t)i * K + k] = B[(size_t)k * N + i];
            for (int i = 0; i < M * N; i++) C[i] = R[i] = (float)(i % 3);
            eg_k->nm_matmul_t(N, M, K, n, m, x, K, val, idx, C, M, scratch);
            eg_k->gemm_nt_ref(N, M, K, x, K, A, K, R, M);
            snprintf(what, sizeof what, "nm matmul_t %d rows, %d -> %d, %d:%d", N, K, M, n, m);
            check_close(what, C, R, (size_t)M * N, 1e-5, 1e-5);
            /* a row's bits do not depend on the batch: each alone (the
             * one-sample path) gives what its tile gave */
            float *C1 = malloc((size_t)M * N * sizeof *C1);
            for (int i = 0; i < M * N; i++) C1[i] = (float)(i % 3);
            for (int i = 0; i < N; i++)
                eg_k->nm_matmul_t(1, M, K, n, m, x + (size_t)i * K, K, val, idx, C1 + (size_t)i * M, M, scratch);
            CHECK(!memcmp(C1, C, (size_t)M * N * sizeof *C), "%s: rows alone differ from the batch", what);
            free(C1);
            free(x), free(A), free(B), free(C), free(R), free(val), free(scratch), free(idx), free(off);
        }
}

/* Recipe keys: accepted and refused lines, with the column in the message. */
static void test_recipe(void)
{
    static const struct { const char *line, *want; } cases[] = {
        {"prune method=nm n=2 m=4", NULL},
        {"prune method=nm n=1 m=8 layers=fc1,conv2", NULL},
        {"prune method=nm n=2", "needs n=<kept> m=<group size>"},
        {"prune method=nm n=4 m=4", "n=4 must be below m=4"},
        {"prune method=nm n=2 m=65", "m: expected an integer from 1 to 64, found '65'"},
        {"prune method=nm n=1.5 m=4", "n: expected an integer"},
        {"prune method=nm n=2 m=4 amount=0.5", "not amount="},
        {"prune method=magnitude amount=0.5 n=2", "n= and m= go with method=nm"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        eg_recipe *r = calloc(1, sizeof *r);
        eg_error err = {0};
        snprintf(r->path, sizeof r->path, "t.recipe");
        eg_status st = eg_recipe_parse_line(r, cases[i].line, 3, &err);
        if (!cases[i].want) {
            CHECK(st == EG_OK && r->nstages == 1 && !strcmp(r->stages[0].method, "nm") && r->stages[0].nm_n >= 1 &&
                      r->stages[0].nm_m >= 2,
                  "'%s' refused: %s", cases[i].line, err.msg);
        } else {
            CHECK(st != EG_OK && strstr(err.msg, cases[i].want) && strstr(err.msg, "t.recipe:3"),
                  "'%s': want an error with '%s', got '%s'", cases[i].line, cases[i].want, err.msg);
        }
        free(r);
    }
    eg_graph g;
    eg_error err = {0};
    if (build(&g, 1, 0)) return;
    int relu = 2, l1 = eg_graph_find(&g, "l1");
    CHECK(eg_prune_nm(&g, &relu, 1, 2, 4, &err) == EG_ERR_ARG && strstr(err.msg, "'r1' is a relu"), "relu: %s", err.msg);
    CHECK(eg_prune_nm(&g, &l1, 1, 0, 4, &err) == EG_ERR_ARG && strstr(err.msg, "found n=0 m=4"), "n=0: %s", err.msg);
    eg_graph_free(&g);
}

/* A linear layer whose rows are shorter than a group (2 inputs) fits every
 * N:M pattern with nothing pruned: the default choice must keep it dense. */
static void test_short_rows(void)
{
    eg_graph g;
    const char *spec = "input x shape=1x2x2\nflatten f\nlinear l1 out=2\nlinear l2 out=4\n";
    if (util_graph(&g, "short_rows", spec, 4, 1)) return;
    eg_rng r;
    eg_rng_seed(&r, 5);
    float x[16 * 4];
    for (int i = 0; i < 16 * 4; i++) x[i] = eg_rng_range(&r, -1, 1);
    free(util_outputs(&g, 0, x, 16, 1));
    const eg_step *l2 = &g.plan.steps[eg_graph_find(&g, "l2")];
    CHECK(l2->weights == EG_WEIGHTS_DENSE, "a dense layer of 2 inputs runs %d:%d (weights %d)", l2->nm_n, l2->nm_m,
          (int)l2->weights);
    eg_graph_free(&g);
}

int main(void)
{
    static const int nm[][2] = {{2, 4}, {1, 4}, {3, 8}, {1, 2}, {5, 7}};
    for (size_t i = 0; i < sizeof nm / sizeof *nm; i++)
        for (int ties = 0; ties < 2; ties++) {
            test_masks(nm[i][0], nm[i][1], 0, ties);
            test_masks(nm[i][0], nm[i][1], 0.6, ties);
        }
    test_ties_by_hand();
    test_training();
    eg_rng r;
    eg_rng_seed(&r, 3);
    float *x = malloc((size_t)MAXN * IN * sizeof *x);
    for (size_t i = 0; i < (size_t)MAXN * IN; i++) x[i] = eg_rng_range(&r, -1.5f, 2.5f);
    test_paths_agree(x);
    test_kernels();
    test_recipe();
    test_short_rows();
    free(x);
    return check_report("nm");
}
