#include <check.h>
#include <math.h>
#include <string.h>

#include "ingest/validate.h"
#include "tests/support/check_main.h"

#define NOW 1700000000000LL

static const struct validate_limits limits = {
    .max_past_ms = 3600000, .max_future_ms = 60000, .max_string = 16, .max_metrics = 2};

static journal_reading good(void)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = "car-1:eu";
    r.has_sequence = 1;
    r.sequence = 1;
    r.has_timestamp_ms = 1;
    r.timestamp_ms = NOW;
    return r;
}

static const char *check(const journal_reading *r)
{
    enum ingest_error code;
    char msg[256];
    if (validate_reading(r, &limits, NOW, &code, msg, sizeof(msg)) == TP_OK)
        return "ok";
    ck_assert_uint_gt(strlen(msg), 0);
    return ingest_error_code(code);
}

START_TEST(test_identity_rules)
{
    journal_reading r = good();
    ck_assert_str_eq(check(&r), "ok");
    r.device_id = NULL;
    ck_assert_str_eq(check(&r), "missing_device_id");
    r.device_id = "";
    ck_assert_str_eq(check(&r), "missing_device_id");
    r.device_id = "car 1";
    ck_assert_str_eq(check(&r), "invalid_device_id");
    char longid[130];
    memset(longid, 'a', 129);
    longid[129] = '\0';
    r.device_id = longid;
    ck_assert_str_eq(check(&r), "invalid_device_id");
    longid[128] = '\0';
    ck_assert_str_eq(check(&r), "ok");
    r = good();
    r.has_sequence = 0;
    ck_assert_str_eq(check(&r), "missing_sequence");
    r.has_sequence = 1;
    r.sequence = 0;
    ck_assert_str_eq(check(&r), "invalid_sequence");
    r = good();
    r.has_timestamp_ms = 0;
    ck_assert_str_eq(check(&r), "missing_timestamp");
}
END_TEST

START_TEST(test_time_window)
{
    journal_reading r = good();
    r.timestamp_ms = NOW - 3600000;
    ck_assert_str_eq(check(&r), "ok");
    r.timestamp_ms = NOW - 3600001;
    ck_assert_str_eq(check(&r), "timestamp_out_of_range");
    r.timestamp_ms = NOW + 60000;
    ck_assert_str_eq(check(&r), "ok");
    r.timestamp_ms = NOW + 60001;
    ck_assert_str_eq(check(&r), "timestamp_out_of_range");
}
END_TEST

START_TEST(test_values)
{
    journal_reading r = good();
    r.has_speed_kmh = 1;
    r.speed_kmh = NAN;
    ck_assert_str_eq(check(&r), "non_finite_value");
    r.speed_kmh = INFINITY;
    ck_assert_str_eq(check(&r), "non_finite_value");
    r.speed_kmh = -1e308;
    ck_assert_str_eq(check(&r), "ok");
    Twinpipe__Telemetry__V1__Reading__Location loc =
        TWINPIPE__TELEMETRY__V1__READING__LOCATION__INIT;
    r.location = &loc;
    ck_assert_str_eq(check(&r), "invalid_location");
    loc.has_lat = loc.has_lon = 1;
    loc.lat = 91;
    ck_assert_str_eq(check(&r), "invalid_location");
    loc.lat = 90;
    loc.lon = -180;
    ck_assert_str_eq(check(&r), "ok");
    loc.has_altitude_m = 1;
    loc.altitude_m = NAN;
    ck_assert_str_eq(check(&r), "non_finite_value");
}
END_TEST

START_TEST(test_metrics_and_strings)
{
    journal_reading r = good();
    Twinpipe__Telemetry__V1__Reading__MetricsEntry e[3];
    Twinpipe__Telemetry__V1__Reading__MetricsEntry *ep[3];
    for (int i = 0; i < 3; i++) {
        Twinpipe__Telemetry__V1__Reading__MetricsEntry init =
            TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
        e[i] = init;
        e[i].key = "co2_ppm";
        e[i].has_value = 1;
        ep[i] = &e[i];
    }
    r.metrics = ep;
    r.n_metrics = 2;
    ck_assert_str_eq(check(&r), "ok");
    r.n_metrics = 3;
    ck_assert_str_eq(check(&r), "too_many_metrics");
    r.n_metrics = 1;
    e[0].key = "bad name";
    ck_assert_str_eq(check(&r), "invalid_metric_name");
    e[0].key = "ok_name";
    e[0].value = NAN;
    ck_assert_str_eq(check(&r), "non_finite_value");
    r.n_metrics = 0;
    r.model = "0123456789abcdefX"; /* 17 > 16 */
    ck_assert_str_eq(check(&r), "string_too_long");
    r.model = "caf\xc3";
    ck_assert_str_eq(check(&r), "invalid_utf8");
    r.model = "café";
    ck_assert_str_eq(check(&r), "ok");
}
END_TEST

static Suite *validate_suite(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_identity_rules);
    tcase_add_test(tc, test_time_window);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_metrics_and_strings);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(validate_suite)
