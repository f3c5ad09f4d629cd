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
    unsigned status;
    const char *code;
    char msg[256];
    ck_assert_int_eq(decode_body(body, len, 1, &d, &status, &code, msg, sizeof(msg)), TP_OK);
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
    unsigned status;
    const char *code;
    char msg[256];
    uint8_t *body = batch_body(&len, 0, 5);
    ck_assert_int_eq(decode_body(body, len, 5, &d, &status, &code, msg, sizeof(msg)), TP_OK);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(d.readings[0]->device_id, "a");
    decode_release(&d);
    free(body);
    body = batch_body(&len, 1, 5);
    ck_assert_int_eq(decode_body(body, len, 5, &d, &status, &code, msg, sizeof(msg)), TP_OK);
    ck_assert_uint_eq(d.n, 2);
    decode_release(&d);
    /* another schema id */
    ck_assert_int_eq(decode_body(body, len, 6, &d, &status, &code, msg, sizeof(msg)), TP_DECODE);
    ck_assert_uint_eq(status, 422);
    ck_assert_str_eq(code, "unknown_schema");
    free(body);
    body = batch_body(&len, 2, 5);
    ck_assert_int_eq(decode_body(body, len, 5, &d, &status, &code, msg, sizeof(msg)), TP_DECODE);
    ck_assert_str_eq(code, "unknown_message_type");
    free(body);
}
END_TEST

START_TEST(test_garbage)
{
    struct decoded d;
    unsigned status;
    const char *code;
    char msg[256];
    const uint8_t junk[] = "this is not protobuf at all";
    ck_assert_int_eq(decode_body(junk, sizeof(junk) - 1, 1, &d, &status, &code, msg, 256),
                     TP_DECODE);
    ck_assert_uint_eq(status, 400);
    ck_assert_str_eq(code, "invalid_protobuf");
    ck_assert_int_eq(decode_body(junk, 0, 1, &d, &status, &code, msg, 256), TP_DECODE);
    ck_assert_str_eq(code, "empty_body");
    const uint8_t bad_frame[] = {0, 0, 0};
    ck_assert_int_eq(decode_body(bad_frame, 3, 1, &d, &status, &code, msg, 256), TP_DECODE);
    ck_assert_uint_eq(status, 400);
    ck_assert_str_eq(code, "invalid_framing");
    const uint8_t empty_batch[] = {0, 0, 0, 0, 1, 0x02, 0x02}; /* framed [1], no payload */
    ck_assert_int_eq(decode_body(empty_batch, sizeof(empty_batch), 1, &d, &status, &code, msg, 256),
                     TP_DECODE);
    ck_assert_uint_eq(status, 400);
    ck_assert_str_eq(code, "empty_batch");
}
END_TEST

static Suite *decode_suite(void)
{
    Suite *s = suite_create("decode");
    TCase *tc = tcase_create("body");
    tcase_add_test(tc, test_plain_batch);
    tcase_add_test(tc, test_framed_single_and_batch);
    tcase_add_test(tc, test_garbage);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(decode_suite)
