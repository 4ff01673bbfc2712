/* Bad-input tests at the library level: crafted IDX files, model specs, recipes and report paths. */
/* Each must fail with a status and a message that says where and what, and
 * never crash. Every file is written to a fresh directory under /tmp and
 * removed at the end. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "internal.h"
#include "util.h"

#define MEAN 0.1307f
#define STD 0.3081f

static char tmpdir[] = "/tmp/eg_bad_input.XXXXXX";
static char *made[256];
static int nmade;

/* Path of `name` in the temporary directory, in one of a few rotating
 * buffers: for names used at once; write_* return lasting copies. */
static const char *at(const char *name) { return util_path(tmpdir, name); }

/* Records a file for cleanup; the copy it returns lives until then. */
static const char *remember(const char *path)
{
    for (int i = 0; i < nmade; i++)
        if (!strcmp(made[i], path)) return made[i];
    if (nmade == 256) return path;
    made[nmade] = strdup(path);
    return made[nmade++];
}

static const char *write_file(const char *name, const void *data, size_t len)
{
    const char *path = at(name);
    util_write_file(path, data, len);
    return remember(path);
}

static const char *write_text(const char *name, const char *text) { return write_file(name, text, strlen(text)); }

static const char *write_gz(const char *name, const void *data, size_t len)
{
    const char *path = at(name);
    gzFile f = gzopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f) return path;
    gzwrite(f, data, (unsigned)len);
    gzclose(f);
    return remember(path);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* An IDX image file of n h x w images (pixel i of the file is i*7 mod 256),
 * with `extra` bytes more or less payload; returns its length. */
static size_t idx_images(uint8_t *buf, uint32_t magic, uint32_t n, uint32_t h, uint32_t w, long extra)
{
    put32(buf, magic);
    put32(buf + 4, n), put32(buf + 8, h), put32(buf + 12, w);
    size_t len = 16 + (size_t)((long)(n * h * w) + extra);
    for (size_t i = 16; i < len; i++) buf[i] = (uint8_t)((i - 16) * 7);
    return len;
}

static size_t idx_labels(uint8_t *buf, uint32_t n, int classes)
{
    put32(buf, 0x801);
    put32(buf + 4, n);
    for (uint32_t i = 0; i < n; i++) buf[8 + i] = (uint8_t)(i % (uint32_t)classes);
    return 8 + n;
}

/* The call failed with `code` and the message holds every word given. */
static void expect(const char *what, eg_status st, const eg_error *err, eg_status code, ...)
{
    CHECK(st == code, "%s: status %d, want %d (message: %s)", what, st, code, st ? err->msg : "none");
    va_list ap;
    va_start(ap, code);
    for (const char *w; (w = va_arg(ap, const char *));)
        CHECK(strstr(err->msg, w) != NULL, "%s: message lacks '%s': %s", what, w, err->msg);
    va_end(ap);
}

/* ------------------------------------------------------------------- IDX */

