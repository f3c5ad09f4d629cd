#include "stream.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "errors.h"
#include "twin/render.h"

#define STREAM_OVERFLOW_RESERVE 256 /* room past the buffer's bound for the final event */
#define STREAM_BUF_START        4096
#define STREAM_ID_MAX           48

/* ---- filters ---- */

void stream_filter_free(struct stream_filter *f)
{
    if (!f)
        return;
    for (int a = 0; a < PARAMS_N_ATTRS; a++)
        free(f->attrs[a]);
    for (size_t i = 0; i < f->n_ids; i++)
        free(f->ids[i]);
    free(f->ids);
    free(f);
}

static int stream_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* device_ids=a,b,c into f (sorted, unique). */
static enum tp_err stream_ids_parse(struct stream_filter *f, const char *v, char *errstr,
                                    size_t errstr_size)
{
    size_t n = 1;
    for (const char *p = v; *p; p++)
        n += *p == ',';
    if (n > STREAM_DEVICE_IDS_MAX)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "device_ids names %zu devices, the limit is %d", n,
                          STREAM_DEVICE_IDS_MAX);
    f->ids = tp_calloc(n, sizeof(*f->ids));
    for (const char *p = v;;) {
        size_t len = strcspn(p, ",");
        char id[PARAMS_ID_MAX + 2];
        snprintf(id, sizeof(id), "%.*s", (int)(len < PARAMS_ID_MAX + 1 ? len : PARAMS_ID_MAX + 1),
                 p);
        if (len > PARAMS_ID_MAX || !params_device_id_ok(id))
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "device_ids: \"%.*s\" is not a device id (1..128 characters of "
                              "A-Z a-z 0-9 . _ : -, comma-separated)",
                              (int)(len < 64 ? len : 64), p);
        f->ids[f->n_ids++] = tp_strdup(id);
        if (!p[len])
            break;
        p += len + 1;
    }
    qsort(f->ids, f->n_ids, sizeof(*f->ids), stream_str_cmp);
    size_t w = 0;
    for (size_t i = 0; i < f->n_ids; i++) {
        if (w && !strcmp(f->ids[w - 1], f->ids[i])) {
            free(f->ids[i]);
            continue;
        }
        f->ids[w++] = f->ids[i];
    }
    f->n_ids = w;
    return TP_OK;
}

enum tp_err stream_filter_parse(const struct params_args *a, struct stream_filter **out,
                                char *errstr, size_t errstr_size)
{
    static const char *const refused[] = {
        "sort", "limit", "cursor", "status", "last_seen_after", "last_seen_before", NULL};
    struct stream_filter *f = tp_calloc(1, sizeof(*f));
    struct params_args rest = {0};
    struct list_params lp;
    enum tp_err err = TP_OK;
    *out = NULL;
    if (a->too_many)
        rest.too_many = true;
    for (size_t i = 0; i < a->n && err == TP_OK; i++) {
        const char *k = a->keys[i];
        bool skip = false;
        for (size_t r = 0; refused[r]; r++)
            if (!strcmp(k, refused[r]))
                err = tp_err_set(TP_VALIDATION, errstr, errstr_size,
                                 "\"%s\" is a list parameter, not a stream filter (the stream "
                                 "takes model, region, firmware, metric.<name>.<lt|le|gt|ge>, "
                                 "device_ids, after)",
                                 k);
        if (!strcmp(k, "device_ids")) {
            skip = true;
            if (f->ids)
                err = tp_err_set(TP_VALIDATION, errstr, errstr_size,
                                 "device_ids is given more than once");
            else
                err = stream_ids_parse(f, a->values[i], errstr, errstr_size);
        } else if (!strcmp(k, "access_token")) {
            skip = true;
        }
        if (!skip)
            params_args_add(&rest, k, a->values[i]);
    }
    if (err == TP_OK)
        err = params_list_parse(&rest, &lp, errstr, errstr_size);
    if (err != TP_OK) {
        stream_filter_free(f);
        return err;
    }
    for (int i = 0; i < PARAMS_N_ATTRS; i++)
        f->attrs[i] = lp.attrs[i] ? tp_strdup(lp.attrs[i]) : NULL;
    f->n_metrics = lp.n_metrics;
    memcpy(f->metrics, lp.metrics, sizeof(f->metrics));
    *out = f;
    return TP_OK;
}

