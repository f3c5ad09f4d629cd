/*
 * test_ingest_period.c - tp-ingest tells devices their reporting period from
 * level-of-detail policies (ingest/period.h; docs/decisions/regions.md,
 * section 3), against the dev stack: policy records are produced directly
 * (policy_record_write) to a policies topic of the test's own, tp-ingest
 * follows it (policy.topics) at site region-a.
 *   - HTTP: with a policy model=tp-truck (1 s) read before the start, the
 *     first 202 of a truck carries 1000, a car's the default 3000, a truck
 *     reading without attributes 3000; a policy for region-b only changes
 *     nothing here; a gateway's batch gets the default and the trucks in
 *     report_every_ms_by_device; a policy produced while running applies
 *     within seconds; a new revision ending the truck policy soon: after its
 *     until, 3000 again with no record; exact bodies;
 *   - MQTT: mosquitto_sub (MQTT 5 QoS 1 and 3.1.1 QoS 0) on a device's config
 *     topic gets the retained {"report_every_ms":2000} (a device-id policy),
 *     then 1000 when a faster policy arrives, then 2000 when it expires;
 *     Paho: a connection that subscribes first gets 3000 (no attributes yet),
 *     then 1000 once it published a truck reading;
 *   - /metrics: the answers that carried a policy's period, exactly.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/mem.h"
#include "journal/journal.h"
#include "policy/policy.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "token/auth.h"

#define SECRET "period-integration-secret-0001"

static struct stack st;
static uint16_t port, mqtt_port;
static pid_t pid;
static char ptopic[160], dir[256];
static struct journal_producer *prod;
static uint64_t seq = 1;

static void on_delivery(void *opaque, const struct journal_delivery *d, void *arg)
{
    (void)arg;
    *(enum tp_err *)opaque = d->err;
}

/* Produces policy name: selector (JSON members), period, [from, until) in ms; or a tombstone. */
static void policy(const char *name, const char *selector, int64_t every, int64_t from,
                   int64_t until, int64_t revision)
{
    char body[1024], f[40], u[40], errstr[512];
    struct buf value;
    buf_init(&value, POLICY_RECORD_MAX);
    if (selector) {
        policy_time_format(from, f, sizeof(f));
        policy_time_format(until, u, sizeof(u));
        snprintf(body, sizeof(body),
                 "{\"selector\":{%s},\"level\":\"aggregates\",\"report_every_ms\":%lld,"
                 "\"from\":\"%s\",\"until\":\"%s\"}",
                 selector, (long long)every, f, u);
        struct policy p;
        enum policy_error code;
        struct policy_limits lim = {.max_duration_ms = INT64_MAX};
        ck_assert_msg(policy_parse_body(body, strlen(body), name, &lim, tp_now_ms(), &p, &code,
                                        errstr, sizeof(errstr)) == TP_OK,
                      "%s", errstr);
        p.issued_at_ms = tp_now_ms();
        p.revision = revision;
        ck_assert_int_eq(policy_record_write(&p, &value), TP_OK);
        policy_release(&p);
    }
    enum tp_err delivered = TP_IO;
    ck_assert_int_eq(journal_producer_append_record(prod, name, strlen(name),
                                                    selector ? value.data : NULL, value.len,
                                                    &delivered, errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(journal_producer_flush(prod, 15000), TP_OK);
    ck_assert_int_eq(delivered, TP_OK);
    buf_release(&value);
}

static void mint(enum auth_kind kind, const char *scope, char *out, size_t n)
{
    struct auth_claims c = {.kind = kind, .expiry_s = tp_now_ms() / 1000 + 3600};
    snprintf(c.scope, sizeof(c.scope), "%s", scope);
    char errstr[256];
    ck_assert_msg(auth_mint(SECRET, &c, out, n, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
}

/* A ReadingBatch of one reading per device[i] (model[i]: NULL for none), packed. */
static uint8_t *batch(const char *const *device, const char *const *model, size_t n, size_t *len)
{
    journal_reading r[8], *pr[8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        journal_reading x = TWINPIPE__TELEMETRY__V1__READING__INIT;
        r[i] = x;
        r[i].device_id = (char *)device[i];
        r[i].model = (char *)model[i];
        r[i].has_sequence = 1;
        r[i].sequence = seq++;
        r[i].has_timestamp_ms = 1;
        r[i].timestamp_ms = tp_now_ms();
        pr[i] = &r[i];
    }
    Twinpipe__Telemetry__V1__ReadingBatch b = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    b.readings = pr;
    b.n_readings = n;
    *len = protobuf_c_message_get_packed_size(&b.base);
    uint8_t *buf = tp_malloc(*len);
    protobuf_c_message_pack(&b.base, buf);
    return buf;
}

/* POSTs the batch with token; asserts the 202 body exactly, with its (variable) consistency
 * token: {"accepted":n,"dead_lettered":0,"rejected":[],"token":"<any>"<members>}. */
static void post(const char *token, const char *const *device, const char *const *model, size_t n,
                 const char *members)
{
    size_t len;
    uint8_t *body = batch(device, model, n, &len);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/telemetry", port);
    struct buf resp;
    buf_init(&resp, 1 << 20);
    stack_set_bearer(token);
    long status = stack_http("POST", url, "application/x-protobuf", body, len, &resp);
    stack_set_bearer(NULL);
    ck_assert(buf_append(&resp, "", 1) == TP_OK);
    ck_assert_msg(status == 202, "%ld %s", status, resp.data);
    const char *t = strstr(resp.data, "\"token\":\"");
    ck_assert_msg(t, "%s", resp.data);
    t += strlen("\"token\":\"");
    size_t tl = strcspn(t, "\"");
    char want[1024];
    snprintf(want, sizeof(want),
             "{\"accepted\":%zu,\"dead_lettered\":0,\"rejected\":[],\"token\":\"%.*s\"%s}", n,
             (int)tl, t, members);
    ck_assert_str_eq(resp.data, want);
    buf_release(&resp);
    free(body);
}

/* One sample of /metrics: name{labels} value, exactly. */
static double metric(const char *sample)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
    struct buf b;
    buf_init(&b, 1 << 22);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &b), 200);
    ck_assert(buf_append(&b, "", 1) == TP_OK);
    char key[256];
    snprintf(key, sizeof(key), "\n%s ", sample);
    const char *at = strstr(b.data, key);
    ck_assert_msg(at, "no sample %s", sample);
    double v = strtod(at + strlen(key), NULL);
    buf_release(&b);
    return v;
}

/* Waits (20 s) until tp-ingest has read n policy records. */
static void wait_records(double n)
{
    for (int i = 0; i < 200 && metric("tp_ingest_policy_records_total") < n; i++)
        usleep(100 * 1000);
    ck_assert_double_eq(metric("tp_ingest_policy_records_total"), n);
}

static int run(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t n, const char *fmt, ...)
{
    char cmd[4096], full[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    snprintf(full, sizeof(full), "(%s) 2>&1", cmd);
    FILE *p = popen(full, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Waits (30 s) until file holds `lines` lines; its content in out. */
static void wait_lines(const char *file, int lines, char *out, size_t n)
{
    for (int i = 0; i < 300; i++) {
        FILE *f = fopen(file, "r");
        size_t got = f ? fread(out, 1, n - 1, f) : 0;
        if (f)
            fclose(f);
        out[got] = '\0';
        int count = 0;
        for (const char *p = out; *p; p++)
            count += *p == '\n';
        if (count >= lines)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("%s: fewer than %d lines: %s", file, lines, out);
}

static void setup(void)
{
    stack_init(&st, "period");
    snprintf(ptopic, sizeof(ptopic), "%s.policies", st.topic);
    snprintf(dir, sizeof(dir), "/tmp/tp-test-period-%d", (int)getpid());
    char out[256], errstr[512];
    ck_assert_int_eq(run(out, sizeof(out), "mkdir -p '%s'", dir), 0);
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
}

static void teardown(void)
{
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    journal_producer_free(prod);
    char out[64];
    run(out, sizeof(out), "rm -rf '%s'", dir);
    stack_release(&st);
}

START_TEST(test_period_http_and_mqtt)
{
    int64_t now = tp_now_ms();
    /* read before the start: trucks every second; cars of region-b only */
    policy("trucks", "\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}}", 1000, now - 1000,
           now + 3600000, 1);
    policy("cars-b", "\"attributes\":{\"model\":{\"eq\":\"tp-car\"}},\"sites\":[\"region-b\"]",
           1500, now - 1000, now + 3600000, 1);

    port = stack_free_port();
    mqtt_port = stack_free_port();
    char topics_env[220], mqtt_env[64];
    snprintf(topics_env, sizeof(topics_env), "TP_POLICY_TOPICS=%s", ptopic);
    snprintf(mqtt_env, sizeof(mqtt_env), "TP_MQTT_LISTEN=127.0.0.1:%u", mqtt_port);
    const char *env[] = {"TP_AUTH_SECRET=" SECRET, topics_env, mqtt_env, "TP_SITE_REGION=region-a",
                         NULL};
    pid = stack_service_start(&st, "tp-ingest", env, port);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", port);
    long ready = 0;
    for (int i = 0; i < 200 && ready != 200; i++) {
        ready = stack_http("GET", url, NULL, NULL, 0, NULL);
        if (ready != 200)
            usleep(100 * 1000);
    }
    ck_assert_int_eq(ready, 200);
    /* ready means both records are in: the first truck is told 1000 */
    ck_assert_double_eq(metric("tp_ingest_policy_records_total"), 2);
    ck_assert_double_eq(metric("tp_ingest_policies"), 2);
    ck_assert_double_eq(metric("tp_ingest_policies_ready"), 1);

    char t1[AUTH_TOKEN_MAX + 1], c1[AUTH_TOKEN_MAX + 1], gw[AUTH_TOKEN_MAX + 1];
    mint(AUTH_DEVICE, "veh-t1", t1, sizeof(t1));
    mint(AUTH_DEVICE, "veh-c1", c1, sizeof(c1));
    mint(AUTH_PREFIX, "veh-", gw, sizeof(gw));
    const char *truck[] = {"veh-t1"}, *truck_model[] = {"tp-truck"};
    const char *car[] = {"veh-c1"}, *car_model[] = {"tp-car"}, *none[] = {NULL};
    post(t1, truck, truck_model, 1, ",\"report_every_ms\":1000");
    /* a car: the default (cars-b is for region-b) */
    post(c1, car, car_model, 1, ",\"report_every_ms\":3000");
    /* a truck reading without attributes: ingest keeps no state, only device ids match */
    post(t1, truck, none, 1, ",\"report_every_ms\":3000");
    /* a gateway's batch: the default, and the trucks whose period differs */
    const char *gw_dev[] = {"veh-t2", "veh-c1", "veh-t1", "veh-t2"};
    const char *gw_model[] = {"tp-truck", "tp-car", "tp-truck", NULL};
    post(gw, gw_dev, gw_model, 4,
         ",\"report_every_ms\":3000,\"report_every_ms_by_device\":{\"veh-t1\":1000,"
         "\"veh-t2\":1000}");
    const char *gw_cars[] = {"veh-c1", "veh-c2"}, *gw_cars_model[] = {"tp-car", "tp-car"};
    post(gw, gw_cars, gw_cars_model, 2, ",\"report_every_ms\":3000");

    /* a policy produced while running: the car by id, within seconds, without a restart */
    policy("car-1", "\"device_ids\":[\"veh-c1\"]", 2000, tp_now_ms() - 1000, tp_now_ms() + 3600000,
           1);
    wait_records(3);
    post(c1, car, car_model, 1, ",\"report_every_ms\":2000");

    /* MQTT: the config topic of veh-m1, in MQTT 5 QoS 1 and 3.1.1 QoS 0 */
    char m1[AUTH_TOKEN_MAX + 1], out[4096], f5[300], f311[300];
    mint(AUTH_DEVICE, "veh-m1", m1, sizeof(m1));
    policy("m1", "\"device_ids\":[\"veh-m1\"]", 2000, tp_now_ms() - 1000, tp_now_ms() + 3600000, 1);
    wait_records(4);
    snprintf(f5, sizeof(f5), "%s/sub5.txt", dir);
    snprintf(f311, sizeof(f311), "%s/sub311.txt", dir);
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 60 mosquitto_sub -h 127.0.0.1 -p %u -V mqttv5 -q 1 -i sub-m1-5 "
                         "-u veh-m1 -P '%s' -t twinpipe/v1/veh-m1/config -F '%%r %%q %%t %%p' "
                         "-C 3 > '%s' 2>&1 &",
                         mqtt_port, m1, f5),
                     0);
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 60 mosquitto_sub -h 127.0.0.1 -p %u -V mqttv311 -q 0 -i "
                         "sub-m1-311 -u veh-m1 -P '%s' -t twinpipe/v1/veh-m1/config "
                         "-F '%%r %%q %%t %%p' -C 3 > '%s' 2>&1 &",
                         mqtt_port, m1, f311),
                     0);
    wait_lines(f5, 1, out, sizeof(out));
    ck_assert_str_eq(out, "1 1 twinpipe/v1/veh-m1/config {\"report_every_ms\":2000}\n");
    wait_lines(f311, 1, out, sizeof(out));
    ck_assert_str_eq(out, "1 0 twinpipe/v1/veh-m1/config {\"report_every_ms\":2000}\n");
    /* a faster policy for 6 s: 1000 now (a record), 2000 again at its until (no record) */
    int64_t fast_until = tp_now_ms() + 6000;
    policy("m1-fast", "\"device_ids\":[\"veh-m1\"]", 1000, tp_now_ms() - 1000, fast_until, 1);
    wait_lines(f5, 2, out, sizeof(out));
    ck_assert_msg(tp_now_ms() < fast_until, "the fast policy reached MQTT only after its until");
    ck_assert_str_eq(out, "1 1 twinpipe/v1/veh-m1/config {\"report_every_ms\":2000}\n"
                          "0 1 twinpipe/v1/veh-m1/config {\"report_every_ms\":1000}\n");
    wait_lines(f5, 3, out, sizeof(out));
    ck_assert_int_ge(tp_now_ms(), fast_until);
    ck_assert_str_eq(out, "1 1 twinpipe/v1/veh-m1/config {\"report_every_ms\":2000}\n"
                          "0 1 twinpipe/v1/veh-m1/config {\"report_every_ms\":1000}\n"
                          "0 1 twinpipe/v1/veh-m1/config {\"report_every_ms\":2000}\n");
    wait_lines(f311, 3, out, sizeof(out));
    ck_assert_str_eq(out, "1 0 twinpipe/v1/veh-m1/config {\"report_every_ms\":2000}\n"
                          "0 0 twinpipe/v1/veh-m1/config {\"report_every_ms\":1000}\n"
                          "0 0 twinpipe/v1/veh-m1/config {\"report_every_ms\":2000}\n");

    /* Paho: the config topic follows the attributes of the device's own readings */
    char py[1024], file[320], t9[AUTH_TOKEN_MAX + 1];
    ck_assert_int_eq(run(py, sizeof(py),
                         "bash '%s/tests/support/pyvenv.sh' mqttvenv --import paho.mqtt.client "
                         "'paho-mqtt==2.2.0' 2>/dev/null",
                         TP_SOURCE_DIR),
                     0);
    py[strcspn(py, "\n")] = '\0';
    mint(AUTH_DEVICE, "veh-t9", t9, sizeof(t9));
    const char *t9_dev[] = {"veh-t9"};
    size_t len;
    uint8_t *reading = batch(t9_dev, truck_model, 1, &len);
    snprintf(file, sizeof(file), "%s/t9.bin", dir);
    FILE *f = fopen(file, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(reading, 1, len, f), len);
    fclose(f);
    free(reading);
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 60 '%s' '%s/tests/integration/mqtt_period.py' %u veh-t9 '%s' "
                         "'%s'",
                         py, TP_SOURCE_DIR, mqtt_port, t9, file),
                     0);
    ck_assert_str_eq(out, "config retain=1 qos=1 {\"report_every_ms\":3000}\n"
                          "puback 0\n"
                          "config retain=0 qos=1 {\"report_every_ms\":1000}\n");

    /* a new revision of trucks ends it in 3 s: 1000 until then, 3000 after, no record */
    int64_t until = tp_now_ms() + 3000;
    policy("trucks", "\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}}", 1000, now - 1000, until,
           2);
    wait_records(6);
    ck_assert_int_lt(tp_now_ms(), until);
    post(t1, truck, truck_model, 1, ",\"report_every_ms\":1000");
    while (tp_now_ms() < until + 100)
        usleep(50 * 1000);
    post(t1, truck, truck_model, 1, ",\"report_every_ms\":3000");

    /* /metrics: answers with another period than the default 3000: HTTP 1000, 3000 + map,
     * 2000, 1000; MQTT 2000, 1000, 2000 on both subscriptions and Paho's 1000. With the
     * default: HTTP the car, the bare truck, the gateway's cars, the truck after until; MQTT
     * Paho's first message */
    ck_assert_double_eq(
        metric("tp_ingest_period_answers_total{transport=\"http\",period=\"policy\"}"), 4);
    ck_assert_double_eq(
        metric("tp_ingest_period_answers_total{transport=\"http\",period=\"default\"}"), 4);
    ck_assert_double_eq(
        metric("tp_ingest_period_answers_total{transport=\"mqtt\",period=\"policy\"}"), 7);
    ck_assert_double_eq(
        metric("tp_ingest_period_answers_total{transport=\"mqtt\",period=\"default\"}"), 1);
    ck_assert_double_eq(metric("tp_ingest_policy_records_refused_total"), 0);
}
END_TEST

static Suite *ingest_period_suite(void)
{
    Suite *s = suite_create("ingest_period");
    TCase *tc = tcase_create("period");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_period_http_and_mqtt);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(ingest_period_suite)