static void test_idx(void)
{
    uint8_t img[2048], lab[64];
    size_t il = idx_images(img, 0x803, 5, 3, 4, 0), ll = idx_labels(lab, 5, 10);
    const char *images = write_file("ok-images", img, il), *labels = write_file("ok-labels", lab, ll);
    eg_dataset ds;
    eg_error err = {0};

    eg_status st = eg_dataset_load_idx(&ds, images, labels, MEAN, STD, &err);
    CHECK(st == EG_OK, "valid 5x3x4 set: %s", err.msg);
    if (!st) {
        CHECK(ds.n == 5 && ds.c == 1 && ds.h == 3 && ds.w == 4, "shape %dx%dx%dx%d, want 5x1x3x4", ds.n, ds.c, ds.h, ds.w);
        float want = ((float)img[16 + 13] / 255.0f - MEAN) / STD;
        CHECK(ds.x[13] == want, "pixel 13: %g, want %g", ds.x[13], want);
        CHECK(ds.y[4] == 4, "label 4: %d", ds.y[4]);
        eg_dataset_free(&ds);
    }

    /* gzip, both files: must load and give the same numbers */
    const char *gimages = write_gz("gz-images.gz", img, il), *glabels = write_gz("gz-labels.gz", lab, ll);
    eg_dataset raw;
    st = eg_dataset_load_idx(&ds, gimages, glabels, MEAN, STD, &err);
    CHECK(st == EG_OK, "gzipped set: %s", err.msg);
    if (!st && !eg_dataset_load_idx(&raw, images, labels, MEAN, STD, &err)) {
        CHECK(ds.n == raw.n && !memcmp(ds.x, raw.x, 60 * sizeof *ds.x) && !memcmp(ds.y, raw.y, 5),
              "gzipped set differs from the raw one");
        eg_dataset_free(&raw);
    }
    if (!st) eg_dataset_free(&ds);

    /* payload short by 7 bytes: 53 of 60, the file ends at byte 69 */
    size_t n = idx_images(img, 0x803, 5, 3, 4, -7);
    const char *p = write_file("short-payload", img, n);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    expect("short payload", st, &err, EG_ERR_FORMAT, p, "truncated", "payload is 53 bytes", "need 60",
           "byte offset 69", NULL);
    CHECK(ds.x == NULL && ds.n == 0, "a failed load left data behind");

    n = idx_images(img, 0x803, 5, 3, 4, 0);
    p = write_file("short-header", img, 10);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    expect("short header", st, &err, EG_ERR_FORMAT, p, "truncated header", "10 bytes", "expected 16", NULL);

    p = write_file("two-bytes", img, 2);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    expect("2-byte file", st, &err, EG_ERR_FORMAT, p, "2 bytes", "magic", NULL);

    p = write_file("empty", "", 0);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    expect("empty file", st, &err, EG_ERR_FORMAT, p, "0 bytes", NULL);

    /* a label file (1 dimension) given as the images */
    st = eg_dataset_load_idx(&ds, labels, labels, MEAN, STD, &err);
    expect("labels as images", st, &err, EG_ERR_FORMAT, labels, "byte 0", "expected IDX magic 0x0000080N or 0x00000d0N",
           "N from 2 to 4", "found 0x00000801", NULL);
    /* float32 values (type 0x0d), big-endian, 5 x 3 x 4: taken as they are, then normalised */
    n = idx_images(img, 0xd03, 5, 3, 4, 3 * 60);
    for (int i = 0; i < 60; i++) {
        float v = 0.25f * (float)i - 3.0f;
        uint32_t u;
        memcpy(&u, &v, sizeof u);
        put32(img + 16 + 4 * i, u);
    }
    p = write_file("floats", img, n);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    CHECK(st == EG_OK && ds.n == 5 && ds.c == 1 && ds.h == 3 && ds.w == 4, "float32 images: %s", st ? err.msg : "bad shape");
    if (!st) {
        int same = 1;
        for (int i = 0; i < 60; i++) same &= ds.x[i] == (0.25f * (float)i - 3.0f - MEAN) / STD;
        CHECK(same, "float32 images: the values are not the file's, normalised");
        eg_dataset_free(&ds);
    }
    /* a NaN among them */
    put32(img + 16 + 4 * 7, 0x7fc00000u);
    p = write_file("float-nan", img, n);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    expect("a NaN value", st, &err, EG_ERR_FORMAT, p, "byte 44", "value 7 is nan", "finite", NULL);
    /* N x C x H x W unsigned bytes: 5 x 2 x 3 x 2 */
    put32(img, 0x804), put32(img + 4, 5), put32(img + 8, 2), put32(img + 12, 3), put32(img + 16, 2);
    for (int i = 0; i < 60; i++) img[20 + i] = (uint8_t)(4 * i);
    p = write_file("nchw", img, 80);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    CHECK(st == EG_OK && ds.n == 5 && ds.c == 2 && ds.h == 3 && ds.w == 2 && ds.x[59] == (236.0f / 255.0f - MEAN) / STD,
          "4-D images: %s", st ? err.msg : "bad shape or values");
    if (!st) eg_dataset_free(&ds);
    /* N x F: F features a sample */
    put32(img, 0x802), put32(img + 4, 5), put32(img + 8, 12);
    p = write_file("features", img, 72);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    CHECK(st == EG_OK && ds.n == 5 && ds.c == 12 && ds.h == 1 && ds.w == 1, "2-D features: %s", st ? err.msg : "bad shape");
    if (!st) eg_dataset_free(&ds);
    /* images given as the labels */
    st = eg_dataset_load_idx(&ds, images, images, MEAN, STD, &err);
    expect("images as labels", st, &err, EG_ERR_FORMAT, images, "expected IDX magic 0x00000801",
           "found 0x00000803", NULL);

    n = idx_images(img, 0x803, 5, 0, 4, 0);
    p = write_file("zero-dim", img, n);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    expect("zero dimension", st, &err, EG_ERR_FORMAT, p, "byte 8", "dimension 1 is 0", NULL);
    n = idx_images(img, 0x803, 0, 3, 4, 0);
    p = write_file("zero-count", img, n);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    expect("zero images", st, &err, EG_ERR_FORMAT, p, "byte 4", "dimension 0 is 0", NULL);

    n = idx_images(img, 0x803, 5, 3, 4, 3);
    p = write_file("trailing", img, n);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    expect("trailing bytes", st, &err, EG_ERR_FORMAT, p, "trailing data", "payload is 63 bytes", "need 60",
           "byte offset 76", NULL);
    uint8_t lab2[64];
    size_t l2 = idx_labels(lab2, 5, 10);
    lab2[l2++] = 0;
    p = write_file("trailing-labels", lab2, l2);
    st = eg_dataset_load_idx(&ds, images, p, MEAN, STD, &err);
    expect("trailing label", st, &err, EG_ERR_FORMAT, p, "trailing data", "byte offset 13", NULL);

    l2 = idx_labels(lab2, 4, 10);
    p = write_file("four-labels", lab2, l2);
    st = eg_dataset_load_idx(&ds, images, p, MEAN, STD, &err);
    expect("count mismatch", st, &err, EG_ERR_FORMAT, images, p, "5 images", "4 labels", NULL);

    st = eg_dataset_load_idx(&ds, at("no-such-file"), labels, MEAN, STD, &err);
    expect("missing file", st, &err, EG_ERR_IO, "no-such-file", "cannot open", NULL);

    /* gzip streams: a flipped byte inside the compressed data, a stream cut
     * in half, and one that lost its 8-byte CRC/length trailer */
    uint8_t big[4096], gz[8192];
    size_t bl = idx_images(big, 0x803, 20, 10, 10, 0);
    const char *good = write_gz("big.gz", big, bl);
    FILE *f = fopen(good, "rb");
    size_t gl = f ? fread(gz, 1, sizeof gz, f) : 0;
    if (f) fclose(f);
    CHECK(gl > 40, "gzip of %zu bytes is %zu bytes", bl, gl);
    eg_dataset d2;
    st = eg_dataset_load_idx(&d2, good, labels, MEAN, STD, &err);
    expect("20-image gz with 5 labels", st, &err, EG_ERR_FORMAT, "20 images", "5 labels", NULL);

    uint8_t bad[8192];
    memcpy(bad, gz, gl);
    for (size_t i = 20; i < 28; i++) bad[i] ^= 0x5a;
    p = write_file("corrupt.gz", bad, gl);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    expect("corrupt gzip", st, &err, EG_ERR_FORMAT, p, "gzip stream", "bytes of data", NULL);

    p = write_file("cut.gz", gz, gl / 2);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    expect("gzip cut in half", st, &err, EG_ERR_FORMAT, p, "truncated gzip stream", NULL);

    /* zlib takes this for a clean end of file unless asked */
    p = write_file("no-trailer.gz", gz, gl - 8);
    st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    expect("gzip without its trailer", st, &err, EG_ERR_FORMAT, p, "truncated gzip stream", "2016 bytes of data",
           "unexpected end", NULL);
    if (!st) eg_dataset_free(&ds);

    /* A folder: the pair is found raw or .gz; a missing file gives the hint. */
    st = eg_dataset_load_dir(&ds, at("nowhere"), "train", MEAN, STD, &err);
    expect("missing folder", st, &err, EG_ERR_IO, "nowhere: cannot open the data folder: no such folder", "hint",
           "fetch_mnist.sh", "--data", NULL);
    write_file("t10k-images-idx3-ubyte", img, idx_images(img, 0x803, 5, 3, 4, 0));
    st = eg_dataset_load_dir(&ds, tmpdir, "t10k", MEAN, STD, &err);
    expect("folder without labels", st, &err, EG_ERR_IO, "t10k-labels-idx1-ubyte", "hint", NULL);
    write_gz("t10k-labels-idx1-ubyte.gz", lab, ll);
    st = eg_dataset_load_dir(&ds, tmpdir, "t10k", MEAN, STD, &err);
    CHECK(st == EG_OK && ds.n == 5, "raw images + gzipped labels in a folder: %s", err.msg);
    if (!st) eg_dataset_free(&ds);
}

