/* Reader for the PyTorch reference tensors in tests/fixtures/<case>.txt.
 * The format is documented at the top of tests/fixtures/make_fixtures.py.
 * Header-only, for the test programs; tests run from the source root. */
#ifndef EG_FIXTURE_H
#define EG_FIXTURE_H

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_MAX_TENSORS 128
#define FX_MAX_DIMS 4

typedef struct {
    char name[32];
    int ndim, dims[FX_MAX_DIMS];
    size_t size;
    float *v;
} fx_tensor;

typedef struct {
    char path[256];
    int n;
    fx_tensor t[FX_MAX_TENSORS];
} fixture;

static inline void fx_free(fixture *f)
{
    for (int i = 0; i < f->n; i++) free(f->t[i].v);
    f->n = 0;
}

/* Loads tests/fixtures/<name>.txt; returns 0, or -1 after printing why
 * (a missing fixture must fail the test, not skip it). */
static inline int fx_load(fixture *f, const char *name)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "tests/fixtures/%s.txt", name);
    FILE *fp = fopen(f->path, "rb");
    if (!fp) {
        fprintf(stderr, "%s: cannot open (run the test from the source root; regenerate with "
                        "/usr/bin/python3 tests/fixtures/make_fixtures.py)\n", f->path);
        return -1;
    }
    char line[4096];
    int lineno = 0;
    fx_tensor *cur = NULL;  /* the tensor whose values are being read */
    size_t have = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(fp)) goto bad;  /* over-long line */
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '#' || *p == 0) continue;
        if (cur && have < cur->size) {
            /* a line of values */
            while (*p) {
                char *end;
                float v = strtof(p, &end);
                if (end == p || have == cur->size) goto bad;
                cur->v[have++] = v;
                p = end;
                while (isspace((unsigned char)*p)) p++;
            }
            continue;
        }
        /* a header: name, then dimensions */
        if (f->n == FX_MAX_TENSORS || !isalpha((unsigned char)*p)) goto bad;
        cur = &f->t[f->n++];
        have = 0;
        int len = 0;
        while (p[len] && !isspace((unsigned char)p[len])) len++;
        if (len >= (int)sizeof cur->name) goto bad;
        memcpy(cur->name, p, (size_t)len);
        p += len;
        cur->size = 1;
        for (;;) {
            while (isspace((unsigned char)*p)) p++;
            if (!*p) break;
            char *end;
            long d = strtol(p, &end, 10);
            if (end == p || d < 1 || d > 1000000 || cur->ndim == FX_MAX_DIMS) goto bad;
            cur->dims[cur->ndim++] = (int)d;
            cur->size *= (size_t)d;
            p = end;
        }
        cur->v = malloc(cur->size * sizeof *cur->v);
        if (!cur->v) goto bad;
    }
    if (cur && have < cur->size) {
        fprintf(stderr, "%s: tensor %s has %zu of %zu values\n", f->path, cur->name, have, cur->size);
        fclose(fp);
        fx_free(f);
        return -1;
    }
    fclose(fp);
    return 0;
bad:
    fprintf(stderr, "%s:%d: malformed fixture line\n", f->path, lineno);
    fclose(fp);
    fx_free(f);
    return -1;
}

/* The tensor called name, or NULL. */
static inline const fx_tensor *fx_find(const fixture *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

/* The same, printing when it is missing (callers then fail their check). */
static inline const fx_tensor *fx_get(const fixture *f, const char *name)
{
    const fx_tensor *t = fx_find(f, name);
    if (!t) fprintf(stderr, "%s: no tensor named '%s'\n", f->path, name);
    return t;
}

/* A scalar's value, or `fallback` when absent or not a single value. */
static inline float fx_scalar(const fixture *f, const char *name, float fallback)
{
    const fx_tensor *t = fx_get(f, name);
    return t && t->size == 1 ? t->v[0] : fallback;
}

#endif
