#include "series.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pg.h"
#include "devices.h"
#include "errors.h"

static const char *const series_intervals[] = {"1 minute", "5 minutes", "1 hour", "1 day"};

/* metric_minutes plus the twin's open minute (migrations/0007_open_minute.sql) */
static const char series_sql[] =
    "SELECT " DEVICES_TS_SQL("b") ", min(min), max(max), sum(sum) / sum(count), sum(count)"
                                  " FROM (SELECT date_bin($3::interval, minute, timestamptz "
                                  "'epoch') AS b, min, max, sum, count"
                                  "  FROM metric_minutes WHERE device_id = $1 AND metric = $2"
                                  "  AND minute >= $4::timestamptz AND minute < $5::timestamptz"
                                  " UNION ALL SELECT date_bin($3::interval, minute, timestamptz "
                                  "'epoch'), (s->>0)::float8, (s->>1)::float8, (s->>2)::float8,"
                                  " (s->>3)::bigint FROM twins, jsonb_extract_path(minute_stats,"
                                  " $2) AS s WHERE device_id = $1 AND s IS NOT NULL"
                                  "  AND minute >= $4::timestamptz AND minute < $5::timestamptz) m"
                                  " GROUP BY b ORDER BY b";

static const char series_twin_sql[] = "SELECT 1 FROM twins WHERE device_id = $1";

enum tp_err series_prepare(PGconn *db, char *errstr, size_t errstr_size)
{
    enum tp_err err = pg_check(db, PQprepare(db, "series_get", series_sql, 5, NULL),
                               PGRES_COMMAND_OK, NULL, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_check(db, PQprepare(db, "series_twin", series_twin_sql, 1, NULL), PGRES_COMMAND_OK,
                       NULL, errstr, errstr_size);
    return err;
}

void series_handle(struct http_request *req, void *arg)
{
    struct query_api *api = arg;
    const char *id;
    char errstr[512], from[PARAMS_TIME_TEXT], to[PARAMS_TIME_TEXT];
    struct params_args a;
    struct series_params p;
    PGconn *db;
    PGresult *res = NULL;
    if (!api_begin(api, req))
        return;
    id = api_device_id(req);
    if (!id)
        return;
    api_args(req, &a);
    enum tp_err err = params_series_parse(&a, &p, errstr, sizeof(errstr));
    if (err != TP_OK) {
        query_error_reply(req, err == TP_TOO_LARGE ? QERR_TOO_MANY_BUCKETS : QERR_INVALID_PARAMETER,
                          "%s", errstr);
        return;
    }
    params_time_format(p.from_us, from, sizeof(from));
    params_time_format(p.to_us, to, sizeof(to));
    if (!api_db_get(api, req, &db))
        return;
    const char *values[] = {id, p.metric, series_intervals[p.step], from, to};
    err = pg_check(db, PQexecPrepared(db, "series_get", 5, values, NULL, NULL, 0), PGRES_TUPLES_OK,
                   &res, errstr, sizeof(errstr));
    bool found = true;
    if (err == TP_OK && PQntuples(res) == 0) {
        PGresult *twin = NULL;
        err = pg_check(db, PQexecPrepared(db, "series_twin", 1, values, NULL, NULL, 0),
                       PGRES_TUPLES_OK, &twin, errstr, sizeof(errstr));
        found = err == TP_OK && PQntuples(twin) > 0;
        PQclear(twin);
    }
    pool_put(api->pool, db);
    if (err != TP_OK) {
        log_error("could not read series: %s", errstr);
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE, "the twin store did not answer");
        goto out;
    }
    if (!found) {
        query_error_reply(req, QERR_DEVICE_NOT_FOUND, "no twin for device \"%s\"", id);
        goto out;
    }
    struct buf b;
    char t[PARAMS_TIME_TEXT];
    buf_init(&b, 4 << 20); /* 10,000 buckets of ~120 bytes */
    buf_append_str(&b, "{\"device_id\":");
    json_str(&b, id);
    buf_append_str(&b, ",\"metric\":");
    json_str(&b, p.metric);
    buf_printf(&b, ",\"step\":\"%s\",\"from\":", params_step_name(p.step));
    params_time_rfc3339(p.from_us, t, sizeof(t));
    json_str(&b, t);
    buf_append_str(&b, ",\"to\":");
    params_time_rfc3339(p.to_us, t, sizeof(t));
    json_str(&b, t);
    buf_append_str(&b, ",\"buckets\":[");
    for (int r = 0; r < PQntuples(res); r++) {
        buf_append_str(&b, r ? ",{\"start\":" : "{\"start\":");
        json_str(&b, PQgetvalue(res, r, 0));
        buf_append_str(&b, ",\"min\":");
        api_json_float8(&b, res, r, 1);
        buf_append_str(&b, ",\"max\":");
        api_json_float8(&b, res, r, 2);
        buf_append_str(&b, ",\"avg\":");
        api_json_float8(&b, res, r, 3);
        buf_printf(&b, ",\"count\":%s}", PQgetvalue(res, r, 4));
    }
    buf_append_str(&b, "]}");
    http_reply_json(req, 200, &b);
    buf_release(&b);
out:
    PQclear(res);
}
