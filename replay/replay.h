/*
 * replay.h - tp-replay: rebuilds the projection (twins, metric_minutes)
 * from the journal into shadow tables at full speed, then swaps them in and
 * hands the live projector group the rebuilt offsets.
 *
 * Phases (replay_run):
 *   1. build: every partition assigned (no consumer group) from the start
 *      of the journal, or from the first offset at or after replay.from
 *      (offsetsForTimes), up to the end offsets taken at start. Each event
 *      goes through the projector's own fold (fold.c, twins.c, history.c)
 *      into twins held in memory. The history map is spilled into the
 *      shadow table when it holds replay.history_max_rows rows (bounded
 *      memory); twins stay in memory (as in the live projector).
 *   2. bulk write: COPY every twin and the history into the shadow tables,
 *      then create their indexes (shadow.h) and ANALYZE.
 *   3. catch-up: while ingest goes on, read from where the build stopped to
 *      the current end, apply the changed twins and history to the shadows
 *      (upserts); repeat until a round reads fewer than
 *      replay.catchup_events.
 *   4. swap (one transaction, shadow.h): lock the group's offset rows (the
 *      live projector's next flush waits), read and fold the last events up
 *      to the end offsets taken under the lock, apply them, swap the
 *      tables, set the group's offsets to where the rebuild stands, COMMIT.
 *      A lock timeout rolls back and retries from step 3.
 * The live projector's flush after the swap fails its compare-and-set (or
 * store.c's check of the twins table's identity) and it resyncs: drops its
 * unflushed state, reloads the offsets, reads on from where the rebuild
 * stopped against twins loaded from the rebuilt table.
 *
 * Parallel: replay.threads workers, each owning the partitions
 * p % threads == its index with their own reader, twins and history (a
 * device never changes partition, so they share nothing), fold during the
 * build and COPY their rows over their own connections; the catch-up and the
 * swap run the workers one after another on replay_run's thread.
 *
 * Object: struct replay (heap, _new/_free). Threads: replay_run on one
 * thread (it starts the workers); replay_stop and replay_stats_get from any.
 *
 *     replay_new(&opts, &rp, errstr, n);
 *     replay_run(rp, errstr, n);     // until swapped (or replay_stop: nothing swapped)
 *     replay_stats_get(rp, &stats);
 *     replay_free(rp);
 */
#ifndef TP_REPLAY_H
#define TP_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "journal/journal.h"

struct replay;

struct replay_options {
    const struct journal_config *journal;
    const char *pg_dsn;
    const char *group;       /* the live projector group handed the rebuilt offsets */
    bool from_start;         /* true: from the start of the journal, else from from_ms */
    int64_t from_ms;         /* Kafka timestamp (journal append time) to rebuild from */
    size_t batch_max;        /* events taken from the journal per poll */
    size_t sort_events;      /* events folded per batch, sorted by device (<= batch_max: no sort) */
    int threads;             /* workers folding partitions in parallel during the build */
    size_t history_max_rows; /* history rows held before a spill into the shadow table */
    int64_t catchup_events;  /* swap once a catch-up round read fewer events than this */
    int lock_timeout_ms;     /* the swap's wait for table locks, then retry */
    bool swap;               /* false: build the shadow tables and stop (for inspection) */
    bool allow_truncated;    /* from the start of a journal whose first offsets are not 0 */
    bool progress_tty;       /* progress as a \r line on stderr, else a log line every 10 s */
    int64_t max_sequence_jump; /* as the projector's (fold_apply): the same twins */
};

struct replay_stats {
    int64_t events;     /* journal events read */
    int64_t applied;    /* readings folded into twins */
    int64_t duplicates; /* readings ignored: this exact sequence was applied */
    int64_t invalid;    /* events skipped: undecodable or unusable */
    int64_t too_late;   /* readings older than a twin's sequence window (not applied) */
    int64_t seq_jumps;  /* readings too far above a twin's sequence (not applied) */
    int64_t twins;
    int64_t history_rows; /* metric_minutes rows of the rebuilt projection (at the swap) */
    int64_t build_events; /* events up to the end offsets taken at start */
    int64_t build_ms;     /* phases 1 and 2: journal to indexed shadow tables */
    int64_t total_ms;     /* start to COMMIT of the swap */
    int swap_attempts;
};

enum tp_err replay_new(const struct replay_options *opts, struct replay **out, char *errstr,
                       size_t errstr_size);
enum tp_err replay_run(struct replay *rp, char *errstr, size_t errstr_size);
void replay_stop(struct replay *rp);
void replay_stats_get(struct replay *rp, struct replay_stats *out);
void replay_free(struct replay *rp);

/* replay.from: "" or "start" (the start of the journal), milliseconds since the epoch, or an
 * RFC 3339 time (2026-11-23T10:00:00Z, 2026-11-23T11:00:00.5+01:00). Pure. */
enum tp_err replay_from_parse(const char *s, bool *from_start, int64_t *ms, char *errstr,
                              size_t errstr_size);
/* Before a rebuild from the start: TP_CONFLICT naming every partition whose first offset
 * (low watermark lo[p]) is above 0, whose earlier events were deleted (retention,
 * DeleteRecords), unless allow; then TP_OK (the caller warns with errstr, filled either way).
 * Pure. */
enum tp_err replay_check_truncated(const char *topic, const int64_t *lo, size_t n, bool allow,
                                   char *errstr, size_t errstr_size);
/* The progress line (no \r or newline): events done of total, rate, ETA, lag. Pure. */
void replay_progress_format(char *out, size_t n, const char *phase, int64_t done, int64_t total,
                            double rate, int64_t lag);

#endif
