/*
 * decode.h - turning a POST /v1/telemetry body into readings.
 *
 * Accepted bodies:
 *   - plain protobuf: a twinpipe.telemetry.v1.ReadingBatch;
 *   - Confluent-framed protobuf (first byte 0, which plain protobuf never
 *     starts with): message-index [0] is one Reading, [1] a ReadingBatch;
 *     the schema id must be the one ingest serves (journal.schema_id).
 * A failure gives a stable error code and the HTTP status to answer.
 *
 * Ownership: struct decoded owns the unpacked messages (all in its arena:
 * a few mallocs per request instead of several per reading); readings[]
 * borrows from them until decode_release. Pure; any thread.
 *
 *     struct decoded d;
 *     if (decode_body(body, len, schema_id, &d, &status, &code, msg, n) != TP_OK)
 *         reply_error(status, code, msg);
 *     for (size_t i = 0; i < d.n; i++) use(d.readings[i]);
 *     decode_release(&d);
 */
#ifndef TP_DECODE_H
#define TP_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "journal/journal.h"

struct decoded {
    Twinpipe__Telemetry__V1__ReadingBatch *batch; /* plain or framed [1] */
    journal_reading *single;                      /* framed [0] */
    journal_reading **readings;                   /* borrowed */
    size_t n;
    struct arena arena; /* every unpacked message lives here */
};

enum tp_err decode_body(const uint8_t *data, size_t len, int32_t schema_id, struct decoded *out,
                        unsigned *status, const char **code, char *msg, size_t msg_size);
void decode_release(struct decoded *d);

#endif
