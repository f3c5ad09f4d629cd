/*
 * search.h - tp-query's in-memory search index: what GET /v1/devices
 * filters and sorts on and what GET /v1/fleet/summary aggregates, for every
 * twin, so the lean twins table (migration 0009) needs no index but its
 * primary key (docs/decisions/read-model.md).
 *
 * Per twin one compact entry, taken from its record (twin/record.h,
 * twin_record_view, no name pool): device_id, last_seen, the ids of its
 * attribute values, and the latest value of each metric with a finite one.
 * Names (metric names, attribute values) are interned in the index's own
 * dictionary (ids from 1; 0 = absent). Entries are kept sorted by
 * device_id (byte order, as the databases' C.UTF-8 collation), and a second
 * order by (last_seen, device_id) serves the last_seen sorts: a page walks
 * either order from its cursor and stops when full.
 *
 * Refresh: one thread with its own connection, every
 * query.search_refresh_ms, in one REPEATABLE READ transaction reads
 * pg_current_snapshot(), the twins table's oid and file node, the
 * projector's offsets, and the rows written since the previous snapshot
 * (written_xid >= pg_snapshot_xmin(prev) AND NOT
 * pg_visible_in_snapshot(written_xid, prev): exact even with several
 * writers committing out of order). The first refresh, and one after the
 * table's oid or file node changed (tp-replay swapped tables, TRUNCATE),
 * reads every row. A result may therefore be stale by at most the refresh
 * interval + one refresh's duration + the projector's flush delay; deleted
 * rows (the pipeline deletes none) are only dropped by such a reload.
 *
 * Read-your-writes: the offsets read in the refresh's snapshot tell which
 * journal events the index holds. A list or summary request with a token
 * the index does not cover yet is suspended here (like waiter.h) and
 * resumed after the refresh that covers it (or at its deadline); while any
 * request waits the thread refreshes every min_gap_ms instead.
 *
 * Two layers:
 *   - struct search_index: the entries and the dictionary, pure (tests
 *     drive it with records they build): search_index_apply (one writer),
 *     search_index_page and search_index_summary (readers); the caller
 *     keeps readers and the writer apart (struct search does, with a
 *     rwlock; the writer builds its changes outside the lock);
 *   - struct search: the index, its refresh thread and its waiting
 *     requests. search_* may be called from any thread.
 *
 *     struct search *s = search_new(&settings);          // starts the thread
 *     search_page(s, &params, cursor_or_NULL, now_ms, window_s, hits, &n);
 *     search_stop(s, 5000); search_free(s);
 */
#ifndef TP_QUERY_SEARCH_H
#define TP_QUERY_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/http.h"
#include "cursor.h"
#include "params.h"
#include "token/token.h"
#include "twin/record.h"
#include "waiter.h"

/* One row of a page: the device and its sort key as the index holds it. */
struct search_hit {
    char device_id[PARAMS_ID_MAX + 1];
    int64_t last_seen_us;
};

/* One group of the summary; key borrowed from the index (valid while it lives). */
struct search_group {
    const char *key; /* NULL: devices without the attribute */
    long devices, online;
    long metric_devices; /* with a finite latest value of the metric */
    double min, max, sum;
};

struct search_index;

struct search_index *search_index_new(void);
void search_index_free(struct search_index *ix);

/* A change for search_index_apply: a twin's id and record. */
struct search_row {
    const char *id;
    size_t id_len;
    const uint8_t *state;
    size_t state_len;
};

/*
 * The change feed (the change stream, stream.h): what a refresh (or
 * search_index_apply without reload) changed, compared with the entry the
 * index held. Borrowed for the call of change().
 */
enum search_changed {
    SEARCH_CHANGED_NEW = 1u << 0, /* the device was not in the index: everything is new */
    SEARCH_CHANGED_LAST_SEEN = 1u << 1,
    SEARCH_CHANGED_LOCATION = 1u << 2,
    SEARCH_CHANGED_ATTRIBUTES = 1u << 3,
};
struct search_change {
    const char *device_id;        /* NUL-terminated */
    int64_t version;              /* twins.version: the record's events (the projector keeps
                                     them equal) */
    const struct twin_view *view; /* the new record */
    unsigned changed;             /* enum search_changed bits */
    const bool *metric_changed;   /* [view->n_metrics]: value, time or count differ */
};
struct search_feed {
    /* each changed row, on the writer's thread, before the change is visible */
    void (*change)(void *arg, const struct search_change *c);
    /* the changes since the last end() became visible (ok), or were dropped (!ok: the refresh
     * failed); reload: the index was rebuilt from every row (no change() calls) */
    void (*end)(void *arg, bool ok, bool reload);
    void *arg;
};
/* Attaches a feed (borrowed for the index's life; NULL: none). Before any apply. */
void search_index_set_feed(struct search_index *ix, const struct search_feed *feed);

