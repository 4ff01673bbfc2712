/* A readable table of the model: each node's op, input, output, weight shape,
 * parameters and multiply-accumulates per image. */
#include <string.h>

#include "internal.h"

/* 1234567 -> "1,234,567" */
static const char *commas(size_t v, char *buf)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%zu", v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
    return buf;
}

static void shape_str(char *buf, size_t len, const int *dims, int n)
{
    int o = 0;
    buf[0] = 0;
    for (int i = 0; i < n && o < (int)len; i++) o += snprintf(buf + o, len - (size_t)o, i ? "x%d" : "%d", dims[i]);
}

void eg_graph_print(const eg_graph *g, FILE *f)
{
    char a[32], b[32];
    int nw = 8;  /* the name columns: as wide as the longest name (an imported model's can be long) */
    for (int i = 0; i < g->nnodes; i++)
        if ((int)strlen(g->nodes[i].name) > nw) nw = (int)strlen(g->nodes[i].name);
    fprintf(f, "  %-*s %-11s %-*s %-9s %-10s %9s %10s\n", nw, "node", "op", nw, "input", "output", "weight", "params",
            "MACs");
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        char out[32], w[32] = "-";
        eg_shape s = nd->out_shape;
        if (s.h == 1 && s.w == 1)
            snprintf(out, sizeof out, "%d", s.c);
        else
            snprintf(out, sizeof out, "%dx%dx%d", s.c, s.h, s.w);
        if (nd->nparams) shape_str(w, sizeof w, nd->pshape[0], nd->pdims[0]);
        fprintf(f, "  %-*s %-11s %-*s %-9s %-10s %9s %10s\n", nw, nd->name, eg_ops[nd->op]->name, nw,
                nd->ninputs ? g->nodes[nd->inputs[0]].name : "-", out, w, commas(eg_node_params(nd), a),
                commas(eg_node_macs(nd), b));
    }
    fprintf(f, "  %-*s %-11s %-*s %-9s %-10s %9s %10s\n", nw, "total", "", nw, "", "", "", commas(eg_graph_param_count(g), a),
            commas(eg_graph_macs(g), b));
}
