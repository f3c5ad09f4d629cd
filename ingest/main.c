/* tp-ingest: devices POST telemetry; every accepted reading is journaled. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "token/auth.h"
#include "common/mem.h"

#include "common/http_config.h"
#include "common/log.h"
#include "common/service.h"
#include "ingest.h"
#include "schema/telemetry.h"

extern char **environ;

struct ingest_config {
    struct http_settings http;
    struct journal_settings journal;
    long long max_body;
    long long max_readings;
    long long max_reading_bytes;
    long long max_past_s;
    long long max_future_s;
    long long max_string;
    long long max_metrics;
    long long max_outstanding;
    char *dlq_topic;
    char *auth_mode;
    char *auth_secret;
    struct telemetry_registry_settings registry;
    char *log_level;
    struct config_extra kafka;
};

static const struct config_entry ingest_table[] = {
    HTTP_CONFIG_ENTRIES(struct ingest_config, http, "127.0.0.1:18080"),
    JOURNAL_CONFIG_ENTRIES(struct ingest_config, journal),
    {"ingest.max_body", CONFIG_INT, "4194304", 1024, 268435456,
     offsetof(struct ingest_config, max_body), "largest request body, bytes (413 above)"},
    {"ingest.max_readings", CONFIG_INT, "10000", 1, 1000000,
     offsetof(struct ingest_config, max_readings),
     "most readings in one request, counted before unpacking (413 too_many_readings above)"},
    {"ingest.max_reading_bytes", CONFIG_INT, "262144", 64, 16777216,
     offsetof(struct ingest_config, max_reading_bytes),
     "largest single reading on the wire, bytes, unknown fields included (413 reading_too_large "
     "above)"},
    {"ingest.max_past_s", CONFIG_INT, "604800", 0, 315360000,
     offsetof(struct ingest_config, max_past_s), "oldest accepted timestamp, seconds before now"},
    {"ingest.max_future_s", CONFIG_INT, "300", 0, 86400,
     offsetof(struct ingest_config, max_future_s), "newest accepted timestamp, seconds after now"},
    {"ingest.max_string", CONFIG_INT, "256", 1, 65536, offsetof(struct ingest_config, max_string),
     "longest attribute string, bytes"},
    {"ingest.max_metrics", CONFIG_INT, "256", 0, 65536, offsetof(struct ingest_config, max_metrics),
     "most extra metrics in one reading"},
    {"ingest.max_outstanding", CONFIG_INT, "50000", 1, 10000000,
     offsetof(struct ingest_config, max_outstanding),
     "events in flight to kafka before new requests get 503 overloaded"},
    {"ingest.dlq_topic", CONFIG_STRING, NULL, 0, 0, offsetof(struct ingest_config, dlq_topic),
     "dead-letter topic for events kafka refuses for good (default: <journal.topic>.dlq)"},
    {"auth.mode", CONFIG_STRING, "required", 0, 0, offsetof(struct ingest_config, auth_mode),
     "required: every request needs a bearer token; off: no authentication (development)"},
    {"auth.secret", CONFIG_STRING, NULL, 0, 0, offsetof(struct ingest_config, auth_secret),
     "fleet secret of the HMAC-SHA256 bearer tokens (never logged)"},
    TELEMETRY_REGISTRY_CONFIG_ENTRIES(struct ingest_config, registry),
    SERVICE_LOG_ENTRY(struct ingest_config, log_level),
};
#define INGEST_TABLE_N (sizeof(ingest_table) / sizeof(ingest_table[0]))

/* `tp-ingest token ...`: mints a bearer token for operators. */
struct token_config {
    char *auth_secret;
    char *device;
    char *prefix;
    long long ttl_s;
};

static const struct config_entry token_table[] = {
    {"auth.secret", CONFIG_STRING, NULL, 0, 0, offsetof(struct token_config, auth_secret),
     "fleet secret (TP_AUTH_SECRET)"},
    {"device", CONFIG_STRING, NULL, 0, 0, offsetof(struct token_config, device),
     "device token: exactly this device_id"},
    {"prefix", CONFIG_STRING, NULL, 0, 0, offsetof(struct token_config, prefix),
     "gateway token: every device_id with this prefix (\"\" = whole fleet)"},
    /* "7776000" is AUTH_TTL_DEFAULT_S (90 days), 315360000 AUTH_TTL_MAX_S (10 years) */
    {"ttl_s", CONFIG_INT, "7776000", 1, 315360000, offsetof(struct token_config, ttl_s),
     "lifetime in seconds, 90 days unless given, at most 10 years: every token expires"},
};
#define TOKEN_TABLE_N (sizeof(token_table) / sizeof(token_table[0]))
_Static_assert(AUTH_TTL_DEFAULT_S == 7776000 && AUTH_TTL_MAX_S == 315360000, "token_table ttl_s");

