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
 *     err = pg_copy(db, "COPY t FROM STDIN (FORMAT binary)", bytes, len, errstr, n);
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

/*
 * COPY ... FROM STDIN, the one loop of the projector's flush, tp-replay's shadow build and
 * the benchmarks. pg_copy_begin runs the COPY statement (on failure the connection is idle:
 * do not call pg_copy_end). pg_copy_put sends bytes of the stream, of any length (libpq
 * takes them in pieces of PG_COPY_CHUNK). pg_copy_end finishes the COPY: with err TP_OK it
 * ends it and returns the server's verdict on the rows; with an error (a failed put, or the
 * caller's) it aborts the COPY ("aborted by <application_name>"), the server keeps none of
 * its rows, and err comes back with errstr as it was. Either way the connection is then
 * ready for the next statement (in the same transaction, which a failed COPY has aborted).
 *
 *     err = pg_copy_begin(db, sql, errstr, n);
 *     if (err != TP_OK) return err;
 *     while (more && err == TP_OK) err = pg_copy_put(db, chunk, chunk_len, errstr, n);
 *     err = pg_copy_end(db, err, errstr, n);
 */
#define PG_COPY_CHUNK (1 << 20)
enum tp_err pg_copy_begin(PGconn *db, const char *sql, char *errstr, size_t errstr_size);
enum tp_err pg_copy_put(PGconn *db, const void *data, size_t len, char *errstr, size_t errstr_size);
enum tp_err pg_copy_end(PGconn *db, enum tp_err err, char *errstr, size_t errstr_size);
/* pg_copy_begin, pg_copy_put of the whole payload, pg_copy_end. */
enum tp_err pg_copy(PGconn *db, const char *sql, const void *data, size_t len, char *errstr,
                    size_t errstr_size);

#endif
