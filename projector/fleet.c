#include "fleet.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/service.h"
#include "fleet_map.h"
#include "fleet_store.h"

#define FLEET_FINAL_ATTEMPTS  5     /* flushes on revoke and at stop (then the map is dropped) */
#define FLEET_ASSIGN_ATTEMPTS 12    /* offset loads on assign, backoff up to 5 s: ~35 s */
#define FLEET_BACKOFF_MAX_MS  5000  /* between attempts while postgresql does not answer */
#define FLEET_DLQ_FLUSH_MS    15000 /* dead letters acknowledged before a flush commits */
#define FLEET_SKIP_LOG_MS     10000 /* records not applied: one log line per this period */

/* One (topic, partition) this projector was ever assigned. */
struct fleet_part {
    char *topic;
    int32_t partition;
    int64_t next;   /* next offset to read */
    int64_t stored; /* what postgresql holds (JOURNAL_OFFSET_BEGINNING: no row) */
    bool dirty;     /* next moved since the last flush */
    bool assigned;
    _Atomic int64_t lag; /* for /metrics; -1 unknown */
};

struct fleet {
    struct fleet_options opts;
    struct fleet_store *store;
    struct journal_consumer *consumer;
    struct journal_config dlq_cfg;
    struct journal_producer *dlq;
    bool dlq_error;
    char dlq_error_msg[256];
    struct fleet_map *map;
    struct fleet_part **parts; /* every (topic, partition) ever assigned; loop thread only */
    size_t n_parts, cap_parts;
    /* the first FLEET_LAG_PARTITIONS of them for /metrics (set once, then n_lag published) */
    struct fleet_part *lag_parts[FLEET_LAG_PARTITIONS];
    struct journal_event *batch;
    uint64_t generation; /* bumped by every revoke and resync: a batch gathered before is stale */
    int64_t first_change_ms;
    int64_t skip_logged_ms, skip_unlogged;
    atomic_bool running, failed;
    char fail_msg[512];
    struct service_beat *beat;
    struct http_server *srv;
    _Atomic int64_t st_records, st_written, st_stale, st_invalid, st_dead_lettered, st_flushes;
    _Atomic int64_t st_resyncs, st_assigned, st_loop_ms, st_pending;
    atomic_bool st_flush_failing;
    struct metrics_histogram flush_latency;
    struct metrics_histogram freshness;
    _Atomic size_t n_lag; /* parts[0..n_lag) published for /metrics */
};

static int fleet_backoff(int ms)
{
    return ms * 2 > FLEET_BACKOFF_MAX_MS ? FLEET_BACKOFF_MAX_MS : ms * 2;
}

static void fleet_sleep(struct fleet *f, int ms)
{
    for (int slept = 0; slept < ms && atomic_load(&f->running); slept += 100)
        usleep((useconds_t)(ms - slept < 100 ? ms - slept : 100) * 1000);
}

/* The part of (topic, partition), added (not assigned) when add and new; else NULL. */
static struct fleet_part *fleet_part_of(struct fleet *f, const char *topic, int32_t partition,
                                        bool add)
{
    for (size_t i = 0; i < f->n_parts; i++)
        if (f->parts[i]->partition == partition && !strcmp(f->parts[i]->topic, topic))
            return f->parts[i];
    if (!add)
        return NULL;
    if (f->n_parts == f->cap_parts) {
        f->cap_parts = f->cap_parts ? 2 * f->cap_parts : 64;
        f->parts = tp_realloc(f->parts, f->cap_parts * sizeof(*f->parts));
    }
    struct fleet_part *p = tp_calloc(1, sizeof(*p)); /* freed by fleet_free only */
    p->topic = tp_strdup(topic);
    p->partition = partition;
    p->next = p->stored = JOURNAL_OFFSET_BEGINNING;
    atomic_store(&p->lag, -1);
    f->parts[f->n_parts++] = p;
    if (f->n_parts <= FLEET_LAG_PARTITIONS) {
        f->lag_parts[f->n_parts - 1] = p;
        atomic_store(&f->n_lag, f->n_parts);
    }
    return p;
}

