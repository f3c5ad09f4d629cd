#include <check.h>
#include <stdio.h>

#include "projector/twins.h"
#include "tests/support/check_main.h"

START_TEST(test_put_get_grow)
{
    struct twins *tt = twins_new();
    char id[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof(id), "dev-%d", i);
        twins_put(tt, twin_new(id));
    }
    ck_assert_uint_eq(tt->count, 5000);
    ck_assert_uint_ge(tt->cap, 5000 * 4 / 3);
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof(id), "dev-%d", i);
        struct twin *t = twins_get(tt, id);
        ck_assert_ptr_nonnull(t);
        ck_assert_str_eq(t->device_id, id);
    }
    ck_assert_ptr_null(twins_get(tt, "dev-5000"));
    twins_clear(tt);
    ck_assert_uint_eq(tt->count, 0);
    ck_assert_ptr_null(twins_get(tt, "dev-1"));
    twins_free(tt);
}
END_TEST

START_TEST(test_dirty_list_once)
{
    struct twins *tt = twins_new();
    struct twin *a = twins_put(tt, twin_new("a"));
    struct twin *b = twins_put(tt, twin_new("b"));
    twins_mark_dirty(tt, a);
    twins_mark_dirty(tt, b);
    twins_mark_dirty(tt, a);
    ck_assert_uint_eq(tt->n_dirty, 2);
    ck_assert_ptr_eq(tt->dirty[0], a);
    ck_assert_ptr_eq(tt->dirty[1], b);
    twins_clean(tt);
    ck_assert_uint_eq(tt->n_dirty, 0);
    ck_assert(!a->dirty);
    twins_mark_dirty(tt, a);
    ck_assert_uint_eq(tt->n_dirty, 1);
    twins_free(tt);
}
END_TEST

static Suite *twins_suite(void)
{
    Suite *s = suite_create("twins");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_put_get_grow);
    tcase_add_test(tc, test_dirty_list_once);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(twins_suite)
