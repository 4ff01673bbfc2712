/* The embedding API of include/edagari.h: a model behind an opaque handle,
 * opened, inspected, run and saved. The stages themselves are the recipe
 * runner's (recipe/run.c: eg_graph_stage). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* g, moved to the heap (its blocks stay where they are). */
static eg_graph *on_heap(eg_graph *g, eg_error *err)
{
    eg_graph *h = malloc(sizeof *h);
    if (!h) {
        eg_graph_free(g);
        eg_fail(err, EG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    *h = *g;
    return h;
}

/* A spec's parameters, as a recipe's first stage gets them. */
static eg_status init_spec(eg_graph *g, const char *name, uint64_t seed, eg_error *err)
{
    eg_rng rng;
    eg_rng_seed(&rng, seed);
    eg_graph_init_params(g, &rng);
    if (eg_model_note(g, "init from spec %s, seed %llu", name, (unsigned long long)seed)) {
        eg_graph_free(g);
        return eg_fail(err, EG_ERR_NOMEM, "out of memory for the model's history");
    }
    return EG_OK;
}

eg_graph *eg_open(const char *path, uint64_t seed, eg_error *err)
{
    eg_graph g;
    int from_file = 0;
    if (eg_model_open(&g, path, &from_file, err)) return NULL;
    if (!from_file && init_spec(&g, path, seed, err)) return NULL;
    return on_heap(&g, err);
}

eg_graph *eg_open_spec(const char *text, const char *name, uint64_t seed, eg_error *err)
{
    eg_graph g;
    if (eg_graph_parse_spec(&g, text, name, err) || init_spec(&g, name, seed, err)) return NULL;
    return on_heap(&g, err);
}

void eg_close(eg_graph *g)
{
    if (!g) return;
    eg_graph_free(g);
    free(g);
}

int eg_node_count(const eg_graph *g) { return g->nnodes; }

static const eg_node *node(const eg_graph *g, int i) { return i >= 0 && i < g->nnodes ? &g->nodes[i] : NULL; }

const char *eg_node_name(const eg_graph *g, int i) { return node(g, i) ? node(g, i)->name : NULL; }

const char *eg_node_op(const eg_graph *g, int i) { return node(g, i) ? eg_ops[node(g, i)->op]->name : NULL; }

eg_shape eg_node_shape(const eg_graph *g, int i) { return node(g, i) ? node(g, i)->out_shape : (eg_shape){0, 0, 0}; }

eg_status eg_infer(eg_graph *g, const float *x, int n, int threads, float *out, eg_error *err)
{
    if (n < 1) return eg_fail(err, EG_ERR_ARG, "model %s: %d samples to run; expected at least 1", g->name, n);
    if (g->nnodes < 2 || g->nodes[0].op != EG_OP_INPUT)
        return eg_fail(err, EG_ERR_ARG, "model %s: nothing to run (an input node and at least one op)", g->name);
    if (eg_graph_prepare(g, n, 0, threads > 0 ? threads : eg_thread_count()))
        return eg_fail(err, EG_ERR_NOMEM, "model %s: out of memory for a batch of %d", g->name, n);
    eg_graph_forward(g, x, n);
    memcpy(out, eg_graph_y(g), (size_t)n * eg_shape_size(g->nodes[g->nnodes - 1].out_shape) * sizeof *out);
    return EG_OK;
}
