/*
 * tp-query against the dev stack's PostgreSQL, on fixture twins (records
 * built with the twin library, twin/record.h, inserted with SQL) and
 * metric_minutes rows: every endpoint's exact JSON, every error code,
 * keyset pagination while the twins change underneath, the search index
 * following inserts, updates and a truncation, the page's twins read by
 * primary key (EXPLAIN), JSON escaping of any attribute string, and SQL
 * injection attempts in every parameter. After writing twins a test waits
 * until the search index's snapshot is past its writes (fresh(): the
 * index's snapshot xmax on /metrics), never a fixed time.
 */
#include <check.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "journal/journal.h"
#include "query/cursor.h"
#include "query/lookup.h"
#include "query/params.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"
#include "tests/support/stack.h"
#include "tests/support/twindb.h"
#include "twin/record.h"
#include "twin/rows.h"
#include "twin/twin.h"

static struct stack st;
static uint16_t query_port;
static pid_t query_pid;
static PGconn *db;

#define ANALYST_KEY "test-analyst-key-0001"
static char keys_env[128];
/* read-your-writes against projector_offsets rows the tests write themselves */
static const char *query_env[] = {"TP_QUERY_ONLINE_WINDOW_S=300",
                                  "TP_QUERY_PROJECTOR_GROUP=tq-group",
                                  "TP_QUERY_TOPIC=tq-topic",
                                  "TP_QUERY_CONSISTENCY_WAIT_MS=700",
                                  "TP_QUERY_SEARCH_REFRESH_MS=50",
                                  keys_env,
                                  NULL};

/* "TP_QUERY_API_KEYS=<sha256 hex of key>" */
static void keys_env_for(const char *key, char *out, size_t n)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(key, strlen(key), d, &dl, EVP_sha256(), NULL);
    size_t o = (size_t)snprintf(out, n, "TP_QUERY_API_KEYS=");
    for (unsigned i = 0; i < dl && o + 3 <= n; i++)
        o += (size_t)snprintf(out + o, n - o, "%02x", d[i]);
}

static void sql_exec(const char *sql)
{
    PGresult *res = PQexec(db, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(db));
    PQclear(res);
}

static long sql_count(const char *sql)
{
    PGresult *res = PQexec(db, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(db));
    long n = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

/* Member of an object by exact key (keys may contain dots), or NULL. */
static const struct jv *member(const struct jv *o, const char *key)
{
    for (size_t i = 0; o && o->type == JV_OBJ && i < o->n; i++)
        if (!strcmp(o->keys[i], key))
            return o->items[i];
    return NULL;
}

#define FIRST_SEEN_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

/*
 * A twin from the fixtures' JSON: metrics {"name":{"value":v,"ts":ms,"min":..,"max":..,
 * "sum":..,"count":n,"minute":[min,max,sum,count]}} (all but value optional: no count means
 * no statistics yet, "minute" the open minute's figures), attributes {"model":"..",..}.
 * first_seen 2026-01-01, last_sequence = events.
 */
static struct twin *twin_build(const char *id, int64_t last_seen_ms, long events,
                               const char *metrics, const char *attributes, int64_t minute_ms)
{
    struct twin *t = twin_new(id);
    t->first_seen_ms = FIRST_SEEN_MS;
    t->last_seen_ms = last_seen_ms;
    t->last_sequence = events;
    t->events = events;
    t->minute_ms = minute_ms;
    struct jv *m = jv_parse(metrics ? metrics : "{}");
    ck_assert_msg(m != NULL, "%s", metrics);
    for (size_t i = 0; i < m->n; i++) {
        const struct jv *o = m->items[i], *ts = member(o, "ts"), *count = member(o, "count"),
                        *minute = member(o, "minute");
        struct twin_metric *x =
            twin_metric_set(t, m->keys[i], member(o, "value")->num, ts ? (int64_t)ts->num : 0);
        if (count) {
            x->min = member(o, "min")->num;
            x->max = member(o, "max")->num;
            x->sum = member(o, "sum")->num;
            x->count = (int64_t)count->num;
        }
        if (minute) {
            x->mmin = minute->items[0]->num;
            x->mmax = minute->items[1]->num;
            x->msum = minute->items[2]->num;
            x->mcount = (int64_t)minute->items[3]->num;
        }
    }
    jv_free(m);
    struct jv *a = jv_parse(attributes ? attributes : "{}");
    ck_assert_msg(a != NULL, "%s", attributes);
    for (size_t i = 0; i < a->n; i++)
        twin_attr_set(t, a->keys[i], a->items[i]->str);
    jv_free(a);
    return t;
}

/* Inserts t on c (updated_at 2026-01-02T00:00:00Z), or replaces the row of its device. */
static void twin_put(PGconn *c, const struct twin *t)
{
    uint8_t *rec = tp_malloc(twin_record_bound(t));
    size_t len = twin_record_write(rec, t);
    char version[32], last_seen[32];
    snprintf(version, sizeof(version), "%lld", (long long)t->events);
    snprintf(last_seen, sizeof(last_seen), "%lld", (long long)t->last_seen_ms);
    const char *params[] = {t->device_id, version, last_seen, (const char *)rec};
    int lengths[] = {0, 0, 0, (int)len}, formats[] = {0, 0, 0, 1};
    PGresult *res = PQexecParams(
        c,
        "INSERT INTO twins (device_id, version, last_seen, updated_at, state) VALUES ($1, $2,"
        " timestamptz 'epoch' + $3::int8 * interval '1 millisecond',"
        " timestamptz '2026-01-02T00:00:00Z', $4) ON CONFLICT (device_id) DO UPDATE SET"
        " version = excluded.version, last_seen = excluded.last_seen, state = excluded.state,"
        " written_xid = pg_current_xact_id()",
        4, NULL, params, lengths, formats, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(res);
    free(rec);
}

/* Device time in ms of a SQL timestamptz expression (a literal or an expression of now()). */
static int64_t sql_ms(const char *expr)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT round(extract(epoch FROM (%s)) * 1000)::int8", expr);
    return sql_count(sql);
}

/* One twin; last_seen is SQL (a literal or an expression of now()). */
static void twin(const char *id, const char *last_seen_sql, long events, const char *metrics,
                 const char *attributes)
{
    struct twin *t =
        twin_build(id, sql_ms(last_seen_sql), events, metrics, attributes, TWIN_NO_MINUTE);
    twin_put(db, t);
    twin_free(t);
}

/* Many twins in one binary COPY (twin/rows.h); updated_at now(). */
static void twins_copy(struct twin **ts, size_t n)
{
    struct buf b;
    buf_init(&b, 1 << 30);
    twin_rows_header(&b);
    for (size_t i = 0; i < n; i++)
        twin_rows_twin(&b, ts[i]);
    twin_rows_trailer(&b);
    PGresult *res = PQexec(db, "COPY twins (device_id, version, last_seen, state) FROM STDIN"
                               " (FORMAT binary)");
    ck_assert_int_eq(PQresultStatus(res), PGRES_COPY_IN);
    PQclear(res);
    ck_assert_int_eq(PQputCopyData(db, b.data, (int)b.len), 1);
    ck_assert_int_eq(PQputCopyEnd(db, NULL), 1);
    res = PQgetResult(db);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(db));
    PQclear(res);
    while ((res = PQgetResult(db)))
        PQclear(res);
    buf_release(&b);
}

static long get(const char *path_and_query, struct buf *resp)
{
    char url[8192];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", query_port, path_and_query);
    return stack_http("GET", url, NULL, NULL, 0, resp);
}

/* URL-encodes s (static buffer, one at a time). */
static const char *enc(const char *s)
{
    static char out[1024];
    char *e = curl_easy_escape(NULL, s, (int)strlen(s));
    snprintf(out, sizeof(out), "%s", e);
    curl_free(e);
    return out;
}

static void expect_error(long status, const char *body, long want, const char *code)
{
    ck_assert_msg(status == want, "status %ld, want %ld: %s", status, want, body ? body : "");
    struct jv *doc = jv_parse(body);
    ck_assert_msg(doc != NULL, "not JSON: %s", body);
    ck_assert_str_eq(jv_str(doc, "error.code"), code);
    ck_assert_uint_gt(strlen(jv_str(doc, "error.message")), 0);
    jv_free(doc);
}

/* GET path_and_query answers status with the error code. */
static void expect_get(const char *path_and_query, long status, const char *code)
{
    struct buf resp;
    buf_init(&resp, 1 << 20);
    long s = get(path_and_query, &resp);
    expect_error(s, resp.data, status, code);
    buf_release(&resp);
}

/* The device ids of a list answer, comma-separated, and its next_cursor ("" when null). */
static void ids_of(const char *body, char *ids, size_t n, char *cursor, size_t cn)
{
    struct jv *doc = jv_parse(body);
    ck_assert_msg(doc != NULL, "not JSON: %s", body);
    ids[0] = '\0';
    size_t len = jv_len(doc, "devices");
    for (size_t i = 0; i < len; i++) {
        char path[64];
        snprintf(path, sizeof(path), "devices.%zu.device_id", i);
        size_t l = strlen(ids);
        snprintf(ids + l, n - l, "%s%s", i ? "," : "", jv_str(doc, path));
    }
    const struct jv *c = jv_path(doc, "next_cursor");
    ck_assert_ptr_nonnull(c);
    if (cursor)
        snprintf(cursor, cn, "%s", c->type == JV_STR ? c->str : "");
    jv_free(doc);
}

