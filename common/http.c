#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "metrics.h"
#include "mem.h"

#define HTTP_STATUS_MAX  600
#define HTTP_SEGMENT_MAX 256

/* Responses and latency of one route, for /metrics. */
struct http_route_stats {
    _Atomic uint64_t status_counts[HTTP_STATUS_MAX];
    struct metrics_histogram latency;
};

/* Where a connection's current request is, for the slow-client watchdog. */
enum http_phase {
    HTTP_PHASE_HEAD, /* request line and headers not complete yet (or idle keep-alive) */
    HTTP_PHASE_BODY, /* the body is being read */
    HTTP_PHASE_BUSY, /* ours: the handler, a suspended request, the response */
};

struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    enum http_phase phase;
    int64_t since_ms; /* monotonic, start of the phase */
    uint64_t body_bytes;
    bool cut;
};

struct http_server {
    struct MHD_Daemon *daemon;
    const struct http_precheck *prechecks;
    size_t n_prechecks;
    void (*unrouted)(struct http_request *req, unsigned status, const char *allow, void *arg);
    void *unrouted_arg;
    bool metrics_elsewhere;          /* "/metrics" is served by metrics_srv, not here */
    struct http_server *metrics_srv; /* with metrics_listen */
    struct http_route *metrics_routes;
    /* slow-client watchdog (header_timeout_ms or min_rate set) */
    int64_t header_timeout_ms;
    uint64_t min_rate;
    pthread_mutex_t conns_lock; /* guards conns and every http_conn */
    struct http_conn *conns;
    pthread_cond_t watchdog_cond;
    bool watchdog_stop; /* under conns_lock */
    bool watchdog_started;
    pthread_t watchdog;
    _Atomic uint64_t slow_cut;
    _Atomic uint64_t status_counts[HTTP_STATUS_MAX];
    const struct http_route *routes;
    struct http_route_stats *route_stats; /* parallel to routes */
    size_t n_routes;
    uint16_t port;
    size_t max_header_bytes;
    bool access_log;
};

struct http_request {
    struct http_server *srv;
    struct MHD_Connection *conn;
    const struct http_route *route;
    const char *method;
    const char *path;
    struct buf body;
    bool too_large;
    bool handled;
    const struct http_precheck *precheck;
    int64_t start_ms;                 /* monotonic, first call */
    struct timespec start_ts;         /* the same, finer: the access log's duration */
    char id[HTTP_REQUEST_ID_MAX + 1]; /* X-Request-Id: the client's when sane, else ours */
    char segment[HTTP_SEGMENT_MAX];   /* what the route's '*' matched */
    void *user;
    void (*user_free)(void *);

    pthread_mutex_t lock; /* guards the fields below */
    bool suspended;
    bool again; /* resumed without a reply: call the handler again */
    bool ready; /* a reply is stored and not yet queued */
    bool queued;
    unsigned status;
    char *resp;
    size_t resp_len;
    const char *resp_type;
    struct http_stream *stream; /* a streamed reply instead of resp */
    size_t n_headers;
    char *header_names[HTTP_REPLY_HEADERS_MAX];
    char *header_values[HTTP_REPLY_HEADERS_MAX];
};

/* A '*' in the route matches one non-empty path segment (no '/'); *seg_at and
 * *seg_len tell where (seg_at may be NULL). */
static bool http_route_matches(const struct http_route *r, const char *path, const char **seg_at,
                               size_t *seg_len)
{
    const char *star = strchr(r->path, '*');
    if (!star)
        return strcmp(r->path, path) == 0;
    size_t pre = (size_t)(star - r->path);
    if (strncmp(r->path, path, pre) != 0)
        return false;
    /* "**" takes one or more segments, the fewest that let the rest match */
    bool multi = star[1] == '*';
    const char *p = path + pre;
    size_t seg = strcspn(p, "/");
    if (seg == 0)
        return false;
    /* the rest may hold another '*' ("/subjects/<s>/versions/<v>") */
    struct http_route rest = {.path = star + (multi ? 2 : 1)};
    while (!http_route_matches(&rest, p + seg, NULL, NULL)) {
        if (!multi || p[seg] != '/')
            return false;
        seg += 1 + strcspn(p + seg + 1, "/");
    }
    if (seg_at) {
        *seg_at = p;
        *seg_len = seg;
    }
    return true;
}

