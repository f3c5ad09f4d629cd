/*
 * pool.h - a bounded pool of PostgreSQL connections for a service's
 * HTTP threads (tp-query, tp-registry). Connections are opened lazily (up to `size`),
 * get statement_timeout set and the service's statements prepared once,
 * and are reset when returned broken.
 *
 * Object: struct pool (heap, _new/_free). Threads: pool_get/pool_put from
 * any thread; a connection belongs to its taker until pool_put.
 *
 *     pool_new(dsn, 4, 2000, prepare_fn, &pool);
 *     PGconn *db;
 *     if (pool_get(pool, 1000, &db, errstr, n) == TP_OK) { ...; pool_put(pool, db); }
 */
#ifndef TP_POOL_H
#define TP_POOL_H

#include <libpq-fe.h>
#include <stddef.h>

#include "err.h"

struct pool;

/* Prepares statements on a new connection (NULL: nothing to prepare). */
typedef enum tp_err (*pool_prepare_fn)(PGconn *db, char *errstr, size_t errstr_size);

struct pool *pool_new(const char *dsn, size_t size, int statement_timeout_ms,
                      pool_prepare_fn prepare);
/* TP_TIMEOUT when no connection frees up within wait_ms. */
enum tp_err pool_get(struct pool *p, int wait_ms, PGconn **out, char *errstr, size_t errstr_size);
void pool_put(struct pool *p, PGconn *db);
/* Connections open, and of those idle. */
void pool_stats(struct pool *p, size_t *open, size_t *idle);
void pool_free(struct pool *p);

#endif
