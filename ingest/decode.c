#include "decode.h"

#include <stdio.h>
#include <string.h>

#include "journal/framing.h"
#include "schema/rtdesc.h"
#include "schema/strict.h"

#define DECODE_READING "twinpipe.telemetry.v1.Reading"
#define DECODE_BATCH   "twinpipe.telemetry.v1.ReadingBatch"

/* The unpack's arena may take DECODE_ARENA_FACTOR times the payload, plus each reading's struct
 * and pointer (readings are counted on the wire first) and a fixed base: well-formed readings
 * unpack to 2-4 times their size, empty messages to 20-150 times. */
#define DECODE_ARENA_FACTOR 8
#define DECODE_ARENA_SLACK  64 /* per reading, beyond its struct */
#define DECODE_ARENA_BASE   (64 * 1024)

static void decode_mark_bad(void *arg, size_t index, const char *code, const char *msg)
{
    struct decoded *d = arg;
    if (index >= d->n || d->bad_msg[index])
        return;
    d->bad[index] = ingest_error_of_strict(code);
    size_t l = strlen(msg) + 1;
    d->bad_msg[index] = arena_alloc(&d->arena, l);
    memcpy(d->bad_msg[index], msg, l);
}

/* The run-time descriptor of a framed body's message, pinned in out; answers on failure. */
static enum tp_err decode_registry(struct schemas *schemas, const struct framing_header *h,
                                   struct decoded *out, const ProtobufCMessageDescriptor **md,
                                   enum ingest_error *code, char *msg, size_t msg_size)
{
    const struct schema *sc;
    char why[512];
    enum tp_err err = schemas_get(schemas, h->schema_id, &sc, &out->pinned, why, sizeof(why));
    if (err == TP_NOT_FOUND || err == TP_DECODE) {
        return ingest_error_set(TP_DECODE, code, INGEST_ERR_UNKNOWN_SCHEMA, msg, msg_size,
                                "schema id %d is not a telemetry schema this server accepts: %s",
                                h->schema_id, why);
    }
    if (err != TP_OK) {
        return ingest_error_set(TP_DECODE, code, INGEST_ERR_REGISTRY_UNAVAILABLE, msg, msg_size,
                                "schema id %d could not be looked up (%s); retry later",
                                h->schema_id, why);
    }
    out->schemas = schemas;
    const ProtobufCMessageDescriptor *first = rtdesc_message_at(sc->set, (int32_t[]){0}, 1);
    if (!first || strcmp(first->name, DECODE_READING) != 0) {
        return ingest_error_set(
            TP_DECODE, code, INGEST_ERR_UNKNOWN_SCHEMA, msg, msg_size,
            "schema id %d is not a telemetry schema: its first message must be %s", h->schema_id,
            DECODE_READING);
    }
    *md = rtdesc_message_at(sc->set, h->path, h->path_len);
    if (!*md || (strcmp((*md)->name, DECODE_READING) && strcmp((*md)->name, DECODE_BATCH)))
        return ingest_error_set(TP_DECODE, code, INGEST_ERR_UNKNOWN_MESSAGE_TYPE, msg, msg_size,
                                "%s", "the message index must name a Reading or a ReadingBatch");
    return TP_OK;
}

/* Depth, count and sizes on the wire, before anything is unpacked; sets the arena's cap. */
static enum tp_err decode_prescan(const ProtobufCMessageDescriptor *md, bool single,
                                  const uint8_t *payload, size_t payload_len,
                                  const struct decode_limits *lim, struct decoded *out,
                                  enum ingest_error *code, char *msg, size_t msg_size)
{
    uint32_t units_id = 0;
    size_t unit_size = md->sizeof_message;
    if (!single) {
        const ProtobufCFieldDescriptor *rf =
            protobuf_c_message_descriptor_get_field_by_name(md, "readings");
        units_id = rf ? rf->id : 1;
        if (rf && rf->type == PROTOBUF_C_TYPE_MESSAGE)
            unit_size = ((const ProtobufCMessageDescriptor *)rf->descriptor)->sizeof_message;
    }
    struct strict_scan sc;
    const char *c;
    if (strict_prescan(md, units_id, payload, payload_len, DECODE_MAX_DEPTH, &sc, &c, msg,
                       msg_size) != TP_OK) {
        *code = ingest_error_of_strict(c);
        return TP_DECODE;
    }
    if (lim && lim->max_readings && sc.units > lim->max_readings) {
        return ingest_error_set(
            TP_DECODE, code, INGEST_ERR_TOO_MANY_READINGS, msg, msg_size,
            "request carries %zu readings, the limit is %zu; nothing was stored", sc.units,
            lim->max_readings);
    }
    if (lim && lim->max_reading_bytes && sc.largest > lim->max_reading_bytes) {
        return ingest_error_set(TP_DECODE, code, INGEST_ERR_READING_TOO_LARGE, msg, msg_size,
                                "reading %zu takes %zu bytes, the limit is %zu; nothing was stored",
                                sc.largest_index, sc.largest, lim->max_reading_bytes);
    }
    arena_set_limit(&out->arena, DECODE_ARENA_BASE + DECODE_ARENA_FACTOR * payload_len +
                                     (unit_size + DECODE_ARENA_SLACK) * sc.units);
    return TP_OK;
}