static const struct http_route *http_route_find(const struct http_server *srv, const char *method,
                                                const char *path, bool *path_known)
{
    *path_known = false;
    for (size_t i = 0; i < srv->n_routes; i++) {
        if (srv->metrics_elsewhere && !strcmp(srv->routes[i].path, "/metrics"))
            continue;
        if (!http_route_matches(&srv->routes[i], path, NULL, NULL))
            continue;
        *path_known = true;
        if (strcmp(srv->routes[i].method, method) == 0)
            return &srv->routes[i];
    }
    return NULL;
}

static void http_store_reply(struct http_request *req, unsigned status, const char *type,
                             char *body, size_t len)
{
    pthread_mutex_lock(&req->lock);
    if (req->ready || req->queued) {
        pthread_mutex_unlock(&req->lock);
        free(body);
        log_error("second reply to one request ignored (status %u)", status);
        return;
    }
    req->status = status;
    req->resp = body;
    req->resp_len = len;
    req->resp_type = type; /* a literal or a string the server owns: see http_reply */
    req->ready = true;
    bool resume = req->suspended;
    req->suspended = false;
    pthread_mutex_unlock(&req->lock);
    if (resume)
        MHD_resume_connection(req->conn);
}

/* ---- streamed replies ---- */

struct http_stream {
    struct MHD_Connection *conn;
    int fd;
    http_stream_read_fn read;
    void (*done)(void *arg);
    void *arg;
    pthread_mutex_t lock;
    bool suspended; /* by the reader, waiting for a wake */
    bool pending;   /* woken since the reader last looked */
};

