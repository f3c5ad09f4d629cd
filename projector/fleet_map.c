#include "fleet_map.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "journal/framing.h"
#include "twinpipe/aggregates/v1/aggregates.pb-c.h"

typedef Twinpipe__Aggregates__V1__WindowAggregate fleet_record;

void fleet_partial_free(struct fleet_partial *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_metrics; i++)
        free(p->metrics[i].name);
    free(p->metrics);
    free(p->region);
    free(p->category);
    free(p);
}

void fleet_category_append(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == ',' || *s == '=')
            buf_append(b, "\\", 1);
        buf_append(b, s, 1);
    }
}

/* A string of the record: set, at most FLEET_NAME_MAX bytes, valid UTF-8 (an empty one is
 * allowed only where empty_ok). */
static bool fleet_str_ok(const char *s, bool empty_ok)
{
    if (!s)
        return empty_ok;
    size_t n = strlen(s);
    return n <= FLEET_NAME_MAX && (n > 0 || empty_ok) && json_utf8_valid(s, n);
}

/*
 * The region of a record of topic (fleet_map.h): the record's, checked against the topic's
 * prefix; or, when the record has none, the prefix's last alias. NULL with errstr when they
 * disagree or there is none.
 */
static char *fleet_region(const char *record_region, const char *topic, char *errstr,
                          size_t errstr_size)
{
    const char *dot = topic ? strrchr(topic, '.') : NULL;
    size_t plen = dot ? (size_t)(dot - topic) : 0;
    bool has = record_region && *record_region;
    if (has && plen > 0) {
        size_t rlen = strlen(record_region);
        bool same = plen == rlen && !memcmp(topic, record_region, rlen);
        bool last = plen > rlen && topic[plen - rlen - 1] == '.' &&
                    !memcmp(topic + plen - rlen, record_region, rlen);
        if (!same && !last) {
            tp_err_set(TP_VALIDATION, errstr, errstr_size,
                       "a record of region \"%s\" in topic \"%s\", which MirrorMaker names after "
                       "another region",
                       record_region, topic);
            return NULL;
        }
    }
    if (has)
        return tp_strdup(record_region);
    if (plen == 0) {
        tp_err_set(TP_VALIDATION, errstr, errstr_size,
                   "a record without a region in topic \"%s\", which names none",
                   topic ? topic : "");
        return NULL;
    }
    const char *alias = topic;
    for (const char *p = topic; p < dot; p++)
        if (*p == '.')
            alias = p + 1;
    size_t alen = (size_t)(dot - alias);
    if (alen == 0 || alen > FLEET_NAME_MAX) {
        tp_err_set(TP_VALIDATION, errstr, errstr_size,
                   "a record without a region in topic \"%s\", which names none", topic);
        return NULL;
    }
    char *r = tp_malloc(alen + 1);
    memcpy(r, alias, alen);
    r[alen] = '\0';
    return r;
}

/* The record's checks (fleet_map.h); TP_VALIDATION with the first one that fails. */
static enum tp_err fleet_record_check(const fleet_record *a, char *errstr, size_t errstr_size)
{
    if (!fleet_str_ok(a->region, true))
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "region is longer than %d bytes or not UTF-8", FLEET_NAME_MAX);
    if (a->n_attributes == 0 || a->n_attributes > FLEET_ATTRIBUTES_MAX)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "%zu attributes: a category has 1 to %d", a->n_attributes,
                          FLEET_ATTRIBUTES_MAX);
    for (size_t i = 0; i < a->n_attributes; i++)
        if (!fleet_str_ok(a->attributes[i]->name, false) ||
            !fleet_str_ok(a->attributes[i]->value, true))
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "attribute %zu has no name, or a name or value longer than %d "
                              "bytes or not UTF-8",
                              i, FLEET_NAME_MAX);
    if (!a->has_window_start_ms || !a->has_window_ms || a->window_ms == 0 ||
        a->window_ms > INT32_MAX)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "window_start_ms and window_ms (1..2^31-1) are required");
    /* years 1..9999, as timestamptz holds them */
    if (a->window_start_ms < -62135596800000LL || a->window_start_ms > 253402300799999LL)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "window_start_ms %lld is outside years 1..9999",
                          (long long)a->window_start_ms);
    if (!a->has_journal_partition || a->journal_partition < 0)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "journal_partition (>= 0) is required");
    if (!a->has_version || a->version == 0 || a->version > INT64_MAX)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "version (1..2^63-1) is required");
    if (a->readings > INT64_MAX)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "readings above 2^63-1");
    if (a->n_metrics > FLEET_METRICS_MAX)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "%zu metrics: at most %d",
                          a->n_metrics, FLEET_METRICS_MAX);
    for (size_t i = 0; i < a->n_metrics; i++) {
        const Twinpipe__Aggregates__V1__WindowAggregate__Metric *m = a->metrics[i];
        if (!fleet_str_ok(m->name, false))
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "metric %zu has no name, or one longer than %d bytes or not UTF-8", i,
                              FLEET_NAME_MAX);
        if (i > 0 && strcmp(a->metrics[i - 1]->name, m->name) >= 0)
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "metrics are not sorted by name, or \"%s\" is repeated", m->name);
        if (m->count > INT64_MAX || !isfinite(m->sum) ||
            (m->count > 0 && (!m->has_min || !m->has_max || !isfinite(m->min) ||
                              !isfinite(m->max) || m->min > m->max)))
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "metric \"%s\": a count above 2^63-1, a sum that is not finite, or "
                              "values without a finite min <= max",
                              m->name);
    }
    return TP_OK;
}

