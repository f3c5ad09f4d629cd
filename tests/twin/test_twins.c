#include <check.h>
#include <stdbool.h>
#include <stdio.h>

#include "twin/twins.h"
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
    twins_clean(tt); /* packs a and b: the pointers are gone */
    ck_assert_uint_eq(tt->n_dirty, 0);
    ck_assert_uint_eq(tt->n_hot, 0);
    a = twins_get(tt, "a");
    ck_assert(!a->dirty);
    twins_mark_dirty(tt, a);
    ck_assert_uint_eq(tt->n_dirty, 1);
    twins_free(tt);
}
END_TEST

/* A flush on another thread: its twins detached, then packed once it committed, except those
 * changed again meanwhile (dirty: hot, never evicted, in the next flush). */
START_TEST(test_detach_then_pack_clean)
{
    struct twins *tt = twins_new();
    struct twin *a = twins_put(tt, twin_new("a"));
    struct twin *b = twins_put(tt, twin_new("b"));
    twins_put(tt, twin_new("c")); /* loaded, not changed: clean */
    twins_mark_dirty(tt, a);
    twins_mark_dirty(tt, b);
    twins_dirty_detach(tt); /* a and b handed to the flush */
    ck_assert_uint_eq(tt->n_dirty, 0);
    ck_assert_uint_eq(tt->n_hot, 3);
    ck_assert(!a->dirty && !b->dirty);
    ck_assert_uint_eq(twins_evict(tt, 0), 0); /* in flight: nothing packed, nothing evictable */
    ck_assert_ptr_eq(twins_get(tt, "a"), a);
    twins_mark_dirty(tt, b); /* b changes again while the flush runs */
    ck_assert_uint_eq(tt->n_dirty, 1);
    twins_pack_clean(tt); /* the flush committed */
    ck_assert_uint_eq(tt->n_hot, 1);
    ck_assert_ptr_eq(tt->hot[0], b);
    ck_assert_uint_eq(tt->n_dirty, 1);
    ck_assert_ptr_eq(tt->dirty[0], b);
    ck_assert(b->dirty);
    ck_assert_uint_eq(twins_evict(tt, 0), 2); /* a and c were packed; b is not evictable */
    ck_assert_uint_eq(tt->count, 1);
    ck_assert_ptr_eq(twins_get(tt, "b"), b);
    ck_assert_ptr_null(twins_get(tt, "a"));
    twins_clean(tt);
    ck_assert_uint_eq(tt->n_hot, 0);
    ck_assert_uint_eq(twins_evict(tt, 0), 1);
    twins_free(tt);
}
END_TEST

/* A twin with a bit of everything, deterministic in i. */
static struct twin *sample_twin(int i)
{
    char id[32];
    snprintf(id, sizeof(id), "dev-%d", i);
    struct twin *t = twin_new(id);
    t->first_seen_ms = 1000 + i;
    t->last_seen_ms = 5000 + i;
    t->last_sequence = 7 + i;
    t->events = 3 + i % 2;
    struct twin_metric *m = twin_metric_set(t, "speed_kmh", 88.5 + i, t->last_seen_ms);
    twin_metric_observe(m, 12.25);
    twin_metric_observe(m, 88.5 + i);
    m = twin_metric_set(t, i % 2 ? "odd" : "even", 0.1 + 0.2, 1500);
    twin_metric_observe(m, 0.1);
    twin_metric_observe(m, 0.2);
    t->has_location = true;
    t->loc_mask = 1u << TWIN_LAT;
    t->loc[TWIN_LAT] = 48.123456;
    t->location_ts_ms = t->last_seen_ms;
    twin_attr_set(t, "model", i % 3 ? "tp-van" : "tp-truck");
    return t;
}

