/*
 * tp-replay against the real stack (readings produced straight into the
 * journal, tests/support/workload.h, with duplicates and out-of-order
 * sequences):
 *   - replay equals live: after tp-projector caught up, every twin (its
 *     version, last_seen and every field of its record, tests/support/
 *     twindb.h) and every column of every metric_minutes row is the same
 *     after the rebuild and swap; the
 *     indexes and keys keep their names; the group's offsets are the end of
 *     the journal; the projector still running goes on from them (more
 *     readings, then every twin equals the independent fold);
 *   - from a time: the rebuilt projection holds only the readings appended
 *     since, and the live projector, caught up and holding the old twins in
 *     memory, does not write them back after the swap (it resyncs);
 *   - while ingest goes on and the projector runs: nothing lost, nothing
 *     doubled;
 *   - a query during the swap never sees a half-built projection: counts of
 *     twins and metric_minutes, polled through prepared statements in
 *     another connection, never drop below the pre-swap counts;
 *   - a truncated journal (DeleteRecords) is refused for a rebuild from the
 *     start, naming the partition and its first offset, and the projection
 *     stays as it was; with replay.allow_truncated=true it is rebuilt from
 *     the events left.
 */
#include <check.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/mem.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "tests/support/twindb.h"
#include "tests/support/workload.h"

static struct stack st;
static PGconn *db;

#define PROJECTOR_ENV "TP_PROJECTOR_FLUSH_INTERVAL_MS=100", "TP_KAFKA_SESSION_TIMEOUT_MS=6000"

static void setup(void)
{
    stack_init(&st, "replay");
    stack_db_create(&st);
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
    stack_release(&st);
}

/* Every row of a query as text (out reset). */
static void snapshot(const char *sql, struct buf *out)
{
    buf_reset(out);
    workload_rows_text(db, sql, out);
}

static const char minutes_sql[] =
    "SELECT device_id, metric, minute, min, max, sum, count FROM metric_minutes"
    " ORDER BY device_id COLLATE \"C\", metric COLLATE \"C\", minute";
/* indexes (with their definitions), constraints, storage parameters (twins' fillfactor) and
 * column storage of the projection's tables */
static const char schema_sql[] =
    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('twins', 'metric_minutes')"
    " UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conrelid IN ('twins'::regclass, 'metric_minutes'::regclass)"
    " UNION ALL SELECT relname, coalesce(reloptions::text, '') FROM pg_class"
    " WHERE oid IN ('twins'::regclass, 'metric_minutes'::regclass)"
    " UNION ALL SELECT attrelid::regclass || '.' || attname, attstorage::text"
    " || coalesce(' ' || pg_get_expr(d.adbin, d.adrelid), '') FROM pg_attribute"
    " LEFT JOIN pg_attrdef d ON d.adrelid = attrelid AND d.adnum = attnum"
    " WHERE attrelid IN ('twins'::regclass, 'metric_minutes'::regclass) AND attnum > 0"
    " ORDER BY 1, 2";

/* Runs tp-replay for the stack's group (plus extra env), expecting exit 0. */
static void run_replay(const char *extra)
{
    char group[128];
    snprintf(group, sizeof(group), "TP_REPLAY_GROUP=%s", st.topic);
    const char *env[] = {group, "TP_LOG_LEVEL=debug", extra, NULL};
    int64_t t0 = tp_mono_ms();
    ck_assert_int_eq(stack_run(&st, "tp-replay", env), 0);
    fprintf(stderr, "tp-replay took %lld ms\n", (long long)(tp_mono_ms() - t0));
}

static void assert_offsets_at_end(void)
{
    workload_assert_offsets_at_end(&st, db);
}

