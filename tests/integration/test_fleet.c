/*
 * The global site end to end on the dev stack: WindowAggregate records
 * (protobuf-c, framed with journal/framing.h) produced to two mirrored
 * topics "<run>.region-a.aggregates" and "<run>.region-b.aggregates" (as
 * MirrorMaker 2 names them, under this run's own prefix), folded by
 * tp-projector with projector.fold=fleet (projector.topics a regex), read
 * back through tp-query's GET /v1/fleet/aggregates as exact JSON: merged
 * across both regions, one region, a category prefix, a metric without
 * values, truncation, and every 400 and the 401.
 *
 * The records include a duplicate (MirrorMaker's after a crash), an older
 * version arriving after a newer one (in a later flush), an amendment (a
 * late reading's new version), a record without a region (taken from its
 * topic), and two that never apply (bytes that are not a record; a region
 * its topic contradicts): dead-lettered, the projector goes on. Between the
 * two phases the projector is killed (SIGKILL) and a successor resumes from
 * the offsets in PostgreSQL, per topic and partition. Both projectors'
 * counters and fleet_aggregates' versions are checked exactly.
 */
#include <check.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "journal/framing.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "twinpipe/aggregates/v1/aggregates.pb-c.h"

#define KEY "test-fleet-analyst-key"
#define W0  1796292000000LL /* 2026-12-03T10:00:00Z */
#define MIN 60000LL

static struct stack st;
static PGconn *db;
static char topic_a[160], topic_b[160], topic_dlq[160];
static uint16_t projector_port, query_port;
static pid_t projector_pid, query_pid;

struct metric {
    const char *name;
    uint64_t count;
    double min, max, sum;
};

/* One partial of "model=<model>,firmware=<fw>" as a region's projector publishes it. */
struct partial {
    const char *region; /* "": none (taken from the topic) */
    const char *model, *firmware;
    int64_t window_start_ms;
    int32_t partition;
    uint64_t version, readings;
    struct metric m[2];
};

static void delivered(void *opaque, const struct journal_delivery *d, void *arg)
{
    (void)opaque;
    (void)arg;
    ck_assert_msg(d->err == TP_OK, "not delivered: %s", d->errstr);
}

/* Produces the bytes to topic, key = key, and waits for Kafka's ack. The journal's raw
 * dead-letter path is its one producer of bytes that are not readings: its topic here is the
 * aggregates topic (the tp-* headers it adds are ignored by the fold). */
static void produce_bytes(const char *topic, const char *key, const void *data, size_t len)
{
    char errstr[512];
    struct journal_config jc = {.bootstrap_servers = st.bootstrap,
                                .topic = topic,
                                .dlq_topic = topic,
                                .partitions = 2,
                                .replication = 1};
    struct journal_producer *p;
    ck_assert_int_eq(journal_producer_new(&jc, delivered, NULL, &p, errstr, sizeof(errstr)), TP_OK);
    ck_assert_msg(journal_producer_dead_letter_raw(p, key, data, len, "fleet-test", NULL, NULL, 0,
                                                   NULL, errstr, sizeof(errstr)) == TP_OK,
                  "%s", errstr);
    ck_assert_int_eq(journal_producer_flush(p, 15000), TP_OK);
    journal_producer_poll(p, 0);
    journal_producer_free(p);
}

