/*
 * tp-query against the dev stack's PostgreSQL, on fixture twins and
 * metric_minutes rows inserted with SQL: every endpoint's exact JSON, every
 * error code, keyset pagination while the twins change underneath, the
 * indexes behind every filter (EXPLAIN), JSON escaping of any attribute
 * string, and SQL injection attempts in every parameter.
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
#include "query/list.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"
#include "tests/support/stack.h"

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

/* One twin; last_seen is SQL (a literal or an expression of now()). */
static void twin(const char *id, const char *last_seen_sql, long events, const char *metrics,
                 const char *attributes)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO twins (device_id, first_seen, last_seen, last_sequence, events, metrics,"
             " attributes, updated_at) VALUES ($1, timestamptz '2026-01-01T00:00:00Z', %s, $2, $2,"
             " $3, $4, timestamptz '2026-01-02T00:00:00Z')",
             last_seen_sql);
    char ev[32];
    snprintf(ev, sizeof(ev), "%ld", events);
    const char *params[] = {id, ev, metrics, attributes};
    PGresult *res = PQexecParams(db, sql, 4, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(db));
    PQclear(res);
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
}

#define TWIN_A                                                                                     \
    "{\"device_id\" : \"dev-a\", \"first_seen\" : \"2026-01-01T00:00:00.000Z\", "                  \
    "\"last_seen\" : \"2026-03-01T10:00:00.123Z\", \"last_sequence\" : 3, \"events\" : 3, "        \
    "\"metrics\" : {\"speed_kmh\": {\"ts\": 1772359200123, \"max\": 20, \"min\": 1, \"sum\": "     \
    "31.5, \"count\": 3, \"value\": 10.5}}, \"location\" : null, \"attributes\" : {\"model\": "    \
    "\"m1\", \"region\": \"eu\", \"firmware\": \"1.0\"}, \"updated_at\" : "                        \
    "\"2026-01-02T00:00:00.000Z\"}"
#define TWIN_B                                                                                     \
    "{\"device_id\" : \"dev-b\", \"first_seen\" : \"2026-01-01T00:00:00.000Z\", "                  \
    "\"last_seen\" : \"2026-03-01T09:00:00.000Z\", \"last_sequence\" : 1, \"events\" : 1, "        \
    "\"metrics\" : {\"speed_kmh\": {\"value\": 99}}, \"location\" : null, \"attributes\" : "       \
    "{\"model\": \"m2\", \"region\": \"eu\"}, \"updated_at\" : \"2026-01-02T00:00:00.000Z\"}"

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

