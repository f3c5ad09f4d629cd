/*
 * twin_check.h - what the tests of the twin's two stored forms share
 * (test_pack: the packed form in memory; test_record: the record in
 * PostgreSQL): the bit-for-bit comparison of a twin read back with the one
 * written, the bench's typical twin, and the tests of doubles, integers
 * and the sequence window that both forms run.
 *
 *     struct twin *t = twin_check_typical();
 *     ... write t, read it into b ...
 *     twin_check_same(b, t);
 */
#ifndef TP_TEST_TWIN_CHECK_H
#define TP_TEST_TWIN_CHECK_H

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "twin/twin.h"

/* Doubles that are short decimals, and every kind that is not. */
static const double twin_check_values[] = {0,
                                           88.5,
                                           12.4,
                                           -7.25,
                                           47.123456,
                                           0.1 + 0.2,
                                           1.0 / 3,
                                           -0.0,
                                           1e300,
                                           -1e-300,
                                           DBL_MIN / 4, /* subnormal */
                                           DBL_MAX,
                                           9007199254740993.0,
                                           123456789.123456789,
                                           0.000000001,
                                           4503599627370495.5,
                                           1e15,
                                           INFINITY,
                                           -INFINITY,
                                           NAN,
                                           -NAN};
#define TWIN_CHECK_N_VALUES (sizeof(twin_check_values) / sizeof(twin_check_values[0]))

static inline void twin_check_dbl(double got, double want, const char *what, size_t i)
{
    ck_assert_msg(!memcmp(&got, &want, sizeof(double)), "metric %zu %s: %.17g != %.17g", i, what,
                  got, want);
}

/* b, read back from t's stored form, equals t bit for bit (statistics only while count > 0,
 * the minute's only while one is open: they mean nothing otherwise and come back as 0; so do
 * absent location fields). Names are interned: the same pointers. */
static inline void twin_check_same(const struct twin *b, const struct twin *t)
{
    ck_assert_str_eq(b->device_id, t->device_id);
    ck_assert_int_eq(b->first_seen_ms, t->first_seen_ms);
    ck_assert_int_eq(b->last_seen_ms, t->last_seen_ms);
    ck_assert_int_eq(b->last_sequence, t->last_sequence);
    ck_assert_int_eq(b->events, t->events);
    ck_assert_int_eq(b->has_location, t->has_location);
    ck_assert_uint_eq(b->loc_mask, t->loc_mask);
    ck_assert_int_eq(b->location_ts_ms, t->location_ts_ms);
    ck_assert_int_eq(b->minute_ms, t->minute_ms);
    ck_assert_uint_eq(b->seen[0], t->seen[0]);
    ck_assert_uint_eq(b->seen[1], t->seen[1]);
    for (int i = 0; i < TWIN_LOC_N; i++)
        if (t->loc_mask & (1u << i))
            ck_assert_mem_eq(&b->loc[i], &t->loc[i], sizeof(double));
        else
            ck_assert(b->loc[i] == 0);
    ck_assert_ptr_eq(b->model, t->model);
    ck_assert_ptr_eq(b->firmware, t->firmware);
    ck_assert_ptr_eq(b->region, t->region);
    ck_assert_uint_eq(b->n_metrics, t->n_metrics);
    for (size_t i = 0; i < t->n_metrics; i++) {
        const struct twin_metric *x = &t->metrics[i], *y = &b->metrics[i];
        ck_assert_ptr_eq(y->name, x->name);
        twin_check_dbl(y->value, x->value, "value", i);
        ck_assert_int_eq(y->ts_ms, x->ts_ms);
        ck_assert_int_eq(y->count, x->count);
        if (x->count) {
            twin_check_dbl(y->min, x->min, "min", i);
            twin_check_dbl(y->max, x->max, "max", i);
            twin_check_dbl(y->sum, x->sum, "sum", i);
        } else {
            ck_assert(y->min == 0 && y->max == 0 && y->sum == 0);
        }
        int64_t mcount = t->minute_ms == TWIN_NO_MINUTE ? 0 : x->mcount;
        ck_assert_int_eq(y->mcount, mcount);
        if (mcount) {
            twin_check_dbl(y->mmin, x->mmin, "mmin", i);
            twin_check_dbl(y->mmax, x->mmax, "mmax", i);
            twin_check_dbl(y->msum, x->msum, "msum", i);
        } else {
            ck_assert(y->mmin == 0 && y->mmax == 0 && y->msum == 0);
        }
    }
}

