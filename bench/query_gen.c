/*
 * tp-bench-query-gen: the twins of bench/query, written as the projector
 * writes them (twin records, twin/record.h, by binary COPY, twin/rows.h).
 *
 *   load DSN TWINS     TWINS twins b-0000000.. into an empty twins table: 3 metrics with
 *                      statistics, a location, model-(i%20), region-(i%10), fw-(i%50),
 *                      last_seen now - (i % 86400) s, 100 events
 *   touch DSN TWINS K  K random of them get a new version, last_seen now and new values
 *                      (COPY into the staging table + one UPDATE, as a projector flush);
 *                      prints "touched K rows in S s"
 *
 * Deterministic values (the seed is fixed), so reruns measure the same data.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/mem.h"
#include "twin/rows.h"
#include "twin/twin.h"

#define GEN_BATCH 50000

static double gen_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void gen_must(PGconn *db, PGresult *r, ExecStatusType want, const char *what)
{
    if (PQresultStatus(r) != want) {
        fprintf(stderr, "tp-bench-query-gen: %s: %s", what, PQerrorMessage(db));
        exit(1);
    }
    PQclear(r);
}

static void gen_twin(struct twin *t, long i, int64_t now_ms, long version, unsigned *seed)
{
    static const char *const metrics[] = {"speed_kmh", "fuel_level_pct", "battery_voltage_v"};
    char s[32];
    t->first_seen_ms = now_ms - 30LL * 86400000;
    t->last_seen_ms = version > 100 ? now_ms : now_ms - (i % 86400) * 1000;
    t->last_sequence = version;
    t->events = version;
    double v[3] = {(double)(i % 200), (double)(i % 100), 12 + (double)(i % 30) / 10.0};
    if (version > 100) {
        v[0] = (double)(rand_r(seed) % 200);
        v[1] = (double)(rand_r(seed) % 100);
    }
    for (int k = 0; k < 3; k++) {
        struct twin_metric *m = twin_metric_set(t, metrics[k], v[k], t->last_seen_ms);
        m->min = 0;
        m->max = k == 0 ? 200 : k == 1 ? 100 : 15;
        m->sum = v[k] * 100;
        m->count = 100;
    }
    t->has_location = true;
    t->loc_mask = (1u << TWIN_LAT) | (1u << TWIN_LON);
    t->loc[TWIN_LAT] = 52 + (double)(i % 1000) / 1000.0;
    t->loc[TWIN_LON] = 13.5;
    t->location_ts_ms = t->last_seen_ms;
    snprintf(s, sizeof(s), "model-%ld", i % 20);
    twin_attr_set(t, "model", s);
    snprintf(s, sizeof(s), "region-%ld", i % 10);
    twin_attr_set(t, "region", s);
    snprintf(s, sizeof(s), "fw-%ld", i % 50);
    twin_attr_set(t, "firmware", s);
}

/* COPY rows into table (twins, or twins_stage). */
static void gen_copy(PGconn *db, const char *sql, struct buf *b)
{
    gen_must(db, PQexec(db, sql), PGRES_COPY_IN, sql);
    if (PQputCopyData(db, b->data, (int)b->len) != 1 || PQputCopyEnd(db, NULL) != 1) {
        fprintf(stderr, "tp-bench-query-gen: copy: %s", PQerrorMessage(db));
        exit(1);
    }
    gen_must(db, PQgetResult(db), PGRES_COMMAND_OK, "copy end");
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "load") && strcmp(argv[1], "touch")) ||
        (!strcmp(argv[1], "touch") && argc < 5)) {
        fprintf(stderr, "usage: tp-bench-query-gen load DSN TWINS | touch DSN TWINS K\n");
        return 2;
    }
    bool touch = !strcmp(argv[1], "touch");
    long twins = atol(argv[3]), k = touch ? atol(argv[4]) : 0;
    PGconn *db = PQconnectdb(argv[2]);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "tp-bench-query-gen: %s", PQerrorMessage(db));
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    unsigned seed = 19;
    struct buf b;
    buf_init(&b, 1 << 30);
    double t0 = gen_now_s();
    if (touch) {
        gen_must(db, PQexec(db, twin_rows_stage_sql), PGRES_COMMAND_OK, "stage");
        gen_must(db, PQexec(db, "BEGIN"), PGRES_COMMAND_OK, "begin");
        twin_rows_header(&b);
        for (long n = 0; n < k; n++) {
            long i =
                (long)(((uint64_t)rand_r(&seed) << 16 ^ (uint64_t)rand_r(&seed)) % (uint64_t)twins);
            char id[32];
            snprintf(id, sizeof(id), "b-%07ld", i);
            struct twin *t = twin_new(id);
            gen_twin(t, i, now_ms, 101 + n, &seed);
            twin_rows_twin(&b, t);
            twin_free(t);
        }
        twin_rows_trailer(&b);
        gen_copy(db, twin_rows_copy_twins_sql, &b);
        /* a random id twice keeps its last row */
        gen_must(db,
                 PQexec(db,
                        "UPDATE twins t SET version = s.version, last_seen = s.last_seen,"
                        " state = s.state, updated_at = now(),"
                        " written_xid = pg_current_xact_id()"
                        " FROM (SELECT DISTINCT ON (device_id) * FROM twins_stage"
                        "  ORDER BY device_id, version DESC) s WHERE t.device_id = s.device_id"),
                 PGRES_COMMAND_OK, "update");
        gen_must(db, PQexec(db, "COMMIT"), PGRES_COMMAND_OK, "commit");
        printf("touched %ld rows in %.3f s\n", k, gen_now_s() - t0);
    } else {
        for (long from = 0; from < twins; from += GEN_BATCH) {
            buf_reset(&b);
            twin_rows_header(&b);
            for (long i = from; i < twins && i < from + GEN_BATCH; i++) {
                char id[32];
                snprintf(id, sizeof(id), "b-%07ld", i);
                struct twin *t = twin_new(id);
                gen_twin(t, i, now_ms, 100, &seed);
                twin_rows_twin(&b, t);
                twin_free(t);
            }
            twin_rows_trailer(&b);
            gen_copy(db,
                     "COPY twins (device_id, version, last_seen, state) FROM STDIN"
                     " (FORMAT binary)",
                     &b);
        }
        printf("loaded %ld twins in %.3f s\n", twins, gen_now_s() - t0);
    }
    buf_release(&b);
    PQfinish(db);
    return 0;
}
