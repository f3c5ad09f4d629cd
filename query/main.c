/* tp-query: the read API over the twins in PostgreSQL. */
#include <stddef.h>
#include <stdio.h>

#include "common/http_config.h"
#include "common/log.h"
#include "common/service.h"
#include "devices.h"
#include "common/pool.h"

struct query_config {
    struct http_settings http;
    char *pg_dsn;
    long long pool_size;
    long long statement_timeout_ms;
    char *log_level;
};

static const struct config_entry query_table[] = {
    HTTP_CONFIG_ENTRIES(struct query_config, http, "127.0.0.1:18081"),
    SERVICE_PG_DSN_ENTRY(struct query_config, pg_dsn),
    {"pg.pool_size", CONFIG_INT, "4", 1, 1000, offsetof(struct query_config, pool_size),
     "database connections"},
    {"pg.statement_timeout_ms", CONFIG_INT, "5000", 1, 600000,
     offsetof(struct query_config, statement_timeout_ms), "statement_timeout of every query"},
    SERVICE_LOG_ENTRY(struct query_config, log_level),
};
#define QUERY_TABLE_N (sizeof(query_table) / sizeof(query_table[0]))

int main(int argc, char **argv)
{
    struct query_config cfg = {0};
    struct http_server *srv = NULL;
    struct devices_ctx ctx = {0};
    char errstr[1024];
    int rc = 1;
    if (service_start("tp-query", query_table, QUERY_TABLE_N, &cfg, NULL, argc, argv, &rc))
        goto out;
    rc = 1;
    ctx.pool =
        pool_new(cfg.pg_dsn, (size_t)cfg.pool_size, (int)cfg.statement_timeout_ms, devices_prepare);
    const struct http_route routes[] = {
        {"GET", "/v1/devices/*", 0, devices_handle_get, &ctx},
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/readyz", 0, devices_handle_ready, &ctx},
        {"GET", "/metrics", 0, devices_handle_metrics, &ctx},
    };
    struct http_options opts = http_settings_options(&cfg.http);
    if (http_server_new(routes, sizeof(routes) / sizeof(routes[0]), &opts, &srv, errstr,
                        sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    ctx.srv = srv;
    log_info("listening on \"%s\" (port %u)", cfg.http.listen, http_server_port(srv));
    int sig = service_wait_signal(-1);
    log_info("signal %d: shutting down", sig);
    rc = 0;
out:
    http_server_free(srv);
    pool_free(ctx.pool);
    config_release(query_table, QUERY_TABLE_N, &cfg, NULL);
    return rc;
}
