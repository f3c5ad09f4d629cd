/*
 * fleet_store.h - the global site's PostgreSQL side (projector.fold=fleet):
 * the offsets of every consumed (topic, partition), and the flush of the
 * fleet map (fleet_map.h) into fleet_aggregates with those offsets in ONE
 * transaction:
 *
 *     BEGIN;
 *     compare-and-set of projector_offsets (group, topic, partition) -> next_offset,
 *       each from the offset this projector last read or wrote (TP_CONFLICT, nothing
 *       written, when one had moved: a lost commit answer, or another projector);
 *     INSERT INTO fleet_aggregates .. ON CONFLICT (region, category, window_start,
 *       journal_partition) DO UPDATE .. WHERE fleet_aggregates.version < EXCLUDED.version;
 *     COMMIT;
 *
 * Unlike the twin fold's store (store.h), whose offsets name one configured
 * topic, each offset here carries its own topic: the fleet fold subscribes to
 * a pattern (every region's mirrored aggregates topic). Both statements take
 * their rows as one jsonb parameter (jsonb_to_recordset): a flush holds a few
 * hundred partials, and no array literal needs escaping.
 *
 * Object: struct fleet_store (heap, _new/_free) owns one connection, reopened
 * by the next call after it broke; one thread at a time.
 *
 *     fleet_store_new(dsn, group, &st, errstr, n);
 *     fleet_store_load_offsets(st, topics, parts, offsets, n, ...);   // on assign, resync
 *     fleet_store_flush(st, map, offs, n_offs, &out, ...);            // periodically
 *     fleet_store_free(st);
 */
#ifndef TP_FLEET_STORE_H
#define TP_FLEET_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "fleet_map.h"

struct fleet_store;

/* One partition's offset in a flush: where it moves, and where postgresql has it now
 * (JOURNAL_OFFSET_BEGINNING: no row yet). Borrowed. */
struct fleet_store_offset {
    const char *topic;
    int32_t partition;
    int64_t next;
    int64_t expected;
};

/* What a flush that committed wrote. */
struct fleet_store_result {
    int64_t upserted;     /* rows inserted or replaced by a newer version */
    int64_t *window_ends; /* window_start + window_ms (ms) of the rows inserted: first versions
                             here (the caller frees) */
    size_t n_inserted;
};

enum tp_err fleet_store_new(const char *dsn, const char *group, struct fleet_store **out,
                            char *errstr, size_t errstr_size);
void fleet_store_free(struct fleet_store *st);
/* offsets[i] = stored next offset of (topics[i], parts[i]), or JOURNAL_OFFSET_BEGINNING. */
enum tp_err fleet_store_load_offsets(struct fleet_store *st, const char *const *topics,
                                     const int32_t *parts, int64_t *offsets, size_t n, char *errstr,
                                     size_t errstr_size);
/* The transaction above; *out filled on TP_OK (out->window_ends then the caller's).
 * TP_CONFLICT when an offset had moved. */
enum tp_err fleet_store_flush(struct fleet_store *st, const struct fleet_map *m,
                              const struct fleet_store_offset *offs, size_t n_offs,
                              struct fleet_store_result *out, char *errstr, size_t errstr_size);

#endif
