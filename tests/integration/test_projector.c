/*
 * tp-projector against the real stack, checked against an independent fold
 * computed here: readings are produced straight into the journal (the
 * journal producer, no HTTP, so 100k events take seconds), with duplicates
 * and out-of-order sequences, values in five metrics over several minutes.
 * Every twin (events, last sequence, first/last seen, every metric's value,
 * ts, min, max, sum, count) and every metric_minutes row must equal the
 * test's fold exactly:
 *   - after a clean restart (twins reloaded from PostgreSQL continue their
 *     statistics), with the projector's exact counters;
 *   - after >= 10 SIGKILLs at random moments over 100k events, ~1000
 *     devices, 4 partitions;
 *   - with two projectors in the group, a rebalance when the second joins
 *     and another when the first leaves on SIGTERM;
 *   - with the projector's PostgreSQL connections terminated mid-run
 *     (pg_terminate_backend): it resyncs instead of exiting;
 *   - with projector.max_twins far below the number of devices: clean twins
 *     are evicted and loaded back from PostgreSQL when their devices report
 *     again;
 * and the retention deletes exactly the history rows older than its bound.
 * Liveness: with its PostgreSQL traffic frozen by a proxy the test holds, a flush hangs and
 * /healthz turns 503 naming the projector's flusher while /metrics answers; thawed, the flush
 * ends, /healthz is 200 again and the twins equal the fold.
 *
 * Values are multiples of 1/8 well below 2^40, so every partial sum is
 * exact and the per-minute sums do not depend on how flushes split them.
 */
#include <check.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"
#include "journal/journal.h"
#include "twin/fold.h"
#include "twin/history.h"
#include "projector/store.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "tests/support/twindb.h"
#include "tests/support/workload.h"

static struct stack st;
static PGconn *db;

/* ---- the workload (tests/support/workload.h), on this test's stack ---- */

static void produce(const struct workload *w, size_t from, size_t to)
{
    workload_produce(&st, w, from, to);
}

static struct journal_config journal_cfg(void)
{
    return workload_journal(&st);
}

static PGresult *query(const char *sql, const char *param)
{
    return workload_query(db, sql, param);
}

static int64_t query_i64(const char *sql, const char *param)
{
    return workload_query_i64(db, sql, param);
}

static void assert_state(const struct workload *w, struct expected *e)
{
    workload_assert_state(db, w, e);
}

/* (twin, metric) pairs with figures in their twin's open minute, of twins LIKE like */
static int64_t open_minute_count(const char *like)
{
    struct twindb t;
    twindb_load(&t, db, like);
    int64_t n = 0;
    for (size_t i = 0; i < t.n; i++)
        for (size_t k = 0; k < t.rows[i].v.n_metrics; k++)
            n += t.rows[i].v.metrics[k].mcount > 0;
    twindb_release(&t);
    return n;
}

#define expect workload_expect

/* ---- processes ---- */

static void assert_alive(pid_t pid)
{
    workload_assert_alive(&st, pid);
}

static void wait_caught_up(const pid_t *pids, int n_pids, int timeout_s)
{
    workload_wait_caught_up(&st, db, pids, n_pids, timeout_s);
}

static double metric_value(uint16_t port, const char *name)
{
    return workload_metric(port, name);
}

static int rand_between(unsigned *seed, int lo, int hi)
{
    return lo + (int)(rand_r(seed) % (unsigned)(hi - lo + 1));
}

