/*
 * test_mqtt.c - tp-ingest's MQTT transport (ingest/mqtt_server.c) against the
 * dev stack, with clients nobody here wrote: Debian's mosquitto_pub and
 * mosquitto_sub (mosquitto-clients 2.0), in MQTT 3.1.1 and 5.
 *   - a QoS 1 reading published in each version reaches its twin (tp-projector,
 *     read back from PostgreSQL with exact values);
 *   - a device cannot publish as another: a topic of another device, and a
 *     reading of another device on its own topic, get PUBACK 0x87 (MQTT 5) or a
 *     closed connection (3.1.1), the refusal is logged with the client id, and
 *     nothing is journaled;
 *   - a payload that does not decode lands in the dead-letter topic with
 *     tp-reason, tp-client-id and tp-mqtt-topic (read with kcat), and gets
 *     PUBACK 0x99;
 *   - bad and expired credentials get CONNACK 0x86 (MQTT 5) / return code 4;
 *   - SUBSCRIBE granted for the device's config topic only;
 *   - /metrics counts each of these exactly;
 *   - Paho (Python, PyPI paho-mqtt 2.2.0, tests/integration/mqtt_paho.py): the MQTT 5
 *     CONNACK's properties and four PUBACK reason codes on one connection, in order; a
 *     gateway token's 48 readings of 8 devices (several partitions) sent at once, PUBACKed
 *     in the order sent;
 *   - the ack ring (integration/mqtt_window.py, a raw client, mqtt.receive_maximum=8): PUBACK
 *     reason codes, Reason Strings and User Property exact and in order; a window of exactly
 *     8 in flight; the ring's slots held only while PUBLISHes are in flight, PUBACKs in order
 *     after it grew, was freed and grew again.
 */
#include <check.h>
#include <stdarg.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/mem.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "tests/support/twindb.h"
#include "token/auth.h"

#define SECRET "mqtt-integration-secret-0001"

static struct stack st;
static uint16_t ingest_port, projector_port, mqtt_port;
static pid_t ingest_pid, projector_pid;
static char mqtt_env[64], dir[256];

/* A token for device (or a gateway prefix), expiring at expiry_s. */
static void mint(enum auth_kind kind, const char *scope, int64_t expiry_s, char *out, size_t n)
{
    struct auth_claims c = {.kind = kind, .expiry_s = expiry_s};
    snprintf(c.scope, sizeof(c.scope), "%s", scope);
    char errstr[256];
    ck_assert_msg(auth_mint(SECRET, &c, out, n, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
}

/* A ReadingBatch of one reading of device (sequence, speed) written to dir/name. */
static void payload(const char *name, const char *device, uint64_t seq, double speed, char *path,
                    size_t n)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT, *pr = &r;
    r.device_id = (char *)device;
    r.has_sequence = 1;
    r.sequence = seq;
    r.has_timestamp_ms = 1;
    r.timestamp_ms = tp_now_ms();
    r.has_speed_kmh = 1;
    r.speed_kmh = speed;
    Twinpipe__Telemetry__V1__ReadingBatch b = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    b.readings = &pr;
    b.n_readings = 1;
    size_t len = protobuf_c_message_get_packed_size(&b.base);
    uint8_t *buf = malloc(len);
    protobuf_c_message_pack(&b.base, buf);
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    free(buf);
}

/* Runs a shell command; its exit code, and stdout+stderr in out. */
static int run(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t n, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char full[4200];
    snprintf(full, sizeof(full), "(%s) 2>&1", cmd);
    FILE *p = popen(full, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* mosquitto_pub of one QoS 1 message; version "mqttv311" or "mqttv5". */
static int pub(char *out, size_t n, const char *version, const char *client, const char *user,
               const char *password, const char *topic, const char *file)
{
    return run(out, n,
               "timeout 20 mosquitto_pub -h 127.0.0.1 -p %u -V %s -q 1 -i '%s' -u '%s' -P '%s' "
               "-t '%s' -f '%s' -d",
               mqtt_port, version, client, user, password, topic, file);
}

/* Lines of the topic (kcat, from the beginning): format per message. */
static int topic_dump(char *out, size_t n, const char *topic, const char *format)
{
    return run(out, n, "kcat -b '%s' -t '%s' -C -e -q -f '%s'", st.bootstrap, topic, format);
}

/* One sample of tp-ingest's /metrics: name{labels} value, exactly. */
static double metric(const char *sample)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", ingest_port);
    struct buf b;
    buf_init(&b, 1 << 22);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &b), 200);
    ck_assert(buf_append(&b, "", 1) == TP_OK);
    char key[256];
    snprintf(key, sizeof(key), "\n%s ", sample);
    const char *at = strstr((const char *)b.data, key);
    ck_assert_msg(at, "no sample %s", sample);
    double v = strtod(at + strlen(key), NULL);
    buf_release(&b);
    return v;
}