/* (1) replay equals live, column for column; the projector goes on from the swap. */
START_TEST(test_replay_equals_live)
{
    static const char *const env[] = {PROJECTOR_ENV, NULL};
    struct workload w;
    struct expected e = {0};
    workload_init(&w, "a-dev", 300, 60);
    size_t part = (size_t)45 * 300;
    workload_produce(&st, &w, 0, part);
    workload_expect(&e, &w, 0, part);
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-projector", env, port);
    workload_wait_caught_up(&st, db, &pid, 1, 60);
    workload_assert_state(db, &w, &e);

    struct buf twins_live, minutes_live, schema_live, now;
    buf_init(&twins_live, SIZE_MAX / 2);
    buf_init(&minutes_live, SIZE_MAX / 2);
    buf_init(&schema_live, SIZE_MAX / 2);
    buf_init(&now, SIZE_MAX / 2);
    twindb_text(db, NULL, &twins_live);
    snapshot(minutes_sql, &minutes_live);
    snapshot(schema_sql, &schema_live);
    ck_assert_msg(strstr(schema_live.data, "twins\t{fillfactor=70}\n"), "%s", schema_live.data);
    ck_assert_msg(strstr(schema_live.data, "twins.state\te\n"), "%s", schema_live.data);
    int64_t oid = workload_query_i64(db, "SELECT 'twins'::regclass::oid::bigint", NULL);

    run_replay(NULL);
    ck_assert_int_ne(workload_query_i64(db, "SELECT 'twins'::regclass::oid::bigint", NULL), oid);
    twindb_text(db, NULL, &now);
    ck_assert_int_eq(now.len, twins_live.len);
    ck_assert_msg(!memcmp(now.data, twins_live.data, now.len), "twins differ after the replay");
    snapshot(minutes_sql, &now);
    ck_assert_int_eq(now.len, minutes_live.len);
    ck_assert_msg(!memcmp(now.data, minutes_live.data, now.len),
                  "metric_minutes differ after the replay");
    snapshot(schema_sql, &now);
    ck_assert_str_eq(now.data, schema_live.data);
    ck_assert_int_eq(workload_query_i64(db,
                                        "SELECT count(*) FROM pg_class WHERE relnamespace ="
                                        " 'public'::regnamespace AND relname LIKE '%shadow%'",
                                        NULL),
                     0);
    assert_offsets_at_end();

    /* the live projector, still running, goes on from the rebuilt offsets */
    workload_produce(&st, &w, part, w.n);
    workload_expect(&e, &w, part, w.n);
    workload_wait_caught_up(&st, db, &pid, 1, 60);
    workload_assert_state(db, &w, &e);
    ck_assert_double_eq(workload_metric(port, "tp_projector_resyncs_total"), 1);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    buf_release(&twins_live);
    buf_release(&minutes_live);
    buf_release(&schema_live);
    buf_release(&now);
    expected_release(&e);
    workload_release(&w);
}
END_TEST

/* (2) replay.from a time: only what was appended since; the caught-up projector, which holds
 * the old twins in memory and whose stored offsets equal the rebuilt ones, resyncs rather
 * than writing them back. */
START_TEST(test_replay_from_time)
{
    static const char *const env[] = {PROJECTOR_ENV, NULL};
    struct workload w;
    struct expected all = {0}, since = {0};
    workload_init(&w, "b-dev", 100, 60);
    size_t a = (size_t)20 * 100, b = (size_t)40 * 100;
    workload_produce(&st, &w, 0, a);
    usleep(1500 * 1000);
    char from[64];
    snprintf(from, sizeof(from), "TP_REPLAY_FROM=%lld", (long long)tp_now_ms());
    usleep(500 * 1000);
    workload_produce(&st, &w, a, b);
    workload_expect(&all, &w, 0, b);
    workload_expect(&since, &w, a, b);
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-projector", env, port);
    workload_wait_caught_up(&st, db, &pid, 1, 60);
    workload_assert_state(db, &w, &all);

    run_replay(from);
    workload_assert_state(db, &w, &since);
    assert_offsets_at_end();

    workload_produce(&st, &w, b, w.n);
    workload_expect(&since, &w, b, w.n);
    workload_wait_caught_up(&st, db, &pid, 1, 60);
    workload_assert_state(db, &w, &since);
    ck_assert_double_eq(workload_metric(port, "tp_projector_resyncs_total"), 1);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    expected_release(&all);
    expected_release(&since);
    workload_release(&w);
}
END_TEST

struct replay_thread {
    pthread_t thread;
    const char *extra;
    int rc;
    atomic_bool done;
};

