/*
 * list.h - GET /v1/devices: the twins matching filters, one page at a time.
 *
 *   ?model=&region=&firmware=            attribute equality
 *   ?metric.<name>.<lt|le|gt|ge>=<num>   on the latest value (metrics.<name>.value)
 *   ?last_seen_after=&last_seen_before=  RFC 3339; after <= last_seen < before
 *   ?status=online|offline               last_seen within query.online_window_s of now()
 *   ?sort=device_id|-device_id|last_seen|-last_seen   (default device_id)
 *   ?limit=1..1000 (default 100)  ?cursor=<next_cursor of the previous page>
 *
 *   200 {"devices":[<twin as GET /v1/devices/{id}>,...],"next_cursor":"..."|null}
 *
 * Keyset pagination (cursor.h): a page is "the first `limit` rows after the
 * cursor's key in the sort order", so each page is one index range scan
 * however deep, and rows never repeat across pages. Sorted by device_id
 * (immutable), a device that exists and matches the filters throughout is
 * visited exactly once, whatever happens to the twins meanwhile. Sorted
 * by last_seen, a device whose last_seen changes between pages moves: it
 * may show up again on a later page or not at all (never twice within a
 * page); the pages are still in order and never overlap in key.
 *
 * SQL: built from constant fragments only, every value a parameter
 * (PQexecParams, so PostgreSQL plans each filter combination with its
 * values: an attribute value's selectivity decides which index is best).
 * A page body stops early (with a cursor) rather than pass LIST_BODY_MAX.
 *
 *     list_sql_build(&params, cursor_or_NULL, online_window_s, &q);
 *     PQexecParams(db, q.sql.data, q.n, NULL, q.values, NULL, NULL, 0);
 *     list_sql_release(&q);
 */
#ifndef TP_QUERY_LIST_H
#define TP_QUERY_LIST_H

#include "common/buf.h"
#include "common/http.h"
#include "cursor.h"
#include "params.h"

#define LIST_SQL_PARAMS 32
#define LIST_BODY_MAX   (8 << 20)

/* Columns of the list statement. */
enum { LIST_COL_JSON, LIST_COL_LAST_SEEN_US, LIST_COL_DEVICE_ID };

struct list_sql {
    struct buf sql;
    int n;
    const char *values[LIST_SQL_PARAMS]; /* borrowed from params/cursor, or into text */
    char text[LIST_SQL_PARAMS][PARAMS_TIME_TEXT];
};

/* Metrics with an expression index on their latest value (0003_query_indexes.sql). */
extern const char *const list_indexed_metrics[];
extern const size_t list_n_indexed_metrics;

/* The page statement (limit + 1 rows, to know whether another page follows); q borrows
 * strings from p and after, which must outlive it. */
void list_sql_build(const struct list_params *p, const struct cursor *after, long online_window_s,
                    struct list_sql *q);
void list_sql_release(struct list_sql *q);

void list_handle(struct http_request *req, void *arg);

#endif
