/* tp-projector: folds the journal into twins in PostgreSQL, exactly once. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include "common/http_config.h"
#include "common/log.h"
#include "common/service.h"
#include "projector.h"
#include "schema/telemetry.h"
#include "twin/fold.h"

struct projector_config {
    struct http_settings http;
    struct journal_settings journal;
    char *pg_dsn;
    char *group;
    long long flush_max_twins;
    long long flush_interval_ms;
    long long flush_pace;
    bool flush_thread;
    long long batch_max;
    long long history_max_rows;
    long long history_retention_h;
    struct telemetry_registry_settings registry;
    long long max_twins;
    long long max_sequence_jump;
    char *dlq_topic;
    char *log_level;
    struct config_extra kafka;
};

static const struct config_entry projector_table[] = {
    HTTP_CONFIG_ENTRIES(struct projector_config, http, "127.0.0.1:18082"),
    JOURNAL_CONFIG_ENTRIES(struct projector_config, journal),
    SERVICE_PG_DSN_ENTRY(struct projector_config, pg_dsn),
    {"projector.group", CONFIG_STRING, "tp-projector", 0, 0,
     offsetof(struct projector_config, group), "Kafka consumer group (and offsets key)"},
    {"projector.flush_max_twins", CONFIG_INT, "200000", 1, 10000000,
     offsetof(struct projector_config, flush_max_twins),
     "flush when this many twins are dirty (~1 KB each until flushed)"},
    {"projector.flush_interval_ms", CONFIG_INT, "200", 1, 600000,
     offsetof(struct projector_config, flush_interval_ms),
     "flush when the oldest unflushed change is this old, ms"},
    {"projector.flush_pace", CONFIG_INT, "2", 0, 100, offsetof(struct projector_config, flush_pace),
     "... and (without projector.flush_thread) at least this many times as old as the last "
     "flush took: under load at most "
     "1/(1 + pace) of the time goes to flushing, so each twin row carries more readings; 0 = "
     "flush_interval_ms only"},
    {"projector.flush_thread", CONFIG_BOOL, "true", 0, 0,
     offsetof(struct projector_config, flush_thread),
     "run flushes on a flusher thread with its own PostgreSQL connection while the fold goes on "
     "(one job in flight; the next starts once it committed, flush_pace unused); false: on the "
     "fold's thread, which stops meanwhile"},
    {"projector.batch_max", CONFIG_INT, "5000", 1, 1000000,
     offsetof(struct projector_config, batch_max), "events consumed per fold pass"},
    {"projector.history_max_rows", CONFIG_INT, "2000000", 1, 100000000,
     offsetof(struct projector_config, history_max_rows),
     "flush when the history map holds this many (device, metric, minute) rows"},
    {"projector.history_retention_h", CONFIG_INT, "168", 0, 1000000,
     offsetof(struct projector_config, history_retention_h),
     "delete metric_minutes rows older than this many hours (checked once a minute); 0 = keep "
     "forever"},
    TELEMETRY_REGISTRY_CONFIG_ENTRIES(struct projector_config, registry),
    {"projector.max_twins", CONFIG_INT, "0", 0, 1000000000,
     offsetof(struct projector_config, max_twins),
     "keep at most this many twins in memory, evicting the least recently updated clean ones "
     "(reloaded from PostgreSQL when their devices report); ~200 bytes each; 0 = no cap"},
    FOLD_MAX_JUMP_CONFIG_ENTRY(struct projector_config, max_sequence_jump),
    {"projector.dlq_topic", CONFIG_STRING, NULL, 0, 0, offsetof(struct projector_config, dlq_topic),
     "dead-letter topic for events the projector will never apply: undecodable, invalid, "
     "too_late, sequence_jump (default: <journal.topic>.dlq, as tp-ingest's)"},
    SERVICE_LOG_ENTRY(struct projector_config, log_level),
};
#define PROJECTOR_TABLE_N (sizeof(projector_table) / sizeof(projector_table[0]))

static void projector_stop_cb(void *arg)
{
    projector_stop(arg);
}

int main(int argc, char **argv)
{
    struct projector_config cfg = {.kafka = {.prefix = "kafka."}};
    struct projector *pj = NULL;
    struct http_server *srv = NULL;
    struct schemas *schemas = NULL;
    struct journal_decoder decoder;
    char errstr[1024];
    int rc = 1;
    struct service_stopper stopper = {.started = false};
    if (service_start("tp-projector", projector_table, PROJECTOR_TABLE_N, &cfg, &cfg.kafka, argc,
                      argv, &rc))
        goto out;
    rc = 1;
    struct journal_config jc;
    journal_config_init(&jc, &cfg.journal, &cfg.kafka);
    if (journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    char dlq[256];
    journal_dlq_topic_name(&jc, cfg.dlq_topic, dlq, sizeof(dlq));
    if (journal_dlq_topic_ensure(&jc, dlq, 15000, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    /* with a registry, each event is decoded with its own version's descriptors, so numeric
     * fields added by later versions reach fold as metrics */
    if (telemetry_schemas_new(&cfg.registry, jc.topic, &schemas, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    if (schemas) {
        telemetry_journal_decoder(schemas, &decoder);
        jc.decoder = &decoder;
    }
    struct projector_options opts = {
        .journal = &jc,
        .pg_dsn = cfg.pg_dsn,
        .group = cfg.group,
        .flush_max_twins = (size_t)cfg.flush_max_twins,
        .flush_interval_ms = (int)cfg.flush_interval_ms,
        .flush_pace = (int)cfg.flush_pace,
        .flush_thread = cfg.flush_thread,
        .batch_max = (size_t)cfg.batch_max,
        .history_max_rows = (size_t)cfg.history_max_rows,
        .history_retention_h = (int)cfg.history_retention_h,
        .max_twins = (size_t)cfg.max_twins,
        .max_sequence_jump = cfg.max_sequence_jump,
        .dlq_topic = dlq,
    };
    if (projector_new(&opts, &pj, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    const struct http_route routes[] = {
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/readyz", 0, projector_handle_ready, pj},
        {"GET", "/metrics", 0, projector_handle_metrics, pj},
    };
    struct http_options hopts = http_settings_options(&cfg.http);
    if (http_server_new(routes, sizeof(routes) / sizeof(routes[0]), &hopts, &srv, errstr,
                        sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    projector_attach_server(pj, srv);
    log_info("consuming \"%s\" at \"%s\" as group \"%s\"; health on \"%s\"", jc.topic,
             jc.bootstrap_servers, cfg.group, cfg.http.listen);
    service_stopper_start(&stopper, projector_stop_cb, pj,
                          "flushing and leaving the consumer group");
    if (projector_run(pj, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    rc = 0;
out:
    service_stopper_join(&stopper); /* before the object is freed */
    http_server_free(srv);
    projector_free(pj);
    schemas_free(schemas); /* after the events that pin its schemas */
    config_release(projector_table, PROJECTOR_TABLE_N, &cfg, &cfg.kafka);
    return rc;
}
