/*
 * ingest_int.h - struct ingest, shared by the modules of tp-ingest that
 * serve a transport (ingest.c: HTTP and /metrics; accept.c: the pipeline
 * every transport calls). Not for other folders: they use ingest.h.
 *
 * Counters are atomics (any thread); fail_logged_ms and fail_suppressed
 * belong to the delivery thread.
 */
#ifndef TP_INGEST_INT_H
#define TP_INGEST_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common/metrics.h"
#include "errors.h"
#include "freelist.h"
#include "ingest.h"
#include "policyfeed/feed.h"

/* accept calls kept for reuse (made by the transports, dropped on the delivery thread) */
#define INGEST_CALLS_KEPT 256

struct ingest {
    struct journal_producer *producer;
    struct freelist calls;   /* accept.c's calls: accept_call_size() bytes each */
    struct http_server *srv; /* borrowed, for /metrics */
    _Atomic uint64_t accepted_total;
    _Atomic uint64_t rejected_total[INGEST_ERR__COUNT]; /* by row: the INGEST_ERR_READING ones */
    _Atomic uint64_t overloaded_total;
    _Atomic uint64_t dead_lettered_total;
    _Atomic uint64_t unknown_schema_total;
    _Atomic uint64_t refused_total[INGEST_ERR__COUNT]; /* by row: the INGEST_ERR_WIRE ones */
    _Atomic uint64_t unknown_fields_dropped_total;
    struct metrics_histogram ack_latency;
    atomic_bool ready;
    int64_t fail_logged_ms; /* delivery thread only: rate limit of failure logs */
    uint64_t fail_suppressed;
    struct ingest_limits limits;
    int32_t schema_id;
    pthread_t delivery_thread;
    struct service_beat *delivery_beat; /* /healthz: the delivery thread turning */
    atomic_bool running;
    atomic_bool draining;
    atomic_long in_flight; /* suspended requests not yet freed (response not yet sent) */
    /* another transport's families on /metrics (mqtt_server_metrics), set before serving */
    void (*extra_metrics)(void *arg, struct buf *b);
    void *extra_metrics_arg;
    /* level-of-detail policies (ingest_attach_policies, before serving): NULL when off */
    struct policy_feed *policies; /* borrowed */
    const char *site;             /* site.region; NULL: none */
    int64_t default_report_every_ms;
    /* answers that told a period, [transport: 0 HTTP, 1 MQTT][0 default, 1 a policy's] */
    _Atomic uint64_t period_answers[2][2];
};

#endif
