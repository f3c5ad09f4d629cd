/*
 * hist.h - a latency histogram with bounded relative error, for percentiles
 * of millions of requests in constant memory (HdrHistogram's idea: buckets
 * of powers of two, each split into 32 linear sub-buckets, so any value is
 * reported within 1/32 ~ 3% of itself).
 *
 * Values are microseconds, 0 .. 2^40 (~12 days); larger ones are clamped.
 * Object: struct hist is embedded and zero-initialized ({0} is empty).
 * Threads: none; one owner.
 *
 *     struct hist h = {0};
 *     hist_add(&h, 1234);                  // one request of 1.234 ms
 *     hist_quantile(&h, 0.99);             // upper bound of the p99 bucket, us
 *     hist_merge(&total, &h); hist_reset(&h);
 */
#ifndef TP_HIST_H
#define TP_HIST_H

#include <stdint.h>

#define HIST_SUB     32
#define HIST_BUCKETS (41 * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t max_us;
    uint64_t counts[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t us);
void hist_merge(struct hist *into, const struct hist *from);
void hist_reset(struct hist *h);
/* The smallest bucket upper bound with at least q of the values at or below it
 * (q in [0, 1]); 0 for an empty histogram. Never above max_us. */
uint64_t hist_quantile(const struct hist *h, double q);
/* Values <= us (bucket resolution: counts whole buckets whose upper bound is <= us). */
uint64_t hist_count_le(const struct hist *h, uint64_t us);

#endif
