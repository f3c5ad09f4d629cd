#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "aggregates.h"
#include "common/service.h"
#include "devices.h"
#include "errors.h"
#include "list.h"
#include "series.h"
#include "summary.h"
#include "token/token.h"

const struct http_route *query_api_routes(struct query_api *api, size_t *n)
{
    const struct http_route routes[] = {
        {"GET", "/v1/devices", 0, list_handle, api},
        {"GET", "/v1/devices/*", 0, devices_handle_get, api},
        {"GET", "/v1/devices/*/series", 0, series_handle, api},
        {"GET", "/v1/fleet/summary", 0, summary_handle, api},
        {"GET", "/v1/fleet/aggregates", 0, aggregates_handle, api},
        {"GET", "/v1/stream", 0, stream_handle, api},
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/readyz", 0, query_api_handle_ready, api},
        {"GET", "/metrics", 0, query_api_handle_metrics, api},
        {"GET", "/openapi.json", 0, query_api_handle_openapi, NULL},
    };
    size_t k = sizeof(routes) / sizeof(routes[0]);
    _Static_assert(sizeof(routes) / sizeof(routes[0]) <= QUERY_API_N_ROUTES, "QUERY_API_N_ROUTES");
    for (size_t i = 0; i < k; i++)
        api->routes[i] = routes[i];
    *n = k;
    return api->routes;
}

enum tp_err query_api_prepare(PGconn *db, char *errstr, size_t errstr_size)
{
    enum tp_err err = lookup_prepare(db, errstr, errstr_size);
    if (err == TP_OK)
        err = series_prepare(db, errstr, errstr_size);
    if (err == TP_OK)
        err = aggregates_prepare(db, errstr, errstr_size);
    return err;
}

static void api_req_free(void *arg)
{
    struct query_api_req *r = arg;
    if (!r)
        return;
    waiter_entry_free(r->wait);
    lookup_item_free(r->item);
    free(r);
}

