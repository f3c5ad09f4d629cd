#include <check.h>
#include <math.h>
#include <string.h>

#include "loadgen/sim.h"
#include "tests/support/check_main.h"

START_TEST(test_deterministic_and_ordered)
{
    struct sim_fleet *a = sim_fleet_new(3, 7, 1000, 5000);
    struct sim_fleet *b = sim_fleet_new(3, 7, 1000, 5000);
    journal_reading ra, rb;
    struct sim_storage sa, sb;
    for (int k = 1; k <= 50; k++) {
        sim_reading_next(a, 2, &ra, &sa);
        sim_reading_next(b, 2, &rb, &sb);
        ck_assert_str_eq(ra.device_id, "veh-000002");
        ck_assert_uint_eq(ra.sequence, (uint64_t)k);
        ck_assert_int_eq(ra.timestamp_ms, 1000 + (k - 1) * 5000);
        ck_assert_double_eq(ra.speed_kmh, rb.speed_kmh);
        ck_assert_double_eq(ra.location->lat, rb.location->lat);
        ck_assert_double_eq(ra.odometer_km, rb.odometer_km);
        ck_assert(ra.fuel_level_pct >= 0 && ra.fuel_level_pct <= 100);
        ck_assert(fabs(ra.location->lat) <= 90 && fabs(ra.location->lon) <= 180);
        ck_assert(ra.speed_kmh >= 0 && ra.speed_kmh <= 130);
    }
    ck_assert_str_eq(ra.model, "tp-van");
    ck_assert_str_eq(ra.region, "eu-central");
    sim_fleet_free(a);
    sim_fleet_free(b);
}
END_TEST

START_TEST(test_odometer_rises)
{
    struct sim_fleet *f = sim_fleet_new(1, 1, 0, 5000);
    journal_reading r;
    struct sim_storage s;
    sim_reading_next(f, 0, &r, &s);
    double first = r.odometer_km;
    for (int k = 0; k < 100; k++)
        sim_reading_next(f, 0, &r, &s);
    ck_assert(r.odometer_km > first);
    ck_assert_uint_eq(r.sequence, 101);
    sim_fleet_free(f);
}
END_TEST

START_TEST(test_meters)
{
    enum sim_profile p;
    ck_assert(sim_profile_parse("meter", &p));
    ck_assert_int_eq(p, SIM_METER);
    ck_assert(!sim_profile_parse("boat", &p));
    struct sim_fleet *f = sim_fleet_new_profile(SIM_METER, 5, 3, 0, 15 * 60 * 1000);
    journal_reading r;
    struct sim_storage s;
    double energy = 0;
    for (int k = 1; k <= 96; k++) { /* one day of quarter hours */
        sim_reading_next(f, 4, &r, &s);
        ck_assert_str_eq(r.device_id, "mtr-0000004");
        ck_assert_uint_eq(r.sequence, (uint64_t)k);
        ck_assert_int_eq(r.timestamp_ms, (int64_t)(k - 1) * 15 * 60 * 1000);
        ck_assert_uint_eq(r.n_metrics, SIM_METER_METRICS);
        ck_assert_str_eq(r.metrics[0]->key, "energy_kwh");
        ck_assert_str_eq(r.metrics[1]->key, "power_w");
        ck_assert(r.metrics[0]->value >= energy); /* energy never falls */
        energy = r.metrics[0]->value;
        ck_assert(r.metrics[1]->value > 0 && r.metrics[1]->value < 10000);
        ck_assert(r.metrics[2]->value > 220 && r.metrics[2]->value < 240);
        ck_assert(r.metrics[4]->value > 49.9 && r.metrics[4]->value < 50.1);
        ck_assert_uint_eq(r.has_speed_kmh, 0);
    }
    ck_assert_str_eq(r.model, "tp-meter-1ph");
    ck_assert(r.location && r.location->has_lat);
    sim_fleet_free(f);
}
END_TEST

static Suite *sim_suite(void)
{
    Suite *s = suite_create("sim");
    TCase *tc = tcase_create("vehicles");
    tcase_add_test(tc, test_deterministic_and_ordered);
    tcase_add_test(tc, test_odometer_rises);
    tcase_add_test(tc, test_meters);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(sim_suite)
