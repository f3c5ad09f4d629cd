/*
 * ingest/accept.c, the pipeline every transport calls (HTTP today, MQTT next), against the
 * dev stack's Kafka and against a port where no broker listens:
 * - exact per-reading results, and the valid readings in the journal when done runs;
 * - done runs only once every delivery report is in: never inside a refusal, never before
 *   Kafka answered, and a failed delivery comes back as journal_unavailable;
 * - backpressure: overloaded up front past ingest.max_outstanding, and when the producer's
 *   own queue is full while appending;
 * - refusals that journal nothing: forbidden (token scope, the MQTT topic's device), a body
 *   that does not decode, no valid reading;
 * - the MQTT variant: invalid readings and an undecodable payload dead-lettered, then done.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/mem.h"
#include "ingest/accept.h"
#include "ingest/ingest.h"
#include "journal/framing.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"

/* What done was given, copied (the outcome is borrowed for the callback only). */
struct seen {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending_calls;
    int done_calls;
    bool done_inside_submit; /* done ran before accept_submit returned */
    bool in_submit;
    struct accept_outcome o; /* counts, error and message; results and parts copied below */
    enum ingest_error codes[16];
    size_t indexes[16];
    char messages[16][200];
    int64_t offsets_sum;
};

static void seen_init(struct seen *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
}

static void on_pending(void *arg)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->lock);
    ck_assert_int_eq(s->done_calls, 0); /* always before done */
    s->pending_calls++;
    pthread_mutex_unlock(&s->lock);
}

static void on_done(void *arg, const struct accept_outcome *o)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->lock);
    s->done_calls++;
    s->done_inside_submit = s->in_submit;
    s->o = *o;
    s->o.results = NULL;
    s->o.parts = NULL;
    s->o.offsets = NULL;
    for (size_t i = 0; i < o->n_results && i < 16; i++) {
        s->codes[i] = o->results[i].code;
        s->indexes[i] = o->results[i].index;
        snprintf(s->messages[i], sizeof(s->messages[i]), "%s", o->results[i].message);
    }
    for (size_t i = 0; i < o->n_parts; i++)
        s->offsets_sum += o->offsets[i];
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* Waits up to ms for done; whether it ran. */
static bool seen_wait(struct seen *s, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (s->done_calls == 0 && pthread_cond_timedwait(&s->cond, &s->lock, &ts) == 0)
        ;
    bool done = s->done_calls > 0;
    pthread_mutex_unlock(&s->lock);
    return done;
}

static enum tp_err submit(struct ingest *ing, struct accept_request *rq, struct seen *s,
                          struct accept_outcome *now)
{
    rq->done = on_done;
    rq->pending = on_pending;
    rq->arg = s;
    pthread_mutex_lock(&s->lock);
    s->in_submit = true;
    pthread_mutex_unlock(&s->lock);
    enum tp_err err = accept_submit(ing, rq, now);
    pthread_mutex_lock(&s->lock);
    s->in_submit = false;
    pthread_mutex_unlock(&s->lock);
    return err;
}

struct fixture {
    struct stack st;
    char dlq[160];
    struct journal_config jc;
    struct config_extra kafka;
    struct ingest *ing;
};

