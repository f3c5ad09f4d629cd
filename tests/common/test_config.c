#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* Typed rows filling fields of their own C types, as the services' options structs. */
struct typed_config {
    size_t size;
    int64_t past_ms;
    int wait_ms;
    unsigned codec;
    bool auth;
    double skew;
    const char *name;
    int derived;
};

static const char *const codecs[] = {"zstd", "snappy", "none", NULL};
static const int codec_ids[] = {6, 1, 0};
static const char *const auth_modes[] = {"required", "off", NULL};
static const int auth_on[] = {1, 0};

static enum tp_err name_check(const struct config_entry *e, void *cfg, char *errstr,
                              size_t errstr_size)
{
    const struct typed_config *c = cfg;
    if (!strcmp(c->name, "bad"))
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "invalid %s \"%s\": not that one",
                          e->key, c->name);
    return TP_OK;
}

static enum tp_err typed_check(void *cfg, char *errstr, size_t errstr_size)
{
    struct typed_config *c = cfg;
    if (!c->auth && c->codec == 0)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "t.auth=off needs a t.codec");
    c->derived = c->wait_ms * 2;
    return TP_OK;
}

#define T struct typed_config
static const struct config_entry typed_rows[] = {
    CONFIG_ROW_SIZE("t.size", T, size, "4MiB", 1024, 1073741824, "size"),
    CONFIG_ROW_S("t.past_s", T, past_ms, "7d", 0, 31536000, "past", .scale = 1000),
    CONFIG_ROW_MS("t.wait_ms", T, wait_ms, "2s", 0, 60000, "wait"),
    CONFIG_ROW_ENUM("t.codec", T, codec, "zstd", codecs, "codec", .ints = codec_ids),
    CONFIG_ROW_ENUM("t.auth", T, auth, "required", auth_modes, "auth", .ints = auth_on),
    CONFIG_ROW_NUMBER("t.skew", T, skew, "0.5", 0, 10, "skew"),
    CONFIG_ROW_STR("t.name", T, name, "abc", "a | b <c>", .check = name_check),
};
#undef T
static const struct config_table typed_table = CONFIG_TABLE("tp-test", typed_rows, typed_check);

static enum tp_err typed_load(struct typed_config *c, int argc, char **argv,
                              enum config_action *action, const struct config_entry **failed,
                              char *errstr)
{
    memset(c, 0, sizeof(*c));
    return config_table_load(&typed_table, c, NULL, argc, argv, NULL, action, failed, errstr, 256);
}

START_TEST(test_typed_defaults)
{
    struct typed_config c;
    char errstr[256];
    enum config_action action;
    const struct config_entry *failed = &typed_rows[0];
    char *argv[] = {"prog"};
    ck_assert_uint_eq(typed_table.n, 7);
    ck_assert_int_eq(typed_load(&c, 1, argv, &action, &failed, errstr), TP_OK);
    ck_assert_int_eq(action, CONFIG_RUN);
    ck_assert_ptr_null(failed);
    ck_assert_uint_eq(c.size, 4194304);
    ck_assert_int_eq(c.past_ms, 604800000LL);
    ck_assert_int_eq(c.wait_ms, 2000);
    ck_assert_uint_eq(c.codec, 6);
    ck_assert(c.auth);
    ck_assert_double_eq(c.skew, 0.5);
    ck_assert_str_eq(c.name, "abc");
    ck_assert_int_eq(c.derived, 0);
    ck_assert_int_eq(config_table_check(&typed_table, &c, errstr, 256), TP_OK);
    ck_assert_int_eq(c.derived, 4000);
    config_release(typed_rows, typed_table.n, &c, NULL);
}
END_TEST

