/* tp-replay: rebuilds the projection from the journal and swaps it in. */
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/service.h"
#include "schema/telemetry.h"
#include "twin/fold.h"
#include "replay.h"

struct replay_config {
    struct journal_settings journal;
    char *pg_dsn;
    char *group;
    char *from;
    long long batch_max;
    long long sort_events;
    long long threads;
    long long history_max_rows;
    long long catchup_events;
    long long lock_timeout_ms;
    bool swap;
    bool allow_truncated;
    long long max_sequence_jump;
    struct telemetry_registry_settings registry;
    char *log_level;
    struct config_extra kafka;
};

static const struct config_entry replay_table[] = {
    JOURNAL_CONFIG_ENTRIES(struct replay_config, journal),
    SERVICE_PG_DSN_ENTRY(struct replay_config, pg_dsn),
    {"replay.group", CONFIG_STRING, "tp-projector", 0, 0, offsetof(struct replay_config, group),
     "projector group (projector.group) handed the rebuilt offsets at the swap"},
    {"replay.from", CONFIG_STRING, "start", 0, 0, offsetof(struct replay_config, from),
     "rebuild from: \"start\" of the journal, or events appended at or after an RFC 3339 time "
     "or ms since the epoch"},
    {"replay.batch_max", CONFIG_INT, "10000", 1, 10000, offsetof(struct replay_config, batch_max),
     "events taken from the journal per poll"},
    {"replay.sort_events", CONFIG_INT, "100000", 1, 10000000,
     offsetof(struct replay_config, sort_events),
     "events gathered and folded per batch sorted by device (each device's readings in journal "
     "order), so a device's twin and history stay in the cache; <= replay.batch_max: no sort"},
    {"replay.threads", CONFIG_INT, "2", 1, 64, offsetof(struct replay_config, threads),
     "workers folding partitions in parallel during the build (each its own reader, twins, "
     "history and connection)"},
    {"replay.history_max_rows", CONFIG_INT, "5000000", 1000, 1000000000,
     offsetof(struct replay_config, history_max_rows),
     "history rows held in memory before a spill into the shadow table (~60 bytes each plus "
     "names)"},
    {"replay.catchup_events", CONFIG_INT, "50000", 1, 1000000000,
     offsetof(struct replay_config, catchup_events),
     "swap once a catch-up round read fewer events than this"},
    {"replay.lock_timeout_ms", CONFIG_INT, "5000", 1, 600000,
     offsetof(struct replay_config, lock_timeout_ms),
     "the swap's wait for table locks (queries queue behind it), then catch up and retry"},
    {"replay.swap", CONFIG_BOOL, "true", 0, 0, offsetof(struct replay_config, swap),
     "false: build twins_shadow and metric_minutes_shadow, do not swap them in"},
    {"replay.allow_truncated", CONFIG_BOOL, "false", 0, 0,
     offsetof(struct replay_config, allow_truncated),
     "rebuild from the start even when a partition's first offset is above 0 (its earlier "
     "events were deleted): warns instead of refusing"},
    FOLD_MAX_JUMP_CONFIG_ENTRY(struct replay_config, max_sequence_jump),
    TELEMETRY_REGISTRY_CONFIG_ENTRIES(struct replay_config, registry),
    SERVICE_LOG_ENTRY(struct replay_config, log_level),
};
#define REPLAY_TABLE_N (sizeof(replay_table) / sizeof(replay_table[0]))

static void replay_stop_cb(void *arg)
{
    replay_stop(arg);
}

int main(int argc, char **argv)
{
    struct replay_config cfg = {.kafka = {.prefix = "kafka."}};
    struct replay *rp = NULL;
    struct schemas *schemas = NULL;
    struct journal_decoder decoder;
    char errstr[1024];
    int rc = 1;
    struct service_stopper stopper = {.started = false};
    if (service_start("tp-replay", replay_table, REPLAY_TABLE_N, &cfg, &cfg.kafka, argc, argv, &rc))
        goto out;
    rc = 1;
    struct journal_config jc;
    journal_config_init(&jc, &cfg.journal, &cfg.kafka);
    /* as the projector: each event decoded with its own version's descriptors (the registry
     * not answering fails the replay, which leaves the live projection as it is) */
    if (telemetry_schemas_new(&cfg.registry, jc.topic, &schemas, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    if (schemas) {
        telemetry_journal_decoder(schemas, &decoder);
        jc.decoder = &decoder;
    }
    struct replay_options opts = {
        .journal = &jc,
        .pg_dsn = cfg.pg_dsn,
        .group = cfg.group,
        .batch_max = (size_t)cfg.batch_max,
        .sort_events = (size_t)cfg.sort_events,
        .threads = (int)cfg.threads,
        .history_max_rows = (size_t)cfg.history_max_rows,
        .catchup_events = cfg.catchup_events,
        .lock_timeout_ms = (int)cfg.lock_timeout_ms,
        .swap = cfg.swap,
        .allow_truncated = cfg.allow_truncated,
        .progress_tty = isatty(STDERR_FILENO),
        .max_sequence_jump = cfg.max_sequence_jump,
    };
    if (replay_from_parse(cfg.from, &opts.from_start, &opts.from_ms, errstr, sizeof(errstr)) !=
        TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    if (replay_new(&opts, &rp, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    log_info("rebuilding the projection of \"%s\" from %s for group \"%s\"", jc.topic,
             opts.from_start ? "the start" : cfg.from, cfg.group);
    service_stopper_start(&stopper, replay_stop_cb, rp, "stopping before the swap");
    if (replay_run(rp, errstr, sizeof(errstr)) != TP_OK) {
        log_error("replay failed, the live projection is unchanged: %s", errstr);
        goto out;
    }
    struct replay_stats s;
    replay_stats_get(rp, &s);
    double build_rate = s.build_ms > 0 ? (double)s.build_events * 1000.0 / (double)s.build_ms : 0;
    log_info("%s %lld twins from %lld events (%lld applied, %lld duplicates, %lld invalid) in "
             "%.1f s; build %.0f events/s",
             cfg.swap ? "rebuilt and swapped in" : "built", (long long)s.twins, (long long)s.events,
             (long long)s.applied, (long long)s.duplicates, (long long)s.invalid,
             (double)s.total_ms / 1000.0, build_rate);
    printf(
        "replay: events=%lld applied=%lld duplicates=%lld invalid=%lld twins=%lld "
        "history_written=%lld build_events=%lld build_ms=%lld total_ms=%lld swaps=%d too_late=%lld "
        "sequence_jumps=%lld\n",
        (long long)s.events, (long long)s.applied, (long long)s.duplicates, (long long)s.invalid,
        (long long)s.twins, (long long)s.history_rows, (long long)s.build_events,
        (long long)s.build_ms, (long long)s.total_ms, s.swap_attempts, (long long)s.too_late,
        (long long)s.seq_jumps);
    rc = 0;
out:
    service_stopper_join(&stopper); /* before the object is freed */
    replay_free(rp);
    schemas_free(schemas); /* after the readings that pin its schemas */
    config_release(replay_table, REPLAY_TABLE_N, &cfg, &cfg.kafka);
    return rc;
}
