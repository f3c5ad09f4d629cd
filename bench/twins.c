/*
 * tp-bench-twins - the projector's in-memory side alone, on one core:
 *
 *   tp-bench-twins fold DEVICES READINGS   fold rate beside a decode-only loop: the same
 *                                          framed journal events are (1) only unpacked
 *                                          (protobuf-c), (2) unpacked and folded into twins
 *                                          with the history map, as projector.c does, and
 *                                          (3) folded from readings unpacked beforehand
 *                                          (the fold alone, with and without history)
 *   tp-bench-twins memory TWINS READINGS   bytes per twin: RSS after folding READINGS
 *                                          readings into each of TWINS twins minus RSS
 *                                          before, divided by TWINS
 *   tp-bench-twins record TWINS READINGS   the twin record (twin/record.h) of TWINS twins
 *                                          after READINGS readings each: bytes per record,
 *                                          ns per twin to write, read (names interned),
 *                                          view and render as JSON (twin/render.h), beside
 *                                          the packed form's bytes and write/read ns on the
 *                                          same twins
 *
 * Every reading has 8 metrics (typed fields, one decimal like real devices
 * send), a location (lat, lon, heading) and three attributes from a small
 * fleet-wide set. Prints key=value lines (bench/twins turns them into
 * figures).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aggregate/rows.h"
#include "aggregate/window.h"
#include "common/mem.h"
#include "journal/journal.h"
#include "twin/fold.h"
#include "twin/history.h"
#include "twin/pack.h"
#include "twin/record.h"
#include "twin/render.h"
#include "twin/twins.h"

#define BENCH_METRICS 8

static const char *const bench_models[] = {"tp-compact", "tp-sedan", "tp-van", "tp-truck"};
static const char *const bench_regions[] = {"eu-central", "eu-north", "us-east", "ap-south"};
static const char *const bench_firmware[] = {"2.0.1", "2.0.7", "2.1.0", "2.1.3", "2.2.0"};

/* splitmix64 of (a, b) in [0, 1) */
static double bench_unit(uint64_t a, uint64_t b)
{
    uint64_t z = a * 0x9e3779b97f4a7c15ULL + b * 0xbf58476d1ce4e5b9ULL + 42;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static double bench_round(double v, double scale)
{
    return (double)(long long)(v * scale + (v < 0 ? -0.5 : 0.5)) / scale;
}

struct bench_reading {
    journal_reading r;
    Twinpipe__Telemetry__V1__Reading__Location loc;
    char id[32];
};

/* Reading k of device d (device ids "veh-0000042"). */
static void bench_reading_fill(struct bench_reading *b, size_t d, size_t k)
{
    journal_reading init = TWINPIPE__TELEMETRY__V1__READING__INIT;
    Twinpipe__Telemetry__V1__Reading__Location linit =
        TWINPIPE__TELEMETRY__V1__READING__LOCATION__INIT;
    b->r = init;
    b->loc = linit;
    snprintf(b->id, sizeof(b->id), "veh-%07zu", d);
    journal_reading *r = &b->r;
    r->device_id = b->id;
    r->has_sequence = r->has_timestamp_ms = 1;
    r->sequence = k + 1;
    r->timestamp_ms = 1790000000000LL + (int64_t)k * 5000 + (int64_t)(d % 5000);
    double u = bench_unit(d, k);
    r->has_speed_kmh = r->has_fuel_level_pct = r->has_battery_voltage_v = 1;
    r->has_engine_temp_c = r->has_engine_rpm = r->has_odometer_km = 1;
    r->has_outside_temp_c = r->has_tire_pressure_fl_kpa = 1;
    r->speed_kmh = bench_round(30 + 90 * u, 10);
    r->fuel_level_pct = bench_round(95 - (double)k * 0.3 - u, 10);
    r->battery_voltage_v = u > 0.1 ? 14.1 : 12.4;
    r->engine_temp_c = bench_round(88 + 6 * u, 10);
    r->engine_rpm = bench_round(800 + 2500 * u, 1);
    r->odometer_km = bench_round(1000 + (double)d * 0.37 + (double)k * 0.12, 10);
    r->outside_temp_c = bench_round(-5 + 30 * bench_unit(d, 7), 10);
    r->tire_pressure_fl_kpa = bench_round(240 - (double)k * 0.001, 10);
    b->loc.has_lat = b->loc.has_lon = b->loc.has_heading_deg = 1;
    b->loc.lat = bench_round(47 + 6 * bench_unit(d, 1) + (double)k * 1e-4, 1e6);
    b->loc.lon = bench_round(6 + 9 * bench_unit(d, 2) + (double)k * 1e-4, 1e6);
    b->loc.heading_deg = bench_round(360 * u, 1);
    r->location = &b->loc;
    r->model = (char *)bench_models[d % 4];
    r->region = (char *)bench_regions[(d / 4) % 4];
    r->firmware = (char *)bench_firmware[d % 5];
}

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long bench_rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Folds r into tt as projector.c does (the twin is made when missing). */
static void bench_fold(struct twins *tt, const journal_reading *r, struct history *h)
{
    struct twin *t = twins_get(tt, r->device_id);
    if (!t)
        t = twins_put(tt, twin_new(r->device_id));
    if (fold_apply(t, r, h, FOLD_MAX_JUMP_DEFAULT) == FOLD_APPLIED)
        twins_mark_dirty(tt, t);
}

/* Flushes are what empty the history map and the dirty list in the projector; with the
 * aggregator, its map is encoded into the job's COPY rows and cleared too. */
static void bench_flush(struct twins *tt, struct history *h, struct aggregate_map *agg)
{
    twins_clean(tt);
    history_clear(h);
    if (agg) {
        struct buf rows;
        buf_init(&rows, SIZE_MAX / 2);
        aggregate_rows_copy(&rows, agg);
        buf_release(&rows);
        aggregate_map_clear(agg);
    }
}

/* Folds rs[0..n) into new twins with history (and the aggregator when agg), flushing as the
 * projector does; returns the seconds it took. */
static double bench_fold_pass(journal_reading *const *rs, size_t n, struct history *h,
                              struct aggregate_map *agg, size_t flush_every, size_t flush_events)
{
    struct twins *tt = twins_new();
    history_clear(h);
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        struct twin *t = twins_get(tt, rs[i]->device_id);
        if (!t)
            t = twins_put(tt, twin_new(rs[i]->device_id));
        if (fold_apply(t, rs[i], h, FOLD_MAX_JUMP_DEFAULT) == FOLD_APPLIED) {
            twins_mark_dirty(tt, t);
            if (agg)
                aggregate_map_add(agg, t, rs[i], (int32_t)(i % 6));
        }
        if (tt->n_dirty >= flush_every || (i + 1) % flush_events == 0)
            bench_flush(tt, h, agg);
    }
    double sec = bench_now() - t0;
    twins_free(tt);
    if (agg)
        aggregate_map_clear(agg);
    return sec;
}

