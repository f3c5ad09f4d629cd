#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "twin/names.h"
#include "twin/pack.h"
#include "tests/support/check_main.h"

/* Packs t, unpacks it into a fresh twin and checks every field bit for bit; returns the
 * packed length. */
static size_t round_trip(const struct twin *t)
{
    uint8_t *p = tp_malloc(pack_twin_bound(t));
    size_t n = pack_twin_write(p, t);
    ck_assert_uint_le(n, pack_twin_bound(t));
    struct twin *b = twin_new(t->device_id);
    ck_assert_uint_eq(pack_twin_read(b, p), n);
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
    ck_assert_ptr_eq(b->model, t->model);
    ck_assert_ptr_eq(b->firmware, t->firmware);
    ck_assert_ptr_eq(b->region, t->region);
    ck_assert_uint_eq(b->n_metrics, t->n_metrics);
    for (size_t i = 0; i < t->n_metrics; i++) {
        const struct twin_metric *x = &t->metrics[i], *y = &b->metrics[i];
        ck_assert_ptr_eq(y->name, x->name);
        ck_assert_msg(!memcmp(&y->value, &x->value, sizeof(double)), "%s value %.17g != %.17g",
                      x->name, y->value, x->value);
        ck_assert_int_eq(y->ts_ms, x->ts_ms);
        ck_assert_int_eq(y->count, x->count);
        if (x->count) {
            ck_assert_msg(!memcmp(&y->min, &x->min, sizeof(double)) &&
                              !memcmp(&y->max, &x->max, sizeof(double)) &&
                              !memcmp(&y->sum, &x->sum, sizeof(double)),
                          "%s stats %.17g %.17g %.17g != %.17g %.17g %.17g", x->name, y->min,
                          y->max, y->sum, x->min, x->max, x->sum);
        }
        ck_assert_int_eq(y->mcount, t->minute_ms == TWIN_NO_MINUTE ? 0 : x->mcount);
        if (y->mcount)
            ck_assert_msg(!memcmp(&y->mmin, &x->mmin, sizeof(double)) &&
                              !memcmp(&y->mmax, &x->mmax, sizeof(double)) &&
                              !memcmp(&y->msum, &x->msum, sizeof(double)),
                          "%s minute %.17g %.17g %.17g != %.17g %.17g %.17g", x->name, y->mmin,
                          y->mmax, y->msum, x->mmin, x->mmax, x->msum);
    }
    twin_free(b);
    free(p);
    return n;
}

/* Doubles that are short decimals, and every kind that is not. */
static const double values[] = {0,
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
                                NAN};
#define N_VALUES (sizeof(values) / sizeof(values[0]))

START_TEST(test_doubles_exact)
{
    struct twin *t = twin_new("dev");
    t->events = 5;
    t->last_seen_ms = 1790000000000;
    t->first_seen_ms = t->last_seen_ms - 86400000;
    t->last_sequence = 5;
    char name[16];
    for (size_t i = 0; i < N_VALUES; i++)
        for (size_t j = 0; j < N_VALUES; j += 3) {
            snprintf(name, sizeof(name), "m%zu_%zu", i, j);
            struct twin_metric *m = twin_metric_set(t, name, values[i], t->last_seen_ms);
            m->count = 5;
            m->min = values[j];
            m->max = values[(j + 1) % N_VALUES];
            m->sum = values[(i + j) % N_VALUES];
            /* the open minute: none, one value (the latest or not), several */
            m->mcount = (int64_t)(j % 3);
            m->mmin = m->mcount == 1 ? values[(i + j / 3) % N_VALUES] : values[(j + 2) % N_VALUES];
            m->mmax = m->mcount == 1 ? m->mmin : values[(i + 1) % N_VALUES];
            m->msum = m->mcount == 1 ? m->mmin : values[(i + 2) % N_VALUES];
        }
    t->minute_ms = t->last_seen_ms - t->last_seen_ms % 60000 - 3 * 60000; /* a minute start */
    t->has_location = true;
    t->loc_mask = 0x1f;
    t->location_ts_ms = t->last_seen_ms;
    for (int i = 0; i < TWIN_LOC_N; i++)
        t->loc[i] = values[i * 4 + 1];
    round_trip(t);
    twin_free(t);
}
END_TEST

