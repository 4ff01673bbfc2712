/* A small JSON writer into memory (reports go to disk through eg_write_atomic,
 * src/io/temp_file.c). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void put(eg_json *j, const char *fmt, ...)
{
    if (j->oom) return;
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(j->buf + j->len, j->cap - j->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && j->len + (size_t)n < j->cap) {
            j->len += (size_t)n;
            return;
        }
        size_t cap = j->cap ? j->cap * 2 : 4096;
        while (cap <= j->len + (size_t)n) cap *= 2;
        char *nb = realloc(j->buf, cap);
        if (!nb) {
            j->oom = 1;
            return;
        }
        j->buf = nb;
        j->cap = cap;
    }
}

/* The comma and the key that come before any value; numbers and strings
 * in an array stay on one line. */
static void lead(eg_json *j, const char *key, int scalar)
{
    int inline_ = scalar && !key && j->depth > 0 && j->in_array[j->depth];
    if (j->comma[j->depth]) put(j, inline_ ? ", " : ",");
    j->comma[j->depth] = 1;
    if (!inline_) {
        if (j->depth > 0 && j->in_array[j->depth]) j->scalars_only[j->depth] = 0;
        if (j->len) put(j, "\n%*s", 2 * j->depth, "");
    }
    if (key) put(j, "\"%s\": ", key);
}

static void open_(eg_json *j, const char *key, const char *c, int array)
{
    lead(j, key, 0);
    put(j, "%s", c);
    if (j->depth < EG_JSON_DEPTH - 1) j->depth++;
    j->comma[j->depth] = 0;
    j->in_array[j->depth] = array;
    j->scalars_only[j->depth] = 1;
}

static void close_(eg_json *j, const char *c)
{
    int flat = j->in_array[j->depth] && j->scalars_only[j->depth];
    j->depth--;
    if (flat)
        put(j, "%s", c);
    else
        put(j, "\n%*s%s", 2 * j->depth, "", c);
    if (j->depth == 0) put(j, "\n");  /* the document ends with a newline */
}

void eg_json_object(eg_json *j, const char *key) { open_(j, key, "{", 0); }
void eg_json_object_end(eg_json *j) { close_(j, "}"); }
void eg_json_array(eg_json *j, const char *key) { open_(j, key, "[", 1); }
void eg_json_array_end(eg_json *j) { close_(j, "]"); }

void eg_json_num(eg_json *j, const char *key, double v)
{
    lead(j, key, 1);
    if (v != v || v - v != 0)
        put(j, "null");  /* JSON has no NaN or infinity */
    else
        put(j, "%.10g", v);
}

void eg_json_str(eg_json *j, const char *key, const char *v)
{
    lead(j, key, 1);
    put(j, "\"");
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            put(j, "\\%c", c);
        else if (c < 0x20)
            put(j, "\\u%04x", c);
        else
            put(j, "%c", c);
    }
    put(j, "\"");
}

void eg_json_free(eg_json *j)
{
    free(j->buf);
    memset(j, 0, sizeof *j);
}

void eg_json_sizes(eg_json *j, size_t p0, size_t p1, size_t m0, size_t m1, double seconds)
{
    eg_json_num(j, "params_before", (double)p0);
    eg_json_num(j, "params_after", (double)p1);
    eg_json_num(j, "macs_before", (double)m0);
    eg_json_num(j, "macs_after", (double)m1);
    eg_json_num(j, "seconds", seconds);
}