/* Forgets everything not in postgresql: the map and the moved offsets. */
static void fleet_drop_state(struct fleet *f)
{
    fleet_map_clear(f->map);
    for (size_t i = 0; i < f->n_parts; i++)
        f->parts[i]->dirty = false;
    f->first_change_ms = 0;
    f->dlq_error = false; /* what failed is read and dead-lettered again */
    atomic_store(&f->st_pending, 0);
}

/*
 * Writes the map and the moved offsets in one transaction (fleet_store.h), once the dead
 * letters of the records it moves past are in Kafka. On failure nothing changes here: the
 * caller resyncs (or retries the same flush at the end).
 */
static enum tp_err fleet_flush(struct fleet *f, char *errstr, size_t errstr_size)
{
    if (f->dlq && journal_producer_flush(f->dlq, FLEET_DLQ_FLUSH_MS) != TP_OK && !f->dlq_error) {
        f->dlq_error = true;
        snprintf(f->dlq_error_msg, sizeof(f->dlq_error_msg),
                 "not acknowledged by kafka within %d ms", FLEET_DLQ_FLUSH_MS);
    }
    if (f->dlq_error)
        return tp_err_set(TP_KAFKA_TRANSIENT, errstr, errstr_size,
                          "could not write to the dead-letter topic \"%s\": %s",
                          f->dlq_cfg.dlq_topic, f->dlq_error_msg);
    struct fleet_store_offset *offs = tp_calloc(f->n_parts ? f->n_parts : 1, sizeof(*offs));
    size_t n = 0;
    for (size_t i = 0; i < f->n_parts; i++)
        if (f->parts[i]->dirty)
            offs[n++] = (struct fleet_store_offset){f->parts[i]->topic, f->parts[i]->partition,
                                                    f->parts[i]->next, f->parts[i]->stored};
    enum tp_err err = TP_OK;
    if (n > 0 || fleet_map_count(f->map) > 0) {
        struct fleet_store_result res;
        int64_t t0 = tp_mono_ms();
        err = fleet_store_flush(f->store, f->map, offs, n, &res, errstr, errstr_size);
        atomic_store(&f->st_flush_failing, err != TP_OK);
        if (err == TP_OK) {
            int64_t committed = tp_now_ms();
            metrics_histogram_observe(&f->flush_latency, (double)(tp_mono_ms() - t0));
            for (size_t i = 0; i < res.n_inserted; i++)
                metrics_histogram_observe(&f->freshness, (double)(committed - res.window_ends[i]));
            atomic_fetch_add(&f->st_written, res.upserted);
            atomic_fetch_add(&f->st_stale, (int64_t)fleet_map_count(f->map) - res.upserted);
            atomic_fetch_add(&f->st_flushes, 1);
            log_debug("flushed %zu partials (%lld written) and %zu offsets",
                      fleet_map_count(f->map), (long long)res.upserted, n);
            free(res.window_ends);
            for (size_t i = 0; i < f->n_parts; i++)
                if (f->parts[i]->dirty) {
                    f->parts[i]->dirty = false;
                    f->parts[i]->stored = f->parts[i]->next;
                }
            fleet_map_clear(f->map);
            atomic_store(&f->st_pending, 0);
        }
    }
    if (err == TP_OK)
        f->first_change_ms = 0;
    free(offs);
    return err;
}

/* Flushes on revoke and at stop, retrying a transient failure a few times. */
static enum tp_err fleet_flush_final(struct fleet *f, char *errstr, size_t errstr_size)
{
    int backoff = 200;
    for (int attempt = 1;; attempt++) {
        enum tp_err err = fleet_flush(f, errstr, errstr_size);
        if (err == TP_OK || !tp_err_retriable(err) || attempt == FLEET_FINAL_ATTEMPTS)
            return err;
        log_warn("flush failed, retrying in %d ms: %s", backoff, errstr);
        usleep((useconds_t)backoff * 1000);
        backoff = fleet_backoff(backoff);
    }
}

/* The assigned parts' topics, partitions and (to fill) offsets; n = how many. */
static size_t fleet_assigned(struct fleet *f, const char ***topics, int32_t **parts, int64_t **offs)
{
    size_t cap = f->n_parts ? f->n_parts : 1, n = 0;
    *topics = tp_calloc(cap, sizeof(**topics));
    *parts = tp_calloc(cap, sizeof(**parts));
    *offs = tp_calloc(cap, sizeof(**offs));
    for (size_t i = 0; i < f->n_parts; i++)
        if (f->parts[i]->assigned) {
            (*topics)[n] = f->parts[i]->topic;
            (*parts)[n++] = f->parts[i]->partition;
        }
    return n;
}

