/*
 * buf.h - a growable byte buffer with a hard maximum (curl's dynbuf).
 *
 * struct buf is embedded by its owner (_init/_release). Appends past `max`
 * fail with TP_TOO_LARGE and leave the content unchanged, so every buffer
 * filled from the network is bounded. The content is always NUL-terminated
 * (the NUL is not counted in len and does not count against max).
 *
 * Thread-safety: none; a buf belongs to one thread at a time.
 *
 *     struct buf b;
 *     buf_init(&b, 1 << 20);
 *     if (buf_append(&b, data, n) != TP_OK) ...too large...
 *     use(b.data, b.len);
 *     buf_release(&b);
 */
#ifndef TP_BUF_H
#define TP_BUF_H

#include <stddef.h>

#include "err.h"

struct buf {
    char *data; /* NULL until the first append; else NUL-terminated */
    size_t len;
    size_t cap;
    size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
enum tp_err buf_append(struct buf *b, const void *data, size_t n);
enum tp_err buf_append_str(struct buf *b, const char *s);
enum tp_err buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the content out (caller frees); the buffer is left empty. */
char *buf_steal(struct buf *b, size_t *len);

#endif
