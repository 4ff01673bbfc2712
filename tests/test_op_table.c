/* The op table (src/layers/registry.c): every op reaches every backend
 * through its entry, so an op added without one fails here: a name and a
 * summary for the help texts, a shape rule, forward and backward, an ONNX
 * node (op_type unique, so import can find the op from it) and a C export
 * form; ops are found by name, and the generated lists name them all. */
#include <string.h>

#include "check.h"
#include "internal.h"

int main(void)
{
    char names[1024], onnx[1024];
    eg_op_names(names, sizeof names, " ", 0, NULL);
    eg_op_names(onnx, sizeof onnx, " ", 1, NULL);
    for (int i = 0; i < EG_OP_COUNT; i++) {
        const eg_op_def *op = eg_ops[i];
        CHECK(op != NULL, "op %d has no table entry", i);
        if (!op) continue;
        eg_op_type t;
        CHECK(op->name && eg_op_find(op->name, &t) == op && t == (eg_op_type)i, "op %d: not found by its name", i);
        CHECK(op->summary && *op->summary, "%s: no summary for the help texts", op->name);
        CHECK(op->shape != NULL, "%s: no shape rule", op->name);
        CHECK(strstr(names, op->name) != NULL, "%s: missing from the list of ops '%s'", op->name, names);
        if (i == EG_OP_INPUT) continue;  /* the data: no compute, no ONNX node, no C code of its own */
        CHECK(op->forward && op->backward, "%s: no forward or backward", op->name);
        CHECK(op->onnx.type != NULL, "%s: no ONNX node", op->name);
        CHECK(op->c.place != EG_C_NONE, "%s: no C export form", op->name);
        CHECK(op->c.place == EG_C_SAME || op->c.code, "%s: a C export form that writes no code", op->name);
        CHECK(!op->onnx.plain || (op->ninputs <= 1 && !op->onnx.attrs && !op->onnx.inits[0]),
              "%s: imported as plain but has inputs, attributes or parameters", op->name);
        /* two ops of one op_type must differ in what the importer reads: the
         * constants of plain ops (Clip), or the group attribute (Conv) */
        for (int j = 1; j < i && op->onnx.type; j++) {
            const eg_onnx_form *o = &eg_ops[j]->onnx;
            int told_apart = o->nconsts != op->onnx.nconsts || (o->attrs ^ op->onnx.attrs) & EG_ONNX_GROUP;
            for (int k = 0; k < o->nconsts && k < op->onnx.nconsts; k++) told_apart |= o->consts[k] != op->onnx.consts[k];
            CHECK(!o->type || strcmp(o->type, op->onnx.type) || told_apart,
                  "%s and %s write the same ONNX op_type %s, and nothing tells them apart", eg_ops[j]->name, op->name,
                  op->onnx.type);
        }
        CHECK(strstr(onnx, op->onnx.type) != NULL, "%s: its ONNX op_type missing from '%s'", op->name, onnx);
    }
    CHECK(eg_op_find("no-such-op", NULL) == NULL, "an unknown name found an op");
    return check_report("op_table");
}