bool stream_filter_match(const struct stream_filter *f, const struct stream_twin *t)
{
    if (f->ids && !bsearch(&t->device_id, f->ids, f->n_ids, sizeof(*f->ids), stream_str_cmp))
        return false;
    for (int a = 0; a < PARAMS_N_ATTRS; a++)
        if (f->attrs[a] && (!t->attrs[a] || strcmp(f->attrs[a], t->attrs[a]) != 0))
            return false;
    for (size_t i = 0; i < f->n_metrics; i++) {
        const struct params_metric_filter *m = &f->metrics[i];
        size_t k = 0;
        while (k < t->n_metrics && strcmp(t->names[k], m->name) != 0)
            k++;
        if (k == t->n_metrics)
            return false;
        double v = t->values[k];
        bool ok = false;
        switch (m->op) {
        case OP_LT:
            ok = v < m->value;
            break;
        case OP_LE:
            ok = v <= m->value;
            break;
        case OP_GT:
            ok = v > m->value;
            break;
        case OP_GE:
            ok = v >= m->value;
            break;
        }
        if (!ok)
            return false;
    }
    return true;
}

/* ---- rendering a change ---- */

static void stream_json_double(struct buf *b, double v)
{
    if (isfinite(v))
        json_double(b, v);
    else
        buf_append_str(b, "null");
}

static void stream_metric_json(struct buf *b, const struct twin_view_metric *m)
{
    json_strn(b, m->name.p, m->name.len);
    buf_append_str(b, ":{\"value\":");
    stream_json_double(b, m->value);
    buf_append_str(b, ",\"ts\":");
    json_i64(b, m->ts_ms);
    buf_append_str(b, ",\"min\":");
    stream_json_double(b, m->count ? m->min : NAN);
    buf_append_str(b, ",\"max\":");
    stream_json_double(b, m->count ? m->max : NAN);
    buf_append_str(b, ",\"sum\":");
    stream_json_double(b, m->count ? m->sum : NAN);
    buf_append_str(b, ",\"count\":");
    json_i64(b, m->count);
    buf_append_str(b, "}");
}

void stream_change_json(struct buf *b, const struct search_change *c)
{
    const struct twin_view *v = c->view;
    buf_append_str(b, "{\"device_id\":");
    json_str(b, c->device_id);
    buf_append_str(b, ",\"version\":");
    json_i64(b, c->version);
    if (c->changed & SEARCH_CHANGED_NEW)
        buf_append_str(b, ",\"new\":true");
    buf_append_str(b, ",\"changed\":{");
    bool first = true;
    if (c->changed & SEARCH_CHANGED_NEW) {
        buf_append_str(b, "\"first_seen\":");
        twin_render_time(b, v->first_seen_ms);
        first = false;
    }
    if (c->changed & SEARCH_CHANGED_LAST_SEEN) {
        buf_append_str(b, first ? "\"last_seen\":" : ",\"last_seen\":");
        twin_render_time(b, v->last_seen_ms);
        first = false;
    }
    bool any = false;
    for (size_t i = 0; i < v->n_metrics; i++) {
        if (!c->metric_changed[i] || !v->metrics[i].name.p)
            continue;
        if (!any)
            buf_append_str(b, first ? "\"metrics\":{" : ",\"metrics\":{");
        else
            buf_append_str(b, ",");
        any = true;
        first = false;
        stream_metric_json(b, &v->metrics[i]);
    }
    if (any)
        buf_append_str(b, "}");
    if (c->changed & SEARCH_CHANGED_LOCATION) {
        buf_append_str(b, first ? "\"location\":" : ",\"location\":");
        first = false;
        if (v->has_location) {
            buf_append_str(b, "{");
            for (int i = 0; i < TWIN_LOC_N; i++) {
                if (!(v->loc_mask & (1u << i)))
                    continue;
                json_str(b, twin_loc_names[i]);
                buf_append_str(b, ":");
                stream_json_double(b, v->loc[i]);
                buf_append_str(b, ",");
            }
            buf_append_str(b, "\"ts\":");
            json_i64(b, v->location_ts_ms);
            buf_append_str(b, "}");
        } else {
            buf_append_str(b, "null");
        }
    }
    if (c->changed & SEARCH_CHANGED_ATTRIBUTES) {
        buf_append_str(b, first ? "\"attributes\":{" : ",\"attributes\":{");
        const char *const names[] = {"model", "firmware", "region"};
        const struct twin_str values[] = {v->model, v->firmware, v->region};
        bool f2 = true;
        for (int i = 0; i < 3; i++) {
            if (!values[i].p)
                continue;
            buf_printf(b, "%s\"%s\":", f2 ? "" : ",", names[i]);
            json_strn(b, values[i].p, values[i].len);
            f2 = false;
        }
        buf_append_str(b, "}");
    }
    buf_append_str(b, "}}");
}

