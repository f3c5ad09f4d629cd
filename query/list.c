#include "list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pg.h"
#include "devices.h"
#include "errors.h"

const char *const list_indexed_metrics[] = {"speed_kmh", "fuel_level_pct", "battery_voltage_v",
                                            "engine_temp_c"};
const size_t list_n_indexed_metrics =
    sizeof(list_indexed_metrics) / sizeof(list_indexed_metrics[0]);

static const char *const list_op_sql[] = {" < ", " <= ", " > ", " >= "};

/* $n for a value the caller keeps alive. */
static int list_param(struct list_sql *q, const char *value)
{
    if (q->n >= LIST_SQL_PARAMS)
        abort(); /* list_params bounds the filters: cannot happen */
    q->values[q->n] = value;
    return ++q->n;
}

/* $n for a short value (a number or a time) copied into q. */
static int list_param_copy(struct list_sql *q, const char *value)
{
    snprintf(q->text[q->n], sizeof(q->text[q->n]), "%s", value);
    return list_param(q, q->text[q->n]);
}

static void list_where(struct list_sql *q, bool *first)
{
    buf_append_str(&q->sql, *first ? " WHERE " : " AND ");
    *first = false;
}

void list_sql_build(const struct list_params *p, const struct cursor *after, long online_window_s,
                    struct list_sql *q)
{
    char t[PARAMS_TIME_TEXT];
    bool first = true;
    memset(q, 0, sizeof(*q));
    buf_init(&q->sql, 1 << 16);
    buf_append_str(&q->sql, "SELECT " DEVICES_TWIN_JSON_SQL
                            ", (extract(epoch FROM last_seen) * 1000000)::int8, device_id"
                            " FROM twins");
    for (int i = 0; i < PARAMS_N_ATTRS; i++) {
        if (!p->attrs[i])
            continue;
        list_where(q, &first);
        /* the attribute name comes from params_attr_names, never from the request */
        buf_printf(&q->sql, "attributes->>'%s' = $%d", params_attr_names[i],
                   list_param(q, p->attrs[i]));
    }
    if (p->has_after) {
        params_time_format(p->after_us, t, sizeof(t));
        list_where(q, &first);
        buf_printf(&q->sql, "last_seen >= $%d::timestamptz", list_param_copy(q, t));
    }
    if (p->has_before) {
        params_time_format(p->before_us, t, sizeof(t));
        list_where(q, &first);
        buf_printf(&q->sql, "last_seen < $%d::timestamptz", list_param_copy(q, t));
    }
    if (p->status != STATUS_ANY) {
        snprintf(t, sizeof(t), "%ld", online_window_s);
        list_where(q, &first);
        buf_printf(&q->sql, "last_seen %s now() - make_interval(secs => $%d::float8)",
                   p->status == STATUS_ONLINE ? ">=" : "<", list_param_copy(q, t));
    }
    for (size_t i = 0; i < p->n_metrics; i++) {
        const struct params_metric_filter *f = &p->metrics[i];
        size_t k = 0;
        while (k < list_n_indexed_metrics && strcmp(list_indexed_metrics[k], f->name) != 0)
            k++;
        list_where(q, &first);
        if (k < list_n_indexed_metrics) /* the indexed expression, spelled as in the index */
            buf_printf(&q->sql, "(metrics->'%s'->>'value')::float8", list_indexed_metrics[k]);
        else
            buf_printf(&q->sql, "(metrics->($%d::text)->>'value')::float8", list_param(q, f->name));
        buf_printf(&q->sql, "%s$%d::float8", list_op_sql[f->op], list_param(q, f->text));
    }
    bool desc = p->sort == SORT_DEVICE_ID_DESC || p->sort == SORT_LAST_SEEN_DESC;
    bool by_time = p->sort == SORT_LAST_SEEN || p->sort == SORT_LAST_SEEN_DESC;
    if (after) {
        list_where(q, &first);
        if (by_time) {
            params_time_format(after->last_seen_us, t, sizeof(t));
            int a = list_param_copy(q, t);
            buf_printf(&q->sql, "(last_seen, device_id) %s ($%d::timestamptz, $%d)",
                       desc ? "<" : ">", a, list_param(q, after->device_id));
        } else {
            buf_printf(&q->sql, "device_id %s $%d", desc ? "<" : ">",
                       list_param(q, after->device_id));
        }
    }
    if (by_time)
        buf_append_str(&q->sql, desc ? " ORDER BY last_seen DESC, device_id DESC"
                                     : " ORDER BY last_seen, device_id");
    else
        buf_append_str(&q->sql, desc ? " ORDER BY device_id DESC" : " ORDER BY device_id");
    snprintf(t, sizeof(t), "%ld", p->limit + 1);
    buf_printf(&q->sql, " LIMIT $%d", list_param_copy(q, t));
}

