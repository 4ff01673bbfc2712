/* edagari's GEMM kernels (src/kernels/gemm.c) against OpenBLAS's cblas_sgemm,
 * side by side, on the shapes one SimpleCNN training step uses (batch 64 on
 * two threads: 32 images per thread) and on a few larger ones.
 *
 * Both sides compute the same product in the same row-major layout with the
 * same accumulate semantics (C += A op(B), i.e. alpha = 1, beta = 1), on one
 * thread: OpenBLAS is set to one thread with openblas_set_num_threads(1), and
 * this program is built without OpenMP, so eg_thread_count() is 1 (gemm.c
 * itself never starts threads).
 *
 * The "same" convolutions read B through row offsets (shifted views of a
 * zero-padded plane, no im2col copy); cblas_sgemm cannot, so OpenBLAS gets
 * the same B materialised as a dense matrix. Such rows of the table are
 * shown twice: ours as trained (row-offset call) and ours on the same dense
 * copy OpenBLAS reads. The copy's cost is shown in its own column and is not
 * in OpenBLAS's time. The batched weight gradients (C += sum over 32 images of
 * A_s B_s^T) call cblas_sgemm once per image, and, in a separate row, once on
 * a K-concatenated layout (A_cat = [A_0 .. A_31], B_cat likewise), which is
 * the same sum in another order.
 *
 * Before timing, each row checks ours against OpenBLAS from the same C0:
 * max |ours - OB| / max |OB| must be <= 1e-4.
 *
 * Timing: each sample times `reps` back-to-back calls (reps chosen so a
 * sample lasts about 2 ms), ours and OpenBLAS samples alternate so machine
 * noise hits both alike; a round takes the median of S samples per side; the
 * figure is the best (lowest) of 5 round medians. All operands stay in cache
 * between calls, as in a kernel microbenchmark.
 *
 * Usage: gemm_vs_openblas [label] [samples per round (default 15)] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "internal.h"

#define ROUNDS 5
#define TARGET_SAMPLE_S 2e-3
#define TOL 1e-4

enum mode { M_NN, M_NT, M_NN_ROWS, M_NT_ROWS };
enum ours_form { O_TRAINED, O_DENSE };
enum ob_form { B_DIRECT, B_PER_IMAGE, B_CONCAT };

typedef struct {
    const char *label;
    enum mode mode;
    int M, N, K, nseg;
    int cb, H, W;          /* rows modes: channels, height, width of the padded planes B reads */
    enum ours_form ours;
    enum ob_form ob;
    int step_calls;        /* calls per training step per thread (0: not part of the step total) */
} spec;

typedef struct {
    spec s;
    int wp, nout;                 /* padded width, rows of output (H * wp) */
    size_t plane;                 /* floats per padded plane, as conv2d.c lays them out */
    float *A, *B;                 /* plain modes: A [M x K], B [K x N] (nn) or [N x K] (nt) */
    float *P;                     /* rows modes: padded planes B's rows are views of */
    float *Dy;                    /* nt rows: padded planes A's rows are views of */
    const float *Av;              /* nt rows: A_0 = Dy + pad*wp + pad, lda = plane */
    size_t sa, sb;                /* nt rows: per-image strides of A and of P */
    ptrdiff_t *off;               /* rows modes: where row k (nn) / row j (nt) of B starts in P */
    float *Bd;                    /* dense copy of B (per image for nt rows: nseg x [N x K]) */
    float *Acat, *Bcat;           /* concatenated layout [M x nseg*K], [N x nseg*K] */
    float *C0, *Co, *Cb;
    size_t csize;
} bench;

static void *xalloc(size_t nfloats)
{
    size_t bytes = (nfloats * sizeof(float) + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    memset(p, 0, bytes ? bytes : 64);
    return p;
}

static void fill(eg_rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = eg_rng_range(r, -1.0f, 1.0f);
}

/* c planes of h x w random values inside zeroed padded planes (pad 1). */
static void fill_planes(eg_rng *r, float *dst, int c, int h, int w, int wp, size_t plane)
{
    memset(dst, 0, (size_t)c * plane * sizeof *dst);
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) dst[ch * plane + (size_t)(y + 1) * wp + (x + 1)] = eg_rng_range(r, -1.0f, 1.0f);
}

