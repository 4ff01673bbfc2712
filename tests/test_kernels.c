/* Kernel tests: fast GEMMs vs the reference loops, the CSR product vs the dense one and its reference, im2col vs a direct gather, col2im as its adjoint,
 * 2x2 pooling vs a plain scan, the transpose vs a plain loop, the small-conv
 * row product vs the general one. */
/* Shapes are odd on purpose, leading dimensions padded, C non-zero. Every
 * kernel variant this CPU runs is tested, one after the other. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"

static const int sizes[] = {1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 32, 33, 64, 65, 100};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

static float *alloc_fill(size_t n, eg_rng *r, float lo, float hi)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = eg_rng_range(r, lo, hi);
    return p;
}

static float *abs_copy(const float *p, size_t n)
{
    float *q = malloc((n ? n : 1) * sizeof *q);
    for (size_t i = 0; i < n; i++) q[i] = fabsf(p[i]);
    return q;
}

typedef void gemm_fn(int, int, int, const float *, int, const float *, int, float *, int);

/* One product C += A op(B) with padded leading dimensions. The bound is
 * relative to the size of the terms, sum |a||b| + |c0|, which is what float
 * rounding scales with (a result near zero after cancellation is no looser). */
static void one_gemm(const char *name, gemm_fn *fast, gemm_fn *ref, int nt, int M, int N, int K, int pad,
                     eg_rng *r)
{
    int lda = K + pad, ldb = (nt ? K : N) + 2 * pad, ldc = N + 3 * pad;
    size_t brows = nt ? (size_t)N : (size_t)K;
    /* exact sizes (the last row has no padding) so ASan sees any overread */
    size_t asz = (size_t)(M - 1) * lda + K, bsz = (brows - 1) * ldb + (nt ? K : N),
           csz = (size_t)(M - 1) * ldc + N;
    float *A = alloc_fill(asz, r, -1, 1), *B = alloc_fill(bsz, r, -1, 1), *C0 = alloc_fill(csz, r, -2, 2);
    float *Cf = malloc(csz * sizeof *Cf), *Cr = malloc(csz * sizeof *Cr);
    memcpy(Cf, C0, csz * sizeof *Cf);
    memcpy(Cr, C0, csz * sizeof *Cr);
    fast(M, N, K, A, lda, B, ldb, Cf, ldc);
    ref(M, N, K, A, lda, B, ldb, Cr, ldc);
    float *Aa = abs_copy(A, asz), *Ba = abs_copy(B, bsz), *scale = abs_copy(C0, csz);
    ref(M, N, K, Aa, lda, Ba, ldb, scale, ldc);

    int bad = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc && (size_t)i * ldc + j < csz; j++) {
            size_t at = (size_t)i * ldc + j;
            if (j >= N) {
                /* padding between rows must be left alone */
                if (Cf[at] != C0[at] && bad++ < 3)
                    fprintf(stderr, "  %s M=%d N=%d K=%d: padding C[%d][%d] changed\n", name, M, N, K, i, j);
                continue;
            }
            double d = fabs((double)Cf[at] - Cr[at]);
            if (!(d <= 1e-5 * scale[at]) && bad++ < 3)
                fprintf(stderr, "  %s M=%d N=%d K=%d lda=%d ldb=%d ldc=%d: C[%d][%d] = %.9g, want %.9g\n",
                        name, M, N, K, lda, ldb, ldc, i, j, Cf[at], Cr[at]);
        }
    CHECK(bad == 0, "%s M=%d N=%d K=%d: %d wrong values", name, M, N, K, bad);
    free(A), free(B), free(C0), free(Cf), free(Cr), free(Aa), free(Ba), free(scale);
}

