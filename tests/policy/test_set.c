/*
 * test_set.c - policy/set.c: records and tombstones into the set, its bound,
 * and the evaluation at, before and after from/until; several policies;
 * prefix against equality; device ids; sites; a clone as a snapshot.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "policy/set.h"
#include "tests/support/check_main.h"

#define T0 1796292000000LL /* 2026-12-03T10:00:00Z */
#define H  3600000LL

/* A record of name with a selector fragment, level, period (0: none), [from, until). */
static void put(struct policy_set *s, const char *topic, const char *name, const char *selector,
                const char *level, int64_t every, int64_t from, int64_t until)
{
    char f[40], u[40], period[48] = "", rec[1024];
    policy_time_format(from, f, sizeof(f));
    policy_time_format(until, u, sizeof(u));
    if (every)
        snprintf(period, sizeof(period), ",\"report_every_ms\":%lld", (long long)every);
    snprintf(rec, sizeof(rec),
             "{\"v\":1,\"name\":\"%s\",\"issued_at\":1,\"revision\":1,\"selector\":{%s},"
             "\"level\":\"%s\"%s,\"from\":\"%s\",\"until\":\"%s\"}",
             name, selector, level, period, f, u);
    enum policy_error code;
    char msg[256];
    enum tp_err e =
        policy_set_apply(s, topic, name, strlen(name), rec, strlen(rec), &code, msg, sizeof(msg));
    if (e != TP_OK)
        ck_abort_msg("apply %s: %s", rec, msg);
}

static struct policy_effect eval(const struct policy_set *s, const char *site, const char *id,
                                 const char *model, const char *firmware, int64_t t)
{
    struct policy_device d = {
        .id = id, .attrs = {[POLICY_ATTR_MODEL] = model, [POLICY_ATTR_FIRMWARE] = firmware}};
    struct policy_effect eff;
    policy_set_evaluate(s, site, &d, t, 3000, &eff, NULL, 0);
    return eff;
}

START_TEST(test_apply_and_tombstone)
{
    struct policy_set *s = policy_set_new(2);
    enum policy_error code;
    char msg[256];
    put(s, "policies", "a", "\"device_ids\":[\"d1\"]", "raw", 0, T0, T0 + H);
    ck_assert_uint_eq(policy_set_count(s), 1);
    /* a newer revision replaces */
    put(s, "policies", "a", "\"device_ids\":[\"d2\"]", "aggregates", 2000, T0, T0 + H);
    ck_assert_uint_eq(policy_set_count(s), 1);
    const struct policy *p = policy_set_get(s, "policies", "a");
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p->device_ids[0], "d2");
    ck_assert_int_eq(p->report_every_ms, 2000);
    /* same name, another topic: a distinct entry */
    put(s, "global.policies", "a", "\"device_ids\":[\"d3\"]", "raw", 0, T0, T0 + H);
    ck_assert_uint_eq(policy_set_count(s), 2);
    ck_assert_str_eq(policy_set_get(s, "global.policies", "a")->device_ids[0], "d3");
    /* full: a third key is refused, the set unchanged */
    const char *rec =
        "{\"v\":1,\"name\":\"b\",\"issued_at\":1,\"revision\":1,\"selector\":"
        "{\"device_ids\":[\"x\"]},\"level\":\"raw\",\"from\":\"2026-12-03T10:00:00Z\","
        "\"until\":\"2026-12-03T11:00:00Z\"}";
    ck_assert_int_eq(
        policy_set_apply(s, "policies", "b", 1, rec, strlen(rec), &code, msg, sizeof(msg)),
        TP_TOO_LARGE);
    ck_assert_int_eq(code, POLICY_ERR_TOO_MANY_POLICIES);
    ck_assert_str_eq(msg, "policy \"b\" of \"policies\" is refused: 2 policies are stored already "
                          "(policy.max_active)");
    ck_assert_uint_eq(policy_set_count(s), 2);
    ck_assert_ptr_null(policy_set_get(s, "policies", "b"));
    /* a bad record is refused and leaves the entry as it was */
    ck_assert_int_eq(policy_set_apply(s, "policies", "a", 1, "{", 1, &code, msg, sizeof(msg)),
                     TP_VALIDATION);
    ck_assert_int_eq(code, POLICY_ERR_INVALID_JSON);
    ck_assert_str_eq(policy_set_get(s, "policies", "a")->device_ids[0], "d2");
    /* a record whose key is not its name */
    ck_assert_int_eq(
        policy_set_apply(s, "policies", "zz", 2, rec, strlen(rec), &code, msg, sizeof(msg)),
        TP_VALIDATION);
    ck_assert_int_eq(code, POLICY_ERR_INVALID_RECORD);
    /* tombstones: one deletes, one for an unknown key is a no-op */
    ck_assert_int_eq(policy_set_apply(s, "policies", "a", 1, NULL, 0, &code, msg, sizeof(msg)),
                     TP_OK);
    ck_assert_int_eq(policy_set_apply(s, "policies", "nope", 4, NULL, 0, &code, msg, sizeof(msg)),
                     TP_OK);
    ck_assert_uint_eq(policy_set_count(s), 1);
    ck_assert_ptr_null(policy_set_get(s, "policies", "a"));
    const char *topic;
    ck_assert_ptr_nonnull(policy_set_at(s, 0, &topic));
    ck_assert_str_eq(topic, "global.policies");
    ck_assert_ptr_null(policy_set_at(s, 1, &topic));
    /* now there is room for b */
    ck_assert_int_eq(
        policy_set_apply(s, "policies", "b", 1, rec, strlen(rec), &code, msg, sizeof(msg)), TP_OK);
    ck_assert_uint_eq(policy_set_count(s), 2);
    policy_set_free(s);
    policy_set_free(NULL);
}
END_TEST

