/*
 * bench/replay_tool.c - the sides of bench/replay and bench/projector that are not the
 * service measured:
 *
 *   tp-bench-replay produce EVENTS DEVICES   journal EVENTS readings of DEVICES simulated
 *                                            vehicles (one per second of device time each,
 *                                            round-robin over the devices) into the topic
 *                                            of the TP_* environment
 *   tp-bench-replay read                     bench/replay's limit: read every partition to
 *                                            its end with the journal reader, without decoding
 *   tp-bench-replay ends                     every partition's low and high watermark:
 *                                            "events=N starts=L0,L1,.. ends=H0,H1,.."
 *   tp-bench-replay copy EVENTS DEVICES      bench/projector's limit: the same readings as
 *                                            rows (device_id, sequence, ts, 10 metrics, lat,
 *                                            lon) COPYed into a new unindexed table
 *                                            bench_copy_events of TP_PG_DSN, one transaction
 *
 * produce and read print "events=N seconds=S events_per_s=R"; copy prints "rows=N seconds=S
 * rows_per_s=R client_cpu_s=C" (C: this process's CPU generating and sending the rows, to
 * show whether PostgreSQL or the client bounds the rate). Kafka settings come from
 * TP_KAFKA_BOOTSTRAP_SERVERS and TP_JOURNAL_TOPIC (partitions: TP_JOURNAL_PARTITIONS).
 */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/pg.h"
#include "journal/journal.h"
#include "loadgen/sim.h"

#define BENCH_MAX_PARTITIONS 1024

static _Atomic long bench_failed;

static void bench_delivered(void *opaque, const struct journal_delivery *d, void *arg)
{
    (void)opaque;
    (void)arg;
    if (d->err != TP_OK)
        bench_failed++;
}

/* The simulated vehicles every subcommand uses (produce and copy make the same readings). */
static struct sim_fleet *bench_fleet_new(size_t devices)
{
    return sim_fleet_new(devices, 11, tp_now_ms() - 86400000, 1000);
}

static int bench_produce(const struct journal_config *jc, size_t events, size_t devices)
{
    char errstr[512];
    struct journal_producer *p;
    if (journal_topic_ensure(jc, 15000, errstr, sizeof(errstr)) != TP_OK ||
        journal_producer_new(jc, bench_delivered, NULL, &p, errstr, sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "tp-bench-replay: %s\n", errstr);
        return 1;
    }
    struct sim_fleet *fleet = bench_fleet_new(devices);
    int64_t t0 = tp_mono_ms();
    for (size_t i = 0; i < events; i++) {
        journal_reading r;
        struct sim_storage s;
        sim_reading_next(fleet, i % devices, &r, &s);
        enum tp_err err = journal_producer_append(p, &r, NULL, errstr, sizeof(errstr));
        while (err == TP_QUEUE_FULL) {
            journal_producer_poll(p, 10);
            err = journal_producer_append(p, &r, NULL, errstr, sizeof(errstr));
        }
        if (err != TP_OK) {
            fprintf(stderr, "tp-bench-replay: %s\n", errstr);
            return 1;
        }
        journal_producer_poll(p, 0);
    }
    enum tp_err err = journal_producer_flush(p, 120000);
    journal_producer_free(p);
    sim_fleet_free(fleet);
    double secs = (double)(tp_mono_ms() - t0) / 1000.0;
    if (err != TP_OK || bench_failed) {
        fprintf(stderr, "tp-bench-replay: %ld events not delivered\n", (long)bench_failed);
        return 1;
    }
    printf("events=%zu seconds=%.2f events_per_s=%.0f\n", events, secs, (double)events / secs);
    return 0;
}

/* A reader on the topic and every partition's watermarks; NULL (error printed) on failure. */
static struct journal_reader *bench_watermarks(const struct journal_config *jc, int64_t *lo,
                                               int64_t *hi, size_t *n)
{
    char errstr[512];
    struct journal_reader *r = NULL;
    if (journal_reader_new(jc, &r, errstr, sizeof(errstr)) != TP_OK ||
        journal_reader_watermarks(r, 15000, lo, hi, BENCH_MAX_PARTITIONS, n, errstr,
                                  sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "tp-bench-replay: %s\n", errstr);
        journal_reader_free(r);
        return NULL;
    }
    return r;
}

