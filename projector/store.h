/*
 * store.h - the projector's PostgreSQL side: loading twins and offsets,
 * and flushing dirty twins together with the consumed offsets in ONE
 * transaction (the exactly-once effect: after a crash, the twins and the
 * offsets they reflect are always from the same flush).
 *
 * Flush: BEGIN; COPY rows into a temp staging table; INSERT .. SELECT ..
 * ON CONFLICT (device_id) DO UPDATE (never moving a twin back to a lower
 * sequence); upsert projector_offsets (group, topic, partition) ->
 * next_offset; COMMIT.
 *
 * Object: struct store (heap, _new/_free) owns one connection. Threads:
 * the projector's loop thread only.
 *
 *     store_new(dsn, group, topic, &st, errstr, n);
 *     store_load_offsets(st, parts, offsets, n_parts, ...);    // on assign
 *     store_load_twins(st, ids, n_ids, twins, ...);            // unknown devices
 *     store_flush(st, dirty, n_dirty, parts, offsets, n, ...); // periodically
 *     store_free(st);
 */
#ifndef TP_STORE_H
#define TP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "twins.h"

struct store;

enum tp_err store_new(const char *dsn, const char *group, const char *topic, struct store **out,
                      char *errstr, size_t errstr_size);
void store_free(struct store *st);
/* offsets[i] = stored next offset of parts[i], or JOURNAL_OFFSET_BEGINNING. */
enum tp_err store_load_offsets(struct store *st, const int32_t *parts, int64_t *offsets, size_t n,
                               char *errstr, size_t errstr_size);
/* Loads the stored twins among ids into tt (ids not stored are skipped). */
enum tp_err store_load_twins(struct store *st, char *const *ids, size_t n, struct twins *tt,
                             char *errstr, size_t errstr_size);
enum tp_err store_flush(struct store *st, struct twin *const *twins, size_t n, const int32_t *parts,
                        const int64_t *offsets, size_t n_parts, char *errstr, size_t errstr_size);
/* Appends t as one COPY text-format line of the staging table. */
enum tp_err store_twin_row(struct buf *out, const struct twin *t);

#endif
