/* mqtt_ring.c - a connection's ack ring, allocated while in use: see mqtt_ring.h. */
#include "mqtt_ring.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* Moves the slots into an array of cap, oldest first. */
static void ring_resize(struct mqtt_ring *r, uint16_t cap)
{
    struct mqtt_slot *n = tp_malloc((size_t)cap * sizeof(*n));
    for (uint16_t i = 0; i < r->count; i++)
        n[i] = r->slots[(r->head + i) % r->cap];
    free(r->slots);
    r->slots = n;
    r->cap = cap;
    r->head = 0;
}

bool mqtt_ring_push(struct mqtt_ring *r, uint32_t max, uint32_t *seq)
{
    assert(max >= 1 && max <= UINT16_MAX);
    if (r->count >= max)
        return false;
    if (r->count == r->cap) {
        uint32_t cap = r->cap ? 2u * r->cap : MQTT_RING_FIRST;
        ring_resize(r, (uint16_t)(cap < max ? cap : max));
    }
    struct mqtt_slot *sl = &r->slots[(r->head + r->count) % r->cap];
    memset(sl, 0, sizeof(*sl));
    *seq = r->seq + r->count;
    r->count++;
    r->pushed = true;
    return true;
}

void mqtt_ring_unpush(struct mqtt_ring *r)
{
    assert(r->count);
    r->count--;
}

struct mqtt_slot *mqtt_ring_at(const struct mqtt_ring *r, uint32_t seq)
{
    uint32_t pos = seq - r->seq; /* wraps with the counter */
    return pos < r->count ? &r->slots[(r->head + pos) % r->cap] : NULL;
}

struct mqtt_slot *mqtt_ring_head(const struct mqtt_ring *r)
{
    return r->count ? &r->slots[r->head] : NULL;
}

void mqtt_ring_pop(struct mqtt_ring *r)
{
    assert(r->count);
    r->head = (uint16_t)((r->head + 1) % r->cap);
    r->count--;
    r->seq++;
}

void mqtt_ring_trim(struct mqtt_ring *r)
{
    if (!r->count && !r->pushed && r->slots) {
        free(r->slots);
        r->slots = NULL;
        r->cap = r->head = 0;
    }
    r->pushed = false;
}

void mqtt_ring_release(struct mqtt_ring *r)
{
    free(r->slots);
    memset(r, 0, sizeof(*r));
}
