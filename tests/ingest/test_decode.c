#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/decode.h"
#include "journal/framing.h"
#include "tests/support/check_main.h"

static journal_reading one(const char *id, uint64_t seq)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = (char *)id;
    r.has_sequence = 1;
    r.sequence = seq;
    return r;
}

/* Packs a two-reading batch, optionally framed with path [index]. */
static uint8_t *batch_body(size_t *len, int framed_index, int32_t schema_id)
{
    journal_reading a = one("a", 1), b = one("b", 2);
    journal_reading *rs[] = {&a, &b};
    Twinpipe__Telemetry__V1__ReadingBatch batch = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    batch.readings = rs;
    batch.n_readings = 2;
    const ProtobufCMessage *m = framed_index == 0 ? &a.base : &batch.base;
    uint8_t hdr[FRAMING_HEADER_MAX];
    size_t h = 0;
    if (framed_index >= 0)
        h = framing_header_encode(hdr, sizeof(hdr), schema_id, (int32_t[]){framed_index}, 1);
    size_t p = protobuf_c_message_get_packed_size(m);
    uint8_t *out = malloc(h + p);
    memcpy(out, hdr, h);
    protobuf_c_message_pack(m, out + h);
    *len = h + p;
    return out;
}

START_TEST(test_plain_batch)
{
    size_t len;
    uint8_t *body = batch_body(&len, -1, 0);
    struct decoded d;
    enum ingest_error code;
    char msg[256];
    ck_assert_int_eq(decode_body(body, len, 1, &d, &code, msg, sizeof(msg)), TP_OK);
    ck_assert_uint_eq(d.n, 2);
    ck_assert_str_eq(d.readings[0]->device_id, "a");
    ck_assert_uint_eq(d.readings[1]->sequence, 2);
    decode_release(&d);
    free(body);
}
END_TEST

START_TEST(test_framed_single_and_batch)
{
    size_t len;
    struct decoded d;
    enum ingest_error code;
    char msg[256];
    uint8_t *body = batch_body(&len, 0, 5);
    ck_assert_int_eq(decode_body(body, len, 5, &d, &code, msg, sizeof(msg)), TP_OK);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(d.readings[0]->device_id, "a");
    decode_release(&d);
    free(body);
    body = batch_body(&len, 1, 5);
    ck_assert_int_eq(decode_body(body, len, 5, &d, &code, msg, sizeof(msg)), TP_OK);
    ck_assert_uint_eq(d.n, 2);
    decode_release(&d);
    /* another schema id */
    ck_assert_int_eq(decode_body(body, len, 6, &d, &code, msg, sizeof(msg)), TP_DECODE);
    ck_assert_uint_eq(ingest_error_status(code), 422);
    ck_assert_str_eq(ingest_error_code(code), "unknown_schema");
    free(body);
    body = batch_body(&len, 2, 5);
    ck_assert_int_eq(decode_body(body, len, 5, &d, &code, msg, sizeof(msg)), TP_DECODE);
    ck_assert_str_eq(ingest_error_code(code), "unknown_message_type");
    free(body);
}
END_TEST

START_TEST(test_garbage)
{
    struct decoded d;
    enum ingest_error code;
    char msg[256];
    const uint8_t junk[] = "this is not protobuf at all";
    ck_assert_int_eq(decode_body(junk, sizeof(junk) - 1, 1, &d, &code, msg, 256), TP_DECODE);
    ck_assert_uint_eq(ingest_error_status(code), 400);
    ck_assert_str_eq(ingest_error_code(code), "invalid_protobuf");
    ck_assert_int_eq(decode_body(junk, 0, 1, &d, &code, msg, 256), TP_DECODE);
    ck_assert_str_eq(ingest_error_code(code), "empty_body");
    const uint8_t bad_frame[] = {0, 0, 0};
    ck_assert_int_eq(decode_body(bad_frame, 3, 1, &d, &code, msg, 256), TP_DECODE);
    ck_assert_uint_eq(ingest_error_status(code), 400);
    ck_assert_str_eq(ingest_error_code(code), "invalid_framing");
    const uint8_t empty_batch[] = {0, 0, 0, 0, 1, 0x02, 0x02}; /* framed [1], no payload */
    ck_assert_int_eq(decode_body(empty_batch, sizeof(empty_batch), 1, &d, &code, msg, 256),
                     TP_DECODE);
    ck_assert_uint_eq(ingest_error_status(code), 400);
    ck_assert_str_eq(ingest_error_code(code), "empty_batch");
}
END_TEST