static ssize_t http_stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_stream *s = cls;
    (void)pos;
    pthread_mutex_lock(&s->lock);
    s->pending = false;
    pthread_mutex_unlock(&s->lock);
    long n = s->read(s->arg, buf, max);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n > 0)
        return (ssize_t)n;
    /* nothing now: suspend unless a wake came meanwhile (then MHD calls again) */
    pthread_mutex_lock(&s->lock);
    if (!s->pending) {
        s->suspended = true;
        MHD_suspend_connection(s->conn);
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void http_stream_free(void *cls)
{
    struct http_stream *s = cls;
    s->done(s->arg);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static struct MHD_Response *http_stream_response(struct http_stream *s)
{
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16 * 1024, http_stream_reader, s, http_stream_free);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return r;
}

void http_stream_wake(struct http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->pending = true;
    bool resume = s->suspended;
    s->suspended = false;
    pthread_mutex_unlock(&s->lock);
    if (resume)
        MHD_resume_connection(s->conn);
}

void http_stream_cut(struct http_stream *s)
{
    if (s->fd >= 0)
        shutdown(s->fd, SHUT_RDWR);
    http_stream_wake(s); /* a suspended connection notices the cut once resumed */
}

/* Queues the stored reply on the connection; called on the server thread. */
static enum MHD_Result http_queue(struct http_request *req)
{
    pthread_mutex_lock(&req->lock);
    if (!req->ready) {
        pthread_mutex_unlock(&req->lock);
        return MHD_YES;
    }
    req->ready = false;
    req->queued = true;
    struct MHD_Response *resp =
        req->stream
            ? http_stream_response(req->stream)
            : MHD_create_response_from_buffer(req->resp_len, req->resp, MHD_RESPMEM_MUST_FREE);
    req->resp = NULL;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, req->resp_type);
    MHD_add_response_header(resp, "X-Request-Id", req->id);
    for (size_t i = 0; i < req->n_headers; i++)
        MHD_add_response_header(resp, req->header_names[i], req->header_values[i]);
    unsigned status = req->status;
    pthread_mutex_unlock(&req->lock);
    if (status < HTTP_STATUS_MAX)
        atomic_fetch_add(&req->srv->status_counts[status], 1);
    if (req->route) {
        struct http_route_stats *rs = &req->srv->route_stats[req->route - req->srv->routes];
        if (status < HTTP_STATUS_MAX)
            atomic_fetch_add(&rs->status_counts[status], 1);
        metrics_histogram_observe(&rs->latency, (double)(tp_mono_ms() - req->start_ms));
    }
    enum MHD_Result r = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static void http_request_free(struct http_request *req)
{
    if (!req)
        return;
    if (req->user_free)
        req->user_free(req->user);
    buf_release(&req->body);
    free(req->resp);
    for (size_t i = 0; i < req->n_headers; i++) {
        free(req->header_names[i]);
        free(req->header_values[i]);
    }
    pthread_mutex_destroy(&req->lock);
    free(req);
}

static bool http_watchdog_on(const struct http_server *srv)
{
    return srv->header_timeout_ms > 0 || srv->min_rate > 0;
}

/* Moves conn's request to phase (restarting its clock unless it stays in it) and counts
 * body bytes. */
static void http_conn_phase(struct http_server *srv, struct MHD_Connection *conn,
                            enum http_phase phase, size_t bytes)
{
    if (!http_watchdog_on(srv))
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct http_conn *c = ci ? ci->socket_context : NULL;
    if (!c)
        return;
    pthread_mutex_lock(&srv->conns_lock);
    if (c->phase != phase) {
        c->phase = phase;
        c->since_ms = tp_mono_ms();
        c->body_bytes = 0;
    }
    c->body_bytes += bytes;
    pthread_mutex_unlock(&srv->conns_lock);
}

static void http_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                   enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
            return;
        struct http_conn *c = tp_calloc(1, sizeof(*c));
        c->fd = ci->connect_fd;
        c->phase = HTTP_PHASE_HEAD;
        c->since_ms = tp_mono_ms();
        pthread_mutex_lock(&srv->conns_lock);
        c->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = c;
        srv->conns = c;
        pthread_mutex_unlock(&srv->conns_lock);
        *socket_context = c;
        return;
    }
    struct http_conn *c = *socket_context;
    if (!c)
        return;
    /* removed before libmicrohttpd closes the socket: the watchdog never shuts down a
     * descriptor that may have been reused */
    pthread_mutex_lock(&srv->conns_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&srv->conns_lock);
    free(c);
    *socket_context = NULL;
}

/* Whether c is a slow client now (under conns_lock). */
static bool http_conn_slow(const struct http_server *srv, const struct http_conn *c, int64_t now)
{
    int64_t t = now - c->since_ms;
    if (c->phase == HTTP_PHASE_HEAD)
        return srv->header_timeout_ms > 0 && t > srv->header_timeout_ms;
    if (c->phase == HTTP_PHASE_BODY && srv->min_rate > 0 && t > HTTP_RATE_GRACE_MS)
        return c->body_bytes * 1000 < srv->min_rate * (uint64_t)(t - HTTP_RATE_GRACE_MS);
    return false;
}

/* Cuts slow clients: a shutdown(2) of the socket makes libmicrohttpd close the connection on
 * its own thread, as if the client had gone. */
static void *http_watchdog_main(void *arg)
{
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->conns_lock);
    while (!srv->watchdog_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->watchdog_cond, &srv->conns_lock, &ts);
        int64_t now = tp_mono_ms();
        for (struct http_conn *c = srv->conns; c; c = c->next) {
            if (c->cut || !http_conn_slow(srv, c, now))
                continue;
            c->cut = true;
            /* counted before the cut: a client that sees the close sees the count */
            atomic_fetch_add(&srv->slow_cut, 1);
            shutdown(c->fd, SHUT_RDWR);
            log_debug("cut a slow client (%s for %lld ms, %llu body bytes)",
                      c->phase == HTTP_PHASE_HEAD ? "headers" : "body",
                      (long long)(now - c->since_ms), (unsigned long long)c->body_bytes);
        }
    }
    pthread_mutex_unlock(&srv->conns_lock);
    return NULL;
}

