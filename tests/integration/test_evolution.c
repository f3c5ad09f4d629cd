/*
 * Schema evolution without restarts, through the real stack: tp-registry,
 * tp-ingest and tp-projector run (ingest registers the built-in schema under
 * "<topic>-value" at start-up); a v2 that adds a numeric field is
 * registered while they run; a v2 payload posted to ingest reaches the twin
 * in PostgreSQL with the new field as a metric by its name. An id not
 * registered under the subject gets 422 unknown_schema.
 *
 * While the registry is down, the projector never decodes an event of a
 * version it has not loaded with the built-in Reading (which would drop the
 * version's fields for good): it waits, /readyz answers 503 and its offsets
 * stay; once the registry is back the new field reaches the twin. An event
 * whose schema id the registry does not have goes to the dead-letter topic
 * (reason undecodable) and the projector moves on (issue 13 #8).
 *
 * Interop with independent tools: payloads are encoded by `protoc --encode`
 * and framed here; the journal is read back with kcat and each event,
 * stripped of its framing, is decoded by `protoc --decode` into exactly the
 * text that was encoded.
 */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/mem.h"
#include "common/pg.h"
#include "journal/framing.h"
#include "journal/journal.h"
#include "schema/schemas.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"
#include "tests/support/stack.h"
#include "tests/support/twindb.h"
#include "tests/support/workload.h"

static struct stack st;
static uint16_t reg_port, ingest_port, projector_port;
static pid_t reg_pid, ingest_pid, projector_pid;
static struct buf resp;
static char dir[] = "/tmp/tp-evolution-XXXXXX";
static int64_t now_ms;
static char reg_env[128];
static const char *projector_env[] = {reg_env, "TP_PROJECTOR_FLUSH_INTERVAL_MS=50", NULL};

static void write_file(const char *name, const void *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Runs a shell command in dir; its stdout (bounded) into out. */
static void run(const char *cmd, struct buf *out)
{
    char full[2048];
    snprintf(full, sizeof(full), "cd %s && %s", dir, cmd);
    FILE *p = popen(full, "r");
    ck_assert_ptr_nonnull(p);
    char chunk[65536];
    size_t n;
    buf_reset(out);
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        ck_assert_int_eq(buf_append(out, chunk, n), TP_OK);
    ck_assert_msg(pclose(p) == 0, "command failed: %s", cmd);
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

/* protoc --encode of text (in a file: no quoting issues) -> framed body. */
static uint8_t *encode_framed(const char *proto, const char *text, int32_t id, size_t *len)
{
    struct buf out;
    buf_init(&out, 1 << 20);
    write_file("in.txt", text, strlen(text));
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "protoc -I. --encode=twinpipe.telemetry.v1.Reading %s < in.txt",
             proto);
    run(cmd, &out);
    uint8_t hdr[FRAMING_HEADER_MAX];
    size_t h = framing_header_encode(hdr, sizeof(hdr), id, (int32_t[]){0}, 1);
    uint8_t *b = tp_malloc(h + out.len);
    memcpy(b, hdr, h);
    memcpy(b + h, out.data, out.len);
    *len = h + out.len;
    buf_release(&out);
    return b;
}

static long post(const void *body, size_t len)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/telemetry", ingest_port);
    return stack_http("POST", url, "application/x-protobuf", body, len, &resp);
}

static struct jv *registry_json(const char *method, const char *path, const char *body, long expect)
{
    char url[512];
    snprintf(url, sizeof(url),
             "http://" STACK_REGISTRY_OPERATOR ":" STACK_REGISTRY_OPERATOR_PASSWORD
             "@127.0.0.1:%u%s",
             reg_port, path);
    long status = stack_http(method, url, body ? "application/vnd.schemaregistry.v1+json" : NULL,
                             body, body ? strlen(body) : 0, &resp);
    ck_assert_msg(status == expect, "%s %s: %ld %s", method, path, status, resp.data);
    struct jv *doc = jv_parse(resp.data);
    ck_assert_ptr_nonnull(doc);
    return doc;
}

