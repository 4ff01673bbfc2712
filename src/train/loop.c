/* The training epoch and the evaluation pass. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "dist/dist.h"

eg_status eg_data_fits(const eg_graph *g, const eg_dataset *ds, eg_error *err)
{
    const eg_node *in = &g->nodes[0], *out = eg_graph_output(g);
    if (in->out_shape.c != ds->c || in->out_shape.h != ds->h || in->out_shape.w != ds->w)
        return eg_fail(err, EG_ERR_ARG, "model %s takes %dx%dx%d inputs but the data has %dx%dx%d images%s%s", g->name,
                       in->out_shape.c, in->out_shape.h, in->out_shape.w, ds->c, ds->h, ds->w,
                       ds->images_path[0] ? ": " : "", ds->images_path);
    for (int i = 0; i < ds->n; i++)
        if (ds->y[i] >= out->out_shape.c) {
            if (!ds->labels_path[0])
                return eg_fail(err, EG_ERR_ARG, "label %d of sample %d is outside the model's %d outputs", ds->y[i], i,
                               out->out_shape.c);
            return eg_fail(err, EG_ERR_ARG, "%s: byte %d: label %d of sample %d is outside the model's %d outputs (0 to %d)",
                           ds->labels_path, 8 + i, ds->y[i], i, out->out_shape.c, out->out_shape.c - 1);
        }
    return EG_OK;
}

/* What a training step reports besides its loss: whether a rank caught a
 * stop signal (eg_stop_signal) by its end, the same on every rank, and
 * whether a parameter it wrote is not finite. */
typedef struct {
    int stop, nonfinite;
} step_end;

/* After optimizer step `step`, batch b of nb of the epoch (all: at its
 * end, when the batchnorm statistics are checked too): EG_ERR_NUMERIC
 * naming the first parameter or statistic that is not finite, or the loss
 * when it alone is not. */
static eg_status check_step(const eg_graph *g, float loss, const step_end *e, long step, int b, int nb, int all,
                            eg_error *err)
{
    if (isfinite(loss) && !e->nonfinite && !all) return EG_OK;
    char where[96];
    snprintf(where, sizeof where, "step %ld, batch %d of %d", step, b + 1, nb);
    if (eg_graph_check_finite(g, where, err)) return eg_fail_more(err, EG_ERR_NUMERIC, "; the batch's loss was %g", (double)loss);
    return isfinite(loss) ? EG_OK : eg_fail(err, EG_ERR_NUMERIC, "%s: the loss is %g", where, (double)loss);
}

/* One optimizer step on the samples order[0..n) of ds, in a single parallel
 * region: each thread gathers its rows of the batch and takes them forward,
 * through the loss and backward; after one barrier each sums its share of
 * the parameters' gradients, adds the penalty's gradient (pen, may be NULL)
 * to it, applies the optimizer and then the penalty's soft threshold. xb and
 * yb hold the batch; losses has room for two values per thread (the batch
 * rows' cross-entropy, the parameter range's penalty), added in thread order.
 * Returns the mean cross-entropy plus the penalty, the penalty in *pen_term.
 * Under MPI each rank takes its share of the batch's rows, and the ranks'
 * gradients (and losses) are summed after the threads' and before the
 * optimizer, which every rank then applies alike. Without o it only leaves
 * the batch's gradient in g->grads. Each thread then scans the parameters
 * it updated, still in its cache, for values that are not finite. */
