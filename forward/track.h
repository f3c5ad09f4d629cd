/*
 * track.h - which journal offsets tp-forward may commit: at least once, without loss.
 *
 * Every consumed event of a partition is either skipped (no raw policy for it) or
 * forwarded; a forwarded one is acknowledged by the detail topic later, and delivery
 * reports come back in any order across partitions. A partition's committed offset may
 * only move past an event once every forwarded event up to it was acknowledged: the commit
 * point is the offset of the first forwarded event not acknowledged yet, or, with none
 * outstanding, the offset after the last event consumed. Skipped events never hold it back.
 *
 * Bounded: at most `max` forwarded events are outstanding (forward.max_in_flight), in a
 * pool allocated once; with none free the loop stops consuming until reports come back.
 * A pending event's handle is the producer's opaque for its delivery report.
 *
 * A failed delivery is not skipped: the commit point stays before it, and after every
 * outstanding report came back (the producer flushed) forward_track_rewind gives the offset
 * to read the partition from again; what was forwarded after it is forwarded again
 * (duplicates, which the global side drops by device sequence).
 *
 * Object: struct forward_track (heap, _new/_free); partitions by id, assigned and released
 * by the caller. One thread (the forward loop: its delivery callbacks and rebalance
 * callbacks run there).
 *
 *     struct forward_track *t = forward_track_new(10000);
 *     forward_track_assign(t, 3);
 *     forward_track_seen(t, 3, 41);                          // skipped
 *     struct forward_pending *h = forward_track_add(t, 3, 42, ts);   // forwarded, opaque = h
 *     forward_track_done(t, h, ok);                          // in the delivery callback
 *     if (forward_track_to_commit(t, 3, &off)) commit(3, off), forward_track_committed(t, 3, off);
 */
#ifndef TP_FORWARD_TRACK_H
#define TP_FORWARD_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum forward_state { FORWARD_PENDING, FORWARD_ACKED, FORWARD_FAILED };

/* A forwarded event waiting for its report. */
struct forward_pending {
    struct forward_pending *next; /* the partition's queue, or the free list */
    int32_t partition;
    int64_t offset;
    int64_t journal_ms; /* its journal time (for the latency histogram) */
    enum forward_state state;
};

struct forward_track;

/* max >= 1: forwarded events outstanding at most. */
struct forward_track *forward_track_new(size_t max);
void forward_track_free(struct forward_track *t);

/* The partition starts afresh (nothing consumed, nothing committed by us). */
void forward_track_assign(struct forward_track *t, int32_t partition);
/* Drops the partition's state and its pending events (their reports must all have come
 * back: the caller flushed the producer). */
void forward_track_release(struct forward_track *t, int32_t partition);
bool forward_track_assigned(const struct forward_track *t, int32_t partition);
/* One past the highest partition id ever given (assigned or not now). */
size_t forward_track_partitions(const struct forward_track *t);

/* Events of the partition before `until` (the committed offset at assignment) are read
 * again only to warm the caller's caches up: never forwarded, nor committed. */
void forward_track_warm(struct forward_track *t, int32_t partition, int64_t until);
bool forward_track_warming(const struct forward_track *t, int32_t partition, int64_t offset);

/* An event consumed and skipped at offset. */
void forward_track_seen(struct forward_track *t, int32_t partition, int64_t offset);
/* An event consumed and forwarded: its handle, or NULL when max are outstanding (then
 * nothing changed: try again after reports came back). */
struct forward_pending *forward_track_add(struct forward_track *t, int32_t partition,
                                          int64_t offset, int64_t journal_ms);
/* Its report: acknowledged or failed. */
void forward_track_done(struct forward_track *t, struct forward_pending *h, bool acked);
bool forward_track_full(const struct forward_track *t);
size_t forward_track_in_flight(const struct forward_track *t);

/* The offset to commit when it moved past the last one committed: true and *offset set. */
bool forward_track_to_commit(struct forward_track *t, int32_t partition, int64_t *offset);
void forward_track_committed(struct forward_track *t, int32_t partition, int64_t offset);
/* The next offset to read (the one after the last consumed; -1: none consumed yet). */
int64_t forward_track_next(const struct forward_track *t, int32_t partition);
/* After every report came back: when a forward of the partition failed, drops its pending
 * events and returns the offset of the first that failed (read from there again), else -1. */
int64_t forward_track_rewind(struct forward_track *t, int32_t partition);
/* Whether h (acknowledged) is the event its partition was last rewound to: the failure is
 * over (once per rewind). */
bool forward_track_recovered(struct forward_track *t, const struct forward_pending *h);

#endif