enum tp_err decode_body_limits(const uint8_t *data, size_t len, int32_t schema_id,
                               struct schemas *schemas, const struct decode_limits *limits,
                               struct decoded *out, enum ingest_error *code, char *msg,
                               size_t msg_size)
{
    memset(out, 0, sizeof(*out));
    arena_init(&out->arena);
    ProtobufCAllocator pa = arena_protobuf(&out->arena);
    out->schema_id = schema_id;
    if (len == 0)
        return ingest_error_set(TP_DECODE, code, INGEST_ERR_EMPTY_BODY, msg, msg_size, "%s",
                                "request body is empty");
    const uint8_t *payload = data;
    size_t payload_len = len;
    /* plain bodies are batches of the built-in schema */
    const ProtobufCMessageDescriptor *md = &twinpipe__telemetry__v1__reading_batch__descriptor;
    enum tp_err err = TP_OK;
    if (data[0] == 0) {
        struct framing_header h;
        char why[160];
        if (framing_decode(data, len, &h, why, sizeof(why)) != TP_OK)
            return ingest_error_set(TP_DECODE, code, INGEST_ERR_INVALID_FRAMING, msg, msg_size,
                                    "body is not a valid Confluent frame: %s", why);
        if (h.schema_id == schema_id) {
            if (h.path_len != 1 || h.path[0] > 1)
                return ingest_error_set(
                    TP_DECODE, code, INGEST_ERR_UNKNOWN_MESSAGE_TYPE, msg, msg_size, "%s",
                    "message index must be [0] (Reading) or [1] (ReadingBatch)");
            if (h.path[0] == 0)
                md = &twinpipe__telemetry__v1__reading__descriptor;
        } else if (schemas) {
            err = decode_registry(schemas, &h, out, &md, code, msg, msg_size);
            if (err != TP_OK)
                goto fail;
            out->schema_id = h.schema_id;
        } else {
            return ingest_error_set(TP_DECODE, code, INGEST_ERR_UNKNOWN_SCHEMA, msg, msg_size,
                                    "schema id %d is not a telemetry schema this server accepts "
                                    "(expected %d)",
                                    h.schema_id, schema_id);
        }
        payload = h.payload;
        payload_len = h.payload_len;
    }
    bool single = !strcmp(md->name, DECODE_READING);
    err = decode_prescan(md, single, payload, payload_len, limits, out, code, msg, msg_size);
    if (err != TP_OK)
        goto fail;
    ProtobufCMessage *m = protobuf_c_message_unpack(md, &pa, payload_len, payload);
    if (!m && out->arena.exceeded) {
        err = ingest_error_set(
            TP_DECODE, code, INGEST_ERR_UNPACKED_TOO_LARGE, msg, msg_size,
            "the body would take more than %zu bytes unpacked (%zu bytes on the wire); "
            "nothing was stored",
            out->arena.limit, payload_len);
        goto fail;
    }
    if (!m) {
        err = ingest_error_set(TP_DECODE, code, INGEST_ERR_INVALID_PROTOBUF, msg, msg_size, "%s",
                               single ? "body is not a valid protobuf Reading"
                                      : "body is not a valid protobuf ReadingBatch");
        goto fail;
    }
    /* fields no version of the schema defines are never journaled */
    out->unknown_dropped = strict_drop_unknown(m);
    if (single) {
        out->single = (journal_reading *)m; /* the generated layout (rtdesc templates) */
        out->readings = &out->single;
        out->n = 1;
    } else {
        out->batch = (Twinpipe__Telemetry__V1__ReadingBatch *)m;
        out->readings = out->batch->readings;
        out->n = out->batch->n_readings;
    }
    if (out->n == 0) {
        err = ingest_error_set(TP_DECODE, code, INGEST_ERR_EMPTY_BATCH, msg, msg_size, "%s",
                               "batch carries no readings");
        goto fail;
    }
    out->bad = arena_alloc(&out->arena, out->n * sizeof(*out->bad));
    out->bad_msg = arena_alloc(&out->arena, out->n * sizeof(*out->bad_msg));
    memset(out->bad, 0, out->n * sizeof(*out->bad));
    memset(out->bad_msg, 0, out->n * sizeof(*out->bad_msg));
    const char *c;
    char why[256];
    if (single) {
        if (strict_check(md, payload, payload_len, &c, why, sizeof(why)) != TP_OK)
            decode_mark_bad(out, 0, c, why);
    } else {
        const ProtobufCFieldDescriptor *rf =
            protobuf_c_message_descriptor_get_field_by_name(md, "readings");
        if (strict_check_elements(md, rf ? rf->id : 1, payload, payload_len, decode_mark_bad, out,
                                  &c, why, sizeof(why)) != TP_OK) {
            err = ingest_error_set(TP_DECODE, code, ingest_error_of_strict(c), msg, msg_size, "%s",
                                   why);
            goto fail;
        }
    }
    return TP_OK;
fail:
    decode_release(out);
    return err;
}

enum tp_err decode_body_schemas(const uint8_t *data, size_t len, int32_t schema_id,
                                struct schemas *schemas, struct decoded *out,
                                enum ingest_error *code, char *msg, size_t msg_size)
{
    return decode_body_limits(data, len, schema_id, schemas, NULL, out, code, msg, msg_size);
}

enum tp_err decode_body(const uint8_t *data, size_t len, int32_t schema_id, struct decoded *out,
                        enum ingest_error *code, char *msg, size_t msg_size)
{
    return decode_body_schemas(data, len, schema_id, NULL, out, code, msg, msg_size);
}

void decode_release(struct decoded *d)
{
    size_t peak = d->arena.peak > d->arena_peak ? d->arena.peak : d->arena_peak;
    arena_release(&d->arena); /* the messages: never free_unpacked */
    if (d->schemas && d->pinned)
        schemas_put(d->schemas, d->pinned); /* after the messages that use it */
    memset(d, 0, sizeof(*d));
    d->arena_peak = peak;
}
