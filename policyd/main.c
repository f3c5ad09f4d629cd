/* tp-policy: level-of-detail policies as commands on a compacted Kafka topic, behind operator
 * keys (policyd/README.md, docs/decisions/regions.md section 3). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "common/http_config.h"
#include "common/log.h"
#include "common/service.h"
#include "policy/policy.h"
#include "token/keyring.h"

struct policyd_config {
    struct http_options http;
    struct config_extra kafka;
    char *bootstrap_servers;
    char *topic;
    long long partitions;
    long long replication;
    char *operator_keys;
    char *operator_keys_file;
    char *analyst_keys;
    char *analyst_keys_file;
    struct keyring keys; /* loaded by policyd_check */
    size_t max_active;
    int64_t max_duration_ms;
    int64_t retain_expired_ms;
    int sweep_interval_ms;
    int produce_timeout_ms;
    int read_your_writes_ms;
    size_t max_waiting;
    int64_t stall_ms;
    enum log_level log_level;
    enum log_format log_format;
};

#define D struct policyd_config
static const struct config_entry policyd_rows[] = {
    HTTP_CONFIG_ENTRIES(D, http, "127.0.0.1:18085"),
    CONFIG_ROW_STR("kafka.bootstrap.servers", D, bootstrap_servers, "127.0.0.1:29092",
                   "Kafka bootstrap servers (host:port,...)"),
    CONFIG_ROW_STR("policy.topic", D, topic, "policies",
                   "the compacted policies topic this service writes and reads (created "
                   "compacted if missing)"),
    CONFIG_ROW_INT("policy.partitions", D, partitions, "1", 1, 1000,
                   "partitions when the topic is created (1 keeps every policy in one order)"),
    CONFIG_ROW_INT("policy.replication", D, replication, "1", 1, 100,
                   "replication factor when the topic is created"),
    CONFIG_ROW_STR("policy.operator_keys", D, operator_keys, NULL,
                   "comma-separated SHA-256 hex digests of the operator keys (the only keys "
                   "that may read and change policies)"),
    CONFIG_ROW_STR("policy.operator_keys_file", D, operator_keys_file, NULL,
                   "file of operator key digests, one a line ('#' comments)"),
    CONFIG_ROW_STR("policy.analyst_keys", D, analyst_keys, NULL,
                   "digests of analyst keys (tp-query's query.api_keys): answered 403 instead "
                   "of 401; never allowed"),
    CONFIG_ROW_STR("policy.analyst_keys_file", D, analyst_keys_file, NULL,
                   "file of analyst key digests, one a line ('#' comments)"),
    CONFIG_ROW_SIZE("policy.max_active", D, max_active, "1000", 1, 100000,
                    "policies stored at most (a new one past it: 409 too_many_policies)"),
    CONFIG_ROW_S("policy.max_duration_s", D, max_duration_ms, "604800", 1, 315360000,
                 "until at most this long after from (400 duration_too_long)", .scale = 1000),
    CONFIG_ROW_S("policy.retain_expired_s", D, retain_expired_ms, "3600", 0, 31536000,
                 "an expired policy is tombstoned this long after its until (GET shows it as "
                 "expired meanwhile); consumers ignore it from its until on anyway",
                 .scale = 1000),
    CONFIG_ROW_MS("policy.sweep_interval_ms", D, sweep_interval_ms, "1000", 10, 3600000,
                  "how often expired policies are looked for"),
    CONFIG_ROW_MS("policy.produce_timeout_ms", D, produce_timeout_ms, "10000", 100, 600000,
                  "a PUT or DELETE answers 503 kafka_unavailable when Kafka has not "
                  "acknowledged its record by then"),
    CONFIG_ROW_MS("policy.read_your_writes_ms", D, read_your_writes_ms, "2000", 0, 60000,
                  "after the ack, a write waits at most this long for the service's own copy "
                  "of the topic to hold it (then answers anyway)"),
    CONFIG_ROW_SIZE("policy.max_waiting", D, max_waiting, "64", 1, 100000,
                    "writes queued for the writer thread; more: 503 overloaded"),
    SERVICE_HEALTH_ENTRY(D, stall_ms),
    SERVICE_LOG_ENTRY(D, log_level),
    SERVICE_LOG_FORMAT_ENTRY(D, log_format),
};
#undef D

