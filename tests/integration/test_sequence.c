/*
 * Readings that arrive out of order, through the real stack (issue 13 #7):
 * tp-ingest journals them, tp-projector folds them into PostgreSQL, tp-replay
 * rebuilds the same. POST sequence 2, then 1: both count, exactly once, in
 * events, the statistics and their history minutes (the twin's open minute
 * and a closed metric_minutes row), while the latest value stays sequence
 * 2's. A reading older than the twin's window of 128 sequences, and one
 * more than projector.max_sequence_jump above it, are not applied: each is
 * counted (too_late, sequence_jump) and written to the dead-letter topic
 * with its reason. tp-replay then rebuilds the same twins (sequence window
 * included) and minutes.
 */
#include <check.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"
#include "tests/support/stack.h"
#include "tests/support/twindb.h"
#include "tests/support/workload.h"

static struct stack st;
static PGconn *db;
static uint16_t ingest_port, projector_port;
static pid_t ingest_pid, projector_pid;
static struct buf resp;

static const char *const ingest_env[] = {"TP_AUTH_MODE=off", NULL};
static const char *const projector_env[] = {"TP_PROJECTOR_FLUSH_INTERVAL_MS=50",
                                            "TP_PROJECTOR_MAX_SEQUENCE_JUMP=1000", NULL};

static void setup(void)
{
    buf_init(&resp, 1 << 20);
    stack_init(&st, "sequence");
    stack_db_create(&st);
    db = PQconnectdb(st.dsn);
    ck_assert_msg(PQstatus(db) == CONNECTION_OK, "%s", PQerrorMessage(db));
    ingest_port = stack_free_port();
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
    projector_port = stack_free_port();
    projector_pid = stack_service_start(&st, "tp-projector", projector_env, projector_port);
}

static void teardown(void)
{
    int i = stack_service_stop(ingest_pid, SIGTERM);
    int p = projector_pid > 0 ? stack_service_stop(projector_pid, SIGTERM) : 0;
    PQfinish(db);
    stack_release(&st);
    buf_release(&resp);
    ck_assert_int_eq(i, 0);
    ck_assert_int_eq(p, 0);
}

/* POSTs one reading of `device` (speed_kmh = speed) and expects 202 with it accepted. */
static void post(const char *device, uint64_t seq, int64_t ts, double speed)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = (char *)device;
    r.has_sequence = r.has_timestamp_ms = r.has_speed_kmh = 1;
    r.sequence = seq;
    r.timestamp_ms = ts;
    r.speed_kmh = speed;
    journal_reading *rp[] = {&r};
    Twinpipe__Telemetry__V1__ReadingBatch batch = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    batch.readings = rp;
    batch.n_readings = 1;
    size_t len = protobuf_c_message_get_packed_size(&batch.base);
    uint8_t *body = tp_malloc(len);
    protobuf_c_message_pack(&batch.base, body);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/telemetry", ingest_port);
    long status = stack_http("POST", url, "application/x-protobuf", body, len, &resp);
    free(body);
    ck_assert_msg(status == 202, "POST seq %llu: %ld %s", (unsigned long long)seq, status,
                  resp.data);
    struct jv *doc = jv_parse(resp.data);
    ck_assert_double_eq(jv_num(doc, "accepted"), 1);
    jv_free(doc);
}

