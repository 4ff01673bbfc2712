/* libFuzzer harness for the model-file reader (src/io/model_file.c and the
 * checkpoint sections of src/io/checkpoint.c). Each input is read as it is,
 * and again with its checksum repaired, so that mutations reach the
 * sections behind it. Any bytes either load —
 * a model whose spec prints, and whose forward pass runs when it is small —
 * or are refused with EG_ERR_FORMAT and a message naming the byte offset
 * (EG_ERR_NOMEM only for a model too big to allocate). ASan and UBSan
 * report what goes wrong in between. Built by tests/fuzz/CMakeLists.txt
 * with clang; run by tests/fuzz/run.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_one(const uint8_t *data, size_t size)
{
    eg_graph g;
    eg_optim o = {0};
    eg_train_position p;
    eg_error err = {0};
    int has = -1;
    eg_status st = eg_model_parse(&g, &o, &p, &has, data, size, "fuzz.edg", &err);
    if (st) {
        if (g.nodes || g.params || o.m || o.v) {
            fprintf(stderr, "a refused file left data behind: %s\n", err.msg);
            abort();
        }
        if (st == EG_ERR_NOMEM) return;
        if (st != EG_ERR_FORMAT || !strstr(err.msg, "fuzz.edg: byte ")) {
            fprintf(stderr, "status %d, message without the byte offset: %s\n", st, err.msg);
            abort();
        }
        return;
    }
    if (has != 0 && has != 1) abort();
    /* what a caller does next: print the spec, run a small model */
    size_t len = eg_graph_write_spec(&g, NULL, 0);
    char *spec = malloc(len + 1);
    if (spec) eg_graph_write_spec(&g, spec, len + 1);
    free(spec);
    const eg_node *in = &g.nodes[0];
    size_t insz = eg_shape_size(in->out_shape);
    if (eg_graph_macs(&g) < ((size_t)1 << 20) && insz < ((size_t)1 << 16) && !eg_graph_prepare(&g, 2, 0, 1)) {
        float *x = calloc(2 * insz, sizeof *x);
        if (x) eg_graph_forward(&g, x, 2);
        free(x);
    }
    eg_graph_free(&g);
    eg_optim_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_one(data, size);
    /* the crc32 at byte 32 covers the bytes after the 40-byte header */
    if (size > 40) {
        uint8_t *b = malloc(size);
        if (!b) return 0;
        memcpy(b, data, size);
        uint32_t crc = (uint32_t)crc32_z(0L, b + 40, size - 40);
        for (int i = 0; i < 4; i++) b[32 + i] = (uint8_t)(crc >> (8 * i));
        read_one(b, size);
        free(b);
    }
    return 0;
}