static void setup(void)
{
    stack_init(&st, "mqtt");
    stack_db_create(&st);
    snprintf(dir, sizeof(dir), "/tmp/tp-test-mqtt-%d", (int)getpid());
    char out[256];
    ck_assert_int_eq(run(out, sizeof(out), "mkdir -p '%s'", dir), 0);
    ingest_port = stack_free_port();
    mqtt_port = stack_free_port();
    projector_port = stack_free_port();
    snprintf(mqtt_env, sizeof(mqtt_env), "TP_MQTT_LISTEN=127.0.0.1:%u", mqtt_port);
    const char *ingest_env[] = {"TP_AUTH_SECRET=" SECRET, mqtt_env, NULL};
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
    static const char *const projector_env[] = {"TP_PROJECTOR_FLUSH_INTERVAL_MS=50", NULL};
    projector_pid = stack_service_start(&st, "tp-projector", projector_env, projector_port);
}

static void teardown(void)
{
    ck_assert_int_eq(stack_service_stop(projector_pid, SIGTERM), 0);
    /* a clean drain of the MQTT loop too: exit code 0 */
    ck_assert_int_eq(stack_service_stop(ingest_pid, SIGTERM), 0);
    char out[64];
    run(out, sizeof(out), "rm -rf '%s'", dir);
    stack_release(&st);
}

