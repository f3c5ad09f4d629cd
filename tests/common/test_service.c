/*
 * The serve/signal/drain skeleton (common/service.c) in-process: SIGTERM is
 * blocked in every thread, as service_start leaves it, and sent to the
 * process itself.
 * - wait mode: the server listens, tick runs while no signal came, then
 *   draining, the server stops accepting, drain; exit code 0;
 * - run mode: a signal makes the signal thread call stop once and run
 *   returns; run's error is exit code 1 and stop is never called;
 * - a server that cannot listen is exit code 1 before anything else runs;
 * - heartbeats on an injected clock: a busy loop silent past its bound is named in
 *   /healthz's 503 body (exactly), an idle one never, a beat recovers it, a freed slot is
 *   reused and the slots past SERVICE_BEATS_MAX run unwatched.
 */
#include <check.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/service.h"
#include "tests/support/check_main.h"

static char calls[256];
static atomic_int ticks, stops;
static atomic_bool stopped;
static uint16_t port;

static void note(const char *what)
{
    size_t len = strlen(calls);
    snprintf(calls + len, sizeof(calls) - len, "%s%s", len ? "," : "", what);
}

static void setup(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    log_init("test_service", LOG_ERROR);
    calls[0] = '\0';
    atomic_store(&ticks, 0);
    atomic_store(&stops, 0);
    atomic_store(&stopped, false);
    port = 0;
}

static void on_started(void *arg, struct http_server *srv)
{
    (void)arg;
    port = srv ? http_server_port(srv) : 0;
    note(srv ? "started" : "started without a server");
}

static void on_tick(void *arg)
{
    (void)arg;
    note("tick");
    if (atomic_fetch_add(&ticks, 1) + 1 == 2)
        kill(getpid(), SIGTERM);
}

static void on_draining(void *arg)
{
    (void)arg;
    note("draining");
}

static void on_drain(void *arg)
{
    (void)arg;
    note("drain");
}

static struct http_options test_http(const char *listen)
{
    struct http_options o = {.listen = listen,
                             .threads = 1,
                             .connection_timeout_s = 5,
                             .max_connections = 16,
                             .max_header_bytes = 8192};
    return o;
}

START_TEST(test_wait_mode)
{
    const struct http_route routes[] = {{"GET", "/healthz", 0, service_handle_health, NULL}};
    struct http_options http = test_http("127.0.0.1:0");
    const struct service_loop loop = {.routes = routes,
                                      .n_routes = 1,
                                      .http = &http,
                                      .started = on_started,
                                      .stopping = "shutting down",
                                      .tick_ms = 20,
                                      .tick = on_tick,
                                      .draining = on_draining,
                                      .drain = on_drain};
    ck_assert_int_eq(service_run(&loop), 0);
    ck_assert_str_eq(calls, "started,tick,tick,draining,drain");
    ck_assert_uint_ne(port, 0);
}
END_TEST

static enum tp_err run_until_stopped(void *arg, char *errstr, size_t errstr_size)
{
    (void)arg;
    (void)errstr;
    (void)errstr_size;
    note("run");
    kill(getpid(), SIGTERM);
    for (int i = 0; i < 500 && !atomic_load(&stopped); i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&stopped) ? TP_OK : TP_TIMEOUT;
}

static enum tp_err run_failing(void *arg, char *errstr, size_t errstr_size)
{
    (void)arg;
    note("run");
    return tp_err_set(TP_IO, errstr, errstr_size, "could not read the journal");
}

static void on_stop(void *arg)
{
    (void)arg;
    atomic_fetch_add(&stops, 1);
    atomic_store(&stopped, true);
}

START_TEST(test_run_mode)
{
    struct http_options http = test_http("127.0.0.1:0");
    const struct service_loop loop = {.http = &http,
                                      .started = on_started,
                                      .run = run_until_stopped,
                                      .stop = on_stop,
                                      .stopping = "flushing"};
    ck_assert_int_eq(service_run(&loop), 0);
    ck_assert_str_eq(calls, "started without a server,run");
    ck_assert_int_eq(atomic_load(&stops), 1);

    calls[0] = '\0';
    atomic_store(&stops, 0);
    const struct http_route routes[] = {{"GET", "/healthz", 0, service_handle_health, NULL}};
    const struct service_loop failing = {.routes = routes,
                                         .n_routes = 1,
                                         .http = &http,
                                         .started = on_started,
                                         .run = run_failing,
                                         .stop = on_stop,
                                         .stopping = "flushing",
                                         .failed = "run failed: "};
    ck_assert_int_eq(service_run(&failing), 1);
    ck_assert_str_eq(calls, "started,run");
    ck_assert_int_eq(atomic_load(&stops), 0); /* the signal thread was woken, not signalled */
}
END_TEST

