/*
 * query/main.c and what tp-query tells clients, as a real process (bin/tp-query) that needs no
 * dev stack: its database is a closed port on 127.0.0.1.
 * - with query.auth=required it refuses to start without query.cursor_secret (the built-in
 *   cursor key is public), or with one shorter than 16 characters, and says which key;
 *   with query.auth=off it starts on the built-in key and warns;
 * - when the database is unreachable, /readyz and the data endpoints answer 503 with a fixed
 *   message: libpq's text (host, port, database, user) goes to the log only;
 * - liveness: pointed at a "database" that accepts the connection and never answers (a
 *   listener the test holds), the search refresh thread hangs in its connect: /healthz turns
 *   503 naming that loop while /metrics still answers, and 200 again once the test closes the
 *   listener (the connect fails, the loop turns); with log.format=json and http.access_log=on
 *   each request is one JSON line in the log.
 */
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"
#include "tests/support/stack.h"

/* the SHA-256 of "test-analyst-key-0001" */
#define ANALYST_KEY "test-analyst-key-0001"
#define ANALYST_DIGEST                                                                             \
    "TP_QUERY_API_KEYS=eb0313e605a3ec2faad41c980f1890910097f3e7ffbf2553e7e2b84299b39778"
#define CURSOR_SECRET "TP_QUERY_CURSOR_SECRET=test-cursor-secret-0001"

static char log_path[1024];
static char dead_dsn[256];
static uint16_t dead_port;

/* A log file of its own per run, and a PostgreSQL address nothing listens on. */
static void setup(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(log_path, sizeof(log_path), "%s/../Testing/tp_unit_query_main_%d_%lld%09ld.log",
             TP_BIN_DIR, (int)getpid(), (long long)ts.tv_sec, ts.tv_nsec);
    dead_port = stack_free_port();
    snprintf(dead_dsn, sizeof(dead_dsn),
             "host=127.0.0.1 port=%u dbname=tp_secret_db user=tp_secret_user connect_timeout=2",
             dead_port);
}

/* Starts bin/tp-query with only the given TP_* settings (the test's own environment's
 * TP_QUERY_* and TP_PG_DSN are not passed on), its output appended to log_path. */