/*
 * After a failed flush: drops what is not in postgresql and rewinds the assigned partitions
 * to the offsets stored there, waiting with backoff until postgresql answers or the loop
 * stops. Only errors that are not retriable come back.
 */
static enum tp_err fleet_resync(struct fleet *f, char *errstr, size_t errstr_size)
{
    f->generation++;
    fleet_drop_state(f);
    atomic_store(&f->st_flush_failing, true);
    const char **topics;
    int32_t *parts;
    int64_t *offs;
    size_t n = fleet_assigned(f, &topics, &parts, &offs);
    enum tp_err err = TP_OK;
    int backoff = 100;
    while (atomic_load(&f->running)) {
        err = fleet_store_load_offsets(f->store, topics, parts, offs, n, errstr, errstr_size);
        if (err == TP_OK)
            err = journal_consumer_seek_topics(f->consumer, topics, parts, offs, n, errstr,
                                               errstr_size);
        if (err == TP_OK) {
            for (size_t i = 0; i < n; i++) {
                struct fleet_part *p = fleet_part_of(f, topics[i], parts[i], false);
                p->next = p->stored = offs[i];
            }
            atomic_fetch_add(&f->st_resyncs, 1);
            atomic_store(&f->st_flush_failing, false);
            log_info("resumed %zu partitions from the offsets in postgresql", n);
            break;
        }
        if (!tp_err_retriable(err))
            break;
        log_warn("could not resume from postgresql, retrying in %d ms: %s", backoff, errstr);
        service_beat(f->beat);
        fleet_sleep(f, backoff);
        backoff = fleet_backoff(backoff);
    }
    if (err != TP_OK && tp_err_retriable(err))
        err = TP_OK; /* stopped while waiting: the state is dropped, nothing is owed */
    free(topics);
    free(parts);
    free(offs);
    return err;
}

static enum tp_err fleet_recover(struct fleet *f, enum tp_err err, const char *what, char *errstr,
                                 size_t errstr_size)
{
    if (!tp_err_retriable(err) && err != TP_CONFLICT)
        return err;
    log_warn("%s failed, dropping unflushed state and resuming from postgresql: %s", what, errstr);
    return fleet_resync(f, errstr, errstr_size);
}

static enum tp_err fleet_on_assign(void *arg, const char *const *topics, const int32_t *partitions,
                                   int64_t *offsets, size_t n)
{
    struct fleet *f = arg;
    char errstr[512];
    enum tp_err err = TP_OK;
    int backoff = 100;
    for (int attempt = 1; attempt <= FLEET_ASSIGN_ATTEMPTS; attempt++) {
        err = fleet_store_load_offsets(f->store, topics, partitions, offsets, n, errstr,
                                       sizeof(errstr));
        if (err == TP_OK || !tp_err_retriable(err) || attempt == FLEET_ASSIGN_ATTEMPTS ||
            !atomic_load(&f->running))
            break;
        log_warn("could not load offsets, retrying in %d ms: %s", backoff, errstr);
        fleet_sleep(f, backoff);
        backoff = fleet_backoff(backoff);
    }
    if (err != TP_OK) {
        log_error("could not load offsets: %s", errstr);
        snprintf(f->fail_msg, sizeof(f->fail_msg), "%s", errstr);
        atomic_store(&f->failed, true);
        return err;
    }
    for (size_t i = 0; i < n; i++) {
        struct fleet_part *p = fleet_part_of(f, topics[i], partitions[i], true);
        if (!p->assigned)
            atomic_fetch_add(&f->st_assigned, 1);
        p->assigned = true;
        p->dirty = false;
        p->next = p->stored = offsets[i];
        log_info("partition %d of \"%s\" resumes at offset %lld (from postgresql)", partitions[i],
                 topics[i], (long long)offsets[i]);
    }
    return TP_OK;
}