/* Every field of a and b equal, doubles bit for bit. */
static void assert_twin_eq(const struct twin *a, const struct twin *b)
{
    ck_assert_str_eq(a->device_id, b->device_id);
    ck_assert_int_eq(a->first_seen_ms, b->first_seen_ms);
    ck_assert_int_eq(a->last_seen_ms, b->last_seen_ms);
    ck_assert_int_eq(a->last_sequence, b->last_sequence);
    ck_assert_int_eq(a->events, b->events);
    ck_assert_int_eq(a->has_location, b->has_location);
    ck_assert_uint_eq(a->loc_mask, b->loc_mask);
    ck_assert_int_eq(a->location_ts_ms, b->location_ts_ms);
    ck_assert_mem_eq(a->loc, b->loc, sizeof(a->loc));
    ck_assert_ptr_eq(a->model, b->model); /* interned */
    ck_assert_ptr_eq(a->firmware, b->firmware);
    ck_assert_ptr_eq(a->region, b->region);
    ck_assert_uint_eq(a->n_metrics, b->n_metrics);
    for (size_t i = 0; i < a->n_metrics; i++) {
        const struct twin_metric *x = &a->metrics[i], *y = &b->metrics[i];
        ck_assert_ptr_eq(x->name, y->name);
        ck_assert_mem_eq(&x->value, &y->value, sizeof(double));
        ck_assert_int_eq(x->ts_ms, y->ts_ms);
        ck_assert_int_eq(x->count, y->count);
        if (x->count) {
            ck_assert_mem_eq(&x->min, &y->min, sizeof(double));
            ck_assert_mem_eq(&x->max, &y->max, sizeof(double));
            ck_assert_mem_eq(&x->sum, &y->sum, sizeof(double));
        }
    }
}

/* Cold twins come back equal; eviction takes the least recently packed clean ones only,
 * and the table finds every other twin after the removals. */
START_TEST(test_pack_and_evict)
{
    struct twins *tt = twins_new();
    const int n = 3000;
    for (int i = 0; i < n; i++)
        twins_put(tt, sample_twin(i));
    twins_clean(tt); /* all cold, packed in order 0..n-1 */
    ck_assert_ptr_nonnull(tt->lru_head);
    for (int i = 0; i < n; i++) {
        struct twin *want = sample_twin(i);
        assert_twin_eq(twins_get(tt, want->device_id), want);
        twin_free(want);
    }
    twins_clean(tt);
    /* touch 0..99 (now the most recent), dirty 100..109 (hot: never evicted) */
    char id[32];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "dev-%d", i);
        ck_assert_ptr_nonnull(twins_get(tt, id));
    }
    twins_clean(tt);
    for (int i = 100; i < 110; i++) {
        snprintf(id, sizeof(id), "dev-%d", i);
        twins_mark_dirty(tt, twins_get(tt, id));
    }
    ck_assert_uint_eq(twins_evict(tt, 500), (size_t)n - 500);
    ck_assert_uint_eq(tt->count, 500);
    /* left: the 10 hot ones, then the most recently packed: 2610..2999 and 0..99 */
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "dev-%d", i);
        bool kept = i < 110 || i >= n - 390;
        struct twin *t = twins_get(tt, id);
        ck_assert_msg((t != NULL) == kept, "%s %s", id, kept ? "evicted" : "kept");
        if (t) {
            struct twin *want = sample_twin(i);
            assert_twin_eq(t, want);
            twin_free(want);
        }
    }
    /* hot twins only: nothing to evict */
    ck_assert_uint_eq(twins_evict(tt, 0), 0);
    twins_clean(tt);
    ck_assert_uint_eq(twins_evict(tt, 0), 500);
    ck_assert_uint_eq(tt->count, 0);
    ck_assert_ptr_null(tt->lru_head);
    ck_assert_ptr_null(twins_get(tt, "dev-0"));
    twins_put(tt, sample_twin(1)); /* the table still works */
    ck_assert_ptr_nonnull(twins_get(tt, "dev-1"));
    twins_free(tt);
}
END_TEST

static Suite *twins_suite(void)
{
    Suite *s = suite_create("twins");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_put_get_grow);
    tcase_add_test(tc, test_dirty_list_once);
    tcase_add_test(tc, test_detach_then_pack_clean);
    tcase_add_test(tc, test_pack_and_evict);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(twins_suite)
