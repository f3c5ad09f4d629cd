/*
 * decode.h - turning a POST /v1/telemetry body into readings.
 *
 * Accepted bodies:
 *   - plain protobuf: a twinpipe.telemetry.v1.ReadingBatch;
 *   - Confluent-framed protobuf (first byte 0, which plain protobuf never
 *     starts with): message-index [0] is one Reading, [1] a ReadingBatch;
 *     the schema id must be the built-in schema's (journal.schema_id, or the
 *     id the registry gave it) or, with a registry (registry/schemas.h), any
 *     id live under the telemetry subject: such a body is unpacked with that
 *     version's run-time descriptors, whose Reading keeps the generated
 *     layout (so validate.c and the journal read it as a journal_reading,
 *     and fields the build does not know travel on in the event).
 * After unpacking, registry/strict.h checks the bytes: a reading with
 * invalid UTF-8, an embedded NUL or an undefined enum value is marked bad
 * (bad_code[i]); the request goes on with the others.
 * A failure gives a stable error code and the HTTP status to answer
 * (422 unknown_schema for an id the registry does not have under the
 * subject, 503 registry_unavailable when it cannot be asked).
 *
 * Ownership: struct decoded owns the unpacked messages (all in its arena:
 * a few mallocs per request instead of several per reading); readings[]
 * borrows from them until decode_release. Pure; any thread.
 *
 *     struct decoded d;
 *     if (decode_body_schemas(body, len, schema_id, schemas, &d, &status, &code, msg, n) != TP_OK)
 *         reply_error(status, code, msg);
 *     for (size_t i = 0; i < d.n; i++) if (!d.bad_code[i]) use(d.readings[i], d.schema_id);
 *     decode_release(&d);
 */
#ifndef TP_DECODE_H
#define TP_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "journal/journal.h"
#include "registry/schemas.h"

struct decoded {
    Twinpipe__Telemetry__V1__ReadingBatch *batch; /* plain or framed [1] */
    journal_reading *single;                      /* framed [0] */
    journal_reading **readings;                   /* borrowed */
    size_t n;
    int32_t schema_id;     /* the version the readings are in: journal them with it */
    const char **bad_code; /* [n]: a strict-check failure of reading i, or NULL */
    char **bad_msg;        /* [n] */
    struct arena arena;    /* every unpacked message lives here */
    struct schemas *schemas;
    struct lru_ref *pinned; /* the run-time schema the messages use, until release */
};

/* schemas NULL: only schema_id is accepted (no registry). */
enum tp_err decode_body_schemas(const uint8_t *data, size_t len, int32_t schema_id,
                                struct schemas *schemas, struct decoded *out, unsigned *status,
                                const char **code, char *msg, size_t msg_size);
/* decode_body_schemas without a registry. */
enum tp_err decode_body(const uint8_t *data, size_t len, int32_t schema_id, struct decoded *out,
                        unsigned *status, const char **code, char *msg, size_t msg_size);
void decode_release(struct decoded *d);

#endif
