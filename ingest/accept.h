/*
 * accept.h - the one way a telemetry payload enters the journal, whatever
 * the transport: HTTP (POST /v1/telemetry, ingest.c) and MQTT (PUBLISH,
 * mqtt_server.c; docs/decisions/mqtt-edge.md) call exactly this.
 *
 * accept_submit takes the payload bytes as they arrived (a plain
 * ReadingBatch, or Confluent-framed with a registered version: decode.h)
 * and the principal the transport authenticated (the token's claims), and:
 *   1. decodes (refused whole: the request row of errors.h, e.g.
 *      invalid_protobuf, too_many_readings, unknown_schema);
 *   2. checks the claims cover the device of every reading, and with
 *      topic_device (MQTT) that every reading is that device (refused
 *      whole: forbidden; nothing is journaled);
 *   3. validates each reading (validate.h; the strict check's marks):
 *      every invalid one becomes a result {index, code, message};
 *   4. admits (backpressure: overloaded when the events already waiting for
 *      Kafka plus its own would pass ingest.max_outstanding; nothing is
 *      journaled);
 *   5. appends one event per valid reading; with ACCEPT_INVALID_DEAD_LETTER
 *      (MQTT) the invalid readings, or a payload that does not decode, go to
 *      the dead-letter topic instead (journal_producer_dead_letter_raw, with
 *      tp-client-id, tp-mqtt-topic, tp-transport);
 *   6. calls done(arg, &outcome) once every event has its delivery report
 *      (acks=all): this is when HTTP answers 202 and MQTT sends PUBACK.
 * With policies (ingest_attach_policies), the outcome also carries the
 * reporting period of the payload's devices (period.h), evaluated over the
 * feed's snapshot when the readings were validated.
 * The counters behind /metrics (readings accepted, rejected by reason,
 * refused on the wire, overloaded, dead-lettered, ack latency) are counted
 * here, so they count every transport.
 *
 * Threads: accept_submit from any thread. done runs once, on the delivery
 * thread, or on the caller's thread inside accept_submit when the last
 * report came in before it returned; pending (optional) runs on the
 * caller's thread, before the first event is enqueued, exactly when done
 * will follow (HTTP suspends its request there). The outcome and its
 * results are borrowed for the callback only.
 *
 *     struct accept_request rq = {.claims = &c, .body = b, .len = n, .done = on_done,
 *                                 .pending = on_pending, .arg = x};
 *     struct accept_outcome now;
 *     if (accept_submit(ing, &rq, &now) != TP_OK) {    // refused, nothing journaled
 *         answer(now.error, now.message, now.results); accept_outcome_release(&now);
 *     }                                                // else: on_done(x, &outcome) later
 */
#ifndef TP_INGEST_ACCEPT_H
#define TP_INGEST_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "journal/journal.h"
#include "period.h"
#include "token/auth.h"

struct ingest;

/* What becomes of invalid readings and undecodable payloads. */
enum accept_invalid {
    ACCEPT_INVALID_REPORT,      /* HTTP: listed in the answer, never journaled */
    ACCEPT_INVALID_DEAD_LETTER, /* MQTT: written to the dead-letter topic, then acknowledged */
};

/* One invalid reading. */
struct accept_result {
    size_t index;           /* in the payload */
    enum ingest_error code; /* a reading row of errors.h */
    char *message;
};

/* No error: the row value outcomes carry when everything was acknowledged. */
#define ACCEPT_OK INGEST_ERR__COUNT

struct accept_outcome {
    /* ACCEPT_OK, or the request row: refusals (accept_submit != TP_OK) and, in done,
     * INGEST_ERR_OVERLOADED (the producer queue was full while appending) or
     * INGEST_ERR_JOURNAL_UNAVAILABLE (an event was not acknowledged) */
    enum ingest_error error;
    char message[600]; /* why, when error != ACCEPT_OK */
    size_t readings;   /* in the payload; 0 when it did not decode */
    size_t accepted;   /* valid readings appended (Kafka-refused ones kept in the DLQ included) */
    size_t rejected;   /* invalid readings: results[] */
    /* events acknowledged in the dead-letter topic: readings Kafka refused for good, and with
     * ACCEPT_INVALID_DEAD_LETTER the invalid readings or the whole payload */
    size_t dead_lettered;
    bool payload_dead_lettered; /* ACCEPT_INVALID_DEAD_LETTER: the payload did not decode */
    /* what MQTT's PUBACK reason string says: the code the payload was dead-lettered with
     * (payload_dead_lettered; reason_message says why), else the first invalid reading's
     * code; ACCEPT_OK when every reading was valid */
    enum ingest_error reason;
    char reason_message[512];
    struct accept_result *results;
    size_t n_results;
    /* the consistency token's parts: highest offset written per partition (token/token.h) */
    int32_t *parts;
    int64_t *offsets;
    size_t n_parts;
    /* with policies (ingest_attach_policies): the devices' reporting period, evaluated when
     * the readings were validated (period.h); else report_every_ms 0 */
    struct period_answer period;
};

typedef void (*accept_done_fn)(void *arg, const struct accept_outcome *o);

struct accept_request {               /* borrowed for the call */
    const struct auth_claims *claims; /* NULL: no authentication (auth.mode=off) */
    const uint8_t *body;              /* the payload */
    size_t len;
    const char *topic_device; /* MQTT: every reading must be this device; HTTP: NULL */
    enum accept_invalid invalid;
    const char *client_id, *mqtt_topic; /* dead-letter headers (DEAD_LETTER only; may be NULL) */
    bool no_period; /* the outcome's period is not wanted (MQTT without a config subscription) */
    accept_done_fn done;
    void (*pending)(void *arg); /* may be NULL */
    void *arg;
};

/*
 * Runs the steps above. TP_OK: done will run (also when enqueueing failed: its outcome says
 * so); *out is only initialised. Anything else: refused, nothing journaled, done never runs,
 * *out filled (error, message, and for no_valid_reading the results): release it with
 * accept_outcome_release. TP_VALIDATION for the payload's own faults (a request row of
 * errors.h: decoding, forbidden, no_valid_reading), TP_QUEUE_FULL for overloaded, TP_IO for
 * the other retriable rows (registry_unavailable).
 */
enum tp_err accept_submit(struct ingest *ing, const struct accept_request *rq,
                          struct accept_outcome *out);
void accept_outcome_release(struct accept_outcome *o);

/* The producer's delivery callback (journal_producer_new(.., accept_on_delivery, ing, ..)). */
void accept_on_delivery(void *opaque, const struct journal_delivery *d, void *arg);
/* The size of one call, for the ingest's free list of them (ingest_int.h: calls). */
size_t accept_call_size(void);

#endif
