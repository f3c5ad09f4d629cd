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
 *   index TWINS        no database: the same twins into tp-query's search index
 *                      (query/search.h) in this process, every tenth with one last_seen
 *                      as after a flush, then the CPU time of its
 *                      list page (region + speed range, -last_seen, 100) and summary
 *                      (by region, with speed_kmh) computations, per call
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
#include "query/search.h"
#include "twin/record.h"
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

static double gen_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The index mode: build, then time the list page and summary computations. */
static int gen_index(long twins)
{
    struct search_index *ix = search_index_new();
    struct search_row *rows = tp_calloc(GEN_BATCH, sizeof(*rows));
    char(*ids)[32] = tp_calloc(GEN_BATCH, sizeof(*ids));
    uint8_t **recs = tp_calloc(GEN_BATCH, sizeof(*recs));
    unsigned seed = 19;
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    double c0 = gen_cpu_s();
    for (long from = 0; from < twins; from += GEN_BATCH) {
        size_t n = 0;
        for (long i = from; i < twins && i < from + GEN_BATCH; i++, n++) {
            snprintf(ids[n], sizeof(ids[n]), "b-%07ld", i);
            struct twin *t = twin_new(ids[n]);
            /* every tenth as after a flush: one last_seen (bench/query touches 100,000) */
            gen_twin(t, i, now_ms, i % 10 ? 100 : 101, &seed);
            recs[n] = tp_malloc(twin_record_bound(t));
            rows[n] =
                (struct search_row){ids[n], strlen(ids[n]), recs[n], twin_record_write(recs[n], t)};
            twin_free(t);
        }
        search_index_apply(ix, rows, n, false, NULL, NULL, NULL);
        for (size_t k = 0; k < n; k++)
            free(recs[k]);
    }
    printf("built %zu entries in %.3f s of CPU (record encoding included), %.1f bytes each\n",
           search_index_count(ix), gen_cpu_s() - c0,
           (double)search_index_bytes(ix) / (double)search_index_count(ix));
    struct search_hit *hits = tp_calloc(PARAMS_LIMIT_MAX + 1, sizeof(*hits));
    char region[32];
    struct list_params p = {.sort = SORT_LAST_SEEN_DESC, .limit = 100, .n_metrics = 1};
    p.attrs[PARAMS_REGION] = region;
    snprintf(p.metrics[0].name, sizeof(p.metrics[0].name), "speed_kmh");
    p.metrics[0].op = OP_GE;
    int pages = 200;
    size_t got = 0;
    c0 = gen_cpu_s();
    for (int i = 0; i < pages; i++) {
        snprintf(region, sizeof(region), "region-%d", rand_r(&seed) % 10);
        p.metrics[0].value = rand_r(&seed) % 151;
        got += search_index_page(ix, &p, NULL, now_ms, 300, hits);
    }
    printf("list page (region + speed range, -last_seen, 100): %.2f ms of CPU each (%zu hits)\n",
           (gen_cpu_s() - c0) * 1000 / pages, got);
    p.sort = SORT_DEVICE_ID;
    c0 = gen_cpu_s();
    for (int i = 0; i < pages; i++) {
        snprintf(region, sizeof(region), "region-%d", rand_r(&seed) % 10);
        p.metrics[0].value = rand_r(&seed) % 151;
        got += search_index_page(ix, &p, NULL, now_ms, 300, hits);
    }
    printf("list page (region + speed range, device_id, 100): %.3f ms of CPU each\n",
           (gen_cpu_s() - c0) * 1000 / pages);
    struct summary_params sp = {.group_by = "region", .metric = "speed_kmh"};
    struct search_group g[64];
    int sums = 20;
    c0 = gen_cpu_s();
    for (int i = 0; i < sums; i++)
        search_index_summary(ix, &sp, now_ms, 300, g, 64);
    printf("summary (by region, speed_kmh): %.2f ms of CPU each\n",
           (gen_cpu_s() - c0) * 1000 / sums);
    free(hits);
    free(rows);
    free(ids);
    free(recs);
    search_index_free(ix);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "index"))
        return gen_index(atol(argv[2]));
    if (argc < 4 || (strcmp(argv[1], "load") && strcmp(argv[1], "touch")) ||
        (!strcmp(argv[1], "touch") && argc < 5)) {
        fprintf(stderr, "usage: tp-bench-query-gen load DSN TWINS | touch DSN TWINS K | index "
                        "TWINS\n");
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