START_TEST(test_mqtt_end_to_end)
{
    char out[8192], file[512], tok[AUTH_TOKEN_MAX + 1], tok2[AUTH_TOKEN_MAX + 1],
        old[AUTH_TOKEN_MAX + 1];
    int64_t now_s = tp_now_ms() / 1000;
    mint(AUTH_DEVICE, "mq-dev-1", now_s + 3600, tok, sizeof(tok));
    mint(AUTH_DEVICE, "mq-dev-2", now_s + 3600, tok2, sizeof(tok2));

    /* 1. a reading in each version reaches its twin */
    payload("r1.bin", "mq-dev-1", 1, 41.5, file, sizeof(file));
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv311", "c-311", "mq-dev-1", tok,
                         "twinpipe/v1/mq-dev-1/telemetry", file),
                     0);
    ck_assert_msg(strstr(out, "received PUBACK (Mid: 1, RC:0)"), "%s", out);
    payload("r2.bin", "mq-dev-1", 2, 43.25, file, sizeof(file));
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv5", "c-5", "mq-dev-1", tok,
                         "twinpipe/v1/mq-dev-1/telemetry", file),
                     0);
    ck_assert_msg(strstr(out, "received PUBACK (Mid: 1, RC:0)"), "%s", out);
    PGconn *db = PQconnectdb(st.dsn);
    ck_assert_int_eq(PQstatus(db), CONNECTION_OK);
    const struct twindb_row *row = NULL;
    struct twindb t = {0};
    for (int tries = 0; tries < 200; tries++) {
        twindb_load(&t, db, "mq-dev-%");
        row = twindb_find(&t, "mq-dev-1");
        if (row && row->v.events == 2)
            break;
        twindb_release(&t);
        row = NULL;
        usleep(100 * 1000);
    }
    ck_assert_msg(row, "the twin of mq-dev-1 never had 2 events");
    ck_assert_int_eq(row->v.last_sequence, 2);
    const struct twin_view_metric *m = twindb_metric(&row->v, "speed_kmh");
    ck_assert_ptr_nonnull(m);
    ck_assert_double_eq(m->value, 43.25);
    ck_assert_double_eq(m->min, 41.5);
    ck_assert_int_eq(m->count, 2);
    ck_assert_uint_eq(t.n, 1);
    twindb_release(&t);
    PQfinish(db);

    /* 2. a device cannot publish as another */
    payload("r3.bin", "mq-dev-3", 1, 1.0, file, sizeof(file));
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv5", "c-imp-5", "mq-dev-2", tok2,
                         "twinpipe/v1/mq-dev-3/telemetry", file),
                     0);
    ck_assert_msg(strstr(out, "received PUBACK (Mid: 1, RC:135)"), "%s", out);
    /* 3.1.1 has no reason code: the connection is closed, no PUBACK */
    ck_assert_int_ne(pub(out, sizeof(out), "mqttv311", "c-imp-311", "mq-dev-2", tok2,
                         "twinpipe/v1/mq-dev-3/telemetry", file),
                     0);
    ck_assert_msg(!strstr(out, "received PUBACK"), "%s", out);
    /* a reading of another device on its own topic */
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv5", "c-imp-own", "mq-dev-2", tok2,
                         "twinpipe/v1/mq-dev-2/telemetry", file),
                     0);
    ck_assert_msg(strstr(out, "received PUBACK (Mid: 1, RC:135)"), "%s", out);
    /* the journal holds mq-dev-1's two readings only */
    ck_assert_int_eq(topic_dump(out, sizeof(out), st.topic, "%k\\n"), 0);
    ck_assert_str_eq(out, "mq-dev-1\nmq-dev-1\n");
    /* logged with the client id */
    char log[512];
    snprintf(log, sizeof(log), "%s/../Testing/%s-tp-ingest.log", TP_BIN_DIR, st.db);
    ck_assert_int_eq(
        run(out, sizeof(out), "grep -c 'PUBLISH refused for client \"c-imp-' '%s'", log), 0);
    ck_assert_str_eq(out, "3\n");

    /* 3. a payload that does not decode: dead-lettered with reason and client id, 0x99 */
    snprintf(file, sizeof(file), "%s/bad.bin", dir);
    ck_assert_int_eq(run(out, sizeof(out), "printf 'not a protobuf' > '%s'", file), 0);
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv5", "c-bad", "mq-dev-1", tok,
                         "twinpipe/v1/mq-dev-1/telemetry", file),
                     0);
    ck_assert_msg(strstr(out, "received PUBACK (Mid: 1, RC:153)"), "%s", out);
    /* 3.1.1: durable in the dead-letter topic, so a plain PUBACK */
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv311", "c-bad-311", "mq-dev-1", tok,
                         "twinpipe/v1/mq-dev-1/telemetry", file),
                     0);
    ck_assert_msg(strstr(out, "received PUBACK (Mid: 1, RC:0)"), "%s", out);
    char dlq[160];
    snprintf(dlq, sizeof(dlq), "%s.dlq", st.topic);
    ck_assert_int_eq(topic_dump(out, sizeof(out), dlq, "%k %s|%h\\n"), 0);
    ck_assert_msg(strstr(out, "mq-dev-1 not a protobuf|tp-reason=invalid_protobuf,"), "%s", out);
    ck_assert_msg(strstr(out, "tp-client-id=c-bad,tp-mqtt-topic=twinpipe/v1/mq-dev-1/telemetry,"
                              "tp-transport=mqtt\n"),
                  "%s", out);
    ck_assert_msg(strstr(out, "tp-client-id=c-bad-311,"), "%s", out);

    /* 4. bad credentials: CONNACK refused */
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv5", "c-x", "mq-dev-1", "not-a-token",
                         "twinpipe/v1/mq-dev-1/telemetry", file),
                     134);
    ck_assert_msg(strstr(out, "received CONNACK (134)"), "%s", out);
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv311", "c-x", "mq-dev-1", "not-a-token",
                         "twinpipe/v1/mq-dev-1/telemetry", file),
                     4);
    ck_assert_msg(strstr(out, "received CONNACK (4)"), "%s", out);
    /* a device token under another user name */
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv5", "c-x", "mq-dev-2", tok,
                         "twinpipe/v1/mq-dev-1/telemetry", file),
                     134);
    /* an expired token */
    mint(AUTH_DEVICE, "mq-dev-1", tp_now_ms() / 1000 + 1, old, sizeof(old));
    sleep(2);
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv5", "c-x", "mq-dev-1", old,
                         "twinpipe/v1/mq-dev-1/telemetry", file),
                     134);

    /* 5. SUBSCRIBE: the own config topic only */
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 20 mosquitto_sub -h 127.0.0.1 -p %u -V mqttv5 -i c-sub -u "
                         "mq-dev-1 -P '%s' -t twinpipe/v1/mq-dev-1/config -t "
                         "twinpipe/v1/mq-dev-2/config -t '#' -d -W 1",
                         mqtt_port, tok),
                     27); /* -W: timed out, as nothing is published there */
    ck_assert_msg(strstr(out, "Subscribed (mid: 1): 0, 135, 135"), "%s", out);

    /* /metrics, exactly */
    ck_assert_double_eq(metric("tp_ingest_mqtt_connects_total{result=\"accepted\"}"), 8);
    ck_assert_double_eq(metric("tp_ingest_mqtt_connects_total{result=\"bad_credentials\"}"), 4);
    ck_assert_double_eq(metric("tp_ingest_mqtt_publishes_total{qos=\"1\",outcome=\"acked\"}"), 2);
    ck_assert_double_eq(
        metric("tp_ingest_mqtt_publishes_total{qos=\"1\",outcome=\"dead_lettered\"}"), 2);
    ck_assert_double_eq(
        metric("tp_ingest_mqtt_publishes_total{qos=\"1\",outcome=\"not_authorized\"}"), 3);
    ck_assert_double_eq(metric("tp_ingest_mqtt_subscriptions_total{result=\"granted\"}"), 1);
    ck_assert_double_eq(metric("tp_ingest_mqtt_subscriptions_total{result=\"refused\"}"), 2);
    ck_assert_double_eq(metric("tp_ingest_mqtt_connections"), 0);
    ck_assert_double_eq(metric("tp_ingest_mqtt_inflight_messages"), 0);

    /* 6. Paho (Python, PyPI paho-mqtt 2.2.0 in a venv): MQTT 5 CONNACK properties and the
     * PUBACK reason codes, in order on one connection */
    char py[1024];
    ck_assert_int_eq(run(py, sizeof(py),
                         "bash '%s/tests/support/pyvenv.sh' mqttvenv --import paho.mqtt.client "
                         "'paho-mqtt==2.2.0' 2>/dev/null",
                         TP_SOURCE_DIR),
                     0);
    py[strcspn(py, "\n")] = '\0';
    payload("r4.bin", "mq-dev-1", 3, 44.0, file, sizeof(file));
    char gw[AUTH_TOKEN_MAX + 1];
    mint(AUTH_PREFIX, "mq-gw-", now_s + 3600, gw, sizeof(gw));
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 60 '%s' '%s/tests/integration/mqtt_paho.py' %u "
                         "mq-dev-1 '%s' '%s' mq-gw- '%s'",
                         py, TP_SOURCE_DIR, mqtt_port, tok, file, gw),
                     0);
    ck_assert_str_eq(out, "connack 0 session_present=0\n"
                          "receive_maximum 64\n"
                          "maximum_qos 1\n"
                          "retain_available 0\n"
                          "server_keep_alive 1200\n"
                          "puback_own 0\n"
                          "puback_other_device 135\n"
                          "puback_undecodable 153\n"
                          "puback_other_topic 144\n"
                          "gateway_pubacks 48\n"
                          "gateway_in_order 1\n"
                          "gateway_codes [0]\n");

    /* 7. the same client id again takes over: the older connection gets DISCONNECT 0x8E */
    char held[1024];
    snprintf(held, sizeof(held),
             "timeout 4 mosquitto_sub -h 127.0.0.1 -p %u -V mqttv5 -i same-id -u mq-dev-1 -P '%s' "
             "-t twinpipe/v1/mq-dev-1/config -d > '%s/same.log' 2>&1 &",
             mqtt_port, tok, dir);
    ck_assert_int_eq(run(out, sizeof(out), "%s", held), 0);
    usleep(1000 * 1000);
    payload("r5.bin", "mq-dev-1", 4, 45.0, file, sizeof(file));
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv5", "same-id", "mq-dev-1", tok,
                         "twinpipe/v1/mq-dev-1/telemetry", file),
                     0);
    usleep(3500 * 1000);
    ck_assert_int_eq(
        run(out, sizeof(out), "grep -c 'Received DISCONNECT (142)' '%s/same.log'", dir), 0);
    ck_assert_double_eq(metric("tp_ingest_mqtt_disconnects_total{reason=\"session_taken_over\"}"),
                        1);
}
END_TEST