/* The bench's twin (bench/twins.c): 8 metrics of one decimal after 4 readings, location,
 * attributes, and the open minute with the latest value of every metric. */
static inline struct twin *twin_check_typical(void)
{
    struct twin *t = twin_new("veh-0000042");
    t->first_seen_ms = 1790000000000;
    t->last_seen_ms = t->first_seen_ms + 15000;
    t->events = t->last_sequence = 4;
    const char *names[] = {"speed_kmh",      "fuel_level_pct",      "battery_voltage_v",
                           "engine_temp_c",  "engine_rpm",          "odometer_km",
                           "outside_temp_c", "tire_pressure_fl_kpa"};
    const double v[] = {88.5, 61.2, 14.1, 91.3, 3012, 12345.6, 21.4, 239.9};
    for (int i = 0; i < 8; i++) {
        struct twin_metric *m = twin_metric_set(t, names[i], v[i], t->last_seen_ms);
        for (int k = 0; k < 4; k++)
            twin_metric_observe(m, k == 3 ? v[i] : v[i] + (double)k); /* short decimals */
    }
    t->has_location = true;
    t->loc_mask = (1u << TWIN_LAT) | (1u << TWIN_LON) | (1u << TWIN_HEADING);
    t->loc[TWIN_LAT] = 48.137154;
    t->loc[TWIN_LON] = 11.576124;
    t->loc[TWIN_HEADING] = 271;
    t->location_ts_ms = t->last_seen_ms;
    twin_attr_set(t, "model", "tp-van");
    twin_attr_set(t, "firmware", "2.1.3");
    twin_attr_set(t, "region", "eu-central");
    t->minute_ms = t->last_seen_ms - t->last_seen_ms % 60000;
    for (int i = 0; i < 8; i++) {
        t->metrics[i].mmin = t->metrics[i].mmax = t->metrics[i].msum = v[i];
        t->metrics[i].mcount = 1;
    }
    return t;
}

/* The start of ts_ms's minute, rounded towards 0 (always representable). */
static inline int64_t twin_check_minute(int64_t ts_ms)
{
    return ts_ms / 60000 * 60000;
}

/* Integers at their extremes and every flag of the stored forms (ts, count, location ts,
 * open minute, attributes), through rt: write t, read it back, twin_check_same, return the
 * stored length. */
static inline void twin_check_integers(size_t (*rt)(const struct twin *))
{
    const int64_t ints[] = {
        0, 1, -1, INT64_MAX, INT64_MIN, FOLD_TS_MIN_MS, FOLD_TS_MAX_MS, -123456789, 59999};
    const size_t n = sizeof(ints) / sizeof(ints[0]);
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            struct twin *t = twin_new("x");
            t->last_seen_ms = ints[a];
            t->first_seen_ms = ints[b];
            t->events = ints[a] < 0 ? 0 : ints[a];
            t->last_sequence = ints[b];
            t->has_location = b % 2;
            t->loc_mask = b % 2 ? 1u << TWIN_ACCURACY : b % 3 ? 0x1f : 0;
            t->location_ts_ms = ints[(a + b) % n];
            for (int i = 0; i < TWIN_LOC_N; i++)
                if (t->loc_mask & (1u << i))
                    t->loc[i] = 3.5 * i - 90;
            struct twin_metric *m = twin_metric_set(t, "a", 1, ints[b]); /* ts != last_seen */
            m->count = 0;                                                /* no statistics */
            m = twin_metric_set(t, "b", 2, t->last_seen_ms);
            m->count = ints[(a + 1) % n] < 0 ? 3 : ints[(a + 1) % n]; /* count != events */
            m->min = m->max = m->sum = 2;
            twin_attr_set(t, "firmware", b % 2 ? "1.2.3" : "");
            twin_attr_set(t, "region", "eu-north");
            if (a % 3 == 0)
                twin_attr_set(t, "model", "eu-north"); /* = region: stored once */
            m->mcount = 2;
            m->mmin = m->mmax = 1;
            m->msum = 2;
            /* also far from last_seen, and at the ends of the fold's range */
            t->minute_ms = a % 2 ? TWIN_NO_MINUTE : twin_check_minute(ints[b]);
            rt(t);
            twin_free(t);
        }
}