static float train_step(eg_graph *g, eg_optim *o, const eg_penalty *pen, const eg_dataset *ds,
                        const int32_t *order, int n, int ahead, float *xb, uint8_t *labels, double *losses,
                        double *pen_term, step_end *end)
{
    eg_step *out = &g->plan.steps[g->nnodes - 1];
    int k = g->nodes[g->nnodes - 1].out_shape.c, teams = 1;
    int stop = 0, nonfinite = 0;
    size_t insz = (size_t)ds->c * ds->h * ds->w;
    int ranks = eg_dist_active() ? eg_dist_size() : 1, rlo = 0, rhi = n;
    if (ranks > 1) eg_split(n, eg_dist_rank(), ranks, &rlo, &rhi);
    order += rlo;  /* this rank's rows, at the start of xb */
    ahead -= rlo;
    eg_graph_set_input(g, xb);
    if (o) o->step++;
#pragma omp parallel num_threads(g->plan.threads)
    {
        unsigned fp_mode = eg_denormals_flush();
        int t = eg_thread_id(), nt = eg_team_size(), lo, hi;
        eg_split(rhi - rlo, t, nt, &lo, &hi);
        for (int i = lo; i < hi; i++) {
            memcpy(xb + (size_t)i * insz, ds->x + (size_t)order[i] * insz, insz * sizeof *xb);
            labels[i] = ds->y[order[i]];
        }
        /* the images of the same rows of the next batch, into L2 while this
         * one computes: a gather from a shuffled data set of many megabytes
         * waits on memory (and page walks) otherwise */
        for (int i = n + lo; i < n + hi && i < ahead; i++)
            for (size_t b = 0; b < insz * sizeof *xb; b += 64)
                __builtin_prefetch((const char *)(ds->x + (size_t)order[i] * insz) + b, 0, 1);
        eg_graph_forward_part(g, lo, hi);
        losses[t] = eg_xent_rows(out->y + (size_t)lo * k, labels + lo, hi - lo, k, n, out->dy + (size_t)lo * k);
        eg_graph_backward_part(g, lo, hi);
#pragma omp barrier
        eg_split((int)g->nparam, t, nt, &lo, &hi);
        if (ranks == 1 && !pen) {  /* the common case: sum and update in one pass */
            eg_reduce_and_update(g, o, (size_t)lo, (size_t)hi, nt);
            if (t == 0) teams = nt;
            goto done;
        }
        eg_graph_reduce_grads(g, lo, hi, nt, 0);
        if (ranks > 1) {
#pragma omp barrier
#pragma omp master
            {
                /* the stop flag rides with the loss, so every rank stops after the same step */
                double sums[2] = {0, eg_stop_signal() != 0};
                for (int u = 0; u < nt; u++) sums[0] += losses[u], losses[u] = 0;
                eg_dist_sum_doubles(sums, 2);
                losses[0] = sums[0];
                stop = sums[1] > 0;
                if (stop && !eg_stop_signal()) eg_stop_request(SIGTERM);  /* another rank caught one */
                eg_dist_sum_floats(g->grads, g->nparam);
            }
#pragma omp barrier
        }
        if (pen) losses[nt + t] = eg_penalty_grad(pen, g->params, g->grads, (size_t)lo, (size_t)hi);
        if (o) eg_optim_update(o, g->params, g->grads, (size_t)lo, (size_t)hi);
        if (pen) eg_penalty_prox(pen, g->params, o->lr, (size_t)lo, (size_t)hi);
        if (t == 0) teams = nt;
    done:
        if (o && eg_first_nonfinite(g->params + lo, (size_t)(hi - lo)) < (size_t)(hi - lo)) {
#pragma omp atomic write
            nonfinite = 1;
        }
        eg_denormals_restore(fp_mode);
    }
    end->stop = ranks == 1 ? eg_stop_signal() != 0 : stop;
    end->nonfinite = nonfinite;
    double total = 0, penalty = 0;
    for (int t = 0; t < teams; t++) total += losses[t];
    for (int t = 0; pen && t < teams; t++) penalty += losses[teams + t];
    *pen_term = (float)penalty;
    return (float)(total / n) + (float)penalty;
}

double eg_batch_gradient(eg_graph *g, const eg_dataset *ds, const int32_t *order, int n, float *xb,
                         uint8_t *labels, double *losses)
{
    double pen_term;
    step_end end;
    return train_step(g, NULL, NULL, ds, order, n, n, xb, labels, losses, &pen_term, &end);
}

/* The bar after `done` of `total` images. */
static void progress(long done, long total, double t0, double loss)
{
    int width = 30, filled = (int)((long)width * done / total);
    double el = eg_now() - t0;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    bar[width] = 0;
    fprintf(stdout, "\r  [%s] %3d%%  %7.0f images/s  loss %.4f", bar, (int)(100L * done / total),
            el > 0 ? done / el : 0.0, loss);
    fflush(stdout);
}

