/*
 * mem.h - allocation wrappers that abort on out-of-memory, and a clock.
 *
 * Allocation failure is not a runtime error twinpipe tries to survive: the
 * wrappers log and abort in one place, so callers never check for NULL.
 *
 *     struct twin *t = tp_calloc(1, sizeof(*t));
 *     char *s = tp_strdup(name);
 */
#ifndef TP_MEM_H
#define TP_MEM_H

#include <stddef.h>
#include <stdint.h>

void *tp_malloc(size_t n);
void *tp_calloc(size_t nmemb, size_t size);
void *tp_realloc(void *p, size_t n);
char *tp_strdup(const char *s);
char *tp_strndup(const char *s, size_t n);

/* Wall clock in ms since the Unix epoch. */
int64_t tp_now_ms(void);
/* Monotonic clock in ms, for intervals and timeouts. */
int64_t tp_mono_ms(void);
/* Monotonic clock in microseconds (request latencies). */
int64_t tp_mono_us(void);

#endif