static void expect_ids(const char *path_and_query, const char *want)
{
    struct buf resp;
    char ids[8192];
    buf_init(&resp, 16 << 20);
    long s = get(path_and_query, &resp);
    ck_assert_msg(s == 200, "%s: %ld %s", path_and_query, s, resp.data);
    ids_of(resp.data, ids, sizeof(ids), NULL, 0);
    ck_assert_msg(!strcmp(ids, want), "%s: got [%s], want [%s]", path_and_query, ids, want);
    buf_release(&resp);
}

/* The value of a /metrics sample (without labels), or -1 when absent. */
static double metric_value(const char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

/*
 * Waits until the search index holds every write this test committed: a new transaction id
 * X is taken after them, and the index's snapshot (tp_query_search_snapshot_xmax) must be
 * past it. Deterministic: no fixed sleep, bounded by a 10 s deadline.
 */
static void fresh(void)
{
    double x = (double)sql_count("SELECT pg_current_xact_id()::text::int8");
    struct buf resp;
    buf_init(&resp, 4 << 20);
    int64_t deadline = tp_mono_ms() + 10000;
    for (;;) {
        ck_assert_int_eq(get("/metrics", &resp), 200);
        if (metric_value(resp.data, "tp_query_search_snapshot_xmax") > x)
            break;
        ck_assert_msg(tp_mono_ms() < deadline, "the search index did not pass xid %.0f", x);
        usleep(5 * 1000);
    }
    buf_release(&resp);
}

static void setup(void)
{
    stack_init(&st, "query");
    stack_db_create(&st);
    db = PQconnectdb(st.dsn);
    ck_assert_msg(PQstatus(db) == CONNECTION_OK, "%s", PQerrorMessage(db));
    keys_env_for(ANALYST_KEY, keys_env, sizeof(keys_env));
    stack_set_bearer(ANALYST_KEY);
    query_port = stack_free_port();
    query_pid = stack_service_start(&st, "tp-query", query_env, query_port);
}

static void teardown(void)
{
    int q = stack_service_stop(query_pid, SIGTERM);
    PQfinish(db);
    stack_release(&st);
    ck_assert_int_eq(q, 0);
}

/* Four twins with fixed times: the exact documents of a page, and its cursor. */
static void fixture_four(void)
{
    sql_exec("TRUNCATE twins, metric_minutes");
    twin("dev-a", "timestamptz '2026-03-01T10:00:00.123Z'", 3,
         "{\"speed_kmh\":{\"value\":10.5,\"ts\":1772359200123,\"min\":1,\"max\":20,\"sum\":31.5,"
         "\"count\":3}}",
         "{\"model\":\"m1\",\"region\":\"eu\",\"firmware\":\"1.0\"}");
    twin("dev-b", "timestamptz '2026-03-01T09:00:00Z'", 1, "{\"speed_kmh\":{\"value\":99}}",
         "{\"model\":\"m2\",\"region\":\"eu\"}");
    twin("dev-c", "timestamptz '2026-03-01T11:00:00Z'", 2, "{}", "{\"model\":\"m1\"}");
    twin("dev-d", "timestamptz '2026-03-01T08:00:00Z'", 5,
         "{\"fuel_level_pct\":{\"value\":42},\"cabin.co2\":{\"value\":800}}",
         "{\"model\":\"m2\",\"region\":\"us\",\"firmware\":\"2.0\"}");
    fresh();
}

/* The documents as tp-query renders them (twin/render.h) */
#define TWIN_A                                                                                     \
    "{\"device_id\":\"dev-a\",\"first_seen\":\"2026-01-01T00:00:00.000Z\","                        \
    "\"last_seen\":\"2026-03-01T10:00:00.123Z\",\"last_sequence\":3,\"events\":3,"                 \
    "\"metrics\":{\"speed_kmh\":{\"value\":10.5,\"ts\":1772359200123,\"min\":1,\"max\":20,"        \
    "\"sum\":31.5,\"count\":3}},\"location\":null,\"attributes\":{\"model\":\"m1\","               \
    "\"firmware\":\"1.0\",\"region\":\"eu\"},\"updated_at\":\"2026-01-02T00:00:00.000Z\"}"
#define TWIN_B                                                                                     \
    "{\"device_id\":\"dev-b\",\"first_seen\":\"2026-01-01T00:00:00.000Z\","                        \
    "\"last_seen\":\"2026-03-01T09:00:00.000Z\",\"last_sequence\":1,\"events\":1,"                 \
    "\"metrics\":{\"speed_kmh\":{\"value\":99,\"ts\":0,\"min\":null,\"max\":null,"                 \
    "\"sum\":null,\"count\":0}},\"location\":null,\"attributes\":{\"model\":\"m2\","               \
    "\"region\":\"eu\"},\"updated_at\":\"2026-01-02T00:00:00.000Z\"}"

START_TEST(test_list_exact)
{
    fixture_four();
    struct buf resp, want;
    buf_init(&resp, 1 << 20);
    buf_init(&want, 1 << 20);
    ck_assert_int_eq(get("/v1/devices?limit=2", &resp), 200);
    /* the cursor after dev-b, for this query (sort device_id, no filter) */
    struct list_params p = {.sort = SORT_DEVICE_ID, .limit = 2};
    struct buf fp;
    buf_init(&fp, 4096);
    params_list_fingerprint(&p, &fp);
    struct cursor c = {.sort = SORT_DEVICE_ID};
    snprintf(c.device_id, sizeof(c.device_id), "dev-b");
    char cursor[CURSOR_TEXT_MAX];
    cursor_encode(STACK_CURSOR_SECRET, &c, fp.data, fp.len, cursor, sizeof(cursor));
    buf_printf(&want, "{\"devices\":[" TWIN_A "," TWIN_B "],\"next_cursor\":\"%s\"}", cursor);
    ck_assert_str_eq(resp.data, want.data);

    char url[512];
    snprintf(url, sizeof(url), "/v1/devices?limit=2&cursor=%s", cursor);
    ck_assert_int_eq(get(url, &resp), 200);
    char ids[256], next[CURSOR_TEXT_MAX];
    ids_of(resp.data, ids, sizeof(ids), next, sizeof(next));
    ck_assert_str_eq(ids, "dev-c,dev-d");
    ck_assert_str_eq(next, "");
    ck_assert_ptr_nonnull(strstr(resp.data, "],\"next_cursor\":null}"));

    /* the single lookup is the same document */
    ck_assert_int_eq(get("/v1/devices/dev-a", &resp), 200);
    ck_assert_str_eq(resp.data, TWIN_A);
    ck_assert_str_eq(stack_last_etag(), "\"v3\"");

    /* nothing matches: an empty page */
    ck_assert_int_eq(get("/v1/devices?model=none", &resp), 200);
    ck_assert_str_eq(resp.data, "{\"devices\":[],\"next_cursor\":null}");
    buf_release(&fp);
    buf_release(&resp);
    buf_release(&want);
}
END_TEST

START_TEST(test_list_filters)
{
    fixture_four();
    expect_ids("/v1/devices", "dev-a,dev-b,dev-c,dev-d");
    expect_ids("/v1/devices?model=m1", "dev-a,dev-c");
    expect_ids("/v1/devices?model=m2&region=eu", "dev-b");
    expect_ids("/v1/devices?region=us&firmware=2.0", "dev-d");
    expect_ids("/v1/devices?firmware=1.0", "dev-a");
    expect_ids("/v1/devices?metric.speed_kmh.gt=10.5", "dev-b");
    expect_ids("/v1/devices?metric.speed_kmh.ge=10.5", "dev-a,dev-b");
    expect_ids("/v1/devices?metric.speed_kmh.lt=99", "dev-a");
    expect_ids("/v1/devices?metric.speed_kmh.le=99&metric.speed_kmh.gt=10", "dev-a,dev-b");
    expect_ids("/v1/devices?metric.cabin.co2.ge=800", "dev-d"); /* a dotted, unindexed metric */
    expect_ids("/v1/devices?metric.fuel_level_pct.lt=50", "dev-d");
    expect_ids("/v1/devices?last_seen_after=2026-03-01T09:00:00Z", "dev-a,dev-b,dev-c");
    expect_ids("/v1/devices?last_seen_before=2026-03-01T09:00:00Z", "dev-d");
    expect_ids("/v1/devices?last_seen_after=2026-03-01T10:00:00.123Z"
               "&last_seen_before=2026-03-01T11:00:00Z",
               "dev-a");
    expect_ids("/v1/devices?last_seen_after=2026-03-01T10:00:00%2B01:00", "dev-a,dev-b,dev-c");
    expect_ids("/v1/devices?sort=-device_id", "dev-d,dev-c,dev-b,dev-a");
    expect_ids("/v1/devices?sort=last_seen", "dev-d,dev-b,dev-a,dev-c");
    expect_ids("/v1/devices?sort=-last_seen&model=m2", "dev-b,dev-d");
    /* status by the silence threshold, relative to now() */
    twin("dev-on", "now() - interval '299 seconds'", 1, "{}", "{}");
    twin("dev-off", "now() - interval '301 seconds'", 1, "{}", "{}");
    fresh();
    expect_ids("/v1/devices?status=online", "dev-on");
    expect_ids("/v1/devices?status=offline&sort=-last_seen", "dev-off,dev-c,dev-a,dev-b,dev-d");
}
END_TEST

/* Paging sorted by last_seen, several pages, exact order and the last page's null cursor. */
START_TEST(test_list_pages_by_last_seen)
{
    fixture_four();
    const char *want[] = {"dev-c,dev-a", "dev-b,dev-d"};
    char url[512] = "/v1/devices?sort=-last_seen&limit=2", ids[256], cursor[CURSOR_TEXT_MAX];
    struct buf resp;
    buf_init(&resp, 1 << 20);
    for (int page = 0; page < 2; page++) {
        ck_assert_int_eq(get(url, &resp), 200);
        ids_of(resp.data, ids, sizeof(ids), cursor, sizeof(cursor));
        ck_assert_str_eq(ids, want[page]);
        snprintf(url, sizeof(url), "/v1/devices?sort=-last_seen&limit=2&cursor=%s", cursor);
    }
    ck_assert_str_eq(cursor, ""); /* exactly 4: the second page is the last */
    buf_release(&resp);
}
END_TEST

#define PAGED_DEVICES 1000

static atomic_bool updater_stop;
static atomic_long updater_updates, updater_inserts;

#define UPDATER_RECORDS 64

/* Records built before the updater starts (the twin library's names belong to one thread). */
static struct twin *updater_twins[UPDATER_RECORDS];

/* Changes last_seen, metrics and version of random twins (to one of the prepared records), and
 * adds new ones, until told to stop. */
static void *updater_main(void *arg)
{
    PGconn *c = PQconnectdb(arg);
    unsigned seed = 7;
    long n = 0;
    while (!atomic_load(&updater_stop) && PQstatus(c) == CONNECTION_OK) {
        char id[32], newid[32], ms[32];
        snprintf(id, sizeof(id), "pg-%05d", rand_r(&seed) % PAGED_DEVICES);
        snprintf(newid, sizeof(newid), "pg-%05ld-new", n++);
        const struct twin *t = updater_twins[rand_r(&seed) % UPDATER_RECORDS];
        uint8_t rec[4096];
        size_t len = twin_record_write(rec, t);
        snprintf(ms, sizeof(ms), "%lld", (long long)t->last_seen_ms);
        const char *p1[] = {id, ms, (const char *)rec};
        int lengths[] = {0, 0, (int)len}, formats[] = {0, 0, 1};
        PGresult *res =
            PQexecParams(c,
                         "UPDATE twins SET last_seen = timestamptz 'epoch' + $2::int8 * interval "
                         "'1 millisecond',"
                         " version = version + 1, state = $3, written_xid = pg_current_xact_id()"
                         " WHERE device_id = $1",
                         3, NULL, p1, lengths, formats, 0);
        if (PQresultStatus(res) == PGRES_COMMAND_OK)
            atomic_fetch_add(&updater_updates, 1);
        PQclear(res);
        const char *p2[] = {newid, ms, (const char *)rec};
        res = PQexecParams(c,
                           "INSERT INTO twins (device_id, version, last_seen, state) VALUES ($1, 1,"
                           " timestamptz 'epoch' + $2::int8 * interval '1 millisecond', $3)",
                           3, NULL, p2, lengths, formats, 0);
        if (PQresultStatus(res) == PGRES_COMMAND_OK)
            atomic_fetch_add(&updater_inserts, 1);
        PQclear(res);
    }
    PQfinish(c);
    return NULL;
}

START_TEST(test_pagination_under_updates)
{
    sql_exec("TRUNCATE twins, metric_minutes");
    int64_t now = tp_now_ms();
    struct twin **ts = tp_calloc(PAGED_DEVICES, sizeof(*ts));
    for (int i = 0; i < PAGED_DEVICES; i++) {
        char id[32];
        snprintf(id, sizeof(id), "pg-%05d", i);
        ts[i] = twin_build(id, now - i * 1000LL, 1, "{}", "{}", TWIN_NO_MINUTE);
    }
    twins_copy(ts, PAGED_DEVICES);
    for (int i = 0; i < PAGED_DEVICES; i++)
        twin_free(ts[i]);
    free(ts);
    for (int i = 0; i < UPDATER_RECORDS; i++) {
        char metrics[128];
        snprintf(metrics, sizeof(metrics), "{\"speed_kmh\":{\"value\":%d}}", i * 7 % 100);
        updater_twins[i] = twin_build("x", now + i * 10LL, 2 + i, metrics, "{}", TWIN_NO_MINUTE);
    }
    fresh();
    atomic_store(&updater_stop, false);
    pthread_t th;
    pthread_create(&th, NULL, updater_main, st.dsn);
    while (atomic_load(&updater_updates) < 10)
        usleep(1000);

    int *seen = tp_calloc(PAGED_DEVICES, sizeof(int));
    char url[512] = "/v1/devices?limit=37", cursor[CURSOR_TEXT_MAX];
    struct buf resp;
    buf_init(&resp, 16 << 20);
    int pages = 0;
    long updates_before = atomic_load(&updater_updates);
    do {
        ck_assert_int_eq(get(url, &resp), 200);
        struct jv *doc = jv_parse(resp.data);
        ck_assert_ptr_nonnull(doc);
        for (size_t i = 0; i < jv_len(doc, "devices"); i++) {
            char path[64];
            snprintf(path, sizeof(path), "devices.%zu.device_id", i);
            const char *id = jv_str(doc, path);
            if (strlen(id) == 8) /* pg-NNNNN; the -new ones may or may not be seen */
                seen[atoi(id + 3)]++;
        }
        const struct jv *c = jv_path(doc, "next_cursor");
        snprintf(cursor, sizeof(cursor), "%s", c->type == JV_STR ? c->str : "");
        jv_free(doc);
        snprintf(url, sizeof(url), "/v1/devices?limit=37&cursor=%s", cursor);
        pages++;
        usleep(2000); /* let the updater move things between pages */
    } while (cursor[0]);
    long updates_during = atomic_load(&updater_updates) - updates_before;
    atomic_store(&updater_stop, true);
    pthread_join(th, NULL);
    for (int i = 0; i < UPDATER_RECORDS; i++)
        twin_free(updater_twins[i]);
    for (int i = 0; i < PAGED_DEVICES; i++)
        ck_assert_msg(seen[i] == 1, "pg-%05d seen %d times", i, seen[i]);
    ck_assert_int_ge(pages, PAGED_DEVICES / 37);
    ck_assert_msg(updates_during >= pages, "only %ld updates during %d pages", updates_during,
                  pages);
    free(seen);
    buf_release(&resp);
}
END_TEST

/* The plan of the statement that reads a page's twins (lookup.h), for ids. */
static void expect_lookup_plan(const char *ids)
{
    const char *params[] = {ids};
    PGresult *res = PQexecParams(db,
                                 "EXPLAIN SELECT device_id, version, updated_at, state FROM twins"
                                 " WHERE device_id = ANY($1::text[])",
                                 1, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
    struct buf plan;
    buf_init(&plan, 1 << 16);
    for (int r = 0; r < PQntuples(res); r++)
        buf_printf(&plan, "%s\n", PQgetvalue(res, r, 0));
    PQclear(res);
    ck_assert_msg(strstr(plan.data, "twins_pkey") != NULL && strstr(plan.data, "Seq Scan") == NULL,
                  "want twins_pkey in\n%s", plan.data);
    buf_release(&plan);
}

/* The ids a list page shows: the first n of ix-NNNNNN from `from` stepping by `step`. */
static void expect_ix_ids(const char *path_and_query, int from, int step, int n)
{
    char want[8192] = "";
    for (int i = 0; i < n; i++) {
        size_t l = strlen(want);
        snprintf(want + l, sizeof(want) - l, "%six-%06d", i ? "," : "", from + i * step);
    }
    expect_ids(path_and_query, want);
}

/*
 * The twins table keeps only its primary key (migration 0009): filters and sorts are served
 * by the search index in tp-query's memory, and a page's twins are read by primary key. 20,000
 * twins with skewed values: every filter and sort of the old indexed plans answers exactly,
 * and the page statement is an index scan of twins_pkey (no sequential scan).
 */
START_TEST(test_list_uses_primary_key)
{
    sql_exec("TRUNCATE twins, metric_minutes");
    int64_t now = tp_now_ms();
    size_t n = 20000;
    struct twin **ts = tp_calloc(n, sizeof(*ts));
    for (size_t i = 0; i < n; i++) {
        char id[32], metrics[512], attrs[256];
        snprintf(id, sizeof(id), "ix-%06zu", i);
        bool rare = i < 5, top = i < 3;
        snprintf(metrics, sizeof(metrics),
                 "{\"speed_kmh\":{\"value\":%d},\"fuel_level_pct\":{\"value\":%d},"
                 "\"battery_voltage_v\":{\"value\":%d},\"engine_temp_c\":{\"value\":%d}}",
                 top ? 500 : (int)(i % 100), top ? -1 : (int)(i % 90), top ? 99 : 12 + (int)(i % 3),
                 top ? 200 : 80 + (int)(i % 20));
        if (rare)
            snprintf(attrs, sizeof(attrs),
                     "{\"model\":\"rare\",\"region\":\"rare\",\"firmware\":\"rare\"}");
        else
            snprintf(attrs, sizeof(attrs),
                     "{\"model\":\"m%zu\",\"region\":\"r%zu\",\"firmware\":\"f%zu\"}", i % 4, i % 3,
                     i % 2);
        ts[i] = twin_build(id, top ? now : now - 86400000LL - (int64_t)i * 60000, 1, metrics, attrs,
                           TWIN_NO_MINUTE);
    }
    twins_copy(ts, n);
    for (size_t i = 0; i < n; i++)
        twin_free(ts[i]);
    free(ts);
    sql_exec("ANALYZE twins");
    fresh();
    expect_ix_ids("/v1/devices?limit=3", 0, 1, 3);
    expect_ix_ids("/v1/devices?model=rare", 0, 1, 5);
    expect_ix_ids("/v1/devices?region=rare", 0, 1, 5);
    expect_ix_ids("/v1/devices?firmware=rare", 0, 1, 5);
    expect_ix_ids("/v1/devices?status=online", 0, 1, 3);
    expect_ix_ids("/v1/devices?last_seen_after=2100-01-01T00:00:00Z", 0, 1, 0);
    expect_ix_ids("/v1/devices?last_seen_before=2000-01-01T00:00:00Z", 0, 1, 0);
    /* the three seen now tie: by device_id, in the sort's direction */
    expect_ids("/v1/devices?sort=-last_seen&limit=5",
               "ix-000002,ix-000001,ix-000000,ix-000003,ix-000004");
    expect_ix_ids("/v1/devices?sort=last_seen&limit=4", 19999, -1, 4);
    expect_ids("/v1/devices?sort=last_seen&model=rare",
               "ix-000004,ix-000003,ix-000000,ix-000001,ix-000002");
    expect_ix_ids("/v1/devices?metric.speed_kmh.gt=400", 0, 1, 3);
    expect_ix_ids("/v1/devices?metric.fuel_level_pct.lt=0", 0, 1, 3);
    expect_ix_ids("/v1/devices?metric.battery_voltage_v.ge=50", 0, 1, 3);
    expect_ix_ids("/v1/devices?metric.engine_temp_c.gt=150", 0, 1, 3);
    expect_ix_ids("/v1/devices?metric.other.gt=1", 0, 1, 0);
    expect_ix_ids("/v1/devices?status=offline&limit=2", 3, 1, 2);
    expect_ix_ids("/v1/devices?model=m1&region=r1&sort=-device_id&limit=2", 19993, -12, 2);
    expect_lookup_plan("{ix-000001,ix-000777,ix-019999}");
    /* a page of 1,000 ids too */
    struct buf ids;
    buf_init(&ids, 1 << 20);
    buf_append_str(&ids, "{");
    for (int i = 0; i < 1000; i++)
        buf_printf(&ids, "%six-%06d", i ? "," : "", i * 20);
    buf_append_str(&ids, "}");
    expect_lookup_plan(ids.data);
    buf_release(&ids);
}
END_TEST

/* Re-puts a fixture twin with another model (and last_seen) on connection c. */
static void remodel(PGconn *c, const char *id, const char *model, const char *last_seen_sql)
{
    char attrs[128];
    snprintf(attrs, sizeof(attrs), "{\"model\":\"%s\"}", model);
    struct twin *t = twin_build(id, sql_ms(last_seen_sql), 9, "{}", attrs, TWIN_NO_MINUTE);
    twin_put(c, t);
    twin_free(t);
}

static double metrics_now(const char *name)
{
    struct buf resp;
    buf_init(&resp, 4 << 20);
    ck_assert_int_eq(get("/metrics", &resp), 200);
    double v = metric_value(resp.data, name);
    buf_release(&resp);
    return v;
}

/*
 * The search index follows the table: changed and new rows by their written_xid (no reload),
 * a writer that commits after a later one (out of order) once it commits, and a truncated
 * table by a reload.
 */
START_TEST(test_search_follows_writes)
{
    fixture_four();
    double reloads = metrics_now("tp_query_search_reloads_total");
    ck_assert_double_eq(metrics_now("tp_query_search_entries"), 4);
    expect_ids("/v1/devices?model=m1", "dev-a,dev-c");
    remodel(db, "dev-c", "m2", "timestamptz '2026-03-01T07:00:00Z'");
    remodel(db, "dev-e", "m1", "timestamptz '2026-03-01T12:00:00Z'");
    fresh();
    expect_ids("/v1/devices?model=m1", "dev-a,dev-e");
    expect_ids("/v1/devices?sort=last_seen&model=m2", "dev-c,dev-d,dev-b");
    ck_assert_double_eq(metrics_now("tp_query_search_entries"), 5);
    ck_assert_double_eq(metrics_now("tp_query_search_reloads_total"), reloads);

    /* a writer whose transaction began first commits last: its row appears once committed */
    PGconn *slow = PQconnectdb(st.dsn);
    ck_assert_int_eq(PQstatus(slow), CONNECTION_OK);
    PQclear(PQexec(slow, "BEGIN"));
    remodel(slow, "dev-a", "m3", "timestamptz '2026-03-01T10:00:00Z'");
    remodel(db, "dev-b", "m3", "timestamptz '2026-03-01T09:00:00Z'");
    fresh(); /* the index's snapshot has dev-a's writer in progress */
    expect_ids("/v1/devices?model=m3", "dev-b");
    expect_ids("/v1/devices?model=m1", "dev-a,dev-e");
    PGresult *res = PQexec(slow, "COMMIT");
    ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(slow);
    fresh();
    expect_ids("/v1/devices?model=m3", "dev-a,dev-b");
    expect_ids("/v1/devices?model=m1", "dev-e");
    ck_assert_double_eq(metrics_now("tp_query_search_reloads_total"), reloads);

    /* TRUNCATE: a new file for the table, so the index reads it whole */
    sql_exec("TRUNCATE twins");
    remodel(db, "dev-z", "m1", "timestamptz '2026-03-01T10:00:00Z'");
    fresh();
    expect_ids("/v1/devices", "dev-z");
    ck_assert_double_eq(metrics_now("tp_query_search_entries"), 1);
    ck_assert_double_eq(metrics_now("tp_query_search_reloads_total"), reloads + 1);
    ck_assert_double_eq(metrics_now("tp_query_search_bad_rows_total"), 0);
    ck_assert_double_ge(metrics_now("tp_query_search_age_seconds"), 0);
}
END_TEST

/* Attribute strings with quotes, backslashes, control characters and non-ASCII text. */
START_TEST(test_json_escaping)
{
    sql_exec("TRUNCATE twins, metric_minutes");
    const char *odd[] = {
        "quote\" and \\backslash\\",          "ctl\x01\x02\x1f\ttab\nnl\rcr", "ünïcödé ✓ 𝄞 日本",
        "</script><script>alert(1)</script>", "'; DROP TABLE twins; --",
    };
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        char id[16];
        snprintf(id, sizeof(id), "esc-%zu", i);
        /* the record holds the bytes; tp-query escapes them on the way out */
        struct twin *t = twin_build(id, tp_now_ms(), 1, "{}", "{}", TWIN_NO_MINUTE);
        twin_attr_set(t, "model", odd[i]);
        twin_attr_set(t, "region", odd[i]);
        twin_put(db, t);
        twin_free(t);
    }
    fresh();
    struct buf resp;
    buf_init(&resp, 1 << 20);
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        char url[4096], id[16];
        snprintf(id, sizeof(id), "esc-%zu", i);
        /* found by the exact value, and read back exactly */
        snprintf(url, sizeof(url), "/v1/devices?model=%s", enc(odd[i]));
        ck_assert_int_eq(get(url, &resp), 200);
        struct jv *doc = jv_parse(resp.data);
        ck_assert_msg(doc != NULL, "not JSON: %s", resp.data);
        ck_assert_uint_eq(jv_len(doc, "devices"), 1);
        ck_assert_str_eq(jv_str(doc, "devices.0.device_id"), id);
        ck_assert_str_eq(jv_str(doc, "devices.0.attributes.model"), odd[i]);
        ck_assert_str_eq(jv_str(doc, "devices.0.attributes.region"), odd[i]);
        jv_free(doc);
        /* no raw control character in the text */
        for (size_t k = 0; k < resp.len; k++)
            ck_assert_uint_ge((unsigned char)resp.data[k], 0x20);
    }
    /* and as group keys of the summary (written by json.h) */
    ck_assert_int_eq(get("/v1/fleet/summary?group_by=region", &resp), 200);
    struct jv *sum = jv_parse(resp.data);
    ck_assert_msg(sum != NULL, "not JSON: %s", resp.data);
    ck_assert_uint_eq(jv_len(sum, "groups"), 5);
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        bool found = false;
        for (size_t g = 0; g < 5; g++) {
            char path[32];
            snprintf(path, sizeof(path), "groups.%zu.key", g);
            found = found || !strcmp(jv_str(sum, path), odd[i]);
        }
        ck_assert_msg(found, "group key %zu not read back", i);
    }
    jv_free(sum);
    ck_assert_int_eq(sql_count("SELECT count(*) FROM twins"), 5);
    buf_release(&resp);
}
END_TEST

