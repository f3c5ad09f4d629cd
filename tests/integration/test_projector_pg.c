/*
 * tp-projector while PostgreSQL is restarted for real, mid-run. The test runs
 * its own private PostgreSQL (scripts/devstack pg up with its own
 * TP_DEVSTACK_DIR and a free port), so stopping it disturbs nothing else; the
 * journal is the dev stack's broker, on the test's own topic. 60,000 readings
 * of 400 devices, with duplicates and out-of-order sequences
 * (tests/support/workload.h), are produced in chunks while the projector runs,
 * and PostgreSQL goes away twice:
 *
 *   pg down (fast shutdown: sessions are ended with 57P01, a shutdown
 *     checkpoint), readings keep arriving for a few seconds: the projector
 *     answers /readyz 503 and waits; pg up: it answers 200 again;
 *   pg down --immediate (a crash: no checkpoint) while flushes are under way,
 *     pg up at once: the server runs crash recovery first (its log says so).
 *
 * The projector must stay alive through both and resync (at least once per
 * restart: its connection is broken each time and readings follow), and once
 * it caught up, every twin and every metric_minutes row must equal the
 * test's independent fold exactly: nothing lost, nothing counted twice.
 *
 * The private server is stopped and its folder removed by teardown, and, if
 * the test process dies without one (a crash, ctest's kill on timeout), by a
 * guard process outside the test's process tree that waits for it to end.
 */
#include <check.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "tests/support/workload.h"

#define DEVSTACK TP_SOURCE_DIR "/scripts/devstack"

static struct stack st;
static PGconn *db;
static char pg_dir[64];
static uint16_t pg_port;
static bool pg_started;
static int guard_fd = -1;   /* the guard cleans up when this write end closes */
static pid_t projector_pid; /* killed by teardown if a check failed midway */
static struct workload w;   /* released by teardown, also after a failed check */
static struct expected e;

/* In a child: the private server's devstack environment, output to the test's log. */
static void private_pg_env(void)
{
    char port[16], log[1024];
    snprintf(port, sizeof(port), "%u", pg_port);
    setenv("TP_DEVSTACK_DIR", pg_dir, 1);
    setenv("TP_DEVSTACK_PG_PORT", port, 1);
    snprintf(log, sizeof(log), "%s/../Testing/%s-pg.log", TP_BIN_DIR, st.db);
    FILE *f = freopen(log, "a", stdout);
    (void)f;
    dup2(STDOUT_FILENO, STDERR_FILENO);
}