static void setup(void)
{
    stack_init(&st, "projector");
    stack_db_create(&st);
    struct journal_config jc = journal_cfg();
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

/* a killed member is noticed after the session timeout: keep it short in tests */
#define PROJECTOR_ENV "TP_PROJECTOR_FLUSH_INTERVAL_MS=100", "TP_KAFKA_SESSION_TIMEOUT_MS=6000"

/* (a) stats and history equal the fold, across a clean restart that reloads the twins. */
START_TEST(test_fold_exact_across_restart)
{
    static const char *const env[] = {PROJECTOR_ENV, NULL};
    struct workload w;
    struct expected e = {0};
    workload_init(&w, "a-dev", 30, 40);
    size_t half = (size_t)25 * 30; /* the first 25 rounds */
    produce(&w, 0, half);
    expect(&e, &w, 0, half);
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-projector", env, port);
    wait_caught_up(&pid, 1, 60);
    assert_state(&w, &e);
    ck_assert_double_eq(metric_value(port, "tp_projector_events_total"), (double)half);
    ck_assert_double_eq(metric_value(port, "tp_projector_applied_total"), (double)e.applied);
    ck_assert_double_eq(metric_value(port, "tp_projector_duplicates_total"), (double)e.ignored);
    ck_assert_double_eq(metric_value(port, "tp_projector_invalid_total"), 0);
    ck_assert_double_eq(metric_value(port, "tp_projector_resyncs_total"), 0);
    ck_assert_double_eq(metric_value(port, "tp_projector_history_rows_deleted_total"), 0);
    /* each (device, metric, minute) is written at least once, unless it is still a twin's
     * open minute (in its record) */
    int64_t open_minutes = open_minute_count("a-dev-%");
    ck_assert_int_gt(open_minutes, 0);
    ck_assert_double_ge(metric_value(port, "tp_projector_history_rows_written_total"),
                        (double)((int64_t)e.n_hist - open_minutes));
    ck_assert_int_gt(e.ignored, 30); /* the workload has duplicates and out-of-order readings */
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);

    /* the rest, after the projector forgot everything: twins come back from postgresql */
    long applied = e.applied, ignored = e.ignored;
    produce(&w, half, w.n);
    expect(&e, &w, half, w.n);
    pid = stack_service_start(&st, "tp-projector", env, port);
    wait_caught_up(&pid, 1, 60);
    assert_state(&w, &e);
    ck_assert_double_eq(metric_value(port, "tp_projector_events_total"), (double)(w.n - half));
    ck_assert_double_eq(metric_value(port, "tp_projector_applied_total"),
                        (double)(e.applied - applied));
    ck_assert_double_eq(metric_value(port, "tp_projector_duplicates_total"),
                        (double)(e.ignored - ignored));
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    expected_release(&e);
    workload_release(&w);
}
END_TEST

/* Sum of the next offsets stored for the group. */
static int64_t stored_progress(void)
{
    return query_i64("SELECT coalesce(sum(next_offset), 0) FROM projector_offsets"
                     " WHERE consumer_group = $1",
                     st.topic);
}

/* (b) 100k events, ~1000 devices: SIGKILL at random moments, 12 times; nothing lost or doubled. */
START_TEST(test_sigkill_many_times_exact)
{
    /* static membership: a restarted projector takes its predecessor's place at once
     * instead of waiting out the session timeout */
    static const char *const env[] = {PROJECTOR_ENV, "TP_KAFKA_GROUP_INSTANCE_ID=crash-test",
                                      "TP_PROJECTOR_HISTORY_MAX_ROWS=5000", "TP_LOG_LEVEL=debug",
                                      NULL};
    struct workload w;
    struct expected e = {0};
    int64_t t0 = tp_mono_ms();
    workload_init(&w, "b-dev", 1000, 100);
    expect(&e, &w, 0, w.n);
    unsigned seed = (unsigned)time(NULL);
    fprintf(stderr, "test_sigkill_many_times_exact: seed %u\n", seed);
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-projector", env, port);
    const int kills = 12;
    size_t chunk = (w.n + kills - 1) / kills;
    for (int k = 0; k < kills; k++) {
        size_t from = (size_t)k * chunk, to = from + chunk < w.n ? from + chunk : w.n;
        int64_t before = stored_progress();
        produce(&w, from, to);
        /* killed after its first flush, at a random moment of the work that follows */
        for (int i = 0; i < 300 && stored_progress() == before; i++) {
            assert_alive(pid);
            usleep(20 * 1000);
        }
        usleep((useconds_t)rand_between(&seed, 0, 300) * 1000);
        assert_alive(pid);
        int status = stack_service_stop(pid, SIGKILL);
        ck_assert_msg(WIFSIGNALED(status & 0xffff) && WTERMSIG(status & 0xffff) == SIGKILL,
                      "kill %d: status 0x%x", k, status);
        pid = stack_service_start(&st, "tp-projector", env, port);
    }
    fprintf(stderr, "test_sigkill_many_times_exact: produced and killed %d times in %lld ms\n",
            kills, (long long)(tp_mono_ms() - t0));
    wait_caught_up(&pid, 1, 120);
    fprintf(stderr, "test_sigkill_many_times_exact: caught up after %lld ms\n",
            (long long)(tp_mono_ms() - t0));
    assert_state(&w, &e);
    fprintf(stderr,
            "test_sigkill_many_times_exact: %zu events, %ld applied, %zu history rows; last "
            "process: %.0f flushes, flush seconds sum %.3f\n",
            w.n, e.applied, e.n_hist,
            metric_value(port, "tp_projector_flush_duration_seconds_count"),
            metric_value(port, "tp_projector_flush_duration_seconds_sum"));
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    expected_release(&e);
    workload_release(&w);
}
END_TEST

