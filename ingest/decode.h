/*
 * decode.h - turning a POST /v1/telemetry body into readings.
 *
 * Accepted bodies:
 *   - plain protobuf: a twinpipe.telemetry.v1.ReadingBatch;
 *   - Confluent-framed protobuf (first byte 0, which plain protobuf never
 *     starts with): message-index [0] is one Reading, [1] a ReadingBatch;
 *     the schema id must be the built-in schema's (journal.schema_id, or the
 *     id the registry gave it) or, with a registry (schema/schemas.h), any
 *     id live under the telemetry subject: such a body is unpacked with that
 *     version's run-time descriptors, whose Reading keeps the generated
 *     layout (so validate.c and the journal read it as a journal_reading,
 *     and fields the build does not know travel on in the event).
 * Before unpacking, the wire bytes are walked once (schema/strict.h,
 * strict_prescan: no recursion, no allocation): messages nested deeper than
 * DECODE_MAX_DEPTH get 400 too_deep, more readings than max_readings 413
 * too_many_readings, a reading over max_reading_bytes 413
 * reading_too_large; and the unpack's arena is capped at a small multiple
 * of the payload (past it: 413 unpacked_too_large). So a body costs at most
 * a bounded multiple of its size, and unpack never recurses deeper than the
 * bound. After unpacking, unknown fields are dropped at every level (never
 * journaled), and schema/strict.h checks the bytes: a reading with
 * invalid UTF-8, an embedded NUL or an undefined enum value is marked bad
 * (bad_msg[i] set, bad[i] its row); the request goes on with the others.
 * A failure gives a request row of errors.h, which holds the HTTP status
 * to answer (422 unknown_schema for an id the registry does not have under
 * the subject, 503 registry_unavailable when it cannot be asked).
 *
 * Ownership: struct decoded owns the unpacked messages (all in its arena:
 * a few mallocs per request instead of several per reading); readings[]
 * borrows from them until decode_release. Pure; any thread.
 *
 *     struct decoded d;
 *     if (decode_body_limits(body, len, schema_id, schemas, &lim, &d, &code, msg, n))
 *         ingest_error_reply(req, code, "%s", msg);
 *     for (size_t i = 0; i < d.n; i++) if (!d.bad_msg[i]) use(d.readings[i], d.schema_id);
 *     decode_release(&d);
 */
#ifndef TP_DECODE_H
#define TP_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "errors.h"
#include "journal/journal.h"
#include "schema/rtdesc.h"
#include "schema/schemas.h"

/* Message levels a body may nest (the batch is level 1): the schema library's bound. */
#define DECODE_MAX_DEPTH RTDESC_MAX_DEPTH

/* Limits checked on the wire before unpacking; 0 = none. */
struct decode_limits {
    size_t max_readings;      /* per body: more get 413 too_many_readings */
    size_t max_reading_bytes; /* one reading's bytes: more get 413 reading_too_large */
};

struct decoded {
    Twinpipe__Telemetry__V1__ReadingBatch *batch; /* plain or framed [1] */
    journal_reading *single;                      /* framed [0] */
    journal_reading **readings;                   /* borrowed */
    size_t n;
    int32_t schema_id;      /* the version the readings are in: journal them with it */
    enum ingest_error *bad; /* [n]: the strict-check failure of reading i, when bad_msg[i] */
    char **bad_msg;         /* [n]: its message, or NULL when reading i passed */
    struct arena arena;     /* every unpacked message lives here */
    struct schemas *schemas;
    struct lru_ref *pinned; /* the run-time schema the messages use, until release */
    size_t unknown_dropped; /* unknown fields removed after unpacking */
    size_t arena_peak;      /* set by decode_release: the most bytes the arena held */
};

/* schemas NULL: only schema_id is accepted (no registry); limits NULL: no count or size limit
 * (depth and the arena's cap always apply). */
enum tp_err decode_body_limits(const uint8_t *data, size_t len, int32_t schema_id,
                               struct schemas *schemas, const struct decode_limits *limits,
                               struct decoded *out, enum ingest_error *code, char *msg,
                               size_t msg_size);
/* decode_body_limits without limits. */
enum tp_err decode_body_schemas(const uint8_t *data, size_t len, int32_t schema_id,
                                struct schemas *schemas, struct decoded *out,
                                enum ingest_error *code, char *msg, size_t msg_size);
/* decode_body_schemas without a registry. */
enum tp_err decode_body(const uint8_t *data, size_t len, int32_t schema_id, struct decoded *out,
                        enum ingest_error *code, char *msg, size_t msg_size);
void decode_release(struct decoded *d);

#endif
