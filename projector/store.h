/*
 * store.h - the projector's PostgreSQL side: loading twins and offsets,
 * and flushing dirty twins, the history of the flush and the consumed
 * offsets in ONE transaction (the exactly-once effect: after a crash, the
 * twins, the history rows and the offsets they reflect are always from the
 * same flush).
 *
 * A flush is two steps, so a flusher thread can run the second while the
 * fold goes on:
 *   - store_job_build (pure, the thread that owns the twins and the history
 *     map): encodes the twins, the history entries and the offsets into a
 *     struct store_job that owns everything it needs (binary COPY payloads:
 *     twin/rows.h; copies of the offsets), borrowing nothing;
 *   - store_job_run (SQL only, the thread that owns the struct store):
 *     BEGIN; compare-and-set of projector_offsets (group, topic, partition)
 *     -> next_offset, from the offsets this projector last read or wrote
 *     (TP_CONFLICT, nothing written, if any had moved: a lost commit answer
 *     or another projector); the twins table's identity (below); COPY the
 *     twin rows into twins_stage and INSERT .. SELECT .. ON CONFLICT
 *     (device_id) DO UPDATE .. WHERE the stored version <= the new one (a
 *     twin never moves back to a lower version); COPY the history entries
 *     into metric_minutes_stage and add them to metric_minutes
 *     (least/greatest/sum/count); with the aggregator on, COPY the partials
 *     of the aggregate map into aggregate_windows_stage and merge them into
 *     aggregate_windows (aggregate/rows.h: version + 1 per change), keeping
 *     the merged rows it returns in job->merged for the publisher; COMMIT. The compare-and-set
 * makes a retried job safe even though the history rows are increments: a job that did commit
 * cannot be applied twice, and jobs of one projector chain through it (each expects the offsets the
 * one before wrote).
 *
 * Replay swaps (tp-replay, replay/README.md): the store remembers which twins
 * table (pg_class oid) its state came from, read at store_new and by
 * store_load_offsets (called holding no unflushed state). A flush that finds
 * another table under the name twins after its compare-and-set fails with
 * TP_CONFLICT, so the projector resyncs from the rebuilt projection and its
 * offsets instead of writing state folded from the old one.
 *
 * Twins are stored as their records (twin/record.h, migration 0009) and
 * loaded back by decoding them; a stored record that does not decode is
 * logged with its device id and fails the load (TP_DECODE): the twin is
 * never silently started over.
 *
 * Object: struct store (heap, _new/_free) owns one connection, reopened by
 * the next call after it broke; one thread at a time. struct store_job is
 * embedded by its owner (store_job_build / store_job_release) and may move
 * between threads.
 *
 *     store_new(dsn, group, topic, &st, errstr, n);
 *     store_load_offsets(st, parts, offsets, n_parts, ...);  // on assign
 *     store_load_twins(st, ids, n_ids, twins, ...);          // unknown devices
 *     store_job_build(&job, &batch);                         // periodically: encode,
 *     store_job_run(st, &job, ...);                          //   then write
 *     store_job_release(&job);                               // (store_flush: all three)
 *     store_retention(st, hours, &deleted, ...);             // once a minute
 *     store_free(st);
 */
#ifndef TP_STORE_H
#define TP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "aggregate/rows.h"
#include "aggregate/window.h"
#include "journal/journal.h"
#include "twin/history.h"
#include "twin/twins.h"

struct store;

/* What one flush writes (all borrowed). */
struct store_batch {
    struct twin *const *twins;
    size_t n_twins;
    const struct history *history;          /* NULL: none */
    const struct aggregate_map *aggregates; /* NULL: none (aggregate.enabled off) */
    const int32_t *parts;                   /* partitions whose offsets moved */
    const int64_t *offsets;                 /* their next offsets */
    const int64_t *expected; /* what postgresql holds for them now (JOURNAL_OFFSET_BEGINNING:
                                no row) */
    size_t n_parts;
};

/* One flush, encoded: owns its bytes (store_job_release frees them). */
struct store_job {
    struct buf twins;   /* binary COPY of twins_stage (twin/rows.h); empty: no twins */
    struct buf history; /* binary COPY of metric_minutes_stage; empty: no history */
    size_t n_twins, n_history;
    struct buf aggregates; /* binary COPY of aggregate_windows_stage (aggregate/rows.h) */
    size_t n_aggregates;
    struct aggregate_rows *merged; /* the partials the upsert returned, once it committed */
    int32_t *parts;                /* copies of the batch's offsets (n_parts of each) */
    int64_t *offsets;
    int64_t *expected;
    size_t n_parts;
};

enum tp_err store_new(const char *dsn, const char *group, const char *topic, struct store **out,
                      char *errstr, size_t errstr_size);
void store_free(struct store *st);
/* offsets[i] = stored next offset of parts[i], or JOURNAL_OFFSET_BEGINNING. Also records
 * the twins table's identity: call it only while holding no unflushed state. */
enum tp_err store_load_offsets(struct store *st, const int32_t *parts, int64_t *offsets, size_t n,
                               char *errstr, size_t errstr_size);
/* Loads the stored twins among ids into tt (ids not stored are skipped), each decoded from
 * its record (twin_record_read: every field as it was flushed). A record that does not
 * decode, or whose events differ from its row's version, fails the load with TP_DECODE
 * (logged with the device id). On failure tt is unchanged. */
enum tp_err store_load_twins(struct store *st, char *const *ids, size_t n, struct twins *tt,
                             char *errstr, size_t errstr_size);
/* Encodes b into job (initialized here; borrows nothing from b afterwards). Pure: no
 * connection, any thread that may read b's twins and history. */
void store_job_build(struct store_job *job, const struct store_batch *b);
/* Writes job in one transaction (see above); TP_CONFLICT when an offset had moved or the
 * twins table was swapped (tp-replay) since the state was loaded. The job is unchanged, so
 * it may be run again (the compare-and-set then refuses it if the first run committed). */
enum tp_err store_job_run(struct store *st, const struct store_job *job, char *errstr,
                          size_t errstr_size);
/* Frees the job's bytes; the job may be built again. */
void store_job_release(struct store_job *job);
/* store_job_build, store_job_run and store_job_release in one call. */
enum tp_err store_flush(struct store *st, const struct store_batch *b, char *errstr,
                        size_t errstr_size);
/* DELETE FROM metric_minutes older than `hours` (its own statement); *deleted = rows. */
enum tp_err store_retention(struct store *st, int64_t hours, int64_t *deleted, char *errstr,
                            size_t errstr_size);
/* The twins' statement store_job_run runs after the COPY into twins_stage (twin/rows.h's
 * twin_rows_stage_sql), for benchmarks that must measure the very statement the projector
 * runs (bench/flush). */
extern const char store_upsert_sql[];

#endif
