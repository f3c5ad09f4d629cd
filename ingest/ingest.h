/*
 * ingest.h - the ingest service: POST /v1/telemetry -> journal.
 *
 * For each request: check the content type, then hand the body to the
 * pipeline every transport shares (accept.h: decode.h, validate.h, one
 * journal event per valid reading), and answer only when every event's
 * delivery report is in:
 *   202 {"accepted":N,"rejected":[{"index":i,"code":"..","message":".."}],
 *        "token":"t1.<partition>:<offset>,..."}
 * when all were acknowledged by Kafka (acks=all); `token` names the highest
 * offset written per partition, for read-your-writes in the query service.
 * With policies (ingest_attach_policies) the body also tells the devices
 * their reporting period: "report_every_ms":N (one device: its period;
 * several: the default, and "report_every_ms_by_device":{"id":N,..} for
 * those whose period differs; period.h).
 * 503 when any was not (the client retries; projections deduplicate by
 * sequence), and 503 "overloaded" up front, journaling nothing, when more
 * than max_outstanding events are already in flight (backpressure). Invalid
 * readings are listed in "rejected" and never journaled; a request with no
 * valid reading gets 422 and journals nothing. Whole-request problems get
 * 400/413/415 JSON errors; the token and content type are checked as soon
 * as the headers are in (ingest_precheck_telemetry), so a refused upload is
 * answered without its body being read. With auth on, a missing or invalid bearer token
 * gets 401 and a request with a reading of a device the token does not
 * cover gets 403; both journal nothing (auth.h).
 *
 * Object: struct ingest (heap, ingest_new/ingest_free) owns the producer
 * and a delivery thread that serves delivery reports and answers requests.
 * Handlers run on HTTP server threads; everything else is internal.
 *
 *     ingest_new(&journal_cfg, &limits, &ing, errstr, n);
 *     routes: {"POST", "/v1/telemetry", max_body, ingest_handle_telemetry, ing}
 *     prechecks: {"POST", "/v1/telemetry", ingest_precheck_telemetry, ing}
 *     ... SIGTERM: http_server_quiesce(); ingest_drain(ing, 30000); ...
 *     ingest_free(ing);
 */
#ifndef TP_INGEST_H
#define TP_INGEST_H

#include "common/http.h"
#include "journal/journal.h"
#include "schema/schemas.h"
#include "validate.h"

struct ingest;

struct ingest_limits {
    struct validate_limits reading;
    size_t max_readings;      /* per request, counted on the wire */
    size_t max_reading_bytes; /* one reading on the wire (413 reading_too_large above) */
    const char *auth_secret;  /* HMAC secret of bearer tokens; NULL = no auth (auth.mode=off) */
    size_t max_outstanding;   /* events in flight to Kafka before new requests get 503 */
    /* registered telemetry versions (borrowed); NULL: only the built-in schema id */
    struct schemas *schemas;
    int64_t health_stall_ms; /* /healthz: the delivery thread stalled past it (0: the default) */
};

enum tp_err ingest_new(const struct journal_config *journal, const struct ingest_limits *limits,
                       struct ingest **out, char *errstr, size_t errstr_size);
/* Route handler for POST /v1/telemetry; arg is the struct ingest. */
void ingest_handle_telemetry(struct http_request *req, void *arg);
/* Its pre-check (http.h), once the headers are in and before any body byte: 503 while
 * draining, 401 without a valid token, 415 for another content type; false when it answered. */
bool ingest_precheck_telemetry(struct http_request *req, void *arg);
/* Asks the broker for metadata (up to timeout_ms) and records the answer for /readyz.
 * Called by the main thread once a second, and once before serving. */
void ingest_probe_ready(struct ingest *ing, int timeout_ms);
/* GET /readyz: 200 while broker metadata is reachable, else 503. */
void ingest_handle_ready(struct http_request *req, void *arg);
/* GET /metrics (Prometheus text). Needs ingest_attach_server first. */
void ingest_handle_metrics(struct http_request *req, void *arg);
/* Lets /metrics report the server's responses and connections (borrowed). */
void ingest_attach_server(struct ingest *ing, struct http_server *srv);
/* Level-of-detail policies (docs/decisions/regions.md, section 3), before serving: the 202
 * body tells each device its reporting period over feed's snapshots (borrowed, outliving the
 * ingest), at site (site.region; NULL or "": none), default_report_every_ms without a policy;
 * /readyz answers 503 until the feed is ready. Without this call nothing changes. */
struct policy_feed;
void ingest_attach_policies(struct ingest *ing, struct policy_feed *feed, const char *site,
                            int64_t default_report_every_ms);
/* /metrics also writes fn(arg, buffer)'s families (the MQTT transport's); before serving. */
void ingest_attach_metrics(struct ingest *ing, void (*fn)(void *arg, struct buf *b), void *arg);
/* From now on new requests get 503 shutting_down (Connection: close). */
void ingest_begin_drain(struct ingest *ing);
/*
 * Waits until every request in flight has been answered and its response
 * sent; past timeout_ms the events still queued are purged (their requests
 * get 503) and the wait goes on until none is left. Afterwards no
 * connection is suspended, so the HTTP server can be freed.
 */
enum tp_err ingest_drain(struct ingest *ing, int timeout_ms);
void ingest_free(struct ingest *ing);

#endif
