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
#include "accept.h"
#include "errors.h"
#include "ingest_int.h"

#define INGEST_REJECTED_MAX (1 << 20)

/* One POST, from the moment accept.c will call back (ingest_post_pending); owned by the
 * request (freed after its response was sent). */
struct ingest_post {
    struct ingest *ing;
    struct http_request *req;
    bool in_flight; /* counted in ing->in_flight until freed */
};

static void ingest_post_free(void *p)
{
    struct ingest_post *post = p;
    /* runs when the request ends, after its response was sent */
    if (post->in_flight)
        atomic_fetch_sub(&post->ing->in_flight, 1);
    free(post);
}

/* The "rejected" array's items: {"index":..,"code":"..","message":".."},... */
static void ingest_rejected_json(struct buf *rejected, const struct accept_outcome *o)
{
    for (size_t i = 0; i < o->n_results; i++) {
        struct buf item;
        buf_init(&item, 1024);
        buf_printf(&item, "%s{\"index\":%zu,\"code\":", rejected->len ? "," : "",
                   o->results[i].index);
        json_str(&item, ingest_error_code(o->results[i].code));
        buf_append_str(&item, ",\"message\":");
        json_str(&item, o->results[i].message);
        buf_append_str(&item, "}");
        /* past the cap the list is cut; counts stay exact */
        buf_append(rejected, item.data, item.len);
        buf_release(&item);
    }
}

/* accept.c will answer through ingest_post_done: the request waits, counted for the drain. */
static void ingest_post_pending(void *arg)
{
    struct ingest_post *post = arg;
    atomic_fetch_add(&post->ing->in_flight, 1);
    post->in_flight = true;
    http_request_suspend(post->req);
}

/* Every event has its delivery report: 202, or 503 when one was not acknowledged. */
static void ingest_post_done(void *arg, const struct accept_outcome *o)
{
    struct ingest_post *post = arg;
    if (o->error == INGEST_ERR_OVERLOADED) {
        ingest_error_reply(post->req, INGEST_ERR_OVERLOADED,
                           "ingest is at capacity (%s); retry the whole request after the "
                           "Retry-After delay: readings already stored are deduplicated",
                           o->message);
    } else if (o->error != ACCEPT_OK) {
        ingest_error_reply(post->req, INGEST_ERR_JOURNAL_UNAVAILABLE,
                           "the journal did not acknowledge every reading (%s); retry the "
                           "whole request: readings already stored are deduplicated by "
                           "sequence",
                           o->message);
    } else {
        struct buf rejected, body;
        buf_init(&rejected, INGEST_REJECTED_MAX);
        ingest_rejected_json(&rejected, o);
        /* the period map: at most one entry per distinct device, ids of at most 128 bytes */
        buf_init(&body, INGEST_REJECTED_MAX + 65536 + o->period.n_by_device * 160);
        buf_printf(&body, "{\"accepted\":%zu,\"dead_lettered\":%zu,\"rejected\":[%s],\"token\":\"",
                   o->accepted, o->dead_lettered, rejected.data ? rejected.data : "");
        token_write(&body, o->parts, o->offsets, o->n_parts);
        buf_append_str(&body, "\"");
        if (o->period.report_every_ms) {
            period_answer_json(&o->period, &body);
            atomic_fetch_add(&post->ing->period_answers[0][period_answer_policy(&o->period)], 1);
        }
        buf_append_str(&body, "}");
        http_reply_json(post->req, 202, &body);
        buf_release(&body);
        buf_release(&rejected);
    }
}

/* A refusal that journaled nothing: the error document, with the rejected readings for 422
 * no_valid_reading. */