/* Registers text under "<topic>-value" (200 expected); its id. */
static int register_schema(const char *text)
{
    char path[256];
    struct buf reg;
    buf_init(&reg, 1 << 20);
    buf_append_str(&reg, "{\"schemaType\":\"PROTOBUF\",\"schema\":");
    json_str(&reg, text);
    buf_append_str(&reg, "}");
    snprintf(path, sizeof(path), "/subjects/%s-value/versions", st.topic);
    struct jv *doc = registry_json("POST", path, reg.data, 200);
    int id = (int)jv_num(doc, "id");
    jv_free(doc);
    buf_release(&reg);
    return id;
}

/* The twin's metric, or NULL (t holds the twin's row: twindb_release it). */
static const struct twin_view_metric *twin_metric_of(struct twindb *t, const char *device,
                                                     const char *metric)
{
    PGconn *db;
    char errstr[256];
    ck_assert_int_eq(pg_connect(st.dsn, "test_evolution", &db, errstr, sizeof(errstr)), TP_OK);
    twindb_load(t, db, device);
    PQfinish(db);
    return t->n == 1 ? twindb_metric(&t->rows[0].v, metric) : NULL;
}

/* The metric's value in the twin once the projector has written it (20 s). */
static double twin_metric(const char *device, const char *metric)
{
    for (int i = 0; i < 200; i++) {
        struct twindb t;
        const struct twin_view_metric *m = twin_metric_of(&t, device, metric);
        double v = m ? m->value : 0;
        twindb_release(&t);
        if (m)
            return v;
        usleep(100 * 1000);
    }
    ck_abort_msg("twin \"%s\" has no metric \"%s\" after 20 s", device, metric);
    return 0;
}

/* The twin's last_sequence. */
static int64_t twin_last_sequence(const char *device)
{
    struct twindb t;
    twin_metric_of(&t, device, "");
    ck_assert_uint_eq(t.n, 1);
    int64_t seq = t.rows[0].v.last_sequence;
    twindb_release(&t);
    return seq;
}

