/* mpi_compare_models A.edg B.edg TOL: loads two model files and compares
 * them: the same nodes and shapes, masks identical bit for bit, every
 * parameter within TOL (absolute). Prints the largest difference; exits 0
 * when they agree, 1 when not, 2 on a bad file. For tests/mpi_*.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mpi_compare_models A.edg B.edg TOL\n");
        return 2;
    }
    double tol = atof(argv[3]);
    eg_graph a, b;
    eg_error err = {0};
    if (eg_model_load(&a, argv[1], &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    if (eg_model_load(&b, argv[2], &err)) {
        fprintf(stderr, "%s\n", err.msg);
        eg_graph_free(&a);
        return 2;
    }
    int bad = 0;
    if (a.nnodes != b.nnodes || a.nparam != b.nparam || !a.masks != !b.masks) {
        printf("different models: %d/%d nodes, %zu/%zu parameters, masks %s/%s\n", a.nnodes, b.nnodes, a.nparam, b.nparam,
               a.masks ? "yes" : "no", b.masks ? "yes" : "no");
        bad = 1;
    }
    for (int i = 0; !bad && i < a.nnodes; i++) {
        eg_shape x = a.nodes[i].out_shape, y = b.nodes[i].out_shape;
        if (strcmp(a.nodes[i].name, b.nodes[i].name) || x.c != y.c || x.h != y.h || x.w != y.w) {
            printf("node %d differs: %s %dx%dx%d against %s %dx%dx%d\n", i, a.nodes[i].name, x.c, x.h, x.w,
                   b.nodes[i].name, y.c, y.h, y.w);
            bad = 1;
        }
    }
    if (!bad) {
        double worst = 0;
        size_t at = 0, masks_differ = 0;
        for (size_t k = 0; k < a.nparam; k++) {
            double d = fabs((double)a.params[k] - b.params[k]);
            if (!(d <= worst)) worst = d, at = k;  /* a NaN counts as the worst */
        }
        if (a.masks) masks_differ = memcmp(a.masks, b.masks, a.nparam * sizeof *a.masks) != 0;
        printf("%zu parameters: largest difference %.3g (parameter %zu: %.9g against %.9g); masks %s\n", a.nparam, worst, at,
               a.nparam ? a.params[at] : 0.0, a.nparam ? b.params[at] : 0.0,
               !a.masks ? "none" : masks_differ ? "DIFFER" : "identical");
        bad = !(worst <= tol) || masks_differ;
    }
    eg_graph_free(&a);
    eg_graph_free(&b);
    return bad;
}
