/*
 * arena.h - a bump allocator for short-lived, many-small-object work: one
 * request's unpacked protobuf messages. Allocation is a pointer bump in a
 * chunk; nothing is freed singly; arena_release frees every chunk at once.
 * Also usable as a protobuf-c allocator (arena_protobuf), so unpacking a
 * batch of readings costs a few mallocs instead of several per reading.
 *
 * Bounded by its user: ingest unpacks bodies of at most ingest.max_body.
 * Thread-safety: none; an arena belongs to one thread at a time.
 *
 *     struct arena a;
 *     arena_init(&a);
 *     ProtobufCAllocator pa = arena_protobuf(&a);
 *     msg = foo__unpack(&pa, len, data);   // never free_unpacked
 *     arena_release(&a);                   // frees msg and everything in it
 */
#ifndef TP_ARENA_H
#define TP_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head; /* newest chunk first */
    size_t used;              /* bytes handed out, for tests and metrics */
};

void arena_init(struct arena *a);
/* size bytes aligned to max_align_t; aborts on out-of-memory like tp_malloc. */
void *arena_alloc(struct arena *a, size_t size);
/* Frees every chunk; the arena is empty and reusable. */
void arena_release(struct arena *a);
/* A protobuf-c allocator drawing from a (free is a no-op). */
ProtobufCAllocator arena_protobuf(struct arena *a);

#endif
