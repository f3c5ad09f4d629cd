#include "devices.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "errors.h"

/* The twin document and its version for the ETag. */
static const char devices_get_sql[] =
    "SELECT " DEVICES_TWIN_JSON_SQL ", events FROM twins WHERE device_id = $1";

enum tp_err devices_prepare(PGconn *db, char *errstr, size_t errstr_size)
{
    return pg_check(db, PQprepare(db, "devices_get", devices_get_sql, 1, NULL), PGRES_COMMAND_OK,
                    NULL, errstr, errstr_size);
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
    struct query_api *api = arg;
    const char *id;
    char errstr[512];
    PGconn *db;
    PGresult *res = NULL;
    int64_t t0 = tp_mono_ms();
    if (!api_begin(api, req))
        return;
    id = api_device_id(req);
    if (!id)
        return;
    if (!api_db_get(api, req, &db))
        return;
    const char *params[] = {id};
    enum tp_err err = pg_check(db, PQexecPrepared(db, "devices_get", 1, params, NULL, NULL, 0),
                               PGRES_TUPLES_OK, &res, errstr, sizeof(errstr));
    pool_put(api->pool, db);
    if (err != TP_OK) {
        log_error("could not read twin: %s", errstr);
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE, "the twin store did not answer");
        return;
    }
    if (PQntuples(res) == 0) {
        query_error_reply(req, QERR_DEVICE_NOT_FOUND, "no twin for device \"%s\"", id);
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
    metrics_histogram_observe(&api->lookup_latency, (double)(tp_mono_ms() - t0));
}
