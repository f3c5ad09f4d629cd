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
 *
 * Values are multiples of 1/8 well below 2^40, so every partial sum is
 * exact and the per-minute sums do not depend on how flushes split them.
 */
#include <check.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"
#include "journal/journal.h"
#include "projector/history.h"
#include "projector/store.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"

#define PARTITIONS 4
#define N_METRICS  5

/* sorted as PostgreSQL's "C" collation sorts them */
static const char *const metric_names[N_METRICS] = {"battery_voltage_v", "co2_ppm",
                                                    "fuel_level_pct", "speed_kmh", "temp_c"};
enum { M_BATTERY, M_CO2, M_FUEL, M_SPEED, M_TEMP };

static struct stack st;
static PGconn *db;

/* ---- the workload: what is sent, in production order ---- */

struct send {
    int dev;
    int seq;
    int variant; /* 1: a re-send of an older sequence with other values */
};

struct workload {
    const char *prefix;
    int devices;
    int per_device;
    int64_t base_ms;
    struct send *sends; /* round k of every device, then round k + 1 */
    size_t n;
};

static uint32_t mix(uint32_t a, uint32_t b)
{
    uint32_t h = a * 2654435761u ^ (b + 0x9e3779b9u + (a << 6) + (a >> 2));
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    return h;
}

/* Per device: mostly the next sequence; sometimes an older one again (variant 1), sometimes
 * next + 1 before next (then next is out of order and ignored). */
static void workload_init(struct workload *w, const char *prefix, int devices, int per_device)
{
    w->prefix = prefix;
    w->devices = devices;
    w->per_device = per_device;
    w->base_ms = (tp_now_ms() / 60000) * 60000 - 3600 * 1000 + 17000; /* an hour ago */
    w->n = (size_t)devices * (size_t)per_device;
    w->sends = tp_calloc(w->n, sizeof(*w->sends));
    for (int d = 0; d < devices; d++) {
        int next = 1;
        for (int k = 0; k < per_device;) {
            uint32_t r = mix((uint32_t)d, (uint32_t)k);
            struct send *s = &w->sends[(size_t)k * (size_t)devices + (size_t)d];
            if (r % 10 == 0 && next > 1) {
                int back = next - 1 < 3 ? next - 1 : 3;
                *s = (struct send){d, next - 1 - (int)((r / 10) % (uint32_t)back), 1};
                k++;
            } else if (r % 10 == 1 && k + 1 < per_device) {
                *s = (struct send){d, next + 1, 0};
                w->sends[(size_t)(k + 1) * (size_t)devices + (size_t)d] = (struct send){d, next, 0};
                next += 2;
                k += 2;
            } else {
                *s = (struct send){d, next++, 0};
                k++;
            }
        }
    }
}

static void workload_release(struct workload *w)
{
    free(w->sends);
}

static void device_id(const struct workload *w, int d, char *out, size_t n)
{
    snprintf(out, n, "%s-%04d", w->prefix, d);
}

/* The reading's timestamp and metric values (has[i] false: absent). */
static int64_t reading_values(const struct workload *w, const struct send *s, double v[N_METRICS],
                              bool has[N_METRICS])
{
    int d = s->dev, q = s->seq, x = s->variant;
    has[M_SPEED] = true;
    v[M_SPEED] = ((d * 37 + q * 11 + x * 5) % 800) * 0.25;
    has[M_FUEL] = q % 5 != 0;
    v[M_FUEL] = 100 - ((q + d + x) % 64) * 0.5;
    has[M_BATTERY] = q % 2 == 0;
    v[M_BATTERY] = 11 + ((d + q * 3 + x) % 16) * 0.125;
    has[M_CO2] = d % 3 == 0;
    v[M_CO2] = 400 + ((q * 7 + d + x) % 200);
    has[M_TEMP] = q % 3 == 1;
    v[M_TEMP] = -20 + ((q + d * 5 + x) % 80) * 0.5;
    return w->base_ms + (int64_t)q * 4000 + d % 997 + x * 1000;
}

/* ---- producing ---- */

static _Atomic long delivered, delivery_failed;

static void on_delivery(void *opaque, const struct journal_delivery *d, void *arg)
{
    (void)opaque;
    (void)arg;
    if (d->err == TP_OK && !d->dead_lettered)
        delivered++;
    else
        delivery_failed++;
}

