/*
 * set.c - the policy set and its evaluation (set.h).
 *
 * Entries are an array scanned linearly: a few hundred policies at most
 * (policy.max_active), device ids sorted in each policy for a binary search.
 * An entry is immutable once made and reference-counted (atomically): a
 * clone shares them, and apply replaces an entry instead of changing it, so
 * a snapshot stays valid while its source goes on.
 */
#include "policy/set.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* Immutable once in a set: sets made by policy_set_clone share entries (refs). */
struct entry {
    atomic_size_t refs;
    char *topic;
    struct policy p;
};

struct policy_set {
    struct entry **e;
    size_t n, max;
};

static void entry_unref(struct entry *e)
{
    if (atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    free(e->topic);
    policy_release(&e->p);
    free(e);
}

struct policy_set *policy_set_new(size_t max)
{
    struct policy_set *s = tp_calloc(1, sizeof(*s));
    s->max = max ? max : 1;
    return s;
}

void policy_set_free(struct policy_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        entry_unref(s->e[i]);
    free(s->e);
    free(s);
}

struct policy_set *policy_set_clone(const struct policy_set *s)
{
    struct policy_set *c = policy_set_new(s->max);
    if (s->n) {
        c->e = tp_calloc(s->n, sizeof(*c->e));
        for (size_t i = 0; i < s->n; i++) {
            atomic_fetch_add(&s->e[i]->refs, 1);
            c->e[i] = s->e[i];
        }
        c->n = s->n;
    }
    return c;
}

size_t policy_set_count(const struct policy_set *s)
{
    return s->n;
}

/* The slot of (topic, name), or NULL. */
static struct entry **find(const struct policy_set *s, const char *topic, const char *name,
                           size_t name_len)
{
    for (size_t i = 0; i < s->n; i++) {
        struct entry *e = s->e[i];
        if (!strcmp(e->topic, topic) && strlen(e->p.name) == name_len &&
            !memcmp(e->p.name, name, name_len))
            return &s->e[i];
    }
    return NULL;
}

static struct entry *entry_new(const char *topic, const struct policy *p)
{
    struct entry *e = tp_calloc(1, sizeof(*e));
    atomic_init(&e->refs, 1);
    e->topic = tp_strdup(topic);
    e->p = *p;
    return e;
}

enum tp_err policy_set_apply(struct policy_set *s, const char *topic, const char *key,
                             size_t key_len, const char *value, size_t value_len,
                             enum policy_error *code, char *errstr, size_t errstr_size)
{
    *code = POLICY_ERR_NONE;
    struct entry **e = find(s, topic, key, key_len);
    if (!value) {
        if (e) {
            entry_unref(*e);
            *e = s->e[--s->n];
        }
        return TP_OK;
    }
    struct policy p;
    enum tp_err err =
        policy_record_read(key, key_len, value, value_len, &p, code, errstr, errstr_size);
    if (err != TP_OK) {
        policy_release(&p);
        return err;
    }
    if (e) { /* a new entry: the old one may be shared with a clone */
        entry_unref(*e);
        *e = entry_new(topic, &p);
        return TP_OK;
    }
    if (s->n == s->max) {
        policy_release(&p);
        *code = POLICY_ERR_TOO_MANY_POLICIES;
        return tp_err_set(TP_TOO_LARGE, errstr, errstr_size,
                          "policy \"%.*s\" of \"%s\" is refused: %zu policies are stored already "
                          "(policy.max_active)",
                          (int)key_len, key, topic, s->max);
    }
    s->e = tp_realloc(s->e, (s->n + 1) * sizeof(*s->e));
    s->e[s->n++] = entry_new(topic, &p);
    return TP_OK;
}

const struct policy *policy_set_get(const struct policy_set *s, const char *topic, const char *name)
{
    struct entry **e = find(s, topic, name, strlen(name));
    return e ? &(*e)->p : NULL;
}

const struct policy *policy_set_at(const struct policy_set *s, size_t i, const char **topic)
{
    if (i >= s->n)
        return NULL;
    if (topic)
        *topic = s->e[i]->topic;
    return &s->e[i]->p;
}

static bool strv_has(char *const *v, size_t n, const char *x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid], x);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool policy_matches(const struct policy *p, const char *site, const struct policy_device *d)
{
    for (size_t i = 0; i < p->n_conds; i++) {
        const struct policy_cond *c = &p->conds[i];
        const char *v = d->attrs[c->attr] ? d->attrs[c->attr] : "";
        if (c->prefix ? strncmp(v, c->value, c->len) != 0 : strcmp(v, c->value) != 0)
            return false;
    }
    if (p->n_device_ids && (!d->id || !strv_has(p->device_ids, p->n_device_ids, d->id)))
        return false;
    if (p->n_sites && (!site || !strv_has(p->sites, p->n_sites, site)))
        return false;
    return true;
}

/* The nearest of p's from/until after t into *next. */
static void next_edge(const struct policy *p, int64_t t, int64_t *next)
{
    if (p->from_ms > t && p->from_ms < *next)
        *next = p->from_ms;
    if (p->until_ms > t && p->until_ms < *next)
        *next = p->until_ms;
}

void policy_set_evaluate(const struct policy_set *s, const char *site,
                         const struct policy_device *d, int64_t t, int64_t default_report_every_ms,
                         struct policy_effect *out, const struct policy **matched,
                         size_t matched_cap)
{
    out->level = POLICY_LEVEL_AGGREGATES;
    out->report_every_ms = 0;
    out->matched = 0;
    out->next_change_ms = INT64_MAX;
    for (size_t i = 0; i < s->n; i++) {
        const struct policy *p = &s->e[i]->p;
        if (!policy_matches(p, site, d))
            continue;
        next_edge(p, t, &out->next_change_ms);
        if (!policy_active(p, t))
            continue;
        if (matched && out->matched < matched_cap)
            matched[out->matched] = p;
        out->matched++;
        if (p->level > out->level)
            out->level = p->level;
        if (p->report_every_ms &&
            (!out->report_every_ms || p->report_every_ms < out->report_every_ms))
            out->report_every_ms = p->report_every_ms;
    }
    if (!out->report_every_ms)
        out->report_every_ms = default_report_every_ms;
}

int64_t policy_set_next_change(const struct policy_set *s, int64_t t)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < s->n; i++)
        next_edge(&s->e[i]->p, t, &next);
    return next;
}
