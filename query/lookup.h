/*
 * lookup.h - twins by device id, many at once: the read path of
 * GET /v1/devices/{id} and of each list page.
 *
 * Rows: device_id, version, updated_at, state (the record, twin/record.h),
 * read in PostgreSQL's binary result format by one prepared statement,
 * `WHERE device_id = ANY($1::text[])`, so one round trip and one executor
 * run serve a whole batch (lookup_fetch, on any connection that ran
 * lookup_prepare).
 *
 * The batcher (struct lookup) serves concurrent GET /v1/devices/{id}: the
 * handler suspends its request (http_request_suspend) and queues a
 * struct lookup_item; each of query.lookup_threads threads, with its own
 * connection, takes everything queued (at most query.lookup_batch_max ids)
 * as soon as it is free, fetches it in one statement, fills the items and
 * resumes their requests, whose handlers then render the twins on the HTTP
 * threads. No timer: a lone request goes out at once, a queued one waits
 * only for the statements in flight and the batches queued before it
 * (FIFO, at most max_queued requests; past it 503 overloaded), and batches
 * grow only with the load. No HTTP thread ever waits for the database.
 *
 * Object: struct lookup (heap, _new/_free). struct lookup_item belongs to
 * its request (the caller frees it with lookup_item_free once answered);
 * the batcher fills it and never touches it after resuming its request.
 * lookup_submit from HTTP threads; lookup_stop once, from main, before the
 * HTTP server stops (queued items come back done with `shutdown` set).
 *
 *     struct lookup_item *it = lookup_item_new(id);
 *     if (lookup_submit(l, req, it) == WAITER_ADDED) return;   // called again later
 *     ... it->err, it->found, it->version, it->state ...
 */
#ifndef TP_QUERY_LOOKUP_H
#define TP_QUERY_LOOKUP_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/http.h"
#include "params.h"
#include "waiter.h"

#define LOOKUP_BATCH_MAX 1000 /* ids in one statement, at most (query.lookup_batch_max) */

/* Columns of lookup_fetch's result (binary format). */
enum { LOOKUP_COL_ID, LOOKUP_COL_VERSION, LOOKUP_COL_UPDATED_AT, LOOKUP_COL_STATE };

/* pool_prepare_fn part: the statement. */
enum tp_err lookup_prepare(PGconn *db, char *errstr, size_t errstr_size);
/* The rows of the twins of ids (any order; missing ids have none) into *res. */
enum tp_err lookup_fetch(PGconn *db, const char *const *ids, size_t n, PGresult **res, char *errstr,
                         size_t errstr_size);
/* A row's version and updated_at (UTC ms since the epoch). */
int64_t lookup_row_version(const PGresult *res, int row);
int64_t lookup_row_updated_at_ms(const PGresult *res, int row);

struct lookup_item {
    char id[PARAMS_ID_MAX + 1];
    bool done;     /* filled by the batcher */
    bool shutdown; /* not fetched: the service stops */
    enum tp_err err;
    bool unreachable; /* err: could not connect */
    char errstr[512];
    bool found;
    int64_t version, updated_at_ms;
    uint8_t *state;
    size_t state_len;
    struct http_request *req;
    struct lookup_item *next;
};

struct lookup_settings {
    const char *dsn;
    int threads;
    size_t batch_max;
    size_t max_queued;
    int statement_timeout_ms;
    int64_t health_stall_ms; /* /healthz: a batch stalled past it (0: the default) */
};

struct lookup *lookup_new(const struct lookup_settings *s);
struct lookup_item *lookup_item_new(const char *id);
void lookup_item_free(struct lookup_item *it);
/* Suspends req and queues it (WAITER_ADDED: called again once it->done), or leaves it alone
 * (WAITER_FULL: past max_queued; WAITER_STOPPING). */
enum waiter_add_result lookup_submit(struct lookup *l, struct http_request *req,
                                     struct lookup_item *it);
/* Prometheus text: batches, ids, queue. */
void lookup_metrics(struct lookup *l, struct buf *b);
/* Stops the threads; queued items come back done with shutdown set (their requests resumed). */
void lookup_stop(struct lookup *l);
void lookup_free(struct lookup *l);

#endif
