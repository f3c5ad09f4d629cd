/*
 * api.c - tp-policy's handlers, writer thread and sweep (api.h).
 */
#include "api.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/service.h"
#include "errors.h"
#include "policy/policy.h"
#include "policy/set.h"
#include "policyfeed/feed.h"

extern const char policyd_openapi_json[];
extern const size_t policyd_openapi_json_len;

#define DOC_MAX (POLICY_RECORD_MAX + 256) /* a policy's document: its record and a few members */

enum job_op { JOB_PUT, JOB_DELETE };

/* A write waiting for the writer thread; owns its parsed policy. */
struct job {
    struct job *next;
    enum job_op op;
    struct http_request *req;
    char name[POLICY_NAME_MAX + 1];
    struct policy p; /* PUT */
    int64_t enqueued_ms;
};

enum write_outcome { OUT_OK, OUT_FAILED, OUT__COUNT };
enum write_kind { KIND_PUT, KIND_DELETE, KIND_EXPIRE, KIND__COUNT };
static const char *const kind_names[KIND__COUNT] = {"put", "delete", "expire"};

struct policyd {
    struct policyd_options o;
    const char *topic;
    struct policy_feed *feed;
    struct journal_producer *producer;
    struct http_server *srv;

    pthread_t writer;
    bool writer_started;
    pthread_mutex_t mu; /* the queue and the flags below */
    pthread_cond_t cond;
    struct job *head, *tail;
    size_t queued;
    bool stopping;
    struct service_beat *beat;

    /* the one write in flight (writer thread only, and the delivery callback it serves) */
    uint64_t seq;
    struct {
        uint64_t seq;
        bool done;
        enum tp_err err;
        int32_t partition;
        int64_t offset;
        char errstr[256];
    } delivery;
    int64_t next_sweep_ms;

    _Atomic uint64_t writes[KIND__COUNT][OUT__COUNT];
    _Atomic uint64_t unauthorized, forbidden, refused_bodies;
    struct metrics_histogram write_ms;
};

static void policyd_on_delivery(void *opaque, const struct journal_delivery *dl, void *arg)
{
    struct policyd *d = arg;
    if ((uint64_t)(uintptr_t)opaque != d->delivery.seq)
        return; /* a purged write of the past */
    d->delivery.done = true;
    d->delivery.err = dl->err;
    d->delivery.partition = dl->partition;
    d->delivery.offset = dl->offset;
    snprintf(d->delivery.errstr, sizeof(d->delivery.errstr), "%s", dl->errstr ? dl->errstr : "");
}

/*
 * Produces key -> value (NULL: a tombstone) and waits for its acknowledgement, then for the
 * feed to apply it (at most read_your_writes_ms: a timeout there is logged, not an error).
 * Writer thread only. TP_OK, or Kafka's error with errstr.
 */