/* n bytes of zeros as one gzip member, into out (room for n / 500 + 64
 * bytes); returns its length. */
static size_t gzip_zeros(uint8_t *out, size_t room, size_t n)
{
    z_stream z = {0};
    uint8_t *zeros = calloc(n, 1);
    if (!zeros || deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(zeros);
        return 0;
    }
    z.next_in = zeros, z.avail_in = (uInt)n, z.next_out = out, z.avail_out = (uInt)room;
    int rc = deflate(&z, Z_FINISH);
    size_t len = rc == Z_STREAM_END ? z.total_out : 0;
    deflateEnd(&z);
    free(zeros);
    return len;
}

/* A header's claim is checked before the payload is read: a small gzip
 * file cannot claim more than it can inflate to, and a stream that goes on
 * inflating past the claim (512 MiB of zeros behind a 4x4 image) is refused
 * without taking more memory than the claim. */
static void test_idx_claims(void)
{
    uint8_t img[64], lab[16];
    size_t ll = idx_labels(lab, 1, 10);
    const char *labels = write_file("claim-labels", lab, ll);
    eg_dataset ds;
    eg_error err = {0};

    idx_images(img, 0x803, 60000, 28, 28, -47039990);  /* MNIST's header, 10 pixels */
    const char *p = write_gz("claims-mnist.gz", img, 26);
    eg_status st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
    expect("a small gzip file claiming 60000 images", st, &err, EG_ERR_FORMAT, p, "need 47040000 bytes of pixels",
           "a gzip file of", "holds at most", NULL);

    size_t member = 0, room = (1 << 20) / 500 + 64;
    uint8_t *zeros = malloc(room), *bomb = malloc(512 * room + 256);
    if (zeros) member = gzip_zeros(zeros, room, 1 << 20);
    CHECK(member > 0 && bomb, "cannot deflate 1 MiB of zeros");
    if (!member || !bomb) {
        free(zeros), free(bomb);
        return;
    }
    const char *head = write_gz("bomb-head.gz", img, idx_images(img, 0x803, 1, 4, 4, 0));
    size_t hl = 0, bl;
    uint8_t *h = util_read_file(head, &hl);
    if (h) memcpy(bomb, h, hl);
    bl = hl;
    for (int k = 0; k < 512; k++) memcpy(bomb + bl, zeros, member), bl += member;  /* gzip members concatenate */
    free(h), free(zeros);
    p = write_file("bomb.gz", bomb, bl);
    free(bomb);
    int fd[2];
    CHECK(pipe(fd) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        struct rusage before, after;
        getrusage(RUSAGE_SELF, &before);
        st = eg_dataset_load_idx(&ds, p, labels, MEAN, STD, &err);
        getrusage(RUSAGE_SELF, &after);
        long grew_kb = after.ru_maxrss - before.ru_maxrss;
        int ok = st == EG_ERR_FORMAT && strstr(err.msg, "trailing data: the data goes on past the 16 bytes") &&
                 strstr(err.msg, "byte offset 32");
        dprintf(fd[1], "%d %ld %s", ok, grew_kb, err.msg);
        _exit(0);
    }
    close(fd[1]);
    char msg[1200] = "";
    ssize_t n = read(fd[0], msg, sizeof msg - 1);
    close(fd[0]);
    waitpid(pid, NULL, 0);
    msg[n > 0 ? n : 0] = 0;
    int ok = 0;
    long grew_kb = -1;
    sscanf(msg, "%d %ld", &ok, &grew_kb);
    CHECK(ok, "512 MiB inflating behind a 4x4 image: %s", msg);
    CHECK(grew_kb >= 0 && grew_kb < 64 * 1024, "512 MiB inflating behind a 4x4 image: the load took %ld KiB more", grew_kb);
}

