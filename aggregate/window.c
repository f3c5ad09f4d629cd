#include "window.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "twin/names.h"

#define AGGREGATE_FIELDS_MAX 128 /* Reading fields whose interned names are cached */

static const char *const aggregate_attr_names[AGGREGATE_ATTRS_MAX] = {"model", "firmware",
                                                                      "region"};

enum tp_err aggregate_spec_parse(const char *text, struct aggregate_spec *out, char *errstr,
                                 size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    const char *p = text ? text : "";
    for (;;) {
        while (*p == ' ')
            p++;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ')
            end++;
        size_t len = (size_t)(end - p);
        int found = -1;
        for (int i = 0; i < AGGREGATE_ATTRS_MAX; i++)
            if (len == strlen(aggregate_attr_names[i]) && !memcmp(p, aggregate_attr_names[i], len))
                found = i;
        if (found < 0)
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "aggregate.category \"%s\": \"%.*s\" is not an attribute of the "
                              "twin (model, firmware, region)",
                              text ? text : "", (int)len, p);
        for (size_t i = 0; i < out->n; i++)
            if ((int)out->attrs[i] == found)
                return tp_err_set(TP_CONFIG, errstr, errstr_size,
                                  "aggregate.category \"%s\" names \"%s\" twice", text,
                                  aggregate_attr_names[found]);
        out->attrs[out->n++] = (enum aggregate_attr)found;
        size_t used = strlen(out->names);
        snprintf(out->names + used, sizeof(out->names) - used, "%s%s", used ? "," : "",
                 aggregate_attr_names[found]);
        while (*end == ' ')
            end++;
        if (*end == '\0')
            return TP_OK;
        if (*end != ',')
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "aggregate.category \"%s\": names are separated by ','", text);
        p = end + 1;
    }
}

char *aggregate_category_key(const char *const *values, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += 2 * (values[i] ? strlen(values[i]) : 0) + 1;
    char *key = tp_malloc(len);
    char *o = key;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *o++ = '|';
        for (const char *s = values[i] ? values[i] : ""; *s; s++) {
            if (*s == '|' || *s == '\\')
                *o++ = '\\';
            *o++ = *s;
        }
    }
    *o = '\0';
    return key;
}

bool aggregate_category_split(const char *key, size_t n, char **out)
{
    size_t k = 0;
    const char *s = key;
    char *cur = tp_malloc(strlen(key) + 1);
    size_t len = 0;
    bool ok = true;
    for (;; s++) {
        if (*s == '\\' && (s[1] == '\\' || s[1] == '|')) {
            cur[len++] = *++s;
            continue;
        }
        if (*s == '\\') {
            ok = false; /* a lone escape: not a key */
            break;
        }
        if (*s == '|' || *s == '\0') {
            cur[len] = '\0';
            if (k == n) {
                ok = false;
                break;
            }
            out[k++] = tp_strdup(cur);
            len = 0;
            if (*s == '\0')
                break;
            continue;
        }
        cur[len++] = *s;
    }
    free(cur);
    if (!ok || k != n) {
        for (size_t i = 0; i < k; i++)
            free(out[i]);
        return false;
    }
    return true;
}

int64_t aggregate_window_start(int64_t ts_ms, int64_t window_ms)
{
    int64_t q = ts_ms / window_ms;
    if (ts_ms % window_ms != 0 && ts_ms < 0)
        q--;
    return q * window_ms;
}

static uint64_t aggregate_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

struct aggregate_map *aggregate_map_new(const struct aggregate_spec *spec, int64_t window_ms)
{
    struct aggregate_map *m = tp_calloc(1, sizeof(*m));
    m->spec = *spec;
    m->window_ms = window_ms > 0 ? window_ms : 1;
    m->n_slots = 64;
    m->slots = tp_calloc(m->n_slots, sizeof(*m->slots));
    m->n_cat_slots = 64;
    m->cat_slots = tp_calloc(m->n_cat_slots, sizeof(*m->cat_slots));
    return m;
}