static void *replay_thread_main(void *arg)
{
    struct replay_thread *t = arg;
    char group[128];
    snprintf(group, sizeof(group), "TP_REPLAY_GROUP=%s", st.topic);
    const char *env[] = {group, "TP_LOG_LEVEL=debug", "TP_REPLAY_CATCHUP_EVENTS=500", t->extra,
                         NULL};
    t->rc = stack_run(&st, "tp-replay", env);
    atomic_store(&t->done, true);
    return NULL;
}

/* Events tp-replay read under the swap's lock, from its log (-1: no swap logged). */
static long replay_log_locked_events(void)
{
    char path[1024], line[1024];
    long n = -1;
    snprintf(path, sizeof(path), "%s/../Testing/%s-tp-replay.log", TP_BIN_DIR, st.db);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no log %s", path);
    while (fgets(line, sizeof(line), f)) {
        const char *at = strstr(line, "swapped the rebuilt projection in (");
        if (at)
            n = strtol(at + strlen("swapped the rebuilt projection in ("), NULL, 10);
    }
    fclose(f);
    return n;
}

/* (3) replay while readings keep coming and the projector runs: 0 lost, 0 doubled. Readings
 * are produced before, during (also while the swap holds its lock) and after the replay. */
START_TEST(test_replay_while_ingest)
{
    static const char *const env[] = {PROJECTOR_ENV, NULL};
    struct workload w;
    struct expected e = {0};
    workload_init(&w, "c-dev", 1000, 200);
    workload_expect(&e, &w, 0, w.n);
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-projector", env, port);
    const size_t chunk = 500;
    size_t from = 0;
    for (; from < w.n / 10; from += chunk)
        workload_produce(&st, &w, from, from + chunk);
    struct replay_thread rt = {.extra = "TP_REPLAY_HISTORY_MAX_ROWS=5000"}; /* spills too */
    atomic_store(&rt.done, false);
    ck_assert_int_eq(pthread_create(&rt.thread, NULL, replay_thread_main, &rt), 0);
    int during = 0, after = 0;
    for (; from < w.n; from += chunk) {
        workload_produce(&st, &w, from, from + chunk < w.n ? from + chunk : w.n);
        if (!atomic_load(&rt.done))
            during++;
        else
            after++;
        usleep(10 * 1000);
    }
    pthread_join(rt.thread, NULL);
    ck_assert_int_eq(rt.rc, 0);
    long locked = replay_log_locked_events();
    fprintf(stderr,
            "test_replay_while_ingest: chunks of %zu: %d produced during the replay, %d after; "
            "%ld events read under the swap's lock\n",
            chunk, during, after, locked);
    ck_assert_int_ge(during, 5);
    ck_assert_int_ge(after, 5); /* the projector takes over from the rebuilt offsets */
    ck_assert_int_gt(locked, 0);
    workload_wait_caught_up(&st, db, &pid, 1, 120);
    workload_assert_state(db, &w, &e);
    ck_assert_double_ge(workload_metric(port, "tp_projector_resyncs_total"), 1);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    expected_release(&e);
    workload_release(&w);
}
END_TEST

struct poller {
    pthread_t thread;
    atomic_bool stop;
    int64_t min_twins, min_minutes, polls, errors;
    int64_t oids_seen; /* distinct twins oids observed (2: before and after the swap) */
    char error[256];
};

static void *poller_main(void *arg)
{
    struct poller *p = arg;
    PGconn *c = PQconnectdb(st.dsn);
    int64_t last_oid = 0;
    PGresult *res = PQprepare(c, "counts",
                              "SELECT (SELECT count(*) FROM twins),"
                              " (SELECT count(*) FROM metric_minutes)",
                              0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(p->error, sizeof(p->error), "%s", PQerrorMessage(c));
        p->errors++;
    }
    PQclear(res);
    while (!atomic_load(&p->stop)) {
        res = PQexecPrepared(c, "counts", 0, NULL, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            snprintf(p->error, sizeof(p->error), "%s", PQerrorMessage(c));
            p->errors++;
        } else {
            int64_t t = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            int64_t m = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
            p->min_twins = p->polls == 0 || t < p->min_twins ? t : p->min_twins;
            p->min_minutes = p->polls == 0 || m < p->min_minutes ? m : p->min_minutes;
            p->polls++;
        }
        PQclear(res);
        res = PQexec(c, "SELECT 'twins'::regclass::oid::bigint");
        if (PQresultStatus(res) == PGRES_TUPLES_OK) {
            int64_t oid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            if (oid != last_oid)
                p->oids_seen++;
            last_oid = oid;
        }
        PQclear(res);
    }
    PQfinish(c);
    return NULL;
}

