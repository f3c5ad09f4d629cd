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

/* One connection stepped in 1 ms ticks for `ms`, sending whatever is due at once: the tick
 * and size of each send, the old way (struct pace, devices in turn) and by device. Returns
 * the sends; asserts both agree on every send and every device. */
static size_t same_schedule(size_t conn, size_t conns, size_t n, size_t devices, int64_t period,
                            double rate, size_t batch, int ms)
{
    struct pace p;
    struct pace_devices d;
    pace_fleet(&p, conn, conns, n, devices, period, rate, batch);
    pace_devices_init(&d, conn, conns, n, devices, period, rate, batch);
    ck_assert_uint_eq(d.batch, p.batch);
    size_t sends = 0;
    uint64_t k = 0;
    for (int t = 0; t <= ms; t++) {
        for (;;) {
            size_t a = pace_due(&p, t / 1000.0);
            size_t b = pace_devices_due(&d, (int64_t)t * 1000);
            ck_assert_msg(a == b, "tick %d: %zu due the old way, %zu by device", t, a, b);
            if (!a)
                break;
            pace_sent(&p, a);
            for (size_t i = 0; i < b; i++, k++)
                ck_assert_uint_eq(pace_devices_take(&d), k % n); /* in turn, as before */
            sends++;
        }
    }
    pace_devices_release(&d);
    return sends;
}

START_TEST(test_devices_same_schedule)
{
    /* while no device is told another period, by device is the old schedule exactly */
    ck_assert_uint_eq(same_schedule(0, 3, 4, 10, 500, 0, 100, 10000), 20);
    ck_assert_uint_eq(same_schedule(2, 3, 3, 10, 500, 0, 100, 10000), 21);
    ck_assert_uint_eq(same_schedule(0, 2, 500, 1000, 1000, 250, 100, 8000), 10);
    ck_assert_uint_eq(same_schedule(0, 1, 100, 100, 1000, 0, 50, 10000), 21);
    ck_assert_uint_eq(same_schedule(0, 1, 7, 7, 700, 0, 3, 10000), 34); /* 3 does not divide 7 */
    ck_assert_uint_eq(same_schedule(1, 4, 3, 12, 3000, 0, 1, 10000), 10);
}
END_TEST

START_TEST(test_devices_told_periods)
{
    /* 3 devices every 3 s on one connection, one reading per send: due at 0, 1 and 2 s */
    struct pace_devices d;
    pace_devices_init(&d, 0, 1, 3, 3, 3000, 0, 1);
    ck_assert_int_eq(pace_devices_next_us(&d, 0), 0);
    ck_assert_int_eq(pace_devices_next_us(&d, 1), 1000000);
    ck_assert_int_eq(pace_devices_next_us(&d, 2), 2000000);
    /* told before its first reading: its first stays where it was */
    ck_assert(pace_devices_set_period(&d, 2, 2000));
    ck_assert_int_eq(pace_devices_next_us(&d, 2), 2000000);
    ck_assert(pace_devices_set_period(&d, 2, 3000));
    ck_assert_uint_eq(pace_devices_due(&d, 0), 1);
    ck_assert_uint_eq(pace_devices_take(&d), 0);
    ck_assert_int_eq(pace_devices_next_us(&d, 0), 3000000);
    /* device 0 told 1000 ms: its next reading 1 s after its last one's due time */
    ck_assert(pace_devices_set_period(&d, 0, 1000));
    ck_assert(!pace_devices_set_period(&d, 0, 1000)); /* unchanged */
    ck_assert_int_eq(pace_devices_next_us(&d, 0), 1000000);
    ck_assert_uint_eq(pace_devices_due(&d, 999999), 0);
    ck_assert_uint_eq(pace_devices_due(&d, 1000000), 1);
    ck_assert_uint_eq(pace_devices_take(&d), 0); /* before device 1, due then too */
    ck_assert_int_eq(pace_devices_next_us(&d, 0), 2000000);
    ck_assert_uint_eq(pace_devices_take(&d), 1);
    ck_assert_int_eq(pace_devices_next_us(&d, 1), 4000000);
    /* then 3000 ms: due 3 s after its last one (1 s) */
    ck_assert(pace_devices_set_period(&d, 0, 3000));
    ck_assert_int_eq(pace_devices_next_us(&d, 0), 4000000);
    ck_assert_uint_eq(pace_devices_due(&d, 1999999), 0);
    ck_assert_uint_eq(pace_devices_due(&d, 2000000), 1);
    ck_assert_uint_eq(pace_devices_take(&d), 2); /* device 2 unaffected */
    ck_assert_int_eq(pace_devices_next_us(&d, 2), 5000000);
    ck_assert_uint_eq(pace_devices_due(&d, 3999999), 0);
    ck_assert_uint_eq(pace_devices_take(&d), 0);
    ck_assert_uint_eq(pace_devices_take(&d), 1);
    ck_assert_uint_eq(pace_devices_take(&d), 2);
    ck_assert_int_eq(pace_devices_next_us(&d, 0), 7000000);
    ck_assert_int_eq(pace_devices_next_us(&d, 1), 7000000);
    ck_assert_int_eq(pace_devices_next_us(&d, 2), 8000000);
    pace_devices_release(&d);
}
END_TEST

START_TEST(test_devices_fleet_over_ten_seconds)
{
    /* 8 devices every 3 s on one connection, one reading per send (device r first at
     * r x 375 ms); device 3 told 1 s after its first reading: in [0, 10 s] it reports at
     * 1.125 s and every 1 s after (9 readings); the others every 3 s from their first: 4 for
     * devices 0-2 (the last at 9, 9.375, 9.75 s), 3 for devices 4-7 (10.5 s is past) */
    struct pace_devices d;
    pace_devices_init(&d, 0, 1, 8, 8, 3000, 0, 1);
    unsigned count[8] = {0};
    for (int t = 0; t <= 10000; t++) {
        while (pace_devices_due(&d, (int64_t)t * 1000)) {
            size_t r = pace_devices_take(&d);
            count[r]++;
            if (r == 3)
                pace_devices_set_period(&d, 3, 1000);
        }
    }
    for (size_t r = 0; r < 8; r++)
        ck_assert_uint_eq(count[r], r == 3 ? 9 : r < 3 ? 4 : 3);
    pace_devices_release(&d);
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
    tcase_add_test(tc, test_devices_same_schedule);
    tcase_add_test(tc, test_devices_told_periods);
    tcase_add_test(tc, test_devices_fleet_over_ten_seconds);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(pace_suite)
