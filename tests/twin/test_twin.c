/* twin/twin.c: the twin model on its own (the fold over it: test_fold.c). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "twin/history.h"
#include "twin/names.h"
#include "twin/twin.h"
#include "tests/support/check_main.h"

START_TEST(test_new_twin_is_never_seen)
{
    struct twin *t = twin_new("car-1");
    ck_assert_str_eq(t->device_id, "car-1");
    ck_assert_int_eq(t->events, 0);
    ck_assert_int_eq(t->last_sequence, 0);
    ck_assert(t->minute_ms == TWIN_NO_MINUTE);
    ck_assert(t->seen[0] == UINT64_MAX && t->seen[1] == UINT64_MAX);
    ck_assert_uint_eq(t->n_metrics, 0);
    ck_assert(!t->has_location);
    ck_assert_ptr_null(t->model);
    ck_assert_ptr_null(t->firmware);
    ck_assert_ptr_null(t->region);
    ck_assert(!t->dirty);
    ck_assert_ptr_null(twin_metric_get(t, "speed_kmh"));
    twin_free(t);
    twin_free(NULL);
}
END_TEST

START_TEST(test_metric_set_observe_get)
{
    struct twin *t = twin_new("car-1");
    struct twin_metric *m = twin_metric_set(t, "speed_kmh", 88.5, 1000);
    ck_assert_ptr_eq(m->name, names_intern("speed_kmh"));
    ck_assert(m->value == 88.5);
    ck_assert_int_eq(m->ts_ms, 1000);
    ck_assert_int_eq(m->count, 0);
    twin_metric_observe(m, 88.5);
    twin_metric_observe(m, 80.0);
    twin_metric_observe(m, 90.25);
    ck_assert(m->min == 80.0 && m->max == 90.25 && m->sum == 258.75);
    ck_assert_int_eq(m->count, 3);
    /* setting again replaces the latest value, keeps the statistics */
    m = twin_metric_set(t, "speed_kmh", 70.0, 2000);
    ck_assert(m->value == 70.0);
    ck_assert_int_eq(m->ts_ms, 2000);
    ck_assert_int_eq(m->count, 3);
    ck_assert_uint_eq(t->n_metrics, 1);
    twin_metric_set(t, "fuel_level_pct", 41.0, 2000);
    ck_assert_uint_eq(t->n_metrics, 2);
    ck_assert(twin_metric_get(t, "fuel_level_pct")->value == 41.0);
    ck_assert(twin_metric_get(t, "speed_kmh")->value == 70.0);
    /* reserve keeps what is there */
    twin_metrics_reserve(t, 100);
    ck_assert_uint_ge(t->cap_metrics, 100);
    ck_assert_uint_eq(t->n_metrics, 2);
    ck_assert(twin_metric_get(t, "speed_kmh")->sum == 258.75);
    twin_free(t);
}
END_TEST

START_TEST(test_minute_close_hands_figures_to_history)
{
    struct history *h = history_new();
    struct twin *t = twin_new("car-1");
    t->minute_ms = 60000;
    struct twin_metric *a = twin_metric_set(t, "speed_kmh", 10.0, 61000);
    twin_metric_observe_minute(a, 10.0);
    twin_metric_observe_minute(a, 4.0);
    twin_metric_observe_minute(a, 7.5);
    twin_metric_set(t, "fuel_level_pct", 50.0, 61000); /* nothing in the minute */
    ck_assert(a->mmin == 4.0 && a->mmax == 10.0 && a->msum == 21.5);
    ck_assert_int_eq(a->mcount, 3);
    ck_assert_int_eq(a->count, 0); /* the running statistics are separate */
    twin_minute_close(t, h);
    ck_assert(t->minute_ms == TWIN_NO_MINUTE);
    ck_assert_int_eq(twin_metric_get(t, "speed_kmh")->mcount, 0);
    ck_assert_uint_eq(history_count(h), 1);
    const struct history_entry *e = &h->entries[0];
    ck_assert_str_eq(history_str(h, e->device_id), "car-1");
    ck_assert_str_eq(history_str(h, e->metric), "speed_kmh");
    ck_assert_int_eq(e->minute_ms, 60000);
    ck_assert(e->min == 4.0 && e->max == 10.0 && e->sum == 21.5);
    ck_assert_int_eq(e->count, 3);
    /* without a map the figures are dropped */
    t->minute_ms = 120000;
    twin_metric_observe_minute(twin_metric_set(t, "speed_kmh", 3.0, 121000), 3.0);
    twin_minute_close(t, NULL);
    ck_assert_int_eq(twin_metric_get(t, "speed_kmh")->mcount, 0);
    ck_assert_uint_eq(history_count(h), 1);
    twin_free(t);
    history_free(h);
}
END_TEST

START_TEST(test_attributes)
{
    struct twin *t = twin_new("car-1");
    twin_attr_set(t, "model", "tp-van");
    twin_attr_set(t, "firmware", "2.1.4");
    twin_attr_set(t, "region", "eu-central");
    twin_attr_set(t, "colour", "red"); /* not an attribute: ignored */
    ck_assert_ptr_eq(t->model, names_intern("tp-van"));
    ck_assert_str_eq(t->firmware, "2.1.4");
    ck_assert_str_eq(t->region, "eu-central");
    twin_attr_set(t, "model", "tp-truck");
    ck_assert_str_eq(t->model, "tp-truck");
    twin_free(t);
}
END_TEST

START_TEST(test_metric_at_bounds)
{
    struct twin *t = twin_new("car-1");
    char name[FOLD_METRIC_NAME_MAX + 2];
    memset(name, 'm', FOLD_METRIC_NAME_MAX + 1);
    name[FOLD_METRIC_NAME_MAX + 1] = '\0';
    ck_assert_ptr_null(twin_metric_at(t, names_intern(name), true));
    name[FOLD_METRIC_NAME_MAX] = '\0'; /* at the bound */
    ck_assert_ptr_nonnull(twin_metric_at(t, names_intern(name), true));
    for (size_t i = 1; i < TWIN_METRICS_MAX; i++) {
        char n[32];
        snprintf(n, sizeof(n), "m%zu", i);
        ck_assert_ptr_nonnull(twin_metric_at(t, names_intern(n), true));
    }
    ck_assert_uint_eq(t->n_metrics, TWIN_METRICS_MAX);
    /* full: no new metric, an existing one still found, unbounded still adds */
    ck_assert_ptr_null(twin_metric_at(t, names_intern("one-too-many"), true));
    struct twin_metric *m = twin_metric_at(t, names_intern("m7"), true);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->name, "m7");
    ck_assert_uint_eq(t->n_metrics, TWIN_METRICS_MAX);
    m = twin_metric_at(t, names_intern("one-too-many"), false);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->count, 0);
    ck_assert_uint_eq(t->n_metrics, TWIN_METRICS_MAX + 1);
    twin_free(t);
}
END_TEST

static Suite *twin_suite(void)
{
    Suite *s = suite_create("twin");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_new_twin_is_never_seen);
    tcase_add_test(tc, test_metric_set_observe_get);
    tcase_add_test(tc, test_minute_close_hands_figures_to_history);
    tcase_add_test(tc, test_attributes);
    tcase_add_test(tc, test_metric_at_bounds);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(twin_suite)
