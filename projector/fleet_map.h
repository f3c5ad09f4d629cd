/*
 * fleet_map.h - the global site's fold (projector.fold=fleet, fleet.h):
 * WindowAggregate records decoded into partials, and the flush map that keeps
 * the newest version of each partial between two flushes.
 *
 * A record is one *partial* of a region (docs/decisions/regions.md, sections
 * 1 and 4): a category's window as one journal partition's owner folded it,
 * its full state with a version. Its key here is (region, category,
 * window_start_ms, journal_partition), where
 *   - region is the record's `region`. The topic it came from is checked
 *     against it: MirrorMaker 2 (DefaultReplicationPolicy, separator '.')
 *     names a mirrored topic "<source alias>.<topic>", and the alias is the
 *     region's name, so a topic "<prefix>.<name>" must have a prefix equal to
 *     the region or ending in ".<region>" (a second hop prepends its alias:
 *     "global.region-a.aggregates"). A record without a region takes the
 *     prefix's last alias; a record whose region contradicts its topic, or
 *     with neither, is invalid (dead-lettered by the caller). A topic without
 *     a '.' checks nothing;
 *   - category is the record's attributes spelled out, "name=value" joined by
 *     ',' in the record's order, each '\', ',' and '=' of a name or value
 *     escaped with '\' (fleet_category_append): the form tp-query's
 *     category= takes, exact or as a prefix of whole attributes. The record's
 *     own `category` ("tp-truck|2.1.7", the Kafka key) is not stored.
 *
 * Records are the Confluent framing (journal/framing.h, message path [0]) of
 * the built-in WindowAggregate (schemas/twinpipe/aggregates/v1, tp_aggregates_pb);
 * the schema id is not looked up. Limits are checked before anything is copied.
 *
 * Objects: struct fleet_partial (heap, fleet_partial_free) and struct fleet_map
 * (heap, _new/_free; owns its partials). Pure: no I/O; one thread at a time.
 *
 *     struct fleet_partial *p;
 *     if (fleet_partial_decode(bytes, len, topic, &p, errstr, n) != TP_OK) -> dead letter
 *     fleet_map_put(m, p);                 // takes p: kept if newer than the map's
 *     fleet_map_rows_json(m, &buf);        // the flush's rows (fleet_store.h)
 *     fleet_map_clear(m);                  // after the flush
 */
#ifndef TP_FLEET_MAP_H
#define TP_FLEET_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define FLEET_RECORD_MAX     (1 << 20) /* bytes of one record */
#define FLEET_ATTRIBUTES_MAX 16        /* attributes of a category */
#define FLEET_METRICS_MAX    256       /* metrics of a partial */
#define FLEET_NAME_MAX       128 /* bytes of a region, an attribute's name or value, a metric */

struct fleet_metric {
    char *name;
    int64_t count;
    double min, max, sum; /* min and max meaningful only when count > 0 */
};

struct fleet_partial {
    char *region;
    char *category; /* "model=tp-truck,firmware=2.1.7" */
    int64_t window_start_ms;
    int32_t window_ms;
    int32_t journal_partition;
    int64_t version;
    int64_t readings;
    struct fleet_metric *metrics; /* sorted by name, as the record lists them */
    size_t n_metrics;
};

/* Decodes one record consumed from topic into a new partial (*out), or TP_DECODE (bytes that
 * do not parse: "undecodable") / TP_VALIDATION (a partial that makes no sense: "invalid")
 * with the reason in errstr. */
enum tp_err fleet_partial_decode(const uint8_t *data, size_t len, const char *topic,
                                 struct fleet_partial **out, char *errstr, size_t errstr_size);
void fleet_partial_free(struct fleet_partial *p);

/* Appends s to b with '\', ',' and '=' escaped by '\' (one name or value of a category). */
void fleet_category_append(struct buf *b, const char *s);

struct fleet_map;

struct fleet_map *fleet_map_new(void);
void fleet_map_free(struct fleet_map *m);
/* Takes ownership of p: kept when its key is new or its version higher than the one held
 * (true; the older one freed), else freed (false). */
bool fleet_map_put(struct fleet_map *m, struct fleet_partial *p);
size_t fleet_map_count(const struct fleet_map *m);
/* The i-th partial held (0 <= i < count; order of first insertion), borrowed. */
const struct fleet_partial *fleet_map_get(const struct fleet_map *m, size_t i);
/* The partials as a JSON array of rows for jsonb_to_recordset: region, category,
 * window_start_ms, window_ms, journal_partition, version, readings, metrics (an array of
 * {"name","count","min","max","sum"}, min/max null while count is 0). */
void fleet_map_rows_json(const struct fleet_map *m, struct buf *out);
void fleet_map_clear(struct fleet_map *m);

#endif
