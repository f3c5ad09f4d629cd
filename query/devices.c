#include "devices.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/pool.h"

#define DEVICES_POOL_WAIT_MS 2000
#define DEVICES_ID_MAX       128

#define DEVICES_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The twin document (built by PostgreSQL) and its version for the ETag. */
// clang-format off
static const char devices_get_sql[] =
    "SELECT json_build_object("
    "  'device_id', device_id,"
    "  'first_seen', " DEVICES_TS("first_seen") ","
    "  'last_seen', " DEVICES_TS("last_seen") ","
    "  'last_sequence', last_sequence,"
    "  'events', events,"
    "  'metrics', metrics,"
    "  'location', location,"
    "  'attributes', attributes,"
    "  'updated_at', " DEVICES_TS("updated_at") ")::text,"
    " events"
    " FROM twins WHERE device_id = $1";
// clang-format on

enum tp_err devices_prepare(PGconn *db, char *errstr, size_t errstr_size)
{
    return pg_check(db, PQprepare(db, "devices_get", devices_get_sql, 1, NULL), PGRES_COMMAND_OK,
                    NULL, errstr, errstr_size);
}

static bool devices_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > DEVICES_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ':'))
            return false;
    }
    return true;
}

/* Whether an If-None-Match header lists etag (or is "*"). */
static bool devices_etag_matches(const char *header, const char *etag)
{
    if (!header)
        return false;
    if (!strcmp(header, "*"))
        return true;
    size_t l = strlen(etag);
    for (const char *p = strstr(header, etag); p; p = strstr(p + 1, etag))
        if ((p == header || p[-1] == ' ' || p[-1] == ',' || (p >= header + 2 && p[-2] == 'W')) &&
            (p[l] == '\0' || p[l] == ',' || p[l] == ' '))
            return true;
    return false;
}

void devices_handle_get(struct http_request *req, void *arg)
{
    struct devices_ctx *ctx = arg;
    const char *id = http_request_path_tail(req);
    char errstr[512];
    PGconn *db;
    PGresult *res = NULL;
    int64_t t0 = tp_mono_ms();
    if (!devices_id_ok(id)) {
        http_reply_error(req, 400, "invalid_device_id",
                         "device ids are 1..128 characters of A-Z a-z 0-9 . _ : -");
        return;
    }
    if (pool_get(ctx->pool, DEVICES_POOL_WAIT_MS, &db, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        http_reply_error(req, 503, "database_unavailable", "the twin store is not reachable");
        return;
    }
    const char *params[] = {id};
    enum tp_err err = pg_check(db, PQexecPrepared(db, "devices_get", 1, params, NULL, NULL, 0),
                               PGRES_TUPLES_OK, &res, errstr, sizeof(errstr));
    pool_put(ctx->pool, db);
    if (err != TP_OK) {
        log_error("could not read twin: %s", errstr);
        http_reply_error(req, 503, "database_unavailable", "the twin store did not answer");
        return;
    }
    if (PQntuples(res) == 0) {
        http_reply_error(req, 404, "device_not_found", "no twin for device \"%s\"", id);
    } else {
        /* the twin changes only when a reading is applied: its count is its version */
        char etag[40];
        snprintf(etag, sizeof(etag), "\"v%s\"", PQgetvalue(res, 0, 1));
        http_reply_header(req, "ETag", etag);
        http_reply_header(req, "Cache-Control", "no-cache");
        if (devices_etag_matches(http_request_header(req, "If-None-Match"), etag))
            http_reply(req, 304, "application/json", "", 0);
        else
            http_reply(req, 200, "application/json", PQgetvalue(res, 0, 0),
                       (size_t)PQgetlength(res, 0, 0));
    }
    PQclear(res);
    metrics_histogram_observe(&ctx->latency, (double)(tp_mono_ms() - t0));
}

void devices_handle_ready(struct http_request *req, void *arg)
{
    struct devices_ctx *ctx = arg;
    char errstr[512];
    PGconn *db;
    if (pool_get(ctx->pool, 1000, &db, errstr, sizeof(errstr)) == TP_OK) {
        enum tp_err err =
            pg_check(db, PQexec(db, "SELECT 1"), PGRES_TUPLES_OK, NULL, errstr, sizeof(errstr));
        pool_put(ctx->pool, db);
        if (err == TP_OK) {
            static const char body[] = "{\"status\":\"ready\"}";
            http_reply(req, 200, "application/json", body, sizeof(body) - 1);
            return;
        }
    }
    http_reply_error(req, 503, "not_ready", "the twin store is not reachable: %s", errstr);
}

void devices_handle_metrics(struct http_request *req, void *arg)
{
    struct devices_ctx *ctx = arg;
    struct buf b;
    size_t open, idle;
    buf_init(&b, 1 << 20);
    if (ctx->srv)
        http_server_metrics(ctx->srv, "tp_query", &b);
    metrics_histogram_write(&b, "tp_query_device_lookup_ms", "GET /v1/devices/{id} latency",
                            &ctx->latency);
    pool_stats(ctx->pool, &open, &idle);
    metrics_sample(&b, "tp_query_pool_connections", "gauge", "database connections open", NULL,
                   (double)open);
    metrics_sample(&b, "tp_query_pool_in_use", "gauge", "database connections in use", NULL,
                   (double)(open - idle));
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_release(&b);
}
