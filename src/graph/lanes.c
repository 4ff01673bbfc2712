/* Inference in batch lanes: groups of VL images, every activation stored
 * as a vector of the VL images' values ([feature][image] instead of
 * [image][feature]). A narrow layer then still fills every lane: a conv
 * pruned to one or two channels, whose rows are 28 or 14 pixels wide, does
 * whole aligned multiply-adds with no masks and no shifted loads, padding
 * is whole zero vectors, and a sparse linear layer needs no transposes of
 * its own. It pays for one transpose of the input into lanes and one of
 * the output back. Up to EG_LANES_GROUPS groups go through the model
 * together: the convs run group by group, the linear layers load each
 * weight once for all of them.
 *
 * It takes chains: input -> (conv2d, stride 1, with its fused 2x2 max pool
 * and the relu that pool folds, or a relu, or neither)* -> flatten ->
 * (linear, relu)+, dense or on CSR copies (an N:M copy makes the graph run
 * image by image). The kernels (src/kernels/lanes_*.c) sum in the orders
 * the image-by-image kernels do, so an image's output has the same bits
 * whichever path, batch or chunk it goes through. Images left over from
 * whole groups of VL go image by image.
 *
 * A group's lane buffers hold, in node order, the first conv's input and
 * each conv's output in zero-bordered planes (or flat, before a flatten),
 * and each linear's output; they live in the arena, zeroed by
 * eg_graph_prepare, and only interiors are ever written, so the borders
 * stay zero. */
#include "internal.h"

/* What a walk runs on: `groups` groups of VL images, the first group's
 * inputs at rows (ldx floats apart, the next group's VL rows on) and its
 * outputs to out (rows of the output node); group g's lane buffers at
 * buf + g stride. */
typedef struct {
    const float *rows;
    size_t ldx;
    int groups;
    float *buf;
    size_t stride;
    float *out;
} batch;

static size_t vectors(size_t n) { return n * (size_t)eg_k->vl; }

/* Floats of c padded planes: (h + 2 pad) x (w + 2 pad) vectors each. */
static size_t planes(int c, int h, int w, int pad) { return vectors((size_t)c * (h + 2 * pad) * (w + 2 * pad)); }

/* The next node after i that is not a relu folded into its consumer. */
static int next_node(const eg_graph *g, int i)
{
    for (i++; i < g->nnodes && g->plan.steps[i].relu_folded; i++) {}
    return i;
}

/* Whether node i + 1 is a relu of node i that nothing folds (the
 * lanes kernel of node i applies it). */
static int relu_after(const eg_graph *g, int i)
{
    const eg_node *r = i + 1 < g->nnodes ? &g->nodes[i + 1] : NULL;
    return r && r->op == EG_OP_RELU && !g->plan.steps[i + 1].relu_folded && r->ninputs == 1 && r->inputs[0] == i;
}

/* The VL images' inputs (rows ldx floats apart, C x h x w each) into the
 * interiors of zero-bordered planes padded by pad. */
static void to_planes(float *x, const float *rows, size_t ldx, eg_shape in, int pad)
{
    int hw = in.h * in.w, xw = in.w + 2 * pad;
    for (int c = 0; c < in.c; c++)
        eg_k->lanes_from_rows(x + (size_t)c * planes(1, in.h, in.w, pad), xw, rows + (size_t)c * hw, ldx, hw, in.w, pad,
                           pad);
}

/* Walks g's nodes as lanes take them: with b, runs them; without, only
 * checks. `weights` also checks what only an inference prepare decides:
 * that no layer has an N:M copy. Returns the lane floats a group needs, 0
 * when g cannot run in lanes. */
