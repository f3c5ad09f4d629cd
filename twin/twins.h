/*
 * twins.h - the projector's in-memory twins: an open-addressing hash table
 * from device_id to twin, the list of dirty twins to flush, and eviction
 * of the least recently updated clean twins under a cap.
 *
 * Two forms (see pack.h): a twin changed since the last flush, or just
 * loaded, is a struct twin ("hot", on the hot list); twins_clean() - after
 * a flush - packs every hot twin into one allocation ("cold": its
 * device_id, the packed fields and its place in the LRU list) and frees
 * the struct. twins_get() unpacks a cold twin again when its device
 * reports. So memory is one packed allocation per twin plus a struct twin
 * with its metrics per twin changed since the last flush (bounded by
 * projector.flush_max_twins); bench/twins measures the bytes per twin
 * (bench/RESULTS.md).
 *
 * Eviction: cold twins sit in a list in the order they were packed, so
 * the head is the least recently updated clean twin; twins_evict() drops
 * heads until the table holds at most the cap. Their state is in
 * PostgreSQL (clean = flushed), where the projector loads them back from
 * when their devices report again. Hot twins are never evicted.
 *
 * Ownership: the table owns its twins (twins_put takes ownership). A
 * struct twin from twins_get/twins_put is borrowed, valid until
 * twins_clean, twins_pack_clean, twins_evict or twins_clear. Threads: the
 * projector's loop thread only (a flush on another thread gets the twins
 * encoded, never the table).
 *
 *     struct twins *tt = twins_new();
 *     struct twin *t = twins_get(tt, id);           // unpacks a cold twin
 *     if (!t) t = twins_put(tt, twin_new(id));
 *     if (fold_apply(t, r, hist, max_jump) == FOLD_APPLIED) twins_mark_dirty(tt, t);
 *     for (size_t i = 0; i < tt->n_dirty; i++) persist(tt->dirty[i]);
 *     twins_clean(tt);                               // packs every hot twin
 *     // or, with the flush on another thread (projector.flush_thread):
 *     twins_dirty_detach(tt); ... flush committed ...; twins_pack_clean(tt);
 *     twins_evict(tt, max_twins);
 */
#ifndef TP_TWINS_H
#define TP_TWINS_H

#include <stddef.h>
#include <stdint.h>

#include "twin.h"

struct twins_cold;

struct twins {
    uintptr_t *slots; /* struct twin * (hot), or struct twins_cold * | 1 (cold); 0 = empty */
    size_t cap;       /* power of two */
    size_t count;     /* hot and cold */
    struct twin **dirty;
    size_t n_dirty, cap_dirty;
    struct twin **hot; /* every hot twin (the dirty ones among them) */
    size_t n_hot, cap_hot;
    struct twins_cold *lru_head, *lru_tail; /* least / most recently packed */
    uint8_t *scratch;                       /* packing buffer */
    size_t cap_scratch;
};

struct twins *twins_new(void);
void twins_free(struct twins *tt);
/* Borrowed (see above), or NULL. A cold twin is unpacked (and listed as hot). */
struct twin *twins_get(struct twins *tt, const char *device_id);
/* Takes ownership of t (its device_id must be new); returns t, hot. */
struct twin *twins_put(struct twins *tt, struct twin *t);
/* Adds t (hot) to the dirty list once. */
void twins_mark_dirty(struct twins *tt, struct twin *t);
/* Clears the dirty list and the twins' dirty flags, and packs every hot twin. */
void twins_clean(struct twins *tt);
/* twins_clean in two steps, for a flush that runs while folding goes on: _detach when the
 * dirty twins were handed to the flush (clears the list and the flags; every twin stays hot,
 * so none is packed or evicted), _pack_clean once that flush committed (packs the hot twins
 * not dirty again since: a twin changed while the flush ran stays hot and dirty for the
 * next). Nothing may be detached between the two but the flush's own twins. */
void twins_dirty_detach(struct twins *tt);
void twins_pack_clean(struct twins *tt);
/* Drops the least recently updated cold twins until at most max remain (or none is cold);
 * returns how many. */
size_t twins_evict(struct twins *tt, size_t max);
/* Drops every twin. */
void twins_clear(struct twins *tt);

#endif