/* A clone is a snapshot: changes to either side after it leave the other as it was. */
START_TEST(test_clone)
{
    struct policy_set *s = policy_set_new(3);
    enum policy_error code;
    char msg[256];
    put(s, "policies", "a", "\"device_ids\":[\"d1\"]", "raw", 0, T0, T0 + H);
    put(s, "policies", "b", "\"device_ids\":[\"d2\"]", "raw", 1000, T0, T0 + H);
    struct policy_set *c = policy_set_clone(s);
    ck_assert_uint_eq(policy_set_count(c), 2);
    const struct policy *a = policy_set_get(c, "policies", "a");
    ck_assert_ptr_eq(a, policy_set_get(s, "policies", "a")); /* shared, not copied */
    /* the source replaces a, deletes b, adds c */
    put(s, "policies", "a", "\"device_ids\":[\"d9\"]", "aggregates", 0, T0, T0 + H);
    ck_assert_int_eq(policy_set_apply(s, "policies", "b", 1, NULL, 0, &code, msg, sizeof(msg)),
                     TP_OK);
    put(s, "policies", "c", "\"device_ids\":[\"d3\"]", "raw", 0, T0, T0 + H);
    ck_assert_uint_eq(policy_set_count(c), 2);
    ck_assert_str_eq(policy_set_get(c, "policies", "a")->device_ids[0], "d1");
    ck_assert_int_eq(policy_set_get(c, "policies", "b")->report_every_ms, 1000);
    ck_assert_ptr_null(policy_set_get(c, "policies", "c"));
    ck_assert_str_eq(policy_set_get(s, "policies", "a")->device_ids[0], "d9");
    ck_assert_ptr_null(policy_set_get(s, "policies", "b"));
    /* the clone keeps the bound */
    put(c, "policies", "x", "\"device_ids\":[\"d4\"]", "raw", 0, T0, T0 + H);
    const char *rec =
        "{\"v\":1,\"name\":\"y\",\"issued_at\":1,\"revision\":1,\"selector\":"
        "{\"device_ids\":[\"x\"]},\"level\":\"raw\",\"from\":\"2026-12-03T10:00:00Z\","
        "\"until\":\"2026-12-03T11:00:00Z\"}";
    ck_assert_int_eq(
        policy_set_apply(c, "policies", "y", 1, rec, strlen(rec), &code, msg, sizeof(msg)),
        TP_TOO_LARGE);
    /* freed in either order */
    policy_set_free(s);
    ck_assert_str_eq(policy_set_get(c, "policies", "b")->device_ids[0], "d2");
    policy_set_free(c);
}
END_TEST

