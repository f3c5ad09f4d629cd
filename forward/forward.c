/*
 * forward.c - the forward loop (forward.h): consume, match on journal time, produce, commit
 * what every acknowledgement covers.
 *
 * Everything but the counters is the loop thread's: the tracker (track.h) and the attribute
 * cache (attrs.h) are touched by the loop, its delivery callbacks (journal_producer_poll)
 * and its rebalance callbacks (journal_consumer_poll), all on that thread. The HTTP threads
 * read atomics only.
 */
#include "forward/forward.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/service.h"
#include "forward/attrs.h"
#include "forward/track.h"

#define FORWARD_BACKOFF_MIN_MS 500
#define FORWARD_BACKOFF_MAX_MS 30000

struct forward {
    struct forward_options opts;
    struct journal_producer *producer;
    struct journal_consumer *consumer;
    struct forward_track *track;
    struct forward_attrs *attrs;
    struct service_beat *beat;
    struct http_server *srv;
    atomic_bool running;
    bool rewind;            /* a forward failed: rewind once every report is back */
    int64_t backoff_ms;     /* before reading a rewound partition again; doubles until the
                               event rewound to is forwarded */
    int64_t last_commit_ms; /* loop clock */
    int64_t last_lag_ms;
    struct metrics_histogram latency; /* journal time to the detail topic's acknowledgement */
    _Atomic int64_t st_loop_ms;
    atomic_bool st_consuming;
    _Atomic uint64_t st_events, st_forwarded, st_skipped, st_undecodable, st_failed, st_rewinds,
        st_commits, st_in_flight, st_devices, st_evicted, st_warmup;
    _Atomic int64_t lag[FORWARD_LAG_PARTITIONS]; /* -1: not assigned or unknown */
};

static void forward_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A forwarded event's report (journal_producer_poll, loop thread). */
static void forward_delivered(void *opaque, const struct journal_delivery *d, void *arg)
{
    struct forward *fw = arg;
    struct forward_pending *h = opaque;
    bool ok = d->err == TP_OK;
    forward_track_done(fw->track, h, ok);
    if (ok) {
        if (forward_track_recovered(fw->track, h))
            fw->backoff_ms = FORWARD_BACKOFF_MIN_MS;
        atomic_fetch_add(&fw->st_forwarded, 1);
        metrics_histogram_observe(&fw->latency, (double)(tp_now_ms() - h->journal_ms));
        return;
    }
    atomic_fetch_add(&fw->st_failed, 1);
    if (!fw->rewind)
        log_warn("could not forward offset %lld of partition %d to \"%s\": %s (read again)",
                 (long long)h->offset, (int)h->partition, fw->opts.detail->topic,
                 d->errstr ? d->errstr : tp_err_desc(d->err));
    fw->rewind = true;
}

/* Waits until every forwarded event has its report (message.timeout.ms bounds each). */
static void forward_drain(struct forward *fw)
{
    while (journal_producer_flush(fw->producer, 1000) != TP_OK)
        service_beat(fw->beat);
}

/* Commits the commit point of each partition given (every assigned one: parts NULL). */
static void forward_commit(struct forward *fw, const int32_t *parts, size_t n)
{
    if (!parts)
        n = forward_track_partitions(fw->track);
    if (n == 0)
        return;
    int32_t *ids = tp_calloc(n, sizeof(*ids));
    int64_t *offsets = tp_calloc(n, sizeof(*offsets));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t p = parts ? parts[i] : (int32_t)i;
        if (forward_track_to_commit(fw->track, p, &offsets[k]))
            ids[k++] = p;
    }
    char errstr[256];
    if (k > 0) {
        if (journal_consumer_commit(fw->consumer, ids, offsets, k, errstr, sizeof(errstr)) ==
            TP_OK) {
            for (size_t i = 0; i < k; i++)
                forward_track_committed(fw->track, ids[i], offsets[i]);
            atomic_fetch_add(&fw->st_commits, 1);
        } else {
            log_warn("%s (retried at the next commit)", errstr);
        }
    }
    free(ids);
    free(offsets);
}

/* Each partition resumes at the group's committed offset, but is read from up to
 * forward.warmup_events before it, only to learn the devices' attributes again (a restart
 * starts with an empty cache). A new group (nothing committed) starts at
 * kafka.auto.offset.reset; if the offsets cannot be read, at the committed one, cold. */
