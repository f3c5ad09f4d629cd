#include "lru.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/mem.h"

struct lru_ref {
    int64_t key;
    void *value;
    unsigned refs;
    bool linked;                 /* in the table and the recency list */
    struct lru_ref *prev, *next; /* recency: head = most recent */
    struct lru_ref *chain;       /* hash bucket */
};

struct lru {
    pthread_mutex_t lock;
    void (*free_fn)(void *);
    size_t capacity, size, n_buckets;
    struct lru_ref **buckets;
    struct lru_ref *head, *tail;
    struct lru_stats st;
};

static size_t lru_bucket(const struct lru *c, int64_t key)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) % c->n_buckets;
}

struct lru *lru_new(size_t capacity, void (*free_fn)(void *value))
{
    assert(capacity > 0);
    struct lru *c = tp_calloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->free_fn = free_fn;
    c->capacity = capacity;
    c->n_buckets = capacity * 2 + 1;
    c->buckets = tp_calloc(c->n_buckets, sizeof(*c->buckets));
    return c;
}

static void lru_list_unlink(struct lru *c, struct lru_ref *e)
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

static void lru_list_push(struct lru *c, struct lru_ref *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static struct lru_ref *lru_find(struct lru *c, int64_t key)
{
    for (struct lru_ref *e = c->buckets[lru_bucket(c, key)]; e; e = e->chain)
        if (e->key == key)
            return e;
    return NULL;
}

/* Unlinks e from table and list; returns it if nobody pins it (caller frees). */
static struct lru_ref *lru_detach(struct lru *c, struct lru_ref *e)
{
    struct lru_ref **pp = &c->buckets[lru_bucket(c, e->key)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_list_unlink(c, e);
    e->linked = false;
    c->size--;
    return e->refs == 0 ? e : NULL;
}

static void lru_entry_free(struct lru *c, struct lru_ref *e)
{
    if (!e)
        return;
    if (c->free_fn)
        c->free_fn(e->value);
    free(e);
}

void *lru_get(struct lru *c, int64_t key, struct lru_ref **ref)
{
    pthread_mutex_lock(&c->lock);
    struct lru_ref *e = lru_find(c, key);
    if (e) {
        c->st.hits++;
        e->refs++;
        lru_list_unlink(c, e);
        lru_list_push(c, e);
    } else {
        c->st.misses++;
    }
    pthread_mutex_unlock(&c->lock);
    *ref = e;
    return e ? e->value : NULL;
}

void *lru_insert(struct lru *c, int64_t key, void *value, struct lru_ref **ref)
{
    struct lru_ref *victim = NULL, *dup = NULL;
    pthread_mutex_lock(&c->lock);
    struct lru_ref *e = lru_find(c, key);
    if (e) {
        dup = tp_calloc(1, sizeof(*dup));
        dup->value = value; /* freed below, outside the lock */
        e->refs++;
    } else {
        if (c->size >= c->capacity && c->tail) {
            victim = lru_detach(c, c->tail);
            c->st.evictions++;
        }
        e = tp_calloc(1, sizeof(*e));
        e->key = key;
        e->value = value;
        e->refs = 1;
        e->linked = true;
        size_t b = lru_bucket(c, key);
        e->chain = c->buckets[b];
        c->buckets[b] = e;
        lru_list_push(c, e);
        c->size++;
        c->st.inserts++;
    }
    pthread_mutex_unlock(&c->lock);
    lru_entry_free(c, victim);
    lru_entry_free(c, dup);
    *ref = e;
    return e->value;
}

void lru_remove(struct lru *c, int64_t key)
{
    struct lru_ref *gone = NULL;
    pthread_mutex_lock(&c->lock);
    struct lru_ref *e = lru_find(c, key);
    if (e)
        gone = lru_detach(c, e);
    pthread_mutex_unlock(&c->lock);
    lru_entry_free(c, gone);
}

void lru_release(struct lru *c, struct lru_ref *ref)
{
    if (!ref)
        return;
    struct lru_ref *gone = NULL;
    pthread_mutex_lock(&c->lock);
    assert(ref->refs > 0);
    if (--ref->refs == 0 && !ref->linked)
        gone = ref;
    pthread_mutex_unlock(&c->lock);
    lru_entry_free(c, gone);
}

void lru_stats_get(struct lru *c, struct lru_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->st;
    out->size = c->size;
    out->capacity = c->capacity;
    pthread_mutex_unlock(&c->lock);
}

void lru_free(struct lru *c)
{
    if (!c)
        return;
    while (c->head)
        lru_entry_free(c, lru_detach(c, c->head));
    free(c->buckets);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
