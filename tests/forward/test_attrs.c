/* forward/attrs.c: the latest non-empty attributes per device, merged attribute by
 * attribute; values cut past POLICY_VALUE_MAX + 1 bytes; LRU eviction under max. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "forward/attrs.h"
#include "tests/support/check_main.h"

static void update(struct forward_attrs *c, const char *id, const char *model, const char *fw,
                   const char *region, const char *out[POLICY_ATTR__COUNT])
{
    const char *in[POLICY_ATTR__COUNT] = {
        [POLICY_ATTR_MODEL] = model, [POLICY_ATTR_FIRMWARE] = fw, [POLICY_ATTR_REGION] = region};
    forward_attrs_update(c, id, in, out);
}

START_TEST(test_attrs_merge)
{
    struct forward_attrs *c = forward_attrs_new(10);
    const char *out[POLICY_ATTR__COUNT];
    /* a first reading without attributes: nothing known */
    update(c, "veh-1", NULL, "", NULL, out);
    ck_assert_ptr_null(out[POLICY_ATTR_MODEL]);
    ck_assert_ptr_null(out[POLICY_ATTR_FIRMWARE]);
    ck_assert_ptr_null(out[POLICY_ATTR_REGION]);
    update(c, "veh-1", "tp-truck", "2.1.7", NULL, out);
    ck_assert_str_eq(out[POLICY_ATTR_MODEL], "tp-truck");
    ck_assert_str_eq(out[POLICY_ATTR_FIRMWARE], "2.1.7");
    ck_assert_ptr_null(out[POLICY_ATTR_REGION]);
    /* absent and empty keep the cached value; a new one replaces it */
    update(c, "veh-1", NULL, "", "eu", out);
    ck_assert_str_eq(out[POLICY_ATTR_MODEL], "tp-truck");
    ck_assert_str_eq(out[POLICY_ATTR_FIRMWARE], "2.1.7");
    ck_assert_str_eq(out[POLICY_ATTR_REGION], "eu");
    update(c, "veh-1", NULL, "2.2.0", NULL, out);
    ck_assert_str_eq(out[POLICY_ATTR_MODEL], "tp-truck");
    ck_assert_str_eq(out[POLICY_ATTR_FIRMWARE], "2.2.0");
    ck_assert_str_eq(out[POLICY_ATTR_REGION], "eu");
    /* another device is its own */
    update(c, "veh-2", NULL, NULL, NULL, out);
    ck_assert_ptr_null(out[POLICY_ATTR_MODEL]);
    update(c, "veh-1", NULL, NULL, NULL, out);
    ck_assert_str_eq(out[POLICY_ATTR_MODEL], "tp-truck");
    ck_assert_uint_eq(forward_attrs_count(c), 2);
    ck_assert_uint_eq(forward_attrs_evicted(c), 0);
    forward_attrs_free(c);
    forward_attrs_free(NULL);
}
END_TEST

START_TEST(test_attrs_long_values)
{
    struct forward_attrs *c = forward_attrs_new(4);
    const char *out[POLICY_ATTR__COUNT];
    char longv[300];
    memset(longv, 'm', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    update(c, "veh-1", longv, NULL, NULL, out);
    ck_assert_uint_eq(strlen(out[POLICY_ATTR_MODEL]), FORWARD_ATTR_KEEP);
    ck_assert_int_eq(memcmp(out[POLICY_ATTR_MODEL], longv, FORWARD_ATTR_KEEP), 0);
    /* the same long value again changes nothing; a cached one is kept when absent */
    update(c, "veh-1", longv, NULL, NULL, out);
    ck_assert_uint_eq(strlen(out[POLICY_ATTR_MODEL]), FORWARD_ATTR_KEEP);
    update(c, "veh-1", NULL, NULL, NULL, out);
    ck_assert_uint_eq(strlen(out[POLICY_ATTR_MODEL]), FORWARD_ATTR_KEEP);
    /* an id longer than any selector's is not cached: its own reading's values only */
    char longid[200];
    memset(longid, 'd', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    update(c, longid, "tp-car", NULL, NULL, out);
    ck_assert_str_eq(out[POLICY_ATTR_MODEL], "tp-car");
    update(c, longid, NULL, NULL, NULL, out);
    ck_assert_ptr_null(out[POLICY_ATTR_MODEL]);
    ck_assert_uint_eq(forward_attrs_count(c), 1);
    forward_attrs_free(c);
}
END_TEST

START_TEST(test_attrs_lru)
{
    struct forward_attrs *c = forward_attrs_new(3);
    const char *out[POLICY_ATTR__COUNT];
    update(c, "a", "ma", NULL, NULL, out);
    update(c, "b", "mb", NULL, NULL, out);
    update(c, "c", "mc", NULL, NULL, out);
    update(c, "a", NULL, NULL, NULL, out); /* a used: b is now the least recent */
    update(c, "d", "md", NULL, NULL, out);
    ck_assert_uint_eq(forward_attrs_count(c), 3);
    ck_assert_uint_eq(forward_attrs_evicted(c), 1);
    update(c, "b", NULL, NULL, NULL, out); /* evicted: known no more (and c goes) */
    ck_assert_ptr_null(out[POLICY_ATTR_MODEL]);
    ck_assert_uint_eq(forward_attrs_evicted(c), 2);
    update(c, "a", NULL, NULL, NULL, out);
    ck_assert_str_eq(out[POLICY_ATTR_MODEL], "ma");
    update(c, "d", NULL, NULL, NULL, out);
    ck_assert_str_eq(out[POLICY_ATTR_MODEL], "md");
    update(c, "c", NULL, NULL, NULL, out);
    ck_assert_ptr_null(out[POLICY_ATTR_MODEL]);
    forward_attrs_free(c);
}
END_TEST

START_TEST(test_attrs_many)
{
    /* past the first bucket array (1,024): grown, every device still found */
    struct forward_attrs *c = forward_attrs_new(5000);
    const char *out[POLICY_ATTR__COUNT];
    char id[32], model[32];
    for (int i = 0; i < 6000; i++) {
        snprintf(id, sizeof(id), "veh-%d", i);
        snprintf(model, sizeof(model), "m-%d", i % 7);
        update(c, id, model, NULL, NULL, out);
    }
    ck_assert_uint_eq(forward_attrs_count(c), 5000);
    ck_assert_uint_eq(forward_attrs_evicted(c), 1000);
    for (int i = 5999; i >= 1000; i--) { /* the kept ones: found (no eviction) */
        snprintf(id, sizeof(id), "veh-%d", i);
        snprintf(model, sizeof(model), "m-%d", i % 7);
        update(c, id, NULL, NULL, NULL, out);
        ck_assert_str_eq(out[POLICY_ATTR_MODEL], model);
    }
    ck_assert_uint_eq(forward_attrs_evicted(c), 1000);
    for (int i = 0; i < 1000; i++) { /* the evicted ones: unknown */
        snprintf(id, sizeof(id), "veh-%d", i);
        update(c, id, NULL, NULL, NULL, out);
        ck_assert_ptr_null(out[POLICY_ATTR_MODEL]);
    }
    forward_attrs_free(c);
}
END_TEST

static Suite *attrs_suite(void)
{
    Suite *s = suite_create("forward_attrs");
    TCase *tc = tcase_create("attrs");
    tcase_add_test(tc, test_attrs_merge);
    tcase_add_test(tc, test_attrs_long_values);
    tcase_add_test(tc, test_attrs_lru);
    tcase_add_test(tc, test_attrs_many);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(attrs_suite)
