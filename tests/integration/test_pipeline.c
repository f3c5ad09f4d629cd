/*
 * End to end through the real stack: readings POSTed to tp-ingest travel
 * through Kafka to tp-projector and PostgreSQL, and tp-query returns the
 * twins with exact values. Also: duplicates change nothing, a projector
 * killed with SIGKILL resumes from the offsets in PostgreSQL without
 * losing or double-counting anything, and bad input gets the right 4xx
 * and journals nothing; requests without a valid token get 401, readings
 * of devices the token does not cover 403, and neither journals anything.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"
#include "token/auth.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"
#include "tests/support/stack.h"
#include "tests/support/workload.h"

#define DEVICES  20
#define READINGS 12 /* per device in the first phase */
#define EXTRA    5  /* per device after the projector is killed */
#define BATCH    50
#define MAX_BODY 65536

static struct stack st;
static uint16_t ingest_port, query_port, projector_port;
static pid_t ingest_pid, query_pid, projector_pid;
static int64_t base_ms;

#define SECRET "integration-test-secret-0001"
static const char *const ingest_env[] = {"TP_INGEST_MAX_BODY=65536", "TP_AUTH_SECRET=" SECRET,
                                         NULL};
/* a killed member is noticed after the session timeout: keep it short in tests */
static const char *const projector_env[] = {"TP_PROJECTOR_FLUSH_INTERVAL_MS=50",
                                            "TP_KAFKA_SESSION_TIMEOUT_MS=6000", NULL};

static int posts; /* POSTs sent so far */

/* Checks a consistency token "t1.<p>:<o>,..." (partitions ascending) and returns sum(o + 1). */
static long token_events(const char *token)
{
    ck_assert_msg(!strncmp(token, "t1.", 3), "token %s", token);
    long sum = 0;
    int last = -1;
    for (const char *p = token + 3; *p;) {
        char *end;
        long part = strtol(p, &end, 10);
        ck_assert_msg(end != p && *end == ':' && part > last, "token %s", token);
        last = (int)part;
        p = end + 1;
        long off = strtol(p, &end, 10);
        ck_assert_msg(end != p && (*end == ',' || *end == '\0'), "token %s", token);
        sum += off + 1;
        p = *end ? end + 1 : end;
    }
    return sum;
}

static int64_t ts_of(int seq)
{
    return base_ms + (int64_t)seq * 1000;
}

static void device_id(int i, char *out, size_t n)
{
    snprintf(out, n, "it-dev-%03d", i);
}

/* Deterministic reading i/seq; strings point into the caller's storage. */
static void fill(journal_reading *r, Twinpipe__Telemetry__V1__Reading__Location *loc,
                 Twinpipe__Telemetry__V1__Reading__MetricsEntry *co2,
                 Twinpipe__Telemetry__V1__Reading__MetricsEntry **co2p, char *id, char *model,
                 char *fw, int i, int seq)
{
    journal_reading init = TWINPIPE__TELEMETRY__V1__READING__INIT;
    Twinpipe__Telemetry__V1__Reading__Location linit =
        TWINPIPE__TELEMETRY__V1__READING__LOCATION__INIT;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry minit =
        TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
    *r = init;
    *loc = linit;
    *co2 = minit;
    device_id(i, id, 32);
    snprintf(model, 16, "model-%d", i % 3);
    snprintf(fw, 16, "fw-%d", seq);
    r->device_id = id;
    r->has_sequence = 1;
    r->sequence = (uint64_t)seq;
    r->has_timestamp_ms = 1;
    r->timestamp_ms = ts_of(seq);
    r->has_speed_kmh = 1;
    r->speed_kmh = i * 10 + seq + 0.25;
    r->has_fuel_level_pct = 1;
    r->fuel_level_pct = 100 - seq * 0.5;
    if (seq % 2 == 0) { /* battery only on even sequences */
        r->has_battery_voltage_v = 1;
        r->battery_voltage_v = 12 + i * 0.01;
    }
    loc->has_lat = loc->has_lon = 1;
    loc->lat = 48 + i * 0.001;
    loc->lon = 11 + seq * 0.0001;
    r->location = loc;
    if (i % 2 == 0) {
        co2->key = "cabin_co2_ppm";
        co2->has_value = 1;
        co2->value = 400 + seq;
        *co2p = co2;
        r->metrics = co2p;
        r->n_metrics = 1;
    }
    r->model = model;
    r->firmware = fw;
    r->region = "eu-central";
}

