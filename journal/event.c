#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/mem.h"
#include "framing.h"
#include "journal.h"

uint8_t *journal_event_pack(const journal_reading *r, int32_t schema_id, size_t *len)
{
    static const int32_t path[] = {0}; /* Reading is message 0 of telemetry.proto */
    uint8_t hdr[FRAMING_HEADER_MAX];
    size_t hlen = framing_header_encode(hdr, sizeof(hdr), schema_id, path, 1);
    size_t plen = protobuf_c_message_get_packed_size(&r->base);
    uint8_t *out = tp_malloc(hlen + plen);
    memcpy(out, hdr, hlen);
    protobuf_c_message_pack(&r->base, out + hlen);
    *len = hlen + plen;
    return out;
}

enum tp_err journal_event_unpack(const uint8_t *data, size_t len, int32_t *schema_id,
                                 journal_reading **out, char *errstr, size_t errstr_size)
{
    return journal_event_unpack_arena(data, len, NULL, schema_id, out, errstr, errstr_size);
}

enum tp_err journal_event_unpack_arena(const uint8_t *data, size_t len, struct arena *a,
                                       int32_t *schema_id, journal_reading **out, char *errstr,
                                       size_t errstr_size)
{
    struct framing_header h;
    enum tp_err err = framing_decode(data, len, &h, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (h.path_len != 1 || h.path[0] != 0)
        return tp_err_set(TP_DECODE, errstr, errstr_size,
                          "event names message index path of length %zu, expected [0] (Reading)",
                          h.path_len);
    ProtobufCAllocator pa;
    if (a)
        pa = arena_protobuf(a);
    journal_reading *r =
        twinpipe__telemetry__v1__reading__unpack(a ? &pa : NULL, h.payload_len, h.payload);
    if (!r)
        return tp_err_set(TP_DECODE, errstr, errstr_size,
                          "event payload of %zu bytes is not a valid Reading", h.payload_len);
    *schema_id = h.schema_id;
    *out = r;
    return TP_OK;
}

enum tp_err journal_event_decode(const struct journal_decoder *dec, const uint8_t *data, size_t len,
                                 int32_t *schema_id, journal_reading **out, void **ref,
                                 char *errstr, size_t errstr_size)
{
    *ref = NULL;
    if (!dec)
        return journal_event_unpack(data, len, schema_id, out, errstr, errstr_size);
    struct framing_header h;
    enum tp_err err = framing_decode(data, len, &h, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    /* no fallback to the built-in Reading on an error: it would drop the fields of the
     * event's own version for good (issue 13): the caller waits or dead-letters */
    *schema_id = h.schema_id;
    return dec->unpack(dec->arg, h.schema_id, h.path, h.path_len, h.payload, h.payload_len, out,
                       ref, errstr, errstr_size);
}

void journal_reading_free(journal_reading *r)
{
    /* through its own descriptor: generated, or built at run time (schema/rtdesc.h) */
    if (r)
        protobuf_c_message_free_unpacked(&r->base, NULL);
}
