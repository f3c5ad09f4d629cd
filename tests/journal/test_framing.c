#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "journal/framing.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"

START_TEST(test_encode_first_message)
{
    uint8_t out[FRAMING_HEADER_MAX];
    size_t n = framing_header_encode(out, sizeof(out), 0x01020304, (int32_t[]){0}, 1);
    const uint8_t expect[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x00};
    ck_assert_uint_eq(n, sizeof(expect));
    ck_assert_mem_eq(out, expect, sizeof(expect));
}
END_TEST

START_TEST(test_encode_nested_path)
{
    uint8_t out[FRAMING_HEADER_MAX];
    /* path [1, 70]: count 2 -> zigzag 4; 1 -> 2; 70 -> 140 = 0x8c 0x01 */
    size_t n = framing_header_encode(out, sizeof(out), 7, (int32_t[]){1, 70}, 2);
    const uint8_t expect[] = {0x00, 0, 0, 0, 7, 0x04, 0x02, 0x8c, 0x01};
    ck_assert_uint_eq(n, sizeof(expect));
    ck_assert_mem_eq(out, expect, sizeof(expect));
    ck_assert_uint_eq(framing_header_encode(out, 6, 7, (int32_t[]){1, 70}, 2), 0);
}
END_TEST

START_TEST(test_decode_roundtrip)
{
    uint8_t frame[FRAMING_HEADER_MAX + 3];
    size_t n = framing_header_encode(frame, sizeof(frame), 123456, (int32_t[]){1, 70}, 2);
    memcpy(frame + n, "abc", 3);
    struct framing_header h;
    char errstr[160];
    ck_assert_int_eq(framing_decode(frame, n + 3, &h, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(h.schema_id, 123456);
    ck_assert_uint_eq(h.path_len, 2);
    ck_assert_int_eq(h.path[0], 1);
    ck_assert_int_eq(h.path[1], 70);
    ck_assert_uint_eq(h.payload_len, 3);
    ck_assert_mem_eq(h.payload, "abc", 3);
}
END_TEST

START_TEST(test_decode_errors)
{
    struct framing_header h;
    char errstr[160];
    const uint8_t short_frame[] = {0, 0, 0, 1};
    ck_assert_int_eq(framing_decode(short_frame, sizeof(short_frame), &h, errstr, 160), TP_DECODE);
    ck_assert_str_eq(errstr, "frame of 4 bytes is shorter than the 6-byte minimum");
    const uint8_t bad_magic[] = {1, 0, 0, 0, 1, 0};
    ck_assert_int_eq(framing_decode(bad_magic, sizeof(bad_magic), &h, errstr, 160), TP_DECODE);
    ck_assert_str_eq(errstr, "frame magic byte is 1, expected 0");
    const uint8_t truncated[] = {0, 0, 0, 0, 1, 0x04, 0x02}; /* count 2, one index */
    ck_assert_int_eq(framing_decode(truncated, sizeof(truncated), &h, errstr, 160), TP_DECODE);
    ck_assert_str_eq(errstr, "frame has a truncated message index");
    const uint8_t huge_count[] = {0, 0, 0, 0, 1, 0x7e}; /* count 63 */
    ck_assert_int_eq(framing_decode(huge_count, sizeof(huge_count), &h, errstr, 160), TP_DECODE);
}
END_TEST

START_TEST(test_event_roundtrip)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = "car-1";
    r.has_sequence = 1;
    r.sequence = 42;
    r.has_timestamp_ms = 1;
    r.timestamp_ms = 1700000000123;
    r.has_speed_kmh = 1;
    r.speed_kmh = 88.5;
    size_t len;
    uint8_t *ev = journal_event_pack(&r, 9, &len);
    ck_assert_uint_eq(ev[0], 0);
    ck_assert_uint_eq(ev[4], 9);
    ck_assert_uint_eq(ev[5], 0); /* message index [0] */
    int32_t schema_id;
    journal_reading *out;
    char errstr[160];
    ck_assert_int_eq(journal_event_unpack(ev, len, &schema_id, &out, errstr, 160), TP_OK);
    ck_assert_int_eq(schema_id, 9);
    ck_assert_str_eq(out->device_id, "car-1");
    ck_assert_uint_eq(out->sequence, 42);
    ck_assert_int_eq(out->timestamp_ms, 1700000000123);
    ck_assert(out->has_speed_kmh);
    ck_assert_double_eq(out->speed_kmh, 88.5);
    ck_assert(!out->has_fuel_level_pct);
    journal_reading_free(out);
    ev[5] = 0x02; /* index path [?] with count 1 but no index */
    ck_assert_int_eq(journal_event_unpack(ev, 6, &schema_id, &out, errstr, 160), TP_DECODE);
    free(ev);
}
END_TEST

static Suite *framing_suite(void)
{
    Suite *s = suite_create("framing");
    TCase *tc = tcase_create("confluent");
    tcase_add_test(tc, test_encode_first_message);
    tcase_add_test(tc, test_encode_nested_path);
    tcase_add_test(tc, test_decode_roundtrip);
    tcase_add_test(tc, test_decode_errors);
    tcase_add_test(tc, test_event_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(framing_suite)
