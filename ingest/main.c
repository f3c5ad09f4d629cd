/* tp-ingest: devices POST telemetry; every accepted reading is journaled. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token/auth.h"
#include "common/mem.h"

#include "common/http_config.h"
#include "common/log.h"
#include "common/service.h"
#include "ingest.h"
#include "mqtt_server.h"
#include "policyfeed/feed.h"
#include "schema/telemetry.h"

extern char **environ;

struct ingest_config {
    struct http_options http;
    struct journal_settings journal;
    size_t max_body;
    struct ingest_limits limits;
    char *dlq_topic;
    bool auth;
    struct telemetry_registry_settings registry;
    enum log_level log_level;
    enum log_format log_format;
    struct config_extra kafka;
    struct mqtt_server_config mqtt;
    char *policy_topics; /* comma-separated; "": no policies */
    size_t policy_max_active;
    int64_t default_report_every_ms;
    char *site_region;
};

static const char *const ingest_auth_modes[] = {"required", "off", NULL};
static const int ingest_auth_on[] = {1, 0};

#define I struct ingest_config
static const struct config_entry ingest_rows[] = {
    HTTP_CONFIG_ENTRIES(I, http, "127.0.0.1:18080"),
    JOURNAL_CONFIG_ENTRIES(I, journal),
    CONFIG_ROW_SIZE("ingest.max_body", I, max_body, "4194304", 1024, 268435456,
                    "largest request body, bytes (413 above)"),
    CONFIG_ROW_INT("ingest.max_readings", I, limits.max_readings, "10000", 1, 1000000,
                   "most readings in one request, counted before unpacking (413 "
                   "too_many_readings above)"),
    CONFIG_ROW_SIZE("ingest.max_reading_bytes", I, limits.max_reading_bytes, "262144", 64, 16777216,
                    "largest single reading on the wire, bytes, unknown fields included (413 "
                    "reading_too_large above); keep it under the topic's max.message.bytes"),
    CONFIG_ROW_S("ingest.max_past_s", I, limits.reading.max_past_ms, "604800", 0, 315360000,
                 "oldest accepted timestamp, seconds before now", .scale = 1000),
    CONFIG_ROW_S("ingest.max_future_s", I, limits.reading.max_future_ms, "300", 0, 86400,
                 "newest accepted timestamp, seconds after now", .scale = 1000),
    CONFIG_ROW_INT("ingest.max_string", I, limits.reading.max_string, "256", 1, 65536,
                   "longest attribute string, bytes"),
    CONFIG_ROW_INT("ingest.max_metrics", I, limits.reading.max_metrics, "256", 0, 65536,
                   "most extra metrics in one reading"),
    CONFIG_ROW_INT("ingest.max_outstanding", I, limits.max_outstanding, "50000", 1, 10000000,
                   "events in flight to kafka before new requests get 503 overloaded"),
    CONFIG_ROW_STR("ingest.dlq_topic", I, dlq_topic, NULL,
                   "dead-letter topic for events kafka refuses for good, created at start-up "
                   "(default: <journal.topic>.dlq)"),
    CONFIG_ROW_ENUM("auth.mode", I, auth, "required", ingest_auth_modes,
                    "required: every request needs a bearer token; off: no authentication "
                    "(development)",
                    .ints = ingest_auth_on),
    CONFIG_ROW_STR("auth.secret", I, limits.auth_secret, NULL,
                   "fleet secret of the HMAC-SHA256 bearer tokens, at least 16 characters; "
                   "required with auth.mode=required (never logged)"),
    TELEMETRY_REGISTRY_CONFIG_ENTRIES(I, registry),
    CONFIG_ROW_STR("mqtt.listen", I, mqtt.listen, "",
                   "MQTT 3.1.1 and 5 listener for devices, host:port (\"\": no MQTT; 1883 is the "
                   "usual port)"),
    CONFIG_ROW_INT("mqtt.max_connections", I, mqtt.max_connections, "10000", 1, 1000000,
                   "MQTT connections held; up to 64 more are answered CONNACK busy"),
    CONFIG_ROW_SIZE("mqtt.max_packet", I, mqtt.max_packet, "262144", 64, 268435460,
                    "largest MQTT packet, bytes, refused from its fixed header (at most "
                    "ingest.max_body + 512)"),
    CONFIG_ROW_SIZE("mqtt.max_connect_packet", I, mqtt.max_connect_packet, "2048", 64, 65536,
                    "largest CONNECT packet, bytes (a token is at most 512)"),
    CONFIG_ROW_INT("mqtt.max_topic", I, mqtt.max_topic, "256", 16, 65535,
                   "longest PUBLISH topic or SUBSCRIBE filter, bytes"),
    CONFIG_ROW_INT("mqtt.max_client_id", I, mqtt.max_client_id, "128", 1, 128,
                   "longest CONNECT client id, bytes of A-Z a-z 0-9 . _ : -"),
    CONFIG_ROW_INT("mqtt.receive_maximum", I, mqtt.receive_maximum, "64", 1, 65535,
                   "QoS 1 PUBLISHes in flight per connection (waiting for kafka and their "
                   "PUBACK); a full window stops reading the connection"),
    CONFIG_ROW_INT("mqtt.max_subscriptions", I, mqtt.max_subscriptions, "16", 1, 1024,
                   "SUBSCRIBE filters per connection"),
    CONFIG_ROW_SIZE("mqtt.max_output", I, mqtt.max_output, "65536", 1024, 16777216,
                    "unwritten bytes per connection; a client that does not read is closed"),
    CONFIG_ROW_MS("mqtt.connect_timeout_ms", I, mqtt.connect_timeout_ms, "10000", 100, 600000,
                  "from accept to CONNECT"),
    CONFIG_ROW_S("mqtt.keepalive_max_s", I, mqtt.keepalive_max_ms, "1200", 1, 65535,
                 "keep-alive 0 or above it becomes it (MQTT 5: Server Keep Alive); silent for "
                 "1.5 x the keep-alive: closed",
                 .scale = 1000),
    CONFIG_ROW_STR("policy.topics", I, policy_topics, "",
                   "compacted level-of-detail policies topics to follow, comma-separated (a "
                   "region: global.policies,policies; the global site: policies); \"\": no "
                   "policies, no period in answers"),
    CONFIG_ROW_INT("policy.max_active", I, policy_max_active, "1000", 1, 100000,
                   "policies held at most (as tp-policy's bound); more records are refused"),
    CONFIG_ROW_MS("policy.default_report_every_ms", I, default_report_every_ms, "3000", 1000,
                  86400000,
                  "reporting period told to devices no active policy gives one (with "
                  "policy.topics)"),
    CONFIG_ROW_STR("site.region", I, site_region, NULL,
                   "this site's region name, matched against a policy's selector.sites (unset: "
                   "policies with sites never match here)"),
    SERVICE_HEALTH_ENTRY(I, limits.health_stall_ms),
    SERVICE_LOG_ENTRY(I, log_level),
    SERVICE_LOG_FORMAT_ENTRY(I, log_format),
};
#undef I

