#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "common/service.h"
#include "devices.h"
#include "errors.h"
#include "list.h"
#include "series.h"
#include "summary.h"
#include "token.h"

const struct http_route *api_routes(struct query_api *api, size_t *n)
{
    const struct http_route routes[] = {
        {"GET", "/v1/devices", 0, list_handle, api},
        {"GET", "/v1/devices/*", 0, devices_handle_get, api},
        {"GET", "/v1/devices/*/series", 0, series_handle, api},
        {"GET", "/v1/fleet/summary", 0, summary_handle, api},
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/readyz", 0, api_handle_ready, api},
        {"GET", "/metrics", 0, api_handle_metrics, api},
        {"GET", "/openapi.json", 0, api_handle_openapi, NULL},
    };
    size_t k = sizeof(routes) / sizeof(routes[0]);
    _Static_assert(sizeof(routes) / sizeof(routes[0]) <= API_N_ROUTES, "API_N_ROUTES");
    for (size_t i = 0; i < k; i++)
        api->routes[i] = routes[i];
    *n = k;
    return api->routes;
}

enum tp_err api_prepare(PGconn *db, char *errstr, size_t errstr_size)
{
    enum tp_err err = lookup_prepare(db, errstr, errstr_size);
    if (err == TP_OK)
        err = series_prepare(db, errstr, errstr_size);
    return err;
}

static void api_req_free(void *arg)
{
    struct api_req *r = arg;
    if (!r)
        return;
    waiter_entry_free(r->wait);
    lookup_item_free(r->item);
    free(r);
}

struct api_req *api_req_of(struct http_request *req)
{
    struct api_req *r = http_request_user(req);
    if (!r) {
        r = tp_calloc(1, sizeof(*r));
        r->t0_ms = tp_mono_ms();
        http_request_set_user(req, r, api_req_free);
    }
    return r;
}

/* Read-your-writes: see api_begin. */
static bool api_consistent(struct query_api *api, struct http_request *req)
{
    char errstr[512];
    long wait_ms = api->settings.consistency_wait_ms;
    struct api_req *r = api_req_of(req);
    struct waiter_entry *e = r->wait;
    if (e) { /* called again (by the waiter, or the lookup batcher) */
        switch (e->outcome) {
        case WAIT_COVERED:
            return true;
        case WAIT_TIMEOUT:
            query_error_reply(req, QERR_CONSISTENCY_TIMEOUT,
                              "the projector has not applied the events of this token within "
                              "%ld ms (%s); retry later",
                              wait_ms, e->detail);
            return false;
        case WAIT_PENDING:
        case WAIT_SHUTDOWN:
            break;
        }
        query_error_reply(req, QERR_SHUTTING_DOWN, "this replica is shutting down; retry");
        return false;
    }
    const char *q = http_request_query(req, "after");
    const char *h = http_request_header(req, "X-Consistency-Token");
    if (!q && !h)
        return true;
    if (q && h && strcmp(q, h) != 0) {
        query_error_reply(req, QERR_INVALID_CONSISTENCY_TOKEN,
                          "?after= and X-Consistency-Token differ: give the token once");
        return false;
    }
    e = waiter_entry_new(api->waiter, tp_mono_ms() + wait_ms);
    r->wait = e;
    if (token_parse(q ? q : h, &e->token, errstr, sizeof(errstr)) != TP_OK) {
        query_error_reply(req, QERR_INVALID_CONSISTENCY_TOKEN, "%s", errstr);
        return false;
    }
    PGconn *db;
    bool covered = false;
    if (!api_db_get(api, req, &db))
        return false;
    enum tp_err err =
        waiter_covered_now(api->waiter, db, &e->token, &covered, errstr, sizeof(errstr));
    pool_put(api->pool, db);
    if (err != TP_OK) {
        log_error("could not read projector offsets: %s", errstr);
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE, "the twin store did not answer");
        return false;
    }
    if (covered) {
        e->outcome = WAIT_COVERED; /* for the handler's next call, if it suspends */
        return true;
    }
    if (wait_ms == 0) {
        query_error_reply(req, QERR_CONSISTENCY_TIMEOUT,
                          "the projector has not applied the events of this token yet "
                          "(query.consistency_wait_ms is 0); retry later");
        return false;
    }
    switch (waiter_add(api->waiter, req, e)) {
    case WAITER_ADDED:
        return false; /* called again */
    case WAITER_FULL:
        query_error_reply(req, QERR_OVERLOADED,
                          "too many requests already wait for the projector; retry later");
        return false;
    case WAITER_STOPPING:
        break;
    }
    query_error_reply(req, QERR_SHUTTING_DOWN, "this replica is shutting down; retry");
    return false;
}

bool api_begin(struct query_api *api, struct http_request *req)
{
    char why[128];
    if (api->keys &&
        !apikeys_check(api->keys, http_request_header(req, "Authorization"), why, sizeof(why))) {
        query_error_reply(req, QERR_UNAUTHORIZED, "%s", why);
        return false;
    }
    return api_consistent(api, req);
}

/* 503 while the search index is not loaded: the database unreachable, or still loading. */
static void api_search_unavailable(struct query_api *api, struct http_request *req)
{
    if (search_unreachable(api->search))
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE, "the twin store is not reachable");
    else
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE,
                          "the search index is not loaded yet; retry later");
}

