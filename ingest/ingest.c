#include "ingest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/mem.h"
#include "common/service.h"
#include "token/auth.h"
#include "token/token.h"
#include "decode.h"
#include "errors.h"

#define INGEST_REJECTED_MAX (1 << 20)

struct ingest {
    struct journal_producer *producer;
    struct http_server *srv; /* borrowed, for /metrics */
    _Atomic uint64_t accepted_total;
    _Atomic uint64_t rejected_total[INGEST_ERR__COUNT]; /* by row: the INGEST_ERR_READING ones */
    _Atomic uint64_t overloaded_total;
    _Atomic uint64_t dead_lettered_total;
    _Atomic uint64_t unknown_schema_total;
    _Atomic uint64_t refused_total[INGEST_ERR__COUNT]; /* by row: the INGEST_ERR_WIRE ones */
    _Atomic uint64_t unknown_fields_dropped_total;
    struct metrics_histogram ack_latency;
    atomic_bool ready;
    int64_t fail_logged_ms; /* delivery thread only: rate limit of failure logs */
    uint64_t fail_suppressed;
    struct ingest_limits limits;
    int32_t schema_id;
    pthread_t delivery_thread;
    struct service_beat *delivery_beat;
    atomic_bool running;
    atomic_bool draining;
    atomic_long in_flight; /* suspended requests not yet freed (response not yet sent) */
};

/* One POST's state while its events are in flight; owned by the request. */
struct ingest_call {
    struct http_request *req;
    atomic_long pending; /* events not yet reported, +1 while appending */
    atomic_bool failed;
    pthread_mutex_t lock; /* guards fail_msg */
    char fail_msg[600];
    size_t accepted;
    struct buf rejected; /* JSON array body: {"index":..},... */
    struct ingest *ing;
    bool overloaded;  /* the failure was a full producer queue */
    int64_t start_ms; /* monotonic, when the first event was appended */
    size_t n_parts;   /* consistency token: highest offset per partition (under lock) */
    int32_t *parts;
    int64_t *offsets;
    atomic_long dead_lettered; /* readings Kafka refused, kept in the dead-letter topic */
    bool in_flight;            /* counted in ing->in_flight until freed */
};

static void ingest_call_free(void *p)
{
    struct ingest_call *call = p;
    /* runs when the request ends, after its response was sent */
    if (call->in_flight)
        atomic_fetch_sub(&call->ing->in_flight, 1);
    buf_release(&call->rejected);
    free(call->parts);
    free(call->offsets);
    pthread_mutex_destroy(&call->lock);
    free(call);
}

static void ingest_call_finish(struct ingest_call *call)
{
    struct ingest *ing = call->ing;
    metrics_histogram_observe(&ing->ack_latency, (double)(tp_mono_ms() - call->start_ms));
    if (atomic_load(&call->failed)) {
        if (call->overloaded)
            ingest_error_reply(call->req, INGEST_ERR_OVERLOADED,
                               "ingest is at capacity (%s); retry the whole request after the "
                               "Retry-After delay: readings already stored are deduplicated",
                               call->fail_msg);
        else
            ingest_error_reply(call->req, INGEST_ERR_JOURNAL_UNAVAILABLE,
                               "the journal did not acknowledge every reading (%s); retry the "
                               "whole request: readings already stored are deduplicated by "
                               "sequence",
                               call->fail_msg);
    } else {
        struct buf body;
        buf_init(&body, INGEST_REJECTED_MAX + 65536);
        buf_printf(&body, "{\"accepted\":%zu,\"dead_lettered\":%ld,\"rejected\":[%s],\"token\":\"",
                   call->accepted, atomic_load(&call->dead_lettered),
                   call->rejected.data ? call->rejected.data : "");
        token_write(&body, call->parts, call->offsets, call->n_parts);
        buf_append_str(&body, "\"}");
        atomic_fetch_add(&ing->accepted_total, call->accepted);
        http_reply_json(call->req, 202, &body);
        buf_release(&body);
    }
}

static void ingest_call_fail(struct ingest_call *call, const char *msg)
{
    pthread_mutex_lock(&call->lock);
    if (!atomic_load(&call->failed))
        snprintf(call->fail_msg, sizeof(call->fail_msg), "%s", msg);
    atomic_store(&call->failed, true);
    pthread_mutex_unlock(&call->lock);
}