static struct journal_config journal_cfg(void)
{
    struct journal_config jc = {.bootstrap_servers = st.bootstrap,
                                .topic = st.topic,
                                .partitions = PARTITIONS,
                                .replication = 1,
                                .schema_id = 1};
    return jc;
}

/* Produces sends [from, to) and waits until Kafka acknowledged every one. */
static void produce(const struct workload *w, size_t from, size_t to)
{
    struct journal_config jc = journal_cfg();
    char errstr[256];
    struct journal_producer *p;
    ck_assert_int_eq(journal_producer_new(&jc, on_delivery, NULL, &p, errstr, sizeof(errstr)),
                     TP_OK);
    long before = delivered;
    for (size_t i = from; i < to; i++) {
        const struct send *s = &w->sends[i];
        double v[N_METRICS];
        bool has[N_METRICS];
        char id[32];
        device_id(w, s->dev, id, sizeof(id));
        journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
        Twinpipe__Telemetry__V1__Reading__MetricsEntry e[2], *ep[2];
        r.device_id = id;
        r.has_sequence = r.has_timestamp_ms = 1;
        r.sequence = (uint64_t)s->seq;
        r.timestamp_ms = reading_values(w, s, v, has);
        r.has_speed_kmh = has[M_SPEED];
        r.speed_kmh = v[M_SPEED];
        r.has_fuel_level_pct = has[M_FUEL];
        r.fuel_level_pct = v[M_FUEL];
        r.has_battery_voltage_v = has[M_BATTERY];
        r.battery_voltage_v = v[M_BATTERY];
        const int map[2] = {M_CO2, M_TEMP};
        for (int k = 0; k < 2; k++) {
            if (!has[map[k]])
                continue;
            Twinpipe__Telemetry__V1__Reading__MetricsEntry init =
                TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
            e[r.n_metrics] = init;
            e[r.n_metrics].key = (char *)metric_names[map[k]];
            e[r.n_metrics].has_value = 1;
            e[r.n_metrics].value = v[map[k]];
            ep[r.n_metrics] = &e[r.n_metrics];
            r.n_metrics++;
        }
        r.metrics = ep;
        enum tp_err err = journal_producer_append(p, &r, NULL, errstr, sizeof(errstr));
        while (err == TP_QUEUE_FULL) {
            journal_producer_poll(p, 50);
            err = journal_producer_append(p, &r, NULL, errstr, sizeof(errstr));
        }
        ck_assert_msg(err == TP_OK, "append: %s", errstr);
        journal_producer_poll(p, 0);
    }
    ck_assert_int_eq(journal_producer_flush(p, 60000), TP_OK);
    journal_producer_poll(p, 0);
    journal_producer_free(p);
    ck_assert_int_eq(delivery_failed, 0);
    ck_assert_int_eq(delivered - before, (long)(to - from));
}

/* ---- the independent fold ---- */

struct exp_metric {
    bool seen;
    double value, min, max, sum;
    int64_t ts, count;
};

struct exp_twin {
    int64_t events, last_seq, first_ms, last_ms;
    struct exp_metric m[N_METRICS];
    size_t last_hist[N_METRICS]; /* index + 1 of the latest history entry, 0 = none */
};

struct exp_hist {
    int dev, metric;
    int64_t minute;
    double min, max, sum;
    int64_t count;
};

struct expected {
    struct exp_twin *twins;
    struct exp_hist *hist;
    size_t n_hist, cap_hist;
    long applied, ignored;
};

static int64_t minute_of(int64_t ms)
{
    int64_t m = ms / 60000 - (ms % 60000 < 0);
    return m * 60000;
}