/* Builds the dense operands OpenBLAS needs from the training layout. */
static void materialise(bench *b)
{
    const spec *s = &b->s;
    if (s->mode == M_NN_ROWS) {
        for (int k = 0; k < s->K; k++) memcpy(b->Bd + (size_t)k * s->N, b->P + b->off[k], (size_t)s->N * sizeof(float));
    } else if (s->mode == M_NT_ROWS) {
        for (int g = 0; g < s->nseg; g++)
            for (int j = 0; j < s->N; j++)
                memcpy(b->Bd + ((size_t)g * s->N + j) * s->K, b->P + g * b->sb + b->off[j], (size_t)s->K * sizeof(float));
        if (s->ob == B_CONCAT) {
            size_t kc = (size_t)s->nseg * s->K;
            for (int g = 0; g < s->nseg; g++) {
                for (int r = 0; r < s->M; r++)
                    memcpy(b->Acat + r * kc + (size_t)g * s->K, b->Av + g * b->sa + (size_t)r * b->plane,
                           (size_t)s->K * sizeof(float));
                for (int j = 0; j < s->N; j++)
                    memcpy(b->Bcat + j * kc + (size_t)g * s->K, b->Bd + ((size_t)g * s->N + j) * s->K,
                           (size_t)s->K * sizeof(float));
            }
        }
    }
}

static void setup(bench *b, const spec *s, eg_rng *r)
{
    memset(b, 0, sizeof *b);
    b->s = *s;
    int M = s->M, N = s->N, K = s->K;
    if (s->mode == M_NN || s->mode == M_NT) {
        b->A = xalloc((size_t)M * K);
        b->B = xalloc((size_t)K * N);
        fill(r, b->A, (size_t)M * K);
        fill(r, b->B, (size_t)K * N);
    } else {
        /* conv2d.c's geometry for a 3x3, pad 1 "same" convolution */
        b->wp = s->W + 2;
        b->nout = s->H * b->wp;
        b->plane = ((size_t)(s->H + 2) * b->wp + 3 + 15) & ~(size_t)15;
        int nrows = s->mode == M_NN_ROWS ? K : N;  /* rows of B given by offsets */
        if (nrows != s->cb * 9) {
            fprintf(stderr, "%s: %d offset rows but %d channels x 9\n", s->label, nrows, s->cb);
            exit(2);
        }
        b->off = malloc((size_t)nrows * sizeof *b->off);
        for (int ch = 0; ch < s->cb; ch++)
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++)
                    b->off[(ch * 3 + ky) * 3 + kx] = (ptrdiff_t)(ch * b->plane) + ky * b->wp + kx;
        if (s->mode == M_NN_ROWS) {
            if (N != b->nout) {
                fprintf(stderr, "%s: N=%d but H*wp=%d\n", s->label, N, b->nout);
                exit(2);
            }
            b->A = xalloc((size_t)M * K);  /* weights [M x K] */
            fill(r, b->A, (size_t)M * K);
            b->P = xalloc((size_t)s->cb * b->plane);
            fill_planes(r, b->P, s->cb, s->H, s->W, b->wp, b->plane);
            b->Bd = xalloc((size_t)K * N);
        } else {
            if (K != b->nout) {
                fprintf(stderr, "%s: K=%d but H*wp=%d\n", s->label, K, b->nout);
                exit(2);
            }
            /* A_s: padded dy of image s, M planes; B_s: padded saved input, cb planes */
            b->sa = (size_t)M * b->plane;
            b->sb = (size_t)s->cb * b->plane;
            b->Dy = xalloc((size_t)s->nseg * b->sa);
            b->P = xalloc((size_t)s->nseg * b->sb);
            for (int g = 0; g < s->nseg; g++) {
                fill_planes(r, b->Dy + g * b->sa, M, s->H, s->W, b->wp, b->plane);
                fill_planes(r, b->P + g * b->sb, s->cb, s->H, s->W, b->wp, b->plane);
            }
            b->Av = b->Dy + b->wp + 1;
            b->Bd = xalloc((size_t)s->nseg * N * K);
            if (s->ob == B_CONCAT) {
                b->Acat = xalloc((size_t)M * s->nseg * K);
                b->Bcat = xalloc((size_t)N * s->nseg * K);
            }
        }
        materialise(b);
    }
    b->csize = (size_t)M * N;
    b->C0 = xalloc(b->csize);
    b->Co = xalloc(b->csize);
    b->Cb = xalloc(b->csize);
    fill(r, b->C0, b->csize);
}