static void test_gemm(void)
{
    eg_rng r;
    eg_rng_seed(&r, 7);
    int done = 0;
    for (int a = 0; a < NSIZES; a++)
        for (int b = 0; b < NSIZES; b++)
            for (int c = 0; c < NSIZES; c++) {
                int M = sizes[a], N = sizes[b], K = sizes[c];
                /* every size on each axis at least once with small others,
                 * plus a random third of the rest */
                int edge = (a < 4) + (b < 4) + (c < 4) >= 2;
                if (!edge && eg_rng_below(&r, 3)) continue;
                int pad = (int)eg_rng_below(&r, 4);  /* 0 too: tight rows */
                one_gemm("gemm_nn", eg_k->gemm_nn, eg_k->gemm_nn_ref, 0, M, N, K, pad, &r);
                one_gemm("gemm_nt", eg_k->gemm_nt, eg_k->gemm_nt_ref, 1, M, N, K, pad + 1, &r);
                /* the set form over a C full of NaN (it never reads C): the
                 * bits of eg_gemm_nn onto zeros */
                float *A = alloc_fill((size_t)M * K, &r, -1, 1), *B = alloc_fill((size_t)K * N, &r, -1, 1);
                float *Cs = malloc((size_t)M * N * sizeof *Cs), *Cz = calloc((size_t)M * N, sizeof *Cz);
                for (int i = 0; i < M * N; i++) Cs[i] = NAN;
                eg_k->gemm_nn_set(M, N, K, A, K, B, N, Cs, N);
                eg_k->gemm_nn(M, N, K, A, K, B, N, Cz, N);
                CHECK(!memcmp(Cs, Cz, (size_t)M * N * sizeof *Cs), "gemm_nn_set M=%d N=%d K=%d differs", M, N, K);
                /* a row's bits do not depend on the batch: each alone */
                float *C1 = malloc((size_t)N * sizeof *C1);
                for (int i = 0; i < M; i++) {
                    eg_k->gemm_nn_set(1, N, K, A + (size_t)i * K, K, B, N, C1, N);
                    CHECK(!memcmp(C1, Cz + (size_t)i * N, (size_t)N * sizeof *C1),
                          "gemm_nn M=%d N=%d K=%d: row %d alone differs from the batch", M, N, K, i);
                }
                free(A), free(B), free(Cs), free(Cz), free(C1);
                done++;
            }
    CHECK(done > 500, "only %d shapes tried", done);
}

/* y += x W^T with W pruned to `sparsity` (each weight masked with that
 * probability, and some kept ones exactly zero): the CSR kernel, its
 * reference and the dense GEMM on the masked W agree within 1e-5 of the
 * size of the terms; ldx and ldy padded, y non-zero, exact-size buffers. */
static void one_csr(int n, int out, int in, double sparsity, eg_rng *r)
{
    int ldx = in + 1, ldy = out + 2;
    size_t xsz = (size_t)(n - 1) * ldx + in, ysz = (size_t)(n - 1) * ldy + out, wsz = (size_t)out * in;
    float *x = alloc_fill(xsz, r, -1, 1), *w = alloc_fill(wsz, r, -1, 1), *mask = malloc(wsz * sizeof *mask);
    float *y0 = alloc_fill(ysz, r, -1, 1), *yc = malloc(ysz * sizeof *yc), *yr = malloc(ysz * sizeof *yr),
          *yd = malloc(ysz * sizeof *yd), *ydr = malloc(ysz * sizeof *ydr), *scale = malloc(ysz * sizeof *scale);
    size_t kept = 0;
    for (size_t k = 0; k < wsz; k++) {
        mask[k] = eg_rng_uniform(r) < sparsity ? 0 : 1;
        if (mask[k] && eg_rng_below(r, 50) == 0) w[k] = 0;  /* kept but zero: left out too */
        if (!mask[k]) w[k] = eg_rng_below(r, 2) ? w[k] : 0;  /* a masked weight is dropped even if not zero */
        kept += mask[k] != 0 && w[k] != 0;
    }
    int32_t *rowptr = malloc(((size_t)out + 1) * sizeof *rowptr), *col = malloc(wsz * sizeof *col);
    float *val = malloc(wsz * sizeof *val), *scratch = malloc(eg_k->csr_scratch(in) * sizeof *scratch);
    size_t nz = eg_k->csr_build(out, in, w, mask, rowptr, col, val);
    CHECK(nz == kept && rowptr[out] == (int32_t)kept, "csr n=%d out=%d in=%d: %zu kept, want %zu", n, out, in, nz,
          kept);
    for (size_t k = 0; k < wsz; k++) w[k] *= mask[k];  /* what the dense path multiplies */
    memcpy(yc, y0, ysz * sizeof *yc), memcpy(yr, y0, ysz * sizeof *yr);
    memcpy(yd, y0, ysz * sizeof *yd), memcpy(ydr, y0, ysz * sizeof *ydr);
    eg_k->csr_matmul_t(n, out, in, x, ldx, rowptr, col, val, yc, ldy, scratch);
    eg_k->csr_matmul_t_ref(n, out, in, x, ldx, rowptr, col, val, yr, ldy);
    /* a row's bits do not depend on the batch: each alone (the one-sample
     * path) gives what its tile gave */
    float *y1 = malloc(ysz * sizeof *y1);
    memcpy(y1, y0, ysz * sizeof *y1);
    for (int i = 0; i < n; i++)
        eg_k->csr_matmul_t(1, out, in, x + (size_t)i * ldx, ldx, rowptr, col, val, y1 + (size_t)i * ldy, ldy, scratch);
    CHECK(!memcmp(y1, yc, ysz * sizeof *y1), "csr n=%d out=%d in=%d sparsity %g: rows alone differ from the batch", n,
          out, in, sparsity);
    free(y1);
    eg_k->gemm_nt(n, out, in, x, ldx, w, in, yd, ldy);
    eg_k->gemm_nt_ref(n, out, in, x, ldx, w, in, ydr, ldy);
    float *ax = abs_copy(x, xsz), *aw = abs_copy(w, wsz);
    for (size_t k = 0; k < ysz; k++) scale[k] = fabsf(y0[k]);
    eg_k->gemm_nt_ref(n, out, in, ax, ldx, aw, in, scale, ldy);
    int bad = 0;
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            size_t at = (size_t)i * ldy + o;
            const float *want[3] = {yr, yd, ydr};
            for (int v = 0; v < 3; v++) {
                double d = fabs((double)yc[at] - want[v][at]);
                if (!(d <= 1e-5 * scale[at] + 1e-7) && bad++ < 3)
                    fprintf(stderr, "  csr n=%d out=%d in=%d sparsity %g: y[%d][%d] = %.9g, want %.9g (%s)\n", n,
                            out, in, sparsity, i, o, yc[at], want[v][at], v == 0 ? "ref" : v == 1 ? "gemm" : "gemm ref");
            }
        }
    /* the padding between rows is never written */
    for (int i = 0; i + 1 < n; i++)
        for (int p = out; p < ldy; p++) bad += yc[(size_t)i * ldy + p] != y0[(size_t)i * ldy + p];
    CHECK(bad == 0, "csr n=%d out=%d in=%d sparsity %g: %d wrong values", n, out, in, sparsity, bad);
    free(x), free(w), free(mask), free(y0), free(yc), free(yr), free(yd), free(ydr), free(scale);
    free(rowptr), free(col), free(val), free(scratch), free(ax), free(aw);
}