static enum tp_err forward_on_assign(void *arg, const int32_t *parts, int64_t *offsets, size_t n)
{
    struct forward *fw = arg;
    int64_t *committed = tp_calloc(n, sizeof(*committed));
    int64_t *low = tp_calloc(n, sizeof(*low));
    bool known = true;
    if (fw->opts.warmup_events > 0) {
        char errstr[256];
        if (journal_consumer_committed(fw->consumer, parts, n, 10000, committed, low, errstr,
                                       sizeof(errstr)) != TP_OK) {
            log_warn("%s: resuming without warming the attribute cache up", errstr);
            known = false;
        }
    }
    for (size_t i = 0; i < n; i++) {
        forward_track_assign(fw->track, parts[i]);
        offsets[i] = JOURNAL_OFFSET_STORED; /* the group's, else kafka.auto.offset.reset */
        if (fw->opts.warmup_events == 0 || !known || committed[i] < 0)
            continue;
        int64_t start = committed[i] - fw->opts.warmup_events;
        offsets[i] = start > low[i] ? start : low[i];
        if (offsets[i] > committed[i]) /* the committed offset was deleted since */
            offsets[i] = committed[i];
        forward_track_committed(fw->track, parts[i], committed[i]);
        forward_track_warm(fw->track, parts[i], committed[i]);
        log_info("partition %d resumes at offset %lld, read from %lld for the attribute cache",
                 (int)parts[i], (long long)committed[i], (long long)offsets[i]);
    }
    free(committed);
    free(low);
    return TP_OK;
}

static void forward_on_revoke(void *arg, const int32_t *parts, size_t n, bool lost)
{
    struct forward *fw = arg;
    forward_drain(fw); /* no report may come back for a released partition's events */
    if (!lost)
        forward_commit(fw, parts, n);
    for (size_t i = 0; i < n; i++) {
        forward_track_release(fw->track, parts[i]);
        if (parts[i] >= 0 && parts[i] < FORWARD_LAG_PARTITIONS)
            atomic_store(&fw->lag[parts[i]], -1);
    }
}

/* After a failed forward: every report back, then each partition with a failure read again
 * from its first failed event, after a backoff. */
static void forward_rewind(struct forward *fw)
{
    forward_drain(fw);
    size_t n = forward_track_partitions(fw->track);
    for (size_t i = 0; i < n; i++) {
        int32_t p = (int32_t)i;
        int64_t at = forward_track_rewind(fw->track, p);
        if (at < 0)
            continue;
        char errstr[256];
        if (journal_consumer_seek(fw->consumer, &p, &at, 1, errstr, sizeof(errstr)) != TP_OK)
            log_error("%s", errstr); /* the fetch position stays: the commit point does too */
        log_warn("partition %d of \"%s\" is read again from offset %lld in %lld ms", (int)p,
                 fw->opts.journal->topic, (long long)at, (long long)fw->backoff_ms);
    }
    fw->rewind = false;
    atomic_fetch_add(&fw->st_rewinds, 1);
    forward_commit(fw, NULL, 0);
    for (int64_t slept = 0; slept < fw->backoff_ms && atomic_load(&fw->running); slept += 100) {
        service_beat(fw->beat);
        forward_sleep_ms(100);
    }
    fw->backoff_ms =
        fw->backoff_ms * 2 > FORWARD_BACKOFF_MAX_MS ? FORWARD_BACKOFF_MAX_MS : fw->backoff_ms * 2;
}

