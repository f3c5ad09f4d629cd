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
    struct replay_options opts;
    char *from;
    struct telemetry_registry_settings registry;
    enum log_level log_level;
    enum log_format log_format;
    struct config_extra kafka;
};

/* replay.from -> opts.from_start / opts.from_ms */
static enum tp_err replay_from_check(const struct config_entry *e, void *arg, char *errstr,
                                     size_t errstr_size)
{
    (void)e;
    struct replay_config *c = arg;
    if (replay_from_parse(c->from, &c->opts.from_start, &c->opts.from_ms, errstr, errstr_size) !=
        TP_OK)
        return TP_VALIDATION;
    return TP_OK;
}

#define P struct replay_config
static const struct config_entry replay_rows[] = {
    JOURNAL_CONFIG_ENTRIES(P, journal),
    SERVICE_PG_DSN_ENTRY(P, opts.pg_dsn),
    CONFIG_ROW_STR("replay.group", P, opts.group, "tp-projector",
                   "projector group (projector.group) handed the rebuilt offsets at the swap"),
    CONFIG_ROW_STR("replay.from", P, from, "start",
                   "rebuild from: \"start\" of the journal, or the first event appended (Kafka "
                   "timestamp) at or after an RFC 3339 time (2026-11-23T10:00:00Z) or ms since "
                   "the epoch",
                   .check = replay_from_check),
    CONFIG_ROW_INT("replay.batch_max", P, opts.batch_max, "10000", 1, 10000,
                   "events taken from the journal per poll"),
    CONFIG_ROW_INT("replay.sort_events", P, opts.sort_events, "100000", 1, 10000000,
                   "events gathered and folded per batch sorted by device (each device's readings "
                   "in journal order), so a device's twin and history stay in the cache; <= "
                   "replay.batch_max: no sort"),
    CONFIG_ROW_INT("replay.threads", P, opts.threads, "2", 1, 64,
                   "workers folding partitions in parallel during the build (each its own reader, "
                   "twins, history and connection)"),
    CONFIG_ROW_INT("replay.history_max_rows", P, opts.history_max_rows, "5000000", 1000, 1000000000,
                   "history rows held in memory before a spill into the shadow table (~60 bytes "
                   "each plus names)"),
    CONFIG_ROW_INT("replay.catchup_events", P, opts.catchup_events, "50000", 1, 1000000000,
                   "swap once a catch-up round read fewer events than this"),
    CONFIG_ROW_MS("replay.lock_timeout_ms", P, opts.lock_timeout_ms, "5000", 1, 600000,
                  "the swap's wait for table locks (queries queue behind it), then catch up and "
                  "retry"),
    CONFIG_ROW_BOOL("replay.swap", P, opts.swap, "true",
                    "false: build twins_shadow and metric_minutes_shadow, do not swap them in "
                    "(inspect them, then drop them or run again)"),
    CONFIG_ROW_BOOL("replay.allow_truncated", P, opts.allow_truncated, "false",
                    "rebuild from the start even when a partition's first offset is above 0 (its "
                    "earlier events were deleted): warns instead of refusing"),
    FOLD_MAX_JUMP_CONFIG_ENTRY(P, opts.max_sequence_jump),
    TELEMETRY_REGISTRY_CONFIG_ENTRIES(P, registry),
    SERVICE_LOG_ENTRY(P, log_level),
    SERVICE_LOG_FORMAT_ENTRY(P, log_format),
};
#undef P

static const struct config_table replay_table = CONFIG_TABLE("tp-replay", replay_rows, NULL);

SERVICE_LOOP_ADAPTERS(replay)

int main(int argc, char **argv)
{
    struct replay_config cfg = {.kafka = {.prefix = "kafka."}};
    struct replay *rp = NULL;
    struct schemas *schemas = NULL;
    struct journal_decoder decoder;
    char errstr[1024];
    int rc = 1;
    if (service_start(&replay_table, &cfg, &cfg.kafka, argc, argv, &rc))
        goto out;
    rc = 1;
    struct journal_config jc;
    journal_config_init(&jc, &cfg.journal, &cfg.kafka);
    /* as the projector: each event decoded with its own version's descriptors (the registry
     * not answering fails the replay, which leaves the live projection as it is) */
    if (telemetry_journal_attach(&cfg.registry, &jc, &schemas, &decoder, errstr, sizeof(errstr)) !=
        TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    cfg.opts.journal = &jc;
    cfg.opts.progress_tty = isatty(STDERR_FILENO);
    if (replay_new(&cfg.opts, &rp, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    log_info("rebuilding the projection of \"%s\" from %s for group \"%s\"", jc.topic,
             cfg.opts.from_start ? "the start" : cfg.from, cfg.opts.group);
    const struct service_loop loop = {.run = replay_loop_run,
                                      .stop = replay_loop_stop,
                                      .stopping = "stopping before the swap",
                                      .failed = "replay failed, the live projection is unchanged: ",
                                      .arg = rp};
    rc = service_run(&loop);
    if (rc != 0)
        goto out;
    struct replay_stats s;
    replay_stats_get(rp, &s);
    double build_rate = s.build_ms > 0 ? (double)s.build_events * 1000.0 / (double)s.build_ms : 0;
    log_info("%s %lld twins from %lld events (%lld applied, %lld duplicates, %lld invalid) in "
             "%.1f s; build %.0f events/s",
             cfg.opts.swap ? "rebuilt and swapped in" : "built", (long long)s.twins,
             (long long)s.events, (long long)s.applied, (long long)s.duplicates,
             (long long)s.invalid, (double)s.total_ms / 1000.0, build_rate);
    printf(
        "replay: events=%lld applied=%lld duplicates=%lld invalid=%lld twins=%lld "
        "history_written=%lld build_events=%lld build_ms=%lld total_ms=%lld swaps=%d too_late=%lld "
        "sequence_jumps=%lld\n",
        (long long)s.events, (long long)s.applied, (long long)s.duplicates, (long long)s.invalid,
        (long long)s.twins, (long long)s.history_rows, (long long)s.build_events,
        (long long)s.build_ms, (long long)s.total_ms, s.swap_attempts, (long long)s.too_late,
        (long long)s.seq_jumps);
out:
    replay_free(rp);
    schemas_free(schemas); /* after the readings that pin its schemas */
    config_release(replay_rows, replay_table.n, &cfg, &cfg.kafka);
    return rc;
}
