/*
 * tp-rollup end to end (integration): readings journaled through the real
 * producer are rolled up with --rollup.once into a Hive-partitioned Parquet
 * tree, then read by independent readers (DuckDB, pyarrow: check_lake.py)
 * that compare every value, the file layout and the footer statistics.
 * A second run adds nothing (offsets committed after the renames); a run
 * that crashes between writing a file and renaming it, or between a rename
 * and its commit, followed by a normal run, leaves no duplicate rows and no
 * temporary files. In continuous mode, /metrics counts the rows and SIGTERM
 * publishes the open files.
 *
 * With tp-registry (case "registry"): a field added by a registered v2 becomes
 * a column holding the exact value; while the registry is down the rollup
 * writes and commits nothing and waits; once it is back the rows are written
 * and an event of a schema id the registry does not have, like bytes that are
 * not a twinpipe event, goes to the dead-letter topic with the reason and the
 * decoder's error (the projector's headers).
 */
#include <check.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/mem.h"
#include "journal/framing.h"
#include "journal/journal.h"
#include "schema/telemetry.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "twinpipe/aggregates/v1/aggregates.pb-c.h"

#define DEVICES      3
#define MAX_ROWS_ENV "TP_ROLLUP_MAX_ROWS=7"

static struct stack st;
static char lake[256], expected_path[300], python[512];
static struct buf expected; /* JSON array being built */
static int64_t base_ms;
static int next_seq[DEVICES];

struct sent {
    journal_reading r;
    Twinpipe__Telemetry__V1__Reading__Location loc;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry m;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry *mp;
    char id[32];
    int32_t partition;
    int64_t offset;
    int done;
};

static void on_delivery(void *opaque, const struct journal_delivery *d, void *arg)
{
    struct sent *s = opaque;
    (void)arg;
    ck_assert_msg(d->err == TP_OK && !d->dead_lettered, "delivery failed: %s", d->errstr);
    s->partition = d->partition;
    s->offset = d->offset;
    s->done = 1;
}

static void json_key_double(struct buf *b, const char *key, int has, double v)
{
    buf_printf(b, ",\"%s\":", key);
    if (has)
        json_double(b, v);
    else
        buf_append_str(b, "null");
}

static void json_key_str(struct buf *b, const char *key, const char *v)
{
    buf_printf(b, ",\"%s\":", key);
    if (v)
        json_str(b, v);
    else
        buf_append_str(b, "null");
}

