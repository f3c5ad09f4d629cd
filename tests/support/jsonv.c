#include "jsonv.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JV_MAX_DEPTH 64

struct jv_parser {
    const char *p;
    int depth;
};

static struct jv *jv_value(struct jv_parser *ps);

static void jv_ws(struct jv_parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\t' || *ps->p == '\r')
        ps->p++;
}

static struct jv *jv_new(enum jv_type t)
{
    struct jv *v = calloc(1, sizeof(*v));
    v->type = t;
    return v;
}

static void jv_add(struct jv *v, char *key, struct jv *item)
{
    v->items = realloc(v->items, (v->n + 1) * sizeof(*v->items));
    v->items[v->n] = item;
    if (v->type == JV_OBJ) {
        v->keys = realloc(v->keys, (v->n + 1) * sizeof(*v->keys));
        v->keys[v->n] = key;
    }
    v->n++;
}

static void jv_utf8(char **o, uint32_t cp)
{
    char *q = *o;
    if (cp < 0x80) {
        *q++ = (char)cp;
    } else if (cp < 0x800) {
        *q++ = (char)(0xc0 | (cp >> 6));
        *q++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *q++ = (char)(0xe0 | (cp >> 12));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *q++ = (char)(0xf0 | (cp >> 18));
        *q++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (char)(0x80 | (cp & 0x3f));
    }
    *o = q;
}

static char *jv_string(struct jv_parser *ps)
{
    if (*ps->p != '"')
        return NULL;
    ps->p++;
    char *out = malloc(strlen(ps->p) * 4 + 1), *o = out;
    while (*ps->p && *ps->p != '"') {
        if (*ps->p != '\\') {
            *o++ = *ps->p++;
            continue;
        }
        ps->p++;
        char c = *ps->p++;
        switch (c) {
        case 'n':
            *o++ = '\n';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case '/':
        case '\\':
        case '"':
            *o++ = c;
            break;
        case 'u': {
            char hex[5] = {0};
            memcpy(hex, ps->p, 4);
            ps->p += 4;
            uint32_t cp = (uint32_t)strtoul(hex, NULL, 16);
            if (cp >= 0xd800 && cp < 0xdc00 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                memcpy(hex, ps->p + 2, 4);
                ps->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)strtoul(hex, NULL, 16) - 0xdc00);
            }
            jv_utf8(&o, cp);
            break;
        }
        default:
            free(out);
            return NULL;
        }
    }
    if (*ps->p != '"') {
        free(out);
        return NULL;
    }
    ps->p++;
    *o = '\0';
    return out;
}

static struct jv *jv_container(struct jv_parser *ps, enum jv_type t, char close)
{
    if (++ps->depth > JV_MAX_DEPTH)
        return NULL;
    struct jv *v = jv_new(t);
    ps->p++;
    jv_ws(ps);
    if (*ps->p == close) {
        ps->p++;
        ps->depth--;
        return v;
    }
    for (;;) {
        char *key = NULL;
        jv_ws(ps);
        if (t == JV_OBJ) {
            key = jv_string(ps);
            jv_ws(ps);
            if (!key || *ps->p != ':') {
                free(key);
                goto fail;
            }
            ps->p++;
        }
        struct jv *item = jv_value(ps);
        if (!item) {
            free(key);
            goto fail;
        }
        jv_add(v, key, item);
        jv_ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            ps->depth--;
            return v;
        }
        goto fail;
    }
fail:
    jv_free(v);
    return NULL;
}

static struct jv *jv_value(struct jv_parser *ps)
{
    jv_ws(ps);
    char c = *ps->p;
    if (c == '{')
        return jv_container(ps, JV_OBJ, '}');
    if (c == '[')
        return jv_container(ps, JV_ARR, ']');
    if (c == '"') {
        char *s = jv_string(ps);
        if (!s)
            return NULL;
        struct jv *v = jv_new(JV_STR);
        v->str = s;
        return v;
    }
    if (!strncmp(ps->p, "true", 4) || !strncmp(ps->p, "false", 5)) {
        struct jv *v = jv_new(JV_BOOL);
        v->b = c == 't';
        ps->p += v->b ? 4 : 5;
        return v;
    }
    if (!strncmp(ps->p, "null", 4)) {
        ps->p += 4;
        return jv_new(JV_NULL);
    }
    char *end;
    double d = strtod(ps->p, &end);
    if (end == ps->p)
        return NULL;
    ps->p = end;
    struct jv *v = jv_new(JV_NUM);
    v->num = d;
    return v;
}

struct jv *jv_parse(const char *text)
{
    struct jv_parser ps = {text, 0};
    struct jv *v = jv_value(&ps);
    jv_ws(&ps);
    if (v && *ps.p != '\0') {
        jv_free(v);
        return NULL;
    }
    return v;
}

void jv_free(struct jv *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        jv_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

const struct jv *jv_path(const struct jv *v, const char *path)
{
    char seg[256];
    while (v && *path) {
        size_t l = strcspn(path, ".");
        if (l >= sizeof(seg))
            return NULL;
        memcpy(seg, path, l);
        seg[l] = '\0';
        path += l + (path[l] == '.');
        const struct jv *next = NULL;
        if (v->type == JV_OBJ) {
            for (size_t i = 0; i < v->n && !next; i++)
                if (!strcmp(v->keys[i], seg))
                    next = v->items[i];
        } else if (v->type == JV_ARR) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            if (*end == '\0' && i < v->n)
                next = v->items[i];
        }
        v = next;
    }
    return v;
}

static const struct jv *jv_need(const struct jv *v, const char *path, enum jv_type t)
{
    const struct jv *n = jv_path(v, path);
    ck_assert_msg(n != NULL, "json path \"%s\" is missing", path);
    ck_assert_msg(n->type == t, "json path \"%s\" has type %d, expected %d", path, n->type, t);
    return n;
}

double jv_num(const struct jv *v, const char *path)
{
    return jv_need(v, path, JV_NUM)->num;
}

const char *jv_str(const struct jv *v, const char *path)
{
    return jv_need(v, path, JV_STR)->str;
}

size_t jv_len(const struct jv *v, const char *path)
{
    const struct jv *n = jv_path(v, path);
    ck_assert_msg(n && (n->type == JV_ARR || n->type == JV_OBJ), "json path \"%s\" is no container",
                  path);
    return n->n;
}