static void run_ours(const bench *b, float *C)
{
    const spec *s = &b->s;
    int M = s->M, N = s->N, K = s->K;
    switch (s->mode) {
    case M_NN: eg_k->gemm_nn(M, N, K, b->A, K, b->B, N, C, N); break;
    case M_NT: eg_k->gemm_nt(M, N, K, b->A, K, b->B, K, C, N); break;
    case M_NN_ROWS:
        if (s->ours == O_TRAINED) eg_k->gemm_nn_rows(M, N, K, b->A, K, b->P, b->off, C, N);
        else eg_k->gemm_nn(M, N, K, b->A, K, b->Bd, N, C, N);
        break;
    case M_NT_ROWS:
        if (s->ours == O_TRAINED)
            eg_k->gemm_nt_batch_rows(s->nseg, M, N, K, b->Av, (int)b->plane, b->sa, b->P, b->off, b->sb, C, N);
        else
            eg_k->gemm_nt_batch(s->nseg, M, N, K, b->Av, (int)b->plane, b->sa, b->Bd, K, (size_t)N * K, C, N);
        break;
    }
}

static void run_ob(const bench *b, float *C)
{
    const spec *s = &b->s;
    int M = s->M, N = s->N, K = s->K;
    switch (s->mode) {
    case M_NN:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, b->A, K, b->B, N, 1.0f, C, N);
        break;
    case M_NT:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, b->A, K, b->B, K, 1.0f, C, N);
        break;
    case M_NN_ROWS:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, b->A, K, b->Bd, N, 1.0f, C, N);
        break;
    case M_NT_ROWS:
        if (s->ob == B_CONCAT) {
            int kc = s->nseg * K;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, kc, 1.0f, b->Acat, kc, b->Bcat, kc, 1.0f, C, N);
        } else {
            for (int g = 0; g < s->nseg; g++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, b->Av + g * b->sa, (int)b->plane,
                            b->Bd + (size_t)g * N * K, K, 1.0f, C, N);
        }
        break;
    }
}

/* max |ours - OB| / max |OB| after one call each from the same C0 */
static double check(bench *b, double *maxabs)
{
    memcpy(b->Co, b->C0, b->csize * sizeof(float));
    memcpy(b->Cb, b->C0, b->csize * sizeof(float));
    run_ours(b, b->Co);
    run_ob(b, b->Cb);
    double d = 0, m = 0;
    for (size_t i = 0; i < b->csize; i++) {
        double e = fabs((double)b->Co[i] - b->Cb[i]);
        if (!(e <= d)) d = e;  /* NaN propagates */
        if (fabs((double)b->Cb[i]) > m) m = fabs((double)b->Cb[i]);
    }
    *maxabs = d;
    return m > 0 ? d / m : d;
}

typedef void (*runner)(const bench *, float *);

static double sample(runner fn, const bench *b, float *C, long reps)
{
    double t0 = eg_now();
    for (long i = 0; i < reps; i++) fn(b, C);
    return (eg_now() - t0) / (double)reps;
}

