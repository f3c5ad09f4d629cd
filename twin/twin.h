/*
 * twin.h - a device's digital twin in memory, and the fold that applies a
 * reading to it (fold.c).
 *
 * A twin holds the latest value and device timestamp of every metric the
 * device reported (each optional double field of the Reading by its field
 * name, plus each entry of the free-form `metrics` map by its key) with
 * its running statistics since first seen (min, max, sum, count, inline in
 * struct twin_metric), the last location, the latest non-empty attributes,
 * first/last seen, the number of readings applied and the last sequence.
 * A non-finite value (only another producer than tp-ingest can journal
 * one) becomes the latest value but stays out of the statistics and the
 * history: JSON and so the twin's jsonb cannot hold it.
 *
 * The fold is generic: it walks the Reading's protobuf descriptor, so a new
 * numeric field in the schema becomes a metric with no code change.
 *
 * Sequence window: folding is idempotent by the exact (device_id,
 * sequence). Besides its highest sequence (last_sequence) a twin keeps
 * `seen`, a bitmap of the TWIN_SEQ_WINDOW sequences below it (bit i:
 * last_sequence - 1 - i was applied; sequences <= 0, which no valid reading
 * has, count as seen). A reading of a newer sequence is applied in full and
 * slides the window; one inside the window whose bit is clear is *late*: it
 * counts in events, the statistics and its history minute, but the latest
 * values, location, attributes, last_seen and last_sequence stay those of
 * the newest reading; one whose bit is set (or equal to last_sequence) is a
 * duplicate and changes nothing. Older than the window: FOLD_TOO_LATE
 * (nothing changes; the projector dead-letters it). A sequence more than
 * max_jump above last_sequence is FOLD_JUMP (nothing changes): one reading
 * at 2^63-1 would otherwise make every later reading of the device look
 * old. Twins stored before the window existed load with every bit set (as
 * the old rule: nothing below last_sequence is applied again).
 *
 * History (per device, metric and minute of device time: min/max/sum/count)
 * is kept in two places so that each minute is written once, not once per
 * flush: the twin holds its *open minute* (the newest minute it has
 * readings for: `minute_ms`, and per metric mmin/mmax/msum/mcount),
 * persisted with the twin itself (twins.minute, twins.minute_stats); a
 * reading of a later minute *closes* it: each metric's figures of the
 * closed minute go to the history map (history.h) when one is given, which
 * the next flush adds to table metric_minutes in the same transaction as
 * the twin. A late reading (a minute before the open one) adds its values
 * to the history map directly. Which minute a value lands in depends only
 * on the device's own readings in journal order, never on flush timing.
 *
 * This is the working ("hot") form of a twin, for folding and flushing:
 * struct twins (twins.h) keeps every clean twin packed (pack.h) and
 * unpacks it into a struct twin when its device reports again. Metric names
 * and attribute values are interned (names.h): the pointers are shared and
 * live as long as the process, so a twin copies no string but its
 * device_id, which it holds inline.
 *
 * Ownership: struct twin is heap-allocated (twin_new/twin_free) and owns
 * its metrics array. Threads: a twin belongs to the projector's loop thread.
 *
 *     struct twin *t = twin_new("car-1");
 *     if (fold_apply(t, reading, hist) == FOLD_APPLIED) mark dirty;
 *     twin_free(t);
 */
#ifndef TP_TWIN_H
#define TP_TWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"

struct history;

#define FOLD_DEVICE_ID_MAX    256
#define FOLD_TS_MIN_MS        (-62135596800000LL) /* 0001-01-01 */
#define FOLD_TS_MAX_MS        253402300799999LL   /* 9999-12-31 */
#define TWIN_NO_MINUTE        INT64_MIN           /* struct twin's minute_ms: no open minute */
#define TWIN_SEQ_WINDOW       128                 /* sequences below last_sequence in `seen` */
#define FOLD_MAX_JUMP_DEFAULT (1LL << 32)         /* projector.max_sequence_jump's default */
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

/* The config row of projector.max_sequence_jump, shared with tp-replay (which must fold the
 * same way): a reading more than this many sequences above its twin's is not applied. */
#define FOLD_MAX_JUMP_CONFIG_ENTRY(type, member)                                                   \
    CONFIG_ROW_INT("projector.max_sequence_jump", type, member, "4294967296", 1, INT64_MAX,        \
                   "a reading more than this many sequences above its device's highest is not "    \
                   "applied: it goes to the dead-letter topic (reason sequence_jump) and is "      \
                   "counted (tp-projector and tp-replay fold alike: set both the same)")

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

enum fold_result {
    FOLD_APPLIED,   /* a newer reading, or a late one inside the window (see above) */
    FOLD_DUPLICATE, /* this exact sequence was applied already */
    FOLD_INVALID,   /* fold_valid() is false */
    FOLD_TOO_LATE,  /* older than the window: not applied */
    FOLD_JUMP       /* more than max_jump above last_sequence: not applied */
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
/* Adds the open minute's figures of every metric to h (if not NULL) and empties it. */
void twin_minute_close(struct twin *t, struct history *h);
/* Borrowed pointer valid until the twin changes, or NULL. */
const struct twin_metric *twin_metric_get(const struct twin *t, const char *name);
/* Replaces an attribute ("model", "firmware", "region"); value interned. */
void twin_attr_set(struct twin *t, const char *name, const char *value);

/* Whether r can be folded at all: device_id (UTF-8, <= 256 bytes), sequence
 * > 0, timestamp within years 1..9999. Anything else is skipped and counted. */
bool fold_valid(const journal_reading *r);
/* Applies r to t (r->device_id must be t's). When applied, each finite metric value goes
 * to the twin's open minute; a minute it closes, and values of a reading of an earlier
 * minute, go to h (NULL: dropped, for tests of the twin alone). max_jump >= 1: see above
 * (FOLD_MAX_JUMP_DEFAULT unless configured). */
enum fold_result fold_apply(struct twin *t, const journal_reading *r, struct history *h,
                            int64_t max_jump);
/* Short stable name of a result ("applied", "duplicate", "invalid", "too_late",
 * "sequence_jump"): the dead-letter reason and the metrics' word. */
const char *fold_result_name(enum fold_result res);

#endif
