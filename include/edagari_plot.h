/* edagari: Line charts as SVG, for accuracy against sparsity and the like. */
#ifndef EDAGARI_PLOT_H
#define EDAGARI_PLOT_H

#include "edagari.h"

/* ---------------------------------------------------------------- plots */

/* One line of a plot: n points; a NaN y leaves a gap. */
typedef struct {
    const char *name;   /* for the legend */
    const double *x, *y;
    int n;
} eg_plot_series;

/* A line chart: axes with ticks at round values, grid lines, axis labels, a
 * title, a legend and an optional dashed reference line. */
typedef struct {
    const char *title, *subtitle, *xlabel, *ylabel;   /* subtitle may be NULL */
    const eg_plot_series *series;
    int nseries;
    double xmin, xmax;      /* x range; equal: from the data */
    double ymin, ymax;      /* y range; equal: from the data (and ref_y), widened to round ticks */
    double ref_y;           /* a dashed horizontal line at this y, or NaN */
    const char *ref_label;  /* its legend entry */
    const char *note;       /* small text under the legend, lines split at '\n', or NULL */
    int width, height;      /* pixels; 0: 800 x 500 */
} eg_plot;

/* The SVG text of a plot (malloc'ed, NUL-terminated; *len its length, may be
 * NULL), or NULL when out of memory. */
char *eg_svg_plot(const eg_plot *p, size_t *len);
/* Writes it to path atomically. */
eg_status eg_svg_write_plot(const eg_plot *p, const char *path, eg_error *err);

#endif