/* calls per sample so that a sample lasts about TARGET_SAMPLE_S */
static long calibrate(runner fn, const bench *b, float *C)
{
    long reps = 1;
    for (;;) {
        double t = sample(fn, b, C, reps) * (double)reps;
        if (t >= TARGET_SAMPLE_S / 4 || reps >= (1L << 24)) {
            double per = t / (double)reps;
            long r = (long)(TARGET_SAMPLE_S / per);
            return r < 1 ? 1 : r;
        }
        reps *= 2;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* best of ROUNDS medians of `samples` alternating samples, seconds per call */
static void measure(bench *b, int samples, double *t_ours, double *t_ob)
{
    long ro = calibrate(run_ours, b, b->Co), rb = calibrate(run_ob, b, b->Cb);
    double *so = malloc((size_t)samples * sizeof *so), *sb = malloc((size_t)samples * sizeof *sb);
    *t_ours = *t_ob = INFINITY;
    for (int round = 0; round < ROUNDS; round++) {
        /* C keeps accumulating within a round; restart it so values stay small */
        memcpy(b->Co, b->C0, b->csize * sizeof(float));
        memcpy(b->Cb, b->C0, b->csize * sizeof(float));
        for (int i = 0; i < samples; i++) {
            if ((i + round) % 2) {
                sb[i] = sample(run_ob, b, b->Cb, rb);
                so[i] = sample(run_ours, b, b->Co, ro);
            } else {
                so[i] = sample(run_ours, b, b->Co, ro);
                sb[i] = sample(run_ob, b, b->Cb, rb);
            }
        }
        double mo = median(so, samples), mb = median(sb, samples);
        if (mo < *t_ours) *t_ours = mo;
        if (mb < *t_ob) *t_ob = mb;
    }
    free(so);
    free(sb);
}

/* best of ROUNDS medians for building OpenBLAS's dense operands */
static double measure_copy(bench *b, int samples)
{
    double best = INFINITY, *t = malloc((size_t)samples * sizeof *t);
    long reps = 1;
    for (;;) {
        double t0 = eg_now();
        for (long i = 0; i < reps; i++) materialise(b);
        double e = eg_now() - t0;
        if (e >= TARGET_SAMPLE_S / 4) {
            reps = (long)(TARGET_SAMPLE_S / (e / (double)reps));
            if (reps < 1) reps = 1;
            break;
        }
        reps *= 2;
    }
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < samples; i++) {
            double t0 = eg_now();
            for (long k = 0; k < reps; k++) materialise(b);
            t[i] = (eg_now() - t0) / (double)reps;
        }
        double m = median(t, samples);
        if (m < best) best = m;
    }
    free(t);
    return best;
}

static void release(bench *b)
{
    free(b->A);
    free(b->B);
    free(b->P);
    free(b->Dy);
    free(b->off);
    free(b->Bd);
    free(b->Acat);
    free(b->Bcat);
    free(b->C0);
    free(b->Co);
    free(b->Cb);
}

static const char *ours_desc(const spec *s)
{
    switch (s->mode) {
    case M_NN: return "gemm_nn";
    case M_NT: return "gemm_nt";
    case M_NN_ROWS: return s->ours == O_TRAINED ? "gemm_nn_rows (views)" : "gemm_nn (dense copy)";
    case M_NT_ROWS: return s->ours == O_TRAINED ? "nt_batch_rows (views)" : "nt_batch (dense copy)";
    }
    return "?";
}

static const char *ob_desc(const spec *s, char *buf, size_t len)
{
    switch (s->mode) {
    case M_NN:
    case M_NT: snprintf(buf, len, "1 call"); break;
    case M_NN_ROWS: snprintf(buf, len, "1 call, dense B copy"); break;
    case M_NT_ROWS:
        if (s->ob == B_CONCAT) snprintf(buf, len, "1 call, K-concat %d", s->nseg * s->K);
        else snprintf(buf, len, "%d calls, 1 per image", s->nseg);
        break;
    }
    return buf;
}

