/*
 * fuzz_http - the HTTP request path of every service (common/http.c on
 * libmicrohttpd): request lines, headers, Content-Length, chunked bodies,
 * pipelined requests, routes with '*' segments, query arguments, bodies over
 * a route's max_body, headers over max_header_bytes, suspend/resume.
 *
 * The server runs in-process (its own poll thread, as in the services) on
 * 127.0.0.1 with a route table like the services'; each input is written
 * whole on a fresh loopback TCP connection whose sending side is then shut,
 * and the answer is read until the server closes or 2 seconds pass (a
 * bounded time per input: http.connection_timeout_s is 1); the client then
 * resets the connection (SO_LINGER 0: no TIME_WAIT to run out of ports).
 *
 * Checked: whatever comes back is HTTP/1.x with a status 100..599; handlers
 * see bodies no longer than their route's max_body.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/http.h"
#include "common/mem.h"
#include "fuzz.h"

#define FUZZ_BODY_MAX 1024

static uint16_t fuzz_port;

static void fuzz_on_health(struct http_request *req, void *arg)
{
    (void)arg;
    http_reply(req, 200, "text/plain", "ok\n", 3);
}

static void fuzz_on_post(struct http_request *req, void *arg)
{
    size_t max = (size_t)(uintptr_t)arg, len;
    const char *body = http_request_body(req, &len);
    if (len > max || !body)
        abort();
    const char *ct = http_request_header(req, "Content-Type");
    char out[128];
    int n = snprintf(out, sizeof(out), "{\"bytes\":%zu,\"typed\":%d}", len, ct != NULL);
    http_reply_header(req, "X-Fuzz", "1");
    http_reply(req, 202, "application/json", out, (size_t)n);
}

static bool fuzz_query_one(void *arg, const char *key, const char *value)
{
    struct buf *b = arg;
    buf_printf(b, "%zu:%zu,", strlen(key), strlen(value));
    return b->len < 512;
}

static void fuzz_on_device(struct http_request *req, void *arg)
{
    (void)arg;
    struct buf b;
    buf_init(&b, 4096);
    buf_printf(&b, "{\"id_len\":%zu,\"q\":\"", strlen(http_request_path_tail(req)));
    http_request_query_each(req, fuzz_query_one, &b);
    const char *limit = http_request_query(req, "limit");
    buf_printf(&b, "\",\"limit\":%zu}", limit ? strlen(limit) : 0);
    http_reply_json(req, 200, &b);
    buf_release(&b);
}

/* First call: suspend, resume unanswered; second call (user set): answer. */
static void fuzz_on_wait(struct http_request *req, void *arg)
{
    (void)arg;
    if (!http_request_user(req)) {
        http_request_set_user(req, tp_strdup("waited"), free);
        http_request_suspend(req);
        http_request_resume(req);
        return;
    }
    http_reply_error(req, 503, "overloaded", "waited for %s", (char *)http_request_user(req));
}

/* Suspends and answers at once, as ingest does when Kafka acks quickly. */
static void fuzz_on_ack(struct http_request *req, void *arg)
{
    (void)arg;
    http_request_suspend(req);
    http_reply(req, 202, "application/json", "{}", 2);
}

static const struct http_route fuzz_routes[] = {
    {"GET", "/healthz", 0, fuzz_on_health, NULL},
    {"POST", "/v1/telemetry", FUZZ_BODY_MAX, fuzz_on_post, (void *)(uintptr_t)FUZZ_BODY_MAX},
    {"PUT", "/config/*", 64, fuzz_on_post, (void *)(uintptr_t)64},
    {"GET", "/v1/devices/*", 0, fuzz_on_device, NULL},
    {"GET", "/v1/devices/*/series", 0, fuzz_on_device, NULL},
    {"GET", "/subjects/*/versions/*", 0, fuzz_on_device, NULL},
    {"DELETE", "/subjects/**/versions/*/x", 0, fuzz_on_device, NULL},
    {"GET", "/v1/wait", 0, fuzz_on_wait, NULL},
    {"POST", "/v1/ack", 16, fuzz_on_ack, NULL},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    struct http_options ho = {.listen = "127.0.0.1:0",
                              .threads = 1,
                              .connection_timeout_s = 1,
                              .max_connections = 64,
                              .max_header_bytes = 2048};
    struct http_server *srv;
    char err[256];
    if (http_server_new(fuzz_routes, sizeof(fuzz_routes) / sizeof(fuzz_routes[0]), &ho, &srv, err,
                        sizeof(err)) != TP_OK) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        abort();
    }
    fuzz_port = http_server_port(srv);
    return 0; /* the server lives as long as the process */
}

static void fuzz_check_answer(const char *resp, size_t n)
{
    if (n == 0)
        return; /* closed without an answer: allowed for garbage */
    if (n < 12 || memcmp(resp, "HTTP/1.", 7) != 0)
        abort();
    int status = atoi(resp + 9);
    if (status < 100 || status > 599)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        abort();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(fuzz_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* close with a reset: no TIME_WAIT, or a long run exhausts the ephemeral ports */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc != 0 && errno == EINTR) { /* libFuzzer's SIGALRM: the connect goes on; wait for it */
        struct pollfd p = {fd, POLLOUT, 0};
        while (poll(&p, 1, 2000) < 0 && errno == EINTR)
            ;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        rc = soerr ? -1 : 0;
        errno = soerr;
    }
    if (rc != 0) {
        fprintf(stderr, "fuzz_http: connect: %s\n", strerror(errno));
        abort();
    }
    int64_t deadline = tp_mono_ms() + 2000;
    size_t off = 0;
    char resp[8192];
    size_t got = 0;
    bool wr_open = true;
    for (;;) {
        int64_t left = deadline - tp_mono_ms();
        if (left <= 0)
            break;
        if (wr_open && off == size) {
            shutdown(fd, SHUT_WR);
            wr_open = false;
        }
        struct pollfd p = {fd, (short)(POLLIN | (wr_open ? POLLOUT : 0)), 0};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (p.revents & POLLIN) {
            ssize_t r = recv(fd, resp + got, sizeof(resp) - got, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
            if (got == sizeof(resp))
                break;
        } else if (wr_open && (p.revents & POLLOUT)) {
            ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                break; /* the server closed early (413, 431) */
            if (w > 0)
                off += (size_t)w;
        } else if (p.revents & (POLLERR | POLLHUP)) {
            break;
        }
    }
    close(fd);
    fuzz_check_answer(resp, got);
    return 0;
}