START_TEST(test_list_errors)
{
    fixture_four();
    struct buf resp;
    buf_init(&resp, 1 << 20);
    expect_get("/v1/devices?regoin=eu", 400, "invalid_parameter");
    expect_get("/v1/devices?limit=1001", 400, "invalid_parameter");
    expect_get("/v1/devices?limit=0", 400, "invalid_parameter");
    expect_get("/v1/devices?model=a&model=b", 400, "invalid_parameter");
    expect_get("/v1/devices?cursor=garbage!", 400, "invalid_cursor");
    /* a real cursor, then altered, then used with another filter or sort */
    ck_assert_int_eq(get("/v1/devices?limit=1", &resp), 200);
    char ids[64], cursor[CURSOR_TEXT_MAX], url[512];
    ids_of(resp.data, ids, sizeof(ids), cursor, sizeof(cursor));
    snprintf(url, sizeof(url), "/v1/devices?limit=1&model=m1&cursor=%s", cursor);
    expect_get(url, 400, "invalid_cursor");
    snprintf(url, sizeof(url), "/v1/devices?limit=1&sort=-device_id&cursor=%s", cursor);
    expect_get(url, 400, "invalid_cursor");
    cursor[5] = cursor[5] == 'A' ? 'B' : 'A';
    snprintf(url, sizeof(url), "/v1/devices?limit=1&cursor=%s", cursor);
    expect_get(url, 400, "invalid_cursor");
    /* a cursor forged with the built-in key: refused, the service signs with its own secret */
    struct list_params lp = {.sort = SORT_DEVICE_ID, .limit = 1};
    struct buf fp;
    buf_init(&fp, 4096);
    params_list_fingerprint(&lp, &fp);
    struct cursor forged = {.sort = SORT_DEVICE_ID};
    snprintf(forged.device_id, sizeof(forged.device_id), "dev-a");
    cursor_encode(NULL, &forged, fp.data, fp.len, cursor, sizeof(cursor));
    snprintf(url, sizeof(url), "/v1/devices?limit=1&cursor=%s", cursor);
    expect_get(url, 400, "invalid_cursor");
    cursor_encode(STACK_CURSOR_SECRET, &forged, fp.data, fp.len, cursor, sizeof(cursor));
    buf_release(&fp);
    snprintf(url, sizeof(url), "/v1/devices?limit=1&cursor=%s", cursor);
    ck_assert_int_eq(get(url, &resp), 200);
    ids_of(resp.data, ids, sizeof(ids), NULL, 0);
    ck_assert_str_eq(ids, "dev-b");
    /* nine metric filters (issue 13: the ninth overflowed a stack array and aborted tp-query):
     * 400, and the service goes on answering */
    char nine[1024] = "/v1/devices?";
    for (int i = 0; i < 9; i++) {
        size_t o = strlen(nine);
        snprintf(nine + o, sizeof(nine) - o, "%smetric.%c%063d.lt=1", i ? "&" : "", 'a' + i, 0);
    }
    expect_get(nine, 400, "invalid_parameter");
    ck_assert_int_eq(get(nine, &resp), 400);
    ck_assert_str_eq(resp.data,
                     "{\"error\":{\"code\":\"invalid_parameter\",\"message\":\"at most 8 metric "
                     "filters\"}}");
    *strrchr(nine, '&') = '\0'; /* eight: a page (no twin has these metrics) */
    ck_assert_int_eq(get(nine, &resp), 200);
    ck_assert_str_eq(resp.data, "{\"devices\":[],\"next_cursor\":null}");
    expect_get("/v1/devices/bad%20id", 400, "invalid_device_id");
    expect_get("/v1/devices/nobody", 404, "device_not_found");
    expect_get("/v1/nothing", 404, "not_found");
    expect_get("/v1/devices/a/b/c", 404, "not_found");
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%u/v1/devices", query_port);
    long s = stack_http("POST", u, "application/json", "{}", 2, &resp);
    expect_error(s, resp.data, 405, "method_not_allowed");
    buf_release(&resp);
}
END_TEST

