/*
 * projector.h - the projector's loop: consume journal events, fold them
 * into in-memory twins, flush dirty twins and consumed offsets to
 * PostgreSQL in one transaction (store.h) by count and by time, with the
 * history of the applied readings (history.h; a full history map also
 * triggers a flush). Once a minute, history older than the retention is
 * deleted in its own statement.
 *
 * Offsets come from PostgreSQL on every partition assignment (never from
 * Kafka's committed offsets); on revoke the projector flushes before the
 * partitions are released, then forgets its in-memory twins (another
 * projector may own those devices next). Twins of devices not in memory
 * are loaded from PostgreSQL in one query per consumed batch.
 *
 * An event that can never be decoded or folded (no device_id, sequence 0,
 * an id the registry does not have), and a reading too late for its twin's
 * sequence window or too far ahead of it (twin/fold.h), goes to the dead-letter
 * topic (opts.dlq_topic) with its reason and is counted; its offset still
 * advances, once Kafka acknowledged the dead letter (the flush waits for
 * it). An event that cannot be decoded *yet* (the schema registry does not
 * answer) stops its partition there: rewound to it, nothing consumed until
 * a backoff passed, /readyz 503 meanwhile; never decoded without its
 * version's fields.
 *
 * PostgreSQL trouble (connection lost, server restarting): a failed flush
 * or twin load drops every change not yet in PostgreSQL (twins, history,
 * moved offsets) and rewinds the assigned partitions to the offsets stored
 * there (projector_resync), retrying with backoff until PostgreSQL answers;
 * the events since the last flush are then read and folded again. Only
 * errors that are not retriable stop the loop.
 *
 * Flushes as jobs (projector.flush_thread): the loop thread builds a job
 * (store_job_build: the dirty twins, the history map and the moved offsets
 * encoded, expecting each offset where the job before leaves it) and hands it
 * to a flusher thread, which runs it on its own connection while the loop
 * folds on. One job in flight at most: a full table (flush_max_twins,
 * history_max_rows, max_twins) waits for it (back pressure); a flush by age
 * starts once it committed. Its twins stay in memory unpacked until it
 * committed (a twin changed meanwhile stays dirty, for the next job); a job
 * that fails makes the loop drop every change not in PostgreSQL and resync,
 * as a failed flush does. Without the thread the loop runs each job itself.
 *
 * Regional aggregates (opts.agg_spec, aggregate/): every applied reading also
 * goes into the aggregate map (aggregate/window.h), which the flush job
 * merges into aggregate_windows in the same transaction and clears, like
 * the history map (a resync drops it too); the merged partials the job
 * returns go to the outbox publisher (aggregate/publish.h) once it
 * committed, and the loop ticks the publisher every turn (deliveries,
 * sweep of the assigned partitions, retention).
 *
 * Object: struct projector (heap, _new/_free). Threads: one loop thread
 * (projector_run), plus the flusher thread it owns (store_job_run only);
 * projector_stop may be called from any thread.
 *
 *     projector_new(&opts, &pj, errstr, n);
 *     projector_run(pj, errstr, n);      // until projector_stop or a fatal error
 *     projector_free(pj);                // leaves the group after a final flush
 */
#ifndef TP_PROJECTOR_H
#define TP_PROJECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "aggregate/publish.h"
#include "aggregate/window.h"
#include "common/http.h"
#include "journal/journal.h"

struct projector;

struct projector_options {
    const struct journal_config *journal;
    const char *pg_dsn;
    const char *group;
    size_t flush_max_twins;    /* flush when this many twins are dirty */
    int flush_interval_ms;     /* ... or when the oldest change is this old */
    int flush_pace;            /* ... and flush_pace times as old as the last flush took */
    bool flush_thread;         /* flushes run on a flusher thread with its own connection */
    size_t batch_max;          /* events consumed before one fold pass */
    size_t history_max_rows;   /* ... or when the history map holds this many entries */
    int history_retention_h;   /* delete metric_minutes older than this; 0 = keep forever */
    size_t max_twins;          /* evict clean twins beyond this many; 0 = no cap */
    int64_t max_sequence_jump; /* fold_apply's max_jump (twin/fold.h); 0: FOLD_MAX_JUMP_DEFAULT */
    const char *dlq_topic;     /* events not applied go here (NULL: logged and counted only) */
    int64_t health_stall_ms;   /* /healthz: the fold loop and a flush stalled past it (0: 300 s) */
    /* the regional aggregator (aggregate/): NULL when aggregate.enabled is off */
    const struct aggregate_spec *agg_spec;
    int64_t agg_window_ms;
    const struct aggregate_publisher_options *agg_publish;
};

#define PROJECTOR_LAG_PARTITIONS 256 /* partitions reported in /metrics */

struct projector_stats {
    int64_t events;
    int64_t applied;
    int64_t duplicates;
    int64_t invalid;
    int64_t flushes;
    int64_t twins_in_memory;
    int64_t history_rows;    /* metric_minutes rows written (inserted or updated) */
    int64_t history_deleted; /* metric_minutes rows deleted by retention */
    int64_t resyncs;
    int64_t evicted;       /* clean twins dropped from memory under projector.max_twins */
    int64_t reloaded;      /* twins loaded from postgresql (devices not in memory) */
    int64_t too_late;      /* readings older than their twin's sequence window */
    int64_t seq_jumps;     /* readings too far above their twin's sequence */
    int64_t dead_lettered; /* events acknowledged in the dead-letter topic */
    int64_t decode_waits;  /* tries of an event while the registry could not be asked */
};

enum tp_err projector_new(const struct projector_options *opts, struct projector **out,
                          char *errstr, size_t errstr_size);
enum tp_err projector_run(struct projector *pj, char *errstr, size_t errstr_size);
void projector_stop(struct projector *pj);
void projector_stats_get(struct projector *pj, struct projector_stats *out);
/* GET /metrics (Prometheus text) and GET /readyz; arg is the struct projector. */
void projector_handle_metrics(struct http_request *req, void *arg);
void projector_handle_ready(struct http_request *req, void *arg);
/* Lets /metrics report the HTTP server's figures (borrowed). */
void projector_attach_server(struct projector *pj, struct http_server *srv);
void projector_free(struct projector *pj);

#endif
