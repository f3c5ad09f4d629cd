/*
 * fuzz_fleet - the global site's reader of mirrored WindowAggregate records
 * (projector/fleet_map.c): fleet_partial_decode (Confluent frame, protobuf-c
 * unpack, the record's checks, the region against the topic name), then the
 * flush map (fleet_map_put) and its rows (fleet_map_rows_json).
 *
 * Input: a selector byte choosing the topic the record came from (below),
 * then the record's bytes.
 *
 * Checked: a refusal is TP_DECODE or TP_VALIDATION with a message and no
 * partial; an accepted partial keeps what fleet_map.h promises: a region of
 * 1..128 bytes of UTF-8 that the topic's MirrorMaker prefix names (equal to
 * it, or ending in ".<region>"; a topic without a '.' checks nothing), a
 * category that reads back (unescaped) into 1..16 attributes of a non-empty
 * name, which escaped again (fleet_category_append) give the same text and
 * which tp-query's aggregates_category_valid accepts; window_ms >= 1,
 * window_start_ms in years 1..9999, journal_partition >= 0, version >= 1,
 * readings >= 0; at most 256 metrics, strictly sorted by non-empty names,
 * count >= 0, a finite sum, and a finite min <= max when count > 0 (0 and 0
 * otherwise). In a map, the same partial put again is refused, a newer
 * version replaces it and an older one does not (one entry throughout); the
 * rows are one JSON array (jansson, duplicate keys refused) of one row with
 * the partial's region, category, version and metrics.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "fuzz.h"
#include "projector/fleet_map.h"
#include "query/aggregates.h"

static const char *const topics[] = {
    "region-a.aggregates",
    "global.region-a.aggregates",
    "aggregates",
    "x.y.z",
    "region-b.region-a.aggregates",
    ".aggregates",
    "a..aggregates",
    "region-a.",
};
#define N_TOPICS (sizeof(topics) / sizeof(topics[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

/* Whether s is a string the decoder may keep: 1..FLEET_NAME_MAX bytes (0 when empty_ok) of
 * UTF-8. */
static bool fuzz_name_ok(const char *s, bool empty_ok)
{
    size_t n = s ? strlen(s) : 0;
    return s && n <= FLEET_NAME_MAX && (n > 0 || empty_ok) && json_utf8_valid(s, n);
}

/* The region rule of fleet_map.h, written again from its text. */
static void check_region(const char *region, const char *topic)
{
    if (!fuzz_name_ok(region, false))
        abort();
    const char *dot = strrchr(topic, '.');
    size_t plen = dot ? (size_t)(dot - topic) : 0, rlen = strlen(region);
    if (plen == 0)
        return;
    if (plen == rlen && !memcmp(topic, region, rlen))
        return;
    if (plen > rlen && topic[plen - rlen - 1] == '.' && !memcmp(dot - rlen, region, rlen))
        return;
    abort();
}

/* Reads the category back: unescapes each name and value and escapes them again with
 * fleet_category_append; must give the same text, 1..16 attributes, non-empty names. */
static void check_category(const char *cat)
{
    if (!aggregates_category_valid(cat))
        abort();
    struct buf again, part;
    buf_init(&again, SIZE_MAX / 2);
    buf_init(&part, SIZE_MAX / 2);
    size_t attrs = 0;
    bool in_value = false;
    for (const char *s = cat;; s++) {
        if (*s == '\\') {
            if (s[1] != '\\' && s[1] != ',' && s[1] != '=')
                abort();
            buf_append(&part, ++s, 1);
            continue;
        }
        if (*s == '=' && !in_value) {
            if (part.len == 0 || part.len > FLEET_NAME_MAX)
                abort();
            buf_append(&part, "", 1);
            fleet_category_append(&again, part.data);
            buf_append(&again, "=", 1);
            part.len = 0;
            in_value = true;
        } else if (*s == ',' || *s == '\0') {
            if (!in_value || part.len > FLEET_NAME_MAX)
                abort();
            buf_append(&part, "", 1);
            fleet_category_append(&again, part.data);
            part.len = 0;
            attrs++;
            in_value = false;
            if (!*s)
                break;
            buf_append(&again, ",", 1);
        } else {
            if (*s == '=')
                abort(); /* a second '=' unescaped */
            buf_append(&part, s, 1);
        }
    }
    buf_append(&again, "", 1);
    if (attrs < 1 || attrs > FLEET_ATTRIBUTES_MAX || strcmp(again.data, cat) != 0)
        abort();
    buf_release(&again);
    buf_release(&part);
}

