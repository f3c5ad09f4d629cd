/*
 * The HTTP server (common/http.c) against hostile clients, over raw
 * sockets on 127.0.0.1: a route's pre-check answers from the headers alone
 * (a 4 MB upload announced, 1 KB sent: 401 at once, the body never read);
 * connections per client address are capped; slow headers and slow bodies
 * are cut; /metrics alone on its own listener with http.metrics_listen; a
 * response header past HTTP_REPLY_HEADERS_MAX is refused, not dropped unseen; X-Request-Id:
 * a sane one echoed, else one generated (32 hex digits), on every response (the handler's,
 * 401 of a pre-check, 404, 405, 413, 431); the access log's JSON line, field by field,
 * without the query string or the Authorization header.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/http.h"
#include "common/log.h"
#include "common/mem.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"

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

/* Sends req (which asks for Connection: close) and reads the whole answer into out. Returns
 * the status. */
static int exchange(uint16_t port, const char *req, size_t req_len, char *out, size_t size)
{
    int fd = dial(port);
    send_str(fd, req, req_len);
    size_t len = 0;
    ssize_t r;
    while (len < size - 1 && (r = recv(fd, out + len, size - 1 - len, 0)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fd);
    ck_assert_msg(!strncmp(out, "HTTP/1.1 ", 9), "%s", out);
    return atoi(out + 9);
}

/* The X-Request-Id header of a response ("" without one). */
static void request_id_of(const char *resp, char *id, size_t size)
{
    const char *h = strstr(resp, "\r\nX-Request-Id: ");
    id[0] = '\0';
    if (h && h < strstr(resp, "\r\n\r\n"))
        snprintf(id, size, "%.*s", (int)strcspn(h + 16, "\r"), h + 16);
}

static bool hex32(const char *id)
{
    if (strlen(id) != 32)
        return false;
    for (const char *p = id; *p; p++)
        if (!strchr("0123456789abcdef", *p))
            return false;
    return true;
}

/* GET path with an X-Request-Id line (NULL: none); the echoed id into id. */
static int get_with_id(uint16_t port, const char *path, const char *given, char *id, size_t size)
{
    char req[1024], resp[4096];
    int n =
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n%s%s%sConnection: close\r\n\r\n",
                 path, given ? "X-Request-Id: " : "", given ? given : "", given ? "\r\n" : "");
    int st = exchange(port, req, (size_t)n, resp, sizeof(resp));
    request_id_of(resp, id, size);
    return st;
}

START_TEST(test_request_id)
{
    struct http_options o = {0};
    struct http_server *srv = start(&o);
    uint16_t port = http_server_port(srv);
    char id[256], id2[256];
    ck_assert_int_eq(get_with_id(port, "/h", "abc-123_X.Y:z", id, sizeof(id)), 200);
    ck_assert_str_eq(id, "abc-123_X.Y:z");
    /* absent: 128 random bits, a new id each time */
    ck_assert_int_eq(get_with_id(port, "/h", NULL, id, sizeof(id)), 200);
    ck_assert_msg(hex32(id), "%s", id);
    ck_assert_int_eq(get_with_id(port, "/h", NULL, id2, sizeof(id2)), 200);
    ck_assert_msg(hex32(id2), "%s", id2);
    ck_assert_str_ne(id, id2);
    /* the longest sane one is echoed; one more character, a space or a non-ASCII byte is not */
    char longest[HTTP_REQUEST_ID_MAX + 2];
    memset(longest, 'r', HTTP_REQUEST_ID_MAX + 1);
    longest[HTTP_REQUEST_ID_MAX] = '\0';
    ck_assert_int_eq(get_with_id(port, "/h", longest, id, sizeof(id)), 200);
    ck_assert_str_eq(id, longest);
    longest[HTTP_REQUEST_ID_MAX] = 'r';
    longest[HTTP_REQUEST_ID_MAX + 1] = '\0';
    static const char *const insane[] = {NULL, "a b", "caf\xc3\xa9", "x\x7f", ""};
    for (size_t i = 0; i < sizeof(insane) / sizeof(insane[0]); i++) {
        const char *given = insane[i] ? insane[i] : longest;
        ck_assert_int_eq(get_with_id(port, "/h", given, id, sizeof(id)), 200);
        ck_assert_msg(hex32(id), "given \"%s\": %s", given, id);
    }
    ck_assert(http_request_id_sane("a"));
    ck_assert(!http_request_id_sane(""));
    ck_assert(!http_request_id_sane("a\tb"));
    /* answered by the server itself or before the body: echoed too */
    ck_assert_int_eq(get_with_id(port, "/nope", "id-404", id, sizeof(id)), 404);
    ck_assert_str_eq(id, "id-404");
    char resp[4096];
    static const char post_h[] = "POST /h HTTP/1.1\r\nHost: t\r\nX-Request-Id: id-405\r\n"
                                 "Content-Length: 0\r\nConnection: close\r\n\r\n";
    ck_assert_int_eq(exchange(port, post_h, strlen(post_h), resp, sizeof(resp)), 405);
    request_id_of(resp, id, sizeof(id));
    ck_assert_str_eq(id, "id-405");
    static const char no_key[] = "POST /up HTTP/1.1\r\nHost: t\r\nX-Request-Id: id-401\r\n"
                                 "Content-Length: 3\r\nConnection: close\r\n\r\nabc";
    ck_assert_int_eq(exchange(port, no_key, strlen(no_key), resp, sizeof(resp)), 401);
    request_id_of(resp, id, sizeof(id));
    ck_assert_str_eq(id, "id-401");
    static const char big[] =
        "POST /up HTTP/1.1\r\nHost: t\r\nX-Key: ok\r\nX-Request-Id: id-413\r\n"
        "Content-Length: 9000000\r\nConnection: close\r\n\r\n";
    ck_assert_int_eq(exchange(port, big, strlen(big), resp, sizeof(resp)), 413);
    request_id_of(resp, id, sizeof(id));
    ck_assert_str_eq(id, "id-413");
    char huge[12000];
    int n = snprintf(huge, sizeof(huge),
                     "GET /h HTTP/1.1\r\nHost: t\r\nX-Request-Id: id-431\r\n"
                     "X-Pad: %09000d\r\nConnection: close\r\n\r\n",
                     0);
    ck_assert_int_eq(exchange(port, huge, (size_t)n, resp, sizeof(resp)), 431);
    request_id_of(resp, id, sizeof(id));
    ck_assert_str_eq(id, "id-431");
    http_server_free(srv);
}
END_TEST

