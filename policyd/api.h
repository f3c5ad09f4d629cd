/*
 * api.h - tp-policy's HTTP API over the compacted policies topic.
 *
 * Policies are commands (docs/decisions/regions.md, section 3): a PUT or
 * DELETE produces a record (the policy's canonical JSON, or a tombstone) to
 * `policy.topic` with acks=all and idempotence, and answers once Kafka
 * acknowledged it AND the service's own feed (policyfeed/feed.h, following
 * the same topic) has applied it, at most policy.read_your_writes_ms later:
 * a GET to the same replica then sees the write. GETs are answered from the
 * feed's snapshot, never from Kafka.
 *
 * - Keys (token/keyring.h): every /v1/policies request needs an operator
 *   key (401 without a known key; 403 for an analyst key, which the service
 *   knows by its digest only to refuse it). Checked in the pre-check, before
 *   a body is read.
 * - Writes are done one at a time by one writer thread (a queue of at most
 *   policy.max_waiting, then 503 overloaded): each write sees the previous
 *   one in the snapshot, so a name's revision is the previous + 1 and the
 *   bound policy.max_active is checked before producing.
 * - The sweep (on the writer thread, every policy.sweep_interval_ms):
 *   a policy whose until passed policy.retain_expired_s ago is tombstoned,
 *   so compaction drops it. Consumers treat it as inactive from its until on
 *   anyway. Two replicas may both tombstone it (harmless). A PUT of the same
 *   name on another replica in the instant between this replica's snapshot
 *   and its tombstone can be deleted by it: the documented price of Kafka
 *   having no conditional write (README).
 *
 * Object: struct policyd (heap, new/free); handlers take it as arg. Threads:
 * handlers on the HTTP server's threads, the writer thread, the feed's
 * follower thread. policyd_drain (after the server stopped accepting)
 * stops the writer and answers what still waits; then policyd_free.
 *
 *     policyd_new(&opts, &d, errstr, n);
 *     routes {"PUT", "/v1/policies/ *", POLICY_BODY_MAX, policyd_handle_put, d}, ...
 *     policyd_set_server(d, srv);  ...  policyd_drain(d);  policyd_free(d);
 */
#ifndef TP_POLICYD_API_H
#define TP_POLICYD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/http.h"
#include "journal/journal.h"
#include "token/keyring.h"

enum policyd_role { POLICYD_ROLE_OPERATOR = 1, POLICYD_ROLE_ANALYST = 2 };

struct policyd_options {
    const struct journal_config *kafka; /* topic = policy.topic, compact; borrowed */
    size_t max_active;
    int64_t max_duration_ms;
    int64_t retain_expired_ms;
    int sweep_interval_ms;
    int produce_timeout_ms;
    int read_your_writes_ms;
    size_t max_waiting;
    const struct keyring *keys; /* operator and analyst roles; borrowed */
    int64_t stall_ms;           /* health.stall_s */
};

struct policyd;

/* Starts the feed and the producer and the writer thread. */
enum tp_err policyd_new(const struct policyd_options *o, struct policyd **out, char *errstr,
                        size_t errstr_size);
void policyd_set_server(struct policyd *d, struct http_server *srv);

/* Pre-check of every /v1/policies route: the operator key; a PUT's declared length. */
bool policyd_precheck(struct http_request *req, void *arg);
void policyd_handle_put(struct http_request *req, void *arg);
void policyd_handle_get(struct http_request *req, void *arg);
void policyd_handle_list(struct http_request *req, void *arg);
void policyd_handle_delete(struct http_request *req, void *arg);
void policyd_handle_ready(struct http_request *req, void *arg);
void policyd_handle_metrics(struct http_request *req, void *arg);
void policyd_handle_openapi(struct http_request *req, void *arg);

/* Stops the writer: the write in progress finishes, the queued ones get 503 shutting_down. */
void policyd_drain(struct policyd *d);
/* NULL is a no-op. */
void policyd_free(struct policyd *d);

#endif