/* Waits until GET /readyz of the projector answers 200 (it has partitions). */
static void wait_ready(uint16_t port)
{
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", port);
    for (int i = 0; i < 300; i++) {
        if (stack_http("GET", url, NULL, NULL, 0, NULL) == 200)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("projector on port %u never became ready", port);
}

/* (c) two projectors in one group: one joins mid-stream, the first leaves on SIGTERM. */
START_TEST(test_rebalance_two_projectors_exact)
{
    static const char *const env[] = {PROJECTOR_ENV, "TP_LOG_LEVEL=debug", NULL};
    struct workload w;
    struct expected e = {0};
    workload_init(&w, "c-dev", 300, 100);
    expect(&e, &w, 0, w.n);
    size_t q = w.n / 4;
    uint16_t port1 = stack_free_port(), port2 = stack_free_port();
    pid_t p1 = stack_service_start(&st, "tp-projector", env, port1);
    produce(&w, 0, q);
    for (int i = 0; i < 300 && stored_progress() == 0; i++)
        usleep(100 * 1000);
    ck_assert_int_gt(stored_progress(), 0); /* the first has flushed some */
    pid_t p2 = stack_service_start(&st, "tp-projector", env, port2);
    produce(&w, q, 2 * q);
    wait_ready(port2); /* the rebalance gave it partitions */
    produce(&w, 2 * q, 3 * q);
    ck_assert_int_eq(stack_service_stop(p1, SIGTERM), 0); /* leaves: a second rebalance */
    produce(&w, 3 * q, w.n);
    wait_caught_up(&p2, 1, 120);
    assert_state(&w, &e);
    /* the second did not do it all alone */
    ck_assert_double_lt(metric_value(port2, "tp_projector_events_total"), (double)w.n);
    ck_assert_int_eq(stack_service_stop(p2, SIGTERM), 0);
    expected_release(&e);
    workload_release(&w);
}
END_TEST

/* Terminates every connection to the test database but ours; returns how many. */
static int terminate_backends(void)
{
    return (int)query_i64("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                          " FROM pg_stat_activity"
                          " WHERE datname = current_database() AND pid <> pg_backend_pid()",
                          NULL);
}

/* (d) the projector's connections are terminated mid-run, while it holds unflushed twins
 * and history: it resyncs (drops them, rewinds to postgresql's offsets) and loses nothing. */
START_TEST(test_postgres_connection_loss_exact)
{
    /* a flush every 300 ms, and small batches: a connection usually dies with changes pending */
    static const char *const env[] = {"TP_PROJECTOR_FLUSH_INTERVAL_MS=300",
                                      "TP_PROJECTOR_BATCH_MAX=500", "TP_LOG_LEVEL=debug", NULL};
    struct workload w;
    struct expected e = {0};
    workload_init(&w, "d-dev", 200, 150);
    expect(&e, &w, 0, w.n);
    unsigned seed = (unsigned)time(NULL) ^ 0x5a5a;
    fprintf(stderr, "test_postgres_connection_loss_exact: seed %u\n", seed);
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-projector", env, port);
    const size_t chunk = 1000;
    int terminated = 0, round = 0;
    int64_t killed_at = -1;
    for (size_t from = 0; from < w.n; from += chunk, round++) {
        produce(&w, from, from + chunk < w.n ? from + chunk : w.n);
        if (round % 4 != 1)
            continue;
        /* the next kill only once a flush went through after the last: each round's dead
         * flush connection is met by a flush, whose failure makes the projector resync */
        for (int i = 0; i < 300 && killed_at >= 0 && stored_progress() <= killed_at; i++)
            usleep(100 * 1000);
        usleep((useconds_t)rand_between(&seed, 0, 150) * 1000);
        terminated += terminate_backends() > 0; /* rounds, not connections */
        killed_at = stored_progress();
    }
    wait_caught_up(&pid, 1, 120);
    assert_alive(pid);
    assert_state(&w, &e);
    ck_assert_int_ge(terminated, 2);
    /* each round of terminated connections was noticed by a load or a flush, but the last one may
     * come after the projector finished */
    double resyncs = metric_value(port, "tp_projector_resyncs_total");
    fprintf(stderr, "test_postgres_connection_loss_exact: %d terminated, %.0f resyncs\n",
            terminated, resyncs);
    ck_assert_double_ge(resyncs, terminated - 1);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    expected_release(&e);
    workload_release(&w);
}
END_TEST

/* (e) a cap of 100 twins for 2000 devices: every device is evicted and reloaded between its
 * readings (round-robin production), duplicates and out-of-order readings included, and
 * the twins still equal the fold exactly. */
START_TEST(test_eviction_exact)
{
    static const char *const env[] = {PROJECTOR_ENV, "TP_PROJECTOR_MAX_TWINS=100",
                                      "TP_PROJECTOR_BATCH_MAX=400", NULL};
    struct workload w;
    struct expected e = {0};
    workload_init(&w, "e-dev", 2000, 12);
    produce(&w, 0, w.n);
    expect(&e, &w, 0, w.n);
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-projector", env, port);
    wait_caught_up(&pid, 1, 120);
    assert_state(&w, &e);
    ck_assert_double_eq(metric_value(port, "tp_projector_applied_total"), (double)e.applied);
    ck_assert_double_eq(metric_value(port, "tp_projector_duplicates_total"), (double)e.ignored);
    double evicted = metric_value(port, "tp_projector_twins_evicted_total");
    double reloaded = metric_value(port, "tp_projector_twins_reloaded_total");
    fprintf(stderr, "test_eviction_exact: %zu events, %.0f evictions, %.0f reloads\n", w.n, evicted,
            reloaded);
    /* each device reports 12 times, ~500 events of its partition apart: it is evicted and
     * reloaded between reports */
    ck_assert_double_gt(evicted, 2000 * 3);
    ck_assert_double_gt(reloaded, 2000 * 3);
    double in_memory = 0;
    for (int i = 0; i < 50; i++) { /* the last flush, then the eviction after it */
        in_memory = metric_value(port, "tp_projector_twins_in_memory");
        if (in_memory <= 100)
            break;
        usleep(100 * 1000);
    }
    ck_assert_double_le(in_memory, 100);
    ck_assert_double_eq(metric_value(port, "tp_projector_resyncs_total"), 0);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    expected_release(&e);
    workload_release(&w);
}
END_TEST

/* Retention: rows older than projector.history_retention_h go, exactly those; 0 keeps all. */
START_TEST(test_retention_deletes_old_minutes)
{
    PGresult *res = PQexec(db, "INSERT INTO metric_minutes VALUES"
                               " ('r-dev', 'speed_kmh', date_trunc('minute', now()) - interval "
                               "'3 hours', 1, 2, 3, 2),"
                               " ('r-dev', 'speed_kmh', date_trunc('minute', now()) - interval "
                               "'119 minutes', 1, 1, 1, 1),"
                               " ('r-dev', 'fuel_level_pct', '2001-01-01T00:00:00Z', 5, 5, 5, 1)");
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(db));
    PQclear(res);
    static const char *const keep[] = {PROJECTOR_ENV, "TP_PROJECTOR_HISTORY_RETENTION_H=0", NULL};
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-projector", keep, port);
    wait_ready(port);
    usleep(300 * 1000);
    ck_assert_double_eq(metric_value(port, "tp_projector_history_rows_deleted_total"), 0);
    ck_assert_int_eq(query_i64("SELECT count(*) FROM metric_minutes", NULL), 3);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);

    static const char *const two_h[] = {PROJECTOR_ENV, "TP_PROJECTOR_HISTORY_RETENTION_H=2", NULL};
    pid = stack_service_start(&st, "tp-projector", two_h, port);
    for (int i = 0; i < 100; i++) {
        if (metric_value(port, "tp_projector_history_rows_deleted_total") >= 2)
            break;
        usleep(100 * 1000);
    }
    ck_assert_double_eq(metric_value(port, "tp_projector_history_rows_deleted_total"), 2);
    res = query("SELECT metric, count FROM metric_minutes", NULL);
    ck_assert_int_eq(PQntuples(res), 1);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "speed_kmh");
    ck_assert_str_eq(PQgetvalue(res, 0, 1), "1"); /* the 119-minute-old row */
    PQclear(res);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
}
END_TEST

