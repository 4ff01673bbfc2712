/* Unstructured masks: magnitude pruning picks exactly the smallest weights,
 * masked weights and their optimizer state stay exactly zero through
 * training, and structured surgery slices the masks with the weights. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "util.h"

static int load(eg_graph *g, uint64_t seed)
{
    eg_error err = {0};
    if (eg_graph_load_spec(g, "models/simplecnn", &err)) {
        CHECK(0, "load models/simplecnn: %s", err.msg);
        return -1;
    }
    eg_rng r;
    eg_rng_seed(&r, seed);
    eg_graph_init_params(g, &r);
    return 0;
}

static const int weighted[] = {1, 4, 8, 10};  /* conv1, conv2, fc1, fc2 in models/simplecnn */

static size_t zeros(const eg_node *nd) { return nd->psize[0] - eg_node_nonzeros(nd); }

/* Global: exactly round(0.9 N) zeros, every pruned |w| <= every kept |w|,
 * masks agree with the zeros; local: each layer its own count. */
static void test_selection(void)
{
    eg_graph g;
    eg_error err = {0};
    if (load(&g, 1)) return;
    size_t total = 0, z = 0;
    float max_pruned = 0, min_kept = INFINITY;
    float *before = malloc(g.nparam * sizeof *before);
    memcpy(before, g.params, g.nparam * sizeof *before);
    CHECK(eg_prune_magnitude(&g, weighted, 4, 0.9, 1, &err) == EG_OK, "global 0.9: %s", err.msg);
    for (int i = 0; i < 4; i++) {
        const eg_node *nd = &g.nodes[weighted[i]];
        const float *w0 = before + (nd->param[0] - g.params);
        total += nd->psize[0], z += zeros(nd);
        for (size_t k = 0; k < nd->psize[0]; k++) {
            CHECK((nd->mask[0][k] == 0) == (nd->param[0][k] == 0), "%s[%zu]: mask %g but weight %g", nd->name, k,
                  nd->mask[0][k], nd->param[0][k]);
            float a = fabsf(w0[k]);
            if (nd->mask[0][k] == 0) max_pruned = a > max_pruned ? a : max_pruned;
            else min_kept = a < min_kept ? a : min_kept;
        }
        for (size_t k = 0; k < nd->psize[1]; k++) CHECK(nd->mask[1][k] == 1, "%s bias %zu masked", nd->name, k);
    }
    CHECK(z == (size_t)llround(0.9 * (double)total), "global 0.9: %zu zeros of %zu, want %lld", z, total,
          llround(0.9 * (double)total));
    CHECK(max_pruned <= min_kept, "a pruned |w| %g exceeds a kept |w| %g", max_pruned, min_kept);
    /* pruning again to a higher sparsity keeps the earlier zeros */
    CHECK(eg_prune_magnitude(&g, weighted, 4, 0.95, 1, &err) == EG_OK, "global 0.95: %s", err.msg);
    size_t z2 = 0;
    for (int i = 0; i < 4; i++) z2 += zeros(&g.nodes[weighted[i]]);
    CHECK(z2 == (size_t)llround(0.95 * (double)total), "then 0.95: %zu zeros, want %lld", z2, llround(0.95 * (double)total));
    eg_graph_free(&g);
    free(before);

    if (load(&g, 2)) return;
    CHECK(eg_prune_magnitude(&g, weighted, 4, 0.5, 0, &err) == EG_OK, "local 0.5: %s", err.msg);
    for (int i = 0; i < 4; i++) {
        const eg_node *nd = &g.nodes[weighted[i]];
        CHECK(zeros(nd) == (size_t)llround(0.5 * (double)nd->psize[0]), "local 0.5: %s has %zu zeros of %zu",
              nd->name, zeros(nd), nd->psize[0]);
    }
    eg_graph_free(&g);
}

/* Ties: equal magnitudes go in layer order, then index order. */
static void test_ties(void)
{
    eg_graph g;
    eg_error err = {0};
    if (load(&g, 3)) return;
    for (size_t k = 0; k < g.nparam; k++) g.params[k] = 1;  /* every weight ties */
    int two[] = {1, 4};
    CHECK(eg_prune_magnitude(&g, two, 2, 0.5, 1, &err) == EG_OK, "ties: %s", err.msg);
    /* conv1 (36) and conv2 (288): the first 162 in order are conv1's 36, then conv2's first 126 */
    CHECK(zeros(&g.nodes[1]) == 36 && zeros(&g.nodes[4]) == 126, "ties: conv1 %zu, conv2 %zu zeros; want 36, 126",
          zeros(&g.nodes[1]), zeros(&g.nodes[4]));
    CHECK(g.nodes[4].param[0][125] == 0 && g.nodes[4].param[0][126] == 1, "ties: conv2 pruned up to index 125");
    eg_graph_free(&g);
}

/* Training keeps masked weights and their optimizer state exactly zero,
 * while the others move. */
