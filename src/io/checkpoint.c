/* Checkpoints: a model file (src/io/model_file.c) with two more sections,
 * the optimizer's state and the data position, so a train stage resumes
 * exactly where it stopped. Both sections are little-endian and fixed-width:
 *
 *   6  optimizer (56-byte header, then the buffers)
 *     0   4  type: 0 SGD, 1 Adam
 *     4   4  flags: bit 0 Nesterov (SGD)
 *     8  24  lr, momentum, weight_decay, beta1, beta2, eps (f32 each)
 *    32   8  step: optimizer steps taken (0..2^62)
 *    40   8  n: parameters, equal to the params section's
 *    48   4  buffers: 1 for SGD (momentum), 2 for Adam (first, second moment)
 *    52   4  reserved (0)
 *    56      buffers x n f32, each laid out as the parameter block (node
 *            order, weight then bias); 0 where a parameter is masked, and
 *            Adam's second moment never negative
 *   7  position (104-byte header, then the stage text)
 *     0   4  epoch in progress (0-based, below epochs)
 *     4   4  epochs of the stage
 *     8   4  batches of that epoch done (0..batches)
 *    12   4  batches per epoch (1..samples)
 *    16   4  threads it ran with (1..1024)
 *    20  16  the training set: samples, channels, height, width (each >= 1)
 *    36   4  crc32 of its images (float32, little-endian, as normalised)
 *    40   4  crc32 of its labels
 *    44   4  length of the stage text (0..511)
 *    48   8  seed of the run
 *    56  32  the generator's state (4 x u64, not all 0) as the epoch began,
 *            before its shuffle
 *    88   8  the epoch's batch losses so far, summed (f64)
 *    96   8  their penalty terms, summed (f64)
 *   104      the stage text: printable bytes, the train stage's settings
 *
 * A file holds both sections or neither. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"
#include "io/le.h"

enum { OPTIM_HEADER = 56, POSITION_HEADER = 104 };

static void setf(uint8_t *p, float f) { le_set32(p, le_f2u(f)); }
static float getf(const uint8_t *p) { return le_u2f(le_get32(p)); }

static void setd(uint8_t *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    le_set64(p, u);
}

static double getd(const uint8_t *p)
{
    uint64_t u = le_get64(p);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static eg_status bad(const char *path, size_t at, eg_error *err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static eg_status bad(const char *path, size_t at, eg_error *err, const char *fmt, ...)
{
    char m[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return eg_fail(err, EG_ERR_FORMAT, "%s: byte %zu: %s", path, at, m);
}

uint8_t *eg_ckpt_encode_optim(const eg_optim *o, size_t *len)
{
    size_t nbuf = o->type == EG_OPTIM_ADAM ? 2 : 1;
    *len = OPTIM_HEADER + 4 * nbuf * o->n;
    uint8_t *b = calloc(*len, 1);
    if (!b) return NULL;
    le_set32(b, o->type == EG_OPTIM_ADAM);
    le_set32(b + 4, o->nesterov ? 1 : 0);
    const float hp[6] = {o->lr, o->momentum, o->weight_decay, o->beta1, o->beta2, o->eps};
    for (int k = 0; k < 6; k++) setf(b + 8 + 4 * k, hp[k]);
    le_set64(b + 32, (uint64_t)o->step);
    le_set64(b + 40, o->n);
    le_set32(b + 48, (uint32_t)nbuf);
    for (size_t k = 0; k < o->n; k++) setf(b + OPTIM_HEADER + 4 * k, o->m ? o->m[k] : 0.0f);
    for (size_t k = 0; nbuf == 2 && k < o->n; k++) setf(b + OPTIM_HEADER + 4 * (o->n + k), o->v ? o->v[k] : 0.0f);
    return b;
}

uint8_t *eg_ckpt_encode_position(const eg_train_position *p, size_t *len)
{
    size_t tl = strnlen(p->stage, EG_STAGE_TEXT_MAX - 1);
    *len = POSITION_HEADER + tl;
    uint8_t *b = calloc(*len, 1);
    if (!b) return NULL;
    const int v[9] = {p->epoch, p->epochs, p->batch, p->batches, p->threads, p->samples, p->c, p->h, p->w};
    for (int k = 0; k < 9; k++) le_set32(b + 4 * k, (uint32_t)v[k]);
    le_set32(b + 36, p->images_crc);
    le_set32(b + 40, p->labels_crc);
    le_set32(b + 44, (uint32_t)tl);
    le_set64(b + 48, p->seed);
    for (int k = 0; k < 4; k++) le_set64(b + 56 + 8 * k, p->rng.s[k]);
    setd(b + 88, p->loss_sum);
    setd(b + 96, p->penalty_sum);
    memcpy(b + POSITION_HEADER, p->stage, tl);
    return b;
}

eg_status eg_ckpt_read_optim(const char *path, const uint8_t *b, size_t off, size_t len, const eg_graph *g,
                             eg_optim *o, eg_error *err)
{
    memset(o, 0, sizeof *o);
    if (len < OPTIM_HEADER)
        return bad(path, off, err, "optimizer: %zu bytes; expected at least its %d-byte header", len, OPTIM_HEADER);
    const uint8_t *s = b + off;
    uint32_t type = le_get32(s), flags = le_get32(s + 4), nbuf = le_get32(s + 48);
    uint64_t step = le_get64(s + 32), n = le_get64(s + 40);
    if (type > 1) return bad(path, off, err, "optimizer: type: expected 0 (sgd) or 1 (adam), found %u", type);
    if (flags & ~1u) return bad(path, off + 4, err, "optimizer: flags: expected 0 or 1 (nesterov), found 0x%x", flags);
    static const char *const hp_names[6] = {"lr", "momentum", "weight_decay", "beta1", "beta2", "eps"};
    float hp[6];
    for (int k = 0; k < 6; k++) {
        hp[k] = getf(s + 8 + 4 * k);
        int ok = isfinite(hp[k]) && hp[k] >= 0 && (k < 3 || k == 5 || hp[k] < 1);
        if (!ok)
            return bad(path, off + 8 + 4 * (size_t)k, err, "optimizer: %s is %g; expected a finite number >= 0%s",
                       hp_names[k], hp[k], k == 3 || k == 4 ? " and below 1" : "");
    }
    if (step > ((uint64_t)1 << 62))
        return bad(path, off + 32, err, "optimizer: step %llu; expected at most 2^62", (unsigned long long)step);
    if (n != g->nparam)
        return bad(path, off + 40, err, "optimizer: state for %llu parameters; the model has %zu",
                   (unsigned long long)n, g->nparam);
    uint32_t want = type == 1 ? 2 : 1;
    if (nbuf != want)
        return bad(path, off + 48, err, "optimizer: %u buffers; expected %u for %s", nbuf, want, type ? "adam" : "sgd");
    if (le_get32(s + 52)) return bad(path, off + 52, err, "optimizer: reserved field: expected 0, found %u", le_get32(s + 52));
    /* n <= g->nparam, which fits in memory, so 8 * n cannot overflow */
    uint64_t need = OPTIM_HEADER + 4 * (uint64_t)nbuf * n;
    if (len != need)
        return bad(path, off, err, "optimizer: %zu bytes; expected %llu (the header and %u x %llu values)", len,
                   (unsigned long long)need, nbuf, (unsigned long long)n);
    eg_optim_init(o, type ? EG_OPTIM_ADAM : EG_OPTIM_SGD, hp[0]);
    o->nesterov = (int)(flags & 1);
    o->momentum = hp[1], o->weight_decay = hp[2], o->beta1 = hp[3], o->beta2 = hp[4], o->eps = hp[5];
    if (eg_optim_bind(o, g->nparam)) {
        eg_optim_free(o);
        return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for the optimizer state", path);
    }
    o->step = (long)step;
    for (uint32_t q = 0; q < nbuf; q++) {
        float *dst = q ? o->v : o->m;
        size_t at = off + OPTIM_HEADER + 4 * (size_t)q * g->nparam;
        for (size_t k = 0; k < g->nparam; k++) {
            float x = dst[k] = getf(b + at + 4 * k);
            if (!isfinite(x)) {  /* a resume would train on nan from its first step */
                eg_optim_free(o);
                return bad(path, at + 4 * k, err, "optimizer: %s %zu is %g; expected a finite value",
                           q ? "second moment" : type ? "first moment" : "momentum", k, x);
            }
            if (q == 1 && x < 0) {
                eg_optim_free(o);
                return bad(path, at + 4 * k, err, "optimizer: second moment %zu is %g; expected a value >= 0", k, x);
            }
            if (g->masks && g->masks[k] == 0 && x != 0) {
                eg_optim_free(o);
                return bad(path, at + 4 * k, err, "optimizer: %s %zu is %g where the parameter is masked; expected 0",
                           q ? "second moment" : type ? "first moment" : "momentum", k, x);
            }
        }
    }
    return EG_OK;
}