static void test_csr(void)
{
    static const int ns[] = {1, 2, 3, 4, 5, 15, 16, 17, 33, 65}, outs[] = {1, 3, 17, 64}, ins[] = {1, 5, 17, 392, 393};
    static const double sparsities[] = {0, 0.5, 0.99, 1};
    eg_rng r;
    eg_rng_seed(&r, 11);
    int done = 0;
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof outs / sizeof *outs; b++)
            for (size_t c = 0; c < sizeof ins / sizeof *ins; c++)
                for (size_t s = 0; s < sizeof sparsities / sizeof *sparsities; s++, done++)
                    one_csr(ns[a], outs[b], ins[c], sparsities[s], &r);
    CHECK(done == 800, "only %d csr cases", done);
}

/* x[c][iy][ix], zero outside the image. */
static float pixel(const float *x, int H, int W, int c, int iy, int ix)
{
    return iy < 0 || iy >= H || ix < 0 || ix >= W ? 0.0f : x[((size_t)c * H + iy) * W + ix];
}

static void test_im2col(void)
{
    static const int ks[] = {1, 3, 5}, strides[] = {1, 2}, pads[] = {0, 1, 2}, hs[] = {1, 3, 5, 7, 9},
                     ws[] = {1, 5, 7, 11}, cs[] = {1, 3};
    eg_rng r;
    eg_rng_seed(&r, 11);
    int cases = 0, bad_im2col = 0, bad_adj = 0, bad_col2im = 0;
    for (int ki = 0; ki < 3; ki++)
        for (int si = 0; si < 2; si++)
            for (int pi = 0; pi < 3; pi++)
                for (int hi = 0; hi < 5; hi++)
                    for (int wi = 0; wi < 4; wi++)
                        for (int ci = 0; ci < 2; ci++) {
                            int k = ks[ki], s = strides[si], p = pads[pi], H = hs[hi], W = ws[wi], C = cs[ci];
                            if (H + 2 * p < k || W + 2 * p < k) continue;
                            int OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
                            size_t xn = (size_t)C * H * W, rows = (size_t)C * k * k, cn = rows * OH * OW;
                            float *x = alloc_fill(xn, &r, -1, 1), *col = malloc(cn * sizeof *col);
                            /* NaN everywhere first: a value im2col forgets to write shows */
                            for (size_t i = 0; i < cn; i++) col[i] = NAN;
                            eg_k->im2col(col, x, C, H, W, k, s, p, OH, OW);
                            int bad = 0;
                            for (int c = 0; c < C; c++)
                                for (int ky = 0; ky < k; ky++)
                                    for (int kx = 0; kx < k; kx++)
                                        for (int oy = 0; oy < OH; oy++)
                                            for (int ox = 0; ox < OW; ox++) {
                                                size_t row = ((size_t)c * k + ky) * k + kx;
                                                float got = col[row * OH * OW + (size_t)oy * OW + ox];
                                                float want = pixel(x, H, W, c, oy * s - p + ky, ox * s - p + kx);
                                                if (!(got == want)) bad++;
                                            }
                            if (bad && bad_im2col++ < 3)
                                fprintf(stderr, "  im2col C=%d H=%d W=%d k=%d s=%d p=%d: %d wrong\n", C, H, W,
                                        k, s, p, bad);

                            /* adjoint: <im2col(x), d> == <x, col2im(d)>; col2im adds onto dx0 */
                            float *d = alloc_fill(cn, &r, -1, 1), *dx0 = alloc_fill(xn, &r, -1, 1);
                            float *dx = malloc(xn * sizeof *dx);
                            memcpy(dx, dx0, xn * sizeof *dx);
                            eg_k->col2im_add(dx, d, C, H, W, k, s, p, OH, OW);
                            double lhs = 0, rhs = 0, mag = 0;
                            for (size_t i = 0; i < cn; i++) lhs += (double)col[i] * d[i], mag += fabs((double)col[i] * d[i]);
                            for (size_t i = 0; i < xn; i++) rhs += (double)x[i] * ((double)dx[i] - dx0[i]);
                            if (!(fabs(lhs - rhs) <= 1e-5 * (mag + 1)) && bad_adj++ < 3)
                                fprintf(stderr, "  col2im adjoint C=%d H=%d W=%d k=%d s=%d p=%d: %.9g vs %.9g\n",
                                        C, H, W, k, s, p, lhs, rhs);

                            /* and element by element, against a direct scatter */
                            double *want = malloc(xn * sizeof *want);
                            for (size_t i = 0; i < xn; i++) want[i] = dx0[i];
                            for (int c = 0; c < C; c++)
                                for (int ky = 0; ky < k; ky++)
                                    for (int kx = 0; kx < k; kx++)
                                        for (int oy = 0; oy < OH; oy++)
                                            for (int ox = 0; ox < OW; ox++) {
                                                int iy = oy * s - p + ky, ix = ox * s - p + kx;
                                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                                size_t row = ((size_t)c * k + ky) * k + kx;
                                                want[((size_t)c * H + iy) * W + ix] +=
                                                    d[row * OH * OW + (size_t)oy * OW + ox];
                                            }
                            bad = 0;
                            for (size_t i = 0; i < xn; i++)
                                if (!(fabs(dx[i] - want[i]) <= 1e-5 * (fabs(want[i]) + 1))) bad++;
                            if (bad && bad_col2im++ < 3)
                                fprintf(stderr, "  col2im C=%d H=%d W=%d k=%d s=%d p=%d: %d wrong\n", C, H, W,
                                        k, s, p, bad);
                            free(x), free(col), free(d), free(dx0), free(dx), free(want);
                            cases++;
                        }
    CHECK(bad_im2col == 0, "im2col differs from the direct gather in %d of %d cases", bad_im2col, cases);
    CHECK(bad_adj == 0, "col2im is not im2col's adjoint in %d of %d cases", bad_adj, cases);
    CHECK(bad_col2im == 0, "col2im differs from the direct scatter in %d of %d cases", bad_col2im, cases);
    CHECK(cases > 250, "only %d im2col cases", cases);
}

