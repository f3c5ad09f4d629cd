/*
 * The upgrade to migration 0009 (the lean twins table of binary records)
 * against the real stack, as migrations/README.md ("Upgrading to 0009")
 * tells an operator to run it:
 *   - a database migrated only to 0008 (migrations 0001-0008 copied into a
 *     folder of their own) holds the jsonb projection the pre-0009
 *     projector wrote for a journal of readings (tests/support/workload.h):
 *     every twin, its open minute and sequence window, the closed minutes
 *     in metric_minutes, and the group's offsets at the journal's end,
 *     written from the workload's independent fold with parameterized SQL;
 *   - tp-migrate with the real folder applies 0009: the jsonb tables are
 *     kept as *_0008 (unchanged), the new projection is empty;
 *   - tp-replay rebuilds it from the journal: every device of twins_0008
 *     has a twin, every twin and every history minute equals the
 *     independent fold exactly, and the group's offsets are the journal's
 *     end;
 *   - tp-projector, started then, takes more readings from those offsets:
 *     the twins equal the fold of everything (nothing read twice);
 *   - without tp-replay, a projector started on the empty projection folds
 *     the journal from its beginning to the same twins;
 * and a database that never held a twin keeps no *_0008 table.
 */
#include <check.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "tests/support/twindb.h"
#include "tests/support/workload.h"

static struct stack st;
static PGconn *db;
static char dir0008[128]; /* migrations 0001-0008 only */

#define PROJECTOR_ENV "TP_PROJECTOR_FLUSH_INTERVAL_MS=100", "TP_KAFKA_SESSION_TIMEOUT_MS=6000"

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    ck_assert_msg(in && out, "copy %s to %s", from, to);
    char b[4096];
    size_t n;
    while ((n = fread(b, 1, sizeof(b), in)) > 0)
        ck_assert_uint_eq(fwrite(b, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
}

/* The test database, migrated by the real tp-migrate with migrations 0001-0008 only. */
static void db_create_0008(void)
{
    PGconn *admin = PQconnectdb(st.admin_dsn);
    ck_assert_msg(PQstatus(admin) == CONNECTION_OK, "%s", PQerrorMessage(admin));
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", st.db);
    PGresult *res = PQexec(admin, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(admin));
    PQclear(res);
    PQfinish(admin);

    snprintf(dir0008, sizeof(dir0008), "/tmp/tp-upgrade-%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s", dir0008, dir0008);
    ck_assert_int_eq(system(cmd), 0);
    DIR *d = opendir(TP_SOURCE_DIR "/migrations");
    ck_assert_ptr_nonnull(d);
    int copied = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len < 9 || strcmp(e->d_name + len - 4, ".sql") != 0 || e->d_name[4] != '_' ||
            strncmp(e->d_name, "0009", 4) >= 0)
            continue;
        char from[512], to[512];
        snprintf(from, sizeof(from), "%s/migrations/%s", TP_SOURCE_DIR, e->d_name);
        snprintf(to, sizeof(to), "%s/%s", dir0008, e->d_name);
        copy_file(from, to);
        copied++;
    }
    closedir(d);
    ck_assert_int_eq(copied, 7); /* 0001-0008 (there is no 0004) */
    char env_dir[200];
    snprintf(env_dir, sizeof(env_dir), "TP_MIGRATIONS_DIR=%s", dir0008);
    const char *env[] = {env_dir, NULL};
    ck_assert_int_eq(stack_run(&st, "tp-migrate", env), 0);
}

static void setup(void)
{
    stack_init(&st, "upgrade");
    db_create_0008();
    struct journal_config jc = workload_journal(&st);
    char errstr[256];
    ck_assert_int_eq(journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)), TP_OK);
    db = PQconnectdb(st.dsn);
    ck_assert_msg(PQstatus(db) == CONNECTION_OK, "%s", PQerrorMessage(db));
}

static void teardown(void)
{
    PQfinish(db);
    db = NULL;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir0008);
    ck_assert_int_eq(system(cmd), 0);
    stack_release(&st);
}

