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
 * Times are RFC 3339 UTC with milliseconds, as PostgreSQL's
 * to_char(.., 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') wrote them (query/devices.h
 * DEVICES_TS_SQL; years 1..9999 in four digits); numbers are the shortest
 * digits that read back as the same double (common/json.h); a statistic of
 * a metric with no finite value yet (count 0), and a non-finite double, is
 * null. Strings are escaped as JSON requires (common/json.h; invalid UTF-8
 * becomes U+FFFD). Keys come in the order above (metrics in the twin's
 * order, location fields in twin_loc_names' order, attributes model,
 * firmware, region when present), with no spaces: the same document as
 * PostgreSQL built from the jsonb columns, which printed spaces (" : ",
 * ", ") and sorted keys (shorter first), and numbers in plain notation.
 *
 * Pure, any thread.
 *
 *     if (twin_render_json(&body, id, id_len, &view, updated_at_ms) != TP_OK) ...too large...
 */
#ifndef TP_TWIN_RENDER_H
#define TP_TWIN_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "record.h"

/* Appends the document of the twin of device id (id_len bytes) with record view v, last
 * written at updated_at_ms (UTC milliseconds). TP_TOO_LARGE past the buffer's maximum: out
 * is then left as it was. */
enum tp_err twin_render_json(struct buf *out, const char *id, size_t id_len,
                             const struct twin_view *v, int64_t updated_at_ms);
/* Appends ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (quoted; floor to the millisecond's day, also
 * before 1970). TP_TOO_LARGE past the buffer's maximum (out unchanged). */
enum tp_err twin_render_time(struct buf *out, int64_t ms);

#endif