/* auth.mode=required needs a secret (auth.mode=off drops any); the largest request must fit
 * under the in-flight bound. */
static enum tp_err ingest_check(void *arg, char *errstr, size_t errstr_size)
{
    struct ingest_config *c = arg;
    if (c->auth && (!c->limits.auth_secret || strlen(c->limits.auth_secret) < 16))
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "auth.mode=required needs auth.secret (TP_AUTH_SECRET) of at least 16 "
                          "characters; set auth.mode=off to run without authentication");
    if (!c->auth) {
        free((char *)c->limits.auth_secret); /* NULL: no authentication */
        c->limits.auth_secret = NULL;
        log_warn("auth.mode=off: accepting telemetry without authentication");
    }
    if (c->limits.max_outstanding < c->limits.max_readings)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "ingest.max_outstanding (%zu) must be at least ingest.max_readings "
                          "(%zu), or the largest requests could never be accepted",
                          c->limits.max_outstanding, c->limits.max_readings);
    if (c->site_region && *c->site_region &&
        !policy_name_valid(c->site_region, strlen(c->site_region)))
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "site.region \"%s\" is not a region name ([A-Za-z0-9._-]{1,64})",
                          c->site_region);
    if (c->mqtt.listen && *c->mqtt.listen && c->mqtt.max_packet > c->max_body + 512)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "mqtt.max_packet (%zu) must be at most ingest.max_body (%zu) + 512",
                          c->mqtt.max_packet, c->max_body);
    return TP_OK;
}

