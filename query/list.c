#include "list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "devices.h"
#include "errors.h"

/* A fetched row by its id, to find a hit's row. */
struct list_row {
    const char *id;
    int row;
};

static int list_row_cmp(const void *a, const void *b)
{
    return strcmp(((const struct list_row *)a)->id, ((const struct list_row *)b)->id);
}

void list_handle(struct http_request *req, void *arg)
{
    struct query_api *api = arg;
    char errstr[512];
    struct params_args a;
    struct list_params p;
    struct cursor after;
    struct buf fp, body, doc;
    struct search_hit *hits = NULL;
    const char **ids = NULL;
    struct list_row *rows = NULL;
    PGconn *db;
    PGresult *res = NULL;
    if (!query_api_begin_search(api, req))
        return;
    query_api_args(req, &a);
    if (params_list_parse(&a, &p, errstr, sizeof(errstr)) != TP_OK) {
        query_error_reply(req, QERR_INVALID_PARAMETER, "%s", errstr);
        return;
    }
    buf_init(&fp, 1 << 20);
    buf_init(&body, LIST_BODY_MAX + (1 << 20));
    buf_init(&doc, LIST_BODY_MAX);
    params_list_fingerprint(&p, &fp);
    if (p.cursor && cursor_decode(api->settings.cursor_secret, p.cursor, fp.data, fp.len, &after,
                                  errstr, sizeof(errstr)) != TP_OK) {
        query_error_reply(req, QERR_INVALID_CURSOR, "%s", errstr);
        goto out;
    }
    hits = tp_malloc(((size_t)p.limit + 1) * sizeof(*hits));
    size_t n = search_page(api->search, &p, p.cursor ? &after : NULL, tp_now_ms(),
                           api->settings.online_window_s, hits);
    bool more = n > (size_t)p.limit;
    size_t want = more ? (size_t)p.limit : n, shown = 0;
    int n_rows = 0;
    if (want > 0) {
        ids = tp_malloc(want * sizeof(*ids));
        for (size_t i = 0; i < want; i++)
            ids[i] = hits[i].device_id;
        if (!query_api_db_get(api, req, &db))
            goto out;
        enum tp_err err = lookup_fetch(db, ids, want, &res, errstr, sizeof(errstr));
        pool_put(api->pool, db);
        if (err != TP_OK) {
            log_error("could not list twins: %s", errstr);
            query_error_reply(req, QERR_DATABASE_UNAVAILABLE, "the twin store did not answer: %s",
                              err == TP_DB_TRANSIENT ? "timed out or unreachable" : "query failed");
            goto out;
        }
        n_rows = PQntuples(res);
        rows = tp_malloc((size_t)(n_rows ? n_rows : 1) * sizeof(*rows));
        for (int r = 0; r < n_rows; r++)
            rows[r] = (struct list_row){PQgetvalue(res, r, LOOKUP_COL_ID), r};
        qsort(rows, (size_t)n_rows, sizeof(*rows), list_row_cmp);
    }
    buf_append_str(&body, "{\"devices\":[");
    size_t written = 0;
    for (; shown < want; shown++) {
        struct list_row key = {hits[shown].device_id, 0};
        const struct list_row *row =
            n_rows ? bsearch(&key, rows, (size_t)n_rows, sizeof(*rows), list_row_cmp) : NULL;
        if (!row)
            continue; /* gone since the index saw it */
        buf_reset(&doc);
        if (!devices_render(&doc, hits[shown].device_id, strlen(hits[shown].device_id),
                            (const uint8_t *)PQgetvalue(res, row->row, LOOKUP_COL_STATE),
                            (size_t)PQgetlength(res, row->row, LOOKUP_COL_STATE),
                            lookup_row_updated_at_ms(res, row->row)))
            continue;
        if (written > 0 && body.len + doc.len + 1 > LIST_BODY_MAX) {
            more = true; /* this one and the rest on the next page */
            break;
        }
        if (written > 0)
            buf_append(&body, ",", 1);
        buf_append(&body, doc.data, doc.len);
        written++;
    }
    buf_append_str(&body, "],\"next_cursor\":");
    if (more && shown > 0) { /* after the last hit shown or skipped */
        const struct search_hit *h = &hits[shown - 1];
        struct cursor next = {.sort = p.sort};
        if (p.sort == SORT_LAST_SEEN || p.sort == SORT_LAST_SEEN_DESC)
            next.last_seen_us = h->last_seen_us;
        snprintf(next.device_id, sizeof(next.device_id), "%s", h->device_id);
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
    free(hits);
    free(ids);
    free(rows);
    buf_release(&fp);
    buf_release(&doc);
    buf_release(&body);
}