void list_sql_release(struct list_sql *q)
{
    buf_release(&q->sql);
}

void list_handle(struct http_request *req, void *arg)
{
    struct query_api *api = arg;
    char errstr[512];
    struct params_args a;
    struct list_params p;
    struct cursor after;
    struct buf fp, body;
    struct list_sql q;
    PGconn *db;
    PGresult *res = NULL;
    if (!api_begin(api, req))
        return;
    api_args(req, &a);
    if (params_list_parse(&a, &p, errstr, sizeof(errstr)) != TP_OK) {
        query_error_reply(req, QERR_INVALID_PARAMETER, "%s", errstr);
        return;
    }
    buf_init(&fp, 1 << 20);
    buf_init(&body, LIST_BODY_MAX + (1 << 20));
    memset(&q, 0, sizeof(q));
    params_list_fingerprint(&p, &fp);
    if (p.cursor && cursor_decode(api->settings.cursor_secret, p.cursor, fp.data, fp.len, &after,
                                  errstr, sizeof(errstr)) != TP_OK) {
        query_error_reply(req, QERR_INVALID_CURSOR, "%s", errstr);
        goto out;
    }
    list_sql_build(&p, p.cursor ? &after : NULL, api->settings.online_window_s, &q);
    if (!api_db_get(api, req, &db))
        goto out;
    enum tp_err err = pg_check(db, PQexecParams(db, q.sql.data, q.n, NULL, q.values, NULL, NULL, 0),
                               PGRES_TUPLES_OK, &res, errstr, sizeof(errstr));
    pool_put(api->pool, db);
    if (err != TP_OK) {
        log_error("could not list twins: %s", errstr);
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE, "the twin store did not answer: %s",
                          err == TP_DB_TRANSIENT ? "timed out or unreachable" : "query failed");
        goto out;
    }
    int rows = PQntuples(res), shown = 0;
    bool more = rows > p.limit;
    buf_append_str(&body, "{\"devices\":[");
    for (; shown < rows && shown < p.limit; shown++) {
        size_t len = (size_t)PQgetlength(res, shown, LIST_COL_JSON);
        if (shown > 0 && body.len + len + 1 > LIST_BODY_MAX) {
            more = true; /* the rest on the next page */
            break;
        }
        if (shown > 0)
            buf_append(&body, ",", 1);
        buf_append(&body, PQgetvalue(res, shown, LIST_COL_JSON), len);
    }
    buf_append_str(&body, "],\"next_cursor\":");
    if (more && shown > 0) {
        struct cursor next = {.sort = p.sort};
        if (p.sort == SORT_LAST_SEEN || p.sort == SORT_LAST_SEEN_DESC)
            next.last_seen_us =
                strtoll(PQgetvalue(res, shown - 1, LIST_COL_LAST_SEEN_US), NULL, 10);
        snprintf(next.device_id, sizeof(next.device_id), "%s",
                 PQgetvalue(res, shown - 1, LIST_COL_DEVICE_ID));
        char text[CURSOR_TEXT_MAX];
        cursor_encode(api->settings.cursor_secret, &next, fp.data, fp.len, text, sizeof(text));
        json_str(&body, text);
    } else {
        buf_append_str(&body, "null");
    }
    buf_append_str(&body, "}");
    http_reply_json(req, 200, &body);
out:
    PQclear(res);
    list_sql_release(&q);
    buf_release(&fp);
    buf_release(&body);
}
