/*
 * test_mqtt_outage.c - Kafka stopped under MQTT load, then started again: nothing is lost
 * after it returns (docs/decisions/mqtt-edge.md, integration test 5).
 *
 * The broker is a private single-node KRaft broker of this test
 * (tests/support/kafka_node.sh: scripts/lib/broker.sh and the dev stack's jars, a folder
 * under the build tree, ports of its own), so killing it disturbs no one else; the
 * dev stack's PostgreSQL holds the test's own database. tp-ingest (mqtt.listen,
 * kafka.message.timeout.ms 3 s), tp-projector and tp-query run against it throughout.
 *
 * Four devices (Paho Python, tests/integration/mqtt_outage.py: two MQTT 5, two 3.1.1)
 * publish a reading every 25 ms each with QoS 1 from an outbox that keeps every reading
 * until its PUBACK and sends what is left again after each reconnect (Session Present 0):
 *   - the broker is SIGKILLed by its pid under that load; 2 s later (what Kafka had
 *     acknowledged is PUBACKed by then) and for the 8 s it stays down, no PUBACK at all;
 *     tp-ingest lives (/healthz 200, /readyz 503), every device still has readings
 *     waiting, every connection is ended by tp-ingest once kafka.message.timeout.ms
 *     passes (MQTT 5: DISCONNECT 0x89);
 *   - started again (same data): tp-ingest takes readings again by itself (/readyz 200),
 *     every reading of every device is PUBACKed 0, never with Session Present 1;
 *   - the journal (read from the private broker) holds every reading 1..N of each device
 *     and nothing else; the twins (tp-query) count each exactly once: events N,
 *     last_sequence N, speed_kmh's count, min, max, sum and value exact;
 *   - tp-ingest's /metrics agree (journal_unavailable disconnects, nothing in flight),
 *     and SIGTERM still drains it to exit 0.
 */
#include <check.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/mem.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"
#include "tests/support/stack.h"
#include "token/auth.h"

#define SECRET    "mqtt-outage-integration-secret-01"
#define QUERY_KEY "mqtt-outage-query-key"
#define N_DEVICES 4
#define MAX_SEQ   20000

static struct stack st;
static char broker_dir[512];
static uint16_t broker_port, controller_port, ingest_port, mqtt_port, projector_port, query_port;
static pid_t ingest_pid, projector_pid, query_pid;
static char mqtt_env[64], query_keys[128];

static const char *const devices[N_DEVICES] = {"mqo-1", "mqo-2", "mqo-3", "mqo-4"};
static const int versions[N_DEVICES] = {5, 311, 5, 311};

