/*
 * window.h - the regional aggregator's in-memory map between two flushes
 * (docs/decisions/regions.md, section 1): per (category, window, journal
 * partition) the number of readings applied and, per metric, the count,
 * min, max and sum of their finite values. Filled by the projector's loop
 * for every reading fold_apply() answered FOLD_APPLIED (twin/fold.h: the
 * twin's sequence window is the one dedupe authority), encoded into the
 * flush job (rows.h) and cleared, like the history map (twin/history.h).
 *
 * Category: the values of the twin's attributes named by aggregate.category
 * (a list of model, firmware, region), read *after* the fold, so a reading
 * without attributes still has one; an attribute the device never reported
 * is "". Its key is the values joined by '|', each value with '\' and '|'
 * escaped by a '\' (aggregate_category_key), so two categories never share
 * a key. Window: by device time, floor(timestamp_ms / window_ms) *
 * window_ms (also before 1970).
 *
 * Metrics: the reading's values as the fold sees them (each present
 * optional double field of the Reading by its field name, each entry of the
 * `metrics` map by its key), finite values only; a metric name over
 * FOLD_METRIC_NAME_MAX bytes or holding a control character (< 0x20) is
 * not aggregated (metrics.h's text form separates with tab and newline),
 * nor a metric past AGGREGATE_METRICS_MAX in one entry.
 *
 * Categories are kept for the process's life (their values are interned
 * pointers of twin/names.h, their keys copied once); entries are cleared by
 * every flush. The map's size is categories x open windows x partitions:
 * hundreds of entries, not devices.
 *
 * Object: struct aggregate_map (heap, _new/_free). Threads: the projector's
 * loop thread only (names.h's pool is).
 *
 *     struct aggregate_spec spec;
 *     aggregate_spec_parse("model,firmware", &spec, errstr, n);
 *     struct aggregate_map *m = aggregate_map_new(&spec, 60000);
 *     aggregate_map_add(m, twin, reading, partition);   // per APPLIED reading
 *     for (size_t i = 0; i < m->n; i++) use(&m->entries[i]);
 *     aggregate_map_clear(m);                            // after the flush was built
 *     aggregate_map_free(m);
 */
#ifndef TP_AGGREGATE_WINDOW_H
#define TP_AGGREGATE_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "journal/journal.h"
#include "twin/twin.h"

#define AGGREGATE_ATTRS_MAX   3      /* model, firmware, region */
#define AGGREGATE_METRICS_MAX 1024   /* metrics of one entry (the twin's bound, twin.h) */
#define AGGREGATE_MAP_MAX     100000 /* entries: the projector flushes at this many */

enum aggregate_attr { AGGREGATE_ATTR_MODEL, AGGREGATE_ATTR_FIRMWARE, AGGREGATE_ATTR_REGION };

/* aggregate.category parsed: which of the twin's attributes, in order. */
struct aggregate_spec {
    enum aggregate_attr attrs[AGGREGATE_ATTRS_MAX];
    size_t n;
    char names[32]; /* "model,firmware": the canonical list (aggregate_windows.attributes) */
};

struct aggregate_metric {
    const char *name; /* interned (twin/names.h) */
    int64_t count;    /* >= 1 */
    double min, max, sum;
};

struct aggregate_entry {
    uint32_t category; /* index into the map's categories (aggregate_map_key) */
    int32_t partition;
    int64_t window_start_ms;
    int64_t readings;
    struct aggregate_metric *metrics; /* in the order first seen */
    size_t n_metrics, cap_metrics;
};

struct aggregate_category {
    const char *values[AGGREGATE_ATTRS_MAX]; /* interned, NULL: never reported ("") */
    char *key;                               /* aggregate_category_key of the values */
};

struct aggregate_map {
    struct aggregate_spec spec;
    int64_t window_ms;
    struct aggregate_entry *entries; /* in insertion order */
    size_t n, cap;
    uint32_t *slots; /* open addressing over entries: index + 1, 0 = empty */
    size_t n_slots;  /* power of two */
    struct aggregate_category *categories;
    size_t n_categories, cap_categories;
    uint32_t *cat_slots; /* open addressing over categories: index + 1 */
    size_t n_cat_slots;
};

/* Parses aggregate.category ("model,firmware": 1 to 3 distinct names of model, firmware,
 * region, spaces around names allowed); TP_CONFIG with the reason otherwise. */
enum tp_err aggregate_spec_parse(const char *text, struct aggregate_spec *out, char *errstr,
                                 size_t errstr_size);
/* The category key of n values (NULL = ""): joined by '|', '\' and '|' escaped with '\'.
 * Returns a heap string (caller frees). */
char *aggregate_category_key(const char *const *values, size_t n);
/* Splits a key back into its n values (heap strings in out[0..n), caller frees each);
 * false when key is not a key of n values. */
bool aggregate_category_split(const char *key, size_t n, char **out);
/* floor(ts_ms / window_ms) * window_ms. */
int64_t aggregate_window_start(int64_t ts_ms, int64_t window_ms);

/* window_ms >= 1. */
struct aggregate_map *aggregate_map_new(const struct aggregate_spec *spec, int64_t window_ms);
void aggregate_map_free(struct aggregate_map *m);
/* Adds the applied reading r (already folded into t, its device's twin) read from journal
 * partition `partition`. */
void aggregate_map_add(struct aggregate_map *m, const struct twin *t, const journal_reading *r,
                       int32_t partition);
/* Entries so far. */
size_t aggregate_map_count(const struct aggregate_map *m);
/* The key of an entry's category (borrowed, valid for the map's life). */
const char *aggregate_map_key(const struct aggregate_map *m, const struct aggregate_entry *e);
/* Forgets every entry (categories stay). */
void aggregate_map_clear(struct aggregate_map *m);

#endif
