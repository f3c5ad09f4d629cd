#include <check.h>
#include <stdint.h>

#include "loadgen/hist.h"
#include "tests/support/check_main.h"

START_TEST(test_empty)
{
    struct hist h = {0};
    ck_assert_uint_eq(hist_quantile(&h, 0.99), 0);
    ck_assert_uint_eq(hist_count_le(&h, 1000000), 0);
}
END_TEST

/* 1..100000 us once each: every quantile within 1/32 above the exact value */
START_TEST(test_quantiles_within_bucket_precision)
{
    struct hist h = {0};
    for (uint64_t v = 1; v <= 100000; v++)
        hist_add(&h, v);
    ck_assert_uint_eq(h.count, 100000);
    ck_assert_uint_eq(h.max_us, 100000);
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    for (size_t i = 0; i < 4; i++) {
        uint64_t exact = (uint64_t)(qs[i] * 100000);
        uint64_t got = hist_quantile(&h, qs[i]);
        ck_assert_msg(got >= exact && got <= exact + exact / 32 + 1, "q%.3f: %llu vs %llu", qs[i],
                      (unsigned long long)got, (unsigned long long)exact);
    }
    ck_assert_uint_eq(hist_quantile(&h, 1.0), 100000);
    /* small values are exact */
    ck_assert_uint_eq(hist_count_le(&h, 31), 31);
}
END_TEST

START_TEST(test_merge_reset_clamp)
{
    struct hist a = {0}, b = {0};
    hist_add(&a, 10);
    hist_add(&b, 5000000);
    hist_add(&b, 1ULL << 50); /* clamped to 2^40 - 1 */
    hist_merge(&a, &b);
    ck_assert_uint_eq(a.count, 3);
    ck_assert_uint_eq(a.max_us, (1ULL << 40) - 1);
    ck_assert_uint_eq(hist_quantile(&a, 0.3), 10);
    uint64_t mid = hist_quantile(&a, 0.5);
    ck_assert(mid >= 5000000 && mid <= 5000000 + 5000000 / 32);
    ck_assert_uint_eq(hist_count_le(&a, 10), 1);
    hist_reset(&a);
    ck_assert_uint_eq(a.count, 0);
    ck_assert_uint_eq(hist_quantile(&a, 0.5), 0);
}
END_TEST

static Suite *hist_suite(void)
{
    Suite *s = suite_create("hist");
    TCase *tc = tcase_create("hist");
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_quantiles_within_bucket_precision);
    tcase_add_test(tc, test_merge_reset_clamp);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(hist_suite)
