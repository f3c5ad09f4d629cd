#include "search.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/service.h"

/* ---- the dictionary: metric names and attribute values, ids from 1 ---- */

struct search_dict {
    pthread_mutex_t lock; /* the writer interns while readers look up */
    char **names;         /* [id]; names[0] unused */
    uint32_t n, cap;      /* ids in use: 1..n */
    uint32_t *slots;      /* open addressing: id, 0 = empty */
    size_t n_slots;       /* power of two */
    size_t bytes;
};

static uint64_t search_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The id of s (len bytes), 0 when unknown; caller holds the lock. */
static uint32_t search_dict_find_locked(const struct search_dict *d, const char *s, size_t len)
{
    if (!d->n_slots)
        return 0;
    for (size_t i = search_hash(s, len) & (d->n_slots - 1);; i = (i + 1) & (d->n_slots - 1)) {
        uint32_t id = d->slots[i];
        if (!id)
            return 0;
        if (!strncmp(d->names[id], s, len) && d->names[id][len] == '\0')
            return id;
    }
}

static uint32_t search_dict_find(struct search_dict *d, const char *s, size_t len)
{
    pthread_mutex_lock(&d->lock);
    uint32_t id = search_dict_find_locked(d, s, len);
    pthread_mutex_unlock(&d->lock);
    return id;
}

static void search_dict_slot(struct search_dict *d, uint32_t id)
{
    const char *s = d->names[id];
    size_t i = search_hash(s, strlen(s)) & (d->n_slots - 1);
    while (d->slots[i])
        i = (i + 1) & (d->n_slots - 1);
    d->slots[i] = id;
}

static uint32_t search_dict_intern(struct search_dict *d, const char *s, size_t len)
{
    pthread_mutex_lock(&d->lock);
    uint32_t id = search_dict_find_locked(d, s, len);
    if (id) {
        pthread_mutex_unlock(&d->lock);
        return id;
    }
    if (d->n + 1 >= d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->names = tp_realloc(d->names, d->cap * sizeof(*d->names));
    }
    if ((size_t)(d->n + 1) * 2 > d->n_slots) {
        size_t old = d->n_slots;
        d->n_slots = d->n_slots ? d->n_slots * 2 : 128;
        free(d->slots);
        d->slots = tp_calloc(d->n_slots, sizeof(*d->slots));
        d->bytes += (d->n_slots - old) * sizeof(*d->slots);
        for (uint32_t k = 1; k <= d->n; k++)
            search_dict_slot(d, k);
    }
    id = ++d->n;
    d->names[id] = tp_strndup(s, len);
    d->bytes += len + 1 + sizeof(*d->names);
    search_dict_slot(d, id);
    pthread_mutex_unlock(&d->lock);
    return id;
}

static const char *search_dict_name(struct search_dict *d, uint32_t id)
{
    pthread_mutex_lock(&d->lock);
    const char *s = d->names[id];
    pthread_mutex_unlock(&d->lock);
    return s;
}

/* ---- entries ---- */

/*
 * One twin: 40 bytes plus one block of 16 bytes per metric and its id:
 *   double values[n] | uint32_t names[n] | uint32_t fps[n] | device_id NUL-terminated
 * (fps: a fingerprint of each metric's value, time and count, and loc_fp of the location:
 * what the change feed compares a new record with)
 */
struct search_entry {
    uint8_t *blk;
    int64_t last_seen_ms;
    uint32_t attr[PARAMS_N_ATTRS]; /* dictionary ids; 0 = absent */
    uint32_t n;                    /* metrics */
    uint32_t loc_fp;               /* 0: no location */
};

static inline const double *entry_values(const struct search_entry *e)
{
    return (const double *)(const void *)e->blk;
}

static inline const uint32_t *entry_names(const struct search_entry *e)
{
    return (const uint32_t *)(const void *)(e->blk + 8 * (size_t)e->n);
}

static inline const uint32_t *entry_fps(const struct search_entry *e)
{
    return (const uint32_t *)(const void *)(e->blk + 12 * (size_t)e->n);
}

static inline const char *entry_id(const struct search_entry *e)
{
    return (const char *)e->blk + 16 * (size_t)e->n;
}

static size_t entry_blk_bytes(const struct search_entry *e)
{
    return 16 * (size_t)e->n + strlen(entry_id(e)) + 1;
}

/* A position in the last_seen order: the entry's last_seen and index (ties by index, which is
 * device_id order). */
struct search_tkey {
    int64_t ls;
    uint32_t idx;
};

struct search_index {
    struct search_entry *e;     /* sorted by device_id */
    struct search_tkey *bytime; /* every entry, sorted by (last_seen, index) */
    size_t n;
    size_t blk_bytes;
    struct search_dict dict;
    const struct search_feed *feed; /* NULL: none */
};

struct search_index *search_index_new(void)
{
    struct search_index *ix = tp_calloc(1, sizeof(*ix));
    pthread_mutex_init(&ix->dict.lock, NULL);
    return ix;
}

static void search_entries_free(struct search_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].blk);
    free(e);
}

void search_index_free(struct search_index *ix)
{
    if (!ix)
        return;
    search_entries_free(ix->e, ix->n);
    free(ix->bytime);
    for (uint32_t k = 1; k <= ix->dict.n; k++)
        free(ix->dict.names[k]);
    free(ix->dict.names);
    free(ix->dict.slots);
    pthread_mutex_destroy(&ix->dict.lock);
    free(ix);
}

void search_index_set_feed(struct search_index *ix, const struct search_feed *feed)
{
    ix->feed = feed;
}

size_t search_index_count(const struct search_index *ix)
{
    return ix->n;
}

size_t search_index_bytes(const struct search_index *ix)
{
    /* the blocks' allocator overhead is estimated at 16 bytes each */
    return ix->n * (sizeof(struct search_entry) + sizeof(struct search_tkey) + 16) + ix->blk_bytes +
           ix->dict.bytes + sizeof(*ix);
}

