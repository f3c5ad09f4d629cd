/*
 * tp-bench-flush: the projector's flush of twins into migration 0009's twins
 * table, measured on the same rows (twin/rows.h's binary COPY of twins with
 * 8 metrics with statistics, an open minute and 3 attributes), written three
 * ways after the same binary COPY into twins_stage:
 *
 *   upsert        - what the store runs, store_upsert_sql: INSERT .. SELECT
 *                   .. ON CONFLICT DO UPDATE .. WHERE t.version <=
 *                   EXCLUDED.version;
 *   update_insert - an alternative: UPDATE .. FROM twins_stage .. AND
 *                   t.version <= s.version, then INSERT .. SELECT .. WHERE
 *                   NOT EXISTS;
 *   insert_upsert - an alternative: a plain INSERT .. WHERE NOT EXISTS of
 *                   the new devices (no speculative insertion), then, unless
 *                   that inserted them all, store_upsert_sql for the rest,
 *                   skipping the rows just inserted (written_xid);
 *
 * beside the limit on the same rows in the same run:
 *
 *   lean          - a lean table (device_id PRIMARY KEY, version, last_seen,
 *                   state, fillfactor 70) with no guard, no updated_at or
 *                   written_xid and no stage for inserts: the first write is
 *                   a plain binary COPY into it, the second a plain
 *                   INSERT .. ON CONFLICT DO UPDATE from twins_stage;
 *
 * and the projector's whole flush (store_job_build, then store_job_run: the
 * offsets' compare-and-set, COPY, the store's statement, COMMIT) of the rows
 * once more at a higher version: "flush encode" and "flush run".
 *
 * Each method writes N new twins (insert), then the same N again at a
 * higher version (update), each in one transaction, on an emptied table.
 * Prints "method phase rows seconds rows_per_s backend_cpu_s" lines (the CPU
 * time of the PostgreSQL backend, steadier than wall time on a busy machine).
 * TP_BENCH_FLUSH_ROUNDS=R (default 1) repeats everything R times, the methods in a rotated order,
 * and prints each one's best (for a noisy machine; each round's times go to stderr);
 * TP_BENCH_FLUSH_SHUFFLE=1 writes the twins in a shuffled order instead of the order of their ids.
 *
 * usage: tp-bench-flush DSN ROWS   (a database migrated by tp-migrate; its twins are deleted)
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/pg.h"
#include "projector/store.h"
#include "twin/rows.h"
#include "twin/twin.h"

static const char *const bench_metrics[8] = {
    "speed_kmh",         "fuel_level_pct", "odometer_km",          "engine_temp_c",
    "battery_voltage_v", "engine_rpm",     "tire_pressure_fl_kpa", "tire_pressure_fr_kpa"};

static const char lean_sql[] =
    "DROP TABLE IF EXISTS twins_lean;"
    "CREATE TABLE twins_lean (device_id text PRIMARY KEY, version bigint NOT NULL,"
    " last_seen timestamptz NOT NULL, state bytea NOT NULL) WITH (fillfactor = 70);"
    "ALTER TABLE twins_lean ALTER COLUMN state SET STORAGE EXTERNAL";
static const char lean_copy_sql[] =
    "COPY twins_lean (device_id, version, last_seen, state) FROM STDIN (FORMAT binary)";
static const char lean_upsert_sql[] =
    "INSERT INTO twins_lean AS t SELECT device_id, version, last_seen, state FROM twins_stage"
    " ON CONFLICT (device_id) DO UPDATE SET version = EXCLUDED.version,"
    " last_seen = EXCLUDED.last_seen, state = EXCLUDED.state";

/* The alternatives to store_upsert_sql, with the same effect (the version guard, updated_at,
 * written_xid): UPDATE + INSERT of the new devices; or a plain INSERT of the new devices, then
 * the store's own upsert of the rest (alt_upsert_rest, built from store_upsert_sql in main),
 * skipping the rows the INSERT wrote. */
static const char alt_update_insert_sql[] =
    "UPDATE twins AS t SET version = s.version, last_seen = s.last_seen, updated_at = now(),"
    " written_xid = pg_current_xact_id(), state = s.state FROM twins_stage s"
    " WHERE t.device_id = s.device_id AND t.version <= s.version;"
    "INSERT INTO twins (device_id, version, last_seen, state)"
    " SELECT device_id, version, last_seen, state FROM twins_stage s"
    " WHERE NOT EXISTS (SELECT 1 FROM twins t WHERE t.device_id = s.device_id)";
static const char alt_insert_new_sql[] =
    "INSERT INTO twins (device_id, version, last_seen, state)"
    " SELECT device_id, version, last_seen, state FROM twins_stage s"
    " WHERE NOT EXISTS (SELECT 1 FROM twins t WHERE t.device_id = s.device_id)";
static const char alt_upsert_rest_guard[] = " AND t.written_xid <> pg_current_xact_id()";
static char *alt_upsert_rest;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void must(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        fprintf(stderr, "tp-bench-flush: %.60s: %s", sql, PQerrorMessage(db));
        exit(1);
    }
    PQclear(r);
}