START_TEST(test_integers_and_flags)
{
    const int64_t ints[] = {0, 1, -1, INT64_MAX, INT64_MIN, FOLD_TS_MIN_MS, FOLD_TS_MAX_MS};
    const size_t n = sizeof(ints) / sizeof(ints[0]);
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            struct twin *t = twin_new("x");
            t->last_seen_ms = ints[a];
            t->first_seen_ms = ints[b];
            t->events = ints[a] < 0 ? 0 : ints[a];
            t->last_sequence = ints[b];
            t->has_location = b % 2;
            t->loc_mask = b % 2 ? 1u << TWIN_ACCURACY : 0;
            t->location_ts_ms = ints[(a + b) % n];
            t->loc[TWIN_ACCURACY] = 3.5;
            struct twin_metric *m = twin_metric_set(t, "a", 1, ints[b]); /* ts != last_seen */
            m->count = 0;                                                /* no statistics */
            m = twin_metric_set(t, "b", 2, t->last_seen_ms);
            m->count = ints[(a + 1) % n] < 0 ? 3 : ints[(a + 1) % n]; /* count != events */
            m->min = m->max = m->sum = 2;
            twin_attr_set(t, "firmware", b % 2 ? "1.2.3" : "");
            twin_attr_set(t, "region", "eu-north");
            m->mcount = 2;
            m->mmin = m->mmax = 1;
            m->msum = 2;
            t->minute_ms = a % 2 ? TWIN_NO_MINUTE : (ints[b] / 60000) * 60000; /* also far away */
            round_trip(t);
            twin_free(t);
        }
}
END_TEST

/* The case the table is built for: 8 metrics of one decimal, in every reading. */
START_TEST(test_typical_twin_is_small)
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
    /* the open minute has the latest value of every metric only: a flag and a count each */
    t->minute_ms = t->last_seen_ms - t->last_seen_ms % 60000;
    for (int i = 0; i < 8; i++) {
        t->metrics[i].mmin = t->metrics[i].mmax = t->metrics[i].msum = v[i];
        t->metrics[i].mcount = 1;
    }
    size_t n = round_trip(t);
    /* each metric: id, flags, value/min/max as short varints, the sum raw (~15 bytes), its
     * open minute (1 byte) */
    ck_assert_uint_le(n, 170);
    twin_free(t);
}
END_TEST

/* The sequence window (twin.h) comes back bit for bit: no gap costs 2 bytes. */
START_TEST(test_sequence_window)
{
    struct twin *t = twin_new("seq");
    t->events = t->last_sequence = 300;
    t->last_seen_ms = t->first_seen_ms = 1000;
    size_t full = round_trip(t); /* twin_new: every bit set */
    const uint64_t windows[][2] = {{0, 0},
                                   {~1ULL, UINT64_MAX},
                                   {0x8000000000000001ULL, 0x1ULL << 63},
                                   {0x0123456789abcdefULL, 0xfedcba9876543210ULL}};
    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
        t->seen[0] = windows[i][0];
        t->seen[1] = windows[i][1];
        size_t n = round_trip(t);
        if (i == 0) /* every bit clear: two varints of 10 bytes instead of 1 */
            ck_assert_uint_eq(n, full + 18);
    }
    twin_free(t);
}
END_TEST

START_TEST(test_names_interned)
{
    const char *a = names_intern("speed_kmh");
    char copy[] = "speed_kmh";
    ck_assert_ptr_eq(names_intern(copy), a);
    ck_assert_ptr_eq(names_str(names_id(a)), a);
    ck_assert_ptr_ne(names_intern("speed_kmh2"), a);
    ck_assert_ptr_null(names_str(UINT32_MAX));
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    const char *b = names_intern(big);
    ck_assert_str_eq(b, big);
    ck_assert_ptr_eq(names_intern(big), b);
    ck_assert_ptr_eq(names_str(names_id(b)), b);
}
END_TEST

static Suite *pack_suite(void)
{
    Suite *s = suite_create("pack");
    TCase *tc = tcase_create("round_trip");
    tcase_add_test(tc, test_doubles_exact);
    tcase_add_test(tc, test_integers_and_flags);
    tcase_add_test(tc, test_typical_twin_is_small);
    tcase_add_test(tc, test_names_interned);
    tcase_add_test(tc, test_sequence_window);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(pack_suite)
