/* tp-projector: folds the journal into twins in PostgreSQL, exactly once. */
#include <stddef.h>

#include "common/http_config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/service.h"
#include "fleet.h"
#include "projector.h"
#include "schema/telemetry.h"
#include "twin/fold.h"

struct projector_config {
    struct http_options http;
    struct journal_settings journal;
    struct projector_options opts;
    struct telemetry_registry_settings registry;
    char *dlq_topic;
    int fold;     /* PROJECTOR_FOLD_* */
    char *topics; /* the fleet fold's subscription */
    enum log_level log_level;
    enum log_format log_format;
    struct config_extra kafka;
};

enum { PROJECTOR_FOLD_TWIN, PROJECTOR_FOLD_FLEET };
static const char *const projector_folds[] = {"twin", "fleet", NULL};

#define P struct projector_config
static const struct config_entry projector_rows[] = {
    HTTP_CONFIG_ENTRIES(P, http, "127.0.0.1:18082"),
    JOURNAL_CONFIG_ENTRIES(P, journal),
    SERVICE_PG_DSN_ENTRY(P, opts.pg_dsn),
    CONFIG_ROW_STR("projector.group", P, opts.group, "tp-projector",
                   "Kafka consumer group (and offsets key)"),
    CONFIG_ROW_INT("projector.flush_max_twins", P, opts.flush_max_twins, "200000", 1, 10000000,
                   "flush when this many twins are dirty (~1 KB each until flushed: the bound on "
                   "that memory; with the flusher thread, twice that: the job in flight's twins "
                   "and the new changes)"),
    CONFIG_ROW_MS("projector.flush_interval_ms", P, opts.flush_interval_ms, "200", 1, 600000,
                  "flush when the oldest unflushed change is this old, ms"),
    CONFIG_ROW_INT("projector.flush_pace", P, opts.flush_pace, "2", 0, 100,
                   "... and (without projector.flush_thread) at least this many times as old as "
                   "the last flush took: under load at most 1/(1 + pace) of the time goes to "
                   "flushing, so each twin row carries more readings; 0 = flush_interval_ms only"),
    CONFIG_ROW_BOOL("projector.flush_thread", P, opts.flush_thread, "true",
                    "run flushes on a flusher thread with its own PostgreSQL connection while the "
                    "fold goes on (one job in flight; the next starts once it committed, "
                    "flush_pace unused); false: on the fold's thread, which stops meanwhile"),
    CONFIG_ROW_INT("projector.batch_max", P, opts.batch_max, "5000", 1, 1000000,
                   "events consumed per fold pass"),
    CONFIG_ROW_INT("projector.history_max_rows", P, opts.history_max_rows, "2000000", 1, 100000000,
                   "flush when the history map holds this many (device, metric, minute) rows (~60 "
                   "bytes each plus names; closed minutes of 100,000 devices x 10 metrics are "
                   "1,000,000 at once)"),
    CONFIG_ROW_INT("projector.history_retention_h", P, opts.history_retention_h, "168", 0, 1000000,
                   "delete metric_minutes rows older than this many hours (checked once a "
                   "minute); 0 = keep forever"),
    TELEMETRY_REGISTRY_CONFIG_ENTRIES(P, registry),
    CONFIG_ROW_INT("projector.max_twins", P, opts.max_twins, "0", 0, 1000000000,
                   "keep at most this many twins in memory, evicting the least recently updated "
                   "clean ones (reloaded from PostgreSQL when their devices report); ~200 bytes "
                   "each; 0 = no cap"),
    FOLD_MAX_JUMP_CONFIG_ENTRY(P, opts.max_sequence_jump),
    CONFIG_ROW_STR("projector.dlq_topic", P, dlq_topic, NULL,
                   "dead-letter topic for events the projector will never apply: undecodable, "
                   "invalid, too_late, sequence_jump; created at start if missing (default: "
                   "<journal.topic>.dlq, as tp-ingest's)"),
    CONFIG_ROW_ENUM(
        "projector.fold", P, fold, "twin", projector_folds,
        "twin: the journal into twins (journal.topic); fleet: the global site's fold of "
        "every region's mirrored aggregates (projector.topics) into fleet_aggregates "
        "(fleet.h; projector.flush_max_twins then bounds the partials held, "
        "projector.dlq_topic defaults to aggregates.dlq)"),
    CONFIG_ROW_STR("projector.topics", P, topics, "^region-.*\\.aggregates$",
                   "fleet fold: the topics to fold, a regex when it starts with ^ (MirrorMaker 2 "
                   "names a region's aggregates <region>.aggregates); new matching topics are "
                   "found within kafka.topic.metadata.refresh.interval.ms (10000 here unless set)"),
    SERVICE_HEALTH_ENTRY(P, opts.health_stall_ms),
    SERVICE_LOG_ENTRY(P, log_level),
    SERVICE_LOG_FORMAT_ENTRY(P, log_format),
};
#undef P