bool http_request_id_sane(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (n >= HTTP_REQUEST_ID_MAX || (unsigned char)id[n] < 0x21 || (unsigned char)id[n] > 0x7e)
            return false;
    return n > 0;
}

/* The client's X-Request-Id when sane, else 128 random bits in hex. */
static void http_request_id_init(struct http_request *req)
{
    const char *given = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Request-Id");
    if (given && http_request_id_sane(given)) {
        snprintf(req->id, sizeof(req->id), "%s", given);
        return;
    }
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof(r)) {
        ssize_t k = getrandom(r + got, sizeof(r) - got, 0);
        if (k > 0)
            got += (size_t)k;
        else /* no getrandom: a weaker id is still an id */
            for (; got < sizeof(r); got++)
                r[got] = (unsigned char)rand();
    }
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(req->id + 2 * i, 3, "%02x", r[i]);
}

/* One line per request: what was asked (the path without its query string; no header but the
 * request id), the answer and how long it took. A request never answered (the client left)
 * has status 0. */
static void http_access_log(struct http_request *req)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (double)(now.tv_sec - req->start_ts.tv_sec) * 1e3 +
                (double)(now.tv_nsec - req->start_ts.tv_nsec) / 1e6;
    char client[INET6_ADDRSTRLEN] = "-";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, client,
                  sizeof(client));
    pthread_mutex_lock(&req->lock);
    unsigned status = req->queued ? req->status : 0;
    size_t bytes = req->queued ? req->resp_len : 0;
    pthread_mutex_unlock(&req->lock);
    const struct log_field f[] = {
        LOG_STR("method", req->method),
        LOG_STR("path", req->path),
        LOG_INT("status", status),
        LOG_INT("bytes", (int64_t)bytes),
        LOG_DOUBLE("duration_ms", (double)(int64_t)(ms * 1000) / 1000),
        LOG_STR("client", client),
        LOG_STR("request_id", req->id),
    };
    log_fields(LOG_INFO, f, sizeof(f) / sizeof(f[0]), "request");
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct http_request *req = *con_cls;
    (void)toe;
    if (req && srv->access_log)
        http_access_log(req);
    http_request_free(*con_cls);
    *con_cls = NULL;
    http_conn_phase(cls, conn, HTTP_PHASE_HEAD, 0); /* keep-alive: the next request's head */
}

/* libmicrohttpd's per-connection pool holds the request line, the headers and the read
 * buffer; headers that do not fit get its own HTML 431, so the pool is kept well above our
 * limit and the limit is enforced (with a JSON error) in http_access. */
static size_t http_memory_limit(const struct http_server *srv)
{
    return srv->max_header_bytes + 4 * 1024;
}

