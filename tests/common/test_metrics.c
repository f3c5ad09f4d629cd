/*
 * common/metrics.c: histograms fed in milliseconds and written in seconds (the bounds 1 ms ..
 * 30 s as le="0.001" .. le="30", the sum from microseconds), samples in their shortest exact
 * form, and the families every service ends with: tp_build_info with the labels CMake found,
 * process_* read from /proc/self (their changes follow what the test does: fds it opens, CPU
 * it burns, memory it touches, the fd limit it sets).
 */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/metrics.h"
#include "tests/support/check_main.h"

START_TEST(test_histogram_seconds)
{
    static struct metrics_histogram h;
    const double ms[] = {0.5, 1, 1.5, 2, 999, 30000, 40000, -3};
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
        metrics_histogram_observe(&h, ms[i]);
    struct buf b;
    buf_init(&b, 1 << 16);
    metrics_histogram_write(&b, "tp_x_duration_seconds", "what it measures", &h);
    ck_assert_str_eq(b.data, "# HELP tp_x_duration_seconds what it measures\n"
                             "# TYPE tp_x_duration_seconds histogram\n"
                             "tp_x_duration_seconds_bucket{le=\"0.001\"} 3\n"
                             "tp_x_duration_seconds_bucket{le=\"0.002\"} 5\n"
                             "tp_x_duration_seconds_bucket{le=\"0.005\"} 5\n"
                             "tp_x_duration_seconds_bucket{le=\"0.01\"} 5\n"
                             "tp_x_duration_seconds_bucket{le=\"0.02\"} 5\n"
                             "tp_x_duration_seconds_bucket{le=\"0.05\"} 5\n"
                             "tp_x_duration_seconds_bucket{le=\"0.1\"} 5\n"
                             "tp_x_duration_seconds_bucket{le=\"0.2\"} 5\n"
                             "tp_x_duration_seconds_bucket{le=\"0.5\"} 5\n"
                             "tp_x_duration_seconds_bucket{le=\"1\"} 6\n"
                             "tp_x_duration_seconds_bucket{le=\"2\"} 6\n"
                             "tp_x_duration_seconds_bucket{le=\"5\"} 6\n"
                             "tp_x_duration_seconds_bucket{le=\"10\"} 6\n"
                             "tp_x_duration_seconds_bucket{le=\"30\"} 7\n"
                             "tp_x_duration_seconds_bucket{le=\"+Inf\"} 8\n"
                             "tp_x_duration_seconds_sum 71.004\n"
                             "tp_x_duration_seconds_count 8\n");
    /* with labels, and without HELP/TYPE (a later series of the same family) */
    buf_reset(&b);
    static struct metrics_histogram one;
    metrics_histogram_observe(&one, 3);
    metrics_histogram_write_labels(&b, "tp_y_seconds", NULL, "route=\"/a\"", &one);
    ck_assert_ptr_eq(strstr(b.data, "# "), NULL);
    ck_assert_ptr_nonnull(strstr(b.data, "\ntp_y_seconds_bucket{route=\"/a\",le=\"0.002\"} 0\n"
                                         "tp_y_seconds_bucket{route=\"/a\",le=\"0.005\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "\ntp_y_seconds_bucket{route=\"/a\",le=\"+Inf\"} 1\n"
                                         "tp_y_seconds_sum{route=\"/a\"} 0.003\n"
                                         "tp_y_seconds_count{route=\"/a\"} 1\n"));
    buf_release(&b);
}
END_TEST

START_TEST(test_sample_values)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    metrics_sample(&b, "tp_a", "gauge", "a gauge", NULL, 0.1);
    metrics_sample(&b, "tp_b_total", "counter", "a counter", "code=\"x\"", 12345678901234567.0);
    metrics_sample(&b, "tp_b_total", "counter", NULL, "code=\"y\"", 3);
    metrics_sample(&b, "tp_c", "gauge", "odd values", "k=\"nan\"", NAN);
    metrics_sample(&b, "tp_c", "gauge", NULL, "k=\"inf\"", INFINITY);
    metrics_sample(&b, "tp_c", "gauge", NULL, "k=\"-inf\"", -INFINITY);
    ck_assert_str_eq(b.data, "# HELP tp_a a gauge\n# TYPE tp_a gauge\ntp_a 0.1\n"
                             "# HELP tp_b_total a counter\n# TYPE tp_b_total counter\n"
                             "tp_b_total{code=\"x\"} 12345678901234568\n"
                             "tp_b_total{code=\"y\"} 3\n"
                             "# HELP tp_c odd values\n# TYPE tp_c gauge\n"
                             "tp_c{k=\"nan\"} NaN\ntp_c{k=\"inf\"} +Inf\ntp_c{k=\"-inf\"} -Inf\n");
    buf_release(&b);
}
END_TEST

