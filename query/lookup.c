#include "lookup.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/service.h"

static const char lookup_sql[] = "SELECT device_id, version, updated_at, state FROM twins"
                                 " WHERE device_id = ANY($1::text[])";

/* PostgreSQL's binary timestamptz counts microseconds from 2000-01-01 UTC. */
#define LOOKUP_PG_EPOCH_US 946684800000000LL

enum tp_err lookup_prepare(PGconn *db, char *errstr, size_t errstr_size)
{
    return pg_check(db, PQprepare(db, "twins_by_ids", lookup_sql, 1, NULL), PGRES_COMMAND_OK, NULL,
                    errstr, errstr_size);
}

enum tp_err lookup_fetch(PGconn *db, const char *const *ids, size_t n, PGresult **res, char *errstr,
                         size_t errstr_size)
{
    /* {"id","id",...}: device ids are A-Z a-z 0-9 . _ : - (params_device_id_ok), nothing to
     * escape inside the quotes */
    struct buf arr;
    buf_init(&arr, (size_t)n * (PARAMS_ID_MAX + 3) + 3);
    buf_append(&arr, "{", 1);
    for (size_t i = 0; i < n; i++) {
        buf_append_str(&arr, i ? ",\"" : "\"");
        buf_append_str(&arr, ids[i]);
        buf_append(&arr, "\"", 1);
    }
    buf_append(&arr, "}", 2); /* with the NUL */
    const char *params[] = {arr.data};
    enum tp_err err = pg_check(db, PQexecPrepared(db, "twins_by_ids", 1, params, NULL, NULL, 1),
                               PGRES_TUPLES_OK, res, errstr, errstr_size);
    buf_release(&arr);
    return err;
}

static int64_t lookup_int8(const PGresult *res, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

int64_t lookup_row_version(const PGresult *res, int row)
{
    return lookup_int8(res, row, LOOKUP_COL_VERSION);
}

int64_t lookup_row_updated_at_ms(const PGresult *res, int row)
{
    int64_t us = lookup_int8(res, row, LOOKUP_COL_UPDATED_AT) + LOOKUP_PG_EPOCH_US;
    int64_t ms = us / 1000;
    return us % 1000 < 0 ? ms - 1 : ms; /* floor, as to_char's MS */
}

struct lookup {
    struct lookup_settings s;
    char *dsn;
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct lookup_item *head, *tail; /* queued, under lock */
    size_t n_queued;
    bool stopping;
    _Atomic uint64_t batches, ids, failures;
    struct metrics_histogram batch_ms;
};

struct lookup_item *lookup_item_new(const char *id)
{
    struct lookup_item *it = tp_calloc(1, sizeof(*it));
    snprintf(it->id, sizeof(it->id), "%s", id);
    return it;
}

void lookup_item_free(struct lookup_item *it)
{
    if (!it)
        return;
    free(it->state);
    free(it);
}

/* Fills the items of one batch from res (NULL: err for all). */
static void lookup_fill(struct lookup_item **items, size_t n, const PGresult *res, enum tp_err err,
                        bool unreachable, const char *errstr)
{
    for (size_t i = 0; i < n; i++) {
        items[i]->err = err;
        items[i]->unreachable = unreachable;
        if (err != TP_OK)
            snprintf(items[i]->errstr, sizeof(items[i]->errstr), "%s", errstr);
    }
    if (err != TP_OK)
        return;
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        const char *id = PQgetvalue(res, r, LOOKUP_COL_ID);
        size_t len = (size_t)PQgetlength(res, r, LOOKUP_COL_ID);
        for (size_t i = 0; i < n; i++) {
            struct lookup_item *it = items[i];
            if (it->found || strlen(it->id) != len || memcmp(it->id, id, len) != 0)
                continue;
            it->found = true; /* the same id twice in a batch: both filled */
            it->version = lookup_row_version(res, r);
            it->updated_at_ms = lookup_row_updated_at_ms(res, r);
            it->state_len = (size_t)PQgetlength(res, r, LOOKUP_COL_STATE);
            it->state = tp_malloc(it->state_len ? it->state_len : 1);
            memcpy(it->state, PQgetvalue(res, r, LOOKUP_COL_STATE), it->state_len);
        }
    }
}

