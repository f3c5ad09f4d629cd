/*
 * outbox.h - the PUBLISHes one tp-loadgen MQTT connection has not seen
 * PUBACKed, in the order they were made.
 *
 * Every reading stays here until its PUBACK: a PUBLISH sent on a
 * connection that is lost is sent again, in the same order, after the next
 * CONNACK (the server's Session Present 0 means it kept nothing of ours,
 * MQTT-3.2.2-5; a device's firmware keeps the same outbox,
 * docs/decisions/mqtt-edge.md, "At scale"). So only PUBACKed readings
 * count as sent. The box is as large as the connection's in-flight window:
 * a new PUBLISH is made only while there is room.
 *
 * Packet ids come from one counter per box (1..65535, never 0); at most
 * OUTBOX_MAX entries are held, so an id is never in the box twice.
 * PUBACKs normally come in order; one that comes early is marked done and
 * leaves with those before it.
 *
 * Object: struct outbox, embedded (outbox_init/_release); it owns each
 * entry's payload and items (malloc'd by the caller, freed on pop). One
 * thread.
 *
 *     outbox_init(&b, window);
 *     e = outbox_push(&b);  fill e->payload, e->items ...; send; e->sent = true;
 *     e = outbox_ack(&b, packet_id);  settle e ...; outbox_pop_done(&b);
 *     connection lost: outbox_unsend(&b); after CONNACK: for (e = outbox_next_unsent(&b, NULL);
 *         e; e = outbox_next_unsent(&b, e)) send e again
 */
#ifndef TP_OUTBOX_H
#define TP_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OUTBOX_MAX 65535u

struct outbox_entry {
    uint16_t packet_id;
    bool sent;      /* written on the current connection */
    bool done;      /* PUBACKed (settled), waiting for those before it */
    uint32_t sends; /* times written, over all connections */
    int64_t sent_us;
    uint32_t device;
    uint8_t *payload; /* owned */
    size_t payload_len;
    void *items; /* owned: what the readings were (the caller's type) */
    uint32_t n_items;
};

struct outbox {
    struct outbox_entry *ring;
    uint32_t cap, head, n;
    uint16_t next_id;
};

/* cap: 1..OUTBOX_MAX entries. */
void outbox_init(struct outbox *b, uint32_t cap);
/* Frees every entry's payload and items, and the ring. */
void outbox_release(struct outbox *b);
/* A new entry at the tail with the next packet id, zeroed otherwise; NULL when full. */
struct outbox_entry *outbox_push(struct outbox *b);
/* The sent, not yet done entry with this packet id (marked done), or NULL: an id that is
 * not in flight. */
struct outbox_entry *outbox_ack(struct outbox *b, uint16_t packet_id);
/* Frees the done entries at the head; returns how many left. */
uint32_t outbox_pop_done(struct outbox *b);
/* The connection is gone: no entry is sent any more. Returns how many had been. */
uint32_t outbox_unsend(struct outbox *b);
/* The first entry after `after` (NULL: from the head) that is neither sent nor done. */
struct outbox_entry *outbox_next_unsent(struct outbox *b, const struct outbox_entry *after);
/* The i-th entry from the head (i < n). */
struct outbox_entry *outbox_at(struct outbox *b, uint32_t i);

#endif
