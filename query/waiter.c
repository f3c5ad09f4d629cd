#include "waiter.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/service.h"

static const char waiter_offsets_sql[] = "SELECT partition, next_offset FROM projector_offsets"
                                         " WHERE consumer_group = $1 AND topic = $2";

struct waiter {
    struct waiter_settings s;
    struct service_beat *beat; /* idle while no request waits */
    char *dsn, *group, *topic;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct waiter_entry *head; /* waiting, under lock */
    size_t n_waiting;
    bool stopping;
    atomic_long alive; /* entries not yet freed (their requests not yet answered) */
    _Atomic uint64_t outcomes[WAIT_SHUTDOWN + 1];
    PGconn *db; /* the thread's own */
    int32_t *parts;
    int64_t *next;
    size_t n_rows, cap_rows;
    struct http_request **release; /* the thread's: requests to resume after unlocking */
};

struct waiter_entry *waiter_entry_new(struct waiter *w, int64_t deadline_ms)
{
    struct waiter_entry *e = tp_calloc(1, sizeof(*e));
    e->w = w;
    e->deadline_ms = deadline_ms;
    atomic_fetch_add(&w->alive, 1);
    return e;
}

void waiter_entry_free(void *entry)
{
    struct waiter_entry *e = entry;
    if (!e)
        return;
    atomic_fetch_sub(&e->w->alive, 1);
    free(e);
}

/* Reads the projector's offsets into w->parts/next; false when the database failed. */
static bool waiter_poll(struct waiter *w)
{
    char errstr[512];
    PGresult *res = NULL;
    if (!w->db && pg_connect(w->dsn, "tp-query-waiter", &w->db, errstr, sizeof(errstr)) != TP_OK) {
        log_warn("read-your-writes: %s", errstr);
        return false;
    }
    const char *params[] = {w->group, w->topic};
    if (pg_exec_params(w->db, waiter_offsets_sql, 2, params, PGRES_TUPLES_OK, &res, errstr,
                       sizeof(errstr)) != TP_OK) {
        log_warn("read-your-writes: could not read projector offsets: %s", errstr);
        if (PQstatus(w->db) != CONNECTION_OK) {
            PQfinish(w->db);
            w->db = NULL;
        }
        return false;
    }
    size_t n = (size_t)PQntuples(res);
    if (n > w->cap_rows) {
        w->parts = tp_realloc(w->parts, n * sizeof(*w->parts));
        w->next = tp_realloc(w->next, n * sizeof(*w->next));
        w->cap_rows = n;
    }
    for (size_t i = 0; i < n; i++) {
        w->parts[i] = (int32_t)atol(PQgetvalue(res, (int)i, 0));
        w->next[i] = atoll(PQgetvalue(res, (int)i, 1));
    }
    w->n_rows = n;
    PQclear(res);
    return true;
}

enum tp_err waiter_covered_now(struct waiter *w, PGconn *db, const struct token *t, bool *covered,
                               char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    const char *params[] = {w->group, w->topic};
    enum tp_err err = pg_exec_params(db, waiter_offsets_sql, 2, params, PGRES_TUPLES_OK, &res,
                                     errstr, errstr_size);
    if (err != TP_OK)
        return err;
    size_t n = (size_t)PQntuples(res);
    int32_t *parts = tp_calloc(n ? n : 1, sizeof(*parts));
    int64_t *next = tp_calloc(n ? n : 1, sizeof(*next));
    for (size_t i = 0; i < n; i++) {
        parts[i] = (int32_t)atol(PQgetvalue(res, (int)i, 0));
        next[i] = atoll(PQgetvalue(res, (int)i, 1));
    }
    *covered = token_covered(t, parts, next, n, NULL);
    free(parts);
    free(next);
    PQclear(res);
    return TP_OK;
}

/* Where the projector stands for the token's first uncovered partition. */
static void waiter_detail(struct waiter *w, struct waiter_entry *e, size_t missing)
{
    int32_t part = e->token.parts[missing];
    const char *at = "no offset";
    char buf[32];
    for (size_t k = 0; k < w->n_rows; k++)
        if (w->parts[k] == part) {
            snprintf(buf, sizeof(buf), "next offset %lld", (long long)w->next[k]);
            at = buf;
        }
    snprintf(e->detail, sizeof(e->detail),
             "partition %d: the token needs offset %lld, the "
             "projector is at %s",
             part, (long long)e->token.offsets[missing], at);
}