void aggregate_map_free(struct aggregate_map *m)
{
    if (!m)
        return;
    aggregate_map_clear(m);
    for (size_t i = 0; i < m->n_categories; i++)
        free(m->categories[i].key);
    free(m->categories);
    free(m->cat_slots);
    free(m->entries);
    free(m->slots);
    free(m);
}

static uint64_t aggregate_cat_hash(const char *const *values, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++)
        h = aggregate_mix(h ^ (uint64_t)(uintptr_t)values[i]);
    return h;
}

static void aggregate_cat_rehash(struct aggregate_map *m)
{
    m->n_cat_slots *= 2;
    free(m->cat_slots);
    m->cat_slots = tp_calloc(m->n_cat_slots, sizeof(*m->cat_slots));
    for (size_t i = 0; i < m->n_categories; i++) {
        size_t s = aggregate_cat_hash(m->categories[i].values, m->spec.n) & (m->n_cat_slots - 1);
        while (m->cat_slots[s])
            s = (s + 1) & (m->n_cat_slots - 1);
        m->cat_slots[s] = (uint32_t)i + 1;
    }
}

/* The category of the twin's attributes now (interned pointers compared, not strings). */
static uint32_t aggregate_category(struct aggregate_map *m, const struct twin *t)
{
    const char *values[AGGREGATE_ATTRS_MAX] = {NULL, NULL, NULL};
    for (size_t i = 0; i < m->spec.n; i++)
        values[i] = m->spec.attrs[i] == AGGREGATE_ATTR_MODEL      ? t->model
                    : m->spec.attrs[i] == AGGREGATE_ATTR_FIRMWARE ? t->firmware
                                                                  : t->region;
    size_t s = aggregate_cat_hash(values, m->spec.n) & (m->n_cat_slots - 1);
    for (; m->cat_slots[s]; s = (s + 1) & (m->n_cat_slots - 1)) {
        const struct aggregate_category *c = &m->categories[m->cat_slots[s] - 1];
        if (!memcmp(c->values, values, sizeof(values)))
            return m->cat_slots[s] - 1;
    }
    if (m->n_categories == m->cap_categories) {
        m->cap_categories = m->cap_categories ? 2 * m->cap_categories : 16;
        m->categories = tp_realloc(m->categories, m->cap_categories * sizeof(*m->categories));
    }
    uint32_t id = (uint32_t)m->n_categories++;
    struct aggregate_category *c = &m->categories[id];
    memcpy(c->values, values, sizeof(values));
    c->key = aggregate_category_key(values, m->spec.n);
    m->cat_slots[s] = id + 1;
    if (2 * m->n_categories > m->n_cat_slots)
        aggregate_cat_rehash(m);
    return id;
}

static uint64_t aggregate_entry_hash(uint32_t category, int32_t partition, int64_t window)
{
    return aggregate_mix(aggregate_mix((uint64_t)window) ^
                         (((uint64_t)category << 32) | (uint32_t)partition));
}

static void aggregate_rehash(struct aggregate_map *m)
{
    m->n_slots *= 2;
    free(m->slots);
    m->slots = tp_calloc(m->n_slots, sizeof(*m->slots));
    for (size_t i = 0; i < m->n; i++) {
        const struct aggregate_entry *e = &m->entries[i];
        size_t s =
            aggregate_entry_hash(e->category, e->partition, e->window_start_ms) & (m->n_slots - 1);
        while (m->slots[s])
            s = (s + 1) & (m->n_slots - 1);
        m->slots[s] = (uint32_t)i + 1;
    }
}

static struct aggregate_entry *aggregate_entry(struct aggregate_map *m, uint32_t category,
                                               int32_t partition, int64_t window)
{
    size_t s = aggregate_entry_hash(category, partition, window) & (m->n_slots - 1);
    for (; m->slots[s]; s = (s + 1) & (m->n_slots - 1)) {
        struct aggregate_entry *e = &m->entries[m->slots[s] - 1];
        if (e->category == category && e->partition == partition && e->window_start_ms == window)
            return e;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->entries = tp_realloc(m->entries, m->cap * sizeof(*m->entries));
    }
    struct aggregate_entry *e = &m->entries[m->n];
    memset(e, 0, sizeof(*e));
    e->category = category;
    e->partition = partition;
    e->window_start_ms = window;
    m->slots[s] = (uint32_t)++m->n;
    if (2 * m->n > m->n_slots) {
        aggregate_rehash(m);
        e = &m->entries[m->n - 1];
    }
    return e;
}

