/*
 * twin.h - a device's digital twin in memory (twin.c); the fold that applies
 * a reading to it is fold.h.
 *
 * A twin holds the latest value and device timestamp of every metric the
 * device reported (each optional double field of the Reading by its field
 * name, plus each entry of the free-form `metrics` map by its key) with
 * its running statistics since first seen (min, max, sum, count, inline in
 * struct twin_metric), the last location, the latest non-empty attributes,
 * first/last seen, the number of readings applied, the last sequence and
 * the window of sequences below it (`seen`), and its *open minute* (the
 * newest minute of device time it has readings for: `minute_ms`, and per
 * metric mmin/mmax/msum/mcount) whose figures go to the history map
 * (history.h) when the minute closes. A non-finite value (only another
 * producer than tp-ingest can journal one) becomes the latest value but
 * stays out of the statistics and the history: JSON cannot hold it.
 *
 * This is the working ("hot") form of a twin, for folding and flushing:
 * struct twins (twins.h) keeps every clean twin packed (pack.h) and
 * unpacks it into a struct twin when its device reports again. Metric names
 * and attribute values are interned (names.h): the pointers are shared and
 * live as long as the process, so a twin copies no string but its
 * device_id, which it holds inline.
 *
 * Ownership: struct twin is heap-allocated (twin_new/twin_free) and owns
 * its metrics array. Threads: a twin belongs to one thread at a time (the
 * projector's loop thread).
 *
 *     struct twin *t = twin_new("car-1");
 *     twin_metric_observe(twin_metric_set(t, "speed_kmh", 88.5, ts_ms), 88.5);
 *     twin_attr_set(t, "model", "tp-van");
 *     twin_minute_close(t, hist);  // the open minute's figures into the history map
 *     twin_free(t);
 */
#ifndef TP_TWIN_H
#define TP_TWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct history;

#define FOLD_DEVICE_ID_MAX 256
#define FOLD_TS_MIN_MS     (-62135596800000LL) /* 0001-01-01 */
#define FOLD_TS_MAX_MS     253402300799999LL   /* 9999-12-31 */
#define TWIN_NO_MINUTE     INT64_MIN           /* struct twin's minute_ms: no open minute */
#define TWIN_SEQ_WINDOW    128                 /* sequences below last_sequence in `seen` */
/* What the fold keeps of hostile or careless producers, so that every twin's record
 * (record.h) stays readable: a new metric past TWIN_METRICS_MAX, a map key longer than
 * FOLD_METRIC_NAME_MAX and an attribute value longer than FOLD_ATTR_MAX are not applied (the
 * rest of the reading is). tp-ingest's own limits are far below (schemas/README.md). */
#define TWIN_METRICS_MAX     1024
#define FOLD_METRIC_NAME_MAX 128
#define FOLD_ATTR_MAX        1024

struct twin_metric {
    const char *name; /* interned (names.h) */
    double value;     /* latest */
    int64_t ts_ms;
    /* running statistics over every applied finite value since first seen;
     * min/max/sum are meaningless while count is 0 */
    double min, max, sum;
    int64_t count;
    /* the twin's open minute (struct twin's minute_ms): this metric's figures in it; mcount
     * 0 = no finite value of this metric in that minute */
    double mmin, mmax, msum;
    int64_t mcount;
    uint8_t scale; /* decimal scale it was packed at last (pack.c tries it first) */
};

enum twin_loc_field { TWIN_LAT, TWIN_LON, TWIN_ALT, TWIN_HEADING, TWIN_ACCURACY, TWIN_LOC_N };

struct twin {
    int64_t first_seen_ms;
    int64_t last_seen_ms;
    int64_t last_sequence;
    int64_t events;    /* readings applied; 0 = never seen */
    uint64_t seen[2];  /* bit i (seen[i / 64] bit i % 64): last_sequence - 1 - i applied */
    int64_t minute_ms; /* start of the open minute (see above); TWIN_NO_MINUTE: none */
    struct twin_metric *metrics;
    size_t n_metrics, cap_metrics;
    bool has_location;
    unsigned loc_mask; /* bit i set: loc[i] present */
    double loc[TWIN_LOC_N];
    int64_t location_ts_ms;
    const char *model, *firmware, *region; /* interned (names.h); NULL: never reported */
    bool dirty; /* listed in struct twins' dirty list (twins_mark_dirty) */
    char device_id[FOLD_DEVICE_ID_MAX + 1];
};

/* Field names of struct twin's location in JSON: "lat", "lon", ... */
extern const char *const twin_loc_names[TWIN_LOC_N];

/* A twin never seen (events 0); device_id must have at most FOLD_DEVICE_ID_MAX bytes. */
struct twin *twin_new(const char *device_id);
void twin_free(struct twin *t);
/* Makes room for n metrics in all. */
void twin_metrics_reserve(struct twin *t, size_t n);
/* Sets the latest value of a metric (added with count 0 if new; name is interned).
 * Returns it, borrowed, valid until the twin gets another new metric. */
struct twin_metric *twin_metric_set(struct twin *t, const char *name, double value, int64_t ts_ms);
/* Adds value to the metric's running statistics. */
void twin_metric_observe(struct twin_metric *m, double value);
/* Adds value to the metric's figures of the twin's open minute. */
void twin_metric_observe_minute(struct twin_metric *m, double value);
/* Adds the open minute's figures of every metric to h (if not NULL) and empties it. */
void twin_minute_close(struct twin *t, struct history *h);
/* Borrowed pointer valid until the twin changes, or NULL. */
const struct twin_metric *twin_metric_get(const struct twin *t, const char *name);
/* The metric of an interned name (names.h), added with count 0 if new; bounded: NULL
 * instead of a new metric past TWIN_METRICS_MAX or with a name over FOLD_METRIC_NAME_MAX
 * bytes (the fold's bounds). Borrowed, as twin_metric_set's. */
struct twin_metric *twin_metric_at(struct twin *t, const char *interned, bool bounded);
/* Replaces an attribute ("model", "firmware", "region"); value interned. */
void twin_attr_set(struct twin *t, const char *name, const char *value);

#endif
