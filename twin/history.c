#include "history.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define HISTORY_MIN_SLOTS 1024u
#define HISTORY_ARENA_MAX ((size_t)UINT32_MAX - 1) /* offsets are uint32_t */

static uint64_t history_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t history_hash_key(uint32_t device_id, uint32_t metric, int64_t minute_ms)
{
    uint64_t h = ((uint64_t)device_id << 32 | metric) * 0x9e3779b97f4a7c15ULL;
    h ^= (uint64_t)minute_ms + 0x632be59bd9b4e019ULL + (h << 6) + (h >> 2);
    return h ^ (h >> 29);
}

struct history *history_new(void)
{
    struct history *h = tp_calloc(1, sizeof(*h));
    h->n_slots = HISTORY_MIN_SLOTS;
    h->slots = tp_calloc(h->n_slots, sizeof(*h->slots));
    h->cap_names = HISTORY_MIN_SLOTS;
    h->names = tp_calloc(h->cap_names, sizeof(*h->names));
    buf_init(&h->arena, HISTORY_ARENA_MAX);
    return h;
}

void history_free(struct history *h)
{
    if (!h)
        return;
    free(h->entries);
    free(h->slots);
    free(h->names);
    buf_release(&h->arena);
    free(h);
}

size_t history_count(const struct history *h)
{
    return h->n;
}

const char *history_str(const struct history *h, uint32_t off)
{
    assert(off < h->arena.len);
    return h->arena.data + off;
}

void history_clear(struct history *h)
{
    h->n = 0;
    memset(h->slots, 0, h->n_slots * sizeof(*h->slots));
    memset(h->names, 0, h->cap_names * sizeof(*h->names));
    h->n_names = 0;
    buf_reset(&h->arena);
}

int64_t history_minute(int64_t ts_ms)
{
    int64_t m = ts_ms / 60000;
    if (ts_ms % 60000 < 0)
        m--; /* C division truncates toward zero */
    return m * 60000;
}

/* Offset of s in the arena, storing it on first use. */
static uint32_t history_intern(struct history *h, const char *s)
{
    size_t mask = h->cap_names - 1;
    size_t i = history_hash_str(s) & mask;
    for (; h->names[i]; i = (i + 1) & mask)
        if (!strcmp(h->arena.data + h->names[i] - 1, s))
            return h->names[i] - 1;
    uint32_t off = (uint32_t)h->arena.len;
    if (buf_append(&h->arena, s, strlen(s) + 1) != TP_OK)
        abort(); /* over 4 GiB of names: history_max_rows keeps it far below */
    h->names[i] = off + 1;
    if (++h->n_names * 2 > h->cap_names) { /* load factor 0.5 */
        size_t cap = h->cap_names * 2;
        uint32_t *names = tp_calloc(cap, sizeof(*names));
        for (size_t k = 0; k < h->cap_names; k++) {
            if (!h->names[k])
                continue;
            size_t j = history_hash_str(h->arena.data + h->names[k] - 1) & (cap - 1);
            while (names[j])
                j = (j + 1) & (cap - 1);
            names[j] = h->names[k];
        }
        free(h->names);
        h->names = names;
        h->cap_names = cap;
    }
    return off;
}

static void history_slots_grow(struct history *h)
{
    size_t cap = h->n_slots * 2;
    uint32_t *slots = tp_calloc(cap, sizeof(*slots));
    for (size_t k = 0; k < h->n; k++) {
        const struct history_entry *e = &h->entries[k];
        size_t j = history_hash_key(e->device_id, e->metric, e->minute_ms) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)k + 1;
    }
    free(h->slots);
    h->slots = slots;
    h->n_slots = cap;
}

void history_add_stats(struct history *h, const char *device_id, const char *metric,
                       int64_t minute_ms, double min, double max, double sum, int64_t count)
{
    uint32_t dev = history_intern(h, device_id);
    uint32_t met = history_intern(h, metric);
    int64_t minute = history_minute(minute_ms);
    size_t mask = h->n_slots - 1;
    size_t i = history_hash_key(dev, met, minute) & mask;
    for (; h->slots[i]; i = (i + 1) & mask) {
        struct history_entry *e = &h->entries[h->slots[i] - 1];
        if (e->device_id == dev && e->metric == met && e->minute_ms == minute) {
            if (min < e->min)
                e->min = min;
            if (max > e->max)
                e->max = max;
            e->sum += sum;
            e->count += count;
            return;
        }
    }
    assert(h->n < UINT32_MAX - 1);
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : HISTORY_MIN_SLOTS;
        h->entries = tp_realloc(h->entries, h->cap * sizeof(*h->entries));
    }
    h->entries[h->n] = (struct history_entry){dev, met, minute, min, max, sum, count};
    h->slots[i] = (uint32_t)++h->n;
    if (h->n * 2 > h->n_slots) /* load factor 0.5 */
        history_slots_grow(h);
}

void history_add(struct history *h, const char *device_id, const char *metric, int64_t ts_ms,
                 double value)
{
    history_add_stats(h, device_id, metric, ts_ms, value, value, value, 1);
}