/* tag of field `id` with wire type `wire`, as a varint into p; returns bytes written */
static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static const struct decode_limits ingest_defaults = {10000, 262144};

/* The review's body: two million empty readings in 4 MiB. Counted on the wire and refused before
 * anything is unpacked (on main: 868 MiB of RSS, then 413). */
START_TEST(test_too_many_readings_before_unpack)
{
    size_t n = 2 * 1000 * 1000, len = 2 * n;
    uint8_t *body = calloc(1, len);
    for (size_t i = 0; i < n; i++)
        body[2 * i] = 0x0a;
    struct decoded d;
    enum ingest_error code;
    char msg[256];
    ck_assert_int_eq(
        decode_body_limits(body, len, 1, NULL, &ingest_defaults, &d, &code, msg, sizeof(msg)),
        TP_DECODE);
    ck_assert_uint_eq(ingest_error_status(code), 413);
    ck_assert_str_eq(ingest_error_code(code), "too_many_readings");
    ck_assert_str_eq(msg,
                     "request carries 2000000 readings, the limit is 10000; nothing was stored");
    ck_assert_uint_eq(d.arena_peak, 0); /* not one byte unpacked */
    /* exactly at the limit: accepted, and the unpack stays a small multiple of the body */
    ck_assert_msg(decode_body_limits(body, 2 * 10000, 1, NULL, &ingest_defaults, &d, &code, msg,
                                     sizeof(msg)) == TP_OK,
                  "%s: %s (%zu)", ingest_error_code(code), msg, sizeof(journal_reading));
    ck_assert_uint_eq(d.n, 10000);
    decode_release(&d);
    ck_assert_uint_gt(d.arena_peak, 0);
    ck_assert_uint_le(d.arena_peak, 64 * 1024 + 8 * 20000 + (sizeof(journal_reading) + 64) * 10000);
    free(body);
}
END_TEST

/* Few readings, each with a million empty metrics (2 bytes each on the wire, ~56 unpacked):
 * the unpack's arena is capped at a small multiple of the body and the request fails cleanly. */
START_TEST(test_unpack_capped)
{
    size_t entries = 1000 * 1000, inner = 3 * entries;
    uint8_t *body = malloc(inner + 16);
    size_t len = 0;
    body[len++] = 0x0a; /* readings */
    len += put_varint(body + len, inner);
    for (size_t i = 0; i < entries; i++) {
        body[len++] = 0xf2; /* field 30 (metrics), length-delimited: 2 tag bytes */
        body[len++] = 0x01;
        body[len++] = 0x00; /* an empty entry */
    }
    struct decoded d;
    enum ingest_error code;
    char msg[256];
    struct decode_limits lim = {10000, 0};
    ck_assert_int_eq(decode_body_limits(body, len, 1, NULL, &lim, &d, &code, msg, sizeof(msg)),
                     TP_DECODE);
    ck_assert_uint_eq(ingest_error_status(code), 413);
    ck_assert_str_eq(ingest_error_code(code), "unpacked_too_large");
    ck_assert_uint_le(d.arena_peak, 64 * 1024 + 8 * len + sizeof(journal_reading) + 64);
    ck_assert_uint_gt(d.arena_peak, 4 * len);
    /* the same reading is refused by the per-reading size before that, with ingest's limits */
    ck_assert_int_eq(
        decode_body_limits(body, len, 1, NULL, &ingest_defaults, &d, &code, msg, sizeof(msg)),
        TP_DECODE);
    ck_assert_uint_eq(ingest_error_status(code), 413);
    ck_assert_str_eq(ingest_error_code(code), "reading_too_large");
    ck_assert_str_eq(msg, "reading 0 takes 3000000 bytes, the limit is 262144; nothing was stored");
    ck_assert_uint_eq(d.arena_peak, 0);
    free(body);
}
END_TEST

