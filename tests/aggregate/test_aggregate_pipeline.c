/*
 * test_aggregate_pipeline.c - the regional aggregator through the real stack
 * (docs/decisions/regions.md, section 1): readings journaled to a 2-partition
 * topic, tp-projector with aggregate.enabled (10 s windows, 1 s grace), the
 * records consumed from the aggregates topic and the aggregate_windows rows,
 * all compared exactly.
 *
 *   1. Readings in windows closed long ago: two categories of trucks, a car
 *      without firmware ("tp-car|"), a duplicate sequence. Exactly one record
 *      per partial, version 1, exact counts/min/max/sum; the duplicate is
 *      not counted.
 *   2. A late reading (sequence 4 after 5, device time in the first window,
 *      already published) and its duplicate: the partial again, version 2,
 *      counted once. A reading of the current window: its partial is in
 *      aggregate_windows, unpublished, and produced only once the window
 *      closed (end + grace).
 *   3. Crash between COMMIT and publish: a projector that does not produce
 *      (TP_TEST_AGGREGATE_HOLD=1) commits a change, is killed with SIGKILL;
 *      the next one's sweep produces it, once.
 * With tp-registry (test_registry): the projector registers aggregates.proto
 * under "<aggregate.topic>-value" with an operator's credential and frames
 * its records with that id; restarted with a read credential it finds it.
 * Two projectors in one group (test_rebalance): after the rebalance each
 * partition's owner continues its partials' versions and publishes them once.
 * After each phase the topic holds nothing more than expected (2 s of quiet).
 */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"
#include "journal/framing.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "tests/support/workload.h"
#include "twinpipe/aggregates/v1/aggregates.pb-c.h"

#define WINDOW_MS   10000
#define GRACE_MS    1000
#define RECORDS_MAX 64

static struct stack st;
static PGconn *db;
static char agg_topic[160];
static struct journal_config jc;
static struct journal_producer *producer;
static int32_t delivered_partition[8]; /* per device index: where its readings went */
static int delivered;
static rd_kafka_t *consumer;
static char *records[RECORDS_MAX]; /* consumed records, rendered */
static int64_t record_at[RECORDS_MAX];
static int n_records;
static int64_t w0;                  /* a window start an hour ago */
static int32_t schema_id = 2;       /* the records' framing: aggregate.schema_id's default */
static const char *registry_env[3]; /* TP_REGISTRY_URL and a credential, or NULL */

enum { TRUCK1, TRUCK2, CAR1, CAR2 };
static const char *const devices[] = {"truck-1", "truck-2", "car-1", "car-2"};

static void on_delivery(void *opaque, const struct journal_delivery *d, void *arg)
{
    (void)arg;
    ck_assert_msg(d->err == TP_OK, "journal append failed: %s", d->errstr);
    delivered_partition[(intptr_t)opaque] = d->partition;
    delivered++;
}

/* Journals one reading and waits for Kafka's acknowledgement. */
static void journal(int dev, const char *model, const char *firmware, uint64_t seq, int64_t ts,
                    double speed, const char *extra_metric, double extra_value)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = (char *)devices[dev];
    r.has_sequence = r.has_timestamp_ms = r.has_speed_kmh = 1;
    r.sequence = seq;
    r.timestamp_ms = ts;
    r.speed_kmh = speed;
    r.model = (char *)model;
    r.firmware = (char *)firmware;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry me =
        TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry *mes[] = {&me};
    if (extra_metric) {
        me.key = (char *)extra_metric;
        me.has_value = 1;
        me.value = extra_value;
        r.n_metrics = 1;
        r.metrics = mes;
    }
    char err[256];
    int before = delivered;
    ck_assert_int_eq(journal_producer_append(producer, &r, (void *)(intptr_t)dev, err, sizeof(err)),
                     TP_OK);
    ck_assert_int_eq(journal_producer_flush(producer, 15000), TP_OK);
    ck_assert_int_eq(delivered, before + 1);
}

/* A WindowAggregate as one line: category window+offset partition version readings region
 * attributes metrics. */
