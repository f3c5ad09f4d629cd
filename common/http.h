/*
 * http.h - the HTTP server all twinpipe services use, on libmicrohttpd.
 *
 * A service declares a route table and a handler per route. The server
 * reads the request (bounded: headers by the connection memory limit, the
 * body by the route's max_body; a Content-Length over it is answered 413
 * before any of the body is read), then calls the handler once, on a server
 * thread, with the whole body. The handler answers exactly once with
 * http_reply*(), either before it returns or later from any thread after
 * calling http_request_suspend() (ingest answers when Kafka has acked), or
 * resumes it unanswered with http_request_resume() to be called again (the
 * query service waits for the projector that way).
 * A route may have a pre-check (http_options.prechecks): it is called once
 * the request's headers are in, before any byte of the body is read, and
 * may answer (say 401 or 415), in which case the body is never read and the
 * handler never called; an upload nobody wants is not buffered.
 * Unknown paths get 404 and known paths with another method 405 (with an
 * Allow header listing the path's methods), as JSON errors:
 * {"error":{"code":"...","message":"..."}}, or as http_options.unrouted answers.
 *
 * Every response carries X-Request-Id (http_request_id). With access_log, each request
 * ends with one log line (log_fields: method, path without the query string, status, bytes,
 * duration_ms, client, request_id; never a header such as Authorization).
 *
 * Hostile clients: connections per client address are capped
 * (max_connections_per_ip: more are closed at once); a watchdog thread cuts
 * (shuts down) a connection whose request line and headers are not complete
 * within header_timeout_s of its start or of its previous response, or whose
 * body arrives slower than min_rate_bytes_s on average once
 * HTTP_RATE_GRACE_MS have passed (slow-loris); libmicrohttpd's own timeout
 * only counts idle time, so a trickle of bytes would keep it alive.
 * With metrics_listen set, the "/metrics" route is served on that second
 * address only (404 on the main one), so it can stay off the public port.
 *
 * Ownership: the server owns each struct http_request; it stays valid until
 * the handler's reply has been sent (a suspended request therefore stays
 * valid until it is answered). http_request_set_user() hands the request a
 * per-request object freed with it.
 *
 * Threads: handlers run on the server's threads (http.threads). http_reply*
 * may be called from any thread, once per request.
 *
 *     static const struct http_route routes[] = {
 *         {"GET", "/healthz", 0, on_health, NULL},
 *         {"GET", "/v1/devices/<id>" (path "/v1/devices/" + "*"), 0, on_device, ctx},
 *     };
 *     http_server_new(routes, 2, &opts, &srv, errstr, sizeof(errstr));
 *     ... on_device(req, arg): http_reply_json(req, 200, &body); ...
 *     http_server_free(srv);
 */
#ifndef TP_HTTP_H
#define TP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct http_request;
struct http_server;

typedef void (*http_handler_fn)(struct http_request *req, void *arg);
/* Return true to read the body and call the handler; or answer (http_reply*) and return
 * false. Runs on a server thread; the body is not available yet. */
typedef bool (*http_precheck_fn)(struct http_request *req, void *arg);

struct http_route {
    const char *method; /* "GET", "POST" */
    const char *path;   /* exact path; each '*' in it matches one path segment, a double
                           star one or more (the fewest that let the rest match) */
    size_t max_body;    /* bytes; 0 = no body accepted */
    http_handler_fn fn;
    void *arg;
};

/* The pre-check of the route with this method and path (the route's own strings). */
struct http_precheck {
    const char *method;
    const char *path;
    http_precheck_fn fn;
    void *arg;
};

/* Slow-body grace: min_rate_bytes_s is enforced once a body has taken this long. */
#define HTTP_RATE_GRACE_MS 5000

struct http_options {
    const char *listen;            /* "127.0.0.1:18080"; port 0 = any free port */
    unsigned threads;              /* server threads (>= 1) */
    unsigned connection_timeout_s; /* idle/slow client timeout */
    unsigned max_connections;
    size_t max_header_bytes;               /* request line + headers; over it: 431 JSON (0: 8192) */
    unsigned max_connections_per_ip;       /* 0 = no limit */
    unsigned header_timeout_s;             /* headers complete within it, else cut; 0 = off */
    unsigned min_rate_bytes_s;             /* slowest average body rate, else cut; 0 = off */
    const char *metrics_listen;            /* "host:port" for /metrics alone; NULL or "" = listen */
    const struct http_precheck *prechecks; /* borrowed for the server's life */
    size_t n_prechecks;
    /* Answers a request no route takes, in the service's own error shape: status 404, or 405
     * with allow = the path's methods ("GET, DELETE"; also sent as the Allow header). NULL:
     * {"error":{"code":"not_found"|"method_not_allowed",..}}. */
    void (*unrouted)(struct http_request *req, unsigned status, const char *allow, void *arg);
    void *unrouted_arg;
    bool access_log; /* one log line per request (http_request_id) */
};

