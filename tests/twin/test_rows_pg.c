/* twin/rows.c against a real PostgreSQL: the binary COPY stream loads into the staging
 * tables of twin_rows_stage_sql with every value exact (temp tables only: no database of
 * its own needed). */
#include <check.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "twin/record.h"
#include "twin/rows.h"

static PGconn *db;

static void exec_ok(const char *sql)
{
    PGresult *r = PQexec(db, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(db));
    PQclear(r);
}

static void copy_in(const char *sql, const struct buf *b)
{
    PGresult *r = PQexec(db, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COPY_IN, "%s", PQerrorMessage(db));
    PQclear(r);
    ck_assert_int_eq(PQputCopyData(db, b->data, (int)b->len), 1);
    ck_assert_int_eq(PQputCopyEnd(db, NULL), 1);
    r = PQgetResult(db);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "COPY: %s", PQerrorMessage(db));
    PQclear(r);
    ck_assert_ptr_null(PQgetResult(db));
}

START_TEST(test_rows_load_exactly)
{
    struct stack st;
    stack_init(&st, "rows");
    db = PQconnectdb(st.admin_dsn);
    ck_assert_msg(PQstatus(db) == CONNECTION_OK, "%s", PQerrorMessage(db));
    exec_ok("SET TimeZone = 'UTC'");
    exec_ok(twin_rows_stage_sql);

    struct twin *a = twin_new("wagen-\xc3\xbc\t\\1"); /* UTF-8, a tab, a backslash: no escaping */
    a->first_seen_ms = 1795400000000LL;
    a->last_seen_ms = 1795400012345LL;
    a->last_sequence = 12;
    a->events = 9;
    struct twin_metric *m = twin_metric_set(a, "speed_kmh", 0.1 + 0.2, a->last_seen_ms);
    twin_metric_observe(m, 0.1 + 0.2);
    twin_attr_set(a, "region", "eu-central");
    struct twin *b = twin_new("old");
    b->last_seen_ms = -62135596800000LL; /* 0001-01-01 */
    b->last_sequence = b->events = 1;
    struct history *h = history_new();
    history_add(h, "wagen-\xc3\xbc\t\\1", "speed_kmh", 1795400012345LL, -1e-300);
    history_add(h, "wagen-\xc3\xbc\t\\1", "speed_kmh", 1795400001000LL, 88.5);

    struct buf tw, hi;
    buf_init(&tw, 1 << 20);
    buf_init(&hi, 1 << 20);
    twin_rows_header(&tw);
    twin_rows_twin(&tw, a);
    twin_rows_twin(&tw, b);
    twin_rows_trailer(&tw);
    twin_rows_header(&hi);
    twin_rows_history(&hi, h, &h->entries[0]);
    twin_rows_trailer(&hi);

    exec_ok("BEGIN"); /* the stage tables are ON COMMIT DELETE ROWS */
    copy_in(twin_rows_copy_twins_sql, &tw);
    copy_in(twin_rows_copy_history_sql, &hi);
    PGresult *r = PQexec(db, "SELECT device_id, version, last_seen::text, state FROM twins_stage"
                             " ORDER BY version DESC");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    ck_assert_int_eq(PQntuples(r), 2);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "wagen-\xc3\xbc\t\\1");
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "9");
    ck_assert_str_eq(PQgetvalue(r, 0, 2), "2026-11-23 02:13:32.345+00");
    ck_assert_str_eq(PQgetvalue(r, 1, 0), "old");
    ck_assert_str_eq(PQgetvalue(r, 1, 1), "1");
    ck_assert_str_eq(PQgetvalue(r, 1, 2), "0001-01-01 00:00:00+00");
    /* the state is the record, byte for byte, and reads back */
    size_t n = 0;
    unsigned char *state = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 3), &n);
    uint8_t *rec = malloc(twin_record_bound(a));
    size_t rec_len = twin_record_write(rec, a);
    ck_assert_uint_eq(n, rec_len);
    ck_assert_int_eq(memcmp(state, rec, n), 0);
    struct twin *back = twin_new("x");
    char errstr[256];
    ck_assert_int_eq(twin_record_read(back, state, n, errstr, sizeof(errstr)), TP_OK);
    ck_assert_double_eq(twin_metric_get(back, "speed_kmh")->value, 0.1 + 0.2);
    ck_assert_str_eq(back->region, "eu-central");
    PQfreemem(state);
    PQclear(r);

    r = PQexec(db, "SELECT concat_ws(' ', device_id, metric, minute, min, max, sum, count)"
                   " FROM metric_minutes_stage");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    ck_assert_int_eq(PQntuples(r), 1);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "wagen-\xc3\xbc\t\\1 speed_kmh 2026-11-23 02:13:00+00 "
                                          "-1e-300 88.5 88.5 2");
    PQclear(r);
    exec_ok("COMMIT");

    twin_free(back);
    free(rec);
    buf_release(&tw);
    buf_release(&hi);
    history_free(h);
    twin_free(a);
    twin_free(b);
    PQfinish(db);
}
END_TEST

static Suite *rows_pg_suite(void)
{
    Suite *s = suite_create("rows_pg");
    TCase *tc = tcase_create("copy");
    tcase_add_test(tc, test_rows_load_exactly);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(rows_pg_suite)
