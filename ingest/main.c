/* tp-ingest: devices POST telemetry; every accepted reading is journaled. */
#include <stddef.h>
#include <stdio.h>

#include "common/http_config.h"
#include "common/log.h"
#include "common/service.h"
#include "ingest.h"

struct ingest_config {
    struct http_settings http;
    struct journal_settings journal;
    long long max_body;
    long long max_readings;
    long long max_past_s;
    long long max_future_s;
    long long max_string;
    long long max_metrics;
    char *log_level;
    struct config_extra kafka;
};

static const struct config_entry ingest_table[] = {
    HTTP_CONFIG_ENTRIES(struct ingest_config, http, "127.0.0.1:18080"),
    JOURNAL_CONFIG_ENTRIES(struct ingest_config, journal),
    {"ingest.max_body", CONFIG_INT, "4194304", 1024, 268435456,
     offsetof(struct ingest_config, max_body), "largest request body, bytes (413 above)"},
    {"ingest.max_readings", CONFIG_INT, "10000", 1, 1000000,
     offsetof(struct ingest_config, max_readings), "most readings in one request"},
    {"ingest.max_past_s", CONFIG_INT, "604800", 0, 315360000,
     offsetof(struct ingest_config, max_past_s), "oldest accepted timestamp, seconds before now"},
    {"ingest.max_future_s", CONFIG_INT, "300", 0, 86400,
     offsetof(struct ingest_config, max_future_s), "newest accepted timestamp, seconds after now"},
    {"ingest.max_string", CONFIG_INT, "256", 1, 65536, offsetof(struct ingest_config, max_string),
     "longest attribute string, bytes"},
    {"ingest.max_metrics", CONFIG_INT, "256", 0, 65536, offsetof(struct ingest_config, max_metrics),
     "most extra metrics in one reading"},
    SERVICE_LOG_ENTRY(struct ingest_config, log_level),
};
#define INGEST_TABLE_N (sizeof(ingest_table) / sizeof(ingest_table[0]))

int main(int argc, char **argv)
{
    struct ingest_config cfg = {.kafka = {.prefix = "kafka."}};
    struct ingest *ing = NULL;
    struct http_server *srv = NULL;
    char errstr[1024];
    int rc = 1;
    if (service_start("tp-ingest", ingest_table, INGEST_TABLE_N, &cfg, &cfg.kafka, argc, argv, &rc))
        goto out;
    rc = 1;

    struct journal_config jc;
    journal_config_init(&jc, &cfg.journal, &cfg.kafka);
    if (journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    struct ingest_limits limits = {
        .reading = {.max_past_ms = cfg.max_past_s * 1000,
                    .max_future_ms = cfg.max_future_s * 1000,
                    .max_string = (size_t)cfg.max_string,
                    .max_metrics = (size_t)cfg.max_metrics},
        .max_readings = (size_t)cfg.max_readings,
    };
    if (ingest_new(&jc, &limits, &ing, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    const struct http_route routes[] = {
        {"POST", "/v1/telemetry", (size_t)cfg.max_body, ingest_handle_telemetry, ing},
        {"GET", "/healthz", 0, service_handle_health, NULL},
    };
    struct http_options opts = http_settings_options(&cfg.http);
    if (http_server_new(routes, sizeof(routes) / sizeof(routes[0]), &opts, &srv, errstr,
                        sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    log_info("listening on \"%s\" (port %u), journal topic \"%s\" at \"%s\"", cfg.http.listen,
             http_server_port(srv), jc.topic, jc.bootstrap_servers);
    int sig = service_wait_signal(-1);
    log_info("signal %d: draining requests in flight", sig);
    http_server_quiesce(srv);
    if (ingest_drain(ing, 30000) != TP_OK)
        log_error("requests still waiting for kafka after 30 s at shutdown");
    rc = 0;
out:
    http_server_free(srv);
    ingest_free(ing);
    config_release(ingest_table, INGEST_TABLE_N, &cfg, &cfg.kafka);
    return rc;
}
