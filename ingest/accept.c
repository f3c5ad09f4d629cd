#include "accept.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "decode.h"
#include "ingest_int.h"
#include "validate.h"

/* One payload's state while its events are in flight; freed after done ran. */
struct accept_call {
    struct ingest *ing;
    accept_done_fn done;
    void *arg;
    atomic_long pending; /* events not yet reported, +1 while appending */
    atomic_bool failed;
    pthread_mutex_t lock; /* guards fail_msg and the outcome's parts/offsets */
    char fail_msg[600];
    bool overloaded;  /* the failure was a full producer queue */
    int64_t start_ms; /* monotonic, when the first event was appended */
    atomic_long dead_lettered;
    struct accept_outcome o;
};

void accept_outcome_release(struct accept_outcome *o)
{
    for (size_t i = 0; i < o->n_results; i++)
        free(o->results[i].message);
    free(o->results);
    free(o->parts);
    free(o->offsets);
    period_answer_release(&o->period);
    o->results = NULL;
    o->parts = NULL;
    o->offsets = NULL;
    o->n_results = o->n_parts = 0;
}

static void accept_outcome_init(struct accept_outcome *o)
{
    memset(o, 0, sizeof(*o));
    period_answer_init(&o->period);
    o->error = ACCEPT_OK;
    o->reason = ACCEPT_OK;
}

/* Fills *out with a refusal of row e; returns what accept_submit returns for it. */
static enum tp_err accept_refuse(struct accept_outcome *out, enum ingest_error e, const char *fmt,
                                 ...) __attribute__((format(printf, 3, 4)));
static enum tp_err accept_refuse(struct accept_outcome *out, enum ingest_error e, const char *fmt,
                                 ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
    out->error = e;
    if (e == INGEST_ERR_OVERLOADED)
        return TP_QUEUE_FULL;
    return (ingest_error_flags(e) & INGEST_ERR_RETRY) ? TP_IO : TP_VALIDATION;
}

static struct accept_call *accept_call_new(struct ingest *ing, const struct accept_request *rq)
{
    struct accept_call *call = freelist_get(&ing->calls); /* zeroed */
    call->ing = ing;
    call->done = rq->done;
    call->arg = rq->arg;
    pthread_mutex_init(&call->lock, NULL);
    accept_outcome_init(&call->o);
    return call;
}

static void accept_call_free(struct accept_call *call)
{
    accept_outcome_release(&call->o);
    pthread_mutex_destroy(&call->lock);
    freelist_put(&call->ing->calls, call); /* often on the delivery thread: kept, not freed */
}

size_t accept_call_size(void)
{
    return sizeof(struct accept_call);
}

/* Every report is in: the outcome goes to the transport, then the call is freed. */
static void accept_call_finish(struct accept_call *call)
{
    struct ingest *ing = call->ing;
    metrics_histogram_observe(&ing->ack_latency, (double)(tp_mono_ms() - call->start_ms));
    call->o.dead_lettered = (size_t)atomic_load(&call->dead_lettered);
    if (atomic_load(&call->failed)) {
        call->o.error = call->overloaded ? INGEST_ERR_OVERLOADED : INGEST_ERR_JOURNAL_UNAVAILABLE;
        snprintf(call->o.message, sizeof(call->o.message), "%s", call->fail_msg);
    } else {
        call->o.error = ACCEPT_OK;
        atomic_fetch_add(&ing->accepted_total, call->o.accepted);
    }
    call->done(call->arg, &call->o);
    accept_call_free(call);
}

static void accept_call_fail(struct accept_call *call, const char *msg)
{
    pthread_mutex_lock(&call->lock);
    if (!atomic_load(&call->failed))
        snprintf(call->fail_msg, sizeof(call->fail_msg), "%s", msg);
    atomic_store(&call->failed, true);
    pthread_mutex_unlock(&call->lock);
}

static void accept_call_release(struct accept_call *call, long n)
{
    if (atomic_fetch_sub(&call->pending, n) == n)
        accept_call_finish(call);
}

/* While the broker is down every event fails: one line a second, with the count of the
 * others (delivery reports come from the delivery thread only). */
