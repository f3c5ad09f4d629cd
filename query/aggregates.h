/*
 * aggregates.h - GET /v1/fleet/aggregates?category=&region=&from=&until=
 *
 * The global site's windowed aggregates (fleet_aggregates, written by
 * tp-projector with projector.fold=fleet; docs/decisions/regions.md,
 * section 4), merged per window over regions and journal partitions: counts,
 * sums and readings add up, min is the least, max the greatest, avg = sum /
 * count per metric.
 *
 *   category  required: "model=tp-truck,firmware=2.1.7" (a whole category) or a
 *             prefix of whole attributes ("model=tp-truck": all its firmwares);
 *             '\', ',' and '=' inside a name or value escaped with '\'
 *   region    repeatable (at most AGGREGATES_REGIONS_MAX); absent: every region
 *   from      required, RFC 3339: windows that start in [from, until)
 *   until     required; at most 31 days after from
 *
 *   200 {"window_ms":60000,"windows":[{"start":"..","readings":N,
 *        "regions":["region-a","region-b"],"metrics":{"speed_kmh":{"count":N,
 *        "min":..,"max":..,"sum":..,"avg":..}}}],"truncated":false}
 *
 * Windows are in time order, at most query.fleet_windows_max (then
 * "truncated":true, the first ones kept); top-level window_ms is the first
 * window's (null with none), and a window of another length (a region's
 * aggregate.window_ms changed) carries its own "window_ms". Metrics are in
 * byte order of their names; min, max and avg are null while count is 0.
 * 400 invalid_parameter, 401 unauthorized, 503 database_unavailable.
 *
 * One prepared statement: the partials in the primary key's range (region,
 * category, window_start), grouped per window and per (window, metric).
 * Handlers run on HTTP threads; arg is the struct query_api.
 */
#ifndef TP_QUERY_AGGREGATES_H
#define TP_QUERY_AGGREGATES_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/http.h"
#include "params.h"

#define AGGREGATES_REGIONS_MAX     16
#define AGGREGATES_REGION_MAX      128 /* bytes of a region name */
#define AGGREGATES_SPAN_MAX_US     (31LL * 86400 * 1000000)
#define AGGREGATES_WINDOWS_DEFAULT 10000 /* query.fleet_windows_max */

struct aggregates_params {
    const char *category; /* borrowed from the args */
    size_t n_regions;
    const char *regions[AGGREGATES_REGIONS_MAX];
    int64_t from_us, until_us;
};

/* Parses and checks the query string (pure); TP_VALIDATION with a message for the client. */
enum tp_err aggregates_params_parse(const struct params_args *a, struct aggregates_params *p,
                                    char *errstr, size_t errstr_size);
/* Whether s is a category or a prefix of whole attributes (above). */
bool aggregates_category_valid(const char *s);

enum tp_err aggregates_prepare(PGconn *db, char *errstr, size_t errstr_size);
void aggregates_handle(struct http_request *req, void *arg);

#endif