static char *render(const uint8_t *data, size_t len, const char *key, size_t key_len)
{
    struct framing_header h;
    char err[128];
    ck_assert_int_eq(framing_decode(data, len, &h, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(h.schema_id, schema_id);
    ck_assert_uint_eq(h.path_len, 1);
    Twinpipe__Aggregates__V1__WindowAggregate *a =
        twinpipe__aggregates__v1__window_aggregate__unpack(NULL, h.payload_len, h.payload);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(key_len, strlen(a->category));
    ck_assert(!memcmp(key, a->category, key_len)); /* key = category */
    ck_assert_int_eq(a->window_ms, WINDOW_MS);
    struct buf b;
    buf_init(&b, 1 << 16);
    buf_printf(&b, "%s w%+lld p%d v%llu r%llu %s", a->category,
               (long long)(a->window_start_ms - w0) / 1000, a->journal_partition,
               (unsigned long long)a->version, (unsigned long long)a->readings, a->region);
    for (size_t i = 0; i < a->n_attributes; i++)
        buf_printf(&b, " %s=%s", a->attributes[i]->name, a->attributes[i]->value);
    for (size_t i = 0; i < a->n_metrics; i++)
        buf_printf(&b, " %s:%llu/%.17g/%.17g/%.17g", a->metrics[i]->name,
                   (unsigned long long)a->metrics[i]->count, a->metrics[i]->min, a->metrics[i]->max,
                   a->metrics[i]->sum);
    twinpipe__aggregates__v1__window_aggregate__free_unpacked(a, NULL);
    return buf_steal(&b, NULL);
}

/* Consumes until n_records reaches want (30 s, else the test fails), then `quiet_ms` more
 * during which nothing else may arrive. */
static void consume(int want, int quiet_ms)
{
    int64_t deadline = tp_mono_ms() + 30000;
    while (n_records < want && tp_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 100);
        if (!m)
            continue;
        if (!m->err) {
            ck_assert_int_lt(n_records, RECORDS_MAX);
            record_at[n_records] = tp_now_ms();
            records[n_records++] = render(m->payload, m->len, m->key, m->key_len);
        }
        rd_kafka_message_destroy(m);
    }
    ck_assert_msg(n_records == want, "%d aggregate records, expected %d", n_records, want);
    int64_t quiet_end = tp_mono_ms() + quiet_ms;
    while (tp_mono_ms() < quiet_end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 100);
        if (!m)
            continue;
        bool real = !m->err;
        char *extra = real ? render(m->payload, m->len, m->key, m->key_len) : NULL;
        rd_kafka_message_destroy(m);
        ck_assert_msg(!real, "unexpected aggregate record: %s", extra);
    }
}

/* Whether the records since `from` are exactly `want` (in any order). */
static void expect_records(int from, const char *const *want, int n)
{
    ck_assert_int_eq(n_records - from, n);
    bool used[RECORDS_MAX] = {false};
    for (int i = 0; i < n; i++) {
        int found = -1;
        for (int j = from; j < n_records && found < 0; j++)
            if (!used[j] && !strcmp(records[j], want[i]))
                found = j;
        if (found < 0) {
            struct buf got;
            buf_init(&got, 1 << 16);
            for (int j = from; j < n_records; j++)
                buf_printf(&got, "\n  %s", records[j]);
            ck_abort_msg("record %s not consumed; got:%s", want[i], got.data);
        }
        used[found] = true;
    }
}