/*
 * Applies rows (any order; ids unique) to the index: a row of a known
 * device replaces its entry, an unknown device is added. With reload the
 * index becomes exactly rows. A row whose id is not a device id or whose
 * record does not decode is skipped and counted in *bad (may be NULL).
 * Only one writer at a time; lock is called around the moment the change
 * becomes visible (may be NULL: no readers).
 */
void search_index_apply(struct search_index *ix, const struct search_row *rows, size_t n,
                        bool reload, void (*lock)(void *arg, bool on), void *lock_arg, size_t *bad);
/* Entries, and the bytes the index holds (entries, their blocks, the dictionary). */
size_t search_index_count(const struct search_index *ix);
size_t search_index_bytes(const struct search_index *ix);

/*
 * The page of p after cursor `after` (NULL: the first): up to p->limit + 1
 * hits in p->sort's order (the extra one tells that another page follows),
 * into hits (room for p->limit + 1). now_ms: wall-clock time for
 * status=online|offline.
 */
size_t search_index_page(const struct search_index *ix, const struct list_params *p,
                         const struct cursor *after, int64_t now_ms, long online_window_s,
                         struct search_hit *hits);
/*
 * The summary of p: groups sorted by key (null last), at most max_groups into groups (the
 * caller's array); returns how many groups there are in all (> max_groups: truncated).
 */
size_t search_index_summary(const struct search_index *ix, const struct summary_params *p,
                            int64_t now_ms, long online_window_s, struct search_group *groups,
                            size_t max_groups);

/* ---- the service object ---- */

struct search_settings {
    const char *dsn;
    const char *group; /* the projector's consumer group, for read-your-writes */
    const char *topic;
    int refresh_ms;     /* query.search_refresh_ms */
    int min_gap_ms;     /* refresh interval while requests wait (query.consistency_poll_ms) */
    size_t max_waiting; /* query.consistency_max_waiting */
    int statement_timeout_ms;
    const struct search_feed *feed; /* the change stream; NULL: none */
    int64_t health_stall_ms; /* /healthz: a refresh stalled past it plus refresh_ms (0: default) */
};

struct search;

struct search *search_new(const struct search_settings *s);
/* Whether the first load is done. */
bool search_loaded(struct search *s);
/* Whether the latest refresh could not connect to the database. */
bool search_unreachable(struct search *s);
/* Whether the index is loaded and holds every event of t (its offsets read in its snapshot). */
bool search_covers(struct search *s, const struct token *t);
/* Suspends req until search_covers(e->token) (e->outcome WAIT_COVERED) or e->deadline_ms
 * (WAIT_TIMEOUT, where the index stands in e->detail), and queues it; see waiter_add. */
enum waiter_add_result search_wait_add(struct search *s, struct http_request *req,
                                       struct waiter_entry *e);
size_t search_page(struct search *s, const struct list_params *p, const struct cursor *after,
                   int64_t now_ms, long online_window_s, struct search_hit *hits);
/* The summary's groups with search_index_summary's rules: emit is called for each group, in
 * order. Kept per index version: asked again before the next refresh, the same summary is
 * answered from memory (online counted when it was first computed). */
size_t search_summary(struct search *s, const struct summary_params *p, int64_t now_ms,
                      long online_window_s, size_t max_groups,
                      void (*emit)(void *arg, const struct search_group *g), void *arg);
/* Prometheus text: entries, bytes, age, refresh duration and counts. */
void search_metrics(struct search *s, struct buf *b);
/* Releases every waiting request (WAIT_SHUTDOWN), refuses new ones, stops the thread. */
void search_stop(struct search *s);
void search_free(struct search *s);

#endif