static void accept_log_failure(struct ingest *ing, const char *msg)
{
    int64_t now = tp_mono_ms();
    if (now - ing->fail_logged_ms < 1000) {
        ing->fail_suppressed++;
        return;
    }
    if (ing->fail_suppressed)
        log_error("%s (and %llu more failed events since the last such line)", msg,
                  (unsigned long long)ing->fail_suppressed);
    else
        log_error("%s", msg);
    ing->fail_logged_ms = now;
    ing->fail_suppressed = 0;
}

void accept_on_delivery(void *opaque, const struct journal_delivery *d, void *arg)
{
    struct accept_call *call = opaque;
    struct ingest *ing = arg;
    int32_t partition = d->partition;
    int64_t offset = d->offset;
    if (d->err != TP_OK) {
        accept_log_failure(ing, d->errstr);
        accept_call_fail(call, d->errstr);
    } else if (d->dead_lettered) {
        atomic_fetch_add(&call->dead_lettered, 1);
        atomic_fetch_add(&ing->dead_lettered_total, 1);
    } else {
        struct accept_outcome *o = &call->o;
        pthread_mutex_lock(&call->lock);
        size_t i = 0;
        while (i < o->n_parts && o->parts[i] != partition)
            i++;
        if (i == o->n_parts) {
            o->parts = tp_realloc(o->parts, (i + 1) * sizeof(*o->parts));
            o->offsets = tp_realloc(o->offsets, (i + 1) * sizeof(*o->offsets));
            o->parts[i] = partition;
            o->offsets[i] = offset;
            o->n_parts++;
        } else if (offset > o->offsets[i]) {
            o->offsets[i] = offset;
        }
        pthread_mutex_unlock(&call->lock);
    }
    accept_call_release(call, 1);
}

/* The claims must cover the device of every reading, and with topic_device every reading must
 * be that device: refuses (forbidden, false) at the first that is not. Readings without a
 * device_id are left to validation (missing_device_id). */
static bool accept_check_devices(const struct accept_request *rq, const struct decoded *d,
                                 struct accept_outcome *out)
{
    if (rq->topic_device && rq->claims && !auth_covers(rq->claims, rq->topic_device)) {
        accept_refuse(out, INGEST_ERR_FORBIDDEN,
                      "the topic is for a device this token does not cover; nothing was stored");
        return false;
    }
    for (size_t i = 0; i < d->n; i++) {
        const char *id = d->readings[i]->device_id;
        if (!id || !*id)
            continue;
        if (rq->claims && !auth_covers(rq->claims, id)) {
            accept_refuse(out, INGEST_ERR_FORBIDDEN,
                          "reading %zu is for a device this token does not cover; "
                          "nothing was stored",
                          i);
            return false;
        }
        if (rq->topic_device && strcmp(id, rq->topic_device) != 0) {
            accept_refuse(out, INGEST_ERR_FORBIDDEN,
                          "reading %zu is for another device than the topic's; "
                          "nothing was stored",
                          i);
            return false;
        }
    }
    return true;
}

static void accept_result_add(struct accept_outcome *o, size_t n, size_t index,
                              enum ingest_error code, const char *msg)
{
    if (!o->results)
        o->results = tp_calloc(n, sizeof(*o->results)); /* at most one per reading */
    o->results[o->n_results++] = (struct accept_result){index, code, tp_strdup(msg)};
}

/* Marks the valid readings in valid[] (counted in o->accepted); the others, refused by the
 * strict check (decode.h) or by validation, become results and are counted by reason. */
static void accept_validate(struct ingest *ing, struct accept_outcome *o, const struct decoded *d,
                            bool *valid)
{
    char msg[512];
    enum ingest_error code;
    int64_t now = tp_now_ms();
    for (size_t i = 0; i < d->n; i++) {
        if (d->bad_msg[i]) {
            code = d->bad[i];
            snprintf(msg, sizeof(msg), "%s", d->bad_msg[i]);
        } else if (validate_reading(d->readings[i], &ing->limits.reading, now, &code, msg,
                                    sizeof(msg)) == TP_OK) {
            valid[i] = true;
            o->accepted++;
            continue;
        }
        accept_result_add(o, d->n, i, code, msg);
        o->rejected++;
        atomic_fetch_add(&ing->rejected_total[code], 1);
    }
}

