/* IDX files (the MNIST format), raw or gzip, validated before any byte is trusted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "edagari.h"

/* Reads a whole file through zlib, which passes raw files through unchanged. */
static eg_status read_all(const char *path, uint8_t **out, size_t *len, eg_error *err)
{
    gzFile f = gzopen(path, "rb");
    if (!f) return eg_fail(err, EG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            gzclose(f);
            return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory after %zu bytes", path, n);
        }
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) free(buf);
            buf = nb;
            cap *= 2;
            continue;
        }
        int want = (int)(cap - n > (1u << 30) ? (1u << 30) : cap - n);
        int got = gzread(f, buf + n, (unsigned)want);
        int zerr = Z_OK;
        const char *m = got <= 0 ? gzerror(f, &zerr) : "";
        /* zlib reports a gzip stream cut short (even one missing only its
         * CRC trailer) as end of file with Z_BUF_ERROR, not as an error. */
        if (got < 0 || zerr == Z_BUF_ERROR) {
            size_t pl = strlen(path);  /* zlib's message repeats the path */
            if (!strncmp(m, path, pl) && !strncmp(m + pl, ": ", 2)) m += pl + 2;
            eg_status st = eg_fail(err, zerr == Z_ERRNO ? EG_ERR_IO : EG_ERR_FORMAT,
                                   "%s: %s after %zu bytes of data: %s", path,
                                   zerr == Z_ERRNO ? "read failed"
                                   : zerr == Z_BUF_ERROR ? "truncated gzip stream"
                                                         : "corrupt gzip stream",
                                   n, m);
            free(buf);
            gzclose(f);
            return st;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    gzclose(f);
    *out = buf;
    *len = n;
    return EG_OK;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the header of an unsigned-byte IDX file with `ndims` dimensions and
 * that the payload holds exactly the product of the dimensions. */
static eg_status check_idx(const char *path, const uint8_t *b, size_t len, int ndims, uint32_t *dims,
                           eg_error *err)
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
    uint64_t total = 1;
    for (int i = 0; i < ndims; i++) {
        dims[i] = be32(b + 4 + 4 * i);
        if (dims[i] == 0)
            return eg_fail(err, EG_ERR_FORMAT, "%s: byte %d: dimension %d is 0", path, 4 + 4 * i, i);
        total *= dims[i];
        if (total > (1ull << 36))
            return eg_fail(err, EG_ERR_FORMAT, "%s: dimensions too large (over 2^36 bytes)", path);
    }
    if (len - hdr != total)
        return eg_fail(err, EG_ERR_FORMAT,
                       "%s: %s: payload is %zu bytes, the header's dimensions need %llu (byte offset %zu)",
                       path, len - hdr < total ? "truncated" : "trailing data", len - hdr,
                       (unsigned long long)total, len < hdr + total ? len : hdr + (size_t)total);
    return EG_OK;
}

eg_status eg_dataset_load_idx(eg_dataset *ds, const char *images_path, const char *labels_path,
                              float mean, float std, eg_error *err)
{
    memset(ds, 0, sizeof *ds);
    uint8_t *ib = NULL, *lb = NULL;
    size_t il = 0, ll = 0;
    uint32_t idims[3] = {0}, ldims[1] = {0};
    eg_status st = read_all(images_path, &ib, &il, err);
    if (!st) st = check_idx(images_path, ib, il, 3, idims, err);
    if (!st) st = read_all(labels_path, &lb, &ll, err);
    if (!st) st = check_idx(labels_path, lb, ll, 1, ldims, err);
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
            const uint8_t *p = ib + 16;
            for (size_t i = 0; i < pix; i++) ds->x[i] = ((float)p[i] / 255.0f - mean) / std;
            memcpy(ds->y, lb + 8, (size_t)ds->n);
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
    char img[4096], lab[4096];
    const char *kind[2] = {"images-idx3-ubyte", "labels-idx1-ubyte"};
    char *path[2] = {img, lab};
    for (int i = 0; i < 2; i++) {
        snprintf(path[i], 4096, "%s/%s-%s", dir, prefix, kind[i]);
        FILE *f = fopen(path[i], "rb");
        if (f) {
            fclose(f);
            continue;
        }
        snprintf(path[i], 4096, "%s/%s-%s.gz", dir, prefix, kind[i]);
        f = fopen(path[i], "rb");
        if (!f)
            return eg_fail(err, EG_ERR_IO,
                           "%s: no %s-%s (raw or .gz); hint: fetch MNIST with scripts/fetch_mnist.sh "
                           "or pass --data DIR",
                           dir, prefix, kind[i]);
        fclose(f);
    }
    return eg_dataset_load_idx(ds, img, lab, mean, std, err);
}

void eg_dataset_free(eg_dataset *ds)
{
    free(ds->x);
    free(ds->y);
    memset(ds, 0, sizeof *ds);
}