static void fleet_on_revoke(void *arg, const char *const *topics, const int32_t *partitions,
                            size_t n, bool lost)
{
    struct fleet *f = arg;
    char errstr[512];
    f->generation++;
    /* lost: another projector owns them already, and writing now could move its offsets back;
     * it resumes from postgresql, losing nothing */
    if (!lost && fleet_flush_final(f, errstr, sizeof(errstr)) != TP_OK)
        log_error("could not flush before releasing partitions: %s", errstr);
    for (size_t i = 0; i < n; i++) {
        struct fleet_part *p = fleet_part_of(f, topics[i], partitions[i], false);
        if (p && p->assigned) {
            atomic_fetch_sub(&f->st_assigned, 1);
            p->assigned = false;
            atomic_store(&p->lag, -1);
        }
    }
    fleet_drop_state(f);
}

static void fleet_dlq_delivered(void *opaque, const struct journal_delivery *d, void *arg)
{
    struct fleet *f = arg;
    (void)opaque;
    if (d->err == TP_OK) {
        atomic_fetch_add(&f->st_dead_lettered, 1);
    } else if (!f->dlq_error) {
        f->dlq_error = true;
        snprintf(f->dlq_error_msg, sizeof(f->dlq_error_msg), "%s", d->errstr);
    }
}

/* A record that never applies: logged (the first, then one line per FLEET_SKIP_LOG_MS),
 * counted and dead-lettered; a failure to enqueue fails the next flush (read again). */
static void fleet_dead_letter(struct fleet *f, const struct journal_event *ev, const char *reason,
                              const char *detail)
{
    atomic_fetch_add(&f->st_invalid, 1);
    int64_t now = tp_mono_ms();
    if (f->skip_logged_ms && now - f->skip_logged_ms < FLEET_SKIP_LOG_MS) {
        f->skip_unlogged++;
    } else {
        log_warn("record at \"%s\" partition %d offset %lld not applied (%s: %s)%s%s; %lld more "
                 "since the last such line",
                 ev->topic, ev->partition, (long long)ev->offset, reason, detail,
                 f->dlq ? ", written to the dead-letter topic " : "",
                 f->dlq ? f->dlq_cfg.dlq_topic : "", (long long)f->skip_unlogged);
        f->skip_logged_ms = now;
        f->skip_unlogged = 0;
    }
    if (!f->dlq)
        return;
    char errstr[256];
    if (journal_producer_dead_letter(f->dlq, ev, reason, detail, NULL, errstr, sizeof(errstr)) !=
            TP_OK &&
        !f->dlq_error) {
        f->dlq_error = true;
        snprintf(f->dlq_error_msg, sizeof(f->dlq_error_msg), "%s", errstr);
    }
}

/* Folds one record of an assigned partition into the map. */
static void fleet_fold_one(struct fleet *f, struct fleet_part *p, const struct journal_event *ev)
{
    struct fleet_partial *partial;
    char why[256];
    atomic_fetch_add(&f->st_records, 1);
    enum tp_err err =
        fleet_partial_decode(ev->value, ev->value_len, ev->topic, &partial, why, sizeof(why));
    if (err != TP_OK)
        fleet_dead_letter(f, ev, err == TP_DECODE ? "undecodable" : "invalid", why);
    else if (!fleet_map_put(f->map, partial))
        atomic_fetch_add(&f->st_stale, 1);
    p->next = ev->offset + 1;
    p->dirty = true;
}

static void fleet_update_lag(struct fleet *f)
{
    int64_t now = tp_mono_ms();
    if (now - atomic_load(&f->st_loop_ms) < 500)
        return;
    atomic_store(&f->st_loop_ms, now);
    for (size_t i = 0; i < f->n_parts; i++)
        atomic_store(&f->parts[i]->lag,
                     f->parts[i]->assigned
                         ? journal_consumer_lag_topic(f->consumer, f->parts[i]->topic,
                                                      f->parts[i]->partition, f->parts[i]->next)
                         : -1);
}

