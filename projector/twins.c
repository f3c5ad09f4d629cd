#include "twins.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static uint64_t twins_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
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
        twin_free(tt->slots[i]);
        tt->slots[i] = NULL;
    }
    tt->count = 0;
    tt->n_dirty = 0;
}

void twins_free(struct twins *tt)
{
    if (!tt)
        return;
    twins_clear(tt);
    free(tt->slots);
    free(tt->dirty);
    free(tt);
}

struct twin *twins_get(const struct twins *tt, const char *device_id)
{
    size_t mask = tt->cap - 1;
    for (size_t i = twins_hash(device_id) & mask;; i = (i + 1) & mask) {
        struct twin *t = tt->slots[i];
        if (!t)
            return NULL;
        if (!strcmp(t->device_id, device_id))
            return t;
    }
}

static void twins_insert(struct twin **slots, size_t cap, struct twin *t)
{
    size_t mask = cap - 1;
    size_t i = twins_hash(t->device_id) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = t;
}

struct twin *twins_put(struct twins *tt, struct twin *t)
{
    if ((tt->count + 1) * 4 > tt->cap * 3) { /* load factor 0.75 */
        size_t cap = tt->cap * 2;
        struct twin **slots = tp_calloc(cap, sizeof(*slots));
        for (size_t i = 0; i < tt->cap; i++)
            if (tt->slots[i])
                twins_insert(slots, cap, tt->slots[i]);
        free(tt->slots);
        tt->slots = slots;
        tt->cap = cap;
    }
    twins_insert(tt->slots, tt->cap, t);
    tt->count++;
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

void twins_clean(struct twins *tt)
{
    for (size_t i = 0; i < tt->n_dirty; i++)
        tt->dirty[i]->dirty = false;
    tt->n_dirty = 0;
}
