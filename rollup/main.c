/* tp-rollup: the journal as hourly Parquet files, exactly once. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/http_config.h"
#include "common/log.h"
#include "common/service.h"
#include "schema/telemetry.h"
#include "rollup.h"

struct rollup_config {
    struct http_settings http;
    struct journal_settings journal;
    char *group;
    char *dir;
    bool once;
    long long max_rows;
    long long max_bytes;
    long long idle_flush_s;
    long long row_group_rows;
    char *compression;
    long long zstd_level;
    long long crash_before_rename;
    long long crash_after_rename;
    struct telemetry_registry_settings registry;
    char *dlq_topic;
    char *log_level;
    struct config_extra kafka;
};

static const struct config_entry rollup_table[] = {
    HTTP_CONFIG_ENTRIES(struct rollup_config, http, "127.0.0.1:18083"),
    JOURNAL_CONFIG_ENTRIES(struct rollup_config, journal),
    {"rollup.group", CONFIG_STRING, "tp-rollup", 0, 0, offsetof(struct rollup_config, group),
     "Kafka consumer group; its committed offsets follow the published files"},
    {"rollup.dir", CONFIG_STRING, "var/lake", 0, 0, offsetof(struct rollup_config, dir),
     "root folder of the Parquet files"},
    {"rollup.once", CONFIG_BOOL, "false", 0, 0, offsetof(struct rollup_config, once),
     "read up to the end offsets captured at start, write, exit 0"},
    {"rollup.max_rows", CONFIG_INT, "1000000", 1, 1000000000,
     offsetof(struct rollup_config, max_rows), "rows per file"},
    {"rollup.max_bytes", CONFIG_INT, "268435456", 4096, 17179869184LL,
     offsetof(struct rollup_config, max_bytes), "approximate value bytes per file"},
    {"rollup.idle_flush_s", CONFIG_INT, "0", 0, 86400, offsetof(struct rollup_config, idle_flush_s),
     "close a file idle this long (0 = off; weakens exactly-once, see README)"},
    {"rollup.row_group_rows", CONFIG_INT, "131072", 1, 100000000,
     offsetof(struct rollup_config, row_group_rows), "rows per Parquet row group"},
    {"rollup.compression", CONFIG_STRING, "zstd", 0, 0, offsetof(struct rollup_config, compression),
     "zstd, snappy or none"},
    {"rollup.zstd_level", CONFIG_INT, "1", 1, 22, offsetof(struct rollup_config, zstd_level),
     "zstd level (1 = fastest, as pyarrow's default; higher = smaller, slower)"},
    TELEMETRY_REGISTRY_CONFIG_ENTRIES(struct rollup_config, registry),
    {"rollup.dlq_topic", CONFIG_STRING, NULL, 0, 0, offsetof(struct rollup_config, dlq_topic),
     "with registry.url: dead-letter topic for events that can never be decoded (default: "
     "<journal.topic>.dlq)"},
    {"debug.crash_before_rename", CONFIG_INT, "0", 0, 1000000,
     offsetof(struct rollup_config, crash_before_rename),
     "TEST HOOK: abort when the N-th file is written, before its rename (0 = off)"},
    {"debug.crash_after_rename", CONFIG_INT, "0", 0, 1000000,
     offsetof(struct rollup_config, crash_after_rename),
     "TEST HOOK: abort after the N-th file rename, before its offset commit (0 = off)"},
    SERVICE_LOG_ENTRY(struct rollup_config, log_level),
};
#define ROLLUP_TABLE_N (sizeof(rollup_table) / sizeof(rollup_table[0]))

static void rollup_handle_metrics(struct http_request *req, void *arg)
{
    struct rollup_stats s;
    rollup_stats_get(arg, &s);
    struct buf b;
    buf_init(&b, 4096);
    buf_printf(&b,
               "# TYPE tp_rollup_events_total counter\ntp_rollup_events_total %lld\n"
               "# TYPE tp_rollup_rows_total counter\ntp_rollup_rows_total %lld\n"
               "# TYPE tp_rollup_skipped_total counter\ntp_rollup_skipped_total %lld\n"
               "# TYPE tp_rollup_files_total counter\ntp_rollup_files_total %lld\n"
               "# TYPE tp_rollup_open_files gauge\ntp_rollup_open_files %lld\n"
               "# TYPE tp_rollup_dead_letters_total counter\ntp_rollup_dead_letters_total %lld\n"
               "# TYPE tp_rollup_decode_retries_total counter\ntp_rollup_decode_retries_total "
               "%lld\n"
               "# TYPE tp_rollup_decode_waiting gauge\ntp_rollup_decode_waiting %lld\n",
               (long long)s.events, (long long)s.rows, (long long)s.skipped, (long long)s.files,
               (long long)s.open_files, (long long)s.dead_letters, (long long)s.decode_retries,
               (long long)s.waiting);
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_release(&b);
}

static void rollup_stop_cb(void *arg)
{
    rollup_stop(arg);
}

int main(int argc, char **argv)
{
    struct rollup_config cfg = {.kafka = {.prefix = "kafka."}};
    struct rollup *r = NULL;
    struct http_server *srv = NULL;
    struct schemas *schemas = NULL;
    char errstr[1024];
    int rc = 1;
    struct service_stopper stopper = {.started = false};
    if (service_start("tp-rollup", rollup_table, ROLLUP_TABLE_N, &cfg, &cfg.kafka, argc, argv, &rc))
        goto out;
    rc = 1;
    struct journal_config jc;
    journal_config_init(&jc, &cfg.journal, &cfg.kafka);
    jc.report_eof = cfg.once;
    struct rollup_options opts = {
        .journal = &jc,
        .group = cfg.group,
        .dir = cfg.dir,
        .max_rows = (uint64_t)cfg.max_rows,
        .max_bytes = (uint64_t)cfg.max_bytes,
        .idle_flush_s = (int)cfg.idle_flush_s,
        .once = cfg.once,
        .progress_tty = isatty(STDERR_FILENO),
        .crash_before_rename = (int)cfg.crash_before_rename,
        .crash_after_rename = (int)cfg.crash_after_rename,
    };
    /* with a registry, each event is decoded with its own version's descriptors, so fields
     * added by later versions become columns */
    if (telemetry_schemas_new(&cfg.registry, jc.topic, &schemas, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    char dlq[256];
    journal_dlq_topic_name(&jc, cfg.dlq_topic, dlq, sizeof(dlq));
    opts.schemas = schemas;
    opts.dlq_topic = dlq;
    if (!schemas)
        log_warn("registry.url is unset: events are decoded with the built-in Reading, fields of "
                 "other schema versions are not written");
    parquet_options_init(&opts.parquet);
    opts.parquet.row_group_rows = (size_t)cfg.row_group_rows;
    opts.parquet.zstd_level = (int)cfg.zstd_level;
    if (!strcmp(cfg.compression, "none"))
        opts.parquet.codec = PARQUET_CODEC_NONE;
    else if (!strcmp(cfg.compression, "snappy"))
        opts.parquet.codec = PARQUET_CODEC_SNAPPY;
    else if (strcmp(cfg.compression, "zstd") != 0) {
        log_error("invalid rollup.compression \"%s\": use zstd, snappy or none", cfg.compression);
        goto out;
    }
    if (rollup_new(&opts, &r, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    /* the server borrows the routes until http_server_free: function scope */
    const struct http_route routes[] = {
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/metrics", 0, rollup_handle_metrics, r},
    };
    if (!cfg.once) {
        struct http_options hopts = http_settings_options(&cfg.http);
        if (http_server_new(routes, 2, &hopts, &srv, errstr, sizeof(errstr)) != TP_OK) {
            log_error("%s", errstr);
            goto out;
        }
    }
    log_info("rolling \"%s\" up into \"%s\"%s", jc.topic, cfg.dir, cfg.once ? " (once)" : "");
    service_stopper_start(&stopper, rollup_stop_cb, r, "closing files");
    if (rollup_run(r, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    rc = 0;
out:
    service_stopper_join(&stopper); /* before the object is freed */
    http_server_free(srv);
    rollup_free(r);
    schemas_free(schemas); /* after the rollup that pins its schemas */
    config_release(rollup_table, ROLLUP_TABLE_N, &cfg, &cfg.kafka);
    return rc;
}
