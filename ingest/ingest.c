#include "ingest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "auth.h"
#include "decode.h"

#define INGEST_REJECTED_MAX (1 << 20)

struct ingest {
    struct journal_producer *producer;
    struct ingest_limits limits;
    int32_t schema_id;
    pthread_t delivery_thread;
    atomic_bool running;
    atomic_long in_flight; /* requests waiting for delivery reports */
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
};

static void ingest_call_free(void *p)
{
    struct ingest_call *call = p;
    buf_release(&call->rejected);
    pthread_mutex_destroy(&call->lock);
    free(call);
}

static void ingest_call_finish(struct ingest_call *call)
{
    struct ingest *ing = call->ing;
    if (atomic_load(&call->failed)) {
        http_reply_header(call->req, "Retry-After", "1");
        http_reply_error(call->req, 503, "journal_unavailable",
                         "the journal did not acknowledge every reading (%s); retry the whole "
                         "request: readings already stored are deduplicated by sequence",
                         call->fail_msg);
    } else {
        struct buf body;
        buf_init(&body, INGEST_REJECTED_MAX + 64);
        buf_printf(&body, "{\"accepted\":%zu,\"rejected\":[%s]}", call->accepted,
                   call->rejected.data ? call->rejected.data : "");
        http_reply_json(call->req, 202, &body);
        buf_release(&body);
    }
    atomic_fetch_sub(&ing->in_flight, 1);
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

static void ingest_on_delivery(void *opaque, enum tp_err err, const char *errstr, int32_t partition,
                               int64_t offset, void *arg)
{
    struct ingest_call *call = opaque;
    (void)arg;
    (void)partition;
    (void)offset;
    if (err != TP_OK) {
        log_error("%s", errstr);
        ingest_call_fail(call, errstr);
    }
    ingest_call_release(call, 1);
}

static void *ingest_delivery_main(void *arg)
{
    struct ingest *ing = arg;
    while (atomic_load(&ing->running))
        journal_producer_poll(ing->producer, 100);
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

void ingest_handle_telemetry(struct http_request *req, void *arg)
{
    struct ingest *ing = arg;
    char msg[512];
    const char *code;
    unsigned status;
    struct decoded d;

    struct auth_claims claims;
    if (ing->limits.auth_secret &&
        auth_verify(ing->limits.auth_secret, http_request_header(req, "Authorization"),
                    tp_now_ms() / 1000, &claims, msg, sizeof(msg)) != TP_OK) {
        http_reply_header(req, "WWW-Authenticate", "Bearer realm=\"twinpipe\"");
        http_reply_error(req, 401, "unauthorized", "%s", msg);
        return;
    }
    if (!ingest_content_type_ok(http_request_header(req, "Content-Type"))) {
        http_reply_error(req, 415, "unsupported_media_type",
                         "Content-Type must be application/x-protobuf");
        return;
    }
    size_t len;
    const uint8_t *body = http_request_body(req, &len);
    if (decode_body(body, len, ing->schema_id, &d, &status, &code, msg, sizeof(msg)) != TP_OK) {
        http_reply_error(req, status, code, "%s", msg);
        return;
    }
    if (d.n > ing->limits.max_readings) {
        http_reply_error(req, 413, "too_many_readings",
                         "request carries %zu readings, the limit is %zu", d.n,
                         ing->limits.max_readings);
        decode_release(&d);
        return;
    }

    if (ing->limits.auth_secret) {
        for (size_t i = 0; i < d.n; i++) {
            const char *id = d.readings[i]->device_id;
            if (id && *id && !auth_covers(&claims, id)) {
                http_reply_error(req, 403, "forbidden",
                                 "reading %zu is for a device this token does not cover; "
                                 "nothing was stored",
                                 i);
                decode_release(&d);
                return;
            }
        }
    }

    struct ingest_call *call = tp_calloc(1, sizeof(*call));
    call->req = req;
    call->ing = ing;
    pthread_mutex_init(&call->lock, NULL);
    buf_init(&call->rejected, INGEST_REJECTED_MAX);
    http_request_set_user(req, call, ingest_call_free);

    bool *valid = tp_calloc(d.n, sizeof(*valid));
    int64_t now = tp_now_ms();
    for (size_t i = 0; i < d.n; i++) {
        if (validate_reading(d.readings[i], &ing->limits.reading, now, &code, msg, sizeof(msg)) ==
            TP_OK) {
            valid[i] = true;
            call->accepted++;
        } else {
            ingest_reject(&call->rejected, i, code, msg);
        }
    }
    if (call->accepted == 0) {
        struct buf b;
        buf_init(&b, INGEST_REJECTED_MAX + 256);
        buf_printf(&b,
                   "{\"error\":{\"code\":\"no_valid_reading\",\"message\":\"none of the %zu "
                   "readings is valid; nothing was stored\"},\"rejected\":[%s]}",
                   d.n, call->rejected.data ? call->rejected.data : "");
        http_reply_json(req, 422, &b);
        buf_release(&b);
        goto out;
    }

    /* Answer later, when the last delivery report is in. */
    atomic_fetch_add(&ing->in_flight, 1);
    atomic_store(&call->pending, (long)call->accepted + 1);
    http_request_suspend(req);
    long appended = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (!valid[i])
            continue;
        if (journal_producer_append(ing->producer, d.readings[i], call, msg, sizeof(msg)) !=
            TP_OK) {
            log_warn("%s", msg);
            ingest_call_fail(call, msg);
            break;
        }
        appended++;
    }
    /* drop the events never appended, and the +1 guard */
    ingest_call_release(call, (long)call->accepted - appended + 1);
out:
    free(valid);
    decode_release(&d);
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
    pthread_create(&ing->delivery_thread, NULL, ingest_delivery_main, ing);
    *out = ing;
    return TP_OK;
}

enum tp_err ingest_drain(struct ingest *ing, int timeout_ms)
{
    int64_t deadline = tp_mono_ms() + timeout_ms;
    while (atomic_load(&ing->in_flight) > 0 && tp_mono_ms() < deadline)
        journal_producer_poll(ing->producer, 50);
    return atomic_load(&ing->in_flight) == 0 ? TP_OK : TP_TIMEOUT;
}

void ingest_free(struct ingest *ing)
{
    if (!ing)
        return;
    atomic_store(&ing->running, false);
    pthread_join(ing->delivery_thread, NULL);
    journal_producer_free(ing->producer);
    free(ing);
}
