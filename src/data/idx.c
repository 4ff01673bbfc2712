/* IDX files (the MNIST format), raw or gzip, validated before any byte is trusted. */
#include <errno.h>
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

/* Checks the header of an unsigned-byte IDX file with `ndims` dimensions
 * (the first len bytes of the file in b) and sets *total, the payload's
 * bytes the dimensions need. */
static eg_status check_header(const char *path, const uint8_t *b, size_t len, int ndims, uint32_t *dims,
                              uint64_t *total, eg_error *err)
{
    size_t hdr = 4 + 4 * (size_t)ndims;
    if (len < 4)
        return eg_fail(err, EG_ERR_FORMAT, "%s: %zu bytes, expected at least a 4-byte IDX magic number",
                       path, len);
    uint32_t magic = be32(b), want = 0x0800u | (uint32_t)ndims;
    if (magic != want)
        return eg_fail(err, EG_ERR_FORMAT,
                       "%s: byte 0: expected IDX magic 0x%08x (unsigned bytes, %d dimensions), found 0x%08x",
                       path, want, ndims, magic);
    if (len < hdr)
        return eg_fail(err, EG_ERR_FORMAT, "%s: truncated header: %zu bytes, expected %zu", path, len, hdr);
    *total = 1;
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
static eg_status read_idx(const char *path, int ndims, uint32_t *dims, uint8_t **payload, eg_error *err)
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
    uint8_t head[16], *buf = NULL, extra;
    size_t hdr = 4 + 4 * (size_t)ndims, got = 0, have = 0;
    uint64_t total = 0;
    st = gz_fill(f, path, head, hdr, 0, &got, err);
    if (!st) st = check_header(path, head, got, ndims, dims, &total, err);
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

eg_status eg_dataset_load_idx(eg_dataset *ds, const char *images_path, const char *labels_path,
                              float mean, float std, eg_error *err)
{
    memset(ds, 0, sizeof *ds);
    uint8_t *ib = NULL, *lb = NULL;
    uint32_t idims[3] = {0}, ldims[1] = {0};
    eg_status st = read_idx(images_path, 3, idims, &ib, err);
    if (!st) st = read_idx(labels_path, 1, ldims, &lb, err);
    if (!st && idims[0] != ldims[0])
        st = eg_fail(err, EG_ERR_FORMAT, "%s holds %u images but %s holds %u labels", images_path,
                     idims[0], labels_path, ldims[0]);
    if (!st && idims[0] > (1u << 30))
        st = eg_fail(err, EG_ERR_FORMAT, "%s: %u images is more than this reader takes", images_path,
                     idims[0]);
    if (!st) {
        ds->n = (int)idims[0];
        ds->c = 1;
        ds->h = (int)idims[1];
        ds->w = (int)idims[2];
        size_t pix = (size_t)ds->n * ds->h * ds->w;
        ds->x = malloc(pix * sizeof *ds->x);
        ds->y = malloc((size_t)ds->n);
        if (!ds->x || !ds->y) {
            st = eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for %zu pixels", images_path, pix);
        } else {
            /* The same float32 operations as ToTensor + Normalize. */
            for (size_t i = 0; i < pix; i++) ds->x[i] = ((float)ib[i] / 255.0f - mean) / std;
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
    const char *kind[2] = {"images-idx3-ubyte", "labels-idx1-ubyte"};
    char *path[2] = {img, lab};
    for (int i = 0; i < 2; i++) {
        /* raw if there is anything by that name (what it is, the reader
         * says), else .gz */
        snprintf(path[i], 4096, "%s/%s-%s", dir, prefix, kind[i]);
        if (!lstat(path[i], &sb)) continue;
        snprintf(path[i], 4096, "%s/%s-%s.gz", dir, prefix, kind[i]);
        if (lstat(path[i], &sb))
            return eg_fail(err, EG_ERR_IO, "%s: no %s-%s (raw or .gz); %s", dir, prefix, kind[i], hint);
    }
    return eg_dataset_load_idx(ds, img, lab, mean, std, err);
}

void eg_dataset_free(eg_dataset *ds)
{
    free(ds->x);
    free(ds->y);
    memset(ds, 0, sizeof *ds);
}