/* The value of the unlabelled sample name in the runtime families written now. */
static double runtime(const char *name)
{
    struct buf b;
    char want[128];
    buf_init(&b, 1 << 16);
    metrics_runtime_write(&b);
    snprintf(want, sizeof(want), "\n%s ", name);
    const char *at = strstr(b.data, want);
    ck_assert_msg(at != NULL, "no %s in\n%s", name, b.data);
    ck_assert_ptr_eq(strstr(at + 1, want), NULL);
    double v = strtod(at + strlen(want), NULL);
    buf_release(&b);
    return v;
}

static double wall_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

START_TEST(test_runtime_families)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    metrics_runtime_write(&b);
    ck_assert_ptr_eq(strstr(b.data, "tp_build_info"), b.data + strlen("# HELP "));
    ck_assert_ptr_nonnull(strstr(b.data, "\n# TYPE tp_build_info gauge\n"
                                         "tp_build_info{version=\"" TP_BUILD_VERSION
                                         "\",commit=\"" TP_BUILD_COMMIT "\"} 1\n"));
    static const char *const families[][2] = {
        {"process_cpu_seconds_total", "counter"},
        {"process_resident_memory_bytes", "gauge"},
        {"process_virtual_memory_bytes", "gauge"},
        {"process_start_time_seconds", "gauge"},
        {"process_open_fds", "gauge"},
        {"process_max_fds", "gauge"},
    };
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char line[128];
        snprintf(line, sizeof(line), "\n# TYPE %s %s\n%s ", families[i][0], families[i][1],
                 families[i][0]);
        ck_assert_msg(strstr(b.data, line) != NULL, "no %s in\n%s", families[i][0], b.data);
    }
    buf_release(&b);

    /* started before now, and not before this test binary (check starts it within seconds) */
    double start = runtime("process_start_time_seconds"), now = wall_s();
    ck_assert_double_le(start, now);
    ck_assert_double_ge(start, now - 120);

    /* three more descriptors, exactly */
    double fds = runtime("process_open_fds");
    int a = open("/dev/null", O_RDONLY), c = dup(a), d = dup(a);
    ck_assert_double_eq(runtime("process_open_fds"), fds + 3);
    close(a);
    close(c);
    close(d);
    ck_assert_double_eq(runtime("process_open_fds"), fds);

    /* the soft limit, exactly */
    struct rlimit rl, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_double_eq(runtime("process_max_fds"), (double)rl.rlim_cur);
    low = rl;
    low.rlim_cur = 777;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    ck_assert_double_eq(runtime("process_max_fds"), 777);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);

    /* 0.3 s of CPU burnt shows (the counter ticks in 1/100 s) */
    double cpu = runtime("process_cpu_seconds_total");
    clock_t c0 = clock();
    volatile double x = 0;
    while (clock() - c0 < CLOCKS_PER_SEC * 3 / 10)
        x += 1;
    double burnt = runtime("process_cpu_seconds_total") - cpu;
    ck_assert_msg(burnt >= 0.27 && burnt < 5, "burnt %.2f s", burnt);

    /* 64 MiB touched show in the resident set; the virtual size holds it */
    double rss = runtime("process_resident_memory_bytes");
    size_t n = 64u << 20;
    char *mem = malloc(n);
    ck_assert_ptr_nonnull(mem);
    for (size_t i = 0; i < n; i += 512) /* volatile: the stores stay in an optimised build */
        ((volatile char *)mem)[i] = 1;
    double grown = runtime("process_resident_memory_bytes") - rss;
    ck_assert_msg(grown >= 60.0 * (1 << 20), "resident grew by %.0f bytes", grown);
    ck_assert_double_gt(runtime("process_virtual_memory_bytes"),
                        runtime("process_resident_memory_bytes"));
    free(mem);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_histogram_seconds);
    tcase_add_test(tc, test_sample_values);
    tcase_add_test(tc, test_runtime_families);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(metrics_suite)
