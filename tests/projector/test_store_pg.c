/* store.c against a real PostgreSQL (migration 0009's twins table): the version guard, a job
 * run on its own after it was built, loading twins from their records, and a stored record
 * that does not decode refusing the load instead of starting the twin over. */
#include <check.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "projector/store.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "twin/record.h"

static struct stack st;
static PGconn *db;

static void setup(void)
{
    stack_init(&st, "store");
    stack_db_create(&st);
    db = PQconnectdb(st.dsn);
    ck_assert_msg(PQstatus(db) == CONNECTION_OK, "%s", PQerrorMessage(db));
}

static void teardown(void)
{
    PQfinish(db);
    db = NULL;
    stack_release(&st);
}

/* The first column of the first row of sql (one text parameter or none), or "" */
static void scalar(const char *sql, const char *param, char *out, size_t n)
{
    const char *params[] = {param};
    PGresult *r = PQexecParams(db, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
    snprintf(out, n, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
}

static struct twin *twin_at(const char *id, int64_t events, double speed)
{
    struct twin *t = twin_new(id);
    t->first_seen_ms = 1795400000000LL;
    t->last_seen_ms = 1795400000000LL + events * 1000;
    t->last_sequence = t->events = events;
    t->seen[0] = t->seen[1] = ~0ULL;
    struct twin_metric *m = twin_metric_set(t, "speed_kmh", speed, t->last_seen_ms);
    twin_metric_observe(m, speed);
    twin_attr_set(t, "region", "eu-central");
    return t;
}

static enum tp_err flush(struct store *s, struct twin **twins, size_t n, int64_t *offset)
{
    char errstr[512];
    int32_t part = 0;
    int64_t next = (*offset < 0 ? 0 : *offset) + 1;
    struct store_batch b = {.twins = twins,
                            .n_twins = n,
                            .parts = &part,
                            .offsets = &next,
                            .expected = offset,
                            .n_parts = 1};
    enum tp_err err = store_flush(s, &b, errstr, sizeof(errstr));
    if (err == TP_OK)
        *offset = next;
    return err;
}

/* A twin never moves back to a lower version, and a job built before the fold went on
 * writes what it was built from. */
START_TEST(test_version_guard)
{
    char errstr[512], got[256];
    struct store *s;
    ck_assert_int_eq(store_new(st.dsn, "g", "t", &s, errstr, sizeof(errstr)), TP_OK);
    int64_t offset = JOURNAL_OFFSET_BEGINNING;
    struct twin *a = twin_at("a", 5, 50);
    ck_assert_int_eq(flush(s, &a, 1, &offset), TP_OK);
    scalar("SELECT concat_ws(' ', version, last_seen AT TIME ZONE 'UTC', octet_length(state) > 0,"
           " written_xid = xmin::text::xid8) FROM twins WHERE device_id = $1",
           "a", got, sizeof(got));
    ck_assert_str_eq(got, "5 2026-11-23 02:13:25 t t");

    /* version 3 after 5 (a stale writer): the row stays at 5 */
    struct twin *old = twin_at("a", 3, 30);
    ck_assert_int_eq(flush(s, &old, 1, &offset), TP_OK);
    scalar("SELECT version FROM twins WHERE device_id = $1", "a", got, sizeof(got));
    ck_assert_str_eq(got, "5");
    /* the same version again is written (nothing newer is lost) */
    ck_assert_int_eq(flush(s, &a, 1, &offset), TP_OK);
    scalar("SELECT version FROM twins WHERE device_id = $1", "a", got, sizeof(got));
    ck_assert_str_eq(got, "5");

    /* built at version 6, then the fold goes on to 7 before the job runs: 6 is written */
    a->events = a->last_sequence = 6;
    int32_t part = 0;
    int64_t next = offset + 1;
    struct store_batch b = {.twins = &a,
                            .n_twins = 1,
                            .parts = &part,
                            .offsets = &next,
                            .expected = &offset,
                            .n_parts = 1};
    struct store_job job;
    store_job_build(&job, &b);
    a->events = a->last_sequence = 7;
    ck_assert_int_eq(store_job_run(s, &job, errstr, sizeof(errstr)), TP_OK);
    /* run again (a lost COMMIT answer, retried): the offsets refuse it */
    ck_assert_int_eq(store_job_run(s, &job, errstr, sizeof(errstr)), TP_CONFLICT);
    store_job_release(&job);
    scalar("SELECT version FROM twins WHERE device_id = $1", "a", got, sizeof(got));
    ck_assert_str_eq(got, "6");
    scalar("SELECT next_offset FROM projector_offsets WHERE consumer_group = $1", "g", got,
           sizeof(got));
    ck_assert_str_eq(got, "4");
    offset = 4;

    /* loaded back: decoded from the record, exactly */
    struct twins *tt = twins_new();
    char *ids[] = {"a", "nobody"};
    ck_assert_int_eq(store_load_twins(s, ids, 2, tt, errstr, sizeof(errstr)), TP_OK);
    ck_assert_uint_eq(tt->count, 1);
    const struct twin *back = twins_get(tt, "a");
    ck_assert_int_eq(back->events, 6);
    ck_assert_int_eq(back->last_sequence, 6);
    ck_assert_int_eq(back->first_seen_ms, 1795400000000LL);
    ck_assert_int_eq(back->last_seen_ms, 1795400005000LL);
    ck_assert_uint_eq(back->seen[0], ~0ULL);
    ck_assert_str_eq(back->region, "eu-central");
    const struct twin_metric *m = twin_metric_get(back, "speed_kmh");
    ck_assert_double_eq(m->value, 50);
    ck_assert_int_eq(m->count, 1);
    twins_free(tt);

    /* a flush of a stored twin and a new one: both written (insert, then upsert of the rest) */
    struct twin *mixed[] = {twin_at("b", 1, 10), twin_at("a", 8, 80)};
    ck_assert_int_eq(flush(s, mixed, 2, &offset), TP_OK);
    scalar("SELECT string_agg(device_id || '=' || version, ' ' ORDER BY device_id) FROM twins",
           NULL, got, sizeof(got));
    ck_assert_str_eq(got, "a=8 b=1");
    twin_free(mixed[0]);
    twin_free(mixed[1]);
    twin_free(old);
    twin_free(a);
    store_free(s);
}
END_TEST

/* A stored record that does not decode fails the load (TP_DECODE, the device named), and
 * the twins loaded with it do not go into memory either; nothing starts over silently. */
START_TEST(test_undecodable_record_refuses_load)
{
    char errstr[512];
    struct store *s;
    ck_assert_int_eq(store_new(st.dsn, "g", "t", &s, errstr, sizeof(errstr)), TP_OK);
    int64_t offset = JOURNAL_OFFSET_BEGINNING;
    struct twin *good[] = {twin_at("good", 2, 20), twin_at("bad", 4, 40)};
    ck_assert_int_eq(flush(s, good, 2, &offset), TP_OK);
    PGresult *r = PQexec(db, "UPDATE twins SET state = '\\x01ff'::bytea WHERE device_id = 'bad'");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    struct twins *tt = twins_new();
    char *ids[] = {"bad", "good"};
    ck_assert_int_eq(store_load_twins(s, ids, 2, tt, errstr, sizeof(errstr)), TP_DECODE);
    ck_assert_msg(strstr(errstr, "could not load the twin of device \"bad\": its stored record "
                                 "does not decode (") == errstr,
                  "%s", errstr);
    ck_assert_uint_eq(tt->count, 0);
    ck_assert_ptr_null(twins_get(tt, "good"));

    /* a record whose events differ from its row's version is refused too */
    r = PQexec(db, "UPDATE twins SET state = (SELECT state FROM twins WHERE device_id = 'good')"
                   " WHERE device_id = 'bad'");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    ck_assert_int_eq(store_load_twins(s, ids, 2, tt, errstr, sizeof(errstr)), TP_DECODE);
    ck_assert_str_eq(errstr, "could not load the twin of device \"bad\": its stored record does "
                             "not decode (the record holds 2 events but the row's version is 4)");
    ck_assert_uint_eq(tt->count, 0);

    /* the good one alone loads */
    char *only[] = {"good"};
    ck_assert_int_eq(store_load_twins(s, only, 1, tt, errstr, sizeof(errstr)), TP_OK);
    ck_assert_uint_eq(tt->count, 1);
    ck_assert_int_eq(twins_get(tt, "good")->events, 2);
    twins_free(tt);
    twin_free(good[0]);
    twin_free(good[1]);
    store_free(s);
}
END_TEST

static Suite *store_pg_suite(void)
{
    Suite *s = suite_create("store_pg");
    TCase *tc = tcase_create("pg");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_version_guard);
    tcase_add_test(tc, test_undecodable_record_refuses_load);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(store_pg_suite)
