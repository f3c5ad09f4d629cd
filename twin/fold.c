#include "fold.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "common/json.h"
#include "history.h"
#include "names.h"

#define FOLD_FIELDS_MAX 128 /* Reading fields whose interned names are cached */

bool fold_valid(const journal_reading *r)
{
    /* what PostgreSQL will take: UTF-8 text, and timestamps within
     * timestamptz's range (years 1..9999, the same bound for the rollup) */
    return r->device_id && *r->device_id && strlen(r->device_id) <= FOLD_DEVICE_ID_MAX &&
           json_utf8_valid(r->device_id, strlen(r->device_id)) && r->has_sequence &&
           r->sequence > 0 && r->sequence <= (uint64_t)INT64_MAX && r->has_timestamp_ms &&
           r->timestamp_ms >= FOLD_TS_MIN_MS && r->timestamp_ms <= FOLD_TS_MAX_MS;
}

/* One value of an applied reading: latest value (unless the reading is older than the
 * twin's newest: then only for a metric it brings first), statistics, history (the open
 * minute, or the map when the reading's minute is before the twin's open minute). */
static void fold_metric(struct twin *t, struct history *h, const char *interned, double value,
                        int64_t ts, bool late_minute, bool late_seq)
{
    size_t before = t->n_metrics;
    struct twin_metric *m = twin_metric_at(t, interned, true);
    if (!m)
        return; /* past the bounds of twin.h */
    if (!late_seq || t->n_metrics != before) {
        m->value = value;
        m->ts_ms = ts;
    }
    if (!isfinite(value))
        return; /* JSON cannot hold it: latest value only (written as null) */
    twin_metric_observe(m, value);
    if (!late_minute)
        twin_metric_observe_minute(m, value);
    else if (h)
        history_add(h, t->device_id, m->name, ts, value);
}

/* Every present optional double of the message, by field name (the Reading's names are
 * interned once, on first use). */
static void fold_doubles(struct twin *t, struct history *h, const ProtobufCMessage *m, int64_t ts,
                         bool late_minute, bool late_seq)
{
    static const char *field_names[FOLD_FIELDS_MAX];
    const ProtobufCMessageDescriptor *d = m->descriptor;
    bool cache =
        d == &twinpipe__telemetry__v1__reading__descriptor && d->n_fields <= FOLD_FIELDS_MAX;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_DOUBLE || f->label != PROTOBUF_C_LABEL_OPTIONAL)
            continue;
        if (!*(const protobuf_c_boolean *)((const char *)m + f->quantifier_offset))
            continue;
        const char *name = cache ? field_names[i] : NULL;
        if (!name) {
            name = names_intern(f->name);
            if (cache)
                field_names[i] = name;
        }
        fold_metric(t, h, name, *(const double *)((const char *)m + f->offset), ts, late_minute,
                    late_seq);
    }
}

static void fold_location(struct twin *t, const Twinpipe__Telemetry__V1__Reading__Location *l,
                          int64_t ts)
{
    const protobuf_c_boolean has[TWIN_LOC_N] = {l->has_lat, l->has_lon, l->has_altitude_m,
                                                l->has_heading_deg, l->has_accuracy_m};
    const double v[TWIN_LOC_N] = {l->lat, l->lon, l->altitude_m, l->heading_deg, l->accuracy_m};
    t->has_location = true;
    t->loc_mask = 0;
    for (int i = 0; i < TWIN_LOC_N; i++) {
        t->loc[i] = has[i] ? v[i] : 0;
        if (has[i])
            t->loc_mask |= 1u << i;
    }
    t->location_ts_ms = ts;
}

/* Bit i of the window (sequence last_sequence - 1 - i). */
static bool fold_seen_get(const struct twin *t, int64_t i)
{
    return (t->seen[i / 64] >> (i % 64)) & 1;
}

static void fold_seen_set(struct twin *t, int64_t i)
{
    t->seen[i / 64] |= 1ULL << (i % 64);
}