/* The framed WindowAggregate of x. */
static void produce(const char *topic, const struct partial *x)
{
    Twinpipe__Aggregates__V1__WindowAggregate a = TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__INIT;
    Twinpipe__Aggregates__V1__WindowAggregate__Attribute at[2] = {
        TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__ATTRIBUTE__INIT,
        TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__ATTRIBUTE__INIT};
    Twinpipe__Aggregates__V1__WindowAggregate__Attribute *atp[2] = {&at[0], &at[1]};
    Twinpipe__Aggregates__V1__WindowAggregate__Metric m[2], *mp[2];
    char category[128];
    snprintf(category, sizeof(category), "%s|%s", x->model, x->firmware);
    at[0].name = "model";
    at[0].value = (char *)x->model;
    at[1].name = "firmware";
    at[1].value = (char *)x->firmware;
    a.region = (char *)x->region;
    a.category = category;
    a.n_attributes = 2;
    a.attributes = atp;
    a.has_window_start_ms = a.has_window_ms = a.has_journal_partition = a.has_version = true;
    a.has_readings = true;
    a.window_start_ms = x->window_start_ms;
    a.window_ms = (uint32_t)MIN;
    a.journal_partition = x->partition;
    a.version = x->version;
    a.readings = x->readings;
    for (size_t i = 0; i < 2 && x->m[i].name; i++) {
        Twinpipe__Aggregates__V1__WindowAggregate__Metric e =
            TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__METRIC__INIT;
        e.name = (char *)x->m[i].name;
        e.has_count = e.has_sum = true;
        e.has_min = e.has_max = x->m[i].count > 0;
        e.count = x->m[i].count;
        e.min = x->m[i].min;
        e.max = x->m[i].max;
        e.sum = x->m[i].sum;
        m[i] = e;
        mp[i] = &m[i];
        a.n_metrics = i + 1;
    }
    a.metrics = mp;
    uint8_t buf[4096];
    size_t h = framing_header_encode(buf, sizeof(buf), 42, (int32_t[]){0}, 1);
    size_t n = twinpipe__aggregates__v1__window_aggregate__get_packed_size(&a);
    ck_assert_uint_le(h + n, sizeof(buf));
    twinpipe__aggregates__v1__window_aggregate__pack(&a, buf + h);
    produce_bytes(topic, category, buf, h + n);
}

static long sql_long(const char *sql, const char *p1)
{
    const char *params[] = {p1};
    PGresult *res = PQexecParams(db, sql, p1 ? 1 : 0, NULL, p1 ? params : NULL, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(db));
    long v = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

/* Waits until the projector's offsets of topic in postgresql sum to n (every record folded
 * and committed), at most 90 s. */
static void wait_folded(const char *topic, long n)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(next_offset), 0) FROM projector_offsets"
             " WHERE consumer_group = '%s' AND topic = $1",
             st.topic);
    long got = -1;
    for (int i = 0; i < 900 && got != n; i++) {
        got = sql_long(sql, topic);
        if (got != n)
            usleep(100 * 1000);
    }
    ck_assert_msg(got == n, "%s: %ld records folded, want %ld", topic, got, n);
}

static long get(const char *path_and_query, struct buf *resp)
{
    char url[4096];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", query_port, path_and_query);
    buf_release(resp);
    buf_init(resp, 4 << 20);
    return stack_http("GET", url, NULL, NULL, 0, resp);
}

static const char *enc(const char *s)
{
    static char out[1024];
    char *e = curl_easy_escape(NULL, s, (int)strlen(s));
    snprintf(out, sizeof(out), "%s", e);
    curl_free(e);
    return out;
}

/* GET /v1/fleet/aggregates?<query> answers 200 with exactly body. */
static void expect_json(const char *query, const char *body)
{
    char path[2048];
    struct buf resp;
    buf_init(&resp, 1);
    snprintf(path, sizeof(path), "/v1/fleet/aggregates?%s", query);
    long s = get(path, &resp);
    ck_assert_msg(s == 200, "%s: %ld %s", query, s, resp.data ? resp.data : "");
    ck_assert_str_eq(resp.data, body);
    buf_release(&resp);
}

/* ... answers status with the error code. */
static void expect_error(const char *query, long status, const char *code)
{
    char path[2048], want[128];
    struct buf resp;
    buf_init(&resp, 1);
    snprintf(path, sizeof(path), "/v1/fleet/aggregates?%s", query);
    long s = get(path, &resp);
    ck_assert_msg(s == status, "%s: %ld %s", query, s, resp.data ? resp.data : "");
    snprintf(want, sizeof(want), "{\"error\":{\"code\":\"%s\",", code);
    ck_assert_msg(!strncmp(resp.data, want, strlen(want)), "%s: %s", query, resp.data);
    buf_release(&resp);
}

/* The value of an unlabelled sample in the projector's /metrics. */
static double metric(const char *name)
{
    char url[128], line[256];
    struct buf resp;
    buf_init(&resp, 4 << 20);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", projector_port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    snprintf(line, sizeof(line), "\n%s ", name);
    const char *p = strstr(resp.data, line);
    ck_assert_msg(p != NULL, "no %s in /metrics", name);
    double v = strtod(p + strlen(line), NULL);
    buf_release(&resp);
    return v;
}

