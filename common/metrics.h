/*
 * metrics.h - Prometheus text exposition for /metrics: counters and
 * histograms updated lock-free from any thread, written on demand, plus the
 * families every service exports (tp_build_info, process_*).
 *
 * Conventions (docs/metrics.md): durations are exported in seconds (names end in
 * `_seconds`, histograms too), counters end in `_total`, every family has HELP and TYPE,
 * and a gauge without a value yet is left out rather than given a sentinel such as -1.
 *
 * Object: struct metrics_histogram (embedded, zero-initialised = empty). It is fed in
 * milliseconds (the clocks of mem.h) and written in seconds: the bucket bounds
 * METRICS_BUCKETS_MS (1 ms .. 30 s) become le="0.001" .. le="30", the sum is kept in
 * microseconds, so nothing is lost in the conversion.
 *
 *     static struct metrics_histogram latency;
 *     metrics_histogram_observe(&latency, elapsed_ms);
 *     ... on GET /metrics:
 *     metrics_sample(&b, "tp_ingest_readings_accepted_total", "counter", "readings journaled",
 *                    NULL, n);
 *     metrics_histogram_write(&b, "tp_ingest_ack_latency_seconds", "...", &latency);
 *     metrics_runtime_write(&b);
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

/* One observation in milliseconds (a negative one, e.g. from clock skew, counts as 0). */
void metrics_histogram_observe(struct metrics_histogram *h, double ms);
/* Writes h as a histogram in seconds; name should end in `_seconds`. */
void metrics_histogram_write(struct buf *b, const char *name, const char *help,
                             struct metrics_histogram *h);
/* The same with labels (`route="/x"`, or NULL) on every line; HELP/TYPE lines only when help is
 * set. */
void metrics_histogram_write_labels(struct buf *b, const char *name, const char *help,
                                    const char *labels, struct metrics_histogram *h);
/* One sample; labels like `status="202"` or NULL. help/type lines only when help is set. The
 * value is written in the shortest form that reads back exactly. */
void metrics_sample(struct buf *b, const char *name, const char *type, const char *help,
                    const char *labels, double value);

/* tp_build_info{version,commit} 1 (git describe and rev-parse when the build was configured:
 * TP_BUILD_VERSION, TP_BUILD_COMMIT; "unknown" outside a git checkout) and the process_*
 * families of Prometheus's client libraries, from /proc/self: process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
 * process_max_fds, process_start_time_seconds (left out where /proc cannot be read). Every
 * service's /metrics ends with them. */
void metrics_runtime_write(struct buf *b);

#endif
