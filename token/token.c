#include "token.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define TOKEN_TAG "t1."

struct token_pair {
    int32_t part;
    int64_t offset;
};

static int token_pair_cmp(const void *a, const void *b)
{
    int32_t x = ((const struct token_pair *)a)->part;
    int32_t y = ((const struct token_pair *)b)->part;
    return (x > y) - (x < y);
}

enum tp_err token_write(struct buf *out, const int32_t *parts, const int64_t *offsets, size_t n)
{
    struct token_pair *pairs = tp_calloc(n ? n : 1, sizeof(*pairs));
    for (size_t i = 0; i < n; i++) {
        pairs[i].part = parts[i];
        pairs[i].offset = offsets[i];
    }
    qsort(pairs, n, sizeof(*pairs), token_pair_cmp);
    enum tp_err err = buf_append_str(out, TOKEN_TAG);
    for (size_t i = 0; i < n && err == TP_OK; i++)
        err = buf_printf(out, "%s%d:%lld", i ? "," : "", pairs[i].part, (long long)pairs[i].offset);
    free(pairs);
    return err;
}

/* Digits at *p as a non-negative number up to max; advances *p. */
static bool token_number(const char **p, int64_t max, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        int d = *s - '0';
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

enum tp_err token_parse(const char *text, struct token *t, char *errstr, size_t errstr_size)
{
    t->n = 0;
    if (strlen(text) > TOKEN_TEXT_MAX || strncmp(text, TOKEN_TAG, strlen(TOKEN_TAG)) != 0)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "consistency token must look like t1.<partition>:<offset>,... (the "
                          "token of an ingest answer)");
    const char *p = text + strlen(TOKEN_TAG);
    for (;;) {
        int64_t part = 0, off = 0;
        bool ok = token_number(&p, INT32_MAX, &part) && *p == ':';
        if (ok) {
            p++;
            ok = token_number(&p, INT64_MAX, &off);
        }
        if (!ok)
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "consistency token is malformed at \"%.16s\"", p);
        if (t->n > 0 && part <= t->parts[t->n - 1])
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "consistency token partitions must be ascending");
        if (t->n == TOKEN_PARTS_MAX)
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "consistency token names more than %d partitions", TOKEN_PARTS_MAX);
        t->parts[t->n] = (int32_t)part;
        t->offsets[t->n] = off;
        t->n++;
        if (*p == '\0')
            return TP_OK;
        if (*p++ != ',')
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "consistency token is malformed at \"%.16s\"", p - 1);
    }
}

bool token_covered(const struct token *t, const int32_t *parts, const int64_t *next_offsets,
                   size_t n, size_t *missing)
{
    for (size_t i = 0; i < t->n; i++) {
        bool ok = false;
        for (size_t k = 0; k < n && !ok; k++)
            ok = parts[k] == t->parts[i] && next_offsets[k] > t->offsets[i];
        if (!ok) {
            if (missing)
                *missing = i;
            return false;
        }
    }
    return true;
}
