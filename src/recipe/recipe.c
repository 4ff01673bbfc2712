/* Recipe files: a model, a data folder and the stages to run, one per line.
 * Strict like the spec parser: unknown stages, keys or values are errors that
 * name the file, line and column. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RFAIL(col, ...)                                                                      \
    do {                                                                                  \
        char m_[768];                                                                     \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                             \
        if (r->from_flags) return eg_fail(err, EG_ERR_RECIPE, "%s: %s", r->path, m_);      \
        return eg_fail(err, EG_ERR_RECIPE, "%s:%d:%d: %s", r->path, line, (col), m_);     \
    } while (0)

static int parse_num(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    /* no "inf", "nan", nor the hexadecimal strtod also reads */
    if (end == v || *end || errno || !isfinite(d) || strpbrk(v, "xX")) return -1;
    *out = d;
    return 0;
}

/* Parses one `key=value` of a stage. */
static eg_status stage_kv(eg_recipe *r, eg_stage *s, int line, int col, const char *key, const char *v,
                          eg_error *err)
{
    double d = 0;
    int isnum = !parse_num(v, &d);
    /* range first: converting a double beyond long is undefined */
    int isint = isnum && fabs(d) <= 1e15 && d == (double)(long)d && !strpbrk(v, ".eE");
    char why[600];
    int more = eg_stage_key_more(s, key, v, why, sizeof why);  /* lsh, layer, protect, floor, agp */
    if (more < 0) RFAIL(col, "%s", why);
    if (more) return EG_OK;
#define NEED_INT(lo)                                                                         \
    if (!isint || d < (lo) || d > 1e9)                                                      \
    RFAIL(col, "%s: expected an integer >= %d, found '%s'", key, (lo), v)
#define NEED_POS()                                                                           \
    if (!isnum || d < 0)                                                                    \
    RFAIL(col, "%s: expected a non-negative number, found '%s'", key, v)
    /* the documented ranges (docs/reliability.md), checked as float32, as
     * they are kept: beyond them training diverges or means nothing */
#define NEED_INT_IN(lo, hi)                                                                  \
    if (!isint || d < (lo) || d > (hi))                                                     \
    RFAIL(col, "%s: expected an integer from %d to %d, found '%s'", key, (lo), (hi), v)
#define NEED_FRACTION()                                                                      \
    if (!isnum || d < 0 || !((float)d < 1))                                                 \
    RFAIL(col, "%s: expected a number from 0 to below 1, found '%s'", key, v)
    if (s->kind == EG_STAGE_TRAIN) {
        if (!strcmp(key, "epochs")) { NEED_INT_IN(0, EG_EPOCHS_MAX); s->epochs = (int)d; return EG_OK; }
        if (!strcmp(key, "batch")) { NEED_INT_IN(1, EG_BATCH_MAX); s->batch = (int)d; return EG_OK; }
        if (!strcmp(key, "lr")) {
            if (!isnum || !((float)d > 0) || d > EG_LR_MAX)
                RFAIL(col, "lr: expected a learning rate above 0 and at most %g, found '%s'", EG_LR_MAX, v);
            s->lr = (float)d;
            return EG_OK;
        }
        if (!strcmp(key, "momentum")) { NEED_FRACTION(); s->momentum = (float)d; return EG_OK; }
        if (!strcmp(key, "weight_decay")) { NEED_FRACTION(); s->weight_decay = (float)d; return EG_OK; }
        /* penalties: a strength must also survive the conversion to float */
        if (!strcmp(key, "l1") || !strcmp(key, "l2") || !strcmp(key, "prox")) {
            NEED_POS();
            if (d > 1e30) RFAIL(col, "%s: expected a penalty strength below 1e30, found '%s'", key, v);
            *(key[0] == 'p' ? &s->prox : key[1] == '1' ? &s->l1 : &s->l2) = (float)d;
            return EG_OK;
        }
        if (!strcmp(key, "penalize")) {
            if (strlen(v) >= sizeof s->penalize)
                RFAIL(col, "penalize: the list is longer than %zu characters", sizeof s->penalize - 1);
            snprintf(s->penalize, sizeof s->penalize, "%s", v);
            return EG_OK;
        }
        if (!strcmp(key, "shuffle")) {
            if (strcmp(v, "yes") && strcmp(v, "no")) RFAIL(col, "shuffle: expected yes or no, found '%s'", v);
            s->shuffle = !strcmp(v, "yes");
            return EG_OK;
        }
        if (!strcmp(key, "checkpoint_every")) { NEED_INT(1); s->checkpoint_every = (long)d; return EG_OK; }
        if (!strcmp(key, "checkpoint")) {
            if (strlen(v) >= sizeof s->checkpoint) RFAIL(col, "checkpoint: the path is longer than %zu characters", sizeof s->checkpoint - 1);
            snprintf(s->checkpoint, sizeof s->checkpoint, "%s", v);
            return EG_OK;
        }
        if (!strcmp(key, "optimizer")) {
            if (!strcmp(v, "adam")) s->optim = EG_OPTIM_ADAM;
            else if (!strcmp(v, "sgd")) s->optim = EG_OPTIM_SGD;
            else RFAIL(col, "optimizer: expected adam or sgd, found '%s'", v);
            return EG_OK;
        }
        RFAIL(col, "train has no key '%s'; expected epochs, optimizer, lr, momentum, weight_decay, batch, shuffle, l1, l2, prox, penalize, checkpoint or checkpoint_every, or agp (agp_initial, agp_start, agp_end, agp_every, agp_scope, agp_layers, protect, floor)", key);
    }
    if (s->kind == EG_STAGE_EVAL) {
        if (!strcmp(key, "batch")) { NEED_INT_IN(1, EG_BATCH_MAX); s->batch = (int)d; return EG_OK; }
        RFAIL(col, "eval has no key '%s'; expected batch", key);
    }
    if (!strcmp(key, "method")) {
        if (!eg_criterion_find(v) && strcmp(v, "magnitude") && strcmp(v, "threshold") && strcmp(v, "taylor") && strcmp(v, "nm"))
            RFAIL(col, "method: expected one of %s (channels), taylor (either), lsh (merging), layer (whole layers), nm (N:M), magnitude or threshold (weights), found '%s'", eg_criterion_names(), v);
        snprintf(s->method, sizeof s->method, "%s", v);
        return EG_OK;
    }
    if (!strcmp(key, "layer")) {
        if (strlen(v) >= EG_NAME_MAX) RFAIL(col, "layer: '%s' is longer than any node name", v);
        snprintf(s->layer, sizeof s->layer, "%s", v);
        return EG_OK;
    }
    if (!strcmp(key, "scope")) {
        if (strcmp(v, "global") && strcmp(v, "local")) RFAIL(col, "scope: expected global or local, found '%s'", v);
        s->local = !strcmp(v, "local");
        return EG_OK;
    }
    if (!strcmp(key, "layers")) {
        if (strlen(v) >= sizeof s->layers) RFAIL(col, "layers: the list is longer than %zu characters", sizeof s->layers - 1);
        snprintf(s->layers, sizeof s->layers, "%s", v);
        return EG_OK;
    }
    if (!strcmp(key, "amount")) {
        if (isint && d >= 1 && d <= 1e9) {
            s->amount_is_count = 1;
        } else if (!isnum || isint || d <= 0 || d >= 1) {
            RFAIL(col, "amount: expected a channel count (an integer >= 1) or a fraction between 0 and 1 (e.g. 0.5), found '%s'", v);
        }
        s->amount = d;
        return EG_OK;
    }
    if (!strcmp(key, "value")) {
        NEED_POS();
        s->value = d;
        return EG_OK;
    }
    /* taylor: the training batches its scores come from */
    if (!strcmp(key, "batches")) { NEED_INT(1); s->batches = (int)d; return EG_OK; }
    if (!strcmp(key, "batch")) { NEED_INT_IN(1, EG_BATCH_MAX); s->batch = (int)d; return EG_OK; }
    if (!strcmp(key, "n") || !strcmp(key, "m")) {
        if (!isint || d < 1 || d > EG_NM_MAX_M)
            RFAIL(col, "%s: expected an integer from 1 to %d, found '%s'", key, EG_NM_MAX_M, v);
        *(key[0] == 'n' ? &s->nm_n : &s->nm_m) = (int)d;
        return EG_OK;
    }
    RFAIL(col, "prune has no key '%s'; expected method, layer, amount, scope, layers, value, batches, batch, protect, floor, bits, tables, threshold, count, n or m", key);
#undef NEED_INT
#undef NEED_POS
#undef NEED_INT_IN
#undef NEED_FRACTION
}