eg_status eg_ckpt_read_position(const char *path, const uint8_t *b, size_t off, size_t len, eg_train_position *p,
                                eg_error *err)
{
    memset(p, 0, sizeof *p);
    if (len < POSITION_HEADER)
        return bad(path, off, err, "position: %zu bytes; expected at least its %d-byte header", len, POSITION_HEADER);
    const uint8_t *s = b + off;
    static const char *const names[9] = {"epoch", "epochs", "batch", "batches", "threads", "samples", "channels",
                                         "height", "width"};
    uint32_t v[9];
    for (int k = 0; k < 9; k++) {
        v[k] = le_get32(s + 4 * k);
        uint32_t lo = k == 0 || k == 2 ? 0 : 1, hi = k == 4 ? 1024 : 0x7fffffff;
        if (v[k] < lo || v[k] > hi)
            return bad(path, off + 4 * (size_t)k, err, "position: %s is %u; expected %u to %u", names[k], v[k], lo, hi);
    }
    if (v[0] >= v[1])
        return bad(path, off, err, "position: epoch %u; expected one below the stage's %u epochs", v[0], v[1]);
    if (v[2] > v[3])
        return bad(path, off + 8, err, "position: batch %u; expected at most the epoch's %u batches", v[2], v[3]);
    if (v[3] > v[5])
        return bad(path, off + 12, err, "position: %u batches per epoch; expected at most one per sample (%u)", v[3], v[5]);
    uint32_t tl = le_get32(s + 44);
    if (tl >= EG_STAGE_TEXT_MAX)
        return bad(path, off + 44, err, "position: stage text of %u bytes; expected at most %d", tl, EG_STAGE_TEXT_MAX - 1);
    if (len != POSITION_HEADER + (size_t)tl)
        return bad(path, off, err, "position: %zu bytes; expected %u (the header and the %u-byte stage text)", len,
                   POSITION_HEADER + tl, tl);
    for (uint32_t k = 0; k < tl; k++)
        if (s[POSITION_HEADER + k] < 0x20 || s[POSITION_HEADER + k] == 0x7f)
            return bad(path, off + POSITION_HEADER + k, err, "position: stage text byte 0x%02x; expected printable text",
                       s[POSITION_HEADER + k]);
    uint64_t any = 0;
    for (int k = 0; k < 4; k++) any |= p->rng.s[k] = le_get64(s + 56 + 8 * k);
    if (!any) return bad(path, off + 56, err, "position: the generator's state is all zero; expected a seeded state");
    p->epoch = (int)v[0], p->epochs = (int)v[1], p->batch = (int)v[2], p->batches = (int)v[3], p->threads = (int)v[4];
    p->samples = (int)v[5], p->c = (int)v[6], p->h = (int)v[7], p->w = (int)v[8];
    p->images_crc = le_get32(s + 36);
    p->labels_crc = le_get32(s + 40);
    p->seed = le_get64(s + 48);
    p->loss_sum = getd(s + 88);
    p->penalty_sum = getd(s + 96);
    memcpy(p->stage, s + POSITION_HEADER, tl);
    p->stage[tl] = 0;
    return EG_OK;
}

