/*
 * tp-ingest against a broker that goes away and comes back. The test runs
 * its own private Kafka node (scripts/devstack broker up with its own
 * TP_DEVSTACK_DIR and ports, sharing the main stack's jars), so stopping it
 * disturbs nothing else:
 *
 *   broker up: readings are answered 202 and /readyz is 200;
 *   broker stopped: /readyz turns 503, POSTs are answered 503 with
 *     Retry-After (journal_unavailable) within kafka.message.timeout.ms;
 *   broker restarted: tp-ingest recovers by itself (202 again, /readyz 200);
 *   afterwards an independent consumer finds every reading answered 202
 *     exactly once, and nothing but readings of requests answered 503 besides.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/mem.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"
#include "tests/support/stack.h"

#define PER_POST  10
#define MAX_POSTS 400

static struct stack st;
static char broker_dir[64];
static uint16_t broker_port, controller_port;
static bool broker_started;
static pid_t ingest_pid; /* stopped by teardown if a check failed midway */

/* Runs scripts/devstack broker <verb> for the private node; returns its exit code. */
static int private_broker(const char *verb)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char port[16], cport[16];
        snprintf(port, sizeof(port), "%u", broker_port);
        snprintf(cport, sizeof(cport), "%u", controller_port);
        setenv("TP_DEVSTACK_DIR", broker_dir, 1);
        setenv("TP_DEVSTACK_KAFKA_LIBS", TP_SOURCE_DIR "/.devstack/kafka/libs", 1);
        setenv("TP_DEVSTACK_KAFKA_PORT", port, 1);
        setenv("TP_DEVSTACK_KAFKA_CONTROLLER_PORT", cport, 1);
        setenv("TP_DEVSTACK_BROKER", "kafka", 1);
        char log[1024];
        snprintf(log, sizeof(log), "%s/../Testing/%s-broker.log", TP_BIN_DIR, st.db);
        FILE *f = freopen(log, "a", stdout);
        (void)f;
        dup2(STDOUT_FILENO, STDERR_FILENO);
        execl("/bin/bash", "bash", TP_SOURCE_DIR "/scripts/devstack", "broker", verb, (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void setup(void)
{
    stack_init(&st, "ingest");
    const char *mode = getenv("TP_BROKER_MODE");
    ck_assert_msg(mode && !strcmp(mode, "kafka"),
                  "this test stops and restarts a real Kafka broker; TP_BROKER_MODE is \"%s\" "
                  "(the in-memory mock fallback cannot be restarted with its data)",
                  mode ? mode : "");
    snprintf(broker_dir, sizeof(broker_dir), "/tmp/tp-broker-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(broker_dir));
    broker_port = stack_free_port();
    do
        controller_port = stack_free_port();
    while (controller_port == broker_port);
    ck_assert_int_eq(private_broker("up"), 0);
    broker_started = true;
    snprintf(st.bootstrap, sizeof(st.bootstrap), "127.0.0.1:%u", broker_port);
}

static void teardown(void)
{
    if (ingest_pid > 0)
        stack_service_stop(ingest_pid, SIGKILL);
    ingest_pid = 0;
    if (broker_started)
        private_broker("down");
    broker_started = false;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", broker_dir);
    if (broker_dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", broker_dir);
}

/* POSTs PER_POST new readings of device dev; returns the status (body in resp). */
static long post(const char *url, const char *dev, struct buf *resp)
{
    journal_reading rs[PER_POST], *rp[PER_POST];
    for (int i = 0; i < PER_POST; i++) {
        journal_reading init = TWINPIPE__TELEMETRY__V1__READING__INIT;
        rs[i] = init;
        rs[i].device_id = (char *)dev;
        rs[i].has_sequence = rs[i].has_timestamp_ms = 1;
        rs[i].sequence = (uint64_t)(i + 1);
        rs[i].timestamp_ms = tp_now_ms();
        rp[i] = &rs[i];
    }
    Twinpipe__Telemetry__V1__ReadingBatch batch = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    batch.readings = rp;
    batch.n_readings = PER_POST;
    uint8_t body[2048];
    size_t len = protobuf_c_message_pack(&batch.base, body);
    return stack_http("POST", url, "application/x-protobuf", body, len, resp);
}

/* Polls url until it answers want (or fails the test after seconds). */
static void await_status(const char *url, long want, int seconds)
{
    long s = 0;
    for (int i = 0; i < seconds * 10; i++) {
        if ((s = stack_http("GET", url, NULL, NULL, 0, NULL)) == want)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("%s answered %ld, not %ld, for %d s", url, s, want, seconds);
}

static enum tp_err all_from_start(void *arg, const int32_t *parts, int64_t *offsets, size_t n)
{
    (void)arg;
    (void)parts;
    for (size_t i = 0; i < n; i++)
        offsets[i] = JOURNAL_OFFSET_BEGINNING;
    return TP_OK;
}

static void ignore_revoke(void *arg, const int32_t *parts, size_t n, bool lost)
{
    (void)arg;
    (void)parts;
    (void)n;
    (void)lost;
}

/* status of each POST by device index: 0 not sent, else its HTTP status */
static long outcome[MAX_POSTS];

START_TEST(test_broker_outage_503_then_recovery)
{
    static const char *const env[] = {"TP_AUTH_MODE=off", "TP_KAFKA_MESSAGE_TIMEOUT_MS=3000", NULL};
    uint16_t port = stack_free_port();
    pid_t pid = ingest_pid = stack_service_start(&st, "tp-ingest", env, port);
    char url[128], ready[128], dev[32];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/telemetry", port);
    snprintf(ready, sizeof(ready), "http://127.0.0.1:%u/readyz", port);
    struct buf resp;
    buf_init(&resp, 1 << 16);
    int n_posts = 0;

    await_status(ready, 200, 15);
    for (int i = 0; i < 5; i++, n_posts++) {
        snprintf(dev, sizeof(dev), "out-%03d", n_posts);
        outcome[n_posts] = post(url, dev, &resp);
        ck_assert_msg(outcome[n_posts] == 202, "status %ld: %s", outcome[n_posts], resp.data);
    }

    /* the broker goes away */
    ck_assert_int_eq(private_broker("down"), 0);
    broker_started = false;
    await_status(ready, 503, 15);
    for (int i = 0; i < 2; i++, n_posts++) {
        snprintf(dev, sizeof(dev), "out-%03d", n_posts);
        int64_t t0 = tp_mono_ms();
        outcome[n_posts] = post(url, dev, &resp);
        int64_t took = tp_mono_ms() - t0;
        ck_assert_msg(outcome[n_posts] == 503, "status %ld: %s", outcome[n_posts], resp.data);
        struct jv *doc = jv_parse(resp.data);
        ck_assert_str_eq(jv_str(doc, "error.code"), "journal_unavailable");
        jv_free(doc);
        ck_assert_ptr_nonnull(stack_last_header("Retry-After"));
        ck_assert_str_eq(stack_last_header("Retry-After"), "1");
        /* answered within the message timeout (3 s) plus slack, not held forever */
        ck_assert_msg(took < 10000, "503 took %lld ms", (long long)took);
    }

    /* it comes back: tp-ingest recovers without a restart */
    ck_assert_int_eq(private_broker("up"), 0);
    broker_started = true;
    long last = 0;
    int64_t deadline = tp_mono_ms() + 60000;
    while (last != 202 && tp_mono_ms() < deadline && n_posts < MAX_POSTS - 5) {
        snprintf(dev, sizeof(dev), "out-%03d", n_posts);
        last = outcome[n_posts] = post(url, dev, &resp);
        ck_assert_msg(last == 202 || last == 503, "status %ld: %s", last, resp.data);
        n_posts++;
        if (last != 202)
            usleep(500 * 1000);
    }
    ck_assert_msg(last == 202, "tp-ingest did not recover within 60 s of the broker's return");
    for (int i = 0; i < 5; i++, n_posts++) {
        snprintf(dev, sizeof(dev), "out-%03d", n_posts);
        outcome[n_posts] = post(url, dev, &resp);
        ck_assert_msg(outcome[n_posts] == 202, "status %ld: %s", outcome[n_posts], resp.data);
    }
    await_status(ready, 200, 15);
    buf_release(&resp);
    ingest_pid = 0;
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);

    /* an independent consumer: every reading answered 202 exactly once */
    long acked = 0;
    for (int i = 0; i < n_posts; i++)
        acked += outcome[i] == 202 ? PER_POST : 0;
    struct journal_config jc = {.bootstrap_servers = st.bootstrap, .topic = st.topic};
    char errstr[256];
    int64_t total;
    ck_assert_int_eq(journal_topic_count(&jc, 10000, &total, errstr, sizeof(errstr)), TP_OK);
    struct journal_rebalance rb = {all_from_start, ignore_revoke, NULL};
    struct journal_consumer *c;
    ck_assert_int_eq(journal_consumer_new(&jc, st.topic, &rb, &c, errstr, sizeof(errstr)), TP_OK);
    static int seen[MAX_POSTS][PER_POST];
    memset(seen, 0, sizeof(seen));
    int64_t got_n = 0;
    for (int idle = 0; got_n < total && idle < 300;) {
        struct journal_event ev;
        bool got = false;
        ck_assert_int_eq(journal_consumer_poll(c, 100, &ev, &got, errstr, sizeof(errstr)), TP_OK);
        if (!got) {
            idle++;
            continue;
        }
        got_n++;
        int d = -1;
        ck_assert_ptr_nonnull(ev.reading);
        ck_assert_int_eq(sscanf(ev.reading->device_id, "out-%d", &d), 1);
        ck_assert(d >= 0 && d < n_posts);
        ck_assert(ev.reading->sequence >= 1 && ev.reading->sequence <= PER_POST);
        seen[d][ev.reading->sequence - 1]++;
        journal_event_release(&ev);
    }
    journal_consumer_free(c);
    ck_assert_int_eq(got_n, total);
    for (int d = 0; d < n_posts; d++)
        for (int q = 0; q < PER_POST; q++) {
            if (outcome[d] == 202)
                ck_assert_msg(seen[d][q] == 1, "out-%03d seq %d answered 202, found %d times", d,
                              q + 1, seen[d][q]);
            else /* answered 503: the client retries; if Kafka kept it, at most once */
                ck_assert_msg(seen[d][q] <= 1, "out-%03d seq %d found %d times", d, q + 1,
                              seen[d][q]);
        }
    ck_assert_int_ge(total, acked);
}
END_TEST

static Suite *ingest_suite(void)
{
    Suite *s = suite_create("ingest");
    TCase *tc = tcase_create("broker_outage");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_broker_outage_503_then_recovery);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(ingest_suite)
