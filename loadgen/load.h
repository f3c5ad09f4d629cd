/*
 * load.h - the load engine of tp-loadgen: simulated devices POST telemetry
 * to tp-ingest over a number of keep-alive connections (libcurl multi, one
 * thread), optionally paced (pace.h), with a share of deliberately bad readings, and
 * with what every device's twin must look like afterwards (struct
 * load_expect) for verify.h.
 *
 * Order: each device belongs to one connection (device i -> connection
 * i % connections) and a connection has one request in flight, so every
 * device's readings reach tp-ingest in sequence order, as a real device's.
 *
 * Bad readings (bad_pct of the readings, in turn):
 *   duplicate    - a device's previous reading sent again (accepted by
 *                  ingest, ignored by the projector);
 *   out_of_order - an older sequence with other values (likewise);
 *   invalid      - a timestamp ten days ahead: ingest must reject it.
 *
 * Or over MQTT (transport LOAD_MQTT, mqtt.h): QoS 1 PUBLISHes to
 * twinpipe/v1/<device>/telemetry, a PUBACK counting as the 202; one
 * connection per device with device tokens (secret), else `connections`
 * gateway connections with the token; several PUBLISHes in flight per
 * connection, in order, each carrying readings of one device.
 *
 * 503 answers are retried with the same body after Retry-After (up to
 * `retries` times), as a device would; a request that still fails, or gets
 * no answer, leaves its devices "uncertain" (ingest may have journaled part
 * of it) and verify checks them only loosely.
 *
 * Object: load_run() is one blocking call; struct load_result (caller-owned,
 * load_result_free) holds the figures, a per-second timeline and per-device
 * expectations. Threads: the calling thread only.
 */
#ifndef TP_LOAD_H
#define TP_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "hist.h"
#include "sim.h"

#define LOAD_EXPECT_VALUES 3 /* last values checked per device */

enum load_transport { LOAD_HTTP, LOAD_MQTT };

struct load_options {
    enum load_transport transport;
    const char *url; /* POST endpoint of tp-ingest */
    /* MQTT (mqtt.h): host:port or mqtt://host:port, protocol level 4 or 5, QoS 1 PUBLISHes in
     * flight per connection (MQTT 5: at most the server's Receive Maximum) */
    const char *mqtt_url;
    unsigned mqtt_version;
    size_t mqtt_inflight;
    enum sim_profile profile;
    size_t devices;
    uint64_t readings;    /* total readings to send (fixed-size job); 0 = until duration */
    uint64_t duration_ms; /* 0 = until readings */
    size_t batch;         /* readings per POST */
    size_t connections;
    int64_t period_ms;  /* > 0: each device reports every period_ms in real time (pace.h) */
    double rate;        /* > 0: at most this many readings/s overall */
    size_t window_s;    /* latency quantiles also per window of this many seconds (0: 1) */
    double skew;        /* Zipf exponent over each connection's devices; 0 = round robin */
    unsigned bad_pct;   /* share of bad readings, percent */
    const char *token;  /* one bearer token for every POST (gateway), or NULL */
    const char *secret; /* mint a device token per device (one device per POST), or NULL */
    unsigned retries;   /* 503s retried per request */
    uint64_t seed;
    bool progress_tty; /* \r progress line; else a plain line every 5 s */
    FILE *progress;    /* NULL: no progress output */
};

/* What a device's twin must show once the projector has caught up. */
struct load_expect {
    uint64_t events;   /* fresh readings accepted (applied once each) */
    uint64_t last_seq; /* highest sequence accepted */
    double last[LOAD_EXPECT_VALUES];
    bool uncertain; /* a request of this device failed without a clear answer */
};

/* One second of the run; the tick that closes a window of window_s seconds (or the run) also
 * carries the window's latency quantiles. */
struct load_tick {
    double t_s;
    uint64_t sent, accepted, requests, failed;
    uint64_t p50_us, p99_us;
    bool win_closed;
    uint64_t win_p50_us, win_p99_us;
};

struct load_result {
    uint64_t sent;           /* readings in answered requests */
    uint64_t accepted;       /* readings ingest accepted (202) */
    uint64_t rejected;       /* readings ingest listed in `rejected` */
    uint64_t invalid_sent;   /* bad readings of kind invalid */
    uint64_t invalid_passed; /* ...that ingest accepted anyway (must stay 0) */
    uint64_t valid_rejected; /* good readings ingest rejected (must stay 0) */
    uint64_t duplicates_sent, out_of_order_sent;
    uint64_t requests, failed_requests, retried_requests; /* MQTT: PUBLISHes PUBACKed */
    uint64_t status_counts[6]; /* by status class: [2]=2xx .. [5]=5xx, [0]=no answer */
    /* MQTT: PUBACKs by reason code (3.1.1: all 0), connections made, CONNACKs refused,
     * connections lost and made again, PUBLISHes sent again after a reconnect, connections
     * given up (loadgen.retries failed connects in a row) */
    uint64_t puback_codes[256];
    uint64_t connects, connects_refused, reconnects, republished, given_up;
    double seconds;
    int64_t t0_unix_ms; /* wall clock when the first request could go */
    struct hist latency;
    struct load_tick *ticks;
    size_t n_ticks;
    struct sim_fleet *fleet;        /* device ids, attributes */
    struct load_expect *expect;     /* [fleet->n] */
    const char *const *value_names; /* the LOAD_EXPECT_VALUES metric names checked */
};

enum tp_err load_run(const struct load_options *opt, struct load_result *res, char *errstr,
                     size_t errstr_size);
void load_result_free(struct load_result *res);

#endif
