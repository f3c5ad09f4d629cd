#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "twin/record.h"
#include "twin/render.h"
#include "tests/support/check_main.h"

static struct twin_view_metric view_metrics[16];

/* t's record, viewed, rendered: the document (caller frees). The record is freed after
 * rendering, so every string the document holds was copied from the view's record. */
static char *render(const struct twin *t, const char *id, size_t id_len, int64_t updated_at)
{
    uint8_t *p = tp_malloc(twin_record_bound(t));
    size_t n = twin_record_write(p, t);
    struct twin_view v = {.metrics = view_metrics, .cap_metrics = 16};
    char err[256];
    ck_assert_msg(twin_record_view(&v, p, n, err, sizeof(err)) == TP_OK, "%s", err);
    struct buf b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(twin_render_json(&b, id, id_len, &v, updated_at), TP_OK);
    free(p);
    ck_assert_uint_eq(strlen(b.data), b.len);
    return buf_steal(&b, NULL);
}

static void check_time(int64_t ms, const char *want)
{
    struct buf b;
    buf_init(&b, 64);
    ck_assert_int_eq(twin_render_time(&b, ms), TP_OK);
    ck_assert_str_eq(b.data, want);
    buf_release(&b);
}

START_TEST(test_document)
{
    struct twin *t = twin_new("veh-1");
    t->first_seen_ms = 1790000000000;
    t->last_seen_ms = 1790000065123;
    t->events = 7;
    t->last_sequence = 9;
    struct twin_metric *m = twin_metric_set(t, "speed_kmh", 88.5, t->last_seen_ms);
    twin_metric_observe(m, 0.1);
    twin_metric_observe(m, 0.2);
    twin_metric_observe(m, 88.5);
    m = twin_metric_set(t, "odometer_km", -0.0, 1790000000001);
    twin_metric_observe(m, -0.0);
    m = twin_metric_set(t, "tire_wear_pct", 1e300, t->last_seen_ms);
    twin_metric_observe(m, 1e300);
    twin_metric_observe(m, 1.0 / 3);
    t->has_location = true;
    t->loc_mask = (1u << TWIN_LAT) | (1u << TWIN_LON) | (1u << TWIN_ALT) | (1u << TWIN_HEADING) |
                  (1u << TWIN_ACCURACY);
    t->loc[TWIN_LAT] = 48.137154;
    t->loc[TWIN_LON] = -11.5;
    t->loc[TWIN_ALT] = 519;
    t->loc[TWIN_HEADING] = 271.25;
    t->loc[TWIN_ACCURACY] = 0.5;
    t->location_ts_ms = 1790000060000;
    twin_attr_set(t, "model", "tp-van");
    twin_attr_set(t, "firmware", "2.1.3");
    twin_attr_set(t, "region", "eu-central");
    char *doc = render(t, "veh-1", 5, 1790000066000);
    ck_assert_str_eq(
        doc, "{\"device_id\":\"veh-1\",\"first_seen\":\"2026-09-21T14:13:20.000Z\","
             "\"last_seen\":\"2026-09-21T14:14:25.123Z\",\"last_sequence\":9,\"events\":7,"
             "\"metrics\":{\"speed_kmh\":{\"value\":88.5,\"ts\":1790000065123,\"min\":0.1,"
             "\"max\":88.5,\"sum\":88.8,\"count\":3},"
             "\"odometer_km\":{\"value\":-0.0,\"ts\":1790000000001,\"min\":-0.0,\"max\":-0.0,"
             "\"sum\":-0.0,\"count\":1},"
             "\"tire_wear_pct\":{\"value\":1e+300,\"ts\":1790000065123,"
             "\"min\":0.3333333333333333,\"max\":1e+300,"
             "\"sum\":1e+300,\"count\":2}},"
             "\"location\":{\"lat\":48.137154,\"lon\":-11.5,\"altitude_m\":519,"
             "\"heading_deg\":271.25,\"accuracy_m\":0.5,\"ts\":1790000060000},"
             "\"attributes\":{\"model\":\"tp-van\",\"firmware\":\"2.1.3\","
             "\"region\":\"eu-central\"},\"updated_at\":\"2026-09-21T14:14:26.000Z\"}");
    free(doc);
    twin_free(t);
}
END_TEST