/* Rows decoded into entries, before they become visible. */
struct search_stage {
    struct search_entry *e;
    size_t n, cap;
    size_t bad;
    bool reload;                 /* every row: no change feed */
    struct twin_view_metric *vm; /* the view's metrics array */
    bool *mchg;                  /* the change feed's metric_changed */
};

static void search_stage_init(struct search_stage *st)
{
    memset(st, 0, sizeof(*st));
    st->vm = tp_malloc(TWIN_VIEW_METRICS_MAX * sizeof(*st->vm));
    st->mchg = tp_malloc(TWIN_VIEW_METRICS_MAX * sizeof(*st->mchg));
}

static void search_stage_release(struct search_stage *st)
{
    search_entries_free(st->e, st->n);
    free(st->vm);
    free(st->mchg);
    memset(st, 0, sizeof(*st));
}

static bool search_id_ok(const char *id, size_t len)
{
    char tmp[PARAMS_ID_MAX + 1];
    if (len == 0 || len > PARAMS_ID_MAX || memchr(id, '\0', len))
        return false;
    memcpy(tmp, id, len);
    tmp[len] = '\0';
    return params_device_id_ok(tmp);
}

static uint32_t search_fp(const void *p, size_t len)
{
    uint64_t h = search_hash(p, len);
    uint32_t f = (uint32_t)(h ^ (h >> 32));
    return f ? f : 1; /* 0 means absent */
}

static uint32_t search_metric_fp(const struct twin_view_metric *m)
{
    struct {
        double v;
        int64_t ts, count;
    } k = {m->value, m->ts_ms, m->count};
    return search_fp(&k, sizeof(k));
}

static uint32_t search_loc_fp(const struct twin_view *v)
{
    if (!v->has_location)
        return 0;
    struct {
        double loc[TWIN_LOC_N];
        int64_t ts;
        unsigned mask;
    } k;
    memset(&k, 0, sizeof(k));
    for (int i = 0; i < TWIN_LOC_N; i++)
        k.loc[i] = v->loc_mask & (1u << i) ? v->loc[i] : 0;
    k.ts = v->location_ts_ms;
    k.mask = v->loc_mask;
    return search_fp(&k, sizeof(k));
}

static size_t search_lower_bound(const struct search_index *ix, const char *id);

/* The change feed's call for entry e (its view v) against the entry the index holds. */
static void search_feed_change(struct search_index *ix, struct search_stage *st,
                               const struct search_entry *e, const struct twin_view *v,
                               int64_t version)
{
    const char *id = entry_id(e);
    size_t k = search_lower_bound(ix, id);
    const struct search_entry *old =
        k < ix->n && !strcmp(entry_id(&ix->e[k]), id) ? &ix->e[k] : NULL;
    struct search_change c = {id, version, v, 0, st->mchg};
    if (!old) {
        c.changed = SEARCH_CHANGED_NEW | SEARCH_CHANGED_LAST_SEEN | SEARCH_CHANGED_ATTRIBUTES |
                    (v->has_location ? SEARCH_CHANGED_LOCATION : 0);
        for (size_t i = 0; i < v->n_metrics; i++)
            st->mchg[i] = true;
    } else {
        if (old->last_seen_ms != e->last_seen_ms)
            c.changed |= SEARCH_CHANGED_LAST_SEEN;
        if (old->loc_fp != e->loc_fp)
            c.changed |= SEARCH_CHANGED_LOCATION;
        if (memcmp(old->attr, e->attr, sizeof(old->attr)) != 0)
            c.changed |= SEARCH_CHANGED_ATTRIBUTES;
        /* the entry's metrics are the view's finite ones, in its order */
        const uint32_t *on = entry_names(old), *ofp = entry_fps(old), *nn = entry_names(e),
                       *nfp = entry_fps(e);
        size_t j = 0;
        for (size_t i = 0; i < v->n_metrics; i++) {
            const struct twin_view_metric *m = &v->metrics[i];
            st->mchg[i] = true;
            if (!isfinite(m->value) || !m->name.p)
                continue; /* not held: reported as changed */
            uint32_t name = nn[j], fp = nfp[j];
            j++;
            for (uint32_t q = 0; q < old->n; q++)
                if (on[q] == name) {
                    st->mchg[i] = ofp[q] != fp;
                    break;
                }
        }
    }
    ix->feed->change(ix->feed->arg, &c);
}

static void search_stage_add(struct search_index *ix, struct search_stage *st,
                             const struct search_row *r)
{
    char errstr[256];
    struct twin_view v = {.metrics = st->vm, .cap_metrics = TWIN_VIEW_METRICS_MAX};
    if (!search_id_ok(r->id, r->id_len) ||
        twin_record_view(&v, r->state, r->state_len, errstr, sizeof(errstr)) != TP_OK) {
        st->bad++;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < v.n_metrics; i++)
        if (isfinite(v.metrics[i].value) && v.metrics[i].name.p)
            n++;
    struct search_entry e = {
        .last_seen_ms = v.last_seen_ms, .n = (uint32_t)n, .loc_fp = search_loc_fp(&v)};
    e.blk = tp_malloc(16 * n + r->id_len + 1);
    double *vals = (double *)(void *)e.blk;
    uint32_t *names = (uint32_t *)(void *)(e.blk + 8 * n);
    uint32_t *fps = (uint32_t *)(void *)(e.blk + 12 * n);
    size_t k = 0;
    for (size_t i = 0; i < v.n_metrics; i++) {
        const struct twin_view_metric *m = &v.metrics[i];
        if (!isfinite(m->value) || !m->name.p)
            continue;
        vals[k] = m->value;
        names[k] = search_dict_intern(&ix->dict, m->name.p, m->name.len);
        fps[k] = search_metric_fp(m);
        k++;
    }
    memcpy(e.blk + 16 * n, r->id, r->id_len);
    e.blk[16 * n + r->id_len] = '\0';
    const struct twin_str *attrs[PARAMS_N_ATTRS];
    attrs[PARAMS_MODEL] = &v.model;
    attrs[PARAMS_REGION] = &v.region;
    attrs[PARAMS_FIRMWARE] = &v.firmware;
    for (int a = 0; a < PARAMS_N_ATTRS; a++)
        e.attr[a] = attrs[a]->p ? search_dict_intern(&ix->dict, attrs[a]->p, attrs[a]->len) : 0;
    if (ix->feed && !st->reload)
        search_feed_change(ix, st, &e, &v, v.events);
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 1024;
        st->e = tp_realloc(st->e, st->cap * sizeof(*st->e));
    }
    st->e[st->n++] = e;
}

