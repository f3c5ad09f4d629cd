/*
 * test_aggregates.c - query/aggregates.c's parameters (pure): the category's
 * two forms and escapes, repeated regions, the 31-day bound, and every
 * refusal with its message.
 */
#include <check.h>
#include <string.h>

#include "query/aggregates.h"
#include "tests/support/check_main.h"

static enum tp_err parse(struct aggregates_params *p, char *errstr, size_t n, const char *k0,
                         const char *v0, const char *k1, const char *v1, const char *k2,
                         const char *v2, const char *k3, const char *v3)
{
    struct params_args a = {0};
    const char *kv[][2] = {{k0, v0}, {k1, v1}, {k2, v2}, {k3, v3}};
    for (size_t i = 0; i < 4; i++)
        if (kv[i][0])
            params_args_add(&a, kv[i][0], kv[i][1]);
    return aggregates_params_parse(&a, p, errstr, n);
}

#define FROM  "2026-12-03T10:00:00Z"
#define UNTIL "2026-12-03T11:00:00Z"

START_TEST(test_category_forms)
{
    ck_assert(aggregates_category_valid("model=tp-truck,firmware=2.1.7"));
    ck_assert(aggregates_category_valid("model=tp-truck"));
    ck_assert(aggregates_category_valid("model="));
    ck_assert(aggregates_category_valid("model=tp\\,odd\\=x\\\\,firmware=1"));
    ck_assert(aggregates_category_valid("mo\\=del=x"));
    ck_assert(!aggregates_category_valid(""));
    ck_assert(!aggregates_category_valid("model"));
    ck_assert(!aggregates_category_valid("=tp-truck"));
    ck_assert(!aggregates_category_valid("model=tp-truck,"));
    ck_assert(!aggregates_category_valid("model=tp=truck"));
    ck_assert(!aggregates_category_valid("model=tp,truck"));
    ck_assert(!aggregates_category_valid("model=tp\\x"));
    ck_assert(!aggregates_category_valid("model=tp\\"));
}
END_TEST

START_TEST(test_parse)
{
    struct aggregates_params p;
    char e[256];
    ck_assert_int_eq(parse(&p, e, sizeof(e), "category", "model=tp-truck", "from", FROM, "until",
                           UNTIL, NULL, NULL),
                     TP_OK);
    ck_assert_str_eq(p.category, "model=tp-truck");
    ck_assert_uint_eq(p.n_regions, 0);
    ck_assert_int_eq(p.from_us, 1796292000000000LL);
    ck_assert_int_eq(p.until_us, 1796295600000000LL);
    ck_assert_int_eq(parse(&p, e, sizeof(e), "region", "region-a", "category", "model=x", "region",
                           "region-b", "from", FROM),
                     TP_VALIDATION); /* no until */
    ck_assert_str_eq(e, "category, from and until are required (region is optional)");
    struct params_args a = {0};
    params_args_add(&a, "region", "region-a");
    params_args_add(&a, "category", "model=x");
    params_args_add(&a, "region", "region-b");
    params_args_add(&a, "from", FROM);
    params_args_add(&a, "until", "2027-01-03T10:00:00Z"); /* exactly 31 days */
    ck_assert_int_eq(aggregates_params_parse(&a, &p, e, sizeof(e)), TP_OK);
    ck_assert_uint_eq(p.n_regions, 2);
    ck_assert_str_eq(p.regions[1], "region-b");
}
END_TEST

START_TEST(test_refused)
{
    struct aggregates_params p;
    char e[256];
    ck_assert_int_eq(parse(&p, e, sizeof(e), "category", "model=x", "from", FROM, "until",
                           "2027-01-03T10:00:00.001Z", NULL, NULL),
                     TP_VALIDATION);
    ck_assert_str_eq(e, "from..until spans more than 31 days");
    ck_assert_int_eq(
        parse(&p, e, sizeof(e), "category", "model=x", "from", FROM, "until", FROM, NULL, NULL),
        TP_VALIDATION);
    ck_assert_str_eq(e, "from must be before until");
    ck_assert_int_eq(
        parse(&p, e, sizeof(e), "category", "model=x", "from", "noon", "until", UNTIL, NULL, NULL),
        TP_VALIDATION);
    ck_assert_str_eq(e, "from must be an RFC 3339 date-time, e.g. 2026-12-03T10:00:00Z");
    ck_assert_int_eq(
        parse(&p, e, sizeof(e), "category", "model", "from", FROM, "until", UNTIL, NULL, NULL),
        TP_VALIDATION);
    ck_assert_int_eq(parse(&p, e, sizeof(e), "category", "model=x", "from", FROM, "until", UNTIL,
                           "after", "t1.0:1"),
                     TP_VALIDATION);
    ck_assert_str_eq(e, "unknown query parameter \"after\" (allowed: category, region, from, "
                        "until)");
    ck_assert_int_eq(parse(&p, e, sizeof(e), "category", "model=x", "from", FROM, "until", UNTIL,
                           "category", "model=y"),
                     TP_VALIDATION);
    ck_assert_str_eq(e, "query parameter \"category\" is given more than once");
    ck_assert_int_eq(
        parse(&p, e, sizeof(e), "category", "model=x", "from", FROM, "until", UNTIL, "region", ""),
        TP_VALIDATION);
    ck_assert_str_eq(e, "region must be 1 to 128 bytes");
    struct params_args a = {0};
    params_args_add(&a, "category", "model=x");
    params_args_add(&a, "from", FROM);
    params_args_add(&a, "until", UNTIL);
    for (int i = 0; i <= AGGREGATES_REGIONS_MAX; i++)
        params_args_add(&a, "region", "r");
    ck_assert_int_eq(aggregates_params_parse(&a, &p, e, sizeof(e)), TP_VALIDATION);
    ck_assert_str_eq(e, "more than 16 region parameters");
}
END_TEST

static Suite *aggregates_suite(void)
{
    Suite *s = suite_create("aggregates");
    TCase *tc = tcase_create("params");
    tcase_add_test(tc, test_category_forms);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(aggregates_suite)
