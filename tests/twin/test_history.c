/* projector/history.c: the per-flush map (device, metric, minute) -> min/max/sum/count. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "twin/history.h"
#include "tests/support/check_main.h"

START_TEST(test_minute_floor)
{
    ck_assert_int_eq(history_minute(0), 0);
    ck_assert_int_eq(history_minute(59999), 0);
    ck_assert_int_eq(history_minute(60000), 60000);
    ck_assert_int_eq(history_minute(1700000099999), 1700000040000);
    ck_assert_int_eq(history_minute(-1), -60000); /* before 1970: floor, not truncation */
    ck_assert_int_eq(history_minute(-60000), -60000);
    ck_assert_int_eq(history_minute(-60001), -120000);
}
END_TEST

START_TEST(test_accumulates_and_interns)
{
    struct history *h = history_new();
    history_add(h, "d1", "speed", 60000, 3);
    history_add(h, "d1", "speed", 119999, -1.5);
    history_add(h, "d1", "speed", 120000, 8);
    history_add(h, "d1", "fuel", 60001, 40);
    history_add(h, "d2", "speed", 60000, 5);
    history_add(h, "d1", "speed", 60500, 10);
    ck_assert_uint_eq(history_count(h), 4);
    const struct history_entry *e = &h->entries[0]; /* insertion order */
    ck_assert_str_eq(history_str(h, e->device_id), "d1");
    ck_assert_str_eq(history_str(h, e->metric), "speed");
    ck_assert_int_eq(e->minute_ms, 60000);
    ck_assert_double_eq(e->min, -1.5);
    ck_assert_double_eq(e->max, 10);
    ck_assert_double_eq(e->sum, 11.5);
    ck_assert_int_eq(e->count, 3);
    ck_assert_int_eq(h->entries[1].minute_ms, 120000);
    ck_assert_int_eq(h->entries[1].count, 1);
    ck_assert_str_eq(history_str(h, h->entries[2].metric), "fuel");
    /* every string is stored once: "d1", "speed", "fuel", "d2" */
    ck_assert_uint_eq(h->arena.len, strlen("d1speedfueld2") + 4);
    ck_assert_uint_eq(h->entries[3].metric, h->entries[0].metric);
    history_free(h);
}
END_TEST

START_TEST(test_grows_and_clears)
{
    struct history *h = history_new();
    char dev[32];
    /* 3000 devices x 2 metrics x 2 minutes: tables and arena grow several times */
    for (int round = 0; round < 2; round++) {
        for (int d = 0; d < 3000; d++) {
            snprintf(dev, sizeof(dev), "device-%05d", d);
            for (int m = 0; m < 2; m++) {
                history_add(h, dev, "a", m * 60000, d);
                history_add(h, dev, "b", m * 60000 + 1, d + 0.5);
            }
        }
        ck_assert_uint_eq(history_count(h), 12000);
        for (size_t i = 0; i < h->n; i++)
            ck_assert_int_eq(h->entries[i].count, 1);
        /* one more value for every entry: found again, not added */
        for (int d = 0; d < 3000; d++) {
            snprintf(dev, sizeof(dev), "device-%05d", d);
            for (int m = 0; m < 2; m++) {
                history_add(h, dev, "a", m * 60000 + 59999, -d);
                history_add(h, dev, "b", m * 60000, 1);
            }
        }
        ck_assert_uint_eq(history_count(h), 12000);
        for (size_t i = 0; i < h->n; i++) {
            const struct history_entry *e = &h->entries[i];
            int d = (int)(i / 4);
            ck_assert_int_eq(e->count, 2);
            if (!strcmp(history_str(h, e->metric), "a")) {
                ck_assert_double_eq(e->min, -d);
                ck_assert_double_eq(e->sum, 0);
            } else {
                ck_assert_double_eq(e->sum, d + 1.5);
            }
        }
        history_clear(h); /* and the same again in the cleared map */
        ck_assert_uint_eq(history_count(h), 0);
        ck_assert_uint_eq(h->arena.len, 0);
    }
    history_free(h);
    history_free(NULL);
}
END_TEST

static Suite *history_suite(void)
{
    Suite *s = suite_create("history");
    TCase *tc = tcase_create("map");
    tcase_add_test(tc, test_minute_floor);
    tcase_add_test(tc, test_accumulates_and_interns);
    tcase_add_test(tc, test_grows_and_clears);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(history_suite)