static void exec_params(const char *sql, int n, const char *const *params)
{
    PGresult *res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(db));
    PQclear(res);
}

/* The newest minute a twin has readings for (its open minute, as the pre-0009 fold kept it). */
static int64_t open_minute(const struct expected *e, int dev)
{
    int64_t m = INT64_MIN;
    for (size_t i = 0; i < e->n_hist; i++)
        if (e->hist[i].dev == dev && e->hist[i].minute > m)
            m = e->hist[i].minute;
    return m;
}

/*
 * Writes e as the pre-0009 projector stored it (migrations 0001-0008): per twin its columns,
 * metrics {"name": {"value", "ts", "min", "max", "sum", "count"}}, the open minute and its
 * minute_stats {"name": [min, max, sum, count]}, the sequence window (bit i: last_sequence -
 * 1 - i applied; 16 bytes, each 64-bit word little-endian); every closed minute in
 * metric_minutes; the group's offsets at the journal's end. Returns the metric_minutes rows.
 */
static int64_t write_jsonb_projection(const struct workload *w, const struct expected *e)
{
    static const char twin_sql[] =
        "INSERT INTO twins (device_id, first_seen, last_seen, last_sequence, events, metrics,"
        " attributes, minute, minute_stats, seq_window) VALUES ($1,"
        " timestamptz 'epoch' + $2::bigint * interval '1 millisecond',"
        " timestamptz 'epoch' + $3::bigint * interval '1 millisecond', $4::bigint, $5::bigint,"
        " $6::jsonb, '{}', timestamptz 'epoch' + $7::bigint * interval '1 millisecond',"
        " $8::jsonb, decode($9, 'hex'))";
    static const char minute_sql[] =
        "INSERT INTO metric_minutes (device_id, metric, minute, min, max, sum, count) VALUES"
        " ($1, $2, timestamptz 'epoch' + $3::bigint * interval '1 millisecond', $4::float8,"
        " $5::float8, $6::float8, $7::bigint)";
    struct buf metrics, stats;
    buf_init(&metrics, 1 << 20);
    buf_init(&stats, 1 << 20);
    int64_t closed = 0;
    exec_params("BEGIN", 0, NULL);
    for (int d = 0; d < w->devices; d++) {
        const struct exp_twin *t = &e->twins[d];
        if (t->events == 0)
            continue;
        char id[32], first[24], last[24], seq[24], events[24], minute[24], window[33];
        workload_device_id(w, d, id, sizeof(id));
        int64_t open = open_minute(e, d);
        buf_reset(&metrics);
        buf_reset(&stats);
        buf_append_str(&metrics, "{");
        buf_append_str(&stats, "{");
        for (int k = 0; k < WORKLOAD_METRICS; k++) {
            const struct exp_metric *m = &t->m[k];
            if (!m->seen)
                continue;
            buf_printf(&metrics,
                       "%s\"%s\": {\"value\": %.17g, \"ts\": %lld, \"min\": %.17g, \"max\": %.17g,"
                       " \"sum\": %.17g, \"count\": %lld}",
                       metrics.len > 1 ? ", " : "", workload_metric_names[k], m->value,
                       (long long)m->ts, m->min, m->max, m->sum, (long long)m->count);
        }
        for (size_t i = 0; i < e->n_hist; i++) {
            const struct exp_hist *h = &e->hist[i];
            if (h->dev != d)
                continue;
            if (h->minute == open) {
                buf_printf(&stats, "%s\"%s\": [%.17g, %.17g, %.17g, %lld]",
                           stats.len > 1 ? ", " : "", workload_metric_names[h->metric], h->min,
                           h->max, h->sum, (long long)h->count);
                continue;
            }
            char ms[24], mn[32], mx[32], sm[32], cnt[24];
            snprintf(ms, sizeof(ms), "%lld", (long long)h->minute);
            snprintf(mn, sizeof(mn), "%.17g", h->min);
            snprintf(mx, sizeof(mx), "%.17g", h->max);
            snprintf(sm, sizeof(sm), "%.17g", h->sum);
            snprintf(cnt, sizeof(cnt), "%lld", (long long)h->count);
            const char *p[] = {id, workload_metric_names[h->metric], ms, mn, mx, sm, cnt};
            exec_params(minute_sql, 7, p);
            closed++;
        }
        buf_append_str(&metrics, "}");
        buf_append_str(&stats, "}");
        uint64_t seen[2] = {0, 0};
        for (int i = 0; i < 128; i++) {
            int64_t s = t->last_seq - 1 - i;
            if (s <= 0 || ((size_t)s < t->cap_applied && t->applied[s]))
                seen[i / 64] |= (uint64_t)1 << (i % 64);
        }
        for (int i = 0; i < 16; i++)
            snprintf(window + 2 * i, 3, "%02x", (unsigned)(seen[i / 8] >> (8 * (i % 8))) & 0xffu);
        snprintf(first, sizeof(first), "%lld", (long long)t->first_ms);
        snprintf(last, sizeof(last), "%lld", (long long)t->last_ms);
        snprintf(seq, sizeof(seq), "%lld", (long long)t->last_seq);
        snprintf(events, sizeof(events), "%lld", (long long)t->events);
        snprintf(minute, sizeof(minute), "%lld", (long long)open);
        const char *p[] = {id, first, last, seq, events, metrics.data, minute, stats.data, window};
        exec_params(twin_sql, 9, p);
    }
    int64_t ends[WORKLOAD_PARTITIONS];
    workload_end_offsets(&st, ends);
    for (int p = 0; p < WORKLOAD_PARTITIONS; p++) {
        char part[16], off[24];
        snprintf(part, sizeof(part), "%d", p);
        snprintf(off, sizeof(off), "%lld", (long long)ends[p]);
        const char *params[] = {st.topic, part, off};
        exec_params("INSERT INTO projector_offsets (consumer_group, topic, partition, next_offset)"
                    " VALUES ($1, $1, $2::int, $3::bigint)",
                    3, params);
    }
    exec_params("COMMIT", 0, NULL);
    buf_release(&metrics);
    buf_release(&stats);
    return closed;
}

