#include "rollup.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregates.h"
#include "columns.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/service.h"
#include "layout.h"
#include "schema/telemetry.h"

#define ROLLUP_MAX_PARTITIONS 4096
#define ROLLUP_HOUR_MS        3600000LL
#define ROLLUP_SCHEMAS_HELD   1024  /* schema versions pinned (their descriptors stay) */
#define ROLLUP_BACKOFF_MIN_MS 100   /* waiting for the registry: first pause */
#define ROLLUP_BACKOFF_MAX_MS 5000  /* ... doubling up to this */
#define ROLLUP_DLQ_TIMEOUT_MS 15000 /* a dead letter's acknowledgement */

struct rollup_part {
    struct parquet_writer *w;
    struct layout_paths paths;
    int64_t hour;
    int64_t next_offset;
    uint64_t rows;
    uint64_t bytes;
    int64_t last_event_ms; /* monotonic */
    unsigned schema_version;
    bool reached_end; /* once mode */
    bool assigned;
    int64_t position; /* next offset consumed, -1 = unknown */
};

struct rollup {
    struct rollup_options opts;
    struct journal_consumer *consumer;
    struct rollup_schema schema;
    struct parquet_column_spec specs[ROLLUP_COLUMNS_MAX];
    struct rollup_part parts[ROLLUP_MAX_PARTITIONS];
    int64_t ends[ROLLUP_MAX_PARTITIONS];
    size_t n_ends;
    int closes;
    int renames;
    bool ever_assigned;
    atomic_bool running;
    enum tp_err fatal;
    char fatal_msg[512];
    _Atomic int64_t st_events, st_rows, st_skipped, st_files, st_open, st_lag;
    _Atomic int64_t st_dead, st_retries, st_waiting;
    /* decoding through the registry (opts.schemas): the consumer's config with its decoder */
    struct journal_config jc;
    struct journal_decoder decoder;
    /* pinned versions: their descriptors (cached by pointer in columns.c) are never freed */
    int32_t held_id[ROLLUP_SCHEMAS_HELD];
    struct lru_ref *held_ref[ROLLUP_SCHEMAS_HELD];
    size_t n_held;
    bool resolve_always; /* more versions than pinned: resolve columns per event */
    /* descriptors whose columns are in the schema (the built-in one and pinned versions) */
    const ProtobufCMessageDescriptor *added[ROLLUP_SCHEMAS_HELD + 1];
    size_t n_added;
    const ProtobufCMessageDescriptor *last_desc;
    int backoff_ms;
    struct journal_producer *dlq;
    struct journal_config dlq_cfg; /* topic: the journal's (the tp-topic header), never written */
    int dlq_pending;               /* dead letters not yet reported */
    enum tp_err dlq_err;
    char dlq_why[256];
};

static int64_t rollup_floor_hour(int64_t ms)
{
    int64_t h = ms / ROLLUP_HOUR_MS;
    return (ms % ROLLUP_HOUR_MS < 0) ? h - 1 : h;
}

/* Pins schema id's version for the rollup's lifetime (once per id). */
static void rollup_hold(struct rollup *r, int32_t id)
{
    for (size_t i = 0; i < r->n_held; i++)
        if (r->held_id[i] == id)
            return;
    if (r->n_held == ROLLUP_SCHEMAS_HELD) {
        r->resolve_always = true;
        return;
    }
    const struct schema *sc;
    struct lru_ref *ref;
    char why[256];
    if (schemas_get(r->opts.schemas, id, &sc, &ref, why, sizeof(why)) != TP_OK) {
        r->resolve_always = true; /* evicted meanwhile: never trust a cached pointer */
        return;
    }
    r->held_id[r->n_held] = id;
    r->held_ref[r->n_held++] = ref;
}

static void rollup_dlq_delivered(void *opaque, const struct journal_delivery *d, void *arg)
{
    struct rollup *r = arg;
    (void)opaque;
    r->dlq_pending--;
    if (d->err != TP_OK) {
        r->dlq_err = d->err;
        snprintf(r->dlq_why, sizeof(r->dlq_why), "%s", d->errstr);
    }
}