enum tp_err fleet_partial_decode(const uint8_t *data, size_t len, const char *topic,
                                 struct fleet_partial **out, char *errstr, size_t errstr_size)
{
    struct framing_header h;
    *out = NULL;
    if (len > FLEET_RECORD_MAX)
        return tp_err_set(TP_DECODE, errstr, errstr_size, "a record of %zu bytes (at most %d)", len,
                          FLEET_RECORD_MAX);
    if (!data || framing_decode(data, len, &h, errstr, errstr_size) != TP_OK)
        return data ? TP_DECODE : tp_err_set(TP_DECODE, errstr, errstr_size, "an empty record");
    if (h.path_len != 1 || h.path[0] != 0)
        return tp_err_set(TP_DECODE, errstr, errstr_size,
                          "message path is not [0] (WindowAggregate)");
    fleet_record *a =
        twinpipe__aggregates__v1__window_aggregate__unpack(NULL, h.payload_len, h.payload);
    if (!a)
        return tp_err_set(TP_DECODE, errstr, errstr_size, "not a WindowAggregate");
    enum tp_err err = fleet_record_check(a, errstr, errstr_size);
    char *region = err == TP_OK ? fleet_region(a->region, topic, errstr, errstr_size) : NULL;
    if (err == TP_OK && !region)
        err = TP_VALIDATION;
    if (err != TP_OK) {
        twinpipe__aggregates__v1__window_aggregate__free_unpacked(a, NULL);
        return err;
    }
    struct fleet_partial *p = tp_calloc(1, sizeof(*p));
    struct buf cat;
    buf_init(&cat, SIZE_MAX / 2);
    for (size_t i = 0; i < a->n_attributes; i++) {
        if (i)
            buf_append(&cat, ",", 1);
        fleet_category_append(&cat, a->attributes[i]->name);
        buf_append(&cat, "=", 1);
        fleet_category_append(&cat, a->attributes[i]->value ? a->attributes[i]->value : "");
    }
    p->region = region;
    p->category = tp_strdup(cat.data ? cat.data : "");
    buf_release(&cat);
    p->window_start_ms = a->window_start_ms;
    p->window_ms = (int32_t)a->window_ms;
    p->journal_partition = a->journal_partition;
    p->version = (int64_t)a->version;
    p->readings = (int64_t)a->readings;
    p->n_metrics = a->n_metrics;
    p->metrics = tp_calloc(a->n_metrics ? a->n_metrics : 1, sizeof(*p->metrics));
    for (size_t i = 0; i < a->n_metrics; i++) {
        const Twinpipe__Aggregates__V1__WindowAggregate__Metric *m = a->metrics[i];
        p->metrics[i] = (struct fleet_metric){tp_strdup(m->name), (int64_t)m->count,
                                              m->count ? m->min : 0, m->count ? m->max : 0, m->sum};
    }
    twinpipe__aggregates__v1__window_aggregate__free_unpacked(a, NULL);
    *out = p;
    return TP_OK;
}

/* ---- the flush map: open addressing on the key's hash, entries in insertion order ---- */

struct fleet_map {
    struct fleet_partial **items; /* insertion order */
    size_t n, cap;
    size_t *slots; /* index + 1 into items; 0 = empty */
    size_t n_slots;
};

static uint64_t fleet_hash_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL; /* a separator: ("ab","c") != ("a","bc") */
}

