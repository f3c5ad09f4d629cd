/* common/pg.c's COPY helper against the dev stack's PostgreSQL (temp tables only): a
 * payload of several PG_COPY_CHUNK pieces loads exactly; a refused statement, rows the
 * server rejects and an abort by the caller each leave no row and a connection ready for
 * the next statement. */
#include <check.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/pg.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"

static PGconn *db;

static void setup(void)
{
    struct stack st;
    char errstr[512];
    stack_init(&st, "pg");
    ck_assert_msg(pg_connect(st.admin_dsn, "tp-test-pg", &db, errstr, sizeof(errstr)) == TP_OK,
                  "%s", errstr);
    ck_assert_int_eq(pg_command(db, "CREATE TEMP TABLE copied (n bigint NOT NULL, s text)", errstr,
                                sizeof(errstr)),
                     TP_OK);
}

static void teardown(void)
{
    PQfinish(db);
    db = NULL;
}

/* "count sum(n) sum(length(s))" of the table */
static void table_sums(char *out, size_t size)
{
    PGresult *r = PQexec(db, "SELECT count(*), coalesce(sum(n), 0), coalesce(sum(length(s)), 0)"
                             " FROM copied");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(out, size, "%s %s %s", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
    PQclear(r);
}

/* the connection answers a plain statement (nothing left of the COPY) */
static void ready_for_next(void)
{
    char errstr[256];
    PGresult *r = NULL;
    ck_assert_int_eq(PQtransactionStatus(db), PQTRANS_IDLE);
    ck_assert_int_eq(
        pg_exec_params(db, "SELECT 41 + 1", 0, NULL, PGRES_TUPLES_OK, &r, errstr, sizeof(errstr)),
        TP_OK);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "42");
    PQclear(r);
    ck_assert_int_eq(pg_command(db, "TRUNCATE copied", errstr, sizeof(errstr)), TP_OK);
}

START_TEST(test_copy_in_several_chunks)
{
    struct buf b;
    char errstr[512], sums[128];
    buf_init(&b, SIZE_MAX / 2);
    /* 40,000 rows of about 126 bytes: about 5 MiB, five pieces */
    char pad[121];
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (int i = 1; i <= 40000; i++)
        buf_printf(&b, "%d\t%s\n", i, pad);
    ck_assert_uint_gt(b.len, 4 * (size_t)PG_COPY_CHUNK);
    ck_assert_int_eq(
        pg_copy(db, "COPY copied (n, s) FROM STDIN", b.data, b.len, errstr, sizeof(errstr)), TP_OK);
    table_sums(sums, sizeof(sums));
    ck_assert_str_eq(sums, "40000 800020000 4800000");
    ready_for_next();

    /* empty: no rows, fine */
    ck_assert_int_eq(pg_copy(db, "COPY copied (n, s) FROM STDIN", "", 0, errstr, sizeof(errstr)),
                     TP_OK);
    table_sums(sums, sizeof(sums));
    ck_assert_str_eq(sums, "0 0 0");
    ready_for_next();

    /* the streaming form: rows put a few at a time */
    ck_assert_int_eq(pg_copy_begin(db, "COPY copied (n, s) FROM STDIN", errstr, sizeof(errstr)),
                     TP_OK);
    static const char part1[] = "1\ta\n2\t", part2[] = "bb\n3\t\\N\n";
    ck_assert_int_eq(pg_copy_put(db, part1, strlen(part1), errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(pg_copy_put(db, part2, strlen(part2), errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(pg_copy_end(db, TP_OK, errstr, sizeof(errstr)), TP_OK);
    table_sums(sums, sizeof(sums));
    ck_assert_str_eq(sums, "3 6 3");
    ready_for_next();
    buf_release(&b);
}
END_TEST

START_TEST(test_copy_refused_statement)
{
    char errstr[512];
    /* no COPY at all: the statement's own result, and nothing to end (a result without a
     * SQLSTATE counts as transient, as everywhere in pg_check) */
    ck_assert_int_eq(pg_copy(db, "COPY nosuchtable FROM STDIN", "1\n", 2, errstr, sizeof(errstr)),
                     TP_DB);
    ck_assert_str_eq(errstr, "postgresql error 42P01: relation \"nosuchtable\" does not exist");
    ready_for_next();
    ck_assert_int_eq(pg_copy_begin(db, "SELECT 1", errstr, sizeof(errstr)), TP_DB_TRANSIENT);
    ck_assert_str_eq(errstr, "postgresql error (none): ");
    ready_for_next();
}
END_TEST

START_TEST(test_copy_rows_rejected)
{
    char errstr[512], sums[128];
    static const char rows[] = "1\tok\nnot-a-number\tbad\n3\tok\n";
    ck_assert_int_eq(
        pg_copy(db, "COPY copied (n, s) FROM STDIN", rows, strlen(rows), errstr, sizeof(errstr)),
        TP_DB);
    ck_assert_str_eq(
        errstr, "postgresql error 22P02: invalid input syntax for type bigint: \"not-a-number\"");
    table_sums(sums, sizeof(sums));
    ck_assert_str_eq(sums, "0 0 0");
    ready_for_next();
}
END_TEST

START_TEST(test_copy_aborted_by_caller)
{
    char errstr[512], sums[128];
    /* in a transaction: the abort fails the COPY, and so the transaction */
    ck_assert_int_eq(pg_command(db, "BEGIN", errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(pg_copy_begin(db, "COPY copied (n, s) FROM STDIN", errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(pg_copy_put(db, "1\ta\n2\tb\n", 8, errstr, sizeof(errstr)), TP_OK);
    strcpy(errstr, "the caller's reason");
    ck_assert_int_eq(pg_copy_end(db, TP_DECODE, errstr, sizeof(errstr)), TP_DECODE);
    ck_assert_str_eq(errstr, "the caller's reason");
    ck_assert_int_eq(PQtransactionStatus(db), PQTRANS_INERROR);
    ck_assert_int_eq(pg_command(db, "ROLLBACK", errstr, sizeof(errstr)), TP_OK);
    table_sums(sums, sizeof(sums));
    ck_assert_str_eq(sums, "0 0 0");
    ready_for_next();
}
END_TEST

static Suite *pg_suite(void)
{
    Suite *s = suite_create("pg");
    TCase *tc = tcase_create("copy");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_copy_in_several_chunks);
    tcase_add_test(tc, test_copy_refused_statement);
    tcase_add_test(tc, test_copy_rows_rejected);
    tcase_add_test(tc, test_copy_aborted_by_caller);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(pg_suite)