/* n twins at version (events) seq, as the projector holds them before a flush. */
static struct twin **make_twins(size_t n, int64_t seq)
{
    struct twin **twins = calloc(n, sizeof(*twins));
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "veh-%07zu", i);
        struct twin *t = twin_new(id);
        int64_t ts = 1795400000000LL + seq * 5000;
        t->first_seen_ms = 1795400000000LL;
        t->last_seen_ms = ts;
        t->last_sequence = seq;
        t->events = seq;
        for (int k = 0; k < 8; k++) {
            double v = 10.0 * k + (double)(i % 1000) / 8.0 + (double)seq;
            struct twin_metric *m = twin_metric_set(t, bench_metrics[k], v, ts);
            m->min = v - 1;
            m->max = v + 1;
            m->sum = v * (double)seq;
            m->count = seq;
            /* the open minute: this value and the one before */
            m->mmin = v - 1;
            m->mmax = v;
            m->msum = 2 * v - 1;
            m->mcount = 2;
        }
        t->minute_ms = ts - ts % 60000;
        twin_attr_set(t, "model", "tp-van");
        twin_attr_set(t, "region", "eu-central");
        twin_attr_set(t, "firmware", "2.1.4");
        twins[i] = t;
    }
    return twins;
}

/* Shuffles the twins (a fixed xorshift permutation): the projector flushes its dirty twins
 * in the order their devices reported, not in the order of their ids. */
static void shuffle(struct twin **twins, size_t n, uint64_t seed)
{
    uint64_t x = seed;
    for (size_t i = n; i > 1; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t j = (size_t)(x % i);
        struct twin *t = twins[i - 1];
        twins[i - 1] = twins[j];
        twins[j] = t;
    }
}

static void free_twins(struct twin **twins, size_t n)
{
    for (size_t i = 0; i < n; i++)
        twin_free(twins[i]);
    free(twins);
}

/* The binary COPY stream of the twins (the projector's own encoding). */
static void encode(struct buf *out, struct twin **twins, size_t n)
{
    twin_rows_header(out);
    for (size_t i = 0; i < n; i++)
        twin_rows_twin(out, twins[i]);
    twin_rows_trailer(out);
}

static void copy(PGconn *db, const char *sql, const struct buf *payload)
{
    char errstr[512];
    if (pg_copy(db, sql, payload->data, payload->len, errstr, sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "tp-bench-flush: COPY: %s\n", errstr);
        exit(1);
    }
}

enum method { M_UPSERT, M_UPDATE_INSERT, M_INSERT_UPSERT, M_LEAN, M_N };
static const char *const method_names[M_N] = {"upsert", "update_insert", "insert_upsert", "lean"};

/* One transaction writing payload (all n rows) by method; returns its seconds. */
static double write_rows(PGconn *db, enum method m, int phase, const struct buf *payload, size_t n)
{
    double t0 = now_s();
    must(db, "BEGIN");
    if (m == M_LEAN && phase == 0) {
        copy(db, lean_copy_sql, payload);
    } else {
        copy(db, twin_rows_copy_twins_sql, payload);
        if (m == M_INSERT_UPSERT) {
            PGresult *r = PQexec(db, alt_insert_new_sql);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                fprintf(stderr, "tp-bench-flush: insert: %s", PQerrorMessage(db));
                exit(1);
            }
            size_t inserted = strtoull(PQcmdTuples(r), NULL, 10);
            PQclear(r);
            if (inserted < n)
                must(db, alt_upsert_rest);
        } else {
            must(db, m == M_UPSERT          ? store_upsert_sql
                     : m == M_UPDATE_INSERT ? alt_update_insert_sql
                                            : lean_upsert_sql);
        }
    }
    must(db, "COMMIT");
    return now_s() - t0;
}

/* CPU seconds (user + system) the backend of db has used so far, from /proc (the server
 * runs on this machine), or 0 when it cannot be read: on a busy machine a method's CPU
 * time is a steadier figure than its wall time. */
