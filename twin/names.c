#include "names.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define NAMES_BLOCK (64 * 1024) /* strings are carved from blocks of this size */

static struct {
    const char **strs; /* by id */
    uint32_t n, cap;
    uint32_t *slots; /* open addressing: id + 1, 0 = empty */
    size_t n_slots;  /* power of two */
    char *block;     /* the current block, and what is left of it */
    size_t left;
} names;

static uint64_t names_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void names_grow(void)
{
    size_t cap = names.n_slots ? names.n_slots * 2 : 1024;
    uint32_t *slots = tp_calloc(cap, sizeof(*slots));
    for (uint32_t id = 0; id < names.n; id++) {
        size_t i = names_hash(names.strs[id]) & (cap - 1);
        while (slots[i])
            i = (i + 1) & (cap - 1);
        slots[i] = id + 1;
    }
    free(names.slots);
    names.slots = slots;
    names.n_slots = cap;
}

/* Room for [u32 id][s\0], 4-byte aligned, in the current block or a new one. */
static char *names_store(const char *s, size_t len, uint32_t id)
{
    size_t need = (sizeof(uint32_t) + len + 1 + 3) & ~(size_t)3;
    char *p;
    if (need > NAMES_BLOCK / 4) {
        p = tp_malloc(need); /* a long one gets its own block */
    } else {
        if (need > names.left) {
            names.block = tp_malloc(NAMES_BLOCK);
            names.left = NAMES_BLOCK;
        }
        p = names.block;
        names.block += need;
        names.left -= need;
    }
    memcpy(p, &id, sizeof(id));
    memcpy(p + sizeof(id), s, len + 1);
    return p + sizeof(id);
}

const char *names_intern(const char *s)
{
    if (names.n_slots == 0)
        names_grow();
    size_t mask = names.n_slots - 1;
    size_t i = names_hash(s) & mask;
    for (; names.slots[i]; i = (i + 1) & mask) {
        const char *c = names.strs[names.slots[i] - 1];
        if (!strcmp(c, s))
            return c;
    }
    if (names.n == names.cap) {
        names.cap = names.cap ? names.cap * 2 : 256;
        names.strs = tp_realloc(names.strs, names.cap * sizeof(*names.strs));
    }
    uint32_t id = names.n++;
    names.strs[id] = names_store(s, strlen(s), id);
    names.slots[i] = id + 1;
    if ((size_t)names.n * 2 > names.n_slots) /* load factor 0.5 */
        names_grow();
    return names.strs[id];
}

uint32_t names_id(const char *interned)
{
    uint32_t id;
    memcpy(&id, interned - sizeof(id), sizeof(id));
    return id;
}

const char *names_str(uint32_t id)
{
    return id < names.n ? names.strs[id] : NULL;
}
