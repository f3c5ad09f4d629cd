/*
 * api.h - what every endpoint of tp-query shares: the service object
 * (connection pool, settings, and later the API keys and the consistency
 * waiter), the route table, the argument collection, and the operational
 * endpoints (/readyz, /metrics, /openapi.json).
 *
 * Object: struct query_api, embedded in main() (zero-initialised, then its
 * fields set); it owns nothing (main frees the pool and the server). Its
 * handlers run on HTTP threads; everything in it is read-only once the
 * server runs, except the atomics.
 *
 *     struct query_api api = {.pool = pool, .settings = {...}};
 *     size_t n; const struct http_route *routes = query_api_routes(&api, &n);
 *     http_server_new(routes, n, ...); api.srv = srv;
 */
#ifndef TP_QUERY_API_H
#define TP_QUERY_API_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "common/http.h"
#include "common/metrics.h"
#include "apikeys.h"
#include "params.h"
#include "common/pool.h"
#include "lookup.h"
#include "search.h"
#include "stream.h"
#include "waiter.h"

#define QUERY_API_POOL_WAIT_MS 2000
#define QUERY_API_N_ROUTES     10

struct query_settings {
    long online_window_s;      /* query.online_window_s */
    const char *cursor_secret; /* query.cursor_secret; NULL = built in */
    long consistency_wait_ms;  /* query.consistency_wait_ms */
    long fleet_windows_max;    /* query.fleet_windows_max (GET /v1/fleet/aggregates) */
};

struct query_api {
    struct pool *pool;
    const struct apikeys *keys; /* NULL: query.auth=off */
    struct waiter *waiter;      /* read-your-writes */
    struct search *search;      /* the list's and summary's index */
    struct lookup *lookup;      /* batched GET /v1/devices/{id}; NULL: one statement each */
    struct stream *stream;      /* GET /v1/stream */
    struct http_server *srv;    /* borrowed, for /metrics; set once listening */
    struct query_settings settings;
    struct metrics_histogram lookup_latency; /* GET /v1/devices/{id} */
    struct http_route routes[QUERY_API_N_ROUTES];
};

/*
 * A data request's state across its handler's calls (its http_request_user,
 * created by query_api_req_of): the read-your-writes wait, and the batched lookup.
 */
struct query_api_req {
    struct waiter_entry *wait; /* NULL: no token (or not looked at yet) */
    struct lookup_item *item;  /* GET /v1/devices/{id} with the batcher */
    int64_t t0_ms;             /* first call */
};

/* The request's state, created on the first call. */
struct query_api_req *query_api_req_of(struct http_request *req);

/* The route table (in api; valid while it lives). */
const struct http_route *query_api_routes(struct query_api *api, size_t *n);
/* pool_prepare_fn: every statement of every endpoint. */
enum tp_err query_api_prepare(PGconn *db, char *errstr, size_t errstr_size);

/*
 * Gate of the data endpoints, first thing in their handlers: the API key
 * (401 unauthorized), then read-your-writes: with a consistency token
 * (`?after=` or `X-Consistency-Token`; 400 when malformed or when both
 * differ) the projector's offsets are read; if it has not applied the
 * token's events yet the request is suspended in the waiter (waiter.h)
 * and the handler is called again when they are in (go on), or after
 * query.consistency_wait_ms (504 consistency_timeout). True when the
 * handler may go on; false when the request has been answered or
 * suspended. /healthz, /readyz, /metrics and /openapi.json stay open.
 */
bool query_api_begin(struct query_api *api, struct http_request *req);
/*
 * query_api_begin for the endpoints served from the search index (list,
 * summary): the token must be covered by the index's own snapshot of the
 * projector's offsets (search.h), and the index must be loaded; until then
 * the request waits in the search index, at most query.consistency_wait_ms
 * (then 504 consistency_timeout, or 503 database_unavailable when the index
 * is not loaded yet).
 */
bool query_api_begin_search(struct query_api *api, struct http_request *req);
/* The API key only (401 unauthorized), for endpoints no consistency token applies to (GET
 * /v1/fleet/aggregates: the global site's aggregates, not the journal's events). */
bool query_api_begin_key(struct query_api *api, struct http_request *req);
/* query_api_begin_search for GET /v1/stream: the API key may also come as ?access_token=
 * (browsers' EventSource sends no headers). */
bool query_api_begin_stream(struct query_api *api, struct http_request *req);
/* The request's query arguments (borrowed from it). */
void query_api_args(struct http_request *req, struct params_args *a);
/* The device id of the path, or NULL after answering 400 invalid_device_id. */
const char *query_api_device_id(struct http_request *req);
/* A pooled connection, or false after answering 503 database_unavailable. */
bool query_api_db_get(struct query_api *api, struct http_request *req, PGconn **db);

/* query/openapi.json, compiled in (query/embed.cmake). */
extern const char query_api_openapi_json[];
extern const size_t query_api_openapi_json_len;

void query_api_handle_ready(struct http_request *req, void *arg);
void query_api_handle_openapi(struct http_request *req, void *arg);
void query_api_handle_metrics(struct http_request *req, void *arg);

#endif
