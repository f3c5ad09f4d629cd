#include "summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pg.h"
#include "errors.h"

#define SUMMARY_STR(x)  #x
#define SUMMARY_XSTR(x) SUMMARY_STR(x)

/* $1 attribute (NULL: one group), $2 metric (NULL: none), $3 online window in seconds */
static const char summary_sql[] =
    "SELECT g, count(*),"
    " count(*) FILTER (WHERE last_seen >= now() - make_interval(secs => $3::float8)),"
    " count(v), min(v), max(v), avg(v)"
    " FROM (SELECT attributes->>($1::text) AS g, last_seen,"
    "  (metrics->($2::text)->>'value')::float8 AS v FROM twins) t"
    " GROUP BY g ORDER BY g NULLS LAST LIMIT " SUMMARY_XSTR(SUMMARY_GROUPS_MAX) " + 1";

enum tp_err summary_prepare(PGconn *db, char *errstr, size_t errstr_size)
{
    return pg_check(db, PQprepare(db, "summary_get", summary_sql, 3, NULL), PGRES_COMMAND_OK, NULL,
                    errstr, errstr_size);
}

static void summary_name(struct buf *b, const char *name)
{
    if (*name)
        json_str(b, name);
    else
        buf_append_str(b, "null");
}

void summary_handle(struct http_request *req, void *arg)
{
    struct query_api *api = arg;
    char errstr[512], window[32];
    struct params_args a;
    struct summary_params p;
    PGconn *db;
    PGresult *res = NULL;
    if (!api_begin(api, req))
        return;
    api_args(req, &a);
    if (params_summary_parse(&a, &p, errstr, sizeof(errstr)) != TP_OK) {
        query_error_reply(req, QERR_INVALID_PARAMETER, "%s", errstr);
        return;
    }
    if (!api_db_get(api, req, &db))
        return;
    snprintf(window, sizeof(window), "%ld", api->settings.online_window_s);
    const char *values[] = {p.group_by[0] ? p.group_by : NULL, p.metric[0] ? p.metric : NULL,
                            window};
    enum tp_err err = pg_check(db, PQexecPrepared(db, "summary_get", 3, values, NULL, NULL, 0),
                               PGRES_TUPLES_OK, &res, errstr, sizeof(errstr));
    pool_put(api->pool, db);
    if (err != TP_OK) {
        log_error("could not summarize the fleet: %s", errstr);
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE, "the twin store did not answer");
        return;
    }
    int rows = PQntuples(res);
    struct buf b;
    buf_init(&b, 16 << 20);
    buf_append_str(&b, "{\"group_by\":");
    summary_name(&b, p.group_by);
    buf_append_str(&b, ",\"metric\":");
    summary_name(&b, p.metric);
    buf_printf(&b, ",\"online_window_s\":%ld,\"groups\":[", api->settings.online_window_s);
    for (int r = 0; r < rows && r < SUMMARY_GROUPS_MAX; r++) {
        buf_append_str(&b, r ? ",{\"key\":" : "{\"key\":");
        if (PQgetisnull(res, r, 0))
            buf_append_str(&b, "null");
        else
            json_str(&b, PQgetvalue(res, r, 0));
        buf_printf(&b, ",\"devices\":%s,\"online\":%s", PQgetvalue(res, r, 1),
                   PQgetvalue(res, r, 2));
        if (p.metric[0]) {
            buf_printf(&b, ",\"metric\":{\"devices\":%s,\"min\":", PQgetvalue(res, r, 3));
            api_json_float8(&b, res, r, 4);
            buf_append_str(&b, ",\"max\":");
            api_json_float8(&b, res, r, 5);
            buf_append_str(&b, ",\"avg\":");
            api_json_float8(&b, res, r, 6);
            buf_append_str(&b, "}");
        }
        buf_append_str(&b, "}");
    }
    buf_printf(&b, "],\"truncated\":%s}", rows > SUMMARY_GROUPS_MAX ? "true" : "false");
    http_reply_json(req, 200, &b);
    buf_release(&b);
    PQclear(res);
}
