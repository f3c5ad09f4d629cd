/*
 * test_loadgen_mqtt.c - tp-loadgen's MQTT mode (loadgen/mqtt.c) against
 * tp-ingest's MQTT transport (mqtt.listen), tp-projector and tp-query on the
 * dev stack: every reading tp-loadgen saw PUBACKed reaches its twin exactly
 * once, checked by tp-loadgen's own verification through tp-query.
 *   - MQTT 5, device tokens: one connection per device (200), 5 readings each,
 *     one reading per PUBLISH;
 *   - MQTT 3.1.1, a gateway token: 8 connections publishing for 200 meters on
 *     their own topics;
 *   - MQTT 5, a gateway, 2 readings per PUBLISH with 10% bad readings: the
 *     invalid ones dead-lettered (PUBACK 0x83 or tp-dead-lettered), duplicates
 *     and older sequences applied zero times;
 *   - tp-ingest killed with SIGKILL under load and started again: tp-loadgen
 *     makes its connections again and publishes its outbox again, and every
 *     twin still holds each reading exactly once.
 * Each run's report is checked line by line with exact counts.
 */
#include <check.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/mem.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "token/auth.h"

#define SECRET    "loadgen-mqtt-integration-secret-01"
#define QUERY_KEY "loadgen-mqtt-analyst-key-0001"

static struct stack st;
static uint16_t ingest_port, projector_port, query_port, mqtt_port;
static pid_t ingest_pid, projector_pid, query_pid;
static char mqtt_env[64], query_keys[128];
static const char *ingest_env[] = {"TP_AUTH_SECRET=" SECRET, mqtt_env, NULL};

static void setup(void)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(QUERY_KEY, strlen(QUERY_KEY), d, &dl, EVP_sha256(), NULL);
    size_t o = (size_t)snprintf(query_keys, sizeof(query_keys), "TP_QUERY_API_KEYS=");
    for (unsigned k = 0; k < dl; k++)
        o += (size_t)snprintf(query_keys + o, sizeof(query_keys) - o, "%02x", d[k]);
    stack_init(&st, "lgmqtt");
    stack_db_create(&st);
    ingest_port = stack_free_port();
    mqtt_port = stack_free_port();
    projector_port = stack_free_port();
    query_port = stack_free_port();
    snprintf(mqtt_env, sizeof(mqtt_env), "TP_MQTT_LISTEN=127.0.0.1:%u", mqtt_port);
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
    static const char *const projector_env[] = {"TP_PROJECTOR_FLUSH_INTERVAL_MS=50", NULL};
    projector_pid = stack_service_start(&st, "tp-projector", projector_env, projector_port);
    const char *query_env[] = {query_keys, NULL};
    query_pid = stack_service_start(&st, "tp-query", query_env, query_port);
}

static void teardown(void)
{
    ck_assert_int_eq(stack_service_stop(query_pid, SIGTERM), 0);
    ck_assert_int_eq(stack_service_stop(projector_pid, SIGTERM), 0);
    ck_assert_int_eq(stack_service_stop(ingest_pid, SIGTERM), 0);
    stack_release(&st);
}