/* The keys: operator keys are required; analyst keys only make 401 a 403. */
static enum tp_err policyd_check(void *arg, char *errstr, size_t errstr_size)
{
    struct policyd_config *c = arg;
    enum tp_err err = TP_OK;
    if (c->operator_keys)
        err = keyring_add_list(&c->keys, c->operator_keys, "policy.operator_keys",
                               POLICYD_ROLE_OPERATOR, errstr, errstr_size);
    if (err == TP_OK && c->operator_keys_file)
        err = keyring_add_file(&c->keys, c->operator_keys_file, POLICYD_ROLE_OPERATOR, errstr,
                               errstr_size);
    size_t operators = c->keys.n;
    if (err == TP_OK && c->analyst_keys)
        err = keyring_add_list(&c->keys, c->analyst_keys, "policy.analyst_keys",
                               POLICYD_ROLE_ANALYST, errstr, errstr_size);
    if (err == TP_OK && c->analyst_keys_file)
        err = keyring_add_file(&c->keys, c->analyst_keys_file, POLICYD_ROLE_ANALYST, errstr,
                               errstr_size);
    if (err != TP_OK)
        return err;
    if (operators == 0)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "policy.operator_keys (TP_POLICY_OPERATOR_KEYS) or "
                          "policy.operator_keys_file is required: SHA-256 hex digests of the "
                          "operator keys");
    log_info("%zu operator keys, %zu analyst keys", operators, c->keys.n - operators);
    return TP_OK;
}

static const struct config_table policyd_table =
    CONFIG_TABLE("tp-policy", policyd_rows, policyd_check);

static void policyd_started(void *arg, struct http_server *srv)
{
    policyd_set_server(arg, srv);
}

static void policyd_loop_drain(void *arg)
{
    policyd_drain(arg);
}

int main(int argc, char **argv)
{
    static struct policyd_config cfg = {.kafka = {.prefix = "kafka."}}; /* the keys are large */
    struct policyd *d = NULL;
    char errstr[1024], listening[256];
    int rc = 1;
    if (service_start(&policyd_table, &cfg, &cfg.kafka, argc, argv, &rc))
        goto out;
    rc = 1;
    struct journal_config jc = {.bootstrap_servers = cfg.bootstrap_servers,
                                .topic = cfg.topic,
                                .partitions = (int)cfg.partitions,
                                .replication = (int)cfg.replication,
                                .kafka = &cfg.kafka,
                                .compact = true};
    if (journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)) != TP_OK) {
        log_error("could not create the policies topic: %s", errstr);
        goto out;
    }
    const struct policyd_options o = {.kafka = &jc,
                                      .max_active = cfg.max_active,
                                      .max_duration_ms = cfg.max_duration_ms,
                                      .retain_expired_ms = cfg.retain_expired_ms,
                                      .sweep_interval_ms = cfg.sweep_interval_ms,
                                      .produce_timeout_ms = cfg.produce_timeout_ms,
                                      .read_your_writes_ms = cfg.read_your_writes_ms,
                                      .max_waiting = cfg.max_waiting,
                                      .keys = &cfg.keys,
                                      .stall_ms = cfg.stall_ms};
    if (policyd_new(&o, &d, errstr, sizeof(errstr)) != TP_OK) {
        log_error("could not start: %s", errstr);
        goto out;
    }
    const struct http_route routes[] = {
        {"GET", "/v1/policies", 0, policyd_handle_list, d},
        {"PUT", "/v1/policies/*", POLICY_BODY_MAX, policyd_handle_put, d},
        {"GET", "/v1/policies/*", 0, policyd_handle_get, d},
        {"DELETE", "/v1/policies/*", 0, policyd_handle_delete, d},
        {"GET", "/openapi.json", 0, policyd_handle_openapi, NULL},
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/readyz", 0, policyd_handle_ready, d},
        {"GET", "/metrics", 0, policyd_handle_metrics, d},
    };
    /* keys checked once the headers are in: an unauthorized body is never read */
    const struct http_precheck prechecks[] = {
        {"GET", "/v1/policies", policyd_precheck, d},
        {"PUT", "/v1/policies/*", policyd_precheck, d},
        {"GET", "/v1/policies/*", policyd_precheck, d},
        {"DELETE", "/v1/policies/*", policyd_precheck, d},
    };
    cfg.http.prechecks = prechecks;
    cfg.http.n_prechecks = sizeof(prechecks) / sizeof(prechecks[0]);
    snprintf(listening, sizeof(listening), ", topic \"%s\"", cfg.topic);
    const struct service_loop loop = {.routes = routes,
                                      .n_routes = sizeof(routes) / sizeof(routes[0]),
                                      .http = &cfg.http,
                                      .started = policyd_started,
                                      .stopping = "shutting down",
                                      .listening = listening,
                                      .drain = policyd_loop_drain,
                                      .arg = d};
    rc = service_run(&loop);
out:
    policyd_free(d);
    config_release(policyd_rows, policyd_table.n, &cfg, &cfg.kafka);
    return rc;
}