static size_t walk(const eg_graph *g, int weights, const batch *b)
{
    const int vl = eg_k->vl;
    if (g->nnodes < 2 || g->nodes[0].op != EG_OP_INPUT) return 0;
    size_t used = 0, ldx = b ? b->ldx : 0, stride = b ? b->stride : 0;
    int G = b ? b->groups : 0;
    float *buf = b ? b->buf : NULL;
    float *at = NULL;   /* the current activation's lanes (the first group's) */
    int planes_for = 1; /* the conv whose padded input planes `at` is */
    int features = 0;   /* the current activation's features, once flat */
    for (int i = 1; i < g->nnodes; i++) {
        const eg_node *nd = &g->nodes[i];
        const eg_step *s = &g->plan.steps[i];
        if (nd->ninputs != 1 || nd->inputs[0] != i - 1) return 0;
        if (s->relu_folded || s->pooled_in) continue;  /* the pool a conv ran applies them */
        if (weights && s->weights == EG_WEIGHTS_NM) return 0;
        if (nd->op == EG_OP_CONV2D) {
            /* its fused pool (and the relu the pool folds), or the relu after it */
            int pool = s->pool_into, relu = pool ? g->plan.steps[pool].relu_in : relu_after(g, i);
            int after = pool ? next_node(g, pool) : i + 1 + relu;
            if (nd->stride != 1 || nd->kernel > EG_LANES_MAX_KERNEL || after >= g->nnodes || planes_for != i) return 0;
            const eg_node *consumer = &g->nodes[after];
            if (consumer->op != EG_OP_CONV2D && consumer->op != EG_OP_FLATTEN) return 0;
            int csr = weights && s->weights == EG_WEIGHTS_CSR;
            if (csr && nd->in_shape.c * nd->kernel * nd->kernel > EG_LANES_MAX_TERMS) return 0;
            eg_shape in = nd->in_shape, out = nd->out_shape, to = pool ? g->nodes[pool].out_shape : out;
            int xh = in.h + 2 * nd->pad, xw = in.w + 2 * nd->pad;
            float *x = at;  /* the planes the previous conv wrote */
            if (i == 1) {   /* the input into lanes */
                x = buf;
                used += planes(in.c, in.h, in.w, nd->pad);
                for (int gi = 0; gi < G; gi++) to_planes(x + gi * stride, b->rows + (size_t)gi * vl * ldx, ldx, in, nd->pad);
            }
            /* the output: the next conv's padded planes, or flat */
            int pad = consumer->op == EG_OP_CONV2D ? consumer->pad : 0, yw = to.w + 2 * pad;
            size_t yplane = planes(1, to.h, to.w, pad);
            float *y = buf + used, *interior = y + vectors((size_t)pad * yw + pad);
            used += (size_t)to.c * yplane;
            for (int gi = 0; gi < G; gi++) {
                if (csr)
                    eg_k->lanes_conv_csr(nd->out, in.c, nd->kernel, out.h, out.w, x + gi * stride, xh, xw,
                                         s->csr_rowptr, s->csr_col, s->csr_val, nd->param[1], pool != 0, relu,
                                         interior + gi * stride, yw, yplane);
                else
                    eg_k->lanes_conv(nd->out, in.c, nd->kernel, out.h, out.w, x + gi * stride, xh, xw, nd->param[0],
                                  nd->param[1], pool != 0, relu, interior + gi * stride, yw, yplane);
            }
            at = y;
            planes_for = after;
            features = to.c * to.h * to.w;
            if (!pool) i += relu;
        } else if (nd->op == EG_OP_FLATTEN || nd->op == EG_OP_LINEAR) {
            if (i == 1) {  /* a model of linear layers: the input into lanes as it is */
                features = (int)eg_shape_size(nd->in_shape);
                at = buf;
                used += vectors((size_t)features);
                for (int gi = 0; gi < G; gi++)
                    eg_k->transpose(at + gi * stride, vl, b->rows + gi * vl * ldx, (int)ldx, vl, features);
            }
            if (!features || (nd->op == EG_OP_LINEAR && features != nd->in_shape.c)) return 0;
            if (nd->op == EG_OP_FLATTEN) continue;
            int relu = relu_after(g, i);
            float *y = buf + used;
            used += vectors((size_t)nd->out);
            if (G && s->weights == EG_WEIGHTS_CSR)
                eg_k->lanes_linear_csr(G, nd->out, s->csr_rowptr, s->csr_col, s->csr_val, nd->param[1], at, stride,
                                       relu, y);
            else if (G)
                eg_k->lanes_linear(G, nd->out, features, nd->param[0], nd->param[1], at, stride, relu, y);
            at = y;
            features = nd->out;
            i += relu;
        } else
            return 0;
    }
    const eg_node *last = &g->nodes[g->nnodes - 1];
    if (last->op != EG_OP_LINEAR && last->op != EG_OP_RELU) return 0;
    for (int gi = 0; gi < G; gi++)
        eg_k->transpose(b->out + gi * vl * (size_t)features, features, at + gi * stride, vl, features, vl);
    return used;
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Lanes hold VL images' activations where image by image holds one's
 * chunk: a model whose group would take more than 256 KB an image (4 MB
 * for 16 images; images much larger than MNIST's) runs image by image, on
 * every ISA alike. Groups need not stay in L2: cnn3's take 80 KB an image
 * and run faster in lanes. */
#define IMAGE_MAX_FLOATS (64 * 1024)

size_t eg_lanes_floats(const eg_graph *g)
{
    size_t group = round16(walk(g, 0, NULL));
    return group <= IMAGE_MAX_FLOATS * (size_t)eg_k->vl ? EG_LANES_GROUPS * group : 0;
}

int eg_lanes_forward(eg_graph *g, const float *x, float *y, int lo, int hi)
{
    const int vl = eg_k->vl;
    if (hi - lo < vl || !g->plan.lanes || g->plan.training) return lo;  /* a batch of one pays no walk */
    size_t group = round16(walk(g, 1, NULL));
    /* not in lanes (an N:M copy), or shapes changed since the prepare */
    if (!group || EG_LANES_GROUPS * group > g->plan.lanes_floats) return lo;
    size_t insz = eg_shape_size(g->nodes[0].out_shape), outsz = eg_shape_size(g->nodes[g->nnodes - 1].out_shape);
    batch b = {.ldx = insz, .buf = g->plan.lanes + g->plan.lanes_floats * (size_t)eg_thread_id(), .stride = group};
    for (; lo + vl <= hi; lo += b.groups * vl) {
        b.groups = (hi - lo) / vl < EG_LANES_GROUPS ? (hi - lo) / vl : EG_LANES_GROUPS;
        b.rows = x + lo * insz;
        b.out = y + lo * outsz;
        walk(g, 1, &b);
    }
    return lo;
}