/* Folds sends [from, to) into e (which must have seen [0, from) already). */
static void expect(struct expected *e, const struct workload *w, size_t from, size_t to)
{
    if (!e->twins)
        e->twins = tp_calloc((size_t)w->devices, sizeof(*e->twins));
    for (size_t i = from; i < to; i++) {
        const struct send *s = &w->sends[i];
        struct exp_twin *t = &e->twins[s->dev];
        if (t->events > 0 && s->seq <= t->last_seq) {
            e->ignored++;
            continue;
        }
        e->applied++;
        double v[N_METRICS];
        bool has[N_METRICS];
        int64_t ts = reading_values(w, s, v, has);
        if (t->events == 0)
            t->first_ms = ts;
        t->events++;
        t->last_seq = s->seq;
        t->last_ms = ts;
        for (int k = 0; k < N_METRICS; k++) {
            if (!has[k])
                continue;
            struct exp_metric *m = &t->m[k];
            m->min = !m->seen || v[k] < m->min ? v[k] : m->min;
            m->max = !m->seen || v[k] > m->max ? v[k] : m->max;
            m->sum = m->seen ? m->sum + v[k] : v[k];
            m->count++;
            m->seen = true;
            m->value = v[k];
            m->ts = ts;
            /* applied readings of a device come in increasing time: the minute is the last
             * entry's or a new one */
            struct exp_hist *h = t->last_hist[k] ? &e->hist[t->last_hist[k] - 1] : NULL;
            if (h && h->minute == minute_of(ts)) {
                h->min = v[k] < h->min ? v[k] : h->min;
                h->max = v[k] > h->max ? v[k] : h->max;
                h->sum += v[k];
                h->count++;
                continue;
            }
            if (e->n_hist == e->cap_hist) {
                e->cap_hist = e->cap_hist ? 2 * e->cap_hist : 1024;
                e->hist = tp_realloc(e->hist, e->cap_hist * sizeof(*e->hist));
            }
            e->hist[e->n_hist++] = (struct exp_hist){s->dev, k, minute_of(ts), v[k], v[k], v[k], 1};
            t->last_hist[k] = e->n_hist;
        }
    }
}

static void expected_release(struct expected *e)
{
    free(e->twins);
    free(e->hist);
    memset(e, 0, sizeof(*e));
}

static int hist_cmp(const void *a, const void *b)
{
    const struct exp_hist *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->metric != y->metric)
        return x->metric < y->metric ? -1 : 1;
    return x->minute < y->minute ? -1 : x->minute > y->minute;
}

/* ---- reading back ---- */

static PGresult *query(const char *sql, const char *param)
{
    const char *params[] = {param};
    PGresult *res = PQexecParams(db, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(db));
    return res;
}

static double num(PGresult *res, int r, int c)
{
    ck_assert_msg(!PQgetisnull(res, r, c), "row %d column %d is NULL", r, c);
    return strtod(PQgetvalue(res, r, c), NULL);
}

static int64_t i64(PGresult *res, int r, int c)
{
    ck_assert_msg(!PQgetisnull(res, r, c), "row %d column %d is NULL", r, c);
    return strtoll(PQgetvalue(res, r, c), NULL, 10);
}

/* The one integer a query answers. */
static int64_t query_i64(const char *sql, const char *param)
{
    PGresult *res = query(sql, param);
    int64_t v = i64(res, 0, 0);
    PQclear(res);
    return v;
}