static void ingest_call_release(struct ingest_call *call, long n)
{
    if (atomic_fetch_sub(&call->pending, n) == n)
        ingest_call_finish(call);
}

/* While the broker is down every event fails: one line a second, with the count of the
 * others (delivery reports come from the delivery thread only). */
static void ingest_log_failure(struct ingest *ing, const char *msg)
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

static void ingest_on_delivery(void *opaque, const struct journal_delivery *d, void *arg)
{
    struct ingest_call *call = opaque;
    struct ingest *ing = arg;
    int32_t partition = d->partition;
    int64_t offset = d->offset;
    if (d->err != TP_OK) {
        ingest_log_failure(ing, d->errstr);
        ingest_call_fail(call, d->errstr);
    } else if (d->dead_lettered) {
        atomic_fetch_add(&call->dead_lettered, 1);
        atomic_fetch_add(&ing->dead_lettered_total, 1);
    } else {
        pthread_mutex_lock(&call->lock);
        size_t i = 0;
        while (i < call->n_parts && call->parts[i] != partition)
            i++;
        if (i == call->n_parts) {
            call->parts = tp_realloc(call->parts, (i + 1) * sizeof(*call->parts));
            call->offsets = tp_realloc(call->offsets, (i + 1) * sizeof(*call->offsets));
            call->parts[i] = partition;
            call->offsets[i] = offset;
            call->n_parts++;
        } else if (offset > call->offsets[i]) {
            call->offsets[i] = offset;
        }
        pthread_mutex_unlock(&call->lock);
    }
    ingest_call_release(call, 1);
}

static void *ingest_delivery_main(void *arg)
{
    struct ingest *ing = arg;
    /* each turn a poll of at most 100 ms and the delivery reports it runs (which answer the
     * suspended requests): stuck here, no request is ever answered */
    while (atomic_load(&ing->running)) {
        service_beat(ing->delivery_beat);
        journal_producer_poll(ing->producer, 100);
    }
    return NULL;
}

static bool ingest_content_type_ok(const char *ct)
{
    if (!ct)
        return false;
    size_t l = strcspn(ct, "; ");
    return (l == strlen("application/x-protobuf") &&
            !strncasecmp(ct, "application/x-protobuf", l)) ||
           (l == strlen("application/protobuf") && !strncasecmp(ct, "application/protobuf", l));
}

static void ingest_reject(struct buf *rejected, size_t index, const char *code, const char *msg)
{
    struct buf item;
    buf_init(&item, 1024);
    buf_printf(&item, "%s{\"index\":%zu,\"code\":", rejected->len ? "," : "", index);
    json_str(&item, code);
    buf_append_str(&item, ",\"message\":");
    json_str(&item, msg);
    buf_append_str(&item, "}");
    /* past the cap the list is cut; counts stay exact */
    buf_append(rejected, item.data, item.len);
    buf_release(&item);
}

/* The checks that need only the headers: draining, the bearer token (claims filled when auth
 * is on), the content type. Answers and returns false on failure. */
static bool ingest_check_headers(struct ingest *ing, struct http_request *req,
                                 struct auth_claims *claims)
{
    char msg[512];
    if (atomic_load(&ing->draining)) {
        http_reply_header(req, "Connection", "close");
        ingest_error_reply(req, INGEST_ERR_SHUTTING_DOWN,
                           "this ingest replica is shutting down; retry (another replica answers)");
        return false;
    }
    if (ing->limits.auth_secret &&
        auth_verify(ing->limits.auth_secret, http_request_header(req, "Authorization"),
                    tp_now_ms() / 1000, claims, msg, sizeof(msg)) != TP_OK) {
        ingest_error_reply(req, INGEST_ERR_UNAUTHORIZED, "%s", msg);
        return false;
    }
    if (!ingest_content_type_ok(http_request_header(req, "Content-Type"))) {
        ingest_error_reply(req, INGEST_ERR_UNSUPPORTED_MEDIA_TYPE,
                           "Content-Type must be application/x-protobuf");
        return false;
    }
    return true;
}

bool ingest_precheck_telemetry(struct http_request *req, void *arg)
{
    struct auth_claims claims;
    return ingest_check_headers(arg, req, &claims);
}

/* Decodes the body into d (released by the caller); answers, counts and returns false when
 * the whole request is refused. */