/* One consumed event: skipped, or forwarded (pending in the tracker). */
static void forward_event(struct forward *fw, const struct journal_event *ev)
{
    const journal_reading *r = ev->reading;
    if (forward_track_warming(fw->track, ev->partition, ev->offset)) {
        atomic_fetch_add(&fw->st_warmup, 1);
        if (r && r->device_id && r->device_id[0]) {
            const char *in[POLICY_ATTR__COUNT] = {r->model, r->firmware, r->region};
            const char *attrs[POLICY_ATTR__COUNT];
            forward_attrs_update(fw->attrs, r->device_id, in, attrs);
        }
        return;
    }
    atomic_fetch_add(&fw->st_events, 1);
    if (!r || !r->device_id || !r->device_id[0]) {
        atomic_fetch_add(&fw->st_undecodable, 1);
        forward_track_seen(fw->track, ev->partition, ev->offset);
        return;
    }
    const char *in[POLICY_ATTR__COUNT] = {
        [POLICY_ATTR_MODEL] = r->model,
        [POLICY_ATTR_FIRMWARE] = r->firmware,
        [POLICY_ATTR_REGION] = r->region,
    };
    struct policy_device d = {.id = r->device_id};
    forward_attrs_update(fw->attrs, r->device_id, in, d.attrs);
    struct policy_snapshot *s = policy_feed_snapshot(fw->opts.feed);
    struct policy_effect eff;
    policy_set_evaluate(policy_snapshot_set(s), fw->opts.site, &d, ev->timestamp_ms, 0, &eff, NULL,
                        0);
    policy_snapshot_release(s);
    if (eff.level != POLICY_LEVEL_RAW) {
        atomic_fetch_add(&fw->st_skipped, 1);
        forward_track_seen(fw->track, ev->partition, ev->offset);
        return;
    }
    struct forward_pending *h =
        forward_track_add(fw->track, ev->partition, ev->offset, ev->timestamp_ms);
    /* the loop polls only with a free entry */
    char errstr[256];
    enum tp_err err;
    while ((err = journal_producer_forward(fw->producer, ev, h, errstr, sizeof(errstr))) ==
               TP_QUEUE_FULL &&
           atomic_load(&fw->running)) {
        service_beat(fw->beat);
        journal_producer_poll(fw->producer, 100);
    }
    if (err != TP_OK) { /* never enqueued: no report will come */
        if (err != TP_QUEUE_FULL)
            log_warn("%s (read again)", errstr);
        forward_track_done(fw->track, h, false);
        atomic_fetch_add(&fw->st_failed, 1);
        fw->rewind = true;
    }
}

/* Per-partition lag for /metrics (at most every 500 ms). */
static void forward_update_lag(struct forward *fw, int64_t now)
{
    if (now - fw->last_lag_ms < 500)
        return;
    fw->last_lag_ms = now;
    for (size_t p = 0; p < FORWARD_LAG_PARTITIONS; p++) {
        int64_t lag = -1;
        if (forward_track_assigned(fw->track, (int32_t)p))
            lag = journal_consumer_lag(fw->consumer, (int32_t)p,
                                       forward_track_next(fw->track, (int32_t)p));
        atomic_store(&fw->lag[p], lag);
    }
    atomic_store(&fw->st_in_flight, forward_track_in_flight(fw->track));
    atomic_store(&fw->st_devices, forward_attrs_count(fw->attrs));
    atomic_store(&fw->st_evicted, forward_attrs_evicted(fw->attrs));
}

enum tp_err forward_new(const struct forward_options *opts, struct forward **out, char *errstr,
                        size_t errstr_size)
{
    struct forward *fw = tp_calloc(1, sizeof(*fw));
    fw->opts = *opts;
    if (fw->opts.health_stall_ms <= 0)
        fw->opts.health_stall_ms = SERVICE_STALL_DEFAULT_MS;
    if (fw->opts.commit_interval_ms <= 0)
        fw->opts.commit_interval_ms = 1000;
    fw->track = forward_track_new(opts->max_in_flight);
    fw->attrs = forward_attrs_new(opts->max_devices);
    fw->backoff_ms = FORWARD_BACKOFF_MIN_MS;
    atomic_store(&fw->running, true);
    atomic_store(&fw->st_loop_ms, tp_mono_ms());
    for (size_t p = 0; p < FORWARD_LAG_PARTITIONS; p++)
        atomic_store(&fw->lag[p], -1);
    enum tp_err err = journal_topic_ensure(opts->detail, 15000, errstr, errstr_size);
    if (err == TP_OK)
        err = journal_producer_new(opts->detail, forward_delivered, fw, &fw->producer, errstr,
                                   errstr_size);
    if (err != TP_OK) {
        forward_free(fw);
        return err;
    }
    *out = fw;
    return TP_OK;
}

/* Until the feed read every policies topic to its end (or a stop): false when stopped. */
static bool forward_wait_feed(struct forward *fw)
{
    int64_t logged = tp_mono_ms();
    service_beat_idle(fw->beat); /* waiting for the policies topics is /readyz's concern */
    while (atomic_load(&fw->running)) {
        atomic_store(&fw->st_loop_ms, tp_mono_ms());
        if (policy_feed_wait_ready(fw->opts.feed, 200) == TP_OK)
            return true;
        if (tp_mono_ms() - logged >= 10000) {
            log_info("waiting for the policies topics to be read to their end before consuming");
            logged = tp_mono_ms();
        }
    }
    return false;
}