/* Injection attempts in every parameter of the list: 400 or an empty page, nothing changed. */
START_TEST(test_list_injection)
{
    fixture_four();
    static const char *const attacks[] = {
        "' OR '1'='1",
        "m1' OR 1=1 --",
        "m1'; DROP TABLE twins; --",
        "\\'; DELETE FROM twins; --",
        "1); DELETE FROM twins; --",
        "$1",
        "m1\\",
    };
    static const char *const keys[] = {"model",
                                       "region",
                                       "firmware",
                                       "metric.speed_kmh.gt",
                                       "metric.x');DELETE FROM twins;--.gt",
                                       "last_seen_before",
                                       "last_seen_after",
                                       "status",
                                       "sort",
                                       "limit",
                                       "cursor",
                                       "after"};
    struct buf resp;
    buf_init(&resp, 1 << 20);
    char url[4096], ids[256];
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
            char key[1024];
            snprintf(key, sizeof(key), "%s", enc(keys[k]));
            snprintf(url, sizeof(url), "/v1/devices?%s=%s", key, enc(attacks[i]));
            long s = get(url, &resp);
            ck_assert_msg(s == 200 || s == 400, "%s: %ld %s", url, s, resp.data);
            if (s == 200) {
                ids_of(resp.data, ids, sizeof(ids), NULL, 0);
                ck_assert_msg(!strcmp(ids, ""), "%s listed [%s]", url, ids);
            }
        }
    }
    ck_assert_int_eq(sql_count("SELECT count(*) FROM twins"), 4);
    struct twindb all;
    twindb_load(&all, db, NULL);
    size_t m1 = 0;
    for (size_t i = 0; i < all.n; i++)
        m1 += twindb_str_eq(all.rows[i].v.model, "m1");
    ck_assert_uint_eq(m1, 2);
    twindb_release(&all);
    buf_release(&resp);
}
END_TEST