/* ---- events, the ring, clients ---- */

/* One change: its SSE text and what filters look at, in one allocation. */
struct stream_event {
    uint64_t seq;
    struct stream_twin t;
    size_t text_len;
    char *text; /* "id: ..\nevent: change\ndata: ..\n\n" */
};

struct stream_client {
    struct stream *st;
    struct stream_client *prev, *next;
    struct stream_filter *f;
    struct stream_client_io io;
    bool has_io;
    char *data;
    size_t off, len, cap; /* unsent bytes: data[off..len) */
    bool mid;             /* the connection sent part of a block: its rest must follow */
    bool nl;              /* the last byte sent was a line end */
    bool ended;           /* nothing more is appended; -1 once read */
    int64_t ended_ms;     /* when (monotonic), for the cut */
    bool cut;
};

struct stream {
    struct stream_settings s;
    char process[9];
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool started;
    struct search_feed feed;
    /* under lock */
    bool stopping, quit;
    struct stream_client *clients;
    size_t n_clients;
    struct stream_event **ring; /* [s.ring], circular */
    size_t ring_head, ring_n;   /* oldest at ring_head */
    size_t ring_bytes;
    uint64_t seq;   /* the last sequence given */
    uint64_t floor; /* positions below it cannot be resumed (a reload) */
    size_t buffered;
    uint64_t events, deliveries, overflows, resets, resumes, refused;
    /* the feed's (the search writer's thread) */
    struct stream_event **pending;
    size_t n_pending, cap_pending;
    struct buf scratch;
};

void stream_event_id(struct stream *st, uint64_t seq, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s-%llu", st->process, (unsigned long long)seq);
}

static void stream_event_free(struct stream_event *e)
{
    if (!e)
        return;
    free(e->text);
    free(e);
}

/* Makes room in c for n bytes (up to the bound + reserve when final); false when over. */
static bool stream_client_room(struct stream *st, struct stream_client *c, size_t n, bool final)
{
    size_t limit = st->s.client_buffer + (final ? STREAM_OVERFLOW_RESERVE : 0);
    if (c->off > 0 && (c->off >= c->len || c->len + n > c->cap)) {
        memmove(c->data, c->data + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len + n > limit)
        return false;
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : STREAM_BUF_START;
        while (cap < c->len + n)
            cap *= 2;
        if (cap > limit)
            cap = limit;
        st->buffered += cap - c->cap;
        c->data = tp_realloc(c->data, cap);
        c->cap = cap;
    }
    return true;
}

static void stream_client_wake(struct stream_client *c)
{
    if (c->has_io)
        c->io.wake(c->io.arg);
}

/* Ends c: nothing more is appended; it closes once it read what it has. */
static void stream_client_end(struct stream *st, struct stream_client *c)
{
    if (c->ended)
        return;
    c->ended = true;
    c->ended_ms = tp_mono_ms();
    (void)st;
    stream_client_wake(c);
}