/* Every twin and every metric_minutes row of the workload's devices equals e, exactly. */
static void assert_state(const struct workload *w, struct expected *e)
{
    char like[32], id[32];
    snprintf(like, sizeof(like), "%s-%%", w->prefix);
    PGresult *res = query(
        "SELECT device_id, events, last_sequence, (extract(epoch FROM first_seen) * 1000)::bigint,"
        " (extract(epoch FROM last_seen) * 1000)::bigint, m.key, (m.value->>'value')::float8,"
        " (m.value->>'ts')::bigint, (m.value->>'min')::float8, (m.value->>'max')::float8,"
        " (m.value->>'sum')::float8, (m.value->>'count')::bigint"
        " FROM twins t CROSS JOIN LATERAL jsonb_each(t.metrics) m WHERE device_id LIKE $1"
        " ORDER BY device_id COLLATE \"C\", m.key COLLATE \"C\"",
        like);
    int r = 0, rows = PQntuples(res);
    for (int d = 0; d < w->devices; d++) {
        const struct exp_twin *t = &e->twins[d];
        if (t->events == 0)
            continue;
        device_id(w, d, id, sizeof(id));
        for (int k = 0; k < N_METRICS; k++) {
            const struct exp_metric *m = &t->m[k];
            if (!m->seen)
                continue;
            ck_assert_msg(r < rows, "twin %s metric %s missing", id, metric_names[k]);
            ck_assert_str_eq(PQgetvalue(res, r, 0), id);
            ck_assert_int_eq(i64(res, r, 1), t->events);
            ck_assert_int_eq(i64(res, r, 2), t->last_seq);
            ck_assert_int_eq(i64(res, r, 3), t->first_ms);
            ck_assert_int_eq(i64(res, r, 4), t->last_ms);
            ck_assert_str_eq(PQgetvalue(res, r, 5), metric_names[k]);
            ck_assert_double_eq(num(res, r, 6), m->value);
            ck_assert_int_eq(i64(res, r, 7), m->ts);
            ck_assert_msg(num(res, r, 8) == m->min && num(res, r, 9) == m->max &&
                              num(res, r, 10) == m->sum && i64(res, r, 11) == m->count,
                          "%s %s: min/max/sum/count %s/%s/%s/%s, expected %.17g/%.17g/%.17g/%lld",
                          id, metric_names[k], PQgetvalue(res, r, 8), PQgetvalue(res, r, 9),
                          PQgetvalue(res, r, 10), PQgetvalue(res, r, 11), m->min, m->max, m->sum,
                          (long long)m->count);
            r++;
        }
    }
    ck_assert_int_eq(rows, r); /* no other twin, no other metric */
    PQclear(res);

    qsort(e->hist, e->n_hist, sizeof(*e->hist), hist_cmp);
    res = query("SELECT device_id, metric, (extract(epoch FROM minute) * 1000)::bigint, min, max,"
                " sum, count FROM metric_minutes WHERE device_id LIKE $1"
                " ORDER BY device_id COLLATE \"C\", metric COLLATE \"C\", minute",
                like);
    ck_assert_int_eq(PQntuples(res), (int)e->n_hist);
    for (size_t i = 0; i < e->n_hist; i++) {
        const struct exp_hist *h = &e->hist[i];
        int row = (int)i;
        device_id(w, h->dev, id, sizeof(id));
        ck_assert_str_eq(PQgetvalue(res, row, 0), id);
        ck_assert_str_eq(PQgetvalue(res, row, 1), metric_names[h->metric]);
        ck_assert_int_eq(i64(res, row, 2), h->minute);
        ck_assert_msg(num(res, row, 3) == h->min && num(res, row, 4) == h->max &&
                          num(res, row, 5) == h->sum && i64(res, row, 6) == h->count,
                      "%s %s %lld: min/max/sum/count %s/%s/%s/%s, expected %g/%g/%g/%lld", id,
                      metric_names[h->metric], (long long)h->minute, PQgetvalue(res, row, 3),
                      PQgetvalue(res, row, 4), PQgetvalue(res, row, 5), PQgetvalue(res, row, 6),
                      h->min, h->max, h->sum, (long long)h->count);
    }
    PQclear(res);
    /* the per-device restart of last_hist relies on this order; keep it usable after sorting */
    for (int d = 0; d < w->devices; d++)
        memset(e->twins[d].last_hist, 0, sizeof(e->twins[d].last_hist));
    for (size_t i = 0; i < e->n_hist; i++)
        e->twins[e->hist[i].dev].last_hist[e->hist[i].metric] = i + 1; /* sorted: latest last */
}

/* ---- processes ---- */

static void assert_alive(pid_t pid)
{
    int status;
    ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
                  "tp-projector %d exited (status 0x%x), see build/<variant>/Testing/%s-*.log",
                  (int)pid, status, st.db);
}

