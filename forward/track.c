/*
 * track.c - per partition, a queue (in offset order) of the forwarded events not yet
 * passed by the commit point, taken from one pool of max entries.
 */
#include "forward/track.h"

#include <assert.h>
#include <stdlib.h>

#include "common/mem.h"

struct track_part {
    bool assigned;
    int64_t next;       /* after the last consumed event; -1: none */
    int64_t committed;  /* the last offset committed; -1: none */
    int64_t warm_until; /* events before it only warm caches up; -1: none */
    int64_t retry_at;   /* the offset of the last rewind, until forwarded; -1: none */
    struct forward_pending *head, *tail;
};

struct forward_track {
    struct forward_pending *pool, *free;
    size_t max, in_flight;
    struct track_part *parts;
    size_t n_parts;
};

struct forward_track *forward_track_new(size_t max)
{
    struct forward_track *t = tp_calloc(1, sizeof(*t));
    t->max = max ? max : 1;
    t->pool = tp_calloc(t->max, sizeof(*t->pool));
    for (size_t i = t->max; i-- > 0;) {
        t->pool[i].next = t->free;
        t->free = &t->pool[i];
    }
    return t;
}

void forward_track_free(struct forward_track *t)
{
    if (!t)
        return;
    free(t->pool);
    free(t->parts);
    free(t);
}

static struct track_part *track_part(struct forward_track *t, int32_t partition)
{
    assert(partition >= 0);
    if ((size_t)partition >= t->n_parts) {
        size_t n = (size_t)partition + 1;
        t->parts = tp_realloc(t->parts, n * sizeof(*t->parts));
        for (size_t i = t->n_parts; i < n; i++)
            t->parts[i] =
                (struct track_part){.next = -1, .committed = -1, .warm_until = -1, .retry_at = -1};
        t->n_parts = n;
    }
    return &t->parts[partition];
}

static void track_put(struct forward_track *t, struct forward_pending *h)
{
    h->next = t->free;
    t->free = h;
    t->in_flight--;
}

static void track_drop(struct forward_track *t, struct track_part *p)
{
    while (p->head) {
        struct forward_pending *h = p->head;
        p->head = h->next;
        track_put(t, h);
    }
    p->tail = NULL;
}

void forward_track_assign(struct forward_track *t, int32_t partition)
{
    struct track_part *p = track_part(t, partition);
    track_drop(t, p);
    *p = (struct track_part){
        .assigned = true, .next = -1, .committed = -1, .warm_until = -1, .retry_at = -1};
}

void forward_track_release(struct forward_track *t, int32_t partition)
{
    struct track_part *p = track_part(t, partition);
    track_drop(t, p);
    *p = (struct track_part){.next = -1, .committed = -1, .warm_until = -1, .retry_at = -1};
}

bool forward_track_assigned(const struct forward_track *t, int32_t partition)
{
    return partition >= 0 && (size_t)partition < t->n_parts && t->parts[partition].assigned;
}

size_t forward_track_partitions(const struct forward_track *t)
{
    return t->n_parts;
}

void forward_track_warm(struct forward_track *t, int32_t partition, int64_t until)
{
    track_part(t, partition)->warm_until = until;
}

bool forward_track_warming(const struct forward_track *t, int32_t partition, int64_t offset)
{
    return forward_track_assigned(t, partition) && offset < t->parts[partition].warm_until;
}

void forward_track_seen(struct forward_track *t, int32_t partition, int64_t offset)
{
    track_part(t, partition)->next = offset + 1;
}

struct forward_pending *forward_track_add(struct forward_track *t, int32_t partition,
                                          int64_t offset, int64_t journal_ms)
{
    struct forward_pending *h = t->free;
    if (!h)
        return NULL;
    t->free = h->next;
    t->in_flight++;
    *h = (struct forward_pending){
        .partition = partition, .offset = offset, .journal_ms = journal_ms};
    struct track_part *p = track_part(t, partition);
    if (p->tail)
        p->tail->next = h;
    else
        p->head = h;
    p->tail = h;
    p->next = offset + 1;
    return h;
}

void forward_track_done(struct forward_track *t, struct forward_pending *h, bool acked)
{
    (void)t;
    h->state = acked ? FORWARD_ACKED : FORWARD_FAILED;
}

bool forward_track_full(const struct forward_track *t)
{
    return t->free == NULL;
}

size_t forward_track_in_flight(const struct forward_track *t)
{
    return t->in_flight;
}

/* Returns the acknowledged events at the head of the queue to the pool. */
static void track_pop_acked(struct forward_track *t, struct track_part *p)
{
    while (p->head && p->head->state == FORWARD_ACKED) {
        struct forward_pending *h = p->head;
        p->head = h->next;
        if (!p->head)
            p->tail = NULL;
        track_put(t, h);
    }
}

bool forward_track_to_commit(struct forward_track *t, int32_t partition, int64_t *offset)
{
    if (!forward_track_assigned(t, partition))
        return false;
    struct track_part *p = &t->parts[partition];
    track_pop_acked(t, p);
    int64_t point = p->head ? p->head->offset : p->next;
    if (point < 0 || point <= p->committed)
        return false;
    *offset = point;
    return true;
}

void forward_track_committed(struct forward_track *t, int32_t partition, int64_t offset)
{
    track_part(t, partition)->committed = offset;
}

int64_t forward_track_next(const struct forward_track *t, int32_t partition)
{
    return forward_track_assigned(t, partition) ? t->parts[partition].next : -1;
}

int64_t forward_track_rewind(struct forward_track *t, int32_t partition)
{
    if (!forward_track_assigned(t, partition))
        return -1;
    struct track_part *p = &t->parts[partition];
    int64_t at = -1;
    for (struct forward_pending *h = p->head; h && at < 0; h = h->next)
        if (h->state != FORWARD_ACKED)
            at = h->offset; /* after a flush, the first failed one */
    if (at < 0)
        return -1;
    track_pop_acked(t, p);
    track_drop(t, p);
    p->next = at;
    p->retry_at = at;
    return at;
}

bool forward_track_recovered(struct forward_track *t, const struct forward_pending *h)
{
    if (!forward_track_assigned(t, h->partition))
        return false;
    struct track_part *p = &t->parts[h->partition];
    if (p->retry_at < 0 || h->offset != p->retry_at)
        return false;
    p->retry_at = -1;
    return true;
}
