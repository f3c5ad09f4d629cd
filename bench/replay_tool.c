/*
 * bench/replay_tool.c - the two sides of bench/replay that are not tp-replay:
 *
 *   tp-bench-replay produce EVENTS DEVICES   journal EVENTS readings of DEVICES simulated
 *                                            vehicles (one per second of device time each)
 *                                            into the topic of the TP_* environment
 *   tp-bench-replay read                     the limit: read every partition to its end
 *                                            with the journal reader, without decoding
 *
 * Both print "events=N seconds=S events_per_s=R". Kafka and PostgreSQL settings come from
 * TP_KAFKA_BOOTSTRAP_SERVERS and TP_JOURNAL_TOPIC (partitions: TP_JOURNAL_PARTITIONS).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
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

static int bench_produce(const struct journal_config *jc, size_t events, size_t devices)
{
    char errstr[512];
    struct journal_producer *p;
    if (journal_topic_ensure(jc, 15000, errstr, sizeof(errstr)) != TP_OK ||
        journal_producer_new(jc, bench_delivered, NULL, &p, errstr, sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "tp-bench-replay: %s\n", errstr);
        return 1;
    }
    struct sim_fleet *fleet = sim_fleet_new(devices, 11, tp_now_ms() - 86400000, 1000);
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

static int bench_read(const struct journal_config *jc)
{
    char errstr[512];
    struct journal_reader *r;
    int64_t lo[BENCH_MAX_PARTITIONS], hi[BENCH_MAX_PARTITIONS];
    int32_t parts[BENCH_MAX_PARTITIONS];
    size_t n;
    if (journal_reader_new(jc, &r, errstr, sizeof(errstr)) != TP_OK ||
        journal_reader_watermarks(r, 15000, lo, hi, BENCH_MAX_PARTITIONS, &n, errstr,
                                  sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "tp-bench-replay: %s\n", errstr);
        return 1;
    }
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
    fprintf(stderr, "usage: tp-bench-replay produce EVENTS DEVICES | tp-bench-replay read\n");
    return 2;
}
