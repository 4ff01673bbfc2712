/* libFuzzer harness for the IDX reader (eg_dataset_load_idx, src/data/idx.c)
 * through real files. The first input byte picks the role of the rest:
 * even, it is the image file, read with a valid label file of as many
 * labels as its header claims (1 if that is over 65536 or not there); odd,
 * it is the label file, read with a valid file of as many 2x2 images. The
 * rest is written as it is (raw IDX, or gzip bytes when the seed is one),
 * or, built with -DEG_FUZZ_GZ, gzip-compressed first at a level the first
 * byte gives, so that mutations of the IDX content reach the reader through
 * a valid gzip stream. Whatever the bytes, the reader gives a data set that
 * holds exactly what the files say, or an error naming one of the files and
 * leaving nothing behind; ASan and UBSan report what goes wrong in between. */
#include "fuzz_file.h"

#include <string.h>
#include <zlib.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* A valid companion: n labels 0..9 in turn, or n 2x2 images. */
static size_t companion(uint8_t *b, int labels, uint32_t n)
{
    size_t hdr = labels ? 8 : 16, len = hdr + (size_t)n * (labels ? 1 : 4);
    put32(b, labels ? 0x801 : 0x803);
    put32(b + 4, n);
    if (!labels) put32(b + 8, 2), put32(b + 12, 2);
    for (size_t i = hdr; i < len; i++) b[i] = (uint8_t)((i - hdr) % 10);
    return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int labels_fuzzed = data[0] & 1;
    const uint8_t *file = data + 1;
    size_t n = size - 1;
#ifdef EG_FUZZ_GZ
    uLongf zl = compressBound(n) + 32;
    uint8_t *z = malloc(zl);
    z_stream zs = {0};
    if (!z || deflateInit2(&zs, (data[0] >> 1) % 10, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    zs.next_in = (uint8_t *)file, zs.avail_in = (uInt)n, zs.next_out = z, zs.avail_out = (uInt)zl;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) abort();
    n = zs.total_out;
    deflateEnd(&zs);
    file = z;
#endif
    /* the count the fuzzed header claims (when it is raw IDX before any gzip) */
    const uint8_t *h = data + 1;
    uint32_t count = size >= 9 ? (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7] : 1;
    if (count == 0 || count > 65536) count = 1;
    uint8_t *other = malloc(16 + 4 * (size_t)count);
    if (!other) abort();
    size_t ol = companion(other, !labels_fuzzed, count);
    const char *fuzzed = fuzz_file(0, file, n), *valid = fuzz_file(1, other, ol);
    eg_dataset ds;
    eg_error err = {0};
    eg_status st = labels_fuzzed ? eg_dataset_load_idx(&ds, valid, fuzzed, 0.5f, 0.25f, &err)
                                 : eg_dataset_load_idx(&ds, fuzzed, valid, 0.5f, 0.25f, &err);
    if (st) {
        if (ds.x || ds.y || ds.n) abort();  /* a failed load leaves nothing */
        if (st != EG_ERR_NOMEM && strncmp(err.msg, "/proc/self/fd/", 14)) {
            fprintf(stderr, "status %d: the message does not start with the file: %s\n", st, err.msg);
            abort();
        }
    } else {
        /* bytes (IDX type 0x08) normalised: (0 - 0.5) / 0.25 .. (1 - 0.5) / 0.25;
         * float32 (0x0d): any finite value */
        size_t pix = (size_t)ds.n * ds.c * ds.h * ds.w;
        int bytes = labels_fuzzed || (size >= 4 && h[2] == 0x08);
        if (ds.n < 1 || ds.c < 1 || ds.h < 1 || ds.w < 1 || !ds.x || !ds.y) abort();
        for (size_t i = 0; i < pix; i++)
            if (bytes ? !(ds.x[i] >= -2.0f && ds.x[i] <= 2.0f) : !(ds.x[i] - ds.x[i] == 0)) abort();
        if (labels_fuzzed ? ds.h != 2 || ds.w != 2 : ds.y[ds.n - 1] != (ds.n - 1) % 10) abort();
        eg_dataset_free(&ds);
    }
    free(other);
#ifdef EG_FUZZ_GZ
    free(z);
#endif
    return 0;
}