/* The *_0008 tables as text (to check 0009 and the replay left them as they were). */
static void old_tables(struct buf *out)
{
    static const char *const sqls[] = {
        "SELECT device_id, first_seen, last_seen, last_sequence, events, metrics::text,"
        " attributes::text, minute, minute_stats::text, encode(seq_window, 'hex')"
        " FROM twins_0008 ORDER BY device_id COLLATE \"C\"",
        "SELECT device_id, metric, minute, min, max, sum, count FROM metric_minutes_0008"
        " ORDER BY device_id COLLATE \"C\", metric COLLATE \"C\", minute",
        "SELECT consumer_group, topic, partition, next_offset FROM projector_offsets_0008"
        " ORDER BY 1, 2, 3"};
    buf_reset(out);
    for (int q = 0; q < 3; q++)
        workload_rows_text(db, sqls[q], out);
}

START_TEST(test_jsonb_twins_upgrade_through_replay)
{
    struct workload w;
    struct expected e = {0};
    workload_init(&w, "u-dev", 300, 40);
    size_t part = (size_t)30 * 300;
    workload_produce(&st, &w, 0, part);
    workload_expect(&e, &w, 0, part);

    /* the pre-0009 projection of the journal */
    int64_t closed = write_jsonb_projection(&w, &e);
    ck_assert_int_gt(closed, 0);
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM twins", NULL), 300);
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM schema_migrations", NULL), 7);
    struct buf before, after;
    buf_init(&before, SIZE_MAX / 2);
    buf_init(&after, SIZE_MAX / 2);

    /* tp-migrate with the real folder: 0009 keeps the jsonb tables as *_0008 */
    ck_assert_int_eq(stack_run(&st, "tp-migrate", NULL), 0);
    ck_assert_int_eq(
        workload_query_i64(db, "SELECT count(*) FROM schema_migrations WHERE version = 9", NULL),
        1);
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM twins", NULL), 0);
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM metric_minutes", NULL), 0);
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM projector_offsets", NULL), 0);
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM twins_0008", NULL), 300);
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM metric_minutes_0008", NULL),
                     closed);
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM projector_offsets_0008", NULL),
                     WORKLOAD_PARTITIONS);
    old_tables(&before);

    /* tp-replay rebuilds the projection from the journal */
    char group[128];
    snprintf(group, sizeof(group), "TP_REPLAY_GROUP=%s", st.topic);
    const char *replay_env[] = {group, NULL};
    ck_assert_int_eq(stack_run(&st, "tp-replay", replay_env), 0);
    ck_assert_int_eq(workload_query_i64(db,
                                        "SELECT count(*) FROM twins_0008 o WHERE NOT EXISTS"
                                        " (SELECT 1 FROM twins t WHERE t.device_id = o.device_id)",
                                        NULL),
                     0);
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM twins", NULL), 300);
    workload_assert_state(db, &w, &e);
    workload_assert_offsets_at_end(&st, db);
    old_tables(&after);
    ck_assert_str_eq(after.data, before.data); /* left for the operator to check, then drop */

    /* tp-projector takes over from replay's offsets: nothing read twice */
    static const char *const env[] = {PROJECTOR_ENV, NULL};
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-projector", env, port);
    workload_produce(&st, &w, part, w.n);
    workload_expect(&e, &w, part, w.n);
    workload_wait_caught_up(&st, db, &pid, 1, 60);
    workload_assert_state(db, &w, &e);
    ck_assert_double_eq(workload_metric(port, "tp_projector_events_total"), (double)(w.n - part));
    ck_assert_double_eq(workload_metric(port, "tp_projector_resyncs_total"), 0);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    buf_release(&before);
    buf_release(&after);
    expected_release(&e);
    workload_release(&w);
}
END_TEST