static const struct config_table projector_table =
    CONFIG_TABLE("tp-projector", projector_rows, NULL);

static void projector_started(void *arg, struct http_server *srv)
{
    projector_attach_server(arg, srv);
}

SERVICE_LOOP_ADAPTERS(projector)
SERVICE_LOOP_ADAPTERS(fleet)

static void fleet_started(void *arg, struct http_server *srv)
{
    fleet_attach_server(arg, srv);
}

/* projector.fold=fleet: the global site's aggregates (fleet.h); its own loop and endpoints. */
static int projector_main_fleet(struct projector_config *cfg)
{
    struct fleet *f = NULL;
    char errstr[1024], dlq[256];
    int rc = 1;
    const char *refresh = "kafka.topic.metadata.refresh.interval.ms";
    if (!config_extra_get(&cfg->kafka, refresh) && cfg->kafka.n < CONFIG_EXTRA_MAX) {
        /* librdkafka matches a regex against its metadata: find a new region's topic soon */
        cfg->kafka.keys[cfg->kafka.n] = tp_strdup(refresh);
        cfg->kafka.values[cfg->kafka.n++] = tp_strdup("10000");
    }
    struct journal_config jc;
    journal_config_init(&jc, &cfg->journal, &cfg->kafka);
    jc.topic = cfg->topics;
    jc.raw = true;
    snprintf(dlq, sizeof(dlq), "%s", cfg->dlq_topic ? cfg->dlq_topic : "aggregates.dlq");
    if (journal_dlq_topic_ensure(&jc, dlq, 15000, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        return 1;
    }
    struct fleet_options fo = {.journal = &jc,
                               .pg_dsn = cfg->opts.pg_dsn,
                               .group = cfg->opts.group,
                               .flush_interval_ms = cfg->opts.flush_interval_ms,
                               .max_partials = cfg->opts.flush_max_twins,
                               .batch_max = cfg->opts.batch_max,
                               .dlq_topic = dlq,
                               .health_stall_ms = cfg->opts.health_stall_ms};
    if (fleet_new(&fo, &f, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    const struct http_route routes[] = {
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/readyz", 0, fleet_handle_ready, f},
        {"GET", "/metrics", 0, fleet_handle_metrics, f},
    };
    log_info("folding aggregates of \"%s\" at \"%s\" as group \"%s\" into fleet_aggregates; "
             "health on \"%s\"",
             jc.topic, jc.bootstrap_servers, cfg->opts.group, cfg->http.listen);
    const struct service_loop loop = {.routes = routes,
                                      .n_routes = sizeof(routes) / sizeof(routes[0]),
                                      .http = &cfg->http,
                                      .started = fleet_started,
                                      .run = fleet_loop_run,
                                      .stop = fleet_loop_stop,
                                      .stopping = "flushing and leaving the consumer group",
                                      .arg = f};
    rc = service_run(&loop);
out:
    fleet_free(f);
    return rc;
}

int main(int argc, char **argv)
{
    struct projector_config cfg = {.kafka = {.prefix = "kafka."}};
    struct projector *pj = NULL;
    struct schemas *schemas = NULL;
    struct journal_decoder decoder;
    char errstr[1024];
    int rc = 1;
    if (service_start(&projector_table, &cfg, &cfg.kafka, argc, argv, &rc))
        goto out;
    if (cfg.fold == PROJECTOR_FOLD_FLEET) {
        rc = projector_main_fleet(&cfg);
        goto out;
    }
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
    if (telemetry_journal_attach(&cfg.registry, &jc, &schemas, &decoder, errstr, sizeof(errstr)) !=
        TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    cfg.opts.journal = &jc;
    cfg.opts.dlq_topic = dlq;
    if (projector_new(&cfg.opts, &pj, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    const struct http_route routes[] = {
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/readyz", 0, projector_handle_ready, pj},
        {"GET", "/metrics", 0, projector_handle_metrics, pj},
    };
    log_info("consuming \"%s\" at \"%s\" as group \"%s\"; health on \"%s\"", jc.topic,
             jc.bootstrap_servers, cfg.opts.group, cfg.http.listen);
    const struct service_loop loop = {.routes = routes,
                                      .n_routes = sizeof(routes) / sizeof(routes[0]),
                                      .http = &cfg.http,
                                      .started = projector_started,
                                      .run = projector_loop_run,
                                      .stop = projector_loop_stop,
                                      .stopping = "flushing and leaving the consumer group",
                                      .arg = pj};
    rc = service_run(&loop);
out:
    projector_free(pj);
    schemas_free(schemas); /* after the events that pin its schemas */
    config_release(projector_rows, projector_table.n, &cfg, &cfg.kafka);
    return rc;
}