/* The fleet fold's /metrics pass `promtool check metrics` with nothing said (the conventions
 * test_metrics_conventions holds the twin fold to). */
static void metrics_promtool_clean(void)
{
    char url[128], path[] = "/tmp/tp-fleet-metrics-XXXXXX", cmd[1024], out[4096];
    struct buf resp;
    buf_init(&resp, 4 << 20);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", projector_port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, resp.data, resp.len), (ssize_t)resp.len);
    close(fd);
    buf_release(&resp);
    snprintf(cmd, sizeof(cmd),
             "promtool=$(bash %s/tests/deploy/tools.sh promtool) && \"$promtool\" check metrics "
             "< %s 2>&1",
             TP_SOURCE_DIR, path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    unlink(path);
    ck_assert_msg(rc == 0 && n == 0, "promtool check metrics (status %d):\n%s", rc, out);
}

/* "TP_QUERY_API_KEYS=<sha256 hex of KEY>" */
static void keys_env(char *out, size_t n)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(KEY, strlen(KEY), d, &dl, EVP_sha256(), NULL);
    size_t o = (size_t)snprintf(out, n, "TP_QUERY_API_KEYS=");
    for (unsigned i = 0; i < dl && o + 3 <= n; i++)
        o += (size_t)snprintf(out + o, n - o, "%02x", d[i]);
}

#define TRUCK "tp-truck"
static const struct partial P1v1 = {
    "region-a", TRUCK, "2.1.7", W0, 0, 1, 3, {{"fuel", 2, 1, 2, 3}, {"speed_kmh", 3, 10, 30, 60}}};
/* the amendment: a late reading of P1's window */
static const struct partial P1v2 = {
    "region-a", TRUCK, "2.1.7", W0, 0, 2, 4, {{"fuel", 2, 1, 2, 3}, {"speed_kmh", 4, 5, 30, 65}}};
static const struct partial P2 = {"region-a", TRUCK, "2.1.7", W0,
                                  1,          1,     2,       {{"speed_kmh", 2, 40, 50, 90}}};
static const struct partial P3 = {"region-a", TRUCK, "2.2.0", W0,
                                  0,          1,     2,       {{"speed_kmh", 2, 70, 75, 145}}};
static const struct partial P4 = {"region-a", "tp-car", "1.0", W0,
                                  0,          1,        5,     {{"speed_kmh", 5, 1, 5, 15}}};
static const struct partial P5 = {"region-a", TRUCK, "2.1.7", W0 + MIN,
                                  0,          1,     2,       {{"speed_kmh", 2, 20, 22, 42}}};
static const struct partial P6 = {
    "region-a", TRUCK, "2.2.0", W0 + 2 * MIN,
    0,          1,     1,       {{"rpm", 0, 0, 0, 0}, {"speed_kmh", 1, 9, 9, 9}}};
static const struct partial Q1v2 = {"region-b", TRUCK, "2.1.7", W0,
                                    0,          2,     3,       {{"speed_kmh", 3, 1, 100, 150}}};
/* an older version of Q1, arriving after the newer one */
static const struct partial Q1v1 = {"region-b", TRUCK, "2.1.7", W0,
                                    0,          1,     1,       {{"speed_kmh", 1, 99, 99, 99}}};
/* no region in the record: region-b from its topic */
static const struct partial Q2 = {"", TRUCK, "2.1.7", W0, 2, 1, 1, {{"speed_kmh", 1, 60, 60, 60}}};
/* region-a's record in region-b's topic: invalid */
static const struct partial Bad = {"region-a", TRUCK, "9.9.9", W0,
                                   0,          1,     1,       {{"speed_kmh", 1, 1, 1, 1}}};

static void setup(void)
{
    char errstr[512];
    stack_init(&st, "fleet");
    stack_db_create(&st);
    db = PQconnectdb(st.dsn);
    ck_assert_int_eq(PQstatus(db), CONNECTION_OK);
    snprintf(topic_a, sizeof(topic_a), "%s.region-a.aggregates", st.topic);
    snprintf(topic_b, sizeof(topic_b), "%s.region-b.aggregates", st.topic);
    snprintf(topic_dlq, sizeof(topic_dlq), "%s.fleet.dlq", st.topic);
    const char *topics[] = {topic_a, topic_b};
    for (int i = 0; i < 2; i++) {
        struct journal_config jc = {.bootstrap_servers = st.bootstrap,
                                    .topic = topics[i],
                                    .partitions = 2,
                                    .replication = 1};
        ck_assert_msg(journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)) == TP_OK, "%s",
                      errstr);
    }
}