int main(int argc, char **argv)
{
    const char *label = argc > 1 ? argv[1] : "";
    int samples = argc > 2 ? atoi(argv[2]) : 15;
    if (samples < 1) samples = 1;

    openblas_set_num_threads(1);
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("== run: %s\n", label);
    printf("OPENBLAS_CORETYPE in environment: %s\n", ct ? ct : "(unset)");
    printf("OpenBLAS core: %s | config: %s | threads: %d | parallel: %d (0 sequential, 1 pthreads, 2 OpenMP)\n",
           openblas_get_corename(), openblas_get_config(), openblas_get_num_threads(), openblas_get_parallel());
#ifdef _OPENMP
    printf("edagari kernels: built WITH OpenMP, eg_thread_count() = %d (gemm.c itself is single-threaded)\n",
           eg_thread_count());
#else
    printf("edagari kernels: built without OpenMP, eg_thread_count() = %d\n", eg_thread_count());
#endif
    printf("timing: best of %d round medians, %d alternating samples of ~%.0f ms per round and side\n\n", ROUNDS,
           samples, TARGET_SAMPLE_S * 1e3);

    /* SimpleCNN: 1x28x28 -> conv1 (4, 3x3, pad 1) -> pool -> conv2 (8, 3x3, pad 1) -> pool
     * -> fc1 (392 -> 64) -> fc2 (64 -> 10); 32 images per thread. */
    static const spec specs[] = {
        /* label                 mode       M     N     K  nseg cb  H   W  ours       ob          step */
        {"conv1 fwd",            M_NN_ROWS, 4,   840,   9,  1,  1, 28, 28, O_TRAINED, B_DIRECT,    32},
        {"conv1 fwd",            M_NN_ROWS, 4,   840,   9,  1,  1, 28, 28, O_DENSE,   B_DIRECT,     0},
        {"conv2 fwd",            M_NN_ROWS, 8,   224,  36,  1,  4, 14, 14, O_TRAINED, B_DIRECT,    32},
        {"conv2 fwd",            M_NN_ROWS, 8,   224,  36,  1,  4, 14, 14, O_DENSE,   B_DIRECT,     0},
        {"conv2 input-grad",     M_NN_ROWS, 4,   224,  72,  1,  8, 14, 14, O_TRAINED, B_DIRECT,    32},
        {"conv2 input-grad",     M_NN_ROWS, 4,   224,  72,  1,  8, 14, 14, O_DENSE,   B_DIRECT,     0},
        {"conv1 weight-grad",    M_NT_ROWS, 4,     9, 840, 32,  1, 28, 28, O_TRAINED, B_PER_IMAGE,  1},
        {"conv1 weight-grad",    M_NT_ROWS, 4,     9, 840, 32,  1, 28, 28, O_DENSE,   B_PER_IMAGE,  0},
        {"conv1 weight-grad",    M_NT_ROWS, 4,     9, 840, 32,  1, 28, 28, O_TRAINED, B_CONCAT,     0},
        {"conv2 weight-grad",    M_NT_ROWS, 8,    36, 224, 32,  4, 14, 14, O_TRAINED, B_PER_IMAGE,  1},
        {"conv2 weight-grad",    M_NT_ROWS, 8,    36, 224, 32,  4, 14, 14, O_DENSE,   B_PER_IMAGE,  0},
        {"conv2 weight-grad",    M_NT_ROWS, 8,    36, 224, 32,  4, 14, 14, O_TRAINED, B_CONCAT,     0},
        {"fc1 fwd",              M_NT,      32,   64, 392,  1,  0,  0,  0, O_TRAINED, B_DIRECT,     1},
        {"fc1 weight-grad",      M_NN,      64,  392,  32,  1,  0,  0,  0, O_TRAINED, B_DIRECT,     1},
        {"fc1 input-grad",       M_NN,      32,  392,  64,  1,  0,  0,  0, O_TRAINED, B_DIRECT,     1},
        {"fc2 fwd",              M_NT,      32,   10,  64,  1,  0,  0,  0, O_TRAINED, B_DIRECT,     1},
        {"fc2 weight-grad",      M_NN,      10,   64,  32,  1,  0,  0,  0, O_TRAINED, B_DIRECT,     1},
        {"fc2 input-grad",       M_NN,      32,   64,  10,  1,  0,  0,  0, O_TRAINED, B_DIRECT,     1},
        {"large",                M_NN,     128,  128, 128,  1,  0,  0,  0, O_TRAINED, B_DIRECT,     0},
        {"large",                M_NN,     256,  256, 256,  1,  0,  0,  0, O_TRAINED, B_DIRECT,     0},
        {"large",                M_NT,     256,  256, 256,  1,  0,  0,  0, O_TRAINED, B_DIRECT,     0},
        {"large",                M_NN,      64, 3136, 576,  1,  0,  0,  0, O_TRAINED, B_DIRECT,     0},
        {"large",                M_NT,      64,  576, 3136, 1,  0,  0,  0, O_TRAINED, B_DIRECT,     0},
    };
    int nspecs = (int)(sizeof specs / sizeof specs[0]);

    /* "µ" is two bytes in UTF-8: widths of the µs headers are one more */
    printf("%-18s %-2s %4s %5s %5s %4s  %-22s %-24s %10s %10s %7s %-8s %7s %7s %10s %10s\n", "case", "op", "M", "N", "K",
           "xseg", "ours (edagari)", "OpenBLAS cblas_sgemm", "ours µs", "OB µs", "OB/ours", "faster", "ours GF", "OB GF",
           "Bcopy µs", "max rel d");
    int failed = 0;
    double step_ours = 0, step_ob = 0, step_copy = 0;
    eg_rng rng;
    eg_rng_seed(&rng, 12345);
    for (int i = 0; i < nspecs; i++) {
        const spec *s = &specs[i];
        bench b;
        setup(&b, s, &rng);
        double maxabs, rel = check(&b, &maxabs);
        int ok = rel <= TOL;
        if (!ok) failed++;
        double to, tb;
        measure(&b, samples, &to, &tb);
        /* the copy OpenBLAS would need in training: for rows as trained only */
        double tc = -1;
        if ((s->mode == M_NN_ROWS || s->mode == M_NT_ROWS) && s->ours == O_TRAINED) tc = measure_copy(&b, samples);
        double flop = 2.0 * s->M * s->N * (double)s->K * s->nseg;
        char obuf[64], cbuf[32], dbuf[32];
        if (tc >= 0) snprintf(cbuf, sizeof cbuf, "%9.2f", tc * 1e6);
        else snprintf(cbuf, sizeof cbuf, "%9s", "-");
        snprintf(dbuf, sizeof dbuf, "%.1e%s", rel, ok ? "" : " FAIL");
        printf("%-18s %-2s %4d %5d %5d %4d  %-22s %-24s %9.2f %9.2f %7.2f %-8s %7.1f %7.1f %s %10s\n", s->label,
               s->mode == M_NN || s->mode == M_NN_ROWS ? "nn" : "nt", s->M, s->N, s->K, s->nseg, ours_desc(s),
               ob_desc(s, obuf, sizeof obuf), to * 1e6, tb * 1e6, tb / to,
               tb / to > 1.05 ? "ours" : tb / to < 0.95 ? "OpenBLAS" : "~same",
               flop / to * 1e-9, flop / tb * 1e-9, cbuf, dbuf);
        fflush(stdout);
        if (s->step_calls) {
            step_ours += s->step_calls * to;
            step_ob += s->step_calls * tb;
            if (tc > 0) step_copy += s->step_calls * tc;
        }
        release(&b);
    }
    printf("\nOne training step, one thread (32 images), sum of calls x time over the rows marked as trained\n"
           "(conv weight-grads: OpenBLAS once per image): ours %.1f µs, OpenBLAS %.1f µs (+ %.1f µs to build its\n"
           "dense B operands / im2col copies, not in its figure); OB/ours = %.2f (%.2f with copies).\n",
           step_ours * 1e6, step_ob * 1e6, step_copy * 1e6, step_ob / step_ours, (step_ob + step_copy) / step_ours);
    printf("Columns: OB/ours = OpenBLAS time / ours time (> 1: ours faster; ~same: within 5%%, under the noise);\n"
           "GF = GFLOP/s (2*M*N*K*xseg per call);\n"
           "Bcopy = building OpenBLAS's dense operand from the training layout (per call, not in OB µs);\n"
           "max rel d = max|ours - OB| / max|OB| after one call from the same C (beta = 1), checked before timing.\n");
    if (failed) printf("%d row(s) FAILED the 1e-4 check\n", failed);
    return failed ? 1 : 0;
}