/* A gateway token for every device id starting with prefix. */
static void gateway_token(const char *prefix, char *out, size_t n)
{
    struct auth_claims c = {.kind = AUTH_PREFIX, .expiry_s = tp_now_ms() / 1000 + 3600};
    snprintf(c.scope, sizeof(c.scope), "%s", prefix);
    char errstr[256];
    ck_assert_msg(auth_mint(SECRET, &c, out, n, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
}

/* Runs tp-loadgen over MQTT with the arguments given (after the common ones: the listener,
 * verification through tp-query); its exit code, stdout in out. */
static int loadgen(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int loadgen(char *out, size_t n, const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd),
             "timeout 240 %s/tp-loadgen --loadgen.transport=mqtt "
             "--loadgen.mqtt_url=mqtt://127.0.0.1:%u --loadgen.verify_url=http://127.0.0.1:%u "
             "--loadgen.query_token=%s --loadgen.verify_timeout_s=60 %s "
             "2>>%s/../Testing/%s-tp-loadgen.log",
             TP_BIN_DIR, mqtt_port, query_port, QUERY_KEY, args, TP_BIN_DIR, st.db);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void has_line(const char *out, const char *line)
{
    char want[512];
    snprintf(want, sizeof(want), "%s\n", line);
    ck_assert_msg(strstr(out, want), "no line \"%s\" in:\n%s", line, out);
}

START_TEST(test_devices_mqtt5)
{
    char out[8192];
    int rc = loadgen(out, sizeof(out),
                     "--loadgen.mqtt_version=5 --loadgen.auth_secret=%s --loadgen.devices=200 "
                     "--loadgen.readings=1000 --loadgen.batch=1",
                     SECRET);
    ck_assert_msg(rc == 0, "tp-loadgen exit %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "vehicle: sent 1000 readings (0 duplicates, 0 older sequences, 0 "
                              "invalid) from 200 devices in 1000 PUBACKed PUBLISHes over 200 MQTT "
                              "connections in "),
                  "%s", out);
    has_line(out, "accepted 1000, rejected 0 (invalid accepted: 0, valid rejected: 0); failed "
                  "requests 0, 503s retried 0");
    has_line(out, "mqtt 5: 200 connects, 0 CONNACKs refused, 0 connections lost and made again, 0 "
                  "PUBLISHes sent again, 0 connections given up; PUBACK codes: 0x00 x 1000");
    ck_assert_msg(strstr(out, "verify: 200 devices: 200 equal, 0 mismatched, 0 still behind after "
                              "60 s, 0 uncertain (at least as expected) in "),
                  "%s", out);
}
END_TEST

START_TEST(test_gateway_mqtt311)
{
    char out[8192], tok[AUTH_TOKEN_MAX + 1];
    gateway_token("mtr-", tok, sizeof(tok));
    int rc = loadgen(out, sizeof(out),
                     "--loadgen.mqtt_version=4 --loadgen.token=%s --loadgen.profile=meter "
                     "--loadgen.devices=200 --loadgen.readings=1000 --loadgen.batch=1 "
                     "--loadgen.connections=8 --loadgen.mqtt_inflight=8",
                     tok);
    ck_assert_msg(rc == 0, "tp-loadgen exit %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "meter: sent 1000 readings (0 duplicates, 0 older sequences, 0 "
                              "invalid) from 200 devices in 1000 PUBACKed PUBLISHes over 8 MQTT "
                              "connections in "),
                  "%s", out);
    has_line(out, "accepted 1000, rejected 0 (invalid accepted: 0, valid rejected: 0); failed "
                  "requests 0, 503s retried 0");
    has_line(out, "mqtt 3.1.1: 8 connects, 0 CONNACKs refused, 0 connections lost and made again, "
                  "0 PUBLISHes sent again, 0 connections given up; PUBACK codes: 0x00 x 1000");
    ck_assert_msg(strstr(out, "verify: 200 devices: 200 equal, 0 mismatched, 0 still behind after "
                              "60 s, 0 uncertain (at least as expected) in "),
                  "%s", out);
}
END_TEST

START_TEST(test_gateway_bad_readings_mqtt5)
{
    char out[8192], tok[AUTH_TOKEN_MAX + 1];
    gateway_token("veh-", tok, sizeof(tok));
    int rc = loadgen(out, sizeof(out),
                     "--loadgen.mqtt_version=5 --loadgen.token=%s --loadgen.devices=200 "
                     "--loadgen.readings=1000 --loadgen.batch=2 --loadgen.connections=4 "
                     "--loadgen.bad_pct=10 --loadgen.seed=11",
                     tok);
    ck_assert_msg(rc == 0, "tp-loadgen exit %d:\n%s", rc, out);
    unsigned long long sent, dup, old, inv, pubs, acc, rej;
    const char *at = strstr(out, "vehicle: sent ");
    ck_assert_ptr_nonnull(at);
    ck_assert_int_eq(sscanf(at,
                            "vehicle: sent %llu readings (%llu duplicates, %llu older sequences, "
                            "%llu invalid) from 200 devices in %llu PUBACKed PUBLISHes",
                            &sent, &dup, &old, &inv, &pubs),
                     5);
    ck_assert_uint_eq(sent, 1000);
    ck_assert_uint_eq(pubs, 500);
    ck_assert_uint_gt(dup, 0);
    ck_assert_uint_gt(old, 0);
    ck_assert_uint_gt(inv, 0);
    at = strstr(out, "\naccepted ");
    ck_assert_ptr_nonnull(at);
    ck_assert_int_eq(sscanf(at, "\naccepted %llu, rejected %llu", &acc, &rej), 2);
    /* exactly the invalid readings were dead-lettered: tp-dead-lettered, or 0x83 for a
     * PUBLISH of invalid readings only */
    ck_assert_uint_eq(rej, inv);
    ck_assert_uint_eq(acc, 1000 - inv);
    ck_assert_msg(strstr(out, " (invalid accepted: 0, valid rejected: 0); failed requests 0, "),
                  "%s", out);
    ck_assert_msg(strstr(out, "0 connections given up; PUBACK codes: 0x00 x "), "%s", out);
    /* duplicates and older sequences were applied zero times: every twin equal */
    ck_assert_msg(strstr(out, "verify: 200 devices: 200 equal, 0 mismatched, 0 still behind after "
                              "60 s, 0 uncertain (at least as expected) in "),
                  "%s", out);
}
END_TEST

START_TEST(test_ingest_killed_mqtt5)
{
    char out[8192], tok[AUTH_TOKEN_MAX + 1], cmd[4096];
    gateway_token("veh-", tok, sizeof(tok));
    /* 6,000 readings at 1,500/s: about 4 s (some 15 PUBLISHes in flight at any time); tp-ingest
     * dies after 1.5 s, is back after 1 s */
    snprintf(cmd, sizeof(cmd),
             "timeout 240 %s/tp-loadgen --loadgen.transport=mqtt "
             "--loadgen.mqtt_url=127.0.0.1:%u --loadgen.verify_url=http://127.0.0.1:%u "
             "--loadgen.query_token=%s --loadgen.verify_timeout_s=60 --loadgen.token=%s "
             "--loadgen.devices=200 --loadgen.readings=6000 --loadgen.rate=1500 --loadgen.batch=1 "
             "--loadgen.connections=4 --loadgen.retries=50 "
             "2>>%s/../Testing/%s-tp-loadgen.log",
             TP_BIN_DIR, mqtt_port, query_port, QUERY_KEY, tok, TP_BIN_DIR, st.db);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    usleep(1500 * 1000);
    ck_assert_int_eq(kill(ingest_pid, SIGKILL), 0);
    int status = 0;
    ck_assert_int_eq(waitpid(ingest_pid, &status, 0), ingest_pid);
    usleep(1000 * 1000);
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
    size_t got = fread(out, 1, sizeof(out) - 1, p);
    out[got] = '\0';
    int rc = pclose(p);
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "tp-loadgen exit %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "vehicle: sent 6000 readings (0 duplicates, 0 older sequences, 0 "
                              "invalid) from 200 devices in 6000 PUBACKed PUBLISHes over 4 MQTT "
                              "connections in "),
                  "%s", out);
    has_line(out, "accepted 6000, rejected 0 (invalid accepted: 0, valid rejected: 0); failed "
                  "requests 0, 503s retried 0");
    /* every connection was lost once and made again; what was in flight went again */
    unsigned long long connects, refused, lost, again, given_up;
    const char *at = strstr(out, "mqtt 5: ");
    ck_assert_ptr_nonnull(at);
    ck_assert_int_eq(sscanf(at,
                            "mqtt 5: %llu connects, %llu CONNACKs refused, %llu connections lost "
                            "and made again, %llu PUBLISHes sent again, %llu connections given up",
                            &connects, &refused, &lost, &again, &given_up),
                     5);
    ck_assert_uint_eq(connects, 8);
    ck_assert_uint_eq(refused, 0);
    ck_assert_uint_eq(lost, 4);
    ck_assert_uint_gt(again, 0);
    ck_assert_uint_eq(given_up, 0);
    /* readings journaled before the kill but not PUBACKed were published again: the
     * projector applied each once */
    ck_assert_msg(strstr(out, "verify: 200 devices: 200 equal, 0 mismatched, 0 still behind after "
                              "60 s, 0 uncertain (at least as expected) in "),
                  "%s", out);
}
END_TEST

static Suite *loadgen_mqtt_suite(void)
{
    Suite *s = suite_create("loadgen_mqtt_integration");
    TCase *tc = tcase_create("loadgen_mqtt");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 280);
    tcase_add_test(tc, test_devices_mqtt5);
    tcase_add_test(tc, test_gateway_mqtt311);
    tcase_add_test(tc, test_gateway_bad_readings_mqtt5);
    tcase_add_test(tc, test_ingest_killed_mqtt5);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(loadgen_mqtt_suite)
