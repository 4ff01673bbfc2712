/* The recipe keys of the later pruning methods, kept out of recipe.c's
 * parser: lsh merging and layer removal (prune), protected layers and
 * floors (prune, train with agp), and gradual pruning (train agp=...). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WHY(...) (snprintf(why, len, __VA_ARGS__), -1)

static int number(const char *v, double *d)
{
    char *end;
    errno = 0;
    *d = strtod(v, &end);
    return end != v && !*end && !errno && isfinite(*d) && !strpbrk(v, "xX");
}

static int integer(const char *v, long *out)
{
    double d;
    if (!number(v, &d) || strpbrk(v, ".eE") || fabs(d) > 1e12) return 0;
    *out = (long)d;
    return 1;
}

static int list(char *dst, size_t cap, const char *key, const char *v, char *why, size_t len)
{
    if (strlen(v) >= cap) return WHY("%s: the list is longer than %zu characters", key, cap - 1);
    snprintf(dst, cap, "%s", v);
    return 1;
}

int eg_stage_key_more(eg_stage *s, const char *key, const char *v, char *why, size_t len)
{
    double d;
    long n;
    if (s->kind == EG_STAGE_EVAL) return 0;
    if (!strcmp(key, "protect")) return list(s->protect, sizeof s->protect, key, v, why, len);
    if (!strcmp(key, "floor")) {
        if (!number(v, &d) || d <= 0 || (d >= 1 && (!integer(v, &n) || n > 1000000000)))
            return WHY("floor: expected the weights each layer keeps at least (an integer >= 1) or a fraction of them between 0 and 1, found '%s'", v);
        s->floor = d;
        return 1;
    }
    if (s->kind == EG_STAGE_TRAIN) {
        if (!strcmp(key, "agp") || !strcmp(key, "agp_initial")) {
            if (!number(v, &d) || d < 0 || d >= 1 || (key[3] == 0 && d == 0))
                return WHY("%s: expected a sparsity, a fraction %s 0 and below 1 (e.g. 0.9), found '%s'", key,
                           key[3] ? "from" : "above", v);
            *(key[3] ? &s->agp_initial : &s->agp) = d;
            return 1;
        }
        if (!strcmp(key, "agp_start") || !strcmp(key, "agp_end") || !strcmp(key, "agp_every")) {
            long lo = key[4] == 'e' && key[5] == 'v' ? 1 : key[4] == 'e' ? 1 : 0;
            if (!integer(v, &n) || n < lo || n > 1000000000)
                return WHY("%s: expected a step count, an integer >= %ld, found '%s'", key, lo, v);
            *(key[4] == 's' ? &s->agp_start : key[5] == 'n' ? &s->agp_end : &s->agp_every) = n;
            return 1;
        }
        if (!strcmp(key, "agp_scope")) {
            if (strcmp(v, "global") && strcmp(v, "local")) return WHY("agp_scope: expected global or local, found '%s'", v);
            s->agp_local = !strcmp(v, "local");
            return 1;
        }
        if (!strcmp(key, "agp_layers")) return list(s->agp_layers, sizeof s->agp_layers, key, v, why, len);
        return 0;
    }
    if (s->kind != EG_STAGE_PRUNE) return 0;
    if (!strcmp(key, "method") && (!strcmp(v, "lsh") || !strcmp(v, "layer"))) {
        snprintf(s->method, sizeof s->method, "%s", v);
        return 1;
    }
    if (!strcmp(key, "bits") || !strcmp(key, "tables")) {
        long hi = key[0] == 'b' ? 32 : 256;
        if (!integer(v, &n) || n < 1 || n > hi) return WHY("%s: expected an integer from 1 to %ld, found '%s'", key, hi, v);
        *(key[0] == 'b' ? &s->lsh_bits : &s->lsh_tables) = (int)n;
        return 1;
    }
    if (!strcmp(key, "threshold")) {
        if (!number(v, &d) || d <= 0 || d > 1)
            return WHY("threshold: expected a cosine similarity above 0 and at most 1 (e.g. 0.95), found '%s'", v);
        s->lsh_threshold = d;
        return 1;
    }
    if (!strcmp(key, "count")) {
        if (!integer(v, &n) || n < 1 || n > 1000000) return WHY("count: expected a number of layers, an integer >= 1, found '%s'", v);
        s->layer_count = (int)n;
        return 1;
    }
    return 0;
}

int eg_stage_check_more(eg_stage *s, char *why, size_t len)
{
    if (s->kind == EG_STAGE_TRAIN) {
        int any = s->agp_initial > 0 || s->agp_start || s->agp_end || s->agp_every || s->agp_local || s->agp_layers[0] ||
                  s->protect[0] || s->floor > 0;
        if (s->agp == 0 && any)
            return WHY("agp_initial=, agp_start=, agp_end=, agp_every=, agp_scope=, agp_layers=, protect= and floor= go with agp=<final sparsity>");
        if (s->agp > 0 && !s->agp_end)
            return WHY("agp=%g needs agp_end=<the step at which the final sparsity is reached>", s->agp);
        if (s->agp > 0 && !s->agp_every) s->agp_every = 100;
        if (s->agp > 0 && s->agp_initial >= s->agp)
            return WHY("agp_initial=%g must be below the final sparsity agp=%g", s->agp_initial, s->agp);
        return 0;
    }
    if (s->kind != EG_STAGE_PRUNE) return 0;
    int lsh = !strcmp(s->method, "lsh"), layer = !strcmp(s->method, "layer");
    int magnitude = !strcmp(s->method, "magnitude"), threshold = !strcmp(s->method, "threshold");
    if (!lsh && (s->lsh_bits || s->lsh_tables || s->lsh_threshold > 0))
        return WHY("bits=, tables= and threshold= go with method=lsh; method=%s does not take them", s->method);
    if (!layer && s->layer_count) return WHY("count= goes with method=layer; method=%s does not take it", s->method);
    if (s->protect[0] && !magnitude && !threshold && !layer)
        return WHY("protect= goes with method=magnitude, threshold or layer (stages that choose among layers); method=%s prunes the one layer= names",
                   s->method);
    if (s->floor > 0 && !magnitude) return WHY("floor= goes with method=magnitude; method=%s does not take it", s->method);
    if (lsh) {
        if (!s->layer[0] || s->amount == 0)
            return WHY("prune method=lsh needs layer=<conv2d or linear node> and amount=<units to merge away, a count or a fraction>");
        if (s->layers[0] || s->local || s->value >= 0) return WHY("prune method=lsh takes layer=, amount=, bits=, tables= and threshold=");
        if (!s->lsh_bits) s->lsh_bits = 8;
        if (!s->lsh_tables) s->lsh_tables = 8;
        if (s->lsh_threshold == 0) s->lsh_threshold = 0.9;
        return 1;
    }
    if (layer) {
        if (!!s->layer[0] == !!s->layer_count)
            return WHY("prune method=layer needs either layer=<node to replace by identity> or count=<layers to remove, the cheapest first>");
        if (s->amount != 0 || s->layers[0] || s->local || s->value >= 0)
            return WHY("prune method=layer takes layer= or count=, and protect=; not amount=, layers=, scope= or value=");
        return 1;
    }
    return 0;
}
