#include "metrics.h"

#include <stdio.h>

const double METRICS_BUCKETS_MS[METRICS_N_BUCKETS] = {1,   2,   5,    10,   20,   50,    100,
                                                      200, 500, 1000, 2000, 5000, 10000, 30000};

void metrics_histogram_observe(struct metrics_histogram *h, double ms)
{
    int i = 0;
    while (i < METRICS_N_BUCKETS && ms > METRICS_BUCKETS_MS[i])
        i++;
    atomic_fetch_add(&h->buckets[i], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_us, (uint64_t)(ms * 1000.0));
}

void metrics_sample(struct buf *b, const char *name, const char *type, const char *help,
                    const char *labels, double value)
{
    if (help)
        buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    if (labels)
        buf_printf(b, "%s{%s} %.17g\n", name, labels, value);
    else
        buf_printf(b, "%s %.17g\n", name, value);
}

void metrics_histogram_write(struct buf *b, const char *name, const char *help,
                             struct metrics_histogram *h)
{
    metrics_histogram_write_labels(b, name, help, NULL, h);
}

void metrics_histogram_write_labels(struct buf *b, const char *name, const char *help,
                                    const char *labels, struct metrics_histogram *h)
{
    const char *sep = labels ? "," : "";
    if (!labels)
        labels = "";
    if (help)
        buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i <= METRICS_N_BUCKETS; i++) {
        cum += atomic_load(&h->buckets[i]);
        if (i < METRICS_N_BUCKETS)
            buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                       METRICS_BUCKETS_MS[i], (unsigned long long)cum);
        else
            buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                       (unsigned long long)cum);
    }
    if (*labels) {
        buf_printf(b, "%s_sum{%s} %.3f\n%s_count{%s} %llu\n", name, labels,
                   (double)atomic_load(&h->sum_us) / 1000.0, name, labels,
                   (unsigned long long)atomic_load(&h->count));
    } else {
        buf_printf(b, "%s_sum %.3f\n%s_count %llu\n", name,
                   (double)atomic_load(&h->sum_us) / 1000.0, name,
                   (unsigned long long)atomic_load(&h->count));
    }
}
