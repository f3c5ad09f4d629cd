/*
 * pg.h - libpq at the edge: connecting, and turning results and SQLSTATEs
 * into enum tp_err (keeping "retriable": connection loss, serialization
 * failures, deadlocks and resource shortages are TP_DB_TRANSIENT).
 *
 * Ownership: pg_connect returns a connection the caller closes with
 * PQfinish. pg_check consumes (clears) the result it is given.
 * Threads: a PGconn belongs to one thread at a time.
 *
 *     PGconn *db;
 *     if (pg_connect(dsn, "tp-query", &db, errstr, sizeof(errstr)) != TP_OK) ...
 *     err = pg_check(db, PQexecParams(db, sql, ...), PGRES_TUPLES_OK, &res, errstr, n);
 *     ... use res ...; PQclear(res);
 */
#ifndef TP_PG_H
#define TP_PG_H

#include <libpq-fe.h>
#include <stddef.h>

#include "err.h"

enum tp_err pg_connect(const char *dsn, const char *application_name, PGconn **out, char *errstr,
                       size_t errstr_size);
/* Maps a SQLSTATE (NULL = no state, e.g. connection lost) to our code. */
enum tp_err pg_err_from_sqlstate(const char *sqlstate);
/*
 * Checks res has status `expect`. On success hands it to *out (if out is
 * NULL it is cleared); on failure clears it and fills errstr.
 */
enum tp_err pg_check(PGconn *db, PGresult *res, ExecStatusType expect, PGresult **out, char *errstr,
                     size_t errstr_size);
/*
 * Runs a parameterized statement (text parameters) expecting `expect`;
 * on success the result goes to *out (cleared when out is NULL).
 */
enum tp_err pg_exec_params(PGconn *db, const char *sql, int n_params, const char *const *params,
                           ExecStatusType expect, PGresult **out, char *errstr, size_t errstr_size);
/* Runs a parameterless command (BEGIN, COMMIT, ...). */
enum tp_err pg_command(PGconn *db, const char *sql, char *errstr, size_t errstr_size);

#endif