static bool ingest_decode(struct ingest *ing, struct http_request *req, struct decoded *d)
{
    char msg[512];
    enum ingest_error code;
    size_t len;
    const uint8_t *body = http_request_body(req, &len);
    struct decode_limits dl = {ing->limits.max_readings, ing->limits.max_reading_bytes};
    if (decode_body_limits(body, len, ing->schema_id, ing->limits.schemas, &dl, d, &code, msg,
                           sizeof(msg)) != TP_OK) {
        if (code == INGEST_ERR_UNKNOWN_SCHEMA)
            atomic_fetch_add(&ing->unknown_schema_total, 1);
        if (ingest_error_flags(code) & INGEST_ERR_WIRE)
            atomic_fetch_add(&ing->refused_total[code], 1);
        ingest_error_reply(req, code, "%s", msg);
        return false;
    }
    atomic_fetch_add(&ing->unknown_fields_dropped_total, d->unknown_dropped);
    return true;
}

/* With auth on, the token must cover the device of every reading: answers 403 and returns
 * false for the first it does not cover. */
static bool ingest_check_devices(struct ingest *ing, struct http_request *req,
                                 const struct auth_claims *claims, const struct decoded *d)
{
    if (!ing->limits.auth_secret)
        return true;
    for (size_t i = 0; i < d->n; i++) {
        const char *id = d->readings[i]->device_id;
        if (id && *id && !auth_covers(claims, id)) {
            ingest_error_reply(req, INGEST_ERR_FORBIDDEN,
                               "reading %zu is for a device this token does not cover; "
                               "nothing was stored",
                               i);
            return false;
        }
    }
    return true;
}

/* The request's state from now on (freed with the request). */
static struct ingest_call *ingest_call_new(struct ingest *ing, struct http_request *req)
{
    struct ingest_call *call = tp_calloc(1, sizeof(*call));
    call->req = req;
    call->ing = ing;
    pthread_mutex_init(&call->lock, NULL);
    buf_init(&call->rejected, INGEST_REJECTED_MAX);
    http_request_set_user(req, call, ingest_call_free);
    return call;
}

/* Marks the valid readings in valid[] (counted in call->accepted); lists the others, refused
 * by the strict check (decode.h) or by validation, in call->rejected and counts them by
 * reason. */
static void ingest_validate_readings(struct ingest *ing, struct ingest_call *call,
                                     const struct decoded *d, bool *valid)
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
            call->accepted++;
            continue;
        }
        ingest_reject(&call->rejected, i, ingest_error_code(code), msg);
        atomic_fetch_add(&ing->rejected_total[code], 1);
    }
}

/* 422 no_valid_reading, with the rejected readings. */
static void ingest_reply_none_valid(struct http_request *req, const struct ingest_call *call,
                                    size_t n)
{
    struct buf b;
    buf_init(&b, INGEST_REJECTED_MAX + 256);
    buf_printf(&b,
               "{\"error\":{\"code\":\"%s\",\"message\":\"none of the %zu readings is valid; "
               "nothing was stored\"},\"rejected\":[%s]}",
               ingest_error_code(INGEST_ERR_NO_VALID_READING), n,
               call->rejected.data ? call->rejected.data : "");
    http_reply_json(req, ingest_error_status(INGEST_ERR_NO_VALID_READING), &b);
    buf_release(&b);
}

/* Backpressure: refuses up front (503, false) rather than queue without bound. */
static bool ingest_admit(struct ingest *ing, struct http_request *req, size_t accepted)
{
    size_t outstanding = (size_t)journal_producer_outstanding(ing->producer);
    if (outstanding + accepted <= ing->limits.max_outstanding)
        return true;
    atomic_fetch_add(&ing->overloaded_total, 1);
    ingest_error_reply(req, INGEST_ERR_OVERLOADED,
                       "%zu events are already waiting for kafka (limit %zu); nothing was "
                       "stored, retry after the Retry-After delay",
                       outstanding, ing->limits.max_outstanding);
    return false;
}

/* Suspends the request and appends its valid readings; the delivery thread answers when the
 * last report is in (ingest_call_finish). */
