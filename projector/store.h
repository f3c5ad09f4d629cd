/*
 * store.h - the projector's PostgreSQL side: loading twins and offsets,
 * and flushing dirty twins, the history of the flush and the consumed
 * offsets in ONE transaction (the exactly-once effect: after a crash, the
 * twins, the history rows and the offsets they reflect are always from the
 * same flush).
 *
 * Flush: BEGIN; compare-and-set of projector_offsets (group, topic,
 * partition) -> next_offset, from the offsets this projector last read or
 * wrote (TP_CONFLICT, nothing written, if any had moved: a lost commit
 * answer or another projector); COPY twins into a temp staging table and
 * INSERT .. SELECT .. ON CONFLICT (device_id) DO UPDATE (never moving a
 * twin back to a lower sequence); COPY the history entries into another
 * and add them to metric_minutes (least/greatest/sum/count); COMMIT. The
 * compare-and-set makes a retried flush safe even though the history rows
 * are increments: a flush that did commit cannot be applied twice.
 *
 * Replay swaps (tp-replay, replay/README.md): the store remembers which twins
 * table (pg_class oid) its state came from, read at store_new and by
 * store_load_offsets (called holding no unflushed state). A flush that finds
 * another table under the name twins after its compare-and-set fails with
 * TP_CONFLICT, so the projector resyncs from the rebuilt projection and its
 * offsets instead of writing state folded from the old one.
 *
 * Object: struct store (heap, _new/_free) owns one connection, reopened by
 * the next call after it broke. Threads: the projector's loop thread only.
 *
 *     store_new(dsn, group, topic, &st, errstr, n);
 *     store_load_offsets(st, parts, offsets, n_parts, ...);  // on assign
 *     store_load_twins(st, ids, n_ids, twins, ...);          // unknown devices
 *     store_flush(st, &batch, ...);                          // periodically
 *     store_retention(st, hours, &deleted, ...);             // once a minute
 *     store_free(st);
 */
#ifndef TP_STORE_H
#define TP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "twin/history.h"
#include "twin/twins.h"

struct store;

/* What one flush writes (all borrowed). */
struct store_batch {
    struct twin *const *twins;
    size_t n_twins;
    const struct history *history; /* NULL: none */
    const int32_t *parts;          /* partitions whose offsets moved */
    const int64_t *offsets;        /* their next offsets */
    const int64_t *expected;       /* what postgresql holds for them now (JOURNAL_OFFSET_BEGINNING:
                                      no row) */
    size_t n_parts;
};

enum tp_err store_new(const char *dsn, const char *group, const char *topic, struct store **out,
                      char *errstr, size_t errstr_size);
void store_free(struct store *st);
/* offsets[i] = stored next offset of parts[i], or JOURNAL_OFFSET_BEGINNING. Also records
 * the twins table's identity: call it only while holding no unflushed state. */
enum tp_err store_load_offsets(struct store *st, const int32_t *parts, int64_t *offsets, size_t n,
                               char *errstr, size_t errstr_size);
/* Loads the stored twins among ids into tt (ids not stored are skipped), with their
 * metrics' statistics (a metric stored without them starts again at count 0). On
 * failure tt is unchanged. */
enum tp_err store_load_twins(struct store *st, char *const *ids, size_t n, struct twins *tt,
                             char *errstr, size_t errstr_size);
/* One transaction (see above); TP_CONFLICT when an offset had moved or the twins table was
 * swapped (tp-replay) since the state was loaded. */
enum tp_err store_flush(struct store *st, const struct store_batch *b, char *errstr,
                        size_t errstr_size);
/* DELETE FROM metric_minutes older than `hours` (its own statement); *deleted = rows. */
enum tp_err store_retention(struct store *st, int64_t hours, int64_t *deleted, char *errstr,
                            size_t errstr_size);
/* The flush's SQL, for benchmarks that must measure the very statements the projector runs:
 * the staging tables (temporary, ON COMMIT DELETE ROWS: twins_stage takes store_twin_row's
 * lines) and the twins upsert from twins_stage. */
extern const char store_stage_sql[];
extern const char store_upsert_sql[];
/* Appends t as one COPY text-format line of the twins' staging table. */
enum tp_err store_twin_row(struct buf *out, const struct twin *t);
/* Appends e as one COPY text-format line of the history's staging table. */
enum tp_err store_history_row(struct buf *out, const struct history *h,
                              const struct history_entry *e);

#endif
