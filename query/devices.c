#include "devices.h"

#include <string.h>

#include "common/log.h"
#include "common/pg.h"
#include "pool.h"

#define DEVICES_POOL_WAIT_MS 2000
#define DEVICES_ID_MAX       128

#define DEVICES_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static const char devices_get_sql[] =
    "SELECT json_build_object('device_id', device_id,"
    " 'first_seen', " DEVICES_TS(
        "first_seen") ","
                      " 'last_seen', " DEVICES_TS(
                          "last_seen") ","
                                       " 'last_sequence', last_sequence, 'events', events, "
                                       "'metrics', metrics,"
                                       " 'location', location, 'attributes', attributes,"
                                       " 'updated_at', " DEVICES_TS(
                                           "updated_at") ")::text"
                                                         " FROM twins WHERE device_id = $1";

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

void devices_handle_get(struct http_request *req, void *arg)
{
    struct pool *pool = arg;
    const char *id = http_request_path_tail(req);
    char errstr[512];
    PGconn *db;
    PGresult *res = NULL;
    if (!devices_id_ok(id)) {
        http_reply_error(req, 400, "invalid_device_id",
                         "device ids are 1..128 characters of A-Z a-z 0-9 . _ : -");
        return;
    }
    if (pool_get(pool, DEVICES_POOL_WAIT_MS, &db, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        http_reply_error(req, 503, "database_unavailable", "the twin store is not reachable");
        return;
    }
    const char *params[] = {id};
    enum tp_err err = pg_check(db, PQexecPrepared(db, "devices_get", 1, params, NULL, NULL, 0),
                               PGRES_TUPLES_OK, &res, errstr, sizeof(errstr));
    pool_put(pool, db);
    if (err != TP_OK) {
        log_error("could not read twin: %s", errstr);
        http_reply_error(req, 503, "database_unavailable", "the twin store did not answer");
        return;
    }
    if (PQntuples(res) == 0)
        http_reply_error(req, 404, "device_not_found", "no twin for device \"%s\"", id);
    else
        http_reply(req, 200, "application/json", PQgetvalue(res, 0, 0),
                   (size_t)PQgetlength(res, 0, 0));
    PQclear(res);
}