/* Takes the entries that are done out of the list; returns how many requests to resume. */
static size_t waiter_sweep(struct waiter *w, bool polled, int64_t now,
                           struct http_request **release)
{
    size_t n = 0;
    struct waiter_entry **pp = &w->head;
    while (*pp) {
        struct waiter_entry *e = *pp;
        size_t missing = 0;
        if (w->stopping)
            e->outcome = WAIT_SHUTDOWN;
        else if (polled && token_covered(&e->token, w->parts, w->next, w->n_rows, &missing))
            e->outcome = WAIT_COVERED;
        else if (now >= e->deadline_ms) {
            e->outcome = WAIT_TIMEOUT;
            if (polled)
                waiter_detail(w, e, missing);
            else
                snprintf(e->detail, sizeof(e->detail), "the projector offsets were unreadable");
        }
        if (e->outcome == WAIT_PENDING) {
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        w->n_waiting--;
        atomic_fetch_add(&w->outcomes[e->outcome], 1);
        release[n++] = e->req; /* e belongs to the request from here on */
    }
    return n;
}

static void waiter_release(struct http_request **release, size_t n)
{
    for (size_t i = 0; i < n; i++)
        http_request_resume(release[i]);
}

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        if (!w->head)
            service_beat_idle(w->beat);
        while (!w->stopping && !w->head)
            pthread_cond_wait(&w->wake, &w->lock);
        if (w->stopping)
            break;
        pthread_mutex_unlock(&w->lock);
        service_beat(w->beat);
        bool polled = waiter_poll(w);
        pthread_mutex_lock(&w->lock);
        size_t n = waiter_sweep(w, polled, tp_mono_ms(), w->release);
        pthread_mutex_unlock(&w->lock);
        waiter_release(w->release, n);
        pthread_mutex_lock(&w->lock);
        if (!w->stopping && w->head) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)w->s.poll_ms * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&w->wake, &w->lock, &until);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

enum tp_err waiter_new(const struct waiter_settings *s, struct waiter **out, char *errstr,
                       size_t errstr_size)
{
    struct waiter *w = tp_calloc(1, sizeof(*w));
    w->s = *s;
    w->dsn = tp_strdup(s->dsn);
    w->group = tp_strdup(s->group);
    w->topic = tp_strdup(s->topic);
    w->release = tp_calloc(s->max_waiting ? s->max_waiting : 1, sizeof(*w->release));
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->beat =
        service_beat_new(NULL, "query read-your-writes",
                         s->health_stall_ms > 0 ? s->health_stall_ms : SERVICE_STALL_DEFAULT_MS);
    service_beat_idle(w->beat);
    int rc = pthread_create(&w->thread, NULL, waiter_main, w);
    if (rc != 0) {
        w->stopping = true; /* nothing to stop or join */
        waiter_free(w);
        *out = NULL;
        return tp_err_set(TP_IO, errstr, errstr_size,
                          "could not start the read-your-writes thread: %s", strerror(rc));
    }
    *out = w;
    return TP_OK;
}

enum waiter_add_result waiter_add(struct waiter *w, struct http_request *req,
                                  struct waiter_entry *e)
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return WAITER_STOPPING;
    }
    if (w->n_waiting >= w->s.max_waiting) {
        pthread_mutex_unlock(&w->lock);
        return WAITER_FULL;
    }
    e->req = req;
    e->outcome = WAIT_PENDING;
    http_request_suspend(req); /* before it is visible to the waiter thread */
    e->next = w->head;
    w->head = e;
    w->n_waiting++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return WAITER_ADDED;
}

void waiter_stop(struct waiter *w, int timeout_ms)
{
    if (!w)
        return;
    /* its own list: the waiter thread may be resuming from w->release */
    struct http_request **release =
        tp_calloc(w->s.max_waiting ? w->s.max_waiting : 1, sizeof(*release));
    pthread_mutex_lock(&w->lock);
    bool first = !w->stopping;
    w->stopping = true;
    size_t n = waiter_sweep(w, false, tp_mono_ms(), release);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    waiter_release(release, n);
    free(release);
    if (first)
        pthread_join(w->thread, NULL);
    /* the released requests answer on HTTP threads: let them finish */
    int64_t deadline = tp_mono_ms() + timeout_ms;
    while (atomic_load(&w->alive) > 0 && tp_mono_ms() < deadline)
        usleep(10 * 1000);
    if (atomic_load(&w->alive) > 0)
        log_warn("read-your-writes: %ld requests still unanswered at shutdown",
                 atomic_load(&w->alive));
}

void waiter_count(struct waiter *w, enum waiter_outcome o)
{
    atomic_fetch_add(&w->outcomes[o], 1);
}

void waiter_metrics(struct waiter *w, struct buf *b)
{
    static const char *const names[] = {"pending", "covered", "timeout", "shutdown"};
    char labels[32];
    pthread_mutex_lock(&w->lock);
    size_t waiting = w->n_waiting;
    pthread_mutex_unlock(&w->lock);
    metrics_sample(b, "tp_query_consistency_waiting", "gauge",
                   "requests suspended until the projector reaches their token", NULL,
                   (double)waiting);
    for (int o = WAIT_COVERED; o <= WAIT_SHUTDOWN; o++) {
        snprintf(labels, sizeof(labels), "outcome=\"%s\"", names[o]);
        metrics_sample(b, "tp_query_consistency_waits_total", "counter",
                       o == WAIT_COVERED ? "suspended requests released, by outcome" : NULL, labels,
                       (double)atomic_load(&w->outcomes[o]));
    }
}

void waiter_free(struct waiter *w)
{
    if (!w)
        return;
    waiter_stop(w, 0);
    service_beat_free(w->beat);
    PQfinish(w->db);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w->parts);
    free(w->next);
    free(w->release);
    free(w->dsn);
    free(w->group);
    free(w->topic);
    free(w);
}
