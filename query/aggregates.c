#include "aggregates.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pg.h"
#include "errors.h"
#include "twin/render.h"

/*
 * $1 regions (text[], empty: all), $2 category, $3 from, $4 until, $5 windows + 1. A
 * category matches itself and every category it is a prefix of whole attributes of: those
 * start with "$2," and so lie in [$2 || ',', $2 || '-') in byte order (',' + 1 = '-'; the
 * column is COLLATE "C"). Text results, one row per (window, metric) (name NULL for a window
 * without metrics), in window order; the regions as a JSON array.
 */
static const char aggregates_sql[] =
    "WITH p AS (SELECT region, window_start, window_ms, readings, metrics FROM fleet_aggregates"
    "  WHERE (cardinality($1::text[]) = 0 OR region = ANY($1::text[]))"
    "  AND (category = $2::text OR (category >= $2::text || ',' AND category < $2::text || '-'))"
    "  AND window_start >= $3::timestamptz AND window_start < $4::timestamptz),"
    " w AS (SELECT window_start, window_ms, sum(readings)::int8 AS readings,"
    "  array_to_json(array_agg(DISTINCT region ORDER BY region))::text AS regions"
    "  FROM p GROUP BY window_start, window_ms ORDER BY window_start, window_ms LIMIT $5::int8),"
    " m AS (SELECT p.window_start, p.window_ms, x.name, sum(x.count)::int8 AS count,"
    "  min(x.min) AS min, max(x.max) AS max, sum(x.sum) AS sum"
    "  FROM p JOIN w USING (window_start, window_ms) CROSS JOIN LATERAL"
    "  jsonb_to_recordset(p.metrics) AS x(name text, count int8, min float8, max float8,"
    "  sum float8) GROUP BY 1, 2, 3)"
    " SELECT (extract(epoch FROM w.window_start) * 1000)::int8, w.window_ms, w.readings,"
    " w.regions, m.name, m.count, m.min, m.max, m.sum"
    " FROM w LEFT JOIN m USING (window_start, window_ms)"
    " ORDER BY w.window_start, w.window_ms, m.name COLLATE \"C\"";

enum tp_err aggregates_prepare(PGconn *db, char *errstr, size_t errstr_size)
{
    return pg_check(db, PQprepare(db, "fleet_aggregates_get", aggregates_sql, 5, NULL),
                    PGRES_COMMAND_OK, NULL, errstr, errstr_size);
}

bool aggregates_category_valid(const char *s)
{
    bool in_value = false;
    size_t name_len = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s == '\\') {
            if (s[1] != '\\' && s[1] != ',' && s[1] != '=')
                return false;
            s++;
            name_len += !in_value;
        } else if (*s == '=') {
            if (in_value || name_len == 0)
                return false;
            in_value = true;
        } else if (*s == ',') {
            if (!in_value)
                return false;
            in_value = false;
            name_len = 0;
        } else {
            name_len += !in_value;
        }
    }
    return in_value;
}

static enum tp_err aggregates_bad(char *errstr, size_t errstr_size, const char *what)
{
    return tp_err_set(TP_VALIDATION, errstr, errstr_size, "%s", what);
}

enum tp_err aggregates_params_parse(const struct params_args *a, struct aggregates_params *p,
                                    char *errstr, size_t errstr_size)
{
    bool has_from = false, has_until = false;
    memset(p, 0, sizeof(*p));
    if (a->too_many)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "more than %d query parameters",
                          PARAMS_ARGS_MAX);
    for (size_t i = 0; i < a->n; i++) {
        const char *k = a->keys[i], *v = a->values[i];
        size_t kl = strlen(k), vl = strlen(v);
        if (kl > PARAMS_VALUE_MAX || vl > PARAMS_VALUE_MAX)
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "query parameters are limited to %d bytes", PARAMS_VALUE_MAX);
        if (!json_utf8_valid(k, kl) || !json_utf8_valid(v, vl))
            return aggregates_bad(errstr, errstr_size, "a query parameter is not valid UTF-8");
        for (size_t j = 0; j < i && strcmp(k, "region") != 0; j++)
            if (!strcmp(k, a->keys[j]))
                return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                                  "query parameter \"%.64s\" is given more than once", k);
        if (!strcmp(k, "category")) {
            if (!aggregates_category_valid(v))
                return aggregates_bad(errstr, errstr_size,
                                      "category must be name=value pairs joined by ',' (a whole "
                                      "category or a prefix of its attributes, e.g. "
                                      "model=tp-truck,firmware=2.1.7), with '\\', ',' and '=' "
                                      "of names and values escaped by '\\'");
            p->category = v;
        } else if (!strcmp(k, "region")) {
            if (vl == 0 || vl > AGGREGATES_REGION_MAX)
                return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                                  "region must be 1 to %d bytes", AGGREGATES_REGION_MAX);
            if (p->n_regions == AGGREGATES_REGIONS_MAX)
                return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                                  "more than %d region parameters", AGGREGATES_REGIONS_MAX);
            p->regions[p->n_regions++] = v;
        } else if (!strcmp(k, "from") || !strcmp(k, "until")) {
            bool from = k[0] == 'f';
            if (!params_time_parse(v, from ? &p->from_us : &p->until_us))
                return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                                  "%s must be an RFC 3339 date-time, e.g. 2026-12-03T10:00:00Z", k);
            *(from ? &has_from : &has_until) = true;
        } else {
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "unknown query parameter \"%.64s\" (allowed: category, region, "
                              "from, until)",
                              k);
        }
    }
    if (!p->category || !has_from || !has_until)
        return aggregates_bad(errstr, errstr_size,
                              "category, from and until are required (region is optional)");
    if (p->from_us >= p->until_us)
        return aggregates_bad(errstr, errstr_size, "from must be before until");
    if (p->until_us - p->from_us > AGGREGATES_SPAN_MAX_US)
        return aggregates_bad(errstr, errstr_size, "from..until spans more than 31 days");
    return TP_OK;
}