/* The window of a twin whose only sequence is seq: sequences <= 0 count as seen. */
static void fold_seen_first(struct twin *t, int64_t seq)
{
    t->seen[0] = t->seen[1] = 0;
    for (int64_t i = seq - 1 < 0 ? 0 : seq - 1; i < TWIN_SEQ_WINDOW; i++)
        fold_seen_set(t, i);
}

/* Moves the window up by d >= 1 sequences (the old last_sequence becomes bit d - 1). */
static void fold_seen_slide(struct twin *t, int64_t d)
{
    uint64_t lo = t->seen[0], hi = t->seen[1];
    if (d >= 128) {
        lo = hi = 0;
    } else if (d >= 64) {
        hi = lo << (d - 64);
        lo = 0;
    } else {
        hi = (hi << d) | (d ? lo >> (64 - d) : 0);
        lo <<= d;
    }
    t->seen[0] = lo;
    t->seen[1] = hi;
    if (d <= TWIN_SEQ_WINDOW)
        fold_seen_set(t, d - 1);
}

const char *fold_result_name(enum fold_result res)
{
    switch (res) {
    case FOLD_APPLIED:
        return "applied";
    case FOLD_DUPLICATE:
        return "duplicate";
    case FOLD_INVALID:
        return "invalid";
    case FOLD_TOO_LATE:
        return "too_late";
    case FOLD_JUMP:
        return "sequence_jump";
    }
    return "unknown";
}

enum fold_result fold_apply(struct twin *t, const journal_reading *r, struct history *h,
                            int64_t max_jump)
{
    assert(max_jump >= 1);
    if (!fold_valid(r))
        return FOLD_INVALID;
    int64_t seq = (int64_t)r->sequence;
    bool late_seq = false;
    if (t->events > 0 && seq <= t->last_sequence) {
        if (seq == t->last_sequence)
            return FOLD_DUPLICATE;
        int64_t i = t->last_sequence - seq - 1; /* >= 0: no overflow, both are > 0 */
        if (i >= TWIN_SEQ_WINDOW)
            return FOLD_TOO_LATE;
        if (fold_seen_get(t, i))
            return FOLD_DUPLICATE;
        fold_seen_set(t, i);
        late_seq = true;
    } else if (t->events > 0) {
        if (seq - t->last_sequence > max_jump)
            return FOLD_JUMP;
        fold_seen_slide(t, seq - t->last_sequence);
    } else {
        fold_seen_first(t, seq);
    }
    int64_t ts = r->timestamp_ms;
    if (t->events == 0)
        t->first_seen_ms = ts;
    if (!late_seq) {
        t->last_seen_ms = ts;
        t->last_sequence = seq;
    }
    t->events++;
    int64_t minute = history_minute(ts);
    if (t->minute_ms == TWIN_NO_MINUTE || minute > t->minute_ms) {
        if (t->minute_ms != TWIN_NO_MINUTE)
            twin_minute_close(t, h);
        t->minute_ms = minute;
    }
    bool late = minute < t->minute_ms;
    fold_doubles(t, h, &r->base, ts, late, late_seq);
    for (size_t i = 0; i < r->n_metrics; i++)
        if (r->metrics[i]->key && *r->metrics[i]->key &&
            json_utf8_valid(r->metrics[i]->key, strlen(r->metrics[i]->key)))
            fold_metric(t, h, names_intern(r->metrics[i]->key),
                        r->metrics[i]->has_value ? r->metrics[i]->value : 0.0, ts, late, late_seq);
    if (late_seq)
        return FOLD_APPLIED; /* location and attributes: the newest reading's */
    if (r->location)
        fold_location(t, r->location, ts);
    const char **const slots[] = {&t->model, &t->firmware, &t->region};
    const char *const values[] = {r->model, r->firmware, r->region};
    for (int i = 0; i < 3; i++) {
        /* usually the value the twin has: nothing to check or intern */
        if (!values[i] || !*values[i] || (*slots[i] && !strcmp(*slots[i], values[i])))
            continue;
        size_t len = strlen(values[i]);
        if (len <= FOLD_ATTR_MAX && json_utf8_valid(values[i], len))
            *slots[i] = names_intern(values[i]);
    }
    return FOLD_APPLIED;
}