/* The buffer is full: the unsent events after the one being sent are dropped, the final
 * `overflow` event queued, the client ended (lock held). */
static void stream_client_overflow(struct stream *st, struct stream_client *c)
{
    /* keep the rest of the block the connection is sending: the stream stays well formed */
    size_t keep = c->off;
    if (c->mid)
        for (size_t i = c->off; i < c->len; i++)
            if (c->data[i] == '\n' && (i > c->off ? c->data[i - 1] == '\n' : c->nl)) {
                keep = i + 1;
                break;
            }
    c->len = keep;
    char ev[STREAM_OVERFLOW_RESERVE];
    int n = snprintf(ev, sizeof(ev),
                     "event: overflow\ndata: {\"reason\":\"client_buffer_full\","
                     "\"buffer_bytes\":%zu}\n\n",
                     st->s.client_buffer);
    if (stream_client_room(st, c, (size_t)n, true)) {
        memcpy(c->data + c->len, ev, (size_t)n);
        c->len += (size_t)n;
    }
    st->overflows++;
    stream_client_end(st, c);
}

/* Appends text to c's buffer (lock held); false when it overflowed. */
static bool stream_client_put(struct stream *st, struct stream_client *c, const char *text,
                              size_t n)
{
    if (c->ended)
        return false;
    if (!stream_client_room(st, c, n, false)) {
        stream_client_overflow(st, c);
        return false;
    }
    memcpy(c->data + c->len, text, n);
    c->len += n;
    return true;
}

static struct stream_event *stream_ring_at(struct stream *st, size_t i)
{
    return st->ring[(st->ring_head + i) % st->s.ring];
}

/* A reset event (position: the current one) into c (lock held). */
static void stream_client_reset(struct stream *st, struct stream_client *c, const char *reason)
{
    char id[STREAM_ID_MAX], text[256];
    stream_event_id(st, st->seq, id, sizeof(id));
    int n = snprintf(text, sizeof(text), "id: %s\nevent: reset\ndata: {\"reason\":\"%s\"}\n\n", id,
                     reason);
    stream_client_put(st, c, text, (size_t)n);
    st->resets++;
}

/* Parses "<process>-<seq>" of this process into *seq. */
static bool stream_id_parse(struct stream *st, const char *id, uint64_t *seq)
{
    size_t pl = strlen(st->process);
    if (strncmp(id, st->process, pl) != 0 || id[pl] != '-' || id[pl + 1] < '0' || id[pl + 1] > '9')
        return false;
    char *end;
    unsigned long long v = strtoull(id + pl + 1, &end, 10);
    if (*end != '\0' || strlen(id + pl + 1) > 20)
        return false;
    *seq = v;
    return true;
}

