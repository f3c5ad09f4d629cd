/*
 * mqtt_ring.h - the ack ring of one MQTT connection: its QoS 1 PUBLISHes
 * waiting for their PUBACK, in the order received (docs/decisions/mqtt-edge.md,
 * "PUBACK tied to the delivery report, in order").
 *
 * A window of at most `max` slots in flight (mqtt.receive_maximum): a push
 * past it fails, and the caller stops reading. An idle connection holds no
 * slot: the slots are allocated at the first push, grow in steps
 * (MQTT_RING_FIRST, then doubling, up to max) and are freed by mqtt_ring_trim
 * once the ring was empty and had no push since the trim before (the caller's
 * timer tick). A slot is named by the sequence number its push returned, which
 * stays valid while the ring grows (a delivery report finds its slot by it).
 * A slot holds no text: the PUBACK's reason string is a row of the caller's
 * code table (detail).
 *
 * Object: struct mqtt_ring, embedded and zeroed by its owner; mqtt_ring_release
 * frees its slots. One thread (the connection's loop).
 *
 *     uint32_t seq;
 *     if (!mqtt_ring_push(&r, max, &seq)) -> window full: stop reading
 *     *mqtt_ring_at(&r, seq) = (struct mqtt_slot){.packet_id = id, ...};
 *     report: mqtt_ring_at(&r, seq)->done = true;
 *     for (sl = mqtt_ring_head(&r); sl && sl->done; sl = mqtt_ring_head(&r))
 *         { PUBACK sl; mqtt_ring_pop(&r); }
 *     each tick: mqtt_ring_trim(&r);
 */
#ifndef TP_INGEST_MQTT_RING_H
#define TP_INGEST_MQTT_RING_H

#include <stdbool.h>
#include <stdint.h>

#define MQTT_RING_FIRST 4 /* slots allocated at the first push */

/* One QoS 1 PUBLISH waiting for its PUBACK. */
struct mqtt_slot {
    int64_t t0_ms;          /* when the PUBLISH was read (the PUBACK latency) */
    uint32_t dead_lettered; /* readings of it dead-lettered */
    uint16_t packet_id;
    uint16_t detail; /* the PUBACK's reason string: a row of the caller's code table */
    uint8_t reason;  /* enum mqtt_reason */
    bool done;       /* its outcome is known */
    bool fail;       /* no PUBACK: the journal did not take it (disconnect) */
};

struct mqtt_ring {
    struct mqtt_slot *slots; /* NULL while none are allocated */
    uint32_t seq;            /* the sequence number of the head slot */
    uint16_t cap, head, count;
    bool pushed; /* a push since the last trim */
};

/* Takes the next slot (zeroed) at the tail; its sequence number in *seq. False, nothing
 * changed, when max (1..65535) slots are in flight already. */
bool mqtt_ring_push(struct mqtt_ring *r, uint32_t max, uint32_t *seq);
/* Gives back the slot of the last push (its PUBLISH was not taken after all). */
void mqtt_ring_unpush(struct mqtt_ring *r);
/* The slot of seq while it is in the ring, else NULL. Borrowed until the next push or trim. */
struct mqtt_slot *mqtt_ring_at(const struct mqtt_ring *r, uint32_t seq);
/* The oldest slot, NULL when empty. Borrowed until the next push, pop or trim. */
struct mqtt_slot *mqtt_ring_head(const struct mqtt_ring *r);
/* Drops the oldest slot (its PUBACK was queued). */
void mqtt_ring_pop(struct mqtt_ring *r);
/* Frees the slots when the ring is empty and had no push since the last trim. */
void mqtt_ring_trim(struct mqtt_ring *r);
void mqtt_ring_release(struct mqtt_ring *r);

#endif
