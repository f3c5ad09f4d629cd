/*
 * test_period.c - loadgen/period.c: the period a 202 body or an MQTT config
 * message tells a device (bounds, malformed bodies ignored), and the book of
 * the devices' periods and changes for the summary.
 */
#include <check.h>
#include <string.h>

#include "loadgen/period.h"
#include "tests/support/check_main.h"

static int64_t body(const char *text, const char *device)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    int64_t p = period_from_body(doc, device);
    json_decref(doc);
    return p;
}

static int64_t msg(const char *text)
{
    return period_from_message((const uint8_t *)text, strlen(text));
}

START_TEST(test_body_one_device_and_gateway)
{
    ck_assert_int_eq(
        body("{\"accepted\":1,\"dead_lettered\":0,\"rejected\":[],\"token\":\"t1.0:4\","
             "\"report_every_ms\":1000}",
             "veh-000003"),
        1000);
    const char *gw = "{\"accepted\":3,\"rejected\":[],\"report_every_ms\":3000,"
                     "\"report_every_ms_by_device\":{\"veh-000003\":1000,\"veh-000007\":500}}";
    ck_assert_int_eq(body(gw, "veh-000003"), 1000);
    ck_assert_int_eq(body(gw, "veh-000007"), 500);
    ck_assert_int_eq(body(gw, "veh-000001"), 3000); /* not listed: the default */
    ck_assert_int_eq(body(gw, NULL), 3000);
    /* bounds: 1 .. 86,400,000 */
    ck_assert_int_eq(body("{\"report_every_ms\":1}", "a"), 1);
    ck_assert_int_eq(body("{\"report_every_ms\":86400000}", "a"), PERIOD_MAX_MS);
}
END_TEST

START_TEST(test_body_malformed_ignored)
{
    /* no period: 0, the device keeps its own */
    ck_assert_int_eq(period_from_body(NULL, "a"), 0);
    ck_assert_int_eq(body("{\"accepted\":1,\"rejected\":[]}", "a"), 0);
    ck_assert_int_eq(body("[1000]", "a"), 0);
    ck_assert_int_eq(body("{\"report_every_ms\":0}", "a"), 0);
    ck_assert_int_eq(body("{\"report_every_ms\":-1000}", "a"), 0);
    ck_assert_int_eq(body("{\"report_every_ms\":86400001}", "a"), 0);
    ck_assert_int_eq(body("{\"report_every_ms\":99999999999999999}", "a"), 0);
    ck_assert_int_eq(body("{\"report_every_ms\":1000.5}", "a"), 0);
    ck_assert_int_eq(body("{\"report_every_ms\":\"1000\"}", "a"), 0);
    ck_assert_int_eq(body("{\"report_every_ms\":null}", "a"), 0);
    /* a bad own entry falls back to the default; a by_device that is no object is ignored */
    ck_assert_int_eq(
        body("{\"report_every_ms\":3000,\"report_every_ms_by_device\":{\"a\":\"x\"}}", "a"), 3000);
    ck_assert_int_eq(
        body("{\"report_every_ms\":3000,\"report_every_ms_by_device\":{\"a\":0}}", "a"), 3000);
    ck_assert_int_eq(body("{\"report_every_ms\":3000,\"report_every_ms_by_device\":[1000]}", "a"),
                     3000);
    ck_assert_int_eq(body("{\"report_every_ms_by_device\":{\"a\":1000}}", "a"), 1000);
    ck_assert_int_eq(body("{\"report_every_ms_by_device\":{\"a\":1000}}", "b"), 0);
}
END_TEST

