/*
 * migrate.h - applies migrations/NNNN_name.sql files in order.
 *
 * The table schema_migrations records (version, name, sha256 checksum) of
 * every applied file. Each pending file runs in its own transaction,
 * together with its schema_migrations row, under a transaction-level
 * advisory lock, so concurrent migrators (several replicas starting at
 * once) apply each file exactly once. Re-running is a no-op. An applied
 * file whose content changed is an error: migrations are forward-only.
 *
 * Files must be named NNNN_name.sql (4 digits, versions strictly
 * increasing, no gaps required). Threads: one connection, one thread.
 *
 *     int applied;
 *     err = migrate_run(db, "migrations", &applied, errstr, sizeof(errstr));
 */
#ifndef TP_MIGRATE_H
#define TP_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "common/err.h"

enum tp_err migrate_run(PGconn *db, const char *dir, int *applied, char *errstr,
                        size_t errstr_size);

#endif
