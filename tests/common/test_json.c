#include <check.h>
#include <math.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "tests/support/check_main.h"

START_TEST(test_escaping)
{
    struct buf b;
    buf_init(&b, 1024);
    json_str(&b, "a\"b\\c\n\t\x01é");
    ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001é\"");
    buf_reset(&b);
    json_strn(&b,
              "x\xff"
              "y\xc3",
              4); /* invalid bytes become U+FFFD */
    ck_assert_str_eq(b.data, "\"x\xef\xbf\xbdy\xef\xbf\xbd\"");
    buf_release(&b);
}
END_TEST

START_TEST(test_numbers)
{
    struct buf b;
    buf_init(&b, 1024);
    json_double(&b, 12.5);
    buf_append_str(&b, " ");
    json_double(&b, 0.1);
    buf_append_str(&b, " ");
    json_double(&b, NAN);
    buf_append_str(&b, " ");
    json_double(&b, 1.0 / 3.0);
    buf_append_str(&b, " ");
    json_i64(&b, -9007199254740993LL);
    buf_append_str(&b, " ");
    json_double(&b, -0.0);
    buf_append_str(&b, " ");
    json_double(&b, 5e-324);
    ck_assert_str_eq(
        b.data, "12.5 0.1 null 0.3333333333333333 -9007199254740993 -0.0 4.94065645841247e-324");
    buf_release(&b);
}
END_TEST

START_TEST(test_error_document)
{
    struct buf b;
    buf_init(&b, 1024);
    ck_assert_int_eq(json_error(&b, "bad_request", "body is \"odd\""), TP_OK);
    ck_assert_str_eq(b.data, "{\"error\":{\"code\":\"bad_request\",\"message\":\"body is "
                             "\\\"odd\\\"\"}}");
    buf_release(&b);
}
END_TEST

START_TEST(test_utf8_valid)
{
    ck_assert(json_utf8_valid("plain", 5));
    ck_assert(json_utf8_valid("\xe2\x82\xac", 3));  /* euro sign */
    ck_assert(!json_utf8_valid("\xc0\xaf", 2));     /* overlong */
    ck_assert(!json_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    ck_assert(!json_utf8_valid("\xe2\x82", 2));     /* truncated */
}
END_TEST

START_TEST(test_buf_bound)
{
    struct buf b;
    buf_init(&b, 8);
    ck_assert_int_eq(buf_append_str(&b, "12345678"), TP_OK);
    ck_assert_int_eq(buf_append_str(&b, "9"), TP_TOO_LARGE);
    ck_assert_uint_eq(b.len, 8);
    ck_assert_str_eq(b.data, "12345678");
    ck_assert_int_eq(buf_printf(&b, "%d", 1), TP_TOO_LARGE);
    buf_release(&b);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("write");
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_error_document);
    tcase_add_test(tc, test_utf8_valid);
    tcase_add_test(tc, test_buf_bound);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(json_suite)
