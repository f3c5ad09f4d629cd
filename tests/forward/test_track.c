/* forward/track.c: the commit point of a partition stops at its first forwarded event not
 * acknowledged, whatever order reports come back in; skipped events never hold it; a
 * failure rewinds to it; the pool bounds what is outstanding. */
#include <check.h>

#include "forward/track.h"
#include "tests/support/check_main.h"

static int64_t commit(struct forward_track *t, int32_t p)
{
    int64_t off = -1;
    if (!forward_track_to_commit(t, p, &off))
        return -1;
    forward_track_committed(t, p, off);
    return off;
}

START_TEST(test_track_in_order_commit)
{
    struct forward_track *t = forward_track_new(8);
    forward_track_assign(t, 0);
    forward_track_assign(t, 2);
    ck_assert(forward_track_assigned(t, 2));
    ck_assert(!forward_track_assigned(t, 1));
    ck_assert_uint_eq(forward_track_partitions(t), 3);
    ck_assert_int_eq(commit(t, 0), -1); /* nothing consumed */
    forward_track_seen(t, 0, 10);
    forward_track_seen(t, 0, 11);
    ck_assert_int_eq(commit(t, 0), 12);
    ck_assert_int_eq(commit(t, 0), -1); /* not moved since */
    struct forward_pending *a = forward_track_add(t, 0, 12, 1000);
    forward_track_seen(t, 0, 13);
    struct forward_pending *b = forward_track_add(t, 0, 14, 1001);
    struct forward_pending *c = forward_track_add(t, 2, 5, 1002);
    forward_track_seen(t, 0, 15);
    ck_assert_uint_eq(forward_track_in_flight(t), 3);
    ck_assert_int_eq(forward_track_next(t, 0), 16);
    ck_assert_int_eq(commit(t, 0), -1); /* 12 outstanding: stays at 12 */
    forward_track_done(t, b, true);     /* 14 before 12 */
    ck_assert_int_eq(commit(t, 0), -1);
    forward_track_done(t, c, true);
    ck_assert_int_eq(commit(t, 2), 6);
    forward_track_done(t, a, true);
    ck_assert_int_eq(commit(t, 0), 16);
    ck_assert_uint_eq(forward_track_in_flight(t), 0);
    ck_assert_int_eq(forward_track_rewind(t, 0), -1); /* nothing failed */
    forward_track_free(t);
    forward_track_free(NULL);
}
END_TEST

START_TEST(test_track_failure_rewinds)
{
    struct forward_track *t = forward_track_new(8);
    forward_track_assign(t, 1);
    struct forward_pending *a = forward_track_add(t, 1, 100, 0);
    struct forward_pending *b = forward_track_add(t, 1, 101, 0);
    forward_track_seen(t, 1, 102);
    struct forward_pending *c = forward_track_add(t, 1, 103, 0);
    forward_track_done(t, a, true);
    forward_track_done(t, b, false);
    forward_track_done(t, c, true);
    ck_assert_int_eq(commit(t, 1), 101); /* up to the failed one */
    ck_assert(!forward_track_recovered(t, c));
    ck_assert_int_eq(forward_track_rewind(t, 1), 101);
    ck_assert_uint_eq(forward_track_in_flight(t), 0);
    ck_assert_int_eq(forward_track_next(t, 1), 101);
    ck_assert_int_eq(commit(t, 1), -1); /* still 101 */
    /* read again from 101 */
    struct forward_pending *b2 = forward_track_add(t, 1, 101, 0);
    forward_track_seen(t, 1, 102);
    forward_track_done(t, b2, true);
    ck_assert(forward_track_recovered(t, b2));
    ck_assert(!forward_track_recovered(t, b2)); /* once */
    ck_assert_int_eq(commit(t, 1), 103);
    forward_track_free(t);
}
END_TEST

START_TEST(test_track_bounded_and_release)
{
    struct forward_track *t = forward_track_new(2);
    forward_track_assign(t, 0);
    struct forward_pending *a = forward_track_add(t, 0, 1, 0);
    ck_assert_ptr_nonnull(forward_track_add(t, 0, 2, 0));
    ck_assert(forward_track_full(t));
    ck_assert_ptr_null(forward_track_add(t, 0, 3, 0));
    ck_assert_int_eq(forward_track_next(t, 0), 3); /* the refused one changed nothing */
    forward_track_done(t, a, true);
    ck_assert(forward_track_full(t)); /* given back only when the commit point passes it */
    ck_assert_int_eq(commit(t, 0), 2);
    ck_assert(!forward_track_full(t));
    /* released: its pending events back to the pool, nothing to commit */
    forward_track_release(t, 0);
    ck_assert_uint_eq(forward_track_in_flight(t), 0);
    ck_assert_int_eq(commit(t, 0), -1);
    ck_assert_int_eq(forward_track_next(t, 0), -1);
    /* assigned again: afresh */
    forward_track_assign(t, 0);
    forward_track_seen(t, 0, 7);
    ck_assert_int_eq(commit(t, 0), 8);
    forward_track_free(t);
}
END_TEST

START_TEST(test_track_warm_up)
{
    /* resumed at the committed 50, read from 40: 40..49 only warm caches up */
    struct forward_track *t = forward_track_new(4);
    forward_track_assign(t, 0);
    forward_track_committed(t, 0, 50);
    forward_track_warm(t, 0, 50);
    ck_assert(forward_track_warming(t, 0, 40));
    ck_assert(forward_track_warming(t, 0, 49));
    ck_assert(!forward_track_warming(t, 0, 50));
    ck_assert(!forward_track_warming(t, 1, 0)); /* not assigned */
    ck_assert_int_eq(commit(t, 0), -1);         /* never below or at 50 */
    forward_track_seen(t, 0, 50);
    ck_assert_int_eq(commit(t, 0), 51);
    forward_track_assign(t, 0); /* a new assignment forgets it */
    ck_assert(!forward_track_warming(t, 0, 40));
    forward_track_free(t);
}
END_TEST

static Suite *track_suite(void)
{
    Suite *s = suite_create("forward_track");
    TCase *tc = tcase_create("track");
    tcase_add_test(tc, test_track_in_order_commit);
    tcase_add_test(tc, test_track_failure_rewinds);
    tcase_add_test(tc, test_track_bounded_and_release);
    tcase_add_test(tc, test_track_warm_up);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(track_suite)