/* The operator skipped tp-replay: a projector started on the empty projection finds no
 * offsets and folds the journal from its beginning, to the same twins. */
START_TEST(test_projector_first_rebuilds_from_the_start)
{
    struct workload w;
    struct expected e = {0};
    workload_init(&w, "p-dev", 100, 20);
    workload_produce(&st, &w, 0, w.n);
    workload_expect(&e, &w, 0, w.n);
    ck_assert_int_gt(write_jsonb_projection(&w, &e), 0);
    ck_assert_int_eq(stack_run(&st, "tp-migrate", NULL), 0);
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM twins", NULL), 0);
    static const char *const env[] = {PROJECTOR_ENV, NULL};
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-projector", env, port);
    workload_wait_caught_up(&st, db, &pid, 1, 60);
    workload_assert_state(db, &w, &e);
    ck_assert_double_eq(workload_metric(port, "tp_projector_events_total"), (double)w.n);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    expected_release(&e);
    workload_release(&w);
}
END_TEST

/* A database that never held a twin (migrated to 0008, then to 0009) keeps no *_0008 table
 * (migrations/test_migrate checks the same of one migrated to 0009 in one go). */
START_TEST(test_fresh_database_keeps_no_0008_tables)
{
    ck_assert_int_eq(stack_run(&st, "tp-migrate", NULL), 0);
    ck_assert_int_eq(
        workload_query_i64(db, "SELECT count(*) FROM schema_migrations WHERE version = 9", NULL),
        1);
    ck_assert_int_eq(workload_query_i64(db,
                                        "SELECT count(*) FROM pg_class"
                                        " WHERE relname LIKE '%\\_0008%'",
                                        NULL),
                     0);
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM twins", NULL), 0);
}
END_TEST

static Suite *upgrade_suite(void)
{
    Suite *s = suite_create("upgrade");
    TCase *tc = tcase_create("upgrade");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_jsonb_twins_upgrade_through_replay);
    tcase_add_test(tc, test_projector_first_rebuilds_from_the_start);
    tcase_add_test(tc, test_fresh_database_keeps_no_0008_tables);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(upgrade_suite)