static int bench_fold_rate(size_t devices, size_t readings)
{
    size_t n = devices * readings;
    uint8_t **ev = tp_calloc(n, sizeof(*ev));
    size_t *len = tp_calloc(n, sizeof(*len));
    struct bench_reading b;
    for (size_t k = 0, i = 0; k < readings; k++)
        for (size_t d = 0; d < devices; d++, i++) {
            bench_reading_fill(&b, d, k);
            ev[i] = journal_event_pack(&b.r, 1, &len[i]);
        }
    char errstr[160];
    int32_t schema;
    journal_reading *r;
    /* projector.flush_max_twins (200,000 dirty twins), and a flush every million events: under
     * load the projector paces its flushes (projector.flush_pace), and bench/projector measured
     * about a million readings per flush at 100,000 devices */
    const size_t flush_every = 200000, flush_events = 1000000;

    /* 1. decode only */
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        if (journal_event_unpack(ev[i], len[i], &schema, &r, errstr, sizeof(errstr)) != TP_OK)
            abort();
        journal_reading_free(r);
    }
    double decode_s = bench_now() - t0;

    /* 2. decode + fold + history, as the projector's loop does */
    struct twins *tt = twins_new();
    struct history *h = history_new();
    t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        if (journal_event_unpack(ev[i], len[i], &schema, &r, errstr, sizeof(errstr)) != TP_OK)
            abort();
        bench_fold(tt, r, h);
        journal_reading_free(r);
        if (tt->n_dirty >= flush_every || (i + 1) % flush_events == 0)
            bench_flush(tt, h, NULL);
    }
    double both_s = bench_now() - t0;
    twins_free(tt);

    /* 3. the fold alone, from readings decoded beforehand: with history, then without */
    journal_reading **rs = tp_calloc(n, sizeof(*rs));
    for (size_t i = 0; i < n; i++)
        if (journal_event_unpack(ev[i], len[i], &schema, &rs[i], errstr, sizeof(errstr)) != TP_OK)
            abort();
    double fold_s[2];
    for (int with_history = 1; with_history >= 0; with_history--) {
        tt = twins_new();
        history_clear(h);
        t0 = bench_now();
        for (size_t i = 0; i < n; i++) {
            bench_fold(tt, rs[i], with_history ? h : NULL);
            if (tt->n_dirty >= flush_every || (i + 1) % flush_events == 0)
                bench_flush(tt, h, NULL);
        }
        fold_s[with_history] = bench_now() - t0;
        twins_free(tt);
    }
    /* 4. fold + history + the regional aggregator (aggregate.enabled: model,firmware, 1 min
     * windows), each applied reading added to its partial as projector.c does, against fold +
     * history again in the same conditions: alternated twice, the best of each */
    struct aggregate_spec spec;
    if (aggregate_spec_parse("model,firmware", &spec, errstr, sizeof(errstr)) != TP_OK)
        abort();
    struct aggregate_map *agg = aggregate_map_new(&spec, 60000);
    double agg_s = 0, plain_s = 0;
    for (int round = 0; round < 4; round++) {
        struct aggregate_map *a = round % 2 ? agg : NULL;
        double sec = bench_fold_pass(rs, n, h, a, flush_every, flush_events);
        double *best = a ? &agg_s : &plain_s;
        if (*best == 0 || sec < *best)
            *best = sec;
    }
    aggregate_map_free(agg);
    history_free(h);
    for (size_t i = 0; i < n; i++) {
        journal_reading_free(rs[i]);
        free(ev[i]);
    }
    free(rs);
    free(ev);
    free(len);
    printf("events=%zu\ndevices=%zu\n", n, devices);
    printf("decode_per_s=%.0f\n", (double)n / decode_s);
    printf("decode_fold_per_s=%.0f\n", (double)n / both_s);
    printf("fold_history_per_s=%.0f\n", (double)n / fold_s[1]);
    printf("fold_only_per_s=%.0f\n", (double)n / fold_s[0]);
    printf("fold_history_again_per_s=%.0f\n", (double)n / plain_s);
    printf("fold_aggregates_per_s=%.0f\n", (double)n / agg_s);
    return 0;
}

