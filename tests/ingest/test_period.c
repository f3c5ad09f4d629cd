/*
 * test_period.c - ingest/period.c: a payload's devices and their reporting
 * period over a policy set, and the exact members of the 202 body: one
 * device (its period, default included), a gateway's batch (the default and
 * the devices not at it, by id), invalid readings left out, attributes
 * merged over a device's readings, a reading without attributes matching
 * only device ids, from/until, sites, the smallest of several periods,
 * attributes longer than a condition's value, and the MQTT config message.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "ingest/period.h"
#include "tests/support/check_main.h"

#define T0 1796292000000LL /* 2026-12-03T10:00:00Z */
#define H  3600000LL

static void put(struct policy_set *s, const char *name, const char *selector, int64_t every,
                int64_t from, int64_t until)
{
    char f[40], u[40], period[48] = "", rec[1024];
    policy_time_format(from, f, sizeof(f));
    policy_time_format(until, u, sizeof(u));
    if (every)
        snprintf(period, sizeof(period), ",\"report_every_ms\":%lld", (long long)every);
    snprintf(rec, sizeof(rec),
             "{\"v\":1,\"name\":\"%s\",\"issued_at\":1,\"revision\":1,\"selector\":{%s},"
             "\"level\":\"raw\"%s,\"from\":\"%s\",\"until\":\"%s\"}",
             name, selector, period, f, u);
    enum policy_error code;
    char msg[256];
    if (policy_set_apply(s, "policies", name, strlen(name), rec, strlen(rec), &code, msg,
                         sizeof(msg)) != TP_OK)
        ck_abort_msg("apply %s: %s", rec, msg);
}

/* A reading of device with model (NULL: none). */
static journal_reading reading(const char *device, const char *model)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = (char *)device;
    r.model = (char *)model;
    return r;
}

/* The members period_answer_json appends, as text. */
static void answer(const struct policy_set *s, const char *site, int64_t t, journal_reading *rs,
                   const bool *valid, size_t n, char *out, size_t cap, struct period_answer *a)
{
    journal_reading *ptrs[16];
    ck_assert_uint_le(n, 16);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &rs[i];
    period_answer_compute(a, s, site, 3000, t, ptrs, valid, n);
    struct buf b;
    buf_init(&b, 4096);
    ck_assert_int_eq(period_answer_json(a, &b), TP_OK);
    snprintf(out, cap, "%s", b.data ? b.data : "");
    buf_release(&b);
}

static struct policy_set *trucks(void)
{
    struct policy_set *s = policy_set_new(100);
    put(s, "trucks", "\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}}", 1000, T0, T0 + H);
    return s;
}

START_TEST(test_one_device)
{
    struct policy_set *s = trucks();
    struct period_answer a;
    char out[512];
    journal_reading truck[] = {reading("veh-1", "tp-truck"), reading("veh-1", NULL)};
    answer(s, NULL, T0 + 1, truck, NULL, 2, out, sizeof(out), &a);
    ck_assert_str_eq(out, ",\"report_every_ms\":1000");
    ck_assert_uint_eq(a.devices, 1);
    ck_assert(period_answer_policy(&a));
    ck_assert_str_eq(a.attrs.v[POLICY_ATTR_MODEL], "tp-truck"); /* merged, kept for MQTT */
    period_answer_release(&a);
    /* a car: the default, present all the same */
    journal_reading car[] = {reading("veh-2", "tp-car")};
    answer(s, NULL, T0 + 1, car, NULL, 1, out, sizeof(out), &a);
    ck_assert_str_eq(out, ",\"report_every_ms\":3000");
    ck_assert(!period_answer_policy(&a));
    period_answer_release(&a);
    /* the truck before from and at until: the default */
    answer(s, NULL, T0 - 1, truck, NULL, 2, out, sizeof(out), &a);
    ck_assert_str_eq(out, ",\"report_every_ms\":3000");
    period_answer_release(&a);
    answer(s, NULL, T0 + H, truck, NULL, 2, out, sizeof(out), &a);
    ck_assert_str_eq(out, ",\"report_every_ms\":3000");
    period_answer_release(&a);
    /* no attributes in the payload: ingest keeps no state, so only device ids match */
    journal_reading bare[] = {reading("veh-1", NULL)};
    answer(s, NULL, T0 + 1, bare, NULL, 1, out, sizeof(out), &a);
    ck_assert_str_eq(out, ",\"report_every_ms\":3000");
    period_answer_release(&a);
    put(s, "one", "\"device_ids\":[\"veh-1\"]", 2000, T0, T0 + H);
    answer(s, NULL, T0 + 1, bare, NULL, 1, out, sizeof(out), &a);
    ck_assert_str_eq(out, ",\"report_every_ms\":2000");
    period_answer_release(&a);
    /* both match: the smallest period */
    answer(s, NULL, T0 + 1, truck, NULL, 2, out, sizeof(out), &a);
    ck_assert_str_eq(out, ",\"report_every_ms\":1000");
    period_answer_release(&a);
    /* no set (nothing read yet) and no policy at all: the default */
    answer(NULL, NULL, T0 + 1, truck, NULL, 2, out, sizeof(out), &a);
    ck_assert_str_eq(out, ",\"report_every_ms\":3000");
    period_answer_release(&a);
    policy_set_free(s);
}
END_TEST

