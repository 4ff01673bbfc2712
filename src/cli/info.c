/* edagari info SPEC: what a model spec describes. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int eg_cmd_info(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: edagari info SPEC\n\nPrints the model's nodes, shapes, parameters and MACs per image.\n");
        return argc == 2 ? 0 : 2;
    }
    eg_graph g;
    eg_error err = {0};
    if (eg_graph_load_spec(&g, argv[1], &err)) {
        fprintf(stderr, "edagari: error: %s\n", err.msg);
        return 1;
    }
    printf("model %s: %zu parameters, %zu MACs per image\n", argv[1], eg_graph_param_count(&g), eg_graph_macs(&g));
    eg_graph_print(&g, stdout);
    eg_graph_free(&g);
    return 0;
}
