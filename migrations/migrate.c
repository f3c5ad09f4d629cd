#include "migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"

#define MIGRATE_MAX_SIZE (4 << 20)
#define MIGRATE_LOCK_KEY "7356152004"

static int migrate_cmp(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

void migrate_plan_init(struct migrate_plan *p)
{
    memset(p, 0, sizeof(*p));
}

enum tp_err migrate_plan_add(struct migrate_plan *p, const char *file_name, char *errstr,
                             size_t errstr_size)
{
    size_t l = strlen(file_name);
    if (l < 9 || strcmp(file_name + l - 4, ".sql") != 0)
        return TP_OK; /* not a migration: README.md, CMakeLists.txt, ... */
    const char *nm = file_name;
    bool digits = isdigit((unsigned char)nm[0]) && isdigit((unsigned char)nm[1]) &&
                  isdigit((unsigned char)nm[2]) && isdigit((unsigned char)nm[3]);
    if (!digits || nm[4] != '_' || l >= sizeof(p->list[0].name))
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "migration file \"%s\" is not named NNNN_name.sql", file_name);
    if (p->n == MIGRATE_MAX_FILES)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "more than %d migration files",
                          MIGRATE_MAX_FILES);
    if (!p->list)
        p->list = tp_calloc(MIGRATE_MAX_FILES, sizeof(*p->list));
    p->list[p->n].version =
        (nm[0] - '0') * 1000 + (nm[1] - '0') * 100 + (nm[2] - '0') * 10 + (nm[3] - '0');
    memcpy(p->list[p->n].name, file_name, l + 1);
    p->n++;
    return TP_OK;
}

enum tp_err migrate_plan_finish(struct migrate_plan *p, char *errstr, size_t errstr_size)
{
    if (p->n)
        qsort(p->list, p->n, sizeof(*p->list), migrate_cmp);
    for (size_t i = 1; i < p->n; i++)
        if (p->list[i].version == p->list[i - 1].version)
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "migrations \"%s\" and \"%s\" share version %d", p->list[i - 1].name,
                              p->list[i].name, p->list[i].version);
    return TP_OK;
}

void migrate_plan_release(struct migrate_plan *p)
{
    free(p->list);
    memset(p, 0, sizeof(*p));
}

static enum tp_err migrate_list(const char *dir, struct migrate_plan *p, char *errstr,
                                size_t errstr_size)
{
    DIR *d = opendir(dir);
    if (!d)
        return tp_err_set(TP_IO, errstr, errstr_size, "could not open migrations folder \"%s\"",
                          dir);
    struct dirent *e;
    enum tp_err err = TP_OK;
    while (err == TP_OK && (e = readdir(d)) != NULL)
        err = migrate_plan_add(p, e->d_name, errstr, errstr_size);
    closedir(d);
    if (err == TP_OK)
        err = migrate_plan_finish(p, errstr, errstr_size);
    return err;
}

static enum tp_err migrate_read(const char *dir, const char *name, struct buf *sql, char *sha,
                                char *errstr, size_t errstr_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return tp_err_set(TP_IO, errstr, errstr_size, "could not open \"%s\"", path);
    char chunk[8192];
    size_t r;
    enum tp_err err = TP_OK;
    while (err == TP_OK && (r = fread(chunk, 1, sizeof(chunk), f)) > 0)
        err = buf_append(sql, chunk, r);
    fclose(f);
    if (err != TP_OK)
        return tp_err_set(err, errstr, errstr_size, "migration \"%s\" is over %d bytes", name,
                          MIGRATE_MAX_SIZE);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(sql->data ? sql->data : "", sql->len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < mdlen; i++)
        sprintf(sha + 2 * i, "%02x", md[i]);
    return TP_OK;
}

/* Applies one migration in its own transaction; *did tells whether it ran. */
static enum tp_err migrate_one(PGconn *db, const char *dir, const struct migration *m, bool *did,
                               char *errstr, size_t errstr_size)
{
    char sha[2 * EVP_MAX_MD_SIZE + 1] = "";
    char version[16];
    struct buf sql;
    PGresult *res = NULL;
    buf_init(&sql, MIGRATE_MAX_SIZE);
    *did = false;
    enum tp_err err = migrate_read(dir, m->name, &sql, sha, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    err = pg_command(db, "BEGIN", errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    err = pg_check(db, PQexec(db, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")"),
                   PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (err != TP_OK)
        goto rollback;
    snprintf(version, sizeof(version), "%d", m->version);
    const char *params[] = {version, m->name, sha};
    err = pg_exec_params(db, "SELECT checksum FROM schema_migrations WHERE version = $1", 1, params,
                         PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        goto rollback;
    if (PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 0), sha) != 0)
            err = tp_err_set(TP_CONFLICT, errstr, errstr_size,
                             "migration \"%s\" changed after it was applied (migrations are "
                             "forward-only: add a new file instead)",
                             m->name);
        goto rollback; /* nothing to do, or an error */
    }
    PGresult *run = PQexec(db, sql.data ? sql.data : "");
    /* a file may end with a query (e.g. SELECT setval(...)): that is fine too */
    err = pg_check(db, run,
                   PQresultStatus(run) == PGRES_TUPLES_OK ? PGRES_TUPLES_OK : PGRES_COMMAND_OK,
                   NULL, errstr, errstr_size);
    if (err != TP_OK) {
        char detail[512];
        snprintf(detail, sizeof(detail), "%s", errstr);
        err = tp_err_set(err, errstr, errstr_size, "migration \"%s\" failed: %s", m->name, detail);
        goto rollback;
    }
    err = pg_exec_params(db,
                         "INSERT INTO schema_migrations (version, name, checksum) "
                         "VALUES ($1, $2, $3)",
                         3, params, PGRES_COMMAND_OK, NULL, errstr, errstr_size);
    if (err != TP_OK)
        goto rollback;
    err = pg_command(db, "COMMIT", errstr, errstr_size);
    *did = err == TP_OK;
    goto out;
rollback:
    pg_command(db, "ROLLBACK", NULL, 0);
out:
    PQclear(res);
    buf_release(&sql);
    return err;
}

enum tp_err migrate_run(PGconn *db, const char *dir, int *applied, char *errstr, size_t errstr_size)
{
    struct migrate_plan plan;
    migrate_plan_init(&plan);
    *applied = 0;
    enum tp_err err = pg_command(db,
                                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                 " version int PRIMARY KEY,"
                                 " name text NOT NULL,"
                                 " checksum text NOT NULL,"
                                 " applied_at timestamptz NOT NULL DEFAULT now())",
                                 errstr, errstr_size);
    if (err == TP_CONFLICT) /* two migrators created it at the same moment */
        err = TP_OK;
    if (err != TP_OK)
        return err;
    err = migrate_list(dir, &plan, errstr, errstr_size);
    for (size_t i = 0; i < plan.n && err == TP_OK; i++) {
        bool did;
        err = migrate_one(db, dir, &plan.list[i], &did, errstr, errstr_size);
        if (err == TP_OK && did) {
            log_info("applied migration \"%s\"", plan.list[i].name);
            (*applied)++;
        }
    }
    migrate_plan_release(&plan);
    return err;
}
