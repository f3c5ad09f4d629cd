#include "arena.h"

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
    a->head = NULL;
    a->used = 0;
}

void *arena_alloc(struct arena *a, size_t size)
{
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size == 0)
        size = ARENA_ALIGN;
    struct arena_chunk *c = a->head;
    if (!c || c->size - c->pos < size) {
        /* a large object gets a chunk of its own, behind the current one, so the
         * current chunk's free space is not wasted */
        size_t want = size > ARENA_CHUNK / 4 ? size : ARENA_CHUNK;
        struct arena_chunk *n = tp_malloc(sizeof(*n) + want);
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

void arena_release(struct arena *a)
{
    for (struct arena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    arena_init(a);
}

static void *arena_pb_alloc(void *data, size_t size)
{
    return arena_alloc(data, size);
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