/* A metric name fit for the text form of metrics (rows.h): bounded, no control character. */
static bool aggregate_name_ok(const char *name)
{
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++, len++)
        if (*p < 0x20 || len >= FOLD_METRIC_NAME_MAX)
            return false;
    return len > 0;
}

/* Adds v to the entry's metric `interned`. *hint: where the search starts (the slot after
 * the previous metric of the reading: readings of a partial bring their metrics in the same
 * order, so the first slot tried is usually the one). */
static void aggregate_value(struct aggregate_entry *e, const char *interned, double v, size_t *hint)
{
    if (!isfinite(v))
        return;
    for (size_t k = 0; k < e->n_metrics; k++) {
        size_t i = (*hint + k) % e->n_metrics;
        struct aggregate_metric *am = &e->metrics[i];
        if (am->name == interned) {
            *hint = i + 1;
            am->count++;
            if (v < am->min)
                am->min = v;
            if (v > am->max)
                am->max = v;
            am->sum += v;
            return;
        }
    }
    if (e->n_metrics >= AGGREGATE_METRICS_MAX || !aggregate_name_ok(interned))
        return;
    if (e->n_metrics == e->cap_metrics) {
        e->cap_metrics = e->cap_metrics ? 2 * e->cap_metrics : 8;
        e->metrics = tp_realloc(e->metrics, e->cap_metrics * sizeof(*e->metrics));
    }
    e->metrics[e->n_metrics++] = (struct aggregate_metric){interned, 1, v, v, v};
    *hint = e->n_metrics;
}

/* Every present optional double of the Reading by field name (as twin/fold.c walks it). */
static void aggregate_doubles(struct aggregate_entry *e, const ProtobufCMessage *msg, size_t *hint)
{
    static const char *field_names[AGGREGATE_FIELDS_MAX];
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    bool cache =
        d == &twinpipe__telemetry__v1__reading__descriptor && d->n_fields <= AGGREGATE_FIELDS_MAX;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_DOUBLE || f->label != PROTOBUF_C_LABEL_OPTIONAL)
            continue;
        if (!*(const protobuf_c_boolean *)((const char *)msg + f->quantifier_offset))
            continue;
        const char *name = cache ? field_names[i] : NULL;
        if (!name) {
            name = names_intern(f->name);
            if (cache)
                field_names[i] = name;
        }
        aggregate_value(e, name, *(const double *)((const char *)msg + f->offset), hint);
    }
}

void aggregate_map_add(struct aggregate_map *m, const struct twin *t, const journal_reading *r,
                       int32_t partition)
{
    uint32_t category = aggregate_category(m, t);
    struct aggregate_entry *e = aggregate_entry(
        m, category, partition, aggregate_window_start(r->timestamp_ms, m->window_ms));
    e->readings++;
    size_t hint = 0;
    aggregate_doubles(e, &r->base, &hint);
    for (size_t i = 0; i < r->n_metrics; i++) {
        const char *key = r->metrics[i]->key;
        if (key && *key && json_utf8_valid(key, strlen(key)))
            aggregate_value(e, names_intern(key),
                            r->metrics[i]->has_value ? r->metrics[i]->value : 0.0, &hint);
    }
}

size_t aggregate_map_count(const struct aggregate_map *m)
{
    return m->n;
}

const char *aggregate_map_key(const struct aggregate_map *m, const struct aggregate_entry *e)
{
    return m->categories[e->category].key;
}

void aggregate_map_clear(struct aggregate_map *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->entries[i].metrics);
    m->n = 0;
    memset(m->slots, 0, m->n_slots * sizeof(*m->slots));
}
