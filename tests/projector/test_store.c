/* Unit part of store.c: the COPY row a twin becomes (no database needed). */
#include <check.h>
#include <math.h>
#include <string.h>

#include "projector/store.h"
#include "tests/support/check_main.h"

START_TEST(test_twin_row)
{
    struct twin *t = twin_new("car-1");
    t->first_seen_ms = 1000;
    t->last_seen_ms = 2000;
    t->last_sequence = 7;
    t->events = 3;
    struct twin_metric *m = twin_metric_set(t, "speed_kmh", 88.5, 2000);
    twin_metric_observe(m, 40);
    twin_metric_observe(m, 88.5);
    twin_metric_observe(m, 0.1);
    twin_metric_set(t, "odd\\name", 0.1, 1500); /* count 0: no statistics yet */
    t->has_location = true;
    t->loc_mask = (1u << TWIN_LAT) | (1u << TWIN_LON);
    t->loc[TWIN_LAT] = 48.1;
    t->loc[TWIN_LON] = -11.5;
    t->location_ts_ms = 1900;
    twin_attr_set(t, "model", "tab\there");
    t->seen[0] = 0x8000000000000001ULL; /* the sequence window: bytea hex, byte 0 first */
    t->seen[1] = 2;
    struct buf b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(store_twin_row(&b, t), TP_OK);
    ck_assert_str_eq(b.data, "car-1\t1000\t2000\t7\t3\t"
                             "{\"speed_kmh\":{\"value\":88.5,\"ts\":2000,\"min\":0.1,"
                             "\"max\":88.5,\"sum\":128.6,\"count\":3},"
                             "\"odd\\\\\\\\name\":{\"value\":0.1,\"ts\":1500,\"min\":null,"
                             "\"max\":null,\"sum\":null,\"count\":0}}\t"
                             "{\"lat\":48.1,\"lon\":-11.5,\"ts\":1900}\t"
                             "{\"model\":\"tab\\\\there\"}\t\\N\t\\N\t"
                             "\\\\x01000000000000800200000000000000\n");
    /* with an open minute: its start and each metric's figures in it */
    buf_reset(&b);
    t->minute_ms = 1980000;
    m->mmin = 0.1;
    m->mmax = 88.5;
    m->msum = 88.6;
    m->mcount = 2;
    ck_assert_int_eq(store_twin_row(&b, t), TP_OK);
    ck_assert_ptr_nonnull(strstr(b.data, "{\"model\":\"tab\\\\there\"}\t1980000\t"
                                         "{\"speed_kmh\":[0.1,88.5,88.6,2]}\t\\\\x01"));
    buf_reset(&b);
    struct twin *bare = twin_new("m");
    bare->last_sequence = bare->events = 1;
    store_twin_row(&b, bare);
    ck_assert_str_eq(
        b.data, "m\t0\t0\t1\t1\t{}\t\\N\t{}\t\\N\t\\N\t\\\\xffffffffffffffffffffffffffffffff\n");
    twin_free(bare);
    twin_free(t);
    buf_release(&b);
}
END_TEST

/* Doubles that only 17 digits read back exactly, and a sum that is not a short decimal. */
START_TEST(test_twin_row_exact_doubles)
{
    struct twin *t = twin_new("d");
    t->last_sequence = t->events = 1;
    struct twin_metric *m = twin_metric_set(t, "x", 0.1, 5);
    twin_metric_observe(m, 0.1);
    twin_metric_observe(m, 0.2);
    twin_metric_observe(m, -1e300);
    struct buf b;
    buf_init(&b, 1 << 16);
    store_twin_row(&b, t);
    ck_assert_str_eq(b.data, "d\t0\t0\t1\t1\t{\"x\":{\"value\":0.1,\"ts\":5,\"min\":-1e+300,"
                             "\"max\":0.2,\"sum\":-1e+300,\"count\":3}}\t\\N\t{}\t\\N\t\\N\t"
                             "\\\\xffffffffffffffffffffffffffffffff\n");
    buf_reset(&b);
    m->min = m->max = m->sum = 0.1 + 0.2;
    store_twin_row(&b, t);
    ck_assert_ptr_nonnull(strstr(b.data, "\"sum\":0.30000000000000004,\"count\":3}"));
    twin_free(t);
    buf_release(&b);
}
END_TEST

START_TEST(test_history_row)
{
    struct history *h = history_new();
    history_add(h, "car-1", "speed_kmh", 1700000059999, 88.5);
    history_add(h, "car-1", "speed_kmh", 1700000040000, -0.25);
    history_add(h, "tab\there", "back\\slash\nnl", -1, 1e-300);
    struct buf b;
    buf_init(&b, 1 << 16);
    ck_assert_int_eq(store_history_row(&b, h, &h->entries[0]), TP_OK);
    ck_assert_int_eq(store_history_row(&b, h, &h->entries[1]), TP_OK);
    ck_assert_str_eq(b.data, "car-1\tspeed_kmh\t1700000040000\t-0.25\t88.5\t88.25\t2\n"
                             "tab\\there\tback\\\\slash\\nnl\t-60000\t1e-300\t1e-300\t1e-300\t1\n");
    /* non-finite values never reach the history (fold.c); were one there, COPY would take it */
    buf_reset(&b);
    h->entries[0].min = -INFINITY;
    h->entries[0].max = INFINITY;
    h->entries[0].sum = NAN;
    store_history_row(&b, h, &h->entries[0]);
    ck_assert_str_eq(b.data, "car-1\tspeed_kmh\t1700000040000\t-Infinity\tInfinity\tNaN\t2\n");
    history_free(h);
    buf_release(&b);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("row");
    tcase_add_test(tc, test_twin_row);
    tcase_add_test(tc, test_twin_row_exact_doubles);
    tcase_add_test(tc, test_history_row);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(store_suite)
