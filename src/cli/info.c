/* edagari info SPEC|M.edg: what a model spec or a model file describes. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "internal.h"

static const char help[] =
    "usage: edagari info SPEC|M.edg|M.onnx\n"
    "       edagari info --ops\n"
    "       edagari info --isa\n"
    "\n"
    "Prints the model's nodes, shapes, parameters and MACs per image. For a model\n"
    "file (.edg) also the non-zero weights and sparsity of each layer, its masks,\n"
    "the spec it stores and its history; for a checkpoint, the optimizer's state and\n"
    "the data position a --resume goes on from. Then what the C export needs, and\n"
    "how inference runs it on this machine: the kernels (the CPU's best, or what\n"
    "EG_ISA names), and for each node its kernel, its weights (dense, CSR or N:M)\n"
    "and what it is fused with, at a batch of 1000 on every core.\n"
    "--ops lists every op: its inputs, spec attributes, ONNX node and summary.\n"
    "--isa lists the kernel variants this CPU runs, best first, one a line (the\n"
    "values EG_ISA takes here).\n";

/* The op table, as users write specs against it. */
static void list_ops(void)
{
    printf("%-12s %-6s %-26s %-19s %-5s %s\n", "op", "inputs", "attributes (* required)", "ONNX", "C", "computes");
    for (int i = 0; i < EG_OP_COUNT; i++) {
        const eg_op_def *op = eg_ops[i];
        char attrs[64] = "";
        for (int a = 0, at = 0; a < EG_ATTR_COUNT; a++)
            if (op->attrs & (1 << a))
                at += snprintf(attrs + at, sizeof attrs - (size_t)at, "%s%s%s", at ? " " : "", eg_attrs[a].name,
                               op->required & (1 << a) ? "*" : "");
        printf("%-12s %-6d %-26s %-19s %-5s %s\n", op->name, i == EG_OP_INPUT ? 0 : op->ninputs ? op->ninputs : 1,
               *attrs ? attrs : "-", op->onnx.type ? op->onnx.type : "-", op->c.place ? "yes" : "-", op->summary);
    }
}

/* A model file's weights layer by layer, the spec it stores and its history. */
static void file_details(const eg_graph *g)
{
    printf("\n  %-8s %10s %10s %9s %12s %12s\n", "layer", "weights", "non-zero", "sparsity", "MACs", "MACs left");
    size_t w = 0, nz = 0, m = 0, ml = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        if (!nd->nparams) continue;
        size_t n = nd->psize[0], z = eg_node_nonzeros(nd), mac = eg_node_macs(nd);
        size_t left = n ? (size_t)((double)mac * (double)z / (double)n + 0.5) : 0;
        printf("  %-8s %10zu %10zu %8.1f%% %12zu %12zu\n", nd->name, n, z, n ? 100.0 * (1 - (double)z / (double)n) : 0.0,
               mac, left);
        w += n, nz += z, m += mac, ml += left;
    }
    printf("  %-8s %10zu %10zu %8.1f%% %12zu %12zu\n", "total", w, nz, w ? 100.0 * (1 - (double)nz / (double)w) : 0.0, m,
           ml);
    if (g->masks) {
        size_t masked = 0;
        for (size_t k = 0; k < g->nparam; k++) masked += g->masks[k] == 0;
        printf("masks: yes, %zu of %zu parameters masked (they stay zero through training)\n", masked, g->nparam);
    } else {
        printf("masks: none\n");
    }
    size_t len = eg_graph_write_spec(g, NULL, 0);
    char spec[1 << 16];
    if (len < sizeof spec) {
        eg_graph_write_spec(g, spec, sizeof spec);
        printf("spec:\n");
        for (char *p = spec; *p;) {
            char *nl = strchr(p, '\n');
            printf("  %.*s\n", (int)(nl ? nl - p : (long)strlen(p)), p);
            p = nl ? nl + 1 : p + strlen(p);
        }
    }
    if (!g->history) {
        printf("history: none\n");
        return;
    }
    printf("history:\n");
    int n = 1;
    for (const char *p = g->history; *p; n++) {
        const char *nl = strchr(p, '\n');
        printf("  %2d. %.*s\n", n, (int)(nl ? nl - p : (long)strlen(p)), p);
        p = nl ? nl + 1 : p + strlen(p);
    }
}

