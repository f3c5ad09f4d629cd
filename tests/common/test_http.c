/*
 * The HTTP server (common/http.c) against hostile clients, over raw
 * sockets on 127.0.0.1: a route's pre-check answers from the headers alone
 * (a 4 MB upload announced, 1 KB sent: 401 at once, the body never read);
 * connections per client address are capped; slow headers and slow bodies
 * are cut; /metrics alone on its own listener with http.metrics_listen; a
 * response header past HTTP_REPLY_HEADERS_MAX is refused, not dropped unseen.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/http.h"
#include "common/mem.h"
#include "tests/support/check_main.h"

static atomic_int handled;

static void on_hello(struct http_request *req, void *arg)
{
    (void)arg;
    atomic_fetch_add(&handled, 1);
    size_t len;
    http_request_body(req, &len);
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"got\":%zu}", len);
    http_reply(req, 200, "application/json", body, (size_t)n);
}

static void on_metrics(struct http_request *req, void *arg)
{
    (void)arg;
    http_reply(req, 200, "text/plain", "up 1\n", 5);
}

static bool key_precheck(struct http_request *req, void *arg)
{
    (void)arg;
    const char *k = http_request_header(req, "X-Key");
    if (!k || strcmp(k, "ok") != 0) {
        http_reply_error(req, 401, "unauthorized", "no key");
        return false;
    }
    return true;
}

static const struct http_route routes[] = {
    {"POST", "/up", 8 << 20, on_hello, NULL},
    {"GET", "/h", 0, on_hello, NULL},
    {"GET", "/metrics", 0, on_metrics, NULL},
};
static const struct http_precheck prechecks[] = {{"POST", "/up", key_precheck, NULL}};

static struct http_server *start(struct http_options *o)
{
    struct http_server *srv = NULL;
    char errstr[256];
    o->listen = "127.0.0.1:0";
    o->threads = 2;
    o->connection_timeout_s = 30;
    o->max_connections = 100;
    o->prechecks = prechecks;
    o->n_prechecks = 1;
    ck_assert_msg(http_server_new(routes, 3, o, &srv, errstr, sizeof(errstr)) == TP_OK, "%s",
                  errstr);
    atomic_store(&handled, 0);
    return srv;
}

static int dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_str(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        ck_assert_int_gt(w, 0);
        s += w;
        n -= (size_t)w;
    }
}

/* Reads one response (headers + Content-Length bytes) within timeout_ms. Returns its status;
 * 0 when the connection closed first (-1 on timeout). body gets what followed the headers. */
static int read_response(int fd, int timeout_ms, char *body, size_t body_size)
{
    char buf[8192];
    size_t len = 0;
    int64_t deadline = tp_mono_ms() + timeout_ms;
    for (;;) {
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            const char *cl = strstr(buf, "Content-Length: ");
            size_t want = cl ? strtoul(cl + 16, NULL, 10) : 0;
            if (len - (size_t)(end + 4 - buf) >= want) {
                snprintf(body, body_size, "%.*s", (int)want, end + 4);
                return atoi(buf + 9);
            }
        }
        int left = (int)(deadline - tp_mono_ms());
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return -1;
        ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (r <= 0)
            return 0;
        len += (size_t)r;
    }
}

/* Waits for the server to close fd (EOF or reset); ms it took, -1 if not within timeout_ms. */
static int64_t await_close(int fd, int timeout_ms)
{
    int64_t t0 = tp_mono_ms();
    char b[4096];
    while (tp_mono_ms() - t0 < timeout_ms) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            ssize_t r = recv(fd, b, sizeof(b), 0);
            if (r <= 0)
                return tp_mono_ms() - t0;
        }
    }
    return -1;
}

/* On main the server read on (and buffered) the whole announced upload before any handler
 * could look at the token: nothing answered within 3 s. */
START_TEST(test_precheck_answers_before_the_body)
{
    struct http_options o = {0};
    struct http_server *srv = start(&o);
    int fd = dial(http_server_port(srv));
    const char head[] = "POST /up HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\n"
                        "Content-Length: 4000000\r\n\r\n";
    char kb[1024], body[512];
    memset(kb, 'x', sizeof(kb));
    int64_t t0 = tp_mono_ms();
    send_str(fd, head, sizeof(head) - 1);
    send_str(fd, kb, sizeof(kb));
    ck_assert_int_eq(read_response(fd, 3000, body, sizeof(body)), 401);
    ck_assert_int_lt(tp_mono_ms() - t0, 1000);
    ck_assert_str_eq(body, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"no key\"}}");
    ck_assert_int_eq(atomic_load(&handled), 0);
    ck_assert_int_ge(await_close(fd, 3000), 0); /* the unread body is not waited for */
    close(fd);
    /* with the key the body is read and the handler called, once */
    fd = dial(http_server_port(srv));
    const char ok[] = "POST /up HTTP/1.1\r\nHost: t\r\nX-Key: ok\r\nContent-Length: 1024\r\n\r\n";
    send_str(fd, ok, sizeof(ok) - 1);
    send_str(fd, kb, sizeof(kb));
    ck_assert_int_eq(read_response(fd, 3000, body, sizeof(body)), 200);
    ck_assert_str_eq(body, "{\"got\":1024}");
    ck_assert_int_eq(atomic_load(&handled), 1);
    /* without a body announced, the answer keeps the connection */
    const char nobody[] = "POST /up HTTP/1.1\r\nHost: t\r\n\r\n";
    send_str(fd, nobody, sizeof(nobody) - 1);
    ck_assert_int_eq(read_response(fd, 3000, body, sizeof(body)), 401);
    send_str(fd, ok, sizeof(ok) - 1);
    send_str(fd, kb, sizeof(kb));
    ck_assert_int_eq(read_response(fd, 3000, body, sizeof(body)), 200);
    ck_assert_int_eq(atomic_load(&handled), 2);
    close(fd);
    http_server_free(srv);
}
END_TEST