bool api_begin_search(struct query_api *api, struct http_request *req)
{
    char errstr[512], why[128];
    long wait_ms = api->settings.consistency_wait_ms;
    if (api->keys &&
        !apikeys_check(api->keys, http_request_header(req, "Authorization"), why, sizeof(why))) {
        query_error_reply(req, QERR_UNAUTHORIZED, "%s", why);
        return false;
    }
    struct api_req *r = api_req_of(req);
    struct waiter_entry *e = r->wait;
    if (e) { /* called again by the search index */
        switch (e->outcome) {
        case WAIT_COVERED:
            return true;
        case WAIT_TIMEOUT:
            if (e->token.n == 0 || !search_loaded(api->search))
                api_search_unavailable(api, req);
            else
                query_error_reply(req, QERR_CONSISTENCY_TIMEOUT,
                                  "the projector has not applied the events of this token within "
                                  "%ld ms (%s); retry later",
                                  wait_ms, e->detail);
            return false;
        case WAIT_PENDING:
        case WAIT_SHUTDOWN:
            break;
        }
        query_error_reply(req, QERR_SHUTTING_DOWN, "this replica is shutting down; retry");
        return false;
    }
    const char *q = http_request_query(req, "after");
    const char *h = http_request_header(req, "X-Consistency-Token");
    if (!q && !h && search_loaded(api->search))
        return true;
    if (!search_loaded(api->search) && search_unreachable(api->search)) {
        api_search_unavailable(api, req);
        return false;
    }
    if (q && h && strcmp(q, h) != 0) {
        query_error_reply(req, QERR_INVALID_CONSISTENCY_TOKEN,
                          "?after= and X-Consistency-Token differ: give the token once");
        return false;
    }
    e = waiter_entry_new(api->waiter, tp_mono_ms() + wait_ms);
    r->wait = e;
    if ((q || h) && token_parse(q ? q : h, &e->token, errstr, sizeof(errstr)) != TP_OK) {
        query_error_reply(req, QERR_INVALID_CONSISTENCY_TOKEN, "%s", errstr);
        return false;
    }
    if (search_covers(api->search, &e->token)) {
        e->outcome = WAIT_COVERED;
        return true;
    }
    if (wait_ms > 0) {
        switch (search_wait_add(api->search, req, e)) {
        case WAITER_ADDED:
            return false; /* called again */
        case WAITER_FULL:
            query_error_reply(req, QERR_OVERLOADED,
                              "too many requests already wait for the projector; retry later");
            return false;
        case WAITER_STOPPING:
            query_error_reply(req, QERR_SHUTTING_DOWN, "this replica is shutting down; retry");
            return false;
        }
    }
    if (e->token.n == 0 || !search_loaded(api->search))
        api_search_unavailable(api, req);
    else
        query_error_reply(req, QERR_CONSISTENCY_TIMEOUT,
                          "the projector has not applied the events of this token yet "
                          "(query.consistency_wait_ms is 0); retry later");
    return false;
}

static bool api_arg(void *arg, const char *key, const char *value)
{
    params_args_add(arg, key, value);
    return true;
}

void api_args(struct http_request *req, struct params_args *a)
{
    a->n = 0;
    a->too_many = false;
    http_request_query_each(req, api_arg, a);
}

const char *api_device_id(struct http_request *req)
{
    const char *id = http_request_path_tail(req);
    if (params_device_id_ok(id))
        return id;
    query_error_reply(req, QERR_INVALID_DEVICE_ID,
                      "device ids are 1..128 characters of A-Z a-z 0-9 . _ : -");
    return NULL;
}

bool api_db_get(struct query_api *api, struct http_request *req, PGconn **db)
{
    char errstr[512];
    if (pool_get(api->pool, API_POOL_WAIT_MS, db, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE, "the twin store is not reachable");
        return false;
    }
    return true;
}

void api_handle_ready(struct http_request *req, void *arg)
{
    struct query_api *api = arg;
    char errstr[512] = "";
    PGconn *db;
    if (pool_get(api->pool, 1000, &db, errstr, sizeof(errstr)) == TP_OK) {
        enum tp_err err =
            pg_check(db, PQexec(db, "SELECT 1"), PGRES_TUPLES_OK, NULL, errstr, sizeof(errstr));
        pool_put(api->pool, db);
        if (err == TP_OK && api->search && !search_loaded(api->search)) {
            query_error_reply(req, QERR_NOT_READY, "the search index is still loading");
            return;
        }
        if (err == TP_OK) {
            static const char body[] = "{\"status\":\"ready\"}";
            http_reply(req, 200, "application/json", body, sizeof(body) - 1);
            return;
        }
    }
    /* the detail (libpq's text: host, port, database, user) goes to the log, never to a client */
    log_warn("not ready: %s", errstr);
    query_error_reply(req, QERR_NOT_READY, "the twin store is not reachable");
}

void api_handle_openapi(struct http_request *req, void *arg)
{
    (void)arg;
    http_reply(req, 200, "application/json", api_openapi_json, api_openapi_json_len);
}

void api_handle_metrics(struct http_request *req, void *arg)
{
    struct query_api *api = arg;
    struct buf b;
    size_t open, idle;
    buf_init(&b, 1 << 20);
    if (api->srv)
        http_server_metrics(api->srv, "tp_query", &b);
    metrics_histogram_write(&b, "tp_query_device_lookup_ms", "GET /v1/devices/{id} latency",
                            &api->lookup_latency);
    if (api->waiter)
        waiter_metrics(api->waiter, &b);
    if (api->search)
        search_metrics(api->search, &b);
    if (api->lookup)
        lookup_metrics(api->lookup, &b);
    pool_stats(api->pool, &open, &idle);
    metrics_sample(&b, "tp_query_pool_connections", "gauge", "database connections open", NULL,
                   (double)open);
    metrics_sample(&b, "tp_query_pool_in_use", "gauge", "database connections in use", NULL,
                   (double)(open - idle));
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_release(&b);
}