enum tp_err http_server_new(const struct http_route *routes, size_t n_routes,
                            const struct http_options *opts, struct http_server **out, char *errstr,
                            size_t errstr_size);
/* The bound port (useful with port 0). */
uint16_t http_server_port(const struct http_server *srv);
/* The port /metrics is served on with metrics_listen; 0 without. */
uint16_t http_server_metrics_port(const struct http_server *srv);
/* Connections the watchdog cut (slow headers or body). */
uint64_t http_server_slow_cut(const struct http_server *srv);
/* Responses sent so far with this status (100..599). */
uint64_t http_server_status_count(const struct http_server *srv, unsigned status);
/* Open client connections. */
unsigned http_server_connections(const struct http_server *srv);
/* Appends responses by status and by route, latency by route (seconds), slow clients cut and
 * open connections as Prometheus text, named `<prefix>_http_...`. */
void http_server_metrics(const struct http_server *srv, const char *prefix, struct buf *b);
/* Stops accepting new connections; requests in flight go on. */
void http_server_quiesce(struct http_server *srv);
/* Stops the server and frees it; NULL is a no-op. */
void http_server_free(struct http_server *srv);

/* Request accessors; returned strings are borrowed, valid until the reply. */
const char *http_request_method(const struct http_request *req);
/* The request id, echoed in the X-Request-Id header of every response (also 404, 405, 413 and
 * 431 answered here): the client's X-Request-Id when it is sane (http_request_id_sane), else
 * 128 random bits in 32 hex digits. */
const char *http_request_id(const struct http_request *req);
#define HTTP_REQUEST_ID_MAX 128
/* 1..HTTP_REQUEST_ID_MAX visible ASCII characters (0x21..0x7e): safe in a header and a log. */
bool http_request_id_sane(const char *id);
const char *http_request_path(const struct http_request *req);
/* The path segment matched by the route's first '*' ("" without one): a '*'
 * matches one non-empty segment, so "/v1/devices/<id>" and
 * "/v1/devices/<id>/series" can be two routes ("**": the segments it took). */
const char *http_request_path_tail(const struct http_request *req);
const char *http_request_header(const struct http_request *req, const char *name);
const char *http_request_query(const struct http_request *req, const char *name);
/* Called for each query argument (decoded; value "" when absent); return false to stop. */
typedef bool (*http_query_fn)(void *arg, const char *key, const char *value);
/* Calls fn for every query argument in order; false when fn stopped it. */
bool http_request_query_each(const struct http_request *req, http_query_fn fn, void *arg);
const void *http_request_body(const struct http_request *req, size_t *len);
/* Takes ownership of user; free_fn(user) runs when the request ends. */
void http_request_set_user(struct http_request *req, void *user, void (*free_fn)(void *));
void *http_request_user(const struct http_request *req);

/* Call in the handler to answer later (from any thread). */
void http_request_suspend(struct http_request *req);
/*
 * Resumes a suspended request without answering it: the handler is called
 * again on a server thread (http_request_user tells it apart) and answers or
 * suspends again. Any thread; a no-op when the request is not suspended.
 */
void http_request_resume(struct http_request *req);

/* Adds a response header; call before the reply. At most HTTP_REPLY_HEADERS_MAX a response:
 * past them TP_TOO_LARGE (logged, the header not sent; the reply goes out without it). */
#define HTTP_REPLY_HEADERS_MAX 8
enum tp_err http_reply_header(struct http_request *req, const char *name, const char *value);
/* Copies body; content_type must be a string literal (it is used after the call). */
void http_reply(struct http_request *req, unsigned status, const char *content_type,
                const char *body, size_t len);
/* Takes the content of body (left empty). */
void http_reply_json(struct http_request *req, unsigned status, struct buf *body);
void http_reply_error(struct http_request *req, unsigned status, const char *code, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

/*
 * Streamed replies (Server-Sent Events): the body comes from read(arg, buf,
 * max) as the connection can take it, on a server thread. read returns the
 * bytes it put in buf (1..max), 0 when it has nothing now (the connection is
 * then suspended, no thread waits, until http_stream_wake), or -1 at the
 * end (the connection is closed after what was sent). done(arg) is called
 * once, on a server thread, when the reply ends for any reason (the end,
 * the client gone, the server stopping); after it, the stream is freed and
 * http_stream_wake must not be called. Returns the stream handle (borrowed,
 * valid until done). Sent chunked, with "Connection: close".
 */
struct http_stream;
typedef long (*http_stream_read_fn)(void *arg, char *buf, size_t max);
struct http_stream *http_reply_stream(struct http_request *req, unsigned status,
                                      const char *content_type, http_stream_read_fn read,
                                      void (*done)(void *arg), void *arg);
/* Data (or the end) is ready: resumes a suspended stream so read is called again. Any
 * thread; never after done. */
void http_stream_wake(struct http_stream *s);
/* Cuts the connection now (shutdown(2) of its socket: a client that stopped reading); done
 * follows on a server thread. Any thread; never after done. */
void http_stream_cut(struct http_stream *s);

#endif