START_TEST(test_typed_units_and_names)
{
    struct typed_config c;
    char errstr[256];
    enum config_action action;
    char *envp[] = {"TP_T_SIZE=512KiB", "TP_T_CODEC=SNAPPY", NULL};
    char *argv[] = {"prog",     "--t.past_s=90", "--t.wait_ms=1500ms",
                    "--t.auth", "off",           "--t.skew=2.25"};
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(
        config_table_load(&typed_table, &c, NULL, 6, argv, envp, &action, NULL, errstr, 256),
        TP_OK);
    ck_assert_uint_eq(c.size, 524288);
    ck_assert_int_eq(c.past_ms, 90000);
    ck_assert_int_eq(c.wait_ms, 1500);
    ck_assert_uint_eq(c.codec, 1);
    ck_assert(!c.auth);
    ck_assert_double_eq(c.skew, 2.25);
    config_release(typed_rows, typed_table.n, &c, NULL);
    char *argv2[] = {"prog", "--t.past_s=5m", "--t.size=1G", "--t.wait_ms=0", "--t.codec=none"};
    ck_assert_int_eq(typed_load(&c, 5, argv2, &action, NULL, errstr), TP_OK);
    ck_assert_int_eq(c.past_ms, 300000);
    ck_assert_uint_eq(c.size, 1073741824);
    ck_assert_int_eq(c.wait_ms, 0);
    ck_assert_uint_eq(c.codec, 0);
    config_release(typed_rows, typed_table.n, &c, NULL);
}
END_TEST

