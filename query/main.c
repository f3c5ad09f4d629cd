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

struct query_config {
    struct http_settings http;
    char *pg_dsn;
    long long pool_size;
    long long statement_timeout_ms;
    long long online_window_s;
    char *cursor_secret;
    long long consistency_wait_ms;
    long long consistency_poll_ms;
    long long consistency_max_waiting;
    long long search_refresh_ms;
    char *lookup_batch;
    long long lookup_threads;
    long long lookup_batch_max;
    char *projector_group;
    char *topic;
    char *auth;
    char *api_keys;
    char *api_keys_file;
    char *log_level;
};

static const struct config_entry query_table[] = {
    HTTP_CONFIG_ENTRIES(struct query_config, http, "127.0.0.1:18081"),
    SERVICE_PG_DSN_ENTRY(struct query_config, pg_dsn),
    {"pg.pool_size", CONFIG_INT, "4", 1, 1000, offsetof(struct query_config, pool_size),
     "database connections"},
    {"pg.statement_timeout_ms", CONFIG_INT, "5000", 1, 600000,
     offsetof(struct query_config, statement_timeout_ms), "statement_timeout of every query"},
    {"query.online_window_s", CONFIG_INT, "300", 1, 31536000,
     offsetof(struct query_config, online_window_s),
     "a device is online while its last_seen is at most this many seconds before now()"},
    {"query.cursor_secret", CONFIG_STRING, NULL, 0, 0, offsetof(struct query_config, cursor_secret),
     "HMAC key of page cursors, at least 16 characters, the same on every replica; required "
     "with query.auth=required (query.auth=off: unset means a built-in key, with a warning; "
     "never logged)"},
    {"query.consistency_wait_ms", CONFIG_INT, "5000", 0, 60000,
     offsetof(struct query_config, consistency_wait_ms),
     "read-your-writes: how long a request with a consistency token waits for the projector "
     "(then 504)"},
    {"query.consistency_poll_ms", CONFIG_INT, "20", 1, 1000,
     offsetof(struct query_config, consistency_poll_ms),
     "read-your-writes: how often the projector's offsets are read while requests wait"},
    {"query.consistency_max_waiting", CONFIG_INT, "10000", 1, 1000000,
     offsetof(struct query_config, consistency_max_waiting),
     "read-your-writes: requests waiting at once (503 overloaded past it)"},
    {"query.search_refresh_ms", CONFIG_INT, "1000", 10, 60000,
     offsetof(struct query_config, search_refresh_ms),
     "how often the search index (list, summary) reads the twins written since its last "
     "snapshot"},
    {"query.lookup_batch", CONFIG_STRING, "on", 0, 0, offsetof(struct query_config, lookup_batch),
     "on: concurrent GET /v1/devices/{id} are fetched together, one statement per batch "
     "(query.lookup_threads connections); off: one statement each on the pool"},
    {"query.lookup_threads", CONFIG_INT, "2", 1, 64, offsetof(struct query_config, lookup_threads),
     "lookup batcher threads, each with its own database connection"},
    {"query.lookup_batch_max", CONFIG_INT, "128", 1, 1000,
     offsetof(struct query_config, lookup_batch_max),
     "device ids in one lookup statement, at most"},
    {"query.projector_group", CONFIG_STRING, "tp-projector", 0, 0,
     offsetof(struct query_config, projector_group),
     "the projector's consumer group (its projector.group), for read-your-writes"},
    {"query.topic", CONFIG_STRING, "twinpipe.telemetry.v1", 0, 0,
     offsetof(struct query_config, topic),
     "the journal topic the projector reads (its journal.topic), for read-your-writes"},
    {"query.auth", CONFIG_STRING, "required", 0, 0, offsetof(struct query_config, auth),
     "required: the data endpoints need Authorization: Bearer <API key>; off: no "
     "authentication (development)"},
    {"query.api_keys", CONFIG_STRING, NULL, 0, 0, offsetof(struct query_config, api_keys),
     "comma-separated SHA-256 hex digests of the analysts' API keys"},
    {"query.api_keys_file", CONFIG_STRING, NULL, 0, 0, offsetof(struct query_config, api_keys_file),
     "file of SHA-256 hex digests of API keys, one a line ('#' comments)"},
    SERVICE_LOG_ENTRY(struct query_config, log_level),
};
#define QUERY_TABLE_N (sizeof(query_table) / sizeof(query_table[0]))

#define QUERY_CURSOR_SECRET_MIN 16

/*
 * A cursor signed with the built-in key can be forged by anyone who reads the source; with
 * authentication that would let a client mint cursors the service never gave out, so
 * query.auth=required needs a real secret. With query.auth=off the built-in key is allowed
 * (nothing is protected anyway) and said in the log.
 */