static void ingest_post_refused(struct http_request *req, const struct accept_outcome *o)
{
    if (o->error != INGEST_ERR_NO_VALID_READING) {
        ingest_error_reply(req, o->error, "%s", o->message);
        return;
    }
    struct buf rejected, b;
    buf_init(&rejected, INGEST_REJECTED_MAX);
    ingest_rejected_json(&rejected, o);
    buf_init(&b, INGEST_REJECTED_MAX + 256);
    buf_printf(&b, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"},\"rejected\":[%s]}",
               ingest_error_code(INGEST_ERR_NO_VALID_READING), o->message,
               rejected.data ? rejected.data : "");
    http_reply_json(req, ingest_error_status(INGEST_ERR_NO_VALID_READING), &b);
    buf_release(&b);
    buf_release(&rejected);
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

void ingest_handle_telemetry(struct http_request *req, void *arg)
{
    struct ingest *ing = arg;
    struct auth_claims claims;
    if (!ingest_check_headers(ing, req, &claims))
        return;
    struct ingest_post *post = tp_calloc(1, sizeof(*post));
    post->ing = ing;
    post->req = req;
    http_request_set_user(req, post, ingest_post_free);
    struct accept_request rq = {.claims = ing->limits.auth_secret ? &claims : NULL,
                                .invalid = ACCEPT_INVALID_REPORT,
                                .done = ingest_post_done,
                                .pending = ingest_post_pending,
                                .arg = post};
    rq.body = http_request_body(req, &rq.len);
    struct accept_outcome now;
    if (accept_submit(ing, &rq, &now) != TP_OK) {
        ingest_post_refused(req, &now);
        accept_outcome_release(&now);
    }
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
    if (ing->policies && !policy_feed_ready(ing->policies)) {
        /* devices would be told the default period: a restart must not undo policies */
        ingest_error_reply(req, INGEST_ERR_NOT_READY,
                           "the policies topics are not read up to their end yet");
    } else if (atomic_load(&ing->ready)) {
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

/* The policies' families: the feed, and the answers that told a period. */
static void ingest_policy_metrics(struct ingest *ing, struct buf *b)
{
    static const char *const transports[] = {"http", "mqtt"};
    static const char *const periods[] = {"default", "policy"};
    struct policy_feed_stats fs;
    policy_feed_stats(ing->policies, &fs);
    metrics_sample(b, "tp_ingest_policies", "gauge", "policies known (active or not)", NULL,
                   (double)fs.policies);
    metrics_sample(b, "tp_ingest_policies_ready", "gauge",
                   "1 once the policies topics were read up to their end at start", NULL,
                   policy_feed_ready(ing->policies) ? 1 : 0);
    metrics_sample(b, "tp_ingest_policy_records_total", "counter",
                   "records read from the policies topics", NULL, (double)fs.records);
    metrics_sample(b, "tp_ingest_policy_records_refused_total", "counter",
                   "policies records not applied (unreadable, over policy.max_active, too large)",
                   NULL, (double)fs.refused);
    const char *help = "answers that told devices their reporting period (HTTP 202 bodies, MQTT "
                       "config messages), by whether a policy's period was in them";
    char labels[64];
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < 2; p++) {
            snprintf(labels, sizeof(labels), "transport=\"%s\",period=\"%s\"", transports[t],
                     periods[p]);
            metrics_sample(b, "tp_ingest_period_answers_total", "counter", help, labels,
                           (double)atomic_load(&ing->period_answers[t][p]));
            help = NULL;
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
    if (ing->policies)
        ingest_policy_metrics(ing, &b);
    if (ing->extra_metrics)
        ing->extra_metrics(ing->extra_metrics_arg, &b);
    metrics_runtime_write(&b);
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_release(&b);
}

void ingest_attach_policies(struct ingest *ing, struct policy_feed *feed, const char *site,
                            int64_t default_report_every_ms)
{
    ing->policies = feed;
    ing->site = site && *site ? site : NULL;
    ing->default_report_every_ms = default_report_every_ms;
}

void ingest_attach_metrics(struct ingest *ing, void (*fn)(void *arg, struct buf *b), void *arg)
{
    ing->extra_metrics = fn;
    ing->extra_metrics_arg = arg;
}

enum tp_err ingest_new(const struct journal_config *journal, const struct ingest_limits *limits,
                       struct ingest **out, char *errstr, size_t errstr_size)
{
    struct ingest *ing = tp_calloc(1, sizeof(*ing));
    ing->limits = *limits;
    ing->schema_id = journal->schema_id;
    freelist_init(&ing->calls, accept_call_size(), INGEST_CALLS_KEPT);
    enum tp_err err =
        journal_producer_new(journal, accept_on_delivery, ing, &ing->producer, errstr, errstr_size);
    if (err != TP_OK) {
        freelist_release(&ing->calls);
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
        freelist_release(&ing->calls);
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
    journal_producer_free(ing->producer); /* the last reports drop their calls */
    freelist_release(&ing->calls);
    free(ing);
}