static double backend_cpu_s(PGconn *db)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", PQbackendPID(db));
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t got = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[got] = '\0';
    const char *p = strrchr(line, ')'); /* fields after the command name */
    unsigned long long utime = 0, stime = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static int64_t count_version(PGconn *db, const char *table, int64_t version)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE version = %" PRId64, table, version);
    PGresult *r = PQexec(db, sql);
    int64_t n = PQresultStatus(r) == PGRES_TUPLES_OK ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tp-bench-flush DSN ROWS\n");
        return 2;
    }
    size_t n = strtoull(argv[2], NULL, 10);
    size_t rest_size = strlen(store_upsert_sql) + sizeof(alt_upsert_rest_guard);
    alt_upsert_rest = malloc(rest_size);
    snprintf(alt_upsert_rest, rest_size, "%s%s", store_upsert_sql, alt_upsert_rest_guard);
    PGconn *db = PQconnectdb(argv[1]);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "tp-bench-flush: %s", PQerrorMessage(db));
        return 1;
    }
    must(db, "SET client_min_messages = warning");
    /* the alternatives' NOT EXISTS on a just truncated twins table: the planner takes it for
     * empty and may rescan it per staged row as it grows (minutes at 1M rows); the store's
     * upsert and the limit have no join */
    must(db, "SET enable_nestloop = off");
    must(db, twin_rows_stage_sql);
    must(db, lean_sql);
    struct twin **ins = make_twins(n, 1), **upd = make_twins(n, 2);
    const char *order = getenv("TP_BENCH_FLUSH_SHUFFLE");
    if (order && *order) {
        shuffle(ins, n, 0x9e3779b97f4a7c15ULL);
        shuffle(upd, n, 0xd1b54a32d192ed03ULL);
    }
    struct buf payload[2];
    for (int phase = 0; phase < 2; phase++) {
        buf_init(&payload[phase], SIZE_MAX / 2);
        double t0 = now_s();
        encode(&payload[phase], phase ? upd : ins, n);
        double s = now_s() - t0;
        printf("encode %s %zu %.3f %.0f\n", phase ? "update" : "insert", n, s, (double)n / s);
    }
    fflush(stdout);
    /* rounds (a noisy machine): the methods in a rotated order each round, the best kept */
    const char *rounds_env = getenv("TP_BENCH_FLUSH_ROUNDS");
    int rounds = rounds_env && atoi(rounds_env) > 0 ? atoi(rounds_env) : 1;
    double best[M_N][2] = {{0}}, best_cpu[M_N][2] = {{0}};
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < M_N; k++) {
            int m = (k + r) % M_N;
            const char *table = m == M_LEAN ? "twins_lean" : "twins";
            char sql[64];
            snprintf(sql, sizeof(sql), "TRUNCATE %s", table);
            must(db, sql);
            must(db, "CHECKPOINT");
            for (int phase = 0; phase < 2; phase++) {
                double c0 = backend_cpu_s(db);
                double s = write_rows(db, (enum method)m, phase, &payload[phase], n);
                double cpu = backend_cpu_s(db) - c0;
                if (count_version(db, table, phase + 1) != (int64_t)n) {
                    fprintf(stderr, "tp-bench-flush: %s %s did not write %zu rows\n",
                            method_names[m], phase ? "update" : "insert", n);
                    return 1;
                }
                fprintf(stderr, "round %d: %s %s %.3f s, backend cpu %.2f s\n", r + 1,
                        method_names[m], phase ? "update" : "insert", s, cpu);
                if (best[m][phase] == 0 || s < best[m][phase])
                    best[m][phase] = s;
                if (best_cpu[m][phase] == 0 || cpu < best_cpu[m][phase])
                    best_cpu[m][phase] = cpu;
            }
        }
    }
    for (int m = 0; m < M_N; m++)
        for (int phase = 0; phase < 2; phase++)
            printf("%s %s %zu %.3f %.0f %.2f\n", method_names[m], phase ? "update" : "insert", n,
                   best[m][phase], (double)n / best[m][phase], best_cpu[m][phase]);
    fflush(stdout);
    buf_release(&payload[0]);
    buf_release(&payload[1]);
    free_twins(ins, n);

    /* the projector's own flush of the same twins at a higher version (3, 4, ..), over the
     * twins table the methods left at version 2: encoding, then the transaction */
    char errstr[512];
    struct store *st = NULL;
    if (store_new(argv[1], "tp-bench-flush", "bench", &st, errstr, sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "tp-bench-flush: %s\n", errstr);
        return 1;
    }
    double enc = 0, run = 0, bytes = 0;
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < n; i++)
            upd[i]->events = 3 + r;
        must(db, "CHECKPOINT");
        int32_t part = 0;
        int64_t next = 1 + r, expected = r == 0 ? -1 : r;
        struct store_batch b = {.twins = upd,
                                .n_twins = n,
                                .parts = &part,
                                .offsets = &next,
                                .expected = &expected,
                                .n_parts = 1};
        struct store_job job;
        double t0 = now_s();
        store_job_build(&job, &b);
        double e = now_s() - t0;
        t0 = now_s();
        if (store_job_run(st, &job, errstr, sizeof(errstr)) != TP_OK) {
            fprintf(stderr, "tp-bench-flush: flush: %s\n", errstr);
            return 1;
        }
        double x = now_s() - t0;
        if (count_version(db, "twins", 3 + r) != (int64_t)n) {
            fprintf(stderr, "tp-bench-flush: the flush did not write %zu rows\n", n);
            return 1;
        }
        fprintf(stderr, "round %d: flush encode %.3f s, run %.3f s\n", r + 1, e, x);
        if (r == 0 || e + x < enc + run) {
            enc = e;
            run = x;
        }
        bytes = (double)job.twins.len;
        store_job_release(&job);
    }
    printf("flush encode %zu %.3f %.0f\n", n, enc, (double)n / enc);
    printf("flush run %zu %.3f %.0f\n", n, run, (double)n / run);
    printf("flush whole %zu %.3f %.0f\n", n, enc + run, (double)n / (enc + run));
    printf("payload bytes_per_twin %zu %.1f 0\n", n, bytes / (double)n);
    store_free(st);
    free_twins(upd, n);
    must(db, "DROP TABLE twins_lean");
    PQfinish(db);
    free(alt_upsert_rest);
    return 0;
}