/* Data that loads but does not fit the model: caught before any forward. */
static void test_data_vs_model(void)
{
    eg_graph g;
    eg_error err = {0};
    if (eg_graph_load_spec(&g, "models/simplecnn", &err)) {
        CHECK(0, "models/simplecnn: %s", err.msg);
        return;
    }
    eg_rng r;
    eg_rng_seed(&r, 1);
    eg_graph_init_params(&g, &r);
    uint8_t *img = malloc(16 + 6 * 784), lab[64];
    size_t il = idx_images(img, 0x803, 6, 28, 28, 0), ll = idx_labels(lab, 6, 10);
    lab[8 + 2] = 12;  /* sample 2 is class 12 of 10 */
    const char *images = write_file("m-images", img, il), *labels = write_file("m-labels", lab, ll);
    eg_dataset ds;
    double acc;
    if (!eg_dataset_load_idx(&ds, images, labels, MEAN, STD, &err)) {
        eg_status st = eg_evaluate(&g, &ds, 4, &acc, NULL, &err);
        expect("label out of range", st, &err, EG_ERR_ARG, "label 12 of sample 2", "10 outputs", NULL);
        eg_dataset_free(&ds);
    }
    il = idx_images(img, 0x803, 5, 3, 4, 0);
    ll = idx_labels(lab, 5, 10);
    images = write_file("s-images", img, il), labels = write_file("s-labels", lab, ll);
    if (!eg_dataset_load_idx(&ds, images, labels, MEAN, STD, &err)) {
        eg_status st = eg_evaluate(&g, &ds, 4, &acc, NULL, &err);
        expect("3x4 images into a 28x28 model", st, &err, EG_ERR_ARG, "1x28x28", "1x3x4", NULL);
        eg_dataset_free(&ds);
    }
    free(img);
    eg_graph_free(&g);
}

/* ------------------------------------------------------------- model spec */

static void spec_fails(const char *what, const char *text, eg_status code, ...)
{
    char name[64];
    snprintf(name, sizeof name, "spec-%d", nmade);
    const char *path = write_text(name, text);
    eg_graph g;
    eg_error err = {0};
    eg_status st = eg_graph_load_spec(&g, path, &err);
    CHECK(st == code, "%s: status %d, want %d (message: %s)", what, st, code, st ? err.msg : "none");
    CHECK(strstr(err.msg, path) == err.msg, "%s: message does not start with the file name: %s", what, err.msg);
    va_list ap;
    va_start(ap, code);
    for (const char *w; (w = va_arg(ap, const char *));)
        CHECK(strstr(err.msg, w) != NULL, "%s: message lacks '%s': %s", what, w, err.msg);
    va_end(ap);
    if (!st) eg_graph_free(&g);
    CHECK(g.nodes == NULL && g.params == NULL, "%s: a failed load left memory behind", what);
}

#define HEAD "input x shape=1x8x8\n"

