/*
 * test_freelist.c - ingest/freelist.c, the bounded free list of same-size
 * blocks: a block given back is the next one got (last in, first out) and
 * comes back zeroed; at most `keep` blocks are kept, the rest freed (ASan's
 * leak check sees the rest); a block smaller than a pointer still links;
 * blocks got and put from two threads at once all come back.
 */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ingest/freelist.h"
#include "tests/support/check_main.h"

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

START_TEST(test_reuse_zeroed)
{
    struct freelist f;
    freelist_init(&f, 100, 4);
    uint8_t *a = freelist_get(&f);
    ck_assert(all_zero(a, 100));
    ck_assert_uint_eq(freelist_kept(&f), 0);
    memset(a, 0xAB, 100);
    freelist_put(&f, a);
    ck_assert_uint_eq(freelist_kept(&f), 1);
    uint8_t *b = freelist_get(&f);
    ck_assert_ptr_eq(a, b); /* the kept block */
    ck_assert(all_zero(b, 100));
    ck_assert_uint_eq(freelist_kept(&f), 0);
    uint8_t *c = freelist_get(&f); /* none kept: a new one */
    ck_assert_ptr_ne(c, b);
    ck_assert(all_zero(c, 100));
    freelist_put(&f, c);
    freelist_put(&f, b);
    ck_assert_ptr_eq(freelist_get(&f), b); /* last in, first out */
    ck_assert_ptr_eq(freelist_get(&f), c);
    freelist_put(&f, b);
    freelist_put(&f, c);
    freelist_put(&f, NULL); /* a no-op */
    ck_assert_uint_eq(freelist_kept(&f), 2);
    freelist_release(&f);
}
END_TEST

START_TEST(test_keeps_at_most_keep)
{
    struct freelist f;
    freelist_init(&f, 48, 3);
    void *p[5];
    for (int i = 0; i < 5; i++)
        p[i] = freelist_get(&f);
    for (int i = 0; i < 5; i++) {
        freelist_put(&f, p[i]); /* the 4th and 5th are freed */
        ck_assert_uint_eq(freelist_kept(&f), i < 3 ? (size_t)i + 1 : 3);
    }
    ck_assert_ptr_eq(freelist_get(&f), p[2]);
    ck_assert_ptr_eq(freelist_get(&f), p[1]);
    ck_assert_ptr_eq(freelist_get(&f), p[0]);
    ck_assert_uint_eq(freelist_kept(&f), 0);
    for (int i = 0; i < 3; i++)
        freelist_put(&f, p[i]);
    freelist_release(&f); /* frees the three kept */

    freelist_init(&f, 16, 0); /* keep 0: every put frees */
    void *q = freelist_get(&f);
    freelist_put(&f, q);
    ck_assert_uint_eq(freelist_kept(&f), 0);
    freelist_release(&f);
}
END_TEST

START_TEST(test_small_blocks)
{
    struct freelist f;
    freelist_init(&f, 1, 8); /* rounded up to a pointer: the link fits */
    ck_assert_uint_eq(f.size, sizeof(void *));
    void *a = freelist_get(&f), *b = freelist_get(&f);
    freelist_put(&f, a);
    freelist_put(&f, b);
    ck_assert_ptr_eq(freelist_get(&f), b);
    ck_assert_ptr_eq(freelist_get(&f), a);
    ck_assert(all_zero(a, sizeof(void *)));
    freelist_put(&f, a);
    freelist_put(&f, b);
    freelist_release(&f);
}
END_TEST

/* Like an accept call: got on one thread, given back on another. */
#define ROUNDS 20000
static void *putter(void *arg)
{
    void **args = arg;
    struct freelist *f = args[0];
    void **blocks = args[1];
    for (int i = 0; i < ROUNDS; i++)
        freelist_put(f, blocks[i]);
    return NULL;
}

START_TEST(test_two_threads)
{
    struct freelist f;
    freelist_init(&f, 64, 64);
    static void *blocks[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        blocks[i] = freelist_get(&f);
        *(int *)blocks[i] = i + 1;
    }
    void *args[2] = {&f, blocks};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, putter, args), 0);
    size_t got = 0;
    for (int i = 0; i < ROUNDS; i++) { /* gets while the other thread puts */
        void *p = freelist_get(&f);
        ck_assert(all_zero(p, 64));
        freelist_put(&f, p);
        got++;
    }
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_uint_eq(got, ROUNDS);
    ck_assert_uint_eq(freelist_kept(&f), 64);
    freelist_release(&f); /* nothing leaks: the rest were freed by put */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("freelist");
    TCase *tc = tcase_create("freelist");
    tcase_add_test(tc, test_reuse_zeroed);
    tcase_add_test(tc, test_keeps_at_most_keep);
    tcase_add_test(tc, test_small_blocks);
    tcase_add_test(tc, test_two_threads);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(suite)
