/* tp-query: the read API over the twins in PostgreSQL. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "common/http_config.h"
#include "common/log.h"
#include "common/service.h"
#include "common/pool.h"
#include "ui.h"

/* The options of the query modules, filled by the table; query_check derives the shared ones. */
struct query_config {
    struct http_options http;
    char *pg_dsn;
    size_t pool_size;
    int statement_timeout_ms;
    struct query_settings settings;
    struct waiter_settings waiter;
    struct search_settings search;
    bool lookup_batch;
    struct lookup_settings lookup;
    struct stream_settings stream;
    bool auth;
    char *api_keys;
    char *api_keys_file;
    struct apikeys keys; /* loaded by query_check */
    int64_t health_stall_ms;
    enum log_level log_level;
    enum log_format log_format;
};

static const char *const query_on_off[] = {"off", "on", NULL};
static const char *const query_auth_modes[] = {"required", "off", NULL};
static const int query_auth_on[] = {1, 0};

#define Q struct query_config
static const struct config_entry query_rows[] = {
    HTTP_CONFIG_ENTRIES(Q, http, "127.0.0.1:18081"),
    SERVICE_PG_DSN_ENTRY(Q, pg_dsn),
    CONFIG_ROW_INT("pg.pool_size", Q, pool_size, "4", 1, 1000, "database connections"),
    CONFIG_ROW_MS("pg.statement_timeout_ms", Q, statement_timeout_ms, "5000", 1, 600000,
                  "statement_timeout of every query (503 past it)"),
    CONFIG_ROW_S("query.online_window_s", Q, settings.online_window_s, "300", 1, 31536000,
                 "a device is online while its last_seen is at most this many seconds before "
                 "now()"),
    CONFIG_ROW_STR("query.cursor_secret", Q, settings.cursor_secret, NULL,
                   "HMAC key of page cursors, at least 16 characters, the same on every replica; "
                   "required with query.auth=required (the service refuses to start without it); "
                   "with query.auth=off, unset means a built-in key, logged as a warning: it "
                   "still catches every altered cursor, but anyone can forge one (never logged)"),
    CONFIG_ROW_MS("query.consistency_wait_ms", Q, settings.consistency_wait_ms, "5000", 0, 60000,
                  "read-your-writes: how long a request with a consistency token waits for the "
                  "projector (then 504)"),
    CONFIG_ROW_INT("query.fleet_windows_max", Q, settings.fleet_windows_max, "10000", 1, 100000,
                   "GET /v1/fleet/aggregates: windows in one answer (the earliest; then "
                   "\"truncated\":true)"),
    CONFIG_ROW_MS("query.consistency_poll_ms", Q, waiter.poll_ms, "20", 1, 1000,
                  "read-your-writes: how often the projector's offsets are read while requests "
                  "wait"),
    CONFIG_ROW_INT("query.consistency_max_waiting", Q, waiter.max_waiting, "10000", 1, 1000000,
                   "read-your-writes: requests waiting at once (503 overloaded past it)"),
    CONFIG_ROW_MS("query.search_refresh_ms", Q, search.refresh_ms, "1000", 10, 60000,
                  "how often the search index (list, summary) reads the twins written since its "
                  "last snapshot"),
    CONFIG_ROW_INT("query.stream_max_clients", Q, stream.max_clients, "1000", 0, 100000,
                   "GET /v1/stream connections open at once (503 overloaded past it)"),
    CONFIG_ROW_SIZE("query.stream_client_buffer", Q, stream.client_buffer, "1048576", 4096,
                    67108864,
                    "bytes of events one stream client may have unsent; past it the client gets "
                    "a final event: overflow and is cut"),
    CONFIG_ROW_INT("query.stream_ring", Q, stream.ring, "100000", 1, 10000000,
                   "recent change events kept in memory so a stream resumes with "
                   "Last-Event-ID (older positions get event: reset)"),
    CONFIG_ROW_MS("query.stream_heartbeat_ms", Q, stream.heartbeat_ms, "15000", 100, 300000,
                  "a heartbeat comment on every stream this often"),
    CONFIG_ROW_ENUM("query.lookup_batch", Q, lookup_batch, "on", query_on_off,
                    "on: concurrent GET /v1/devices/{id} are fetched together, one statement per "
                    "batch (query.lookup_threads connections); off: one statement each on the "
                    "pool"),
    CONFIG_ROW_INT("query.lookup_threads", Q, lookup.threads, "2", 1, 64,
                   "lookup batcher threads, each with its own database connection"),
    CONFIG_ROW_INT("query.lookup_batch_max", Q, lookup.batch_max, "128", 1, 1000,
                   "device ids in one lookup statement, at most"),
    CONFIG_ROW_STR("query.projector_group", Q, waiter.group, "tp-projector",
                   "the projector's consumer group (its projector.group), for read-your-writes"),
    CONFIG_ROW_STR("query.topic", Q, waiter.topic, "twinpipe.telemetry.v1",
                   "the journal topic the projector reads (its journal.topic), for "
                   "read-your-writes"),
    CONFIG_ROW_ENUM("query.auth", Q, auth, "required", query_auth_modes,
                    "required: the data endpoints need Authorization: Bearer <API key>; off: no "
                    "authentication (development)",
                    .ints = query_auth_on),
    CONFIG_ROW_STR("query.api_keys", Q, api_keys, NULL,
                   "comma-separated SHA-256 hex digests of the analysts' API keys"),
    CONFIG_ROW_STR("query.api_keys_file", Q, api_keys_file, NULL,
                   "file of SHA-256 hex digests of API keys, one a line ('#' comments)"),
    SERVICE_HEALTH_ENTRY(Q, health_stall_ms),
    SERVICE_LOG_ENTRY(Q, log_level),
    SERVICE_LOG_FORMAT_ENTRY(Q, log_format),
};
#undef Q

