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

static Suite *sim_suite(void)
{
    Suite *s = suite_create("sim");
    TCase *tc = tcase_create("vehicles");
    tcase_add_test(tc, test_deterministic_and_ordered);
    tcase_add_test(tc, test_odometer_rises);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(sim_suite)