static void check_partial(const struct fleet_partial *p, const char *topic)
{
    check_region(p->region, topic);
    check_category(p->category);
    if (p->window_ms < 1 || p->window_start_ms < -62135596800000LL ||
        p->window_start_ms > 253402300799999LL || p->journal_partition < 0 || p->version < 1 ||
        p->readings < 0 || p->n_metrics > FLEET_METRICS_MAX || (p->n_metrics && !p->metrics))
        abort();
    for (size_t i = 0; i < p->n_metrics; i++) {
        const struct fleet_metric *m = &p->metrics[i];
        if (!fuzz_name_ok(m->name, false) || (i && strcmp(p->metrics[i - 1].name, m->name) >= 0))
            abort();
        if (m->count < 0 || !isfinite(m->sum))
            abort();
        if (m->count > 0 && (!isfinite(m->min) || !isfinite(m->max) || m->min > m->max))
            abort();
        if (m->count == 0 && (m->min != 0 || m->max != 0))
            abort();
    }
}

/* A JSON string's text, "" when it is not one. */
static const char *fuzz_jstr(const json_t *j)
{
    const char *s = json_string_value(j);
    return s ? s : "";
}

/* The map's rows: one JSON array of one row, the partial's. */
static void check_rows(const struct fleet_map *m, const struct fleet_partial *p)
{
    struct buf b;
    buf_init(&b, SIZE_MAX / 2);
    fleet_map_rows_json(m, &b);
    if (!json_utf8_valid(b.data, b.len))
        abort();
    json_error_t je;
    json_t *doc = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &je);
    json_t *row = json_array_get(doc, 0);
    json_t *metrics = json_object_get(row, "metrics");
    if (!json_is_array(doc) || json_array_size(doc) != 1 || !json_is_object(row) ||
        json_object_size(row) != 8 ||
        strcmp(fuzz_jstr(json_object_get(row, "region")), p->region) != 0 ||
        strcmp(fuzz_jstr(json_object_get(row, "category")), p->category) != 0 ||
        json_integer_value(json_object_get(row, "version")) != p->version ||
        json_integer_value(json_object_get(row, "readings")) != p->readings ||
        json_array_size(metrics) != p->n_metrics)
        abort();
    for (size_t i = 0; i < p->n_metrics; i++) {
        json_t *x = json_array_get(metrics, i);
        const struct fleet_metric *mm = &p->metrics[i];
        if (strcmp(fuzz_jstr(json_object_get(x, "name")), mm->name) != 0 ||
            json_integer_value(json_object_get(x, "count")) != mm->count ||
            !json_is_number(json_object_get(x, "sum")) ||
            (mm->count > 0) != json_is_number(json_object_get(x, "min")) ||
            (mm->count > 0) != json_is_number(json_object_get(x, "max")))
            abort();
    }
    json_decref(doc);
    buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *topic = topics[data[0] % N_TOPICS];
    const uint8_t *rec = data + 1;
    size_t len = size - 1;
    char err[512] = "";
    struct fleet_partial *p = (struct fleet_partial *)1;
    enum tp_err e = fleet_partial_decode(rec, len, topic, &p, err, sizeof(err));
    if (e != TP_OK) {
        if ((e != TP_DECODE && e != TP_VALIDATION) || !err[0] || p)
            abort();
        return 0;
    }
    if (!p)
        abort();
    check_partial(p, topic);

    /* the map: the same record again, a newer and an older version of it */
    struct fleet_partial *same, *newer, *older;
    if (fleet_partial_decode(rec, len, topic, &same, err, sizeof(err)) != TP_OK ||
        fleet_partial_decode(rec, len, topic, &newer, err, sizeof(err)) != TP_OK ||
        fleet_partial_decode(rec, len, topic, &older, err, sizeof(err)) != TP_OK)
        abort(); /* the decoder is a function of its input */
    int64_t v = p->version;
    struct fleet_map *m = fleet_map_new();
    if (!fleet_map_put(m, p) || fleet_map_count(m) != 1 || fleet_map_get(m, 0) != p)
        abort();
    if (fleet_map_put(m, same) || fleet_map_count(m) != 1 || fleet_map_get(m, 0) != p)
        abort();
    if (v < INT64_MAX) {
        newer->version = v + 1;
        if (!fleet_map_put(m, newer) || fleet_map_count(m) != 1 || fleet_map_get(m, 0) != newer)
            abort();
    } else {
        fleet_partial_free(newer);
    }
    older->version = v - 1;
    const struct fleet_partial *held = fleet_map_get(m, 0);
    if (fleet_map_put(m, older) || fleet_map_count(m) != 1 || fleet_map_get(m, 0) != held ||
        held->version != (v < INT64_MAX ? v + 1 : v))
        abort();
    check_rows(m, held);
    fleet_map_clear(m);
    if (fleet_map_count(m) != 0)
        abort();
    fleet_map_free(m);
    return 0;
}