static enum tp_err policyd_write(struct policyd *d, const char *key, const struct buf *value,
                                 char *errstr, size_t errstr_size)
{
    d->delivery.seq = ++d->seq;
    d->delivery.done = false;
    enum tp_err err = journal_producer_append_record(
        d->producer, key, strlen(key), value ? value->data : NULL, value ? value->len : 0,
        (void *)(uintptr_t)d->delivery.seq, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (journal_producer_flush(d->producer, d->o.produce_timeout_ms) != TP_OK ||
        !d->delivery.done) {
        /* Not acknowledged in time: dropped here (its report comes as a failure); it may still
         * have reached the broker, so the answer says the outcome is unknown. */
        journal_producer_purge(d->producer);
        journal_producer_flush(d->producer, 1000);
        d->delivery.seq = 0;
        return tp_err_set(TP_TIMEOUT, errstr, errstr_size,
                          "kafka did not acknowledge the record within %d ms "
                          "(policy.produce_timeout_ms); it may still be written: repeat the "
                          "request",
                          d->o.produce_timeout_ms);
    }
    if (d->delivery.err != TP_OK)
        return tp_err_set(d->delivery.err, errstr, errstr_size, "%s", d->delivery.errstr);
    if (policy_feed_wait(d->feed, d->topic, d->delivery.partition, d->delivery.offset,
                         d->o.read_your_writes_ms) != TP_OK)
        log_warn("policy \"%s\" at [%d] offset %lld acknowledged, but not read back within %d ms "
                 "(policy.read_your_writes_ms): answered anyway",
                 key, (int)d->delivery.partition, (long long)d->delivery.offset,
                 d->o.read_your_writes_ms);
    return TP_OK;
}

static const char *policyd_state(const struct policy *p, int64_t now)
{
    return now < p->from_ms ? "scheduled" : now < p->until_ms ? "active" : "expired";
}

/*
 * A policy's document: {"name","state","revision","issued_at", then the record's selector,
 * level, report_every_ms, from, until}. The record's canonical JSON gives the tail.
 */
static enum tp_err policyd_render(const struct policy *p, int64_t now, struct buf *out)
{
    struct buf rec;
    buf_init(&rec, POLICY_RECORD_MAX);
    enum tp_err err = policy_record_write(p, &rec);
    const char *tail = err == TP_OK ? strstr(rec.data, ",\"selector\":") : NULL;
    if (tail) {
        char issued[40];
        policy_time_format(p->issued_at_ms, issued, sizeof(issued));
        err = buf_printf(out,
                         "{\"name\":\"%s\",\"state\":\"%s\",\"revision\":%lld,"
                         "\"issued_at\":\"%s\"%s",
                         p->name, policyd_state(p, now), (long long)p->revision, issued, tail);
    } else if (err == TP_OK) {
        err = TP_DECODE;
    }
    buf_release(&rec);
    return err;
}

static void policyd_reply_policy(struct http_request *req, unsigned status, const struct policy *p)
{
    struct buf body;
    buf_init(&body, DOC_MAX);
    if (policyd_render(p, tp_now_ms(), &body) != TP_OK) {
        buf_release(&body);
        log_error("could not render policy \"%s\"", p->name);
        policyd_error_reply(req, PDERR_NOT_READY, "policy \"%s\" could not be rendered", p->name);
        return;
    }
    http_reply_json(req, status, &body);
    buf_release(&body);
}

static void policyd_count(struct policyd *d, enum write_kind k, bool ok)
{
    atomic_fetch_add(&d->writes[k][ok ? OUT_OK : OUT_FAILED], 1);
}

static void policyd_reply_kafka(struct http_request *req, const char *errstr)
{
    policyd_error_reply(req, PDERR_KAFKA_UNAVAILABLE, "the policy was not written: %s", errstr);
}

static void policyd_do_put(struct policyd *d, struct job *j)
{
    char errstr[512];
    struct policy_snapshot *s = policy_feed_snapshot(d->feed);
    const struct policy_set *set = policy_snapshot_set(s);
    const struct policy *prev = policy_set_get(set, d->topic, j->name);
    bool created = prev == NULL;
    if (created && policy_set_count(set) >= d->o.max_active) {
        policy_snapshot_release(s);
        policyd_count(d, KIND_PUT, false);
        snprintf(errstr, sizeof(errstr),
                 "policy \"%s\" is refused: %zu policies are stored already (policy.max_active)",
                 j->name, d->o.max_active);
        policyd_policy_error_reply(j->req, POLICY_ERR_TOO_MANY_POLICIES, errstr);
        return;
    }
    j->p.revision = prev ? prev->revision + 1 : 1;
    j->p.issued_at_ms = tp_now_ms();
    policy_snapshot_release(s);
    struct buf value;
    buf_init(&value, POLICY_RECORD_MAX);
    enum tp_err err = policy_record_write(&j->p, &value);
    if (err == TP_OK)
        err = policyd_write(d, j->name, &value, errstr, sizeof(errstr));
    else
        snprintf(errstr, sizeof(errstr), "the record is over %d bytes", POLICY_RECORD_MAX);
    buf_release(&value);
    policyd_count(d, KIND_PUT, err == TP_OK);
    if (err != TP_OK) {
        log_warn("PUT of policy \"%s\" failed: %s", j->name, errstr);
        policyd_reply_kafka(j->req, errstr);
        return;
    }
    /* what the feed holds now: ours, unless the set was full (another replica's policies) */
    s = policy_feed_snapshot(d->feed);
    const struct policy *now = policy_set_get(policy_snapshot_set(s), d->topic, j->name);
    if (!now && policy_set_count(policy_snapshot_set(s)) >= d->o.max_active) {
        snprintf(errstr, sizeof(errstr),
                 "policy \"%s\" is refused: %zu policies are stored already (policy.max_active)",
                 j->name, d->o.max_active);
        policyd_policy_error_reply(j->req, POLICY_ERR_TOO_MANY_POLICIES, errstr);
    } else {
        log_info("policy \"%s\" revision %lld %s", j->name, (long long)j->p.revision,
                 created ? "created" : "replaced");
        policyd_reply_policy(j->req, created ? 201 : 200,
                             now && now->revision == j->p.revision ? now : &j->p);
    }
    policy_snapshot_release(s);
}

static void policyd_do_delete(struct policyd *d, struct job *j)
{
    char errstr[512];
    struct policy_snapshot *s = policy_feed_snapshot(d->feed);
    bool known = policy_set_get(policy_snapshot_set(s), d->topic, j->name) != NULL;
    policy_snapshot_release(s);
    if (!known) {
        policyd_error_reply(j->req, PDERR_POLICY_NOT_FOUND, "no policy \"%s\"", j->name);
        return;
    }
    enum tp_err err = policyd_write(d, j->name, NULL, errstr, sizeof(errstr));
    policyd_count(d, KIND_DELETE, err == TP_OK);
    if (err != TP_OK) {
        log_warn("DELETE of policy \"%s\" failed: %s", j->name, errstr);
        policyd_reply_kafka(j->req, errstr);
        return;
    }
    log_info("policy \"%s\" deleted", j->name);
    http_reply(j->req, 204, "application/json", "", 0);
}

/* Tombstones the policies whose until passed retain_expired_ms ago. Writer thread. */
static void policyd_sweep(struct policyd *d)
{
    if (!policy_feed_ready(d->feed))
        return;
    int64_t now = tp_now_ms();
    struct policy_snapshot *s = policy_feed_snapshot(d->feed);
    const struct policy_set *set = policy_snapshot_set(s);
    for (size_t i = 0; i < policy_set_count(set); i++) {
        const char *topic;
        const struct policy *p = policy_set_at(set, i, &topic);
        if (strcmp(topic, d->topic) != 0 || p->until_ms > now - d->o.retain_expired_ms)
            continue;
        char errstr[512];
        enum tp_err err = policyd_write(d, p->name, NULL, errstr, sizeof(errstr));
        policyd_count(d, KIND_EXPIRE, err == TP_OK);
        if (err != TP_OK) {
            log_warn("could not tombstone expired policy \"%s\": %s (next sweep tries again)",
                     p->name, errstr);
            break;
        }
        log_info("policy \"%s\" expired at its until and was tombstoned", p->name);
    }
    policy_snapshot_release(s);
}

static void job_free(struct job *j)
{
    policy_release(&j->p);
    free(j);
}

static void *policyd_writer_main(void *arg)
{
    struct policyd *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        service_beat(d->beat);
        if (d->stopping)
            break;
        struct job *j = d->head;
        if (j) {
            d->head = j->next;
            if (!d->head)
                d->tail = NULL;
            d->queued--;
        }
        pthread_mutex_unlock(&d->mu);
        if (j) {
            if (j->op == JOB_PUT)
                policyd_do_put(d, j);
            else
                policyd_do_delete(d, j);
            metrics_histogram_observe(&d->write_ms, (double)(tp_mono_ms() - j->enqueued_ms));
            job_free(j);
        }
        if (tp_mono_ms() >= d->next_sweep_ms) {
            policyd_sweep(d);
            d->next_sweep_ms = tp_mono_ms() + d->o.sweep_interval_ms;
        }
        pthread_mutex_lock(&d->mu);
        if (!d->head && !d->stopping) {
            struct timespec dl;
            clock_gettime(CLOCK_MONOTONIC, &dl);
            int64_t ns = dl.tv_nsec + (int64_t)(d->o.sweep_interval_ms % 1000) * 1000000;
            dl.tv_sec += d->o.sweep_interval_ms / 1000 + ns / 1000000000;
            dl.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&d->cond, &d->mu, &dl);
        }
    }
    /* stopping: release what still waits */
    struct job *rest = d->head;
    d->head = d->tail = NULL;
    d->queued = 0;
    pthread_mutex_unlock(&d->mu);
    while (rest) {
        struct job *next = rest->next;
        policyd_error_reply(rest->req, PDERR_SHUTTING_DOWN,
                            "the service stops; the policy was not written");
        job_free(rest);
        rest = next;
    }
    return NULL;
}