/* Every kind of double in every field (values, statistics, the open minute, location), the
 * metrics' scale hints right and wrong, with and without an open minute; through rt (see
 * twin_check_integers). */
static inline void twin_check_doubles(size_t (*rt)(const struct twin *))
{
    struct twin *t = twin_new("dev");
    t->events = 5;
    t->last_seen_ms = 1790000000000;
    t->first_seen_ms = t->last_seen_ms - 86400000;
    t->last_sequence = 5;
    char name[16];
    for (size_t i = 0; i < TWIN_CHECK_N_VALUES; i++)
        for (size_t j = 0; j < TWIN_CHECK_N_VALUES; j += 2) {
            snprintf(name, sizeof(name), "m%zu_%zu", i, j);
            struct twin_metric *m = twin_metric_set(t, name, twin_check_values[i], t->last_seen_ms);
            m->count = (int64_t)(j % 5 + (j % 5 == 4 ? 0 : 1)); /* 5 = events, or not */
            m->min = twin_check_values[j];
            m->max = twin_check_values[(j + 1) % TWIN_CHECK_N_VALUES];
            m->sum = twin_check_values[(i + j) % TWIN_CHECK_N_VALUES];
            /* the open minute: none, one value (the latest or not), several */
            m->mcount = (int64_t)(j % 3);
            m->mmin = m->mcount == 1 ? twin_check_values[(i + j / 3) % TWIN_CHECK_N_VALUES]
                                     : twin_check_values[(j + 2) % TWIN_CHECK_N_VALUES];
            m->mmax = m->mcount == 1 ? m->mmin : twin_check_values[(i + 1) % TWIN_CHECK_N_VALUES];
            m->msum = m->mcount == 1 ? m->mmin : twin_check_values[(i + 2) % TWIN_CHECK_N_VALUES];
            m->scale = (uint8_t)(i % 11); /* hints of every kind, wrong ones too */
        }
    /* sums of short decimals: near a decimal, never one */
    struct twin_metric *m = twin_metric_set(t, "sum_of_tenths", 0.3, t->last_seen_ms);
    m->count = 2;
    m->min = 0.1;
    m->max = 0.2;
    m->sum = 0.1 + 0.2;
    m->mcount = 2;
    m->mmin = 0.1;
    m->mmax = 0.2;
    m->msum = 0.1 + 0.2;
    t->minute_ms = t->last_seen_ms - t->last_seen_ms % 60000 - 3 * 60000; /* a minute start */
    t->has_location = true;
    t->loc_mask = 0x1f;
    t->location_ts_ms = t->last_seen_ms - 1;
    for (int i = 0; i < TWIN_LOC_N; i++)
        t->loc[i] = twin_check_values[i * 4 + 1];
    rt(t);
    t->minute_ms = TWIN_NO_MINUTE; /* the same figures, no minute open: they are not stored */
    for (int i = 0; i < TWIN_LOC_N; i++)
        t->loc[i] = twin_check_values[i * 4 + 3];
    rt(t);
    twin_free(t);
}

/* The sequence window (fold.h) comes back bit for bit: no gap costs 2 bytes. */
static inline void twin_check_window(size_t (*rt)(const struct twin *))
{
    struct twin *t = twin_new("seq");
    t->events = t->last_sequence = 300;
    t->last_seen_ms = t->first_seen_ms = 1000;
    size_t full = rt(t); /* twin_new: every bit set */
    const uint64_t windows[][2] = {{0, 0},
                                   {~1ULL, UINT64_MAX},
                                   {0x8000000000000001ULL, 0x1ULL << 63},
                                   {0x0123456789abcdefULL, 0xfedcba9876543210ULL}};
    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
        t->seen[0] = windows[i][0];
        t->seen[1] = windows[i][1];
        size_t n = rt(t);
        if (i == 0) /* every bit clear: two varints of 10 bytes instead of 1 */
            ck_assert_uint_eq(n, full + 18);
    }
    twin_free(t);
}

#endif
