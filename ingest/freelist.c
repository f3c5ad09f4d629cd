/* freelist.c - a bounded free list of same-size blocks: see freelist.h. */
#include "freelist.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void freelist_init(struct freelist *f, size_t size, size_t keep)
{
    pthread_mutex_init(&f->mu, NULL);
    f->head = NULL;
    f->size = size < sizeof(void *) ? sizeof(void *) : size;
    f->n = 0;
    f->keep = keep;
}

void *freelist_get(struct freelist *f)
{
    pthread_mutex_lock(&f->mu);
    void *p = f->head;
    if (p) {
        memcpy(&f->head, p, sizeof(void *));
        f->n--;
    }
    pthread_mutex_unlock(&f->mu);
    if (!p)
        return tp_calloc(1, f->size);
    memset(p, 0, f->size);
    return p;
}

void freelist_put(struct freelist *f, void *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&f->mu);
    if (f->n < f->keep) {
        memcpy(p, &f->head, sizeof(void *));
        f->head = p;
        f->n++;
        p = NULL;
    }
    pthread_mutex_unlock(&f->mu);
    free(p);
}

size_t freelist_kept(struct freelist *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->n;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void freelist_release(struct freelist *f)
{
    void *p = f->head;
    while (p) {
        void *next;
        memcpy(&next, p, sizeof(void *));
        free(p);
        p = next;
    }
    f->head = NULL;
    f->n = 0;
    pthread_mutex_destroy(&f->mu);
}