/* The access log's lines ("msg":"request") of the file at path, once there are want. */
static size_t access_lines(const char *path, size_t want, char lines[][2048])
{
    size_t n = 0;
    for (int tries = 0; tries < 300; tries++) {
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        char l[2048];
        n = 0;
        while (n < want && fgets(l, sizeof(l), f))
            if (strstr(l, "\"msg\":\"request\""))
                snprintf(lines[n++], 2048, "%s", l);
        fclose(f);
        if (n == want)
            break;
        usleep(10 * 1000);
    }
    return n;
}

START_TEST(test_access_log_json)
{
    char path[] = "/tmp/tp_test_http_log_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    log_init("test_http", LOG_INFO);
    log_format_set(LOG_FORMAT_JSON);
    struct http_options o = {.access_log = true};
    struct http_server *srv = start(&o);
    uint16_t port = http_server_port(srv);
    char resp[4096], id404[256];
    static const char req[] = "GET /h?token=sekret-query HTTP/1.1\r\nHost: t\r\n"
                              "Authorization: Bearer sekret-token\r\nX-Request-Id: req-1\r\n"
                              "Connection: close\r\n\r\n";
    ck_assert_int_eq(exchange(port, req, strlen(req), resp, sizeof(resp)), 200);
    ck_assert_int_eq(get_with_id(port, "/nope", NULL, id404, sizeof(id404)), 404);
    char lines[2][2048];
    size_t n = access_lines(path, 2, lines);
    http_server_free(srv);
    log_format_set(LOG_FORMAT_TEXT);
    log_init("test_http", LOG_ERROR);
    dup2(saved, STDERR_FILENO);
    close(saved);
    unlink(path);
    ck_assert_uint_eq(n, 2);
    ck_assert_ptr_null(strstr(lines[0], "sekret"));
    struct jv *doc = jv_parse(lines[0]);
    ck_assert_msg(doc != NULL, "%s", lines[0]);
    ck_assert_uint_eq(jv_len(doc, ""), 5);
    ck_assert_str_eq(jv_str(doc, "level"), "info");
    ck_assert_str_eq(jv_str(doc, "service"), "test_http");
    ck_assert_uint_eq(strlen(jv_str(doc, "ts")), strlen("2026-11-23T10:00:00.123Z"));
    ck_assert_uint_eq(jv_len(doc, "fields"), 7);
    ck_assert_str_eq(jv_str(doc, "fields.method"), "GET");
    ck_assert_str_eq(jv_str(doc, "fields.path"), "/h");
    ck_assert_double_eq(jv_num(doc, "fields.status"), 200);
    ck_assert_double_eq(jv_num(doc, "fields.bytes"), strlen("{\"got\":0}"));
    ck_assert_double_ge(jv_num(doc, "fields.duration_ms"), 0);
    ck_assert_double_lt(jv_num(doc, "fields.duration_ms"), 3000);
    ck_assert_str_eq(jv_str(doc, "fields.client"), "127.0.0.1");
    ck_assert_str_eq(jv_str(doc, "fields.request_id"), "req-1");
    jv_free(doc);
    doc = jv_parse(lines[1]);
    ck_assert_msg(doc != NULL, "%s", lines[1]);
    ck_assert_str_eq(jv_str(doc, "fields.path"), "/nope");
    ck_assert_double_eq(jv_num(doc, "fields.status"), 404);
    ck_assert_double_gt(jv_num(doc, "fields.bytes"), 0);
    ck_assert_str_eq(jv_str(doc, "fields.request_id"), id404); /* the generated one */
    jv_free(doc);
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
    tcase_add_test(tc, test_request_id);
    tcase_add_test(tc, test_access_log_json);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(http_suite)