/* Each refusal: its code, the row it names and its exact message. */
START_TEST(test_typed_errors)
{
    static const struct {
        const char *arg;
        enum tp_err err;
        size_t row;
        const char *msg;
    } cases[] = {
        {"--t.codec=lz4", TP_VALIDATION, 3, "invalid t.codec \"lz4\": use zstd, snappy or none"},
        {"--t.auth=no", TP_VALIDATION, 4, "invalid t.auth \"no\": use required or off"},
        {"--t.size=4XB", TP_CONFIG, 0,
         "invalid value \"4XB\" for \"t.size\" (command line): not a size (bytes, or with a "
         "unit: KiB, MiB, GiB)"},
        {"--t.size=2GiB", TP_CONFIG, 0,
         "invalid value \"2GiB\" for \"t.size\" (command line): must be between 1024 and "
         "1073741824 bytes"},
        {"--t.past_s=1500ms", TP_CONFIG, 1,
         "invalid value \"1500ms\" for \"t.past_s\" (command line): not a duration (whole "
         "seconds: 30, or with a unit: 30s, 5m, 1h, 1d)"},
        {"--t.past_s=400d", TP_CONFIG, 1,
         "invalid value \"400d\" for \"t.past_s\" (command line): must be between 0 and 31536000 "
         "s"},
        {"--t.wait_ms=1w", TP_CONFIG, 2,
         "invalid value \"1w\" for \"t.wait_ms\" (command line): not a duration (milliseconds: "
         "500, or with a unit: 500ms, 30s, 5m, 1h, 1d)"},
        {"--t.skew=11", TP_CONFIG, 5,
         "invalid value \"11\" for \"t.skew\" (command line): must be between 0 and 10"},
        {"--t.skew=much", TP_CONFIG, 5,
         "invalid value \"much\" for \"t.skew\" (command line): not a number"},
        {"--t.name=bad", TP_VALIDATION, 6, "invalid t.name \"bad\": not that one"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct typed_config c;
        char errstr[256];
        enum config_action action;
        const struct config_entry *failed = NULL;
        char *argv[] = {"prog", (char *)cases[i].arg};
        ck_assert_int_eq(typed_load(&c, 2, argv, &action, &failed, errstr), cases[i].err);
        ck_assert_ptr_eq(failed, &typed_rows[cases[i].row]);
        ck_assert_str_eq(errstr, cases[i].msg);
        config_release(typed_rows, typed_table.n, &c, NULL);
    }
    /* the table's check runs apart, on a loaded struct */
    struct typed_config c;
    char errstr[256];
    enum config_action action;
    char *argv[] = {"prog", "--t.auth=off", "--t.codec=none"};
    ck_assert_int_eq(typed_load(&c, 3, argv, &action, NULL, errstr), TP_OK);
    ck_assert_int_eq(config_table_check(&typed_table, &c, errstr, 256), TP_VALIDATION);
    ck_assert_str_eq(errstr, "t.auth=off needs a t.codec");
    config_release(typed_rows, typed_table.n, &c, NULL);
}
END_TEST

static char *typed_print(enum config_action action)
{
    static char out[8192];
    FILE *f = fmemopen(out, sizeof(out), "w");
    ck_assert_ptr_nonnull(f);
    config_table_print(f, &typed_table, action, NULL);
    ck_assert_int_eq(fclose(f), 0);
    return out;
}

START_TEST(test_typed_actions_and_output)
{
    struct typed_config c;
    char errstr[256];
    enum config_action action;
    char *md[] = {"prog", "--config-markdown"};
    ck_assert_int_eq(typed_load(&c, 2, md, &action, NULL, errstr), TP_OK);
    ck_assert_int_eq(action, CONFIG_MARKDOWN);
    config_release(typed_rows, typed_table.n, &c, NULL);
    char *js[] = {"prog", "--config-json", "--t.name=bad"}; /* no checks when only printing */
    ck_assert_int_eq(typed_load(&c, 3, js, &action, NULL, errstr), TP_OK);
    ck_assert_int_eq(action, CONFIG_JSON);
    config_release(typed_rows, typed_table.n, &c, NULL);
    char *chk[] = {"prog", "--config-check"};
    ck_assert_int_eq(typed_load(&c, 2, chk, &action, NULL, errstr), TP_OK);
    ck_assert_int_eq(action, CONFIG_CHECK);
    config_release(typed_rows, typed_table.n, &c, NULL);
    /* the bare loader knows only --help */
    bool help;
    ck_assert_int_eq(
        config_load(typed_rows, typed_table.n, &c, NULL, 2, md, NULL, &help, errstr, 256),
        TP_CONFIG);
    ck_assert_str_eq(errstr, "unknown option \"--config-markdown\"");
    config_release(typed_rows, typed_table.n, &c, NULL);

    ck_assert_str_eq(typed_print(CONFIG_MARKDOWN),
                     "| key | environment | type | default | allowed | meaning |\n"
                     "|---|---|---|---|---|---|\n"
                     "| `t.size` | `TP_T_SIZE` | size | `4MiB` | 1024..1073741824 bytes | size |\n"
                     "| `t.past_s` | `TP_T_PAST_S` | duration | `7d` | 0..31536000 s | past |\n"
                     "| `t.wait_ms` | `TP_T_WAIT_MS` | duration | `2s` | 0..60000 ms | wait |\n"
                     "| `t.codec` | `TP_T_CODEC` | enum | `zstd` | zstd, snappy, none | codec |\n"
                     "| `t.auth` | `TP_T_AUTH` | enum | `required` | required, off | auth |\n"
                     "| `t.skew` | `TP_T_SKEW` | number | `0.5` | 0..10 | skew |\n"
                     "| `t.name` | `TP_T_NAME` | string | `abc` |  | a \\| b \\<c> |\n");
    ck_assert_str_eq(
        typed_print(CONFIG_JSON),
        "{\"program\":\"tp-test\",\"passthrough\":null,\"keys\":["
        "{\"key\":\"t.size\",\"env\":\"TP_T_SIZE\",\"type\":\"size\",\"default\":\"4MiB\","
        "\"min\":1024,\"max\":1073741824,\"unit\":\"bytes\",\"description\":\"size\"},"
        "{\"key\":\"t.past_s\",\"env\":\"TP_T_PAST_S\",\"type\":\"duration\",\"default\":\"7d\","
        "\"min\":0,\"max\":31536000,\"unit\":\"s\",\"description\":\"past\"},"
        "{\"key\":\"t.wait_ms\",\"env\":\"TP_T_WAIT_MS\",\"type\":\"duration\",\"default\":\"2s\","
        "\"min\":0,\"max\":60000,\"unit\":\"ms\",\"description\":\"wait\"},"
        "{\"key\":\"t.codec\",\"env\":\"TP_T_CODEC\",\"type\":\"enum\",\"default\":\"zstd\","
        "\"values\":[\"zstd\",\"snappy\",\"none\"],\"description\":\"codec\"},"
        "{\"key\":\"t.auth\",\"env\":\"TP_T_AUTH\",\"type\":\"enum\",\"default\":\"required\","
        "\"values\":[\"required\",\"off\"],\"description\":\"auth\"},"
        "{\"key\":\"t.skew\",\"env\":\"TP_T_SKEW\",\"type\":\"number\",\"default\":\"0.5\","
        "\"min\":0,\"max\":10,\"description\":\"skew\"},"
        "{\"key\":\"t.name\",\"env\":\"TP_T_NAME\",\"type\":\"string\",\"default\":\"abc\","
        "\"description\":\"a | b <c>\"}]}\n");
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
    TCase *typed = tcase_create("typed");
    tcase_add_test(typed, test_typed_defaults);
    tcase_add_test(typed, test_typed_units_and_names);
    tcase_add_test(typed, test_typed_errors);
    tcase_add_test(typed, test_typed_actions_and_output);
    suite_add_tcase(s, typed);
    return s;
}

TP_CHECK_MAIN(config_suite)
