#include "rollup/thrift.h"

#include <assert.h>
#include <string.h>

/* Field-header types that differ from list element types. */
#define CT_BOOL_TRUE  1
#define CT_BOOL_FALSE 2

static void enc_put(struct thrift_enc *e, const void *p, size_t n)
{
    if (e->err != TP_OK)
        return;
    e->err = buf_append(e->out, p, n);
}

static void enc_byte(struct thrift_enc *e, uint8_t b)
{
    enc_put(e, &b, 1);
}

uint64_t thrift_zigzag64(int64_t v)
{
    /* (v << 1) ^ (v >> 63) without shifting a negative value */
    uint64_t u = (uint64_t)v;
    return (u << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

enum tp_err thrift_put_uvarint(struct buf *out, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        if (v)
            b |= 0x80;
        tmp[n++] = b;
    } while (v);
    return buf_append(out, tmp, n);
}

static void enc_uvarint(struct thrift_enc *e, uint64_t v)
{
    if (e->err != TP_OK)
        return;
    e->err = thrift_put_uvarint(e->out, v);
}

static void field_header(struct thrift_enc *e, int16_t id, uint8_t type)
{
    assert(e->depth >= 1 && id > 0);
    int16_t *last = &e->last_id[e->depth - 1];
    int delta = id - *last;
    if (delta > 0 && delta <= 15) {
        enc_byte(e, (uint8_t)(delta << 4 | type));
    } else {
        enc_byte(e, type);
        enc_uvarint(e, thrift_zigzag64(id));
    }
    *last = id;
}

static void push(struct thrift_enc *e)
{
    assert(e->depth < THRIFT_MAX_DEPTH);
    e->last_id[e->depth++] = 0;
}

void thrift_enc_init(struct thrift_enc *e, struct buf *out)
{
    e->out = out;
    e->depth = 0;
    e->err = TP_OK;
    push(e);
}

enum tp_err thrift_enc_finish(struct thrift_enc *e)
{
    assert(e->depth == 1);
    enc_byte(e, 0);
    e->depth = 0;
    return e->err;
}

void thrift_field_bool(struct thrift_enc *e, int16_t id, bool v)
{
    field_header(e, id, v ? CT_BOOL_TRUE : CT_BOOL_FALSE);
}

void thrift_field_i16(struct thrift_enc *e, int16_t id, int16_t v)
{
    field_header(e, id, THRIFT_I16);
    enc_uvarint(e, thrift_zigzag64(v));
}

void thrift_field_i32(struct thrift_enc *e, int16_t id, int32_t v)
{
    field_header(e, id, THRIFT_I32);
    enc_uvarint(e, thrift_zigzag64(v));
}

void thrift_field_i64(struct thrift_enc *e, int16_t id, int64_t v)
{
    field_header(e, id, THRIFT_I64);
    enc_uvarint(e, thrift_zigzag64(v));
}

void thrift_field_binary(struct thrift_enc *e, int16_t id, const void *p, size_t n)
{
    field_header(e, id, THRIFT_BINARY);
    thrift_elem_binary(e, p, n);
}

void thrift_field_string(struct thrift_enc *e, int16_t id, const char *s)
{
    thrift_field_binary(e, id, s, strlen(s));
}

void thrift_field_struct_begin(struct thrift_enc *e, int16_t id)
{
    field_header(e, id, THRIFT_STRUCT);
    push(e);
}

void thrift_struct_end(struct thrift_enc *e)
{
    assert(e->depth > 1);
    enc_byte(e, 0);
    e->depth--;
}

void thrift_field_empty_struct(struct thrift_enc *e, int16_t id)
{
    thrift_field_struct_begin(e, id);
    thrift_struct_end(e);
}

void thrift_field_list_begin(struct thrift_enc *e, int16_t id, enum thrift_type elem, size_t n)
{
    field_header(e, id, THRIFT_LIST);
    if (n < 15) {
        enc_byte(e, (uint8_t)(n << 4 | elem));
    } else {
        enc_byte(e, (uint8_t)(0xf0 | elem));
        enc_uvarint(e, n);
    }
}

void thrift_elem_i32(struct thrift_enc *e, int32_t v)
{
    enc_uvarint(e, thrift_zigzag64(v));
}

void thrift_elem_i64(struct thrift_enc *e, int64_t v)
{
    enc_uvarint(e, thrift_zigzag64(v));
}

void thrift_elem_binary(struct thrift_enc *e, const void *p, size_t n)
{
    enc_uvarint(e, n);
    enc_put(e, p, n);
}

void thrift_elem_string(struct thrift_enc *e, const char *s)
{
    thrift_elem_binary(e, s, strlen(s));
}

void thrift_elem_struct_begin(struct thrift_enc *e)
{
    push(e);
}

void thrift_put_raw(struct thrift_enc *e, const void *p, size_t n)
{
    enc_put(e, p, n);
}
