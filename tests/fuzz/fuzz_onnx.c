/* libFuzzer target for the ONNX reader (eg_onnx_import_buffer): any bytes
 * must give either a model or an error with a message, never a crash, a
 * leak or undefined behaviour (built with -fsanitize=fuzzer,address,undefined
 * by tests/fuzz/CMakeLists.txt when clang is there; run by tests/fuzz/run.sh).
 * A model that imports is also run on one zero image, so what the importer
 * lets through must be a graph the forward pass can execute. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eg_graph g;
    eg_error err = {0};
    if (eg_onnx_import_buffer(&g, data, size, "fuzz.onnx", &err) != EG_OK) {
        if (!err.msg[0]) abort();  /* every refusal says why */
        return 0;
    }
    size_t in = eg_shape_size(g.nodes[0].out_shape);
    if (in <= 4096 && eg_graph_macs(&g) <= 1u << 22 && eg_graph_prepare(&g, 1, 0, 1) == EG_OK) {
        float *x = calloc(in, sizeof *x);
        if (x) eg_graph_forward(&g, x, 1);
        free(x);
    }
    eg_graph_free(&g);
    return 0;
}
