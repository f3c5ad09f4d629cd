/* Exact bytes of the Thrift compact-protocol encoder (rollup/thrift.c). */
#include <check.h>
#include <string.h>

#include "rollup/thrift.h"
#include "tests/support/check_main.h"

static void assert_bytes(const struct buf *b, const unsigned char *want, size_t n)
{
    ck_assert_uint_eq(b->len, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg((unsigned char)b->data[i] == want[i], "byte %zu: got 0x%02x want 0x%02x", i,
                      (unsigned char)b->data[i], want[i]);
}

START_TEST(test_zigzag_and_varint)
{
    ck_assert_uint_eq(thrift_zigzag64(0), 0);
    ck_assert_uint_eq(thrift_zigzag64(-1), 1);
    ck_assert_uint_eq(thrift_zigzag64(1), 2);
    ck_assert_uint_eq(thrift_zigzag64(-2), 3);
    ck_assert_uint_eq(thrift_zigzag64(INT64_MAX), UINT64_MAX - 1);
    ck_assert_uint_eq(thrift_zigzag64(INT64_MIN), UINT64_MAX);
    struct buf b;
    buf_init(&b, 64);
    ck_assert_int_eq(thrift_put_uvarint(&b, 300), TP_OK);
    ck_assert_int_eq(thrift_put_uvarint(&b, UINT64_MAX), TP_OK);
    const unsigned char want[] = {0xac, 0x02, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_bytes(&b, want, sizeof(want));
    buf_release(&b);
}
END_TEST

START_TEST(test_fields_short_and_long_headers)
{
    struct buf b;
    buf_init(&b, 1024);
    struct thrift_enc e;
    thrift_enc_init(&e, &b);
    thrift_field_i32(&e, 1, -3);       /* 0x15, zigzag 5 */
    thrift_field_i64(&e, 3, 150);      /* delta 2: 0x26, zigzag 300 = ac 02 */
    thrift_field_string(&e, 4, "ab");  /* 0x18 02 'a' 'b' */
    thrift_field_bool(&e, 5, true);    /* 0x11 */
    thrift_field_bool(&e, 6, false);   /* 0x12 */
    thrift_field_i16(&e, 30, 7);       /* delta 24: long form 0x04, zigzag id 60 = 0x3c, 0x0e */
    thrift_field_struct_begin(&e, 31); /* 0x1c */
    thrift_field_i32(&e, 2, 1);        /* nested ids restart: 0x25 02 */
    thrift_field_empty_struct(&e, 20); /* delta 18: 0x0c 0x28 0x00 */
    thrift_struct_end(&e);             /* 0x00 */
    thrift_field_i32(&e, 29, 0);       /* back at 31: negative delta, long form 0x05 0x3a 0x00 */
    ck_assert_int_eq(thrift_enc_finish(&e), TP_OK); /* 0x00 */
    const unsigned char want[] = {0x15, 0x05, 0x26, 0xac, 0x02, 0x18, 0x02, 'a',  'b',
                                  0x11, 0x12, 0x04, 0x3c, 0x0e, 0x1c, 0x25, 0x02, 0x0c,
                                  0x28, 0x00, 0x00, 0x05, 0x3a, 0x00, 0x00};
    assert_bytes(&b, want, sizeof(want));
    buf_release(&b);
}
END_TEST

START_TEST(test_lists)
{
    struct buf b;
    buf_init(&b, 1024);
    struct thrift_enc e;
    thrift_enc_init(&e, &b);
    thrift_field_list_begin(&e, 1, THRIFT_I32, 2); /* 0x19, 0x25 */
    thrift_elem_i32(&e, 0);
    thrift_elem_i32(&e, 8);
    thrift_field_list_begin(&e, 2, THRIFT_STRUCT, 1); /* 0x19, 0x1c */
    thrift_elem_struct_begin(&e);
    thrift_field_i64(&e, 1, -1); /* 0x16 0x01 */
    thrift_struct_end(&e);
    thrift_field_list_begin(&e, 3, THRIFT_BINARY, 15); /* 0x19, 0xf8 0x0f: size >= 15 */
    for (int i = 0; i < 15; i++)
        thrift_elem_string(&e, "");
    ck_assert_int_eq(thrift_enc_finish(&e), TP_OK);
    unsigned char want[3 + 1 + 6 + 3 + 15 + 1] = {0x19, 0x25, 0x00, 0x10, 0x19, 0x1c,
                                                  0x16, 0x01, 0x00, 0x19, 0xf8, 0x0f};
    /* 15 empty strings are 15 zero bytes, then the stop byte: all already zero */
    assert_bytes(&b, want, 12 + 15 + 1);
    buf_release(&b);
}
END_TEST

START_TEST(test_overflow_is_sticky)
{
    struct buf b;
    buf_init(&b, 4);
    struct thrift_enc e;
    thrift_enc_init(&e, &b);
    thrift_field_string(&e, 1, "too long for four bytes");
    thrift_field_i32(&e, 2, 1);
    ck_assert_int_eq(thrift_enc_finish(&e), TP_TOO_LARGE);
    ck_assert_uint_le(b.len, 4);
    buf_release(&b);
}
END_TEST

static Suite *thrift_suite(void)
{
    Suite *s = suite_create("thrift");
    TCase *tc = tcase_create("encode");
    tcase_add_test(tc, test_zigzag_and_varint);
    tcase_add_test(tc, test_fields_short_and_long_headers);
    tcase_add_test(tc, test_lists);
    tcase_add_test(tc, test_overflow_is_sticky);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(thrift_suite)