static size_t seqs(const char *text, bool *seen, size_t max);

/* tp-ingest alone, with a keep-alive maximum of 2 s and one connection. */
static void setup_limits(void)
{
    stack_init(&st, "mqttlim");
    ingest_port = stack_free_port();
    mqtt_port = stack_free_port();
    snprintf(mqtt_env, sizeof(mqtt_env), "TP_MQTT_LISTEN=127.0.0.1:%u", mqtt_port);
    const char *ingest_env[] = {"TP_AUTH_SECRET=" SECRET,       mqtt_env,
                                "TP_MQTT_KEEPALIVE_MAX_S=2",    "TP_MQTT_MAX_CONNECTIONS=1",
                                "TP_INGEST_MAX_OUTSTANDING=10", "TP_INGEST_MAX_READINGS=10",
                                "TP_KAFKA_LINGER_MS=1000",      NULL};
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
    snprintf(dir, sizeof(dir), "/tmp/tp-test-mqttlim-%d", (int)getpid());
    char out[256];
    ck_assert_int_eq(run(out, sizeof(out), "mkdir -p '%s'", dir), 0);
}

static void teardown_limits(void)
{
    ck_assert_int_eq(stack_service_stop(ingest_pid, SIGTERM), 0);
    char out[64];
    run(out, sizeof(out), "rm -rf '%s'", dir);
}