static void test_spec(void)
{
    spec_fails("unknown op", HEAD "convolve c out=2 kernel=3\n", EG_ERR_SPEC, ":2:1:", "unknown op 'convolve'",
               "expected one of", "conv2d", NULL);
    spec_fails("unknown attribute", HEAD "conv2d c out=2 kernel=3 dilation=2\n", EG_ERR_SPEC, ":2:25:",
               "no attribute 'dilation'", "expected one of", "stride", NULL);
    spec_fails("attribute of another op", HEAD "relu r kernel=2\n", EG_ERR_SPEC, ":2:8:", "relu has no attribute 'kernel'",
               NULL);
    spec_fails("missing kernel", HEAD "conv2d c out=2\n", EG_ERR_SPEC, ":2:", "conv2d needs 'kernel='", NULL);
    spec_fails("missing out", HEAD "flatten f\nlinear l\n", EG_ERR_SPEC, ":3:", "linear needs 'out='", NULL);
    spec_fails("missing shape", "input x\nflatten f\nlinear l out=2\n", EG_ERR_SPEC, ":1:", "needs 'shape='", NULL);
    spec_fails("word for a number", HEAD "conv2d c out=two kernel=3\n", EG_ERR_SPEC, ":2:14:",
               "out: expected a non-negative integer", "found 'two'", NULL);
    spec_fails("negative pad", HEAD "conv2d c out=2 kernel=3 pad=-1\n", EG_ERR_SPEC, ":2:29:",
               "pad: expected a non-negative integer", "found '-1'", NULL);
    spec_fails("number with a unit", HEAD "conv2d c out=2 kernel=3x\n", EG_ERR_SPEC, ":2:23:", "found '3x'", NULL);
    spec_fails("huge number", HEAD "conv2d c out=99999999999 kernel=3\n", EG_ERR_SPEC, ":2:14:",
               "found '99999999999'", NULL);
    spec_fails("stride 0", HEAD "conv2d c out=2 kernel=3 stride=0\n", EG_ERR_SPEC, ":2:32:",
               "stride: expected a positive integer, found '0'", NULL);
    spec_fails("pad over the limit", HEAD "conv2d c out=2 kernel=3 pad=1048577\n", EG_ERR_SPEC, ":2:29:",
               "up to 1048576", NULL);
    /* sizes that would overflow int arithmetic further on */
    spec_fails("huge input", "input x shape=1x2000000x1\nflatten f\nlinear l out=2\n", EG_ERR_SPEC, ":1:15:",
               "from 1 to 1048576", NULL);
    spec_fails("huge input volume", "input x shape=1024x1024x1024\nflatten f\nlinear l out=2\n", EG_ERR_SPEC,
               ":1:15:", "1073741824 values per sample, at most 2^28", NULL);
    spec_fails("huge output", "input x shape=1x16384x16384\nconv2d c out=16 kernel=1\nflatten f\nlinear l out=2\n",
               EG_ERR_SPEC, ":2:", "conv2d c: output of 16x16384x16384 is over 2^28", NULL);
    /* each parameter under 2^28, together over: a model file could make its reader fill gigabytes */
    spec_fails("huge model", "input x shape=256x1x1\nlinear a out=1048575\nlinear b out=256\nlinear c out=1048575\n",
               EG_ERR_SPEC, ":4:", "the model has 807403006 parameters, over 2^28 in total", NULL);
    spec_fails("huge padding", "input x shape=1x1024x1\nconv2d c out=1 kernel=1 pad=1048576\nflatten f\nlinear l out=2\n",
               EG_ERR_SPEC, ":2:", "conv2d c: output of 1x2098176x2097153", NULL);
    spec_fails("bad shape", "input x shape=1x28\nflatten f\nlinear l out=2\n", EG_ERR_SPEC, ":1:15:",
               "expected CxHxW", "found '1x28'", NULL);
    spec_fails("duplicate name", HEAD "relu r\nrelu r\nflatten f\nlinear l out=2\n", EG_ERR_SPEC, ":3:6:",
               "node 'r' is defined twice (first on line 2)", NULL);
    spec_fails("unknown input", HEAD "relu r\nrelu s in=q\nflatten f\nlinear l out=2\n", EG_ERR_SPEC, ":3:11:",
               "no node named 'q'", NULL);
    spec_fails("input defined later", HEAD "relu r in=f\nflatten f\nlinear l out=2\n", EG_ERR_SPEC, ":2:",
               "no node named 'f' before this line", NULL);
    spec_fails("two inputs to one op", HEAD "relu r\nrelu s in=x,r\nflatten f\nlinear l out=2\n", EG_ERR_SPEC,
               ":3:", "takes 1 input", NULL);
    spec_fails("kernel bigger than the padded input", HEAD "conv2d c out=2 kernel=11 pad=1\nflatten f\nlinear l out=2\n",
               EG_ERR_SPEC, ":2:", "conv2d c", "kernel 11 does not fit the 1x8x8 input with padding 1", NULL);
    spec_fails("pool bigger than its input", HEAD "maxpool2d p kernel=9\nflatten f\nlinear l out=2\n", EG_ERR_SPEC,
               ":2:", "maxpool2d p", "kernel 9", "1x8x8", NULL);
    spec_fails("pool padding over half its kernel", HEAD "maxpool2d p kernel=3 pad=2\nflatten f\nlinear l out=2\n",
               EG_ERR_SPEC, ":2:", "maxpool2d p", "pad 2", "pad at most half the kernel", NULL);
    spec_fails("ceil not 0 or 1", HEAD "maxpool2d p kernel=2 ceil=2\nflatten f\nlinear l out=2\n", EG_ERR_SPEC, ":2:",
               "maxpool2d p", "ceil 2: expected 0", NULL);
    spec_fails("zero channels", HEAD "conv2d c out=0 kernel=3\nflatten f\nlinear l out=2\n", EG_ERR_SPEC, ":2:",
               "out >= 1", NULL);
    spec_fails("linear without flatten", HEAD "conv2d c out=2 kernel=3\nlinear l out=10\n", EG_ERR_SPEC, ":3:",
               "linear l", "flat features", "2x6x6", "flatten", NULL);
    spec_fails("last node not flat", HEAD "conv2d c out=2 kernel=3\nrelu r\n", EG_ERR_SPEC, ":3:",
               "last node 'r'", "flat class scores", "2x6x6", NULL);
    spec_fails("first node not input", "relu r\nflatten f\nlinear l out=2\n", EG_ERR_SPEC, ":1:1:",
               "first node must be 'input'", NULL);
    /* a second input would be fed the first one's batch, whatever its shape */
    spec_fails("second input", HEAD "input y shape=1x28x28\nflatten f in=y\nlinear l out=2\n", EG_ERR_SPEC, ":2:1:",
               "one input node, 'x' (line 1)", "a second, 'y'", NULL);
    spec_fails("bad node name", HEAD "relu 9lives\nflatten f\nlinear l out=2\n", EG_ERR_SPEC, ":2:6:",
               "expected a node name", NULL);
    spec_fails("no value", HEAD "conv2d c out kernel=3\n", EG_ERR_SPEC, ":2:10:", "expected key=value, found 'out'",
               NULL);
    spec_fails("empty file", "", EG_ERR_SPEC, "expected an input node", "found 0 node(s)", NULL);
    spec_fails("only comments", "# nothing here\n\n   # still nothing\n", EG_ERR_SPEC, "found 0 node(s)", NULL);
    spec_fails("input alone", HEAD, EG_ERR_SPEC, "found 1 node(s)", NULL);

    char nul[] = HEAD "flatten f\nlinear l out=2\n";
    nul[5] = 0;
    const char *p = write_file("spec-nul", nul, sizeof nul - 1);
    eg_graph g;
    eg_error err = {0};
    eg_status st = eg_graph_load_spec(&g, p, &err);
    expect("NUL inside the text", st, &err, EG_ERR_SPEC, p, "byte 5", "NUL", NULL);

    st = eg_graph_load_spec(&g, at("no-such-spec"), &err);
    expect("missing spec", st, &err, EG_ERR_IO, "no-such-spec", "cannot open model spec", NULL);
    st = eg_graph_load_spec(&g, tmpdir, &err);
    CHECK(st != EG_OK && strstr(err.msg, tmpdir), "a folder as the spec: status %d: %s", st, err.msg);
    if (!st) eg_graph_free(&g);

    /* and a good one, so the helpers are not the reason the others fail */
    p = write_text("spec-good", HEAD "conv2d c out=2 kernel=3 # comment\nflatten f\nlinear l out=2\n");
    st = eg_graph_load_spec(&g, p, &err);
    CHECK(st == EG_OK, "good spec: %s", err.msg);
    if (!st) {
        CHECK(eg_graph_param_count(&g) == 2 * 9 + 2 + 2 * 72 + 2, "good spec: %zu parameters", eg_graph_param_count(&g));
        eg_graph_free(&g);
    }
}

