/* IDX files (the MNIST format), raw or gzip, validated before any byte is trusted. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

/* deflate inflates at most 1032-fold, so a gzip file of n bytes holds at
 * most that many bytes of data */
#define GZIP_MAX_RATIO 1032

/* Reads up to want bytes from f into buf (*got of them); a stream that is
 * corrupt or cut short is an error. done: bytes of data read before, for
 * messages. */
static eg_status gz_fill(gzFile f, const char *path, uint8_t *buf, size_t want, size_t done, size_t *got,
                         eg_error *err)
{
    *got = 0;
    while (*got < want) {
        size_t left = want - *got;
        int n = gzread(f, buf + *got, (unsigned)(left > (1u << 30) ? 1u << 30 : left));
        int zerr = Z_OK;
        const char *m = n <= 0 ? gzerror(f, &zerr) : "";
        /* zlib reports a gzip stream cut short (even one missing only its
         * CRC trailer) as end of file with Z_BUF_ERROR, not as an error. */
        if (n < 0 || zerr == Z_BUF_ERROR) {
            size_t pl = strlen(path);  /* zlib's message repeats the path */
            if (!strncmp(m, path, pl) && !strncmp(m + pl, ": ", 2)) m += pl + 2;
            return eg_fail(err, zerr == Z_ERRNO ? EG_ERR_IO : EG_ERR_FORMAT, "%s: %s after %zu bytes of data: %s", path,
                           zerr == Z_ERRNO ? "read failed"
                           : zerr == Z_BUF_ERROR ? "truncated gzip stream"
                                                 : "corrupt gzip stream",
                           done + *got, m);
        }
        if (n == 0) break;
        *got += (size_t)n;
    }
    return EG_OK;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What an IDX file holds: its dimensions and whether its values are
 * unsigned bytes (type 0x08) or big-endian float32 (type 0x0d). */
typedef struct {
    int ndims, floats;
    uint32_t dims[4];
} idx_kind;

/* Checks the magic number of an IDX file that may have lo to hi dimensions,
 * of unsigned bytes or (floats_ok) float32 (the first len bytes of the file
 * in b), and sets k's type and rank. */
static eg_status check_magic(const char *path, const uint8_t *b, size_t len, int lo, int hi, int floats_ok, idx_kind *k,
                             eg_error *err)
{
    if (len < 4)
        return eg_fail(err, EG_ERR_FORMAT, "%s: %zu bytes, expected at least a 4-byte IDX magic number",
                       path, len);
    uint32_t magic = be32(b), type = magic >> 8, nd = magic & 0xff;
    if ((type != 0x08 && (type != 0x0d || !floats_ok)) || (int)nd < lo || (int)nd > hi) {
        char want[96];
        if (lo == hi && !floats_ok) snprintf(want, sizeof want, "0x%08x (unsigned bytes, %d dimension%s)", 0x800u | lo, lo,
                                             lo == 1 ? "" : "s");
        else snprintf(want, sizeof want, "0x0000080N or 0x00000d0N, N from %d to %d (unsigned bytes or float32 in N "
                      "dimensions)", lo, hi);
        return eg_fail(err, EG_ERR_FORMAT, "%s: byte 0: expected IDX magic %s, found 0x%08x", path, want, magic);
    }
    k->ndims = (int)nd, k->floats = type == 0x0d;
    return EG_OK;
}

/* Checks the header of an IDX file of k's rank and type (the first len
 * bytes of the file in b), sets its dimensions and *total, the payload's
 * bytes they need. */
static eg_status check_header(const char *path, const uint8_t *b, size_t len, idx_kind *k, uint64_t *total,
                              eg_error *err)
{
    int ndims = k->ndims;
    uint32_t *dims = k->dims;
    size_t hdr = 4 + 4 * (size_t)ndims;
    if (len < hdr)
        return eg_fail(err, EG_ERR_FORMAT, "%s: truncated header: %zu bytes, expected %zu", path, len, hdr);
    *total = k->floats ? 4 : 1;
    for (int i = 0; i < ndims; i++) {
        dims[i] = be32(b + 4 + 4 * i);
        if (dims[i] == 0)
            return eg_fail(err, EG_ERR_FORMAT, "%s: byte %d: dimension %d is 0", path, 4 + 4 * i, i);
        *total *= dims[i];
        if (*total > (1ull << 36))
            return eg_fail(err, EG_ERR_FORMAT, "%s: dimensions too large (over 2^36 bytes)", path);
    }
    return EG_OK;
}

static eg_status payload_size_error(const char *path, size_t hdr, size_t have, uint64_t total, eg_error *err)
{
    return eg_fail(err, EG_ERR_FORMAT,
                   "%s: %s: payload is %zu bytes, the header's dimensions need %llu (byte offset %zu)", path,
                   have < total ? "truncated" : "trailing data", have, (unsigned long long)total,
                   hdr + (have < total ? have : (size_t)total));
}

/* Reads an IDX file, raw or gzip, into *payload (malloc'ed; the bytes after
 * the header). The header's claim is checked before the payload is read:
 * against the file's size when raw, against the most a gzip file of that
 * size can inflate to otherwise; and a gzip stream is inflated no further
 * than the claim (and one byte, to see that it ends there), into a buffer
 * that grows with what arrives, so a small file that inflates without end
 * costs no more memory than its header claims. */
static eg_status read_idx(const char *path, int lo, int hi, int floats_ok, idx_kind *k, uint8_t **payload,
                          eg_error *err)
{
    *payload = NULL;
    int fd;
    size_t fsize;
    eg_status st = eg_open_regular(path, "IDX file", &fd, &fsize, err);
    if (st) return st;
    gzFile f = gzdopen(fd, "rb");  /* zlib passes raw files through unchanged */
    if (!f) {
        close(fd);
        return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory", path);
    }
    uint8_t head[20], *buf = NULL, extra;
    size_t hdr = 4, got = 0, have = 0;
    uint64_t total = 0;
    st = gz_fill(f, path, head, 4, 0, &got, err);
    if (!st) st = check_magic(path, head, got, lo, hi, floats_ok, k, err);
    if (!st) {
        hdr = 4 + 4 * (size_t)k->ndims;
        st = gz_fill(f, path, head + 4, hdr - 4, 4, &got, err);
        got += 4;
    }
    if (!st) st = check_header(path, head, got, k, &total, err);
    int raw = gzdirect(f);
    if (!st && raw && fsize - hdr != total) st = payload_size_error(path, hdr, fsize - hdr, total, err);
    if (!st && !raw && hdr + total > (uint64_t)GZIP_MAX_RATIO * fsize)
        st = eg_fail(err, EG_ERR_FORMAT,
                     "%s: the header's dimensions need %llu bytes of pixels; a gzip file of %zu bytes holds at most %llu",
                     path, (unsigned long long)total, fsize, (unsigned long long)GZIP_MAX_RATIO * fsize);
    for (size_t cap = 0; !st && have < total;) {
        if (have == cap) {
            size_t next = raw ? (size_t)total : cap ? 2 * cap : (size_t)1 << 20;
            cap = next < total ? next : (size_t)total;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) st = eg_fail(err, EG_ERR_NOMEM, "%s: out of memory after %zu bytes", path, hdr + have);
            else buf = nb;
            if (st) break;
        }
        size_t want = cap - have;
        st = gz_fill(f, path, buf + have, want, hdr + have, &got, err);
        have += got;
        if (!st && got < want) st = payload_size_error(path, hdr, have, total, err);
    }
    if (!st) st = gz_fill(f, path, &extra, 1, hdr + have, &got, err);
    if (!st && got)
        st = eg_fail(err, EG_ERR_FORMAT, "%s: trailing data: the data goes on past the %llu bytes of payload the "
                     "header's dimensions need (byte offset %zu)", path, (unsigned long long)total, hdr + have);
    gzclose(f);
    if (st) free(buf);
    else *payload = buf;
    return st;
}