/* A reading padded with an unknown 1.5 MB field: 413 reading_too_large on the wire (on main it
 * was unpacked and journaled, and Kafka's refusal became 503 "retry"); framed single or in a
 * batch, after a good reading. */
START_TEST(test_padded_reading_too_large)
{
    size_t pad = 1500 * 1000;
    uint8_t *r = malloc(pad + 64);
    size_t rl = 0;
    r[rl++] = 0x0a;
    r[rl++] = 1;
    r[rl++] = 'a';
    r[rl++] = 0x10;
    r[rl++] = 1; /* sequence 1 */
    rl += put_varint(r + rl, (999 << 3) | 2);
    rl += put_varint(r + rl, pad);
    memset(r + rl, 'x', pad);
    rl += pad;
    uint8_t *body = malloc(rl + 64);
    size_t len = 0;
    const uint8_t good[] = {0x0a, 5, 0x0a, 1, 'b', 0x10, 1};
    memcpy(body, good, sizeof(good));
    len = sizeof(good);
    body[len++] = 0x0a;
    len += put_varint(body + len, rl);
    memcpy(body + len, r, rl);
    len += rl;
    struct decoded d;
    enum ingest_error code;
    char msg[256];
    ck_assert_int_eq(
        decode_body_limits(body, len, 1, NULL, &ingest_defaults, &d, &code, msg, sizeof(msg)),
        TP_DECODE);
    ck_assert_uint_eq(ingest_error_status(code), 413);
    ck_assert_str_eq(ingest_error_code(code), "reading_too_large");
    ck_assert_str_eq(msg, "reading 1 takes 1500010 bytes, the limit is 262144; nothing was stored");
    ck_assert_uint_eq(d.arena_peak, 0);
    /* framed [0]: one reading, the whole payload */
    uint8_t hdr[FRAMING_HEADER_MAX];
    size_t h = framing_header_encode(hdr, sizeof(hdr), 5, (int32_t[]){0}, 1);
    uint8_t *framed = malloc(h + rl);
    memcpy(framed, hdr, h);
    memcpy(framed + h, r, rl);
    ck_assert_int_eq(
        decode_body_limits(framed, h + rl, 5, NULL, &ingest_defaults, &d, &code, msg, sizeof(msg)),
        TP_DECODE);
    ck_assert_uint_eq(ingest_error_status(code), 413);
    ck_assert_str_eq(ingest_error_code(code), "reading_too_large");
    free(framed);
    free(body);
    free(r);
}
END_TEST

/* Unknown fields (the reading's, its location's, the batch's) are dropped after unpacking: the
 * repacked reading, what the journal stores, has none. On main they were kept and journaled. */
