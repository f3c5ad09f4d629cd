#include "outbox.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void outbox_init(struct outbox *b, uint32_t cap)
{
    assert(cap >= 1 && cap <= OUTBOX_MAX);
    memset(b, 0, sizeof(*b));
    b->ring = tp_calloc(cap, sizeof(*b->ring));
    b->cap = cap;
    b->next_id = 1;
}

static void outbox_entry_free(struct outbox_entry *e)
{
    free(e->payload);
    free(e->items);
    memset(e, 0, sizeof(*e));
}

void outbox_release(struct outbox *b)
{
    for (uint32_t i = 0; i < b->n; i++)
        outbox_entry_free(outbox_at(b, i));
    free(b->ring);
    memset(b, 0, sizeof(*b));
}

struct outbox_entry *outbox_at(struct outbox *b, uint32_t i)
{
    assert(i < b->n);
    return &b->ring[(b->head + i) % b->cap];
}

struct outbox_entry *outbox_push(struct outbox *b)
{
    if (b->n == b->cap)
        return NULL;
    struct outbox_entry *e = &b->ring[(b->head + b->n) % b->cap];
    memset(e, 0, sizeof(*e));
    e->packet_id = b->next_id;
    b->next_id = b->next_id == UINT16_MAX ? 1 : (uint16_t)(b->next_id + 1);
    b->n++;
    return e;
}

struct outbox_entry *outbox_ack(struct outbox *b, uint16_t packet_id)
{
    for (uint32_t i = 0; i < b->n; i++) {
        struct outbox_entry *e = outbox_at(b, i);
        if (e->packet_id == packet_id) {
            if (!e->sent || e->done)
                return NULL;
            e->done = true;
            return e;
        }
    }
    return NULL;
}

uint32_t outbox_pop_done(struct outbox *b)
{
    uint32_t popped = 0;
    while (b->n && b->ring[b->head].done) {
        outbox_entry_free(&b->ring[b->head]);
        b->head = (b->head + 1) % b->cap;
        b->n--;
        popped++;
    }
    return popped;
}

uint32_t outbox_unsend(struct outbox *b)
{
    uint32_t was = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        struct outbox_entry *e = outbox_at(b, i);
        was += e->sent && !e->done;
        e->sent = false;
    }
    return was;
}

struct outbox_entry *outbox_next_unsent(struct outbox *b, const struct outbox_entry *after)
{
    uint32_t i = 0;
    if (after) {
        uint32_t pos = (uint32_t)(after - b->ring);
        i = (pos + b->cap - b->head) % b->cap + 1;
    }
    for (; i < b->n; i++) {
        struct outbox_entry *e = outbox_at(b, i);
        if (!e->sent && !e->done)
            return e;
    }
    return NULL;
}