/* One reading of "f-dev" with speed_kmh = v at ts, folded into t and h. */
static void fold_one(struct twin *t, struct history *h, int seq, int64_t ts, double v)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = "f-dev";
    r.has_sequence = r.has_timestamp_ms = r.has_speed_kmh = 1;
    r.sequence = (uint64_t)seq;
    r.timestamp_ms = ts;
    r.speed_kmh = v;
    ck_assert_int_eq(fold_apply(t, &r, h, FOLD_MAX_JUMP_DEFAULT), FOLD_APPLIED);
}

/* "min max sum count" of f-dev's speed_kmh minute at ms, or "" */
static void minute_row(int64_t ms, char *out, size_t n)
{
    char p[24];
    snprintf(p, sizeof(p), "%lld", (long long)ms);
    PGresult *res =
        query("SELECT concat_ws(' ', min, max, sum, count) FROM metric_minutes"
              " WHERE device_id = 'f-dev' AND minute = to_timestamp($1::bigint / 1000.0)",
              p);
    snprintf(out, n, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
}

/* "minute min max sum count" of f-dev's open minute of speed_kmh in its record, or "" */
static void open_row(char *out, size_t n)
{
    struct twindb t;
    twindb_load(&t, db, "f-dev");
    const struct twin_view_metric *m = t.n ? twindb_metric(&t.rows[0].v, "speed_kmh") : NULL;
    if (m && m->mcount > 0)
        snprintf(out, n, "%lld %.17g %.17g %.17g %lld", (long long)t.rows[0].v.minute_ms, m->mmin,
                 m->mmax, m->msum, (long long)m->mcount);
    else
        snprintf(out, n, "%s", "");
    twindb_release(&t);
}

/* store.c against postgresql: a flush applies once. The same flush again (a COMMIT whose
 * answer was lost, retried) or a flush from stale offsets (a zombie projector) is refused
 * whole: the history's increments are never added twice, and the twin's open minute goes
 * with the twin. */
START_TEST(test_store_flush_applies_once)
{
    char errstr[512], row[128], want[128];
    struct store *s;
    ck_assert_int_eq(store_new(st.dsn, "g", "t", &s, errstr, sizeof(errstr)), TP_OK);
    struct twin *t = twin_new("f-dev");
    struct history *h = history_new();
    const int64_t m0 = (tp_now_ms() / 60000) * 60000 - 600000;
    fold_one(t, h, 1, m0 + 1000, 10.5);
    fold_one(t, h, 2, m0 + 2000, 2.25);
    history_add(h, "f-dev", "speed_kmh", m0 - 59000, 7); /* as a late reading would */
    int32_t parts[] = {3};
    int64_t offs[] = {2}, expected[] = {JOURNAL_OFFSET_BEGINNING};
    struct store_batch b = {.twins = &t,
                            .n_twins = 1,
                            .history = h,
                            .parts = parts,
                            .offsets = offs,
                            .expected = expected,
                            .n_parts = 1};
    ck_assert_int_eq(store_flush(s, &b, errstr, sizeof(errstr)), TP_OK);
    minute_row(m0, row, sizeof(row));
    ck_assert_str_eq(row, ""); /* still open: with the twin */
    snprintf(want, sizeof(want), "%lld 2.25 10.5 12.75 2", (long long)m0);
    open_row(row, sizeof(row));
    ck_assert_str_eq(row, want);
    minute_row(m0 - 60000, row, sizeof(row));
    ck_assert_str_eq(row, "7 7 7 1");

    ck_assert_int_eq(store_flush(s, &b, errstr, sizeof(errstr)), TP_CONFLICT);
    minute_row(m0 - 60000, row, sizeof(row));
    ck_assert_str_eq(row, "7 7 7 1");

    /* the next flush, from where the first left the offset: minute m0 closes */
    history_clear(h);
    fold_one(t, h, 3, m0 + 3000, 20);
    fold_one(t, h, 4, m0 + 61000, 1);
    expected[0] = 2;
    offs[0] = 4;
    ck_assert_int_eq(store_flush(s, &b, errstr, sizeof(errstr)), TP_OK);
    minute_row(m0, row, sizeof(row));
    ck_assert_str_eq(row, "2.25 20 32.75 3");
    minute_row(m0 + 60000, row, sizeof(row));
    ck_assert_str_eq(row, "");
    snprintf(want, sizeof(want), "%lld 1 1 1 1", (long long)(m0 + 60000));
    open_row(row, sizeof(row));
    ck_assert_str_eq(row, want);

    /* a zombie still at offset 2: refused, nothing changes */
    fold_one(t, h, 5, m0 + 62000, 100);
    offs[0] = 5;
    ck_assert_int_eq(store_flush(s, &b, errstr, sizeof(errstr)), TP_CONFLICT);
    minute_row(m0, row, sizeof(row));
    ck_assert_str_eq(row, "2.25 20 32.75 3");
    open_row(row, sizeof(row));
    ck_assert_str_eq(row, want);
    int32_t p3[] = {3};
    int64_t stored[1];
    ck_assert_int_eq(store_load_offsets(s, p3, stored, 1, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(stored[0], 4);

    /* the twin comes back with the statistics of the 4 committed readings, exactly */
    struct twins *tt = twins_new();
    char *ids[] = {"f-dev", "nobody"};
    ck_assert_int_eq(store_load_twins(s, ids, 2, tt, errstr, sizeof(errstr)), TP_OK);
    ck_assert_uint_eq(tt->count, 1);
    const struct twin *back = twins_get(tt, "f-dev");
    ck_assert_int_eq(back->events, 4);
    ck_assert_int_eq(back->last_sequence, 4);
    const struct twin_metric *m = twin_metric_get(back, "speed_kmh");
    ck_assert_double_eq(m->value, 1);
    ck_assert_int_eq(m->ts_ms, m0 + 61000);
    ck_assert_double_eq(m->min, 1);
    ck_assert_double_eq(m->max, 20);
    ck_assert_double_eq(m->sum, 33.75);
    ck_assert_int_eq(m->count, 4);
    /* and its open minute */
    ck_assert_int_eq(back->minute_ms, m0 + 60000);
    ck_assert_int_eq(m->mcount, 1);
    ck_assert_double_eq(m->msum, 1);
    twins_free(tt);
    history_free(h);
    twin_free(t);
    store_free(s);
}
END_TEST

/* ---- a TCP proxy to PostgreSQL whose traffic the test can freeze ---- */

struct proxy {
    int listen_fd;
    uint16_t port, to_port;
    atomic_bool frozen, stop;
    atomic_int pumps;
    pthread_t acceptor;
};

struct pump {
    struct proxy *px;
    int a, b;
};

/* Copies bytes both ways until a side closes; while frozen, copies nothing. */
static void *pump_main(void *arg)
{
    struct pump *p = arg;
    char buf[65536];
    while (!atomic_load(&p->px->stop)) {
        if (atomic_load(&p->px->frozen)) {
            usleep(10 * 1000);
            continue;
        }
        struct pollfd fds[2] = {{p->a, POLLIN, 0}, {p->b, POLLIN, 0}};
        if (poll(fds, 2, 50) <= 0)
            continue;
        bool closed = false;
        for (int i = 0; i < 2 && !closed; i++) {
            if (!fds[i].revents)
                continue;
            int from = i ? p->b : p->a, to = i ? p->a : p->b;
            ssize_t n = recv(from, buf, sizeof(buf), 0);
            closed = n <= 0;
            for (ssize_t off = 0; !closed && off < n;) {
                ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
                closed = w <= 0;
                off += w > 0 ? w : 0;
            }
        }
        if (closed)
            break;
    }
    close(p->a);
    close(p->b);
    atomic_fetch_sub(&p->px->pumps, 1);
    free(p);
    return NULL;
}

static void *acceptor_main(void *arg)
{
    struct proxy *px = arg;
    while (!atomic_load(&px->stop)) {
        struct pollfd l = {px->listen_fd, POLLIN, 0};
        if (poll(&l, 1, 50) <= 0)
            continue;
        int c = accept(px->listen_fd, NULL, NULL);
        if (c < 0)
            continue;
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons(px->to_port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            close(s);
            close(c);
            continue;
        }
        struct pump *p = tp_calloc(1, sizeof(*p));
        *p = (struct pump){px, c, s};
        atomic_fetch_add(&px->pumps, 1);
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, pump_main, p), 0);
        pthread_detach(t);
    }
    return NULL;
}

static void proxy_start(struct proxy *px, uint16_t to_port)
{
    memset(px, 0, sizeof(*px));
    px->to_port = to_port;
    px->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(px->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(px->listen_fd, 16), 0);
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(getsockname(px->listen_fd, (struct sockaddr *)&sa, &sl), 0);
    px->port = ntohs(sa.sin_port);
    ck_assert_int_eq(pthread_create(&px->acceptor, NULL, acceptor_main, px), 0);
}

static void proxy_stop(struct proxy *px)
{
    atomic_store(&px->stop, true);
    pthread_join(px->acceptor, NULL);
    close(px->listen_fd);
    for (int i = 0; i < 200 && atomic_load(&px->pumps) > 0; i++)
        usleep(10 * 1000);
}

/* The port of a libpq conninfo's "port=" (5432 without one). */
static uint16_t dsn_port(const char *dsn)
{
    const char *p = strstr(dsn, "port=");
    return p ? (uint16_t)atoi(p + 5) : 5432;
}

/* GETs /healthz until it answers want (30 s); its body into out. */
static long await_health(uint16_t port, long want, struct buf *out)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", port);
    long s = 0;
    for (int i = 0; i < 300; i++) {
        buf_reset(out);
        s = stack_http("GET", url, NULL, NULL, 0, out);
        if (s == want)
            break;
        usleep(100 * 1000);
    }
    return s;
}