static enum MHD_Result http_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct http_request *req = *con_cls;
    (void)version;

    if (!req) {
        req = tp_calloc(1, sizeof(*req));
        pthread_mutex_init(&req->lock, NULL);
        req->srv = srv;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->start_ms = tp_mono_ms();
        clock_gettime(CLOCK_MONOTONIC, &req->start_ts);
        http_request_id_init(req);
        *con_cls = req;
        size_t head = strlen(method) + strlen(url) + strlen(version) + 4;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, http_header_bytes, &head);
        if (head > srv->max_header_bytes) {
            req->handled = true;
            http_reply_error(req, 431, "headers_too_large",
                             "request line and headers take %zu bytes, over the limit of %zu", head,
                             srv->max_header_bytes);
            return http_queue(req); /* now: a body is never read */
        }
        http_conn_phase(srv, conn, HTTP_PHASE_BUSY, 0);
        bool path_known;
        req->route = http_route_find(srv, method, url, &path_known);
        const char *seg = NULL;
        size_t seg_len = 0;
        if (req->route && http_route_matches(req->route, url, &seg, &seg_len) && seg)
            snprintf(req->segment, sizeof(req->segment), "%.*s", (int)seg_len, seg);
        buf_init(&req->body, req->route ? req->route->max_body : 0);
        if (!req->route) {
            req->handled = true;
            char allow[128] = "";
            for (size_t i = 0; path_known && i < srv->n_routes; i++) {
                const char *m = srv->routes[i].method;
                size_t al = strlen(allow), ml = strlen(m);
                if ((srv->metrics_elsewhere && !strcmp(srv->routes[i].path, "/metrics")) ||
                    !http_route_matches(&srv->routes[i], url, NULL, NULL) ||
                    al + ml + 3 > sizeof(allow))
                    continue;
                bool seen = false; /* "GET, POST": each method once */
                for (const char *p = allow; !seen && (p = strstr(p, m)); p += ml)
                    seen = (p == allow || p[-1] == ' ') && (p[ml] == ',' || p[ml] == '\0');
                if (!seen)
                    snprintf(allow + al, sizeof(allow) - al, "%s%s", al ? ", " : "", m);
            }
            if (path_known)
                http_reply_header(req, "Allow", allow);
            if (srv->unrouted)
                srv->unrouted(req, path_known ? 405 : 404, allow, srv->unrouted_arg);
            else if (path_known)
                http_reply_error(req, 405, "method_not_allowed",
                                 "method %s is not allowed on \"%s\"", method, url);
            else
                http_reply_error(req, 404, "not_found", "no such endpoint \"%s\"", url);
            /* with a body announced, answer now: libmicrohttpd then never reads it
             * (and sends no 100 Continue); without one, on the next call, which
             * keeps the connection alive */
            if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length") ||
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding"))
                return http_queue(req);
            return MHD_YES;
        }
        bool announced = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length") ||
                         MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
        for (size_t i = 0; i < srv->n_prechecks && !req->precheck; i++)
            if (!strcmp(srv->prechecks[i].method, req->route->method) &&
                !strcmp(srv->prechecks[i].path, req->route->path))
                req->precheck = &srv->prechecks[i];
        if (req->precheck && !req->precheck->fn(req, req->precheck->arg)) {
            req->handled = true;
            /* like 404 above: with a body announced, now (it is never read) */
            return announced ? http_queue(req) : MHD_YES;
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > req->route->max_body) {
            req->handled = true;
            http_reply_error(req, 413, "payload_too_large",
                             "request body of %s bytes is over the limit of %zu bytes", cl,
                             req->route->max_body);
            return http_queue(req); /* now: the body is never read */
        }
        http_conn_phase(srv, conn, HTTP_PHASE_BODY, 0);
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        http_conn_phase(srv, conn, HTTP_PHASE_BODY, *upload_data_size);
        if (!req->handled && !req->too_large &&
            buf_append(&req->body, upload_data, *upload_data_size) != TP_OK)
            req->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }

    http_conn_phase(srv, conn, HTTP_PHASE_BUSY, 0);
    if (!req->handled) {
        req->handled = true;
        if (req->too_large)
            http_reply_error(req, 413, "payload_too_large",
                             "request body is over the limit of %zu bytes", req->route->max_body);
        else
            req->route->fn(req, req->route->arg);
    } else {
        pthread_mutex_lock(&req->lock);
        bool again = req->again;
        req->again = false;
        pthread_mutex_unlock(&req->lock);
        if (again)
            req->route->fn(req, req->route->arg);
    }
    return http_queue(req);
}

__attribute__((format(printf, 2, 0))) static void http_mhd_log(void *cls, const char *fmt,
                                                               va_list ap)
{
    char m[512];
    (void)cls;
    vsnprintf(m, sizeof(m), fmt, ap);
    m[strcspn(m, "\n")] = '\0';
    log_warn("libmicrohttpd: %s", m);
}

static enum tp_err http_parse_listen(const char *listen, struct sockaddr_in *sa, char *errstr,
                                     size_t errstr_size)
{
    const char *colon = strrchr(listen, ':');
    char host[64];
    if (!colon || (size_t)(colon - listen) >= sizeof(host))
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid listen address \"%s\": expected host:port", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "invalid port in listen address \"%s\"",
                          listen);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid IPv4 host \"%s\" in listen address \"%s\"", host, listen);
    return TP_OK;
}

