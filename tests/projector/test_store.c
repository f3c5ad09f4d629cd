/* Unit part of store.c: what a flush job holds (no database needed). */
#include <check.h>
#include <string.h>

#include "projector/store.h"
#include "tests/support/check_main.h"
#include "twin/rows.h"

static struct twin *twin_at(const char *id, int64_t events, double speed)
{
    struct twin *t = twin_new(id);
    t->first_seen_ms = 1000;
    t->last_seen_ms = 1000 + events;
    t->last_sequence = t->events = events;
    twin_metric_observe(twin_metric_set(t, "speed_kmh", speed, t->last_seen_ms), speed);
    return t;
}

static void assert_buf_eq(const struct buf *got, const struct buf *want)
{
    ck_assert_uint_eq(got->len, want->len);
    ck_assert_int_eq(memcmp(got->data, want->data, want->len), 0);
}

/* The job holds the COPY streams of the twins and the history and copies of the offsets,
 * and borrows nothing: the batch may change (the fold goes on) while it is written. */
START_TEST(test_job_build)
{
    struct twin *twins[] = {twin_at("car-1", 3, 88.5), twin_at("car-2", 1, 0.1)};
    struct history *h = history_new();
    history_add(h, "car-1", "speed_kmh", 1700000059999, 88.5);
    history_add(h, "car-2", "speed_kmh", 1700000040000, -0.25);
    int32_t parts[] = {3, 5};
    int64_t offs[] = {10, 20}, expected[] = {JOURNAL_OFFSET_BEGINNING, 7};
    struct store_batch b = {.twins = twins,
                            .n_twins = 2,
                            .history = h,
                            .parts = parts,
                            .offsets = offs,
                            .expected = expected,
                            .n_parts = 2};
    struct store_job job;
    store_job_build(&job, &b);

    struct buf want;
    buf_init(&want, 1 << 20);
    twin_rows_header(&want);
    twin_rows_twin(&want, twins[0]);
    twin_rows_twin(&want, twins[1]);
    twin_rows_trailer(&want);
    ck_assert_uint_eq(job.n_twins, 2);
    assert_buf_eq(&job.twins, &want);
    buf_reset(&want);
    twin_rows_header(&want);
    twin_rows_history(&want, h, &h->entries[0]);
    twin_rows_history(&want, h, &h->entries[1]);
    twin_rows_trailer(&want);
    ck_assert_uint_eq(job.n_history, 2);
    assert_buf_eq(&job.history, &want);

    /* the fold goes on: the job still holds what was built */
    struct buf twins_before;
    buf_init(&twins_before, 1 << 20);
    buf_append(&twins_before, job.twins.data, job.twins.len);
    twin_metric_set(twins[0], "speed_kmh", 1, 5000);
    twins[0]->events = 4;
    history_clear(h);
    parts[0] = offs[0] = expected[0] = 99;
    assert_buf_eq(&job.twins, &twins_before);
    ck_assert_uint_eq(job.n_parts, 2);
    ck_assert_int_eq(job.parts[0], 3);
    ck_assert_int_eq(job.parts[1], 5);
    ck_assert_int_eq(job.offsets[0], 10);
    ck_assert_int_eq(job.offsets[1], 20);
    ck_assert_int_eq(job.expected[0], JOURNAL_OFFSET_BEGINNING);
    ck_assert_int_eq(job.expected[1], 7);

    store_job_release(&job);
    ck_assert_uint_eq(job.twins.len, 0);
    ck_assert_uint_eq(job.n_parts, 0);
    buf_release(&twins_before);
    buf_release(&want);
    history_free(h);
    twin_free(twins[0]);
    twin_free(twins[1]);
}
END_TEST

/* Offsets only (events that moved no twin): no COPY stream at all. */
START_TEST(test_job_build_offsets_only)
{
    int32_t parts[] = {0};
    int64_t offs[] = {4}, expected[] = {3};
    struct store_batch b = {.parts = parts, .offsets = offs, .expected = expected, .n_parts = 1};
    struct store_job job;
    store_job_build(&job, &b);
    ck_assert_uint_eq(job.n_twins, 0);
    ck_assert_uint_eq(job.twins.len, 0);
    ck_assert_uint_eq(job.n_history, 0);
    ck_assert_uint_eq(job.history.len, 0);
    ck_assert_uint_eq(job.n_parts, 1);
    ck_assert_int_eq(job.offsets[0], 4);
    store_job_release(&job);
    /* an empty history map is no stream either */
    struct history *h = history_new();
    b.history = h;
    b.n_parts = 0;
    store_job_build(&job, &b);
    ck_assert_uint_eq(job.history.len, 0);
    ck_assert_uint_eq(job.n_parts, 0);
    store_job_release(&job);
    history_free(h);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("job");
    tcase_add_test(tc, test_job_build);
    tcase_add_test(tc, test_job_build_offsets_only);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(store_suite)