/* eg_pool2x2 against a plain scan of each window, on stacked planes of odd
 * widths, values drawn from a few levels so that ties are common: with and
 * without the folded relu, and backward writing or adding. */
static void test_pool2x2(void)
{
    eg_rng r;
    eg_rng_seed(&r, 7);
    int shapes[][2] = {{2, 2}, {4, 14}, {28, 28}, {6, 34}, {14, 14}, {2, 40}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int planes = 1; planes <= 3; planes += 2)
            for (int relu = 0; relu < 2; relu++)
                for (int add = 0; add < 2; add++) {
                    int H = shapes[si][0] * planes, W = shapes[si][1], OW = W / 2, outs = H / 2 * OW;
                    float *x = malloc((size_t)H * W * sizeof *x), *y = malloc((size_t)outs * sizeof *y);
                    float *dy = alloc_fill((size_t)outs, &r, -1, 1), *dx = alloc_fill((size_t)H * W, &r, -1, 1);
                    float *want_dx = malloc((size_t)H * W * sizeof *want_dx);
                    float *scratch = malloc(eg_k->pool2x2_scratch(H, W) * sizeof *scratch);
                    int32_t *code = malloc((size_t)outs * sizeof *code);
                    for (int i = 0; i < H * W; i++) x[i] = (float)((int)eg_rng_below(&r, 5) - 2);  /* -2..2 */
                    for (int i = 0; i < H * W; i++) want_dx[i] = add ? dx[i] : 0;
                    eg_k->pool2x2_forward(y, code, scratch, x, H, W, relu);
                    int bad_y = 0, bad_code = 0;
                    for (int oy = 0; oy < H / 2; oy++)
                        for (int ox = 0; ox < OW; ox++) {
                            int o = oy * OW + ox, best = 0;
                            float v[4] = {x[2 * oy * W + 2 * ox], x[2 * oy * W + 2 * ox + 1],
                                          x[(2 * oy + 1) * W + 2 * ox], x[(2 * oy + 1) * W + 2 * ox + 1]};
                            for (int k = 1; k < 4; k++)
                                if (v[k] > v[best]) best = k;  /* first maximum in scan order */
                            float m = v[best];
                            if (relu && m <= 0) m = 0, best = 4;
                            bad_y += y[o] != m;
                            bad_code += code[o] != best;
                            if (best < 4) want_dx[(2 * oy + best / 2) * W + 2 * ox + best % 2] += dy[o];
                        }
                    eg_k->pool2x2_backward(dx, dy, code, scratch, H, W, add);
                    CHECK(bad_y == 0 && bad_code == 0, "pool2x2 %dx%d relu=%d: %d outputs, %d winners wrong", H, W,
                          relu, bad_y, bad_code);
                    char what[64];
                    snprintf(what, sizeof what, "pool2x2 %dx%d relu=%d add=%d dx", H, W, relu, add);
                    check_close(what, dx, want_dx, (size_t)H * W, 0, 0);
                    free(x), free(y), free(dy), free(dx), free(want_dx), free(scratch), free(code);
                }
}