static int bench_read(const struct journal_config *jc)
{
    char errstr[512];
    int64_t lo[BENCH_MAX_PARTITIONS], hi[BENCH_MAX_PARTITIONS];
    int32_t parts[BENCH_MAX_PARTITIONS];
    size_t n;
    struct journal_reader *r = bench_watermarks(jc, lo, hi, &n);
    if (!r)
        return 1;
    int64_t total = 0, got = 0;
    for (size_t p = 0; p < n; p++) {
        parts[p] = (int32_t)p;
        total += hi[p] - lo[p];
    }
    struct journal_event *evs = tp_calloc(10000, sizeof(*evs));
    int64_t t0 = tp_mono_ms();
    enum tp_err err = journal_reader_assign(r, parts, lo, n, errstr, sizeof(errstr));
    while (err == TP_OK && got < total) {
        size_t k = 0;
        err = journal_reader_poll(r, 100, evs, 10000, NULL, &k, errstr, sizeof(errstr));
        got += (int64_t)k;
    }
    double secs = (double)(tp_mono_ms() - t0) / 1000.0;
    free(evs);
    journal_reader_free(r);
    if (err != TP_OK) {
        fprintf(stderr, "tp-bench-replay: %s\n", errstr);
        return 1;
    }
    printf("events=%lld seconds=%.2f events_per_s=%.0f\n", (long long)got, secs,
           (double)got / secs);
    return 0;
}

static int bench_ends(const struct journal_config *jc)
{
    int64_t lo[BENCH_MAX_PARTITIONS], hi[BENCH_MAX_PARTITIONS], total = 0;
    size_t n;
    struct journal_reader *r = bench_watermarks(jc, lo, hi, &n);
    if (!r)
        return 1;
    journal_reader_free(r);
    for (size_t p = 0; p < n; p++)
        total += hi[p] - lo[p];
    printf("events=%" PRId64 " starts=", total);
    for (size_t p = 0; p < n; p++)
        printf("%s%" PRId64, p ? "," : "", lo[p]);
    printf(" ends=");
    for (size_t p = 0; p < n; p++)
        printf("%s%" PRId64, p ? "," : "", hi[p]);
    printf("\n");
    return 0;
}