/* Queues j for the writer (the request is suspended), or answers 503 and frees it. */
static void policyd_enqueue(struct policyd *d, struct job *j)
{
    pthread_mutex_lock(&d->mu);
    bool stopping = d->stopping, full = d->queued >= d->o.max_waiting;
    if (!stopping && !full) {
        j->enqueued_ms = tp_mono_ms();
        http_request_suspend(j->req);
        if (d->tail)
            d->tail->next = j;
        else
            d->head = j;
        d->tail = j;
        d->queued++;
        pthread_cond_signal(&d->cond);
    }
    pthread_mutex_unlock(&d->mu);
    if (stopping)
        policyd_error_reply(j->req, PDERR_SHUTTING_DOWN, "the service stops");
    else if (full)
        policyd_error_reply(j->req, PDERR_OVERLOADED,
                            "%zu writes already wait for kafka (policy.max_waiting)",
                            d->o.max_waiting);
    if (stopping || full)
        job_free(j);
}

/* The path's name, checked: 400 invalid_name when it is not one. */
static bool policyd_name(struct http_request *req, char *name)
{
    const char *tail = http_request_path_tail(req);
    size_t n = strlen(tail);
    if (!policy_name_valid(tail, n)) { /* policy_parse_body's message */
        policyd_policy_error_reply(req, POLICY_ERR_INVALID_NAME,
                                   "name is not 1..64 characters of A-Z a-z 0-9 . _ -");
        return false;
    }
    memcpy(name, tail, n + 1);
    return true;
}

