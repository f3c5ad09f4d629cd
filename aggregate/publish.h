/*
 * publish.h - the outbox publisher of the regional aggregates: produces
 * closed partials (rows.h) to the aggregates topic after the flush that
 * wrote them committed, and records what Kafka acknowledged in
 * aggregate_windows.published_version, so a partial is produced again
 * until that is done (docs/decisions/regions.md, "Exactly once into the
 * aggregates topic").
 *
 * - A partial is *closed* when the wall clock has passed window_start +
 *   window_ms + grace_ms. Only closed partials are produced: an open window
 *   changes with every flush, and its readings are still coming.
 * - aggregate_publisher_offer: the rows a committed flush returned; the
 *   closed ones are produced at once (a late reading's amendment of a
 *   published window goes out with its new version right after COMMIT).
 * - aggregate_publisher_tick, every turn of the projector's loop: serves
 *   delivery reports; sets published_version of the acknowledged partials
 *   in one batched UPDATE (never lowering it); and once a second, and at
 *   the first tick, *sweeps*: produces every closed partial of the assigned
 *   partitions with published_version < version. So a crash between a
 *   flush's COMMIT and Kafka's acknowledgement loses nothing: the next
 *   owner's sweep produces it. Once a minute it deletes the partials
 *   published in full whose window started over retention_h ago.
 * - A partial in flight (produced, its published_version not written yet) is
 *   never produced again at the same or a lower version, so a partial's
 *   record is produced once per version unless a crash or a failed
 *   delivery intervenes (then again: at least once; the global side keeps
 *   the highest version per partial).
 * - Producer: the journal's (idempotent, acks=all, zstd), key = category.
 *   A delivery that fails is only logged: the sweep produces it again.
 * - PostgreSQL: a connection of its own, reopened after a failure; an error
 *   is logged and retried at the next tick, never fatal.
 *
 * Test hook: with the environment variable TP_TEST_AGGREGATE_HOLD=1 nothing
 * is produced (the partials stay unpublished, as after a crash between
 * COMMIT and publish); tests/aggregate/test_aggregate_pipeline.c uses it.
 *
 * Object: struct aggregate_publisher (heap, _new/_free). Threads: one (the
 * projector's loop thread), stats from any.
 *
 *     aggregate_publisher_new(&opts, &pub, errstr, n);
 *     aggregate_publisher_offer(pub, &rows);            // after a flush committed
 *     aggregate_publisher_tick(pub, parts, n_parts);    // every loop turn
 *     aggregate_publisher_free(pub);                    // waits for deliveries (bounded)
 */
#ifndef TP_AGGREGATE_PUBLISH_H
#define TP_AGGREGATE_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "journal/journal.h"
#include "rows.h"

struct aggregate_publisher;

struct aggregate_publisher_options {
    const struct journal_config *journal; /* topic = the aggregates topic (borrowed) */
    const char *pg_dsn;
    const char *region;  /* WindowAggregate.region */
    int32_t schema_id;   /* the framing's schema id */
    int64_t grace_ms;    /* closed: window end + grace_ms in the past */
    int64_t retention_h; /* 0: keep forever */
};

struct aggregate_publisher_stats {
    int64_t produced;  /* records enqueued */
    int64_t published; /* records acknowledged by kafka and recorded in postgresql */
    int64_t failed;    /* deliveries kafka refused (produced again by a sweep) */
    int64_t swept;     /* records produced by sweeps (a subset of produced) */
    int64_t deleted;   /* partials deleted by retention */
};

enum tp_err aggregate_publisher_new(const struct aggregate_publisher_options *opts,
                                    struct aggregate_publisher **out, char *errstr,
                                    size_t errstr_size);
/* Produces the closed rows among rows (borrowed) that are not in flight at their version. */
void aggregate_publisher_offer(struct aggregate_publisher *pub, const struct aggregate_rows *rows);
/* Delivery reports, published_version, the sweep of the partitions parts[0..n) once a
 * second, retention once a minute (see above). */
void aggregate_publisher_tick(struct aggregate_publisher *pub, const int32_t *parts, size_t n);
void aggregate_publisher_stats_get(struct aggregate_publisher *pub,
                                   struct aggregate_publisher_stats *out);
/* Waits up to 10 s for the records in flight and records them; NULL is a no-op. */
void aggregate_publisher_free(struct aggregate_publisher *pub);

#endif
