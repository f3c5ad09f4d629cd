/*
 * render.h - a twin's JSON document, written in C from its record view
 * (record.h): the body of tp-query's GET /v1/devices/{id} and each entry of
 * GET /v1/devices, so PostgreSQL parses and builds no JSON on the read path.
 *
 *   {"device_id":"..","first_seen":"2026-11-23T10:00:00.000Z","last_seen":"..",
 *    "last_sequence":N,"events":N,
 *    "metrics":{"speed_kmh":{"value":88.5,"ts":1700000000000,"min":..,"max":..,
 *               "sum":..,"count":..},..},
 *    "location":{"lat":..,"lon":..,"ts":..}|null,"attributes":{"model":"..",..},
 *    "updated_at":".."}
 *
 * Times are RFC 3339 UTC with milliseconds; numbers are the shortest digits
 * that read back as the same double (common/json.h); a statistic of a metric
 * with no finite value yet (count 0), and a non-finite latest value, is
 * null. Strings are escaped as JSON requires (common/json.h).
 *
 * Pure, any thread.
 *
 *     twin_render_json(&body, id, id_len, &view, updated_at_ms);
 */
#ifndef TP_TWIN_RENDER_H
#define TP_TWIN_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "record.h"

/* Appends the document of the twin of device id (id_len bytes) with record view v, last
 * written at updated_at_ms (UTC milliseconds). */
void twin_render_json(struct buf *out, const char *id, size_t id_len, const struct twin_view *v,
                      int64_t updated_at_ms);
/* Appends ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (quoted). */
void twin_render_time(struct buf *out, int64_t ms);

#endif