/* QoS 0 is journaled without an answer; past mqtt.max_connections CONNACK busy (0x89 / 3);
 * a 3.1.1 client pinging less often than 1.5 x the server's maximum is disconnected, while
 * an MQTT 5 client told Server Keep Alive stays. */
START_TEST(test_mqtt_limits)
{
    char out[8192], file[512], tok[AUTH_TOKEN_MAX + 1];
    mint(AUTH_DEVICE, "mq-lim-1", tp_now_ms() / 1000 + 3600, tok, sizeof(tok));
    payload("q0.bin", "mq-lim-1", 1, 7.5, file, sizeof(file));
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 20 mosquitto_pub -h 127.0.0.1 -p %u -V mqttv5 -q 0 -i q0 -u "
                         "mq-lim-1 -P '%s' -t twinpipe/v1/mq-lim-1/telemetry -f '%s' -d",
                         mqtt_port, tok, file),
                     0);
    for (int tries = 0; tries < 100; tries++) {
        if (metric("tp_ingest_mqtt_publishes_total{qos=\"0\",outcome=\"acked\"}") == 1)
            break;
        usleep(100 * 1000);
    }
    ck_assert_double_eq(metric("tp_ingest_mqtt_publishes_total{qos=\"0\",outcome=\"acked\"}"), 1);
    ck_assert_int_eq(topic_dump(out, sizeof(out), st.topic, "%k\\n"), 0);
    ck_assert_str_eq(out, "mq-lim-1\n");

    /* backpressure: 5 PUBLISHes of 10 readings each against ingest.max_outstanding=10 and a
     * linger of 1 s: each waits (not refused, no disconnect) until the one before is acked */
    journal_reading rs[10], *ps[10];
    for (int i = 0; i < 10; i++) {
        rs[i] = (journal_reading)TWINPIPE__TELEMETRY__V1__READING__INIT;
        rs[i].device_id = "mq-lim-1";
        rs[i].has_sequence = 1;
        rs[i].sequence = (uint64_t)(10 + i);
        rs[i].has_timestamp_ms = 1;
        rs[i].timestamp_ms = tp_now_ms();
        ps[i] = &rs[i];
    }
    Twinpipe__Telemetry__V1__ReadingBatch b10 = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    b10.readings = ps;
    b10.n_readings = 10;
    size_t len10 = protobuf_c_message_get_packed_size(&b10.base);
    uint8_t *buf10 = malloc(len10);
    protobuf_c_message_pack(&b10.base, buf10);
    char file10[512];
    snprintf(file10, sizeof(file10), "%s/b10.bin", dir);
    FILE *f10 = fopen(file10, "wb");
    ck_assert_ptr_nonnull(f10);
    ck_assert_uint_eq(fwrite(buf10, 1, len10, f10), len10);
    fclose(f10);
    free(buf10);
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 60 mosquitto_pub -h 127.0.0.1 -p %u -V mqttv5 -q 1 -i bp -u "
                         "mq-lim-1 -P '%s' -t twinpipe/v1/mq-lim-1/telemetry -f '%s' --repeat 5 "
                         "--repeat-delay 0 -d",
                         mqtt_port, tok, file10),
                     0);
    for (int m = 1; m <= 5; m++) {
        char ack[64];
        snprintf(ack, sizeof(ack), "received PUBACK (Mid: %d, RC:0)", m);
        ck_assert_msg(strstr(out, ack), "%s", out);
    }
    ck_assert_int_eq(topic_dump(out, sizeof(out), st.topic, "%k\\n"), 0);
    size_t events = 0;
    for (const char *p = out; (p = strstr(p, "mq-lim-1\n")); p++)
        events++;
    ck_assert_uint_eq(events, 51);
    ck_assert_double_eq(
        metric("tp_ingest_mqtt_publishes_total{qos=\"1\",outcome=\"journal_failed\"}"), 0);
    char log[512];
    snprintf(log, sizeof(log), "%s/../Testing/%s-tp-ingest.log", TP_BIN_DIR, st.db);
    ck_assert_int_eq(run(out, sizeof(out), "grep -c 'mqtt: reading paused' '%s'", log), 0);
    /* 60 one-reading PUBLISHes at once (Paho, window 64): the 11th finds the producer full,
     * is kept and submitted again when the reports drain; every one PUBACKed 0 */
    char py[1024];
    ck_assert_int_eq(run(py, sizeof(py),
                         "bash '%s/tests/support/pyvenv.sh' mqttvenv --import paho.mqtt.client "
                         "'paho-mqtt==2.2.0' 2>/dev/null",
                         TP_SOURCE_DIR),
                     0);
    py[strcspn(py, "\n")] = '\0';
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 120 '%s' '%s/tests/integration/mqtt_kill.py' %u mq-lim-1 '%s' 0 "
                         "60 61",
                         py, TP_SOURCE_DIR, mqtt_port, tok),
                     0);
    static bool burst[61];
    ck_assert_uint_eq(seqs(out, burst, 60), 60);
    ck_assert_int_eq(
        run(out, sizeof(out), "grep -c 'producer is over ingest.max_outstanding' '%s'", log), 0);
    ck_assert_double_eq(
        metric("tp_ingest_mqtt_publishes_total{qos=\"1\",outcome=\"journal_failed\"}"), 0);

    /* one connection held (MQTT 5, keep-alive 5 s: told 2 s, pings in time) for 5 s */
    char held[1024];
    snprintf(held, sizeof(held),
             "timeout 5 mosquitto_sub -h 127.0.0.1 -p %u -V mqttv5 -i held -u mq-lim-1 -P '%s' "
             "-t twinpipe/v1/mq-lim-1/config -k 5 > '%s/held.log' 2>&1 &",
             mqtt_port, tok, dir);
    ck_assert_int_eq(run(out, sizeof(out), "%s", held), 0);
    usleep(1000 * 1000);
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv5", "busy5", "mq-lim-1", tok,
                         "twinpipe/v1/mq-lim-1/telemetry", file),
                     137);
    ck_assert_msg(strstr(out, "received CONNACK (137)"), "%s", out);
    ck_assert_int_eq(pub(out, sizeof(out), "mqttv311", "busy311", "mq-lim-1", tok,
                         "twinpipe/v1/mq-lim-1/telemetry", file),
                     3);
    ck_assert_double_eq(metric("tp_ingest_mqtt_connects_total{result=\"busy\"}"), 2);
    usleep(4500 * 1000); /* the held one ends (timeout 5) */
    ck_assert_double_eq(metric("tp_ingest_mqtt_disconnects_total{reason=\"keepalive_timeout\"}"),
                        0);

    /* 3.1.1, keep-alive 5 s: closed after 3 s of silence (1.5 x 2 s) */
    int64_t t0 = tp_mono_ms();
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 20 mosquitto_sub -h 127.0.0.1 -p %u -V mqttv311 -i ka -u "
                         "mq-lim-1 -P '%s' -t twinpipe/v1/mq-lim-1/config -k 5 -C 1 -W 4 -d",
                         mqtt_port, tok),
                     27);
    ck_assert_int_ge(tp_mono_ms() - t0, 3000);
    ck_assert_double_eq(metric("tp_ingest_mqtt_disconnects_total{reason=\"keepalive_timeout\"}"),
                        1);
}
END_TEST