/* POSTs readings seq_from..seq_to of every device, BATCH per request, in per-device order. */
static void post_range(int seq_from, int seq_to)
{
    int total = DEVICES * (seq_to - seq_from + 1);
    journal_reading *rs = calloc((size_t)total, sizeof(*rs));
    journal_reading **ptrs = calloc((size_t)total, sizeof(*ptrs));
    Twinpipe__Telemetry__V1__Reading__Location *locs = calloc((size_t)total, sizeof(*locs));
    Twinpipe__Telemetry__V1__Reading__MetricsEntry *co2 = calloc((size_t)total, sizeof(*co2));
    Twinpipe__Telemetry__V1__Reading__MetricsEntry **co2p = calloc((size_t)total, sizeof(*co2p));
    char(*ids)[32] = calloc((size_t)total, 32);
    char(*models)[16] = calloc((size_t)total, 16);
    char(*fws)[16] = calloc((size_t)total, 16);
    int k = 0;
    for (int seq = seq_from; seq <= seq_to; seq++)
        for (int i = 0; i < DEVICES; i++, k++) {
            fill(&rs[k], &locs[k], &co2[k], &co2p[k], ids[k], models[k], fws[k], i, seq);
            ptrs[k] = &rs[k];
        }
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/telemetry", ingest_port);
    struct buf resp;
    buf_init(&resp, 1 << 20);
    for (int off = 0; off < total; off += BATCH) {
        Twinpipe__Telemetry__V1__ReadingBatch batch = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
        batch.readings = ptrs + off;
        batch.n_readings = (size_t)(total - off < BATCH ? total - off : BATCH);
        size_t len = protobuf_c_message_get_packed_size(&batch.base);
        uint8_t *body = malloc(len);
        protobuf_c_message_pack(&batch.base, body);
        long status = stack_http("POST", url, "application/x-protobuf", body, len, &resp);
        ck_assert_msg(status == 202, "POST got %ld: %s", status, resp.data ? resp.data : "");
        struct jv *doc = jv_parse(resp.data);
        ck_assert_ptr_nonnull(doc);
        ck_assert_double_eq(jv_num(doc, "accepted"), (double)batch.n_readings);
        ck_assert_uint_eq(jv_len(doc, "rejected"), 0);
        /* the first POST to the fresh topic wrote every event there: the token's
         * highest offset per partition accounts for each of them exactly */
        if (posts++ == 0)
            ck_assert_int_eq(token_events(jv_str(doc, "token")), (long)batch.n_readings);
        else
            token_events(jv_str(doc, "token"));
        jv_free(doc);
        free(body);
    }
    buf_release(&resp);
    free(rs);
    free(ptrs);
    free(locs);
    free(co2);
    free(co2p);
    free(ids);
    free(models);
    free(fws);
}

static struct jv *get_twin(int i, long *status)
{
    char id[32], url[160];
    device_id(i, id, sizeof(id));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/devices/%s", query_port, id);
    struct buf resp;
    buf_init(&resp, 1 << 20);
    *status = stack_http("GET", url, NULL, NULL, 0, &resp);
    struct jv *doc = *status == 200 ? jv_parse(resp.data) : NULL;
    buf_release(&resp);
    return doc;
}

