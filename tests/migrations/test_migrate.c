/* migrate.c against a real PostgreSQL (integration): order, idempotence, forward-only. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrations/migrate.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"

static struct stack st;
static char dir[128];

static void write_file(const char *name, const char *sql)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(sql, f);
    fclose(f);
}

static PGconn *connect_test_db(void)
{
    PGconn *db = PQconnectdb(st.dsn);
    ck_assert_int_eq(PQstatus(db), CONNECTION_OK);
    return db;
}

static void setup(void)
{
    char sql[256];
    stack_init(&st, "migrate");
    PGconn *admin = PQconnectdb(st.admin_dsn);
    ck_assert_int_eq(PQstatus(admin), CONNECTION_OK);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", st.db);
    PQclear(PQexec(admin, sql));
    PQfinish(admin);
    snprintf(dir, sizeof(dir), "/tmp/tp-migrate-test-%d", (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    stack_release(&st);
}

START_TEST(test_apply_in_order_once)
{
    write_file("0002_second.sql", "INSERT INTO t VALUES (2);");
    write_file("0001_first.sql", "CREATE TABLE t (v int); INSERT INTO t VALUES (1);");
    write_file("README.md", "not a migration");
    PGconn *db = connect_test_db();
    char errstr[512];
    int applied;
    ck_assert_int_eq(migrate_run(db, dir, &applied, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(applied, 2);
    ck_assert_int_eq(migrate_run(db, dir, &applied, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(applied, 0);
    PGresult *res = PQexec(db, "SELECT string_agg(v::text, ',' ORDER BY v) FROM t");
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "1,2");
    PQclear(res);
    res = PQexec(db, "SELECT string_agg(version || ':' || name, ',' ORDER BY version)"
                     " FROM schema_migrations");
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "1:0001_first.sql,2:0002_second.sql");
    PQclear(res);
    PQfinish(db);
}
END_TEST

START_TEST(test_failed_migration_leaves_nothing)
{
    write_file("0003_broken.sql", "INSERT INTO t VALUES (3); SELECT nonsense FROM nowhere;");
    PGconn *db = connect_test_db();
    char errstr[512];
    int applied;
    ck_assert_int_eq(migrate_run(db, dir, &applied, errstr, sizeof(errstr)), TP_DB);
    ck_assert_msg(strstr(errstr, "migration \"0003_broken.sql\" failed") == errstr, "%s", errstr);
    PGresult *res = PQexec(db, "SELECT count(*) FROM t WHERE v = 3");
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "0");
    PQclear(res);
    char path[512];
    snprintf(path, sizeof(path), "%s/0003_broken.sql", dir);
    unlink(path);
    PQfinish(db);
}
END_TEST

START_TEST(test_edited_migration_is_refused)
{
    write_file("0002_second.sql", "INSERT INTO t VALUES (22);");
    PGconn *db = connect_test_db();
    char errstr[512];
    int applied;
    ck_assert_int_eq(migrate_run(db, dir, &applied, errstr, sizeof(errstr)), TP_CONFLICT);
    ck_assert_msg(strstr(errstr, "\"0002_second.sql\" changed after it was applied") != NULL, "%s",
                  errstr);
    write_file("0002_second.sql", "INSERT INTO t VALUES (2);");
    write_file("12_bad.sql", "SELECT 1;");
    ck_assert_int_eq(migrate_run(db, dir, &applied, errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_str_eq(errstr, "migration file \"12_bad.sql\" is not named NNNN_name.sql");
    char path[512];
    snprintf(path, sizeof(path), "%s/12_bad.sql", dir);
    unlink(path);
    PQfinish(db);
}
END_TEST

START_TEST(test_project_migrations_apply)
{
    PGconn *db = connect_test_db();
    char errstr[512];
    int applied;
    PQclear(PQexec(db, "DROP TABLE schema_migrations, t"));
    ck_assert_int_eq(migrate_run(db, TP_SOURCE_DIR "/migrations", &applied, errstr, 512), TP_OK);
    ck_assert_int_ge(applied, 1);
    PGresult *res = PQexec(db, "SELECT count(*) FROM twins");
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "0");
    PQclear(res);
    /* 0009: the lean twins table; a fresh database (no twin ever) keeps no *_0008 tables */
    res = PQexec(db, "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute"
                     " WHERE attrelid = 'twins'::regclass AND attnum > 0 AND NOT attisdropped");
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(res, 0, 0),
                     "device_id,version,last_seen,updated_at,written_xid,state");
    PQclear(res);
    res = PQexec(db, "SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_0008%'");
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "0");
    PQclear(res);
    PQfinish(db);
}
END_TEST

static Suite *migrate_suite(void)
{
    Suite *s = suite_create("migrate");
    TCase *tc = tcase_create("files");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_apply_in_order_once);
    tcase_add_test(tc, test_failed_migration_leaves_nothing);
    tcase_add_test(tc, test_edited_migration_is_refused);
    tcase_add_test(tc, test_project_migrations_apply);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(migrate_suite)
