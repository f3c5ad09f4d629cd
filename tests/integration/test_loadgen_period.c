/*
 * test_loadgen_period.c - tp-loadgen's devices obey the reporting period
 * tp-ingest tells them (loadgen.obey_period; docs/decisions/regions.md,
 * "tp-loadgen obeys"), on the dev stack: a policy model=tp-truck every
 * 1,000 ms is produced (policy_record_write) to a compacted policies topic of
 * the test's own, which tp-ingest follows (policy.topics, site region-a); a
 * fleet of 8 vehicles (trucks: veh-000003 and veh-000007; the other six are
 * cars) runs for 10 s at loadgen.period_ms=3000:
 *   - HTTP, a gateway token, 8 connections (one device each): the 202 body's
 *     report_every_ms;
 *   - MQTT 5, device tokens (a connection per device): the config topic,
 *     retained 3000 at SUBSCRIBE, then 1000 live after a truck's first reading;
 *   - MQTT 3.1.1, a gateway token, one connection subscribed for its 8 devices;
 *   - against Mosquitto (no stack): a gateway connection subscribes for its
 *     40 devices in two SUBSCRIBEs and obeys a retained period, ignores an
 *     invalid one.
 * Each: the trucks' twins (tp-query) hold 8 to 10 readings and the cars' 3
 * or 4 (bounds from the schedule below), period_changes is the 2
 * trucks, the devices per period at the end exact, and tp-loadgen's own
 * verification through tp-query exact.
 *
 * The schedule (loadgen/pace.h; a run stops taking new readings at 10 s):
 * with 8 connections of one device, connection c's device is first due at
 * 3 - 3 (c + 1) / 8 s, then every 3 s: the cars 3 or 4 readings; truck 3
 * first at 1.5 s, truck 7 at 0 s, each told 1,000 ms by the answer to its
 * first: 9 and 10 readings. With one connection of 8 devices, device r is
 * first due at r x 0.375 s: cars 0-2 4 readings, 4-6 3; trucks 3 (1.125 s)
 * and 7 (2.625 s) then every second: 9 and 8. Trucks 8..10, cars 3..4 in
 * both (a late answer to a truck's first reading only delays readings the
 * schedule then catches up; none is due within 0.25 s of the end).
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
#include "journal/journal.h"
#include "policy/policy.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "token/auth.h"

#define SECRET    "loadgen-period-integration-secret-01"
#define QUERY_KEY "loadgen-period-analyst-key-00001"
#define DEVICES   8

static struct stack st;
static uint16_t ingest_port, projector_port, query_port, mqtt_port;
static pid_t ingest_pid, projector_pid, query_pid;
static char ptopic[160], summary[256];
static struct journal_producer *prod;

static void on_delivery(void *opaque, const struct journal_delivery *d, void *arg)
{
    (void)arg;
    *(enum tp_err *)opaque = d->err;
}

/* Produces the policy "trucks": model=tp-truck every 1,000 ms for the next hour. */
static void truck_policy(void)
{
    char body[512], f[40], u[40], errstr[512];
    int64_t now = tp_now_ms();
    policy_time_format(now - 1000, f, sizeof(f));
    policy_time_format(now + 3600000, u, sizeof(u));
    snprintf(body, sizeof(body),
             "{\"selector\":{\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}}},\"level\":"
             "\"aggregates\",\"report_every_ms\":1000,\"from\":\"%s\",\"until\":\"%s\"}",
             f, u);
    struct policy p;
    enum policy_error code;
    struct policy_limits lim = {.max_duration_ms = INT64_MAX};
    ck_assert_msg(policy_parse_body(body, strlen(body), "trucks", &lim, now, &p, &code, errstr,
                                    sizeof(errstr)) == TP_OK,
                  "%s", errstr);
    p.issued_at_ms = now;
    p.revision = 1;
    struct buf value;
    buf_init(&value, POLICY_RECORD_MAX);
    ck_assert_int_eq(policy_record_write(&p, &value), TP_OK);
    policy_release(&p);
    enum tp_err delivered = TP_IO;
    ck_assert_int_eq(journal_producer_append_record(prod, "trucks", 6, value.data, value.len,
                                                    &delivered, errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(journal_producer_flush(prod, 15000), TP_OK);
    ck_assert_int_eq(delivered, TP_OK);
    buf_release(&value);
}

static void setup(void)
{
    static char query_keys[128], topics_env[220], mqtt_env[64];
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(QUERY_KEY, strlen(QUERY_KEY), d, &dl, EVP_sha256(), NULL);
    size_t o = (size_t)snprintf(query_keys, sizeof(query_keys), "TP_QUERY_API_KEYS=");
    for (unsigned k = 0; k < dl; k++)
        o += (size_t)snprintf(query_keys + o, sizeof(query_keys) - o, "%02x", d[k]);
    stack_init(&st, "lgperiod");
    stack_db_create(&st);
    snprintf(ptopic, sizeof(ptopic), "%s.policies", st.topic);
    snprintf(summary, sizeof(summary), "/tmp/tp-test-lgperiod-%d.json", (int)getpid());
    char errstr[512];
    struct journal_settings s = {.bootstrap_servers = st.bootstrap,
                                 .topic = ptopic,
                                 .partitions = 1,
                                 .replication = 1,
                                 .schema_id = 1};
    struct journal_config pc;
    journal_config_init(&pc, &s, NULL);
    pc.compact = true;
    ck_assert_msg(journal_topic_ensure(&pc, 15000, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    ck_assert_int_eq(journal_producer_new(&pc, on_delivery, NULL, &prod, errstr, sizeof(errstr)),
                     TP_OK);
    truck_policy();

    ingest_port = stack_free_port();
    mqtt_port = stack_free_port();
    projector_port = stack_free_port();
    query_port = stack_free_port();
    snprintf(topics_env, sizeof(topics_env), "TP_POLICY_TOPICS=%s", ptopic);
    snprintf(mqtt_env, sizeof(mqtt_env), "TP_MQTT_LISTEN=127.0.0.1:%u", mqtt_port);
    const char *ingest_env[] = {"TP_AUTH_SECRET=" SECRET, topics_env, mqtt_env,
                                "TP_SITE_REGION=region-a", NULL};
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
    /* ready once the policies topic was read to its end */
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", ingest_port);
    long ready = 0;
    for (int i = 0; i < 200 && ready != 200; i++) {
        ready = stack_http("GET", url, NULL, NULL, 0, NULL);
        if (ready != 200)
            usleep(100 * 1000);
    }
    ck_assert_int_eq(ready, 200);
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
    journal_producer_free(prod);
    unlink(summary);
    stack_release(&st);
}

static void gateway_token(char *out, size_t n)
{
    struct auth_claims c = {.kind = AUTH_PREFIX, .expiry_s = tp_now_ms() / 1000 + 3600};
    snprintf(c.scope, sizeof(c.scope), "veh-");
    char errstr[256];
    ck_assert_msg(auth_mint(SECRET, &c, out, n, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
}

/* Runs tp-loadgen for 10 s over the 8 vehicles every 3 s, with the summary and verification;
 * its exit code, stdout in out. */
static int loadgen(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int loadgen(char *out, size_t n, const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd),
             "timeout 240 %s/tp-loadgen --loadgen.devices=%d --loadgen.period_ms=3000 "
             "--loadgen.readings=0 --loadgen.duration_s=10 --loadgen.summary=%s "
             "--loadgen.verify_url=http://127.0.0.1:%u --loadgen.query_token=%s "
             "--loadgen.verify_timeout_s=60 %s 2>>%s/../Testing/%s-tp-loadgen.log",
             TP_BIN_DIR, DEVICES, summary, query_port, QUERY_KEY, args, TP_BIN_DIR, st.db);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The readings a vehicle's twin holds (tp-query's events). */
static long twin_events(size_t i)
{
    char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/devices/veh-%06zu", query_port, i);
    struct buf b;
    buf_init(&b, 1 << 20);
    stack_set_bearer(QUERY_KEY);
    long status = stack_http("GET", url, NULL, NULL, 0, &b);
    stack_set_bearer(NULL);
    ck_assert(buf_append(&b, "", 1) == TP_OK);
    ck_assert_msg(status == 200, "%ld %s", status, b.data);
    const char *at = strstr(b.data, "\"events\":");
    ck_assert_msg(at, "%s", b.data);
    long events = strtol(at + 9, NULL, 10);
    buf_release(&b);
    return events;
}

/* What every run must show: verified exactly, trucks about 3x the cars, the 2 trucks
 * changed period, 2 devices at 1,000 ms and 6 at 3,000 ms at the end. */
static void check_run(int rc, const char *out)
{
    ck_assert_msg(rc == 0, "tp-loadgen exit %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "verify: 8 devices: 8 equal, 0 mismatched, 0 still behind after "
                              "60 s, 0 uncertain (at least as expected) in "),
                  "%s", out);
    ck_assert_msg(strstr(out, "\nperiods: obeyed; 2 devices changed period (2 changes), the "
                              "first after "),
                  "%s", out);
    ck_assert_msg(strstr(out, " ms; at the end: 1000 ms x 2 3000 ms x 6\n"), "%s", out);
    long trucks = 0, cars = 0;
    for (size_t i = 0; i < DEVICES; i++) {
        long e = twin_events(i);
        if (i % 4 == 3) {
            ck_assert_msg(e >= 8 && e <= 10, "truck veh-%06zu: %ld readings", i, e);
            trucks += e;
        } else {
            ck_assert_msg(e >= 3 && e <= 4, "car veh-%06zu: %ld readings", i, e);
            cars += e;
        }
    }
    const char *line = strstr(out, "\nperiods: ");
    fprintf(stderr, "trucks %ld readings, cars %ld (2 trucks, 6 cars in 10 s); %.*s\n", trucks,
            cars, (int)strcspn(line + 1, "\n"), line + 1);
    /* per device, a truck at least twice a car (about 3x by the schedule) */
    ck_assert_int_ge(trucks * 6, 2 * cars * 2);
    FILE *f = fopen(summary, "r");
    ck_assert_ptr_nonnull(f);
    char js[16384];
    size_t got = fread(js, 1, sizeof(js) - 1, f);
    js[got] = '\0';
    fclose(f);
    ck_assert_msg(strstr(js,
                         ",\"obey_period\":true,\"period_changes\":2,\"period_changes_total\":2,"
                         "\"period_first_change_ms\":"),
                  "%s", js);
    ck_assert_msg(strstr(js, ",\"periods_told\":[{\"period_ms\":1000,\"changes\":2,\"first_ms\":"),
                  "%s", js);
    ck_assert_msg(strstr(js, ",\"periods\":[{\"period_ms\":1000,\"devices\":2},{\"period_ms\":"
                             "3000,\"devices\":6}]"),
                  "%s", js);
}

START_TEST(test_http_gateway)
{
    char out[16384], tok[AUTH_TOKEN_MAX + 1];
    gateway_token(tok, sizeof(tok));
    int rc = loadgen(out, sizeof(out),
                     "--loadgen.url=http://127.0.0.1:%u/v1/telemetry --loadgen.token=%s "
                     "--loadgen.connections=8",
                     ingest_port, tok);
    check_run(rc, out);
}
END_TEST

START_TEST(test_mqtt5_devices)
{
    char out[16384];
    int rc = loadgen(out, sizeof(out),
                     "--loadgen.transport=mqtt --loadgen.mqtt_url=127.0.0.1:%u "
                     "--loadgen.mqtt_version=5 --loadgen.auth_secret=%s",
                     mqtt_port, SECRET);
    check_run(rc, out);
    /* each its own config topic: the retained 3000 at SUBSCRIBE (no attributes yet), and
     * 1000 for each truck after its first reading */
    ck_assert_msg(strstr(out, "\nconfig topics: 8 subscribed, 0 refused; 10 config messages, 10 "
                              "with a period\n"),
                  "%s", out);
}
END_TEST

START_TEST(test_mqtt311_gateway)
{
    char out[16384], tok[AUTH_TOKEN_MAX + 1];
    gateway_token(tok, sizeof(tok));
    int rc = loadgen(out, sizeof(out),
                     "--loadgen.transport=mqtt --loadgen.mqtt_url=127.0.0.1:%u "
                     "--loadgen.mqtt_version=4 --loadgen.token=%s --loadgen.connections=1",
                     mqtt_port, tok);
    check_run(rc, out);
    ck_assert_msg(strstr(out, "\nconfig topics: 8 subscribed, 0 refused; 10 config messages, 10 "
                              "with a period\n"),
                  "%s", out);
}
END_TEST

START_TEST(test_mqtt_gateway_mosquitto)
{
    /* a broker (Mosquitto) with retained config messages: one gateway connection subscribes
     * for its 40 devices (two SUBSCRIBEs: 32 filters, then 8) and obeys the valid one */
    uint16_t port = stack_free_port();
    char conf[128], out[16384], cmd[1024];
    snprintf(conf, sizeof(conf), "/tmp/tp-test-lgperiod-mosq-%d.conf", (int)getpid());
    FILE *f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "listener %u 127.0.0.1\nallow_anonymous true\n", port);
    fclose(f);
    pid_t broker = fork();
    ck_assert_int_ge(broker, 0);
    if (broker == 0) {
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    int rc = -1;
    for (int i = 0; i < 50 && rc != 0; i++) {
        usleep(100 * 1000);
        snprintf(cmd, sizeof(cmd),
                 "mosquitto_pub -h 127.0.0.1 -p %u -r -q 1 -t twinpipe/v1/veh-000005/config "
                 "-m '{\"report_every_ms\":1000}' 2>/dev/null",
                 port);
        rc = system(cmd);
    }
    if (rc != 0)
        kill(broker, SIGTERM); /* not left running when the check fails */
    ck_assert_int_eq(rc, 0);
    snprintf(cmd, sizeof(cmd),
             "mosquitto_pub -h 127.0.0.1 -p %u -r -q 1 -t twinpipe/v1/veh-000006/config "
             "-m '{\"report_every_ms\":\"x\"}'",
             port);
    rc = system(cmd);
    if (rc != 0)
        kill(broker, SIGTERM);
    ck_assert_int_eq(rc, 0);
    snprintf(cmd, sizeof(cmd),
             "timeout 60 %s/tp-loadgen --loadgen.transport=mqtt --loadgen.mqtt_url=127.0.0.1:%u "
             "--loadgen.mqtt_version=5 --loadgen.devices=40 --loadgen.connections=1 "
             "--loadgen.mqtt_subscriptions=40 --loadgen.period_ms=3000 --loadgen.readings=0 "
             "--loadgen.duration_s=3 2>/dev/null",
             TP_BIN_DIR, port);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(out, 1, sizeof(out) - 1, p);
    out[got] = '\0';
    int lrc = pclose(p);
    ck_assert_int_eq(kill(broker, SIGTERM), 0);
    ck_assert_int_eq(waitpid(broker, NULL, 0), broker);
    unlink(conf);
    ck_assert_msg(WIFEXITED(lrc) && WEXITSTATUS(lrc) == 0, "tp-loadgen exit %d:\n%s", lrc, out);
    ck_assert_msg(strstr(out, "\nperiods: obeyed; 1 devices changed period (1 changes), the first "
                              "after "),
                  "%s", out);
    ck_assert_msg(strstr(out, " ms; at the end: 1000 ms x 1 3000 ms x 39\n"), "%s", out);
    ck_assert_msg(strstr(out, "\nconfig topics: 40 subscribed, 0 refused; 2 config messages, 1 "
                              "with a period\n"),
                  "%s", out);
}
END_TEST

static Suite *loadgen_period_suite(void)
{
    Suite *s = suite_create("loadgen_period_integration");
    TCase *tc = tcase_create("loadgen_period");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 200);
    tcase_add_test(tc, test_http_gateway);
    tcase_add_test(tc, test_mqtt5_devices);
    tcase_add_test(tc, test_mqtt311_gateway);
    suite_add_tcase(s, tc);
    TCase *broker = tcase_create("loadgen_period_mosquitto");
    tcase_set_timeout(broker, 90);
    tcase_add_test(broker, test_mqtt_gateway_mosquitto);
    suite_add_tcase(s, broker);
    return s;
}

TP_CHECK_MAIN(loadgen_period_suite)