static bool policyd_ready_or_reply(struct policyd *d, struct http_request *req)
{
    if (policy_feed_ready(d->feed))
        return true;
    policyd_error_reply(req, PDERR_NOT_READY,
                        "the policies topic \"%s\" is not read to its end yet", d->topic);
    return false;
}

bool policyd_precheck(struct http_request *req, void *arg)
{
    struct policyd *d = arg;
    char why[128];
    int role =
        keyring_check(d->o.keys, http_request_header(req, "Authorization"), why, sizeof(why));
    if (role < 0) {
        atomic_fetch_add(&d->unauthorized, 1);
        policyd_error_reply(req, PDERR_UNAUTHORIZED, "%s", why);
        return false;
    }
    if (role != POLICYD_ROLE_OPERATOR) {
        atomic_fetch_add(&d->forbidden, 1);
        policyd_error_reply(req, PDERR_FORBIDDEN,
                            "policies need an operator key (policy.operator_keys); this is an "
                            "analyst key");
        return false;
    }
    const char *cl = http_request_header(req, "Content-Length");
    if (cl && !strcmp(http_request_method(req), "PUT") &&
        strtoull(cl, NULL, 10) > POLICY_BODY_MAX) {
        char msg[128];
        snprintf(msg, sizeof(msg), "body is %llu bytes, over %d", strtoull(cl, NULL, 10),
                 POLICY_BODY_MAX);
        atomic_fetch_add(&d->refused_bodies, 1);
        policyd_policy_error_reply(req, POLICY_ERR_BODY_TOO_LARGE, msg);
        return false;
    }
    return true;
}

void policyd_handle_put(struct http_request *req, void *arg)
{
    struct policyd *d = arg;
    char name[POLICY_NAME_MAX + 1];
    if (!policyd_name(req, name) || !policyd_ready_or_reply(d, req))
        return;
    size_t n = 0;
    const char *body = http_request_body(req, &n);
    struct job *j = tp_calloc(1, sizeof(*j));
    j->op = JOB_PUT;
    j->req = req;
    memcpy(j->name, name, sizeof(name));
    struct policy_limits lim = {.max_duration_ms = d->o.max_duration_ms};
    enum policy_error code;
    char msg[512];
    if (policy_parse_body(body ? body : "", n, name, &lim, tp_now_ms(), &j->p, &code, msg,
                          sizeof(msg)) != TP_OK) {
        atomic_fetch_add(&d->refused_bodies, 1);
        policyd_policy_error_reply(req, code, msg);
        job_free(j);
        return;
    }
    policyd_enqueue(d, j);
}

