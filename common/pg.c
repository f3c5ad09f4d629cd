#include "pg.h"

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
