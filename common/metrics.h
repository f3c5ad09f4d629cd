/*
 * metrics.h - Prometheus text exposition for /metrics: counters and
 * histograms updated lock-free from any thread, written on demand.
 *
 * Object: struct metrics_histogram (embedded, zero-initialised = empty;
 * fixed millisecond buckets METRICS_BUCKETS_MS).
 *
 *     static struct metrics_histogram latency;
 *     metrics_histogram_observe(&latency, elapsed_ms);
 *     ... on GET /metrics:
 *     metrics_counter(&b, "tp_ingest_readings_accepted_total", "readings journaled", NULL, n);
 *     metrics_histogram_write(&b, "tp_ingest_ack_latency_ms", "...", &latency);
 */
#ifndef TP_METRICS_H
#define TP_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"

#define METRICS_N_BUCKETS 14
extern const double METRICS_BUCKETS_MS[METRICS_N_BUCKETS];

struct metrics_histogram {
    _Atomic uint64_t buckets[METRICS_N_BUCKETS + 1]; /* last: +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
};

void metrics_histogram_observe(struct metrics_histogram *h, double ms);
void metrics_histogram_write(struct buf *b, const char *name, const char *help,
                             struct metrics_histogram *h);
/* The same with labels (`route="/x"`, or NULL) on every line; HELP/TYPE lines only when help is
 * set. */
void metrics_histogram_write_labels(struct buf *b, const char *name, const char *help,
                                    const char *labels, struct metrics_histogram *h);
/* One sample; labels like `status="202"` or NULL. help/type lines only when help is set. */
void metrics_sample(struct buf *b, const char *name, const char *type, const char *help,
                    const char *labels, double value);

#endif