/* A checkpoint's optimizer and position: where a --resume goes on from. */
static void checkpoint_details(const eg_optim *o, const eg_train_position *p)
{
    size_t nz = 0;
    for (size_t k = 0; k < o->n; k++) nz += o->m[k] != 0;
    printf("checkpoint: optimizer %s, step %ld, lr %g", o->type == EG_OPTIM_ADAM ? "adam" : "sgd", o->step, o->lr);
    if (o->type == EG_OPTIM_ADAM)
        printf(", betas %g/%g, eps %g", o->beta1, o->beta2, o->eps);
    else
        printf(", momentum %g%s", o->momentum, o->nesterov ? " (nesterov)" : "");
    printf(", weight decay %g; %s state for %zu parameters (%zu non-zero)\n", o->weight_decay,
           o->type == EG_OPTIM_ADAM ? "moment" : "momentum", o->n, nz);
    printf("  position: epoch %d of %d, %d of %d batches done; seed %llu, %d thread%s\n", p->epoch + 1, p->epochs, p->batch,
           p->batches, (unsigned long long)p->seed, p->threads, p->threads == 1 ? "" : "s");
    printf("  loss so far this epoch: %.4f (mean of %d batches)\n", p->batch ? p->loss_sum / p->batch : 0.0, p->batch);
    printf("  data: %d images of %dx%dx%d, crc32 %08x, labels %08x\n", p->samples, p->c, p->h, p->w, p->images_crc,
           p->labels_crc);
    printf("  stage: %s\n", p->stage);
}

/* What `edagari export --format c` would need on a device: flash for the
 * parameters as exported (dense or CSR), RAM for its scratch. */
static void export_needs(const eg_graph *g)
{
    eg_c_export_size s;
    eg_error err = {0};
    if (eg_export_c_size(g, &s, &err)) {
        printf("C export: not possible: %s\n", err.msg);
        return;
    }
    printf("C export (edagari export --format c): flash %zu bytes of parameters", s.flash_bytes);
    if (s.csr_layers) {
        printf(" (CSR:");
        int k = 0;
        for (int i = 0; i < g->nnodes; i++) {
            eg_c_layer l;
            eg_export_c_layer(&g->nodes[i], &l);
            if (l.csr) printf("%s %s", k++ ? "," : "", g->nodes[i].name);
        }
        printf("; all dense: %zu)", s.dense_bytes);
    }
    printf(", RAM %zu bytes of scratch (%zu floats)\n", s.ram_bytes, s.scratch_floats);
}

int eg_cmd_info(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(help, argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }
    if (!strcmp(argv[1], "--ops")) {
        list_ops();
        return 0;
    }
    if (!strcmp(argv[1], "--isa")) {
        for (const char *p = eg_isa_available(); *p; p++) putchar(*p == ' ' ? '\n' : *p);
        putchar('\n');
        return 0;
    }
    eg_graph g;
    eg_error err = {0};
    int edg = eg_model_path_is_file(argv[1]), from_file = edg, ckpt = 0;
    eg_optim o = {0};
    eg_train_position pos;
    /* a .edg file (perhaps a checkpoint), else a spec or an ONNX file */
    eg_status st = edg ? eg_model_load_sections(&g, &o, &pos, &ckpt, argv[1], &err)
                       : eg_model_open(&g, argv[1], &from_file, &err);
    if (st) {
        fprintf(stderr, "edagari: error: %s\n", err.msg);
        return 1;
    }
    if (edg) {
        struct stat sb;
        printf("model file %s: model %s, format %d, %lld bytes\n", argv[1], g.name, EG_MODEL_VERSION,
               stat(argv[1], &sb) ? -1LL : (long long)sb.st_size);
    }
    printf("model %s: %zu parameters, %zu MACs per image\n", from_file ? g.name : argv[1], eg_graph_param_count(&g),
           eg_graph_macs(&g));
    eg_graph_print(&g, stdout);
    if (eg_graph_check_finite(&g, "not finite", &err))
        printf("%s: edagari does not train, prune, evaluate or export this model\n", err.msg);
    if (from_file) file_details(&g);
    if (ckpt) checkpoint_details(&o, &pos);
    export_needs(&g);
    printf("kernels: %s, %d floats a vector (this CPU runs: %s; EG_ISA chooses)\n", eg_isa_name(),
           eg_isa_vector_floats(), eg_isa_available());
    if (g.nnodes > 1 && !eg_graph_prepare(&g, 1000, 0, eg_thread_count())) eg_plan_print(&g, stdout);
    eg_graph_free(&g);
    eg_optim_free(&o);
    return 0;
}