/* An ingest on topic (created) of bootstrap; kafka.* extras as "key", "value" pairs. */
static void fixture_start(struct fixture *f, const char *name, const char *bootstrap,
                          size_t max_outstanding, const char *const *extra)
{
    char errstr[512];
    memset(f, 0, sizeof(*f));
    stack_init(&f->st, name);
    snprintf(f->dlq, sizeof(f->dlq), "%s.dlq", f->st.topic);
    f->kafka.prefix = "kafka.";
    for (size_t i = 0; extra && extra[i]; i += 2) {
        f->kafka.keys[f->kafka.n] = (char *)extra[i];
        f->kafka.values[f->kafka.n++] = (char *)extra[i + 1];
    }
    f->jc = (struct journal_config){.bootstrap_servers = bootstrap ? bootstrap : f->st.bootstrap,
                                    .topic = f->st.topic,
                                    .partitions = 2,
                                    .replication = 1,
                                    .schema_id = 1,
                                    .kafka = &f->kafka,
                                    .dlq_topic = f->dlq};
    if (!bootstrap) {
        ck_assert_msg(journal_topic_ensure(&f->jc, 15000, errstr, sizeof(errstr)) == TP_OK, "%s",
                      errstr);
        ck_assert_msg(journal_dlq_topic_ensure(&f->jc, f->dlq, 15000, errstr, sizeof(errstr)) ==
                          TP_OK,
                      "%s", errstr);
    }
    struct ingest_limits lim = {.reading = {.max_past_ms = 7 * 86400000LL,
                                            .max_future_ms = 300000,
                                            .max_string = 256,
                                            .max_metrics = 16},
                                .max_readings = 100,
                                .max_reading_bytes = 65536,
                                .auth_secret = "accept-test-secret-0123",
                                .max_outstanding = max_outstanding};
    ck_assert_msg(ingest_new(&f->jc, &lim, &f->ing, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
}

static void fixture_stop(struct fixture *f)
{
    ingest_free(f->ing);
}

/* A batch body of the readings (device, sequence; sequence 0 = none; device NULL = none). */
struct spec {
    const char *device;
    uint64_t seq;
};

static uint8_t *batch(const struct spec *sp, size_t n, size_t *len)
{
    journal_reading rs[16], *ps[16];
    int64_t now = tp_now_ms();
    for (size_t i = 0; i < n; i++) {
        rs[i] = (journal_reading)TWINPIPE__TELEMETRY__V1__READING__INIT;
        rs[i].device_id = (char *)(sp[i].device ? sp[i].device : "");
        rs[i].has_sequence = sp[i].seq != 0;
        rs[i].sequence = sp[i].seq;
        rs[i].has_timestamp_ms = 1;
        rs[i].timestamp_ms = now;
        ps[i] = &rs[i];
    }
    Twinpipe__Telemetry__V1__ReadingBatch b = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    b.readings = ps;
    b.n_readings = n;
    *len = protobuf_c_message_get_packed_size(&b.base);
    uint8_t *out = malloc(*len);
    protobuf_c_message_pack(&b.base, out);
    return out;
}

static struct auth_claims claims(enum auth_kind kind, const char *scope)
{
    struct auth_claims c = {.kind = kind, .expiry_s = 4102444800};
    snprintf(c.scope, sizeof(c.scope), "%s", scope);
    return c;
}

/* Every event of topic, in partition then offset order (device, sequence), up to max. */
static size_t read_topic(const struct fixture *f, const char *topic, struct spec *out,
                         char devs[][32], size_t max)
{
    char errstr[512];
    struct journal_config jc = {.bootstrap_servers = f->st.bootstrap, .topic = topic};
    struct journal_reader *r;
    ck_assert_int_eq(journal_reader_new(&jc, &r, errstr, sizeof(errstr)), TP_OK);
    int64_t lo[8], hi[8];
    size_t np;
    /* a topic created a moment ago may not be in every broker's metadata yet */
    enum tp_err err = TP_NOT_FOUND;
    for (int tries = 0; tries < 50 && err != TP_OK; tries++) {
        err = journal_reader_watermarks(r, 10000, lo, hi, 8, &np, errstr, sizeof(errstr));
        if (err != TP_OK)
            usleep(200 * 1000);
    }
    ck_assert_msg(err == TP_OK, "%s", errstr);
    int32_t parts[8];
    int64_t want = 0;
    for (size_t p = 0; p < np; p++) {
        parts[p] = (int32_t)p;
        want += hi[p] - lo[p];
    }
    ck_assert_int_eq(journal_reader_assign(r, parts, lo, np, errstr, sizeof(errstr)), TP_OK);
    size_t got = 0;
    for (int tries = 0; tries < 100 && (int64_t)got < want; tries++) {
        struct journal_event evs[16];
        struct arena a;
        arena_init(&a);
        size_t n = 0;
        ck_assert_int_eq(journal_reader_poll(r, 100, evs, 16, &a, &n, errstr, sizeof(errstr)),
                         TP_OK);
        for (size_t i = 0; i < n && got < max; i++, got++) {
            snprintf(devs[got], 32, "%s", evs[i].reading ? evs[i].reading->device_id : "?");
            out[got].device = devs[got];
            out[got].seq = evs[i].reading ? evs[i].reading->sequence : 0;
        }
        arena_release(&a);
        journal_reader_release(r);
    }
    journal_reader_free(r);
    ck_assert_int_eq((int64_t)got, want);
    return got;
}

START_TEST(test_results_exact_and_done_after_reports)
{
    struct fixture f;
    fixture_start(&f, "accept1", NULL, 1000, NULL);
    struct spec sp[] = {{"veh-1", 1}, {"veh-1", 0}, {"veh-2", 7}, {"veh 3", 1}};
    size_t len;
    uint8_t *body = batch(sp, 4, &len);
    struct auth_claims c = claims(AUTH_PREFIX, ""); /* the whole fleet: validation decides */
    struct accept_request rq = {.claims = &c, .body = body, .len = len};
    struct seen s;
    seen_init(&s);
    struct accept_outcome now;
    ck_assert_int_eq(submit(f.ing, &rq, &s, &now), TP_OK);
    ck_assert_int_eq(s.pending_calls, 1);
    ck_assert(seen_wait(&s, 20000));
    ck_assert_int_eq(s.done_calls, 1);
    ck_assert_int_eq(s.o.error, ACCEPT_OK);
    ck_assert_uint_eq(s.o.readings, 4);
    ck_assert_uint_eq(s.o.accepted, 2);
    ck_assert_uint_eq(s.o.rejected, 2);
    ck_assert_uint_eq(s.o.dead_lettered, 0);
    ck_assert(!s.o.payload_dead_lettered);
    ck_assert_int_eq(s.o.reason, INGEST_ERR_MISSING_SEQUENCE);
    ck_assert_uint_eq(s.o.n_results, 2);
    ck_assert_uint_eq(s.indexes[0], 1);
    ck_assert_int_eq(s.codes[0], INGEST_ERR_MISSING_SEQUENCE);
    ck_assert_str_eq(s.messages[0], "reading has no sequence");
    ck_assert_uint_eq(s.indexes[1], 3);
    ck_assert_int_eq(s.codes[1], INGEST_ERR_INVALID_DEVICE_ID);
    ck_assert_str_eq(s.messages[1],
                     "device_id must be 1..128 characters of A-Z a-z 0-9 . _ : - (see "
                     "schemas/README.md)");
    /* the token names an offset per partition written: each from a delivery report */
    ck_assert_uint_ge(s.o.n_parts, 1);
    /* when done ran, the two valid readings were in the journal, nothing else */
    struct spec evs[8];
    char devs[8][32];
    ck_assert_uint_eq(read_topic(&f, f.st.topic, evs, devs, 8), 2);
    bool v1 = false, v2 = false;
    for (int i = 0; i < 2; i++) {
        v1 |= !strcmp(evs[i].device, "veh-1") && evs[i].seq == 1;
        v2 |= !strcmp(evs[i].device, "veh-2") && evs[i].seq == 7;
    }
    ck_assert(v1 && v2);
    free(body);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_refusals_journal_nothing)
{
    struct fixture f;
    fixture_start(&f, "accept2", NULL, 1000, NULL);
    struct seen s;
    seen_init(&s);
    struct accept_outcome now;
    size_t len;
    /* a device token and another device's reading */
    struct spec sp1[] = {{"veh-1", 1}, {"veh-2", 1}};
    uint8_t *body = batch(sp1, 2, &len);
    struct auth_claims dev = claims(AUTH_DEVICE, "veh-1");
    struct accept_request rq = {.claims = &dev, .body = body, .len = len};
    ck_assert_int_eq(submit(f.ing, &rq, &s, &now), TP_VALIDATION);
    ck_assert_int_eq(now.error, INGEST_ERR_FORBIDDEN);
    ck_assert_str_eq(now.message,
                     "reading 1 is for a device this token does not cover; nothing was stored");
    accept_outcome_release(&now);
    /* MQTT: a gateway may publish for veh-2, but not on veh-1's topic */
    struct auth_claims gw = claims(AUTH_PREFIX, "veh-");
    rq = (struct accept_request){.claims = &gw, .body = body, .len = len, .topic_device = "veh-1"};
    ck_assert_int_eq(submit(f.ing, &rq, &s, &now), TP_VALIDATION);
    ck_assert_int_eq(now.error, INGEST_ERR_FORBIDDEN);
    ck_assert_str_eq(now.message,
                     "reading 1 is for another device than the topic's; nothing was stored");
    accept_outcome_release(&now);
    /* a topic of a device the token does not cover */
    rq.topic_device = "car-1";
    ck_assert_int_eq(submit(f.ing, &rq, &s, &now), TP_VALIDATION);
    ck_assert_int_eq(now.error, INGEST_ERR_FORBIDDEN);
    ck_assert_str_eq(now.message,
                     "the topic is for a device this token does not cover; nothing was stored");
    accept_outcome_release(&now);
    free(body);
    /* no valid reading: every result, nothing journaled */
    struct spec sp2[] = {{NULL, 1}, {"veh-1", 0}};
    body = batch(sp2, 2, &len);
    rq = (struct accept_request){.claims = &gw, .body = body, .len = len};
    ck_assert_int_eq(submit(f.ing, &rq, &s, &now), TP_VALIDATION);
    ck_assert_int_eq(now.error, INGEST_ERR_NO_VALID_READING);
    ck_assert_str_eq(now.message, "none of the 2 readings is valid; nothing was stored");
    ck_assert_uint_eq(now.readings, 2);
    ck_assert_uint_eq(now.rejected, 2);
    ck_assert_uint_eq(now.n_results, 2);
    ck_assert_uint_eq(now.results[0].index, 0);
    ck_assert_int_eq(now.results[0].code, INGEST_ERR_MISSING_DEVICE_ID);
    ck_assert_str_eq(now.results[0].message, "reading has no device_id");
    ck_assert_uint_eq(now.results[1].index, 1);
    ck_assert_int_eq(now.results[1].code, INGEST_ERR_MISSING_SEQUENCE);
    ck_assert_str_eq(now.results[1].message, "reading has no sequence");
    accept_outcome_release(&now);
    free(body);
    /* bodies that do not decode */
    rq = (struct accept_request){.claims = &gw, .body = (const uint8_t *)"", .len = 0};
    ck_assert_int_eq(submit(f.ing, &rq, &s, &now), TP_VALIDATION);
    ck_assert_int_eq(now.error, INGEST_ERR_EMPTY_BODY);
    ck_assert_str_eq(now.message, "request body is empty");
    static const uint8_t framed[] = {0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x0a, 0x00};
    rq = (struct accept_request){.claims = &gw, .body = framed, .len = sizeof(framed)};
    ck_assert_int_eq(submit(f.ing, &rq, &s, &now), TP_VALIDATION);
    ck_assert_int_eq(now.error, INGEST_ERR_UNKNOWN_SCHEMA);
    ck_assert_str_eq(now.message,
                     "schema id 7 is not a telemetry schema this server accepts (expected 1)");
    /* neither pending nor done ever ran, and the journal is empty */
    ck_assert_int_eq(s.pending_calls, 0);
    ck_assert_int_eq(s.done_calls, 0);
    struct spec evs[4];
    char devs[4][32];
    ck_assert_uint_eq(read_topic(&f, f.st.topic, evs, devs, 4), 0);
    fixture_stop(&f);
}
END_TEST

/* No broker at the address: done waits for the delivery report, which says the journal did
 * not acknowledge (after kafka.message.timeout.ms). */
START_TEST(test_failed_delivery_reported)
{
    char where[64];
    snprintf(where, sizeof(where), "127.0.0.1:%u", (unsigned)stack_free_port());
    static const char *const extra[] = {"kafka.message.timeout.ms", "1500", NULL};
    struct fixture f;
    fixture_start(&f, "accept3", where, 1000, extra);
    struct spec sp[] = {{"veh-1", 1}};
    size_t len;
    uint8_t *body = batch(sp, 1, &len);
    struct auth_claims dev = claims(AUTH_DEVICE, "veh-1");
    struct accept_request rq = {.claims = &dev, .body = body, .len = len};
    struct seen s;
    seen_init(&s);
    struct accept_outcome now;
    ck_assert_int_eq(submit(f.ing, &rq, &s, &now), TP_OK);
    ck_assert_int_eq(s.pending_calls, 1);
    /* no report yet: no done */
    ck_assert(!seen_wait(&s, 700));
    ck_assert(seen_wait(&s, 20000));
    ck_assert_int_eq(s.done_calls, 1);
    ck_assert(!s.done_inside_submit);
    ck_assert_int_eq(s.o.error, INGEST_ERR_JOURNAL_UNAVAILABLE);
    ck_assert_str_eq(s.o.message, "kafka did not acknowledge the event: Local: Message timed out");
    ck_assert_uint_eq(s.o.accepted, 1);
    ck_assert_uint_eq(s.o.n_parts, 0);
    free(body);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_backpressure)
{
    /* past ingest.max_outstanding: refused up front */
    struct fixture f;
    fixture_start(&f, "accept4", NULL, 2, NULL);
    struct spec sp[] = {{"veh-1", 1}, {"veh-1", 2}, {"veh-1", 3}};
    size_t len;
    uint8_t *body = batch(sp, 3, &len);
    struct auth_claims dev = claims(AUTH_DEVICE, "veh-1");
    struct accept_request rq = {.claims = &dev, .body = body, .len = len};
    struct seen s;
    seen_init(&s);
    struct accept_outcome now;
    ck_assert_int_eq(submit(f.ing, &rq, &s, &now), TP_QUEUE_FULL);
    ck_assert_int_eq(now.error, INGEST_ERR_OVERLOADED);
    ck_assert_str_eq(now.message, "0 events are already waiting for kafka (limit 2); nothing was "
                                  "stored, retry after the Retry-After delay");
    ck_assert_int_eq(s.pending_calls, 0);
    ck_assert_int_eq(s.done_calls, 0);
    fixture_stop(&f);

    /* the producer's own queue full while appending (one message, a broker that never
     * answers): the payload's done says overloaded, on this thread */
    char where[64];
    snprintf(where, sizeof(where), "127.0.0.1:%u", (unsigned)stack_free_port());
    static const char *const extra[] = {"kafka.queue.buffering.max.messages", "1",
                                        "kafka.message.timeout.ms", "1500", NULL};
    fixture_start(&f, "accept5", where, 1000, extra);
    struct seen first;
    seen_init(&first);
    struct spec one[] = {{"veh-1", 1}};
    size_t len1;
    uint8_t *body1 = batch(one, 1, &len1);
    rq = (struct accept_request){.claims = &dev, .body = body1, .len = len1};
    ck_assert_int_eq(submit(f.ing, &rq, &first, &now), TP_OK);
    rq = (struct accept_request){.claims = &dev, .body = body, .len = len};
    seen_init(&s);
    ck_assert_int_eq(submit(f.ing, &rq, &s, &now), TP_OK);
    ck_assert_int_eq(s.pending_calls, 1);
    ck_assert_int_eq(s.done_calls, 1);
    ck_assert(s.done_inside_submit);
    ck_assert_int_eq(s.o.error, INGEST_ERR_OVERLOADED);
    ck_assert_str_eq(s.o.message, "could not enqueue event for kafka: Local: Queue full");
    /* the first one's report: not acknowledged */
    ck_assert(seen_wait(&first, 20000));
    ck_assert_int_eq(first.o.error, INGEST_ERR_JOURNAL_UNAVAILABLE);
    free(body1);
    free(body);
    fixture_stop(&f);
}
END_TEST

/* MQTT: an undecodable payload and invalid readings go to the dead-letter topic, then done. */
START_TEST(test_dead_letter_mode)
{
    struct fixture f;
    fixture_start(&f, "accept6", NULL, 1000, NULL);
    struct auth_claims dev = claims(AUTH_DEVICE, "veh-1");
    static const uint8_t framed[] = {0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x0a, 0x00};
    struct accept_request rq = {.claims = &dev,
                                .body = framed,
                                .len = sizeof(framed),
                                .topic_device = "veh-1",
                                .invalid = ACCEPT_INVALID_DEAD_LETTER,
                                .client_id = "veh-1:c",
                                .mqtt_topic = "twinpipe/v1/veh-1/telemetry"};
    struct seen s;
    seen_init(&s);
    struct accept_outcome now;
    ck_assert_int_eq(submit(f.ing, &rq, &s, &now), TP_OK);
    ck_assert(seen_wait(&s, 20000));
    ck_assert_int_eq(s.o.error, ACCEPT_OK);
    ck_assert(s.o.payload_dead_lettered);
    ck_assert_int_eq(s.o.reason, INGEST_ERR_UNKNOWN_SCHEMA);
    ck_assert_str_eq(s.o.reason_message,
                     "schema id 7 is not a telemetry schema this server accepts (expected 1)");
    ck_assert_uint_eq(s.o.dead_lettered, 1);
    ck_assert_uint_eq(s.o.accepted, 0);

    /* one valid, one invalid: the valid one journaled, the other dead-lettered */
    struct spec sp[] = {{"veh-1", 5}, {"veh-1", 0}};
    size_t len;
    uint8_t *body = batch(sp, 2, &len);
    rq.body = body;
    rq.len = len;
    seen_init(&s);
    ck_assert_int_eq(submit(f.ing, &rq, &s, &now), TP_OK);
    ck_assert(seen_wait(&s, 20000));
    ck_assert_int_eq(s.o.error, ACCEPT_OK);
    ck_assert(!s.o.payload_dead_lettered);
    ck_assert_uint_eq(s.o.accepted, 1);
    ck_assert_uint_eq(s.o.rejected, 1);
    ck_assert_uint_eq(s.o.dead_lettered, 1);
    ck_assert_int_eq(s.o.reason, INGEST_ERR_MISSING_SEQUENCE);
    ck_assert_uint_eq(s.indexes[0], 1);
    struct spec evs[4];
    char devs[4][32];
    ck_assert_uint_eq(read_topic(&f, f.st.topic, evs, devs, 4), 1);
    ck_assert_str_eq(evs[0].device, "veh-1");
    ck_assert_uint_eq(evs[0].seq, 5);
    /* the dead-letter topic: the payload as it came (its frame says schema 7, and its bytes
     * happen to read as a Reading with an empty device_id), and the invalid reading */
    ck_assert_uint_eq(read_topic(&f, f.dlq, evs, devs, 4), 2);
    bool payload = false, reading = false;
    for (int i = 0; i < 2; i++) {
        payload |= !strcmp(evs[i].device, "") && evs[i].seq == 0;
        reading |= !strcmp(evs[i].device, "veh-1") && evs[i].seq == 0;
    }
    ck_assert(payload && reading);
    free(body);
    fixture_stop(&f);
}
END_TEST

static Suite *accept_suite(void)
{
    Suite *s = suite_create("accept");
    TCase *tc = tcase_create("accept");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_results_exact_and_done_after_reports);
    tcase_add_test(tc, test_refusals_journal_nothing);
    tcase_add_test(tc, test_failed_delivery_reported);
    tcase_add_test(tc, test_backpressure);
    tcase_add_test(tc, test_dead_letter_mode);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(accept_suite)
