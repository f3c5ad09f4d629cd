/*
 * workload.h - readings for integration tests of the projection, and an
 * independent fold of them: a workload is produced straight into the
 * journal (the journal producer, no HTTP, so 100k events take seconds),
 * with duplicates and out-of-order sequences, values in five metrics over
 * several minutes; workload_expect folds what was sent independently of
 * twin/fold.c, and workload_assert_state requires every twin (events,
 * last sequence, first/last seen, every metric's value, ts, min, max, sum,
 * count; read from each twin's record, twindb.h) and every history minute of
 * the workload's devices (the rows of metric_minutes plus each twin's open
 * minute, in its record; each minute in exactly one of them) to equal it
 * exactly. Values are multiples of 1/8 well below 2^40,
 * so every partial sum is exact and per-minute sums do not depend on how flushes split them. Used
 * by integration/test_projector, test_projector_pg and test_replay.
 *
 *     struct workload w; struct expected e = {0};
 *     workload_init(&w, "a-dev", 30, 40);        // 30 devices x 40 sends
 *     workload_produce(&st, &w, 0, w.n);         // into st's topic (4 partitions)
 *     workload_expect(&e, &w, 0, w.n);
 *     ... run the projection ...
 *     workload_assert_state(db, &w, &e);
 *     expected_release(&e); workload_release(&w);
 */
#ifndef TP_TEST_WORKLOAD_H
#define TP_TEST_WORKLOAD_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "journal/journal.h"
#include "stack.h"

#define WORKLOAD_PARTITIONS 4
#define WORKLOAD_METRICS    5

extern const char *const workload_metric_names[WORKLOAD_METRICS];

/* ---- the workload: what is sent, in production order ---- */

struct send {
    int dev;
    int seq;
    int variant; /* 1: a re-send of an older sequence with other values */
};

struct workload {
    const char *prefix;
    int devices;
    int per_device;
    int64_t base_ms;
    struct send *sends; /* round k of every device, then round k + 1 */
    size_t n;
};

/* Per device: mostly the next sequence; sometimes an older one again (variant 1: a duplicate),
 * sometimes next + 1 before next (then next arrives out of order: applied late, once). */
void workload_init(struct workload *w, const char *prefix, int devices, int per_device);
void workload_release(struct workload *w);
void workload_device_id(const struct workload *w, int d, char *out, size_t n);
/* The reading's timestamp and metric values (has[i] false: absent). */
int64_t workload_values(const struct workload *w, const struct send *s, double v[WORKLOAD_METRICS],
                        bool has[WORKLOAD_METRICS]);
/* The test topic with WORKLOAD_PARTITIONS partitions. */
struct journal_config workload_journal(const struct stack *st);
/* Produces sends [from, to) and waits until Kafka acknowledged every one. */
void workload_produce(const struct stack *st, const struct workload *w, size_t from, size_t to);

/* ---- the independent fold ---- */

struct exp_metric {
    bool seen;
    double value, min, max, sum;
    int64_t ts, count;
};

struct exp_twin {
    int64_t events, last_seq, first_ms, last_ms;
    struct exp_metric m[WORKLOAD_METRICS];
    size_t last_hist[WORKLOAD_METRICS]; /* index + 1 of the latest history entry, 0 = none */
    size_t prev_hist[WORKLOAD_METRICS]; /* ... and of the one before (a late reading's) */
    bool *applied;                      /* applied[seq]: the sequences applied */
    size_t cap_applied;
};

struct exp_hist {
    int dev, metric;
    int64_t minute;
    double min, max, sum;
    int64_t count;
};

struct expected {
    struct exp_twin *twins;
    size_t n_twins;
    struct exp_hist *hist;
    size_t n_hist, cap_hist;
    long applied, ignored;
};

/* Folds sends [from, to) into e (which must have seen [0, from) already). */
void workload_expect(struct expected *e, const struct workload *w, size_t from, size_t to);
void expected_release(struct expected *e);

/* ---- reading back ---- */

/* A query that must answer rows (param may be NULL); the caller clears it. */
PGresult *workload_query(PGconn *db, const char *sql, const char *param);
double workload_num(PGresult *res, int r, int c);
int64_t workload_i64(PGresult *res, int r, int c);
/* The one integer a query answers. */
int64_t workload_query_i64(PGconn *db, const char *sql, const char *param);
/* Appends every row of a query (no parameter) as a line, columns tab-separated, NULL as
 * "NULL": tables compared as text. */
void workload_rows_text(PGconn *db, const char *sql, struct buf *out);
/* Every twin and every metric_minutes row of the workload's devices equals e, exactly. */
void workload_assert_state(PGconn *db, const struct workload *w, struct expected *e);

/* ---- dead letters ---- */

/* A consumer of st's dead-letter topic ("<topic>.dlq") from its start (journal_consumer_free
 * it); events come with the dlq_reason and dlq_origin headers. */
struct journal_consumer *workload_dlq_consumer(const struct stack *st);
/* The same for the dead-letter topic of another source topic ("<source>.dlq"). */
struct journal_consumer *workload_dlq_consumer_of(const struct stack *st, const char *source);
/* The next dead letter (waits up to 30 s, else the test fails); journal_event_release it. */
void workload_dlq_next(struct journal_consumer *c, struct journal_event *ev);

/* ---- processes ---- */

/* Fails the test when the service pid has exited. */
void workload_assert_alive(const struct stack *st, pid_t pid);
/* Waits (timeout_s) until the offsets of the group named like st's topic (the stack's
 * TP_PROJECTOR_GROUP) reach the end of every partition; the pids must stay alive. */
void workload_wait_caught_up(const struct stack *st, PGconn *db, const pid_t *pids, int n_pids,
                             int timeout_s);
/* The end offsets of st's topic (WORKLOAD_PARTITIONS partitions). */
void workload_end_offsets(const struct stack *st, int64_t ends[WORKLOAD_PARTITIONS]);
/* The next offsets of the group named like st's topic equal the end of every partition. */
void workload_assert_offsets_at_end(const struct stack *st, PGconn *db);
/* A sample of a service's /metrics ("name" without labels). */
double workload_metric(uint16_t port, const char *name);

#endif
