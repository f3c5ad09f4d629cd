#include "twins.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "pack.h"

/* A clean twin, packed: one allocation. */
struct twins_cold {
    struct twins_cold *prev, *next; /* the LRU list, in packing order */
    char data[];                    /* device_id, NUL, the packed twin (pack.h) */
};

#define TWINS_COLD 1u /* tag bit of a slot holding a struct twins_cold */

static uint64_t twins_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct twins_cold *twins_slot_cold(uintptr_t s)
{
    return (s & TWINS_COLD) ? (struct twins_cold *)(s & ~(uintptr_t)TWINS_COLD) : NULL;
}

static const char *twins_slot_id(uintptr_t s)
{
    struct twins_cold *c = twins_slot_cold(s);
    return c ? c->data : ((struct twin *)s)->device_id;
}

struct twins *twins_new(void)
{
    struct twins *tt = tp_calloc(1, sizeof(*tt));
    tt->cap = 1024;
    tt->slots = tp_calloc(tt->cap, sizeof(*tt->slots));
    return tt;
}

void twins_clear(struct twins *tt)
{
    for (size_t i = 0; i < tt->cap; i++) {
        struct twins_cold *c = twins_slot_cold(tt->slots[i]);
        if (c)
            free(c);
        else
            twin_free((struct twin *)tt->slots[i]);
        tt->slots[i] = 0;
    }
    tt->count = 0;
    tt->n_dirty = 0;
    tt->n_hot = 0;
    tt->lru_head = tt->lru_tail = NULL;
}

void twins_free(struct twins *tt)
{
    if (!tt)
        return;
    twins_clear(tt);
    free(tt->slots);
    free(tt->dirty);
    free(tt->hot);
    free(tt->scratch);
    free(tt);
}

/* Index of device_id's slot, or SIZE_MAX. */
static size_t twins_find(const struct twins *tt, const char *device_id)
{
    size_t mask = tt->cap - 1;
    for (size_t i = twins_hash(device_id) & mask;; i = (i + 1) & mask) {
        if (!tt->slots[i])
            return SIZE_MAX;
        if (!strcmp(twins_slot_id(tt->slots[i]), device_id))
            return i;
    }
}

static void twins_lru_unlink(struct twins *tt, struct twins_cold *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        tt->lru_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        tt->lru_tail = c->prev;
}

static void twins_lru_append(struct twins *tt, struct twins_cold *c)
{
    c->prev = tt->lru_tail;
    c->next = NULL;
    if (tt->lru_tail)
        tt->lru_tail->next = c;
    else
        tt->lru_head = c;
    tt->lru_tail = c;
}

static void twins_hot_push(struct twins *tt, struct twin *t)
{
    if (tt->n_hot == tt->cap_hot) {
        tt->cap_hot = tt->cap_hot ? tt->cap_hot * 2 : 1024;
        tt->hot = tp_realloc(tt->hot, tt->cap_hot * sizeof(*tt->hot));
    }
    tt->hot[tt->n_hot++] = t;
}

struct twin *twins_get(struct twins *tt, const char *device_id)
{
    size_t i = twins_find(tt, device_id);
    if (i == SIZE_MAX)
        return NULL;
    struct twins_cold *c = twins_slot_cold(tt->slots[i]);
    if (!c)
        return (struct twin *)tt->slots[i];
    struct twin *t = twin_new(c->data);
    size_t id_len = strlen(c->data);
    pack_twin_read(t, (const uint8_t *)c->data + id_len + 1);
    twins_lru_unlink(tt, c);
    free(c);
    tt->slots[i] = (uintptr_t)t;
    twins_hot_push(tt, t);
    return t;
}

static void twins_insert(uintptr_t *slots, size_t cap, uintptr_t s)
{
    size_t mask = cap - 1;
    size_t i = twins_hash(twins_slot_id(s)) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = s;
}

struct twin *twins_put(struct twins *tt, struct twin *t)
{
    if ((tt->count + 1) * 4 > tt->cap * 3) { /* load factor 0.75 */
        size_t cap = tt->cap * 2;
        uintptr_t *slots = tp_calloc(cap, sizeof(*slots));
        for (size_t i = 0; i < tt->cap; i++)
            if (tt->slots[i])
                twins_insert(slots, cap, tt->slots[i]);
        free(tt->slots);
        tt->slots = slots;
        tt->cap = cap;
    }
    twins_insert(tt->slots, tt->cap, (uintptr_t)t);
    tt->count++;
    twins_hot_push(tt, t);
    return t;
}

void twins_mark_dirty(struct twins *tt, struct twin *t)
{
    if (t->dirty)
        return; /* already listed */
    t->dirty = true;
    if (tt->n_dirty == tt->cap_dirty) {
        tt->cap_dirty = tt->cap_dirty ? tt->cap_dirty * 2 : 1024;
        tt->dirty = tp_realloc(tt->dirty, tt->cap_dirty * sizeof(*tt->dirty));
    }
    tt->dirty[tt->n_dirty++] = t;
}

/* Replaces hot twin t by its packed form, at the LRU list's tail. */
static void twins_pack(struct twins *tt, struct twin *t)
{
    size_t i = twins_find(tt, t->device_id);
    size_t id_len = strlen(t->device_id);
    size_t bound = pack_twin_bound(t);
    if (bound > tt->cap_scratch) {
        tt->cap_scratch = bound * 2;
        tt->scratch = tp_realloc(tt->scratch, tt->cap_scratch);
    }
    size_t n = pack_twin_write(tt->scratch, t);
    struct twins_cold *c = tp_malloc(sizeof(*c) + id_len + 1 + n);
    memcpy(c->data, t->device_id, id_len + 1);
    memcpy(c->data + id_len + 1, tt->scratch, n);
    twins_lru_append(tt, c);
    tt->slots[i] = (uintptr_t)c | TWINS_COLD;
    twin_free(t);
}

void twins_dirty_detach(struct twins *tt)
{
    for (size_t i = 0; i < tt->n_dirty; i++)
        tt->dirty[i]->dirty = false;
    tt->n_dirty = 0;
}

void twins_pack_clean(struct twins *tt)
{
    size_t kept = 0;
    for (size_t i = 0; i < tt->n_hot; i++) {
        struct twin *t = tt->hot[i];
        if (t->dirty)
            tt->hot[kept++] = t; /* changed since the flush: stays hot */
        else
            twins_pack(tt, t);
    }
    tt->n_hot = kept;
}

void twins_clean(struct twins *tt)
{
    twins_dirty_detach(tt);
    twins_pack_clean(tt);
}

/* Empties slot i, moving later entries of its probe run back (no tombstones). */
static void twins_remove_at(struct twins *tt, size_t i)
{
    size_t mask = tt->cap - 1;
    for (size_t j = (i + 1) & mask; tt->slots[j]; j = (j + 1) & mask) {
        size_t home = twins_hash(twins_slot_id(tt->slots[j])) & mask;
        /* the entry at j may fill i unless its home lies cyclically in (i, j] */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            tt->slots[i] = tt->slots[j];
            i = j;
        }
    }
    tt->slots[i] = 0;
}

size_t twins_evict(struct twins *tt, size_t max)
{
    size_t n = 0;
    while (tt->count > max && tt->lru_head) {
        struct twins_cold *c = tt->lru_head;
        twins_remove_at(tt, twins_find(tt, c->data));
        twins_lru_unlink(tt, c);
        free(c);
        tt->count--;
        n++;
    }
    return n;
}
