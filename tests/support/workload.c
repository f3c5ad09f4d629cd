#include "workload.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/mem.h"
#include "twindb.h"

/* sorted as PostgreSQL's "C" collation sorts them */
const char *const workload_metric_names[WORKLOAD_METRICS] = {
    "battery_voltage_v", "co2_ppm", "fuel_level_pct", "speed_kmh", "temp_c"};
enum { M_BATTERY, M_CO2, M_FUEL, M_SPEED, M_TEMP };

static uint32_t workload_mix(uint32_t a, uint32_t b)
{
    uint32_t h = a * 2654435761u ^ (b + 0x9e3779b9u + (a << 6) + (a >> 2));
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    return h;
}

/* Per device: mostly the next sequence; sometimes an older one again (variant 1: a duplicate),
 * sometimes next + 1 before next (then next arrives out of order: applied late, once). */
void workload_init(struct workload *w, const char *prefix, int devices, int per_device)
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
            uint32_t r = workload_mix((uint32_t)d, (uint32_t)k);
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

void workload_release(struct workload *w)
{
    free(w->sends);
}

void workload_device_id(const struct workload *w, int d, char *out, size_t n)
{
    snprintf(out, n, "%s-%04d", w->prefix, d);
}

/* The reading's timestamp and metric values (has[i] false: absent). */
int64_t workload_values(const struct workload *w, const struct send *s, double v[WORKLOAD_METRICS],
                        bool has[WORKLOAD_METRICS])
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

struct journal_config workload_journal(const struct stack *st)
{
    struct journal_config jc = {.bootstrap_servers = st->bootstrap,
                                .topic = st->topic,
                                .partitions = WORKLOAD_PARTITIONS,
                                .replication = 1,
                                .schema_id = 1};
    return jc;
}