static uint16_t kill_http_port;
static char kill_py[1024];

/* tp-ingest with MQTT and tp-projector, on a fresh database and topic. */
static void setup_kill(void)
{
    stack_init(&st, "mqttkill");
    stack_db_create(&st);
    ingest_port = stack_free_port();
    mqtt_port = stack_free_port();
    projector_port = stack_free_port();
    kill_http_port = ingest_port;
    snprintf(mqtt_env, sizeof(mqtt_env), "TP_MQTT_LISTEN=127.0.0.1:%u", mqtt_port);
    const char *ingest_env[] = {"TP_AUTH_SECRET=" SECRET, mqtt_env, NULL};
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
    static const char *const projector_env[] = {"TP_PROJECTOR_FLUSH_INTERVAL_MS=50", NULL};
    projector_pid = stack_service_start(&st, "tp-projector", projector_env, projector_port);
    ck_assert_int_eq(run(kill_py, sizeof(kill_py),
                         "bash '%s/tests/support/pyvenv.sh' mqttvenv --import paho.mqtt.client "
                         "'paho-mqtt==2.2.0' 2>/dev/null",
                         TP_SOURCE_DIR),
                     0);
    kill_py[strcspn(kill_py, "\n")] = '\0';
}

/* Marks seen[sequence] for every event of device on the topic (journal reader, from the
 * start); returns the events read. */
