/* tp-rollup: the journal as hourly Parquet files, exactly once. */
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/http_config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/service.h"
#include "schema/telemetry.h"
#include "rollup.h"

struct rollup_config {
    struct http_options http;
    struct journal_settings journal;
    struct rollup_options opts;
    struct telemetry_registry_settings registry;
    char *dlq_topic;
    int message; /* 0: reading, 1: window_aggregate */
    enum log_level log_level;
    enum log_format log_format;
    struct config_extra kafka;
};

static const char *const rollup_messages[] = {"reading", "window_aggregate", NULL};
static const char *const rollup_codecs[] = {"zstd", "snappy", "none", NULL};
static const int rollup_codec_ids[] = {PARQUET_CODEC_ZSTD, PARQUET_CODEC_SNAPPY,
                                       PARQUET_CODEC_NONE};

#define P struct rollup_config
static const struct config_entry rollup_rows[] = {
    HTTP_CONFIG_ENTRIES(P, http, "127.0.0.1:18083"),
    JOURNAL_CONFIG_ENTRIES(P, journal),
    CONFIG_ROW_STR("rollup.group", P, opts.group, "tp-rollup",
                   "Kafka consumer group; its committed offsets follow the published files"),
    CONFIG_ROW_STR("rollup.dir", P, opts.dir, "var/lake", "root folder of the Parquet files"),
    CONFIG_ROW_BOOL("rollup.once", P, opts.once, "false",
                    "read up to the end offsets captured at start, write, exit 0"),
    CONFIG_ROW_INT("rollup.max_rows", P, opts.max_rows, "1000000", 1, 1000000000, "rows per file"),
    CONFIG_ROW_SIZE("rollup.max_bytes", P, opts.max_bytes, "268435456", 4096, 17179869184LL,
                    "approximate value bytes per file"),
    CONFIG_ROW_S("rollup.idle_flush_s", P, opts.idle_flush_s, "0", 0, 86400,
                 "close a file idle this long (0 = off; weakens exactly-once, see README)"),
    CONFIG_ROW_INT("rollup.row_group_rows", P, opts.parquet.row_group_rows, "131072", 1, 100000000,
                   "rows per Parquet row group"),
    CONFIG_ROW_ENUM("rollup.compression", P, opts.parquet.codec, "zstd", rollup_codecs,
                    "zstd, snappy or none", .ints = rollup_codec_ids),
    CONFIG_ROW_INT("rollup.zstd_level", P, opts.parquet.zstd_level, "1", 1, 22,
                   "zstd level (1 = fastest, as pyarrow's default; higher = smaller, slower)"),
    CONFIG_ROW_ENUM("rollup.message", P, message, "reading", rollup_messages,
                    "what journal.topic holds: reading (telemetry.proto: the Reading columns) or "
                    "window_aggregate (aggregates.proto: a region's aggregates, e.g. "
                    "region-a.aggregates at the global site; registry.url then unused)"),
    TELEMETRY_REGISTRY_CONFIG_ENTRIES(P, registry),
    CONFIG_ROW_STR("rollup.dlq_topic", P, dlq_topic, NULL,
                   "with registry.url: dead-letter topic for events that can never be decoded "
                   "(default: <journal.topic>.dlq)"),
    CONFIG_ROW_INT("debug.crash_before_rename", P, opts.crash_before_rename, "0", 0, 1000000,
                   "TEST HOOK: abort when the N-th file is written, before its rename (0 = off)"),
    CONFIG_ROW_INT("debug.crash_after_rename", P, opts.crash_after_rename, "0", 0, 1000000,
                   "TEST HOOK: abort after the N-th file rename, before its offset commit (0 = "
                   "off)"),
    SERVICE_HEALTH_ENTRY(P, opts.health_stall_ms),
    SERVICE_LOG_ENTRY(P, log_level),
    SERVICE_LOG_FORMAT_ENTRY(P, log_format),
};
#undef P

static const struct config_table rollup_table = CONFIG_TABLE("tp-rollup", rollup_rows, NULL);

/* What /metrics reads: the rollup, and the server once started (its HTTP families). */
struct rollup_http {
    struct rollup *r;
    struct http_server *srv;
};

