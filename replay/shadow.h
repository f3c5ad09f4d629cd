/*
 * shadow.h - tp-replay's PostgreSQL side: the shadow tables a rebuild is
 * written into, and the swap that puts them in place of the live projection.
 *
 * Tables: twins_shadow and metric_minutes_shadow, created
 * (LIKE twins / metric_minutes INCLUDING ALL EXCLUDING INDEXES): the same
 * columns, defaults and checks, but no index while the bulk COPY runs.
 * shadow_index then creates every index the live table has (read from the
 * catalog, so migrations 0001-0003 and any later one are followed), named
 * <name>_shadow, with primary keys as constraints, and ANALYZEs them.
 *
 * twins_shadow also gets the live table's storage parameters (twins'
 * fillfactor), which LIKE does not copy.
 *
 * Rows are the projection's binary COPY rows (twin/rows.h, as the
 * projector's store writes them: the twin record of twin/record.h), so a
 * rebuilt twin is stored exactly as the live projector stores it. The
 * catch-up's upsert has the projector's guard: a twin row never goes back
 * to a lower version; it sets updated_at and written_xid.
 *
 * Swap (one transaction, shadow_swap_begin .. shadow_swap_commit): insert
 * the group's missing offset rows and lock all of them FOR UPDATE (the live
 * projector's next flush waits: its compare-and-set needs these rows);
 * the caller folds and applies the last events; lock twins and
 * metric_minutes ACCESS EXCLUSIVE (queries wait, never see a half state),
 * drop them, rename the shadows and their indexes to the live names, set
 * the group's offsets to the rebuild's, COMMIT. The live projector's flush
 * then fails (its offsets moved, or store.c finds another twins table) and
 * it resyncs from the rebuilt tables and offsets. lock_timeout bounds the
 * wait for the table locks; a timeout rolls back and the caller retries.
 *
 * Only one tp-replay at a time per database: shadow_new(exclusive) takes a
 * session advisory lock (TP_CONFLICT if another holds it). More connections
 * (not exclusive) may COPY into the shadows at once: tp-replay's workers do.
 *
 * Object: struct shadow (heap, _new/_free), one connection. Threads: one.
 *
 *     shadow_new(dsn, group, topic, lock_timeout_ms, true, &sh, ...);
 *     shadow_create(sh, ...);                        // fresh shadow tables
 *     shadow_copy(sh, twins, n, hist, ...);          // bulk, after the build
 *     shadow_index(sh, spilled, ...);                // indexes, ANALYZE
 *     shadow_apply(sh, dirty, n, hist, ...);         // catch-up rounds
 *     shadow_swap_begin(sh, parts, offs, n, ...);    // pause the projector
 *     shadow_apply(sh, ...); shadow_swap_commit(sh, parts, offs, n, ...);
 *     shadow_free(sh);
 */
#ifndef TP_SHADOW_H
#define TP_SHADOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "twin/history.h"
#include "twin/twin.h"

struct shadow;

enum tp_err shadow_new(const char *dsn, const char *group, const char *topic, int lock_timeout_ms,
                       bool exclusive, struct shadow **out, char *errstr, size_t errstr_size);
void shadow_free(struct shadow *sh);
/* Drops shadow tables left by an earlier run and creates empty ones. */
enum tp_err shadow_create(struct shadow *sh, char *errstr, size_t errstr_size);
/* COPYs twins and history rows into the shadows (no index yet; may be called again for more
 * history: rows of one (device, metric, minute) in several parts are merged by shadow_index). */
enum tp_err shadow_copy(struct shadow *sh, struct twin *const *twins, size_t n_twins,
                        const struct history *h, char *errstr, size_t errstr_size);
/* Merges history copied in several parts (merge: some key may be in more than one), creates
 * the live tables' indexes, ANALYZE. */
enum tp_err shadow_index(struct shadow *sh, bool merge, char *errstr, size_t errstr_size);
/* Writes changed twins (upsert) and adds history (min/max/sum/count) into the indexed
 * shadows; its own transaction, or the swap's when one is open. */
enum tp_err shadow_apply(struct shadow *sh, struct twin *const *twins, size_t n_twins,
                         const struct history *h, char *errstr, size_t errstr_size);
/* BEGIN; the group's offset rows (parts[i] -> offsets[i] where missing) locked FOR UPDATE. */
enum tp_err shadow_swap_begin(struct shadow *sh, const int32_t *parts, const int64_t *offsets,
                              size_t n, char *errstr, size_t errstr_size);
/* Swaps the tables in, sets the group's offsets, COMMIT (ROLLBACK on failure). */
enum tp_err shadow_swap_commit(struct shadow *sh, const int32_t *parts, const int64_t *offsets,
                               size_t n, char *errstr, size_t errstr_size);
/* ROLLBACK of a swap that shadow_swap_begin opened (the shadows stay as they were). */
void shadow_swap_abort(struct shadow *sh);
/* Drops the shadow tables (after a failure; nothing live is touched). */
enum tp_err shadow_drop(struct shadow *sh, char *errstr, size_t errstr_size);

/* Appends the statements that create on table shadow an index like the live one named index
 * (def: its pg_get_indexdef), named <index>_shadow, unique or not, with its constraint
 * (contype 'p': primary key, 'u': unique, '\0': none). TP_CONFIG for another constraint, a
 * definition without USING, or a name too long with the suffix. Pure. */
enum tp_err shadow_index_sql(struct buf *out, const char *index, const char *shadow, bool unique,
                             char contype, const char *def, char *errstr, size_t errstr_size);

#endif