enum tp_err fleet_run(struct fleet *f, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    f->beat = service_beat_new(NULL, "projector fold", f->opts.health_stall_ms);
    while (atomic_load(&f->running) && err == TP_OK) {
        service_beat(f->beat);
        size_t n = 0;
        int wait = 100;
        uint64_t gen = f->generation;
        while (n < f->opts.batch_max && err == TP_OK) {
            bool got;
            err = journal_consumer_poll(f->consumer, wait, &f->batch[n], &got, errstr, errstr_size);
            if (f->generation != gen) { /* a revoke ran inside that poll: drop what came before */
                for (size_t i = 0; i < n; i++)
                    journal_event_release(&f->batch[i]);
                if (got && n > 0)
                    f->batch[0] = f->batch[n];
                n = 0;
                gen = f->generation;
            }
            if (!got)
                break;
            n++;
            wait = 0;
        }
        if (atomic_load(&f->failed))
            err = tp_err_set(TP_DB, errstr, errstr_size, "%s", f->fail_msg);
        for (size_t i = 0; i < n; i++) {
            struct journal_event *ev = &f->batch[i];
            struct fleet_part *p = err == TP_OK && ev->topic
                                       ? fleet_part_of(f, ev->topic, ev->partition, false)
                                       : NULL;
            if (p && p->assigned)
                fleet_fold_one(f, p, ev);
            journal_event_release(ev);
        }
        if (err != TP_OK)
            break;
        atomic_store(&f->st_pending, (int64_t)fleet_map_count(f->map));
        if (n > 0 && f->first_change_ms == 0)
            f->first_change_ms = tp_mono_ms();
        if (f->dlq)
            journal_producer_poll(f->dlq, 0);
        fleet_update_lag(f);
        int64_t age = f->first_change_ms ? tp_mono_ms() - f->first_change_ms : -1;
        bool due = (age >= 0 && age >= f->opts.flush_interval_ms) ||
                   fleet_map_count(f->map) >= f->opts.max_partials;
        if (due || f->dlq_error) {
            err = fleet_flush(f, errstr, errstr_size);
            if (err != TP_OK)
                err = fleet_recover(f, err, "flush", errstr, errstr_size);
        }
    }
    service_beat(f->beat);
    if (err == TP_OK)
        err = fleet_flush_final(f, errstr, errstr_size);
    service_beat_free(f->beat);
    f->beat = NULL;
    return err;
}

void fleet_stop(struct fleet *f)
{
    atomic_store(&f->running, false);
}

void fleet_stats_get(struct fleet *f, struct fleet_stats *out)
{
    out->records = atomic_load(&f->st_records);
    out->partials_written = atomic_load(&f->st_written);
    out->stale = atomic_load(&f->st_stale);
    out->invalid = atomic_load(&f->st_invalid);
    out->dead_lettered = atomic_load(&f->st_dead_lettered);
    out->flushes = atomic_load(&f->st_flushes);
    out->resyncs = atomic_load(&f->st_resyncs);
}

enum tp_err fleet_new(const struct fleet_options *opts, struct fleet **out, char *errstr,
                      size_t errstr_size)
{
    struct fleet *f = tp_calloc(1, sizeof(*f));
    f->opts = *opts;
    if (f->opts.health_stall_ms <= 0)
        f->opts.health_stall_ms = SERVICE_STALL_DEFAULT_MS;
    if (f->opts.batch_max == 0)
        f->opts.batch_max = 1;
    if (f->opts.max_partials == 0)
        f->opts.max_partials = 1;
    f->map = fleet_map_new();
    f->batch = tp_calloc(f->opts.batch_max, sizeof(*f->batch));
    atomic_store(&f->running, true);
    enum tp_err err = fleet_store_new(opts->pg_dsn, opts->group, &f->store, errstr, errstr_size);
    if (err == TP_OK && opts->dlq_topic) {
        /* its own topic is the dead-letter topic too (never written): not the pattern */
        f->dlq_cfg = *opts->journal;
        f->dlq_cfg.topic = opts->dlq_topic;
        f->dlq_cfg.decoder = NULL;
        f->dlq_cfg.dlq_topic = opts->dlq_topic;
        err =
            journal_producer_new(&f->dlq_cfg, fleet_dlq_delivered, f, &f->dlq, errstr, errstr_size);
    }
    if (err == TP_OK) {
        struct journal_rebalance_topics rb = {fleet_on_assign, fleet_on_revoke, f};
        err = journal_consumer_new_topics(opts->journal, opts->group, &rb, &f->consumer, errstr,
                                          errstr_size);
    }
    if (err != TP_OK) {
        fleet_free(f);
        return err;
    }
    *out = f;
    return TP_OK;
}

