#include "arena.h"

#include <assert.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mem.h"

#define ARENA_CHUNK (32 * 1024)
#define ARENA_ALIGN alignof(max_align_t)

struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* usable bytes in data */
    size_t pos;
    alignas(max_align_t) unsigned char data[];
};

void arena_init(struct arena *a)
{
    *a = (struct arena){0};
}

void arena_set_limit(struct arena *a, size_t bytes)
{
    a->limit = bytes;
}

/* capped: NULL (and exceeded) when a new chunk would pass a->limit */
static void *arena_alloc_capped(struct arena *a, size_t size, bool capped)
{
    if (size > SIZE_MAX / 2) {
        a->exceeded = true;
        return NULL; /* protobuf-c sizes from the wire: refuse rather than wrap */
    }
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size == 0)
        size = ARENA_ALIGN;
    struct arena_chunk *c = a->head;
    if (!c || c->size - c->pos < size) {
        /* a large object gets a chunk of its own, behind the current one, so the
         * current chunk's free space is not wasted */
        size_t want = size > ARENA_CHUNK / 4 ? size : ARENA_CHUNK;
        if (capped && a->limit && (want > a->limit || a->reserved > a->limit - want)) {
            a->exceeded = true;
            return NULL;
        }
        struct arena_chunk *n = tp_malloc(sizeof(*n) + want);
        a->reserved += want;
        if (a->reserved > a->peak)
            a->peak = a->reserved;
        n->size = want;
        n->pos = 0;
        if (c && want != ARENA_CHUNK) {
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            a->head = n;
        }
        c = n;
    }
    void *p = c->data + c->pos;
    c->pos += size;
    a->used += size;
    return p;
}

void *arena_alloc(struct arena *a, size_t size)
{
    assert(size <= SIZE_MAX / 2); /* callers bound their sizes */
    return arena_alloc_capped(a, size, false);
}

void arena_release(struct arena *a)
{
    for (struct arena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    size_t limit = a->limit;
    arena_init(a);
    a->limit = limit;
}

static void *arena_pb_alloc(void *data, size_t size)
{
    return arena_alloc_capped(data, size, true);
}

static void arena_pb_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

ProtobufCAllocator arena_protobuf(struct arena *a)
{
    ProtobufCAllocator pa = {arena_pb_alloc, arena_pb_free, a};
    return pa;
}
