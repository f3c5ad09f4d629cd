/* tp-projector: folds the journal into twins in PostgreSQL, exactly once. */
#include <stddef.h>

#include "aggregate/record.h"
#include "common/http_config.h"
#include "common/mem.h"
#include "common/log.h"
#include "common/service.h"
#include "fleet.h"
#include "projector.h"
#include "schema/telemetry.h"
#include "twin/fold.h"

/* The regional aggregator's keys (aggregate/README.md). */
struct projector_aggregate_config {
    bool enabled;
    char *category;
    struct aggregate_spec spec; /* category, parsed by its row's check */
    int64_t window_ms;
    int64_t grace_ms;
    char *topic;
    int64_t retention_h;
    char *region;
    int schema_id;
};

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
    struct projector_aggregate_config agg;
};

enum { PROJECTOR_FOLD_TWIN, PROJECTOR_FOLD_FLEET };
static const char *const projector_folds[] = {"twin", "fleet", NULL};
static enum tp_err projector_check_category(const struct config_entry *e, void *cfg, char *errstr,
                                            size_t errstr_size)
{
    struct projector_aggregate_config *agg = &((struct projector_config *)cfg)->agg;
    (void)e;
    return aggregate_spec_parse(agg->category, &agg->spec, errstr, errstr_size) == TP_OK
               ? TP_OK
               : TP_VALIDATION;
}

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
    CONFIG_ROW_BOOL("aggregate.enabled", P, agg.enabled, "false",
                    "fold regional aggregates per category, window and journal partition into "
                    "aggregate_windows (migration 0011) and publish closed windows to "
                    "aggregate.topic (aggregate/README.md)"),
    CONFIG_ROW_STR("aggregate.category", P, agg.category, "model,firmware",
                   "the twin's attributes that make a category, in order (of model, firmware, "
                   "region); each category makes one partial per window and journal partition, "
                   "so categories x partitions bounds what is shipped",
                   .check = projector_check_category),
    CONFIG_ROW_MS("aggregate.window_ms", P, agg.window_ms, "60000", 1000, 86400000,
                  "aggregate window by device time, ms"),
    CONFIG_ROW_MS("aggregate.grace_ms", P, agg.grace_ms, "10000", 0, 86400000,
                  "a window is published once the wall clock is this far past its end; later "
                  "readings amend it with a new version"),
    CONFIG_ROW_STR("aggregate.topic", P, agg.topic, "aggregates",
                   "Kafka topic of the aggregates (key = category); created at start if missing; "
                   "with registry.url the record's schema is registered under <topic>-value"),
    CONFIG_ROW_INT("aggregate.retention_h", P, agg.retention_h, "168", 0, 1000000,
                   "delete published aggregate_windows rows whose window started this many hours "
                   "ago (checked once a minute); 0 = keep forever"),
    CONFIG_ROW_INT("aggregate.schema_id", P, agg.schema_id, "2", 0, 2147483647,
                   "schema id in the framing of aggregate records without registry.url (with it: "
                   "the id the registry gives)"),
    CONFIG_ROW_STR("site.region", P, agg.region, "local",
                   "this site's region name, carried by every aggregate record"),
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

/*
 * The aggregator's start: its topic (created like the journal when missing) and the
 * record's schema id: with registry.url, aggregates.proto looked up under
 * "<aggregate.topic>-value" and registered when missing (as tp-ingest registers the
 * Reading; that needs the write role), retried for 30 s while the registry does not answer;
 * without, aggregate.schema_id.
 */
static enum tp_err projector_aggregate_start(struct projector_config *cfg,
                                             struct journal_config *agg_jc,
                                             struct aggregate_publisher_options *pub, char *errstr,
                                             size_t errstr_size)
{
    agg_jc->topic = cfg->agg.topic;
    agg_jc->decoder = NULL;
    agg_jc->dlq_topic = NULL;
    enum tp_err err = journal_topic_ensure(agg_jc, 15000, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    int32_t id = (int32_t)cfg->agg.schema_id;
    struct schemas *s = NULL;
    err = telemetry_schemas_new(&cfg->registry, cfg->agg.topic, &s, errstr, errstr_size);
    bool registered = false;
    int64_t deadline = tp_mono_ms() + 30000;
    while (err == TP_OK && s) {
        err = schemas_ensure(s, aggregate_schema_proto, &id, &registered, errstr, errstr_size);
        if (err == TP_OK || !tp_err_retriable(err) || tp_mono_ms() >= deadline)
            break;
        log_warn("%s; retrying", errstr);
        if (service_wait_signal(1000))
            err = tp_err_set(TP_CONFIG, errstr, errstr_size, "stopped by a signal at start-up");
    }
    if (err == TP_OK && s)
        log_info("aggregates schema under subject \"%s\": id %d%s", schemas_subject(s), id,
                 registered ? " (registered now)" : "");
    schemas_free(s);
    *pub = (struct aggregate_publisher_options){.journal = agg_jc,
                                                .pg_dsn = cfg->opts.pg_dsn,
                                                .region = cfg->agg.region,
                                                .schema_id = id,
                                                .grace_ms = cfg->agg.grace_ms,
                                                .retention_h = cfg->agg.retention_h};
    return err;
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
    struct journal_config agg_jc = jc;
    struct aggregate_publisher_options agg_pub;
    if (cfg.agg.enabled) {
        if (projector_aggregate_start(&cfg, &agg_jc, &agg_pub, errstr, sizeof(errstr)) != TP_OK) {
            log_error("%s", errstr);
            goto out;
        }
        cfg.opts.agg_spec = &cfg.agg.spec;
        cfg.opts.agg_window_ms = cfg.agg.window_ms;
        cfg.opts.agg_publish = &agg_pub;
        log_info("aggregating by \"%s\" in windows of %lld ms into \"%s\" (region \"%s\")",
                 cfg.agg.spec.names, (long long)cfg.agg.window_ms, cfg.agg.topic, cfg.agg.region);
    }
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