/* With policies: the period of the valid readings' devices, over the current snapshot. */
static void accept_period(struct ingest *ing, struct accept_outcome *o, const struct decoded *d,
                          const bool *valid)
{
    struct policy_snapshot *snap = policy_feed_snapshot(ing->policies);
    period_answer_compute(&o->period, policy_snapshot_set(snap), ing->site,
                          ing->default_report_every_ms, tp_now_ms(), d->readings, valid, d->n);
    policy_snapshot_release(snap);
}

/* Backpressure: refuses up front (overloaded, false) rather than queue without bound. */
static bool accept_admit(struct ingest *ing, size_t events, struct accept_outcome *out)
{
    size_t outstanding = (size_t)journal_producer_outstanding(ing->producer);
    if (outstanding + events <= ing->limits.max_outstanding)
        return true;
    atomic_fetch_add(&ing->overloaded_total, 1);
    accept_refuse(out, INGEST_ERR_OVERLOADED,
                  "%zu events are already waiting for kafka (limit %zu); nothing was "
                  "stored, retry after the Retry-After delay",
                  outstanding, ing->limits.max_outstanding);
    return false;
}

/* The dead-letter headers of an MQTT payload. */
static size_t accept_dlq_headers(const struct accept_request *rq, struct journal_header *h)
{
    size_t n = 0;
    if (rq->client_id)
        h[n++] = (struct journal_header){"tp-client-id", rq->client_id};
    if (rq->mqtt_topic) {
        h[n++] = (struct journal_header){"tp-mqtt-topic", rq->mqtt_topic};
        h[n++] = (struct journal_header){"tp-transport", "mqtt"};
    }
    return n;
}

/* Counts an enqueue failure; false to stop appending. */
static bool accept_enqueued(struct ingest *ing, struct accept_call *call, enum tp_err err,
                            const char *msg)
{
    if (err == TP_OK)
        return true;
    log_warn("%s", msg);
    if (err == TP_QUEUE_FULL) {
        call->overloaded = true;
        atomic_fetch_add(&ing->overloaded_total, 1);
    }
    accept_call_fail(call, msg);
    return false;
}

/* From here on done will run: the transport is told, the events are enqueued, and the
 * guard is dropped (done may run inside, on this thread). */
static void accept_begin(struct accept_call *call, const struct accept_request *rq, size_t events)
{
    call->start_ms = tp_mono_ms();
    atomic_store(&call->pending, (long)events + 1);
    if (rq->pending)
        rq->pending(rq->arg);
}

/* Appends the valid readings, and with ACCEPT_INVALID_DEAD_LETTER dead-letters the invalid
 * ones (each packed on its own, with its code), in the payload's order. */
static void accept_append(struct ingest *ing, struct accept_call *call,
                          const struct accept_request *rq, const struct decoded *d,
                          const bool *valid, size_t events)
{
    char msg[512];
    struct journal_header h[JOURNAL_DLQ_HEADERS_MAX];
    size_t nh = accept_dlq_headers(rq, h);
    bool dead_letter = rq->invalid == ACCEPT_INVALID_DEAD_LETTER;
    accept_begin(call, rq, events);
    long appended = 0;
    size_t next_result = 0;
    for (size_t i = 0; i < d->n; i++) {
        enum tp_err err;
        const journal_reading *r = d->readings[i];
        if (valid[i]) {
            err = journal_producer_append_schema(ing->producer, r, d->schema_id, call, msg,
                                                 sizeof(msg));
        } else if (dead_letter) {
            const struct accept_result *res = &call->o.results[next_result++];
            size_t len;
            uint8_t *bytes = journal_event_pack(r, d->schema_id, &len);
            err = journal_producer_dead_letter_raw(
                ing->producer, r->device_id && *r->device_id ? r->device_id : NULL, bytes, len,
                ingest_error_code(res->code), res->message, h, nh, call, msg, sizeof(msg));
            free(bytes);
        } else {
            continue;
        }
        if (!accept_enqueued(ing, call, err, msg))
            break;
        appended++;
    }
    /* drop the events never appended, and the +1 guard */
    accept_call_release(call, (long)events - appended + 1);
}

