/* Inference-only mode: a graph that is only evaluated allocates no gradient
 * block, no per-thread gradient blocks, no dy and no saved-for-backward
 * buffers (only convolutions keep their zero-padded input planes), so its
 * arena is smaller than training's; evaluation works so;
 * the first prepare for training allocates the gradients; batch-1
 * forwards (which run without a parallel region) give every image the bits
 * it gets inside a larger batch on two threads; a batch larger than the
 * chunk buffers goes through them and still gives those bits; passes flush
 * denormal floats to zero and leave the caller's floating-point mode as
 * they found it (x86's MXCSR, aarch64's FPCR). */
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#ifdef __SSE__
#include <xmmintrin.h>
#endif

#include "check.h"
#include "internal.h"
#include "util.h"

enum { N = 5, IN = 28 * 28, K = 10 };

static void test_no_gradients(const float *x)
{
    eg_graph g, t;
    eg_error err = {0};
    if (util_graph(&g, "models/simplecnn", NULL, 4, 0) || util_graph(&t, "models/simplecnn", NULL, 4, 0)) return;
    CHECK(g.grads == NULL, "a fresh graph has a gradient block");
    CHECK(eg_graph_prepare(&g, 64, 0, 2) == EG_OK, "prepare for inference");
    CHECK(g.grads == NULL && g.plan.tgrads == NULL, "inference allocated gradients (grads %p, tgrads %p)", (void *)g.grads,
          (void *)g.plan.tgrads);
    size_t with_dy = 0, with_saved = 0;
    for (int i = 0; i < g.nnodes; i++)
        with_dy += g.plan.steps[i].dy != NULL, with_saved += g.plan.steps[i].saved != NULL && g.nodes[i].op != EG_OP_CONV2D;
    CHECK(with_dy == 0 && with_saved == 0, "inference: %zu nodes with dy, %zu besides convs with saved buffers",
          with_dy, with_saved);
    CHECK(eg_graph_prepare(&t, 64, 1, 2) == EG_OK, "prepare for training");
    CHECK(t.grads != NULL && t.plan.tgrads != NULL && t.nodes[1].grad[0] == t.grads, "training has no gradients");
    CHECK(g.plan.arena_floats + t.nparam * 2 < t.plan.arena_floats, "inference arena %zu floats, training %zu", g.plan.arena_floats,
          t.plan.arena_floats);

    /* evaluation over a small set still allocates none */
    eg_dataset ds = {.n = N, .c = 1, .h = 28, .w = 28, .x = (float *)x, .y = calloc(N, 1)};
    double acc, loss;
    CHECK(eg_evaluate(&g, &ds, 2, &acc, &loss, &err) == EG_OK, "evaluate: %s", err.msg);
    CHECK(g.grads == NULL, "evaluation allocated gradients");

    /* then training on the same graph gets them, zeroed */
    CHECK(eg_graph_prepare(&g, 8, 1, 2) == EG_OK && g.grads != NULL, "no gradients after a training prepare");
    size_t nonzero = 0;
    for (size_t k = 0; k < g.nparam; k++) nonzero += g.grads[k] != 0;
    CHECK(nonzero == 0, "%zu gradients not zero at first", nonzero);
    free(ds.y);
    eg_graph_free(&g);
    eg_graph_free(&t);
}

/* Every image alone (batch 1, no parallel region) gets the bits it gets in
 * a batch of N on two threads. */
static void test_batch1(const float *x)
{
    eg_graph g;
    if (util_graph(&g, "models/simplecnn", NULL, 4, 0)) return;
    float all[N * K];
    CHECK(eg_graph_prepare(&g, N, 0, 2) == EG_OK, "prepare");
    eg_graph_forward(&g, x, N);
    memcpy(all, eg_graph_y(&g), sizeof all);
    CHECK(eg_graph_prepare(&g, 1, 0, 2) == EG_OK, "prepare batch 1");
    for (int i = 0; i < N; i++) {
        eg_graph_forward(&g, x + (size_t)i * IN, 1);
        CHECK(!memcmp(eg_graph_y(&g), all + i * K, K * sizeof(float)), "image %d alone differs from in a batch", i);
    }
    eg_graph_free(&g);
}

/* A batch larger than the chunk buffers (150 images: more than 32 per
 * thread on one and on two threads) is staged through them chunk by chunk;
 * every image gets the bits it gets alone, and the buffers are smaller than
 * the batch's. */