static void *lookup_main(void *arg)
{
    struct lookup *l = arg;
    char errstr[512];
    PGconn *db = NULL;
    struct lookup_item **items = tp_calloc(l->s.batch_max, sizeof(*items));
    const char **ids = tp_calloc(l->s.batch_max, sizeof(*ids));
    /* one per thread; idle while no lookup is queued */
    struct service_beat *beat = service_beat_new(
        NULL, "query lookup",
        l->s.health_stall_ms > 0 ? l->s.health_stall_ms : SERVICE_STALL_DEFAULT_MS);
    pthread_mutex_lock(&l->lock);
    for (;;) {
        if (!l->head)
            service_beat_idle(beat);
        while (!l->stopping && !l->head)
            pthread_cond_wait(&l->wake, &l->lock);
        if (l->stopping)
            break;
        service_beat(beat);
        size_t n = 0;
        while (l->head && n < l->s.batch_max) {
            items[n] = l->head;
            ids[n] = l->head->id;
            l->head = l->head->next;
            n++;
        }
        if (!l->head)
            l->tail = NULL;
        l->n_queued -= n;
        if (l->head) /* more than one batch queued: wake another thread */
            pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->lock);

        int64_t t0 = tp_mono_us();
        PGresult *res = NULL;
        enum tp_err err = TP_OK;
        bool unreachable = false;
        if (!db) {
            err = pg_connect(l->dsn, "tp-query-lookup", &db, errstr, sizeof(errstr));
            unreachable = err != TP_OK;
            if (err == TP_OK) {
                char set[64];
                snprintf(set, sizeof(set), "SET statement_timeout = %d", l->s.statement_timeout_ms);
                err = pg_command(db, set, errstr, sizeof(errstr));
            }
            if (err == TP_OK)
                err = lookup_prepare(db, errstr, sizeof(errstr));
            if (err != TP_OK) {
                PQfinish(db);
                db = NULL;
            }
        }
        if (err == TP_OK)
            err = lookup_fetch(db, ids, n, &res, errstr, sizeof(errstr));
        if (err != TP_OK) {
            atomic_fetch_add(&l->failures, 1);
            log_error("could not read twins: %s", errstr);
            if (db && PQstatus(db) != CONNECTION_OK) {
                PQfinish(db);
                db = NULL;
            }
        }
        lookup_fill(items, n, res, err, unreachable, errstr);
        PQclear(res);
        metrics_histogram_observe(&l->batch_ms, (double)(tp_mono_us() - t0) / 1000.0);
        atomic_fetch_add(&l->batches, 1);
        atomic_fetch_add(&l->ids, n);
        for (size_t i = 0; i < n; i++) {
            struct http_request *req = items[i]->req;
            items[i]->done = true; /* the item is the request's from here on */
            http_request_resume(req);
        }
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
    service_beat_free(beat);
    PQfinish(db);
    free(items);
    free(ids);
    return NULL;
}

struct lookup *lookup_new(const struct lookup_settings *s)
{
    struct lookup *l = tp_calloc(1, sizeof(*l));
    l->s = *s;
    if (l->s.batch_max < 1)
        l->s.batch_max = 1;
    if (l->s.batch_max > LOOKUP_BATCH_MAX)
        l->s.batch_max = LOOKUP_BATCH_MAX;
    l->dsn = tp_strdup(s->dsn);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->wake, NULL);
    l->threads = tp_calloc((size_t)(s->threads > 0 ? s->threads : 1), sizeof(*l->threads));
    for (int i = 0; i < s->threads; i++)
        if (pthread_create(&l->threads[l->n_threads], NULL, lookup_main, l) == 0)
            l->n_threads++;
    return l;
}

enum waiter_add_result lookup_submit(struct lookup *l, struct http_request *req,
                                     struct lookup_item *it)
{
    pthread_mutex_lock(&l->lock);
    if (l->stopping || l->n_threads == 0) {
        pthread_mutex_unlock(&l->lock);
        return WAITER_STOPPING;
    }
    if (l->n_queued >= l->s.max_queued) {
        pthread_mutex_unlock(&l->lock);
        return WAITER_FULL;
    }
    it->req = req;
    it->next = NULL;
    http_request_suspend(req); /* before a thread can see it */
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
    l->n_queued++;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->lock);
    return WAITER_ADDED;
}

void lookup_metrics(struct lookup *l, struct buf *b)
{
    pthread_mutex_lock(&l->lock);
    size_t queued = l->n_queued;
    pthread_mutex_unlock(&l->lock);
    metrics_sample(b, "tp_query_lookup_queued", "gauge",
                   "GET /v1/devices/{id} requests queued for a batch", NULL, (double)queued);
    metrics_sample(b, "tp_query_lookup_batches_total", "counter", "lookup statements run", NULL,
                   (double)atomic_load(&l->batches));
    metrics_sample(b, "tp_query_lookup_ids_total", "counter", "device ids looked up in batches",
                   NULL, (double)atomic_load(&l->ids));
    metrics_sample(b, "tp_query_lookup_failures_total", "counter", "lookup statements failed", NULL,
                   (double)atomic_load(&l->failures));
    metrics_histogram_write(b, "tp_query_lookup_batch_duration_seconds", "one batch's statement",
                            &l->batch_ms);
}

void lookup_stop(struct lookup *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    bool first = !l->stopping;
    l->stopping = true;
    struct lookup_item *head = l->head;
    l->head = l->tail = NULL;
    l->n_queued = 0;
    pthread_cond_broadcast(&l->wake);
    pthread_mutex_unlock(&l->lock);
    while (head) {
        struct lookup_item *it = head;
        head = it->next;
        it->shutdown = true;
        it->done = true;
        http_request_resume(it->req);
    }
    if (first)
        for (int i = 0; i < l->n_threads; i++)
            pthread_join(l->threads[i], NULL);
}

void lookup_free(struct lookup *l)
{
    if (!l)
        return;
    lookup_stop(l);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->wake);
    free(l->threads);
    free(l->dsn);
    free(l);
}