static void ingest_append_valid(struct ingest *ing, struct ingest_call *call,
                                const struct decoded *d, const bool *valid)
{
    char msg[512];
    call->start_ms = tp_mono_ms();
    atomic_fetch_add(&ing->in_flight, 1);
    call->in_flight = true;
    atomic_store(&call->pending, (long)call->accepted + 1);
    http_request_suspend(call->req);
    long appended = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (!valid[i])
            continue;
        enum tp_err aerr = journal_producer_append_schema(ing->producer, d->readings[i],
                                                          d->schema_id, call, msg, sizeof(msg));
        if (aerr != TP_OK) {
            log_warn("%s", msg);
            if (aerr == TP_QUEUE_FULL) {
                call->overloaded = true;
                atomic_fetch_add(&ing->overloaded_total, 1);
            }
            ingest_call_fail(call, msg);
            break;
        }
        appended++;
    }
    /* drop the events never appended, and the +1 guard */
    ingest_call_release(call, (long)call->accepted - appended + 1);
}

void ingest_handle_telemetry(struct http_request *req, void *arg)
{
    struct ingest *ing = arg;
    struct auth_claims claims;
    struct decoded d;
    if (!ingest_check_headers(ing, req, &claims) || !ingest_decode(ing, req, &d))
        return;
    if (!ingest_check_devices(ing, req, &claims, &d)) {
        decode_release(&d);
        return;
    }
    struct ingest_call *call = ingest_call_new(ing, req);
    bool *valid = tp_calloc(d.n, sizeof(*valid));
    ingest_validate_readings(ing, call, &d, valid);
    if (call->accepted == 0)
        ingest_reply_none_valid(req, call, d.n);
    else if (ingest_admit(ing, req, call->accepted))
        ingest_append_valid(ing, call, &d, valid);
    free(valid);
    decode_release(&d);
}

void ingest_attach_server(struct ingest *ing, struct http_server *srv)
{
    ing->srv = srv;
}

void ingest_probe_ready(struct ingest *ing, int timeout_ms)
{
    atomic_store(&ing->ready, journal_producer_ready(ing->producer, timeout_ms));
}

void ingest_handle_ready(struct http_request *req, void *arg)
{
    struct ingest *ing = arg;
    /* never asks the broker here: probes come often, and an unreachable broker would hold
     * a worker thread for the metadata timeout; the main thread probes once a second */
    if (atomic_load(&ing->ready)) {
        static const char body[] = "{\"status\":\"ready\"}";
        http_reply(req, 200, "application/json", body, sizeof(body) - 1);
    } else {
        ingest_error_reply(req, INGEST_ERR_NOT_READY, "kafka metadata is not reachable");
    }
}

/* One sample per row of errors.h with flag, labelled label="<code>", from counts[row]. */
static void ingest_metrics_by_row(struct buf *b, const char *name, const char *label,
                                  const char *help, unsigned flag,
                                  _Atomic uint64_t counts[INGEST_ERR__COUNT])
{
    char labels[64];
    for (int e = 0; e < INGEST_ERR__COUNT; e++) {
        if (!(ingest_error_flags((enum ingest_error)e) & flag))
            continue;
        snprintf(labels, sizeof(labels), "%s=\"%s\"", label,
                 ingest_error_code((enum ingest_error)e));
        metrics_sample(b, name, "counter", help, labels, (double)atomic_load(&counts[e]));
        help = NULL; /* HELP and TYPE once, with the first sample */
    }
}