void eg_train_position_data(eg_train_position *p, const eg_dataset *ds)
{
    p->samples = ds->n, p->c = ds->c, p->h = ds->h, p->w = ds->w;
    size_t nx = (size_t)ds->n * ds->c * ds->h * ds->w;
    /* the floats' bytes in little-endian order, a block at a time */
    uLong crc = crc32_z(0L, Z_NULL, 0);
    uint8_t buf[4096];
    for (size_t k = 0; k < nx;) {
        size_t m = 0;
        for (; m < sizeof buf && k < nx; m += 4, k++) {
            uint32_t u;
            memcpy(&u, &ds->x[k], 4);
            le_set32(buf + m, u);
        }
        crc = crc32_z(crc, buf, m);
    }
    p->images_crc = (uint32_t)crc;
    p->labels_crc = (uint32_t)crc32_z(0L, ds->y, (size_t)ds->n);
}

eg_status eg_checkpoint_save(const eg_graph *g, const eg_optim *o, const eg_train_position *p, const char *path,
                             eg_error *err)
{
    if (o->n != g->nparam)
        return eg_fail(err, EG_ERR_ARG, "%s: cannot save a checkpoint: the optimizer has state for %zu parameters, model %s has %zu",
                       path, o->n, g->name, g->nparam);
    for (int q = 0; q < 2; q++) {
        const float *x = q ? o->v : o->m;
        size_t k = x ? eg_first_nonfinite(x, o->n) : o->n;
        if (k < o->n)
            return eg_fail(err, EG_ERR_NUMERIC, "%s: cannot save a checkpoint: the optimizer's %s %zu is %g", path,
                           q ? "second moment" : o->type == EG_OPTIM_ADAM ? "first moment" : "momentum", k, (double)x[k]);
    }
    return eg_model_save_sections(g, o, p, path, err);
}

eg_status eg_checkpoint_load(eg_graph *g, eg_optim *o, eg_train_position *p, const char *path, eg_error *err)
{
    int has = 0;
    eg_status st = eg_model_load_sections(g, o, p, &has, path, err);
    if (st) return st;
    if (!has) {
        eg_graph_free(g);
        return eg_fail(err, EG_ERR_FORMAT, "%s: a model file without optimizer state or data position (sections 6 and 7): not a checkpoint; write one with --checkpoint FILE --checkpoint-every N",
                       path);
    }
    return EG_OK;
}