void fleet_attach_server(struct fleet *f, struct http_server *srv)
{
    f->srv = srv;
}

void fleet_handle_metrics(struct http_request *req, void *arg)
{
    struct fleet *f = arg;
    struct buf b;
    buf_init(&b, 1 << 20);
    if (f->srv)
        http_server_metrics(f->srv, "tp_projector", &b);
    metrics_sample(&b, "tp_projector_fleet_records_total", "counter",
                   "aggregate records consumed (projector.fold=fleet)", NULL,
                   (double)atomic_load(&f->st_records));
    metrics_sample(&b, "tp_projector_fleet_partials_written_total", "counter",
                   "fleet_aggregates rows inserted, or replaced by a newer version", NULL,
                   (double)atomic_load(&f->st_written));
    metrics_sample(&b, "tp_projector_fleet_stale_total", "counter",
                   "aggregate records not newer than the version held (duplicates, older "
                   "versions arriving late): changed nothing",
                   NULL, (double)atomic_load(&f->st_stale));
    metrics_sample(&b, "tp_projector_fleet_invalid_total", "counter",
                   "aggregate records that do not decode or make no sense: dead-lettered", NULL,
                   (double)atomic_load(&f->st_invalid));
    metrics_sample(&b, "tp_projector_fleet_partials_pending", "gauge",
                   "partials folded and not flushed yet", NULL,
                   (double)atomic_load(&f->st_pending));
    metrics_sample(&b, "tp_projector_dead_lettered_total", "counter",
                   "records written to the dead-letter topic (undecodable, invalid)", NULL,
                   (double)atomic_load(&f->st_dead_lettered));
    metrics_sample(&b, "tp_projector_flushes_total", "counter", "transactions committed", NULL,
                   (double)atomic_load(&f->st_flushes));
    metrics_sample(&b, "tp_projector_resyncs_total", "counter",
                   "unflushed state dropped and partitions rewound to postgresql's offsets after "
                   "a failed flush",
                   NULL, (double)atomic_load(&f->st_resyncs));
    metrics_histogram_write(&b, "tp_projector_fleet_freshness_seconds",
                            "window end to the partial's first version committed in PostgreSQL "
                            "at this site, per partial",
                            &f->freshness);
    metrics_histogram_write(&b, "tp_projector_flush_duration_seconds", "flush transaction latency",
                            &f->flush_latency);
    size_t n = atomic_load(&f->n_lag);
    bool first = true;
    char labels[320];
    for (size_t i = 0; i < n; i++) {
        const struct fleet_part *p = f->lag_parts[i];
        int64_t lag = atomic_load(&p->lag);
        if (lag < 0)
            continue;
        snprintf(labels, sizeof(labels), "topic=\"%.250s\",partition=\"%d\"", p->topic,
                 (int)p->partition);
        metrics_sample(&b, "tp_projector_lag_events", "gauge",
                       first ? "records not yet consumed, by topic and partition" : NULL, labels,
                       (double)lag);
        first = false;
    }
    metrics_runtime_write(&b);
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_release(&b);
}

void fleet_handle_ready(struct http_request *req, void *arg)
{
    struct fleet *f = arg;
    bool loop_ok = tp_mono_ms() - atomic_load(&f->st_loop_ms) < 5000;
    bool flush_ok = !atomic_load(&f->st_flush_failing);
    bool assigned = atomic_load(&f->st_assigned) > 0;
    if (loop_ok && flush_ok && assigned) {
        static const char body[] = "{\"status\":\"ready\"}";
        http_reply(req, 200, "application/json", body, sizeof(body) - 1);
    } else {
        http_reply_error(req, 503, "not_ready", "%s",
                         !assigned  ? "no aggregates partition assigned yet"
                         : !loop_ok ? "the consume loop is stuck"
                                    : "flushes to postgresql are failing");
    }
}

void fleet_free(struct fleet *f)
{
    if (!f)
        return;
    journal_consumer_free(f->consumer); /* runs on_revoke: the final flush */
    journal_producer_free(f->dlq);
    fleet_store_free(f->store);
    fleet_map_free(f->map);
    for (size_t i = 0; i < f->n_parts; i++) {
        free(f->parts[i]->topic);
        free(f->parts[i]);
    }
    free(f->parts);
    free(f->batch);
    free(f);
}
