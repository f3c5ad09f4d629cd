#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_release(struct buf *b)
{
    free(b->data);
    buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static enum tp_err buf_reserve(struct buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return TP_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return TP_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    b->data = tp_realloc(b->data, cap);
    b->cap = cap;
    return TP_OK;
}

enum tp_err buf_append(struct buf *b, const void *data, size_t n)
{
    enum tp_err err = buf_reserve(b, n);
    if (err != TP_OK)
        return err;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return TP_OK;
}

enum tp_err buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

enum tp_err buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return TP_INVALID_ARG;
    enum tp_err err = buf_reserve(b, (size_t)n);
    if (err != TP_OK)
        return err;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return TP_OK;
}

char *buf_steal(struct buf *b, size_t *len)
{
    char *d = b->data;
    if (len)
        *len = b->len;
    if (!d)
        d = tp_strdup("");
    buf_init(b, b->max);
    return d;
}