#define QUERY_CURSOR_SECRET_MIN 16

/*
 * A cursor signed with the built-in key can be forged by anyone who reads the source; with
 * authentication that would let a client mint cursors the service never gave out, so
 * query.auth=required needs a real secret. With query.auth=off the built-in key is allowed
 * (nothing is protected anyway) and said in the log.
 */
static enum tp_err query_cursor_secret_check(const char *secret, bool auth, char *errstr,
                                             size_t errstr_size)
{
    if (secret && *secret && strlen(secret) < QUERY_CURSOR_SECRET_MIN)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "query.cursor_secret (TP_QUERY_CURSOR_SECRET) is too short: it needs "
                          "at least %d characters",
                          QUERY_CURSOR_SECRET_MIN);
    if (secret && *secret)
        return TP_OK;
    if (auth)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "query.auth=required needs query.cursor_secret "
                          "(TP_QUERY_CURSOR_SECRET): the HMAC key of page cursors, at least %d "
                          "characters, the same on every replica; set query.auth=off to run "
                          "with the built-in key",
                          QUERY_CURSOR_SECRET_MIN);
    log_warn("query.cursor_secret is not set: page cursors are signed with the built-in key, "
             "which anyone can forge (allowed only with query.auth=off)");
    return TP_OK;
}

/* The cross-key rules: query.auth=required needs API keys and a cursor secret. Then the
 * settings several modules share (dsn, group, topic, poll, queue and statement bounds). */
static enum tp_err query_check(void *arg, char *errstr, size_t errstr_size)
{
    struct query_config *c = arg;
    enum tp_err err = TP_OK;
    if (c->auth && c->api_keys)
        err = apikeys_add_list(&c->keys, c->api_keys, errstr, errstr_size);
    if (err == TP_OK && c->auth && c->api_keys_file)
        err = apikeys_add_file(&c->keys, c->api_keys_file, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (c->auth && c->keys.n == 0)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "query.auth=required needs query.api_keys (TP_QUERY_API_KEYS) or "
                          "query.api_keys_file: the SHA-256 hex of each analyst key; set "
                          "query.auth=off to run without authentication");
    err = query_cursor_secret_check(c->settings.cursor_secret, c->auth, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (c->auth)
        log_info("%zu API keys", c->keys.n);
    else
        log_warn("query.auth=off: answering every request without authentication");
    c->waiter.dsn = c->search.dsn = c->lookup.dsn = c->pg_dsn;
    c->search.group = c->waiter.group;
    c->search.topic = c->waiter.topic;
    c->search.min_gap_ms = c->waiter.poll_ms;
    c->search.max_waiting = c->lookup.max_queued = c->waiter.max_waiting;
    c->search.statement_timeout_ms = c->lookup.statement_timeout_ms = c->statement_timeout_ms;
    c->search.health_stall_ms = c->waiter.health_stall_ms = c->lookup.health_stall_ms =
        c->health_stall_ms;
    return TP_OK;
}

static const struct config_table query_table = CONFIG_TABLE("tp-query", query_rows, query_check);

static void query_started(void *arg, struct http_server *srv)
{
    struct query_api *api = arg;
    api->srv = srv;
}

/* Once no new connection comes: no request may stay suspended when the server stops. */
static void query_drain(void *arg)
{
    struct query_api *api = arg;
    lookup_stop(api->lookup);
    search_stop(api->search);
    stream_stop(api->stream);
    waiter_stop(api->waiter, 5000);
}

int main(int argc, char **argv)
{
    static struct query_config cfg; /* the API keys are large */
    struct query_api api = {0};
    int rc = 1;
    if (service_start(&query_table, &cfg, NULL, argc, argv, &rc))
        goto out;
    api.keys = cfg.auth ? &cfg.keys : NULL;
    api.pool = pool_new(cfg.pg_dsn, cfg.pool_size, cfg.statement_timeout_ms, query_api_prepare);
    api.settings = cfg.settings;
    char errstr[1024];
    if (waiter_new(&cfg.waiter, &api.waiter, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    api.stream = stream_new(&cfg.stream);
    cfg.search.feed = stream_feed(api.stream);
    api.search = search_new(&cfg.search);
    if (cfg.lookup_batch)
        api.lookup = lookup_new(&cfg.lookup);
    size_t n_routes;
    const struct http_route *api_routes = query_api_routes(&api, &n_routes);
    struct http_route routes[QUERY_API_N_ROUTES + UI_N_ROUTES]; /* the API's, then the page's */
    memcpy(routes, api_routes, n_routes * sizeof(routes[0]));
    n_routes += ui_routes(routes + n_routes);
    const struct service_loop loop = {.routes = routes,
                                      .n_routes = n_routes,
                                      .http = &cfg.http,
                                      .started = query_started,
                                      .stopping = "shutting down",
                                      .drain = query_drain,
                                      .arg = &api};
    rc = service_run(&loop);
out:
    lookup_free(api.lookup);
    search_free(api.search);
    stream_free(api.stream);
    waiter_free(api.waiter);
    pool_free(api.pool);
    config_release(query_rows, query_table.n, &cfg, NULL);
    return rc;
}