START_TEST(test_connections_per_ip)
{
    struct http_options o = {.max_connections_per_ip = 2};
    struct http_server *srv = start(&o);
    uint16_t port = http_server_port(srv);
    const char get[] = "GET /h HTTP/1.1\r\nHost: t\r\n\r\n";
    char body[256];
    int a = dial(port), b = dial(port);
    send_str(a, get, sizeof(get) - 1);
    send_str(b, get, sizeof(get) - 1);
    ck_assert_int_eq(read_response(a, 3000, body, sizeof(body)), 200);
    ck_assert_int_eq(read_response(b, 3000, body, sizeof(body)), 200);
    int c = dial(port); /* the third from 127.0.0.1: closed at once, never answered */
    send(c, get, sizeof(get) - 1, MSG_NOSIGNAL);
    ck_assert_int_eq(read_response(c, 3000, body, sizeof(body)), 0);
    close(c);
    ck_assert_int_eq(atomic_load(&handled), 2);
    close(a); /* a slot is free again */
    int ok = 0;
    for (int i = 0; i < 30 && ok != 200; i++) {
        usleep(100 * 1000);
        int d = dial(port);
        send(d, get, sizeof(get) - 1, MSG_NOSIGNAL);
        ok = read_response(d, 1000, body, sizeof(body));
        close(d);
    }
    ck_assert_int_eq(ok, 200);
    close(b);
    http_server_free(srv);
}
END_TEST

/* A byte of header now and then kept a connection forever on main: libmicrohttpd's timeout
 * counts only idle time. */
START_TEST(test_slow_headers_cut)
{
    struct http_options o = {.header_timeout_s = 1};
    struct http_server *srv = start(&o);
    int fd = dial(http_server_port(srv));
    const char *head = "GET /h HTTP/1.1\r\nHost: t\r\nX-Slow: 1234567890123456789012345\r\n\r\n";
    int64_t t0 = tp_mono_ms(), closed = -1;
    for (size_t i = 0; head[i] && closed < 0; i++) {
        if (send(fd, head + i, 1, MSG_NOSIGNAL) <= 0)
            break;
        char b[256];
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 150) > 0 && recv(fd, b, sizeof(b), 0) <= 0)
            closed = tp_mono_ms() - t0;
    }
    if (closed < 0)
        closed = await_close(fd, 5000) >= 0 ? tp_mono_ms() - t0 : -1;
    ck_assert_int_ge(closed, 1000);
    ck_assert_int_lt(closed, 3000);
    ck_assert_uint_eq(http_server_slow_cut(srv), 1);
    ck_assert_int_eq(atomic_load(&handled), 0);
    close(fd);
    http_server_free(srv);
}
END_TEST

START_TEST(test_slow_body_cut)
{
    struct http_options o = {.min_rate_bytes_s = 1000};
    struct http_server *srv = start(&o);
    int fd = dial(http_server_port(srv));
    const char head[] =
        "POST /up HTTP/1.1\r\nHost: t\r\nX-Key: ok\r\nContent-Length: 100000\r\n\r\n";
    send_str(fd, head, sizeof(head) - 1);
    int64_t t0 = tp_mono_ms(), closed = -1;
    char chunk[10];
    memset(chunk, 'y', sizeof(chunk));
    /* 50 bytes/s: cut once 50 t < 1000 (t - 5 s), at about 5.3 s */
    while (closed < 0 && tp_mono_ms() - t0 < 10000) {
        if (send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) <= 0) {
            closed = tp_mono_ms() - t0;
            break;
        }
        char b[256];
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 200) > 0 && recv(fd, b, sizeof(b), 0) <= 0)
            closed = tp_mono_ms() - t0;
    }
    ck_assert_int_ge(closed, HTTP_RATE_GRACE_MS);
    ck_assert_int_lt(closed, HTTP_RATE_GRACE_MS + 2000);
    ck_assert_uint_eq(http_server_slow_cut(srv), 1);
    ck_assert_int_eq(atomic_load(&handled), 0);
    close(fd);
    /* a body at a fair rate is not cut */
    fd = dial(http_server_port(srv));
    const char head2[] =
        "POST /up HTTP/1.1\r\nHost: t\r\nX-Key: ok\r\nContent-Length: 2000\r\n\r\n";
    send_str(fd, head2, sizeof(head2) - 1);
    char kb[1000], body[256];
    memset(kb, 'z', sizeof(kb));
    send_str(fd, kb, sizeof(kb));
    sleep(1);
    send_str(fd, kb, sizeof(kb));
    ck_assert_int_eq(read_response(fd, 3000, body, sizeof(body)), 200);
    ck_assert_str_eq(body, "{\"got\":2000}");
    ck_assert_uint_eq(http_server_slow_cut(srv), 1);
    close(fd);
    http_server_free(srv);
}
END_TEST