/* x / 10^digits as a decimal with `digits` fraction digits */
static void bench_append_scaled(struct buf *b, int64_t x, int digits)
{
    char tmp[32], *p = tmp + sizeof(tmp);
    uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    for (int k = 0; k < digits; k++) {
        *--p = (char)('0' + u % 10);
        u /= 10;
    }
    if (digits)
        *--p = '.';
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (x < 0)
        *--p = '-';
    buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* v with `digits` fraction digits: exact for the simulator's values, which are rounded to 0.1
 * (metrics) or 1e-6 (coordinates), and ~20x cheaper than printf's shortest %g */
static void bench_append_fixed(struct buf *b, double v, int digits)
{
    static const double scales[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    assert(digits >= 0 && digits <= 6);
    bench_append_scaled(b, llround(v * scales[digits]), digits);
}

/* One reading as a COPY text row: device_id, sequence, ts, the 10 metrics, lat, lon. */
static void bench_copy_row(struct buf *b, const journal_reading *r)
{
    const double metrics[] = {r->speed_kmh,
                              r->fuel_level_pct,
                              r->odometer_km,
                              r->engine_temp_c,
                              r->battery_voltage_v,
                              r->engine_rpm,
                              r->tire_pressure_fl_kpa,
                              r->tire_pressure_fr_kpa,
                              r->tire_pressure_rl_kpa,
                              r->tire_pressure_rr_kpa};
    /* a round over the fleet shares its second: format it once */
    static time_t last_secs = -1;
    static char ts[40];
    time_t secs = (time_t)(r->timestamp_ms / 1000);
    if (secs != last_secs) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S.", &tm);
        last_secs = secs;
    }
    buf_append_str(b, r->device_id);
    buf_append(b, "\t", 1);
    bench_append_scaled(b, (int64_t)r->sequence, 0);
    buf_append(b, "\t", 1);
    buf_append_str(b, ts);
    char ms[8] = {(char)('0' + r->timestamp_ms % 1000 / 100),
                  (char)('0' + r->timestamp_ms % 100 / 10),
                  (char)('0' + r->timestamp_ms % 10),
                  '+',
                  '0',
                  '0'};
    buf_append(b, ms, 6);
    for (size_t k = 0; k < sizeof(metrics) / sizeof(metrics[0]); k++) {
        buf_append(b, "\t", 1);
        bench_append_fixed(b, metrics[k], 1);
    }
    buf_append(b, "\t", 1);
    bench_append_fixed(b, r->location->lat, 6);
    buf_append(b, "\t", 1);
    bench_append_fixed(b, r->location->lon, 6);
    buf_append(b, "\n", 1);
}

static int bench_copy(size_t events, size_t devices)
{
    static const char create_sql[] =
        "CREATE TABLE bench_copy_events (device_id text NOT NULL, sequence bigint NOT NULL,"
        " ts timestamptz NOT NULL, speed_kmh float8, fuel_level_pct float8, odometer_km float8,"
        " engine_temp_c float8, battery_voltage_v float8, engine_rpm float8,"
        " tire_pressure_fl_kpa float8, tire_pressure_fr_kpa float8, tire_pressure_rl_kpa float8,"
        " tire_pressure_rr_kpa float8, lat float8, lon float8)";
    const char *dsn = getenv("TP_PG_DSN");
    char errstr[512];
    PGconn *db = NULL;
    PGresult *res;
    struct sim_fleet *fleet = NULL;
    struct buf chunk;
    int rc = 1;
    buf_init(&chunk, 4 << 20);
    if (!dsn) {
        fprintf(stderr, "tp-bench-replay: copy needs TP_PG_DSN\n");
        goto out;
    }
    /* the table is committed before the COPY, so the COPY writes WAL as the projector's do */
    if (pg_connect(dsn, "tp-bench-replay", &db, errstr, sizeof(errstr)) != TP_OK ||
        pg_command(db, create_sql, errstr, sizeof(errstr)) != TP_OK)
        goto fail;
    fleet = bench_fleet_new(devices);
    int64_t t0 = tp_mono_ms();
    if (pg_command(db, "BEGIN", errstr, sizeof(errstr)) != TP_OK ||
        pg_check(db, PQexec(db, "COPY bench_copy_events FROM STDIN"), PGRES_COPY_IN, NULL, errstr,
                 sizeof(errstr)) != TP_OK)
        goto fail;
    for (size_t i = 0; i < events; i++) {
        journal_reading r;
        struct sim_storage s;
        sim_reading_next(fleet, i % devices, &r, &s);
        bench_copy_row(&chunk, &r);
        if (chunk.len >= (1 << 20) || i + 1 == events) {
            if (PQputCopyData(db, chunk.data, (int)chunk.len) != 1) {
                snprintf(errstr, sizeof(errstr), "could not send COPY data: %s",
                         PQerrorMessage(db));
                goto fail;
            }
            buf_reset(&chunk);
        }
    }
    if (PQputCopyEnd(db, NULL) != 1) {
        snprintf(errstr, sizeof(errstr), "could not end COPY: %s", PQerrorMessage(db));
        goto fail;
    }
    while ((res = PQgetResult(db)))
        if (pg_check(db, res, PGRES_COMMAND_OK, NULL, errstr, sizeof(errstr)) != TP_OK)
            goto fail;
    if (pg_command(db, "COMMIT", errstr, sizeof(errstr)) != TP_OK)
        goto fail;
    double secs = (double)(tp_mono_ms() - t0) / 1000.0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    printf("rows=%zu seconds=%.2f rows_per_s=%.0f client_cpu_s=%.2f\n", events, secs,
           (double)events / secs, cpu);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "tp-bench-replay: %s\n", errstr);
out:
    buf_release(&chunk);
    sim_fleet_free(fleet);
    PQfinish(db);
    return rc;
}

int main(int argc, char **argv)
{
    const char *env_topic = getenv("TP_JOURNAL_TOPIC");
    const char *env_parts = getenv("TP_JOURNAL_PARTITIONS");
    const char *env_bootstrap = getenv("TP_KAFKA_BOOTSTRAP_SERVERS");
    struct journal_config jc = {
        .bootstrap_servers = env_bootstrap ? env_bootstrap : "127.0.0.1:29092",
        .topic = env_topic ? env_topic : "twinpipe.telemetry.v1",
        .partitions = env_parts ? atoi(env_parts) : 6,
        .replication = 1,
        .schema_id = 1,
    };
    if (argc == 4 && !strcmp(argv[1], "produce"))
        return bench_produce(&jc, strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
    if (argc == 2 && !strcmp(argv[1], "read"))
        return bench_read(&jc);
    if (argc == 2 && !strcmp(argv[1], "ends"))
        return bench_ends(&jc);
    if (argc == 4 && !strcmp(argv[1], "copy") && strtoull(argv[3], NULL, 10) > 0)
        return bench_copy(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
    fprintf(stderr, "usage: tp-bench-replay produce EVENTS DEVICES | read | ends |"
                    " copy EVENTS DEVICES\n");
    return 2;
}
