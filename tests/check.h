/* A tiny test harness: CHECK records a failure with file:line and goes on;
 * check_close compares tensors and prints the first mismatches; the test's
 * main returns check_report(), non-zero when anything failed. */
#ifndef EG_CHECK_H
#define EG_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures, check_count;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        check_count++;                                                        \
        if (!(cond)) {                                                        \
            check_failures++;                                                 \
            fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
        }                                                                     \
    } while (0)

/* |got - want| <= atol + rtol * |want| elementwise. */
static inline int check_close(const char *what, const float *got, const float *want, size_t n, double rtol,
                              double atol)
{
    size_t bad = 0;
    double maxdiff = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > maxdiff || d != d) maxdiff = d;
        if (!(d <= atol + rtol * fabs((double)want[i]))) {
            if (bad < 5) fprintf(stderr, "  %s[%zu]: got %.9g, want %.9g (diff %.3g)\n", what, i, got[i], want[i], d);
            bad++;
        }
    }
    check_count++;
    if (bad) {
        check_failures++;
        fprintf(stderr, "FAILED: %s: %zu of %zu values differ (max diff %.3g, rtol %g, atol %g)\n", what, bad, n,
                maxdiff, rtol, atol);
    }
    return bad == 0;
}

static inline int check_report(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_count - check_failures, check_failures);
    return check_failures ? 1 : 0;
}

#endif
