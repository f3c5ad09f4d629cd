/*
 * attrs.c - the per-device attribute cache: a chained hash table whose buckets grow with
 * the devices (doubling while count > buckets), and a doubly-linked list in order of use
 * for the LRU eviction. An entry is one allocation: the struct, then the id and the values,
 * each NUL-terminated. An update that changes a value builds a new entry in the old one's
 * place (attributes rarely change; the common update only moves the entry to the front).
 */
#include "forward/attrs.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

struct attr_entry {
    struct attr_entry *hnext;       /* bucket chain */
    struct attr_entry *prev, *next; /* use order: head = most recent */
    uint64_t hash;
    uint16_t off[POLICY_ATTR__COUNT]; /* value i at data + off[i]; 0: none (data[0] is the id) */
    char data[];                      /* id \0 values \0 */
};

struct forward_attrs {
    struct attr_entry **buckets;
    size_t n_buckets; /* a power of two */
    size_t count, max;
    struct attr_entry *head, *tail;
    uint64_t evicted;
};

#define ATTRS_BUCKETS_MIN 1024

static uint64_t attrs_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct forward_attrs *forward_attrs_new(size_t max)
{
    struct forward_attrs *c = tp_calloc(1, sizeof(*c));
    c->max = max ? max : 1;
    c->n_buckets = ATTRS_BUCKETS_MIN;
    c->buckets = tp_calloc(c->n_buckets, sizeof(*c->buckets));
    return c;
}

void forward_attrs_free(struct forward_attrs *c)
{
    if (!c)
        return;
    for (struct attr_entry *e = c->head, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    free(c->buckets);
    free(c);
}

static void attrs_unlink(struct forward_attrs *c, struct attr_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void attrs_push_front(struct forward_attrs *c, struct attr_entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

/* The slot that points at the entry of id (or the chain's end). */
static struct attr_entry **attrs_slot(struct forward_attrs *c, const char *id, uint64_t hash)
{
    struct attr_entry **slot = &c->buckets[hash & (c->n_buckets - 1)];
    while (*slot && ((*slot)->hash != hash || strcmp((*slot)->data, id) != 0))
        slot = &(*slot)->hnext;
    return slot;
}

static void attrs_grow(struct forward_attrs *c)
{
    size_t n = c->n_buckets * 2;
    struct attr_entry **b = tp_calloc(n, sizeof(*b));
    for (size_t i = 0; i < c->n_buckets; i++)
        for (struct attr_entry *e = c->buckets[i], *next; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = n;
}

static void attrs_remove(struct forward_attrs *c, struct attr_entry *e)
{
    struct attr_entry **slot = attrs_slot(c, e->data, e->hash);
    *slot = e->hnext;
    attrs_unlink(c, e);
    c->count--;
    free(e);
}

static const char *attrs_value(const struct attr_entry *e, int i)
{
    return e && e->off[i] ? e->data + e->off[i] : NULL;
}

void forward_attrs_update(struct forward_attrs *c, const char *id,
                          const char *const in[POLICY_ATTR__COUNT],
                          const char *out[POLICY_ATTR__COUNT])
{
    if (strnlen(id, POLICY_DEVICE_ID_MAX + 1) > POLICY_DEVICE_ID_MAX) {
        /* not an id ingest journals, nor one a selector names: matched on its own reading */
        for (int i = 0; i < POLICY_ATTR__COUNT; i++)
            out[i] = in[i] && in[i][0] ? in[i] : NULL;
        return;
    }
    uint64_t hash = attrs_hash(id);
    struct attr_entry **slot = attrs_slot(c, id, hash);
    struct attr_entry *old = *slot;
    /* the merged values: the reading's non-empty ones, else the cached ones */
    const char *val[POLICY_ATTR__COUNT];
    size_t len[POLICY_ATTR__COUNT];
    bool same = old != NULL;
    for (int i = 0; i < POLICY_ATTR__COUNT; i++) {
        const char *cached = attrs_value(old, i);
        if (in[i] && in[i][0]) {
            val[i] = in[i];
            len[i] = strnlen(in[i], FORWARD_ATTR_KEEP);
            if (!cached || strlen(cached) != len[i] || memcmp(cached, in[i], len[i]) != 0)
                same = false;
        } else {
            val[i] = cached;
            len[i] = cached ? strlen(cached) : 0;
        }
    }
    if (same) {
        attrs_unlink(c, old);
        attrs_push_front(c, old);
    } else {
        size_t id_len = strlen(id);
        size_t size = sizeof(struct attr_entry) + id_len + 1;
        for (int i = 0; i < POLICY_ATTR__COUNT; i++)
            size += val[i] ? len[i] + 1 : 0;
        struct attr_entry *e = tp_calloc(1, size);
        e->hash = hash;
        memcpy(e->data, id, id_len + 1);
        size_t at = id_len + 1;
        for (int i = 0; i < POLICY_ATTR__COUNT; i++) {
            if (!val[i])
                continue;
            e->off[i] = (uint16_t)at; /* id <= 128 bytes (ingest), values <= 129 each */
            memcpy(e->data + at, val[i], len[i]);
            e->data[at + len[i]] = '\0';
            at += len[i] + 1;
        }
        if (old) { /* in the old one's place: its values were copied above */
            e->hnext = old->hnext;
            *slot = e;
            attrs_unlink(c, old);
            free(old);
        } else {
            e->hnext = NULL;
            *slot = e;
            c->count++;
        }
        attrs_push_front(c, e);
        old = e;
        while (c->count > c->max) {
            attrs_remove(c, c->tail);
            c->evicted++;
        }
        if (c->count > c->n_buckets)
            attrs_grow(c);
    }
    for (int i = 0; i < POLICY_ATTR__COUNT; i++)
        out[i] = attrs_value(old, i);
}

size_t forward_attrs_count(const struct forward_attrs *c)
{
    return c->count;
}

uint64_t forward_attrs_evicted(const struct forward_attrs *c)
{
    return c->evicted;
}