static int ingest_token_main(int argc, char **argv)
{
    struct token_config cfg = {0};
    char errstr[512], token[AUTH_TOKEN_MAX + 1];
    bool help;
    int rc = 2;
    if (config_load(token_table, TOKEN_TABLE_N, &cfg, NULL, argc, argv, environ, &help, errstr,
                    sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "tp-ingest token: %s\n", errstr);
        goto out;
    }
    if (help) {
        config_print_help(stdout, "tp-ingest token", token_table, TOKEN_TABLE_N, NULL);
        rc = 0;
        goto out;
    }
    if (!cfg.device == !cfg.prefix) {
        fprintf(stderr, "tp-ingest token: give exactly one of --device or --prefix\n");
        goto out;
    }
    struct auth_claims c = {.kind = cfg.device ? AUTH_DEVICE : AUTH_PREFIX,
                            .expiry_s = tp_now_ms() / 1000 + cfg.ttl_s};
    snprintf(c.scope, sizeof(c.scope), "%s", cfg.device ? cfg.device : cfg.prefix);
    if (auth_mint(cfg.auth_secret, &c, token, sizeof(token), errstr, sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "tp-ingest token: %s\n", errstr);
        goto out;
    }
    printf("%s\n", token);
    rc = 0;
out:
    config_release(token_table, TOKEN_TABLE_N, &cfg, NULL);
    return rc;
}

/*
 * With registry.url: the registry client for subject "<journal.topic>-value" (Confluent's
 * TopicNameStrategy), and the built-in schema's id there, whose id then frames plain bodies'
 * events instead of journal.schema_id. The schema is looked up first (a read credential
 * suffices) and registered only when it is missing (that needs the write role: with a read
 * credential, start-up fails saying to run `tp-ingest register-schema` as an operator).
 * Retries for 30 s while the registry is unreachable; a refusal (credentials, incompatible,
 * invalid) is final.
 */