struct query_api_req *query_api_req_of(struct http_request *req)
{
    struct query_api_req *r = http_request_user(req);
    if (!r) {
        r = tp_calloc(1, sizeof(*r));
        r->t0_ms = tp_mono_ms();
        http_request_set_user(req, r, api_req_free);
    }
    return r;
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

/* A timed out wait: 504 with where the projector stood (503 while the index is not loaded). */
static void api_timeout(struct query_api *api, struct http_request *req,
                        const struct waiter_entry *e, bool search)
{
    if (search && (e->token.n == 0 || !search_loaded(api->search)))
        api_search_unavailable(api, req);
    else if (e->outcome == WAIT_TIMEOUT)
        query_error_reply(req, QERR_CONSISTENCY_TIMEOUT,
                          "the projector has not applied the events of this token within "
                          "%ld ms (%s); retry later",
                          api->settings.consistency_wait_ms, e->detail);
    else
        query_error_reply(req, QERR_CONSISTENCY_TIMEOUT,
                          "the projector has not applied the events of this token yet "
                          "(query.consistency_wait_ms is 0); retry later");
}

/* A request called again after its wait (by the waiter, the search index, or the lookup
 * batcher): true to go on; false once answered. */
static bool api_resumed(struct query_api *api, struct http_request *req,
                        const struct waiter_entry *e, bool search)
{
    switch (e->outcome) {
    case WAIT_COVERED:
        return true;
    case WAIT_TIMEOUT:
        api_timeout(api, req, e, search);
        return false;
    case WAIT_PENDING:
    case WAIT_SHUTDOWN:
        break;
    }
    query_error_reply(req, QERR_SHUTTING_DOWN, "this replica is shutting down; retry");
    return false;
}

/* The request's token text into *text (NULL: none); false after answering 400 when ?after=
 * and X-Consistency-Token differ. */
static bool api_token_text(struct http_request *req, const char **text)
{
    const char *q = http_request_query(req, "after");
    const char *h = http_request_header(req, "X-Consistency-Token");
    if (q && h && strcmp(q, h) != 0) {
        query_error_reply(req, QERR_INVALID_CONSISTENCY_TOKEN,
                          "?after= and X-Consistency-Token differ: give the token once");
        return false;
    }
    *text = q ? q : h;
    return true;
}

/* After queueing a wait: false, having answered unless it was queued (called again then). */
static bool api_wait_added(struct http_request *req, enum waiter_add_result r)
{
    switch (r) {
    case WAITER_ADDED:
        return false;
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

static bool api_auth(struct query_api *api, struct http_request *req, bool query_key)
{
    char why[128], header[600];
    const char *h = http_request_header(req, "Authorization");
    const char *q = query_key ? http_request_query(req, "access_token") : NULL;
    if (!h && q && strlen(q) < sizeof(header) - 8) {
        snprintf(header, sizeof(header), "Bearer %s", q);
        h = header;
    }
    if (api->keys && !apikeys_check(api->keys, h, why, sizeof(why))) {
        query_error_reply(req, QERR_UNAUTHORIZED, "%s", why);
        return false;
    }
    return true;
}

/* A new wait entry for the request's token (text NULL: none); false after answering 400. */
static bool api_wait_new(struct query_api *api, struct http_request *req, struct query_api_req *r,
                         const char *text)
{
    char errstr[512];
    r->wait = waiter_entry_new(api->waiter, tp_mono_ms() + api->settings.consistency_wait_ms);
    if (text && token_parse(text, &r->wait->token, errstr, sizeof(errstr)) != TP_OK) {
        query_error_reply(req, QERR_INVALID_CONSISTENCY_TOKEN, "%s", errstr);
        return false;
    }
    return true;
}

bool query_api_begin(struct query_api *api, struct http_request *req)
{
    char errstr[512];
    const char *text;
    if (!api_auth(api, req, false))
        return false;
    struct query_api_req *r = query_api_req_of(req);
    if (r->wait)
        return api_resumed(api, req, r->wait, false);
    if (!api_token_text(req, &text))
        return false;
    if (!text)
        return true;
    if (!api_wait_new(api, req, r, text))
        return false;
    struct waiter_entry *e = r->wait;
    PGconn *db;
    bool covered = false;
    if (!query_api_db_get(api, req, &db))
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
    if (api->settings.consistency_wait_ms == 0) {
        api_timeout(api, req, e, false);
        return false;
    }
    return api_wait_added(req, waiter_add(api->waiter, req, e));
}

static bool api_begin_search(struct query_api *api, struct http_request *req, bool query_key)
{
    const char *text;
    if (!api_auth(api, req, query_key))
        return false;
    struct query_api_req *r = query_api_req_of(req);
    if (r->wait)
        return api_resumed(api, req, r->wait, true);
    if (!api_token_text(req, &text))
        return false;
    bool loaded = search_loaded(api->search);
    if (!text && loaded)
        return true;
    if (!loaded && search_unreachable(api->search)) {
        api_search_unavailable(api, req);
        return false;
    }
    if (!api_wait_new(api, req, r, text))
        return false;
    struct waiter_entry *e = r->wait;
    if (search_covers(api->search, &e->token)) {
        e->outcome = WAIT_COVERED;
        return true;
    }
    if (api->settings.consistency_wait_ms == 0) {
        api_timeout(api, req, e, true);
        return false;
    }
    return api_wait_added(req, search_wait_add(api->search, req, e));
}

bool query_api_begin_key(struct query_api *api, struct http_request *req)
{
    return api_auth(api, req, false);
}

bool query_api_begin_search(struct query_api *api, struct http_request *req)
{
    return api_begin_search(api, req, false);
}

bool query_api_begin_stream(struct query_api *api, struct http_request *req)
{
    return api_begin_search(api, req, true);
}

static bool api_arg(void *arg, const char *key, const char *value)
{
    params_args_add(arg, key, value);
    return true;
}

void query_api_args(struct http_request *req, struct params_args *a)
{
    a->n = 0;
    a->too_many = false;
    http_request_query_each(req, api_arg, a);
}

const char *query_api_device_id(struct http_request *req)
{
    const char *id = http_request_path_tail(req);
    if (params_device_id_ok(id))
        return id;
    query_error_reply(req, QERR_INVALID_DEVICE_ID,
                      "device ids are 1..128 characters of A-Z a-z 0-9 . _ : -");
    return NULL;
}

bool query_api_db_get(struct query_api *api, struct http_request *req, PGconn **db)
{
    char errstr[512];
    if (pool_get(api->pool, QUERY_API_POOL_WAIT_MS, db, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        query_error_reply(req, QERR_DATABASE_UNAVAILABLE, "the twin store is not reachable");
        return false;
    }
    return true;
}

void query_api_handle_ready(struct http_request *req, void *arg)
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

void query_api_handle_openapi(struct http_request *req, void *arg)
{
    (void)arg;
    http_reply(req, 200, "application/json", query_api_openapi_json, query_api_openapi_json_len);
}

void query_api_handle_metrics(struct http_request *req, void *arg)
{
    struct query_api *api = arg;
    struct buf b;
    size_t open, idle;
    buf_init(&b, 1 << 20);
    if (api->srv)
        http_server_metrics(api->srv, "tp_query", &b);
    metrics_histogram_write(&b, "tp_query_device_lookup_duration_seconds",
                            "GET /v1/devices/{id} latency", &api->lookup_latency);
    if (api->waiter)
        waiter_metrics(api->waiter, &b);
    if (api->search)
        search_metrics(api->search, &b);
    if (api->lookup)
        lookup_metrics(api->lookup, &b);
    if (api->stream)
        stream_metrics(api->stream, &b);
    pool_stats(api->pool, &open, &idle);
    metrics_sample(&b, "tp_query_pool_connections", "gauge", "database connections open", NULL,
                   (double)open);
    metrics_sample(&b, "tp_query_pool_in_use", "gauge", "database connections in use", NULL,
                   (double)(open - idle));
    metrics_runtime_write(&b);
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_release(&b);
}