static uint64_t fleet_hash(const struct fleet_partial *p)
{
    uint64_t h = fleet_hash_str(14695981039346656037ULL, p->region);
    h = fleet_hash_str(h, p->category);
    h = (h ^ (uint64_t)p->window_start_ms) * 1099511628211ULL;
    return (h ^ (uint64_t)(uint32_t)p->journal_partition) * 1099511628211ULL;
}

static bool fleet_same_key(const struct fleet_partial *a, const struct fleet_partial *b)
{
    return a->window_start_ms == b->window_start_ms &&
           a->journal_partition == b->journal_partition && !strcmp(a->region, b->region) &&
           !strcmp(a->category, b->category);
}

struct fleet_map *fleet_map_new(void)
{
    return tp_calloc(1, sizeof(struct fleet_map));
}

void fleet_map_free(struct fleet_map *m)
{
    if (!m)
        return;
    fleet_map_clear(m);
    free(m->items);
    free(m->slots);
    free(m);
}

/* The slot of p's key: its entry's, or the empty one where it would go. */
static size_t fleet_map_slot(const struct fleet_map *m, const struct fleet_partial *p)
{
    size_t mask = m->n_slots - 1;
    size_t s = (size_t)fleet_hash(p) & mask;
    while (m->slots[s] && !fleet_same_key(m->items[m->slots[s] - 1], p))
        s = (s + 1) & mask;
    return s;
}

static void fleet_map_grow(struct fleet_map *m)
{
    free(m->slots);
    m->n_slots = m->n_slots ? 2 * m->n_slots : 64;
    m->slots = tp_calloc(m->n_slots, sizeof(*m->slots));
    for (size_t i = 0; i < m->n; i++)
        m->slots[fleet_map_slot(m, m->items[i])] = i + 1;
}

bool fleet_map_put(struct fleet_map *m, struct fleet_partial *p)
{
    if (2 * (m->n + 1) > m->n_slots)
        fleet_map_grow(m);
    size_t s = fleet_map_slot(m, p);
    if (m->slots[s]) {
        struct fleet_partial **held = &m->items[m->slots[s] - 1];
        if ((*held)->version >= p->version) {
            fleet_partial_free(p);
            return false;
        }
        fleet_partial_free(*held);
        *held = p;
        return true;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->items = tp_realloc(m->items, m->cap * sizeof(*m->items));
    }
    m->items[m->n++] = p;
    m->slots[s] = m->n;
    return true;
}

size_t fleet_map_count(const struct fleet_map *m)
{
    return m->n;
}

const struct fleet_partial *fleet_map_get(const struct fleet_map *m, size_t i)
{
    return i < m->n ? m->items[i] : NULL;
}

void fleet_map_rows_json(const struct fleet_map *m, struct buf *out)
{
    buf_append_str(out, "[");
    for (size_t i = 0; i < m->n; i++) {
        const struct fleet_partial *p = m->items[i];
        buf_append_str(out, i ? ",{\"region\":" : "{\"region\":");
        json_str(out, p->region);
        buf_append_str(out, ",\"category\":");
        json_str(out, p->category);
        buf_printf(out,
                   ",\"window_start_ms\":%lld,\"window_ms\":%d,\"journal_partition\":%d,"
                   "\"version\":%lld,\"readings\":%lld,\"metrics\":[",
                   (long long)p->window_start_ms, (int)p->window_ms, (int)p->journal_partition,
                   (long long)p->version, (long long)p->readings);
        for (size_t k = 0; k < p->n_metrics; k++) {
            const struct fleet_metric *x = &p->metrics[k];
            buf_append_str(out, k ? ",{\"name\":" : "{\"name\":");
            json_str(out, x->name);
            buf_printf(out, ",\"count\":%lld,\"min\":", (long long)x->count);
            if (x->count > 0)
                json_double(out, x->min);
            else
                buf_append_str(out, "null");
            buf_append_str(out, ",\"max\":");
            if (x->count > 0)
                json_double(out, x->max);
            else
                buf_append_str(out, "null");
            buf_append_str(out, ",\"sum\":");
            json_double(out, x->sum);
            buf_append_str(out, "}");
        }
        buf_append_str(out, "]}");
    }
    buf_append_str(out, "]");
}

void fleet_map_clear(struct fleet_map *m)
{
    for (size_t i = 0; i < m->n; i++)
        fleet_partial_free(m->items[i]);
    m->n = 0;
    if (m->slots)
        memset(m->slots, 0, m->n_slots * sizeof(*m->slots));
}
