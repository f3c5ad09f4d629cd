/*
 * series.h - GET /v1/devices/{id}/series?metric=&from=&to=&step=1m|5m|1h|1d
 *
 * The history of one metric of one device from metric_minutes (written by
 * the projector: min/max/sum/count per device, metric and minute) and the
 * twin's open minute (in its record, twin/record.h: minute_ms and each
 * metric's mmin/mmax/msum/mcount; the newest minute, moved into
 * metric_minutes when the device's next minute starts), rolled
 * up into buckets aligned to the step in UTC (a day starts at 00:00Z).
 * The minutes that start in [from, to) count; buckets at the edges may be
 * partial; buckets without data are left out. At most PARAMS_BUCKETS_MAX
 * buckets (400 too_many_buckets), so the answer is bounded.
 *
 *   200 {"device_id":"..","metric":"..","step":"5m","from":"..","to":"..",
 *        "buckets":[{"start":"2026-11-23T10:00:00.000Z","min":..,"max":..,
 *                    "avg":..,"count":..},...]}
 *   404 device_not_found (no twin), 400 invalid_parameter / too_many_buckets
 *
 * One prepared statement over the primary keys (device_id, metric, minute)
 * and (device_id), so the minutes and the record come from one snapshot
 * (a minute is never counted twice nor missed while the projector closes
 * it): the buckets of metric_minutes, then one row with the twin's record
 * (none: 404), whose open minute is added to its bucket in C.
 * Handlers run on HTTP threads; arg is the struct query_api.
 */
#ifndef TP_QUERY_SERIES_H
#define TP_QUERY_SERIES_H

#include <libpq-fe.h>

#include "common/http.h"

enum tp_err series_prepare(PGconn *db, char *errstr, size_t errstr_size);
void series_handle(struct http_request *req, void *arg);

#endif
