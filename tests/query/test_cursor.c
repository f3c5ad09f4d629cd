/* query/cursor.c: cursors read back exactly; altered, foreign or malformed ones are refused. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "common/base64.h"
#include "query/cursor.h"
#include "tests/support/check_main.h"

static const char fp[] = "sort=9:last_seen;model=1:a;";

START_TEST(test_round_trip)
{
    struct cursor c = {.sort = SORT_LAST_SEEN_DESC, .last_seen_us = -1795429486706123LL}, back;
    snprintf(c.device_id, sizeof(c.device_id), "veh:000.7_x-y");
    char text[CURSOR_TEXT_MAX], err[256];
    cursor_encode("s3cret", &c, fp, strlen(fp), text, sizeof(text));
    ck_assert_uint_eq(
        strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        strlen(text));
    ck_assert_int_eq(cursor_decode("s3cret", text, fp, strlen(fp), &back, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(back.sort, SORT_LAST_SEEN_DESC);
    ck_assert_int_eq(back.last_seen_us, -1795429486706123LL);
    ck_assert_str_eq(back.device_id, "veh:000.7_x-y");

    /* the longest id fits CURSOR_TEXT_MAX */
    memset(c.device_id, 'a', PARAMS_ID_MAX);
    c.device_id[PARAMS_ID_MAX] = '\0';
    cursor_encode(NULL, &c, fp, strlen(fp), text, sizeof(text));
    ck_assert_uint_gt(strlen(text), 100);
    ck_assert_int_eq(cursor_decode("", text, fp, strlen(fp), &back, err, sizeof(err)), TP_OK);
    ck_assert_str_eq(back.device_id, c.device_id);
}
END_TEST

START_TEST(test_refused)
{
    struct cursor c = {.sort = SORT_DEVICE_ID}, back;
    snprintf(c.device_id, sizeof(c.device_id), "dev-1");
    char text[CURSOR_TEXT_MAX], bad[CURSOR_TEXT_MAX + 8], err[256];
    cursor_encode("k", &c, fp, strlen(fp), text, sizeof(text));

    /* other filters, another key */
    ck_assert_int_eq(cursor_decode("k", text, "sort=9:device_id;", 17, &back, err, sizeof(err)),
                     TP_VALIDATION);
    ck_assert_str_eq(err, "cursor was altered, or belongs to a query with other filters or "
                          "another sort");
    ck_assert_int_eq(cursor_decode("other", text, fp, strlen(fp), &back, err, sizeof(err)),
                     TP_VALIDATION);
    /* every single-character change is caught */
    const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < strlen(text); i++) {
        strcpy(bad, text);
        bad[i] = alphabet[(strchr(alphabet, bad[i]) - alphabet + 1) % 64];
        ck_assert_msg(cursor_decode("k", bad, fp, strlen(fp), &back, err, sizeof(err)) ==
                          TP_VALIDATION,
                      "changed at %zu: accepted", i);
    }
    /* truncated, extended, not base64url, empty */
    snprintf(bad, sizeof(bad), "%.*s", (int)strlen(text) - 2, text);
    ck_assert_int_eq(cursor_decode("k", bad, fp, strlen(fp), &back, err, sizeof(err)),
                     TP_VALIDATION);
    snprintf(bad, sizeof(bad), "%sAA", text);
    ck_assert_int_eq(cursor_decode("k", bad, fp, strlen(fp), &back, err, sizeof(err)),
                     TP_VALIDATION);
    ck_assert_int_eq(cursor_decode("k", "not a cursor!", fp, strlen(fp), &back, err, sizeof(err)),
                     TP_VALIDATION);
    ck_assert_int_eq(cursor_decode("k", "", fp, strlen(fp), &back, err, sizeof(err)),
                     TP_VALIDATION);
    /* another version */
    unsigned char raw[200];
    long n = base64url_decode(text, strlen(text), raw, sizeof(raw));
    raw[0] = 2;
    base64url_encode(raw, (size_t)n, bad, sizeof(bad));
    ck_assert_int_eq(cursor_decode("k", bad, fp, strlen(fp), &back, err, sizeof(err)),
                     TP_VALIDATION);
    ck_assert_str_eq(err, "cursor has version 2, this service reads version 1");
}
END_TEST

START_TEST(test_base64url)
{
    char text[BASE64_ENCODED_SIZE(5)];
    unsigned char raw[8];
    ck_assert_uint_eq(
        base64url_encode((const unsigned char *)"\xfb\xff\x01xy", 5, text, sizeof(text)), 7);
    ck_assert_str_eq(text, "-_8BeHk");
    ck_assert_int_eq(base64url_decode(text, 7, raw, sizeof(raw)), 5);
    ck_assert_int_eq(memcmp(raw, "\xfb\xff\x01xy", 5), 0);
    ck_assert_int_eq(base64url_decode("-_8BeHl", 7, raw, sizeof(raw)), -1); /* stray bits */
    ck_assert_int_eq(base64url_decode("ab=c", 4, raw, sizeof(raw)), -1);
    ck_assert_int_eq(base64url_decode("abcde", 5, raw, sizeof(raw)), -1);
    ck_assert_int_eq(base64url_decode("abcdefgh", 8, raw, 5), -1); /* does not fit */
    ck_assert_uint_eq(base64url_encode(raw, 5, text, 7), 0);
}
END_TEST

static Suite *cursor_suite(void)
{
    Suite *s = suite_create("cursor");
    TCase *tc = tcase_create("cursor");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_base64url);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(cursor_suite)
