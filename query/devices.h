/*
 * devices.h - GET /v1/devices/{id}: one twin.
 *
 *   200 twin JSON with ETag "v<version>" (the twin's version: its count of
 *   applied readings), 304 when If-None-Match names it, 404
 *   device_not_found, 400 invalid_device_id, 503 database_unavailable.
 *
 * The row (version, updated_at, the record) is read by lookup.h: batched
 * with the concurrent lookups of other requests (query.lookup_batch=on,
 * the request suspended meanwhile), or one statement on a pooled
 * connection (off). The document is rendered in C from the record
 * (twin/render.h), as each entry of the list (list.h):
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/http.h"

/* Appends the twin's document from its record; false when the record does not decode or the
 * document does not fit out (the reason logged; out as it was). */
bool devices_render(struct buf *out, const char *id, size_t id_len, const uint8_t *state,
                    size_t state_len, int64_t updated_at_ms);
void devices_handle_get(struct http_request *req, void *arg);

#endif
