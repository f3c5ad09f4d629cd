/*
 * twins.h - the projector's in-memory twins: an open-addressing hash table
 * from device_id to struct twin, plus the list of dirty twins to flush.
 *
 * Ownership: the table owns its twins (twins_put takes ownership). Threads:
 * the projector's loop thread only.
 *
 *     struct twins *tt = twins_new();
 *     struct twin *t = twins_get(tt, id);
 *     if (!t) t = twins_put(tt, twin_new(id));
 *     if (fold_apply(t, r) == FOLD_APPLIED) twins_mark_dirty(tt, t);
 *     for (size_t i = 0; i < tt->n_dirty; i++) persist(tt->dirty[i]);
 *     twins_clean(tt);
 */
#ifndef TP_TWINS_H
#define TP_TWINS_H

#include <stddef.h>

#include "twin.h"

struct twins {
    struct twin **slots;
    size_t cap; /* power of two */
    size_t count;
    struct twin **dirty;
    size_t n_dirty, cap_dirty;
};

struct twins *twins_new(void);
void twins_free(struct twins *tt);
/* Borrowed, or NULL. */
struct twin *twins_get(const struct twins *tt, const char *device_id);
/* Takes ownership of t (its device_id must be new); returns t. */
struct twin *twins_put(struct twins *tt, struct twin *t);
/* Adds t to the dirty list once. */
void twins_mark_dirty(struct twins *tt, struct twin *t);
/* Clears the dirty list and the twins' dirty flags. */
void twins_clean(struct twins *tt);
/* Drops every twin. */
void twins_clear(struct twins *tt);

#endif