static void minute(const char *id, const char *metric, const char *at, double min, double max,
                   double sum, int count)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO metric_minutes VALUES ('%s', '%s', timestamptz '%s', %.17g, %.17g, %.17g,"
             " %d)",
             id, metric, at, min, max, sum, count);
    sql_exec(sql);
}

static void expect_body(const char *path_and_query, const char *want)
{
    struct buf resp;
    buf_init(&resp, 4 << 20);
    long s = get(path_and_query, &resp);
    ck_assert_msg(s == 200, "%s: %ld %s", path_and_query, s, resp.data);
    ck_assert_str_eq(resp.data, want);
    buf_release(&resp);
}

START_TEST(test_series_exact)
{
    fixture_four();
    minute("dev-a", "speed_kmh", "2026-03-01T10:00:00Z", 1, 5, 6, 2);
    minute("dev-a", "speed_kmh", "2026-03-01T10:01:00Z", 0, 9, 9, 3);
    minute("dev-a", "speed_kmh", "2026-03-01T10:05:00Z", 2, 2, 2, 1);
    minute("dev-a", "speed_kmh", "2026-03-01T11:00:00Z", 7, 8, 15, 2);
    minute("dev-a", "fuel_level_pct", "2026-03-01T10:00:00Z", 50, 50, 50, 1);
    minute("dev-b", "speed_kmh", "2026-03-01T10:00:00Z", 100, 100, 100, 1);
    expect_body("/v1/devices/dev-a/series?metric=speed_kmh&from=2026-03-01T10:00:00Z"
                "&to=2026-03-01T11:00:00Z&step=5m",
                "{\"device_id\":\"dev-a\",\"metric\":\"speed_kmh\",\"step\":\"5m\","
                "\"from\":\"2026-03-01T10:00:00.000Z\",\"to\":\"2026-03-01T11:00:00.000Z\","
                "\"buckets\":[{\"start\":\"2026-03-01T10:00:00.000Z\",\"min\":0,\"max\":9,"
                "\"avg\":3,\"count\":5},{\"start\":\"2026-03-01T10:05:00.000Z\",\"min\":2,"
                "\"max\":2,\"avg\":2,\"count\":1}]}");
    expect_body("/v1/devices/dev-a/series?metric=speed_kmh&from=2026-03-01T10:00:00Z"
                "&to=2026-03-01T12:00:00Z&step=1h",
                "{\"device_id\":\"dev-a\",\"metric\":\"speed_kmh\",\"step\":\"1h\","
                "\"from\":\"2026-03-01T10:00:00.000Z\",\"to\":\"2026-03-01T12:00:00.000Z\","
                "\"buckets\":[{\"start\":\"2026-03-01T10:00:00.000Z\",\"min\":0,\"max\":9,"
                "\"avg\":2.8333333333333335,\"count\":6},{\"start\":\"2026-03-01T11:00:00.000Z\","
                "\"min\":7,\"max\":8,\"avg\":7.5,\"count\":2}]}");
    /* a day starts at 00:00Z; the 1m default; from inside a minute skips it */
    expect_body("/v1/devices/dev-a/series?metric=speed_kmh&from=2026-03-01T09:30:00%2B01:00"
                "&to=2026-03-02T00:00:00.000001Z&step=1d",
                "{\"device_id\":\"dev-a\",\"metric\":\"speed_kmh\",\"step\":\"1d\","
                "\"from\":\"2026-03-01T08:30:00.000Z\",\"to\":\"2026-03-02T00:00:00.000001Z\","
                "\"buckets\":[{\"start\":\"2026-03-01T00:00:00.000Z\",\"min\":0,\"max\":9,"
                "\"avg\":4,\"count\":8}]}");
    expect_body("/v1/devices/dev-a/series?metric=speed_kmh&from=2026-03-01T10:00:30Z"
                "&to=2026-03-01T10:06:00Z",
                "{\"device_id\":\"dev-a\",\"metric\":\"speed_kmh\",\"step\":\"1m\","
                "\"from\":\"2026-03-01T10:00:30.000Z\",\"to\":\"2026-03-01T10:06:00.000Z\","
                "\"buckets\":[{\"start\":\"2026-03-01T10:01:00.000Z\",\"min\":0,\"max\":9,"
                "\"avg\":3,\"count\":3},{\"start\":\"2026-03-01T10:05:00.000Z\",\"min\":2,"
                "\"max\":2,\"avg\":2,\"count\":1}]}");
    /* the twin's open minute (in its record) counts like a metric_minutes row */
    struct twin *b = twin_build(
        "dev-b", sql_ms("timestamptz '2026-03-01T09:00:00Z'"), 1,
        "{\"speed_kmh\":{\"value\":99,\"minute\":[3,4,7,2]},\"x\":{\"value\":1,"
        "\"minute\":[1,1,1,1]}}",
        "{\"model\":\"m2\",\"region\":\"eu\"}", sql_ms("timestamptz '2026-03-01T10:02:00Z'"));
    twin_put(db, b);
    twin_free(b);
    expect_body("/v1/devices/dev-b/series?metric=speed_kmh&from=2026-03-01T10:00:00Z"
                "&to=2026-03-01T11:00:00Z&step=5m",
                "{\"device_id\":\"dev-b\",\"metric\":\"speed_kmh\",\"step\":\"5m\","
                "\"from\":\"2026-03-01T10:00:00.000Z\",\"to\":\"2026-03-01T11:00:00.000Z\","
                "\"buckets\":[{\"start\":\"2026-03-01T10:00:00.000Z\",\"min\":3,\"max\":100,"
                "\"avg\":35.666666666666664,\"count\":3}]}");
    expect_body("/v1/devices/dev-b/series?metric=speed_kmh&from=2026-03-01T10:00:00Z"
                "&to=2026-03-01T10:05:00Z",
                "{\"device_id\":\"dev-b\",\"metric\":\"speed_kmh\",\"step\":\"1m\","
                "\"from\":\"2026-03-01T10:00:00.000Z\",\"to\":\"2026-03-01T10:05:00.000Z\","
                "\"buckets\":[{\"start\":\"2026-03-01T10:00:00.000Z\",\"min\":100,\"max\":100,"
                "\"avg\":100,\"count\":1},{\"start\":\"2026-03-01T10:02:00.000Z\",\"min\":3,"
                "\"max\":4,\"avg\":3.5,\"count\":2}]}");
    /* outside [from, to), or another metric: not there */
    expect_body("/v1/devices/dev-b/series?metric=speed_kmh&from=2026-03-01T10:03:00Z"
                "&to=2026-03-01T11:00:00Z",
                "{\"device_id\":\"dev-b\",\"metric\":\"speed_kmh\",\"step\":\"1m\","
                "\"from\":\"2026-03-01T10:03:00.000Z\",\"to\":\"2026-03-01T11:00:00.000Z\","
                "\"buckets\":[]}");
    expect_body("/v1/devices/dev-b/series?metric=fuel_level_pct&from=2026-03-01T10:00:00Z"
                "&to=2026-03-01T11:00:00Z",
                "{\"device_id\":\"dev-b\",\"metric\":\"fuel_level_pct\",\"step\":\"1m\","
                "\"from\":\"2026-03-01T10:00:00.000Z\",\"to\":\"2026-03-01T11:00:00.000Z\","
                "\"buckets\":[]}");
    /* a twin without minutes: no buckets */
    expect_body("/v1/devices/dev-c/series?metric=speed_kmh&from=2026-03-01T10:00:00Z"
                "&to=2026-03-01T11:00:00Z",
                "{\"device_id\":\"dev-c\",\"metric\":\"speed_kmh\",\"step\":\"1m\","
                "\"from\":\"2026-03-01T10:00:00.000Z\",\"to\":\"2026-03-01T11:00:00.000Z\","
                "\"buckets\":[]}");
    expect_get("/v1/devices/nobody/series?metric=speed_kmh&from=2026-03-01T10:00:00Z"
               "&to=2026-03-01T11:00:00Z",
               404, "device_not_found");
    expect_get("/v1/devices/bad$id/series?metric=x&from=2026-03-01T10:00:00Z"
               "&to=2026-03-01T11:00:00Z",
               400, "invalid_device_id");
    expect_get("/v1/devices/dev-a/series?metric=speed_kmh&from=2026-01-01T00:00:00Z"
               "&to=2026-03-01T00:00:00Z&step=1m",
               400, "too_many_buckets");
    expect_get("/v1/devices/dev-a/series?metric=speed_kmh&from=2026-01-01T00:00:00Z"
               "&to=2026-03-01T00:00:00Z&step=2m",
               400, "invalid_parameter");
    expect_get("/v1/devices/dev-a/series?metric=speed_kmh", 400, "invalid_parameter");
}
END_TEST