static const struct config_table ingest_table =
    CONFIG_TABLE("tp-ingest", ingest_rows, ingest_check);

/* `tp-ingest token ...`: mints a bearer token for operators. */
struct token_config {
    char *auth_secret;
    char *device;
    char *prefix;
    long long ttl_s;
};

static const struct config_entry token_table[] = {
    CONFIG_ROW_STR("auth.secret", struct token_config, auth_secret, NULL,
                   "fleet secret (TP_AUTH_SECRET)"),
    CONFIG_ROW_STR("device", struct token_config, device, NULL,
                   "device token: exactly this device_id"),
    CONFIG_ROW_STR("prefix", struct token_config, prefix, NULL,
                   "gateway token: every device_id with this prefix (\"\" = whole fleet)"),
    /* "7776000" is AUTH_TTL_DEFAULT_S (90 days), 315360000 AUTH_TTL_MAX_S (10 years) */
    CONFIG_ROW_S("ttl_s", struct token_config, ttl_s, "7776000", 1, 315360000,
                 "lifetime in seconds, 90 days unless given, at most 10 years: every token "
                 "expires"),
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
    CONFIG_ROW_STR("journal.topic", struct register_config, topic, "twinpipe.telemetry.v1",
                   "journal topic (subject <journal.topic>-value)"),
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

/* policy.topics split at commas into names[] (copies in storage, which is as long as the
 * list): how many, or -1 for an empty name or more than POLICY_FEED_TOPICS_MAX. */
static int ingest_policy_topics(const char *list, char *storage,
                                const char *names[POLICY_FEED_TOPICS_MAX])
{
    int n = 0;
    strcpy(storage, list);
    for (char *p = storage;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p || n == POLICY_FEED_TOPICS_MAX)
            return -1;
        names[n++] = p;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

/* tp-ingest's transports for the service loop's callbacks. */
struct ingest_main {
    struct ingest *ing;
    struct mqtt_server *mqtt; /* NULL without mqtt.listen */
};

static void ingest_started(void *arg, struct http_server *srv)
{
    struct ingest_main *m = arg;
    ingest_attach_server(m->ing, srv);
    ingest_probe_ready(m->ing, 5000);
}

static void ingest_tick(void *arg)
{
    ingest_probe_ready(((struct ingest_main *)arg)->ing, 1000);
}

static void ingest_draining(void *arg)
{
    struct ingest_main *m = arg;
    ingest_begin_drain(m->ing);
    mqtt_server_begin_drain(m->mqtt);
}

static void ingest_drained(void *arg)
{
    struct ingest_main *m = arg;
    mqtt_server_drain(m->mqtt, 30000); /* the PUBACKs due, then DISCONNECT */
    ingest_drain(m->ing, 30000);       /* returns only when no request is suspended */
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "token"))
        return ingest_token_main(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "register-schema"))
        return ingest_register_main(argc - 1, argv + 1);
    struct ingest_config cfg = {.kafka = {.prefix = "kafka."}};
    struct ingest *ing = NULL;
    struct mqtt_server *mqtt = NULL;
    struct policy_feed *feed = NULL;
    char *topic_names = NULL;
    const char *topics[POLICY_FEED_TOPICS_MAX]; /* borrowed by the feed */
    struct schemas *schemas = NULL;
    char errstr[1024], listening[1024];
    int rc = 1;
    if (service_start(&ingest_table, &cfg, &cfg.kafka, argc, argv, &rc))
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
    cfg.limits.schemas = schemas;
    if (ingest_new(&jc, &cfg.limits, &ing, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    if (cfg.mqtt.listen && *cfg.mqtt.listen) {
        cfg.mqtt.health_stall_ms = cfg.limits.health_stall_ms;
        if (mqtt_server_new(ing, &cfg.mqtt, &mqtt, errstr, sizeof(errstr)) != TP_OK) {
            log_error("%s", errstr);
            goto out;
        }
    }
    if (cfg.policy_topics && *cfg.policy_topics) {
        /* before the MQTT loop and the HTTP threads start: both read what is attached */
        topic_names = tp_malloc(strlen(cfg.policy_topics) + 1);
        int n = ingest_policy_topics(cfg.policy_topics, topic_names, topics);
        if (n < 0) {
            log_error("policy.topics \"%s\": 1 to %d topic names, comma-separated, none empty",
                      cfg.policy_topics, POLICY_FEED_TOPICS_MAX);
            goto out;
        }
        struct policy_feed_config fc = {.kafka = &jc,
                                        .topics = topics,
                                        .n_topics = (size_t)n,
                                        .max_active = cfg.policy_max_active,
                                        .on_change = mqtt ? mqtt_server_policies_changed : NULL,
                                        .arg = mqtt};
        if (policy_feed_start(&fc, &feed, errstr, sizeof(errstr)) != TP_OK) {
            log_error("%s", errstr);
            goto out;
        }
        ingest_attach_policies(ing, feed, cfg.site_region, cfg.default_report_every_ms);
        log_info("policies from \"%s\" (site region \"%s\", default period %lld ms)",
                 cfg.policy_topics, cfg.site_region ? cfg.site_region : "",
                 (long long)cfg.default_report_every_ms);
    }
    if (mqtt) {
        if (mqtt_server_start(mqtt, errstr, sizeof(errstr)) != TP_OK) {
            log_error("%s", errstr);
            goto out;
        }
        ingest_attach_metrics(ing, mqtt_server_metrics, mqtt);
    }
    struct ingest_main im = {.ing = ing, .mqtt = mqtt};
    const struct http_route routes[] = {
        {"POST", "/v1/telemetry", cfg.max_body, ingest_handle_telemetry, ing},
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/readyz", 0, ingest_handle_ready, ing},
        {"GET", "/metrics", 0, ingest_handle_metrics, ing},
    };
    /* the token and the content type are checked before any of the body is read */
    const struct http_precheck prechecks[] = {
        {"POST", "/v1/telemetry", ingest_precheck_telemetry, ing},
    };
    cfg.http.prechecks = prechecks;
    cfg.http.n_prechecks = sizeof(prechecks) / sizeof(prechecks[0]);
    snprintf(listening, sizeof(listening), ", journal topic \"%s\" at \"%s\"%s%s", jc.topic,
             jc.bootstrap_servers, mqtt ? ", MQTT on " : "", mqtt ? mqtt_server_address(mqtt) : "");
    const struct service_loop loop = {.routes = routes,
                                      .n_routes = sizeof(routes) / sizeof(routes[0]),
                                      .http = &cfg.http,
                                      .started = ingest_started,
                                      .listening = listening,
                                      .tick_ms = 1000,
                                      .tick = ingest_tick,
                                      .stopping = "draining requests in flight",
                                      .draining = ingest_draining,
                                      .drain = ingest_drained,
                                      .arg = &im};
    rc = service_run(&loop);
out:
    if (mqtt)
        mqtt_server_drain(mqtt, 0); /* no-op after a drain; stops the loop after a failure */
    policy_feed_free(feed);         /* no on_change after this; no reader is left */
    free(topic_names);
    ingest_free(ing);
    mqtt_server_free(mqtt); /* after the delivery thread: no done callback is left */
    schemas_free(schemas);
    config_release(ingest_rows, ingest_table.n, &cfg, &cfg.kafka);
    return rc;
}