eg_status eg_train_epoch(eg_graph *g, eg_optim *o, const eg_dataset *ds, const eg_train_opts *opts,
                         eg_rng *rng, eg_epoch_stats *st, eg_error *err)
{
    eg_status s = eg_data_fits(g, ds, err);
    if (s) return s;
    int bs = opts->batch;
    if (bs < 1) return eg_fail(err, EG_ERR_ARG, "batch size must be at least 1, found %d", bs);
    if (bs > ds->n) bs = ds->n;
    size_t insz = (size_t)ds->c * ds->h * ds->w;
    int32_t *order = malloc((size_t)ds->n * sizeof *order);
    float *xb = malloc((size_t)bs * insz * sizeof *xb);
    double *losses = malloc(2 * (size_t)eg_thread_count() * sizeof *losses);
    uint8_t *yb = malloc((size_t)bs);
    if (!order || !xb || !losses || !yb || eg_graph_prepare(g, bs, 1, eg_thread_count())) {
        free(order), free(xb), free(losses), free(yb);
        return eg_fail(err, EG_ERR_NOMEM, "out of memory for training at batch %d", bs);
    }
    if (o->n != g->nparam && eg_optim_bind(o, g->nparam)) {
        free(order), free(xb), free(losses), free(yb);
        return eg_fail(err, EG_ERR_NOMEM, "out of memory for optimizer state");
    }
    const eg_penalty *pen = opts->penalty;
    if (pen && (pen->n != g->nparam || !pen->sel)) {
        free(order), free(xb), free(losses), free(yb);
        return eg_fail(err, EG_ERR_ARG, "the penalty was built for %zu parameters but model %s has %zu", pen->n,
                       g->name, g->nparam);
    }
    o->mask = g->masks;  /* pruned weights stay zero */
    for (int i = 0; i < ds->n; i++) order[i] = i;
    if (opts->shuffle) eg_rng_shuffle(rng, order, ds->n);

    int nbatches = (ds->n + bs - 1) / bs, every = nbatches / 100 + 1;
    if (opts->start_batch < 0 || opts->start_batch > nbatches) {
        free(order), free(xb), free(losses), free(yb);
        return eg_fail(err, EG_ERR_ARG, "cannot start the epoch at batch %d: it has %d batches", opts->start_batch, nbatches);
    }
    /* a resumed epoch: the same shuffle, the batches before start_batch already done */
    double t0 = eg_now(), total = opts->start_loss, pen_total = opts->start_penalty;
    for (int b = opts->start_batch; b < nbatches && !s; b++) {
        int start = b * bs, m = ds->n - start < bs ? ds->n - start : bs;
        double pen_term = 0;
        step_end end;
        float loss = train_step(g, o, pen, ds, order + start, m, ds->n - start, xb, yb, losses, &pen_term, &end);
        total += loss;
        pen_total += pen_term;
        /* before the step's callback: no checkpoint ever holds what diverged */
        s = check_step(g, loss, &end, o->step, b, nbatches, b == nbatches - 1, err);
        if (!s && opts->after_step) {
            eg_step_info si = {b, nbatches, total, pen_total};
            s = opts->after_step(opts->step_ctx, g, o, &si, err);
        }
        if (!s && end.stop)
            s = eg_fail(err, EG_ERR_INTERRUPTED, "after step %ld, batch %d of %d", o->step, b + 1, nbatches);
        if (opts->progress && !s && (b % every == 0 || b == nbatches - 1))
            progress(start + m, ds->n, t0, total / (b + 1));
    }
    if (s) {
        if (opts->progress) fprintf(stdout, "\n");
        free(order), free(xb), free(losses), free(yb);
        return s;
    }
    if (opts->progress) fprintf(stdout, "\r%*s\r", 80, "");
    st->seconds = eg_now() - t0;
    st->loss = total / nbatches;
    st->penalty = pen_total / nbatches;
    long skipped = (long)opts->start_batch * bs;  /* images a resumed epoch had done */
    st->images = skipped < ds->n ? ds->n - skipped : 0;
    free(order), free(xb), free(losses), free(yb);
    return EG_OK;
}

eg_status eg_evaluate(eg_graph *g, const eg_dataset *ds, int batch, double *accuracy, double *loss,
                      eg_error *err)
{
    eg_status s = eg_data_fits(g, ds, err);
    if (s) return s;
    if (batch < 1) return eg_fail(err, EG_ERR_ARG, "batch size must be at least 1, found %d", batch);
    if (batch > ds->n) batch = ds->n;
    if (eg_graph_prepare(g, batch, 0, eg_thread_count()))
        return eg_fail(err, EG_ERR_NOMEM, "out of memory for evaluation at batch %d", batch);
    int k = eg_graph_output(g)->out_shape.c;
    size_t insz = (size_t)ds->c * ds->h * ds->w;
    long correct = 0;
    double total = 0;
    /* under MPI each rank takes its share of the images; the sums are added */
    int lo = 0, hi = ds->n;
    if (eg_dist_active()) eg_split(ds->n, eg_dist_rank(), eg_dist_size(), &lo, &hi);
    for (int start = lo; start < hi; start += batch) {
        int m = hi - start < batch ? hi - start : batch;
        eg_graph_forward(g, ds->x + (size_t)start * insz, m);
        const float *z = eg_graph_y(g);
        for (int i = 0; i < m; i++) {
            int best = 0;  /* the first maximum, as torch.argmax */
            for (int j = 1; j < k; j++)
                if (z[(size_t)i * k + j] > z[(size_t)i * k + best]) best = j;
            correct += best == ds->y[start + i];
        }
        total += (double)eg_softmax_xent(z, ds->y + start, m, k, NULL) * m;
    }
    if (eg_dist_active()) {
        double sums[2] = {(double)correct, total};
        eg_dist_sum_doubles(sums, 2);
        correct = (long)sums[0], total = sums[1];
    }
    *accuracy = 100.0 * (double)correct / ds->n;
    if (loss) *loss = total / ds->n;
    return EG_OK;
}
