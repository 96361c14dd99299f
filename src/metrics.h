/* metrics: closehook's counters, gauges and histograms, rendered in the
 * Prometheus text exposition format (version 0.0.4) for GET /metrics.
 *
 * Families are declared once in metrics.c's table (name, type, help, bucket
 * layout); callers name a family and give label values in the family's label
 * order. Series are created on first use. Every function is thread-safe (one
 * mutex: updates are a few hundred nanoseconds, far below a request's cost).
 * Label values are escaped on output; callers pass raw text. */
#ifndef CLOSEHOOK_METRICS_H
#define CLOSEHOOK_METRICS_H

#include <stddef.h>

/* Adds delta to a counter (or a gauge) series. Unknown family names are ignored
 * (and reported once on stderr) so a typo cannot crash a request path. */
void metrics_add(const char *family, double delta, const char *const *labels);
static inline void metrics_inc(const char *family, const char *const *labels)
{
    metrics_add(family, 1, labels);
}
/* Sets a gauge series. */
void metrics_set(const char *family, double value, const char *const *labels);
/* Records one observation in a histogram series. */
void metrics_observe(const char *family, double value, const char *const *labels);

/* Renders every family as exposition text. Malloc'ed; NULL on out of memory. */
char *metrics_render(size_t *len);

/* Forgets every series (tests). */
void metrics_reset(void);

/* Shorthand for a label list: METRIC_LABELS("zoom", "202"). */
#define METRIC_LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

#endif
