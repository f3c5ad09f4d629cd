#include "decode.h"

#include <string.h>

#include "journal/framing.h"

static enum tp_err decode_fail(unsigned *status, unsigned s, const char **code, const char *c,
                               char *msg, size_t msg_size, const char *text)
{
    *status = s;
    *code = c;
    return tp_err_set(TP_DECODE, msg, msg_size, "%s", text);
}

enum tp_err decode_body(const uint8_t *data, size_t len, int32_t schema_id, struct decoded *out,
                        unsigned *status, const char **code, char *msg, size_t msg_size)
{
    memset(out, 0, sizeof(*out));
    arena_init(&out->arena);
    ProtobufCAllocator pa = arena_protobuf(&out->arena);
    if (len == 0)
        return decode_fail(status, 400, code, "empty_body", msg, msg_size, "request body is empty");
    const uint8_t *payload = data;
    size_t payload_len = len;
    int32_t index = 1; /* plain bodies are batches */
    if (data[0] == 0) {
        struct framing_header h;
        char why[160];
        if (framing_decode(data, len, &h, why, sizeof(why)) != TP_OK) {
            *status = 400;
            *code = "invalid_framing";
            return tp_err_set(TP_DECODE, msg, msg_size, "body is not a valid Confluent frame: %s",
                              why);
        }
        if (h.schema_id != schema_id) {
            *status = 422;
            *code = "unknown_schema";
            return tp_err_set(TP_DECODE, msg, msg_size,
                              "schema id %d is not a telemetry schema this server accepts "
                              "(expected %d)",
                              h.schema_id, schema_id);
        }
        if (h.path_len != 1 || h.path[0] > 1)
            return decode_fail(status, 422, code, "unknown_message_type", msg, msg_size,
                               "message index must be [0] (Reading) or [1] (ReadingBatch)");
        payload = h.payload;
        payload_len = h.payload_len;
        index = h.path[0];
    }
    if (index == 0) {
        out->single = twinpipe__telemetry__v1__reading__unpack(&pa, payload_len, payload);
        if (!out->single) {
            decode_release(out);
            return decode_fail(status, 400, code, "invalid_protobuf", msg, msg_size,
                               "body is not a valid protobuf Reading");
        }
        out->readings = &out->single;
        out->n = 1;
    } else {
        out->batch = twinpipe__telemetry__v1__reading_batch__unpack(&pa, payload_len, payload);
        if (!out->batch) {
            decode_release(out);
            return decode_fail(status, 400, code, "invalid_protobuf", msg, msg_size,
                               "body is not a valid protobuf ReadingBatch");
        }
        out->readings = out->batch->readings;
        out->n = out->batch->n_readings;
    }
    if (out->n == 0) {
        decode_release(out);
        return decode_fail(status, 400, code, "empty_batch", msg, msg_size,
                           "batch carries no readings");
    }
    return TP_OK;
}

void decode_release(struct decoded *d)
{
    arena_release(&d->arena); /* the messages: never free_unpacked */
    memset(d, 0, sizeof(*d));
}
