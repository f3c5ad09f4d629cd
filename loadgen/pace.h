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
 * A fleet whose devices may each be told another period (loadgen.obey_period)
 * paces each connection by device instead: struct pace_devices, a min-heap of
 * (next due time, rank) over the connection's devices (rank r: device
 * conn + r * conns). With one period for all it is the same schedule as
 * struct pace's: reading k of the connection (device k % n, its k / n-th) is
 * due at (k + 1 - phase) / rate, and a batch goes when all of it is due, so a
 * connection held up sends what came due meanwhile. A device told another
 * period P has its next reading due P after the due time of its last one
 * (the schedule, not the clock: no drift), for the readings after.
 *
 * Object: struct pace, embedded (one per connection or one for the run);
 * no allocation. struct pace_devices, embedded, owns its arrays
 * (pace_devices_init / pace_devices_release). Threads: one owner.
 *
 *     struct pace p;
 *     pace_fleet(&p, c, conns, conn_devices, devices, period_ms, rate, batch);
 *     size_t n = pace_due(&p, elapsed_s);   // 0: not yet
 *     ... build and send n readings ...; pace_sent(&p, n);
 */
#ifndef TP_PACE_H
#define TP_PACE_H

#include <stdbool.h>
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

/* One connection's devices, each with its own due time and period.
 *
 *     pace_devices_init(&d, c, conns, conn_devices, devices, period_ms, rate, batch);
 *     size_t n = pace_devices_due(&d, now_us);       // 0: not yet
 *     for n readings: rank = pace_devices_take(&d);  // device c + rank * conns
 *     pace_devices_set_period(&d, rank, 1000);       // told another period
 */
struct pace_devices {
    size_t n;         /* devices (ranks) */
    size_t batch;     /* readings per send: at most n */
    double share;     /* of a readings/s cap: intervals are period / share */
    int64_t *due_us;  /* [rank] next reading due, us since the start (owns the block of all five) */
    int64_t *last_us; /* [rank] due time of the last reading taken; INT64_MIN: none yet */
    int64_t *period_ms; /* [rank] */
    uint32_t *heap;     /* ranks by (due_us, rank) */
    uint32_t *pos;      /* [rank] its place in heap */
};

/* As pace_fleet (the same schedule while every device keeps period_ms). */
void pace_devices_init(struct pace_devices *p, size_t conn, size_t conns, size_t conn_devices,
                       size_t devices, int64_t period_ms, double rate, size_t batch);
void pace_devices_release(struct pace_devices *p);
/* The batch when its earliest `batch` devices are all due at now_us, else 0. */
size_t pace_devices_due(const struct pace_devices *p, int64_t now_us);
/* The earliest device's rank; its next reading is then due one period later. */
size_t pace_devices_take(struct pace_devices *p);
/* Rank's period is now period_ms (> 0): its next reading is due period_ms after its last
 * one's due time (or stays at its first due time when none was taken). False when unchanged. */
bool pace_devices_set_period(struct pace_devices *p, size_t rank, int64_t period_ms);
/* When rank's next reading is due, us since the start. */
int64_t pace_devices_next_us(const struct pace_devices *p, size_t rank);

#endif