/* Waits (60 s) until every twin shows `events` readings. */
static void wait_for_events(int events)
{
    for (int attempt = 0; attempt < 600; attempt++) {
        int done = 0;
        for (int i = 0; i < DEVICES; i++) {
            long status;
            struct jv *doc = get_twin(i, &status);
            const struct jv *e = doc ? jv_path(doc, "events") : NULL;
            if (e && e->type == JV_NUM && e->num == events)
                done++;
            jv_free(doc);
        }
        if (done == DEVICES)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("twins did not reach %d events within 60 s", events);
}

static void iso8601(int64_t ms, char *out, size_t n)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Every field of every twin, exactly, after readings 1..last. */
static void assert_twins(int last)
{
    for (int i = 0; i < DEVICES; i++) {
        long status;
        struct jv *doc = get_twin(i, &status);
        ck_assert_int_eq(status, 200);
        char id[32], model[16], fw[16], first[64], lastseen[64];
        device_id(i, id, sizeof(id));
        snprintf(model, sizeof(model), "model-%d", i % 3);
        snprintf(fw, sizeof(fw), "fw-%d", last);
        iso8601(ts_of(1), first, sizeof(first));
        iso8601(ts_of(last), lastseen, sizeof(lastseen));
        int last_even = last % 2 == 0 ? last : last - 1;
        ck_assert_str_eq(jv_str(doc, "device_id"), id);
        ck_assert_double_eq(jv_num(doc, "events"), last);
        ck_assert_double_eq(jv_num(doc, "last_sequence"), last);
        ck_assert_str_eq(jv_str(doc, "first_seen"), first);
        ck_assert_str_eq(jv_str(doc, "last_seen"), lastseen);
        ck_assert_uint_eq(jv_len(doc, "metrics"), i % 2 == 0 ? 4 : 3);
        ck_assert_double_eq(jv_num(doc, "metrics.speed_kmh.value"), i * 10 + last + 0.25);
        ck_assert_double_eq(jv_num(doc, "metrics.speed_kmh.ts"), (double)ts_of(last));
        ck_assert_double_eq(jv_num(doc, "metrics.fuel_level_pct.value"), 100 - last * 0.5);
        ck_assert_double_eq(jv_num(doc, "metrics.battery_voltage_v.value"), 12 + i * 0.01);
        ck_assert_double_eq(jv_num(doc, "metrics.battery_voltage_v.ts"), (double)ts_of(last_even));
        if (i % 2 == 0)
            ck_assert_double_eq(jv_num(doc, "metrics.cabin_co2_ppm.value"), 400 + last);
        ck_assert_double_eq(jv_num(doc, "location.lat"), 48 + i * 0.001);
        ck_assert_double_eq(jv_num(doc, "location.lon"), 11 + last * 0.0001);
        ck_assert_double_eq(jv_num(doc, "location.ts"), (double)ts_of(last));
        ck_assert_uint_eq(jv_len(doc, "location"), 3);
        ck_assert_str_eq(jv_str(doc, "attributes.model"), model);
        ck_assert_str_eq(jv_str(doc, "attributes.firmware"), fw);
        ck_assert_str_eq(jv_str(doc, "attributes.region"), "eu-central");
        jv_free(doc);
    }
}

static void token_for(enum auth_kind kind, const char *scope, char *out)
{
    /* tokens expire: an hour after the first one, so a token minted again is the same token */
    static int64_t expiry;
    if (!expiry)
        expiry = time(NULL) + 3600;
    struct auth_claims c = {.kind = kind, .expiry_s = expiry};
    char errstr[128];
    snprintf(c.scope, sizeof(c.scope), "%s", scope);
    ck_assert_int_eq(auth_mint(SECRET, &c, out, AUTH_TOKEN_MAX + 1, errstr, sizeof(errstr)), TP_OK);
}

/* tp-query accepts the gateway token as an analyst key too: its SHA-256 */
static char query_keys[128];
static const char *const query_env[] = {query_keys, NULL};

static void setup(void)
{
    char token[AUTH_TOKEN_MAX + 1];
    token_for(AUTH_PREFIX, "it-dev-", token); /* a gateway for the test fleet */
    stack_set_bearer(token);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(token, strlen(token), d, &dl, EVP_sha256(), NULL);
    size_t o = (size_t)snprintf(query_keys, sizeof(query_keys), "TP_QUERY_API_KEYS=");
    for (unsigned k = 0; k < dl; k++)
        o += (size_t)snprintf(query_keys + o, sizeof(query_keys) - o, "%02x", d[k]);
    stack_init(&st, "pipeline");
    stack_db_create(&st);
    base_ms = (tp_now_ms() / 1000) * 1000 - 3600 * 1000 + 123;
    ingest_port = stack_free_port();
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
    projector_port = stack_free_port();
    projector_pid = stack_service_start(&st, "tp-projector", projector_env, projector_port);
    query_port = stack_free_port();
    query_pid = stack_service_start(&st, "tp-query", query_env, query_port);
}

static void teardown(void)
{
    /* stop every service first (none may outlive the test), then: graceful stops exit 0 */
    int q = stack_service_stop(query_pid, SIGTERM);
    int p = stack_service_stop(projector_pid, SIGTERM);
    int i = stack_service_stop(ingest_pid, SIGTERM);
    stack_release(&st);
    ck_assert_int_eq(q, 0);
    ck_assert_int_eq(p, 0);
    ck_assert_int_eq(i, 0);
}

START_TEST(test_twins_exact)
{
    long status;
    struct jv *none = get_twin(0, &status);
    ck_assert_int_eq(status, 404);
    jv_free(none);
    post_range(1, READINGS);
    /* the same readings again: journaled, and ignored by the fold */
    post_range(READINGS - 2, READINGS);
    wait_for_events(READINGS);
    assert_twins(READINGS);

    /* the twin's version as ETag; a conditional GET of the same version: 304 */
    char url[160];
    struct buf resp;
    buf_init(&resp, 1 << 16);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/devices/it-dev-003", query_port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    ck_assert_str_eq(stack_last_etag(), "\"v12\"");
    stack_set_header("If-None-Match: \"v12\"");
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 304);
    ck_assert_uint_eq(resp.len, 0);
    ck_assert_str_eq(stack_last_etag(), "\"v12\"");
    stack_set_header("If-None-Match: \"v11\", W/\"v3\"");
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    stack_set_header(NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", query_port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    ck_assert_str_eq(resp.data, "{\"status\":\"ready\"}");
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", query_port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_query_http_responses_total{status=\"304\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_query_device_lookup_duration_seconds_count "));

    /* the projector's own account: 240 applied, the 60 re-sent readings ignored, no lag */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", projector_port);
    bool settled = false;
    for (int i = 0; i < 300 && !settled; i++) {
        ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
        settled = strstr(resp.data, "\ntp_projector_duplicates_total 60\n") &&
                  !strstr(resp.data, "tp_projector_lag_events{partition=\"0\"} 1");
        if (!settled)
            usleep(100 * 1000);
    }
    ck_assert_msg(settled, "projector never counted the 60 duplicates:\n%s", resp.data);
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_projector_applied_total 240\n"));
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_projector_invalid_total 0\n"));
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_projector_events_total 300\n"));
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_projector_flush_duration_seconds_count "));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", projector_port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    buf_release(&resp);
}
END_TEST