/* (4) queries during the swap see the old projection or the new one, never a part. */
START_TEST(test_swap_never_half_built)
{
    static const char *const env[] = {PROJECTOR_ENV, NULL};
    struct workload w;
    struct expected e = {0};
    workload_init(&w, "d-dev", 2000, 20);
    workload_produce(&st, &w, 0, w.n);
    workload_expect(&e, &w, 0, w.n);
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-projector", env, port);
    workload_wait_caught_up(&st, db, &pid, 1, 60);
    int64_t twins = workload_query_i64(db, "SELECT count(*) FROM twins", NULL);
    int64_t minutes = workload_query_i64(db, "SELECT count(*) FROM metric_minutes", NULL);
    ck_assert_int_eq(twins, 2000);

    struct poller p = {0};
    atomic_store(&p.stop, false);
    ck_assert_int_eq(pthread_create(&p.thread, NULL, poller_main, &p), 0);
    usleep(200 * 1000);
    run_replay(NULL);
    usleep(200 * 1000);
    atomic_store(&p.stop, true);
    pthread_join(p.thread, NULL);
    fprintf(stderr, "test_swap_never_half_built: %lld polls, min %lld twins, %lld minutes\n",
            (long long)p.polls, (long long)p.min_twins, (long long)p.min_minutes);
    ck_assert_msg(p.errors == 0, "%lld queries failed: %s", (long long)p.errors, p.error);
    ck_assert_int_ge(p.polls, 20);
    ck_assert_int_eq(p.oids_seen, 2); /* it polled before and after the swap */
    ck_assert_int_eq(p.min_twins, twins);
    ck_assert_int_eq(p.min_minutes, minutes);
    workload_assert_state(db, &w, &e);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    expected_release(&e);
    workload_release(&w);
}
END_TEST

