/*
 * devices.h - the query service's device endpoints.
 *
 *   GET /v1/devices/{id}  -> 200 twin JSON with ETag "v<events>" (the twin's version),
 *                            304 when If-None-Match names it,
 *                            404 {"error":{"code":"device_not_found",..}},
 *                            400 for an id that cannot be a device id,
 *                            503 when the database is unavailable.
 *   GET /readyz           -> 200 while the database answers, else 503 not_ready.
 *   GET /metrics          -> Prometheus text: responses by status, lookup latency, pool.
 *
 * The twin document is built by PostgreSQL from the twins row (one
 * prepared, parameterized statement), so escaping and number formatting
 * are the database's:
 *   {"device_id":"..","first_seen":"2026-11-23T10:00:00.000Z","last_seen":"..",
 *    "last_sequence":N,"events":N,
 *    "metrics":{"speed_kmh":{"value":88.5,"ts":1700000000000},..},
 *    "location":{"lat":..,"lon":..,"ts":..}|null,"attributes":{"model":"..",..},
 *    "updated_at":".."}
 *
 * Handlers run on HTTP threads; arg is the struct devices_ctx.
 */
#ifndef TP_DEVICES_H
#define TP_DEVICES_H

#include <libpq-fe.h>

#include "common/http.h"
#include "common/metrics.h"
#include "common/pool.h"

struct devices_ctx {
    struct pool *pool;
    struct http_server *srv; /* borrowed, for /metrics; set once listening */
    struct metrics_histogram latency;
};

/* pool_prepare_fn for the statements below. */
enum tp_err devices_prepare(PGconn *db, char *errstr, size_t errstr_size);
void devices_handle_get(struct http_request *req, void *arg);
void devices_handle_ready(struct http_request *req, void *arg);
void devices_handle_metrics(struct http_request *req, void *arg);

#endif
