#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"

struct pool {
    char *dsn;
    size_t size;
    int statement_timeout_ms;
    pool_prepare_fn prepare;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    PGconn **idle; /* stack of idle connections */
    size_t n_idle;
    size_t n_open;
};

struct pool *pool_new(const char *dsn, size_t size, int statement_timeout_ms,
                      pool_prepare_fn prepare)
{
    struct pool *p = tp_calloc(1, sizeof(*p));
    p->dsn = tp_strdup(dsn);
    p->size = size;
    p->statement_timeout_ms = statement_timeout_ms;
    p->prepare = prepare;
    p->idle = tp_calloc(size, sizeof(*p->idle));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    return p;
}

static enum tp_err pool_open(struct pool *p, PGconn **out, char *errstr, size_t errstr_size)
{
    PGconn *db;
    enum tp_err err = pg_connect(p->dsn, log_component_name(), &db, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", p->statement_timeout_ms);
    const char *params[] = {timeout};
    err = pg_exec_params(db, "SELECT set_config('statement_timeout', $1, false)", 1, params,
                         PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (err == TP_OK && p->prepare)
        err = p->prepare(db, errstr, errstr_size);
    if (err != TP_OK) {
        PQfinish(db);
        return err;
    }
    *out = db;
    return TP_OK;
}

enum tp_err pool_get(struct pool *p, int wait_ms, PGconn **out, char *errstr, size_t errstr_size)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (p->n_idle == 0 && p->n_open >= p->size) {
        if (pthread_cond_timedwait(&p->freed, &p->lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->lock);
            return tp_err_set(TP_TIMEOUT, errstr, errstr_size,
                              "no database connection free within %d ms", wait_ms);
        }
    }
    if (p->n_idle > 0) {
        *out = p->idle[--p->n_idle];
        pthread_mutex_unlock(&p->lock);
        return TP_OK;
    }
    p->n_open++; /* reserve a slot, connect outside the lock */
    pthread_mutex_unlock(&p->lock);
    enum tp_err err = pool_open(p, out, errstr, errstr_size);
    if (err != TP_OK) {
        pthread_mutex_lock(&p->lock);
        p->n_open--;
        pthread_cond_signal(&p->freed);
        pthread_mutex_unlock(&p->lock);
    }
    return err;
}

void pool_put(struct pool *p, PGconn *db)
{
    pthread_mutex_lock(&p->lock);
    if (PQstatus(db) != CONNECTION_OK || PQtransactionStatus(db) != PQTRANS_IDLE) {
        log_warn("dropping a broken database connection");
        PQfinish(db);
        p->n_open--;
    } else {
        p->idle[p->n_idle++] = db;
    }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

void pool_stats(struct pool *p, size_t *open, size_t *idle)
{
    pthread_mutex_lock(&p->lock);
    *open = p->n_open;
    *idle = p->n_idle;
    pthread_mutex_unlock(&p->lock);
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        PQfinish(p->idle[i]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p->idle);
    free(p->dsn);
    free(p);
}