static void train_masked(eg_optim_type type, float momentum, float wd)
{
    eg_graph g;
    eg_error err = {0};
    if (load(&g, 4)) return;
    CHECK(eg_prune_magnitude(&g, weighted, 4, 0.8, 1, &err) == EG_OK, "prune: %s", err.msg);
    float *before = malloc(g.nparam * sizeof *before);
    memcpy(before, g.params, g.nparam * sizeof *before);
    eg_rng r;
    eg_rng_seed(&r, 5);
    eg_dataset ds;
    util_random_dataset(&ds, 200, &r, -0.4f, 2.8f, 10);
    eg_optim o;
    eg_optim_init(&o, type, 1e-2f);
    o.momentum = momentum, o.weight_decay = wd;
    eg_train_opts to = {.batch = 32, .shuffle = 1};
    eg_epoch_stats st;
    for (int e = 0; e < 3; e++) CHECK(eg_train_epoch(&g, &o, &ds, &to, &r, &st, &err) == EG_OK, "train: %s", err.msg);
    size_t bad_w = 0, bad_state = 0, moved = 0, kept = 0;
    for (size_t k = 0; k < g.nparam; k++) {
        if (g.masks[k] == 0) {
            bad_w += g.params[k] != 0;
            bad_state += o.m[k] != 0 || (o.v && o.v[k] != 0);
        } else {
            kept++;
            moved += g.params[k] != before[k];
        }
    }
    CHECK(bad_w == 0 && bad_state == 0, "optimizer %d: %zu masked weights and %zu state entries are not zero", type,
          bad_w, bad_state);
    /* some stay put: weights fed only by dead relus get no gradient */
    CHECK(moved > kept / 2, "optimizer %d: only %zu of %zu kept weights changed", type, moved, kept);
    eg_optim_free(&o);
    eg_dataset_free(&ds);
    eg_graph_free(&g);
    free(before);
}

/* Removing channels of a masked model slices its masks the same way. */
static void test_surgery_with_masks(void)
{
    eg_graph g, ref;
    eg_error err = {0};
    if (load(&g, 6) || load(&ref, 6)) return;
    CHECK(eg_prune_magnitude(&g, weighted, 4, 0.6, 1, &err) == EG_OK, "prune: %s", err.msg);
    CHECK(eg_prune_magnitude(&ref, weighted, 4, 0.6, 1, &err) == EG_OK, "prune: %s", err.msg);
    eg_dep_group grp;
    int keep[] = {0, 2, 5, 7};
    CHECK(eg_depgroup_build(&g, 4, &grp, &err) == EG_OK, "group of conv2: %s", err.msg);
    CHECK(eg_surgery_keep(&g, &grp, keep, 4, &err) == EG_OK, "surgery: %s", err.msg);
    /* conv2 rows kept: its 36 weights per channel; fc1 columns: 49 per channel */
    const eg_node *c2 = &g.nodes[4], *c2r = &ref.nodes[4], *f1 = &g.nodes[8], *f1r = &ref.nodes[8];
    size_t bad = 0;
    for (int j = 0; j < 4; j++)
        for (int t = 0; t < 36; t++) bad += c2->mask[0][j * 36 + t] != c2r->mask[0][keep[j] * 36 + t];
    for (int o = 0; o < 64; o++)
        for (int j = 0; j < 4; j++)
            for (int t = 0; t < 49; t++) bad += f1->mask[0][o * 196 + j * 49 + t] != f1r->mask[0][o * 392 + keep[j] * 49 + t];
    for (size_t k = 0; k < g.nparam; k++) bad += (g.masks[k] == 0) != (g.params[k] == 0);
    CHECK(bad == 0, "surgery: %zu mask entries do not follow their weights", bad);
    eg_graph_free(&g), eg_graph_free(&ref);
}

static void test_bad_amounts(void)
{
    eg_graph g;
    eg_error err = {0};
    if (load(&g, 7)) return;
    CHECK(eg_prune_magnitude(&g, weighted, 4, -0.1, 1, &err) == EG_ERR_ARG && strstr(err.msg, "[0, 1)"),
          "amount -0.1: '%s'", err.msg);
    CHECK(eg_prune_magnitude(&g, weighted, 4, 1.0, 1, &err) == EG_ERR_ARG, "amount 1.0 accepted");
    int relu[] = {2};
    CHECK(eg_prune_magnitude(&g, relu, 1, 0.5, 1, &err) == EG_ERR_ARG && strstr(err.msg, "relu1"),
          "a relu node: '%s'", err.msg);
    eg_graph_free(&g);
}

int main(void)
{
    eg_set_threads(2);
    test_selection();
    test_ties();
    train_masked(EG_OPTIM_ADAM, 0, 0);
    train_masked(EG_OPTIM_ADAM, 0, 1e-2f);
    train_masked(EG_OPTIM_SGD, 0.9f, 1e-2f);
    test_surgery_with_masks();
    test_bad_amounts();
    return check_report("masks");
}