enum stream_open stream_client_open(struct stream *st, struct stream_filter *f,
                                    const char *last_event_id, struct stream_client **out)
{
    *out = NULL;
    pthread_mutex_lock(&st->lock);
    if (st->stopping || st->n_clients >= st->s.max_clients) {
        enum stream_open r = st->stopping ? STREAM_STOPPING : STREAM_FULL;
        st->refused++;
        pthread_mutex_unlock(&st->lock);
        stream_filter_free(f);
        return r;
    }
    struct stream_client *c = tp_calloc(1, sizeof(*c));
    c->st = st;
    c->f = f;
    c->next = st->clients;
    if (st->clients)
        st->clients->prev = c;
    st->clients = c;
    st->n_clients++;
    char head[128], id[STREAM_ID_MAX];
    stream_event_id(st, st->seq, id, sizeof(id));
    uint64_t from;
    if (last_event_id && *last_event_id) {
        /* resumable: this process, at or after the floor, and the ring holds every event
         * after it (the oldest held is seq - ring_n + 1) */
        uint64_t first = st->seq - st->ring_n + 1;
        if (!stream_id_parse(st, last_event_id, &from) || from > st->seq) {
            int n = snprintf(head, sizeof(head), "retry: %d\n\n", STREAM_RETRY_MS);
            stream_client_put(st, c, head, (size_t)n);
            stream_client_reset(st, c, "unknown_position");
        } else if (from < st->floor || from + 1 < first) {
            int n = snprintf(head, sizeof(head), "retry: %d\n\n", STREAM_RETRY_MS);
            stream_client_put(st, c, head, (size_t)n);
            stream_client_reset(st, c, "expired_position");
        } else {
            int n = snprintf(head, sizeof(head), "retry: %d\n\n", STREAM_RETRY_MS);
            stream_client_put(st, c, head, (size_t)n);
            st->resumes++;
            for (size_t i = (size_t)(from + 1 - first); i < st->ring_n; i++) {
                struct stream_event *e = stream_ring_at(st, i);
                if (stream_filter_match(f, &e->t) &&
                    !stream_client_put(st, c, e->text, e->text_len))
                    break;
            }
            /* the position after the skipped ones too */
            if (!c->ended) {
                n = snprintf(head, sizeof(head), "id: %s\n\n", id);
                stream_client_put(st, c, head, (size_t)n);
            }
        }
    } else {
        int n = snprintf(head, sizeof(head), "retry: %d\nid: %s\n\n", STREAM_RETRY_MS, id);
        stream_client_put(st, c, head, (size_t)n);
    }
    pthread_mutex_unlock(&st->lock);
    *out = c;
    return STREAM_OPENED;
}

void stream_client_set_io(struct stream_client *c, const struct stream_client_io *io)
{
    struct stream *st = c->st;
    pthread_mutex_lock(&st->lock);
    c->io = *io;
    c->has_io = true;
    pthread_mutex_unlock(&st->lock);
}

long stream_client_read(struct stream_client *c, char *buf, size_t max)
{
    struct stream *st = c->st;
    pthread_mutex_lock(&st->lock);
    size_t n = c->len - c->off;
    if (n > max)
        n = max;
    memcpy(buf, c->data + c->off, n);
    c->off += n;
    if (n > 0) {
        /* a block ends with an empty line: "\n\n" */
        bool nl = buf[n - 1] == '\n';
        c->mid = !(nl && (n >= 2 ? buf[n - 2] == '\n' : c->nl));
        c->nl = nl;
    }
    bool end = n == 0 && c->ended;
    if (c->off == c->len) {
        c->off = c->len = 0;
        /* an idle client keeps no big buffer */
        if (c->cap > STREAM_BUF_START) {
            st->buffered -= c->cap - STREAM_BUF_START;
            c->cap = STREAM_BUF_START;
            c->data = tp_realloc(c->data, c->cap);
        }
    }
    pthread_mutex_unlock(&st->lock);
    return end ? -1 : (long)n;
}