/* eg_pool2x2_rows and its coded twin (the pool fused into a conv, in
 * inference and in training) against a plain scan, on rows ld apart (ld > w:
 * the conv's padded rows) into rows ldy apart (ldy > w/2: the next conv's
 * padded planes), widths below, at and past one and two vectors, one plane
 * and stacked planes, ties (values -3..1): the same maxima, the first
 * winner in scan order (4 where the relu cut the window); and
 * eg_unpool2x2_rows sending each dy to its winner's place, zero elsewhere,
 * every element of the rows written. */
static void test_pool2x2_rows(void)
{
    eg_rng r;
    eg_rng_seed(&r, 9);
    /* widths up to 16 take two row pairs a vector; 6 rows leave one pair over */
    int widths[] = {2, 4, 6, 14, 16, 28, 30, 32, 34, 40, 66}, gaps[] = {0, 1, 3}, heights[] = {2, 6, 8};
    int cases = 0;
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
        for (size_t gi = 0; gi < sizeof gaps / sizeof *gaps; gi++)
            for (int hi = 0; hi < 3; hi++)
                for (int relu = 0; relu < 2; relu++) {
                    int rows = heights[hi], w = widths[wi], ld = w + gaps[gi], ow = w / 2, ldy = ow + gaps[(gi + 1) % 3], oh = rows / 2;
                    size_t ny = (size_t)oh * ldy;
                    float *x = malloc((size_t)rows * ld * sizeof *x), *y = malloc(ny * sizeof *y);
                    float *yc = malloc(ny * sizeof *yc), *want = malloc(ny * sizeof *want);
                    float *dy = malloc((size_t)oh * ow * sizeof *dy), *dx = malloc((size_t)rows * ld * sizeof *dx);
                    float *want_dx = malloc((size_t)rows * ld * sizeof *want_dx);
                    uint8_t *code = malloc((size_t)oh * ow), *want_code = malloc((size_t)oh * ow);
                    for (int i = 0; i < rows * ld; i++) x[i] = (float)((int)eg_rng_below(&r, 5) - 3);  /* -3..1 */
                    for (size_t i = 0; i < ny; i++) y[i] = yc[i] = want[i] = -99;  /* gaps must stay */
                    for (int i = 0; i < oh * ow; i++) dy[i] = eg_rng_range(&r, -1, 1);
                    for (int i = 0; i < rows * ld; i++) dx[i] = want_dx[i] = -99;
                    for (int oy = 0; oy < oh; oy++)
                        for (int ox = 0; ox < ow; ox++) {
                            const float *a = x + (size_t)2 * oy * ld + 2 * ox;
                            const size_t at[4] = {0, 1, (size_t)ld, (size_t)ld + 1};
                            int best = 0;
                            for (int k = 1; k < 4; k++)
                                if (a[at[k]] > a[at[best]]) best = k;
                            float m = a[at[best]];
                            int dead = relu && m <= 0;
                            want[oy * ldy + ox] = dead ? 0 : m;
                            want_code[oy * ow + ox] = (uint8_t)(dead ? 4 : best);
                            for (int k = 0; k < 4; k++)
                                want_dx[(size_t)2 * oy * ld + 2 * ox + at[k]] = !dead && k == best ? dy[oy * ow + ox] : 0;
                        }
                    eg_k->pool2x2_rows(y, ldy, x, ld, rows, w, relu);
                    eg_k->pool2x2_rows_coded(yc, ldy, code, x, ld, rows, w, relu);
                    eg_k->unpool2x2_rows(dx, ld, dy, want_code, rows, w);
                    char what[80];
                    snprintf(what, sizeof what, "pool2x2_rows w=%d ld=%d ldy=%d rows=%d relu=%d", w, ld, ldy, rows, relu);
                    check_close(what, y, want, ny, 0, 0);
                    check_close(what, yc, want, ny, 0, 0);
                    CHECK(!memcmp(code, want_code, (size_t)oh * ow), "%s: winners", what);
                    check_close(what, dx, want_dx, (size_t)rows * ld, 0, 0);
                    cases++;
                    free(x), free(y), free(yc), free(want), free(dy), free(dx), free(want_dx), free(code), free(want_code);
                }
    CHECK(cases == 198, "only %d pool2x2_rows cases", cases);
}