/* The twin (every field of its record, twindb_row_text) and the twins table's oid. */
static void twin_text(const char *device, char *out, size_t n)
{
    PGconn *db;
    char errstr[256];
    ck_assert_int_eq(pg_connect(st.dsn, "test_evolution", &db, errstr, sizeof(errstr)), TP_OK);
    struct buf b;
    buf_init(&b, SIZE_MAX / 2);
    twindb_text(db, device, &b);
    PGresult *res;
    ck_assert_int_eq(pg_exec_params(db, "SELECT 'twins'::regclass::oid", 0, NULL, PGRES_TUPLES_OK,
                                    &res, errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_msg(b.len > 0, "no twin \"%s\"", device);
    b.data[b.len - 1] = ' '; /* the line's newline */
    snprintf(out, n, "%s%s", b.data, PQgetvalue(res, 0, 0));
    ck_assert_uint_lt(strlen(out), n - 1);
    PQclear(res);
    PQfinish(db);
    buf_release(&b);
}

static void setup(void)
{
    buf_init(&resp, 1 << 22);
    snprintf(dir, sizeof(dir), "/tmp/tp-evolution-XXXXXX"); /* a fresh template per test */
    ck_assert_ptr_nonnull(mkdtemp(dir));
    stack_init(&st, "evolution");
    stack_db_create(&st);
    reg_port = stack_free_port();
    reg_pid = stack_service_start(&st, "tp-registry", NULL, reg_port);
    snprintf(reg_env, sizeof(reg_env), "TP_REGISTRY_URL=http://127.0.0.1:%u", reg_port);
    /* ingest registers the built-in schema in this fresh database: the operator's credential;
     * the projector only reads: stack_spawn's reader */
    const char *ingest_env[] = {reg_env, "TP_AUTH_MODE=off", STACK_REGISTRY_OPERATOR_ENV, NULL};
    ingest_port = stack_free_port();
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
    projector_port = stack_free_port();
    projector_pid = stack_service_start(&st, "tp-projector", projector_env, projector_port);
    now_ms = tp_now_ms();
}

static void teardown(void)
{
    int si = stack_service_stop(ingest_pid, SIGTERM);
    int sp = projector_pid > 0 ? stack_service_stop(projector_pid, SIGTERM) : 0;
    int sr = reg_pid > 0 ? stack_service_stop(reg_pid, SIGTERM) : 0;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    stack_release(&st);
    buf_release(&resp);
    ck_assert_int_eq(si, 0);
    ck_assert_int_eq(sp, 0);
    ck_assert_int_eq(sr, 0);
}

START_TEST(test_new_version_without_restart)
{
    char path[256], text[512];
    /* ingest registered the built-in schema under "<topic>-value" at start-up */
    snprintf(path, sizeof(path), "/subjects/%s-value/versions/latest", st.topic);
    struct jv *doc = registry_json("GET", path, NULL, 200);
    int v1 = (int)jv_num(doc, "id");
    ck_assert_double_eq(jv_num(doc, "version"), 1);
    ck_assert_str_eq(jv_str(doc, "schema"), schemas_builtin_proto);
    jv_free(doc);

    /* registry credentials: a projector whose password the registry refuses does not start
     * (rather than dead-letter or wait); a tp-ingest with the read credential finds the
     * registered schema and starts */
    const char *wrong[] = {reg_env, "TP_REGISTRY_PASSWORD=wrong", NULL};
    ck_assert_int_eq(stack_run_for(&st, "tp-projector", wrong, 30000), 1);
    char log[1024];
    snprintf(log, sizeof(log), "%s/../Testing/%s-tp-projector.log", TP_BIN_DIR, st.db);
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    char line[2048], needle[256];
    snprintf(needle, sizeof(needle),
             "ERROR tp-projector: the schema registry at \"http://127.0.0.1:%u\" refused the "
             "credentials of registry.user \"" STACK_REGISTRY_READER "\" (401)",
             reg_port);
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    ck_assert_msg(found, "no \"%s\" in %s", needle, log);
    const char *reader_ingest[] = {reg_env, "TP_AUTH_MODE=off", NULL};
    uint16_t port2 = stack_free_port();
    pid_t ingest2 = stack_service_start(&st, "tp-ingest", reader_ingest, port2);
    ck_assert_int_eq(stack_service_stop(ingest2, SIGTERM), 0);

    char *v2 = v2_text();
    write_file("v1.proto", schemas_builtin_proto, strlen(schemas_builtin_proto));
    write_file("v2.proto", v2, strlen(v2));

    /* v1, encoded by protoc, framed with the registry's id */
    size_t len;
    snprintf(text, sizeof(text),
             "device_id: \"evo-1\" sequence: 1 timestamp_ms: %lld speed_kmh: 40.5",
             (long long)now_ms);
    uint8_t *body = encode_framed("v1.proto", text, v1, &len);
    ck_assert_int_eq(post(body, len), 202);
    free(body);
    ck_assert_double_eq(twin_metric("evo-1", "speed_kmh"), 40.5);

    /* an id the registry does not have under the subject */
    snprintf(text, sizeof(text),
             "device_id: \"evo-1\" sequence: 2 timestamp_ms: %lld tire_wear_pct: 1",
             (long long)now_ms);
    body = encode_framed("v2.proto", text, 999999, &len);
    ck_assert_int_eq(post(body, len), 422);
    doc = jv_parse(resp.data);
    ck_assert_str_eq(jv_str(doc, "error.code"), "unknown_schema");
    ck_assert_msg(strstr(jv_str(doc, "error.message"), "schema id 999999 is not a telemetry "
                                                       "schema this server accepts"),
                  "%s", resp.data);
    jv_free(doc);
    free(body);

    /* v2 registered while everything runs (BACKWARD: a new optional field passes) */
    int id2 = register_schema(v2);
    ck_assert_int_ne(id2, v1);

    snprintf(text, sizeof(text),
             "device_id: \"evo-1\" sequence: 2 timestamp_ms: %lld speed_kmh: 41.25"
             " tire_wear_pct: 12.5 model: \"m-2\"",
             (long long)now_ms + 1000);
    body = encode_framed("v2.proto", text, id2, &len);
    ck_assert_msg(post(body, len) == 202, "%s", resp.data);
    doc = jv_parse(resp.data);
    ck_assert_double_eq(jv_num(doc, "accepted"), 1);
    jv_free(doc);
    free(body);
    /* the new field reached the twin as a metric by its name; the others as before */
    ck_assert_double_eq(twin_metric("evo-1", "tire_wear_pct"), 12.5);
    ck_assert_double_eq(twin_metric("evo-1", "speed_kmh"), 41.25);

    /* ingest's /metrics: v2 came from the registry once, then from the cache */
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", ingest_port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    ck_assert_msg(strstr(resp.data, "\ntp_ingest_unknown_schema_total 1\n"), "%s", resp.data);
    ck_assert_msg(strstr(resp.data, "\ntp_ingest_schema_cache_size 2\n"), "%s", resp.data);

    /* interop: the journal read back by kcat, each event decoded by protoc --decode */
    struct buf events, dec;
    buf_init(&events, 1 << 22);
    buf_init(&dec, 1 << 20);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "kcat -C -b %s -t %s -o beginning -e -q -f '%%k %%S\\n%%s\\n'",
             st.bootstrap, st.topic);
    run(cmd, &events);
    int seen = 0;
    for (size_t pos = 0; pos < events.len;) {
        char key[64];
        size_t size;
        int used;
        ck_assert_int_eq(sscanf(events.data + pos, "%63s %zu\n%n", key, &size, &used), 2);
        const uint8_t *ev = (const uint8_t *)events.data + pos + used;
        pos += (size_t)used + size + 1;
        ck_assert_str_eq(key, "evo-1");
        struct framing_header h;
        char errstr[160];
        ck_assert_int_eq(framing_decode(ev, size, &h, errstr, sizeof(errstr)), TP_OK);
        ck_assert_uint_eq(h.path_len, 1);
        ck_assert_int_eq(h.path[0], 0);
        write_file("event.bin", h.payload, h.payload_len);
        run("protoc -I. --decode=twinpipe.telemetry.v1.Reading v2.proto < event.bin", &dec);
        if (h.schema_id == v1) {
            snprintf(text, sizeof(text),
                     "device_id: \"evo-1\"\nsequence: 1\ntimestamp_ms: %lld\nspeed_kmh: 40.5\n",
                     (long long)now_ms);
        } else {
            ck_assert_int_eq(h.schema_id, id2); /* journaled with the version it came in */
            snprintf(text, sizeof(text),
                     "device_id: \"evo-1\"\nsequence: 2\ntimestamp_ms: %lld\nspeed_kmh: 41.25\n"
                     "model: \"m-2\"\ntire_wear_pct: 12.5\n",
                     (long long)now_ms + 1000);
        }
        ck_assert_str_eq(dec.data, text);
        seen++;
    }
    ck_assert_int_eq(seen, 2); /* and nothing of the refused request */
    buf_release(&events);
    buf_release(&dec);
    free(v2);
}
END_TEST

/* The one integer a query answers (the test database). */
static int64_t db_i64(const char *sql, const char *param)
{
    PGconn *db;
    char errstr[256];
    ck_assert_int_eq(pg_connect(st.dsn, "test_evolution", &db, errstr, sizeof(errstr)), TP_OK);
    const char *params[] = {param};
    PGresult *res;
    ck_assert_int_eq(pg_exec_params(db, sql, param ? 1 : 0, params, PGRES_TUPLES_OK, &res, errstr,
                                    sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(PQntuples(res), 1);
    int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    PQfinish(db);
    return v;
}

/* GET path of the projector: the status, the body in resp. */
static long projector_get(const char *path)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", projector_port, path);
    return stack_http("GET", url, NULL, NULL, 0, &resp);
}

/* Waits (20 s) until the projector's /metrics holds the line. */
static void wait_projector_line(const char *line)
{
    for (int i = 0; i < 200; i++) {
        if (projector_get("/metrics") == 200 && strstr(resp.data, line))
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("projector /metrics never had \"%s\":\n%s", line, resp.data);
}

static void on_delivery(void *opaque, const struct journal_delivery *d, void *arg)
{
    (void)opaque;
    (void)arg;
    ck_assert_int_eq(d->err, TP_OK);
}

START_TEST(test_registry_down_waits_then_decodes)
{
    char path[256], text[512];
    snprintf(path, sizeof(path), "/subjects/%s-value/versions/latest", st.topic);
    struct jv *doc = registry_json("GET", path, NULL, 200);
    int v1 = (int)jv_num(doc, "id");
    jv_free(doc);
    char *v2 = v2_text();
    write_file("v1.proto", schemas_builtin_proto, strlen(schemas_builtin_proto));
    write_file("v2.proto", v2, strlen(v2));
    int id2 = register_schema(v2);

    size_t len;
    snprintf(text, sizeof(text),
             "device_id: \"evo-2\" sequence: 1 timestamp_ms: %lld speed_kmh: 40.5",
             (long long)now_ms);
    uint8_t *body = encode_framed("v1.proto", text, v1, &len);
    ck_assert_int_eq(post(body, len), 202);
    free(body);
    ck_assert_double_eq(twin_metric("evo-2", "speed_kmh"), 40.5);

    /* a v2 reading journaled while the projector is away; then the registry goes down and
     * a new projector (which never loaded v2) starts */
    ck_assert_int_eq(stack_service_stop(projector_pid, SIGTERM), 0);
    snprintf(text, sizeof(text),
             "device_id: \"evo-2\" sequence: 2 timestamp_ms: %lld speed_kmh: 41.25"
             " tire_wear_pct: 12.5",
             (long long)now_ms + 1000);
    body = encode_framed("v2.proto", text, id2, &len);
    ck_assert_msg(post(body, len) == 202, "%s", resp.data);
    free(body);
    ck_assert_int_eq(stack_service_stop(reg_pid, SIGTERM), 0);
    reg_pid = 0;
    projector_pid = stack_service_start(&st, "tp-projector", projector_env, projector_port);
    wait_projector_line("\ntp_projector_decode_waiting 1\n");
    long status = 0;
    for (int i = 0; i < 100 && status != 503; i++) {
        status = projector_get("/readyz");
        if (status != 503)
            usleep(100 * 1000);
    }
    ck_assert_int_eq(status, 503);
    doc = jv_parse(resp.data);
    ck_assert_str_eq(jv_str(doc, "error.code"), "not_ready");
    ck_assert_str_eq(jv_str(doc, "error.message"),
                     "events wait for the schema registry to decode them");
    jv_free(doc);
    /* it keeps waiting: the twin and the offsets do not move, nothing is dead-lettered */
    sleep(2);
    ck_assert_int_eq(projector_get("/metrics"), 200);
    ck_assert_msg(strstr(resp.data, "\ntp_projector_decode_waiting 1\n"), "%s", resp.data);
    ck_assert_msg(strstr(resp.data, "\ntp_projector_applied_total 0\n"), "%s", resp.data);
    ck_assert_msg(strstr(resp.data, "\ntp_projector_dead_lettered_total 0\n"), "%s", resp.data);
    ck_assert_int_eq(db_i64("SELECT version FROM twins WHERE device_id = $1", "evo-2"), 1);
    struct twindb t;
    ck_assert_ptr_null(twin_metric_of(&t, "evo-2", "tire_wear_pct"));
    ck_assert_uint_eq(t.n, 1);
    twindb_release(&t);
    ck_assert_int_eq(db_i64("SELECT coalesce(sum(next_offset), 0) FROM projector_offsets"
                            " WHERE consumer_group = $1",
                            st.topic),
                     1);

    /* the registry is back (its store is in postgresql): the v2 field reaches the twin */
    reg_pid = stack_service_start(&st, "tp-registry", NULL, reg_port);
    ck_assert_double_eq(twin_metric("evo-2", "tire_wear_pct"), 12.5);
    ck_assert_double_eq(twin_metric("evo-2", "speed_kmh"), 41.25);
    wait_projector_line("\ntp_projector_decode_waiting 0\n");
    ck_assert_int_eq(projector_get("/readyz"), 200);
    ck_assert_int_eq(db_i64("SELECT version FROM twins WHERE device_id = $1", "evo-2"), 2);

    /* an id the registry does not have can never be decoded: dead-lettered, then the
     * projector moves on */
    struct journal_config jc = {.bootstrap_servers = st.bootstrap, .topic = st.topic};
    char errstr[256];
    struct journal_producer *p;
    ck_assert_int_eq(journal_producer_new(&jc, on_delivery, NULL, &p, errstr, sizeof(errstr)),
                     TP_OK);
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = "evo-2";
    r.has_sequence = r.has_timestamp_ms = r.has_speed_kmh = 1;
    r.sequence = 3;
    r.timestamp_ms = now_ms + 2000;
    r.speed_kmh = 99;
    ck_assert_int_eq(journal_producer_append_schema(p, &r, 999999, NULL, errstr, sizeof(errstr)),
                     TP_OK);
    r.sequence = 4;
    r.speed_kmh = 44;
    ck_assert_int_eq(journal_producer_append_schema(p, &r, v1, NULL, errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(journal_producer_flush(p, 10000), TP_OK);
    journal_producer_free(p);
    wait_projector_line("\ntp_projector_dead_lettered_total 1\n");
    for (int i = 0;
         i < 200 && db_i64("SELECT version FROM twins WHERE device_id = $1", "evo-2") < 3; i++)
        usleep(100 * 1000);
    ck_assert_int_eq(db_i64("SELECT version FROM twins WHERE device_id = $1", "evo-2"), 3);
    ck_assert_double_eq(twin_metric("evo-2", "speed_kmh"), 44);
    ck_assert_int_eq(twin_last_sequence("evo-2"), 4);
    struct journal_consumer *c = workload_dlq_consumer(&st);
    struct journal_event ev;
    workload_dlq_next(c, &ev);
    ck_assert_int_eq(ev.schema_id, 999999);
    ck_assert_str_eq(ev.dlq_reason, "undecodable");
    ck_assert_ptr_nonnull(ev.reading); /* the bytes as journaled: the built-in code reads them */
    ck_assert_int_eq(ev.reading->sequence, 3);
    journal_event_release(&ev);
    journal_consumer_free(c);

    /* tp-replay decodes the same way: with the registry down it fails and leaves the live
     * projection alone; with it, it rebuilds the same twin, v2 field included */
    ck_assert_int_eq(stack_service_stop(projector_pid, SIGTERM), 0);
    projector_pid = 0;
    char live[2048], now[2048];
    twin_text("evo-2", live, sizeof(live));
    ck_assert_msg(strstr(live, " | tire_wear_pct=12.5@"), "%s", live);
    char group[128];
    snprintf(group, sizeof(group), "TP_REPLAY_GROUP=%s", st.topic);
    const char *replay_env[] = {reg_env, group, NULL};
    ck_assert_int_eq(stack_service_stop(reg_pid, SIGTERM), 0);
    reg_pid = 0;
    ck_assert_int_ne(stack_run(&st, "tp-replay", replay_env), 0);
    twin_text("evo-2", now, sizeof(now));
    ck_assert_str_eq(now, live);
    reg_pid = stack_service_start(&st, "tp-registry", NULL, reg_port);
    ck_assert_int_eq(stack_run(&st, "tp-replay", replay_env), 0);
    twin_text("evo-2", now, sizeof(now));
    ck_assert_str_ne(now, live); /* a new table */
    *strrchr(now, ' ') = *strrchr(live, ' ') = '\0';
    ck_assert_str_eq(now, live);
    free(v2);
}
END_TEST

static Suite *evolution_suite(void)
{
    Suite *s = suite_create("evolution");
    TCase *tc = tcase_create("evolution");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_new_version_without_restart);
    tcase_add_test(tc, test_registry_down_waits_then_decodes);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(evolution_suite)