/* Changes last_seen, metrics and events of random twins, and adds new ones, until told to stop. */
static void *updater_main(void *arg)
{
    PGconn *c = PQconnectdb(arg);
    unsigned seed = 7;
    long n = 0;
    while (!atomic_load(&updater_stop) && PQstatus(c) == CONNECTION_OK) {
        char id[32], newid[32];
        snprintf(id, sizeof(id), "pg-%05d", rand_r(&seed) % PAGED_DEVICES);
        snprintf(newid, sizeof(newid), "pg-%05ld-new", n++);
        const char *p1[] = {id};
        PGresult *res = PQexecParams(
            c,
            "UPDATE twins SET last_seen = clock_timestamp(), events = events + 1, "
            "metrics = jsonb_build_object('speed_kmh', jsonb_build_object('value', random()))"
            " WHERE device_id = $1",
            1, NULL, p1, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_COMMAND_OK)
            atomic_fetch_add(&updater_updates, 1);
        PQclear(res);
        const char *p2[] = {newid};
        res = PQexecParams(c,
                           "INSERT INTO twins (device_id, first_seen, last_seen, last_sequence,"
                           " events) VALUES ($1, now(), now(), 1, 1)",
                           1, NULL, p2, NULL, NULL, 0);
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
    sql_exec("INSERT INTO twins (device_id, first_seen, last_seen, last_sequence, events)"
             " SELECT 'pg-' || lpad(i::text, 5, '0'), now(), now() - i * interval '1 second', 1, 1"
             " FROM generate_series(0, 999) i");
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
    for (int i = 0; i < PAGED_DEVICES; i++)
        ck_assert_msg(seen[i] == 1, "pg-%05d seen %d times", i, seen[i]);
    ck_assert_int_ge(pages, PAGED_DEVICES / 37);
    ck_assert_msg(updates_during >= pages, "only %ld updates during %d pages", updates_during,
                  pages);
    free(seen);
    buf_release(&resp);
}
END_TEST

/* The plan of a list statement exactly as tp-query builds it. */
static void expect_plan(const char *const *kv, const char *index)
{
    struct params_args a = {0};
    char keys[16][128], err[256];
    for (size_t i = 0; kv[i]; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%s", kv[i]);
        char *eq = strchr(keys[i], '=');
        *eq = '\0';
        params_args_add(&a, keys[i], eq + 1);
    }
    struct list_params p;
    ck_assert_int_eq(params_list_parse(&a, &p, err, sizeof(err)), TP_OK);
    struct list_sql q;
    list_sql_build(&p, NULL, 300, &q);
    struct buf sql, plan;
    buf_init(&sql, 1 << 16);
    buf_init(&plan, 1 << 16);
    buf_printf(&sql, "EXPLAIN %s", q.sql.data);
    PGresult *res = PQexecParams(db, sql.data, q.n, NULL, q.values, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
    for (int r = 0; r < PQntuples(res); r++)
        buf_printf(&plan, "%s\n", PQgetvalue(res, r, 0));
    PQclear(res);
    ck_assert_msg(strstr(plan.data, index) != NULL && strstr(plan.data, "Seq Scan") == NULL,
                  "%s: want %s in\n%s", kv[0] ? kv[0] : "(no filter)", index, plan.data);
    list_sql_release(&q);
    buf_release(&sql);
    buf_release(&plan);
}

/*
 * Every filter and sort is served by an index. 20,000 twins with skewed
 * values make the selective filters' own index the cheapest plan;
 * enable_seqscan=off keeps the small table's plans deterministic (a
 * sequential scan could otherwise win on cost for a table this small).
 */
START_TEST(test_list_uses_indexes)
{
    sql_exec("TRUNCATE twins, metric_minutes");
    sql_exec("INSERT INTO twins (device_id, first_seen, last_seen, last_sequence, events, metrics,"
             " attributes)"
             " SELECT 'ix-' || lpad(i::text, 6, '0'), now() - interval '30 days',"
             " now() - interval '1 day' - i * interval '1 minute', 1, 1,"
             " jsonb_build_object('speed_kmh', jsonb_build_object('value', i % 100),"
             "  'fuel_level_pct', jsonb_build_object('value', i % 90),"
             "  'battery_voltage_v', jsonb_build_object('value', 12 + (i % 3)),"
             "  'engine_temp_c', jsonb_build_object('value', 80 + (i % 20))),"
             " jsonb_build_object('model', CASE WHEN i < 5 THEN 'rare' ELSE 'm' || (i % 4) END,"
             "  'region', CASE WHEN i < 5 THEN 'rare' ELSE 'r' || (i % 3) END,"
             "  'firmware', CASE WHEN i < 5 THEN 'rare' ELSE 'f' || (i % 2) END)"
             " FROM generate_series(0, 19999) i");
    sql_exec("UPDATE twins SET last_seen = now(), metrics = metrics || '{\"speed_kmh\":{\"value\":"
             "500},\"fuel_level_pct\":{\"value\":-1},\"battery_voltage_v\":{\"value\":99},"
             "\"engine_temp_c\":{\"value\":200}}' WHERE device_id < 'ix-000003'");
    sql_exec("ANALYZE twins");
    sql_exec("SET enable_seqscan = off");
    const char *none[] = {NULL};
    expect_plan(none, "twins_pkey");
    const char *model[] = {"model=rare", NULL};
    expect_plan(model, "twins_model");
    const char *region[] = {"region=rare", NULL};
    expect_plan(region, "twins_region");
    const char *fw[] = {"firmware=rare", NULL};
    expect_plan(fw, "twins_firmware");
    const char *online[] = {"status=online", NULL};
    expect_plan(online, "twins_last_seen");
    const char *after[] = {"last_seen_after=2100-01-01T00:00:00Z", NULL};
    expect_plan(after, "twins_last_seen");
    const char *before[] = {"last_seen_before=2000-01-01T00:00:00Z", NULL};
    expect_plan(before, "twins_last_seen");
    const char *by_time[] = {"sort=-last_seen", NULL};
    expect_plan(by_time, "twins_last_seen");
    const char *by_time_model[] = {"sort=last_seen", "model=rare", NULL};
    expect_plan(by_time_model, "twins_model");
    const char *speed[] = {"metric.speed_kmh.gt=400", NULL};
    expect_plan(speed, "twins_speed_kmh");
    const char *fuel[] = {"metric.fuel_level_pct.lt=0", NULL};
    expect_plan(fuel, "twins_fuel_level_pct");
    const char *volt[] = {"metric.battery_voltage_v.ge=50", NULL};
    expect_plan(volt, "twins_battery_voltage_v");
    const char *temp[] = {"metric.engine_temp_c.gt=150", NULL};
    expect_plan(temp, "twins_engine_temp_c");
    /* an unindexed metric rides on another index */
    const char *other[] = {"metric.other.gt=1", NULL};
    expect_plan(other, "twins_pkey");
    const char *offline[] = {"status=offline", NULL};
    expect_plan(offline, "Index");
    sql_exec("RESET enable_seqscan");
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
        /* jsonb from a parameter: PostgreSQL escapes it on the way in and out */
        const char *params[] = {id, odd[i]};
        PGresult *res = PQexecParams(db,
                                     "INSERT INTO twins (device_id, first_seen, last_seen,"
                                     " last_sequence, events, attributes) VALUES ($1, now(), now(),"
                                     " 1, 1, jsonb_build_object('model', $2::text, 'region', $2))",
                                     2, NULL, params, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(db));
        PQclear(res);
    }
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
    ck_assert_int_eq(sql_count("SELECT count(*) FROM twins WHERE attributes->>'model' = 'm1'"), 2);
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
    /* the twin's open minute (twins.minute_stats) counts like a metric_minutes row */
    sql_exec("UPDATE twins SET minute = '2026-03-01T10:02:00Z',"
             " minute_stats = '{\"speed_kmh\": [3, 4, 7, 2], \"x\": [1, 1, 1, 1]}'"
             " WHERE device_id = 'dev-b'");
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
    offsets(3, 50);
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

/* Member of an object by exact key (keys may contain dots), or NULL. */
static const struct jv *member(const struct jv *o, const char *key)
{
    for (size_t i = 0; o && o->type == JV_OBJ && i < o->n; i++)
        if (!strcmp(o->keys[i], key))
            return o->items[i];
    return NULL;
}

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
    tcase_add_test(tc, test_list_uses_indexes);
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
