#include "framing.h"

static size_t framing_varint_put(uint8_t *out, size_t out_size, uint32_t v)
{
    size_t n = 0;
    do {
        if (n >= out_size)
            return 0;
        uint8_t byte = v & 0x7f;
        v >>= 7;
        out[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    return n;
}

static uint32_t framing_zigzag(int32_t v)
{
    return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}

static int32_t framing_unzigzag(uint32_t v)
{
    return (int32_t)((v >> 1) ^ (~(v & 1) + 1));
}

/* Reads a varint of at most 5 bytes; returns bytes used or 0. */
static size_t framing_varint_get(const uint8_t *in, size_t len, uint32_t *v)
{
    uint32_t r = 0;
    for (size_t i = 0; i < len && i < 5; i++) {
        r |= (uint32_t)(in[i] & 0x7f) << (7 * i);
        if (!(in[i] & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

size_t framing_header_encode(uint8_t *out, size_t out_size, int32_t schema_id, const int32_t *path,
                             size_t path_len)
{
    if (out_size < 6 || path_len == 0 || path_len > FRAMING_PATH_MAX)
        return 0;
    out[0] = FRAMING_MAGIC;
    out[1] = (uint8_t)((uint32_t)schema_id >> 24);
    out[2] = (uint8_t)((uint32_t)schema_id >> 16);
    out[3] = (uint8_t)((uint32_t)schema_id >> 8);
    out[4] = (uint8_t)schema_id;
    size_t n = 5;
    if (path_len == 1 && path[0] == 0) {
        out[n++] = 0;
        return n;
    }
    size_t w = framing_varint_put(out + n, out_size - n, framing_zigzag((int32_t)path_len));
    if (!w)
        return 0;
    n += w;
    for (size_t i = 0; i < path_len; i++) {
        if (path[i] < 0)
            return 0;
        w = framing_varint_put(out + n, out_size - n, framing_zigzag(path[i]));
        if (!w)
            return 0;
        n += w;
    }
    return n;
}

enum tp_err framing_decode(const uint8_t *data, size_t len, struct framing_header *h, char *errstr,
                           size_t errstr_size)
{
    if (len < 6)
        return tp_err_set(TP_DECODE, errstr, errstr_size,
                          "frame of %zu bytes is shorter than the 6-byte minimum", len);
    if (data[0] != FRAMING_MAGIC)
        return tp_err_set(TP_DECODE, errstr, errstr_size, "frame magic byte is %u, expected 0",
                          data[0]);
    h->schema_id = (int32_t)(((uint32_t)data[1] << 24) | ((uint32_t)data[2] << 16) |
                             ((uint32_t)data[3] << 8) | data[4]);
    size_t pos = 5;
    uint32_t raw;
    size_t used = framing_varint_get(data + pos, len - pos, &raw);
    if (!used)
        return tp_err_set(TP_DECODE, errstr, errstr_size, "frame has a truncated index count");
    pos += used;
    int32_t count = framing_unzigzag(raw);
    if (count == 0) {
        h->path_len = 1;
        h->path[0] = 0;
    } else {
        if (count < 0 || count > FRAMING_PATH_MAX)
            return tp_err_set(TP_DECODE, errstr, errstr_size,
                              "frame message-index count %d is out of range 1..%d", count,
                              FRAMING_PATH_MAX);
        h->path_len = (size_t)count;
        for (int32_t i = 0; i < count; i++) {
            used = framing_varint_get(data + pos, len - pos, &raw);
            if (!used)
                return tp_err_set(TP_DECODE, errstr, errstr_size,
                                  "frame has a truncated message index");
            pos += used;
            h->path[i] = framing_unzigzag(raw);
            if (h->path[i] < 0)
                return tp_err_set(TP_DECODE, errstr, errstr_size,
                                  "frame has a negative message index");
        }
    }
    if (h->schema_id < 0)
        return tp_err_set(TP_DECODE, errstr, errstr_size, "frame schema id %d is negative",
                          h->schema_id);
    h->payload = data + pos;
    h->payload_len = len - pos;
    return TP_OK;
}
