#include <check.h>

#include "loadgen/pace.h"
#include "tests/support/check_main.h"

/* Steps a connection's pace through `seconds` in 1 ms ticks, sending whatever is due at once
 * (an instant answer); returns the readings sent. */
static uint64_t run(struct pace *p, double seconds)
{
    for (int ms = 0; ms <= (int)(seconds * 1000); ms++) {
        size_t n;
        while ((n = pace_due(p, ms / 1000.0)) > 0)
            pace_sent(p, n);
    }
    return p->sent;
}

START_TEST(test_fleet_each_connection_its_devices_per_period)
{
    /* 10 devices every 500 ms over 3 connections: 4, 3 and 3 devices, i.e. 8, 6 and 6
     * readings/s each, one reading per device per POST (batch 100 cut to the devices) */
    struct pace p[3];
    size_t devs[3] = {4, 3, 3};
    for (size_t c = 0; c < 3; c++)
        pace_fleet(&p[c], c, 3, devs[c], 10, 500, 0, 100);
    ck_assert_double_eq(p[0].rate, 8.0);
    ck_assert_double_eq(p[1].rate, 6.0);
    ck_assert_uint_eq(p[0].batch, 4);
    ck_assert_uint_eq(p[2].batch, 3);
    /* staggered: the last connection goes at once, the first after 2/3 of its interval */
    ck_assert_uint_eq(pace_due(&p[2], 0), 3);
    ck_assert_uint_eq(pace_due(&p[1], 0), 0);
    ck_assert_uint_eq(pace_due(&p[0], 0), 0);
    ck_assert_uint_eq(pace_due(&p[0], 0.333), 0);
    ck_assert_uint_eq(pace_due(&p[0], 0.334), 4);
    /* after 10 s: every device reported 20 times, give or take the phase's batch */
    ck_assert_uint_eq(run(&p[0], 10), 80); /* 8/s * 10 + 4/3, in batches of 4 */
    ck_assert_uint_eq(run(&p[1], 10), 60); /* 6/s * 10 + 2, in batches of 3 */
    ck_assert_uint_eq(run(&p[2], 10), 63); /* 6/s * 10 + 3: the batch sent at 0 */
}
END_TEST

START_TEST(test_fleet_capped_keeps_shares)
{
    /* 1,000 devices every second (1,000/s) capped at 250/s: each connection a quarter of its
     * natural rate */
    struct pace a, b;
    pace_fleet(&a, 0, 2, 500, 1000, 1000, 250, 100);
    pace_fleet(&b, 1, 2, 500, 1000, 1000, 250, 100);
    ck_assert_double_eq(a.rate, 125.0);
    ck_assert_double_eq(b.rate, 125.0);
    ck_assert_uint_eq(run(&a, 8), 1000);
    ck_assert_uint_eq(run(&b, 8), 1100);
    /* a cap above the fleet's own rate changes nothing */
    pace_fleet(&a, 0, 2, 500, 1000, 1000, 5000, 100);
    ck_assert_double_eq(a.rate, 500.0);
}
END_TEST

START_TEST(test_fleet_late_connection_catches_up)
{
    /* a connection that could not send for 2 s (a slow answer) sends what came due since */
    struct pace p;
    pace_fleet(&p, 0, 1, 100, 100, 1000, 0, 50);
    ck_assert_uint_eq(pace_due(&p, 0), 50);
    pace_sent(&p, 50);
    ck_assert_uint_eq(pace_due(&p, 0.49), 0);
    int sends = 0;
    while (pace_due(&p, 2.0) > 0) {
        pace_sent(&p, 50);
        sends++;
    }
    ck_assert_int_eq(sends, 4); /* 250 due by 2 s, 50 already sent */
}
END_TEST

START_TEST(test_shared_and_unpaced)
{
    struct pace p;
    pace_shared(&p, 1000, 100);
    ck_assert_uint_eq(pace_due(&p, 0), 100); /* the first batch at once */
    pace_sent(&p, 100);
    ck_assert_uint_eq(pace_due(&p, 0.099), 0);
    ck_assert_uint_eq(pace_due(&p, 0.1), 100);
    ck_assert_uint_eq(run(&p, 5), 5100);
    pace_shared(&p, 0, 100);
    for (int i = 0; i < 1000; i++) {
        ck_assert_uint_eq(pace_due(&p, 0), 100);
        pace_sent(&p, 100);
    }
}
END_TEST

static Suite *pace_suite(void)
{
    Suite *s = suite_create("pace");
    TCase *tc = tcase_create("pace");
    tcase_add_test(tc, test_fleet_each_connection_its_devices_per_period);
    tcase_add_test(tc, test_fleet_capped_keeps_shares);
    tcase_add_test(tc, test_fleet_late_connection_catches_up);
    tcase_add_test(tc, test_shared_and_unpaced);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(pace_suite)