/* Runs a shell command; its exit code, and its stdout in out (stderr to the test's log). */
static int run(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t n, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The private broker's start command (first start and restart alike: the same folder). */
static void broker_up_cmd(char *cmd, size_t n)
{
    snprintf(cmd, n,
             "mkdir -p '%s' && bash '%s/tests/support/kafka_node.sh' up '%s' %u %u 2>>'%s/log.up'",
             broker_dir, TP_SOURCE_DIR, broker_dir, broker_port, controller_port, broker_dir);
}

/* The pid the broker's folder records, when that process is alive and is kafka.Kafka. */
static pid_t broker_pid(void)
{
    char out[64];
    if (run(out, sizeof(out),
            "p=$(cat '%s/pid' 2>/dev/null) && tr '\\0' ' ' </proc/$p/cmdline 2>/dev/null | "
            "grep -q kafka.Kafka && echo $p",
            broker_dir) != 0)
        return 0;
    return (pid_t)atol(out);
}

static void setup(void)
{
    stack_init(&st, "mqttout");
    snprintf(broker_dir, sizeof(broker_dir), "%s/../Testing/%s-kafka", TP_BIN_DIR, st.db);
    broker_port = stack_free_port();
    do
        controller_port = stack_free_port();
    while (controller_port == broker_port);
    char cmd[2048], out[64];
    broker_up_cmd(cmd, sizeof(cmd));
    int rc = run(out, sizeof(out), "%s", cmd);
    ck_assert_msg(rc == 0, "the private kafka node did not start (%d): %s/log.up", rc, broker_dir);
    snprintf(st.bootstrap, sizeof(st.bootstrap), "127.0.0.1:%u", broker_port);
    stack_db_create(&st);

    ingest_port = stack_free_port();
    mqtt_port = stack_free_port();
    projector_port = stack_free_port();
    query_port = stack_free_port();
    snprintf(mqtt_env, sizeof(mqtt_env), "TP_MQTT_LISTEN=127.0.0.1:%u", mqtt_port);
    const char *ingest_env[] = {"TP_AUTH_SECRET=" SECRET, mqtt_env,
                                "TP_KAFKA_MESSAGE_TIMEOUT_MS=3000", "TP_JOURNAL_PARTITIONS=3",
                                NULL};
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
    static const char *const projector_env[] = {"TP_PROJECTOR_FLUSH_INTERVAL_MS=50", NULL};
    projector_pid = stack_service_start(&st, "tp-projector", projector_env, projector_port);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(QUERY_KEY, strlen(QUERY_KEY), d, &dl, EVP_sha256(), NULL);
    size_t o = (size_t)snprintf(query_keys, sizeof(query_keys), "TP_QUERY_API_KEYS=");
    for (unsigned k = 0; k < dl; k++)
        o += (size_t)snprintf(query_keys + o, sizeof(query_keys) - o, "%02x", d[k]);
    const char *query_env[] = {query_keys, NULL};
    query_pid = stack_service_start(&st, "tp-query", query_env, query_port);
}

static void teardown(void)
{
    if (query_pid > 0)
        stack_service_stop(query_pid, SIGTERM);
    if (projector_pid > 0)
        stack_service_stop(projector_pid, SIGTERM);
    if (ingest_pid > 0)
        stack_service_stop(ingest_pid, SIGKILL);
    query_pid = projector_pid = ingest_pid = 0;
    pid_t b = broker_pid();
    if (b > 0) {
        kill(b, SIGKILL);
        for (int i = 0; i < 100 && kill(b, 0) == 0; i++)
            usleep(100 * 1000);
    }
    char out[64];
    run(out, sizeof(out), "rm -rf '%s'", broker_dir);
    stack_release(&st);
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

/* seen[d][q]: how often reading q of devices[d] is in the journal (read from the start). */
static uint16_t seen[N_DEVICES][MAX_SEQ + 1];

/* Reads the whole journal topic; fails on an event of another device or sequence.
 * Returns the events read. */
static int64_t journal_count(const int64_t *sampled)
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
    ck_assert_uint_eq(np, 3);
    int32_t parts[16];
    int64_t want = 0;
    for (size_t p = 0; p < np; p++) {
        parts[p] = (int32_t)p;
        want += hi[p] - lo[p];
    }
    ck_assert_int_eq(journal_reader_assign(r, parts, lo, np, errstr, sizeof(errstr)), TP_OK);
    int64_t got = 0;
    for (int tries = 0; tries < 600 && got < want; tries++) {
        struct journal_event evs[256];
        struct arena a;
        arena_init(&a);
        size_t n = 0;
        ck_assert_int_eq(journal_reader_poll(r, 100, evs, 256, &a, &n, errstr, sizeof(errstr)),
                         TP_OK);
        for (size_t i = 0; i < n; i++, got++) {
            ck_assert_ptr_nonnull(evs[i].reading);
            int d = 0;
            while (d < N_DEVICES && strcmp(evs[i].reading->device_id, devices[d]) != 0)
                d++;
            ck_assert_msg(d < N_DEVICES, "an event of device \"%s\"", evs[i].reading->device_id);
            uint64_t q = evs[i].reading->sequence;
            ck_assert_msg(q >= 1 && q <= (uint64_t)sampled[d], "%s: sequence %llu of %lld",
                          devices[d], (unsigned long long)q, (long long)sampled[d]);
            seen[d][q]++;
        }
        arena_release(&a);
        journal_reader_release(r);
    }
    journal_reader_free(r);
    ck_assert_int_eq(got, want);
    return got;
}

START_TEST(test_mqtt_kafka_outage)
{
    char out[16384], py[1024], args[4096], restart[2048];
    ck_assert_int_eq(run(py, sizeof(py),
                         "bash '%s/tests/support/pyvenv.sh' mqttvenv --import paho.mqtt.client "
                         "'paho-mqtt==2.2.0' 2>/dev/null",
                         TP_SOURCE_DIR),
                     0);
    py[strcspn(py, "\n")] = '\0';
    size_t o = 0;
    for (int d = 0; d < N_DEVICES; d++) {
        char tok[AUTH_TOKEN_MAX + 1], errstr[256];
        struct auth_claims c = {.kind = AUTH_DEVICE, .expiry_s = tp_now_ms() / 1000 + 3600};
        snprintf(c.scope, sizeof(c.scope), "%s", devices[d]);
        ck_assert_int_eq(auth_mint(SECRET, &c, tok, sizeof(tok), errstr, sizeof(errstr)), TP_OK);
        o += (size_t)snprintf(args + o, sizeof(args) - o, " '%s:%d:%s'", devices[d], versions[d],
                              tok);
    }
    broker_up_cmd(restart, sizeof(restart));
    pid_t b0 = broker_pid();
    ck_assert_int_gt(b0, 0);
    char log[1024];
    snprintf(log, sizeof(log), "%s/../Testing/%s-mqtt_outage.log", TP_BIN_DIR, st.db);
    ck_assert_int_eq(run(out, sizeof(out),
                         "timeout 200 '%s' '%s/tests/integration/mqtt_outage.py' %u %u %d \"%s\"%s "
                         "2>'%s'",
                         py, TP_SOURCE_DIR, mqtt_port, ingest_port, (int)b0, restart, args, log),
                     0);

    /* the timeline's checks, exactly; then "device NAME N" per device */
    const char *want = "readyz_while_down 503\n"
                       "healthz_while_down 200\n"
                       "pubacks_while_down 0\n"
                       "devices_waiting_while_down 4\n"
                       "connections_ended_while_down 1\n"
                       "v5_server_disconnects [137]\n"
                       "broker_pid_changed 1\n"
                       "readyz_after_restart 200\n"
                       "pubacked_after_restart 1\n"
                       "puback_codes [0]\n"
                       "session_present [0]\n"
                       "reconnected_and_resent 1\n";
    ck_assert_msg(!strncmp(out, want, strlen(want)), "got:\n%s", out);
    int64_t sampled[N_DEVICES];
    const char *p = out + strlen(want);
    for (int d = 0; d < N_DEVICES; d++) {
        char name[32];
        long long n = 0;
        int used = 0;
        ck_assert_msg(sscanf(p, "device %31s %lld\n%n", name, &n, &used) == 2 && used > 0,
                      "got:\n%s", out);
        ck_assert_str_eq(name, devices[d]);
        ck_assert(n > 0 && n <= MAX_SEQ);
        sampled[d] = n;
        p += used;
    }
    ck_assert_str_eq(p, "");
    /* tp-ingest never stopped */
    int status;
    ck_assert_int_eq(waitpid(ingest_pid, &status, WNOHANG), 0);

    /* every reading PUBACKed (all of them) is in the journal; nothing else is */
    int64_t events = journal_count(sampled), total = 0;
    for (int d = 0; d < N_DEVICES; d++) {
        total += sampled[d];
        for (int64_t q = 1; q <= sampled[d]; q++)
            ck_assert_msg(seen[d][q] >= 1, "%s: reading %lld PUBACKed but not in the journal",
                          devices[d], (long long)q);
    }
    ck_assert_int_ge(events, total);
    fprintf(stderr, "test_mqtt_outage: %lld readings, %lld events in the journal\n",
            (long long)total, (long long)events);

    /* and in the twin exactly once (tp-query) */
    stack_set_bearer(QUERY_KEY);
    for (int d = 0; d < N_DEVICES; d++) {
        char url[256];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/devices/%s", query_port, devices[d]);
        struct buf b;
        buf_init(&b, 1 << 20);
        struct jv *doc = NULL;
        for (int tries = 0; tries < 600; tries++) {
            b.len = 0;
            long s = stack_http("GET", url, NULL, NULL, 0, &b);
            ck_assert(buf_append(&b, "", 1) == TP_OK);
            if (s == 200) {
                doc = jv_parse((const char *)b.data);
                ck_assert_ptr_nonnull(doc);
                if (jv_num(doc, "last_sequence") == (double)sampled[d])
                    break;
                jv_free(doc);
                doc = NULL;
            } else {
                ck_assert_msg(s == 404, "GET %s: %ld", url, s);
            }
            usleep(100 * 1000);
        }
        ck_assert_msg(doc, "the twin of %s never reached sequence %lld", devices[d],
                      (long long)sampled[d]);
        double n = (double)sampled[d];
        ck_assert_double_eq(jv_num(doc, "events"), n);
        ck_assert_double_eq(jv_num(doc, "metrics.speed_kmh.count"), n);
        ck_assert_double_eq(jv_num(doc, "metrics.speed_kmh.value"), n / 2);
        ck_assert_double_eq(jv_num(doc, "metrics.speed_kmh.min"), 0.5);
        ck_assert_double_eq(jv_num(doc, "metrics.speed_kmh.max"), n / 2);
        ck_assert_double_eq(jv_num(doc, "metrics.speed_kmh.sum"), n * (n + 1) / 4);
        jv_free(doc);
        buf_release(&b);
    }
    stack_set_bearer(NULL);

    /* tp-ingest's own account: connections ended for the journal, nothing left in flight */
    ck_assert_double_gt(metric("tp_ingest_mqtt_disconnects_total{reason=\"journal_unavailable\"}"),
                        0);
    ck_assert_double_gt(
        metric("tp_ingest_mqtt_publishes_total{qos=\"1\",outcome=\"journal_failed\"}"), 0);
    ck_assert_double_ge(metric("tp_ingest_mqtt_publishes_total{qos=\"1\",outcome=\"acked\"}"),
                        (double)total);
    ck_assert_double_eq(metric("tp_ingest_mqtt_inflight_messages"), 0);
    ck_assert_double_eq(metric("tp_ingest_mqtt_paused_connections"), 0);
    ck_assert_double_eq(metric("tp_ingest_mqtt_connections"), 0);
    /* and its drain still ends cleanly */
    pid_t pid = ingest_pid;
    ingest_pid = 0;
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
}
END_TEST

static Suite *outage_suite(void)
{
    Suite *s = suite_create("mqtt_outage");
    TCase *tc = tcase_create("kafka_outage");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 480);
    tcase_add_test(tc, test_mqtt_kafka_outage);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(outage_suite)
