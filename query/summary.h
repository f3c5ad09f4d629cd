/*
 * summary.h - GET /v1/fleet/summary?group_by=<attribute>&metric=<name>
 *
 * Per value of one attribute (model, region or firmware; devices without
 * it form the group null; without group_by, or with another name, the
 * whole fleet is one group): devices, devices online (last_seen within
 * query.online_window_s of now), and with metric= the min/max/avg of that
 * metric's latest value over the devices that have a finite one. Groups
 * sorted by key (byte order, null last), at most SUMMARY_GROUPS_MAX
 * ("truncated":true past it).
 *
 *   200 {"group_by":"region"|null,"metric":"speed_kmh"|null,"online_window_s":300,
 *        "groups":[{"key":"eu"|null,"devices":N,"online":N,
 *                   "metric":{"devices":N,"min":..,"max":..,"avg":..}},...],
 *        "truncated":false}
 *
 * Computed from the search index's entries (search.h), no SQL: as fresh as
 * the index. HTTP threads; arg is the struct query_api.
 */
#ifndef TP_QUERY_SUMMARY_H
#define TP_QUERY_SUMMARY_H

#include "common/http.h"

#define SUMMARY_GROUPS_MAX 1000

void summary_handle(struct http_request *req, void *arg);

#endif
