/*
 * summary.h - GET /v1/fleet/summary?group_by=<attribute>&metric=<name>
 *
 * Per value of one attribute (twins.attributes; devices without it form
 * the group null; without group_by the whole fleet is one group): devices,
 * devices online (last_seen within query.online_window_s of now()), and
 * with metric= the min/max/avg of that metric's latest value over the
 * devices that have it. Groups sorted by key (null last), at most
 * SUMMARY_GROUPS_MAX ("truncated":true past it).
 *
 *   200 {"group_by":"region"|null,"metric":"speed_kmh"|null,"online_window_s":300,
 *        "groups":[{"key":"eu"|null,"devices":N,"online":N,
 *                   "metric":{"devices":N,"min":..,"max":..,"avg":..}},...],
 *        "truncated":false}
 *
 * One prepared statement; it reads every twin (an aggregate over the
 * fleet), bounded by pg.statement_timeout_ms. HTTP threads; arg is the
 * struct query_api.
 */
#ifndef TP_QUERY_SUMMARY_H
#define TP_QUERY_SUMMARY_H

#include <libpq-fe.h>

#include "common/http.h"

#define SUMMARY_GROUPS_MAX 1000

enum tp_err summary_prepare(PGconn *db, char *errstr, size_t errstr_size);
void summary_handle(struct http_request *req, void *arg);

#endif
