/*
 * list.h - GET /v1/devices: the twins matching filters, one page at a time.
 *
 *   ?model=&region=&firmware=            attribute equality
 *   ?metric.<name>.<lt|le|gt|ge>=<num>   on the latest value (metrics.<name>.value)
 *   ?last_seen_after=&last_seen_before=  RFC 3339; after <= last_seen < before
 *   ?status=online|offline               last_seen within query.online_window_s of now
 *   ?sort=device_id|-device_id|last_seen|-last_seen   (default device_id)
 *   ?limit=1..1000 (default 100)  ?cursor=<next_cursor of the previous page>
 *
 *   200 {"devices":[<twin as GET /v1/devices/{id}>,...],"next_cursor":"..."|null}
 *
 * The page is chosen by the search index in memory (search.h: filters and
 * sort over every twin's entry, no SQL), then its twins are read fresh by
 * id (lookup.h, one statement) and rendered in the index's order. So the
 * choice may be as stale as the index (query/README.md), the documents are
 * not; a twin of the page that no longer exists is left out.
 *
 * Keyset pagination (cursor.h): a page is "the first `limit` rows after the
 * cursor's key in the sort order" (the key as the index holds it), and rows
 * never repeat across pages. Sorted by device_id (immutable), a device that
 * exists and matches the filters throughout is visited exactly once,
 * whatever happens to the twins meanwhile. Sorted by last_seen, a device
 * whose last_seen changes between pages moves: it may show up again on a
 * later page or not at all (never twice within a page); the pages are
 * still in order and never overlap in key. A page body stops early (with a
 * cursor) rather than pass LIST_BODY_MAX.
 *
 * HTTP threads; arg is the struct query_api.
 */
#ifndef TP_QUERY_LIST_H
#define TP_QUERY_LIST_H

#include "common/http.h"

#define LIST_BODY_MAX (8 << 20)

void list_handle(struct http_request *req, void *arg);

#endif