void stream_client_close(struct stream_client *c)
{
    if (!c)
        return;
    struct stream *st = c->st;
    pthread_mutex_lock(&st->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        st->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    st->n_clients--;
    st->buffered -= c->cap;
    pthread_mutex_unlock(&st->lock);
    stream_filter_free(c->f);
    free(c->data);
    free(c);
}

/* ---- the feed (the search index's writer thread) ---- */

static void stream_feed_change(void *arg, const struct search_change *c)
{
    struct stream *st = arg;
    const struct twin_view *v = c->view;
    struct buf *b = &st->scratch;
    buf_reset(b);
    stream_change_json(b, c);
    /* what filters look at: attributes and finite values, copied into one block */
    size_t nm = 0, strings = strlen(c->device_id) + 1;
    for (size_t i = 0; i < v->n_metrics; i++)
        if (isfinite(v->metrics[i].value) && v->metrics[i].name.p) {
            nm++;
            strings += v->metrics[i].name.len + 1;
        }
    const struct twin_str *attrs[PARAMS_N_ATTRS];
    attrs[PARAMS_MODEL] = &v->model;
    attrs[PARAMS_REGION] = &v->region;
    attrs[PARAMS_FIRMWARE] = &v->firmware;
    for (int a = 0; a < PARAMS_N_ATTRS; a++)
        strings += attrs[a]->p ? attrs[a]->len + 1 : 0;
    struct stream_event *e =
        tp_malloc(sizeof(*e) + nm * (sizeof(double) + sizeof(char *)) + strings);
    memset(e, 0, sizeof(*e));
    double *values = (double *)(void *)(e + 1);
    const char **names = (const char **)(void *)(values + nm);
    char *p = (char *)(names + nm);
    size_t k = 0;
    for (size_t i = 0; i < v->n_metrics; i++) {
        const struct twin_view_metric *m = &v->metrics[i];
        if (!isfinite(m->value) || !m->name.p)
            continue;
        values[k] = m->value;
        memcpy(p, m->name.p, m->name.len);
        p[m->name.len] = '\0';
        names[k++] = p;
        p += m->name.len + 1;
    }
    for (int a = 0; a < PARAMS_N_ATTRS; a++) {
        if (!attrs[a]->p)
            continue;
        memcpy(p, attrs[a]->p, attrs[a]->len);
        p[attrs[a]->len] = '\0';
        e->t.attrs[a] = p;
        p += attrs[a]->len + 1;
    }
    strcpy(p, c->device_id);
    e->t.device_id = p;
    e->t.n_metrics = nm;
    e->t.names = names;
    e->t.values = values;
    /* the text without its id line yet: the sequence is given at end() */
    e->text_len = b->len;
    e->text = tp_strndup(b->data, b->len);
    if (st->n_pending == st->cap_pending) {
        st->cap_pending = st->cap_pending ? st->cap_pending * 2 : 1024;
        st->pending = tp_realloc(st->pending, st->cap_pending * sizeof(*st->pending));
    }
    st->pending[st->n_pending++] = e;
}

static void stream_feed_end(void *arg, bool ok, bool reload)
{
    struct stream *st = arg;
    if (!ok) {
        for (size_t i = 0; i < st->n_pending; i++)
            stream_event_free(st->pending[i]);
        st->n_pending = 0;
        return;
    }
    /* the texts with their ids: only this thread moves seq, so it is read without the lock */
    uint64_t seq = st->seq + (reload ? 1 : 0);
    char id[STREAM_ID_MAX];
    for (size_t i = 0; i < st->n_pending; i++) {
        struct stream_event *e = st->pending[i];
        e->seq = ++seq;
        stream_event_id(st, e->seq, id, sizeof(id));
        size_t n = strlen(id) + e->text_len + 32;
        char *t = tp_malloc(n);
        e->text_len = (size_t)snprintf(t, n, "id: %s\nevent: change\ndata: %.*s\n\n", id,
                                       (int)e->text_len, e->text);
        free(e->text);
        e->text = t;
    }
    struct stream_event **gone = NULL;
    size_t n_gone = 0;
    pthread_mutex_lock(&st->lock);
    if (reload) {
        /* the index was rebuilt: changes may be missed; every position before is void */
        gone = tp_malloc((st->ring_n ? st->ring_n : 1) * sizeof(*gone));
        for (size_t i = 0; i < st->ring_n; i++)
            gone[n_gone++] = stream_ring_at(st, i);
        st->ring_n = st->ring_head = st->ring_bytes = 0;
        st->seq++;
        st->floor = st->seq;
        for (struct stream_client *c = st->clients; c; c = c->next) {
            stream_client_reset(st, c, "reload");
            stream_client_wake(c);
        }
    }
    for (size_t i = 0; i < st->n_pending; i++) {
        struct stream_event *e = st->pending[i];
        if (st->ring_n == st->s.ring) { /* the oldest goes */
            struct stream_event *old = st->ring[st->ring_head];
            st->ring_bytes -= old->text_len;
            if (!gone)
                gone = tp_malloc(st->n_pending * sizeof(*gone));
            gone[n_gone++] = old;
            st->ring_head = (st->ring_head + 1) % st->s.ring;
            st->ring_n--;
        }
        st->ring[(st->ring_head + st->ring_n) % st->s.ring] = e;
        st->ring_n++;
        st->ring_bytes += e->text_len;
        st->seq = e->seq;
        st->events++;
        for (struct stream_client *c = st->clients; c; c = c->next) {
            if (c->ended || !stream_filter_match(c->f, &e->t))
                continue;
            if (stream_client_put(st, c, e->text, e->text_len))
                st->deliveries++;
        }
    }
    if (st->n_pending)
        for (struct stream_client *c = st->clients; c; c = c->next)
            if (c->len > c->off)
                stream_client_wake(c);
    pthread_mutex_unlock(&st->lock);
    st->n_pending = 0;
    for (size_t i = 0; i < n_gone; i++)
        stream_event_free(gone[i]);
    free(gone);
}

const struct search_feed *stream_feed(struct stream *st)
{
    return &st->feed;
}

/* ---- heartbeats ---- */

void stream_heartbeat(struct stream *st)
{
    char text[128], id[STREAM_ID_MAX];
    pthread_mutex_lock(&st->lock);
    stream_event_id(st, st->seq, id, sizeof(id));
    int n = snprintf(text, sizeof(text), ": heartbeat\nid: %s\n\n", id);
    int64_t now = tp_mono_ms();
    for (struct stream_client *c = st->clients; c; c = c->next) {
        if (c->ended) {
            /* an ended client that has not taken its last bytes: cut */
            if (!c->cut && c->len > c->off && now - c->ended_ms >= st->s.heartbeat_ms &&
                c->has_io && c->io.cut) {
                c->cut = true;
                c->io.cut(c->io.arg);
            }
            continue;
        }
        stream_client_put(st, c, text, (size_t)n);
        stream_client_wake(c);
    }
    pthread_mutex_unlock(&st->lock);
}

static void *stream_main(void *arg)
{
    struct stream *st = arg;
    pthread_mutex_lock(&st->lock);
    while (!st->quit) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(st->s.heartbeat_ms % 1000) * 1000000L;
        until.tv_sec += st->s.heartbeat_ms / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&st->wake, &st->lock, &until);
        if (st->quit)
            break;
        pthread_mutex_unlock(&st->lock);
        stream_heartbeat(st);
        pthread_mutex_lock(&st->lock);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

struct stream *stream_new(const struct stream_settings *set)
{
    struct stream *st = tp_calloc(1, sizeof(*st));
    st->s = *set;
    if (st->s.ring == 0)
        st->s.ring = 1;
    if (st->s.heartbeat_ms <= 0)
        st->s.heartbeat_ms = 15000;
    /* the process's part of every id: differs between starts and replicas */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t h = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^
                 ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)st;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    snprintf(st->process, sizeof(st->process), "%08x", (unsigned)h);
    st->ring = tp_calloc(st->s.ring, sizeof(*st->ring));
    st->feed = (struct search_feed){stream_feed_change, stream_feed_end, st};
    buf_init(&st->scratch, 64u << 20);
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->wake, NULL);
    st->started = pthread_create(&st->thread, NULL, stream_main, st) == 0;
    return st;
}