static void test_staged(void)
{
    enum { BIG = 150 };
    eg_graph g;
    if (util_graph(&g, "models/simplecnn", NULL, 4, 0)) return;
    eg_rng r;
    eg_rng_seed(&r, 11);
    float *x = malloc((size_t)BIG * IN * sizeof *x), *alone = malloc((size_t)BIG * K * sizeof *alone);
    for (size_t i = 0; i < (size_t)BIG * IN; i++) x[i] = eg_rng_range(&r, -0.4f, 2.8f);
    CHECK(eg_graph_prepare(&g, 1, 0, 1) == EG_OK, "prepare batch 1");
    for (int i = 0; i < BIG; i++) {
        eg_graph_forward(&g, x + (size_t)i * IN, 1);
        memcpy(alone + (size_t)i * K, eg_graph_y(&g), K * sizeof(float));
    }
    for (int threads = 1; threads <= 2; threads++) {
        CHECK(eg_graph_prepare(&g, BIG, 0, threads) == EG_OK, "prepare %d", BIG);
        CHECK(g.plan.chunk_rows == 32 * threads && g.plan.stage && g.plan.chunk_out, "%d threads: chunk rows %d", threads, g.plan.chunk_rows);
        size_t acts = 0;  /* every node's outputs for the whole batch */
        for (int i = 1; i < g.nnodes; i++) acts += (size_t)BIG * eg_shape_size(g.nodes[i].out_shape);
        CHECK(g.plan.arena_floats < acts * 2 / 3, "%d threads: the arena (%zu floats) is not much below the batch's %zu",
              threads, g.plan.arena_floats, acts);
        eg_graph_forward(&g, x, BIG);
        size_t bad = 0;
        for (size_t k = 0; k < (size_t)BIG * K; k++) bad += memcmp(&eg_graph_y(&g)[k], &alone[k], sizeof(float)) != 0;
        CHECK(bad == 0, "%d threads: %zu of %d outputs differ from the images alone", threads, bad, BIG * K);
        /* a smaller batch on the same buffers takes the unstaged path */
        eg_graph_forward(&g, x, 20);
        CHECK(!memcmp(eg_graph_y(&g), alone, 20 * K * sizeof(float)), "%d threads: 20 images after 150", threads);
    }
    free(x), free(alone);
    eg_graph_free(&g);
}

/* The register that holds the floating-point mode: MXCSR on x86, FPCR on
 * aarch64. */
#if defined(__SSE__)
#define HAVE_FP_MODE 1
static unsigned fp_mode(void) { return _mm_getcsr(); }
#elif defined(__aarch64__)
#define HAVE_FP_MODE 1
static unsigned fp_mode(void)
{
    uint64_t r;
    __asm__ volatile("mrs %0, fpcr" : "=r"(r));
    return (unsigned)r;
}
#endif

/* A linear layer with a zero bias fed denormal inputs: flushed, they give
 * exactly zero (not 8e-39); the caller's mode is unchanged after batch-1
 * and threaded forwards and a backward. */
static void test_denormals(void)
{
#ifdef HAVE_FP_MODE
    eg_graph g;
    if (util_graph(&g, "denormals", "input x shape=8x1x1\nlinear fc out=3\n", 5, 0)) return;
    for (int i = 0; i < 24; i++) g.nodes[1].param[0][i] = 1.0f;
    for (int i = 0; i < 3; i++) g.nodes[1].param[1][i] = 0.0f;
    float x[4 * 8], dy[4 * 3] = {0};
    for (int i = 0; i < 4 * 8; i++) x[i] = 1e-39f;  /* below FLT_MIN: denormal */
    unsigned before = fp_mode();
    for (int n = 1; n <= 4; n += 3) {
        eg_graph_prepare(&g, n, 0, 2);
        eg_graph_forward(&g, x, n);
        for (int i = 0; i < n * 3; i++)
            CHECK(eg_graph_y(&g)[i] == 0.0f, "batch %d: output %d is %.9g, not 0", n, i,
                  eg_graph_y(&g)[i]);
    }
    eg_graph_prepare(&g, 4, 1, 2);
    eg_graph_forward(&g, x, 4);
    eg_graph_zero_grad(&g);
    eg_graph_backward(&g, dy, 4);
    CHECK(fp_mode() == before, "the floating-point mode changed: %#x, was %#x", fp_mode(), before);
    eg_graph_free(&g);
#endif
}

int main(void)
{
    test_denormals();
    eg_rng r;
    eg_rng_seed(&r, 9);
    float *x = malloc((size_t)N * IN * sizeof *x);
    for (size_t i = 0; i < (size_t)N * IN; i++) x[i] = eg_rng_range(&r, -0.4f, 2.8f);
    test_no_gradients(x);
    test_batch1(x);
    test_staged();
    free(x);
    return check_report("inference_mode");
}