static int search_entry_cmp(const void *a, const void *b)
{
    return strcmp(entry_id(a), entry_id(b));
}

/* The first entry whose id is >= id (n when none). */
static size_t search_lower_bound(const struct search_index *ix, const char *id)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(entry_id(&ix->e[mid]), id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int search_tkey_cmp(const void *a, const void *b)
{
    const struct search_tkey *x = a, *y = b;
    if (x->ls != y->ls)
        return x->ls < y->ls ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* The last_seen order of entries e (n) built afresh. */
static struct search_tkey *search_bytime_build(const struct search_entry *e, size_t n)
{
    struct search_tkey *t = tp_malloc((n ? n : 1) * sizeof(*t));
    for (size_t i = 0; i < n; i++)
        t[i] = (struct search_tkey){e[i].last_seen_ms, (uint32_t)i};
    if (n)
        qsort(t, n, sizeof(*t), search_tkey_cmp);
    return t;
}

/* The last_seen order after the entries at at[0..k) got new last_seen values ls[0..k): the
 * old order without them, merged with them sorted (O(n + k log k)). */
static struct search_tkey *search_bytime_update(const struct search_index *ix, const size_t *at,
                                                const struct search_entry *staged, size_t k)
{
    uint8_t *changed = tp_calloc(ix->n / 8 + 1, 1);
    struct search_tkey *upd = tp_malloc((k ? k : 1) * sizeof(*upd));
    for (size_t i = 0; i < k; i++) {
        changed[at[i] / 8] |= (uint8_t)(1u << (at[i] % 8));
        upd[i] = (struct search_tkey){staged[i].last_seen_ms, (uint32_t)at[i]};
    }
    if (k)
        qsort(upd, k, sizeof(*upd), search_tkey_cmp);
    struct search_tkey *t = tp_malloc((ix->n ? ix->n : 1) * sizeof(*t));
    size_t o = 0, u = 0, w = 0;
    while (o < ix->n || u < k) {
        if (o < ix->n && (changed[ix->bytime[o].idx / 8] >> (ix->bytime[o].idx % 8)) & 1) {
            o++;
            continue;
        }
        if (u < k && (o == ix->n || search_tkey_cmp(&upd[u], &ix->bytime[o]) < 0))
            t[w++] = upd[u++];
        else
            t[w++] = ix->bytime[o++];
    }
    free(changed);
    free(upd);
    return t;
}

static void search_nolock(void *arg, bool on)
{
    (void)arg;
    (void)on;
}

/* Makes the staged entries visible (st is emptied). */
static void search_stage_commit(struct search_index *ix, struct search_stage *st, bool reload,
                                void (*lock)(void *arg, bool on), void *lock_arg)
{
    if (!lock)
        lock = search_nolock;
    if (!reload && st->n == 0)
        return; /* nothing changed: not even the last_seen order is copied */
    if (st->n)
        qsort(st->e, st->n, sizeof(*st->e), search_entry_cmp);
    size_t added_bytes = 0;
    for (size_t i = 0; i < st->n; i++)
        added_bytes += entry_blk_bytes(&st->e[i]);
    if (reload) {
        struct search_entry *old = ix->e;
        struct search_tkey *old_t = ix->bytime, *t = search_bytime_build(st->e, st->n);
        size_t old_n = ix->n;
        lock(lock_arg, true);
        ix->e = st->e;
        ix->bytime = t;
        ix->n = st->n;
        ix->blk_bytes = added_bytes;
        lock(lock_arg, false);
        search_entries_free(old, old_n);
        free(old_t);
        st->e = NULL;
        st->n = st->cap = 0;
        return;
    }
    /* where each staged entry goes: its index in ix->e, or SIZE_MAX when new */
    size_t *at = tp_malloc((st->n ? st->n : 1) * sizeof(*at));
    size_t inserts = 0;
    for (size_t i = 0; i < st->n; i++) {
        size_t k = search_lower_bound(ix, entry_id(&st->e[i]));
        at[i] = k < ix->n && !strcmp(entry_id(&ix->e[k]), entry_id(&st->e[i])) ? k : SIZE_MAX;
        inserts += at[i] == SIZE_MAX;
    }
    uint8_t **gone = tp_malloc((st->n ? st->n : 1) * sizeof(*gone));
    size_t n_gone = 0, gone_bytes = 0;
    if (inserts == 0) {
        for (size_t i = 0; i < st->n; i++)
            gone_bytes += entry_blk_bytes(&ix->e[at[i]]);
        struct search_tkey *old_t = ix->bytime, *t = search_bytime_update(ix, at, st->e, st->n);
        lock(lock_arg, true);
        ix->bytime = t;
        for (size_t i = 0; i < st->n; i++) {
            gone[n_gone++] = ix->e[at[i]].blk;
            ix->e[at[i]] = st->e[i];
        }
        ix->blk_bytes += added_bytes - gone_bytes;
        lock(lock_arg, false);
        free(old_t);
    } else {
        /* merge into a new array (readers keep the old one until the swap) */
        size_t n = ix->n + inserts, o = 0, s = 0, w = 0;
        struct search_entry *merged = tp_malloc(n * sizeof(*merged));
        while (o < ix->n || s < st->n) {
            int c = o == ix->n   ? 1
                    : s == st->n ? -1
                                 : strcmp(entry_id(&ix->e[o]), entry_id(&st->e[s]));
            if (c < 0) {
                merged[w++] = ix->e[o++];
            } else if (c > 0) {
                merged[w++] = st->e[s++];
            } else {
                gone_bytes += entry_blk_bytes(&ix->e[o]);
                gone[n_gone++] = ix->e[o++].blk;
                merged[w++] = st->e[s++];
            }
        }
        struct search_entry *old = ix->e;
        struct search_tkey *old_t = ix->bytime, *t = search_bytime_build(merged, w);
        lock(lock_arg, true);
        ix->e = merged;
        ix->bytime = t;
        ix->n = w;
        ix->blk_bytes += added_bytes - gone_bytes;
        lock(lock_arg, false);
        free(old);
        free(old_t);
    }
    for (size_t i = 0; i < n_gone; i++)
        free(gone[i]);
    free(gone);
    free(at);
    free(st->e);
    st->e = NULL;
    st->n = st->cap = 0;
}

void search_index_apply(struct search_index *ix, const struct search_row *rows, size_t n,
                        bool reload, void (*lock)(void *arg, bool on), void *lock_arg, size_t *bad)
{
    struct search_stage st;
    search_stage_init(&st);
    st.reload = reload;
    for (size_t i = 0; i < n; i++)
        search_stage_add(ix, &st, &rows[i]);
    if (bad)
        *bad = st.bad;
    search_stage_commit(ix, &st, reload, lock, lock_arg);
    search_stage_release(&st);
    if (ix->feed)
        ix->feed->end(ix->feed->arg, true, reload);
}

/* ---- reading: filters, pages, summary ---- */

static int64_t search_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

struct search_filter {
    bool never; /* a filter names a value no twin has */
    uint32_t attr[PARAMS_N_ATTRS];
    size_t n_metrics;
    uint32_t metric[PARAMS_METRIC_FILTERS];
    enum params_op op[PARAMS_METRIC_FILTERS];
    double value[PARAMS_METRIC_FILTERS];
    bool has_from, has_to;
    int64_t from_us, to_us; /* from <= last_seen_us < to */
};

static void search_filter_init(struct search_index *ix, const struct list_params *p, int64_t now_ms,
                               long online_window_s, struct search_filter *f)
{
    memset(f, 0, sizeof(*f));
    for (int a = 0; a < PARAMS_N_ATTRS; a++) {
        if (!p->attrs[a])
            continue;
        f->attr[a] = search_dict_find(&ix->dict, p->attrs[a], strlen(p->attrs[a]));
        if (!f->attr[a])
            f->never = true;
    }
    for (size_t i = 0; i < p->n_metrics; i++) {
        f->metric[i] = search_dict_find(&ix->dict, p->metrics[i].name, strlen(p->metrics[i].name));
        f->op[i] = p->metrics[i].op;
        f->value[i] = p->metrics[i].value;
        if (!f->metric[i])
            f->never = true;
    }
    f->n_metrics = p->n_metrics;
    if (p->has_after) {
        f->has_from = true;
        f->from_us = p->after_us;
    }
    if (p->has_before) {
        f->has_to = true;
        f->to_us = p->before_us;
    }
    if (p->status != STATUS_ANY) {
        int64_t edge_us = (now_ms - (int64_t)online_window_s * 1000) * 1000;
        if (p->status == STATUS_ONLINE) { /* last_seen >= now - window */
            if (!f->has_from || edge_us > f->from_us)
                f->from_us = edge_us;
            f->has_from = true;
        } else if (!f->has_to || edge_us < f->to_us) {
            f->to_us = edge_us;
            f->has_to = true;
        }
    }
}

static bool search_match(const struct search_filter *f, const struct search_entry *e)
{
    for (int a = 0; a < PARAMS_N_ATTRS; a++)
        if (f->attr[a] && e->attr[a] != f->attr[a])
            return false;
    int64_t us = e->last_seen_ms * 1000;
    if ((f->has_from && us < f->from_us) || (f->has_to && us >= f->to_us))
        return false;
    if (f->n_metrics) {
        const uint32_t *names = entry_names(e);
        const double *vals = entry_values(e);
        for (size_t i = 0; i < f->n_metrics; i++) {
            uint32_t k = 0;
            while (k < e->n && names[k] != f->metric[i])
                k++;
            if (k == e->n)
                return false;
            double v = vals[k];
            bool ok = false;
            switch (f->op[i]) {
            case OP_LT:
                ok = v < f->value[i];
                break;
            case OP_LE:
                ok = v <= f->value[i];
                break;
            case OP_GT:
                ok = v > f->value[i];
                break;
            case OP_GE:
                ok = v >= f->value[i];
                break;
            }
            if (!ok)
                return false;
        }
    }
    return true;
}

static void search_hit_set(struct search_hit *h, const struct search_entry *e)
{
    snprintf(h->device_id, sizeof(h->device_id), "%s", entry_id(e));
    h->last_seen_us = e->last_seen_ms * 1000;
}

size_t search_index_page(const struct search_index *cix, const struct list_params *p,
                         const struct cursor *after, int64_t now_ms, long online_window_s,
                         struct search_hit *hits)
{
    struct search_index *ix = (struct search_index *)cix; /* the dictionary's lock */
    struct search_filter f;
    size_t want = (size_t)p->limit + 1, got = 0;
    search_filter_init(ix, p, now_ms, online_window_s, &f);
    if (f.never)
        return 0;
    bool desc = p->sort == SORT_DEVICE_ID_DESC || p->sort == SORT_LAST_SEEN_DESC;
    if (p->sort == SORT_DEVICE_ID || p->sort == SORT_DEVICE_ID_DESC) {
        if (!desc) {
            size_t i = 0;
            if (after) {
                i = search_lower_bound(ix, after->device_id);
                if (i < ix->n && !strcmp(entry_id(&ix->e[i]), after->device_id))
                    i++;
            }
            for (; i < ix->n && got < want; i++)
                if (search_match(&f, &ix->e[i]))
                    search_hit_set(&hits[got++], &ix->e[i]);
        } else {
            size_t i = after ? search_lower_bound(ix, after->device_id) : ix->n;
            while (i > 0 && got < want) {
                i--;
                if (search_match(&f, &ix->e[i]))
                    search_hit_set(&hits[got++], &ix->e[i]);
            }
        }
        return got;
    }
    /*
     * The last_seen order (ties by index = device_id order): walk it from the cursor's key in
     * the sort's direction until the page is full. An entry (ls, id) comes after the cursor
     * (ls_c, id_c) ascending iff (ls, index) >= (ls_c, first index with id > id_c), and
     * descending iff (ls, index) < (ls_c, first index with id >= id_c).
     */
    size_t pos = desc ? ix->n : 0;
    if (after) {
        struct search_tkey key;
        key.ls = search_floor_div(after->last_seen_us, 1000);
        if (key.ls * 1000 != after->last_seen_us) { /* between two ms: no tie possible */
            key.ls++;
            key.idx = 0;
        } else {
            size_t lb = search_lower_bound(ix, after->device_id);
            if (!desc && lb < ix->n && !strcmp(entry_id(&ix->e[lb]), after->device_id))
                lb++;
            key.idx = (uint32_t)lb;
        }
        size_t lo = 0, hi = ix->n; /* first position >= key */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (search_tkey_cmp(&ix->bytime[mid], &key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        pos = lo;
    }
    if (desc) {
        while (pos > 0 && got < want) {
            const struct search_entry *e = &ix->e[ix->bytime[--pos].idx];
            if (search_match(&f, e))
                search_hit_set(&hits[got++], e);
        }
    } else {
        for (; pos < ix->n && got < want; pos++) {
            const struct search_entry *e = &ix->e[ix->bytime[pos].idx];
            if (search_match(&f, e))
                search_hit_set(&hits[got++], e);
        }
    }
    return got;
}

static int search_group_cmp(const void *a, const void *b)
{
    const struct search_group *x = a, *y = b;
    if (!x->key || !y->key)
        return !x->key - !y->key; /* null last */
    return strcmp(x->key, y->key);
}

size_t search_index_summary(const struct search_index *cix, const struct summary_params *p,
                            int64_t now_ms, long online_window_s, struct search_group *groups,
                            size_t max_groups)
{
    struct search_index *ix = (struct search_index *)cix;
    int slot = -1;
    for (int a = 0; a < PARAMS_N_ATTRS; a++)
        if (p->group_by[0] && !strcmp(p->group_by, params_attr_names[a]))
            slot = a;
    uint32_t metric = p->metric[0] ? search_dict_find(&ix->dict, p->metric, strlen(p->metric)) : 0;
    pthread_mutex_lock(&ix->dict.lock);
    uint32_t n_names = ix->dict.n;
    pthread_mutex_unlock(&ix->dict.lock);
    /* one accumulator per attribute value id (0: null); ids are dense */
    size_t n_acc = slot >= 0 ? (size_t)n_names + 1 : 1;
    struct search_group *acc = tp_calloc(n_acc, sizeof(*acc));
    int64_t edge_ms = now_ms - (int64_t)online_window_s * 1000;
    for (size_t i = 0; i < ix->n; i++) {
        const struct search_entry *e = &ix->e[i];
        uint32_t g = slot >= 0 ? e->attr[slot] : 0;
        if (g >= n_acc)
            g = 0; /* cannot happen: interned before the entry was visible */
        struct search_group *a = &acc[g];
        a->devices++;
        a->online += e->last_seen_ms >= edge_ms;
        if (!metric)
            continue;
        const uint32_t *names = entry_names(e);
        for (uint32_t k = 0; k < e->n; k++) {
            if (names[k] != metric)
                continue;
            double v = entry_values(e)[k];
            if (!a->metric_devices || v < a->min)
                a->min = v;
            if (!a->metric_devices || v > a->max)
                a->max = v;
            a->sum += v;
            a->metric_devices++;
            break;
        }
    }
    size_t total = 0;
    for (size_t g = 0; g < n_acc; g++) {
        if (!acc[g].devices)
            continue;
        acc[g].key = g ? search_dict_name(&ix->dict, (uint32_t)g) : NULL;
        acc[total++] = acc[g];
    }
    qsort(acc, total, sizeof(*acc), search_group_cmp);
    for (size_t g = 0; g < total && g < max_groups; g++)
        groups[g] = acc[g];
    free(acc);
    return total;
}

/* ---- the service object: refresh thread, waiting requests ---- */

#define SEARCH_FETCH_ROWS    10000
#define SEARCH_SUMMARY_CACHE 8

/* A summary computed from one version of the index (valid until the next refresh). */
struct search_summary_memo {
    bool used;
    uint64_t version;
    struct summary_params p;
    long online_window_s;
    size_t max_groups, total;
    struct search_group *g; /* min(total, max_groups) */
};

struct search {
    struct search_settings s;
    struct service_beat *beat; /* the refresh thread's */
    char *dsn, *group, *topic;
    struct search_index *ix;
    pthread_rwlock_t rw; /* readers: pages and summaries; writer: the refresh's commit */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool started;
    /* under lock */
    bool stopping, loaded, unreachable;
    int32_t *parts;
    int64_t *next;
    size_t n_off, cap_off;
    struct waiter_entry *head;
    size_t n_waiting;
    int64_t snap_mono_ms;   /* when the visible index's snapshot was taken */
    double snap_xmax;       /* pg_snapshot_xmax of it */
    double last_refresh_ms; /* duration of the latest refresh */
    uint64_t refreshes, reloads, failures, rows_read, bad_rows;
    /* the thread's own */
    PGconn *db;
    char *prev;   /* the previous snapshot (pg_snapshot text) */
    char rel[64]; /* "oid/filenode" of twins at the previous snapshot */
    struct http_request **release;
    struct metrics_histogram refresh_hist;
    pthread_mutex_t memo_lock;
    struct search_summary_memo memo[SEARCH_SUMMARY_CACHE];
    size_t memo_next;
};

static void search_rwlock(void *arg, bool on)
{
    struct search *s = arg;
    if (on)
        pthread_rwlock_wrlock(&s->rw);
    else
        pthread_rwlock_unlock(&s->rw);
}

static const char search_snapshot_sql[] =
    "SELECT pg_current_snapshot()::text, pg_snapshot_xmax(pg_current_snapshot())::text,"
    " c.oid::text || '/' || pg_relation_filenode(c.oid)::text"
    " FROM pg_class c WHERE c.oid = to_regclass('twins')";
static const char search_offsets_sql[] = "SELECT partition, next_offset FROM projector_offsets"
                                         " WHERE consumer_group = $1 AND topic = $2";
static const char search_all_sql[] =
    "DECLARE search_rows BINARY NO SCROLL CURSOR FOR SELECT device_id, state FROM twins";
static const char search_delta_sql[] =
    "DECLARE search_rows BINARY NO SCROLL CURSOR FOR SELECT device_id, state FROM twins"
    " WHERE written_xid >= pg_snapshot_xmin($1::pg_snapshot)"
    " AND NOT pg_visible_in_snapshot(written_xid, $1::pg_snapshot)";
#define SEARCH_STR(x)  #x
#define SEARCH_XSTR(x) SEARCH_STR(x)
static const char search_fetch_sql[] = "FETCH " SEARCH_XSTR(SEARCH_FETCH_ROWS) " FROM search_rows";

/* One refresh; false on a database error (logged). */
static bool search_refresh(struct search *s)
{
    char errstr[512];
    PGresult *res = NULL;
    bool ok = false, in_tx = false;
    struct search_stage st;
    int32_t *parts = NULL;
    int64_t *next = NULL;
    size_t n_off = 0;
    char *snap = NULL;
    double xmax = 0;
    char rel[64];
    size_t rows = 0;
    int64_t t0 = tp_mono_ms();
    search_stage_init(&st);
    if (!s->db) {
        bool down = pg_connect(s->dsn, "tp-query-search", &s->db, errstr, sizeof(errstr)) != TP_OK;
        pthread_mutex_lock(&s->lock);
        s->unreachable = down;
        pthread_mutex_unlock(&s->lock);
        if (down)
            goto fail;
        char set[64];
        snprintf(set, sizeof(set), "SET statement_timeout = %d", s->s.statement_timeout_ms);
        if (pg_command(s->db, set, errstr, sizeof(errstr)) != TP_OK)
            goto fail;
    }
    if (pg_command(s->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", errstr,
                   sizeof(errstr)) != TP_OK)
        goto fail;
    in_tx = true;
    if (pg_exec_params(s->db, search_snapshot_sql, 0, NULL, PGRES_TUPLES_OK, &res, errstr,
                       sizeof(errstr)) != TP_OK)
        goto fail;
    if (PQntuples(res) != 1) {
        snprintf(errstr, sizeof(errstr), "there is no table \"twins\" (migrations not run?)");
        goto fail;
    }
    snap = tp_strdup(PQgetvalue(res, 0, 0));
    xmax = strtod(PQgetvalue(res, 0, 1), NULL);
    snprintf(rel, sizeof(rel), "%s", PQgetvalue(res, 0, 2));
    PQclear(res);
    res = NULL;
    const char *op[] = {s->group, s->topic};
    if (pg_exec_params(s->db, search_offsets_sql, 2, op, PGRES_TUPLES_OK, &res, errstr,
                       sizeof(errstr)) != TP_OK)
        goto fail;
    n_off = (size_t)PQntuples(res);
    parts = tp_calloc(n_off ? n_off : 1, sizeof(*parts));
    next = tp_calloc(n_off ? n_off : 1, sizeof(*next));
    for (size_t i = 0; i < n_off; i++) {
        parts[i] = (int32_t)atol(PQgetvalue(res, (int)i, 0));
        next[i] = atoll(PQgetvalue(res, (int)i, 1));
    }
    PQclear(res);
    res = NULL;
    bool reload = !s->prev || strcmp(rel, s->rel) != 0;
    /* the same snapshot (same xmin, xmax and in-progress list): nothing committed since */
    bool same = !reload && !strcmp(snap, s->prev);
    const char *dp[] = {s->prev};
    st.reload = reload;
    if (same)
        goto read;
    if (pg_exec_params(s->db, reload ? search_all_sql : search_delta_sql, reload ? 0 : 1, dp,
                       PGRES_COMMAND_OK, NULL, errstr, sizeof(errstr)) != TP_OK)
        goto fail;
    for (;;) {
        res = PQexecParams(s->db, search_fetch_sql, 0, NULL, NULL, NULL, NULL, 1);
        if (pg_check(s->db, res, PGRES_TUPLES_OK, &res, errstr, sizeof(errstr)) != TP_OK) {
            res = NULL;
            goto fail;
        }
        int n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            struct search_row r = {PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0),
                                   (const uint8_t *)PQgetvalue(res, i, 1),
                                   (size_t)PQgetlength(res, i, 1)};
            search_stage_add(s->ix, &st, &r);
        }
        rows += (size_t)n;
        PQclear(res);
        res = NULL;
        if (n < SEARCH_FETCH_ROWS)
            break;
    }
read:
    if (pg_command(s->db, "COMMIT", errstr, sizeof(errstr)) != TP_OK)
        goto fail;
    in_tx = false;
    if (st.bad)
        log_warn("search index: %zu twin rows with an unreadable record skipped", st.bad);
    size_t bad = st.bad;
    search_stage_commit(s->ix, &st, reload, search_rwlock, s);
    if (s->ix->feed && (reload || !same))
        s->ix->feed->end(s->ix->feed->arg, true, reload);
    free(s->prev);
    s->prev = snap;
    snap = NULL;
    snprintf(s->rel, sizeof(s->rel), "%s", rel);
    double took = (double)(tp_mono_ms() - t0);
    metrics_histogram_observe(&s->refresh_hist, took);
    pthread_mutex_lock(&s->lock);
    free(s->parts);
    free(s->next);
    s->parts = parts;
    s->next = next;
    s->n_off = n_off;
    parts = NULL;
    next = NULL;
    s->loaded = true;
    s->snap_mono_ms = t0;
    s->snap_xmax = xmax;
    s->last_refresh_ms = took;
    s->refreshes++;
    s->reloads += reload;
    s->rows_read += rows;
    s->bad_rows += bad;
    pthread_mutex_unlock(&s->lock);
    ok = true;
    goto out;
fail:
    log_warn("search index: refresh failed: %s", errstr);
    if (s->ix->feed)
        s->ix->feed->end(s->ix->feed->arg, false, false);
    PQclear(res);
    if (s->db && PQstatus(s->db) != CONNECTION_OK) {
        PQfinish(s->db);
        s->db = NULL;
    } else if (s->db && in_tx) {
        pg_command(s->db, "ROLLBACK", errstr, sizeof(errstr));
    }
    pthread_mutex_lock(&s->lock);
    s->failures++;
    pthread_mutex_unlock(&s->lock);
out:
    search_stage_release(&st);
    free(snap);
    free(parts);
    free(next);
    return ok;
}

static bool search_covers_locked(struct search *s, const struct token *t, size_t *missing)
{
    return s->loaded && token_covered(t, s->parts, s->next, s->n_off, missing);
}

/* Takes the finished entries out of the list (caller holds lock); returns how many. */
static size_t search_sweep(struct search *s, int64_t now, struct http_request **release)
{
    size_t n = 0;
    struct waiter_entry **pp = &s->head;
    while (*pp) {
        struct waiter_entry *e = *pp;
        size_t missing = 0;
        if (s->stopping) {
            e->outcome = WAIT_SHUTDOWN;
        } else if (search_covers_locked(s, &e->token, &missing)) {
            e->outcome = WAIT_COVERED;
        } else if (now >= e->deadline_ms) {
            e->outcome = WAIT_TIMEOUT;
            if (!s->loaded) {
                snprintf(e->detail, sizeof(e->detail), "the search index is not loaded yet");
            } else {
                int32_t part = e->token.parts[missing];
                long long at = -1;
                for (size_t k = 0; k < s->n_off; k++)
                    if (s->parts[k] == part)
                        at = (long long)s->next[k];
                /* as the waiter words it: the index's view of the projector */
                if (at < 0)
                    snprintf(e->detail, sizeof(e->detail),
                             "partition %d: the token needs offset %lld, the projector is at "
                             "no offset",
                             part, (long long)e->token.offsets[missing]);
                else
                    snprintf(e->detail, sizeof(e->detail),
                             "partition %d: the token needs offset %lld, the projector is at "
                             "next offset %lld",
                             part, (long long)e->token.offsets[missing], at);
            }
        }
        if (e->outcome == WAIT_PENDING) {
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        s->n_waiting--;
        if (e->w)
            waiter_count(e->w, e->outcome);
        release[n++] = e->req;
    }
    return n;
}

static void *search_main(void *arg)
{
    struct search *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        pthread_mutex_unlock(&s->lock);
        service_beat(s->beat); /* a refresh that never comes back (a hung connection) shows */
        search_refresh(s);
        pthread_mutex_lock(&s->lock);
        size_t n = search_sweep(s, tp_mono_ms(), s->release);
        pthread_mutex_unlock(&s->lock);
        for (size_t i = 0; i < n; i++)
            http_request_resume(s->release[i]);
        pthread_mutex_lock(&s->lock);
        if (s->stopping)
            break;
        /* while requests wait and the database answers: soon; else at the interval */
        int wait_ms = s->head && !s->unreachable ? s->s.min_gap_ms : s->s.refresh_ms;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        until.tv_sec += wait_ms / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->wake, &s->lock, &until);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

struct search *search_new(const struct search_settings *set)
{
    struct search *s = tp_calloc(1, sizeof(*s));
    s->s = *set;
    s->dsn = tp_strdup(set->dsn);
    s->group = tp_strdup(set->group);
    s->topic = tp_strdup(set->topic);
    s->ix = search_index_new();
    search_index_set_feed(s->ix, set->feed);
    s->release = tp_calloc(set->max_waiting ? set->max_waiting : 1, sizeof(*s->release));
    pthread_rwlock_init(&s->rw, NULL);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->memo_lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    /* a turn: a refresh, then a wait of up to refresh_ms */
    s->beat = service_beat_new(
        NULL, "query search refresh",
        (set->health_stall_ms > 0 ? set->health_stall_ms : SERVICE_STALL_DEFAULT_MS) +
            set->refresh_ms);
    s->started = pthread_create(&s->thread, NULL, search_main, s) == 0;
    return s;
}

bool search_loaded(struct search *s)
{
    pthread_mutex_lock(&s->lock);
    bool l = s->loaded;
    pthread_mutex_unlock(&s->lock);
    return l;
}

bool search_unreachable(struct search *s)
{
    pthread_mutex_lock(&s->lock);
    bool u = s->unreachable;
    pthread_mutex_unlock(&s->lock);
    return u;
}

bool search_covers(struct search *s, const struct token *t)
{
    pthread_mutex_lock(&s->lock);
    bool c = search_covers_locked(s, t, NULL);
    pthread_mutex_unlock(&s->lock);
    return c;
}

enum waiter_add_result search_wait_add(struct search *s, struct http_request *req,
                                       struct waiter_entry *e)
{
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        return WAITER_STOPPING;
    }
    if (s->n_waiting >= s->s.max_waiting) {
        pthread_mutex_unlock(&s->lock);
        return WAITER_FULL;
    }
    e->req = req;
    e->outcome = WAIT_PENDING;
    http_request_suspend(req); /* before it is visible to the thread */
    e->next = s->head;
    s->head = e;
    if (s->n_waiting++ == 0)
        pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return WAITER_ADDED;
}

size_t search_page(struct search *s, const struct list_params *p, const struct cursor *after,
                   int64_t now_ms, long online_window_s, struct search_hit *hits)
{
    pthread_rwlock_rdlock(&s->rw);
    size_t n = search_index_page(s->ix, p, after, now_ms, online_window_s, hits);
    pthread_rwlock_unlock(&s->rw);
    return n;
}

/* The memo of (p, window, max_groups) for version, or NULL; caller holds memo_lock. */
static struct search_summary_memo *search_memo_find(struct search *s, uint64_t version,
                                                    const struct summary_params *p,
                                                    long online_window_s, size_t max_groups)
{
    for (size_t i = 0; i < SEARCH_SUMMARY_CACHE; i++) {
        struct search_summary_memo *m = &s->memo[i];
        if (m->used && m->version == version && m->online_window_s == online_window_s &&
            m->max_groups == max_groups && !strcmp(m->p.group_by, p->group_by) &&
            !strcmp(m->p.metric, p->metric))
            return m;
    }
    return NULL;
}

size_t search_summary(struct search *s, const struct summary_params *p, int64_t now_ms,
                      long online_window_s, size_t max_groups,
                      void (*emit)(void *arg, const struct search_group *g), void *arg)
{
    /* one pass over every entry, so kept per index version: the same summary asked again
     * before the next refresh (its online counts as of its first asking: within the index's
     * staleness) costs nothing */
    pthread_mutex_lock(&s->lock);
    uint64_t version = s->refreshes;
    pthread_mutex_unlock(&s->lock);
    size_t n = max_groups ? max_groups : 1, total;
    struct search_group *g = tp_calloc(n, sizeof(*g));
    pthread_mutex_lock(&s->memo_lock);
    struct search_summary_memo *m = search_memo_find(s, version, p, online_window_s, max_groups);
    if (m) {
        total = m->total;
        memcpy(g, m->g, (total < max_groups ? total : max_groups) * sizeof(*g));
        pthread_mutex_unlock(&s->memo_lock);
    } else {
        pthread_mutex_unlock(&s->memo_lock);
        pthread_rwlock_rdlock(&s->rw);
        total = search_index_summary(s->ix, p, now_ms, online_window_s, g, max_groups);
        pthread_rwlock_unlock(&s->rw);
        pthread_mutex_lock(&s->memo_lock);
        m = &s->memo[s->memo_next++ % SEARCH_SUMMARY_CACHE];
        free(m->g);
        *m = (struct search_summary_memo){
            true, version, *p, online_window_s, max_groups, total, tp_malloc(n * sizeof(*g))};
        memcpy(m->g, g, n * sizeof(*g));
        pthread_mutex_unlock(&s->memo_lock);
    }
    /* keys point into the dictionary, which keeps every name while the index lives */
    for (size_t i = 0; i < total && i < max_groups; i++)
        emit(arg, &g[i]);
    free(g);
    return total;
}

void search_metrics(struct search *s, struct buf *b)
{
    pthread_rwlock_rdlock(&s->rw);
    size_t entries = search_index_count(s->ix), bytes = search_index_bytes(s->ix);
    pthread_rwlock_unlock(&s->rw);
    pthread_mutex_lock(&s->lock);
    bool loaded = s->loaded;
    double age_s = (double)(tp_mono_ms() - s->snap_mono_ms) / 1000.0;
    double xmax = s->snap_xmax, last = s->last_refresh_ms;
    uint64_t refreshes = s->refreshes, reloads = s->reloads, failures = s->failures,
             rows = s->rows_read, bad = s->bad_rows;
    size_t waiting = s->n_waiting;
    pthread_mutex_unlock(&s->lock);
    metrics_sample(b, "tp_query_search_entries", "gauge", "twins in the search index", NULL,
                   (double)entries);
    metrics_sample(b, "tp_query_search_bytes", "gauge",
                   "bytes the search index holds (entries, their blocks, the dictionary)", NULL,
                   (double)bytes);
    if (loaded) { /* the index's age, snapshot and latest refresh exist once it is loaded */
        metrics_sample(b, "tp_query_search_age_seconds", "gauge",
                       "seconds since the snapshot of the visible index was taken", NULL, age_s);
        metrics_sample(b, "tp_query_search_snapshot_xmax", "gauge",
                       "pg_snapshot_xmax of the visible index's snapshot: every transaction below "
                       "it that committed before it is in the index",
                       NULL, xmax);
        metrics_sample(b, "tp_query_search_last_refresh_duration_seconds", "gauge",
                       "duration of the latest refresh", NULL, last / 1000.0);
    }
    metrics_histogram_write(b, "tp_query_search_refresh_duration_seconds", "refresh duration",
                            &s->refresh_hist);
    metrics_sample(b, "tp_query_search_refreshes_total", "counter", "refreshes done", NULL,
                   (double)refreshes);
    metrics_sample(b, "tp_query_search_reloads_total", "counter",
                   "refreshes that read every row (first load, table swapped or truncated)", NULL,
                   (double)reloads);
    metrics_sample(b, "tp_query_search_refresh_failures_total", "counter", "refreshes failed", NULL,
                   (double)failures);
    metrics_sample(b, "tp_query_search_rows_read_total", "counter", "twin rows read by refreshes",
                   NULL, (double)rows);
    metrics_sample(b, "tp_query_search_bad_rows_total", "counter",
                   "twin rows skipped: an unreadable record", NULL, (double)bad);
    metrics_sample(b, "tp_query_search_waiting", "gauge",
                   "list and summary requests waiting for the index to reach their token", NULL,
                   (double)waiting);
}

void search_stop(struct search *s)
{
    if (!s)
        return;
    struct http_request **release =
        tp_calloc(s->s.max_waiting ? s->s.max_waiting : 1, sizeof(*release));
    pthread_mutex_lock(&s->lock);
    bool first = !s->stopping;
    s->stopping = true;
    size_t n = search_sweep(s, tp_mono_ms(), release);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n; i++)
        http_request_resume(release[i]);
    free(release);
    if (first && s->started)
        pthread_join(s->thread, NULL);
}

void search_free(struct search *s)
{
    if (!s)
        return;
    search_stop(s);
    service_beat_free(s->beat);
    PQfinish(s->db);
    search_index_free(s->ix);
    pthread_rwlock_destroy(&s->rw);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->memo_lock);
    for (size_t i = 0; i < SEARCH_SUMMARY_CACHE; i++)
        free(s->memo[i].g);
    pthread_cond_destroy(&s->wake);
    free(s->parts);
    free(s->next);
    free(s->prev);
    free(s->release);
    free(s->dsn);
    free(s->group);
    free(s->topic);
    free(s);
}