enum tp_err forward_run(struct forward *fw, char *errstr, size_t errstr_size)
{
    fw->beat = service_beat_new(NULL, "forward loop", fw->opts.health_stall_ms);
    if (!forward_wait_feed(fw))
        return TP_OK;
    service_beat(fw->beat);
    struct journal_rebalance rb = {forward_on_assign, forward_on_revoke, fw};
    enum tp_err err = journal_consumer_new(fw->opts.journal, fw->opts.group, &rb, &fw->consumer,
                                           errstr, errstr_size);
    if (err != TP_OK)
        return err;
    atomic_store(&fw->st_consuming, true);
    struct policy_feed_stats fs;
    policy_feed_stats(fw->opts.feed, &fs);
    log_info("policies read (%zu): consuming \"%s\" in group \"%s\"", fs.policies,
             fw->opts.journal->topic, fw->opts.group);
    fw->last_commit_ms = tp_mono_ms();
    while (atomic_load(&fw->running)) {
        int64_t now = tp_mono_ms();
        service_beat(fw->beat);
        atomic_store(&fw->st_loop_ms, now);
        journal_producer_poll(fw->producer, 0);
        if (fw->rewind) {
            forward_rewind(fw);
            continue;
        }
        if (forward_track_full(fw->track)) {
            journal_producer_poll(fw->producer, 50); /* back pressure: reports first */
        } else {
            struct journal_event ev;
            bool got = false;
            int wait = forward_track_in_flight(fw->track) > 0 ? 10 : 100;
            err = journal_consumer_poll(fw->consumer, wait, &ev, &got, errstr, errstr_size);
            if (err != TP_OK)
                break;
            if (got) {
                if (!ev.eof)
                    forward_event(fw, &ev);
                journal_event_release(&ev);
            }
        }
        now = tp_mono_ms();
        if (now - fw->last_commit_ms >= fw->opts.commit_interval_ms) {
            journal_producer_poll(fw->producer, 0);
            forward_commit(fw, NULL, 0);
            fw->last_commit_ms = now;
        }
        forward_update_lag(fw, now);
    }
    /* every report back, what they cover committed, then leave the group */
    forward_drain(fw);
    forward_commit(fw, NULL, 0);
    atomic_store(&fw->st_consuming, false);
    journal_consumer_free(fw->consumer); /* revokes: drains and commits again (no-op) */
    fw->consumer = NULL;
    return err;
}

void forward_stop(struct forward *fw)
{
    atomic_store(&fw->running, false);
}

void forward_free(struct forward *fw)
{
    if (!fw)
        return;
    journal_consumer_free(fw->consumer);
    journal_producer_free(fw->producer);
    forward_track_free(fw->track);
    forward_attrs_free(fw->attrs);
    service_beat_free(fw->beat);
    free(fw);
}

void forward_stats_get(struct forward *fw, struct forward_stats *o)
{
    *o = (struct forward_stats){
        .events = atomic_load(&fw->st_events),
        .forwarded = atomic_load(&fw->st_forwarded),
        .skipped = atomic_load(&fw->st_skipped),
        .undecodable = atomic_load(&fw->st_undecodable),
        .failed = atomic_load(&fw->st_failed),
        .rewinds = atomic_load(&fw->st_rewinds),
        .commits = atomic_load(&fw->st_commits),
        .in_flight = atomic_load(&fw->st_in_flight),
        .devices = atomic_load(&fw->st_devices),
        .devices_evicted = atomic_load(&fw->st_evicted),
        .warmup = atomic_load(&fw->st_warmup),
        .lag = -1,
        .consuming = atomic_load(&fw->st_consuming),
    };
    for (size_t p = 0; p < FORWARD_LAG_PARTITIONS; p++) {
        int64_t lag = atomic_load(&fw->lag[p]);
        if (lag >= 0)
            o->lag = (o->lag < 0 ? 0 : o->lag) + lag;
    }
}

