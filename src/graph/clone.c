#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A copy of src with its own parameter, buffer (and mask) blocks, history
 * and normalisation: the spec written back and parsed again lays the parameters out
 * the same way, then the values are copied. */
eg_status eg_graph_clone(eg_graph *dst, const eg_graph *src, eg_error *err)
{
    memset(dst, 0, sizeof *dst);
    size_t len = eg_graph_write_spec(src, NULL, 0);
    char *text = malloc(len + 1);
    if (!text) return eg_fail(err, EG_ERR_NOMEM, "out of memory copying model %s", src->name);
    eg_graph_write_spec(src, text, len + 1);
    eg_status st = eg_graph_parse_spec(dst, text, src->name, err);
    free(text);
    if (st) return st;
    if (dst->nparam != src->nparam || dst->nbuffer != src->nbuffer) {
        eg_graph_free(dst);
        return eg_fail(err, EG_ERR_SPEC, "model %s: its copy has %zu parameters and %zu buffer values, the model %zu and %zu",
                       src->name, dst->nparam, dst->nbuffer, src->nparam, src->nbuffer);
    }
    memcpy(dst->params, src->params, src->nparam * sizeof *src->params);
    /* batchnorms' running statistics, laid out the same way too */
    if (src->nbuffer) memcpy(dst->buffers, src->buffers, src->nbuffer * sizeof *src->buffers);
    if (src->masks) {
        st = eg_graph_enable_masks(dst, err);
        if (st) {
            eg_graph_free(dst);
            return st;
        }
        memcpy(dst->masks, src->masks, src->nparam * sizeof *src->masks);
    }
    if (src->norm_c) {
        dst->norm = malloc(2 * (size_t)src->norm_c * sizeof *dst->norm);
        if (dst->norm) memcpy(dst->norm, src->norm, 2 * (size_t)src->norm_c * sizeof *dst->norm), dst->norm_c = src->norm_c;
    }
    if ((src->norm_c && !dst->norm) || (src->history && !(dst->history = strdup(src->history)))) {
        eg_graph_free(dst);
        return eg_fail(err, EG_ERR_NOMEM, "out of memory copying model %s", src->name);
    }
    snprintf(dst->name, sizeof dst->name, "%s", src->name);
    return EG_OK;
}