/* eg_gemm_nn_rows (rows of B at offsets, as conv2d's row-offset product
 * reads shifted views of padded planes) against the plain product on the
 * gathered B: every M of sizes (3, 5 and 7 leave three rows for a tile),
 * N not a multiple of the vector, offsets overlapping. Its set form
 * (C = bias + A B, or A B) must give the same over a C full of NaN: it
 * never reads C. */
static void test_gemm_rows(void)
{
    eg_rng r;
    eg_rng_seed(&r, 13);
    int cases = 0;
    for (int a = 0; a < NSIZES; a++)
        for (int b = 0; b < NSIZES; b += 3)
            for (int c = 0; c < NSIZES; c += 4) {
                int M = sizes[a], N = sizes[b], K = sizes[c], span = N + 3 * K;
                float *A = alloc_fill((size_t)M * K, &r, -1, 1), *src = alloc_fill((size_t)span, &r, -1, 1);
                float *B = malloc((size_t)K * N * sizeof *B), *Cf = alloc_fill((size_t)M * N, &r, -2, 2);
                float *Cr = malloc((size_t)M * N * sizeof *Cr);
                ptrdiff_t *off = malloc((size_t)K * sizeof *off);
                for (int k = 0; k < K; k++) {
                    off[k] = (ptrdiff_t)eg_rng_below(&r, (uint32_t)(span - N + 1));
                    memcpy(B + (size_t)k * N, src + off[k], (size_t)N * sizeof *B);
                }
                memcpy(Cr, Cf, (size_t)M * N * sizeof *Cr);
                eg_k->gemm_nn_rows(M, N, K, A, K, src, off, Cf, N);
                eg_k->gemm_nn_ref(M, N, K, A, K, B, N, Cr, N);
                char what[80];
                snprintf(what, sizeof what, "gemm_nn_rows M=%d N=%d K=%d", M, N, K);
                check_close(what, Cf, Cr, (size_t)M * N, 1e-5, 1e-5);
                float *bias = alloc_fill((size_t)M, &r, -1, 1);
                for (int with_bias = 0; with_bias < 2; with_bias++) {
                    for (size_t i = 0; i < (size_t)M * N; i++) {
                        Cf[i] = NAN;
                        Cr[i] = with_bias ? bias[i / (size_t)N] : 0.0f;
                    }
                    eg_k->gemm_nn_rows_set(M, N, K, A, K, src, off, with_bias ? bias : NULL, Cf, N);
                    eg_k->gemm_nn_ref(M, N, K, A, K, B, N, Cr, N);
                    snprintf(what, sizeof what, "gemm_nn_rows_set M=%d N=%d K=%d bias %d", M, N, K, with_bias);
                    check_close(what, Cf, Cr, (size_t)M * N, 1e-5, 1e-5);
                }
                cases++;
                free(A), free(src), free(B), free(Cf), free(Cr), free(off), free(bias);
            }
    CHECK(cases == NSIZES * 5 * 4, "only %d gemm_nn_rows cases", cases);
}

/* eg_transpose against a plain loop, exactly, with padded leading
 * dimensions whose padding must be left alone: every pair of sizes, so full
 * 16 x 16 blocks, blocks short of rows and columns past the last block all
 * occur. */