static pid_t query_spawn(const char *const *env, uint16_t port)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        static const char *const drop[] = {
            "TP_QUERY_AUTH",          "TP_QUERY_API_KEYS", "TP_QUERY_API_KEYS_FILE",
            "TP_QUERY_CURSOR_SECRET", "TP_PG_DSN",         "TP_HTTP_LISTEN"};
        for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
            unsetenv(drop[i]);
        char listen[64];
        snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
        setenv("TP_HTTP_LISTEN", listen, 1);
        setenv("TP_PG_DSN", dead_dsn, 1);
        for (const char *const *e = env; *e; e++)
            putenv((char *)*e);
        FILE *f = freopen(log_path, "a", stderr);
        (void)f;
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execl(TP_BIN_DIR "/tp-query", "tp-query", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* The exit code of a tp-query that must stop by itself within 20 s (-1: it kept running). */
static int query_exit_code(const char *const *env)
{
    pid_t pid = query_spawn(env, stack_free_port());
    int status;
    for (int i = 0; i < 200; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        usleep(100 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* Starts tp-query and waits for /healthz (30 s). */
static pid_t query_start(const char *const *env, uint16_t port)
{
    char url[128];
    pid_t pid = query_spawn(env, port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", port);
    for (int i = 0; i < 300; i++) {
        int status;
        ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0, "tp-query exited (see %s)", log_path);
        if (stack_http("GET", url, NULL, NULL, 0, NULL) == 200)
            return pid;
        usleep(100 * 1000);
    }
    kill(pid, SIGKILL);
    ck_abort_msg("tp-query did not become healthy within 30 s");
    return -1;
}

static char *read_log(void)
{
    FILE *f = fopen(log_path, "rb");
    ck_assert_msg(f != NULL, "no log at %s", log_path);
    struct buf b;
    buf_init(&b, 16 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ck_assert_int_eq(buf_append(&b, chunk, n), TP_OK);
    fclose(f);
    buf_append(&b, "", 0);
    size_t len;
    return buf_steal(&b, &len);
}

START_TEST(test_auth_required_needs_cursor_secret)
{
    const char *none[] = {ANALYST_DIGEST, NULL};
    ck_assert_int_eq(query_exit_code(none), 1);
    char *log = read_log();
    ck_assert_msg(strstr(log, "query.auth=required needs query.cursor_secret "
                              "(TP_QUERY_CURSOR_SECRET): the HMAC key of page cursors, at least "
                              "16 characters, the same on every replica; set query.auth=off to "
                              "run with the built-in key") != NULL,
                  "%s", log);
    free(log);

    /* explicitly required, and an empty value, are the same */
    const char *empty[] = {ANALYST_DIGEST, "TP_QUERY_AUTH=required",
                           "TP_QUERY_CURSOR_SECRET=", NULL};
    ck_assert_int_eq(query_exit_code(empty), 1);

    const char *short_secret[] = {ANALYST_DIGEST, "TP_QUERY_CURSOR_SECRET=fifteen-chars!", NULL};
    ck_assert_int_eq(query_exit_code(short_secret), 1);
    log = read_log();
    ck_assert_msg(strstr(log, "query.cursor_secret (TP_QUERY_CURSOR_SECRET) is too short: it "
                              "needs at least 16 characters") != NULL,
                  "%s", log);
    ck_assert_msg(strstr(log, "fifteen-chars!") == NULL, "the secret was logged: %s", log);
    free(log);
}
END_TEST

START_TEST(test_auth_off_warns_of_builtin_cursor_key)
{
    const char *env[] = {"TP_QUERY_AUTH=off", NULL};
    uint16_t port = stack_free_port();
    pid_t pid = query_start(env, port);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    char *log = read_log();
    ck_assert_msg(strstr(log, "query.cursor_secret is not set: page cursors are signed with the "
                              "built-in key, which anyone can forge (allowed only with "
                              "query.auth=off)") != NULL,
                  "%s", log);
    free(log);
}
END_TEST

/* A 503 body of tp-query: the exact document, and nothing of the database's address in it. */
static void expect_no_libpq(long status, const char *body, const char *code, const char *message)
{
    char port[16], want[512];
    snprintf(port, sizeof(port), "%u", dead_port);
    snprintf(want, sizeof(want), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
    ck_assert_int_eq(status, 503);
    ck_assert_str_eq(body, want);
    static const char *const leaks[] = {
        "connection to server", "could not connect", "127.0.0.1", "tp_secret_db",
        "tp_secret_user",       "refused",           "postgresql"};
    for (size_t i = 0; i < sizeof(leaks) / sizeof(leaks[0]); i++)
        ck_assert_msg(strstr(body, leaks[i]) == NULL, "\"%s\" in %s", leaks[i], body);
    ck_assert_msg(strstr(body, port) == NULL, "the port in %s", body);
}

START_TEST(test_dead_database_answers_without_libpq_text)
{
    const char *env[] = {ANALYST_DIGEST, CURSOR_SECRET, NULL};
    uint16_t port = stack_free_port();
    pid_t pid = query_start(env, port);
    struct buf resp;
    buf_init(&resp, 1 << 20);
    char url[256];

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", port);
    long s = stack_http("GET", url, NULL, NULL, 0, &resp);
    expect_no_libpq(s, resp.data, "not_ready", "the twin store is not reachable");

    stack_set_bearer(ANALYST_KEY);
    static const char *const data[] = {
        "/v1/devices/veh-1",
        "/v1/devices?model=m1",
        "/v1/devices/veh-1/series?metric=speed_kmh&from=2026-11-23T10:00:00Z"
        "&to=2026-11-23T11:00:00Z",
        "/v1/fleet/summary?group_by=region",
    };
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, data[i]);
        s = stack_http("GET", url, NULL, NULL, 0, &resp);
        expect_no_libpq(s, resp.data, "database_unavailable", "the twin store is not reachable");
    }
    stack_set_bearer(NULL);
    buf_release(&resp);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);

    /* the detail is in the log, for the operator */
    char *log = read_log();
    ck_assert_msg(strstr(log, "not ready: could not connect to postgresql") != NULL, "%s", log);
    ck_assert_msg(strstr(log, "test-cursor-secret-0001") == NULL, "the secret was logged");
    free(log);
}
END_TEST

/* GETs path until it answers want (20 s); the last body into resp. */
static long await_status(uint16_t port, const char *path, long want, struct buf *resp)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    long s = 0;
    for (int i = 0; i < 200; i++) {
        buf_reset(resp);
        s = stack_http("GET", url, NULL, NULL, 0, resp);
        if (s == want)
            break;
        usleep(100 * 1000);
    }
    return s;
}

START_TEST(test_healthz_names_a_stalled_loop)
{
    /* a listener that never accepts: the kernel completes the handshake, libpq waits for the
     * server's first byte forever (no connect_timeout) */
    int hold = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* not tp-query's to keep */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(hold, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(hold, 16), 0);
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(getsockname(hold, (struct sockaddr *)&sa, &sl), 0);
    char dsn[128];
    snprintf(dsn, sizeof(dsn), "TP_PG_DSN=host=127.0.0.1 port=%u dbname=tp user=tp",
             ntohs(sa.sin_port));
    const char *env[] = {"TP_QUERY_AUTH=off",
                         dsn,
                         "TP_HEALTH_STALL_S=1",
                         "TP_QUERY_SEARCH_REFRESH_MS=100",
                         "TP_LOG_FORMAT=json",
                         "TP_HTTP_ACCESS_LOG=on",
                         NULL};
    uint16_t port = stack_free_port();
    pid_t pid = query_start(env, port);
    struct buf resp;
    buf_init(&resp, 1 << 20);
    /* the first refresh hangs in its connect: stalled past 1 s + the 100 ms refresh wait */
    ck_assert_int_eq(await_status(port, "/healthz", 503, &resp), 503);
    static const char head[] =
        "{\"status\":\"stalled\",\"stalled\":[{\"loop\":\"query search refresh\",\"silent_ms\":";
    ck_assert_msg(!strncmp(resp.data, head, strlen(head)), "%s", resp.data);
    const char *tail = resp.data + strlen(head) + strspn(resp.data + strlen(head), "0123456789");
    ck_assert_str_eq(tail, ",\"bound_ms\":1100}]}");
    ck_assert_int_gt(atol(resp.data + strlen(head)), 1100);
    /* the HTTP threads are fine: /metrics answers */
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
    buf_reset(&resp);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    /* the held connections closed: the hung connect fails, the loop turns again (the
     * database still down) */
    int fl = fcntl(hold, F_GETFL);
    fcntl(hold, F_SETFL, fl | O_NONBLOCK);
    for (int c; (c = accept(hold, NULL, NULL)) >= 0;)
        close(c);
    close(hold);
    ck_assert_msg(await_status(port, "/healthz", 200, &resp) == 200, "%s", resp.data);
    ck_assert_str_eq(resp.data, "{\"status\":\"ok\"}");
    buf_release(&resp);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);

    /* every line of the log is one JSON object; the 503 and the /metrics requests are there */
    char *log = read_log();
    bool saw_503 = false, saw_metrics = false;
    size_t lines = 0;
    for (char *line = log, *next; *line; line = next) {
        next = strchr(line, '\n');
        ck_assert_ptr_nonnull(next);
        *next++ = '\0';
        struct jv *doc = jv_parse(line);
        ck_assert_msg(doc != NULL, "not JSON: %s", line);
        ck_assert_str_eq(jv_str(doc, "service"), "tp-query");
        lines++;
        if (!strcmp(jv_str(doc, "msg"), "request")) {
            const char *path = jv_str(doc, "fields.path");
            saw_503 |= !strcmp(path, "/healthz") && jv_num(doc, "fields.status") == 503;
            saw_metrics |= !strcmp(path, "/metrics") && jv_num(doc, "fields.status") == 200;
            ck_assert_uint_eq(strlen(jv_str(doc, "fields.request_id")), 32);
            ck_assert_str_eq(jv_str(doc, "fields.client"), "127.0.0.1");
        }
        jv_free(doc);
    }
    ck_assert_uint_gt(lines, 3);
    ck_assert(saw_503);
    ck_assert(saw_metrics);
    free(log);
}
END_TEST

static Suite *query_main_suite(void)
{
    Suite *s = suite_create("query_main");
    TCase *tc = tcase_create("main");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_auth_required_needs_cursor_secret);
    tcase_add_test(tc, test_auth_off_warns_of_builtin_cursor_key);
    tcase_add_test(tc, test_dead_database_answers_without_libpq_text);
    tcase_add_test(tc, test_healthz_names_a_stalled_loop);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(query_main_suite)
