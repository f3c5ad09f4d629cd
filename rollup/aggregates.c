#include "aggregates.h"

#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "journal/framing.h"

#define ROLLUP_AGG_METRIC_NAME_MAX 64 /* + "_count" fits ROLLUP_NAME_MAX */

/* The fixed columns; field names which record field fills them (rollup_agg_fill). */
static const struct rollup_column rollup_agg_fixed[] = {
    {"region", PARQUET_STRING, false, ROLLUP_SRC_STRING, "region", ""},
    {"category", PARQUET_STRING, false, ROLLUP_SRC_STRING, "category", ""},
    {"window_start", PARQUET_TIMESTAMP_MS, false, ROLLUP_SRC_DEVICE_TIME, "window_start_ms", ""},
    {"window_ms", PARQUET_INT64, false, ROLLUP_SRC_SEQUENCE, "window_ms", ""},
    {"journal_partition", PARQUET_INT64, false, ROLLUP_SRC_SEQUENCE, "journal_partition", ""},
    {"version", PARQUET_INT64, false, ROLLUP_SRC_SEQUENCE, "version", ""},
    {"readings", PARQUET_INT64, false, ROLLUP_SRC_SEQUENCE, "readings", ""},
};
#define ROLLUP_AGG_FIXED_N (sizeof(rollup_agg_fixed) / sizeof(rollup_agg_fixed[0]))

static const char *const rollup_agg_stats[] = {"count", "min", "max", "sum"};

void rollup_agg_schema_init(struct rollup_schema *s)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->cols, rollup_agg_fixed, sizeof(rollup_agg_fixed));
    s->n = ROLLUP_AGG_FIXED_N;
}

void rollup_agg_free(rollup_agg *a)
{
    if (a)
        twinpipe__aggregates__v1__window_aggregate__free_unpacked(a, NULL);
}

static bool rollup_agg_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > ROLLUP_AGG_METRIC_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

enum tp_err rollup_agg_decode(const uint8_t *data, size_t len, rollup_agg **out, char *errstr,
                              size_t errstr_size)
{
    struct framing_header h;
    *out = NULL;
    if (!data)
        return tp_err_set(TP_DECODE, errstr, errstr_size, "an empty record");
    enum tp_err err = framing_decode(data, len, &h, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (h.path_len != 1 || h.path[0] != 0)
        return tp_err_set(TP_DECODE, errstr, errstr_size,
                          "message path is not [0] (WindowAggregate)");
    rollup_agg *a =
        twinpipe__aggregates__v1__window_aggregate__unpack(NULL, h.payload_len, h.payload);
    if (!a)
        return tp_err_set(TP_DECODE, errstr, errstr_size, "not a WindowAggregate");
    const char *why = NULL;
    if (!a->has_window_start_ms || !a->has_window_ms || !a->has_version)
        why = "window_start_ms, window_ms and version are required";
    else if ((a->region && !json_utf8_valid(a->region, strlen(a->region))) ||
             (a->category && !json_utf8_valid(a->category, strlen(a->category))))
        why = "region or category is not UTF-8";
    for (size_t i = 0; !why && i < a->n_metrics; i++)
        if (!rollup_agg_name_ok(a->metrics[i]->name))
            why = "a metric name is not [A-Za-z0-9._-]{1,64}";
    if (why) {
        rollup_agg_free(a);
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "%s", why);
    }
    *out = a;
    return TP_OK;
}

static bool rollup_agg_has(const struct rollup_schema *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->cols[i].name, name))
            return true;
    return false;
}

enum tp_err rollup_agg_columns(struct rollup_schema *s, const rollup_agg *a, char *errstr,
                               size_t errstr_size)
{
    bool added = false;
    for (size_t i = 0; i < a->n_metrics; i++)
        for (size_t k = 0; k < 4; k++) {
            char name[ROLLUP_NAME_MAX];
            snprintf(name, sizeof(name), "%s_%s", a->metrics[i]->name, rollup_agg_stats[k]);
            if (rollup_agg_has(s, name))
                continue;
            if (s->n == ROLLUP_COLUMNS_MAX)
                return tp_err_set(TP_TOO_LARGE, errstr, errstr_size, "more than %d rollup columns",
                                  ROLLUP_COLUMNS_MAX);
            struct rollup_column *c = &s->cols[s->n++];
            snprintf(c->name, sizeof(c->name), "%s", name);
            c->type = k == 0 ? PARQUET_INT64 : PARQUET_DOUBLE;
            c->nullable = true;
            c->src = k == 0 ? ROLLUP_SRC_SEQUENCE : ROLLUP_SRC_DOUBLE;
            snprintf(c->field, sizeof(c->field), "%s", a->metrics[i]->name);
            snprintf(c->sub, sizeof(c->sub), "%s", rollup_agg_stats[k]);
            added = true;
        }
    if (added)
        s->version++;
    return TP_OK;
}

static enum tp_err rollup_agg_str(struct parquet_writer *w, size_t col, const char *v, char *errstr,
                                  size_t errstr_size)
{
    return parquet_writer_set_string(w, col, v ? v : "", v ? strlen(v) : 0, errstr, errstr_size);
}

enum tp_err rollup_agg_fill(const struct rollup_schema *s, struct parquet_writer *w,
                            const rollup_agg *a, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    for (size_t i = 0; i < s->n && err == TP_OK; i++) {
        const struct rollup_column *c = &s->cols[i];
        if (i < ROLLUP_AGG_FIXED_N) {
            const char *f = c->field;
            if (!strcmp(f, "region"))
                err = rollup_agg_str(w, i, a->region, errstr, errstr_size);
            else if (!strcmp(f, "category"))
                err = rollup_agg_str(w, i, a->category, errstr, errstr_size);
            else if (!strcmp(f, "window_start_ms"))
                parquet_writer_set_i64(w, i, a->window_start_ms);
            else if (!strcmp(f, "window_ms"))
                parquet_writer_set_i64(w, i, (int64_t)a->window_ms);
            else if (!strcmp(f, "journal_partition"))
                parquet_writer_set_i64(w, i, a->journal_partition);
            else if (!strcmp(f, "version"))
                parquet_writer_set_i64(w, i, (int64_t)a->version);
            else
                parquet_writer_set_i64(w, i, (int64_t)a->readings);
            continue;
        }
        const Twinpipe__Aggregates__V1__WindowAggregate__Metric *m = NULL;
        for (size_t k = 0; k < a->n_metrics && !m; k++)
            if (!strcmp(a->metrics[k]->name, c->field))
                m = a->metrics[k];
        if (!m)
            continue; /* unset nullable = null */
        if (!strcmp(c->sub, "count"))
            parquet_writer_set_i64(w, i, (int64_t)m->count);
        else if (!strcmp(c->sub, "sum"))
            parquet_writer_set_double(w, i, m->sum);
        else if (m->count > 0 && !strcmp(c->sub, "min") && m->has_min)
            parquet_writer_set_double(w, i, m->min);
        else if (m->count > 0 && !strcmp(c->sub, "max") && m->has_max)
            parquet_writer_set_double(w, i, m->max);
    }
    return err;
}

uint64_t rollup_agg_bytes(const rollup_agg *a)
{
    return 8 * 5 + (a->region ? strlen(a->region) : 0) + (a->category ? strlen(a->category) : 0) +
           32 * a->n_metrics;
}