/* The value of sample value i: a pixel scaled to [0, 1], or a float as it is. */
static float idx_value(const idx_kind *k, const uint8_t *p, size_t i)
{
    if (!k->floats) return (float)p[i] / 255.0f;
    uint32_t u = be32(p + 4 * i);
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

eg_status eg_dataset_load_idx(eg_dataset *ds, const char *images_path, const char *labels_path,
                              float mean, float std, eg_error *err)
{
    memset(ds, 0, sizeof *ds);
    uint8_t *ib = NULL, *lb = NULL;
    idx_kind ik = {0}, lk = {0};
    eg_status st = read_idx(images_path, 2, 4, 1, &ik, &ib, err);
    if (!st) st = read_idx(labels_path, 1, 1, 0, &lk, &lb, err);
    uint32_t n = ik.dims[0];
    if (!st && n != lk.dims[0])
        st = eg_fail(err, EG_ERR_FORMAT, "%s holds %u images but %s holds %u labels", images_path, n, labels_path,
                     lk.dims[0]);
    if (!st && n > (1u << 30))
        st = eg_fail(err, EG_ERR_FORMAT, "%s: %u images is more than this reader takes", images_path, n);
    /* N x F: F features; N x H x W: one channel; N x C x H x W (2 to 4 dimensions once read) */
    uint32_t c = 1, h = 1, w = 1;
    if (!st && ik.ndims >= 3) c = ik.ndims == 4 ? ik.dims[1] : 1, h = ik.dims[ik.ndims - 2], w = ik.dims[ik.ndims - 1];
    else if (!st) c = ik.dims[1];
    if (!st && ((uint64_t)c * h * w > (1u << 28) || c > (1u << 20) || h > (1u << 20) || w > (1u << 20)))
        st = eg_fail(err, EG_ERR_FORMAT, "%s: samples of %ux%ux%u are larger than this reader takes", images_path, c, h, w);
    if (!st) {
        ds->n = (int)n, ds->c = (int)c, ds->h = (int)h, ds->w = (int)w;
        size_t pix = (size_t)n * c * h * w;
        ds->x = malloc(pix * sizeof *ds->x);
        ds->y = malloc((size_t)ds->n);
        if (!ds->x || !ds->y) {
            st = eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for %zu values", images_path, pix);
        } else {
            /* bytes: the same float32 operations as ToTensor + Normalize */
            for (size_t i = 0; i < pix && !st; i++) {
                float v = idx_value(&ik, ib, i);
                ds->x[i] = (v - mean) / std;
                if (!isfinite(ds->x[i]))  /* not finite, or so large that normalising it overflows */
                    st = eg_fail(err, EG_ERR_FORMAT, "%s: byte %zu: value %zu is %g; expected a finite float%s", images_path,
                                 4 + 4 * (size_t)ik.ndims + 4 * i, i, v, isfinite(v) ? " that (x - mean) / std keeps finite" : "");
            }
            memcpy(ds->y, lb, (size_t)ds->n);
            snprintf(ds->images_path, sizeof ds->images_path, "%s", images_path);
            snprintf(ds->labels_path, sizeof ds->labels_path, "%s", labels_path);
        }
    }
    free(ib);
    free(lb);
    if (st) eg_dataset_free(ds);
    return st;
}

eg_status eg_dataset_load_dir(eg_dataset *ds, const char *dir, const char *prefix, float mean,
                              float std, eg_error *err)
{
    memset(ds, 0, sizeof *ds);
    static const char hint[] = "hint: fetch MNIST with scripts/fetch_mnist.sh or pass --data DIR";
    char why[4200];
    struct stat sb;
    if (stat(dir, &sb))
        return eg_fail(err, EG_ERR_IO, "%s: cannot open the data folder: %s; %s", dir,
                       errno == ENOENT ? "no such folder" : eg_path_why(dir, errno, why, sizeof why), hint);
    if (!S_ISDIR(sb.st_mode))
        return eg_fail(err, EG_ERR_IO, "%s: cannot open the data folder: it is not a folder; %s", dir, hint);
    if (access(dir, X_OK))
        return eg_fail(err, EG_ERR_IO, "%s: cannot open the data folder: %s", dir, eg_path_why(dir, errno, why, sizeof why));
    char img[4096], lab[4096];
    /* the images under the first of these names there is (MNIST's first),
     * raw if there is anything by that name (what it is, the reader says),
     * else .gz */
    static const char *const images[] = {"images-idx3-ubyte", "images-idx4-ubyte", "images-idx2-ubyte",
                                         "images-idx3-float", "images-idx4-float", "images-idx2-float"};
    int found = 0;
    for (size_t k = 0; k < sizeof images / sizeof *images && !found; k++)
        for (int gz = 0; gz < 2 && !found; gz++) {
            snprintf(img, sizeof img, "%s/%s-%s%s", dir, prefix, images[k], gz ? ".gz" : "");
            found = !lstat(img, &sb);
        }
    if (!found)
        return eg_fail(err, EG_ERR_IO, "%s: no %s-images-idx3-ubyte (raw or .gz), nor idx2, idx4 or -float ones; %s",
                       dir, prefix, hint);
    snprintf(lab, sizeof lab, "%s/%s-labels-idx1-ubyte", dir, prefix);
    if (lstat(lab, &sb)) {
        snprintf(lab, sizeof lab, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
        if (lstat(lab, &sb))
            return eg_fail(err, EG_ERR_IO, "%s: no %s-labels-idx1-ubyte (raw or .gz); %s", dir, prefix, hint);
    }
    return eg_dataset_load_idx(ds, img, lab, mean, std, err);
}

eg_status eg_dataset_hold_out(eg_dataset *ds, int n, uint64_t seed, eg_dataset *held, eg_error *err)
{
    memset(held, 0, sizeof *held);
    if (n < 1 || n >= ds->n)
        return eg_fail(err, EG_ERR_ARG, "%s: holding out %d of its %d images; expected 1 to %d", ds->images_path, n, ds->n,
                       ds->n - 1);
    size_t per = (size_t)ds->c * ds->h * ds->w;
    int32_t *order = malloc((size_t)ds->n * sizeof *order);
    char *out = calloc((size_t)ds->n, 1);
    *held = *ds;
    held->n = n;
    held->x = malloc((size_t)n * per * sizeof *held->x);
    held->y = malloc((size_t)n);
    if (!order || !out || !held->x || !held->y) {
        free(order), free(out), free(held->x), free(held->y);
        memset(held, 0, sizeof *held);
        return eg_fail(err, EG_ERR_NOMEM, "out of memory holding out %d images", n);
    }
    eg_rng r;
    eg_rng_seed(&r, seed);
    for (int i = 0; i < ds->n; i++) order[i] = i;
    eg_rng_shuffle(&r, order, ds->n);
    for (int i = 0; i < n; i++) out[order[i]] = 1;
    int a = 0, b = 0;  /* both in the set's order */
    for (int i = 0; i < ds->n; i++) {
        eg_dataset *to = out[i] ? held : ds;
        int at = out[i] ? b++ : a++;
        memmove(to->x + (size_t)at * per, ds->x + (size_t)i * per, per * sizeof *ds->x);
        to->y[at] = ds->y[i];
    }
    ds->n = a;
    free(order), free(out);
    return EG_OK;
}

void eg_dataset_normalize(eg_dataset *ds, const float *mean, const float *std)
{
    size_t plane = (size_t)ds->h * ds->w;
    for (size_t i = 0; i < (size_t)ds->n * ds->c; i++) {
        int c = (int)(i % (size_t)ds->c);
        float *x = ds->x + i * plane;
        for (size_t k = 0; k < plane; k++) x[k] = (x[k] - mean[c]) / std[c];
    }
}

void eg_dataset_channel_stats(const eg_dataset *ds, float *mean, float *std)
{
    size_t plane = (size_t)ds->h * ds->w;
    for (int c = 0; c < ds->c; c++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < ds->n; i++) {
            const float *x = ds->x + ((size_t)i * ds->c + c) * plane;
            for (size_t k = 0; k < plane; k++) s += x[k], s2 += (double)x[k] * x[k];
        }
        double n = (double)ds->n * plane, m = n ? s / n : 0, v = n ? s2 / n - m * m : 0;
        mean[c] = (float)m;
        std[c] = v > 1e-12 ? (float)sqrt(v) : 1.0f;
    }
}

void eg_dataset_free(eg_dataset *ds)
{
    free(ds->x);
    free(ds->y);
    memset(ds, 0, sizeof *ds);
}
