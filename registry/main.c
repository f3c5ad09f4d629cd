/* tp-registry: a Confluent Schema Registry subset for PROTOBUF schemas, stored in PostgreSQL,
 * behind HTTP Basic credentials with read and write roles (creds.h). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "common/http_config.h"
#include "common/log.h"
#include "common/service.h"

struct registry_config {
    struct http_options http;
    char *pg_dsn;
    size_t pool_size;
    int statement_timeout_ms;
    struct compile_options compile;
    size_t max_schema_bytes;
    bool auth;
    char *credentials;
    char *credentials_file;
    struct creds creds; /* loaded by registry_check */
    enum log_level log_level;
    enum log_format log_format;
};

static const char *const registry_auth_modes[] = {"required", "off", NULL};
static const int registry_auth_on[] = {1, 0};

#define R struct registry_config
static const struct config_entry registry_rows[] = {
    HTTP_CONFIG_ENTRIES(R, http, "127.0.0.1:18084"),
    SERVICE_PG_DSN_ENTRY(R, pg_dsn),
    CONFIG_ROW_INT("pg.pool_size", R, pool_size, "4", 1, 1000, "database connections"),
    CONFIG_ROW_MS("pg.statement_timeout_ms", R, statement_timeout_ms, "5000", 1, 600000,
                  "statement_timeout of every query"),
    CONFIG_ROW_STR("registry.protoc", R, compile.protoc, "protoc",
                   "protobuf compiler that parses schemas (path or name on PATH)"),
    CONFIG_ROW_STR("registry.tmp_dir", R, compile.tmp_dir, "/tmp",
                   "where each compilation gets its private folder"),
    CONFIG_ROW_MS("registry.compile_timeout_ms", R, compile.timeout_ms, "10000", 100, 600000,
                  "protoc is killed past this and the request answered 500"),
    CONFIG_ROW_SIZE("registry.max_schema_bytes", R, max_schema_bytes, "1048576", 1024, 67108864,
                    "largest request body (schema JSON), bytes (413 above)"),
    CONFIG_ROW_ENUM("registry.auth", R, auth, "required", registry_auth_modes,
                    "required: the API needs HTTP Basic credentials (registry.credentials); off: "
                    "no authentication (development; logged as a warning at start)",
                    .ints = registry_auth_on),
    CONFIG_ROW_STR("registry.credentials", R, credentials, NULL,
                   "comma-separated user:<SHA-256 hex of the password>:role entries, role read "
                   "(services) or write (operators)"),
    CONFIG_ROW_STR("registry.credentials_file", R, credentials_file, NULL,
                   "file of user:<SHA-256 hex of the password>:role entries, one a line ('#' "
                   "comments)"),
    SERVICE_LOG_ENTRY(R, log_level),
    SERVICE_LOG_FORMAT_ENTRY(R, log_format),
};
#undef R

/* registry.auth=required needs credentials (loaded here); says which mode runs. */
static enum tp_err registry_check(void *arg, char *errstr, size_t errstr_size)
{
    struct registry_config *c = arg;
    enum tp_err err = TP_OK;
    if (!c->auth) {
        log_warn("registry.auth=off: answering every request without authentication (anyone "
                 "may register, delete and set compatibility)");
        return TP_OK;
    }
    if (c->credentials)
        err = creds_add_list(&c->creds, c->credentials, errstr, errstr_size);
    if (err == TP_OK && c->credentials_file)
        err = creds_add_file(&c->creds, c->credentials_file, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (c->creds.n == 0)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "registry.auth=required needs registry.credentials "
                          "(TP_REGISTRY_CREDENTIALS) or registry.credentials_file: user:<SHA-256 "
                          "hex of the password>:read|write entries; set registry.auth=off to run "
                          "without authentication");
    size_t writers = 0;
    for (size_t i = 0; i < c->creds.n; i++)
        writers += c->creds.role[i] == CREDS_WRITE;
    log_info("%zu credentials (%zu with the write role)", c->creds.n, writers);
    return TP_OK;
}

static const struct config_table registry_table =
    CONFIG_TABLE("tp-registry", registry_rows, registry_check);

static void registry_started(void *arg, struct http_server *srv)
{
    struct registry_api *api = arg;
    api->srv = srv;
}