static enum tp_err query_cursor_secret_check(const char *secret, bool auth)
{
    if (secret && *secret && strlen(secret) < QUERY_CURSOR_SECRET_MIN) {
        log_error("query.cursor_secret (TP_QUERY_CURSOR_SECRET) is too short: it needs at least "
                  "%d characters",
                  QUERY_CURSOR_SECRET_MIN);
        return TP_CONFIG;
    }
    if (secret && *secret)
        return TP_OK;
    if (auth) {
        log_error("query.auth=required needs query.cursor_secret (TP_QUERY_CURSOR_SECRET): the "
                  "HMAC key of page cursors, at least %d characters, the same on every replica; "
                  "set query.auth=off to run with the built-in key",
                  QUERY_CURSOR_SECRET_MIN);
        return TP_CONFIG;
    }
    log_warn("query.cursor_secret is not set: page cursors are signed with the built-in key, "
             "which anyone can forge (allowed only with query.auth=off)");
    return TP_OK;
}

int main(int argc, char **argv)
{
    struct query_config cfg = {0};
    struct http_server *srv = NULL;
    struct query_api api = {0};
    static struct apikeys keys;
    char errstr[1024];
    int rc = 1;
    if (service_start("tp-query", query_table, QUERY_TABLE_N, &cfg, NULL, argc, argv, &rc))
        goto out;
    rc = 1;
    bool auth = strcmp(cfg.auth, "off") != 0;
    if (auth && strcmp(cfg.auth, "required") != 0) {
        log_error("invalid query.auth \"%s\": use required or off", cfg.auth);
        goto out;
    }
    if (auth &&
        ((cfg.api_keys && apikeys_add_list(&keys, cfg.api_keys, errstr, sizeof(errstr)) != TP_OK) ||
         (cfg.api_keys_file &&
          apikeys_add_file(&keys, cfg.api_keys_file, errstr, sizeof(errstr)) != TP_OK))) {
        log_error("%s", errstr);
        goto out;
    }
    if (auth && keys.n == 0) {
        log_error("query.auth=required needs query.api_keys (TP_QUERY_API_KEYS) or "
                  "query.api_keys_file: the SHA-256 hex of each analyst key; set query.auth=off "
                  "to run without authentication");
        goto out;
    }
    if (query_cursor_secret_check(cfg.cursor_secret, auth) != TP_OK)
        goto out;
    if (auth)
        log_info("%zu API keys", keys.n);
    else
        log_warn("query.auth=off: answering every request without authentication");
    api.keys = auth ? &keys : NULL;
    api.pool = pool_new(cfg.pg_dsn, (size_t)cfg.pool_size, (int)cfg.statement_timeout_ms,
                        query_api_prepare);
    api.settings.online_window_s = (long)cfg.online_window_s;
    api.settings.cursor_secret = cfg.cursor_secret;
    api.settings.consistency_wait_ms = (long)cfg.consistency_wait_ms;
    struct waiter_settings ws = {cfg.pg_dsn, cfg.projector_group, cfg.topic,
                                 (int)cfg.consistency_poll_ms, (size_t)cfg.consistency_max_waiting};
    if (waiter_new(&ws, &api.waiter, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    struct search_settings ss = {cfg.pg_dsn,
                                 cfg.projector_group,
                                 cfg.topic,
                                 (int)cfg.search_refresh_ms,
                                 (int)cfg.consistency_poll_ms,
                                 (size_t)cfg.consistency_max_waiting,
                                 (int)cfg.statement_timeout_ms};
    api.search = search_new(&ss);
    if (!strcmp(cfg.lookup_batch, "on")) {
        struct lookup_settings ls = {
            cfg.pg_dsn, (int)cfg.lookup_threads, (size_t)cfg.lookup_batch_max,
            (size_t)cfg.consistency_max_waiting, (int)cfg.statement_timeout_ms};
        api.lookup = lookup_new(&ls);
    } else if (strcmp(cfg.lookup_batch, "off") != 0) {
        log_error("invalid query.lookup_batch \"%s\": use on or off", cfg.lookup_batch);
        goto out;
    }
    size_t n_routes;
    const struct http_route *routes = query_api_routes(&api, &n_routes);
    struct http_options opts = http_settings_options(&cfg.http);
    if (http_server_new(routes, n_routes, &opts, &srv, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    api.srv = srv;
    log_info("listening on \"%s\" (port %u)", cfg.http.listen, http_server_port(srv));
    int sig = service_wait_signal(-1);
    log_info("signal %d: shutting down", sig);
    http_server_quiesce(srv);
    /* no request may stay suspended when the server stops */
    lookup_stop(api.lookup);
    search_stop(api.search);
    waiter_stop(api.waiter, 5000);
    rc = 0;
out:
    http_server_free(srv);
    lookup_free(api.lookup);
    search_free(api.search);
    waiter_free(api.waiter);
    pool_free(api.pool);
    config_release(query_table, QUERY_TABLE_N, &cfg, NULL);
    return rc;
}