START_TEST(test_window)
{
    struct policy_set *s = policy_set_new(10);
    put(s, "policies", "trucks", "\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}}", "raw", 1000,
        T0, T0 + H);
    struct policy_effect e;
    /* before from */
    e = eval(s, "region-a", "v1", "tp-truck", "1.0", T0 - 1);
    ck_assert_int_eq(e.level, POLICY_LEVEL_AGGREGATES);
    ck_assert_int_eq(e.report_every_ms, 3000);
    ck_assert_uint_eq(e.matched, 0);
    ck_assert_int_eq(e.next_change_ms, T0);
    /* at from */
    e = eval(s, "region-a", "v1", "tp-truck", "1.0", T0);
    ck_assert_int_eq(e.level, POLICY_LEVEL_RAW);
    ck_assert_int_eq(e.report_every_ms, 1000);
    ck_assert_uint_eq(e.matched, 1);
    ck_assert_int_eq(e.next_change_ms, T0 + H);
    /* the last ms */
    e = eval(s, "region-a", "v1", "tp-truck", "1.0", T0 + H - 1);
    ck_assert_int_eq(e.level, POLICY_LEVEL_RAW);
    ck_assert_int_eq(e.next_change_ms, T0 + H);
    /* at until: expired, with no record and no timer */
    e = eval(s, "region-a", "v1", "tp-truck", "1.0", T0 + H);
    ck_assert_int_eq(e.level, POLICY_LEVEL_AGGREGATES);
    ck_assert_int_eq(e.report_every_ms, 3000);
    ck_assert_uint_eq(e.matched, 0);
    ck_assert_int_eq(e.next_change_ms, INT64_MAX);
    /* a device the selector does not match: no change ever */
    e = eval(s, "region-a", "v2", "tp-car", "1.0", T0 - 1);
    ck_assert_uint_eq(e.matched, 0);
    ck_assert_int_eq(e.next_change_ms, INT64_MAX);
    /* the set's own next change */
    ck_assert_int_eq(policy_set_next_change(s, T0 - 5), T0);
    ck_assert_int_eq(policy_set_next_change(s, T0), T0 + H);
    ck_assert_int_eq(policy_set_next_change(s, T0 + H), INT64_MAX);
    policy_set_free(s);
}
END_TEST

START_TEST(test_several)
{
    struct policy_set *s = policy_set_new(10);
    /* aggregates, 2 s, all day */
    put(s, "policies", "slow", "\"attributes\":{\"model\":{\"prefix\":\"tp-\"}}", "aggregates",
        2000, T0, T0 + 24 * H);
    /* raw, no period, hour 1..2 */
    put(s, "policies", "raw", "\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}}", "raw", 0, T0 + H,
        T0 + 2 * H);
    /* aggregates, 1 s, hour 1.5..3 */
    put(s, "global.policies", "fast", "\"attributes\":{\"firmware\":{\"prefix\":\"2.1.\"}}",
        "aggregates", 1000, T0 + H + H / 2, T0 + 3 * H);
    struct policy_effect e;
    const struct policy *m[4];
    struct policy_device d = {
        .id = "v1", .attrs = {[POLICY_ATTR_MODEL] = "tp-truck", [POLICY_ATTR_FIRMWARE] = "2.1.7"}};
    policy_set_evaluate(s, "region-a", &d, T0, 3000, &e, m, 4);
    ck_assert_uint_eq(e.matched, 1);
    ck_assert_str_eq(m[0]->name, "slow");
    ck_assert_int_eq(e.level, POLICY_LEVEL_AGGREGATES);
    ck_assert_int_eq(e.report_every_ms, 2000);
    ck_assert_int_eq(e.next_change_ms, T0 + H);
    policy_set_evaluate(s, "region-a", &d, T0 + H, 3000, &e, m, 4);
    ck_assert_uint_eq(e.matched, 2);
    ck_assert_int_eq(e.level, POLICY_LEVEL_RAW); /* the highest */
    ck_assert_int_eq(e.report_every_ms, 2000);   /* "raw" gives none */
    ck_assert_int_eq(e.next_change_ms, T0 + H + H / 2);
    policy_set_evaluate(s, "region-a", &d, T0 + H + H / 2, 3000, &e, m, 1);
    ck_assert_uint_eq(e.matched, 3); /* counted beyond matched_cap */
    ck_assert_int_eq(e.level, POLICY_LEVEL_RAW);
    ck_assert_int_eq(e.report_every_ms, 1000); /* the smallest */
    ck_assert_int_eq(e.next_change_ms, T0 + 2 * H);
    e = eval(s, "region-a", "v1", "tp-truck", "2.1.7", T0 + 2 * H);
    ck_assert_uint_eq(e.matched, 2);
    ck_assert_int_eq(e.level, POLICY_LEVEL_AGGREGATES);
    ck_assert_int_eq(e.report_every_ms, 1000);
    ck_assert_int_eq(e.next_change_ms, T0 + 3 * H);
    e = eval(s, "region-a", "v1", "tp-truck", "2.1.7", T0 + 3 * H);
    ck_assert_int_eq(e.report_every_ms, 2000);
    ck_assert_int_eq(e.next_change_ms, T0 + 24 * H);
    /* a car of firmware 2.10: "2.1." is not its prefix */
    e = eval(s, "region-a", "v1", "tp-car", "2.10", T0 + H + H / 2);
    ck_assert_uint_eq(e.matched, 1);
    ck_assert_int_eq(e.report_every_ms, 2000);
    ck_assert_int_eq(policy_set_next_change(s, T0), T0 + H);
    policy_set_free(s);
}
END_TEST