static eg_status parse_line(eg_recipe *r, int line, char *text, eg_error *err)
{
    char *tok[32];
    int col[32], nt = 0;
    for (char *p = text; *p && *p != '#';) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (nt == 32) RFAIL((int)(p - text) + 1, "too many fields on one line (at most 32)");
        tok[nt] = p;
        col[nt++] = (int)(p - text) + 1;
        while (*p && *p != '#' && !isspace((unsigned char)*p)) p++;
        if (*p == '#') {
            *p = 0;
            break;
        }
        if (*p) *p++ = 0;
    }
    if (nt == 0) return EG_OK;
    if (!strcmp(tok[0], "model") || !strcmp(tok[0], "data")) {
        if (nt != 2) RFAIL(col[0], "'%s' takes exactly one path, found %d fields", tok[0], nt - 1);
        char *dst = tok[0][0] == 'm' ? r->model : r->data;
        if (strlen(tok[1]) >= sizeof r->model) RFAIL(col[1], "path is too long");
        strcpy(dst, tok[1]);
        return EG_OK;
    }
    if (!strcmp(tok[0], "validation")) {
        if (r->validation) RFAIL(col[0], "a second 'validation' line");
        double d;
        if (nt != 2 || strncmp(tok[1], "images=", 7))
            RFAIL(col[nt > 1 ? 1 : 0], "validation: expected images=N (training images held out), found %s",
                  nt > 1 ? tok[1] : "nothing");
        if (parse_num(tok[1] + 7, &d) || d < 1 || d > 1e9 || d != (double)(long)d)
            RFAIL(col[1] + 7, "validation: images: expected a positive integer, found '%s'", tok[1] + 7);
        r->validation = (long)d;
        return EG_OK;
    }
    if (!strcmp(tok[0], "normalize")) {
        if (r->norm_c) RFAIL(col[0], "a second 'normalize' line");
        int nm = -1, ns = -1;
        for (int t = 1; t < nt; t++) {
            int is_mean = !strncmp(tok[t], "mean=", 5), is_std = !strncmp(tok[t], "std=", 4);
            if (!is_mean && !is_std) RFAIL(col[t], "normalize: expected mean=M[,M...] or std=S[,S...], found '%s'", tok[t]);
            if (is_mean ? nm >= 0 : ns >= 0) RFAIL(col[t], "normalize: '%s' given twice", is_mean ? "mean" : "std");
            float *dst = is_mean ? r->norm_mean : r->norm_std;
            int k = 0;
            for (char *v = tok[t] + (is_mean ? 5 : 4), *next; v; v = next, k++) {
                next = strchr(v, ',');
                if (next) *next++ = 0;
                double d;
                if (k == EG_RECIPE_MAX_CHANNELS) RFAIL(col[t], "normalize: more than %d values", EG_RECIPE_MAX_CHANNELS);
                if (parse_num(v, &d) || (!is_mean && !(d > 0)))
                    RFAIL(col[t], "normalize: %s: expected %s, found '%s'", is_mean ? "mean" : "std",
                          is_mean ? "numbers" : "numbers above 0", v);
                dst[k] = (float)d;
            }
            *(is_mean ? &nm : &ns) = k;
        }
        if (nm < 0 || ns < 0 || nm != ns)
            RFAIL(col[0], "normalize: expected mean= and std= with as many values each (one per channel), found %d and %d",
                  nm < 0 ? 0 : nm, ns < 0 ? 0 : ns);
        r->norm_c = nm;
        return EG_OK;
    }
    eg_stage s = {.line = line};
    if (!strcmp(tok[0], "train")) {
        s.kind = EG_STAGE_TRAIN;
        s.epochs = 1, s.batch = 64, s.shuffle = 1, s.optim = EG_OPTIM_ADAM, s.lr = 1e-3f;
    } else if (!strcmp(tok[0], "prune")) {
        s.kind = EG_STAGE_PRUNE;
        strcpy(s.method, "l1");
        s.value = -1;
    } else if (!strcmp(tok[0], "eval")) {
        s.kind = EG_STAGE_EVAL;
        s.batch = 1000;
    } else {
        RFAIL(col[0], "unknown line '%s'; expected model, data, normalize, validation, train, prune or eval", tok[0]);
    }
    for (int t = 1; t < nt; t++) {
        char *eq = strchr(tok[t], '=');
        if (!eq || eq == tok[t]) RFAIL(col[t], "expected key=value, found '%s'", tok[t]);
        *eq = 0;
        for (int u = 1; u < t; u++)  /* earlier tokens are keys by now */
            if (!strcmp(tok[u], tok[t])) RFAIL(col[t], "key '%s' given twice (first at column %d)", tok[t], col[u]);
        eg_status st = stage_kv(r, &s, line, col[t], tok[t], eq + 1, err);
        if (st) return st;
    }
    if (s.kind == EG_STAGE_TRAIN && s.penalize[0] && s.l1 == 0 && s.l2 == 0 && s.prox == 0)
        RFAIL(col[0], "train penalize=%s: no penalty to apply; give l1=, l2= or prox= a strength above 0", s.penalize);
    if (s.kind == EG_STAGE_TRAIN && !s.checkpoint[0] != !s.checkpoint_every)
        RFAIL(col[0], "train: checkpoint=FILE and checkpoint_every=N go together (a checkpoint every N steps)");
    char why[600];
    int more = eg_stage_check_more(&s, why, sizeof why);  /* lsh, layer, agp */
    if (more < 0) RFAIL(col[0], "%s", why);
    if (s.kind == EG_STAGE_PRUNE && strcmp(s.method, "threshold") && s.value >= 0)
        RFAIL(col[0], "value= goes with method=threshold; method=%s does not take it", s.method);
    int taylor = s.kind == EG_STAGE_PRUNE && !strcmp(s.method, "taylor");
    if (s.kind == EG_STAGE_PRUNE && !taylor && (s.batches || s.batch))
        RFAIL(col[0], "batches= and batch= go with method=taylor; method=%s does not take them", s.method);
    if (s.kind == EG_STAGE_PRUNE && strcmp(s.method, "nm") && (s.nm_n || s.nm_m))
        RFAIL(col[0], "n= and m= go with method=nm; method=%s does not take them", s.method);
    if (taylor && !s.layer[0]) {  /* taylor on weights, as magnitude */
        if (s.amount == 0 || s.amount_is_count)
            RFAIL(col[0], "prune method=taylor needs layer=<node> amount=<count or fraction> (channels) or amount=<fraction of weights, e.g. 0.9> (weights)");
    } else if (taylor) {
        if (s.amount == 0) RFAIL(col[0], "prune method=taylor layer=%s needs amount=<count or fraction>", s.layer);
        if (s.layers[0] || s.local) RFAIL(col[0], "scope= and layers= go with method=taylor on weights (no layer=)");
    } else if (s.kind == EG_STAGE_PRUNE && !strcmp(s.method, "threshold")) {
        if (s.value < 0 || s.amount != 0 || s.layer[0] || s.local)
            RFAIL(col[0], "prune method=threshold needs value=<F: weights with |w| <= F are pruned> and takes layers=<a,b,...>; not amount=, layer= or scope=");
    } else if (s.kind == EG_STAGE_PRUNE && !strcmp(s.method, "nm")) {
        if (!s.nm_n || !s.nm_m || s.amount != 0 || s.layer[0] || s.local)
            RFAIL(col[0], "prune method=nm needs n=<kept> m=<group size> (e.g. n=2 m=4) and takes layers=<a,b,...>; not amount=, layer= or scope=");
        if (s.nm_n >= s.nm_m) RFAIL(col[0], "prune method=nm: n=%d must be below m=%d", s.nm_n, s.nm_m);
    } else if (s.kind == EG_STAGE_PRUNE && !strcmp(s.method, "magnitude")) {
        if (s.amount == 0 || s.amount_is_count || s.layer[0])
            RFAIL(col[0], "prune method=magnitude needs amount=<fraction of weights, e.g. 0.9> and takes layers=<a,b,...>, not layer=");
    } else if (s.kind == EG_STAGE_PRUNE && !more) {
        if (!s.layer[0] || s.amount == 0) RFAIL(col[0], "prune needs layer=<node> and amount=<count or fraction>");
        if (s.layers[0] || s.local) RFAIL(col[0], "scope= and layers= go with method=magnitude; method=%s takes layer=", s.method);
    }
    if (r->nstages == EG_RECIPE_MAX_STAGES) RFAIL(col[0], "more than %d stages", EG_RECIPE_MAX_STAGES);
    r->stages[r->nstages++] = s;
    return EG_OK;
}

