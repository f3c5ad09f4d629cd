/*
 * framing.h - the Confluent wire framing of journal events.
 *
 *     byte 0       magic, always 0
 *     bytes 1..4   schema id, big-endian int32
 *     then         protobuf message-index path: the single byte 0 for [0]
 *                  (first message of the schema file); otherwise a zigzag
 *                  varint count followed by that many zigzag varint indexes
 *     then         the protobuf payload
 *
 * Pure functions, no allocation; any thread.
 *
 *     uint8_t hdr[FRAMING_HEADER_MAX];
 *     size_t n = framing_header_encode(hdr, sizeof(hdr), 7, (int32_t[]){0}, 1);
 *     struct framing_header h;
 *     framing_decode(data, len, &h, errstr, sizeof(errstr));  -> h.schema_id, h.payload
 */
#ifndef TP_FRAMING_H
#define TP_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define FRAMING_MAGIC      0
#define FRAMING_PATH_MAX   16
#define FRAMING_HEADER_MAX (5 + 5 * (FRAMING_PATH_MAX + 1))

struct framing_header {
    int32_t schema_id;
    size_t path_len;
    int32_t path[FRAMING_PATH_MAX];
    const uint8_t *payload; /* borrowed: points into the decoded buffer */
    size_t payload_len;
};

/* Writes the header; returns its length, or 0 if out is too small or the path invalid. */
size_t framing_header_encode(uint8_t *out, size_t out_size, int32_t schema_id, const int32_t *path,
                             size_t path_len);
/* Parses data; TP_DECODE with a reason when it is not a valid frame. */
enum tp_err framing_decode(const uint8_t *data, size_t len, struct framing_header *h, char *errstr,
                           size_t errstr_size);

#endif