void policyd_handle_delete(struct http_request *req, void *arg)
{
    struct policyd *d = arg;
    char name[POLICY_NAME_MAX + 1];
    if (!policyd_name(req, name) || !policyd_ready_or_reply(d, req))
        return;
    struct job *j = tp_calloc(1, sizeof(*j));
    j->op = JOB_DELETE;
    j->req = req;
    policy_init(&j->p);
    memcpy(j->name, name, sizeof(name));
    policyd_enqueue(d, j);
}

void policyd_handle_get(struct http_request *req, void *arg)
{
    struct policyd *d = arg;
    char name[POLICY_NAME_MAX + 1];
    if (!policyd_name(req, name) || !policyd_ready_or_reply(d, req))
        return;
    struct policy_snapshot *s = policy_feed_snapshot(d->feed);
    const struct policy *p = policy_set_get(policy_snapshot_set(s), d->topic, name);
    if (p)
        policyd_reply_policy(req, 200, p);
    else
        policyd_error_reply(req, PDERR_POLICY_NOT_FOUND, "no policy \"%s\"", name);
    policy_snapshot_release(s);
}

static int policyd_by_name(const void *a, const void *b)
{
    return strcmp((*(const struct policy *const *)a)->name,
                  (*(const struct policy *const *)b)->name);
}

void policyd_handle_list(struct http_request *req, void *arg)
{
    struct policyd *d = arg;
    if (!policyd_ready_or_reply(d, req))
        return;
    struct policy_snapshot *s = policy_feed_snapshot(d->feed);
    const struct policy_set *set = policy_snapshot_set(s);
    size_t n = policy_set_count(set), k = 0;
    const struct policy **v = tp_calloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        const char *topic;
        const struct policy *p = policy_set_at(set, i, &topic);
        if (!strcmp(topic, d->topic))
            v[k++] = p;
    }
    qsort(v, k, sizeof(*v), policyd_by_name);
    struct buf body;
    buf_init(&body, (k + 1) * DOC_MAX);
    int64_t now = tp_now_ms();
    enum tp_err err = buf_append_str(&body, "{\"policies\":[");
    for (size_t i = 0; i < k && err == TP_OK; i++) {
        if (i)
            err = buf_append_str(&body, ",");
        if (err == TP_OK)
            err = policyd_render(v[i], now, &body);
    }
    if (err == TP_OK)
        err = buf_append_str(&body, "]}");
    free(v);
    policy_snapshot_release(s);
    if (err != TP_OK) {
        buf_release(&body);
        log_error("could not render the list of policies");
        policyd_error_reply(req, PDERR_NOT_READY, "the list could not be rendered");
        return;
    }
    http_reply_json(req, 200, &body);
    buf_release(&body);
}

void policyd_handle_ready(struct http_request *req, void *arg)
{
    struct policyd *d = arg;
    if (!policyd_ready_or_reply(d, req))
        return;
    static const char body[] = "{\"status\":\"ready\"}";
    http_reply(req, 200, "application/json", body, sizeof(body) - 1);
}

void policyd_handle_openapi(struct http_request *req, void *arg)
{
    (void)arg;
    http_reply(req, 200, "application/json", policyd_openapi_json, policyd_openapi_json_len);
}