/* The second listener of metrics_listen: the "/metrics" routes alone. */
static enum tp_err http_metrics_start(struct http_server *srv, const struct http_route *routes,
                                      size_t n_routes, const struct http_options *opts,
                                      char *errstr, size_t errstr_size)
{
    size_t n = 0;
    srv->metrics_routes = tp_calloc(n_routes ? n_routes : 1, sizeof(*srv->metrics_routes));
    for (size_t i = 0; i < n_routes; i++)
        if (!strcmp(routes[i].path, "/metrics"))
            srv->metrics_routes[n++] = routes[i];
    if (n == 0)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "http.metrics_listen \"%s\" is set, but this service has no /metrics",
                          opts->metrics_listen);
    struct http_options mo = *opts;
    mo.listen = opts->metrics_listen;
    mo.threads = 1;
    mo.metrics_listen = NULL;
    mo.prechecks = NULL;
    mo.n_prechecks = 0;
    enum tp_err err =
        http_server_new(srv->metrics_routes, n, &mo, &srv->metrics_srv, errstr, errstr_size);
    if (err == TP_OK)
        srv->metrics_elsewhere = true;
    return err;
}

enum tp_err http_server_new(const struct http_route *routes, size_t n_routes,
                            const struct http_options *opts, struct http_server **out, char *errstr,
                            size_t errstr_size)
{
    struct sockaddr_in sa;
    enum tp_err err = http_parse_listen(opts->listen, &sa, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    /* every connection is a file descriptor: raise the soft limit, or refuse
     * (libmicrohttpd would otherwise stop accepting silently at the limit) */
    struct rlimit rl;
    rlim_t need = (rlim_t)opts->max_connections + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need)
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "http.max_connections %u needs %llu file descriptors, the limit is "
                              "%llu (raise it, or lower http.max_connections)",
                              opts->max_connections, (unsigned long long)need,
                              (unsigned long long)rl.rlim_cur);
    }
    struct http_server *srv = tp_calloc(1, sizeof(*srv));
    srv->max_header_bytes = opts->max_header_bytes ? opts->max_header_bytes : 8192;
    srv->access_log = opts->access_log;
    srv->routes = routes;
    srv->n_routes = n_routes;
    srv->route_stats = tp_calloc(n_routes ? n_routes : 1, sizeof(*srv->route_stats));
    srv->prechecks = opts->prechecks;
    srv->n_prechecks = opts->n_prechecks;
    srv->unrouted = opts->unrouted;
    srv->unrouted_arg = opts->unrouted_arg;
    srv->header_timeout_ms = (int64_t)opts->header_timeout_s * 1000;
    srv->min_rate = opts->min_rate_bytes_s;
    pthread_mutex_init(&srv->conns_lock, NULL);
    pthread_cond_init(&srv->watchdog_cond, NULL);
    if (opts->metrics_listen && *opts->metrics_listen) {
        err = http_metrics_start(srv, routes, n_routes, opts, errstr, errstr_size);
        if (err != TP_OK) {
            http_server_free(srv);
            return err;
        }
    }
    /* one thread: no pool option at all (a pool of 0 is logged as a warning) */
    struct MHD_OptionItem pool[] = {
        {opts->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, opts->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    /* poll(2) rather than epoll: see docs/decisions/http-server.md */
    unsigned flags =
        MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, http_access, srv, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, http_completed,
        srv, MHD_OPTION_NOTIFY_CONNECTION, http_notify_connection, srv, MHD_OPTION_ARRAY, pool,
        MHD_OPTION_CONNECTION_TIMEOUT, opts->connection_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        opts->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, opts->max_connections_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, http_memory_limit(srv), MHD_OPTION_END);
    if (!srv->daemon) {
        http_server_free(srv);
        return tp_err_set(TP_IO, errstr, errstr_size, "could not listen on \"%s\"", opts->listen);
    }
    if (http_watchdog_on(srv))
        srv->watchdog_started = pthread_create(&srv->watchdog, NULL, http_watchdog_main, srv) == 0;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    *out = srv;
    return TP_OK;
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->port;
}

