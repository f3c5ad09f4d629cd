#include "series.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "errors.h"
#include "twin/render.h"

static const char *const series_intervals[] = {"1 minute", "5 minutes", "1 hour", "1 day"};

/* Binary results: bucket start (ms since the epoch), min, max, sum, count, and a last row
 * with only the twin's record (none when there is no twin). */
static const char series_sql[] =
    "SELECT (extract(epoch FROM b) * 1000)::int8, min(min), max(max), sum(sum),"
    " sum(count)::int8, NULL::bytea"
    " FROM (SELECT date_bin($3::interval, minute, timestamptz 'epoch') AS b, min, max, sum, count"
    "  FROM metric_minutes WHERE device_id = $1 AND metric = $2"
    "  AND minute >= $4::timestamptz AND minute < $5::timestamptz) m GROUP BY b"
    " UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, state FROM twins WHERE device_id = $1"
    " ORDER BY 1";

enum tp_err series_prepare(PGconn *db, char *errstr, size_t errstr_size)
{
    return pg_check(db, PQprepare(db, "series_get", series_sql, 5, NULL), PGRES_COMMAND_OK, NULL,
                    errstr, errstr_size);
}

struct series_bucket {
    int64_t start_ms;
    double min, max, sum;
    int64_t count;
};

static uint64_t series_be(const PGresult *res, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static double series_float8(const PGresult *res, int row, int col)
{
    uint64_t u = series_be(res, row, col);
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static int64_t series_floor(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Adds the record's open minute of metric to buckets (n of cap, sorted), when it falls in
 * [from_us, to_us); false when the record does not decode. */
static bool series_open_minute(const uint8_t *state, size_t len, const struct series_params *p,
                               struct series_bucket *buckets, size_t *n)
{
    char errstr[256];
    struct twin_view_metric *m = tp_malloc(TWIN_VIEW_METRICS_MAX * sizeof(*m));
    struct twin_view v = {.metrics = m, .cap_metrics = TWIN_VIEW_METRICS_MAX};
    bool ok = twin_record_view(&v, state, len, errstr, sizeof(errstr)) == TP_OK;
    if (!ok)
        log_error("series: unreadable twin record: %s", errstr);
    if (!ok || v.minute_ms == TWIN_NO_MINUTE)
        goto out;
    int64_t us = v.minute_ms * 1000;
    if (us < p->from_us || us >= p->to_us)
        goto out;
    size_t plen = strlen(p->metric);
    for (size_t i = 0; i < v.n_metrics; i++) {
        const struct twin_view_metric *x = &v.metrics[i];
        if (x->mcount <= 0 || x->name.len != plen || memcmp(x->name.p, p->metric, plen) != 0)
            continue;
        int64_t step_ms = params_step_us(p->step) / 1000;
        int64_t start = series_floor(v.minute_ms, step_ms) * step_ms;
        size_t k = 0;
        while (k < *n && buckets[k].start_ms < start)
            k++;
        if (k < *n && buckets[k].start_ms == start) {
            struct series_bucket *b = &buckets[k];
            if (x->mmin < b->min)
                b->min = x->mmin;
            if (x->mmax > b->max)
                b->max = x->mmax;
            b->sum += x->msum;
            b->count += x->mcount;
        } else {
            memmove(&buckets[k + 1], &buckets[k], (*n - k) * sizeof(*buckets));
            buckets[k] = (struct series_bucket){start, x->mmin, x->mmax, x->msum, x->mcount};
            (*n)++;
        }
        break;
    }
out:
    free(m);
    return ok;
}

void series_handle(struct http_request *req, void *arg)
{
    struct query_api *api = arg;
    const char *id;
    char errstr[512], from[PARAMS_TIME_TEXT], to[PARAMS_TIME_TEXT];
    struct params_args a;
    struct series_params p;
    struct series_bucket *buckets = NULL;
    PGconn *db;
    PGresult *res = NULL;
    if (!query_api_begin(api, req))
        return;
    id = query_api_device_id(req);
    if (!id)
        return;
    query_api_args(req, &a);
    enum tp_err err = params_series_parse(&a, &p, errstr, sizeof(errstr));
    if (err != TP_OK) {
        query_error_reply(req, err == TP_TOO_LARGE ? QERR_TOO_MANY_BUCKETS : QERR_INVALID_PARAMETER,
                          "%s", errstr);
        return;
    }
    params_time_format(p.from_us, from, sizeof(from));
    params_time_format(p.to_us, to, sizeof(to));
    if (!query_api_db_get(api, req, &db))
        return;
    const char *values[] = {id, p.metric, series_intervals[p.step], from, to};
    err = pg_check(db, PQexecPrepared(db, "series_get", 5, values, NULL, NULL, 1), PGRES_TUPLES_OK,
                   &res, errstr, sizeof(errstr));
    pool_put(api->pool, db);
    if (err != TP_OK) {
        log_error("could not read series: %s", errstr);
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE, "the twin store did not answer");
        goto out;
    }
    int rows = PQntuples(res), twin_row = -1;
    size_t n = 0;
    buckets = tp_malloc(((size_t)rows + 1) * sizeof(*buckets));
    for (int r = 0; r < rows; r++) {
        if (!PQgetisnull(res, r, 5)) {
            twin_row = r;
            continue;
        }
        buckets[n++] = (struct series_bucket){
            (int64_t)series_be(res, r, 0), series_float8(res, r, 1), series_float8(res, r, 2),
            series_float8(res, r, 3), (int64_t)series_be(res, r, 4)};
    }
    if (twin_row < 0) {
        query_error_reply(req, QERR_DEVICE_NOT_FOUND, "no twin for device \"%s\"", id);
        goto out;
    }
    if (!series_open_minute((const uint8_t *)PQgetvalue(res, twin_row, 5),
                            (size_t)PQgetlength(res, twin_row, 5), &p, buckets, &n)) {
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE,
                          "the twin store holds a record this service cannot read");
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
    for (size_t i = 0; i < n; i++) {
        buf_append_str(&b, i ? ",{\"start\":" : "{\"start\":");
        twin_render_time(&b, buckets[i].start_ms);
        buf_append_str(&b, ",\"min\":");
        json_double(&b, buckets[i].min);
        buf_append_str(&b, ",\"max\":");
        json_double(&b, buckets[i].max);
        buf_append_str(&b, ",\"avg\":");
        json_double(&b, buckets[i].sum / (double)buckets[i].count);
        buf_printf(&b, ",\"count\":%lld}", (long long)buckets[i].count);
    }
    buf_append_str(&b, "]}");
    http_reply_json(req, 200, &b);
    buf_release(&b);
out:
    free(buckets);
    PQclear(res);
}