START_TEST(test_summary_exact)
{
    fixture_four();
    twin("dev-on", "now() - interval '10 seconds'", 1, "{\"speed_kmh\":{\"value\":1}}",
         "{\"region\":\"us\"}");
    fresh();
    expect_body("/v1/fleet/summary?group_by=region&metric=speed_kmh",
                "{\"group_by\":\"region\",\"metric\":\"speed_kmh\",\"online_window_s\":300,"
                "\"groups\":[{\"key\":\"eu\",\"devices\":2,\"online\":0,\"metric\":{\"devices\":2,"
                "\"min\":10.5,\"max\":99,\"avg\":54.75}},{\"key\":\"us\",\"devices\":2,"
                "\"online\":1,\"metric\":{\"devices\":1,\"min\":1,\"max\":1,\"avg\":1}},"
                "{\"key\":null,\"devices\":1,\"online\":0,\"metric\":{\"devices\":0,\"min\":null,"
                "\"max\":null,\"avg\":null}}],\"truncated\":false}");
    expect_body("/v1/fleet/summary?group_by=model",
                "{\"group_by\":\"model\",\"metric\":null,\"online_window_s\":300,"
                "\"groups\":[{\"key\":\"m1\",\"devices\":2,\"online\":0},{\"key\":\"m2\","
                "\"devices\":2,\"online\":0},{\"key\":null,\"devices\":1,\"online\":1}],"
                "\"truncated\":false}");
    expect_body("/v1/fleet/summary?metric=fuel_level_pct",
                "{\"group_by\":null,\"metric\":\"fuel_level_pct\",\"online_window_s\":300,"
                "\"groups\":[{\"key\":null,\"devices\":5,\"online\":1,\"metric\":{\"devices\":1,"
                "\"min\":42,\"max\":42,\"avg\":42}}],\"truncated\":false}");
    expect_get("/v1/fleet/summary?group_by=", 400, "invalid_parameter");
    expect_get("/v1/fleet/summary?groupby=model", 400, "invalid_parameter");
    sql_exec("TRUNCATE twins");
    fresh(); /* a truncated table: the index reloads */
    expect_body("/v1/fleet/summary",
                "{\"group_by\":null,\"metric\":null,\"online_window_s\":300,\"groups\":[],"
                "\"truncated\":false}");
}
END_TEST

