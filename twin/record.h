/*
 * record.h - the twin record: a twin's persisted form, the bytes of
 * twins.state in PostgreSQL (migration 0009). Written by tp-projector and
 * tp-replay, read back by both and by tp-query, which renders its JSON
 * (json.h) and filters on it without PostgreSQL parsing anything.
 *
 * Versioned and self-contained: byte 0 is the format version
 * (TWIN_RECORD_VERSION); names (metric names, attribute values) are stored
 * as strings in the record (each once), not as ids of a process's pool.
 * Every field of struct twin but device_id and the dirty flag round-trips
 * exactly (doubles bit for bit), except what means nothing: statistics of a
 * metric with count 0 and minute figures without an open minute read back
 * as 0, and the metrics' scale hints may differ. minute_ms must be a
 * minute's start (a multiple of 60000; asserted). The writer does not
 * enforce the reader's limits (TWIN_VIEW_METRICS_MAX metrics,
 * TWIN_RECORD_STRING_MAX bytes a name, TWIN_RECORD_MAX bytes): a twin past
 * them writes a record that is refused when read. A reader of version N reads every version <= N; a
 * record of a later version, or one that is cut short or malformed, is refused with TP_DECODE and a
 * reason, never read past its end. The byte-by-byte layout is in twin/README.md.
 *
 * Two ways to read a record:
 *   - twin_record_read fills a struct twin (interning names: names.h, so the
 *     projector's loop thread or tp-replay's single-threaded workers);
 *   - twin_record_view decodes without the name pool into a caller's
 *     struct twin_view whose strings point into the record bytes (any
 *     thread: tp-query's HTTP threads and its search index).
 *
 * Pure functions otherwise; no allocation in write or view (the view keeps
 * about 33 KB of tables on the stack).
 *
 *     uint8_t *p = tp_malloc(twin_record_bound(t));
 *     size_t n = twin_record_write(p, t);
 *     struct twin *back = twin_new(t->device_id);
 *     if (twin_record_read(back, p, n, errstr, sizeof(errstr)) != TP_OK) ...
 *
 *     static _Thread_local struct twin_view_metric m[TWIN_VIEW_METRICS_MAX]; // 384 KB: any record
 *     struct twin_view v = {.metrics = m, .cap_metrics = TWIN_VIEW_METRICS_MAX};
 *     if (twin_record_view(&v, p, n, errstr, sizeof(errstr)) == TP_OK) ... v.last_seen_ms ...
 */
#ifndef TP_TWIN_RECORD_H
#define TP_TWIN_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "twin.h"

#define TWIN_RECORD_VERSION    1
#define TWIN_RECORD_MAX        (1 << 20) /* a record longer than this is refused */
#define TWIN_VIEW_METRICS_MAX  4096      /* metrics a record may hold */
#define TWIN_RECORD_STRING_MAX 1024      /* bytes of one stored name or attribute value */

/* A string inside a record: not NUL-terminated. */
struct twin_str {
    const char *p; /* NULL: absent */
    size_t len;
};

struct twin_view_metric {
    struct twin_str name;
    double value;
    int64_t ts_ms;
    double min, max, sum;
    int64_t count;
    double mmin, mmax, msum; /* the open minute's figures; mcount 0: none */
    int64_t mcount;
};

/* A decoded record; strings borrowed from the record bytes. */
struct twin_view {
    int version; /* the record's format version */
    int64_t first_seen_ms, last_seen_ms, last_sequence, events;
    uint64_t seen[2];
    int64_t minute_ms; /* TWIN_NO_MINUTE: no open minute */
    bool has_location;
    unsigned loc_mask;
    double loc[TWIN_LOC_N];
    int64_t location_ts_ms;
    struct twin_str model, firmware, region;
    struct twin_view_metric *metrics; /* the caller's array */
    size_t n_metrics, cap_metrics;    /* cap_metrics: its size (a record with more: TP_DECODE) */
};

/* Bytes twin_record_write may write for t, at most. */
size_t twin_record_bound(const struct twin *t);
/* Writes t's record (all but device_id and the dirty flag) to out; returns its length. */
size_t twin_record_write(uint8_t *out, const struct twin *t);
/* Fills t (fresh from twin_new: no metrics) from a record of len bytes; names interned.
 * TP_DECODE with the reason in errstr (t then holds no metrics and events 0). */
enum tp_err twin_record_read(struct twin *t, const uint8_t *in, size_t len, char *errstr,
                             size_t errstr_size);
/* Decodes a record of len bytes into v (see above) without the name pool. TP_DECODE with
 * the reason in errstr. */
enum tp_err twin_record_view(struct twin_view *v, const uint8_t *in, size_t len, char *errstr,
                             size_t errstr_size);

#endif
