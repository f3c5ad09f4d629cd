#include <check.h>
#include <stddef.h>
#include <string.h>

#include "common/config.h"
#include "tests/support/check_main.h"

struct test_config {
    char *listen;
    long long threads;
    bool verbose;
    struct config_extra kafka;
};

static const struct config_entry table[] = {
    CONFIG_ROW_STR("http.listen", struct test_config, listen, "127.0.0.1:1", "listen"),
    CONFIG_ROW_INT("http.threads", struct test_config, threads, "2", 1, 8, "threads"),
    CONFIG_ROW_BOOL("log.verbose", struct test_config, verbose, "false", "verbose"),
    CONFIG_ROW_STR("kafka.bootstrap.servers", struct test_config, listen, "b:1", "unused here"),
};

static enum tp_err load(struct test_config *c, int argc, char **argv, char **envp, char *errstr)
{
    bool help;
    memset(c, 0, sizeof(*c));
    c->kafka.prefix = "kafka.";
    /* the last row is only consulted for key lookups */
    return config_load(table, 3, c, &c->kafka, argc, argv, envp, &help, errstr, 256);
}

START_TEST(test_defaults)
{
    struct test_config c;
    char errstr[256];
    char *argv[] = {"prog"};
    ck_assert_int_eq(load(&c, 1, argv, NULL, errstr), TP_OK);
    ck_assert_str_eq(c.listen, "127.0.0.1:1");
    ck_assert_int_eq(c.threads, 2);
    ck_assert(!c.verbose);
    ck_assert_uint_eq(c.kafka.n, 0);
    config_release(table, 3, &c, &c.kafka);
}
END_TEST

START_TEST(test_env_then_flags)
{
    struct test_config c;
    char errstr[256];
    char *envp[] = {"TP_HTTP_LISTEN=0.0.0.0:9", "TP_HTTP_THREADS=4", "TP_LOG_VERBOSE=yes",
                    "TP_KAFKA_LINGER_MS=7",     "OTHER=1",           NULL};
    char *argv[] = {"prog", "--http.threads=6", "--kafka.linger.ms", "9", "--log.verbose"};
    ck_assert_int_eq(load(&c, 5, argv, envp, errstr), TP_OK);
    ck_assert_str_eq(c.listen, "0.0.0.0:9");
    ck_assert_int_eq(c.threads, 6); /* flag beats env */
    ck_assert(c.verbose);
    ck_assert_uint_eq(c.kafka.n, 1);
    ck_assert_str_eq(config_extra_get(&c.kafka, "kafka.linger.ms"), "9");
    config_release(table, 3, &c, &c.kafka);
}
END_TEST

START_TEST(test_bounds_and_types)
{
    struct test_config c;
    char errstr[256];
    char *argv1[] = {"prog", "--http.threads=9"};
    ck_assert_int_eq(load(&c, 2, argv1, NULL, errstr), TP_CONFIG);
    ck_assert_str_eq(errstr, "invalid value 9 for \"http.threads\" (command line): must be "
                             "between 1 and 8");
    config_release(table, 3, &c, &c.kafka);
    char *envp[] = {"TP_HTTP_THREADS=two", NULL};
    char *argv0[] = {"prog"};
    ck_assert_int_eq(load(&c, 1, argv0, envp, errstr), TP_CONFIG);
    ck_assert_str_eq(
        errstr, "invalid value \"two\" for \"http.threads\" (TP_HTTP_THREADS): not an integer");
    config_release(table, 3, &c, &c.kafka);
    char *argv2[] = {"prog", "--log.verbose=maybe"};
    ck_assert_int_eq(load(&c, 2, argv2, NULL, errstr), TP_CONFIG);
    config_release(table, 3, &c, &c.kafka);
}
END_TEST

START_TEST(test_unknown_and_missing)
{
    struct test_config c;
    char errstr[256];
    char *argv1[] = {"prog", "--nope=1"};
    ck_assert_int_eq(load(&c, 2, argv1, NULL, errstr), TP_CONFIG);
    ck_assert_str_eq(errstr, "unknown option \"--nope\"");
    config_release(table, 3, &c, &c.kafka);
    char *argv2[] = {"prog", "--http.listen"};
    ck_assert_int_eq(load(&c, 2, argv2, NULL, errstr), TP_CONFIG);
    ck_assert_str_eq(errstr, "option \"--http.listen\" needs a value");
    config_release(table, 3, &c, &c.kafka);
    char *argv3[] = {"prog", "stray"};
    ck_assert_int_eq(load(&c, 2, argv3, NULL, errstr), TP_CONFIG);
    config_release(table, 3, &c, &c.kafka);
}
END_TEST

START_TEST(test_table_key_under_prefix_is_not_passthrough)
{
    struct test_config c;
    char errstr[256];
    bool help;
    char *envp[] = {"TP_KAFKA_BOOTSTRAP_SERVERS=x:2", NULL};
    char *argv[] = {"prog", "--help"};
    memset(&c, 0, sizeof(c));
    c.kafka.prefix = "kafka.";
    ck_assert_int_eq(config_load(table, 4, &c, &c.kafka, 2, argv, envp, &help, errstr, 256), TP_OK);
    ck_assert(help);
    ck_assert_uint_eq(c.kafka.n, 0);
    config_release(table, 3, &c, &c.kafka);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_env_then_flags);
    tcase_add_test(tc, test_bounds_and_types);
    tcase_add_test(tc, test_unknown_and_missing);
    tcase_add_test(tc, test_table_key_under_prefix_is_not_passthrough);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(config_suite)