START_TEST(test_unknown_fields_dropped)
{
    journal_reading a = one("a", 7);
    size_t plen = protobuf_c_message_get_packed_size(&a.base);
    uint8_t r[128];
    protobuf_c_message_pack(&a.base, r);
    size_t rl = plen;
    rl += put_varint(r + rl, (999 << 3) | 0); /* unknown varint */
    r[rl++] = 42;
    const uint8_t loc_unknown[] = {0xfa, 0x01, 3, 0xb8, 0x3e, 1}; /* location: field 999 = 1 */
    memcpy(r + rl, loc_unknown, sizeof(loc_unknown));
    rl += sizeof(loc_unknown);
    uint8_t body[256];
    size_t len = 0;
    body[len++] = 0x0a;
    body[len++] = (uint8_t)rl;
    memcpy(body + len, r, rl);
    len += rl;
    body[len++] = 0x10; /* unknown field 2 of the batch */
    body[len++] = 5;
    struct decoded d;
    enum ingest_error code;
    char msg[256];
    ck_assert_int_eq(
        decode_body_limits(body, len, 1, NULL, &ingest_defaults, &d, &code, msg, sizeof(msg)),
        TP_OK);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(d.readings[0]->device_id, "a");
    ck_assert_uint_eq(d.readings[0]->sequence, 7);
    ck_assert_ptr_nonnull(d.readings[0]->location);
    ck_assert_uint_eq(d.unknown_dropped, 3);
    ck_assert_uint_eq(d.readings[0]->base.n_unknown_fields, 0);
    ck_assert_uint_eq(d.readings[0]->location->base.n_unknown_fields, 0);
    ck_assert_uint_eq(d.batch->base.n_unknown_fields, 0);
    /* repacked: the known fields and an empty location, nothing else */
    uint8_t out[256];
    size_t ol = protobuf_c_message_pack(&d.readings[0]->base, out);
    ck_assert_uint_eq(ol, plen + 3);
    ck_assert_mem_eq(out, r, plen);
    const uint8_t loc[] = {0xfa, 0x01, 0x00};
    ck_assert_mem_eq(out + plen, loc, 3);
    decode_release(&d);
}
END_TEST

/* A field numbered 0 in an overlong tag (0x85 0x00): libprotobuf-c takes it, yet no reader
 * takes the event it repacks to (the tag becomes 0x05): refused like invalid protobuf. Found
 * by fuzz_decode (tests/fuzz/corpus/fuzz_decode/regress_field0_overlong_tag). */
START_TEST(test_field_zero_refused)
{
    static const uint8_t framed[] = {0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x0a, 0x05,
                                     'v',  'e',  'h',  '-',  '1',  0x10, 0x01, 0x18,
                                     0x01, 0x85, 0x00, 0x00, 0x00, 0x80, 0x3f};
    struct decoded d;
    enum ingest_error code;
    char msg[256];
    ck_assert_int_eq(decode_body(framed, sizeof(framed), 1, &d, &code, msg, sizeof(msg)), TP_OK);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_ptr_nonnull(d.bad_msg[0]);
    ck_assert_str_eq(ingest_error_code(d.bad[0]), "invalid_protobuf");
    ck_assert_str_eq(d.bad_msg[0],
                     "message \"twinpipe.telemetry.v1.Reading\" holds a field numbered 0");
    decode_release(&d);
    /* the same reading in a plain batch: that reading alone is refused */
    uint8_t batch[2 + sizeof(framed) - 6];
    batch[0] = 0x0a;
    batch[1] = (uint8_t)(sizeof(framed) - 6);
    memcpy(batch + 2, framed + 6, sizeof(framed) - 6);
    ck_assert_int_eq(decode_body(batch, sizeof(batch), 1, &d, &code, msg, sizeof(msg)), TP_OK);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(ingest_error_code(d.bad[0]), "invalid_protobuf");
    decode_release(&d);
}
END_TEST

static Suite *decode_suite(void)
{
    Suite *s = suite_create("decode");
    TCase *tc = tcase_create("body");
    tcase_add_test(tc, test_plain_batch);
    tcase_add_test(tc, test_framed_single_and_batch);
    tcase_add_test(tc, test_garbage);
    tcase_add_test(tc, test_too_many_readings_before_unpack);
    tcase_add_test(tc, test_unpack_capped);
    tcase_add_test(tc, test_padded_reading_too_large);
    tcase_add_test(tc, test_unknown_fields_dropped);
    tcase_add_test(tc, test_field_zero_refused);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(decode_suite)