static size_t journal_seqs(const char *device, bool *seen, size_t max)
{
    char errstr[512];
    struct journal_config jc = {.bootstrap_servers = st.bootstrap, .topic = st.topic};
    struct journal_reader *r;
    ck_assert_int_eq(journal_reader_new(&jc, &r, errstr, sizeof(errstr)), TP_OK);
    int64_t lo[16], hi[16];
    size_t np = 0;
    ck_assert_msg(journal_reader_watermarks(r, 10000, lo, hi, 16, &np, errstr, sizeof(errstr)) ==
                      TP_OK,
                  "%s", errstr);
    int32_t parts[16];
    int64_t want = 0;
    for (size_t p = 0; p < np; p++) {
        parts[p] = (int32_t)p;
        want += hi[p] - lo[p];
    }
    ck_assert_int_eq(journal_reader_assign(r, parts, lo, np, errstr, sizeof(errstr)), TP_OK);
    size_t got = 0;
    for (int tries = 0; tries < 300 && (int64_t)got < want; tries++) {
        struct journal_event evs[64];
        struct arena a;
        arena_init(&a);
        size_t n = 0;
        ck_assert_int_eq(journal_reader_poll(r, 100, evs, 64, &a, &n, errstr, sizeof(errstr)),
                         TP_OK);
        for (size_t i = 0; i < n; i++, got++) {
            ck_assert_ptr_nonnull(evs[i].reading);
            ck_assert_str_eq(evs[i].reading->device_id, device);
            uint64_t q = evs[i].reading->sequence;
            ck_assert(q >= 1 && q <= max);
            seen[q] = true;
        }
        arena_release(&a);
        journal_reader_release(r);
    }
    journal_reader_free(r);
    ck_assert_int_eq((int64_t)got, want);
    return got;
}

/* Parses "1,2,5" into a set of sequences (seen[seq] = true); returns how many. */
static size_t seqs(const char *text, bool *seen, size_t max)
{
    size_t n = 0;
    for (const char *p = text; *p && *p != '\n';) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        ck_assert_msg(end != p && v >= 1 && v <= max, "bad sequence list %s", text);
        ck_assert_msg(!seen[v], "sequence %lu twice in %s", v, text);
        seen[v] = true;
        n++;
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

#define KILL_COUNT 600
#define KILL_AFTER 150

/* kill -9 of tp-ingest under QoS 1 load: every reading the client saw PUBACKed is in the
 * journal; after a restart the client sends everything again and the twin holds each reading
 * exactly once. */
START_TEST(test_mqtt_kill9)
{
    char out[16384], tok[AUTH_TOKEN_MAX + 1];
    mint(AUTH_DEVICE, "mq-kill-1", tp_now_ms() / 1000 + 3600, tok, sizeof(tok));
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 120 '%s' '%s/tests/integration/mqtt_kill.py' %u mq-kill-1 '%s' "
                         "%d %d %d",
                         kill_py, TP_SOURCE_DIR, mqtt_port, tok, (int)ingest_pid, KILL_COUNT,
                         KILL_AFTER),
                     0);
    static bool acked[KILL_COUNT + 1], journaled[KILL_COUNT + 1];
    size_t n_acked = seqs(out, acked, KILL_COUNT);
    ck_assert_uint_ge(n_acked, KILL_AFTER);
    ck_assert_uint_lt(n_acked, KILL_COUNT);
    int status = stack_service_stop(ingest_pid, SIGTERM);
    ck_assert_msg(WIFSIGNALED(status & 0xffff) && WTERMSIG(status & 0xffff) == SIGKILL,
                  "status %#x", status);
    /* every PUBACKed reading is in the journal */
    ck_assert_uint_ge(journal_seqs("mq-kill-1", journaled, KILL_COUNT), n_acked);
    for (size_t q = 1; q <= KILL_COUNT; q++)
        ck_assert_msg(!acked[q] || journaled[q], "reading %zu PUBACKed but not journaled", q);

    /* restart; the client sends all again (it never saw the rest PUBACKed) */
    const char *ingest_env[] = {"TP_AUTH_SECRET=" SECRET, mqtt_env, NULL};
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, kill_http_port);
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 120 '%s' '%s/tests/integration/mqtt_kill.py' %u mq-kill-1 '%s' "
                         "%d %d %d",
                         kill_py, TP_SOURCE_DIR, mqtt_port, tok, (int)ingest_pid, KILL_COUNT,
                         KILL_COUNT + 1),
                     0);
    memset(journaled, 0, sizeof(journaled));
    ck_assert_uint_eq(seqs(out, journaled, KILL_COUNT), KILL_COUNT);
    PGconn *db = PQconnectdb(st.dsn);
    ck_assert_int_eq(PQstatus(db), CONNECTION_OK);
    const struct twindb_row *row = NULL;
    struct twindb t = {0};
    for (int tries = 0; tries < 300; tries++) {
        twindb_load(&t, db, "mq-kill-%");
        row = twindb_find(&t, "mq-kill-1");
        if (row && row->v.last_sequence == KILL_COUNT)
            break;
        twindb_release(&t);
        row = NULL;
        usleep(100 * 1000);
    }
    ck_assert_msg(row, "the twin of mq-kill-1 never reached sequence %d", KILL_COUNT);
    /* each reading exactly once, the PUBACKed ones before the kill included */
    ck_assert_int_eq(row->v.events, KILL_COUNT);
    twindb_release(&t);
    PQfinish(db);
}
END_TEST

