/* A small SVG line-chart writer: axes with ticks at round values, grid
 * lines, axis labels, a title, a legend, a dashed reference line, and one
 * polyline with markers per series. Plain SVG 1.1 that browsers and
 * converters (rsvg-convert, ImageMagick) read; no library. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->buf && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap <= b->len + (size_t)n) cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->oom = 1;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
}

/* Text with XML's five special characters escaped; control characters
 * (not allowed in XML 1.0) become spaces. */
static void put_text(sbuf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '&': put(b, "&amp;"); break;
        case '<': put(b, "&lt;"); break;
        case '>': put(b, "&gt;"); break;
        case '"': put(b, "&quot;"); break;
        case '\'': put(b, "&apos;"); break;
        default: put(b, "%c", *p < 0x20 ? ' ' : *p);
        }
    }
}

/* Round tick steps: 1, 2 or 5 times a power of ten, about `target` ticks over [lo, hi]. */
static double nice_step(double lo, double hi, int target)
{
    double raw = (hi - lo) / target;
    double p = pow(10, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

typedef struct {
    double lo, hi, step;  /* the axis runs lo..hi; ticks every step from first */
    double first;
    int nticks, decimals;
} axis;

/* An axis over [lo, hi]; `widen` rounds the ends out to whole steps (for
 * ranges taken from the data), else they stay as given. */
static axis make_axis(double lo, double hi, int widen)
{
    axis a;
    if (!(hi > lo)) {  /* one value, or none: a range around it */
        double c = isfinite(lo) ? lo : 0, d = fabs(c) > 0 ? fabs(c) * 0.05 : 1;
        lo = c - d, hi = c + d;
    }
    a.step = nice_step(lo, hi, 8);
    if (widen) {
        lo = floor(lo / a.step + 1e-9) * a.step;
        hi = ceil(hi / a.step - 1e-9) * a.step;
    }
    a.lo = lo, a.hi = hi;
    a.first = ceil(lo / a.step - 1e-9) * a.step;
    a.nticks = (int)floor((hi - a.first) / a.step + 1e-9) + 1;
    if (a.nticks > 50) a.nticks = 50;
    a.decimals = a.step >= 1 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
    if (a.decimals > 6) a.decimals = 6;
    return a;
}

static void put_num(sbuf *b, double v, int decimals)
{
    if (fabs(v) < 0.5 * pow(10, -decimals)) v = 0;  /* no "-0.0" */
    put(b, "%.*f", decimals, v);
}

static const char *const colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                     "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
#define NCOLORS (int)(sizeof colors / sizeof colors[0])
#define NMARKERS 5

/* Marker k (circle, square, triangle, diamond, inverted triangle) at (x, y). */
static void put_marker(sbuf *b, int k, double x, double y, const char *color)
{
    switch (k % NMARKERS) {
    case 0: put(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.6\" fill=\"%s\"/>", x, y, color); break;
    case 1: put(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"6.6\" height=\"6.6\" fill=\"%s\"/>", x - 3.3, y - 3.3, color); break;
    case 2:
        put(b, "<path d=\"M%.2f %.2fL%.2f %.2fL%.2f %.2fZ\" fill=\"%s\"/>", x, y - 4.4, x + 4.2, y + 3.2, x - 4.2, y + 3.2,
            color);
        break;
    case 3:
        put(b, "<path d=\"M%.2f %.2fL%.2f %.2fL%.2f %.2fL%.2f %.2fZ\" fill=\"%s\"/>", x, y - 4.6, x + 4.6, y, x, y + 4.6,
            x - 4.6, y, color);
        break;
    default:
        put(b, "<path d=\"M%.2f %.2fL%.2f %.2fL%.2f %.2fZ\" fill=\"%s\"/>", x, y + 4.4, x + 4.2, y - 3.2, x - 4.2, y - 3.2,
            color);
    }
}

char *eg_svg_plot(const eg_plot *p, size_t *len)
{
    int W = p->width > 0 ? p->width : 800, H = p->height > 0 ? p->height : 500;
    /* the data's ranges, where the caller left them open */
    double xlo = p->xmin, xhi = p->xmax, ylo = p->ymin, yhi = p->ymax;
    int auto_x = !(xhi > xlo), auto_y = !(yhi > ylo);
    if (auto_x) xlo = INFINITY, xhi = -INFINITY;
    if (auto_y) ylo = INFINITY, yhi = -INFINITY;
    for (int s = 0; s < p->nseries; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double x = p->series[s].x[i], y = p->series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            if (auto_x) xlo = fmin(xlo, x), xhi = fmax(xhi, x);
            if (auto_y) ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        }
    if (auto_y && isfinite(p->ref_y)) ylo = fmin(ylo, p->ref_y), yhi = fmax(yhi, p->ref_y);
    axis ax = make_axis(xlo, xhi, auto_x), ay = make_axis(ylo, yhi, auto_y);

    /* layout: the legend to the right of the plot, as wide as its longest
     * name (about 7.2 px a character at 12 px) or note line (6 at 11 px) */
    int nleg = p->nseries + (isfinite(p->ref_y) ? 1 : 0), note_lines = 0;
    size_t longest = 6, longest_note = 0;
    for (int s = 0; s < p->nseries; s++)
        if (p->series[s].name && strlen(p->series[s].name) > longest) longest = strlen(p->series[s].name);
    if (isfinite(p->ref_y) && p->ref_label && strlen(p->ref_label) > longest) longest = strlen(p->ref_label);
    for (const char *q = p->note; q && *q; note_lines++) {
        size_t n = strcspn(q, "\n");
        if (n > longest_note) longest_note = n;
        q += n + (q[n] == '\n');
    }
    double legend_w = fmax(48 + 7.2 * (double)(longest > 40 ? 40 : longest),
                           8 + 6.0 * (double)(longest_note > 60 ? 60 : longest_note));
    double left = 74, right = legend_w + 28, top = p->subtitle ? 62 : 46, bottom = 58;
    double legend_h = 12 + 20.0 * nleg, side_h = legend_h + (note_lines ? 10 + 15.0 * note_lines : 0);
    if (W < left + right + 240) W = (int)ceil(left + right + 240);
    if (top + side_h + 10 > H - bottom) H = (int)ceil(top + side_h + 10 + bottom);
    double px0 = left, px1 = W - right, py0 = top, py1 = H - bottom;
#define SX(v) (px0 + ((v) - ax.lo) / (ax.hi - ax.lo) * (px1 - px0))
#define SY(v) (py1 - ((v) - ay.lo) / (ay.hi - ay.lo) * (py1 - py0))

    sbuf b = {0};
    put(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    put(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n", W, H, W, H);
    put(&b, "<title>");
    put_text(&b, p->title);
    put(&b, "</title>\n");
    put(&b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);
    put(&b, "<defs><clipPath id=\"plot-area\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/></clipPath></defs>\n",
        px0 - 6, py0 - 6, px1 - px0 + 12, py1 - py0 + 12);

    /* title and subtitle */
    put(&b, "<text x=\"%.2f\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\" fill=\"#222\">", W / 2.0);
    put_text(&b, p->title);
    put(&b, "</text>\n");
    if (p->subtitle) {
        put(&b, "<text x=\"%.2f\" y=\"43\" text-anchor=\"middle\" font-size=\"12\" fill=\"#555\">", W / 2.0);
        put_text(&b, p->subtitle);
        put(&b, "</text>\n");
    }

    /* grid lines and ticks */
    put(&b, "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n");
    for (int i = 0; i < ax.nticks; i++) {
        double x = SX(ax.first + i * ax.step);
        put(&b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x, py0, x, py1);
    }
    for (int i = 0; i < ay.nticks; i++) {
        double y = SY(ay.first + i * ay.step);
        put(&b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", px0, y, px1, y);
    }
    put(&b, "</g>\n<g stroke=\"#333\" stroke-width=\"1\">\n");
    for (int i = 0; i < ax.nticks; i++) {
        double x = SX(ax.first + i * ax.step);
        put(&b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x, py1, x, py1 + 5);
    }
    for (int i = 0; i < ay.nticks; i++) {
        double y = SY(ay.first + i * ay.step);
        put(&b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", px0 - 5, y, px0, y);
    }
    put(&b, "</g>\n<g fill=\"#333\">\n");
    for (int i = 0; i < ax.nticks; i++) {
        double v = ax.first + i * ax.step;
        put(&b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", SX(v), py1 + 19);
        put_num(&b, v, ax.decimals);
        put(&b, "</text>\n");
    }
    for (int i = 0; i < ay.nticks; i++) {
        double v = ay.first + i * ay.step;
        put(&b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">", px0 - 8, SY(v) + 4);
        put_num(&b, v, ay.decimals);
        put(&b, "</text>\n");
    }
    put(&b, "</g>\n");
    /* the axes' frame and labels */
    put(&b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#333\" stroke-width=\"1\"/>\n",
        px0, py0, px1 - px0, py1 - py0);
    put(&b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222\">", (px0 + px1) / 2, (double)H - 14);
    put_text(&b, p->xlabel);
    put(&b, "</text>\n");
    double ylx = 20, yly = (py0 + py1) / 2;
    put(&b, "<text x=\"%.2f\" y=\"%.2f\" transform=\"rotate(-90 %.2f %.2f)\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222\">",
        ylx, yly, ylx, yly);
    put_text(&b, p->ylabel);
    put(&b, "</text>\n");

    /* the reference line, then the series */
    put(&b, "<g clip-path=\"url(#plot-area)\">\n");
    if (isfinite(p->ref_y))
        put(&b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#555\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n",
            px0, SY(p->ref_y), px1, SY(p->ref_y));
    for (int s = 0; s < p->nseries; s++) {
        const eg_plot_series *se = &p->series[s];
        const char *color = colors[s % NCOLORS];
        put(&b, "<g>\n<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\" d=\"", color);
        int pen = 0;  /* 0: the next point starts a segment */
        for (int i = 0; i < se->n; i++) {
            if (!isfinite(se->x[i]) || !isfinite(se->y[i])) {
                pen = 0;
                continue;
            }
            put(&b, "%s%.2f %.2f", pen ? " L" : (i ? " M" : "M"), SX(se->x[i]), SY(se->y[i]));
            pen = 1;
        }
        put(&b, "\"/>\n");
        for (int i = 0; i < se->n; i++)
            if (isfinite(se->x[i]) && isfinite(se->y[i])) {
                put_marker(&b, s, SX(se->x[i]), SY(se->y[i]), color);
                put(&b, "\n");
            }
        put(&b, "</g>\n");
    }
    put(&b, "</g>\n");

    /* the legend */
    double lx = px1 + 16, ly = py0;
    put(&b, "<g>\n<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#ffffff\" stroke=\"#bbb\"/>\n", lx, ly,
        legend_w, legend_h);
    for (int s = 0; s < nleg; s++) {
        double y = ly + 16 + 20.0 * s;
        if (s < p->nseries) {
            const char *color = colors[s % NCOLORS];
            put(&b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"2\"/>", lx + 8, y,
                lx + 36, y, color);
            put_marker(&b, s, lx + 22, y, color);
            put(&b, "<text x=\"%.2f\" y=\"%.2f\" fill=\"#222\">", lx + 44, y + 4);
            put_text(&b, p->series[s].name);
        } else {
            put(&b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#555\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>",
                lx + 8, y, lx + 36, y);
            put(&b, "<text x=\"%.2f\" y=\"%.2f\" fill=\"#222\">", lx + 44, y + 4);
            put_text(&b, p->ref_label ? p->ref_label : "reference");
        }
        put(&b, "</text>\n");
    }
    put(&b, "</g>\n");
    if (note_lines) {
        put(&b, "<g font-size=\"11\" fill=\"#555\">\n");
        int k = 0;
        for (const char *q = p->note; *q; k++) {
            size_t n = strcspn(q, "\n");
            put(&b, "<text x=\"%.2f\" y=\"%.2f\">", lx + 2, ly + legend_h + 20 + 15.0 * k);
            char line[256];
            snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), q);
            put_text(&b, line);
            put(&b, "</text>\n");
            q += n + (q[n] == '\n');
        }
        put(&b, "</g>\n");
    }
    put(&b, "</svg>\n");
#undef SX
#undef SY
    if (b.oom) {
        free(b.buf);
        return NULL;
    }
    if (len) *len = b.len;
    return b.buf;
}

eg_status eg_svg_write_plot(const eg_plot *p, const char *path, eg_error *err)
{
    size_t len;
    char *text = eg_svg_plot(p, &len);
    if (!text) return eg_fail(err, EG_ERR_NOMEM, "%s: out of memory for the plot", path);
    eg_status st = eg_write_atomic(path, text, len, err);
    free(text);
    return st;
}