uint16_t http_server_metrics_port(const struct http_server *srv)
{
    return srv->metrics_srv ? srv->metrics_srv->port : 0;
}

uint64_t http_server_slow_cut(const struct http_server *srv)
{
    return atomic_load(&srv->slow_cut);
}

uint64_t http_server_status_count(const struct http_server *srv, unsigned status)
{
    return status < HTTP_STATUS_MAX ? atomic_load(&srv->status_counts[status]) : 0;
}

unsigned http_server_connections(const struct http_server *srv)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

void http_server_metrics(const struct http_server *srv, const char *prefix, struct buf *b)
{
    char name[128], labels[32];
    snprintf(name, sizeof(name), "%s_http_responses_total", prefix);
    bool first = true;
    for (unsigned st = 100; st < HTTP_STATUS_MAX; st++) {
        uint64_t n = http_server_status_count(srv, st);
        if (!n)
            continue;
        snprintf(labels, sizeof(labels), "status=\"%u\"", st);
        metrics_sample(b, name, "counter", first ? "HTTP responses by status" : NULL, labels,
                       (double)n);
        first = false;
    }
    snprintf(name, sizeof(name), "%s_http_slow_clients_cut_total", prefix);
    metrics_sample(b, name, "counter",
                   "connections cut for slow headers or a body under http.min_rate_bytes_s", NULL,
                   (double)http_server_slow_cut(srv));
    snprintf(name, sizeof(name), "%s_http_open_connections", prefix);
    metrics_sample(b, name, "gauge", "open client connections", NULL,
                   (double)http_server_connections(srv));
    char rlabels[HTTP_SEGMENT_MAX];
    snprintf(name, sizeof(name), "%s_http_route_responses_total", prefix);
    first = true;
    for (size_t r = 0; r < srv->n_routes; r++) {
        for (unsigned st = 100; st < HTTP_STATUS_MAX; st++) {
            uint64_t n = atomic_load(&srv->route_stats[r].status_counts[st]);
            if (!n)
                continue;
            snprintf(rlabels, sizeof(rlabels), "method=\"%s\",route=\"%s\",status=\"%u\"",
                     srv->routes[r].method, srv->routes[r].path, st);
            metrics_sample(b, name, "counter",
                           first ? "HTTP responses by route (method and path pattern) and status"
                                 : NULL,
                           rlabels, (double)n);
            first = false;
        }
    }
    snprintf(name, sizeof(name), "%s_http_request_duration_seconds", prefix);
    for (size_t r = 0; r < srv->n_routes; r++) {
        snprintf(rlabels, sizeof(rlabels), "method=\"%s\",route=\"%s\"", srv->routes[r].method,
                 srv->routes[r].path);
        metrics_histogram_write_labels(b, name,
                                       r == 0 ? "from the request's headers to its response being "
                                                "queued, by route (method and path pattern)"
                                              : NULL,
                                       rlabels, &srv->route_stats[r].latency);
    }
}

void http_server_quiesce(struct http_server *srv)
{
    if (srv && srv->daemon)
        MHD_quiesce_daemon(srv->daemon);
    if (srv && srv->metrics_srv)
        http_server_quiesce(srv->metrics_srv);
}

void http_server_free(struct http_server *srv)
{
    if (!srv)
        return;
    if (srv->watchdog_started) {
        pthread_mutex_lock(&srv->conns_lock);
        srv->watchdog_stop = true;
        pthread_cond_signal(&srv->watchdog_cond);
        pthread_mutex_unlock(&srv->conns_lock);
        pthread_join(srv->watchdog, NULL);
    }
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    http_server_free(srv->metrics_srv);
    pthread_cond_destroy(&srv->watchdog_cond);
    pthread_mutex_destroy(&srv->conns_lock);
    free(srv->metrics_routes);
    free(srv->route_stats);
    free(srv);
}