static void start_consumer(void)
{
    char kerr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", st.bootstrap, kerr, sizeof(kerr)),
                     RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "group.id", "tp-test-aggregates", kerr, sizeof(kerr)),
                     RD_KAFKA_CONF_OK);
    consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
    ck_assert_ptr_nonnull(consumer);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    for (int p = 0; p < 2; p++)
        rd_kafka_topic_partition_list_add(parts, agg_topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert_int_eq(rd_kafka_assign(consumer, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
}

static pid_t start_projector(bool hold, uint16_t port)
{
    char topic_env[200];
    snprintf(topic_env, sizeof(topic_env), "TP_AGGREGATE_TOPIC=%s", agg_topic);
    const char *env[] = {"TP_AGGREGATE_ENABLED=true", "TP_AGGREGATE_WINDOW_MS=10000",
                         "TP_AGGREGATE_GRACE_MS=1000", "TP_SITE_REGION=region-t",
                         "TP_JOURNAL_PARTITIONS=2",
                         /* every reading journaled before a phase lands in one flush */
                         "TP_PROJECTOR_FLUSH_INTERVAL_MS=2000",
                         /* the killed member is noticed after the session timeout */
                         "TP_KAFKA_SESSION_TIMEOUT_MS=6000", topic_env,
                         hold ? "TP_TEST_AGGREGATE_HOLD=1" : "TP_TEST_AGGREGATE_HOLD=0",
                         registry_env[0], registry_env[1], registry_env[2], NULL};
    return stack_service_start(&st, "tp-projector", env, port);
}

/* aggregate_windows as text lines, ordered. */
static void rows_text(struct buf *out)
{
    char sql[512];
    snprintf(
        sql, sizeof(sql),
        "SELECT category, attributes, (extract(epoch FROM window_start) * 1000)::bigint - %lld,"
        " window_ms, journal_partition, version, readings, published_version,"
        " replace(convert_from(metrics, 'UTF8'), E'\\t', ' ') FROM aggregate_windows"
        " ORDER BY category, window_start, journal_partition",
        (long long)w0);
    buf_reset(out);
    workload_rows_text(db, sql, out);
}

/* Waits (20 s) until a query answers want. */
static void wait_i64(const char *sql, int64_t want)
{
    int64_t got = -1;
    for (int i = 0; i < 200; i++) {
        got = workload_query_i64(db, sql, NULL);
        if (got == want)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("%s answered %lld, expected %lld", sql, (long long)got, (long long)want);
}

/* The test's database, topics, journal producer and w0. */
static void setup_stack(const char *name)
{
    stack_init(&st, name);
    stack_db_create(&st);
    db = PQconnectdb(st.dsn);
    ck_assert_msg(PQstatus(db) == CONNECTION_OK, "%s", PQerrorMessage(db));
    snprintf(agg_topic, sizeof(agg_topic), "%s.aggregates", st.topic);
    jc = (struct journal_config){.bootstrap_servers = st.bootstrap,
                                 .topic = st.topic,
                                 .partitions = 2,
                                 .replication = 1,
                                 .schema_id = 1};
    char err[512];
    ck_assert_int_eq(journal_topic_ensure(&jc, 15000, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(journal_producer_new(&jc, on_delivery, NULL, &producer, err, sizeof(err)),
                     TP_OK);
    w0 = (tp_now_ms() - 3600 * 1000) / WINDOW_MS * WINDOW_MS;
    n_records = 0;
}

static void release_stack(void)
{
    for (int i = 0; i < n_records; i++)
        free(records[i]);
    n_records = 0;
    rd_kafka_assign(consumer, NULL);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    journal_producer_free(producer);
    PQfinish(db);
    stack_release(&st);
}

START_TEST(test_pipeline)
{
    setup_stack("aggregate");

    /* 1. closed windows */
    journal(TRUCK1, "tp-truck", "2.1.7", 1, w0 + 1000, 10, NULL, 0);
    journal(TRUCK1, "tp-truck", "2.1.7", 2, w0 + 2000, 20, NULL, 0);
    journal(TRUCK1, "tp-truck", "2.1.7", 2, w0 + 2000, 20, NULL, 0); /* duplicate */
    journal(TRUCK1, NULL, NULL, 3, w0 + 3000, 30.5, NULL, 0);        /* the twin's attributes */
    journal(TRUCK1, "tp-truck", "2.1.7", 5, w0 + 12000, 50, NULL, 0);
    journal(TRUCK2, "tp-truck", "2.2.0", 1, w0 + 4000, 7, NULL, 0);
    journal(CAR1, "tp-car", NULL, 1, w0 + 500, 100, "cargo_kg", 3);
    uint16_t port = stack_free_port();
    pid_t pid = start_projector(false, port);
    start_consumer();
    consume(4, 2000);
    char want[4][256];
    int p1 = delivered_partition[TRUCK1], p2 = delivered_partition[TRUCK2],
        pc = delivered_partition[CAR1];
    snprintf(want[0], sizeof(want[0]),
             "tp-truck|2.1.7 w+0 p%d v1 r3 region-t model=tp-truck firmware=2.1.7 "
             "speed_kmh:3/10/30.5/60.5",
             p1);
    snprintf(want[1], sizeof(want[1]),
             "tp-truck|2.1.7 w+10 p%d v1 r1 region-t model=tp-truck firmware=2.1.7 "
             "speed_kmh:1/50/50/50",
             p1);
    snprintf(want[2], sizeof(want[2]),
             "tp-truck|2.2.0 w+0 p%d v1 r1 region-t model=tp-truck firmware=2.2.0 "
             "speed_kmh:1/7/7/7",
             p2);
    snprintf(want[3], sizeof(want[3]),
             "tp-car| w+0 p%d v1 r1 region-t model=tp-car firmware= cargo_kg:1/3/3/3 "
             "speed_kmh:1/100/100/100",
             pc);
    const char *w1[] = {want[0], want[1], want[2], want[3]};
    expect_records(0, w1, 4);
    wait_i64("SELECT count(*) FROM aggregate_windows WHERE published_version = version", 4);

    /* 2. a late reading into the published window (and its duplicate); the current window */
    journal(TRUCK1, "tp-truck", "2.1.7", 4, w0 + 3500, 0.5, NULL, 0);
    journal(TRUCK1, "tp-truck", "2.1.7", 4, w0 + 3500, 0.5, NULL, 0);
    while (tp_now_ms() % WINDOW_MS > 3000) /* its window open for 7 s more at least */
        usleep(50 * 1000);
    int64_t now_ts = tp_now_ms();
    int64_t e_start = now_ts / WINDOW_MS * WINDOW_MS;
    journal(CAR2, "tp-car", "1.0", 1, now_ts, 42, NULL, 0);
    consume(5, 0);
    char want_a2[256];
    snprintf(want_a2, sizeof(want_a2),
             "tp-truck|2.1.7 w+0 p%d v2 r4 region-t model=tp-truck firmware=2.1.7 "
             "speed_kmh:4/0.5/30.5/61",
             p1);
    const char *w2[] = {want_a2};
    expect_records(4, w2, 1);
    /* the open window's partial is committed but not published before its end + grace */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce((SELECT published_version * 10 + version FROM aggregate_windows"
             " WHERE category = 'tp-car|1.0'), -1)");
    ck_assert_int_lt(tp_now_ms(), e_start + WINDOW_MS);
    wait_i64(sql, 1);
    consume(6, 2000);
    ck_assert_msg(record_at[5] >= e_start + WINDOW_MS + GRACE_MS,
                  "the open window was published %lld ms before it closed",
                  (long long)(e_start + WINDOW_MS + GRACE_MS - record_at[5]));
    char want_e[256];
    snprintf(want_e, sizeof(want_e),
             "tp-car|1.0 w%+lld p%d v1 r1 region-t model=tp-car firmware=1.0 speed_kmh:1/42/42/42",
             (long long)(e_start - w0) / 1000, delivered_partition[CAR2]);
    const char *w3[] = {want_e};
    expect_records(5, w3, 1);
    wait_i64("SELECT count(*) FROM aggregate_windows WHERE published_version = version", 5);
    struct buf rows;
    buf_init(&rows, 1 << 20);
    rows_text(&rows);
    struct buf exp;
    buf_init(&exp, 1 << 20);
    buf_printf(&exp,
               "tp-car|\tmodel,firmware\t0\t10000\t%d\t1\t1\t1\tcargo_kg 1 3 3 3\nspeed_kmh 1 100 "
               "100 100\n\n",
               pc);
    buf_printf(&exp,
               "tp-car|1.0\tmodel,firmware\t%lld\t10000\t%d\t1\t1\t1\tspeed_kmh 1 42 42 42\n\n",
               (long long)(e_start - w0), delivered_partition[CAR2]);
    buf_printf(&exp,
               "tp-truck|2.1.7\tmodel,firmware\t0\t10000\t%d\t2\t4\t2\tspeed_kmh 4 0.5 30.5 61\n\n",
               p1);
    buf_printf(
        &exp, "tp-truck|2.1.7\tmodel,firmware\t10000\t10000\t%d\t1\t1\t1\tspeed_kmh 1 50 50 50\n\n",
        p1);
    buf_printf(&exp, "tp-truck|2.2.0\tmodel,firmware\t0\t10000\t%d\t1\t1\t1\tspeed_kmh 1 7 7 7\n\n",
               p2);
    ck_assert_str_eq(rows.data, exp.data);

    /* 3. crash between COMMIT and publish */
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    pid = start_projector(true, port);
    journal(TRUCK2, "tp-truck", "2.2.0", 2, w0 + 5000, 9, NULL, 0);
    wait_i64("SELECT coalesce((SELECT published_version * 10 + version FROM aggregate_windows"
             " WHERE category = 'tp-truck|2.2.0'), -1)",
             12);
    consume(6, 2000); /* held: nothing produced */
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    pid = start_projector(false, port);
    consume(7, 2000);
    char want_c2[256];
    snprintf(want_c2, sizeof(want_c2),
             "tp-truck|2.2.0 w+0 p%d v2 r2 region-t model=tp-truck firmware=2.2.0 "
             "speed_kmh:2/7/9/16",
             p2);
    const char *w4[] = {want_c2};
    expect_records(6, w4, 1);
    wait_i64("SELECT coalesce((SELECT published_version * 10 + version FROM aggregate_windows"
             " WHERE category = 'tp-truck|2.2.0'), -1)",
             22);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);

    buf_release(&rows);
    buf_release(&exp);
    release_stack();
}
END_TEST

START_TEST(test_registry)
{
    setup_stack("aggregate_registry");
    uint16_t reg_port = stack_free_port();
    pid_t reg_pid = stack_service_start(&st, "tp-registry", NULL, reg_port);
    char reg_env[64];
    snprintf(reg_env, sizeof(reg_env), "TP_REGISTRY_URL=http://127.0.0.1:%u", reg_port);
    registry_env[0] = reg_env;
    registry_env[1] = "TP_REGISTRY_USER=" STACK_REGISTRY_OPERATOR;
    registry_env[2] = "TP_REGISTRY_PASSWORD=" STACK_REGISTRY_OPERATOR_PASSWORD;
    /* the Reading registered first (tp-ingest at start), and the journal framed with its id */
    const char *ingest_env[] = {reg_env, "TP_AUTH_MODE=off", STACK_REGISTRY_OPERATOR_ENV, NULL};
    pid_t ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, stack_free_port());
    ck_assert_int_eq(stack_service_stop(ingest_pid, SIGTERM), 0);
    char sql[400];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce((SELECT min(schema_id) FROM registry_versions"
             " WHERE subject = '%s-value' AND NOT deleted), -1)",
             st.topic);
    jc.schema_id = (int32_t)workload_query_i64(db, sql, NULL);
    ck_assert_int_gt(jc.schema_id, 0);
    journal(TRUCK1, "tp-truck", "2.1.7", 1, w0 + 1000, 10, NULL, 0);
    uint16_t port = stack_free_port();
    pid_t pid = start_projector(false, port);
    snprintf(sql, sizeof(sql),
             "SELECT coalesce((SELECT min(v.schema_id) FROM registry_versions v"
             " JOIN registry_schemas s ON s.id = v.schema_id WHERE v.subject = '%s-value'"
             " AND NOT v.deleted AND s.schema_text LIKE '%%message WindowAggregate%%'), -1)",
             agg_topic);
    schema_id = (int32_t)workload_query_i64(db, sql, NULL);
    ck_assert_int_gt(schema_id, 0);
    ck_assert_int_ne(schema_id, jc.schema_id);
    start_consumer();
    consume(1, 0);
    char want[256];
    snprintf(want, sizeof(want),
             "tp-truck|2.1.7 w+0 p%d v1 r1 region-t model=tp-truck firmware=2.1.7 "
             "speed_kmh:1/10/10/10",
             delivered_partition[TRUCK1]);
    const char *w[] = {want};
    expect_records(0, w, 1);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    /* a read credential finds the registered schema: same id, nothing registered again */
    registry_env[1] = "TP_REGISTRY_USER=" STACK_REGISTRY_READER;
    registry_env[2] = "TP_REGISTRY_PASSWORD=" STACK_REGISTRY_READER_PASSWORD;
    pid = start_projector(false, port);
    journal(TRUCK1, "tp-truck", "2.1.7", 2, w0 + 2000, 20, NULL, 0);
    consume(2, 2000);
    snprintf(want, sizeof(want),
             "tp-truck|2.1.7 w+0 p%d v2 r2 region-t model=tp-truck firmware=2.1.7 "
             "speed_kmh:2/10/20/30",
             delivered_partition[TRUCK1]);
    expect_records(1, w, 1);
    ck_assert_int_eq(workload_query_i64(db,
                                        "SELECT count(*) FROM registry_versions"
                                        " WHERE subject LIKE '%.aggregates-value'",
                                        NULL),
                     1);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    ck_assert_int_eq(stack_service_stop(reg_pid, SIGTERM), 0);
    registry_env[0] = registry_env[1] = registry_env[2] = NULL;
    schema_id = 2;
    release_stack();
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

/* Two projectors in one group: after the rebalance each partition's owner continues its
 * partials' versions from PostgreSQL and publishes them, once. */
START_TEST(test_rebalance)
{
    setup_stack("aggregate_rebalance");
    journal(TRUCK1, "tp-truck", "2.1.7", 1, w0 + 1000, 10, NULL, 0);
    journal(CAR1, "tp-car", "1.0", 1, w0 + 500, 100, NULL, 0);
    int pt = delivered_partition[TRUCK1], pc = delivered_partition[CAR1];
    ck_assert_int_ne(pt, pc); /* murmur2 of the two keys over 2 partitions */
    uint16_t port_a = stack_free_port(), port_b = stack_free_port();
    pid_t a = start_projector(false, port_a);
    start_consumer();
    consume(2, 0);
    ck_assert_double_eq(workload_metric(port_a, "tp_projector_aggregates_produced_total"), 2);
    pid_t b = start_projector(false, port_b);
    wait_ready(port_b);
    wait_ready(port_a);
    journal(TRUCK1, "tp-truck", "2.1.7", 3, w0 + 2000, 30, NULL, 0);
    journal(CAR1, "tp-car", "1.0", 3, w0 + 600, 200, NULL, 0);
    consume(4, 3000);
    char want[2][256];
    snprintf(want[0], sizeof(want[0]),
             "tp-truck|2.1.7 w+0 p%d v2 r2 region-t model=tp-truck firmware=2.1.7 "
             "speed_kmh:2/10/30/40",
             pt);
    snprintf(want[1], sizeof(want[1]),
             "tp-car|1.0 w+0 p%d v2 r2 region-t model=tp-car firmware=1.0 "
             "speed_kmh:2/100/200/300",
             pc);
    const char *w[] = {want[0], want[1]};
    expect_records(2, w, 2);
    wait_i64("SELECT count(*) FROM aggregate_windows WHERE version = 2 AND published_version = 2",
             2);
    /* each owner published its partition's partial: a, both first versions and one more */
    ck_assert_double_eq(workload_metric(port_a, "tp_projector_aggregates_produced_total"), 3);
    ck_assert_double_eq(workload_metric(port_b, "tp_projector_aggregates_produced_total"), 1);
    ck_assert_int_eq(stack_service_stop(b, SIGTERM), 0);
    ck_assert_int_eq(stack_service_stop(a, SIGTERM), 0);
    release_stack();
}
END_TEST

static Suite *pipeline_suite(void)
{
    Suite *s = suite_create("aggregate_pipeline");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_pipeline);
    tcase_add_test(tc, test_registry);
    tcase_add_test(tc, test_rebalance);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(pipeline_suite)