/* Journals k readings per device (plus one undecodable-for-rollup reading) and records them. */
static void journal_readings(int k)
{
    struct journal_config jc = {.bootstrap_servers = st.bootstrap,
                                .topic = st.topic,
                                .partitions = 3,
                                .replication = 1,
                                .schema_id = 1};
    char errstr[256];
    ck_assert_int_eq(journal_topic_ensure(&jc, 10000, errstr, sizeof(errstr)), TP_OK);
    struct journal_producer *p;
    ck_assert_int_eq(journal_producer_new(&jc, on_delivery, NULL, &p, errstr, sizeof(errstr)),
                     TP_OK);
    int n = DEVICES * k + 1;
    struct sent *s = tp_calloc((size_t)n, sizeof(*s));
    for (int i = 0; i < n; i++) {
        journal_reading init = TWINPIPE__TELEMETRY__V1__READING__INIT;
        Twinpipe__Telemetry__V1__Reading__Location linit =
            TWINPIPE__TELEMETRY__V1__READING__LOCATION__INIT;
        Twinpipe__Telemetry__V1__Reading__MetricsEntry minit =
            TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
        s[i].r = init;
        s[i].loc = linit;
        s[i].m = minit;
        journal_reading *r = &s[i].r;
        if (i == n - 1) { /* no device_id: the rollup skips it */
            r->has_sequence = r->has_timestamp_ms = 1;
            r->sequence = 1;
            r->timestamp_ms = base_ms;
            continue;
        }
        int dev = i % DEVICES;
        int seq = ++next_seq[dev];
        snprintf(s[i].id, sizeof(s[i].id), "r-dev-%d", dev);
        r->device_id = s[i].id;
        r->has_sequence = r->has_timestamp_ms = 1;
        r->sequence = (uint64_t)seq;
        r->timestamp_ms = base_ms + (int64_t)seq * 7 * 60 * 1000 + dev; /* crosses hours */
        if (seq % 5 != 0) {
            r->has_speed_kmh = 1;
            r->speed_kmh = seq == 1 ? 1e308 : seq == 2 ? -0.0 : seq == 3 ? 5e-324 : seq * 1.5;
        }
        if (seq % 3 != 0) {
            s[i].loc.has_lat = s[i].loc.has_lon = 1;
            s[i].loc.lat = 48.0 + seq * 0.001;
            s[i].loc.lon = -(11.0 + dev);
            r->location = &s[i].loc;
        }
        r->model = dev == 1 ? "Modèl-Ω ✓" : "m";
        r->firmware = dev == 0 ? "" : "fw-1";
        r->region = dev == 2 ? NULL : "eu";
        if (dev == 0) {
            s[i].m.key = "co2";
            s[i].m.has_value = 1;
            s[i].m.value = seq;
            s[i].mp = &s[i].m;
            r->metrics = &s[i].mp;
            r->n_metrics = 1;
        }
    }
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(journal_producer_append(p, &s[i].r, &s[i], errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(journal_producer_flush(p, 30000), TP_OK);
    journal_producer_poll(p, 0);
    for (int i = 0; i < n - 1; i++) {
        const journal_reading *r = &s[i].r;
        ck_assert(s[i].done);
        buf_append_str(&expected, expected.len > 1 ? ",{" : "{");
        buf_append_str(&expected, "\"device_id\":");
        json_str(&expected, r->device_id);
        buf_printf(&expected,
                   ",\"sequence\":%" PRIu64 ",\"device_time\":%" PRId64
                   ",\"journal_partition\":%d,\"journal_offset\":%" PRId64,
                   r->sequence, r->timestamp_ms, s[i].partition, s[i].offset);
        json_key_double(&expected, "speed_kmh", r->has_speed_kmh, r->speed_kmh);
        json_key_double(&expected, "location_lat", r->location != NULL, s[i].loc.lat);
        json_key_double(&expected, "location_lon", r->location != NULL, s[i].loc.lon);
        json_key_str(&expected, "model", r->model);
        json_key_str(&expected, "firmware", r->firmware);
        json_key_str(&expected, "region", r->region);
        if (r->n_metrics)
            buf_printf(&expected, ",\"extra_metrics\":\"{\\\"co2\\\":%d}\"", (int)r->sequence);
        buf_append_str(&expected, "}");
    }
    journal_producer_free(p);
    free(s);
}

static int run_rollup(const char *extra_env)
{
    char dir_env[300], group_env[160];
    snprintf(dir_env, sizeof(dir_env), "TP_ROLLUP_DIR=%s", lake);
    snprintf(group_env, sizeof(group_env), "TP_ROLLUP_GROUP=%s", st.topic);
    /* a crashed member holds its partitions until the session times out: keep it short */
    const char *env[] = {"TP_ROLLUP_ONCE=true",
                         MAX_ROWS_ENV,
                         dir_env,
                         group_env,
                         "TP_KAFKA_SESSION_TIMEOUT_MS=6000",
                         extra_env,
                         NULL};
    return stack_run(&st, "tp-rollup", env);
}

/* Runs check_lake.py on the lake against everything journaled so far. */
static void check_lake(void)
{
    FILE *f = fopen(expected_path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%s]", expected.data);
    fclose(f);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s %s/tests/rollup/check_lake.py %s %s", python, TP_SOURCE_DIR,
             lake, expected_path);
    ck_assert_msg(system(cmd) == 0, "check_lake.py found problems (see above)");
}

static int count_files(void)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "find %s -name '*.parquet' | wc -l", lake);
    FILE *p = popen(cmd, "r");
    int n = -1;
    ck_assert_int_eq(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

static void setup(void)
{
    stack_init(&st, "rollup");
    snprintf(lake, sizeof(lake), "%s/../Testing/%s-lake", TP_BIN_DIR, st.db);
    snprintf(expected_path, sizeof(expected_path), "%s.json", lake);
    FILE *p = popen(TP_SOURCE_DIR "/tests/rollup/pyvenv.sh", "r");
    ck_assert_ptr_nonnull(fgets(python, sizeof(python), p));
    ck_assert_int_eq(pclose(p), 0);
    python[strcspn(python, "\n")] = '\0';
    buf_init(&expected, 64 << 20);
    buf_append_str(&expected, "[");
    base_ms = (tp_now_ms() / 3600000) * 3600000 - 5 * 3600000 + 1234;
}

static void teardown(void)
{
    buf_release(&expected);
}

START_TEST(test_once_writes_every_row)
{
    journal_readings(24);
    ck_assert_int_eq(run_rollup(NULL), 0);
    /* 3 devices x 24 readings over ~3 hours, at most 7 rows a file */
    ck_assert_int_ge(count_files(), 12);
    check_lake();
}
END_TEST

START_TEST(test_second_run_adds_nothing)
{
    int before = count_files();
    ck_assert_int_eq(run_rollup(NULL), 0);
    ck_assert_int_eq(count_files(), before);
    check_lake();
}
END_TEST

START_TEST(test_crash_between_write_and_rename)
{
    journal_readings(6);
    int status = run_rollup("TP_DEBUG_CRASH_BEFORE_RENAME=2");
    ck_assert_int_eq(status, 128 + 6); /* SIGABRT */
    ck_assert_int_eq(run_rollup(NULL), 0);
    check_lake(); /* also: no temporary file left */
}
END_TEST

START_TEST(test_crash_between_rename_and_commit)
{
    journal_readings(10);
    int status = run_rollup("TP_DEBUG_CRASH_AFTER_RENAME=2");
    ck_assert_int_eq(status, 128 + 6); /* SIGABRT */
    ck_assert_int_eq(run_rollup(NULL), 0);
    check_lake();
}
END_TEST

/* Continuous mode: /metrics counts the rows; SIGTERM publishes the open files. */
START_TEST(test_continuous_metrics_and_sigterm)
{
    journal_readings(4);
    char dir_env[300], group_env[160], url[128];
    snprintf(dir_env, sizeof(dir_env), "TP_ROLLUP_DIR=%s", lake);
    snprintf(group_env, sizeof(group_env), "TP_ROLLUP_GROUP=%s", st.topic);
    const char *env[] = {dir_env, group_env, "TP_KAFKA_SESSION_TIMEOUT_MS=6000", NULL};
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-rollup", env, port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
    struct buf resp;
    buf_init(&resp, 1 << 16);
    bool seen = false;
    for (int i = 0; i < 300 && !seen; i++) {
        ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
        /* 4 readings per device, journaled after the last run: all are new rows */
        seen = strstr(resp.data, "\ntp_rollup_rows_total 12\n") != NULL;
        if (!seen)
            usleep(100 * 1000);
    }
    ck_assert_msg(seen, "metrics never showed 12 rows: %s", resp.data);
    ck_assert_ptr_nonnull(strstr(resp.data, "tp_rollup_open_files "));
    buf_release(&resp);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    check_lake();
}
END_TEST

/* ---- decoding through the registry ---- */

static uint16_t reg_port;
static pid_t reg_pid, rollup_pid;

static void registry_setup(void)
{
    setup();
    stack_db_create(&st);
    reg_port = stack_free_port();
    reg_pid = stack_service_start(&st, "tp-registry", NULL, reg_port);
}

static void registry_teardown(void)
{
    if (rollup_pid > 0) /* a failed check left it running */
        stack_service_stop(rollup_pid, SIGTERM);
    rollup_pid = 0;
    if (reg_pid > 0)
        stack_service_stop(reg_pid, SIGTERM);
    stack_release(&st);
    teardown();
}

/* The built-in schema plus `optional double tire_wear_pct = 50;` in Reading. */
static char *v2_text(void)
{
    const char *src = schemas_builtin_proto;
    const char *at = strstr(src, "  map<string, double> metrics = 30;");
    ck_assert_ptr_nonnull(at);
    const char *add = "  optional double tire_wear_pct = 50;  // v2\n";
    char *out = tp_malloc(strlen(src) + strlen(add) + 1);
    sprintf(out, "%.*s%s%s", (int)(at - src), src, add, at);
    return out;
}

static void on_sent(void *opaque, const struct journal_delivery *d, void *arg)
{
    (void)arg;
    ck_assert_msg(d->err == TP_OK && !d->dead_lettered, "delivery failed: %s", d->errstr);
    (*(int *)opaque)++;
}

/* One reading of device id framed with schema_id; tire >= 0: field 50 (v2's) set to it. */
static void send_reading(struct journal_producer *p, const char *id, uint64_t seq, double speed,
                         double tire, int32_t schema_id, int *acked)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = (char *)id;
    r.has_sequence = r.has_timestamp_ms = r.has_speed_kmh = 1;
    r.sequence = seq;
    r.timestamp_ms = base_ms + (int64_t)seq * 1000;
    r.speed_kmh = speed;
    uint8_t bits[8];
    ProtobufCMessageUnknownField f = {50, PROTOBUF_C_WIRE_TYPE_64BIT, 8, bits};
    if (tire >= 0) {
        uint64_t u;
        memcpy(&u, &tire, 8);
        for (int i = 0; i < 8; i++)
            bits[i] = (uint8_t)(u >> (8 * i)); /* fixed64: little-endian */
        r.base.n_unknown_fields = 1;
        r.base.unknown_fields = &f;
    }
    char errstr[256];
    ck_assert_int_eq(
        journal_producer_append_schema(p, &r, schema_id, acked, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(journal_producer_flush(p, 30000), TP_OK);
}

static double rollup_metric(uint16_t port, const char *name)
{
    char url[128], key[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
    snprintf(key, sizeof(key), "\n%s ", name);
    struct buf resp;
    buf_init(&resp, 1 << 16);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    const char *at = strstr(resp.data, key);
    ck_assert_msg(at != NULL, "no %s in %s", name, resp.data);
    double v = atof(at + strlen(key));
    buf_release(&resp);
    return v;
}

static void wait_metric(uint16_t port, const char *name, double want)
{
    double v = -1;
    for (int i = 0; i < 300 && v != want; i++) {
        v = rollup_metric(port, name);
        if (v != want)
            usleep(100 * 1000);
    }
    ck_assert_msg(v == want, "%s is %g, expected %g", name, v, want);
}

static enum tp_err dlq_assign(void *arg, const int32_t *parts, int64_t *offsets, size_t n)
{
    (void)arg;
    (void)parts;
    for (size_t i = 0; i < n; i++)
        offsets[i] = JOURNAL_OFFSET_BEGINNING;
    return TP_OK;
}

static void dlq_revoke(void *arg, const int32_t *parts, size_t n, bool lost)
{
    (void)arg;
    (void)parts;
    (void)n;
    (void)lost;
}

START_TEST(test_registry_versions_become_columns)
{
    /* v1 (the built-in schema) and v2 registered under "<topic>-value" */
    struct telemetry_registry_settings rs = {.user = STACK_REGISTRY_OPERATOR, /* registers */
                                             .password = STACK_REGISTRY_OPERATOR_PASSWORD,
                                             .timeout_ms = 5000,
                                             .cache_size = 16};
    char url[128], errstr[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", reg_port);
    rs.url = url;
    struct schemas *sch;
    ck_assert_int_eq(telemetry_schemas_new(&rs, st.topic, &sch, errstr, sizeof(errstr)), TP_OK);
    int32_t id1, id2;
    char *v2 = v2_text();
    ck_assert_msg(schemas_register(sch, schemas_builtin_proto, &id1, errstr, sizeof(errstr)) ==
                      TP_OK,
                  "%s", errstr);
    ck_assert_msg(schemas_register(sch, v2, &id2, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    ck_assert_int_ne(id1, id2);
    free(v2);
    schemas_free(sch);

    /* the registry goes away; a v1 and a v2 reading, and one of an id it does not have */
    ck_assert_int_eq(stack_service_stop(reg_pid, SIGTERM), 0);
    reg_pid = 0;
    struct journal_config jc = {.bootstrap_servers = st.bootstrap,
                                .topic = st.topic,
                                .partitions = 3,
                                .replication = 1,
                                .schema_id = 1};
    ck_assert_int_eq(journal_topic_ensure(&jc, 10000, errstr, sizeof(errstr)), TP_OK);
    struct journal_producer *p;
    int acked = 0;
    ck_assert_int_eq(journal_producer_new(&jc, on_sent, NULL, &p, errstr, sizeof(errstr)), TP_OK);
    send_reading(p, "rg-1", 1, 10.0, -1, id1, &acked);
    send_reading(p, "rg-1", 2, 11.0, 12.5, id2, &acked);
    send_reading(p, "rg-2", 1, 20.0, 3.0, 999999, &acked);
    journal_producer_free(p);
    ck_assert_int_eq(acked, 3);

    /* the rollup waits: no row, no file, nothing dead-lettered */
    char dir_env[300], group_env[160], reg_env[160];
    snprintf(dir_env, sizeof(dir_env), "TP_ROLLUP_DIR=%s", lake);
    snprintf(group_env, sizeof(group_env), "TP_ROLLUP_GROUP=%s", st.topic);
    snprintf(reg_env, sizeof(reg_env), "TP_REGISTRY_URL=%s", url);
    const char *env[] = {dir_env,
                         group_env,
                         reg_env,
                         "TP_REGISTRY_TIMEOUT_MS=500",
                         "TP_KAFKA_SESSION_TIMEOUT_MS=6000",
                         NULL};
    uint16_t port = stack_free_port();
    pid_t pid = rollup_pid = stack_service_start(&st, "tp-rollup", env, port);
    for (int i = 0; i < 300 && rollup_metric(port, "tp_rollup_decode_retries_total") < 3; i++)
        usleep(100 * 1000);
    ck_assert_double_ge(rollup_metric(port, "tp_rollup_decode_retries_total"), 3);
    ck_assert_double_eq(rollup_metric(port, "tp_rollup_decode_waiting"), 1);
    ck_assert_double_eq(rollup_metric(port, "tp_rollup_rows_total"), 0);
    ck_assert_double_eq(rollup_metric(port, "tp_rollup_dead_letters_total"), 0);
    ck_assert_int_eq(count_files(), 0);

    /* the registry is back (same database, same port): rows, and the dead letter */
    reg_pid = stack_service_start(&st, "tp-registry", NULL, reg_port);
    wait_metric(port, "tp_rollup_rows_total", 2);
    wait_metric(port, "tp_rollup_dead_letters_total", 1);
    ck_assert_double_eq(rollup_metric(port, "tp_rollup_decode_waiting"), 0);
    ck_assert_double_eq(rollup_metric(port, "tp_rollup_skipped_total"), 0);

    /* bytes that are not a twinpipe event (magic byte 'n'), keyed rg-3: dead-lettered too, as
     * the projector does, never skipped */
    char kcat[512];
    snprintf(kcat, sizeof(kcat), "printf 'not twinpipe\\n' | kcat -P -b %s -t %s -k rg-3",
             st.bootstrap, st.topic);
    ck_assert_int_eq(system(kcat), 0);
    wait_metric(port, "tp_rollup_dead_letters_total", 2);
    ck_assert_double_eq(rollup_metric(port, "tp_rollup_skipped_total"), 0);
    ck_assert_double_eq(rollup_metric(port, "tp_rollup_rows_total"), 2);
    rollup_pid = 0;
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);

    /* the lake read back by DuckDB: v2's field is a column with the exact value */
    char cmd[2048];
    snprintf(
        cmd, sizeof(cmd),
        "%s -c \"import duckdb; print(duckdb.connect().execute(\\\"SELECT device_id, sequence, "
        "speed_kmh, tire_wear_pct FROM read_parquet('%s/**/*.parquet', union_by_name=true) "
        "ORDER BY device_id, sequence\\\").fetchall())\"",
        python, lake);
    FILE *py = popen(cmd, "r");
    ck_assert_ptr_nonnull(py);
    char out[512] = "";
    ck_assert_ptr_nonnull(fgets(out, sizeof(out), py));
    ck_assert_int_eq(pclose(py), 0);
    ck_assert_str_eq(out, "[('rg-1', 1, 10.0, None), ('rg-1', 2, 11.0, 12.5)]\n");

    /* the dead letters: the events as journaled, with the reason, the decoder's error and
     * the origin */
    char dlq[200];
    snprintf(dlq, sizeof(dlq), "%s.dlq", st.topic);
    struct journal_config dc = {.bootstrap_servers = st.bootstrap, .topic = dlq};
    struct journal_rebalance rb = {dlq_assign, dlq_revoke, NULL};
    struct journal_consumer *c;
    ck_assert_int_eq(journal_consumer_new(&dc, dlq, &rb, &c, errstr, sizeof(errstr)), TP_OK);
    int unregistered = 0, garbage = 0;
    for (int i = 0; i < 300 && unregistered + garbage < 2; i++) {
        struct journal_event ev;
        bool got = false;
        ck_assert_int_eq(journal_consumer_poll(c, 100, &ev, &got, errstr, sizeof(errstr)), TP_OK);
        if (!got)
            continue;
        ck_assert_str_eq(ev.dlq_reason, "undecodable"); /* the projector's reasons */
        ck_assert_msg(!strncmp(ev.dlq_origin, "tp-rollup@", 10), "origin %s", ev.dlq_origin);
        if (ev.reading) {
            unregistered++;
            ck_assert_int_eq(ev.schema_id, 999999);
            ck_assert_str_eq(ev.reading->device_id, "rg-2");
            ck_assert_msg(
                !strncmp(ev.dlq_detail, "schema id 999999 is not registered under subject", 48),
                "detail %s", ev.dlq_detail);
        } else {
            garbage++;
            ck_assert_int_eq(ev.decode_err, TP_DECODE);
            ck_assert_str_eq(ev.dlq_detail, "frame magic byte is 110, expected 0");
        }
        journal_event_release(&ev);
    }
    ck_assert_int_eq(unregistered, 1);
    ck_assert_int_eq(garbage, 1);
    journal_consumer_free(c);
}
END_TEST

/* ---- rollup.message=window_aggregate: a region's aggregates as Parquet rows ---- */

static void agg_delivered(void *opaque, const struct journal_delivery *d, void *arg)
{
    (void)opaque;
    (void)arg;
    ck_assert_msg(d->err == TP_OK, "delivery failed: %s", d->errstr);
}

/* Appends the bytes to the test's topic under key (the journal's raw path: its one producer of
 * bytes that are not readings; the tp-* headers it adds are not read). */
static void agg_send_bytes(const char *key, const void *data, size_t len)
{
    char errstr[512];
    struct journal_config jc = {
        .bootstrap_servers = st.bootstrap, .topic = st.topic, .dlq_topic = st.topic};
    struct journal_producer *p;
    ck_assert_int_eq(journal_producer_new(&jc, agg_delivered, NULL, &p, errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(journal_producer_dead_letter_raw(p, key, data, len, "test", NULL, NULL, 0,
                                                      NULL, errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(journal_producer_flush(p, 15000), TP_OK);
    journal_producer_poll(p, 0);
    journal_producer_free(p);
}

/* A framed WindowAggregate of category "tp-truck|2.1.7" at window_start_ms, partition 0. */
static void agg_send(const char *region, int64_t window_start_ms, uint64_t version,
                     uint64_t readings, const char *const *names, const double (*m)[4], size_t n)
{
    Twinpipe__Aggregates__V1__WindowAggregate a = TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__INIT;
    Twinpipe__Aggregates__V1__WindowAggregate__Metric ms[4], *mp[4];
    a.region = (char *)region;
    a.category = "tp-truck|2.1.7";
    a.has_window_start_ms = a.has_window_ms = a.has_journal_partition = true;
    a.has_version = a.has_readings = true;
    a.window_start_ms = window_start_ms;
    a.window_ms = 60000;
    a.journal_partition = 0;
    a.version = version;
    a.readings = readings;
    for (size_t i = 0; i < n; i++) {
        Twinpipe__Aggregates__V1__WindowAggregate__Metric x =
            TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__METRIC__INIT;
        x.name = (char *)names[i];
        x.has_count = x.has_sum = true;
        x.count = (uint64_t)m[i][0];
        x.has_min = x.has_max = x.count > 0;
        x.min = m[i][1];
        x.max = m[i][2];
        x.sum = m[i][3];
        ms[i] = x;
        mp[i] = &ms[i];
    }
    a.n_metrics = n;
    a.metrics = mp;
    uint8_t buf[1024];
    size_t h = framing_header_encode(buf, sizeof(buf), 3, (int32_t[]){0}, 1);
    size_t len = twinpipe__aggregates__v1__window_aggregate__get_packed_size(&a);
    ck_assert_uint_le(h + len, sizeof(buf));
    twinpipe__aggregates__v1__window_aggregate__pack(&a, buf + h);
    agg_send_bytes(a.category, buf, h + len);
}

/* The first line a DuckDB query over the lake prints. */
static void agg_duckdb(const char *sql, char *out, size_t n)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "%s -c \"import duckdb; print(duckdb.connect().execute(\\\"%s\\\").fetchall())\"",
             python, sql);
    FILE *py = popen(cmd, "r");
    ck_assert_ptr_nonnull(py);
    out[0] = '\0';
    ck_assert_ptr_nonnull(fgets(out, (int)n, py));
    ck_assert_int_eq(pclose(py), 0);
}

START_TEST(test_window_aggregates_become_rows)
{
    int64_t w = (base_ms / 60000) * 60000;
    char errstr[256];
    struct journal_config tc = {
        .bootstrap_servers = st.bootstrap, .topic = st.topic, .partitions = 2, .replication = 1};
    ck_assert_int_eq(journal_topic_ensure(&tc, 15000, errstr, sizeof(errstr)), TP_OK);
    const char *speed[] = {"speed_kmh"}, *speed_fuel[] = {"fuel", "speed_kmh"},
               *rpm_speed[] = {"rpm", "speed_kmh"};
    const double v1[][4] = {{3, 10, 30, 60}};
    const double v2[][4] = {{2, 1, 2, 3}, {4, 5, 30, 65}};  /* an amendment, and a new metric */
    const double b1[][4] = {{0, 0, 0, 0}, {1, 99, 99, 99}}; /* rpm without values */
    agg_send("region-a", w, 1, 3, speed, v1, 1);
    agg_send("region-a", w, 2, 4, speed_fuel, v2, 2);
    agg_send("region-b", w, 1, 1, rpm_speed, b1, 2);
    agg_send_bytes("tp-truck|2.1.7", "\x00\x00\x00\x00\x03\x00\xff\xff", 8); /* skipped */
    ck_assert_int_eq(run_rollup("TP_ROLLUP_MESSAGE=window_aggregate"), 0);
    /* each new metric grew the columns: a file per schema (one partition: one key) */
    ck_assert_int_eq(count_files(), 3);
    char sql[1024], out[2048];
    snprintf(sql, sizeof(sql),
             "SELECT region, category, epoch_ms(window_start) - %lld, window_ms, "
             "journal_partition, version, readings, speed_kmh_count, speed_kmh_min, "
             "speed_kmh_max, speed_kmh_sum, fuel_count, fuel_min, rpm_count, rpm_min, rpm_sum "
             "FROM read_parquet('%s/**/*.parquet', union_by_name=true) ORDER BY region, version",
             (long long)w, lake);
    agg_duckdb(sql, out, sizeof(out));
    ck_assert_str_eq(out, "[('region-a', 'tp-truck|2.1.7', 0, 60000, 0, 1, 3, 3, 10.0, 30.0, "
                          "60.0, None, None, None, None, None), ('region-a', 'tp-truck|2.1.7', 0, "
                          "60000, 0, 2, 4, 4, 5.0, 30.0, 65.0, 2, 1.0, None, None, None), "
                          "('region-b', 'tp-truck|2.1.7', 0, 60000, 0, 1, 1, 1, 99.0, 99.0, "
                          "99.0, None, None, 0, None, 0.0)]\n");
    /* rollup/README.md's query: the highest version per partial */
    snprintf(sql, sizeof(sql),
             "SELECT region, version, readings FROM read_parquet('%s/**/*.parquet', "
             "union_by_name=true) QUALIFY row_number() OVER (PARTITION BY region, category, "
             "window_start, journal_partition ORDER BY version DESC) = 1 ORDER BY region",
             lake);
    agg_duckdb(sql, out, sizeof(out));
    ck_assert_str_eq(out, "[('region-a', 2, 4), ('region-b', 1, 1)]\n");
}
END_TEST

static Suite *rollup_suite(void)
{
    Suite *s = suite_create("rollup");
    TCase *tc = tcase_create("once");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_once_writes_every_row);
    tcase_add_test(tc, test_second_run_adds_nothing);
    tcase_add_test(tc, test_crash_between_write_and_rename);
    tcase_add_test(tc, test_crash_between_rename_and_commit);
    tcase_add_test(tc, test_continuous_metrics_and_sigterm);
    suite_add_tcase(s, tc);
    TCase *reg = tcase_create("registry");
    tcase_add_checked_fixture(reg, registry_setup, registry_teardown);
    tcase_set_timeout(reg, 300);
    tcase_add_test(reg, test_registry_versions_become_columns);
    suite_add_tcase(s, reg);
    TCase *agg = tcase_create("window_aggregates");
    tcase_add_checked_fixture(agg, setup, teardown);
    tcase_set_timeout(agg, 300);
    tcase_add_test(agg, test_window_aggregates_become_rows);
    suite_add_tcase(s, agg);
    return s;
}

TP_CHECK_MAIN(rollup_suite)
