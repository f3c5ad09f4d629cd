/* Unit part of store.c: the COPY row a twin becomes (no database needed). */
#include <check.h>

#include "projector/store.h"
#include "tests/support/check_main.h"

START_TEST(test_twin_row)
{
    struct twin *t = twin_new("car-1");
    t->first_seen_ms = 1000;
    t->last_seen_ms = 2000;
    t->last_sequence = 7;
    t->events = 3;
    twin_metric_set(t, "speed_kmh", 88.5, 2000);
    twin_metric_set(t, "odd\\name", 0.1, 1500);
    t->has_location = true;
    t->loc_mask = (1u << TWIN_LAT) | (1u << TWIN_LON);
    t->loc[TWIN_LAT] = 48.1;
    t->loc[TWIN_LON] = -11.5;
    t->location_ts_ms = 1900;
    twin_attr_set(t, "model", "tab\there");
    struct buf b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(store_twin_row(&b, t), TP_OK);
    ck_assert_str_eq(b.data, "car-1\t1000\t2000\t7\t3\t"
                             "{\"speed_kmh\":{\"value\":88.5,\"ts\":2000},"
                             "\"odd\\\\\\\\name\":{\"value\":0.1,\"ts\":1500}}\t"
                             "{\"lat\":48.1,\"lon\":-11.5,\"ts\":1900}\t"
                             "{\"model\":\"tab\\\\there\"}\n");
    buf_reset(&b);
    struct twin *bare = twin_new("m");
    bare->last_sequence = bare->events = 1;
    store_twin_row(&b, bare);
    ck_assert_str_eq(b.data, "m\t0\t0\t1\t1\t{}\t\\N\t{}\n");
    twin_free(bare);
    twin_free(t);
    buf_release(&b);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("row");
    tcase_add_test(tc, test_twin_row);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(store_suite)