void ingest_handle_metrics(struct http_request *req, void *arg)
{
    struct ingest *ing = arg;
    struct buf b;
    buf_init(&b, 1 << 20);
    if (ing->srv)
        http_server_metrics(ing->srv, "tp_ingest", &b);
    metrics_sample(&b, "tp_ingest_readings_accepted_total", "counter",
                   "readings acknowledged by kafka and answered 202", NULL,
                   (double)atomic_load(&ing->accepted_total));
    ingest_metrics_by_row(&b, "tp_ingest_readings_rejected_total", "reason",
                          "readings rejected by validation, by reason", INGEST_ERR_READING,
                          ing->rejected_total);
    ingest_metrics_by_row(&b, "tp_ingest_requests_refused_total", "code",
                          "requests refused on the wire before unpacking, by code", INGEST_ERR_WIRE,
                          ing->refused_total);
    metrics_sample(&b, "tp_ingest_unknown_fields_dropped_total", "counter",
                   "fields the reading's schema does not define, dropped before journaling", NULL,
                   (double)atomic_load(&ing->unknown_fields_dropped_total));
    metrics_sample(&b, "tp_ingest_readings_dead_lettered_total", "counter",
                   "readings kafka refused for good, kept in the dead-letter topic", NULL,
                   (double)atomic_load(&ing->dead_lettered_total));
    metrics_sample(&b, "tp_ingest_overloaded_total", "counter",
                   "requests refused with 503 because the producer queue was full", NULL,
                   (double)atomic_load(&ing->overloaded_total));
    metrics_sample(&b, "tp_ingest_producer_queue_depth", "gauge",
                   "events waiting for their kafka acknowledgement", NULL,
                   (double)journal_producer_outstanding(ing->producer));
    metrics_sample(&b, "tp_ingest_unknown_schema_total", "counter",
                   "requests framed with a schema id not registered under the telemetry subject",
                   NULL, (double)atomic_load(&ing->unknown_schema_total));
    if (ing->limits.schemas) {
        struct schemas_stats ss;
        schemas_stats_get(ing->limits.schemas, &ss);
        metrics_sample(&b, "tp_ingest_schema_cache_hits_total", "counter",
                       "schema lookups answered from the cache", NULL, (double)ss.cache.hits);
        metrics_sample(&b, "tp_ingest_schema_cache_misses_total", "counter",
                       "schema lookups that asked the registry", NULL, (double)ss.cache.misses);
        metrics_sample(&b, "tp_ingest_schema_cache_size", "gauge", "schemas in the cache", NULL,
                       (double)ss.cache.size);
        metrics_sample(&b, "tp_ingest_schema_fetch_errors_total", "counter",
                       "registry requests that failed", NULL, (double)ss.fetch_errors);
    }
    metrics_histogram_write(&b, "tp_ingest_ack_latency_seconds",
                            "from the first append to the last acknowledgement of a request",
                            &ing->ack_latency);
    metrics_runtime_write(&b);
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_release(&b);
}

enum tp_err ingest_new(const struct journal_config *journal, const struct ingest_limits *limits,
                       struct ingest **out, char *errstr, size_t errstr_size)
{
    struct ingest *ing = tp_calloc(1, sizeof(*ing));
    ing->limits = *limits;
    ing->schema_id = journal->schema_id;
    enum tp_err err =
        journal_producer_new(journal, ingest_on_delivery, ing, &ing->producer, errstr, errstr_size);
    if (err != TP_OK) {
        free(ing);
        return err;
    }
    atomic_store(&ing->running, true);
    ing->delivery_beat = service_beat_new(NULL, "ingest delivery",
                                          limits->health_stall_ms > 0 ? limits->health_stall_ms
                                                                      : SERVICE_STALL_DEFAULT_MS);
    int rc = pthread_create(&ing->delivery_thread, NULL, ingest_delivery_main, ing);
    if (rc != 0) {
        service_beat_free(ing->delivery_beat);
        journal_producer_free(ing->producer);
        free(ing);
        return tp_err_set(TP_IO, errstr, errstr_size, "could not start the delivery thread: %s",
                          strerror(rc));
    }
    *out = ing;
    return TP_OK;
}

void ingest_begin_drain(struct ingest *ing)
{
    atomic_store(&ing->draining, true);
}

enum tp_err ingest_drain(struct ingest *ing, int timeout_ms)
{
    enum tp_err ret = TP_OK;
    int64_t deadline = tp_mono_ms() + timeout_ms;
    int idle = 0;
    /* two quiet checks in a row: a handler that passed the draining check
     * just before it was set has counted itself in by then */
    while (idle < 2) {
        if (atomic_load(&ing->in_flight) == 0) {
            idle++;
            usleep(50 * 1000);
            continue;
        }
        idle = 0;
        if (ret == TP_OK && tp_mono_ms() >= deadline) {
            log_error("%ld requests still wait for kafka after %d ms: purging their events "
                      "(they are answered 503)",
                      atomic_load(&ing->in_flight), timeout_ms);
            journal_producer_purge(ing->producer);
            ret = TP_TIMEOUT;
        }
        journal_producer_poll(ing->producer, 50);
    }
    return ret;
}

void ingest_free(struct ingest *ing)
{
    if (!ing)
        return;
    atomic_store(&ing->running, false);
    pthread_join(ing->delivery_thread, NULL);
    service_beat_free(ing->delivery_beat);
    journal_producer_free(ing->producer);
    free(ing);
}