const char *http_request_method(const struct http_request *req)
{
    return req->method;
}

const char *http_request_path(const struct http_request *req)
{
    return req->path;
}

const char *http_request_id(const struct http_request *req)
{
    return req->id;
}

const char *http_request_path_tail(const struct http_request *req)
{
    return req->segment;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_request_query(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct http_query_each {
    http_query_fn fn;
    void *arg;
    bool stopped;
};

static enum MHD_Result http_query_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct http_query_each *e = cls;
    (void)kind;
    if (!e->fn(e->arg, key, value ? value : "")) {
        e->stopped = true;
        return MHD_NO;
    }
    return MHD_YES;
}

bool http_request_query_each(const struct http_request *req, http_query_fn fn, void *arg)
{
    struct http_query_each e = {fn, arg, false};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, http_query_one, &e);
    return !e.stopped;
}

const void *http_request_body(const struct http_request *req, size_t *len)
{
    *len = req->body.len;
    return req->body.data ? req->body.data : "";
}

void http_request_set_user(struct http_request *req, void *user, void (*free_fn)(void *))
{
    req->user = user;
    req->user_free = free_fn;
}

void *http_request_user(const struct http_request *req)
{
    return req->user;
}

void http_request_suspend(struct http_request *req)
{
    /* suspend under the lock: a reply stored meanwhile on another thread
     * resumes only after it (http_store_reply resumes after unlocking) */
    pthread_mutex_lock(&req->lock);
    if (!req->ready) {
        req->suspended = true;
        MHD_suspend_connection(req->conn);
    }
    pthread_mutex_unlock(&req->lock);
}

void http_request_resume(struct http_request *req)
{
    pthread_mutex_lock(&req->lock);
    bool resume = req->suspended && !req->ready;
    if (resume) {
        req->suspended = false;
        req->again = true;
    }
    pthread_mutex_unlock(&req->lock);
    if (resume)
        MHD_resume_connection(req->conn);
}

enum tp_err http_reply_header(struct http_request *req, const char *name, const char *value)
{
    pthread_mutex_lock(&req->lock);
    bool room = req->n_headers < HTTP_REPLY_HEADERS_MAX;
    if (room) {
        req->header_names[req->n_headers] = tp_strdup(name);
        req->header_values[req->n_headers] = tp_strdup(value);
        req->n_headers++;
    }
    pthread_mutex_unlock(&req->lock);
    if (!room) {
        log_error("response header \"%s\" not sent: a response carries at most %d headers", name,
                  HTTP_REPLY_HEADERS_MAX);
        return TP_TOO_LARGE;
    }
    return TP_OK;
}

void http_reply(struct http_request *req, unsigned status, const char *content_type,
                const char *body, size_t len)
{
    http_store_reply(req, status, content_type, tp_strndup(body, len), len);
}

struct http_stream *http_reply_stream(struct http_request *req, unsigned status,
                                      const char *content_type, http_stream_read_fn read,
                                      void (*done)(void *arg), void *arg)
{
    struct http_stream *s = tp_calloc(1, sizeof(*s));
    s->conn = req->conn;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = ci ? ci->connect_fd : -1;
    s->read = read;
    s->done = done;
    s->arg = arg;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_lock(&req->lock);
    req->stream = s;
    pthread_mutex_unlock(&req->lock);
    http_store_reply(req, status, content_type, NULL, 0);
    return s;
}

void http_reply_json(struct http_request *req, unsigned status, struct buf *body)
{
    size_t len;
    char *data = buf_steal(body, &len);
    http_store_reply(req, status, "application/json", data, len);
}

void http_reply_error(struct http_request *req, unsigned status, const char *code, const char *fmt,
                      ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    struct buf b;
    buf_init(&b, 4096);
    if (json_error(&b, code, message) != TP_OK) {
        buf_reset(&b);
        buf_append_str(&b, "{\"error\":{\"code\":\"internal\",\"message\":\"error too long\"}}");
    }
    http_reply_json(req, status, &b);
}