bool forward_ready(struct forward *fw, const char **why)
{
    if (!policy_feed_ready(fw->opts.feed)) {
        *why = "the policies topics are not read to their end yet";
        return false;
    }
    if (!atomic_load(&fw->st_consuming)) {
        *why = "not consuming the journal";
        return false;
    }
    if (tp_mono_ms() - atomic_load(&fw->st_loop_ms) >= 5000) {
        *why = "the forward loop is stuck";
        return false;
    }
    return true;
}

void forward_attach_server(struct forward *fw, struct http_server *srv)
{
    fw->srv = srv;
}

void forward_handle_ready(struct http_request *req, void *arg)
{
    const char *why = NULL;
    if (forward_ready(arg, &why)) {
        static const char body[] = "{\"status\":\"ready\"}";
        http_reply(req, 200, "application/json", body, sizeof(body) - 1);
    } else {
        http_reply_error(req, 503, "not_ready", "%s", why);
    }
}

void forward_handle_metrics(struct http_request *req, void *arg)
{
    struct forward *fw = arg;
    struct forward_stats s;
    forward_stats_get(fw, &s);
    struct policy_feed_stats fs;
    policy_feed_stats(fw->opts.feed, &fs);
    struct buf b;
    char labels[48];
    buf_init(&b, 1 << 20);
    if (fw->srv)
        http_server_metrics(fw->srv, "tp_forward", &b);
    metrics_sample(&b, "tp_forward_events_total", "counter", "journal events consumed", NULL,
                   (double)s.events);
    metrics_sample(&b, "tp_forward_forwarded_total", "counter",
                   "readings forwarded to the detail topic and acknowledged (acks=all)", NULL,
                   (double)s.forwarded);
    metrics_sample(&b, "tp_forward_skipped_total", "counter",
                   "readings not forwarded: no active raw policy for the device at their journal "
                   "time",
                   NULL, (double)s.skipped);
    metrics_sample(&b, "tp_forward_undecodable_total", "counter",
                   "events skipped: not a reading with a device id", NULL, (double)s.undecodable);
    metrics_sample(&b, "tp_forward_failed_total", "counter",
                   "forwards that failed (their partition is read again from the first)", NULL,
                   (double)s.failed);
    metrics_sample(&b, "tp_forward_rewinds_total", "counter",
                   "rewinds of partitions after failed forwards", NULL, (double)s.rewinds);
    metrics_sample(&b, "tp_forward_commits_total", "counter",
                   "offset commits to the consumer group", NULL, (double)s.commits);
    metrics_sample(&b, "tp_forward_in_flight", "gauge",
                   "forwarded readings not yet passed by the commit point", NULL,
                   (double)s.in_flight);
    metrics_sample(&b, "tp_forward_devices", "gauge", "devices in the attribute cache", NULL,
                   (double)s.devices);
    metrics_sample(&b, "tp_forward_devices_evicted_total", "counter",
                   "devices dropped from the attribute cache under forward.max_devices", NULL,
                   (double)s.devices_evicted);
    metrics_sample(&b, "tp_forward_warmup_events_total", "counter",
                   "events before the committed offset read again after an assignment, only to "
                   "learn the devices' attributes (forward.warmup_events)",
                   NULL, (double)s.warmup);
    metrics_sample(&b, "tp_forward_policies", "gauge", "policies in the current snapshot", NULL,
                   (double)fs.policies);
    metrics_sample(&b, "tp_forward_policy_records_total", "counter",
                   "records read from the policies topics", NULL, (double)fs.records);
    metrics_sample(&b, "tp_forward_policy_records_refused_total", "counter",
                   "policies records refused (unreadable, past policy.max_active, too large)", NULL,
                   (double)fs.refused);
    metrics_histogram_write(&b, "tp_forward_latency_seconds",
                            "journal time to the detail topic's acknowledgement, per forwarded "
                            "reading",
                            &fw->latency);
    bool first = true;
    for (size_t p = 0; p < FORWARD_LAG_PARTITIONS; p++) {
        int64_t lag = atomic_load(&fw->lag[p]);
        if (lag < 0)
            continue;
        snprintf(labels, sizeof(labels), "partition=\"%zu\"", p);
        metrics_sample(&b, "tp_forward_lag_events", "gauge",
                       first ? "journal events not yet consumed, by partition" : NULL, labels,
                       (double)lag);
        first = false;
    }
    metrics_runtime_write(&b);
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_release(&b);
}