void stream_stats(struct stream *st, struct stream_stats *o)
{
    pthread_mutex_lock(&st->lock);
    *o = (struct stream_stats){st->n_clients, st->ring_n,  st->ring_bytes, st->buffered,
                               st->seq,       st->events,  st->deliveries, st->overflows,
                               st->resets,    st->resumes, st->refused};
    pthread_mutex_unlock(&st->lock);
}

void stream_metrics(struct stream *st, struct buf *b)
{
    struct stream_stats s;
    stream_stats(st, &s);
    metrics_sample(b, "tp_query_stream_clients", "gauge", "open GET /v1/stream connections", NULL,
                   (double)s.clients);
    metrics_sample(b, "tp_query_stream_ring_events", "gauge",
                   "change events held for resuming (query.stream_ring at most)", NULL,
                   (double)s.ring_events);
    metrics_sample(b, "tp_query_stream_ring_bytes", "gauge", "bytes of the held events' text", NULL,
                   (double)s.ring_bytes);
    metrics_sample(b, "tp_query_stream_buffer_bytes", "gauge",
                   "bytes allocated for the clients' unsent events", NULL,
                   (double)s.buffered_bytes);
    metrics_sample(b, "tp_query_stream_events_total", "counter",
                   "twin changes published to the stream", NULL, (double)s.events);
    metrics_sample(b, "tp_query_stream_deliveries_total", "counter",
                   "change events queued to clients (one per matching client)", NULL,
                   (double)s.deliveries);
    metrics_sample(b, "tp_query_stream_overflows_total", "counter",
                   "clients cut because their buffer filled (event: overflow)", NULL,
                   (double)s.overflows);
    metrics_sample(b, "tp_query_stream_resets_total", "counter",
                   "reset events sent (position not resumable, or a reload)", NULL,
                   (double)s.resets);
    metrics_sample(b, "tp_query_stream_resumes_total", "counter",
                   "streams resumed from the ring with Last-Event-ID", NULL, (double)s.resumes);
    metrics_sample(b, "tp_query_stream_refused_total", "counter",
                   "streams refused: query.stream_max_clients open, or shutting down", NULL,
                   (double)s.refused);
}