static int bench_memory(size_t devices, size_t readings)
{
    struct bench_reading b;
    long rss0 = bench_rss_kb();
    struct twins *tt = twins_new();
    for (size_t k = 0; k < readings; k++)
        for (size_t d = 0; d < devices; d++) {
            bench_reading_fill(&b, d, k);
            bench_fold(tt, &b.r, NULL);
            if (tt->n_dirty >= 10000)
                twins_clean(tt);
        }
    twins_clean(tt);
    long rss1 = bench_rss_kb();
    printf("twins=%zu\nreadings_per_twin=%zu\nmetrics_per_twin=%d\n", tt->count, readings,
           BENCH_METRICS);
    printf("rss_delta_kb=%ld\n", rss1 - rss0);
    printf("bytes_per_twin=%.1f\n", (double)(rss1 - rss0) * 1024.0 / (double)tt->count);
    /* the packed form alone, over a sample of the twins (after the RSS was taken) */
    size_t sample = devices < 10000 ? devices : 10000, packed = 0;
    uint8_t *buf = NULL;
    for (size_t d = 0; d < sample; d++) {
        bench_reading_fill(&b, d, 0);
        const struct twin *t = twins_get(tt, b.id);
        buf = tp_realloc(buf, pack_twin_bound(t));
        packed += pack_twin_write(buf, t);
    }
    free(buf);
    printf("packed_bytes_per_twin=%.1f\n", (double)packed / (double)sample);
    twins_free(tt);
    return 0;
}

/* Runs body (on twin i) over the n twins rounds times; ns per twin into out. */
#define BENCH_NS(out, rounds, n, body)                                                             \
    do {                                                                                           \
        double t0_ = bench_now();                                                                  \
        for (int r_ = 0; r_ < (rounds); r_++)                                                      \
            for (size_t i = 0; i < (n); i++) {                                                     \
                body;                                                                              \
            }                                                                                      \
        out = (bench_now() - t0_) * 1e9 / ((double)(rounds) * (double)(n));                        \
    } while (0)