/* Injection attempts in the series and summary parameters: 400 or nothing, nothing changed. */
START_TEST(test_series_summary_injection)
{
    fixture_four();
    minute("dev-a", "speed_kmh", "2026-03-01T10:00:00Z", 1, 5, 6, 2);
    static const char *const attacks[] = {"speed_kmh' OR '1'='1", "x'); DELETE FROM twins; --",
                                          "1 day'::interval; DROP TABLE metric_minutes; --"};
    static const char *const fmts[][2] = {
        {"/v1/devices/dev-a/series?metric=", "&from=2026-03-01T10:00:00Z&to=2026-03-01T11:00:00Z"},
        {"/v1/devices/dev-a/series?metric=speed_kmh&from=", "&to=2026-03-01T11:00:00Z"},
        {"/v1/devices/dev-a/series?metric=speed_kmh&from=2026-03-01T10:00:00Z&to=", ""},
        {"/v1/devices/dev-a/"
         "series?metric=speed_kmh&from=2026-03-01T10:00:00Z&to=2026-03-01T11:00:00Z&step=",
         ""},
        {"/v1/devices/",
         "/series?metric=speed_kmh&from=2026-03-01T10:00:00Z&to=2026-03-01T11:00:00Z"},
        {"/v1/devices/", ""},
        {"/v1/fleet/summary?group_by=", ""},
        {"/v1/fleet/summary?metric=", ""},
    };
    struct buf resp;
    buf_init(&resp, 1 << 20);
    for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
        for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
            char url[4096];
            snprintf(url, sizeof(url), "%s%s%s", fmts[f][0], enc(attacks[i]), fmts[f][1]);
            long s = get(url, &resp);
            ck_assert_msg(s == 400 || s == 404, "%s: %ld %s", url, s, resp.data);
        }
    }
    ck_assert_int_eq(sql_count("SELECT count(*) FROM twins"), 4);
    ck_assert_int_eq(sql_count("SELECT count(*) FROM metric_minutes"), 1);
    buf_release(&resp);
}
END_TEST

/* Data endpoints need a known API key (401 with WWW-Authenticate); operations stay open. */
START_TEST(test_auth)
{
    fixture_four();
    static const char *const data[] = {
        "/v1/devices",
        "/v1/devices/dev-a",
        "/v1/devices/dev-a/series?metric=x&from=2026-03-01T10:00:00Z&to=2026-03-01T11:00:00Z",
        "/v1/fleet/summary",
        "/v1/devices/bad$id", /* authenticated before anything else is looked at */
    };
    static const char *const bearers[] = {NULL, "wrong-key", "", ANALYST_KEY "x"};
    struct buf resp;
    buf_init(&resp, 1 << 20);
    for (size_t b = 0; b < sizeof(bearers) / sizeof(bearers[0]); b++) {
        stack_set_bearer(bearers[b]);
        for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
            long s = get(data[i], &resp);
            expect_error(s, resp.data, 401, "unauthorized");
            ck_assert_str_eq(stack_last_header("WWW-Authenticate"),
                             "Bearer realm=\"twinpipe-query\"");
        }
        ck_assert_int_eq(get("/healthz", &resp), 200);
        ck_assert_int_eq(get("/readyz", &resp), 200);
        ck_assert_int_eq(get("/metrics", &resp), 200);
        ck_assert_int_eq(get("/openapi.json", &resp), 200);
    }
    stack_set_header("Authorization: Basic dGVzdDp0ZXN0");
    long s = get("/v1/devices", &resp);
    expect_error(s, resp.data, 401, "unauthorized");
    stack_set_header(NULL);
    stack_set_bearer(ANALYST_KEY);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(get(data[i], &resp), 200);
    buf_release(&resp);
}
END_TEST

static void offsets(int partition, long next)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO projector_offsets VALUES ('tq-group', 'tq-topic', %d, %ld, now())"
             " ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET next_offset = %ld",
             partition, next, next);
    sql_exec(sql);
}

/* offsets(), then until the search index has read them (in its snapshot). */
static void offsets_fresh(int partition, long next)
{
    offsets(partition, next);
    fresh();
}

struct timed_get {
    char path[512];
    long status;
    int64_t ms;
    struct buf resp;
};

static void *timed_get_main(void *arg)
{
    struct timed_get *g = arg;
    int64_t t0 = tp_mono_ms();
    g->status = get(g->path, &g->resp);
    g->ms = tp_mono_ms() - t0;
    return NULL;
}

/* Read-your-writes on offsets the test writes: covered at once, after a wait, or 504. */
START_TEST(test_consistency_offsets)
{
    fixture_four();
    offsets(0, 100);
    offsets_fresh(3, 50);
    struct buf resp;
    buf_init(&resp, 1 << 20);
    /* covered: offsets 99 and 49 are in (next_offset above them) */
    ck_assert_int_eq(get("/v1/devices/dev-a?after=t1.0:99,3:49", &resp), 200);
    ck_assert_str_eq(resp.data, TWIN_A);
    stack_set_header("X-Consistency-Token: t1.3:10");
    ck_assert_int_eq(get("/v1/devices?model=m1", &resp), 200);
    ck_assert_int_eq(get("/v1/devices?model=m1&after=t1.3:10", &resp), 200);
    expect_get("/v1/devices?after=t1.3:11", 400, "invalid_consistency_token");
    stack_set_header(NULL);
    ck_assert_int_eq(get("/v1/fleet/summary?after=t1.0:0", &resp), 200);
    ck_assert_int_eq(get("/v1/devices/dev-a/series?metric=x&from=2026-03-01T10:00:00Z"
                         "&to=2026-03-01T11:00:00Z&after=t1.0:0",
                         &resp),
                     200);

    /* not yet: 504 after query.consistency_wait_ms (700) with where the projector stands */
    struct timed_get g = {.path = "/v1/devices/dev-a?after=t1.0:100,3:49"};
    buf_init(&g.resp, 1 << 20);
    timed_get_main(&g);
    expect_error(g.status, g.resp.data, 504, "consistency_timeout");
    ck_assert_msg(strstr(g.resp.data, "partition 0: the token needs offset 100, the projector is "
                                      "at next offset 100") != NULL,
                  "%s", g.resp.data);
    ck_assert_int_ge(g.ms, 650);
    ck_assert_int_lt(g.ms, 5000);
    ck_assert_str_eq(stack_last_header("Retry-After"), "1");
    /* a partition the projector has never written */
    snprintf(g.path, sizeof(g.path), "/v1/devices?after=t1.7:0");
    timed_get_main(&g);
    expect_error(g.status, g.resp.data, 504, "consistency_timeout");
    ck_assert_ptr_nonnull(strstr(g.resp.data, "the projector is at no offset"));

    /* waits, and answers as soon as the projector gets there */
    snprintf(g.path, sizeof(g.path), "/v1/devices/dev-a?after=t1.0:104");
    pthread_t th;
    pthread_create(&th, NULL, timed_get_main, &g);
    usleep(250 * 1000);
    offsets(0, 105);
    pthread_join(th, NULL);
    ck_assert_int_eq(g.status, 200);
    ck_assert_str_eq(g.resp.data, TWIN_A);
    ck_assert_int_ge(g.ms, 240);
    ck_assert_int_lt(g.ms, 650);

    /* malformed tokens */
    expect_get("/v1/devices?after=t1.0:x", 400, "invalid_consistency_token");
    expect_get("/v1/devices?after=", 400, "invalid_consistency_token");
    expect_get("/v1/devices/dev-a?after=t1.3:1,0:1", 400, "invalid_consistency_token");
    expect_get("/v1/devices?after=t1.0:1%27%20OR%201=1", 400, "invalid_consistency_token");

    ck_assert_int_eq(get("/metrics", &resp), 200);
    ck_assert_msg(
        strstr(resp.data, "\ntp_query_consistency_waits_total{outcome=\"covered\"} 1\n") &&
            strstr(resp.data, "\ntp_query_consistency_waits_total{outcome=\"timeout\"} 2\n") &&
            strstr(resp.data, "\ntp_query_consistency_waiting 0\n"),
        "%s", resp.data);
    buf_release(&g.resp);
    buf_release(&resp);
}
END_TEST

/* SIGTERM while requests wait: they are answered 503 shutting_down, and tp-query exits 0. */
START_TEST(test_consistency_shutdown)
{
    fixture_four();
    offsets(0, 1);
    struct timed_get g[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        memset(&g[i], 0, sizeof(g[i]));
        snprintf(g[i].path, sizeof(g[i].path), "/v1/devices?after=t1.0:%d", 1000 + i);
        buf_init(&g[i].resp, 1 << 16);
    }
    /* a longer wait than the test's, from a second replica */
    uint16_t port = stack_free_port();
    const char *env[] = {"TP_QUERY_PROJECTOR_GROUP=tq-group", "TP_QUERY_TOPIC=tq-topic",
                         "TP_QUERY_CONSISTENCY_WAIT_MS=30000", keys_env, NULL};
    pid_t pid = stack_service_start(&st, "tp-query", env, port);
    uint16_t saved = query_port;
    query_port = port;
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, timed_get_main, &g[i]);
    usleep(400 * 1000);
    int64_t t0 = tp_mono_ms();
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    ck_assert_int_lt(tp_mono_ms() - t0, 5000);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        expect_error(g[i].status, g[i].resp.data, 503, "shutting_down");
        buf_release(&g[i].resp);
    }
    query_port = saved;
}
END_TEST

