/*
 * forward.h - tp-forward's loop: raw readings of devices under an active `raw` policy,
 * copied from the journal to the detail topic, at least once, on journal time.
 *
 * The journal is consumed in the group `forward.group`, but only once the policy feed
 * (policyfeed/feed.h) has read every policies topic to its end: a restart never decides on
 * an empty policy set, so it never skips detail. Per event:
 *   - the reading's attributes are merged into the device's cached ones (attrs.h);
 *   - the feed's current snapshot is evaluated for (site.region, device, t) where t is the
 *     event's journal time (the Kafka timestamp: ingest's CreateTime), never the wall
 *     clock: however late the forwarder runs, and on a replay, the same events are
 *     forwarded;
 *   - when the effective level is `raw`, the event is produced unchanged (key, value,
 *     headers, timestamp: journal_producer_forward) to `forward.topic` with the journal's
 *     idempotent producer (acks=all); otherwise it is skipped.
 * After an assignment, each partition is first read from up to forward.warmup_events
 * before the group's committed offset, only to fill the attribute cache (a restarted
 * forwarder knows no device): those events are neither forwarded nor committed.
 * Offsets are committed to the group every forward.commit_interval_ms, on revocation and at
 * shutdown, each partition only up to its first forwarded event not yet acknowledged
 * (track.h). A failed forward rewinds its partition to it (after every outstanding report
 * came back) and reads on from there: nothing is lost, what was forwarded again is a
 * duplicate (dropped downstream by device sequence).
 *
 * Object: struct forward (heap, _new/_free). Borrowed: the options, their journal configs
 * and the feed outlive it. forward_run on one thread (delivery and rebalance callbacks run
 * on it too); forward_stop, forward_ready and the HTTP handlers from any thread.
 *
 *     forward_new(&opts, &fw, errstr, n);          // detail topic ensured, producer
 *     forward_run(fw, errstr, n);                  // until forward_stop (a signal)
 *     forward_free(fw);
 */
#ifndef TP_FORWARD_FORWARD_H
#define TP_FORWARD_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/http.h"
#include "journal/journal.h"
#include "policyfeed/feed.h"

#define FORWARD_LAG_PARTITIONS 256 /* partitions reported in /metrics */

struct forward_options {
    const struct journal_config *journal; /* consumed: journal.topic, kafka.* */
    const struct journal_config *detail;  /* produced: forward.topic (created if missing) */
    const char *group;                    /* forward.group */
    struct policy_feed *feed;             /* started by the caller */
    const char *site;                     /* site.region */
    size_t max_in_flight;                 /* forwarded events not yet acknowledged, at most */
    size_t max_devices;                   /* attribute cache bound */
    int64_t warmup_events; /* per assigned partition, read before the committed offset */
    int64_t commit_interval_ms;
    int64_t health_stall_ms;
};

struct forward_stats {
    uint64_t events;      /* consumed */
    uint64_t forwarded;   /* acknowledged by the detail topic */
    uint64_t skipped;     /* no active raw policy for the device at its journal time */
    uint64_t undecodable; /* not a reading: skipped */
    uint64_t failed;      /* forwards that failed (their partition read again) */
    uint64_t rewinds;
    uint64_t commits;
    uint64_t in_flight;
    uint64_t devices;
    uint64_t devices_evicted;
    uint64_t warmup; /* events read before the committed offset for the attribute cache */
    int64_t lag;     /* events not yet consumed, summed over the assigned partitions; -1: unknown */
    bool consuming;
};

struct forward;

enum tp_err forward_new(const struct forward_options *opts, struct forward **out, char *errstr,
                        size_t errstr_size);
/* Waits for the feed, joins the group, forwards until forward_stop; then waits for every
 * report, commits and leaves the group. Errors: the consumer's fatal ones. */
enum tp_err forward_run(struct forward *fw, char *errstr, size_t errstr_size);
void forward_stop(struct forward *fw);
void forward_free(struct forward *fw);

void forward_stats_get(struct forward *fw, struct forward_stats *out);
/* Ready: the policies read to their end, consuming, and the loop turning. */
bool forward_ready(struct forward *fw, const char **why);

void forward_attach_server(struct forward *fw, struct http_server *srv);
/* GET /metrics and GET /readyz; arg: the struct forward. */
void forward_handle_metrics(struct http_request *req, void *arg);
void forward_handle_ready(struct http_request *req, void *arg);

#endif
