/*
 * stream.h - GET /v1/stream: twin changes as Server-Sent Events, fanned out
 * in memory from ONE feed per process, the search index's refresh
 * (search.h's struct search_feed: every refresh already reads each changed
 * row once and compares it with the entry it held). No query per client.
 *
 * Object: struct stream, one per process. It owns
 *   - a ring of the last `ring` change events (the rendered SSE text and what
 *     filters match on: attributes, finite metric values), by sequence
 *     number; a client resumes from it with Last-Event-ID;
 *   - the clients: each a filter (struct stream_filter, owned) and a bounded
 *     buffer of SSE text not sent yet (at most client_buffer bytes: past it
 *     the unsent events are dropped, a final `overflow` event is queued and
 *     the client is ended; if it still has not read it after heartbeat_ms
 *     the connection is cut).
 * One mutex guards the ring, the client list and every buffer. Publishing
 * (the feed's end()) renders outside it, then under it appends each event
 * to the ring and to the buffer of every client whose filter matches, and
 * wakes those clients (their connections are suspended while empty: no
 * thread per client). A heartbeat thread appends a comment with the current
 * position to every client each heartbeat_ms.
 *
 * Event ids are "<process>-<sequence>": process is 8 hex digits chosen at
 * start, so an id from another process start or replica is refused (reset).
 *
 * Threads: the feed is called by the search index's writer; clients are
 * opened, read and closed on HTTP threads (stream_handle); all functions
 * may be called from any thread.
 *
 *     struct stream *st = stream_new(&settings);
 *     settings_of_search.feed = stream_feed(st);          // before search_new
 *     route {"GET", "/v1/stream", 0, stream_handle, api}  // api->stream = st
 *     stream_stop(st);  (drain) ... stream_free(st);      // after the server stopped
 */
#ifndef TP_QUERY_STREAM_H
#define TP_QUERY_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/http.h"
#include "params.h"
#include "search.h"

#define STREAM_DEVICE_IDS_MAX 1000 /* ids in one device_ids= */
#define STREAM_RETRY_MS       1000 /* the retry: field sent first */

struct stream_settings {
    size_t max_clients;   /* query.stream_max_clients */
    size_t client_buffer; /* query.stream_client_buffer, bytes */
    size_t ring;          /* query.stream_ring, events */
    int heartbeat_ms;     /* query.stream_heartbeat_ms */
};

/* What a client receives: attribute equality, metric ranges, device ids (all optional). */
struct stream_filter {
    char *attrs[PARAMS_N_ATTRS]; /* NULL: any */
    size_t n_metrics;
    struct params_metric_filter metrics[PARAMS_METRIC_FILTERS];
    char **ids; /* sorted, unique; NULL: any device */
    size_t n_ids;
};

/* Parses a request's arguments into a new filter (*out, free with stream_filter_free):
 * model/region/firmware, metric.<name>.<op>, device_ids (comma-separated), and the
 * read-your-writes `after` and `access_token` (not filters; ignored here). Any other list
 * parameter: TP_VALIDATION with the reason in errstr. */
enum tp_err stream_filter_parse(const struct params_args *a, struct stream_filter **out,
                                char *errstr, size_t errstr_size);
void stream_filter_free(struct stream_filter *f);

/* A change as filters see it (what the ring keeps of it besides its text). */
struct stream_twin {
    const char *device_id;
    const char *attrs[PARAMS_N_ATTRS]; /* NULL: absent */
    size_t n_metrics;
    const char *const *names; /* finite latest values only */
    const double *values;
};
bool stream_filter_match(const struct stream_filter *f, const struct stream_twin *t);

/* Renders the data line's JSON of change c (see README.md: device_id, version, new,
 * changed) into out. */
void stream_change_json(struct buf *out, const struct search_change *c);

struct stream;

struct stream *stream_new(const struct stream_settings *s);
/* The feed for search_settings.feed (borrowed, valid while st lives). */
const struct search_feed *stream_feed(struct stream *st);

/* A client of the stream: the HTTP side is abstracted for tests as two callbacks. */
struct stream_client;
struct stream_client_io {
    void (*wake)(void *arg); /* data or the end is ready (called under the stream's lock) */
    void (*cut)(void *arg);  /* close the connection now (a client that stopped reading) */
    void *arg;
};
enum stream_open {
    STREAM_OPENED,
    STREAM_FULL,     /* query.stream_max_clients open */
    STREAM_STOPPING, /* shutting down */
};
/*
 * Opens a client with filter f (takes ownership, also on failure), resuming after
 * last_event_id (NULL: from now). Its buffer starts with "retry:" and the position; then
 * the ring's matching events after last_event_id, or a `reset` event when that position
 * cannot be resumed. io may be set later with stream_client_set_io (wakes before it are
 * dropped: read then finds the data).
 */
enum stream_open stream_client_open(struct stream *st, struct stream_filter *f,
                                    const char *last_event_id, struct stream_client **out);
void stream_client_set_io(struct stream_client *c, const struct stream_client_io *io);
/* Up to max bytes of the client's buffer into buf: the bytes, 0 when nothing is ready (a
 * wake follows when there is), -1 when the client is ended and everything was read. */
long stream_client_read(struct stream_client *c, char *buf, size_t max);
/* The connection ended: the client is removed and freed. */
void stream_client_close(struct stream_client *c);

/* Sends the heartbeat now (the heartbeat thread calls it every heartbeat_ms) and cuts the
 * ended clients that have not read their last event for heartbeat_ms. */
void stream_heartbeat(struct stream *st);

/* Figures for /metrics and tests. */
struct stream_stats {
    size_t clients, ring_events, ring_bytes, buffered_bytes;
    uint64_t seq; /* the last event's sequence */
    uint64_t events, deliveries, overflows, resets, resumes, refused;
};
void stream_stats(struct stream *st, struct stream_stats *out);
/* The id text of sequence seq in this process ("<process>-<seq>"). */
void stream_event_id(struct stream *st, uint64_t seq, char *out, size_t out_size);
/* Prometheus text. */
void stream_metrics(struct stream *st, struct buf *b);

/* Ends every client (their connections close once they read what they have) and refuses
 * new ones. */
void stream_stop(struct stream *st);
/* Stops the heartbeat thread and frees; every client must have been closed (the HTTP
 * server stopped). NULL is a no-op. */
void stream_free(struct stream *st);

/* The handler of GET /v1/stream (arg: struct query_api). */
void stream_handle(struct http_request *req, void *arg);

#endif
