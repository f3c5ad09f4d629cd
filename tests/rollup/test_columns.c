/*
 * rollup/columns.c: the row model from descriptors, and schema evolution
 * by union. Files written before and after a new schema version are read
 * together by DuckDB (union_by_name) and pyarrow: old rows have nulls in
 * the new column.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollup/columns.h"
#include "tests/rollup/evolution_v2.pb-c.h"
#include "tests/support/check_main.h"

static size_t col_index(const struct rollup_schema *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->cols[i].name, name))
            return i;
    ck_abort_msg("no column %s", name);
    return 0;
}

START_TEST(test_v1_columns)
{
    struct rollup_schema s;
    char errstr[256];
    rollup_schema_init(&s);
    ck_assert_int_eq(rollup_schema_add(&s, &twinpipe__telemetry__v1__reading__descriptor, errstr,
                                       sizeof(errstr)),
                     TP_OK);
    ck_assert_uint_eq(s.version, 1);
    const char *const names[] = {"device_id",   "sequence",          "device_time",
                                 "ingest_time", "journal_partition", "journal_offset",
                                 "speed_kmh"};
    for (size_t i = 0; i < 7; i++)
        ck_assert_str_eq(s.cols[i].name, names[i]);
    ck_assert(!s.cols[0].nullable);
    ck_assert_int_eq(s.cols[2].type, PARQUET_TIMESTAMP_MS);
    ck_assert_int_eq(s.cols[col_index(&s, "location_lat")].type, PARQUET_DOUBLE);
    ck_assert_int_eq(s.cols[col_index(&s, "extra_metrics")].type, PARQUET_STRING);
    ck_assert_int_eq(s.cols[col_index(&s, "region")].type, PARQUET_STRING);
    /* 6 fixed + 11 doubles + extra_metrics + 5 location doubles + 3 strings */
    ck_assert_uint_eq(s.n, 26);
}
END_TEST

START_TEST(test_union_grows_once)
{
    struct rollup_schema s;
    char errstr[256];
    rollup_schema_init(&s);
    rollup_schema_add(&s, &twinpipe__telemetry__v1__reading__descriptor, errstr, sizeof(errstr));
    size_t n1 = s.n;
    ck_assert_int_eq(rollup_schema_add(&s, &twinpipe__testevolution__reading__descriptor, errstr,
                                       sizeof(errstr)),
                     TP_OK);
    ck_assert_uint_eq(s.version, 2);
    ck_assert_uint_eq(s.n, n1 + 2);
    ck_assert_str_eq(s.cols[n1].name, "cabin_temp_c");
    ck_assert_str_eq(s.cols[n1 + 1].name, "driver");
    rollup_schema_add(&s, &twinpipe__telemetry__v1__reading__descriptor, errstr, sizeof(errstr));
    ck_assert_uint_eq(s.version, 2); /* nothing new: no new files needed */
    ck_assert_uint_eq(s.n, n1 + 2);
}
END_TEST

static void write_file(const char *path, struct rollup_schema *s, const struct journal_event *ev)
{
    struct parquet_column_spec specs[ROLLUP_COLUMNS_MAX];
    struct parquet_writer *w;
    char errstr[256];
    rollup_schema_specs(s, specs);
    ck_assert_int_eq(parquet_writer_new(path, specs, s->n, NULL, &w, errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert(rollup_event_usable(ev));
    ck_assert_int_eq(rollup_row_fill(s, w, ev, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(parquet_writer_end_row(w, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(parquet_writer_close(w, errstr, sizeof(errstr)), TP_OK);
    parquet_writer_free(w);
}

START_TEST(test_old_files_read_as_nulls)
{
    char dir[128], cmd[1024], python[512];
    snprintf(dir, sizeof(dir), "/tmp/tp-columns-test-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    struct rollup_schema s;
    char errstr[256], path[256];
    rollup_schema_init(&s);
    rollup_schema_add(&s, &twinpipe__telemetry__v1__reading__descriptor, errstr, sizeof(errstr));

    journal_reading v1 = TWINPIPE__TELEMETRY__V1__READING__INIT;
    v1.device_id = "d-1";
    v1.has_sequence = v1.has_timestamp_ms = v1.has_speed_kmh = 1;
    v1.sequence = 1;
    v1.timestamp_ms = 1700000000000;
    v1.speed_kmh = 10;
    struct journal_event ev1 = {
        .partition = 0, .offset = 0, .timestamp_ms = 1700000000001, .reading = &v1};
    snprintf(path, sizeof(path), "%s/old.parquet", dir);
    write_file(path, &s, &ev1);

    rollup_schema_add(&s, &twinpipe__testevolution__reading__descriptor, errstr, sizeof(errstr));
    Twinpipe__Testevolution__Reading v2 = TWINPIPE__TESTEVOLUTION__READING__INIT;
    v2.device_id = "d-1";
    v2.has_sequence = v2.has_timestamp_ms = v2.has_speed_kmh = v2.has_cabin_temp_c = 1;
    v2.sequence = 2;
    v2.timestamp_ms = 1700000001000;
    v2.speed_kmh = 20;
    v2.cabin_temp_c = 21.5;
    v2.driver = "ana";
    /* the row model reads any Reading version through its own descriptor */
    struct journal_event ev2 = {.partition = 0,
                                .offset = 1,
                                .timestamp_ms = 1700000001001,
                                .reading = (journal_reading *)&v2};
    snprintf(path, sizeof(path), "%s/new.parquet", dir);
    write_file(path, &s, &ev2);

    FILE *p = popen(TP_SOURCE_DIR "/tests/rollup/pyvenv.sh", "r");
    ck_assert_ptr_nonnull(fgets(python, sizeof(python), p));
    ck_assert_int_eq(pclose(p), 0);
    python[strcspn(python, "\n")] = '\0';
    snprintf(cmd, sizeof(cmd),
             "%s -c \"import duckdb,sys; rows = duckdb.sql(\\\"SELECT sequence, speed_kmh, "
             "cabin_temp_c, driver, model FROM read_parquet('%s/*.parquet', union_by_name=true) "
             "ORDER BY sequence\\\").fetchall(); print(rows); "
             "sys.exit(rows != [(1, 10.0, None, None, None), (2, 20.0, 21.5, 'ana', None)])\"",
             python, dir);
    ck_assert_msg(system(cmd) == 0, "duckdb did not read old rows with nulls: %s", cmd);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *columns_suite(void)
{
    Suite *s = suite_create("columns");
    TCase *tc = tcase_create("schema");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_v1_columns);
    tcase_add_test(tc, test_union_grows_once);
    tcase_add_test(tc, test_old_files_read_as_nulls);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(columns_suite)
