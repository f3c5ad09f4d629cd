/*
 * history.h - the history projection between two flushes: per (device_id,
 * metric, minute of the reading's device time, UTC) the min, max, sum and
 * count of the values applied since the last flush that are no longer in a
 * twin's open minute (twin.h): minutes closed by a later reading, and late
 * readings' values. store_flush adds the
 * entries to table metric_minutes in the flush transaction (min with min,
 * sum with sum, ...), then the projector clears the map.
 *
 * Bounded by the caller: history_count() is checked against
 * projector.history_max_rows after every batch, and a full map triggers a
 * flush. Strings are interned in one arena per map (each distinct
 * device_id and metric name stored once, released all at once by
 * history_clear), so an entry costs no allocation of its own and the map
 * borrows nothing from the twins.
 *
 * Object: struct history (heap, _new/_free). Threads: the projector's loop
 * thread only.
 *
 *     struct history *h = history_new();
 *     history_add(h, "car-1", "speed_kmh", ts_ms, 88.5);   // per applied value
 *     for (size_t i = 0; i < h->n; i++) write(h, &h->entries[i]);
 *     history_clear(h);                                     // after the flush committed
 *     history_free(h);
 */
#ifndef TP_HISTORY_H
#define TP_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct history_entry {
    uint32_t device_id; /* offsets of the interned strings (history_str) */
    uint32_t metric;
    int64_t minute_ms; /* start of the minute, ms since the epoch */
    double min, max, sum;
    int64_t count;
};

struct history {
    struct history_entry *entries; /* in insertion order */
    size_t n, cap;
    uint32_t *slots; /* open addressing over entries: index + 1, 0 = empty */
    size_t n_slots;  /* power of two */
    uint32_t *names; /* open addressing over interned strings: offset + 1 */
    size_t n_names, cap_names;
    struct buf arena; /* the interned strings, NUL-terminated */
};

struct history *history_new(void);
void history_free(struct history *h);
/* Adds one value at device time ts_ms (strings are copied, once per map). */
void history_add(struct history *h, const char *device_id, const char *metric, int64_t ts_ms,
                 double value);
/* Adds the figures of count values in the minute of minute_ms (one closed open minute of a
 * twin, twin.h). */
void history_add_stats(struct history *h, const char *device_id, const char *metric,
                       int64_t minute_ms, double min, double max, double sum, int64_t count);
/* Entries so far. */
size_t history_count(const struct history *h);
/* An interned string, borrowed, valid until history_clear. */
const char *history_str(const struct history *h, uint32_t off);
/* Forgets every entry and string (keeps the capacity). */
void history_clear(struct history *h);
/* The start of ts_ms's minute (floor, also before 1970). */
int64_t history_minute(int64_t ts_ms);

#endif
