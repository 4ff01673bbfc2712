/* libFuzzer harness for the model-spec parser (eg_graph_parse_spec,
 * src/graph/spec.c), on the input as text (up to its first NUL byte, which
 * the file reader refuses: test_bad_input). Any bytes give a graph or an
 * error that starts with the file's name. A graph must survive what a
 * caller does next: its spec, written back, parses to a graph whose spec is
 * the same text (the printer re-creates every node), and a small one runs
 * forward on initialised parameters. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *spec_text(const eg_graph *g)
{
    size_t len = eg_graph_write_spec(g, NULL, 0);
    char *s = malloc(len + 1);
    if (!s) abort();
    eg_graph_write_spec(g, s, len + 1);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = "fuzz.spec";
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = 0;
    eg_graph g, h;
    eg_error err = {0};
    eg_status st = eg_graph_parse_spec(&g, text, path, &err);
    free(text);
    if (st) {
        if (g.nodes || g.params) abort();  /* a failed load leaves nothing */
        if (strncmp(err.msg, path, strlen(path))) {
            fprintf(stderr, "the message does not start with the file: %s\n", err.msg);
            abort();
        }
        return 0;
    }
    char *a = spec_text(&g);
    if (eg_graph_parse_spec(&h, a, "written", &err)) {
        fprintf(stderr, "the written spec does not parse: %s\n%s", err.msg, a);
        abort();
    }
    char *b = spec_text(&h);
    if (strcmp(a, b) || eg_graph_param_count(&g) != eg_graph_param_count(&h)) {
        fprintf(stderr, "the written spec does not re-create the graph:\n%s---\n%s", a, b);
        abort();
    }
    size_t in = eg_shape_size(g.nodes[0].out_shape);
    if (in <= 1024 && eg_graph_macs(&g) <= 1u << 16 && eg_graph_param_count(&g) <= 1u << 16) {
        eg_rng r;
        eg_rng_seed(&r, 1);
        eg_graph_init_params(&g, &r);
        float *x = calloc(2 * in, sizeof *x);
        if (x && !eg_graph_prepare(&g, 2, 0, 1)) eg_graph_forward(&g, x, 2);
        free(x);
    }
    free(a), free(b);
    eg_graph_free(&g);
    eg_graph_free(&h);
    return 0;
}