/* ----------------------------------------------------------------- recipe */

static void recipe_fails(const char *what, const char *text, eg_status code, ...)
{
    char name[64];
    snprintf(name, sizeof name, "recipe-%d", nmade);
    const char *path = write_text(name, text);
    eg_recipe r;
    eg_error err = {0};
    eg_status st = eg_recipe_load(&r, path, &err);
    CHECK(st == code, "%s: status %d, want %d (message: %s)", what, st, code, st ? err.msg : "none");
    CHECK(strstr(err.msg, path) == err.msg, "%s: message does not start with the file name: %s", what, err.msg);
    va_list ap;
    va_start(ap, code);
    for (const char *w; (w = va_arg(ap, const char *));)
        CHECK(strstr(err.msg, w) != NULL, "%s: message lacks '%s': %s", what, w, err.msg);
    va_end(ap);
}

#define MODEL "model models/simplecnn\n"

/* A recipe that parses but names something the model lacks must fail in
 * eg_recipe_run before the data is even opened: the data folder given does
 * not exist, so reaching it would give a different message. */
static void run_fails(const char *what, const char *text, ...)
{
    char name[64];
    snprintf(name, sizeof name, "recipe-%d", nmade);
    const char *path = write_text(name, text);
    eg_recipe r;
    eg_error err = {0};
    eg_status st = eg_recipe_load(&r, path, &err);
    CHECK(st == EG_OK, "%s: the recipe should parse: %s", what, err.msg);
    if (st) return;
    FILE *out = fopen("/dev/null", "w");
    eg_run_opts o = {.seed = 1, .threads = 1, .data = at("no-data-here"), .out = out};
    st = eg_recipe_run(&r, &o, &err);
    if (out) fclose(out);
    CHECK(st == EG_ERR_RECIPE, "%s: status %d, want %d (message: %s)", what, st, EG_ERR_RECIPE, err.msg);
    CHECK(!strstr(err.msg, "no-data-here"), "%s: got as far as the data: %s", what, err.msg);
    CHECK(strstr(err.msg, path) == err.msg, "%s: message does not start with the recipe: %s", what, err.msg);
    va_list ap;
    va_start(ap, text);
    for (const char *w; (w = va_arg(ap, const char *));)
        CHECK(strstr(err.msg, w) != NULL, "%s: message lacks '%s': %s", what, w, err.msg);
    va_end(ap);
}