/* Sleeps ms, in steps that notice rollup_stop. */
static void rollup_sleep(struct rollup *r, int ms)
{
    for (int slept = 0; slept < ms && atomic_load(&r->running); slept += 100)
        usleep((useconds_t)(ms - slept < 100 ? ms - slept : 100) * 1000);
}

/* Writes the undecodable event, as journaled, to the dead-letter topic (reason "undecodable",
 * the decoder's error as detail: the projector's) and waits for its acknowledgement. */
static enum tp_err rollup_dead_letter(struct rollup *r, const struct journal_event *ev,
                                      char *errstr, size_t errstr_size)
{
    r->dlq_err = TP_OK;
    enum tp_err err = journal_producer_dead_letter(r->dlq, ev, "undecodable", ev->error, NULL,
                                                   errstr, errstr_size);
    if (err != TP_OK)
        return err;
    r->dlq_pending++;
    journal_producer_flush(r->dlq, ROLLUP_DLQ_TIMEOUT_MS); /* serves the delivery report */
    if (r->dlq_pending > 0) {
        /* reported as failed now; if the broker did write it, the retry dead-letters the
         * event twice (at least once, never lost) */
        journal_producer_purge(r->dlq);
        journal_producer_poll(r->dlq, 0);
        return tp_err_set(TP_TIMEOUT, errstr, errstr_size,
                          "the dead letter was not acknowledged within %d ms",
                          ROLLUP_DLQ_TIMEOUT_MS);
    }
    if (r->dlq_err != TP_OK)
        return tp_err_set(r->dlq_err, errstr, errstr_size, "%s", r->dlq_why);
    log_warn("could not decode the event at partition %d offset %lld (schema id %d): written to "
             "the dead-letter topic \"%s\" (undecodable: %s)",
             ev->partition, (long long)ev->offset, ev->schema_id, r->dlq_cfg.dlq_topic, ev->error);
    atomic_fetch_add(&r->st_dead, 1);
    return TP_OK;
}

/*
 * An event that was not decoded (ev->decode_err, journal.h). One that can never be: dead-letter
 * it, then *pass is set (the caller moves past it); without a dead-letter topic (no registry:
 * the built-in Reading) it is passed and counted as skipped. A retriable error (the registry
 * did not answer), or a dead letter not acknowledged: the partition is rewound to the event and
 * the loop pauses with backoff; nothing moves past it.
 */