int main(int argc, char **argv)
{
    static struct registry_config cfg; /* the credentials are large */
    struct registry_api api = {0};
    char errstr[1024], listening[1100];
    int rc = 1;
    if (service_start(&registry_table, &cfg, NULL, argc, argv, &rc))
        goto out;
    registry_api_init(&api, cfg.pg_dsn, cfg.pool_size, cfg.statement_timeout_ms, &cfg.compile);
    api.creds = cfg.auth ? &cfg.creds : NULL;
    /* without the database now, the old rows stay without a canonical form until a restart:
     * only the same schema in its other form would get a new id */
    if (registry_api_backfill(&api, errstr, sizeof(errstr)) != TP_OK)
        log_warn("could not complete the schemas stored before migration 0010: %s", errstr);
    size_t max_body = cfg.max_schema_bytes;
    const struct http_route routes[] = {
        {"GET", "/subjects", 0, registry_api_handle_subjects, &api},
        {"GET", "/subjects/**/versions", 0, registry_api_handle_subject_get, &api},
        {"GET", "/subjects/**/versions/*", 0, registry_api_handle_subject_get, &api},
        {"POST", "/subjects/**", max_body, registry_api_handle_subject_post, &api},
        {"POST", "/subjects/**/versions", max_body, registry_api_handle_subject_post, &api},
        {"GET", "/subjects/**/versions/*/schema", 0, registry_api_handle_version_more, &api},
        {"GET", "/subjects/**/versions/*/referencedby", 0, registry_api_handle_version_more, &api},
        {"DELETE", "/subjects/**", 0, registry_api_handle_subject_delete, &api},
        {"DELETE", "/subjects/**/versions/*", 0, registry_api_handle_subject_delete, &api},
        {"GET", "/schemas/types", 0, registry_api_handle_schema_types, &api},
        {"GET", "/schemas/ids/*", 0, registry_api_handle_schema_get, &api},
        {"GET", "/schemas/ids/*/schema", 0, registry_api_handle_schema_get, &api},
        {"GET", "/schemas/ids/*/versions", 0, registry_api_handle_schema_get, &api},
        {"GET", "/schemas/ids/*/subjects", 0, registry_api_handle_schema_get, &api},
        {"GET", "/schemas/ids/*/descriptor", 0, registry_api_handle_schema_get, &api},
        {"POST", "/compatibility/subjects/**/versions", max_body, registry_api_handle_compatibility,
         &api},
        {"POST", "/compatibility/subjects/**/versions/*", max_body,
         registry_api_handle_compatibility, &api},
        {"GET", "/config", 0, registry_api_handle_config_get, &api},
        {"PUT", "/config", 4096, registry_api_handle_config_put, &api},
        {"GET", "/config/**", 0, registry_api_handle_config_get, &api},
        {"PUT", "/config/**", 4096, registry_api_handle_config_put, &api},
        {"DELETE", "/config", 0, registry_api_handle_config_delete, &api},
        {"DELETE", "/config/**", 0, registry_api_handle_config_delete, &api},
        {"GET", "/mode", 0, registry_api_handle_mode, &api},
        {"PUT", "/mode", 4096, registry_api_handle_mode, &api},
        {"DELETE", "/mode", 0, registry_api_handle_mode, &api},
        {"GET", "/mode/**", 0, registry_api_handle_mode, &api},
        {"PUT", "/mode/**", 4096, registry_api_handle_mode, &api},
        {"DELETE", "/mode/**", 0, registry_api_handle_mode, &api},
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/readyz", 0, registry_api_handle_ready, &api},
        {"GET", "/metrics", 0, registry_api_handle_metrics, &api},
    };
    cfg.http.unrouted = registry_api_unrouted; /* 404 and 405 in Confluent's error shape */
    /* credentials checked once the headers are in: an anonymous upload is never buffered */
    const struct http_precheck prechecks[] = {
        {"POST", "/subjects/**", registry_api_precheck, &api},
        {"POST", "/subjects/**/versions", registry_api_precheck, &api},
        {"POST", "/compatibility/subjects/**/versions", registry_api_precheck, &api},
        {"POST", "/compatibility/subjects/**/versions/*", registry_api_precheck, &api},
        {"PUT", "/config", registry_api_precheck, &api},
        {"PUT", "/config/**", registry_api_precheck, &api},
        {"PUT", "/mode", registry_api_precheck, &api},
        {"PUT", "/mode/**", registry_api_precheck, &api},
    };
    if (api.creds) {
        cfg.http.prechecks = prechecks;
        cfg.http.n_prechecks = sizeof(prechecks) / sizeof(prechecks[0]);
    }
    snprintf(listening, sizeof(listening), ", compiling with \"%s\"", cfg.compile.protoc);
    const struct service_loop loop = {.routes = routes,
                                      .n_routes = sizeof(routes) / sizeof(routes[0]),
                                      .http = &cfg.http,
                                      .started = registry_started,
                                      .stopping = "shutting down",
                                      .listening = listening,
                                      .arg = &api};
    rc = service_run(&loop);
out:
    registry_api_release(&api);
    config_release(registry_rows, registry_table.n, &cfg, NULL);
    return rc;
}