/* Runs scripts/devstack pg <verb> [option] for the private server; returns its exit code. */
static int private_pg(const char *verb, const char *option)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        private_pg_env();
        execl("/bin/bash", "bash", DEVSTACK, "pg", verb, option, (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * Starts the guard: a process outside the test's process tree (double fork, own session)
 * that waits until its end of a pipe closes, which happens when the test process ends in
 * any way, then kills a tp-projector of this test that is still running (its environment
 * names the test's topic), stops the private server and removes its folder. After a normal
 * teardown it finds nothing left to do.
 */
static const char guard_script[] =
    "cat >/dev/null\n"
    "for p in $(pgrep -x tp-projector); do\n"
    "  tr '\\0' '\\n' </proc/$p/environ 2>/dev/null |\n"
    "    grep -qxF \"TP_JOURNAL_TOPIC=$TP_GUARD_TOPIC\" && kill -KILL $p\n"
    "done\n"
    "\"$0\" pg down --immediate\n"
    "rm -rf \"$TP_DEVSTACK_DIR\"\n";

static void guard_start(void)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    /* services and devstack runs must not hold it open: the write end closes on exec */
    ck_assert_int_eq(fcntl(fds[1], F_SETFD, FD_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (fork() == 0) {
            setsid();
            dup2(fds[0], STDIN_FILENO);
            private_pg_env();
            setenv("TP_GUARD_TOPIC", st.topic, 1);
            execl("/bin/bash", "bash", "-c", guard_script, DEVSTACK, (char *)NULL);
            _exit(127);
        }
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    close(fds[0]);
    guard_fd = fds[1];
}

/* (Re)connects the test's own connection to the test database. */
static void db_open(void)
{
    PQfinish(db);
    db = PQconnectdb(st.dsn);
    ck_assert_msg(PQstatus(db) == CONNECTION_OK, "%s", PQerrorMessage(db));
}

static void setup(void)
{
    stack_init(&st, "projector_pg");
    snprintf(pg_dir, sizeof(pg_dir), "/tmp/tp-pg-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(pg_dir));
    ck_assert_int_eq(chmod(pg_dir, 0711), 0); /* the postgres user must reach its data */
    pg_port = stack_free_port();
    guard_start();
    ck_assert_int_eq(private_pg("up", NULL), 0);
    pg_started = true;
    char admin[256];
    snprintf(admin, sizeof(admin), "host=127.0.0.1 port=%u dbname=twinpipe user=postgres", pg_port);
    stack_set_admin_dsn(&st, admin);
    stack_db_create(&st);
    struct journal_config jc = workload_journal(&st);
    char errstr[256];
    ck_assert_int_eq(journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)), TP_OK);
    db_open();
}

static void teardown(void)
{
    if (projector_pid > 0)
        stack_service_stop(projector_pid, SIGKILL);
    projector_pid = 0;
    expected_release(&e);
    workload_release(&w);
    memset(&w, 0, sizeof(w));
    PQfinish(db);
    db = NULL;
    if (pg_started && private_pg("down", NULL) != 0)
        fprintf(stderr, "could not stop the private postgresql in %s\n", pg_dir);
    pg_started = false;
    /* the server's own log next to the test's other logs, then the cluster goes */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp -f '%s/pg/log' '%s/../Testing/%s-postgresql.log'; rm -rf '%s'",
             pg_dir, TP_BIN_DIR, st.db, pg_dir);
    if (pg_dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not keep the log of or remove %s\n", pg_dir);
    if (guard_fd >= 0)
        close(guard_fd);
    guard_fd = -1;
}

/* Polls the projector's /readyz until it answers want (or fails the test after seconds). */
static void await_ready(uint16_t port, long want, int seconds)
{
    char url[96];
    long s = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", port);
    for (int i = 0; i < seconds * 10; i++) {
        workload_assert_alive(&st, projector_pid);
        if ((s = stack_http("GET", url, NULL, NULL, 0, NULL)) == want)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("%s answered %ld, not %ld, for %d s", url, s, want, seconds);
}

/* Sum of the next offsets stored for the group. */
static int64_t stored_progress(void)
{
    return workload_query_i64(db,
                              "SELECT coalesce(sum(next_offset), 0) FROM projector_offsets"
                              " WHERE consumer_group = $1",
                              st.topic);
}

/* How many lines of the private server's log contain s. */
static int pg_log_count(const char *s)
{
    char path[128], line[4096];
    snprintf(path, sizeof(path), "%s/pg/log", pg_dir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, s) != NULL;
    fclose(f);
    return n;
}

START_TEST(test_postgres_restarts_exact)
{
    /* a flush every 300 ms and small batches: a restart usually finds changes unflushed */
    static const char *const env[] = {"TP_PROJECTOR_FLUSH_INTERVAL_MS=300",
                                      "TP_PROJECTOR_BATCH_MAX=500", "TP_LOG_LEVEL=debug", NULL};
    const size_t chunk = 2000;
    const int chunks = 30, fast_at = 9, crash_at = 19; /* restart after these chunks */
    int64_t t0 = tp_mono_ms();
    workload_init(&w, "pg-dev", 400, 150);
    ck_assert_uint_eq(w.n, chunk * (size_t)chunks);
    workload_expect(&e, &w, 0, w.n);
    unsigned seed = (unsigned)time(NULL);
    fprintf(stderr, "test_postgres_restarts_exact: seed %u, private postgresql on port %u\n", seed,
            pg_port);
    uint16_t port = stack_free_port();
    pid_t pid = projector_pid = stack_service_start(&st, "tp-projector", env, port);
    await_ready(port, 200, 30);

    for (int k = 0; k < chunks; k++) {
        workload_produce(&st, &w, (size_t)k * chunk, (size_t)(k + 1) * chunk);
        if (k == fast_at) {
            /* once the projector has flushed, at a random moment of the work that follows;
             * the test's own connection stays open over the restart like any idle client's
             * (the server's end waits in FIN-WAIT-2: pg up must not take it for a holder of
             * the port) */
            for (int i = 0; i < 300 && stored_progress() == 0; i++)
                usleep(100 * 1000);
            ck_assert_int_gt(stored_progress(), 0);
            usleep((useconds_t)(rand_r(&seed) % 300) * 1000);
            int64_t down = tp_mono_ms();
            ck_assert_int_eq(private_pg("down", NULL), 0);
            /* readings keep coming while postgresql is away: the projector cannot load or
             * flush, says so on /readyz, and waits */
            k++;
            workload_produce(&st, &w, (size_t)k * chunk, (size_t)(k + 1) * chunk);
            await_ready(port, 503, 15);
            while (tp_mono_ms() - down < 4000)
                usleep(100 * 1000);
            workload_assert_alive(&st, pid);
            ck_assert_int_eq(private_pg("up", NULL), 0);
            fprintf(stderr, "test_postgres_restarts_exact: fast restart, down for %lld ms\n",
                    (long long)(tp_mono_ms() - down));
            await_ready(port, 200, 60);
            db_open();
        } else if (k == crash_at) {
            usleep((useconds_t)(rand_r(&seed) % 300) * 1000);
            workload_assert_alive(&st, pid);
            int64_t down = tp_mono_ms();
            ck_assert_int_eq(private_pg("down", "--immediate"), 0);
            ck_assert_int_eq(private_pg("up", NULL), 0); /* after crash recovery */
            fprintf(stderr, "test_postgres_restarts_exact: crash and recovery in %lld ms\n",
                    (long long)(tp_mono_ms() - down));
            db_open();
        }
    }
    /* three starts: after initdb and after the fast shutdown from a shutdown checkpoint,
     * after the crash with recovery */
    ck_assert_int_eq(pg_log_count("database system is ready to accept connections"), 3);
    ck_assert_int_eq(pg_log_count("database system was shut down at"), 2);
    ck_assert_int_eq(pg_log_count("automatic recovery in progress"), 1);

    workload_wait_caught_up(&st, db, &pid, 1, 180);
    fprintf(stderr, "test_postgres_restarts_exact: caught up after %lld ms\n",
            (long long)(tp_mono_ms() - t0));
    workload_assert_alive(&st, pid);
    workload_assert_state(db, &w, &e);
    double resyncs = workload_metric(port, "tp_projector_resyncs_total");
    fprintf(stderr,
            "test_postgres_restarts_exact: %zu events, %ld applied, %ld ignored, %zu history "
            "rows, %.0f resyncs, %.0f flushes\n",
            w.n, e.applied, e.ignored, e.n_hist, resyncs,
            workload_metric(port, "tp_projector_flushes_total"));
    /* each restart broke the projector's connection, and readings came after it */
    ck_assert_double_ge(resyncs, 2);
    await_ready(port, 200, 15);
    projector_pid = 0;
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
}
END_TEST

static Suite *projector_pg_suite(void)
{
    Suite *s = suite_create("projector_pg");
    TCase *tc = tcase_create("postgres_restart");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_postgres_restarts_exact);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(projector_pg_suite)