/* tp-ingest alone, with a window of 8 (mqtt.receive_maximum) and a 1 s linger. */
static void setup_window(void)
{
    stack_init(&st, "mqttwin");
    ingest_port = stack_free_port();
    mqtt_port = stack_free_port();
    snprintf(mqtt_env, sizeof(mqtt_env), "TP_MQTT_LISTEN=127.0.0.1:%u", mqtt_port);
    const char *ingest_env[] = {"TP_AUTH_SECRET=" SECRET, mqtt_env, "TP_MQTT_RECEIVE_MAXIMUM=8",
                                "TP_KAFKA_LINGER_MS=1000", NULL};
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
}

static void teardown_window(void)
{
    ck_assert_int_eq(stack_service_stop(ingest_pid, SIGTERM), 0);
}

/* The ack ring, allocated only while PUBLISHes are in flight (integration/mqtt_window.py, a
 * raw client): MQTT 5 PUBACKs of every outcome in order with their exact reason codes, Reason
 * Strings and User Property; the ring freed once idle; a 3.1.1 burst of 20 and then of 12
 * against the window of 8: exactly 8 in flight (never more), the connection paused, 8 slots
 * held, every PUBACK in the order sent, and the ring freed after each burst. */
START_TEST(test_mqtt_window)
{
    char out[4096], gw[AUTH_TOKEN_MAX + 1];
    mint(AUTH_PREFIX, "mq-win-", tp_now_ms() / 1000 + 3600, gw, sizeof(gw));
    ck_assert_double_eq(metric("tp_ingest_mqtt_ack_ring_slots"), 0);
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 90 python3 '%s/tests/integration/mqtt_window.py' %u %u mq-win- "
                         "'%s'",
                         TP_SOURCE_DIR, mqtt_port, ingest_port, gw),
                     0);
    ck_assert_str_eq(out, "connack5 rm=8\n"
                          "puback5 1 0x99 rs=invalid_protobuf\n"
                          "puback5 2 0x83 rs=missing_sequence\n"
                          "puback5 3 0x00 up=tp-dead-lettered=1\n"
                          "puback5 4 0x87\n"
                          "puback5 5 0x90\n"
                          "slots 0\n"
                          "inflight 8 paused 1 slots 8\n"
                          "acks 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20\n"
                          "max_inflight 8\n"
                          "slots 0\n"
                          "inflight 8 paused 1 slots 8\n"
                          "acks 21,22,23,24,25,26,27,28,29,30,31,32\n"
                          "max_inflight 8\n"
                          "slots 0\n");
    ck_assert_double_eq(metric("tp_ingest_mqtt_publishes_total{qos=\"1\",outcome=\"acked\"}"), 32);
    ck_assert_double_eq(
        metric("tp_ingest_mqtt_publishes_total{qos=\"1\",outcome=\"dead_lettered\"}"), 3);
    ck_assert_double_eq(metric("tp_ingest_mqtt_inflight_messages"), 0);
    ck_assert_double_eq(metric("tp_ingest_mqtt_paused_connections"), 0);
    ck_assert_double_eq(metric("tp_ingest_mqtt_ack_ring_slots"), 0);
}
END_TEST

static Suite *mqtt_suite(void)
{
    Suite *s = suite_create("mqtt");
    TCase *tc = tcase_create("mqtt");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_mqtt_end_to_end);
    suite_add_tcase(s, tc);
    TCase *lim = tcase_create("limits");
    tcase_add_unchecked_fixture(lim, setup_limits, teardown_limits);
    tcase_set_timeout(lim, 120);
    tcase_add_test(lim, test_mqtt_limits);
    suite_add_tcase(s, lim);
    TCase *kill = tcase_create("kill9");
    tcase_add_unchecked_fixture(kill, setup_kill, teardown);
    tcase_set_timeout(kill, 300);
    tcase_add_test(kill, test_mqtt_kill9);
    suite_add_tcase(s, kill);
    TCase *win = tcase_create("window");
    tcase_add_unchecked_fixture(win, setup_window, teardown_window);
    tcase_set_timeout(win, 120);
    tcase_add_test(win, test_mqtt_window);
    suite_add_tcase(s, win);
    return s;
}

TP_CHECK_MAIN(mqtt_suite)