/* The projector's counter once it reached `want` (20 s), else the test fails. */
static void wait_metric(const char *name, double want)
{
    double v = -1;
    for (int i = 0; i < 200; i++) {
        v = workload_metric(projector_port, name);
        if (v == want)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("%s is %g, expected %g", name, v, want);
}

/* The twin's events once the projector flushed them (20 s). */
static void wait_events(const char *device, int64_t want)
{
    int64_t got = -1;
    for (int i = 0; i < 200; i++) {
        PGresult *res =
            workload_query(db, "SELECT version FROM twins WHERE device_id = $1", device);
        got = PQntuples(res) == 1 ? workload_i64(res, 0, 0) : -1;
        PQclear(res);
        if (got == want)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("twin %s has %lld events, expected %lld", device, (long long)got, (long long)want);
}

struct minute_line {
    long long offset;
    const char *src;
    char text[160];
};

static int minute_line_cmp(const void *a, const void *b)
{
    const struct minute_line *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return strcmp(x->src, y->src);
}

/* Every history minute of the device's speed_kmh: metric_minutes rows plus the twin's open
 * minute (in its record), as "minute_offset src min/max/sum/count;" (minute_offset in minutes
 * from m0), ordered by minute and src. */
static void history_of(const char *device, int64_t m0, char *out, size_t n)
{
    char m0s[32];
    snprintf(m0s, sizeof(m0s), "%lld", (long long)m0);
    const char *params[] = {device, m0s};
    PGresult *res = PQexecParams(
        db,
        "SELECT ((extract(epoch FROM minute) * 1000)::bigint - $2::bigint) / 60000, min, max,"
        " sum, count FROM metric_minutes WHERE device_id = $1 AND metric = 'speed_kmh'",
        2, NULL, params, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    struct minute_line lines[64];
    size_t k = 0;
    for (int r = 0; r < PQntuples(res) && k < 63; r++, k++) {
        lines[k].offset = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        lines[k].src = "closed";
        snprintf(lines[k].text, sizeof(lines[k].text), "%s/%s/%s/%s", PQgetvalue(res, r, 1),
                 PQgetvalue(res, r, 2), PQgetvalue(res, r, 3), PQgetvalue(res, r, 4));
    }
    ck_assert_int_lt(PQntuples(res), 63);
    PQclear(res);
    struct twindb t;
    twindb_load(&t, db, device);
    ck_assert_uint_eq(t.n, 1);
    const struct twin_view_metric *m = twindb_metric(&t.rows[0].v, "speed_kmh");
    if (m && m->mcount > 0) {
        ck_assert_int_ne(t.rows[0].v.minute_ms, TWIN_NO_MINUTE);
        lines[k].offset = (long long)((t.rows[0].v.minute_ms - m0) / 60000);
        lines[k].src = "open";
        snprintf(lines[k].text, sizeof(lines[k].text), "%.17g/%.17g/%.17g/%lld", m->mmin, m->mmax,
                 m->msum, (long long)m->mcount);
        k++;
    }
    twindb_release(&t);
    qsort(lines, k, sizeof(*lines), minute_line_cmp);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < k; i++)
        used += (size_t)snprintf(out + used, n - used, "%lld %s %s;", lines[i].offset, lines[i].src,
                                 lines[i].text);
}

/* The whole projection as text (every twin's record, tests/support/twindb.h, with its
 * sequence window; and metric_minutes). */
static void snapshot(struct buf *out)
{
    twindb_text(db, NULL, out);
    workload_rows_text(db,
                       "SELECT device_id, metric, minute, min, max, sum, count FROM metric_minutes"
                       " ORDER BY device_id COLLATE \"C\", metric COLLATE \"C\", minute",
                       out);
}

START_TEST(test_out_of_order_counts_once_and_replays_the_same)
{
    const int64_t m0 = (tp_now_ms() / 60000 - 30) * 60000; /* a minute's start, 30 min ago */
    /* sequence 2, then 1: both 202, both in the twin */
    post("ooo-1", 2, m0 + 20000, 20);
    wait_events("ooo-1", 1);
    post("ooo-1", 1, m0 + 10000, 10);
    wait_events("ooo-1", 2);
    /* 5 opens the next minute (closing the first); then 4 (the first minute) and 3 (the
     * second); 1 again is a duplicate */
    post("ooo-1", 5, m0 + 61000, 50);
    post("ooo-1", 4, m0 + 30000, 40);
    post("ooo-1", 3, m0 + 60500, 30);
    post("ooo-1", 1, m0 + 10000, 99);
    wait_metric("tp_projector_duplicates_total", 1);
    wait_events("ooo-1", 5);
    struct twindb t;
    twindb_load(&t, db, "ooo-1");
    ck_assert_uint_eq(t.n, 1);
    const struct twin_view *v = &t.rows[0].v;
    ck_assert_int_eq(v->events, 5);
    ck_assert_int_eq(v->last_sequence, 5);
    ck_assert_int_eq(v->last_seen_ms, m0 + 61000);
    const struct twin_view_metric *m = twindb_metric(v, "speed_kmh");
    ck_assert_ptr_nonnull(m);
    ck_assert_double_eq(m->value, 50); /* the newest reading's */
    ck_assert_double_eq(m->min, 10);
    ck_assert_double_eq(m->max, 50);
    ck_assert_double_eq(m->sum, 150);
    ck_assert_int_eq(m->count, 5);
    /* 1..4 seen, and sequences <= 0 */
    ck_assert_uint_eq(v->seen[0], UINT64_MAX);
    ck_assert_uint_eq(v->seen[1], UINT64_MAX);
    twindb_release(&t);
    char hist[512];
    history_of("ooo-1", m0, hist, sizeof(hist));
    ck_assert_str_eq(hist, "0 closed 10/40/70/3;1 open 30/50/80/2;");

    /* older than the window, and too far ahead: not applied, counted, dead-lettered */
    post("ooo-2", 300, m0 + 1000, 1);
    wait_events("ooo-2", 1);
    post("ooo-2", 172, m0 + 2000, 2);   /* 128 below 300: the window's last: applied */
    post("ooo-2", 171, m0 + 3000, -1);  /* 129 below */
    post("ooo-2", 1301, m0 + 4000, -2); /* 1001 above, TP_PROJECTOR_MAX_SEQUENCE_JUMP=1000 */
    post("ooo-2", 1300, m0 + 5000, 3);
    wait_metric("tp_projector_too_late_total", 1);
    wait_metric("tp_projector_sequence_jumps_total", 1);
    wait_metric("tp_projector_dead_lettered_total", 2);
    wait_events("ooo-2", 3);
    twindb_load(&t, db, "ooo-2");
    ck_assert_uint_eq(t.n, 1);
    ck_assert_int_eq(t.rows[0].v.last_sequence, 1300);
    m = twindb_metric(&t.rows[0].v, "speed_kmh");
    ck_assert_ptr_nonnull(m);
    ck_assert_double_eq(m->min, 1);
    ck_assert_double_eq(m->sum, 6);
    twindb_release(&t);
    ck_assert_double_eq(workload_metric(projector_port, "tp_projector_applied_total"), 8);

    /* the dead letters: the events as journaled, with their reasons */
    struct journal_consumer *c = workload_dlq_consumer(&st);
    for (int found = 0; found < 2; found++) {
        struct journal_event ev;
        workload_dlq_next(c, &ev);
        ck_assert_ptr_nonnull(ev.reading);
        ck_assert_str_eq(ev.reading->device_id, "ooo-2");
        if (ev.reading->sequence == 171)
            ck_assert_str_eq(ev.dlq_reason, "too_late");
        else
            ck_assert_msg(ev.reading->sequence == 1301 && !strcmp(ev.dlq_reason, "sequence_jump"),
                          "dead letter %llu %s", (unsigned long long)ev.reading->sequence,
                          ev.dlq_reason);
        ck_assert_msg(!strncmp(ev.dlq_origin, "tp-projector@", 13), "origin %s", ev.dlq_origin);
        journal_event_release(&ev);
    }
    journal_consumer_free(c);

    /* tp-replay rebuilds exactly this projection from the journal */
    ck_assert_int_eq(stack_service_stop(projector_pid, SIGTERM), 0);
    projector_pid = 0;
    struct buf live, rebuilt;
    buf_init(&live, SIZE_MAX / 2);
    buf_init(&rebuilt, SIZE_MAX / 2);
    snapshot(&live);
    char group[128];
    snprintf(group, sizeof(group), "TP_REPLAY_GROUP=%s", st.topic);
    const char *env[] = {group, "TP_PROJECTOR_MAX_SEQUENCE_JUMP=1000", NULL};
    ck_assert_int_eq(stack_run(&st, "tp-replay", env), 0);
    snapshot(&rebuilt);
    ck_assert_str_eq(rebuilt.data, live.data);
    buf_release(&live);
    buf_release(&rebuilt);
}
END_TEST

static Suite *sequence_suite(void)
{
    Suite *s = suite_create("sequence");
    TCase *tc = tcase_create("sequence");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_out_of_order_counts_once_and_replays_the_same);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(sequence_suite)
