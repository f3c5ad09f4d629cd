/*
 * waiter.h - read-your-writes without blocking an HTTP thread.
 *
 * A request whose consistency token (token.h) the projector has not
 * reached yet is suspended (http_request_suspend) and handed to the
 * waiter. One waiter thread, with its own database connection, reads the
 * projector's offsets (projector_offsets of query.projector_group and
 * query.topic) once per query.consistency_poll_ms while anything waits —
 * one small query however many requests wait — and resumes each request
 * whose token is covered, or whose deadline passed, with
 * http_request_resume: its handler then runs again on an HTTP thread and
 * answers (the data, or 504 consistency_timeout). So HTTP threads never
 * sleep, waiting requests cost a list entry each, and their number is
 * bounded (query.consistency_max_waiting; past it 503 overloaded).
 *
 * Object: struct waiter (heap, _new/_free). struct waiter_entry is the
 * request's user object (http_request_set_user with waiter_entry_free);
 * the waiter links it while the request is suspended and never touches it
 * after resuming it. waiter_add from HTTP threads; waiter_stop once, from
 * main, before the HTTP server stops (it releases every waiting request
 * with outcome WAIT_SHUTDOWN and refuses new ones).
 *
 *     struct waiter_entry *e = waiter_entry_new(w, deadline_ms);   // fill e->token
 *     http_request_set_user(req, e, waiter_entry_free);
 *     if (waiter_add(w, req, e) == WAITER_ADDED) return;           // called again later
 *     ... on the next call: e = http_request_user(req); switch (e->outcome) ...
 */
#ifndef TP_QUERY_WAITER_H
#define TP_QUERY_WAITER_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/http.h"
#include "token/token.h"

struct waiter;

enum waiter_outcome { WAIT_PENDING, WAIT_COVERED, WAIT_TIMEOUT, WAIT_SHUTDOWN };

struct waiter_entry {
    struct token token;
    int64_t deadline_ms; /* monotonic */
    enum waiter_outcome outcome;
    char detail[160]; /* with WAIT_TIMEOUT: where the projector stood */
    struct waiter *w;
    struct http_request *req;
    struct waiter_entry *next;
};

enum waiter_add_result { WAITER_ADDED, WAITER_FULL, WAITER_STOPPING };

struct waiter_settings {
    const char *dsn;
    const char *group; /* the projector's consumer group */
    const char *topic;
    int poll_ms;
    size_t max_waiting;
    int64_t health_stall_ms; /* /healthz: a poll stalled past it (0: the default) */
};

/* Starts the waiter thread; TP_IO when it cannot (*out NULL, nothing to free). */
enum tp_err waiter_new(const struct waiter_settings *s, struct waiter **out, char *errstr,
                       size_t errstr_size);
struct waiter_entry *waiter_entry_new(struct waiter *w, int64_t deadline_ms);
void waiter_entry_free(void *entry);
/* Suspends req and queues it (WAITER_ADDED), or leaves it alone. */
enum waiter_add_result waiter_add(struct waiter *w, struct http_request *req,
                                  struct waiter_entry *e);
/* Whether the projector has applied every event of t, asked now on db (a pooled connection). */
enum tp_err waiter_covered_now(struct waiter *w, PGconn *db, const struct token *t, bool *covered,
                               char *errstr, size_t errstr_size);
/* Releases every waiting request (WAIT_SHUTDOWN), refuses new ones, and waits
 * (up to timeout_ms) until every released request has been answered. */
void waiter_stop(struct waiter *w, int timeout_ms);
/* Counts an outcome of a wait held elsewhere (the search index's, search.h) in the
 * tp_query_consistency_waits_total counters. */
void waiter_count(struct waiter *w, enum waiter_outcome o);
/* Prometheus text: waiting requests and outcomes. */
void waiter_metrics(struct waiter *w, struct buf *b);
void waiter_free(struct waiter *w);

#endif
