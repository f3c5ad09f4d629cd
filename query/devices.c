#include "devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "errors.h"
#include "twin/render.h"

bool devices_render(struct buf *out, const char *id, size_t id_len, const uint8_t *state,
                    size_t state_len, int64_t updated_at_ms)
{
    char errstr[256];
    struct twin_view_metric m[64];
    struct twin_view v = {.metrics = m, .cap_metrics = sizeof(m) / sizeof(m[0])};
    enum tp_err err = twin_record_view(&v, state, state_len, errstr, sizeof(errstr));
    struct twin_view_metric *big = NULL;
    if (err != TP_OK) { /* perhaps only more metrics than the stack array holds */
        big = tp_malloc(TWIN_VIEW_METRICS_MAX * sizeof(*big));
        v = (struct twin_view){.metrics = big, .cap_metrics = TWIN_VIEW_METRICS_MAX};
        err = twin_record_view(&v, state, state_len, errstr, sizeof(errstr));
    }
    if (err == TP_OK) {
        err = twin_render_json(out, id, id_len, &v, updated_at_ms);
        if (err != TP_OK)
            log_error("twin \"%.*s\": its document does not fit the answer", (int)id_len, id);
    } else {
        log_error("twin \"%.*s\": unreadable record: %s", (int)id_len, id, errstr);
    }
    free(big);
    return err == TP_OK;
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

/* Answers the twin of a filled item. */
static void devices_reply(struct http_request *req, const struct lookup_item *it)
{
    if (it->err != TP_OK) {
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE, "the twin store %s",
                          it->unreachable ? "is not reachable" : "did not answer");
        return;
    }
    if (!it->found) {
        query_error_reply(req, QERR_DEVICE_NOT_FOUND, "no twin for device \"%s\"", it->id);
        return;
    }
    /* the twin changes only when a reading is applied: its count is its version */
    char etag[40];
    snprintf(etag, sizeof(etag), "\"v%lld\"", (long long)it->version);
    if (devices_etag_matches(http_request_header(req, "If-None-Match"), etag)) {
        http_reply_header(req, "ETag", etag);
        http_reply_header(req, "Cache-Control", "no-cache");
        http_reply(req, 304, "application/json", "", 0);
        return;
    }
    struct buf b;
    buf_init(&b, 64 << 20);
    if (!devices_render(&b, it->id, strlen(it->id), it->state, it->state_len, it->updated_at_ms)) {
        buf_release(&b);
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE,
                          "the twin store holds a record this service cannot read");
        return;
    }
    http_reply_header(req, "ETag", etag);
    http_reply_header(req, "Cache-Control", "no-cache");
    http_reply_json(req, 200, &b);
    buf_release(&b);
}

/* One statement on a pooled connection (query.lookup_batch=off). */
static void devices_fetch_now(struct query_api *api, struct http_request *req,
                              struct lookup_item *it)
{
    PGconn *db;
    PGresult *res = NULL;
    if (!query_api_db_get(api, req, &db))
        return;
    const char *ids[] = {it->id};
    it->err = lookup_fetch(db, ids, 1, &res, it->errstr, sizeof(it->errstr));
    pool_put(api->pool, db);
    if (it->err != TP_OK) {
        log_error("could not read twin: %s", it->errstr);
    } else if (PQntuples(res) > 0) {
        it->found = true;
        it->version = lookup_row_version(res, 0);
        it->updated_at_ms = lookup_row_updated_at_ms(res, 0);
        it->state_len = (size_t)PQgetlength(res, 0, LOOKUP_COL_STATE);
        it->state = tp_malloc(it->state_len ? it->state_len : 1);
        memcpy(it->state, PQgetvalue(res, 0, LOOKUP_COL_STATE), it->state_len);
    }
    PQclear(res);
    it->done = true;
    devices_reply(req, it);
}

void devices_handle_get(struct http_request *req, void *arg)
{
    struct query_api *api = arg;
    const char *id;
    if (!query_api_begin(api, req))
        return;
    struct query_api_req *r = query_api_req_of(req);
    if (!r->item) {
        id = query_api_device_id(req);
        if (!id)
            return;
        r->item = lookup_item_new(id);
        if (!api->lookup) {
            devices_fetch_now(api, req, r->item);
            goto out;
        }
        switch (lookup_submit(api->lookup, req, r->item)) {
        case WAITER_ADDED:
            return; /* called again once fetched */
        case WAITER_FULL:
            query_error_reply(req, QERR_OVERLOADED, "too many lookups queued; retry later");
            goto out;
        case WAITER_STOPPING:
            query_error_reply(req, QERR_SHUTTING_DOWN, "this replica is shutting down; retry");
            goto out;
        }
    }
    if (r->item->shutdown)
        query_error_reply(req, QERR_SHUTTING_DOWN, "this replica is shutting down; retry");
    else
        devices_reply(req, r->item);
out:
    metrics_histogram_observe(&api->lookup_latency, (double)(tp_mono_ms() - r->t0_ms));
}