/* Waits (timeout_s) until the group's offsets in PostgreSQL reach the end of every partition. */
static void wait_caught_up(const pid_t *pids, int n_pids, int timeout_s)
{
    struct journal_config jc = journal_cfg();
    int64_t ends[PARTITIONS];
    size_t n;
    char errstr[256];
    ck_assert_int_eq(
        journal_topic_end_offsets(&jc, 10000, ends, PARTITIONS, &n, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(n, PARTITIONS);
    for (int i = 0; i < timeout_s * 10; i++) {
        for (int k = 0; k < n_pids; k++)
            assert_alive(pids[k]);
        PGresult *res = query("SELECT partition, next_offset FROM projector_offsets"
                              " WHERE consumer_group = $1 AND topic = $1",
                              st.topic);
        size_t done = 0;
        for (int r = 0; r < PQntuples(res); r++) {
            int p = (int)i64(res, r, 0);
            if (p < PARTITIONS && i64(res, r, 1) == ends[p])
                done++;
        }
        for (size_t p = 0; p < PARTITIONS; p++)
            if (ends[p] == 0)
                done++; /* nothing to read there */
        PQclear(res);
        if (done == PARTITIONS)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("the projector did not reach the end of the journal within %d s", timeout_s);
}

/* A sample of the projector's /metrics ("name" without labels). */
static double metric_value(uint16_t port, const char *name)
{
    char url[96], want[128];
    struct buf resp;
    buf_init(&resp, 1 << 20);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    snprintf(want, sizeof(want), "\n%s ", name);
    const char *at = strstr(resp.data, want);
    ck_assert_msg(at != NULL, "no %s in /metrics", name);
    double v = strtod(at + strlen(want), NULL);
    buf_release(&resp);
    return v;
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
    delivered = delivery_failed = 0;
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
    /* a (device, metric, minute) split over flushes is written once per flush */
    ck_assert_double_ge(metric_value(port, "tp_projector_history_rows_written_total"),
                        (double)e.n_hist);
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
            "process: %.0f flushes, flush ms sum %.0f\n",
            w.n, e.applied, e.n_hist, metric_value(port, "tp_projector_flush_ms_count"),
            metric_value(port, "tp_projector_flush_ms_sum"));
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
    for (size_t from = 0; from < w.n; from += chunk, round++) {
        produce(&w, from, from + chunk < w.n ? from + chunk : w.n);
        if (round % 4 != 1)
            continue;
        usleep((useconds_t)rand_between(&seed, 0, 150) * 1000);
        terminated += terminate_backends();
    }
    wait_caught_up(&pid, 1, 120);
    assert_alive(pid);
    assert_state(&w, &e);
    ck_assert_int_ge(terminated, 2);
    /* each terminated connection was noticed by a load or a flush, but the last one may come
     * after the projector finished */
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
    ck_assert_int_eq(fold_apply(t, &r, h), FOLD_APPLIED);
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

/* store.c against postgresql: a flush applies once. The same flush again (a COMMIT whose
 * answer was lost, retried) or a flush from stale offsets (a zombie projector) is refused
 * whole: the history's increments are never added twice. */
START_TEST(test_store_flush_applies_once)
{
    char errstr[512], row[128];
    struct store *s;
    ck_assert_int_eq(store_new(st.dsn, "g", "t", &s, errstr, sizeof(errstr)), TP_OK);
    struct twin *t = twin_new("f-dev");
    struct history *h = history_new();
    const int64_t m0 = (tp_now_ms() / 60000) * 60000 - 600000;
    fold_one(t, h, 1, m0 + 1000, 10.5);
    fold_one(t, h, 2, m0 + 2000, 2.25);
    int32_t parts[] = {3};
    int64_t offs[] = {2}, expected[] = {JOURNAL_OFFSET_BEGINNING};
    struct store_batch b = {&t, 1, h, parts, offs, expected, 1};
    ck_assert_int_eq(store_flush(s, &b, errstr, sizeof(errstr)), TP_OK);
    minute_row(m0, row, sizeof(row));
    ck_assert_str_eq(row, "2.25 10.5 12.75 2");

    ck_assert_int_eq(store_flush(s, &b, errstr, sizeof(errstr)), TP_CONFLICT);
    minute_row(m0, row, sizeof(row));
    ck_assert_str_eq(row, "2.25 10.5 12.75 2");

    /* the next flush, from where the first left the offset */
    history_clear(h);
    fold_one(t, h, 3, m0 + 3000, 20);
    fold_one(t, h, 4, m0 + 61000, 1);
    expected[0] = 2;
    offs[0] = 4;
    ck_assert_int_eq(store_flush(s, &b, errstr, sizeof(errstr)), TP_OK);
    minute_row(m0, row, sizeof(row));
    ck_assert_str_eq(row, "2.25 20 32.75 3");
    minute_row(m0 + 60000, row, sizeof(row));
    ck_assert_str_eq(row, "1 1 1 1");

    /* a zombie still at offset 2: refused, nothing changes */
    fold_one(t, h, 5, m0 + 62000, 100);
    offs[0] = 5;
    ck_assert_int_eq(store_flush(s, &b, errstr, sizeof(errstr)), TP_CONFLICT);
    minute_row(m0 + 60000, row, sizeof(row));
    ck_assert_str_eq(row, "1 1 1 1");
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
    twins_free(tt);
    history_free(h);
    twin_free(t);
    store_free(s);
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
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(projector_suite)
