/*
 * tp-bench-flush: the projector's two ways of writing a flush of twins,
 * measured on the same rows (store_twin_row's, 8 metrics with statistics):
 *
 *   copy     - COPY into a temp staging table, then one INSERT .. SELECT ..
 *              ON CONFLICT (what projector/store.c does);
 *   pipeline - one prepared INSERT .. VALUES .. ON CONFLICT per twin, sent
 *              in libpq pipeline mode with a single sync.
 *
 * Each method writes N new twins (inserts), then the same N again with a
 * higher sequence (updates), each in one transaction, on an emptied twins
 * table. Prints "method phase rows seconds rows_per_s" lines.
 *
 * usage: tp-bench-flush DSN ROWS   (a database migrated by tp-migrate; its twins are deleted)
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "projector/store.h"
#include "twin/twin.h"

static const char *const bench_metrics[8] = {
    "speed_kmh",         "fuel_level_pct", "odometer_km",          "engine_temp_c",
    "battery_voltage_v", "engine_rpm",     "tire_pressure_fl_kpa", "tire_pressure_fr_kpa"};

/* The store's upsert (store_upsert_sql) one row at a time, for pipeline mode. */
static const char upsert_values_sql[] =
    "INSERT INTO twins AS t (device_id, first_seen, last_seen, last_sequence, events, metrics,"
    " location, attributes, updated_at, minute, minute_stats, seq_window)"
    " VALUES ($1, timestamptz 'epoch' + $2::bigint * interval '1 millisecond',"
    " timestamptz 'epoch' + $3::bigint * interval '1 millisecond', $4::bigint, $5::bigint,"
    " $6::jsonb, $7::jsonb, $8::jsonb, now(),"
    " timestamptz 'epoch' + $9::bigint * interval '1 millisecond', $10::jsonb, $11::bytea)"
    " ON CONFLICT (device_id) DO UPDATE SET first_seen = EXCLUDED.first_seen,"
    " last_seen = EXCLUDED.last_seen, last_sequence = EXCLUDED.last_sequence,"
    " events = EXCLUDED.events, metrics = EXCLUDED.metrics, location = EXCLUDED.location,"
    " attributes = EXCLUDED.attributes, updated_at = now(), minute = EXCLUDED.minute,"
    " minute_stats = EXCLUDED.minute_stats, seq_window = EXCLUDED.seq_window"
    " WHERE (t.last_sequence, t.events) <= (EXCLUDED.last_sequence, EXCLUDED.events)";

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
        fprintf(stderr, "tp-bench-flush: %s: %s", sql, PQerrorMessage(db));
        exit(1);
    }
    PQclear(r);
}

/* The COPY text rows of n twins at sequence seq (the projector's own encoding). */
static char **make_rows(size_t n, int64_t seq)
{
    char **rows = calloc(n, sizeof(*rows));
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
        struct buf b;
        buf_init(&b, 1 << 20);
        store_twin_row(&b, t);
        rows[i] = buf_steal(&b, NULL);
        twin_free(t);
    }
    return rows;
}

static void write_copy(PGconn *db, char **rows, size_t n)
{
    must(db, "BEGIN");
    PGresult *r = PQexec(db, "COPY twins_stage FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fprintf(stderr, "tp-bench-flush: COPY: %s", PQerrorMessage(db));
        exit(1);
    }
    PQclear(r);
    struct buf chunk;
    buf_init(&chunk, 1 << 24);
    for (size_t i = 0; i < n; i++) {
        buf_append_str(&chunk, rows[i]);
        if (chunk.len > (1 << 20) || i + 1 == n) {
            PQputCopyData(db, chunk.data, (int)chunk.len);
            buf_reset(&chunk);
        }
    }
    buf_release(&chunk);
    PQputCopyEnd(db, NULL);
    while ((r = PQgetResult(db))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "tp-bench-flush: COPY: %s", PQerrorMessage(db));
            exit(1);
        }
        PQclear(r);
    }
    must(db, store_upsert_sql);
    must(db, "COMMIT");
}

static void write_pipeline(PGconn *db, char **rows, size_t n)
{
    must(db, "BEGIN");
    if (!PQenterPipelineMode(db)) {
        fprintf(stderr, "tp-bench-flush: pipeline mode: %s", PQerrorMessage(db));
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        /* split the COPY row into its 11 columns (\N is NULL; the one escape in these rows is
         * the bytea window's doubled backslash: the COPY text \\x.. is the parameter \x..) */
        char *row = strdup(rows[i]), *save = NULL;
        const char *params[11];
        int k = 0;
        for (char *f = strtok_r(row, "\t\n", &save); f && k < 11; f = strtok_r(NULL, "\t\n", &save))
            params[k++] = !strcmp(f, "\\N") ? NULL : !strncmp(f, "\\\\", 2) ? f + 1 : f;
        if (k != 11 || !PQsendQueryPrepared(db, "up", 11, params, NULL, NULL, 0)) {
            fprintf(stderr, "tp-bench-flush: send: %s", PQerrorMessage(db));
            exit(1);
        }
        free(row);
    }
    PQpipelineSync(db);
    size_t done = 0;
    for (;;) {
        PGresult *r = PQgetResult(db);
        if (!r)
            continue; /* end of one query's results */
        ExecStatusType s = PQresultStatus(r);
        PQclear(r);
        if (s == PGRES_PIPELINE_SYNC)
            break;
        if (s != PGRES_COMMAND_OK) {
            fprintf(stderr, "tp-bench-flush: upsert: %s", PQerrorMessage(db));
            exit(1);
        }
        done++;
    }
    PQexitPipelineMode(db);
    must(db, "COMMIT");
    if (done != n) {
        fprintf(stderr, "tp-bench-flush: %zu results for %zu rows\n", done, n);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tp-bench-flush DSN ROWS\n");
        return 2;
    }
    size_t n = strtoull(argv[2], NULL, 10);
    PGconn *db = PQconnectdb(argv[1]);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "tp-bench-flush: %s", PQerrorMessage(db));
        return 1;
    }
    must(db, store_stage_sql);
    PGresult *p = PQprepare(db, "up", upsert_values_sql, 11, NULL);
    if (PQresultStatus(p) != PGRES_COMMAND_OK) {
        fprintf(stderr, "tp-bench-flush: prepare: %s", PQerrorMessage(db));
        return 1;
    }
    PQclear(p);
    char **ins = make_rows(n, 1), **upd = make_rows(n, 2);
    const char *names[2] = {"copy", "pipeline"};
    for (int m = 0; m < 2; m++) {
        must(db, "TRUNCATE twins");
        must(db, "CHECKPOINT");
        for (int phase = 0; phase < 2; phase++) {
            double t0 = now_s();
            if (m == 0)
                write_copy(db, phase ? upd : ins, n);
            else
                write_pipeline(db, phase ? upd : ins, n);
            double s = now_s() - t0;
            printf("%s %s %zu %.3f %.0f\n", names[m], phase ? "update" : "insert", n, s,
                   (double)n / s);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(ins[i]);
        free(upd[i]);
    }
    free(ins);
    free(upd);
    PQfinish(db);
    return 0;
}