static void test_transpose(void)
{
    const int VL = eg_k->vl;
    eg_rng r;
    eg_rng_seed(&r, 17);
    int cases = 0;
    for (int a = 0; a < NSIZES; a++)
        for (int b = 0; b < NSIZES; b++) {
            int rows = sizes[a], cols = sizes[b], lds = cols + 3, ldd = rows + 5;
            float *src = alloc_fill((size_t)rows * lds, &r, -1, 1);
            float *dst = alloc_fill((size_t)cols * ldd, &r, -1, 1), *want = malloc((size_t)cols * ldd * sizeof *want);
            memcpy(want, dst, (size_t)cols * ldd * sizeof *want);
            for (int i = 0; i < rows; i++)
                for (int k = 0; k < cols; k++) want[(size_t)k * ldd + i] = src[(size_t)i * lds + k];
            eg_k->transpose(dst, ldd, src, lds, rows, cols);
            CHECK(!memcmp(dst, want, (size_t)cols * ldd * sizeof *dst), "transpose of %d x %d differs", rows, cols);
            cases++;
            free(src), free(dst), free(want);
        }
    CHECK(cases == NSIZES * NSIZES, "only %d transpose cases", cases);
    /* eg_transpose_to: each column to its own place (here in reverse
     * order, with gaps that must be left alone), whole blocks and short */
    for (int cols = 1; cols <= VL; cols++) {
        int lds = 37;
        float *src = alloc_fill((size_t)VL * lds, &r, -1, 1), *dst = alloc_fill((size_t)2 * VL * VL, &r, -1, 1);
        float *want = malloc((size_t)2 * VL * VL * sizeof *want), *to[EG_VL_MAX];
        memcpy(want, dst, (size_t)2 * VL * VL * sizeof *want);
        for (int j = 0; j < cols; j++) {
            to[j] = dst + (size_t)2 * (VL - 1 - j) * VL;
            for (int i = 0; i < VL; i++) want[to[j] - dst + i] = src[(size_t)i * lds + j];
        }
        eg_k->transpose_to(to, src, lds, cols);
        CHECK(!memcmp(dst, want, (size_t)2 * VL * VL * sizeof *dst), "transpose_to of %d columns differs", cols);
        free(src), free(dst), free(want);
    }
}

/* eg_small_conv_pool_direct reading an unpadded input in place against
 * eg_small_conv_pool_rows on a copy of it in zero-bordered planes: the
 * same bits. The input is allocated to its size, so that a read past it
 * would show under AddressSanitizer. */
static void check_small_conv_direct(int M, int C, int KS, int oh, int wp, const float *W, const float *bias, int relu,
                                    eg_rng *r, const char *what)
{
    int pad = KS / 2, w = wp - pad, ldy = w / 2 + 3;
    size_t plane = (size_t)(oh + KS - 1) * wp + KS + EG_VL_MAX, psz = (size_t)(oh / 2) * ldy;
    float *in = alloc_fill((size_t)C * oh * w, r, -1, 1), *planes = calloc(C * plane, sizeof *planes);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < oh; y++)
            memcpy(planes + c * plane + (size_t)(y + pad) * wp + pad, in + ((size_t)c * oh + y) * w, w * sizeof *in);
    float *got = malloc(2 * psz * sizeof *got), *want = malloc(2 * psz * sizeof *want);
    for (size_t k = 0; k < 2 * psz; k++) got[k] = want[k] = -99;
    float *to_got[2] = {got, got + psz}, *to_want[2] = {want, want + psz};
    eg_k->small_conv_pool_direct(M, C, KS, oh, wp, w, pad, W, bias, in, relu, to_got, ldy);
    eg_k->small_conv_pool_rows(M, C, KS, oh, wp, w, plane, W, bias, planes, relu, to_want, ldy);
    CHECK(!memcmp(got, want, 2 * psz * sizeof *got), "%s relu %d: read in place differs", what, relu);
    free(in), free(planes), free(got), free(want);
}

/* eg_small_conv_rows against eg_gemm_nn_rows_set on the same shifted
 * views: the same bits, for each shape it takes (3x3: 1 output x 1 input,
 * 2 x 1, 1 x 2; 5x5: 1 x 1), output heights around its row blocks, row
 * widths around one and two vectors and with a second strip of one or of
 * two, with a bias and without; and pooled as computed
 * (eg_small_conv_pool_rows): the bits of that output pooled, into rows
 * with a gap after them that stays untouched; and pooled reading an
 * unpadded input in place (check_small_conv_direct). */
