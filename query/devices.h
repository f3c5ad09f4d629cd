/*
 * devices.h - GET /v1/devices/{id}: one twin.
 *
 *   200 twin JSON with ETag "v<events>" (the twin's version),
 *   304 when If-None-Match names it, 404 device_not_found,
 *   400 invalid_device_id, 503 database_unavailable.
 *
 * The twin document is built by PostgreSQL from the twins row (one
 * prepared, parameterized statement), so escaping and number formatting
 * are the database's; the list endpoint (list.h) uses the same select list:
 *   {"device_id":"..","first_seen":"2026-11-23T10:00:00.000Z","last_seen":"..",
 *    "last_sequence":N,"events":N,
 *    "metrics":{"speed_kmh":{"value":88.5,"ts":1700000000000,"min":..,"max":..,
 *               "sum":..,"count":..},..},
 *    "location":{"lat":..,"lon":..,"ts":..}|null,"attributes":{"model":"..",..},
 *    "updated_at":".."}
 *
 * Handlers run on HTTP threads; arg is the struct query_api.
 */
#ifndef TP_DEVICES_H
#define TP_DEVICES_H

#include <libpq-fe.h>

#include "common/http.h"

#define DEVICES_TS_SQL(col)                                                                        \
    "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The twin as JSON text, from a row of twins. */
// clang-format off
#define DEVICES_TWIN_JSON_SQL                                                                      \
    "json_build_object("                                                                           \
    "'device_id', device_id,"                                                                      \
    "'first_seen', " DEVICES_TS_SQL("first_seen") ","                                              \
    "'last_seen', " DEVICES_TS_SQL("last_seen") ","                                                \
    "'last_sequence', last_sequence,"                                                              \
    "'events', events,"                                                                            \
    "'metrics', metrics,"                                                                          \
    "'location', location,"                                                                        \
    "'attributes', attributes,"                                                                    \
    "'updated_at', " DEVICES_TS_SQL("updated_at") ")::text"
// clang-format on

/* pool_prepare_fn part: the statements below. */
enum tp_err devices_prepare(PGconn *db, char *errstr, size_t errstr_size);
void devices_handle_get(struct http_request *req, void *arg);

#endif