/* The whole log of the test's tp-replay runs (stack_spawn appends to it). */
static void replay_log(struct buf *out)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/../Testing/%s-tp-replay.log", TP_BIN_DIR, st.db);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no log at %s", path);
    char chunk[4096];
    size_t k;
    buf_reset(out);
    while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(out, chunk, k);
    fclose(f);
    buf_append(out, "", 1); /* NUL-terminated */
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Distinct device_ids of every event left in the journal (low to high watermark). */
static int64_t devices_left(void)
{
    struct journal_config jc = workload_journal(&st);
    struct journal_reader *r;
    char errstr[256];
    int64_t lo[WORKLOAD_PARTITIONS], hi[WORKLOAD_PARTITIONS], total = 0;
    size_t n;
    ck_assert_int_eq(journal_reader_new(&jc, &r, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(journal_reader_watermarks(r, 10000, lo, hi, WORKLOAD_PARTITIONS, &n, errstr,
                                               sizeof(errstr)),
                     TP_OK);
    int32_t parts[WORKLOAD_PARTITIONS];
    for (size_t p = 0; p < n; p++) {
        parts[p] = (int32_t)p;
        total += hi[p] - lo[p];
    }
    ck_assert_int_eq(journal_reader_assign(r, parts, lo, n, errstr, sizeof(errstr)), TP_OK);
    struct journal_event *evs = tp_calloc(1000, sizeof(*evs));
    char **ids = tp_calloc((size_t)total + 1, sizeof(*ids));
    struct arena a;
    arena_init(&a);
    int64_t got = 0;
    for (int64_t t0 = tp_mono_ms(); got < total && tp_mono_ms() - t0 < 30000;) {
        size_t k = 0;
        ck_assert_int_eq(journal_reader_poll(r, 100, evs, 1000, &a, &k, errstr, sizeof(errstr)),
                         TP_OK);
        for (size_t i = 0; i < k; i++, got++) {
            ck_assert_ptr_nonnull(evs[i].reading);
            ids[got] = tp_strdup(evs[i].reading->device_id);
        }
    }
    ck_assert_int_eq(got, total);
    qsort(ids, (size_t)got, sizeof(*ids), cmp_str);
    int64_t distinct = 0;
    for (int64_t i = 0; i < got; i++)
        distinct += i == 0 || strcmp(ids[i - 1], ids[i]) != 0;
    for (int64_t i = 0; i < got; i++)
        free(ids[i]);
    free(ids);
    free(evs);
    arena_release(&a);
    journal_reader_free(r);
    return distinct;
}

/* (5) a journal whose partition lost its first events is refused, unless allowed. */
START_TEST(test_replay_truncated_journal)
{
    struct workload old, recent;
    workload_init(&old, "t-old", 40, 5);
    workload_init(&recent, "t-new", 40, 5);
    workload_produce(&st, &old, 0, old.n);
    struct journal_config jc = workload_journal(&st);
    int64_t ends[WORKLOAD_PARTITIONS];
    size_t n;
    char errstr[256];
    ck_assert_int_eq(journal_topic_end_offsets(&jc, 10000, ends, WORKLOAD_PARTITIONS, &n, errstr,
                                               sizeof(errstr)),
                     TP_OK);
    workload_produce(&st, &recent, 0, recent.n);
    /* the partition with the most of the old events loses them all */
    int32_t cut = 0;
    for (size_t p = 1; p < n; p++)
        if (ends[p] > ends[cut])
            cut = (int32_t)p;
    ck_assert_int_gt(ends[cut], 0);
    ck_assert_msg(journal_topic_delete_records(&jc, &cut, &ends[cut], 1, 10000, errstr,
                                               sizeof(errstr)) == TP_OK,
                  "%s", errstr);

    char group[128];
    snprintf(group, sizeof(group), "TP_REPLAY_GROUP=%s", st.topic);
    const char *env[] = {group, NULL, NULL};
    ck_assert_int_eq(stack_run(&st, "tp-replay", env), 1);
    struct buf log;
    buf_init(&log, SIZE_MAX / 2);
    replay_log(&log);
    char want[256];
    snprintf(want, sizeof(want), "journal \"%s\" is truncated: partition %d starts at offset %lld;",
             st.topic, cut, (long long)ends[cut]);
    ck_assert_msg(strstr(log.data, want), "no \"%s\" in the log:\n%s", want, log.data);
    ck_assert_msg(strstr(log.data, "set replay.allow_truncated=true"), "%s", log.data);
    /* the live projection is unchanged (empty), nothing was handed to the group */
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM twins", NULL), 0);
    ck_assert_int_eq(workload_query_i64(db,
                                        "SELECT count(*) FROM projector_offsets"
                                        " WHERE consumer_group = $1",
                                        st.topic),
                     0);

    env[1] = "TP_REPLAY_ALLOW_TRUNCATED=true";
    ck_assert_int_eq(stack_run(&st, "tp-replay", env), 0);
    replay_log(&log);
    ck_assert_msg(strstr(log.data, "rebuilding from what is left (replay.allow_truncated)"), "%s",
                  log.data);
    int64_t left = devices_left();
    ck_assert_int_lt(left, 80); /* some old devices had all their events in the cut partition */
    ck_assert_int_ge(left, 40);
    ck_assert_int_eq(workload_query_i64(db, "SELECT count(*) FROM twins", NULL), left);
    ck_assert_int_eq(
        workload_query_i64(db, "SELECT count(*) FROM twins WHERE device_id LIKE 't-new%'", NULL),
        40);
    assert_offsets_at_end();
    buf_release(&log);
    workload_release(&old);
    workload_release(&recent);
}
END_TEST

static Suite *replay_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("replay");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_replay_equals_live);
    tcase_add_test(tc, test_replay_from_time);
    tcase_add_test(tc, test_replay_while_ingest);
    tcase_add_test(tc, test_swap_never_half_built);
    suite_add_tcase(s, tc);
    /* its own case: CK_RUN_CASE=truncated runs it alone */
    TCase *trunc = tcase_create("truncated");
    tcase_add_checked_fixture(trunc, setup, teardown);
    tcase_set_timeout(trunc, 300);
    tcase_add_test(trunc, test_replay_truncated_journal);
    suite_add_tcase(s, trunc);
    return s;
}

TP_CHECK_MAIN(replay_suite)