START_TEST(test_message)
{
    ck_assert_int_eq(msg("{\"report_every_ms\":2000}"), 2000);
    ck_assert_int_eq(msg(" {\"report_every_ms\":1000} "), 1000);
    ck_assert_int_eq(msg(""), 0);
    ck_assert_int_eq(msg("{"), 0);
    ck_assert_int_eq(msg("{\"report_every_ms\":2000"), 0);
    ck_assert_int_eq(msg("{\"report_every_ms\":2000}x"), 0);
    ck_assert_int_eq(msg("2000"), 0);
    ck_assert_int_eq(msg("{\"report_every_ms\":0}"), 0);
    ck_assert_int_eq(msg("{\"report_every_ms\":1e3}"), 0);
    ck_assert_int_eq(msg("{\"report_every_ms\":1000,\"report_every_ms\":2000}"), 0);
    ck_assert_int_eq(period_from_message(NULL, 10), 0);
    /* an embedded NUL, and bytes past len never read */
    ck_assert_int_eq(period_from_message((const uint8_t *)"{\"report_every_ms\":1\0}", 22), 0);
    ck_assert_int_eq(period_from_message((const uint8_t *)"{\"report_every_ms\":1000}xyz", 24),
                     1000);
    /* at most PERIOD_MSG_MAX bytes */
    char big[PERIOD_MSG_MAX + 2];
    memset(big, ' ', sizeof(big));
    memcpy(big, "{\"report_every_ms\":1000}", 24);
    ck_assert_int_eq(period_from_message((const uint8_t *)big, PERIOD_MSG_MAX), 1000);
    ck_assert_int_eq(period_from_message((const uint8_t *)big, PERIOD_MSG_MAX + 1), 0);
}
END_TEST

START_TEST(test_book)
{
    struct period_book b;
    period_book_init(&b, 5, 3000);
    ck_assert_int_eq(b.first_ms, -1);
    ck_assert(!period_book_set(&b, 1, 3000, 10, 1010)); /* the same: no change */
    ck_assert(!period_book_set(&b, 5, 1000, 10, 1010)); /* no such device */
    ck_assert(!period_book_set(&b, 1, 0, 10, 1010));
    ck_assert(!period_book_set(&b, 1, PERIOD_MAX_MS + 1, 10, 1010));
    ck_assert(period_book_set(&b, 3, 1000, 120, 1120));
    ck_assert(period_book_set(&b, 1, 1000, 130, 1130));
    ck_assert(period_book_set(&b, 3, 3000, 900, 1900));
    ck_assert(period_book_set(&b, 3, 1000, 950, 1950));
    ck_assert_uint_eq(b.devices_changed, 2);
    ck_assert_uint_eq(b.changes, 4);
    ck_assert_int_eq(b.first_ms, 120);
    ck_assert_int_eq(b.first_unix_ms, 1120);
    ck_assert_uint_eq(b.n_told, 2);
    ck_assert_int_eq(b.told[0].period_ms, 1000);
    ck_assert_uint_eq(b.told[0].devices, 3);
    ck_assert_int_eq(b.told[0].first_ms, 120);
    ck_assert_int_eq(b.told[1].period_ms, 3000);
    ck_assert_uint_eq(b.told[1].devices, 1);
    ck_assert_int_eq(b.told[1].first_unix_ms, 1900);
    period_book_tally(&b);
    ck_assert_uint_eq(b.n_final, 2);
    ck_assert_int_eq(b.final[0].period_ms, 1000);
    ck_assert_uint_eq(b.final[0].devices, 2);
    ck_assert_int_eq(b.final[1].period_ms, 3000);
    ck_assert_uint_eq(b.final[1].devices, 3);
    period_book_release(&b);
}
END_TEST

START_TEST(test_book_bounded)
{
    /* more distinct periods than PERIOD_VALUES: the rest counted as other */
    struct period_book b;
    period_book_init(&b, PERIOD_VALUES + 5, 100000);
    for (size_t d = 0; d < PERIOD_VALUES + 5; d++)
        ck_assert(period_book_set(&b, d, (int64_t)(1000 + d), (int64_t)d, (int64_t)d));
    ck_assert_uint_eq(b.n_told, PERIOD_VALUES);
    ck_assert_uint_eq(b.told_other, 5);
    period_book_tally(&b);
    ck_assert_uint_eq(b.n_final, PERIOD_VALUES);
    ck_assert_uint_eq(b.final_other, 5);
    ck_assert_int_eq(b.final[0].period_ms, 1000);
    ck_assert_int_eq(b.final[PERIOD_VALUES - 1].period_ms, 1000 + PERIOD_VALUES - 1);
    period_book_release(&b);
}
END_TEST

static Suite *period_suite(void)
{
    Suite *s = suite_create("period");
    TCase *tc = tcase_create("period");
    tcase_add_test(tc, test_body_one_device_and_gateway);
    tcase_add_test(tc, test_body_malformed_ignored);
    tcase_add_test(tc, test_message);
    tcase_add_test(tc, test_book);
    tcase_add_test(tc, test_book_bounded);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(period_suite)