static void teardown(void)
{
    if (query_pid > 0)
        stack_service_stop(query_pid, SIGTERM);
    if (projector_pid > 0)
        stack_service_stop(projector_pid, SIGTERM);
    PQfinish(db);
    stack_release(&st);
}

START_TEST(test_fleet_end_to_end)
{
    char regex[256], topics_env[300], dlq_env[200], keys[128];
    snprintf(regex, sizeof(regex), "^%s\\.region-.*\\.aggregates$", st.topic);
    snprintf(topics_env, sizeof(topics_env), "TP_PROJECTOR_TOPICS=%s", regex);
    snprintf(dlq_env, sizeof(dlq_env), "TP_PROJECTOR_DLQ_TOPIC=%s", topic_dlq);
    keys_env(keys, sizeof(keys));

    /* phase 1: the first versions, and two records that never apply */
    produce(topic_a, &P1v1);
    produce(topic_a, &P2);
    produce(topic_a, &P3);
    produce(topic_a, &P4);
    produce(topic_a, &P5);
    produce(topic_a, &P6);
    produce(topic_b, &Q1v2);
    produce(topic_b, &Q2);
    produce_bytes(topic_b, "junk", "\x00\x00\x00\x00\x01\x00\xff\xff", 8);
    produce(topic_b, &Bad);
    projector_port = stack_free_port();
    /* a killed member's partitions wait for its session to time out: keep it short */
    const char *penv[] = {"TP_PROJECTOR_FOLD=fleet",
                          topics_env,
                          dlq_env,
                          "TP_PROJECTOR_FLUSH_INTERVAL_MS=100",
                          "TP_KAFKA_SESSION_TIMEOUT_MS=6000",
                          NULL};
    projector_pid = stack_service_start(&st, "tp-projector", penv, projector_port);
    wait_folded(topic_a, 6);
    wait_folded(topic_b, 4);
    ck_assert_int_eq(sql_long("SELECT count(*) FROM fleet_aggregates", NULL), 8);
    /* the counters: 10 records, 2 dead-lettered, 8 first versions */
    ck_assert_int_eq((long)metric("tp_projector_fleet_records_total"), 10);
    ck_assert_int_eq((long)metric("tp_projector_fleet_stale_total"), 0);
    ck_assert_int_eq((long)metric("tp_projector_fleet_invalid_total"), 2);
    ck_assert_int_eq((long)metric("tp_projector_dead_lettered_total"), 2);
    ck_assert_int_eq((long)metric("tp_projector_fleet_freshness_seconds_count"), 8);
    ck_assert_int_eq((long)metric("tp_projector_fleet_partials_written_total"), 8);
    metrics_promtool_clean();

    /* killed: its successor resumes from the offsets in postgresql, per topic and partition */
    stack_service_stop(projector_pid, SIGKILL);
    projector_pid = stack_service_start(&st, "tp-projector", penv, projector_port);

    /* phase 2, a later flush: the amendment, MirrorMaker's duplicates, an older version */
    produce(topic_a, &P1v2);
    produce(topic_a, &P1v2);
    produce(topic_a, &P3);
    produce(topic_b, &Q1v1);
    wait_folded(topic_a, 9);
    wait_folded(topic_b, 5);

    ck_assert_int_eq(sql_long("SELECT count(*) FROM fleet_aggregates", NULL), 8);
    ck_assert_int_eq(sql_long("SELECT version FROM fleet_aggregates WHERE region = 'region-a'"
                              " AND category = $1 AND journal_partition = 0"
                              " AND window_start = '2026-12-03T10:00:00Z'",
                              "model=tp-truck,firmware=2.1.7"),
                     2);
    ck_assert_int_eq(sql_long("SELECT readings FROM fleet_aggregates WHERE region = 'region-b'"
                              " AND category = $1 AND journal_partition = 0",
                              "model=tp-truck,firmware=2.1.7"),
                     3);
    ck_assert_int_eq(sql_long("SELECT count(*) FROM fleet_aggregates WHERE region = 'region-b'"
                              " AND journal_partition = 2",
                              NULL),
                     1);
    /* the successor's counters: only phase 2's 4 records read, 3 changed nothing, 1 written */
    ck_assert_int_eq((long)metric("tp_projector_fleet_records_total"), 4);
    ck_assert_int_eq((long)metric("tp_projector_fleet_stale_total"), 3);
    ck_assert_int_eq((long)metric("tp_projector_fleet_invalid_total"), 0);
    ck_assert_int_eq((long)metric("tp_projector_fleet_freshness_seconds_count"), 0);
    ck_assert_int_eq((long)metric("tp_projector_fleet_partials_written_total"), 1);
    char errstr[256];
    int64_t dead = 0;
    struct journal_config dc = {.bootstrap_servers = st.bootstrap, .topic = topic_dlq};
    ck_assert_int_eq(journal_topic_count(&dc, 10000, &dead, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(dead, 2);

    /* tp-query */
    query_port = stack_free_port();
    const char *qenv[] = {keys, "TP_QUERY_FLEET_WINDOWS_MAX=2", NULL};
    query_pid = stack_service_start(&st, "tp-query", qenv, query_port);
    stack_set_bearer(KEY);
    char q[1200];
    const char *exact = enc("model=tp-truck,firmware=2.1.7");
    /* merged across both regions: region absent, then both named */
    snprintf(q, sizeof(q), "category=%s&from=2026-12-03T10:00:00Z&until=2026-12-03T10:02:00Z",
             exact);
    static const char merged[] =
        "{\"window_ms\":60000,\"windows\":[{\"start\":\"2026-12-03T10:00:00.000Z\","
        "\"readings\":10,\"regions\":[\"region-a\",\"region-b\"],\"metrics\":{\"fuel\":"
        "{\"count\":2,\"min\":1,\"max\":2,\"sum\":3,\"avg\":1.5},\"speed_kmh\":{\"count\":10,"
        "\"min\":1,\"max\":100,\"sum\":365,\"avg\":36.5}}},{\"start\":"
        "\"2026-12-03T10:01:00.000Z\",\"readings\":2,\"regions\":[\"region-a\"],\"metrics\":"
        "{\"speed_kmh\":{\"count\":2,\"min\":20,\"max\":22,\"sum\":42,\"avg\":21}}}],"
        "\"truncated\":false}";
    expect_json(q, merged);
    snprintf(q, sizeof(q),
             "region=region-a&category=%s&region=region-b&from=2026-12-03T10:00:00Z"
             "&until=2026-12-03T10:02:00Z",
             exact);
    expect_json(q, merged);
    /* one region */
    snprintf(q, sizeof(q),
             "category=%s&region=region-b&from=2026-12-03T10:00:00Z&until=2026-12-03T10:02:00Z",
             exact);
    expect_json(q, "{\"window_ms\":60000,\"windows\":[{\"start\":\"2026-12-03T10:00:00.000Z\","
                   "\"readings\":4,\"regions\":[\"region-b\"],\"metrics\":{\"speed_kmh\":"
                   "{\"count\":4,\"min\":1,\"max\":100,\"sum\":210,\"avg\":52.5}}}],"
                   "\"truncated\":false}");
    /* a prefix of whole attributes: every firmware of tp-truck (not tp-car); three windows,
     * two answered (query.fleet_windows_max) */
    snprintf(q, sizeof(q), "category=%s&from=2026-12-03T10:00:00Z&until=2026-12-03T10:03:00Z",
             enc("model=tp-truck"));
    expect_json(q, "{\"window_ms\":60000,\"windows\":[{\"start\":\"2026-12-03T10:00:00.000Z\","
                   "\"readings\":12,\"regions\":[\"region-a\",\"region-b\"],\"metrics\":{\"fuel\":"
                   "{\"count\":2,\"min\":1,\"max\":2,\"sum\":3,\"avg\":1.5},\"speed_kmh\":"
                   "{\"count\":12,\"min\":1,\"max\":100,\"sum\":510,\"avg\":42.5}}},{\"start\":"
                   "\"2026-12-03T10:01:00.000Z\",\"readings\":2,\"regions\":[\"region-a\"],"
                   "\"metrics\":{\"speed_kmh\":{\"count\":2,\"min\":20,\"max\":22,\"sum\":42,"
                   "\"avg\":21}}}],\"truncated\":true}");
    /* the third window: a metric without values */
    snprintf(q, sizeof(q), "category=%s&from=2026-12-03T10:02:00Z&until=2026-12-03T10:03:00Z",
             enc("model=tp-truck"));
    expect_json(q, "{\"window_ms\":60000,\"windows\":[{\"start\":\"2026-12-03T10:02:00.000Z\","
                   "\"readings\":1,\"regions\":[\"region-a\"],\"metrics\":{\"rpm\":{\"count\":0,"
                   "\"min\":null,\"max\":null,\"sum\":0,\"avg\":null},\"speed_kmh\":{\"count\":1,"
                   "\"min\":9,\"max\":9,\"sum\":9,\"avg\":9}}}],\"truncated\":false}");
    /* another model; a prefix that is not whole attributes; an unknown region */
    snprintf(q, sizeof(q), "category=%s&from=2026-12-03T10:00:00Z&until=2026-12-03T11:00:00Z",
             enc("model=tp-car"));
    expect_json(q, "{\"window_ms\":60000,\"windows\":[{\"start\":\"2026-12-03T10:00:00.000Z\","
                   "\"readings\":5,\"regions\":[\"region-a\"],\"metrics\":{\"speed_kmh\":"
                   "{\"count\":5,\"min\":1,\"max\":5,\"sum\":15,\"avg\":3}}}],"
                   "\"truncated\":false}");
    static const char none[] = "{\"window_ms\":null,\"windows\":[],\"truncated\":false}";
    snprintf(q, sizeof(q), "category=%s&from=2026-12-03T10:00:00Z&until=2026-12-03T11:00:00Z",
             enc("model=tp-tru"));
    expect_json(q, none);
    snprintf(q, sizeof(q),
             "category=%s&region=region-c&from=2026-12-03T10:00:00Z&until=2026-12-03T11:00:00Z",
             exact);
    expect_json(q, none);

    /* 400 invalid_parameter */
    expect_error("category=model%3Dtp-truck&from=2026-12-03T10:00:00Z", 400, "invalid_parameter");
    expect_error("from=2026-12-03T10:00:00Z&until=2026-12-03T11:00:00Z", 400, "invalid_parameter");
    expect_error("category=model%3Dtp-truck&from=2026-12-03T10:00:00Z"
                 "&until=2026-12-03T10:00:00Z",
                 400, "invalid_parameter");
    expect_error("category=model%3Dtp-truck&from=2026-11-01T00:00:00Z"
                 "&until=2026-12-03T00:00:00Z",
                 400, "invalid_parameter");
    expect_error("category=model&from=2026-12-03T10:00:00Z&until=2026-12-03T11:00:00Z", 400,
                 "invalid_parameter");
    expect_error("category=model%3Dtp-truck&from=yesterday&until=2026-12-03T11:00:00Z", 400,
                 "invalid_parameter");
    expect_error("category=model%3Dtp-truck&from=2026-12-03T10:00:00Z&from=2026-12-03T10:00:00Z"
                 "&until=2026-12-03T11:00:00Z",
                 400, "invalid_parameter");
    expect_error("category=model%3Dtp-truck&from=2026-12-03T10:00:00Z"
                 "&until=2026-12-03T11:00:00Z&after=t1.0%3A1",
                 400, "invalid_parameter");
    expect_error("category=model%3Dtp-truck&from=2026-12-03T10:00:00Z"
                 "&until=2026-12-03T11:00:00Z&foo=1",
                 400, "invalid_parameter");
    /* exactly 31 days is allowed */
    expect_json("category=model%3Dtp-truck&from=2026-11-02T00:00:00Z&until=2026-12-03T00:00:00Z",
                none);
    /* 401 without the analyst key */
    stack_set_bearer(NULL);
    expect_error("category=model%3Dtp-truck&from=2026-12-03T10:00:00Z&until=2026-12-03T11:00:00Z",
                 401, "unauthorized");

    /* a clean stop: the final flush, the group left */
    ck_assert_int_eq(stack_service_stop(query_pid, SIGTERM), 0);
    query_pid = 0;
    ck_assert_int_eq(stack_service_stop(projector_pid, SIGTERM), 0);
    projector_pid = 0;
}
END_TEST

static Suite *fleet_suite(void)
{
    Suite *s = suite_create("fleet");
    TCase *tc = tcase_create("end_to_end");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_fleet_end_to_end);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(fleet_suite)