static enum tp_err rollup_undecoded(struct rollup *r, const struct journal_event *ev, bool *pass,
                                    char *errstr, size_t errstr_size)
{
    char why[512];
    *pass = false;
    if (!tp_err_retriable(ev->decode_err)) {
        if (!r->dlq) {
            atomic_fetch_add(&r->st_skipped, 1);
            *pass = true;
            return TP_OK;
        }
        enum tp_err err = rollup_dead_letter(r, ev, why, sizeof(why));
        if (err == TP_OK) {
            *pass = true;
            return TP_OK;
        }
        log_warn("could not dead-letter the event at partition %d offset %lld (%s): %s",
                 ev->partition, (long long)ev->offset, ev->error, why);
    } else {
        snprintf(why, sizeof(why), "%s", ev->error);
    }
    atomic_store(&r->st_waiting, 1);
    atomic_fetch_add(&r->st_retries, 1);
    log_warn("cannot decode the event at partition %d offset %lld (schema id %d) yet, retrying "
             "in %d ms: %s",
             ev->partition, (long long)ev->offset, ev->schema_id, r->backoff_ms, why);
    enum tp_err err =
        journal_consumer_seek(r->consumer, &ev->partition, &ev->offset, 1, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    rollup_sleep(r, r->backoff_ms);
    r->backoff_ms =
        r->backoff_ms * 2 > ROLLUP_BACKOFF_MAX_MS ? ROLLUP_BACKOFF_MAX_MS : r->backoff_ms * 2;
    return TP_OK;
}

/* Closes the partition's file, publishes it and commits the offset after it. */
static enum tp_err rollup_close(struct rollup *r, int32_t p, char *errstr, size_t errstr_size)
{
    struct rollup_part *part = &r->parts[p];
    if (!part->w)
        return TP_OK;
    enum tp_err err = parquet_writer_close(part->w, errstr, errstr_size);
    parquet_writer_free(part->w);
    part->w = NULL;
    atomic_fetch_sub(&r->st_open, 1);
    r->closes++;
    if (err == TP_OK && r->opts.crash_before_rename && r->closes == r->opts.crash_before_rename) {
        log_error("test hook: crashing after writing file %d, before its rename", r->closes);
        abort();
    }
    if (err == TP_OK)
        err = layout_publish(&part->paths, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    r->renames++;
    if (r->opts.crash_after_rename && r->renames == r->opts.crash_after_rename) {
        log_error("test hook: crashing after rename %d, before the offset commit", r->renames);
        abort();
    }
    err = journal_consumer_commit(r->consumer, &p, &part->next_offset, 1, errstr, errstr_size);
    if (err == TP_OK) {
        atomic_fetch_add(&r->st_files, 1);
        log_debug("wrote \"%s\" (%llu rows)", part->paths.final, (unsigned long long)part->rows);
    }
    return err;
}

static enum tp_err rollup_open(struct rollup *r, int32_t p, int64_t hour, int64_t first_offset,
                               char *errstr, size_t errstr_size)
{
    struct rollup_part *part = &r->parts[p];
    enum tp_err err = layout_paths(r->opts.dir, r->opts.journal->topic, hour * ROLLUP_HOUR_MS, p,
                                   first_offset, &part->paths, errstr, errstr_size);
    if (err == TP_OK)
        err = layout_mkdirs(part->paths.dir, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    rollup_schema_specs(&r->schema, r->specs);
    err = parquet_writer_new(part->paths.tmp, r->specs, r->schema.n, &r->opts.parquet, &part->w,
                             errstr, errstr_size);
    if (err != TP_OK)
        return err;
    part->hour = hour;
    part->rows = 0;
    part->bytes = 0;
    part->schema_version = r->schema.version;
    atomic_fetch_add(&r->st_open, 1);
    return TP_OK;
}

static uint64_t rollup_row_bytes(const journal_reading *rd)
{
    /* an estimate of the values' size, for rotation by bytes */
    return 8 * 12 + strlen(rd->device_id) + (rd->model ? strlen(rd->model) : 0) +
           (rd->firmware ? strlen(rd->firmware) : 0) + (rd->region ? strlen(rd->region) : 0) +
           16 * rd->n_metrics;
}

/* A version not seen yet may bring columns (union by name; open files then rotate). */
static enum tp_err rollup_columns_for(struct rollup *r, const ProtobufCMessageDescriptor *d,
                                      char *errstr, size_t errstr_size)
{
    if (r->resolve_always) {
        r->schema.cached_desc = NULL; /* d may be freed and another at its address later */
        return rollup_schema_add(&r->schema, d, errstr, errstr_size);
    }
    if (d == r->last_desc)
        return TP_OK;
    r->last_desc = d;
    for (size_t i = 0; i < r->n_added; i++)
        if (r->added[i] == d)
            return TP_OK;
    enum tp_err err = rollup_schema_add(&r->schema, d, errstr, errstr_size);
    if (err == TP_OK && r->n_added < ROLLUP_SCHEMAS_HELD + 1)
        r->added[r->n_added++] = d;
    return err;
}

/* The event in hand was decoded or dead-lettered: whatever waited is over. */
static void rollup_waited(struct rollup *r)
{
    r->backoff_ms = ROLLUP_BACKOFF_MIN_MS;
    atomic_store(&r->st_waiting, 0);
}

/* One event: a row, or (passed: dead-lettered or counted as skipped already) only its offset.
 * With rollup.message=window_aggregate, the row of a WindowAggregate record (aggregates.h). */
static enum tp_err rollup_event(struct rollup *r, const struct journal_event *ev, bool passed,
                                char *errstr, size_t errstr_size)
{
    struct rollup_part *part = &r->parts[ev->partition];
    enum tp_err err = TP_OK;
    rollup_agg *agg = NULL;
    part->position = ev->offset + 1;
    if (r->opts.once && part->position >= r->ends[ev->partition])
        part->reached_end = true;
    atomic_fetch_add(&r->st_events, 1);
    if (!passed && r->opts.window_aggregates) {
        char why[256];
        if (rollup_agg_decode(ev->value, ev->value_len, &agg, why, sizeof(why)) != TP_OK)
            log_warn("skipped the record at partition %d offset %lld: %s", ev->partition,
                     (long long)ev->offset, why);
    }
    if (passed || (r->opts.window_aggregates ? !agg : !rollup_event_usable(ev))) {
        if (!passed)
            atomic_fetch_add(&r->st_skipped, 1);
        if (part->w)
            part->next_offset = ev->offset + 1;
        return TP_OK;
    }
    err = agg ? rollup_agg_columns(&r->schema, agg, errstr, errstr_size)
              : rollup_columns_for(r, ev->reading->base.descriptor, errstr, errstr_size);
    if (err != TP_OK) {
        rollup_agg_free(agg);
        return err;
    }
    int64_t hour = rollup_floor_hour(agg ? agg->window_start_ms : ev->reading->timestamp_ms);
    if (part->w && (hour != part->hour || part->schema_version != r->schema.version))
        err = rollup_close(r, ev->partition, errstr, errstr_size);
    if (err == TP_OK && !part->w)
        err = rollup_open(r, ev->partition, hour, ev->offset, errstr, errstr_size);
    if (err == TP_OK)
        err = agg ? rollup_agg_fill(&r->schema, part->w, agg, errstr, errstr_size)
                  : rollup_row_fill(&r->schema, part->w, ev, errstr, errstr_size);
    if (err == TP_OK)
        err = parquet_writer_end_row(part->w, errstr, errstr_size);
    uint64_t bytes = err != TP_OK ? 0 : agg ? rollup_agg_bytes(agg) : rollup_row_bytes(ev->reading);
    rollup_agg_free(agg);
    if (err != TP_OK)
        return err;
    atomic_fetch_add(&r->st_rows, 1);
    part->rows++;
    part->bytes += bytes;
    part->next_offset = ev->offset + 1;
    part->last_event_ms = tp_mono_ms();
    if (part->rows >= r->opts.max_rows || part->bytes >= r->opts.max_bytes)
        err = rollup_close(r, ev->partition, errstr, errstr_size);
    return err;
}

static enum tp_err rollup_on_assign(void *arg, const int32_t *partitions, int64_t *offsets,
                                    size_t n)
{
    struct rollup *r = arg;
    for (size_t i = 0; i < n; i++) {
        if (partitions[i] >= ROLLUP_MAX_PARTITIONS) {
            snprintf(r->fatal_msg, sizeof(r->fatal_msg), "partition %d over the maximum %d",
                     partitions[i], ROLLUP_MAX_PARTITIONS);
            r->fatal = TP_TOO_LARGE;
            return TP_TOO_LARGE;
        }
        offsets[i] = JOURNAL_OFFSET_STORED; /* the group's commits follow the renames */
        r->parts[partitions[i]].assigned = true;
    }
    r->ever_assigned = true;
    return TP_OK;
}

static void rollup_on_revoke(void *arg, const int32_t *partitions, size_t n, bool lost)
{
    struct rollup *r = arg;
    char errstr[512];
    for (size_t i = 0; i < n; i++) {
        struct rollup_part *part = &r->parts[partitions[i]];
        part->assigned = false;
        if (lost && part->w) {
            /* the new owner rewrites this range under the same name: publishing
             * ours now could replace its file with a shorter or longer one */
            parquet_writer_free(part->w); /* removes the temporary file */
            part->w = NULL;
            atomic_fetch_sub(&r->st_open, 1);
            continue;
        }
        if (rollup_close(r, partitions[i], errstr, sizeof(errstr)) != TP_OK) {
            log_error("could not close the file of partition %d on revoke: %s", partitions[i],
                      errstr);
            r->fatal = TP_IO;
            snprintf(r->fatal_msg, sizeof(r->fatal_msg), "%s", errstr);
        }
    }
}

enum tp_err rollup_new(const struct rollup_options *opts, struct rollup **out, char *errstr,
                       size_t errstr_size)
{
    struct rollup *r = tp_calloc(1, sizeof(*r));
    r->opts = *opts;
    r->jc = *opts->journal;
    r->backoff_ms = ROLLUP_BACKOFF_MIN_MS;
    if (opts->window_aggregates) {
        r->jc.raw = true; /* records decoded by aggregates.c */
        r->opts.schemas = NULL;
    } else if (opts->schemas) {
        telemetry_journal_decoder(opts->schemas, &r->decoder);
        r->jc.decoder = &r->decoder;
    }
    atomic_store(&r->running, true);
    for (size_t p = 0; p < ROLLUP_MAX_PARTITIONS; p++)
        r->parts[p].position = -1;
    enum tp_err err = TP_OK;
    if (r->opts.window_aggregates) {
        rollup_agg_schema_init(&r->schema);
    } else {
        rollup_schema_init(&r->schema);
        err = rollup_schema_add(&r->schema, &twinpipe__telemetry__v1__reading__descriptor, errstr,
                                errstr_size);
    }
    if (err == TP_OK)
        err = layout_mkdirs(opts->dir, errstr, errstr_size);
    if (err == TP_OK && r->opts.schemas && opts->dlq_topic) {
        struct journal_config topic = r->jc;
        topic.topic = opts->dlq_topic;
        topic.max_message_bytes = 0;
        err = journal_topic_ensure(&topic, 15000, errstr, errstr_size);
        r->dlq_cfg = r->jc;
        r->dlq_cfg.decoder = NULL;
        r->dlq_cfg.dlq_topic = opts->dlq_topic;
        if (err == TP_OK)
            err = journal_producer_new(&r->dlq_cfg, rollup_dlq_delivered, r, &r->dlq, errstr,
                                       errstr_size);
    }
    if (err == TP_OK && opts->once)
        err = journal_topic_end_offsets(opts->journal, 15000, r->ends, ROLLUP_MAX_PARTITIONS,
                                        &r->n_ends, errstr, errstr_size);
    if (err == TP_OK) {
        struct journal_rebalance rb = {rollup_on_assign, rollup_on_revoke, r};
        err = journal_consumer_new(&r->jc, opts->group, &rb, &r->consumer, errstr, errstr_size);
    }
    if (err != TP_OK) {
        rollup_free(r);
        return err;
    }
    *out = r;
    return TP_OK;
}

/* Once mode: every partition assigned to this member reached its end. (Run
 * one once-job per group: partitions another member holds are its job.) */
static bool rollup_all_done(struct rollup *r)
{
    if (!r->ever_assigned)
        return r->n_ends == 0;
    for (size_t p = 0; p < r->n_ends; p++)
        if (r->parts[p].assigned && !r->parts[p].reached_end && r->ends[p] > 0)
            return false;
    return true;
}

static void rollup_progress(struct rollup *r, bool final)
{
    static int64_t last;
    int64_t now = tp_mono_ms();
    if (!final && now - last < (r->opts.progress_tty ? 200 : 10000))
        return;
    last = now;
    int64_t lag = 0;
    for (size_t p = 0; p < r->n_ends; p++) {
        int64_t pos = r->parts[p].position < 0 ? 0 : r->parts[p].position;
        if (!r->parts[p].reached_end && r->ends[p] > pos)
            lag += r->ends[p] - pos;
    }
    atomic_store(&r->st_lag, lag);
    struct rollup_stats s;
    rollup_stats_get(r, &s);
    if (r->opts.progress_tty)
        fprintf(stderr, "\rrollup: %lld events, %lld rows, %lld files, %lld open%s%lld%s",
                (long long)s.events, (long long)s.rows, (long long)s.files, (long long)s.open_files,
                r->opts.once ? ", left " : "", r->opts.once ? (long long)lag : 0LL,
                final ? "\n" : "   ");
    else
        log_info("%lld events, %lld rows, %lld skipped, %lld files, %lld open, %lld left",
                 (long long)s.events, (long long)s.rows, (long long)s.skipped, (long long)s.files,
                 (long long)s.open_files, (long long)lag);
}

enum tp_err rollup_run(struct rollup *r, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    int64_t last_idle_check = tp_mono_ms();
    /* each turn: a poll of at most 100 ms and one event, or closing files (a file's last row
     * group and footer) */
    struct service_beat *beat = service_beat_new(
        NULL, "rollup",
        r->opts.health_stall_ms > 0 ? r->opts.health_stall_ms : SERVICE_STALL_DEFAULT_MS);
    while (atomic_load(&r->running) && err == TP_OK) {
        service_beat(beat);
        if (r->opts.once && rollup_all_done(r))
            break;
        struct journal_event ev;
        bool got;
        err = journal_consumer_poll(r->consumer, 100, &ev, &got, errstr, errstr_size);
        if (err == TP_OK && r->fatal != TP_OK)
            err = tp_err_set(r->fatal, errstr, errstr_size, "%s", r->fatal_msg);
        if (err == TP_OK && got) {
            if (ev.eof) {
                if (r->opts.once && (size_t)ev.partition < r->n_ends &&
                    ev.offset >= r->ends[ev.partition])
                    r->parts[ev.partition].reached_end = true;
            } else if (ev.decode_err != TP_OK) {
                bool pass;
                err = rollup_undecoded(r, &ev, &pass, errstr, errstr_size);
                if (err == TP_OK && pass) {
                    rollup_waited(r);
                    err = rollup_event(r, &ev, true, errstr, errstr_size);
                }
            } else {
                if (r->opts.schemas) { /* decoded: the registry answers */
                    rollup_hold(r, ev.schema_id);
                    rollup_waited(r);
                }
                err = rollup_event(r, &ev, false, errstr, errstr_size);
            }
            journal_event_release(&ev);
        }
        int64_t now = tp_mono_ms();
        if (r->opts.idle_flush_s > 0 && now - last_idle_check >= 1000) {
            last_idle_check = now;
            for (int32_t p = 0; err == TP_OK && p < ROLLUP_MAX_PARTITIONS; p++)
                if (r->parts[p].w &&
                    now - r->parts[p].last_event_ms >= r->opts.idle_flush_s * 1000LL)
                    err = rollup_close(r, p, errstr, errstr_size);
        }
        rollup_progress(r, false);
    }
    for (int32_t p = 0; err == TP_OK && p < ROLLUP_MAX_PARTITIONS; p++)
        err = rollup_close(r, p, errstr, errstr_size);
    service_beat_free(beat);
    rollup_progress(r, true);
    return err;
}

void rollup_stop(struct rollup *r)
{
    atomic_store(&r->running, false);
}

void rollup_stats_get(struct rollup *r, struct rollup_stats *out)
{
    out->events = atomic_load(&r->st_events);
    out->rows = atomic_load(&r->st_rows);
    out->skipped = atomic_load(&r->st_skipped);
    out->files = atomic_load(&r->st_files);
    out->open_files = atomic_load(&r->st_open);
    out->lag = atomic_load(&r->st_lag);
    out->dead_letters = atomic_load(&r->st_dead);
    out->decode_retries = atomic_load(&r->st_retries);
    out->waiting = atomic_load(&r->st_waiting);
}

void rollup_free(struct rollup *r)
{
    if (!r)
        return;
    journal_consumer_free(r->consumer); /* revoke closes and commits open files */
    for (size_t p = 0; p < ROLLUP_MAX_PARTITIONS; p++)
        parquet_writer_free(r->parts[p].w); /* only after an error: removes the temp file */
    for (size_t i = 0; i < r->n_held; i++)
        schemas_put(r->opts.schemas, r->held_ref[i]);
    journal_producer_free(r->dlq);
    free(r);
}