START_TEST(test_listen_failure)
{
    const struct http_route routes[] = {{"GET", "/healthz", 0, service_handle_health, NULL}};
    struct http_options http = test_http("not-an-address");
    const struct service_loop loop = {.routes = routes,
                                      .n_routes = 1,
                                      .http = &http,
                                      .started = on_started,
                                      .stopping = "shutting down",
                                      .drain = on_drain};
    ck_assert_int_eq(service_run(&loop), 1);
    ck_assert_str_eq(calls, "");
}
END_TEST

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return fake_now;
}

/* The check's status and body. */
static unsigned check(struct service_health *h, char *body, size_t size)
{
    struct buf b;
    buf_init(&b, 4096);
    unsigned st = service_health_check(h, &b);
    snprintf(body, size, "%s", b.data ? b.data : "");
    buf_release(&b);
    return st;
}

START_TEST(test_heartbeat)
{
    static struct service_health h = {.now_ms = fake_clock};
    char body[512];
    fake_now = 1000;
    ck_assert_uint_eq(check(&h, body, sizeof(body)), 200);
    ck_assert_str_eq(body, "{\"status\":\"ok\"}");
    struct service_beat *fold = service_beat_new(&h, "projector fold", 300);
    struct service_beat *flush = service_beat_new(&h, "projector flusher", 100);
    service_beat_idle(flush); /* no job queued */
    fake_now = 1300;          /* at the bound: still alive */
    ck_assert_uint_eq(check(&h, body, sizeof(body)), 200);
    fake_now = 1301;
    ck_assert_uint_eq(check(&h, body, sizeof(body)), 503);
    ck_assert_str_eq(body, "{\"status\":\"stalled\",\"stalled\":[{\"loop\":\"projector fold\","
                           "\"silent_ms\":301,\"bound_ms\":300}]}");
    service_beat(fold); /* it turned again */
    ck_assert_uint_eq(check(&h, body, sizeof(body)), 200);
    service_beat(flush); /* a job: busy from 1301 */
    fake_now = 1500;
    ck_assert_uint_eq(check(&h, body, sizeof(body)), 503);
    ck_assert_str_eq(body, "{\"status\":\"stalled\",\"stalled\":[{\"loop\":\"projector "
                           "flusher\",\"silent_ms\":199,\"bound_ms\":100}]}");
    fake_now = 1700;
    ck_assert_uint_eq(check(&h, body, sizeof(body)), 503);
    ck_assert_str_eq(body, "{\"status\":\"stalled\",\"stalled\":[{\"loop\":\"projector fold\","
                           "\"silent_ms\":399,\"bound_ms\":300},{\"loop\":\"projector "
                           "flusher\",\"silent_ms\":399,\"bound_ms\":100}]}");
    service_beat_idle(flush); /* the job done, waiting again: never stalled while idle */
    fake_now = 100000;
    service_beat(fold);
    ck_assert_uint_eq(check(&h, body, sizeof(body)), 200);
    /* a freed loop is no longer watched; its slot is taken again */
    service_beat(flush);
    service_beat_free(flush);
    fake_now = 200000;
    service_beat(fold);
    ck_assert_uint_eq(check(&h, body, sizeof(body)), 200);
    struct service_beat *again = service_beat_new(&h, "search refresh", 50);
    ck_assert_ptr_eq(again, flush);
    fake_now = 200051;
    ck_assert_uint_eq(check(&h, body, sizeof(body)), 503);
    ck_assert_ptr_nonnull(strstr(body, "\"loop\":\"search refresh\",\"silent_ms\":51"));
    service_beat_free(again);
    service_beat_free(fold);
    service_beat_free(NULL);
    /* past the slots: the extra loop runs unwatched */
    struct service_beat *all[SERVICE_BEATS_MAX];
    for (size_t i = 0; i < SERVICE_BEATS_MAX; i++)
        all[i] = service_beat_new(&h, "many", 10);
    struct service_beat *extra = service_beat_new(&h, "extra", 10);
    for (size_t i = 0; i < SERVICE_BEATS_MAX; i++)
        service_beat_idle(all[i]);
    fake_now += 1000;
    service_beat(extra); /* harmless */
    ck_assert_uint_eq(check(&h, body, sizeof(body)), 200);
    for (size_t i = 0; i < SERVICE_BEATS_MAX; i++)
        service_beat_free(all[i]);
}
END_TEST

static Suite *service_suite(void)
{
    Suite *s = suite_create("service");
    TCase *tc = tcase_create("run");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_wait_mode);
    tcase_add_test(tc, test_run_mode);
    tcase_add_test(tc, test_listen_failure);
    tcase_add_test(tc, test_heartbeat);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(service_suite)
