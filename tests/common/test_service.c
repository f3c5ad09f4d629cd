/*
 * The serve/signal/drain skeleton (common/service.c) in-process: SIGTERM is
 * blocked in every thread, as service_start leaves it, and sent to the
 * process itself.
 * - wait mode: the server listens, tick runs while no signal came, then
 *   draining, the server stops accepting, drain; exit code 0;
 * - run mode: a signal makes the signal thread call stop once and run
 *   returns; run's error is exit code 1 and stop is never called;
 * - a server that cannot listen is exit code 1 before anything else runs.
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

static Suite *service_suite(void)
{
    Suite *s = suite_create("service");
    TCase *tc = tcase_create("run");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_wait_mode);
    tcase_add_test(tc, test_run_mode);
    tcase_add_test(tc, test_listen_failure);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(service_suite)