static void test_recipe(void)
{
    recipe_fails("unknown stage", MODEL "finetune epochs=1\n", EG_ERR_RECIPE, ":2:1:", "unknown line 'finetune'",
                 "expected model, data, normalize, validation, train, prune or eval", NULL);
    recipe_fails("unknown key", MODEL "train epoch=1\n", EG_ERR_RECIPE, ":2:7:", "train has no key 'epoch'",
                 "epochs", NULL);
    recipe_fails("eval key", MODEL "eval batch=10 shuffle=no\n", EG_ERR_RECIPE, ":2:15:", "eval has no key 'shuffle'",
                 NULL);
    recipe_fails("bad optimizer", MODEL "train optimizer=adamw\n", EG_ERR_RECIPE, ":2:7:",
                 "optimizer: expected adam or sgd, found 'adamw'", NULL);
    recipe_fails("bad shuffle", MODEL "train shuffle=true\n", EG_ERR_RECIPE, "shuffle: expected yes or no", NULL);
    recipe_fails("fractional epochs", MODEL "train epochs=1.5\n", EG_ERR_RECIPE, "epochs: expected an integer", NULL);
    recipe_fails("huge epochs", MODEL "train epochs=99999999999999999999\n", EG_ERR_RECIPE,
                 "epochs: expected an integer", NULL);
    recipe_fails("batch 0", MODEL "train batch=0\n", EG_ERR_RECIPE, "batch: expected an integer from 1 to 65536", NULL);
    recipe_fails("negative lr", MODEL "train lr=-0.1\n", EG_ERR_RECIPE, "lr: expected a learning rate above 0", NULL);
    /* the documented ranges (docs/reliability.md) */
    recipe_fails("lr 1e20", MODEL "train lr=1e20\n", EG_ERR_RECIPE, ":2:7:", "lr: expected a learning rate above 0 and at most 10",
                 "found '1e20'", NULL);
    recipe_fails("lr 0", MODEL "train lr=0\n", EG_ERR_RECIPE, "found '0'", NULL);
    recipe_fails("lr below float32", MODEL "train lr=1e-50\n", EG_ERR_RECIPE, "found '1e-50'", NULL);
    recipe_fails("momentum 1", MODEL "train optimizer=sgd momentum=1\n", EG_ERR_RECIPE,
                 "momentum: expected a number from 0 to below 1, found '1'", NULL);
    recipe_fails("momentum 0.99999999", MODEL "train optimizer=sgd momentum=0.99999999\n", EG_ERR_RECIPE,
                 "found '0.99999999'", NULL);  /* 1 as a float32 */
    recipe_fails("weight decay 2", MODEL "train weight_decay=2\n", EG_ERR_RECIPE,
                 "weight_decay: expected a number from 0 to below 1", NULL);
    recipe_fails("epochs 10001", MODEL "train epochs=10001\n", EG_ERR_RECIPE, "epochs: expected an integer from 0 to 10000",
                 NULL);
    recipe_fails("batch 65537", MODEL "train batch=65537\n", EG_ERR_RECIPE, "batch: expected an integer from 1 to 65536",
                 NULL);
    recipe_fails("eval batch 1e6", MODEL "eval batch=1000000\n", EG_ERR_RECIPE, "batch: expected an integer from 1 to 65536",
                 NULL);
    recipe_fails("infinite lr", MODEL "train lr=inf\n", EG_ERR_RECIPE, "lr:", "found 'inf'", NULL);
    recipe_fails("amount=0", MODEL "prune layer=conv1 amount=0\n", EG_ERR_RECIPE, ":2:19:", "amount:", "found '0'",
                 NULL);
    recipe_fails("amount=-1", MODEL "prune layer=conv1 amount=-1\n", EG_ERR_RECIPE, ":2:19:", "found '-1'", NULL);
    recipe_fails("amount=1.5", MODEL "prune layer=conv1 amount=1.5\n", EG_ERR_RECIPE, ":2:19:",
                 "a channel count (an integer >= 1) or a fraction between 0 and 1", "found '1.5'", NULL);
    recipe_fails("amount=1.0", MODEL "prune layer=conv1 amount=1.0\n", EG_ERR_RECIPE, "found '1.0'", NULL);
    recipe_fails("amount=inf", MODEL "prune layer=conv1 amount=inf\n", EG_ERR_RECIPE, "found 'inf'", NULL);
    recipe_fails("amount=nan", MODEL "prune layer=conv1 amount=nan\n", EG_ERR_RECIPE, "found 'nan'", NULL);
    recipe_fails("prune without amount", MODEL "prune layer=conv1\n", EG_ERR_RECIPE, ":2:1:", "amount=", NULL);
    recipe_fails("prune without layer", MODEL "prune amount=1\n", EG_ERR_RECIPE, ":2:1:", "layer=", NULL);
    recipe_fails("unknown method", MODEL "prune method=snip layer=conv1 amount=1\n", EG_ERR_RECIPE,
                 "method: expected one of l1", "found 'snip'", NULL);
    recipe_fails("missing model", "data data/mnist\ntrain epochs=1\n", EG_ERR_RECIPE, "no 'model <spec>' line", NULL);
    recipe_fails("no stages", MODEL "# nothing to do\n", EG_ERR_RECIPE, "no stages", NULL);
    recipe_fails("two models", "model a b\n", EG_ERR_RECIPE, ":1:1:", "exactly one path", NULL);
    recipe_fails("key twice", MODEL "prune layer=conv1 amount=1 amount=2\n", EG_ERR_RECIPE, ":2:28:",
                 "key 'amount' given twice (first at column 19)", NULL);
    recipe_fails("hexadecimal", MODEL "train epochs=0x10\n", EG_ERR_RECIPE, ":2:7:", "found '0x10'", NULL);
    recipe_fails("no key", MODEL "train =3\n", EG_ERR_RECIPE, ":2:7:", "expected key=value", NULL);

    eg_recipe r;
    eg_error err = {0};
    eg_status st = eg_recipe_load(&r, at("no-such-recipe"), &err);
    expect("missing recipe", st, &err, EG_ERR_IO, "no-such-recipe", "cannot open recipe", NULL);

    run_fails("unknown layer", MODEL "train epochs=1\nprune layer=conv9 amount=1\n", ":3:", "layer=conv9",
              "no such node", "conv1", NULL);
    run_fails("all channels", MODEL "train epochs=1\nprune layer=conv1 amount=4\n", ":3:",
              "remove 4 of the 4 channels layer conv1 has", "at most 3", NULL);
    run_fails("more than all channels", MODEL "prune layer=conv2 amount=9\n", ":2:",
              "remove 9 of the 8 channels layer conv2 has", "at most 7", NULL);
    run_fails("all channels as a fraction", MODEL "train epochs=1\nprune layer=conv1 amount=0.9\n", ":3:",
              "amount=0.9", "remove 4 of the 4 channels layer conv1 has", NULL);
    run_fails("all channels in two steps", MODEL "train epochs=1\nprune layer=conv1 amount=2\n"
              "train epochs=1\nprune layer=conv2 amount=0.5\nprune layer=conv1 amount=0.75\n", ":6:",
              "remove 2 of the 2 channels layer conv1 has left after the earlier prune stages", "at most 1", NULL);
    run_fails("the output layer", MODEL "train epochs=1\nprune layer=fc2 amount=1\n", ":3:", "fc2", "output", NULL);
    run_fails("a relu", MODEL "train epochs=1\nprune layer=relu1 amount=1\n", ":3:", "relu1", "conv2d or linear",
              NULL);

    /* the model must load before anything else, too */
    const char *path = write_text("recipe-nomodel", "model no-such-model\ntrain epochs=1\n");
    if (!eg_recipe_load(&r, path, &err)) {
        eg_run_opts o = {.seed = 1, .threads = 1, .data = at("no-data-here"), .out = stderr};
        st = eg_recipe_run(&r, &o, &err);
        expect("missing model file", st, &err, EG_ERR_IO, "no-such-model", "cannot open model spec", NULL);
    }
    /* a data folder that does not exist: the hint */
    path = write_text("recipe-ok", MODEL "eval batch=10\n");
    if (!eg_recipe_load(&r, path, &err)) {
        eg_run_opts o = {.seed = 1, .threads = 1, .data = at("no-data-here"), .out = stderr};
        st = eg_recipe_run(&r, &o, &err);
        expect("missing data folder", st, &err, EG_ERR_IO, "no-data-here", "hint", "fetch_mnist.sh", NULL);
    }
}