START_TEST(test_selectors)
{
    struct policy_set *s = policy_set_new(10);
    put(s, "p", "eq", "\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}}", "raw", 0, T0, T0 + H);
    struct policy_effect e;
    /* equality: exact only */
    ck_assert_uint_eq(eval(s, NULL, "v", "tp-truck", NULL, T0).matched, 1);
    ck_assert_uint_eq(eval(s, NULL, "v", "tp-truck2", NULL, T0).matched, 0);
    ck_assert_uint_eq(eval(s, NULL, "v", "tp-truc", NULL, T0).matched, 0);
    ck_assert_uint_eq(eval(s, NULL, "v", NULL, NULL, T0).matched, 0); /* absent attribute */
    policy_set_free(s);
    s = policy_set_new(10);
    put(s, "p", "prefix", "\"attributes\":{\"model\":{\"prefix\":\"tp-truck\"}}", "raw", 0, T0,
        T0 + H);
    ck_assert_uint_eq(eval(s, NULL, "v", "tp-truck", NULL, T0).matched, 1);
    ck_assert_uint_eq(eval(s, NULL, "v", "tp-truck2", NULL, T0).matched, 1);
    ck_assert_uint_eq(eval(s, NULL, "v", "tp-truc", NULL, T0).matched, 0);
    ck_assert_uint_eq(eval(s, NULL, "v", "", NULL, T0).matched, 0);
    policy_set_free(s);
    /* device ids, and attributes AND ids */
    s = policy_set_new(10);
    put(s, "p", "ids", "\"device_ids\":[\"veh-3\",\"veh-1\",\"veh-2\"]", "raw", 0, T0, T0 + H);
    put(s, "p", "both", "\"device_ids\":[\"veh-1\"],\"attributes\":{\"model\":{\"eq\":\"a\"}}",
        "aggregates", 5000, T0, T0 + H);
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof(id), "veh-%d", i);
        e = eval(s, NULL, id, NULL, NULL, T0); /* no attributes: ids still match */
        ck_assert_uint_eq(e.matched, 1);
        ck_assert_int_eq(e.level, POLICY_LEVEL_RAW);
    }
    ck_assert_uint_eq(eval(s, NULL, "veh-4", NULL, NULL, T0).matched, 0);
    ck_assert_uint_eq(eval(s, NULL, "veh-", NULL, NULL, T0).matched, 0);
    ck_assert_uint_eq(eval(s, NULL, NULL, NULL, NULL, T0).matched, 0);
    e = eval(s, NULL, "veh-1", "a", NULL, T0);
    ck_assert_uint_eq(e.matched, 2);
    ck_assert_int_eq(e.report_every_ms, 5000);
    ck_assert_uint_eq(eval(s, NULL, "veh-2", "a", NULL, T0).matched, 1);
    policy_set_free(s);
    /* sites */
    s = policy_set_new(10);
    put(s, "p", "site", "\"device_ids\":[\"v\"],\"sites\":[\"region-a\",\"region-c\"]", "raw", 0,
        T0, T0 + H);
    ck_assert_uint_eq(eval(s, "region-a", "v", NULL, NULL, T0).matched, 1);
    ck_assert_uint_eq(eval(s, "region-c", "v", NULL, NULL, T0).matched, 1);
    ck_assert_uint_eq(eval(s, "region-b", "v", NULL, NULL, T0).matched, 0);
    ck_assert_uint_eq(eval(s, NULL, "v", NULL, NULL, T0).matched, 0);
    ck_assert_int_eq(eval(s, "region-b", "v", NULL, NULL, T0 - 1).next_change_ms, INT64_MAX);
    policy_set_free(s);
}
END_TEST

static Suite *set_suite(void)
{
    Suite *s = suite_create("policy_set");
    TCase *tc = tcase_create("set");
    tcase_add_test(tc, test_apply_and_tombstone);
    tcase_add_test(tc, test_clone);
    tcase_add_test(tc, test_window);
    tcase_add_test(tc, test_several);
    tcase_add_test(tc, test_selectors);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(set_suite)