static void test_small_conv_rows(void)
{
    if (!eg_k->small_conv_fits(1, 1, 3)) return;  /* a build without AVX-512 never takes it */
    eg_rng r;
    eg_rng_seed(&r, 19);
    const int shapes[4][3] = {{1, 1, 3}, {2, 1, 3}, {1, 2, 3}, {1, 1, 5}}, heights[] = {1, 2, 3, 4, 5, 7, 8, 14, 28};
    const int widths[] = {3, 8, 15, 16, 17, 29, 33, 49};
    int cases = 0, pooled_cases = 0;
    for (int s = 0; s < 4; s++)
        for (size_t hi = 0; hi < sizeof heights / sizeof *heights; hi++)
            for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
                for (int with_bias = 0; with_bias < 2; with_bias++) {
                    int M = shapes[s][0], C = shapes[s][1], KS = shapes[s][2], oh = heights[hi], wp = widths[wi];
                    int K = C * KS * KS;
                    CHECK(eg_k->small_conv_fits(M, C, KS), "%dx%d %dx%d does not fit", M, C, KS, KS);
                    size_t plane = (size_t)(oh + KS - 1) * wp + KS + EG_VL_MAX, N = (size_t)oh * wp;
                    float *X = alloc_fill(C * plane, &r, -1, 1), *W = alloc_fill((size_t)M * K, &r, -1, 1);
                    float *bias = alloc_fill((size_t)M, &r, -1, 1);
                    float *got = malloc(M * N * sizeof *got), *want = malloc(M * N * sizeof *want);
                    ptrdiff_t off[50];
                    for (int c = 0; c < C; c++)
                        for (int t = 0; t < KS * KS; t++)
                            off[c * KS * KS + t] = (ptrdiff_t)(c * plane) + t / KS * wp + t % KS;
                    eg_k->small_conv_rows(M, C, KS, oh, wp, plane, W, with_bias ? bias : NULL, X, got);
                    eg_k->gemm_nn_rows_set(M, (int)N, K, W, K, X, off, with_bias ? bias : NULL, want, (int)N);
                    char what[96];
                    snprintf(what, sizeof what, "small_conv_rows %dx%d %dx%d oh=%d wp=%d bias %d", M, C, KS, KS, oh, wp,
                             with_bias);
                    CHECK(!memcmp(got, want, M * N * sizeof *got), "%s differs", what);
                    int w = wp - KS / 2, ow = w / 2, ldy = ow + 3;  /* the output width with padding KS / 2 */
                    for (int relu = 0; relu < 2 && oh % 2 == 0 && w % 2 == 0; relu++, pooled_cases++) {
                        size_t psz = (size_t)(oh / 2) * ldy;
                        float *pg = malloc(2 * psz * sizeof *pg), *pw = malloc(2 * psz * sizeof *pw);
                        for (size_t k = 0; k < 2 * psz; k++) pg[k] = pw[k] = -99;
                        float *dst[2] = {pg, pg + psz};
                        eg_k->small_conv_pool_rows(M, C, KS, oh, wp, w, plane, W, with_bias ? bias : NULL, X, relu, dst,
                                                ldy);
                        for (int m = 0; m < M; m++) eg_k->pool2x2_rows(pw + m * psz, ldy, want + m * N, wp, oh, w, relu);
                        CHECK(!memcmp(pg, pw, 2 * psz * sizeof *pg), "%s relu %d: pooled differs", what, relu);
                        check_small_conv_direct(M, C, KS, oh, wp, W, with_bias ? bias : NULL, relu, &r, what);
                        free(pg), free(pw);
                    }
                    cases++;
                    free(X), free(W), free(bias), free(got), free(want);
                }
    /* pooled: even heights (5) and even output widths (3x3: 6, 5x5: 2) */
    CHECK(cases == 4 * 9 * 8 * 2 && pooled_cases == (3 * 5 * 6 + 5 * 2) * 2 * 2, "only %d cases, %d pooled", cases,
          pooled_cases);
}

/* eg_sum_blocks against a double-precision sum: block lengths around the
 * vector and the four-vector step, one block and several, gaps between. */
static void test_sum_blocks(void)
{
    eg_rng r;
    eg_rng_seed(&r, 23);
    int cases = 0;
    for (int a = 0; a < NSIZES; a++)
        for (int count = 1; count <= 5; count += 2) {
            size_t n = (size_t)sizes[a] * 3, stride = n + (size_t)a % 3;
            float *x = alloc_fill(stride * (size_t)count, &r, -1, 1);
            double want = 0, mag = 0;
            for (int b = 0; b < count; b++)
                for (size_t i = 0; i < n; i++) want += x[b * stride + i], mag += fabs(x[b * stride + i]);
            float got = eg_k->sum_blocks(x, n, count, stride);
            CHECK(fabs(got - want) <= 1e-6 * mag + 1e-7, "sum of %d blocks of %zu: %.9g, want %.9g", count, n, got, want);
            if (count == 1) CHECK(eg_k->sum(x, n) == got, "eg_sum of %zu differs from one block", n);
            cases++;
            free(x);
        }
    CHECK(cases == NSIZES * 3, "only %d sum cases", cases);
}

int main(void)
{
    char list[64];
    snprintf(list, sizeof list, "%s", eg_isa_available());
    for (char *name = strtok(list, " "); name; name = strtok(NULL, " ")) {
        CHECK(eg_isa_select(name, NULL) == EG_OK, "cannot select %s", name);
        printf("kernels: %s (%d floats a vector)\n", eg_isa_name(), eg_isa_vector_floats());
        test_transpose();
        test_sum_blocks();
        test_small_conv_rows();
        test_gemm();
        test_gemm_rows();
        test_csr();
        test_im2col();
        test_pool2x2();
        test_pool2x2_rows();
    }
    return check_report("kernels");
}