static int get(uint16_t port, const char *path, char *body, size_t body_size)
{
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    int fd = dial(port);
    send_str(fd, req, (size_t)n);
    int st = read_response(fd, 3000, body, body_size);
    close(fd);
    return st;
}

START_TEST(test_metrics_listen)
{
    char body[256];
    struct http_options o = {0};
    struct http_server *srv = start(&o);
    ck_assert_uint_eq(http_server_metrics_port(srv), 0);
    ck_assert_int_eq(get(http_server_port(srv), "/metrics", body, sizeof(body)), 200);
    http_server_free(srv);

    o = (struct http_options){.metrics_listen = "127.0.0.1:0"};
    srv = start(&o);
    uint16_t mport = http_server_metrics_port(srv);
    ck_assert_uint_ne(mport, 0);
    ck_assert_uint_ne(mport, http_server_port(srv));
    ck_assert_int_eq(get(mport, "/metrics", body, sizeof(body)), 200);
    ck_assert_str_eq(body, "up 1\n");
    ck_assert_int_eq(get(mport, "/h", body, sizeof(body)), 404);
    ck_assert_int_eq(get(http_server_port(srv), "/metrics", body, sizeof(body)), 404);
    ck_assert_str_eq(
        body,
        "{\"error\":{\"code\":\"not_found\",\"message\":\"no such endpoint \\\"/metrics\\\"\"}}");
    ck_assert_int_eq(get(http_server_port(srv), "/h", body, sizeof(body)), 200);
    http_server_free(srv);

    /* a bad second address is refused at start-up */
    o = (struct http_options){.metrics_listen = "nowhere"};
    o.listen = "127.0.0.1:0";
    o.threads = 1;
    o.connection_timeout_s = 30;
    o.max_connections = 10;
    char errstr[256];
    ck_assert_int_eq(http_server_new(routes, 3, &o, &srv, errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_str_eq(errstr, "invalid listen address \"nowhere\": expected host:port");
}
END_TEST

/* Adds HTTP_REPLY_HEADERS_MAX + 1 headers X-H0.. and answers with their results, "0,0,..". */
static void on_many_headers(struct http_request *req, void *arg)
{
    (void)arg;
    char body[128] = "", name[16], value[16];
    size_t n = 0;
    for (int i = 0; i <= HTTP_REPLY_HEADERS_MAX; i++) {
        snprintf(name, sizeof(name), "X-H%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        enum tp_err err = http_reply_header(req, name, value);
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s%d", i ? "," : "", (int)err);
    }
    http_reply(req, 200, "text/plain", body, n);
}

START_TEST(test_reply_header_past_the_bound)
{
    static const struct http_route many[] = {{"GET", "/many", 0, on_many_headers, NULL}};
    struct http_options o = {
        .listen = "127.0.0.1:0", .threads = 1, .connection_timeout_s = 30, .max_connections = 10};
    struct http_server *srv = NULL;
    char errstr[256], head[4096];
    ck_assert_msg(http_server_new(many, 1, &o, &srv, errstr, sizeof(errstr)) == TP_OK, "%s",
                  errstr);
    int fd = dial(http_server_port(srv));
    static const char req[] = "GET /many HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    send_str(fd, req, strlen(req));
    size_t len = 0;
    ssize_t r;
    while (len < sizeof(head) - 1 && (r = recv(fd, head + len, sizeof(head) - 1 - len, 0)) > 0)
        len += (size_t)r;
    head[len] = '\0';
    close(fd);
    ck_assert_msg(!strncmp(head, "HTTP/1.1 200", 12), "%s", head);
    /* the first eight sent, the ninth refused (TP_TOO_LARGE) and absent */
    char want[128];
    snprintf(want, sizeof(want), "\r\n\r\n0,0,0,0,0,0,0,0,%d", (int)TP_TOO_LARGE);
    ck_assert_msg(strstr(head, want) != NULL, "%s", head);
    for (int i = 0; i < HTTP_REPLY_HEADERS_MAX; i++) {
        char line[32];
        snprintf(line, sizeof(line), "\r\nX-H%d: v%d\r\n", i, i);
        ck_assert_msg(strstr(head, line) != NULL, "%s missing: %s", line, head);
    }
    ck_assert_ptr_null(strstr(head, "X-H8"));
    http_server_free(srv);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_precheck_answers_before_the_body);
    tcase_add_test(tc, test_connections_per_ip);
    tcase_add_test(tc, test_slow_headers_cut);
    tcase_add_test(tc, test_slow_body_cut);
    tcase_add_test(tc, test_metrics_listen);
    tcase_add_test(tc, test_reply_header_past_the_bound);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(http_suite)
