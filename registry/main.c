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
    struct http_settings http;
    char *pg_dsn;
    long long pool_size;
    long long statement_timeout_ms;
    char *protoc;
    char *tmp_dir;
    long long compile_timeout_ms;
    long long max_schema_bytes;
    char *auth;
    char *credentials;
    char *credentials_file;
    char *log_level;
};

static const struct config_entry registry_table[] = {
    HTTP_CONFIG_ENTRIES(struct registry_config, http, "127.0.0.1:18084"),
    SERVICE_PG_DSN_ENTRY(struct registry_config, pg_dsn),
    {"pg.pool_size", CONFIG_INT, "4", 1, 1000, offsetof(struct registry_config, pool_size),
     "database connections"},
    {"pg.statement_timeout_ms", CONFIG_INT, "5000", 1, 600000,
     offsetof(struct registry_config, statement_timeout_ms), "statement_timeout of every query"},
    {"registry.protoc", CONFIG_STRING, "protoc", 0, 0, offsetof(struct registry_config, protoc),
     "protobuf compiler that parses schemas (path or name on PATH)"},
    {"registry.tmp_dir", CONFIG_STRING, "/tmp", 0, 0, offsetof(struct registry_config, tmp_dir),
     "where each compilation gets its private folder"},
    {"registry.compile_timeout_ms", CONFIG_INT, "10000", 100, 600000,
     offsetof(struct registry_config, compile_timeout_ms),
     "protoc is killed past this and the request answered 500"},
    {"registry.max_schema_bytes", CONFIG_INT, "1048576", 1024, 67108864,
     offsetof(struct registry_config, max_schema_bytes),
     "largest request body (schema JSON), bytes (413 above)"},
    {"registry.auth", CONFIG_STRING, "required", 0, 0, offsetof(struct registry_config, auth),
     "required: the API needs HTTP Basic credentials (registry.credentials); off: no "
     "authentication (development)"},
    {"registry.credentials", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct registry_config, credentials),
     "comma-separated user:<SHA-256 hex of the password>:role entries, role read (services) or "
     "write (operators)"},
    {"registry.credentials_file", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct registry_config, credentials_file),
     "file of user:<SHA-256 hex of the password>:role entries, one a line ('#' comments)"},
    SERVICE_LOG_ENTRY(struct registry_config, log_level),
};
#define REGISTRY_TABLE_N (sizeof(registry_table) / sizeof(registry_table[0]))

int main(int argc, char **argv)
{
    struct registry_config cfg = {0};
    struct http_server *srv = NULL;
    struct registry_api api = {0};
    static struct creds creds;
    char errstr[1024];
    int rc = 1;
    if (service_start("tp-registry", registry_table, REGISTRY_TABLE_N, &cfg, NULL, argc, argv, &rc))
        goto out;
    rc = 1;
    bool auth = strcmp(cfg.auth, "off") != 0;
    if (auth && strcmp(cfg.auth, "required") != 0) {
        log_error("invalid registry.auth \"%s\": use required or off", cfg.auth);
        goto out;
    }
    if (auth && ((cfg.credentials &&
                  creds_add_list(&creds, cfg.credentials, errstr, sizeof(errstr)) != TP_OK) ||
                 (cfg.credentials_file &&
                  creds_add_file(&creds, cfg.credentials_file, errstr, sizeof(errstr)) != TP_OK))) {
        log_error("%s", errstr);
        goto out;
    }
    if (auth && creds.n == 0) {
        log_error("registry.auth=required needs registry.credentials (TP_REGISTRY_CREDENTIALS) or "
                  "registry.credentials_file: user:<SHA-256 hex of the password>:read|write "
                  "entries; set registry.auth=off to run without authentication");
        goto out;
    }
    if (auth) {
        size_t writers = 0;
        for (size_t i = 0; i < creds.n; i++)
            writers += creds.role[i] == CREDS_WRITE;
        log_info("%zu credentials (%zu with the write role)", creds.n, writers);
    } else {
        log_warn("registry.auth=off: answering every request without authentication (anyone "
                 "may register, delete and set compatibility)");
    }
    struct compile_options co = {cfg.protoc, cfg.tmp_dir, (int)cfg.compile_timeout_ms};
    registry_api_init(&api, cfg.pg_dsn, (size_t)cfg.pool_size, (int)cfg.statement_timeout_ms, &co);
    api.creds = auth ? &creds : NULL;
    /* without the database now, the old rows stay without a canonical form until a restart:
     * only the same schema in its other form would get a new id */
    if (registry_api_backfill(&api, errstr, sizeof(errstr)) != TP_OK)
        log_warn("could not complete the schemas stored before migration 0010: %s", errstr);
    size_t max_body = (size_t)cfg.max_schema_bytes;
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
    struct http_options opts = http_settings_options(&cfg.http);
    opts.unrouted = registry_api_unrouted; /* 404 and 405 in Confluent's error shape */
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
        opts.prechecks = prechecks;
        opts.n_prechecks = sizeof(prechecks) / sizeof(prechecks[0]);
    }
    if (http_server_new(routes, sizeof(routes) / sizeof(routes[0]), &opts, &srv, errstr,
                        sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    api.srv = srv;
    log_info("listening on \"%s\" (port %u), compiling with \"%s\"", cfg.http.listen,
             http_server_port(srv), cfg.protoc);
    int sig = service_wait_signal(-1);
    log_info("signal %d: shutting down", sig);
    rc = 0;
out:
    http_server_free(srv);
    registry_api_release(&api);
    config_release(registry_table, REGISTRY_TABLE_N, &cfg, NULL);
    return rc;
}