static void rollup_handle_metrics(struct http_request *req, void *arg)
{
    struct rollup_http *h = arg;
    struct rollup_stats s;
    rollup_stats_get(h->r, &s);
    struct buf b;
    buf_init(&b, 1 << 20);
    if (h->srv)
        http_server_metrics(h->srv, "tp_rollup", &b);
    metrics_sample(&b, "tp_rollup_events_total", "counter", "journal events consumed", NULL,
                   (double)s.events);
    metrics_sample(&b, "tp_rollup_rows_total", "counter", "rows written to Parquet files", NULL,
                   (double)s.rows);
    metrics_sample(&b, "tp_rollup_skipped_total", "counter",
                   "events skipped: undecodable without a registry, or not a reading", NULL,
                   (double)s.skipped);
    metrics_sample(&b, "tp_rollup_files_total", "counter", "Parquet files published (renamed)",
                   NULL, (double)s.files);
    metrics_sample(&b, "tp_rollup_open_files", "gauge", "Parquet files being written", NULL,
                   (double)s.open_files);
    metrics_sample(&b, "tp_rollup_dead_letters_total", "counter",
                   "events written to the dead-letter topic (undecodable)", NULL,
                   (double)s.dead_letters);
    metrics_sample(&b, "tp_rollup_decode_retries_total", "counter",
                   "decodes that waited for the schema registry", NULL, (double)s.decode_retries);
    metrics_sample(&b, "tp_rollup_decode_waiting", "gauge",
                   "1 while an event waits for the schema registry (its partition does not "
                   "advance)",
                   NULL, (double)s.waiting);
    metrics_runtime_write(&b);
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_release(&b);
}

static void rollup_started_cb(void *arg, struct http_server *srv)
{
    struct rollup_http *h = arg;
    h->srv = srv;
}

static enum tp_err rollup_run_cb(void *arg, char *errstr, size_t errstr_size)
{
    struct rollup_http *h = arg;
    return rollup_run(h->r, errstr, errstr_size);
}

static void rollup_stop_cb(void *arg)
{
    struct rollup_http *h = arg;
    rollup_stop(h->r);
}

int main(int argc, char **argv)
{
    struct rollup_config cfg = {.kafka = {.prefix = "kafka."}};
    struct rollup *r = NULL;
    struct schemas *schemas = NULL;
    char errstr[1024];
    int rc = 1;
    parquet_options_init(&cfg.opts.parquet); /* the settings without a key */
    if (service_start(&rollup_table, &cfg, &cfg.kafka, argc, argv, &rc))
        goto out;
    rc = 1;
    struct journal_config jc;
    journal_config_init(&jc, &cfg.journal, &cfg.kafka);
    jc.report_eof = cfg.opts.once;
    cfg.opts.journal = &jc;
    cfg.opts.progress_tty = isatty(STDERR_FILENO);
    /* with a registry, each event is decoded with its own version's descriptors, so fields
     * added by later versions become columns */
    if (telemetry_schemas_new(&cfg.registry, jc.topic, &schemas, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    char dlq[256];
    journal_dlq_topic_name(&jc, cfg.dlq_topic, dlq, sizeof(dlq));
    cfg.opts.schemas = schemas;
    cfg.opts.dlq_topic = dlq;
    cfg.opts.window_aggregates = cfg.message == 1;
    if (!schemas && !cfg.opts.window_aggregates)
        log_warn("registry.url is unset: events are decoded with the built-in Reading, fields of "
                 "other schema versions are not written");
    if (rollup_new(&cfg.opts, &r, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    struct rollup_http h = {.r = r};
    const struct http_route routes[] = {
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/metrics", 0, rollup_handle_metrics, &h},
    };
    log_info("rolling \"%s\" up into \"%s\"%s", jc.topic, cfg.opts.dir,
             cfg.opts.once ? " (once)" : "");
    const struct service_loop loop = {.routes = cfg.opts.once ? NULL : routes, /* once: no server */
                                      .n_routes = sizeof(routes) / sizeof(routes[0]),
                                      .http = &cfg.http,
                                      .started = rollup_started_cb,
                                      .run = rollup_run_cb,
                                      .stop = rollup_stop_cb,
                                      .stopping = "closing files",
                                      .arg = &h};
    rc = service_run(&loop);
out:
    rollup_free(r);
    schemas_free(schemas); /* after the rollup that pins its schemas */
    config_release(rollup_rows, rollup_table.n, &cfg, &cfg.kafka);
    return rc;
}
