#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "twin/fold.h"
#include "twin/history.h"
#include "tests/support/check_main.h"

static journal_reading reading(const char *id, uint64_t seq, int64_t ts)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = (char *)id;
    r.has_sequence = 1;
    r.sequence = seq;
    r.has_timestamp_ms = 1;
    r.timestamp_ms = ts;
    return r;
}

static double metric(const struct twin *t, const char *name, int64_t *ts)
{
    const struct twin_metric *m = twin_metric_get(t, name);
    ck_assert_msg(m != NULL, "metric %s missing", name);
    if (ts)
        *ts = m->ts_ms;
    return m->value;
}

START_TEST(test_first_reading)
{
    struct twin *t = twin_new("car-1");
    journal_reading r = reading("car-1", 5, 1000);
    r.has_speed_kmh = 1;
    r.speed_kmh = 50;
    r.has_odometer_km = 1;
    r.odometer_km = 12000.5;
    r.model = "roadster";
    ck_assert_int_eq(fold_apply(t, &r, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_int_eq(t->events, 1);
    ck_assert_int_eq(t->last_sequence, 5);
    ck_assert_int_eq(t->first_seen_ms, 1000);
    ck_assert_int_eq(t->last_seen_ms, 1000);
    ck_assert_uint_eq(t->n_metrics, 2);
    int64_t ts;
    ck_assert_double_eq(metric(t, "speed_kmh", &ts), 50);
    ck_assert_int_eq(ts, 1000);
    ck_assert_double_eq(metric(t, "odometer_km", NULL), 12000.5);
    ck_assert_str_eq(t->model, "roadster");
    ck_assert_ptr_null(t->firmware);
    ck_assert(!t->has_location);
    twin_free(t);
}
END_TEST

START_TEST(test_duplicates_change_nothing_and_late_readings_count_once)
{
    struct twin *t = twin_new("car-1");
    journal_reading r1 = reading("car-1", 10, 1000);
    r1.has_speed_kmh = 1;
    r1.speed_kmh = 10;
    ck_assert_int_eq(fold_apply(t, &r1, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    journal_reading dup = reading("car-1", 10, 5000);
    dup.has_speed_kmh = 1;
    dup.speed_kmh = 99;
    ck_assert_int_eq(fold_apply(t, &dup, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_DUPLICATE);
    /* an older sequence not seen yet counts (events, statistics), but the latest values,
     * last_seen and last_sequence stay the newest reading's; a metric it brings first takes
     * its value */
    journal_reading old = reading("car-1", 9, 6000);
    old.has_fuel_level_pct = 1;
    old.fuel_level_pct = 3;
    old.has_speed_kmh = 1;
    old.speed_kmh = 4;
    old.model = "late-model";
    ck_assert_int_eq(fold_apply(t, &old, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_int_eq(fold_apply(t, &old, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_DUPLICATE);
    ck_assert_int_eq(t->events, 2);
    ck_assert_int_eq(t->last_sequence, 10);
    ck_assert_int_eq(t->last_seen_ms, 1000);
    ck_assert_ptr_null(t->model);
    ck_assert_uint_eq(t->n_metrics, 2);
    ck_assert_double_eq(metric(t, "speed_kmh", NULL), 10);
    ck_assert_double_eq(metric(t, "fuel_level_pct", NULL), 3);
    ck_assert_int_eq(twin_metric_get(t, "speed_kmh")->count, 2);
    ck_assert_double_eq(twin_metric_get(t, "speed_kmh")->min, 4);
    ck_assert_double_eq(twin_metric_get(t, "speed_kmh")->sum, 14);
    /* a gap is fine: sequences only need to increase */
    journal_reading next = reading("car-1", 15, 7000);
    next.has_speed_kmh = 1;
    next.speed_kmh = 20;
    ck_assert_int_eq(fold_apply(t, &next, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_int_eq(t->events, 3);
    ck_assert_int_eq(t->first_seen_ms, 1000);
    ck_assert_int_eq(t->last_seen_ms, 7000);
    ck_assert_double_eq(metric(t, "speed_kmh", NULL), 20);
    twin_free(t);
}
END_TEST

START_TEST(test_metrics_keep_their_own_timestamps)
{
    struct twin *t = twin_new("m-1");
    journal_reading r1 = reading("m-1", 1, 1000);
    r1.has_battery_voltage_v = 1;
    r1.battery_voltage_v = 12.6;
    fold_apply(t, &r1, NULL, FOLD_MAX_JUMP_DEFAULT);
    journal_reading r2 = reading("m-1", 2, 2000);
    r2.has_engine_temp_c = 1;
    r2.engine_temp_c = 90;
    fold_apply(t, &r2, NULL, FOLD_MAX_JUMP_DEFAULT);
    int64_t ts;
    ck_assert_double_eq(metric(t, "battery_voltage_v", &ts), 12.6);
    ck_assert_int_eq(ts, 1000);
    ck_assert_double_eq(metric(t, "engine_temp_c", &ts), 90);
    ck_assert_int_eq(ts, 2000);
    twin_free(t);
}
END_TEST

START_TEST(test_map_metrics_location_attributes)
{
    struct twin *t = twin_new("car-2");
    Twinpipe__Telemetry__V1__Reading__MetricsEntry e1 =
        TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
    e1.key = "cabin_co2_ppm";
    e1.has_value = 1;
    e1.value = 612;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry e2 =
        TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
    e2.key = "zero_when_absent";
    Twinpipe__Telemetry__V1__Reading__MetricsEntry *entries[] = {&e1, &e2};
    Twinpipe__Telemetry__V1__Reading__Location loc =
        TWINPIPE__TELEMETRY__V1__READING__LOCATION__INIT;
    loc.has_lat = loc.has_lon = 1;
    loc.lat = 48.1;
    loc.lon = 11.5;
    journal_reading r = reading("car-2", 1, 1000);
    r.n_metrics = 2;
    r.metrics = entries;
    r.location = &loc;
    r.region = "eu-central";
    r.firmware = "1.0";
    fold_apply(t, &r, NULL, FOLD_MAX_JUMP_DEFAULT);
    ck_assert_double_eq(metric(t, "cabin_co2_ppm", NULL), 612);
    ck_assert_double_eq(metric(t, "zero_when_absent", NULL), 0);
    ck_assert(t->has_location);
    ck_assert_uint_eq(t->loc_mask, (1u << TWIN_LAT) | (1u << TWIN_LON));
    ck_assert_double_eq(t->loc[TWIN_LAT], 48.1);
    ck_assert_double_eq(t->loc[TWIN_LON], 11.5);
    ck_assert_int_eq(t->location_ts_ms, 1000);
    /* empty attribute strings keep the last non-empty value */
    journal_reading r2 = reading("car-2", 2, 2000);
    r2.region = "";
    r2.firmware = "1.1";
    fold_apply(t, &r2, NULL, FOLD_MAX_JUMP_DEFAULT);
    ck_assert_str_eq(t->region, "eu-central");
    ck_assert_str_eq(t->firmware, "1.1");
    ck_assert_int_eq(t->location_ts_ms, 1000); /* no location in r2: kept */
    twin_free(t);
}
END_TEST

START_TEST(test_invalid_readings)
{
    struct twin *t = twin_new("x");
    journal_reading r = reading("x", 0, 1000);
    ck_assert(!fold_valid(&r));
    ck_assert_int_eq(fold_apply(t, &r, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_INVALID);
    journal_reading r2 = reading("x", 1, 1000);
    r2.has_timestamp_ms = 0;
    ck_assert_int_eq(fold_apply(t, &r2, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_INVALID);
    journal_reading r3 = reading("", 1, 1000);
    ck_assert(!fold_valid(&r3));
    /* what postgresql would refuse is skipped, never fatal */
    journal_reading r4 = reading("bad\xff", 1, 1000);
    ck_assert(!fold_valid(&r4));
    journal_reading r5 = reading("x", 1, FOLD_TS_MAX_MS + 1);
    ck_assert(!fold_valid(&r5));
    journal_reading r6 = reading("x", 1, FOLD_TS_MIN_MS);
    ck_assert(fold_valid(&r6));
    journal_reading r7 = reading("x", 2, 1000);
    r7.model = "caf\xc3"; /* invalid UTF-8 attribute: ignored, the reading still folds */
    ck_assert_int_eq(fold_apply(t, &r7, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_ptr_null(t->model);
    ck_assert_int_eq(t->events, 1);
    twin_free(t);
}
END_TEST

/* min/max/sum/count of one metric */
static void assert_stats(const struct twin *t, const char *name, double min, double max, double sum,
                         int64_t count)
{
    const struct twin_metric *m = twin_metric_get(t, name);
    ck_assert_msg(m != NULL, "metric %s missing", name);
    ck_assert_double_eq(m->min, min);
    ck_assert_double_eq(m->max, max);
    ck_assert_double_eq(m->sum, sum);
    ck_assert_int_eq(m->count, count);
}

START_TEST(test_running_statistics)
{
    struct twin *t = twin_new("car-1");
    const double speeds[] = {50, 12.5, 80.25, 12.5, 33};
    for (int i = 0; i < 5; i++) {
        journal_reading r = reading("car-1", (uint64_t)(i + 1), 1000 * (i + 1));
        r.has_speed_kmh = 1;
        r.speed_kmh = speeds[i];
        if (i % 2 == 0) { /* battery on readings 1, 3, 5 only */
            r.has_battery_voltage_v = 1;
            r.battery_voltage_v = 12 - i * 0.25;
        }
        ck_assert_int_eq(fold_apply(t, &r, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    }
    assert_stats(t, "speed_kmh", 12.5, 80.25, 188.25, 5);
    assert_stats(t, "battery_voltage_v", 11, 12, 34.5, 3);
    ck_assert_double_eq(metric(t, "speed_kmh", NULL), 33);

    /* a duplicate and an older sequence with extreme values change nothing */
    journal_reading dup = reading("car-1", 5, 9000);
    dup.has_speed_kmh = 1;
    dup.speed_kmh = 1000;
    ck_assert_int_eq(fold_apply(t, &dup, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_DUPLICATE);
    journal_reading old = reading("car-1", 2, 9000);
    old.has_speed_kmh = 1;
    old.speed_kmh = -1000;
    ck_assert_int_eq(fold_apply(t, &old, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_DUPLICATE);
    assert_stats(t, "speed_kmh", 12.5, 80.25, 188.25, 5);
    ck_assert_double_eq(metric(t, "speed_kmh", NULL), 33);

    /* negative values and a map metric without a value (0) */
    Twinpipe__Telemetry__V1__Reading__MetricsEntry e =
        TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
    e.key = "temp_c";
    e.has_value = 1;
    e.value = -7.5;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry *ep[] = {&e};
    journal_reading r6 = reading("car-1", 6, 6000);
    r6.n_metrics = 1;
    r6.metrics = ep;
    fold_apply(t, &r6, NULL, FOLD_MAX_JUMP_DEFAULT);
    e.has_value = 0;
    journal_reading r7 = reading("car-1", 7, 7000);
    r7.n_metrics = 1;
    r7.metrics = ep;
    fold_apply(t, &r7, NULL, FOLD_MAX_JUMP_DEFAULT);
    assert_stats(t, "temp_c", -7.5, 0, -7.5, 2);
    assert_stats(t, "speed_kmh", 12.5, 80.25, 188.25, 5); /* not in r6, r7 */
    twin_free(t);
}
END_TEST

START_TEST(test_non_finite_values_stay_out_of_statistics)
{
    struct twin *t = twin_new("x");
    struct history *h = history_new();
    journal_reading r1 = reading("x", 1, 1000);
    r1.has_speed_kmh = 1;
    r1.speed_kmh = 4;
    fold_apply(t, &r1, h, FOLD_MAX_JUMP_DEFAULT);
    journal_reading r2 = reading("x", 2, 2000);
    r2.has_speed_kmh = 1;
    r2.speed_kmh = INFINITY;
    r2.has_odometer_km = 1;
    r2.odometer_km = NAN;
    ck_assert_int_eq(fold_apply(t, &r2, h, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert(isinf(metric(t, "speed_kmh", NULL))); /* the latest value, as before */
    assert_stats(t, "speed_kmh", 4, 4, 4, 1);
    ck_assert_int_eq(twin_metric_get(t, "odometer_km")->count, 0);
    /* the open minute holds speed_kmh = 4 only */
    ck_assert_uint_eq(history_count(h), 0);
    ck_assert_int_eq(t->minute_ms, 0);
    ck_assert_int_eq(twin_metric_get(t, "speed_kmh")->mcount, 1);
    ck_assert_double_eq(twin_metric_get(t, "speed_kmh")->msum, 4);
    ck_assert_int_eq(twin_metric_get(t, "odometer_km")->mcount, 0);
    twin_minute_close(t, h);
    ck_assert_uint_eq(history_count(h), 1);
    ck_assert_double_eq(h->entries[0].sum, 4);
    ck_assert_int_eq(h->entries[0].count, 1);
    history_free(h);
    twin_free(t);
}
END_TEST

/* The twin's figures of metric in its open minute. */
static void assert_open(const struct twin *t, const char *metric, double min, double max,
                        double sum, int64_t count)
{
    const struct twin_metric *m = twin_metric_get(t, metric);
    ck_assert_ptr_nonnull(m);
    ck_assert_double_eq(m->mmin, min);
    ck_assert_double_eq(m->mmax, max);
    ck_assert_double_eq(m->msum, sum);
    ck_assert_int_eq(m->mcount, count);
}

/* The history entry of (device, metric, minute), or NULL. */
static const struct history_entry *hist_get(const struct history *h, const char *dev,
                                            const char *metric, int64_t minute)
{
    for (size_t i = 0; i < h->n; i++) {
        const struct history_entry *e = &h->entries[i];
        if (!strcmp(history_str(h, e->device_id), dev) &&
            !strcmp(history_str(h, e->metric), metric) && e->minute_ms == minute)
            return e;
    }
    return NULL;
}

static void assert_entry(const struct history *h, const char *dev, const char *metric,
                         int64_t minute, double min, double max, double sum, int64_t count)
{
    const struct history_entry *e = hist_get(h, dev, metric, minute);
    ck_assert_msg(e != NULL, "no history for %s %s %lld", dev, metric, (long long)minute);
    ck_assert_double_eq(e->min, min);
    ck_assert_double_eq(e->max, max);
    ck_assert_double_eq(e->sum, sum);
    ck_assert_int_eq(e->count, count);
}

START_TEST(test_history_per_minute)
{
    struct history *h = history_new();
    struct twin *a = twin_new("car-a"), *b = twin_new("car-b");
    const int64_t m0 = 1700000040000; /* a minute start */
    /* car-a: 3 readings in minute 0, 1 in minute 1; car-b: 1 in minute 0 */
    const int64_t ts[] = {m0, m0 + 30000, m0 + 59999, m0 + 60000};
    const double v[] = {10, 2.5, 7, 1};
    for (int i = 0; i < 4; i++) {
        journal_reading r = reading("car-a", (uint64_t)(i + 1), ts[i]);
        r.has_speed_kmh = 1;
        r.speed_kmh = v[i];
        if (i == 1) {
            r.has_fuel_level_pct = 1;
            r.fuel_level_pct = 55;
        }
        ck_assert_int_eq(fold_apply(a, &r, h, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    }
    journal_reading rb = reading("car-b", 1, m0 + 1);
    rb.has_speed_kmh = 1;
    rb.speed_kmh = 99;
    fold_apply(b, &rb, h, FOLD_MAX_JUMP_DEFAULT);
    /* duplicates add nothing to the history */
    journal_reading dup = reading("car-a", 3, m0 + 1000);
    dup.has_speed_kmh = 1;
    dup.speed_kmh = 500;
    ck_assert_int_eq(fold_apply(a, &dup, h, FOLD_MAX_JUMP_DEFAULT), FOLD_DUPLICATE);
    /* minute 0 of car-a was closed by its reading of minute 1, which is open now, as is
     * car-b's minute 0: only the closed minute is in the map */
    ck_assert_uint_eq(history_count(h), 2);
    assert_entry(h, "car-a", "speed_kmh", m0, 2.5, 10, 19.5, 3);
    assert_entry(h, "car-a", "fuel_level_pct", m0, 55, 55, 55, 1);
    ck_assert_int_eq(a->minute_ms, m0 + 60000);
    assert_open(a, "speed_kmh", 1, 1, 1, 1);
    ck_assert_int_eq(twin_metric_get(a, "fuel_level_pct")->mcount, 0);
    ck_assert_int_eq(b->minute_ms, m0);
    assert_open(b, "speed_kmh", 99, 99, 99, 1);
    /* a late reading (minute 0 again) adds to the map, not to the open minute */
    journal_reading late = reading("car-a", 5, m0 + 2000);
    late.has_speed_kmh = 1;
    late.speed_kmh = 0.5;
    ck_assert_int_eq(fold_apply(a, &late, h, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    assert_entry(h, "car-a", "speed_kmh", m0, 0.5, 10, 20, 4);
    assert_open(a, "speed_kmh", 1, 1, 1, 1);
    ck_assert_int_eq(a->minute_ms, m0 + 60000);
    /* two minutes later: minute 1 closes, minute 3 opens */
    journal_reading next = reading("car-a", 6, m0 + 180000);
    next.has_speed_kmh = 1;
    next.speed_kmh = 3;
    ck_assert_int_eq(fold_apply(a, &next, h, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_uint_eq(history_count(h), 3);
    assert_entry(h, "car-a", "speed_kmh", m0 + 60000, 1, 1, 1, 1);
    ck_assert_int_eq(a->minute_ms, m0 + 180000);
    assert_open(a, "speed_kmh", 3, 3, 3, 1);
    /* the twin's running statistics cover all minutes */
    assert_stats(a, "speed_kmh", 0.5, 10, 24, 6);
    history_clear(h);
    ck_assert_uint_eq(history_count(h), 0);
    ck_assert_ptr_null(hist_get(h, "car-a", "speed_kmh", m0));
    twin_free(a);
    twin_free(b);
    history_free(h);
}
END_TEST

/* Issue 13 #7: POST sequence 2, then sequence 1: both count, exactly once, in events, the
 * statistics and their minutes (the open one, and a closed one through the map). */
START_TEST(test_out_of_order_counts_once_in_statistics_and_minutes)
{
    const int64_t m0 = 1700000040000; /* a minute's start */
    struct twin *t = twin_new("car-9");
    struct history *h = history_new();
    journal_reading r2 = reading("car-9", 2, m0 + 20000);
    r2.has_speed_kmh = 1;
    r2.speed_kmh = 20;
    ck_assert_int_eq(fold_apply(t, &r2, h, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    journal_reading r1 = reading("car-9", 1, m0 + 10000);
    r1.has_speed_kmh = 1;
    r1.speed_kmh = 10;
    ck_assert_int_eq(fold_apply(t, &r1, h, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_int_eq(fold_apply(t, &r1, h, FOLD_MAX_JUMP_DEFAULT), FOLD_DUPLICATE);
    ck_assert_int_eq(fold_apply(t, &r2, h, FOLD_MAX_JUMP_DEFAULT), FOLD_DUPLICATE);
    ck_assert_int_eq(t->events, 2);
    ck_assert_int_eq(t->last_sequence, 2);
    ck_assert_int_eq(t->last_seen_ms, m0 + 20000);
    ck_assert_double_eq(metric(t, "speed_kmh", NULL), 20);
    assert_stats(t, "speed_kmh", 10, 20, 30, 2);
    ck_assert_int_eq(t->minute_ms, m0);
    assert_open(t, "speed_kmh", 10, 20, 30, 2);
    ck_assert_uint_eq(history_count(h), 0);
    /* sequence 5 opens the next minute; then 4 (the closed minute) and 3 (the open one) */
    journal_reading r5 = reading("car-9", 5, m0 + 61000);
    r5.has_speed_kmh = 1;
    r5.speed_kmh = 50;
    ck_assert_int_eq(fold_apply(t, &r5, h, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    journal_reading r4 = reading("car-9", 4, m0 + 30000);
    r4.has_speed_kmh = 1;
    r4.speed_kmh = 40;
    ck_assert_int_eq(fold_apply(t, &r4, h, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    journal_reading r3 = reading("car-9", 3, m0 + 60500);
    r3.has_speed_kmh = 1;
    r3.speed_kmh = 30;
    ck_assert_int_eq(fold_apply(t, &r3, h, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_int_eq(fold_apply(t, &r4, h, FOLD_MAX_JUMP_DEFAULT), FOLD_DUPLICATE);
    ck_assert_int_eq(t->events, 5);
    ck_assert_int_eq(t->last_sequence, 5);
    ck_assert_double_eq(metric(t, "speed_kmh", NULL), 50);
    assert_stats(t, "speed_kmh", 10, 50, 150, 5);
    ck_assert_uint_eq(history_count(h), 1);
    assert_entry(h, "car-9", "speed_kmh", m0, 10, 40, 70, 3);
    ck_assert_int_eq(t->minute_ms, m0 + 60000);
    assert_open(t, "speed_kmh", 30, 50, 80, 2);
    ck_assert_uint_eq(t->seen[0], UINT64_MAX); /* 1..4 seen, and sequences <= 0 */
    ck_assert_uint_eq(t->seen[1], UINT64_MAX);
    twin_free(t);
    history_free(h);
}
END_TEST

/* The window's edges: 128 sequences below the highest are accepted once, older ones are
 * too late and change nothing; a slide of more than 64 and of more than 128 keeps the bits. */
START_TEST(test_sequence_window_edges)
{
    struct twin *t = twin_new("w");
    journal_reading r = reading("w", 1000, 5000);
    r.has_speed_kmh = 1;
    r.speed_kmh = 1;
    ck_assert_int_eq(fold_apply(t, &r, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_uint_eq(t->seen[0], 0);
    ck_assert_uint_eq(t->seen[1], 0);
    journal_reading edge = reading("w", 1000 - 128, 4000); /* bit 127 */
    edge.has_speed_kmh = 1;
    edge.speed_kmh = 2;
    ck_assert_int_eq(fold_apply(t, &edge, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_uint_eq(t->seen[1], 1ULL << 63);
    ck_assert_int_eq(fold_apply(t, &edge, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_DUPLICATE);
    journal_reading old = reading("w", 1000 - 129, 4000);
    old.has_speed_kmh = 1;
    old.speed_kmh = -5;
    ck_assert_int_eq(fold_apply(t, &old, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_TOO_LATE);
    ck_assert_str_eq(fold_result_name(FOLD_TOO_LATE), "too_late");
    ck_assert_int_eq(t->events, 2);
    assert_stats(t, "speed_kmh", 1, 2, 3, 2);
    /* up by 70: 1000 becomes bit 69, 872 falls out (it was bit 127) */
    journal_reading up = reading("w", 1070, 6000);
    ck_assert_int_eq(fold_apply(t, &up, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_uint_eq(t->seen[0], 0);
    ck_assert_uint_eq(t->seen[1], 1ULL << 5);
    journal_reading again = reading("w", 1000, 6000);
    ck_assert_int_eq(fold_apply(t, &again, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_DUPLICATE);
    journal_reading gap = reading("w", 1001, 6000);
    ck_assert_int_eq(fold_apply(t, &gap, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_uint_eq(t->seen[1], 3ULL << 4);
    /* up by 200: the whole window slides out (1070 is bit 199) */
    journal_reading far = reading("w", 1270, 7000);
    ck_assert_int_eq(fold_apply(t, &far, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_uint_eq(t->seen[0], 0);
    ck_assert_uint_eq(t->seen[1], 0);
    journal_reading o = reading("w", 1070, 7000);
    ck_assert_int_eq(fold_apply(t, &o, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_TOO_LATE);
    ck_assert_int_eq(t->events, 5);
    ck_assert_int_eq(t->last_sequence, 1270);
    twin_free(t);
}
END_TEST

/* One reading at 2^63-1 must not freeze a twin: a jump of more than max_jump is refused. */
START_TEST(test_sequence_jump_refused)
{
    struct twin *t = twin_new("j");
    journal_reading r = reading("j", 7, 1000);
    ck_assert_int_eq(fold_apply(t, &r, NULL, 100), FOLD_APPLIED);
    journal_reading huge = reading("j", (uint64_t)INT64_MAX, 2000);
    huge.has_speed_kmh = 1;
    huge.speed_kmh = 1;
    ck_assert_int_eq(fold_apply(t, &huge, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_JUMP);
    ck_assert_str_eq(fold_result_name(FOLD_JUMP), "sequence_jump");
    journal_reading j = reading("j", 108, 2000);
    ck_assert_int_eq(fold_apply(t, &j, NULL, 100), FOLD_JUMP);
    ck_assert_int_eq(t->events, 1);
    ck_assert_int_eq(t->last_sequence, 7);
    ck_assert_uint_eq(t->n_metrics, 0);
    journal_reading ok = reading("j", 107, 3000);
    ck_assert_int_eq(fold_apply(t, &ok, NULL, 100), FOLD_APPLIED);
    ck_assert_int_eq(t->last_sequence, 107);
    ck_assert_int_eq(t->events, 2);
    journal_reading next = reading("j", 1ULL << 33, 4000);
    ck_assert_int_eq(fold_apply(t, &next, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_JUMP);
    journal_reading within = reading("j", (1ULL << 32) + 107, 4000);
    ck_assert_int_eq(fold_apply(t, &within, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    twin_free(t);
}
END_TEST

/* A producer other than tp-ingest may send a new map key with every reading, or huge
 * strings: the twin stays within what its record can hold (twin.h), and stays readable. */
START_TEST(test_metrics_and_strings_bounded)
{
    struct twin *t = twin_new("car-b");
    enum { PER = 100, READINGS = 11 }; /* 1,100 distinct keys */
    static char keys[READINGS * PER][16];
    Twinpipe__Telemetry__V1__Reading__MetricsEntry e[PER];
    Twinpipe__Telemetry__V1__Reading__MetricsEntry *ep[PER];
    for (int k = 0; k < READINGS; k++) {
        for (int i = 0; i < PER; i++) {
            snprintf(keys[k * PER + i], sizeof(keys[0]), "m%d", k * PER + i);
            e[i] = (Twinpipe__Telemetry__V1__Reading__MetricsEntry)
                TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
            e[i].key = keys[k * PER + i];
            e[i].has_value = 1;
            e[i].value = k;
            ep[i] = &e[i];
        }
        journal_reading r = reading("car-b", (uint64_t)k + 1, 1000 * (k + 1));
        r.n_metrics = PER;
        r.metrics = ep;
        ck_assert_int_eq(fold_apply(t, &r, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    }
    ck_assert_uint_eq(t->n_metrics, TWIN_METRICS_MAX);
    ck_assert_ptr_null(twin_metric_get(t, "m1024"));
    ck_assert_double_eq(metric(t, "m1023", NULL), 10);
    /* an existing metric still takes values; a long key and a long attribute do not land */
    char long_key[FOLD_METRIC_NAME_MAX + 2], long_attr[FOLD_ATTR_MAX + 2];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    memset(long_attr, 'a', sizeof(long_attr) - 1);
    long_attr[sizeof(long_attr) - 1] = '\0';
    Twinpipe__Telemetry__V1__Reading__MetricsEntry a =
        TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
    a.key = "m0";
    a.has_value = 1;
    a.value = 42;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry *one[] = {&a};
    journal_reading r = reading("car-b", 20, 30000);
    r.n_metrics = 1;
    r.metrics = one;
    r.model = long_attr;
    r.region = "eu";
    ck_assert_int_eq(fold_apply(t, &r, NULL, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
    ck_assert_double_eq(metric(t, "m0", NULL), 42);
    ck_assert_ptr_null(t->model);
    ck_assert_str_eq(t->region, "eu");
    twin_free(t);

    t = twin_new("car-c");
    a.key = long_key;
    r = reading("car-c", 1, 1000);
    r.n_metrics = 1;
    r.metrics = one;
    fold_apply(t, &r, NULL, FOLD_MAX_JUMP_DEFAULT);
    ck_assert_uint_eq(t->n_metrics, 0);
    long_key[FOLD_METRIC_NAME_MAX] = '\0'; /* exactly the bound: kept */
    r = reading("car-c", 2, 2000);
    r.n_metrics = 1;
    r.metrics = one;
    fold_apply(t, &r, NULL, FOLD_MAX_JUMP_DEFAULT);
    ck_assert_uint_eq(t->n_metrics, 1);
    ck_assert_double_eq(metric(t, long_key, NULL), 42);
    twin_free(t);
}
END_TEST

static Suite *fold_suite(void)
{
    Suite *s = suite_create("fold");
    TCase *tc = tcase_create("apply");
    tcase_add_test(tc, test_first_reading);
    tcase_add_test(tc, test_duplicates_change_nothing_and_late_readings_count_once);
    tcase_add_test(tc, test_metrics_keep_their_own_timestamps);
    tcase_add_test(tc, test_map_metrics_location_attributes);
    tcase_add_test(tc, test_invalid_readings);
    tcase_add_test(tc, test_running_statistics);
    tcase_add_test(tc, test_non_finite_values_stay_out_of_statistics);
    tcase_add_test(tc, test_history_per_minute);
    tcase_add_test(tc, test_out_of_order_counts_once_in_statistics_and_minutes);
    tcase_add_test(tc, test_sequence_window_edges);
    tcase_add_test(tc, test_sequence_jump_refused);
    tcase_add_test(tc, test_metrics_and_strings_bounded);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(fold_suite)
