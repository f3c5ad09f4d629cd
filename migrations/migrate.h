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
 * increasing, no gaps required). Other names in the folder (README.md) are
 * skipped; a .sql file named otherwise is an error. The folder's names are
 * read into a struct migrate_plan (migrate_plan_*: pure, no I/O, fuzzed by
 * tests/fuzz/fuzz_migrate.c), which owns its list until _release.
 * Threads: one connection, one thread.
 *
 *     int applied;
 *     err = migrate_run(db, "migrations", &applied, errstr, sizeof(errstr));
 */
#ifndef TP_MIGRATE_H
#define TP_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "common/err.h"

#define MIGRATE_MAX_FILES 1000

struct migration {
    int version; /* NNNN */
    char name[256];
};

/* The migrations of a folder, in version order after migrate_plan_finish. */
struct migrate_plan {
    struct migration *list;
    size_t n;
};

void migrate_plan_init(struct migrate_plan *p);
/* Adds one file name of the folder: names not ending in .sql (or shorter than
 * "NNNN_x.sql") are skipped; TP_CONFIG for a misnamed .sql file or more than
 * MIGRATE_MAX_FILES. */
enum tp_err migrate_plan_add(struct migrate_plan *p, const char *file_name, char *errstr,
                             size_t errstr_size);
/* Sorts by version; TP_CONFIG when two files share one. */
enum tp_err migrate_plan_finish(struct migrate_plan *p, char *errstr, size_t errstr_size);
void migrate_plan_release(struct migrate_plan *p);

enum tp_err migrate_run(PGconn *db, const char *dir, int *applied, char *errstr,
                        size_t errstr_size);

#endif
