/* replay/shadow.c's pure part: the projector's COPY lines with their ms columns as timestamps. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "replay/shadow.h"
#include "tests/support/check_main.h"

static const char *ts(int64_t ms, struct buf *b)
{
    buf_reset(b);
    shadow_ts_text(b, ms);
    buf_append(b, "", 1);
    return b->data;
}

START_TEST(test_ts_text)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    ck_assert_str_eq(ts(0, &b), "1970-01-01 00:00:00.000+00");
    ck_assert_str_eq(ts(1763892000123LL, &b), "2025-11-23 10:00:00.123+00");
    ck_assert_str_eq(ts(-1, &b), "1969-12-31 23:59:59.999+00");
    ck_assert_str_eq(ts(-62135596800000LL, &b), "0001-01-01 00:00:00.000+00"); /* FOLD_TS_MIN_MS */
    ck_assert_str_eq(ts(253402300799999LL, &b), "9999-12-31 23:59:59.999+00"); /* FOLD_TS_MAX_MS */
    ck_assert_str_eq(ts(951782400000LL, &b), "2000-02-29 00:00:00.000+00");
    buf_release(&b);
}
END_TEST

START_TEST(test_row_ts)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    /* a twin line: device_id, first_seen_ms, last_seen_ms, last_sequence, events, ... */
    static const char twin[] = "car\\t1\t0\t1000\t7\t3\t{}\t\\N\t{\"model\":\"x\"}\n";
    shadow_row_ts(&b, twin, strlen(twin), (1u << 1) | (1u << 2));
    buf_append(&b, "", 1);
    ck_assert_str_eq(b.data, "car\\t1\t1970-01-01 00:00:00.000+00\t1970-01-01 00:00:01.000+00"
                             "\t7\t3\t{}\t\\N\t{\"model\":\"x\"}\n");
    /* a history line, the last column untouched, a missing final newline added */
    buf_reset(&b);
    static const char hist[] = "m-1\tspeed_kmh\t-60000\t1.5\t2\t3.5\t2";
    shadow_row_ts(&b, hist, strlen(hist), 1u << 2);
    buf_append(&b, "", 1);
    ck_assert_str_eq(b.data, "m-1\tspeed_kmh\t1969-12-31 23:59:00.000+00\t1.5\t2\t3.5\t2\n");
    buf_release(&b);
}
END_TEST

static Suite *shadow_suite(void)
{
    Suite *s = suite_create("shadow");
    TCase *tc = tcase_create("rows");
    tcase_add_test(tc, test_ts_text);
    tcase_add_test(tc, test_row_ts);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(shadow_suite)
