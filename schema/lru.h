/*
 * lru.h - a bounded, thread-safe cache of reference-counted values by
 * integer key (schema id), least recently used out first.
 *
 * Object: struct lru (heap, _new/_free) owns its values and frees them with
 * the free_fn given at creation. A value handed out by lru_get/lru_insert is
 * pinned by a reference until lru_release: eviction (or lru_free) only
 * unlinks a pinned entry, which is freed at its last release. So a caller
 * may keep using descriptors while other threads evict them.
 *
 * Threads: every function may be called from any thread (one mutex).
 *
 *     struct lru *c = lru_new(256, entry_free);
 *     struct lru_ref *ref;
 *     struct entry *e = lru_get(c, id, &ref);
 *     if (!e) e = lru_insert(c, id, fetch(id), &ref);   // takes ownership
 *     use(e); lru_release(c, ref);
 *     lru_free(c);
 */
#ifndef TP_LRU_H
#define TP_LRU_H

#include <stddef.h>
#include <stdint.h>

struct lru;
struct lru_ref;

struct lru_stats {
    uint64_t hits, misses, inserts, evictions;
    size_t size, capacity;
};

struct lru *lru_new(size_t capacity, void (*free_fn)(void *value));
/* The value of key, pinned (*ref), or NULL (counted as a miss). */
void *lru_get(struct lru *c, int64_t key, struct lru_ref **ref);
/* Takes ownership of value. When key is already present (another thread inserted it
 * first), value is freed and the present one returned. Always pinned (*ref). */
void *lru_insert(struct lru *c, int64_t key, void *value, struct lru_ref **ref);
/* Drops key now (e.g. a stale negative entry); pinned users keep their value. */
void lru_remove(struct lru *c, int64_t key);
void lru_release(struct lru *c, struct lru_ref *ref);
void lru_stats_get(struct lru *c, struct lru_stats *out);
/* Frees every unpinned value; NULL is a no-op. All references must be released first. */
void lru_free(struct lru *c);

#endif