START_TEST(test_gateway_batch)
{
    struct policy_set *s = trucks();
    struct period_answer a;
    char out[512];
    /* two trucks (one named once without its model), a car, and an invalid truck reading */
    journal_reading rs[] = {reading("veh-9", "tp-truck"), reading("veh-2", "tp-car"),
                            reading("veh-10", NULL),      reading("veh-10", "tp-truck"),
                            reading("veh-3", "tp-truck"), reading("veh-9", NULL)};
    bool valid[] = {true, true, true, true, false, true};
    answer(s, NULL, T0 + 1, rs, valid, 6, out, sizeof(out), &a);
    ck_assert_str_eq(out,
                     ",\"report_every_ms\":3000,\"report_every_ms_by_device\":{\"veh-10\":1000,"
                     "\"veh-9\":1000}");
    ck_assert_uint_eq(a.devices, 3);
    ck_assert(period_answer_policy(&a));
    period_answer_release(&a);
    /* several devices, none matching: the default and no map */
    journal_reading cars[] = {reading("veh-2", "tp-car"), reading("veh-4", "tp-car")};
    answer(s, NULL, T0 + 1, cars, NULL, 2, out, sizeof(out), &a);
    ck_assert_str_eq(out, ",\"report_every_ms\":3000");
    ck_assert_uint_eq(a.devices, 2);
    ck_assert(!period_answer_policy(&a));
    period_answer_release(&a);
    /* policies off: nothing written */
    period_answer_init(&a);
    struct buf b;
    buf_init(&b, 64);
    ck_assert_int_eq(period_answer_json(&a, &b), TP_OK);
    ck_assert_uint_eq(b.len, 0);
    buf_release(&b);
    policy_set_free(s);
}
END_TEST

START_TEST(test_sites_and_long_attributes)
{
    struct policy_set *s = policy_set_new(100);
    put(s, "a", "\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}},\"sites\":[\"region-a\"]", 1000,
        T0, T0 + H);
    struct period_attrs at;
    memset(&at, 0, sizeof(at));
    journal_reading r = reading("veh-1", "tp-truck");
    period_attrs_merge(&at, &r);
    ck_assert_int_eq(period_of(s, "region-a", "veh-1", &at, T0, 3000), 1000);
    ck_assert_int_eq(period_of(s, "region-b", "veh-1", &at, T0, 3000), 3000);
    ck_assert_int_eq(period_of(s, NULL, "veh-1", &at, T0, 3000), 3000);
    policy_set_free(s);

    /* a value of 128 bytes: an attribute of 200 bytes starting with it matches the prefix,
     * not the equality, although only PERIOD_ATTR_MAX bytes of it are kept */
    char v128[129], v200[201], sel[512];
    memset(v128, 'x', 128);
    v128[128] = '\0';
    memset(v200, 'x', 200);
    v200[200] = '\0';
    s = policy_set_new(100);
    snprintf(sel, sizeof(sel), "\"attributes\":{\"firmware\":{\"prefix\":\"%s\"}}", v128);
    put(s, "p", sel, 2000, T0, T0 + H);
    snprintf(sel, sizeof(sel), "\"attributes\":{\"firmware\":{\"eq\":\"%s\"}}", v128);
    put(s, "e", sel, 1000, T0, T0 + H);
    memset(&at, 0, sizeof(at));
    r = reading("veh-1", NULL);
    r.firmware = v200;
    period_attrs_merge(&at, &r);
    ck_assert_uint_eq(strlen(at.v[POLICY_ATTR_FIRMWARE]), PERIOD_ATTR_MAX);
    ck_assert_int_eq(period_of(s, NULL, "veh-1", &at, T0, 3000), 2000);
    /* exactly 128: both match, the smallest wins */
    memset(&at, 0, sizeof(at));
    r.firmware = v128;
    period_attrs_merge(&at, &r);
    ck_assert_int_eq(period_of(s, NULL, "veh-1", &at, T0, 3000), 1000);
    /* merging keeps what a reading does not carry; equality of two sets of attributes */
    struct period_attrs other = at;
    r = reading("veh-1", "tp-truck");
    period_attrs_merge(&other, &r);
    ck_assert_str_eq(other.v[POLICY_ATTR_FIRMWARE], v128);
    ck_assert(!period_attrs_equal(&at, &other));
    ck_assert(!period_attrs_empty(&other));
    memset(&other, 0, sizeof(other));
    ck_assert(period_attrs_empty(&other));
    policy_set_free(s);
}
END_TEST

START_TEST(test_config_message)
{
    struct buf b;
    buf_init(&b, 64);
    ck_assert_int_eq(period_config_json(1000, &b), TP_OK);
    ck_assert_str_eq(b.data, "{\"report_every_ms\":1000}");
    buf_release(&b);
}
END_TEST

static Suite *period_suite(void)
{
    Suite *s = suite_create("period");
    TCase *tc = tcase_create("period");
    tcase_add_test(tc, test_one_device);
    tcase_add_test(tc, test_gateway_batch);
    tcase_add_test(tc, test_sites_and_long_attributes);
    tcase_add_test(tc, test_config_message);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(period_suite)