/* Escaping, null statistics and values, no location, some attributes, no metrics. */
START_TEST(test_escapes_and_nulls)
{
    const char id[] = "a\"b\\c\n\x01\x1f/\xc3\xa9\xff";
    struct twin *t = twin_new("x");
    t->first_seen_ms = t->last_seen_ms = 0;
    t->events = t->last_sequence = 1;
    struct twin_metric *m = twin_metric_set(t, "n\"a\tme", NAN, 5); /* no finite value yet */
    m = twin_metric_set(t, "inf", -INFINITY, 0);
    twin_metric_observe(m, 2); /* a finite one before */
    twin_attr_set(t, "region", "\"\\\x7f");
    twin_attr_set(t, "firmware", "");
    char *doc = render(t, id, sizeof(id) - 1, -1);
    ck_assert_str_eq(
        doc, "{\"device_id\":\"a\\\"b\\\\c\\n\\u0001\\u001f/\xc3\xa9\xef\xbf\xbd\","
             "\"first_seen\":\"1970-01-01T00:00:00.000Z\","
             "\"last_seen\":\"1970-01-01T00:00:00.000Z\",\"last_sequence\":1,"
             "\"events\":1,\"metrics\":{\"n\\\"a\\tme\":{\"value\":null,\"ts\":5,"
             "\"min\":null,\"max\":null,\"sum\":null,\"count\":0},"
             "\"inf\":{\"value\":null,\"ts\":0,\"min\":2,\"max\":2,\"sum\":2,\"count\":1}},"
             "\"location\":null,\"attributes\":{\"firmware\":\"\",\"region\":\"\\\"\\\\\x7f\"},"
             "\"updated_at\":\"1969-12-31T23:59:59.999Z\"}");
    free(doc);
    twin_free(t);

    t = twin_new("y"); /* never seen: no metrics, no attributes; a location without fields */
    t->has_location = true;
    t->location_ts_ms = -5;
    doc = render(t, "y", 1, 0);
    ck_assert_str_eq(doc, "{\"device_id\":\"y\",\"first_seen\":\"1970-01-01T00:00:00.000Z\","
                          "\"last_seen\":\"1970-01-01T00:00:00.000Z\",\"last_sequence\":0,"
                          "\"events\":0,\"metrics\":{},\"location\":{\"ts\":-5},"
                          "\"attributes\":{},\"updated_at\":\"1970-01-01T00:00:00.000Z\"}");
    free(doc);
    twin_free(t);
}
END_TEST

START_TEST(test_times)
{
    check_time(0, "\"1970-01-01T00:00:00.000Z\"");
    check_time(-1, "\"1969-12-31T23:59:59.999Z\"");
    check_time(-86400000, "\"1969-12-31T00:00:00.000Z\"");
    check_time(-86400001, "\"1969-12-30T23:59:59.999Z\"");
    check_time(-14182940000, "\"1969-07-20T20:17:40.000Z\"");
    check_time(951782400000, "\"2000-02-29T00:00:00.000Z\"");
    check_time(951868799999, "\"2000-02-29T23:59:59.999Z\"");
    check_time(4107542400000, "\"2100-03-01T00:00:00.000Z\""); /* 2100: no leap day */
    check_time(1790000065123, "\"2026-09-21T14:14:25.123Z\"");
    check_time(FOLD_TS_MIN_MS, "\"0001-01-01T00:00:00.000Z\"");
    check_time(FOLD_TS_MAX_MS, "\"9999-12-31T23:59:59.999Z\"");
    check_time(-62135596800001, "\"0000-12-31T23:59:59.999Z\""); /* outside: still a date */
    check_time(253402300800000, "\"10000-01-01T00:00:00.000Z\"");
    /* every int64 is formatted without overflow (undefined behaviour would abort under UBSan) */
    struct buf b;
    buf_init(&b, 64);
    ck_assert_int_eq(twin_render_time(&b, INT64_MIN), TP_OK);
    ck_assert_int_eq(twin_render_time(&b, INT64_MAX), TP_OK);
    buf_release(&b);
}
END_TEST