/* {"a","b"} for a text[] parameter, every element quoted. */
static void aggregates_text_array(struct buf *b, const char *const *v, size_t n)
{
    buf_append_str(b, "{");
    for (size_t i = 0; i < n; i++) {
        buf_append_str(b, i ? ",\"" : "\"");
        for (const char *c = v[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                buf_append(b, "\\", 1);
            buf_append(b, c, 1);
        }
        buf_append_str(b, "\"");
    }
    buf_append_str(b, "}");
}

/* Writes a float8 column's text (PostgreSQL's shortest exact form) as a JSON number. */
static void aggregates_number(struct buf *b, const PGresult *res, int r, int c)
{
    if (PQgetisnull(res, r, c))
        buf_append_str(b, "null");
    else
        json_double(b, strtod(PQgetvalue(res, r, c), NULL));
}

/* The answer from the statement's rows (window_ms_max: windows asked for, one more read). */
static void aggregates_render(struct buf *b, const PGresult *res, long windows_max)
{
    int rows = PQntuples(res);
    long windows = 0;
    bool truncated = false;
    const char *window_ms = rows > 0 ? PQgetvalue(res, 0, 1) : NULL;
    buf_append_str(b, "{\"window_ms\":");
    buf_append_str(b, window_ms ? window_ms : "null");
    buf_append_str(b, ",\"windows\":[");
    for (int r = 0; r < rows;) {
        const char *start = PQgetvalue(res, r, 0), *ms = PQgetvalue(res, r, 1);
        if (windows == windows_max) {
            truncated = true;
            break;
        }
        buf_append_str(b, windows++ ? ",{\"start\":" : "{\"start\":");
        twin_render_time(b, strtoll(start, NULL, 10));
        if (strcmp(ms, window_ms) != 0)
            buf_printf(b, ",\"window_ms\":%s", ms);
        buf_printf(b, ",\"readings\":%s,\"regions\":%s,\"metrics\":{", PQgetvalue(res, r, 2),
                   PQgetvalue(res, r, 3));
        bool first = true;
        for (; r < rows && !strcmp(PQgetvalue(res, r, 0), start) &&
               !strcmp(PQgetvalue(res, r, 1), ms);
             r++) {
            if (PQgetisnull(res, r, 4))
                continue; /* a window without metrics */
            if (!first)
                buf_append_str(b, ",");
            first = false;
            json_str(b, PQgetvalue(res, r, 4));
            long long count = strtoll(PQgetvalue(res, r, 5), NULL, 10);
            buf_printf(b, ":{\"count\":%lld,\"min\":", count);
            aggregates_number(b, res, r, 6);
            buf_append_str(b, ",\"max\":");
            aggregates_number(b, res, r, 7);
            buf_append_str(b, ",\"sum\":");
            aggregates_number(b, res, r, 8);
            buf_append_str(b, ",\"avg\":");
            if (count > 0)
                json_double(b, strtod(PQgetvalue(res, r, 8), NULL) / (double)count);
            else
                buf_append_str(b, "null");
            buf_append_str(b, "}");
        }
        buf_append_str(b, "}}");
    }
    buf_printf(b, "],\"truncated\":%s}", truncated ? "true" : "false");
}

void aggregates_handle(struct http_request *req, void *arg)
{
    struct query_api *api = arg;
    char errstr[512], from[PARAMS_TIME_TEXT], until[PARAMS_TIME_TEXT], limit[24];
    struct params_args a;
    struct aggregates_params p;
    PGconn *db;
    PGresult *res = NULL;
    struct buf regions;
    if (!query_api_begin_key(api, req))
        return;
    query_api_args(req, &a);
    if (aggregates_params_parse(&a, &p, errstr, sizeof(errstr)) != TP_OK) {
        query_error_reply(req, QERR_INVALID_PARAMETER, "%s", errstr);
        return;
    }
    if (!query_api_db_get(api, req, &db))
        return;
    buf_init(&regions, SIZE_MAX / 2);
    aggregates_text_array(&regions, p.regions, p.n_regions);
    params_time_format(p.from_us, from, sizeof(from));
    params_time_format(p.until_us, until, sizeof(until));
    long windows_max = api->settings.fleet_windows_max > 0 ? api->settings.fleet_windows_max
                                                           : AGGREGATES_WINDOWS_DEFAULT;
    snprintf(limit, sizeof(limit), "%ld", windows_max + 1);
    const char *values[] = {regions.data, p.category, from, until, limit};
    enum tp_err err =
        pg_check(db, PQexecPrepared(db, "fleet_aggregates_get", 5, values, NULL, NULL, 0),
                 PGRES_TUPLES_OK, &res, errstr, sizeof(errstr));
    pool_put(api->pool, db);
    buf_release(&regions);
    if (err != TP_OK) {
        log_error("could not read fleet aggregates: %s", errstr);
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE, "the aggregates store did not answer");
        PQclear(res);
        return;
    }
    struct buf b;
    buf_init(&b, 256 << 20); /* windows_max windows of at most 256 metrics */
    aggregates_render(&b, res, windows_max);
    http_reply_json(req, 200, &b);
    buf_release(&b);
    PQclear(res);
}
