#include "pg.h"

#include <stdio.h>
#include <string.h>

enum tp_err pg_connect(const char *dsn, const char *application_name, PGconn **out, char *errstr,
                       size_t errstr_size)
{
    const char *keys[] = {"dbname", "application_name", NULL};
    const char *values[] = {dsn, application_name, NULL};
    PGconn *db = PQconnectdbParams(keys, values, 1);
    if (PQstatus(db) != CONNECTION_OK) {
        enum tp_err err = tp_err_set(TP_DB_TRANSIENT, errstr, errstr_size,
                                     "could not connect to postgresql: %s", PQerrorMessage(db));
        /* libpq messages end in a newline */
        if (errstr) {
            size_t l = strlen(errstr);
            while (l > 0 && (errstr[l - 1] == '\n' || errstr[l - 1] == ' '))
                errstr[--l] = '\0';
        }
        PQfinish(db);
        *out = NULL;
        return err;
    }
    *out = db;
    return TP_OK;
}

enum tp_err pg_err_from_sqlstate(const char *sqlstate)
{
    if (!sqlstate || strlen(sqlstate) != 5)
        return TP_DB_TRANSIENT;
    /* 08 connection, 40 rollback (serialization, deadlock), 53 resources,
     * 57 operator intervention (shutdown, statement timeout), 55P03 lock */
    if (!strncmp(sqlstate, "08", 2) || !strncmp(sqlstate, "40", 2) || !strncmp(sqlstate, "53", 2) ||
        !strncmp(sqlstate, "57", 2) || !strcmp(sqlstate, "55P03"))
        return TP_DB_TRANSIENT;
    if (!strcmp(sqlstate, "23505"))
        return TP_CONFLICT;
    return TP_DB;
}

enum tp_err pg_check(PGconn *db, PGresult *res, ExecStatusType expect, PGresult **out, char *errstr,
                     size_t errstr_size)
{
    if (res && PQresultStatus(res) == expect) {
        if (out)
            *out = res;
        else
            PQclear(res);
        return TP_OK;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    enum tp_err err = pg_err_from_sqlstate(state);
    if (!msg || !*msg)
        msg = PQerrorMessage(db);
    tp_err_set(err, errstr, errstr_size, "postgresql error %s: %s", state ? state : "(none)", msg);
    if (errstr) {
        size_t l = strlen(errstr);
        while (l > 0 && errstr[l - 1] == '\n')
            errstr[--l] = '\0';
    }
    PQclear(res);
    if (out)
        *out = NULL;
    return err;
}

enum tp_err pg_command(PGconn *db, const char *sql, char *errstr, size_t errstr_size)
{
    return pg_check(db, PQexec(db, sql), PGRES_COMMAND_OK, NULL, errstr, errstr_size);
}

enum tp_err pg_exec_params(PGconn *db, const char *sql, int n_params, const char *const *params,
                           ExecStatusType expect, PGresult **out, char *errstr, size_t errstr_size)
{
    return pg_check(db, PQexecParams(db, sql, n_params, NULL, params, NULL, NULL, 0), expect, out,
                    errstr, errstr_size);
}

enum tp_err pg_copy_begin(PGconn *db, const char *sql, char *errstr, size_t errstr_size)
{
    return pg_check(db, PQexec(db, sql), PGRES_COPY_IN, NULL, errstr, errstr_size);
}

enum tp_err pg_copy_put(PGconn *db, const void *data, size_t len, char *errstr, size_t errstr_size)
{
    const char *p = data;
    for (size_t off = 0; off < len; off += PG_COPY_CHUNK) {
        size_t n = len - off < PG_COPY_CHUNK ? len - off : PG_COPY_CHUNK;
        if (PQputCopyData(db, p + off, (int)n) != 1)
            return tp_err_set(TP_DB_TRANSIENT, errstr, errstr_size, "could not send COPY data: %s",
                              PQerrorMessage(db));
    }
    return TP_OK;
}

enum tp_err pg_copy_end(PGconn *db, enum tp_err err, char *errstr, size_t errstr_size)
{
    char why[128];
    if (err != TP_OK) {
        const char *app = PQparameterStatus(db, "application_name");
        snprintf(why, sizeof(why), "aborted by %s", app && *app ? app : "the client");
    }
    if (PQputCopyEnd(db, err == TP_OK ? NULL : why) != 1 && err == TP_OK)
        err = tp_err_set(TP_DB_TRANSIENT, errstr, errstr_size, "could not end COPY: %s",
                         PQerrorMessage(db));
    /* the COPY's own result; after an abort its error is not the one to report */
    enum tp_err end = pg_check(db, PQgetResult(db), PGRES_COMMAND_OK, NULL,
                               err == TP_OK ? errstr : NULL, errstr_size);
    if (err == TP_OK)
        err = end;
    PGresult *extra;
    while ((extra = PQgetResult(db)) != NULL)
        PQclear(extra);
    return err;
}

enum tp_err pg_copy(PGconn *db, const char *sql, const void *data, size_t len, char *errstr,
                    size_t errstr_size)
{
    enum tp_err err = pg_copy_begin(db, sql, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    err = pg_copy_put(db, data, len, errstr, errstr_size);
    return pg_copy_end(db, err, errstr, errstr_size);
}
