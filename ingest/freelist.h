/*
 * freelist.h - a bounded free list of same-size blocks, so that an object
 * made and dropped once per message (an accept call, an MQTT ticket) is
 * taken from the list instead of malloc and given back instead of free. It
 * matters most when the block is freed on another thread than the one that
 * made it (an accept call: made by the transport, freed on the delivery
 * thread), where glibc's per-thread cache does not help and each free and
 * malloc goes through the arena's bins.
 *
 * Object: struct freelist, embedded by its owner (_init/_release). It keeps
 * at most `keep` free blocks; a block given back past that is freed. Blocks
 * come back zeroed from freelist_get. Threads: any, under the list's mutex
 * (uncontended: a lock and an unlock per call).
 *
 *     freelist_init(&fl, sizeof(struct call), 1024);
 *     struct call *c = freelist_get(&fl);   // zeroed
 *     ...; freelist_put(&fl, c);            // kept for the next get, or freed
 *     freelist_release(&fl);                // frees the kept blocks
 */
#ifndef TP_INGEST_FREELIST_H
#define TP_INGEST_FREELIST_H
#include <pthread.h>
#include <stddef.h>

struct freelist {
    pthread_mutex_t mu;
    void *head; /* the kept blocks, linked through their first bytes */
    size_t size;
    size_t n, keep;
};

/* size: of every block (at least a pointer's); keep: free blocks kept at most. */
void freelist_init(struct freelist *f, size_t size, size_t keep);
/* A zeroed block of f->size bytes, kept or new; aborts when memory is out (tp_malloc). */
void *freelist_get(struct freelist *f);
/* Takes ownership of p (from freelist_get of f); NULL is a no-op. */
void freelist_put(struct freelist *f, void *p);
/* The number of kept blocks. */
size_t freelist_kept(struct freelist *f);
/* Frees the kept blocks; blocks still out are the caller's to put before (or free). */
void freelist_release(struct freelist *f);

#endif