/* Every path of query/openapi.json answers a documented 2xx, with its required parameters. */
START_TEST(test_openapi_paths_answer)
{
    fixture_four();
    FILE *f = fopen(TP_SOURCE_DIR "/query/openapi.json", "rb");
    ck_assert_ptr_nonnull(f);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    struct buf resp;
    buf_init(&resp, 4 << 20);
    ck_assert_int_eq(get("/openapi.json", &resp), 200);
    ck_assert_str_eq(resp.data, text); /* the document of the repo, served */
    struct jv *doc = jv_parse(text);
    const struct jv *paths = member(doc, "paths");
    ck_assert_uint_ge(paths->n, 8);
    for (size_t i = 0; i < paths->n; i++) {
        const struct jv *op = member(paths->items[i], "get");
        ck_assert_ptr_nonnull(op);
        char url[4096];
        size_t o = 0;
        for (const char *p = paths->keys[i]; *p; p++) {
            if (*p == '{') { /* every path parameter is a device id here */
                o += (size_t)snprintf(url + o, sizeof(url) - o, "dev-a");
                p = strchr(p, '}');
            } else {
                url[o++] = *p;
            }
        }
        url[o] = '\0';
        const struct jv *ps = member(op, "parameters");
        char sep = '?';
        for (size_t k = 0; ps && k < ps->n; k++) {
            const struct jv *req = member(ps->items[k], "required");
            const struct jv *in = member(ps->items[k], "in");
            if (req && req->b && in && !strcmp(in->str, "query")) {
                o += (size_t)snprintf(url + o, sizeof(url) - o, "%c%s=%s", sep,
                                      jv_str(ps->items[k], "name"),
                                      enc(jv_str(ps->items[k], "example")));
                sep = '&';
            }
        }
        long s = get(url, &resp);
        char code[8];
        snprintf(code, sizeof(code), "%ld", s);
        ck_assert_msg(s >= 200 && s < 300 && member(member(op, "responses"), code),
                      "%s answered %ld, not a documented 2xx: %s", url, s, resp.data);
    }
    jv_free(doc);
    buf_release(&resp);
}
END_TEST

/* ---- read-your-writes end to end: tp-ingest -> Kafka -> tp-projector -> tp-query ---- */

static uint16_t ingest_port, projector_port;
static pid_t ingest_pid, projector_pid;
static char group_env[160], topic_env[160];

static void setup_pipeline(void)
{
    stack_init(&st, "queryryw");
    stack_db_create(&st);
    db = PQconnectdb(st.dsn);
    ck_assert_msg(PQstatus(db) == CONNECTION_OK, "%s", PQerrorMessage(db));
    keys_env_for(ANALYST_KEY, keys_env, sizeof(keys_env));
    stack_set_bearer(ANALYST_KEY);
    const char *ingest_env[] = {"TP_AUTH_MODE=off", NULL};
    const char *projector_env[] = {"TP_PROJECTOR_FLUSH_INTERVAL_MS=50",
                                   "TP_KAFKA_SESSION_TIMEOUT_MS=6000", NULL};
    /* the stack gives the projector group = topic = the test's topic */
    snprintf(group_env, sizeof(group_env), "TP_QUERY_PROJECTOR_GROUP=%s", st.topic);
    snprintf(topic_env, sizeof(topic_env), "TP_QUERY_TOPIC=%s", st.topic);
    const char *env[] = {group_env, topic_env, "TP_QUERY_CONSISTENCY_WAIT_MS=20000", keys_env,
                         NULL};
    ingest_port = stack_free_port();
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
    projector_port = stack_free_port();
    projector_pid = stack_service_start(&st, "tp-projector", projector_env, projector_port);
    query_port = stack_free_port();
    query_pid = stack_service_start(&st, "tp-query", env, query_port);
}

static void teardown_pipeline(void)
{
    kill(projector_pid, SIGCONT); /* in case a test stopped it */
    int q = stack_service_stop(query_pid, SIGTERM);
    int p = stack_service_stop(projector_pid, SIGTERM);
    int i = stack_service_stop(ingest_pid, SIGTERM);
    PQfinish(db);
    stack_release(&st);
    ck_assert_int_eq(q, 0);
    ck_assert_int_eq(p, 0);
    ck_assert_int_eq(i, 0);
}

/* POSTs one reading of dev-ryw (sequence seq, speed) and returns ingest's token. */
static void post_reading(int seq, double speed, char *token, size_t n)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = "dev-ryw";
    r.has_sequence = r.has_timestamp_ms = r.has_speed_kmh = 1;
    r.sequence = (uint64_t)seq;
    r.timestamp_ms = tp_now_ms() - 1000 + seq;
    r.speed_kmh = speed;
    journal_reading *rp[] = {&r};
    Twinpipe__Telemetry__V1__ReadingBatch batch = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    batch.readings = rp;
    batch.n_readings = 1;
    uint8_t body[256];
    size_t len = protobuf_c_message_pack(&batch.base, body);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/telemetry", ingest_port);
    struct buf resp;
    buf_init(&resp, 1 << 16);
    long s = stack_http("POST", url, "application/x-protobuf", body, len, &resp);
    ck_assert_msg(s == 202, "POST: %ld %s", s, resp.data);
    struct jv *doc = jv_parse(resp.data);
    snprintf(token, n, "%s", jv_str(doc, "token"));
    jv_free(doc);
    buf_release(&resp);
}

START_TEST(test_read_your_writes_end_to_end)
{
    char token[256];
    struct timed_get g = {0};
    buf_init(&g.resp, 1 << 20);
    /* the first reading: the answer includes it, however long the projector takes to join */
    post_reading(1, 42.5, token, sizeof(token));
    snprintf(g.path, sizeof(g.path), "/v1/devices/dev-ryw?after=%s", token);
    timed_get_main(&g);
    ck_assert_msg(g.status == 200, "%ld %s", g.status, g.resp.data);
    struct jv *doc = jv_parse(g.resp.data);
    ck_assert_double_eq(jv_num(doc, "events"), 1);
    ck_assert_double_eq(jv_num(doc, "metrics.speed_kmh.value"), 42.5);
    jv_free(doc);

    /* the projector stopped: the request waits (suspended), and answers when it goes on */
    ck_assert_int_eq(kill(projector_pid, SIGSTOP), 0);
    post_reading(2, 77.25, token, sizeof(token));
    char header[300];
    snprintf(header, sizeof(header), "X-Consistency-Token: %s", token);
    stack_set_header(header);
    snprintf(g.path, sizeof(g.path), "/v1/devices/dev-ryw");
    pthread_t th;
    pthread_create(&th, NULL, timed_get_main, &g);
    usleep(500 * 1000);
    /* meanwhile the server answers others (no HTTP thread is blocked) */
    struct buf resp;
    buf_init(&resp, 1 << 20);
    stack_set_header(NULL);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(get("/v1/devices/dev-ryw", &resp), 200);
        doc = jv_parse(resp.data);
        ck_assert_double_eq(jv_num(doc, "events"), 1); /* not yet applied */
        jv_free(doc);
    }
    ck_assert_int_eq(get("/metrics", &resp), 200);
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_query_consistency_waiting 1\n"));
    ck_assert_int_eq(kill(projector_pid, SIGCONT), 0);
    pthread_join(th, NULL);
    ck_assert_msg(g.status == 200, "%ld %s", g.status, g.resp.data);
    doc = jv_parse(g.resp.data);
    ck_assert_double_eq(jv_num(doc, "events"), 2);
    ck_assert_double_eq(jv_num(doc, "metrics.speed_kmh.value"), 77.25);
    jv_free(doc);
    ck_assert_int_ge(g.ms, 500);

    /* an offset far ahead of anything journaled: 504 (after a short wait on a second replica) */
    uint16_t port = stack_free_port();
    const char *env[] = {group_env, topic_env, "TP_QUERY_CONSISTENCY_WAIT_MS=300", keys_env, NULL};
    pid_t pid = stack_service_start(&st, "tp-query", env, port);
    uint16_t saved = query_port;
    query_port = port;
    expect_get("/v1/devices/dev-ryw?after=t1.0:999999999", 504, "consistency_timeout");
    query_port = saved;
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    buf_release(&resp);
    buf_release(&g.resp);
}
END_TEST

static Suite *query_suite(void)
{
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("query");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_list_exact);
    tcase_add_test(tc, test_list_filters);
    tcase_add_test(tc, test_list_pages_by_last_seen);
    tcase_add_test(tc, test_pagination_under_updates);
    tcase_add_test(tc, test_list_uses_primary_key);
    tcase_add_test(tc, test_search_follows_writes);
    tcase_add_test(tc, test_json_escaping);
    tcase_add_test(tc, test_list_errors);
    tcase_add_test(tc, test_list_injection);
    tcase_add_test(tc, test_series_exact);
    tcase_add_test(tc, test_summary_exact);
    tcase_add_test(tc, test_series_summary_injection);
    tcase_add_test(tc, test_auth);
    tcase_add_test(tc, test_consistency_offsets);
    tcase_add_test(tc, test_consistency_shutdown);
    tcase_add_test(tc, test_openapi_paths_answer);
    suite_add_tcase(s, tc);
    TCase *ryw = tcase_create("read_your_writes");
    tcase_set_timeout(ryw, 300);
    tcase_add_checked_fixture(ryw, setup_pipeline, teardown_pipeline);
    tcase_add_test(ryw, test_read_your_writes_end_to_end);
    suite_add_tcase(s, ryw);
    return s;
}

TP_CHECK_MAIN(query_suite)