void workload_produce(const struct stack *st, const struct workload *w, size_t from, size_t to)
{
    struct journal_config jc = workload_journal(st);
    char errstr[256];
    struct journal_producer *p;
    ck_assert_int_eq(journal_producer_new(&jc, on_delivery, NULL, &p, errstr, sizeof(errstr)),
                     TP_OK);
    long before = delivered;
    for (size_t i = from; i < to; i++) {
        const struct send *s = &w->sends[i];
        double v[WORKLOAD_METRICS];
        bool has[WORKLOAD_METRICS];
        char id[32];
        workload_device_id(w, s->dev, id, sizeof(id));
        journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
        Twinpipe__Telemetry__V1__Reading__MetricsEntry e[2], *ep[2];
        r.device_id = id;
        r.has_sequence = r.has_timestamp_ms = 1;
        r.sequence = (uint64_t)s->seq;
        r.timestamp_ms = workload_values(w, s, v, has);
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
            e[r.n_metrics].key = (char *)workload_metric_names[map[k]];
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

static int64_t workload_minute(int64_t ms)
{
    int64_t m = ms / 60000 - (ms % 60000 < 0);
    return m * 60000;
}

/* The history entry of (s->dev, metric k, minute), added if new. Applied readings of a device
 * come in increasing time but for a late one (an earlier sequence, sent one reading late): its
 * minute is the latest entry's, the one before's, or a new, earlier one. */
static struct exp_hist *workload_hist(struct expected *e, struct exp_twin *t, int dev, int k,
                                      int64_t minute)
{
    const size_t idx[] = {t->last_hist[k], t->prev_hist[k]};
    for (int i = 0; i < 2; i++)
        if (idx[i] && e->hist[idx[i] - 1].minute == minute)
            return &e->hist[idx[i] - 1];
    if (e->n_hist == e->cap_hist) {
        e->cap_hist = e->cap_hist ? 2 * e->cap_hist : 1024;
        e->hist = tp_realloc(e->hist, e->cap_hist * sizeof(*e->hist));
    }
    e->hist[e->n_hist++] = (struct exp_hist){dev, k, minute, 0, 0, 0, 0};
    if (!t->last_hist[k] || e->hist[t->last_hist[k] - 1].minute < minute) {
        t->prev_hist[k] = t->last_hist[k];
        t->last_hist[k] = e->n_hist;
    } else if (!t->prev_hist[k] || e->hist[t->prev_hist[k] - 1].minute < minute) {
        t->prev_hist[k] = e->n_hist;
    }
    return &e->hist[e->n_hist - 1];
}

/* Exactly once by (device, sequence) (the workload stays inside the projector's window of 128
 * sequences); a late reading counts in events, statistics and its minute, but the latest
 * values (but for a metric it brings first), last sequence and last_seen stay the newest's. */
void workload_expect(struct expected *e, const struct workload *w, size_t from, size_t to)
{
    if (!e->twins) {
        e->twins = tp_calloc((size_t)w->devices, sizeof(*e->twins));
        e->n_twins = (size_t)w->devices;
    }
    for (size_t i = from; i < to; i++) {
        const struct send *s = &w->sends[i];
        struct exp_twin *t = &e->twins[s->dev];
        if ((size_t)s->seq >= t->cap_applied) {
            size_t cap = 2 * (size_t)s->seq + 16;
            t->applied = tp_realloc(t->applied, cap * sizeof(*t->applied));
            memset(t->applied + t->cap_applied, 0, (cap - t->cap_applied) * sizeof(bool));
            t->cap_applied = cap;
        }
        if (t->applied[s->seq]) {
            e->ignored++;
            continue;
        }
        t->applied[s->seq] = true;
        e->applied++;
        bool late = t->events > 0 && s->seq < t->last_seq;
        double v[WORKLOAD_METRICS];
        bool has[WORKLOAD_METRICS];
        int64_t ts = workload_values(w, s, v, has);
        if (t->events == 0)
            t->first_ms = ts;
        t->events++;
        if (!late) {
            t->last_seq = s->seq;
            t->last_ms = ts;
        }
        for (int k = 0; k < WORKLOAD_METRICS; k++) {
            if (!has[k])
                continue;
            struct exp_metric *m = &t->m[k];
            m->min = !m->seen || v[k] < m->min ? v[k] : m->min;
            m->max = !m->seen || v[k] > m->max ? v[k] : m->max;
            m->sum = m->seen ? m->sum + v[k] : v[k];
            m->count++;
            if (!late || !m->seen) {
                m->value = v[k];
                m->ts = ts;
            }
            m->seen = true;
            struct exp_hist *h = workload_hist(e, t, s->dev, k, workload_minute(ts));
            h->min = h->count == 0 || v[k] < h->min ? v[k] : h->min;
            h->max = h->count == 0 || v[k] > h->max ? v[k] : h->max;
            h->sum = h->count == 0 ? v[k] : h->sum + v[k];
            h->count++;
        }
    }
}

void expected_release(struct expected *e)
{
    for (size_t i = 0; e->twins && i < e->n_twins; i++)
        free(e->twins[i].applied);
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

PGresult *workload_query(PGconn *db, const char *sql, const char *param)
{
    const char *params[] = {param};
    PGresult *res = PQexecParams(db, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(db));
    return res;
}

double workload_num(PGresult *res, int r, int c)
{
    ck_assert_msg(!PQgetisnull(res, r, c), "row %d column %d is NULL", r, c);
    return strtod(PQgetvalue(res, r, c), NULL);
}

int64_t workload_i64(PGresult *res, int r, int c)
{
    ck_assert_msg(!PQgetisnull(res, r, c), "row %d column %d is NULL", r, c);
    return strtoll(PQgetvalue(res, r, c), NULL, 10);
}

int64_t workload_query_i64(PGconn *db, const char *sql, const char *param)
{
    PGresult *res = workload_query(db, sql, param);
    int64_t v = workload_i64(res, 0, 0);
    PQclear(res);
    return v;
}

void workload_rows_text(PGconn *db, const char *sql, struct buf *out)
{
    PGresult *res = workload_query(db, sql, NULL);
    for (int r = 0; r < PQntuples(res); r++) {
        for (int c = 0; c < PQnfields(res); c++)
            buf_printf(out, "%s%s", c ? "\t" : "",
                       PQgetisnull(res, r, c) ? "NULL" : PQgetvalue(res, r, c));
        buf_append_str(out, "\n");
    }
    PQclear(res);
}

/* One history minute read back: a metric_minutes row or a twin's open minute. */
struct got_hist {
    const char *device; /* borrowed from the result or the twin rows */
    const char *metric;
    size_t metric_len;
    int64_t minute;
    double min, max, sum;
    int64_t count;
    const char *src;
};

static int got_hist_cmp(const void *a, const void *b)
{
    const struct got_hist *x = a, *y = b;
    int c = strcmp(x->device, y->device);
    if (c)
        return c;
    size_t n = x->metric_len < y->metric_len ? x->metric_len : y->metric_len;
    c = memcmp(x->metric, y->metric, n);
    if (c || x->metric_len != y->metric_len)
        return c ? c : (x->metric_len > y->metric_len ? 1 : -1);
    return x->minute < y->minute ? -1 : x->minute > y->minute;
}

void workload_assert_state(PGconn *db, const struct workload *w, struct expected *e)
{
    char like[32], id[32];
    snprintf(like, sizeof(like), "%s-%%", w->prefix);
    struct twindb got;
    twindb_load(&got, db, like);
    size_t r = 0;
    for (int d = 0; d < w->devices; d++) {
        const struct exp_twin *t = &e->twins[d];
        if (t->events == 0)
            continue;
        workload_device_id(w, d, id, sizeof(id));
        ck_assert_msg(r < got.n, "twin %s missing", id);
        const struct twindb_row *row = &got.rows[r++];
        const struct twin_view *v = &row->v;
        ck_assert_str_eq(row->device_id, id);
        ck_assert_int_eq(v->events, t->events);
        ck_assert_int_eq(v->last_sequence, t->last_seq);
        ck_assert_int_eq(v->first_seen_ms, t->first_ms);
        ck_assert_int_eq(v->last_seen_ms, t->last_ms);
        size_t seen = 0;
        for (int k = 0; k < WORKLOAD_METRICS; k++) {
            const struct exp_metric *m = &t->m[k];
            if (!m->seen)
                continue;
            seen++;
            const struct twin_view_metric *g = twindb_metric(v, workload_metric_names[k]);
            ck_assert_msg(g != NULL, "twin %s metric %s missing", id, workload_metric_names[k]);
            ck_assert_double_eq(g->value, m->value);
            ck_assert_int_eq(g->ts_ms, m->ts);
            ck_assert_msg(g->min == m->min && g->max == m->max && g->sum == m->sum &&
                              g->count == m->count,
                          "%s %s: min/max/sum/count %.17g/%.17g/%.17g/%lld, expected "
                          "%.17g/%.17g/%.17g/%lld",
                          id, workload_metric_names[k], g->min, g->max, g->sum, (long long)g->count,
                          m->min, m->max, m->sum, (long long)m->count);
        }
        ck_assert_uint_eq(v->n_metrics, seen); /* no other metric */
    }
    ck_assert_uint_eq(got.n, r); /* no other twin */

    /* metric_minutes plus each twin's open minute: a (device, metric, minute) must be in
     * exactly one of them (a minute in both would be a row too many) */
    qsort(e->hist, e->n_hist, sizeof(*e->hist), hist_cmp);
    PGresult *res = workload_query(
        db,
        "SELECT device_id, metric, (extract(epoch FROM minute) * 1000)::bigint, min, max,"
        " sum, count FROM metric_minutes WHERE device_id LIKE $1",
        like);
    size_t n_rows = (size_t)PQntuples(res), n = 0;
    for (size_t i = 0; i < got.n; i++)
        n += got.rows[i].v.n_metrics;
    struct got_hist *h = tp_calloc(n_rows + n + 1, sizeof(*h));
    n = 0;
    for (int row = 0; row < (int)n_rows; row++)
        h[n++] = (struct got_hist){
            PQgetvalue(res, row, 0),   PQgetvalue(res, row, 1),   (size_t)PQgetlength(res, row, 1),
            workload_i64(res, row, 2), workload_num(res, row, 3), workload_num(res, row, 4),
            workload_num(res, row, 5), workload_i64(res, row, 6), "metric_minutes"};
    for (size_t i = 0; i < got.n; i++) {
        const struct twin_view *v = &got.rows[i].v;
        for (size_t k = 0; k < v->n_metrics; k++) {
            const struct twin_view_metric *m = &v->metrics[k];
            if (m->mcount == 0)
                continue;
            ck_assert_msg(v->minute_ms != TWIN_NO_MINUTE, "twin %s: open figures, no minute",
                          got.rows[i].device_id);
            h[n++] = (struct got_hist){got.rows[i].device_id,
                                       m->name.p,
                                       m->name.len,
                                       v->minute_ms,
                                       m->mmin,
                                       m->mmax,
                                       m->msum,
                                       m->mcount,
                                       "open minute"};
        }
    }
    qsort(h, n, sizeof(*h), got_hist_cmp);
    ck_assert_uint_eq(n, e->n_hist);
    for (size_t i = 0; i < e->n_hist; i++) {
        const struct exp_hist *x = &e->hist[i];
        const struct got_hist *g = &h[i];
        workload_device_id(w, x->dev, id, sizeof(id));
        ck_assert_str_eq(g->device, id);
        ck_assert_msg(g->metric_len == strlen(workload_metric_names[x->metric]) &&
                          !memcmp(g->metric, workload_metric_names[x->metric], g->metric_len),
                      "%s: metric %.*s, expected %s", id, (int)g->metric_len, g->metric,
                      workload_metric_names[x->metric]);
        ck_assert_int_eq(g->minute, x->minute);
        ck_assert_msg(
            g->min == x->min && g->max == x->max && g->sum == x->sum && g->count == x->count,
            "%s %s %lld (%s): min/max/sum/count %.17g/%.17g/%.17g/%lld, expected "
            "%g/%g/%g/%lld",
            id, workload_metric_names[x->metric], (long long)x->minute, g->src, g->min, g->max,
            g->sum, (long long)g->count, x->min, x->max, x->sum, (long long)x->count);
    }
    free(h);
    twindb_release(&got);
    PQclear(res);
    /* the per-device restart of last_hist relies on this order; keep it usable after sorting */
    for (int d = 0; d < w->devices; d++) {
        memset(e->twins[d].last_hist, 0, sizeof(e->twins[d].last_hist));
        memset(e->twins[d].prev_hist, 0, sizeof(e->twins[d].prev_hist));
    }
    for (size_t i = 0; i < e->n_hist; i++) { /* sorted: latest last */
        struct exp_twin *t = &e->twins[e->hist[i].dev];
        t->prev_hist[e->hist[i].metric] = t->last_hist[e->hist[i].metric];
        t->last_hist[e->hist[i].metric] = i + 1;
    }
}

/* ---- dead letters ---- */

static enum tp_err dlq_on_assign(void *arg, const int32_t *parts, int64_t *offsets, size_t n)
{
    (void)arg;
    (void)parts;
    for (size_t i = 0; i < n; i++)
        offsets[i] = JOURNAL_OFFSET_BEGINNING;
    return TP_OK;
}

static void dlq_on_revoke(void *arg, const int32_t *parts, size_t n, bool lost)
{
    (void)arg;
    (void)parts;
    (void)n;
    (void)lost;
}

struct journal_consumer *workload_dlq_consumer(const struct stack *st)
{
    return workload_dlq_consumer_of(st, st->topic);
}

struct journal_consumer *workload_dlq_consumer_of(const struct stack *st, const char *source)
{
    /* the consumer borrows its config: one dead-letter consumer at a time */
    static char topic[256];
    static struct journal_config dc;
    snprintf(topic, sizeof(topic), "%s.dlq", source);
    dc = (struct journal_config){.bootstrap_servers = st->bootstrap, .topic = topic};
    struct journal_rebalance rb = {dlq_on_assign, dlq_on_revoke, NULL};
    struct journal_consumer *c;
    char errstr[256];
    ck_assert_int_eq(journal_consumer_new(&dc, topic, &rb, &c, errstr, sizeof(errstr)), TP_OK);
    return c;
}

void workload_dlq_next(struct journal_consumer *c, struct journal_event *ev)
{
    char errstr[256];
    for (int i = 0; i < 300; i++) {
        bool got = false;
        ck_assert_int_eq(journal_consumer_poll(c, 100, ev, &got, errstr, sizeof(errstr)), TP_OK);
        if (got && !ev->eof)
            return;
        if (got)
            journal_event_release(ev);
    }
    ck_abort_msg("no dead letter within 30 s");
}

/* ---- processes ---- */

void workload_assert_alive(const struct stack *st, pid_t pid)
{
    int status;
    ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
                  "tp-projector %d exited (status 0x%x), see build/<variant>/Testing/%s-*.log",
                  (int)pid, status, st->db);
}

void workload_end_offsets(const struct stack *st, int64_t ends[WORKLOAD_PARTITIONS])
{
    struct journal_config jc = workload_journal(st);
    size_t n;
    char errstr[256];
    ck_assert_int_eq(journal_topic_end_offsets(&jc, 10000, ends, WORKLOAD_PARTITIONS, &n, errstr,
                                               sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(n, WORKLOAD_PARTITIONS);
}

void workload_assert_offsets_at_end(const struct stack *st, PGconn *db)
{
    int64_t ends[WORKLOAD_PARTITIONS];
    workload_end_offsets(st, ends);
    PGresult *res = workload_query(db,
                                   "SELECT partition, next_offset FROM projector_offsets"
                                   " WHERE consumer_group = $1 AND topic = $1 ORDER BY partition",
                                   st->topic);
    ck_assert_int_eq(PQntuples(res), WORKLOAD_PARTITIONS);
    for (int r = 0; r < PQntuples(res); r++)
        ck_assert_int_eq(workload_i64(res, r, 1), ends[workload_i64(res, r, 0)]);
    PQclear(res);
}

void workload_wait_caught_up(const struct stack *st, PGconn *db, const pid_t *pids, int n_pids,
                             int timeout_s)
{
    int64_t ends[WORKLOAD_PARTITIONS];
    workload_end_offsets(st, ends);
    for (int i = 0; i < timeout_s * 10; i++) {
        for (int k = 0; k < n_pids; k++)
            workload_assert_alive(st, pids[k]);
        PGresult *res = workload_query(db,
                                       "SELECT partition, next_offset FROM projector_offsets"
                                       " WHERE consumer_group = $1 AND topic = $1",
                                       st->topic);
        size_t done = 0;
        for (int r = 0; r < PQntuples(res); r++) {
            int p = (int)workload_i64(res, r, 0);
            if (p < WORKLOAD_PARTITIONS && workload_i64(res, r, 1) == ends[p])
                done++;
        }
        for (size_t p = 0; p < WORKLOAD_PARTITIONS; p++)
            if (ends[p] == 0)
                done++; /* nothing to read there */
        PQclear(res);
        if (done == WORKLOAD_PARTITIONS)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("the projector did not reach the end of the journal within %d s", timeout_s);
}

double workload_metric(uint16_t port, const char *name)
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