/* (g) a flush that hangs on a PostgreSQL that stopped answering: /healthz says so. */
START_TEST(test_healthz_names_a_hung_flush)
{
    struct proxy px;
    proxy_start(&px, dsn_port(st.dsn));
    char dsn[800];
    /* the last port= wins */
    snprintf(dsn, sizeof(dsn), "TP_PG_DSN=%s port=%u", st.dsn, px.port);
    const char *const env[] = {PROJECTOR_ENV, dsn, "TP_HEALTH_STALL_S=2", NULL};
    struct workload w;
    struct expected e = {0};
    workload_init(&w, "g-dev", 100, 6);
    size_t half = w.n / 2;
    produce(&w, 0, half);
    expect(&e, &w, 0, w.n);
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-projector", env, port);
    wait_caught_up(&pid, 1, 120);
    struct buf body;
    buf_init(&body, 1 << 20);
    ck_assert_int_eq(await_health(port, 200, &body), 200);
    ck_assert_str_eq(body.data, "{\"status\":\"ok\"}");
    /* frozen: the next flush (100 ms after the next change) never hears back */
    atomic_store(&px.frozen, true);
    produce(&w, half, w.n);
    ck_assert_int_eq(await_health(port, 503, &body), 503);
    ck_assert_msg(strstr(body.data, "{\"loop\":\"projector flusher\",\"silent_ms\":") &&
                      strstr(body.data, "\"bound_ms\":2000}") &&
                      !strncmp(body.data, "{\"status\":\"stalled\",\"stalled\":[", 31),
                  "%s", body.data);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, NULL), 200); /* the server answers */
    assert_alive(pid);
    /* thawed: the flush ends, the loops turn, nothing lost or doubled */
    atomic_store(&px.frozen, false);
    ck_assert_int_eq(await_health(port, 200, &body), 200);
    ck_assert_str_eq(body.data, "{\"status\":\"ok\"}");
    wait_caught_up(&pid, 1, 120);
    assert_state(&w, &e);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    buf_release(&body);
    proxy_stop(&px);
    expected_release(&e);
    workload_release(&w);
}
END_TEST

static Suite *projector_suite(void)
{
    Suite *s = suite_create("projector");
    TCase *tc = tcase_create("exactly_once");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_fold_exact_across_restart);
    tcase_add_test(tc, test_sigkill_many_times_exact);
    tcase_add_test(tc, test_rebalance_two_projectors_exact);
    tcase_add_test(tc, test_postgres_connection_loss_exact);
    tcase_add_test(tc, test_eviction_exact);
    tcase_add_test(tc, test_retention_deletes_old_minutes);
    tcase_add_test(tc, test_store_flush_applies_once);
    tcase_add_test(tc, test_healthz_names_a_hung_flush);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(projector_suite)
