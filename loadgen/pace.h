/*
 * pace.h - when tp-loadgen may send its next batch: the pacing of a fleet
 * whose devices each report every period (or of a plain readings/s cap).
 *
 * A paced fleet (period > 0) paces every connection on its own: connection
 * c holds devices c, c + conns, ... (load.h) and sends them round robin, so
 * its rate is its devices / period, and each batch carries at most one
 * reading per device. Each device then reports once per period, whatever
 * the other connections do; a shared budget would let the connections that
 * answer first send more often and starve the others (their devices would
 * report late, the first ones early: a smaller fleet in effect). The
 * connections start staggered (a phase of c+1 / conns of a batch), so their
 * POSTs spread over the batch interval instead of arriving together.
 * A plain cap (period 0, rate > 0) is one shared budget: whichever
 * connection is free sends.
 *
 * Object: struct pace, embedded (one per connection or one for the run);
 * no allocation. Threads: one owner.
 *
 *     struct pace p;
 *     pace_fleet(&p, c, conns, conn_devices, devices, period_ms, rate, batch);
 *     size_t n = pace_due(&p, elapsed_s);   // 0: not yet
 *     ... build and send n readings ...; pace_sent(&p, n);
 */
#ifndef TP_PACE_H
#define TP_PACE_H

#include <stddef.h>
#include <stdint.h>

struct pace {
    double rate;   /* readings/s; 0 = unpaced */
    double phase;  /* readings due at time 0 */
    size_t batch;  /* readings per send */
    uint64_t sent; /* readings sent so far */
};

/* Connection `conn` of `conns`, holding `conn_devices` of a fleet of `devices` that each report
 * every period_ms; `rate` > 0 caps the whole fleet's readings/s (each connection keeps its
 * share). Its batch is at most its devices (one reading per device per POST). */
void pace_fleet(struct pace *p, size_t conn, size_t conns, size_t conn_devices, size_t devices,
                int64_t period_ms, double rate, size_t batch);
/* One budget for the run: at most `rate` readings/s (0: unpaced), `batch` per send; the first
 * batch goes at once. */
void pace_shared(struct pace *p, double rate, size_t batch);
/* Readings that may be sent at elapsed_s since the start: the batch when all of it is due (or
 * unpaced), else 0. */
size_t pace_due(const struct pace *p, double elapsed_s);
void pace_sent(struct pace *p, size_t n);

#endif