/* Reports are written atomically: all or nothing, and no temporary left. */
static void test_json(void)
{
    eg_error err = {0};
    const char *doc = "{\"ok\": 1}\n";
    const char *missing = at("no-folder/report.json");
    eg_status st = eg_write_atomic(missing, doc, strlen(doc), &err);
    expect("report in a missing folder", st, &err, EG_ERR_IO, missing, "No such file or directory", NULL);
    CHECK(access(at("no-folder"), F_OK) != 0, "the missing folder was created");

    const char *good = at("report.json");
    st = eg_write_atomic(good, doc, strlen(doc), &err);
    CHECK(st == EG_OK, "report: %s", err.msg);
    if (!st) {
        good = remember(good);
        char back[64] = "";
        FILE *f = fopen(good, "rb");
        size_t n = f ? fread(back, 1, sizeof back - 1, f) : 0;
        if (f) fclose(f);
        CHECK(n == strlen(doc) && !memcmp(back, doc, n), "report holds '%s'", back);
    }
    /* a folder where the file should go: rename fails, the temporary goes */
    const char *dir = at("a-folder");
    CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    st = eg_write_atomic(dir, doc, strlen(doc), &err);
    CHECK(st == EG_ERR_IO && strstr(err.msg, "nothing was replaced"), "report over a folder: %d %s", st, err.msg);
    CHECK(rmdir(dir) == 0, "%s is not empty: the temporary was left behind", dir);
    /* cleanup() fails if anything else (a *.tmp.*) is left in tmpdir */

    /* eg_recipe_run looks at --json before loading the data */
    const char *path = write_text("recipe-json", MODEL "eval batch=10\n");
    eg_recipe r;
    if (!eg_recipe_load(&r, path, &err)) {
        eg_run_opts o = {.seed = 1, .threads = 1, .data = at("no-data-here"), .json = missing, .out = stderr};
        st = eg_recipe_run(&r, &o, &err);
        expect("--json in a missing folder", st, &err, EG_ERR_IO, "--json", missing, "No such file or directory", NULL);
        o.json = tmpdir;
        st = eg_recipe_run(&r, &o, &err);
        expect("--json naming a folder", st, &err, EG_ERR_IO, tmpdir, "expected a file name, found a folder", NULL);
        o.json = "";
        st = eg_recipe_run(&r, &o, &err);
        expect("--json ''", st, &err, EG_ERR_IO, "expected a file name, found an empty string", NULL);
    }
}

static void cleanup(void)
{
    for (int i = nmade - 1; i >= 0; i--) {
        CHECK(remove(made[i]) == 0, "cannot remove %s", made[i]);
        free(made[i]);
    }
    CHECK(rmdir(tmpdir) == 0, "cannot remove %s (a file the test did not expect is left in it)", tmpdir);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_idx();
    test_idx_claims();
    test_data_vs_model();
    test_spec();
    test_recipe();
    test_json();
    cleanup();
    return check_report("bad_input");
}
