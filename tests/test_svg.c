/* The SVG plot writer (src/io/svg.c) on awkward input: names with XML's
 * special characters, a gap (NaN) inside a line, a line with no points, a
 * flat series, data outside a fixed range, a long legend, notes; the text is
 * checked for balanced tags, escaping, the path commands and the ticks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "edagari_plot.h"

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* An entity XML knows at p ('&'), or 0. */
static int entity(const char *p)
{
    static const char *const known[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (int i = 0; i < 5; i++)
        if (!strncmp(p, known[i], strlen(known[i]))) return 1;
    return 0;
}

/* Tags nest ("<x ...>" closed by "</x>", or "<x .../>"; declarations
 * skipped), no '<' inside a tag, and every '&' starts an entity. */
static int balanced(const char *t)
{
    char stack[64][32];
    int top = 0;
    for (const char *p = t; *p; p++) {
        if (*p == '&' && !entity(p)) return 0;
        if (*p != '<') continue;
        const char *gt = strchr(p, '>');
        if (!gt) return 0;
        for (const char *q = p + 1; q < gt; q++)
            if (*q == '<' || (*q == '&' && !entity(q))) return 0;
        if (p[1] == '?' || p[1] == '!') {
        } else if (p[1] == '/') {
            size_t n = strcspn(p + 2, " >");
            if (!top || strlen(stack[top - 1]) != n || strncmp(stack[top - 1], p + 2, n)) return 0;
            top--;
        } else if (gt[-1] != '/') {
            size_t n = strcspn(p + 1, " >/");
            if (top == 64 || n >= 32) return 0;
            memcpy(stack[top], p + 1, n);
            stack[top++][n] = 0;
        }
        p = gt;
    }
    return top == 0;
}

int main(void)
{
    double x[5] = {0.1, 0.2, 0.3, 0.4, 0.5};
    double a[5] = {90, 80, NAN, 60, 50}, flat[5] = {70, 70, 70, 70, 70}, none[5] = {NAN, NAN, NAN, NAN, NAN};
    eg_plot_series s[3] = {{"a<&>\"'b", x, a, 5}, {"flat", x, flat, 5}, {"none", x, none, 5}};
    eg_plot p = {.title = "T & <t>", .subtitle = "sub 'quoted'", .xlabel = "x \"label\"", .ylabel = "y (%)",
                 .series = s, .nseries = 3, .ref_y = 95, .ref_label = "ref", .note = "line one\nline <two>"};
    size_t len = 0;
    char *t = eg_svg_plot(&p, &len);
    CHECK(t && len == strlen(t), "a plot of %zu bytes", len);
    if (!t) return check_report("svg");
    static const char head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"";
    CHECK(!strncmp(t, head, sizeof head - 1),
          "starts with the declaration and the svg element");
    CHECK(balanced(t), "tags nest and text is escaped");
    CHECK(strstr(t, ">a&lt;&amp;&gt;&quot;&apos;b<") != NULL, "the legend name is escaped");
    CHECK(strstr(t, ">T &amp; &lt;t&gt;<") != NULL, "the title is escaped");
    CHECK(strstr(t, ">line &lt;two&gt;<") && strstr(t, ">line one<"), "both note lines");
    CHECK(count(t, "<path fill=\"none\"") == 3, "a path per series, found %d", count(t, "<path fill=\"none\""));
    /* the first series breaks at its NaN: M, L, then M, L again */
    const char *d = strstr(t, " d=\"M");
    if (d) {
        char cmds[16] = "";
        int n = 0;
        for (const char *q = d + 4; *q != '"' && n < 15; q++)
            if (*q == 'M' || *q == 'L') cmds[n++] = *q;
        CHECK(!strcmp(cmds, "MLML"), "the first path's commands are %s, want MLML", cmds);
    }
    CHECK(strstr(t, "d=\"\"") != NULL, "the series with no points has an empty path");
    /* y from the data and the reference (50..95), widened to round ticks of 5 */
    CHECK(strstr(t, ">50<") && strstr(t, ">95<") && !strstr(t, ">45<") && !strstr(t, ">100<"), "y ticks 50..95");
    CHECK(strstr(t, ">0.10<") && strstr(t, ">0.25<") && strstr(t, ">0.50<") && !strstr(t, ">0.55<"),
          "x ticks 0.10..0.50, every 0.05");
    CHECK(count(t, "stroke-dasharray") == 2, "the reference line and its legend entry");
    free(t);

    /* a fixed range: points outside are clipped, the ticks are the range's */
    p.ymin = 0, p.ymax = 60, p.xmin = 0, p.xmax = 1, p.ref_y = NAN, p.note = NULL;
    t = eg_svg_plot(&p, NULL);
    CHECK(t && balanced(t), "fixed range");
    CHECK(t && strstr(t, "clip-path=\"url(#plot-area)\"") && strstr(t, ">60<") && !strstr(t, ">70<") &&
              strstr(t, ">1.0<") && count(t, "stroke-dasharray") == 0,
          "clipped to 0..60 and 0..1, no reference line");
    free(t);

    /* only flat or empty data, no title text: still a plot */
    eg_plot_series one = {"", x, flat, 5};
    eg_plot q = {.title = "", .xlabel = "", .ylabel = "", .series = &one, .nseries = 1, .ref_y = NAN};
    t = eg_svg_plot(&q, NULL);
    CHECK(t && balanced(t) && strstr(t, ">70<"), "a flat series gets a range around its value");
    free(t);
    eg_plot_series empty = {"e", x, none, 5};
    q.series = &empty;
    t = eg_svg_plot(&q, NULL);
    CHECK(t && balanced(t), "no finite point at all");
    free(t);

    /* many long names: the picture grows to hold the legend */
    static char names[30][48];
    eg_plot_series many[30];
    for (int i = 0; i < 30; i++) {
        snprintf(names[i], sizeof names[i], "layer_with_a_long_name_%02d (123456 weights)", i);
        many[i] = (eg_plot_series){names[i], x, a, 5};
    }
    q.series = many, q.nseries = 30;
    t = eg_svg_plot(&q, NULL);
    int w = 0, h = 0;
    const char *sv = t ? strstr(t, "<svg ") : NULL;
    if (sv) sscanf(strstr(sv, "width=\"") + 7, "%d", &w), sscanf(strstr(sv, "height=\"") + 8, "%d", &h);
    CHECK(t && balanced(t) && w >= 800 && h > 30 * 20, "30 legend entries in %d x %d", w, h);
    CHECK(t && count(t, "<circle") == 6 * 5 && count(t, "<rect x") == 4 + 6 * 5,
          "markers cycle through five shapes: %d circles", t ? count(t, "<circle") : -1);
    free(t);

    /* writing: atomically, and a missing folder is an error naming the path */
    eg_error err = {0};
    CHECK(eg_svg_write_plot(&p, "/nonexistent-folder/x.svg", &err) == EG_ERR_IO && strstr(err.msg, "/nonexistent-folder/x.svg"),
          "a failed write: %s", err.msg);
    return check_report("svg");
}