void policyd_handle_metrics(struct http_request *req, void *arg)
{
    struct policyd *d = arg;
    struct buf b;
    buf_init(&b, 1 << 20);
    if (d->srv)
        http_server_metrics(d->srv, "tp_policy", &b);
    struct policy_feed_stats st;
    policy_feed_stats(d->feed, &st);
    struct policy_snapshot *s = policy_feed_snapshot(d->feed);
    const struct policy_set *set = policy_snapshot_set(s);
    int64_t now = tp_now_ms();
    size_t active = 0;
    for (size_t i = 0; i < policy_set_count(set); i++)
        active += policy_active(policy_set_at(set, i, NULL), now);
    policy_snapshot_release(s);
    metrics_sample(&b, "tp_policy_ready", "gauge",
                   "1 once the policies topic was read to its end at start", NULL,
                   policy_feed_ready(d->feed) ? 1 : 0);
    metrics_sample(&b, "tp_policy_policies", "gauge",
                   "policies stored (scheduled, active and expired not yet tombstoned)", NULL,
                   (double)st.policies);
    metrics_sample(&b, "tp_policy_active_policies", "gauge", "policies active now", NULL,
                   (double)active);
    metrics_sample(&b, "tp_policy_feed_records_total", "counter",
                   "records of the policies topic read (every start rereads the topic)", NULL,
                   (double)st.records);
    metrics_sample(&b, "tp_policy_feed_refused_total", "counter",
                   "records of the policies topic that could not be applied", NULL,
                   (double)st.refused);
    for (int k = 0; k < KIND__COUNT; k++)
        for (int o = 0; o < OUT__COUNT; o++) {
            char labels[64];
            snprintf(labels, sizeof(labels), "op=\"%s\",outcome=\"%s\"", kind_names[k],
                     o == OUT_OK ? "ok" : "failed");
            metrics_sample(&b, "tp_policy_writes_total", "counter",
                           k == 0 && o == 0
                               ? "records produced: PUT, DELETE, and tombstones of expired "
                                 "policies (failed: not acknowledged, or refused as too many)"
                               : NULL,
                           labels, (double)atomic_load(&d->writes[k][o]));
        }
    metrics_sample(&b, "tp_policy_invalid_bodies_total", "counter",
                   "PUT bodies refused (400, the codes of policy/errors.h)", NULL,
                   (double)atomic_load(&d->refused_bodies));
    metrics_sample(&b, "tp_policy_unauthorized_total", "counter",
                   "requests without a known key (401)", NULL,
                   (double)atomic_load(&d->unauthorized));
    metrics_sample(&b, "tp_policy_forbidden_total", "counter", "requests with an analyst key (403)",
                   NULL, (double)atomic_load(&d->forbidden));
    metrics_histogram_write(&b, "tp_policy_write_duration_seconds",
                            "PUT and DELETE from queued to answered: Kafka's ack and the feed's "
                            "read-back",
                            &d->write_ms);
    metrics_runtime_write(&b);
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_release(&b);
}

enum tp_err policyd_new(const struct policyd_options *o, struct policyd **out, char *errstr,
                        size_t errstr_size)
{
    *out = NULL;
    struct policyd *d = tp_calloc(1, sizeof(*d));
    d->o = *o;
    d->topic = o->kafka->topic;
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cond, &ca);
    pthread_condattr_destroy(&ca);
    const char *topics[] = {d->topic};
    struct policy_feed_config fc = {
        .kafka = o->kafka, .topics = topics, .n_topics = 1, .max_active = o->max_active};
    enum tp_err err = policy_feed_start(&fc, &d->feed, errstr, errstr_size);
    if (err == TP_OK)
        err = journal_producer_new(o->kafka, policyd_on_delivery, d, &d->producer, errstr,
                                   errstr_size);
    if (err == TP_OK) {
        d->beat = service_beat_new(NULL, "policy writer",
                                   o->stall_ms + o->produce_timeout_ms + o->read_your_writes_ms +
                                       o->sweep_interval_ms);
        if (pthread_create(&d->writer, NULL, policyd_writer_main, d) != 0)
            err = tp_err_set(TP_IO, errstr, errstr_size, "could not start the writer thread");
        else
            d->writer_started = true;
    }
    if (err != TP_OK) {
        policyd_free(d);
        return err;
    }
    *out = d;
    return TP_OK;
}

void policyd_set_server(struct policyd *d, struct http_server *srv)
{
    d->srv = srv;
}

void policyd_drain(struct policyd *d)
{
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
    if (d->writer_started) {
        pthread_join(d->writer, NULL);
        d->writer_started = false;
    }
}

void policyd_free(struct policyd *d)
{
    if (!d)
        return;
    policyd_drain(d);
    service_beat_free(d->beat);
    journal_producer_free(d->producer);
    policy_feed_free(d->feed);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->mu);
    free(d);
}