void stream_stop(struct stream *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    for (struct stream_client *c = st->clients; c; c = c->next)
        stream_client_end(st, c);
    pthread_mutex_unlock(&st->lock);
}

void stream_free(struct stream *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->lock);
    st->quit = true;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
    if (st->started)
        pthread_join(st->thread, NULL);
    if (st->n_clients)
        log_warn("change stream: %zu clients still open at exit", st->n_clients);
    for (size_t i = 0; i < st->ring_n; i++)
        stream_event_free(stream_ring_at(st, i));
    for (size_t i = 0; i < st->n_pending; i++)
        stream_event_free(st->pending[i]);
    free(st->pending);
    free(st->ring);
    buf_release(&st->scratch);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* ---- the HTTP side ---- */

struct stream_conn {
    struct stream_client *c;
    struct http_stream *hs;
};

static void stream_conn_wake(void *arg)
{
    struct stream_conn *sc = arg;
    http_stream_wake(sc->hs);
}

static void stream_conn_cut(void *arg)
{
    struct stream_conn *sc = arg;
    http_stream_cut(sc->hs);
}

static long stream_conn_read(void *arg, char *buf, size_t max)
{
    struct stream_conn *sc = arg;
    return stream_client_read(sc->c, buf, max);
}

static void stream_conn_done(void *arg)
{
    struct stream_conn *sc = arg;
    stream_client_close(sc->c);
    free(sc);
}

void stream_handle(struct http_request *req, void *arg)
{
    struct query_api *api = arg;
    char errstr[512];
    struct params_args a;
    struct stream_filter *f;
    struct stream_client *c;
    if (!query_api_begin_stream(api, req))
        return;
    query_api_args(req, &a);
    if (stream_filter_parse(&a, &f, errstr, sizeof(errstr)) != TP_OK) {
        query_error_reply(req, QERR_INVALID_PARAMETER, "%s", errstr);
        return;
    }
    switch (stream_client_open(api->stream, f, http_request_header(req, "Last-Event-ID"), &c)) {
    case STREAM_OPENED:
        break;
    case STREAM_FULL:
        query_error_reply(req, QERR_OVERLOADED,
                          "this replica serves query.stream_max_clients streams already; retry "
                          "later or on another replica");
        return;
    case STREAM_STOPPING:
        query_error_reply(req, QERR_SHUTTING_DOWN, "this replica is shutting down; retry");
        return;
    }
    struct stream_conn *sc = tp_calloc(1, sizeof(*sc));
    sc->c = c;
    sc->hs = http_reply_stream(req, 200, "text/event-stream; charset=utf-8", stream_conn_read,
                               stream_conn_done, sc);
    struct stream_client_io io = {stream_conn_wake, stream_conn_cut, sc};
    stream_client_set_io(c, &io);
}