/* Doubles come out as json_double writes them (render.c prints short decimals itself). */
START_TEST(test_doubles_as_json_double)
{
    static double vals[20000];
    size_t n = 0;
    const double fixed[] = {0,
                            -0.0,
                            1,
                            -1,
                            0.1,
                            0.0001,
                            0.00012,
                            0.00001,
                            0.000012345,
                            1e-9,
                            123456789.123456789,
                            1e14,
                            1e15,
                            999999999999999,
                            99999999999999.9,
                            -99999999999999.99,
                            1e15 - 0.5,
                            4503599627370495.5,
                            9007199254740992,
                            0.1 + 0.2,
                            1.0 / 3,
                            88.5,
                            3012,
                            -7.25,
                            48.137154,
                            11.576124,
                            1e300,
                            DBL_MIN,
                            DBL_MAX,
                            INFINITY,
                            -INFINITY,
                            NAN,
                            5e-324,
                            100,
                            1e5,
                            120.5e3};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        vals[n++] = fixed[i];
    uint64_t x = 42;
    while (n < sizeof(vals) / sizeof(vals[0])) { /* decimals of every scale and size */
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int s = (int)(x >> 60) % 10, digits = 1 + (int)((x >> 32) % 17);
        int64_t m = (int64_t)((x >> 8) % 100000000000000000ULL);
        for (int d = 17; d > digits; d--)
            m /= 10;
        double p10 = 1;
        for (int d = 0; d < s; d++)
            p10 *= 10;
        vals[n++] = (x & 1 ? -1 : 1) * (double)m / p10;
        vals[n++] = (double)m / p10 * 1.0000000000000002; /* one ulp off: no short decimal */
    }
    struct twin *t = twin_new("d");
    struct buf want;
    buf_init(&want, 1 << 20);
    for (size_t i = 0; i < n; i++) {
        t->n_metrics = 0;
        twin_metric_set(t, "m", vals[i], 0);
        char *doc = render(t, "d", 1, 0);
        buf_reset(&want);
        buf_append_str(&want, "\"metrics\":{\"m\":{\"value\":");
        json_double(&want, vals[i]);
        buf_append_str(&want, ",");
        ck_assert_msg(strstr(doc, want.data), "%.17g: %s", vals[i], doc);
        free(doc);
    }
    buf_release(&want);
    twin_free(t);
}
END_TEST

/* A buffer too small: TP_TOO_LARGE, and what it held before is untouched. */
START_TEST(test_too_large)
{
    struct twin *t = twin_new("z");
    twin_metric_set(t, "speed_kmh", 1, 0);
    uint8_t p[256];
    size_t n = twin_record_write(p, t);
    struct twin_view v = {.metrics = view_metrics, .cap_metrics = 16};
    ck_assert_int_eq(twin_record_view(&v, p, n, NULL, 0), TP_OK);
    struct buf b;
    buf_init(&b, 40);
    ck_assert_int_eq(buf_append_str(&b, "["), TP_OK);
    ck_assert_int_eq(twin_render_json(&b, "z", 1, &v, 0), TP_TOO_LARGE);
    ck_assert_uint_eq(b.len, 1);
    ck_assert_str_eq(b.data, "[");
    buf_release(&b);
    twin_free(t);
}
END_TEST

static Suite *render_suite(void)
{
    Suite *s = suite_create("render");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, test_document);
    tcase_add_test(tc, test_escapes_and_nulls);
    tcase_add_test(tc, test_times);
    tcase_add_test(tc, test_too_large);
    tcase_add_test(tc, test_doubles_as_json_double);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(render_suite)