/* ACCEPT_INVALID_DEAD_LETTER: a payload that does not decode goes to the dead-letter topic
 * whole, with the code it was refused with. */
static enum tp_err accept_dead_letter_payload(struct ingest *ing, const struct accept_request *rq,
                                              enum ingest_error code, const char *why,
                                              struct accept_outcome *out)
{
    char msg[512];
    struct journal_header h[JOURNAL_DLQ_HEADERS_MAX];
    if (!accept_admit(ing, 1, out))
        return TP_QUEUE_FULL;
    struct accept_call *call = accept_call_new(ing, rq);
    call->o.payload_dead_lettered = true;
    call->o.reason = code;
    snprintf(call->o.reason_message, sizeof(call->o.reason_message), "%s", why);
    accept_begin(call, rq, 1);
    enum tp_err err = journal_producer_dead_letter_raw(
        ing->producer, rq->topic_device, rq->body, rq->len, ingest_error_code(code), why, h,
        accept_dlq_headers(rq, h), call, msg, sizeof(msg));
    bool ok = accept_enqueued(ing, call, err, msg);
    accept_call_release(call, ok ? 1 : 2);
    return TP_OK;
}

enum tp_err accept_submit(struct ingest *ing, const struct accept_request *rq,
                          struct accept_outcome *out)
{
    char msg[512];
    enum ingest_error code;
    struct decoded d;
    struct decode_limits dl = {ing->limits.max_readings, ing->limits.max_reading_bytes};
    accept_outcome_init(out);
    if (decode_body_limits(rq->body, rq->len, ing->schema_id, ing->limits.schemas, &dl, &d, &code,
                           msg, sizeof(msg)) != TP_OK) {
        if (code == INGEST_ERR_UNKNOWN_SCHEMA)
            atomic_fetch_add(&ing->unknown_schema_total, 1);
        if (ingest_error_flags(code) & INGEST_ERR_WIRE)
            atomic_fetch_add(&ing->refused_total[code], 1);
        /* a registry that does not answer is no fault of the payload: retried, never
         * dead-lettered */
        if (rq->invalid == ACCEPT_INVALID_DEAD_LETTER &&
            !(ingest_error_flags(code) & INGEST_ERR_RETRY))
            return accept_dead_letter_payload(ing, rq, code, msg, out);
        return accept_refuse(out, code, "%s", msg);
    }
    atomic_fetch_add(&ing->unknown_fields_dropped_total, d.unknown_dropped);
    enum tp_err ret = TP_OK;
    if (!accept_check_devices(rq, &d, out)) {
        ret = TP_VALIDATION;
        goto out;
    }
    struct accept_call *call = accept_call_new(ing, rq);
    call->o.readings = d.n;
    bool *valid = tp_calloc(d.n, sizeof(*valid));
    accept_validate(ing, &call->o, &d, valid);
    if (call->o.n_results)
        call->o.reason = call->o.results[0].code;
    size_t events = call->o.accepted;
    if (rq->invalid == ACCEPT_INVALID_DEAD_LETTER)
        events += call->o.rejected;
    if (call->o.accepted == 0 && rq->invalid == ACCEPT_INVALID_REPORT) {
        ret = accept_refuse(out, INGEST_ERR_NO_VALID_READING,
                            "none of the %zu readings is valid; nothing was stored", d.n);
        /* the results move to out */
        out->readings = d.n;
        out->rejected = call->o.rejected;
        out->results = call->o.results;
        out->n_results = call->o.n_results;
        call->o.results = NULL;
        call->o.n_results = 0;
        accept_call_free(call);
    } else if (!accept_admit(ing, events, out)) {
        ret = TP_QUEUE_FULL;
        accept_call_free(call);
    } else {
        if (ing->policies && !rq->no_period)
            accept_period(ing, &call->o, &d, valid);
        accept_append(ing, call, rq, &d, valid, events); /* call is done's from here on */
    }
    free(valid);
out:
    decode_release(&d);
    return ret;
}
