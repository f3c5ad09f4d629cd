/*
 * names.h - the projector's process-wide pool of interned strings: metric
 * names and attribute values (model, firmware, region). The same few
 * hundred strings repeat across millions of twins, so a twin keeps a
 * pointer (in memory) or a small id (packed, pack.h) instead of a copy.
 *
 * An interned string never moves and lives until the process exits; its id
 * is stored in the 4 bytes before it, so names_id() is a load, not a
 * lookup. The pool only grows: it holds each distinct name once, however
 * many twins use it (a device that reports a new attribute value on every
 * reading would grow it, by its length each time).
 *
 * Threads: the projector's loop thread only (tests: one thread).
 *
 *     const char *s = names_intern("speed_kmh");   // same pointer for equal strings
 *     uint32_t id = names_id(s);                    // O(1)
 *     assert(names_str(id) == s);
 */
#ifndef TP_NAMES_H
#define TP_NAMES_H

#include <stdint.h>

/* The interned copy of s (borrowed, valid for the process's life). */
const char *names_intern(const char *s);
/* Id of an interned string (only for pointers names_intern returned). */
uint32_t names_id(const char *interned);
/* The interned string of an id names_id returned, or NULL if there is none. */
const char *names_str(uint32_t id);

#endif
