/*
 * arena.h - a bump allocator for short-lived, many-small-object work: one
 * request's unpacked protobuf messages. Allocation is a pointer bump in a
 * chunk; nothing is freed singly; arena_release frees every chunk at once.
 * Also usable as a protobuf-c allocator (arena_protobuf), so unpacking a
 * batch of readings costs a few mallocs instead of several per reading.
 *
 * Bounded: arena_set_limit caps the bytes its chunks may take; past the cap
 * the protobuf-c allocator returns NULL (so the unpack fails cleanly) and
 * sets `exceeded`. arena_alloc itself ignores the cap: it is for objects
 * whose count the caller already bounded. Ingest caps the unpack of a body
 * at a small multiple of the body's size (ingest/decode.c).
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
#include <stdbool.h>
#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head; /* newest chunk first */
    size_t used;              /* bytes handed out, for tests and metrics */
    size_t reserved;          /* bytes of every chunk: what the arena holds */
    size_t peak;              /* the highest `reserved` since the last release */
    size_t limit;             /* cap on `reserved` for arena_protobuf; 0 = none */
    bool exceeded;            /* an allocation was refused at the cap */
};

void arena_init(struct arena *a);
/* size bytes aligned to max_align_t; aborts on out-of-memory like tp_malloc. */
void *arena_alloc(struct arena *a, size_t size);
/* Caps `reserved` at bytes for the protobuf-c allocator (0: no cap). */
void arena_set_limit(struct arena *a, size_t bytes);
/* Frees every chunk; the arena is empty and reusable (the cap is kept). */
void arena_release(struct arena *a);
/* A protobuf-c allocator drawing from a (free is a no-op). */
ProtobufCAllocator arena_protobuf(struct arena *a);

#endif