static int bench_record(size_t devices, size_t readings)
{
    struct bench_reading b;
    struct twin **tw = tp_calloc(devices, sizeof(*tw));
    for (size_t d = 0; d < devices; d++) {
        bench_reading_fill(&b, d, 0);
        tw[d] = twin_new(b.id);
        for (size_t k = 0; k < readings; k++) {
            bench_reading_fill(&b, d, k);
            fold_apply(tw[d], &b.r, NULL, FOLD_MAX_JUMP_DEFAULT);
        }
    }
    size_t rec_cap = 0, pack_cap = 0;
    for (size_t d = 0; d < devices; d++) {
        rec_cap += twin_record_bound(tw[d]);
        pack_cap += pack_twin_bound(tw[d]);
    }
    uint8_t *rec = tp_malloc(rec_cap), *pk = tp_malloc(pack_cap);
    size_t *rec_off = tp_calloc(devices + 1, sizeof(size_t));
    size_t *pk_off = tp_calloc(devices + 1, sizeof(size_t));
    const int rounds = 5;
    double rec_write;
    BENCH_NS(rec_write, rounds, devices,
             { rec_off[i + 1] = rec_off[i] + twin_record_write(rec + rec_off[i], tw[i]); });
    double pack_write;
    BENCH_NS(pack_write, rounds, devices,
             { pk_off[i + 1] = pk_off[i] + pack_twin_write(pk + pk_off[i], tw[i]); });
    struct twin *back = twin_new("x");
    char err[256];
    double rec_read;
    BENCH_NS(rec_read, rounds, devices, {
        back->n_metrics = 0;
        if (twin_record_read(back, rec + rec_off[i], rec_off[i + 1] - rec_off[i], err,
                             sizeof(err)) != TP_OK)
            abort();
    });
    double pack_read;
    BENCH_NS(pack_read, rounds, devices, {
        back->n_metrics = 0;
        pack_twin_read(back, pk + pk_off[i]);
    });
    struct twin_view_metric vm[64];
    struct twin_view v = {.metrics = vm, .cap_metrics = 64};
    double rec_view;
    BENCH_NS(rec_view, rounds, devices, {
        if (twin_record_view(&v, rec + rec_off[i], rec_off[i + 1] - rec_off[i], err, sizeof(err)) !=
            TP_OK)
            abort();
    });
    struct buf json;
    buf_init(&json, 1 << 20);
    size_t json_bytes = 0;
    double render;
    BENCH_NS(render, rounds, devices, {
        twin_record_view(&v, rec + rec_off[i], rec_off[i + 1] - rec_off[i], err, sizeof(err));
        buf_reset(&json);
        twin_render_json(&json, tw[i]->device_id, strlen(tw[i]->device_id), &v, 1790000000000);
        json_bytes += json.len;
    });
    buf_release(&json);
    twin_free(back);
    printf("twins=%zu\nreadings_per_twin=%zu\n", devices, readings);
    printf("record_bytes_per_twin=%.1f\npacked_bytes_per_twin=%.1f\n",
           (double)rec_off[devices] / (double)devices, (double)pk_off[devices] / (double)devices);
    printf("json_bytes_per_twin=%.1f\n", (double)json_bytes / ((double)rounds * (double)devices));
    printf("record_write_ns=%.0f\nrecord_read_ns=%.0f\nrecord_view_ns=%.0f\n", rec_write, rec_read,
           rec_view);
    printf("view_render_ns=%.0f\n", render);
    printf("pack_write_ns=%.0f\npack_read_ns=%.0f\n", pack_write, pack_read);
    for (size_t d = 0; d < devices; d++)
        twin_free(tw[d]);
    free(tw);
    free(rec);
    free(pk);
    free(rec_off);
    free(pk_off);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 ||
        (strcmp(argv[1], "fold") && strcmp(argv[1], "memory") && strcmp(argv[1], "record"))) {
        fprintf(stderr, "usage: tp-bench-twins fold|memory|record DEVICES READINGS\n");
        return 2;
    }
    size_t devices = strtoull(argv[2], NULL, 10), readings = strtoull(argv[3], NULL, 10);
    if (devices == 0 || readings == 0) {
        fprintf(stderr, "tp-bench-twins: DEVICES and READINGS must be positive\n");
        return 2;
    }
    if (!strcmp(argv[1], "record"))
        return bench_record(devices, readings);
    return !strcmp(argv[1], "fold") ? bench_fold_rate(devices, readings)
                                    : bench_memory(devices, readings);
}