START_TEST(test_projector_killed_resumes_exactly)
{
    ck_assert_int_eq(stack_service_stop(projector_pid, SIGKILL) & 0x7f, SIGKILL);
    post_range(READINGS + 1, READINGS + EXTRA);
    post_range(1, 3); /* old duplicates after the crash change nothing */
    projector_pid = stack_service_start(&st, "tp-projector", projector_env, projector_port);
    wait_for_events(READINGS + EXTRA);
    assert_twins(READINGS + EXTRA);
}
END_TEST

static void expect_error(long status, const char *body, long want, const char *code)
{
    ck_assert_msg(status == want, "status %ld, want %ld: %s", status, want, body ? body : "");
    struct jv *doc = jv_parse(body);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(jv_str(doc, "error.code"), code);
    ck_assert_uint_gt(strlen(jv_str(doc, "error.message")), 0);
    jv_free(doc);
}

START_TEST(test_bad_input_changes_nothing)
{
    struct journal_config jc = {.bootstrap_servers = st.bootstrap, .topic = st.topic};
    char errstr[256];
    int64_t before, after;
    ck_assert_int_eq(journal_topic_count(&jc, 10000, &before, errstr, sizeof(errstr)), TP_OK);

    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/telemetry", ingest_port);
    struct buf resp;
    buf_init(&resp, 1 << 20);

    const char junk[] = "definitely not protobuf";
    long s = stack_http("POST", url, "application/x-protobuf", junk, sizeof(junk) - 1, &resp);
    expect_error(s, resp.data, 400, "invalid_protobuf");

    s = stack_http("POST", url, "application/json", "{}", 2, &resp);
    expect_error(s, resp.data, 415, "unsupported_media_type");

    char *big = calloc(MAX_BODY + 100, 1);
    s = stack_http("POST", url, "application/x-protobuf", big, MAX_BODY + 100, &resp);
    expect_error(s, resp.data, 413, "payload_too_large");
    free(big);

    /* request line + headers over http.max_header_bytes (8192): JSON 431, body never read */
    char *hdr = malloc(9001);
    memcpy(hdr, "X-Padding: ", 11);
    memset(hdr + 11, 'p', 8989);
    hdr[9000] = '\0';
    stack_set_header(hdr);
    s = stack_http("POST", url, "application/x-protobuf", junk, sizeof(junk) - 1, &resp);
    stack_set_header(NULL);
    free(hdr);
    expect_error(s, resp.data, 431, "headers_too_large");

    /* a batch whose only reading has no device_id */
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.has_sequence = r.has_timestamp_ms = 1;
    r.sequence = 1;
    r.timestamp_ms = tp_now_ms();
    journal_reading *rp[] = {&r};
    Twinpipe__Telemetry__V1__ReadingBatch batch = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    batch.readings = rp;
    batch.n_readings = 1;
    uint8_t body[256];
    size_t len = protobuf_c_message_pack(&batch.base, body);
    s = stack_http("POST", url, "application/x-protobuf", body, len, &resp);
    expect_error(s, resp.data, 422, "no_valid_reading");
    struct jv *doc = jv_parse(resp.data);
    ck_assert_uint_eq(jv_len(doc, "rejected"), 1);
    ck_assert_double_eq(jv_num(doc, "rejected.0.index"), 0);
    ck_assert_str_eq(jv_str(doc, "rejected.0.code"), "missing_device_id");
    jv_free(doc);

    /* auth: no token, a forged one, a device token for another device */
    char token[AUTH_TOKEN_MAX + 1], gateway[AUTH_TOKEN_MAX + 1];
    token_for(AUTH_PREFIX, "it-dev-", gateway);
    stack_set_bearer(NULL);
    s = stack_http("POST", url, "application/x-protobuf", junk, sizeof(junk) - 1, &resp);
    expect_error(s, resp.data, 401, "unauthorized");
    stack_set_bearer("tp1.cHx8MA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    s = stack_http("POST", url, "application/x-protobuf", junk, sizeof(junk) - 1, &resp);
    expect_error(s, resp.data, 401, "unauthorized");
    token_for(AUTH_DEVICE, "it-dev-999", token);
    stack_set_bearer(token);
    journal_reading other = TWINPIPE__TELEMETRY__V1__READING__INIT;
    other.device_id = "it-dev-000";
    other.has_sequence = other.has_timestamp_ms = 1;
    other.sequence = 1000;
    other.timestamp_ms = tp_now_ms();
    journal_reading *op[] = {&other};
    batch.readings = op;
    len = protobuf_c_message_pack(&batch.base, body);
    s = stack_http("POST", url, "application/x-protobuf", body, len, &resp);
    expect_error(s, resp.data, 403, "forbidden");
    token_for(AUTH_PREFIX, "car-", token); /* a gateway of another fleet */
    stack_set_bearer(token);
    s = stack_http("POST", url, "application/x-protobuf", body, len, &resp);
    expect_error(s, resp.data, 403, "forbidden");
    stack_set_bearer(gateway);

    s = stack_http("GET", url, NULL, NULL, 0, &resp);
    expect_error(s, resp.data, 405, "method_not_allowed");
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/nothing", ingest_port);
    s = stack_http("GET", url, NULL, NULL, 0, &resp);
    expect_error(s, resp.data, 404, "not_found");
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/devices/bad%%20id", query_port);
    s = stack_http("GET", url, NULL, NULL, 0, &resp);
    expect_error(s, resp.data, 400, "invalid_device_id");
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/devices/nobody", query_port);
    s = stack_http("GET", url, NULL, NULL, 0, &resp);
    expect_error(s, resp.data, 404, "device_not_found");
    buf_release(&resp);

    ck_assert_int_eq(journal_topic_count(&jc, 10000, &after, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(after, before);
}
END_TEST

static void expect_line(const char *text, const char *line)
{
    char want[256];
    snprintf(want, sizeof(want), "\n%s\n", line);
    ck_assert_msg(strstr(text, want) != NULL, "metrics lack \"%s\":\n%s", line, text);
}

/* Runs after the tests above on the same tp-ingest: exact counters. */
START_TEST(test_metrics_and_readiness)
{
    char url[128];
    struct buf resp;
    buf_init(&resp, 1 << 20);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", ingest_port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    ck_assert_str_eq(resp.data, "{\"status\":\"ready\"}");
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", ingest_port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    /* (12 + 3 duplicates + 5 + 3 old) readings x 20 devices */
    expect_line(resp.data, "tp_ingest_readings_accepted_total 460");
    expect_line(resp.data, "tp_ingest_readings_rejected_total{reason=\"missing_device_id\"} 1");
    expect_line(resp.data, "tp_ingest_readings_rejected_total{reason=\"invalid_sequence\"} 0");
    expect_line(resp.data, "tp_ingest_http_responses_total{status=\"401\"} 2");
    expect_line(resp.data, "tp_ingest_http_responses_total{status=\"403\"} 2");
    expect_line(resp.data, "tp_ingest_http_responses_total{status=\"413\"} 1");
    expect_line(resp.data, "tp_ingest_http_responses_total{status=\"415\"} 1");
    expect_line(resp.data, "tp_ingest_http_responses_total{status=\"422\"} 1");
    expect_line(resp.data, "tp_ingest_overloaded_total 0");
    expect_line(resp.data, "tp_ingest_producer_queue_depth 0");
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_ingest_ack_latency_seconds_count "));
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_ingest_http_open_connections "));
    buf_release(&resp);
}
END_TEST

/* POSTs `n` readings of device `id` (sequences from `seq`); returns the status. */
static long post_readings(const char *url, const char *id, int seq, int n, struct buf *resp)
{
    journal_reading rs[16], *rp[16];
    for (int i = 0; i < n; i++) {
        journal_reading init = TWINPIPE__TELEMETRY__V1__READING__INIT;
        rs[i] = init;
        rs[i].device_id = (char *)id;
        rs[i].has_sequence = rs[i].has_timestamp_ms = 1;
        rs[i].sequence = (uint64_t)(seq + i);
        rs[i].timestamp_ms = tp_now_ms();
        rp[i] = &rs[i];
    }
    Twinpipe__Telemetry__V1__ReadingBatch batch = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    batch.readings = rp;
    batch.n_readings = (size_t)n;
    uint8_t body[2048];
    size_t len = protobuf_c_message_pack(&batch.base, body);
    return stack_http("POST", url, "application/x-protobuf", body, len, resp);
}

struct slow_post {
    char url[128];
    long status;
};

static void *slow_post_main(void *arg)
{
    struct slow_post *sp = arg;
    struct buf resp;
    buf_init(&resp, 1 << 16);
    sp->status = post_readings(sp->url, "it-dev-600", 1, 10, &resp);
    buf_release(&resp);
    return NULL;
}

/* 10 events in flight allowed; Kafka acks slowly (linger 2 s): while a first request's 10
 * events wait, a second request is refused with 503 and journals nothing. */
START_TEST(test_backpressure_refuses_and_stores_nothing)
{
    static const char *const env[] = {"TP_INGEST_MAX_OUTSTANDING=10", "TP_INGEST_MAX_READINGS=10",
                                      "TP_KAFKA_LINGER_MS=2000", "TP_AUTH_SECRET=" SECRET, NULL};
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-ingest", env, port);
    struct journal_config jc = {.bootstrap_servers = st.bootstrap, .topic = st.topic};
    char errstr[256];
    int64_t before, after;
    ck_assert_int_eq(journal_topic_count(&jc, 10000, &before, errstr, sizeof(errstr)), TP_OK);
    struct slow_post sp = {.status = 0};
    snprintf(sp.url, sizeof(sp.url), "http://127.0.0.1:%u/v1/telemetry", port);
    pthread_t t;
    pthread_create(&t, NULL, slow_post_main, &sp);
    usleep(600 * 1000);
    struct buf resp;
    buf_init(&resp, 1 << 16);
    long s = post_readings(sp.url, "it-dev-601", 1, 1, &resp);
    expect_error(s, resp.data, 503, "overloaded");
    buf_release(&resp);
    pthread_join(t, NULL);
    ck_assert_int_eq(sp.status, 202);
    ck_assert_int_eq(journal_topic_count(&jc, 10000, &after, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(after, before + 10);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
}
END_TEST

/* A reading the topic refuses (over its max.message.bytes) lands in the dead-letter topic. */
START_TEST(test_refused_event_is_dead_lettered)
{
    char small[160], dlq[200], errstr[256], url[128];
    snprintf(small, sizeof(small), "%s-small", st.topic);
    snprintf(dlq, sizeof(dlq), "%s.dlq", small);
    struct journal_config jc = {.bootstrap_servers = st.bootstrap,
                                .topic = small,
                                .partitions = 2,
                                .replication = 1,
                                .max_message_bytes = 2048};
    ck_assert_int_eq(journal_topic_ensure(&jc, 10000, errstr, sizeof(errstr)), TP_OK);
    char topic_env[200];
    snprintf(topic_env, sizeof(topic_env), "TP_JOURNAL_TOPIC=%s", small);
    const char *env[] = {topic_env, "TP_INGEST_MAX_METRICS=1000", "TP_AUTH_SECRET=" SECRET, NULL};
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-ingest", env, port);

    /* 600 metrics with scattered names and values: well over 2048 bytes compressed */
    Twinpipe__Telemetry__V1__Reading__MetricsEntry m[600], *mp[600];
    char names[600][16];
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 600; i++) {
        Twinpipe__Telemetry__V1__Reading__MetricsEntry init =
            TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        m[i] = init;
        snprintf(names[i], sizeof(names[i]), "m%012llx",
                 (unsigned long long)(x & 0xffffffffffffULL));
        m[i].key = names[i];
        m[i].has_value = 1;
        m[i].value = (double)(x >> 11) / 9007199254740992.0;
        mp[i] = &m[i];
    }
    journal_reading big = TWINPIPE__TELEMETRY__V1__READING__INIT, ok = big;
    big.device_id = "it-dev-500";
    ok.device_id = "it-dev-501";
    big.has_sequence = big.has_timestamp_ms = ok.has_sequence = ok.has_timestamp_ms = 1;
    big.sequence = ok.sequence = 1;
    big.timestamp_ms = ok.timestamp_ms = tp_now_ms();
    big.metrics = mp;
    big.n_metrics = 600;
    journal_reading *rp[] = {&big, &ok};
    Twinpipe__Telemetry__V1__ReadingBatch batch = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    batch.readings = rp;
    batch.n_readings = 2;
    size_t len = protobuf_c_message_get_packed_size(&batch.base);
    uint8_t *body = malloc(len);
    protobuf_c_message_pack(&batch.base, body);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/telemetry", port);
    struct buf resp;
    buf_init(&resp, 1 << 16);
    long s = stack_http("POST", url, "application/x-protobuf", body, len, &resp);
    free(body);
    ck_assert_msg(s == 202, "status %ld: %s", s, resp.data);
    struct jv *doc = jv_parse(resp.data);
    ck_assert_double_eq(jv_num(doc, "accepted"), 2);
    ck_assert_double_eq(jv_num(doc, "dead_lettered"), 1);
    jv_free(doc);
    buf_release(&resp);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);

    int64_t n;
    ck_assert_int_eq(journal_topic_count(&jc, 10000, &n, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(n, 1); /* only the small reading */
    struct journal_config dc = {.bootstrap_servers = st.bootstrap, .topic = dlq};
    ck_assert_int_eq(journal_topic_count(&dc, 10000, &n, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(n, 1);
    struct journal_consumer *c = workload_dlq_consumer_of(&st, small);
    struct journal_event ev;
    workload_dlq_next(c, &ev);
    ck_assert_ptr_nonnull(ev.reading);
    ck_assert_str_eq(ev.reading->device_id, "it-dev-500");
    ck_assert_uint_eq(ev.reading->n_metrics, 600);
    ck_assert_str_eq(ev.dlq_reason, "Broker: Message size too large");
    ck_assert_msg(!strncmp(ev.dlq_origin, "tp-ingest@", 10), "origin %s", ev.dlq_origin);
    journal_event_release(&ev);
    journal_consumer_free(c);
}
END_TEST

struct poster {
    char url[128];
    long acked;    /* readings answered 202 */
    long requests; /* POSTs answered at all */
};

/* POSTs batches of 20 new readings until a request is not answered 202. */
static void *poster_main(void *arg)
{
    struct poster *ps = arg;
    struct buf resp;
    buf_init(&resp, 1 << 16);
    for (int b = 0;; b++) {
        journal_reading rs[20], *rp[20];
        for (int i = 0; i < 20; i++) {
            journal_reading init = TWINPIPE__TELEMETRY__V1__READING__INIT;
            rs[i] = init;
            rs[i].device_id = "it-dev-700";
            rs[i].has_sequence = rs[i].has_timestamp_ms = 1;
            rs[i].sequence = (uint64_t)(b * 20 + i + 1);
            rs[i].timestamp_ms = tp_now_ms();
            rp[i] = &rs[i];
        }
        Twinpipe__Telemetry__V1__ReadingBatch batch = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
        batch.readings = rp;
        batch.n_readings = 20;
        uint8_t body[4096];
        size_t len = protobuf_c_message_pack(&batch.base, body);
        long s = stack_http("POST", ps->url, "application/x-protobuf", body, len, &resp);
        if (s != 202)
            break;
        ps->requests++;
        ps->acked += 20;
    }
    buf_release(&resp);
    return NULL;
}

/* A client that never finishes its headers is disconnected after http.timeout_s. */
START_TEST(test_slow_client_is_disconnected)
{
    static const char *const env[] = {"TP_HTTP_TIMEOUT_S=1", "TP_AUTH_SECRET=" SECRET, NULL};
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-ingest", env, port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char partial[] = "POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Le";
    ck_assert_int_eq(send(fd, partial, sizeof(partial) - 1, 0), (ssize_t)sizeof(partial) - 1);
    struct timeval tv = {5, 0}; /* the server must close well before this */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int64_t t0 = tp_mono_ms();
    char byte;
    ssize_t r = recv(fd, &byte, 1, 0);
    int64_t waited = tp_mono_ms() - t0;
    close(fd);
    ck_assert_int_eq(r, 0); /* closed by the server, nothing sent */
    ck_assert_msg(waited < 4000, "closed only after %lld ms", (long long)waited);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
}
END_TEST

/* SIGTERM under load: every reading answered 202 is in the journal, exactly once. */
START_TEST(test_sigterm_during_load_loses_nothing)
{
    char topic[160], topic_env[200], errstr[256];
    snprintf(topic, sizeof(topic), "%s-term", st.topic);
    snprintf(topic_env, sizeof(topic_env), "TP_JOURNAL_TOPIC=%s", topic);
    const char *env[] = {topic_env, "TP_AUTH_SECRET=" SECRET, NULL};
    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&st, "tp-ingest", env, port);
    struct poster ps = {.acked = 0};
    snprintf(ps.url, sizeof(ps.url), "http://127.0.0.1:%u/v1/telemetry", port);
    pthread_t t;
    pthread_create(&t, NULL, poster_main, &ps);
    usleep(1500 * 1000);
    ck_assert_int_eq(stack_service_stop(pid, SIGTERM), 0);
    pthread_join(t, NULL);
    ck_assert_int_gt(ps.requests, 5); /* the load was real */
    struct journal_config jc = {.bootstrap_servers = st.bootstrap, .topic = topic};
    int64_t n;
    ck_assert_int_eq(journal_topic_count(&jc, 10000, &n, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(n, ps.acked);
}
END_TEST

static Suite *pipeline_suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("end_to_end");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_twins_exact);
    tcase_add_test(tc, test_projector_killed_resumes_exactly);
    tcase_add_test(tc, test_bad_input_changes_nothing);
    tcase_add_test(tc, test_metrics_and_readiness);
    tcase_add_test(tc, test_backpressure_refuses_and_stores_nothing);
    tcase_add_test(tc, test_refused_event_is_dead_lettered);
    tcase_add_test(tc, test_sigterm_during_load_loses_nothing);
    tcase_add_test(tc, test_slow_client_is_disconnected);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(pipeline_suite)