/* A recipe is at most 64 stages of lines under 1024 characters, with comments. */
#define MAX_RECIPE ((size_t)1 << 20)

eg_status eg_recipe_load(eg_recipe *r, const char *path, eg_error *err)
{
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    uint8_t *text;
    size_t n;
    eg_status st = eg_read_regular(path, "recipe", MAX_RECIPE, &text, &n, err);
    if (st) return st;
    char buf[1024];
    int line = 0;
    for (size_t at = 0; !st && at < n;) {
        line++;
        const uint8_t *nl = memchr(text + at, '\n', n - at), *nul = memchr(text + at, 0, n - at);
        size_t len = (nl ? (size_t)(nl - text) + 1 : n) - at;
        if (nul && nul < text + at + len)
            st = eg_fail(err, EG_ERR_RECIPE, "%s:%d: byte %zu: a NUL byte; expected a text recipe", path, line,
                         (size_t)(nul - text));
        else if (len > sizeof buf - 2 + (nl != NULL))
            st = eg_fail(err, EG_ERR_RECIPE, "%s:%d: line longer than %zu characters", path, line, sizeof buf - 2);
        if (st) break;
        memcpy(buf, text + at, len);
        buf[len] = 0;
        st = parse_line(r, line, buf, err);
        at += len;
    }
    free(text);
    if (!st && !r->model[0]) st = eg_fail(err, EG_ERR_RECIPE, "%s: no 'model <spec>' line", path);
    if (!st && !r->nstages) st = eg_fail(err, EG_ERR_RECIPE, "%s: no stages (train, prune, eval)", path);
    return st;
}

eg_status eg_recipe_parse_line(eg_recipe *r, const char *text, int line, eg_error *err)
{
    char buf[1024];
    size_t n = strlen(text);
    if (n >= sizeof buf)
        return eg_fail(err, EG_ERR_RECIPE, "%s: line longer than %zu characters", r->path, sizeof buf - 1);
    memcpy(buf, text, n + 1);
    return parse_line(r, line, buf, err);
}