static enum tp_err ingest_registry_start(const struct telemetry_registry_settings *rs,
                                         const char *topic, bool must_register,
                                         struct schemas **out, int32_t *id, char *errstr,
                                         size_t errstr_size)
{
    enum tp_err err = telemetry_schemas_new(rs, topic, out, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    bool registered = false;
    int64_t deadline = tp_mono_ms() + 30000;
    for (;;) {
        err = must_register ? schemas_register(*out, schemas_builtin_proto, id, errstr, errstr_size)
                            : schemas_ensure(*out, schemas_builtin_proto, id, &registered, errstr,
                                             errstr_size);
        if (err == TP_OK || !tp_err_retriable(err) || tp_mono_ms() >= deadline)
            break;
        log_warn("%s; retrying", errstr);
        if (service_wait_signal(1000))
            return tp_err_set(TP_CONFIG, errstr, errstr_size, "stopped by a signal at start-up");
    }
    if (err == TP_OK && registered)
        log_info("registered the built-in telemetry schema under subject \"%s\": id %d",
                 schemas_subject(*out), *id);
    return err;
}

/* `tp-ingest register-schema`: an operator registers the built-in schema (write role). */
struct register_config {
    char *topic;
    struct telemetry_registry_settings registry;
};

static const struct config_entry register_table[] = {
    {"journal.topic", CONFIG_STRING, "twinpipe.telemetry.v1", 0, 0,
     offsetof(struct register_config, topic), "journal topic (subject <journal.topic>-value)"},
    TELEMETRY_REGISTRY_CONFIG_ENTRIES(struct register_config, registry),
};
#define REGISTER_TABLE_N (sizeof(register_table) / sizeof(register_table[0]))

static int ingest_register_main(int argc, char **argv)
{
    struct register_config cfg = {0};
    struct schemas *s = NULL;
    char errstr[1024];
    bool help;
    int rc = 2;
    int32_t id = 0;
    if (config_load(register_table, REGISTER_TABLE_N, &cfg, NULL, argc, argv, environ, &help,
                    errstr, sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "tp-ingest register-schema: %s\n", errstr);
        goto out;
    }
    if (help) {
        config_print_help(stdout, "tp-ingest register-schema", register_table, REGISTER_TABLE_N,
                          NULL);
        rc = 0;
        goto out;
    }
    if (!cfg.registry.url || !*cfg.registry.url) {
        fprintf(stderr, "tp-ingest register-schema: set registry.url (TP_REGISTRY_URL)\n");
        goto out;
    }
    rc = 1;
    if (ingest_registry_start(&cfg.registry, cfg.topic, true, &s, &id, errstr, sizeof(errstr)) !=
        TP_OK) {
        fprintf(stderr, "tp-ingest register-schema: %s\n", errstr);
        goto out;
    }
    printf("%d\n", id);
    rc = 0;
out:
    schemas_free(s);
    config_release(register_table, REGISTER_TABLE_N, &cfg, NULL);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "token"))
        return ingest_token_main(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "register-schema"))
        return ingest_register_main(argc - 1, argv + 1);
    struct ingest_config cfg = {.kafka = {.prefix = "kafka."}};
    struct ingest *ing = NULL;
    struct http_server *srv = NULL;
    struct schemas *schemas = NULL;
    char errstr[1024];
    int rc = 1;
    if (service_start("tp-ingest", ingest_table, INGEST_TABLE_N, &cfg, &cfg.kafka, argc, argv, &rc))
        goto out;
    rc = 1;

    struct journal_config jc;
    journal_config_init(&jc, &cfg.journal, &cfg.kafka);
    char dlq[256];
    journal_dlq_topic_name(&jc, cfg.dlq_topic, dlq, sizeof(dlq));
    jc.dlq_topic = dlq;
    if (journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)) != TP_OK ||
        journal_dlq_topic_ensure(&jc, dlq, 15000, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    bool auth = strcmp(cfg.auth_mode, "off") != 0;
    if (auth && strcmp(cfg.auth_mode, "required") != 0) {
        log_error("invalid auth.mode \"%s\": use required or off", cfg.auth_mode);
        goto out;
    }
    if (auth && (!cfg.auth_secret || strlen(cfg.auth_secret) < 16)) {
        log_error("auth.mode=required needs auth.secret (TP_AUTH_SECRET) of at least 16 "
                  "characters; set auth.mode=off to run without authentication");
        goto out;
    }
    if (!auth)
        log_warn("auth.mode=off: accepting telemetry without authentication");
    if (cfg.max_outstanding < cfg.max_readings) {
        log_error("ingest.max_outstanding (%lld) must be at least ingest.max_readings (%lld), "
                  "or the largest requests could never be accepted",
                  cfg.max_outstanding, cfg.max_readings);
        goto out;
    }
    if (cfg.registry.url && *cfg.registry.url) {
        int32_t id = 0;
        if (ingest_registry_start(&cfg.registry, jc.topic, false, &schemas, &id, errstr,
                                  sizeof(errstr)) != TP_OK) {
            log_error("%s", errstr);
            goto out;
        }
        if (id != jc.schema_id)
            log_info("the built-in telemetry schema is id %d under subject \"%s\" "
                     "(journal.schema_id %d is not used)",
                     id, schemas_subject(schemas), jc.schema_id);
        jc.schema_id = id;
        log_info("schema registry at \"%s\": subject \"%s\", built-in schema id %d",
                 schemas_url(schemas), schemas_subject(schemas), id);
    }
    struct ingest_limits limits = {
        .reading = {.max_past_ms = cfg.max_past_s * 1000,
                    .max_future_ms = cfg.max_future_s * 1000,
                    .max_string = (size_t)cfg.max_string,
                    .max_metrics = (size_t)cfg.max_metrics},
        .max_readings = (size_t)cfg.max_readings,
        .max_reading_bytes = (size_t)cfg.max_reading_bytes,
        .auth_secret = auth ? cfg.auth_secret : NULL,
        .max_outstanding = (size_t)cfg.max_outstanding,
        .schemas = schemas,
    };
    if (ingest_new(&jc, &limits, &ing, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    const struct http_route routes[] = {
        {"POST", "/v1/telemetry", (size_t)cfg.max_body, ingest_handle_telemetry, ing},
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/readyz", 0, ingest_handle_ready, ing},
        {"GET", "/metrics", 0, ingest_handle_metrics, ing},
    };
    /* the token and the content type are checked before any of the body is read */
    const struct http_precheck prechecks[] = {
        {"POST", "/v1/telemetry", ingest_precheck_telemetry, ing},
    };
    struct http_options opts = http_settings_options(&cfg.http);
    opts.prechecks = prechecks;
    opts.n_prechecks = sizeof(prechecks) / sizeof(prechecks[0]);
    if (http_server_new(routes, sizeof(routes) / sizeof(routes[0]), &opts, &srv, errstr,
                        sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    ingest_attach_server(ing, srv);
    ingest_probe_ready(ing, 5000);
    log_info("listening on \"%s\" (port %u), journal topic \"%s\" at \"%s\"", cfg.http.listen,
             http_server_port(srv), jc.topic, jc.bootstrap_servers);
    int sig;
    while (!(sig = service_wait_signal(1000)))
        ingest_probe_ready(ing, 1000);
    log_info("signal %d: draining requests in flight", sig);
    ingest_begin_drain(ing);
    http_server_quiesce(srv);
    ingest_drain(ing, 30000); /* returns only when no request is suspended */
    rc = 0;
out:
    http_server_free(srv);
    ingest_free(ing);
    schemas_free(schemas);
    config_release(ingest_table, INGEST_TABLE_N, &cfg, &cfg.kafka);
    return rc;
}
