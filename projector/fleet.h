/*
 * fleet.h - tp-projector's fleet fold (projector.fold=fleet): the global
 * site's loop, folding every region's mirrored aggregates topic into
 * fleet_aggregates exactly once (docs/decisions/regions.md, section 4).
 *
 * It subscribes to projector.topics (a regex when it starts with '^', e.g.
 * "^region-.*\.aggregates$": MirrorMaker 2 names a region's `aggregates`
 * "region-a.aggregates"), decodes each record as a WindowAggregate
 * (fleet_map.h), keeps the newest version of each partial in a flush map and
 * flushes it with the offsets of every (topic, partition) it moved in one
 * transaction (fleet_store.h): by age (flush_interval_ms) or when the map
 * holds max_partials. A record that does not decode, or makes no sense (a
 * region its topic contradicts, no window, ...), goes to the dead-letter
 * topic with reason "undecodable" or "invalid", like the twin fold's bad
 * events, and its offset advances once Kafka acknowledged the dead letter
 * (the flush waits for it).
 *
 * The twin fold's discipline, in a smaller loop (a few hundred partials a
 * minute per region: no flusher thread, no registry, no twins to load):
 * offsets come from PostgreSQL on every assignment; on revoke the loop flushes
 * first, then forgets what it holds; a flush that fails with a retriable error
 * or a conflict drops the map and the moved offsets and rewinds the assigned
 * partitions to the offsets in PostgreSQL (a resync), retrying with backoff.
 * Duplicates (MirrorMaker's after a crash, the region's re-publications) and
 * older versions arriving late change nothing: the map keeps the highest
 * version, and the upsert replaces a row only with a higher one.
 *
 * Metrics: tp_projector_fleet_freshness_seconds (per partial's first version
 * stored here: commit time minus window end), records, partials written,
 * stale records (not newer than the version held), invalid ones, dead letters,
 * flushes, resyncs, flush latency, lag per (topic, partition).
 *
 * Object: struct fleet (heap, _new/_free). Threads: fleet_run on one thread;
 * fleet_stop from any; the HTTP handlers from the server's threads (atomics).
 *
 *     fleet_new(&opts, &f, errstr, n);
 *     fleet_run(f, errstr, n);    // until fleet_stop or a fatal error; final flush
 *     fleet_free(f);              // leaves the group
 */
#ifndef TP_FLEET_H
#define TP_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/http.h"
#include "journal/journal.h"

struct fleet;

struct fleet_options {
    const struct journal_config *journal; /* topic: projector.topics (a regex with '^') */
    const char *pg_dsn;
    const char *group;
    int flush_interval_ms; /* flush when the oldest unflushed change is this old */
    size_t max_partials;   /* ... or when the map holds this many partials */
    size_t batch_max;      /* records consumed per pass */
    const char *dlq_topic; /* records that never apply (NULL: logged and counted only) */
    int64_t health_stall_ms;
};

#define FLEET_LAG_PARTITIONS 256 /* (topic, partition) pairs reported in /metrics */

struct fleet_stats {
    int64_t records;          /* consumed */
    int64_t partials_written; /* rows inserted or replaced by a newer version */
    int64_t stale;            /* records not newer than the partial's version held */
    int64_t invalid;          /* undecodable or invalid: dead-lettered */
    int64_t dead_lettered;    /* acknowledged in the dead-letter topic */
    int64_t flushes;
    int64_t resyncs;
};

enum tp_err fleet_new(const struct fleet_options *opts, struct fleet **out, char *errstr,
                      size_t errstr_size);
enum tp_err fleet_run(struct fleet *f, char *errstr, size_t errstr_size);
void fleet_stop(struct fleet *f);
void fleet_stats_get(struct fleet *f, struct fleet_stats *out);
/* GET /metrics and GET /readyz; arg is the struct fleet. */
void fleet_handle_metrics(struct http_request *req, void *arg);
void fleet_handle_ready(struct http_request *req, void *arg);
void fleet_attach_server(struct fleet *f, struct http_server *srv);
void fleet_free(struct fleet *f);

#endif
