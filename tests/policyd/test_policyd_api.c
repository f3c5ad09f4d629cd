/*
 * tp-policy on the dev stack: PUT (201 new, 200 replaced, revisions), GET right after
 * (read-your-writes), the list, DELETE (204, then 404); every body refusal answered with its
 * exact code and policy_parse_body's exact message; a declared body over 64 KiB refused before
 * it is read; 409 past policy.max_active; no key 401, an analyst key 403, on every endpoint;
 * a policy tombstoned by the service after its until (the record read back from the topic);
 * a second instance sees the same set, and the first sees the second's write.
 */
#include <check.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"
#include "journal/follow.h"
#include "policy/policy.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"
#include "tests/support/stack.h"

#define OPERATOR_KEY "test-operator-key-1"
#define ANALYST_KEY  "test-analyst-key-1"

static void digest_hex(const char *key, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(key, strlen(key), d, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

struct instance {
    pid_t pid;
    uint16_t port;
    char base[64];
};

static void instance_start(const struct stack *st, struct instance *in)
{
    static char op_env[128], an_env[128], topic_env[160];
    char d[65];
    digest_hex(OPERATOR_KEY, d);
    snprintf(op_env, sizeof(op_env), "TP_POLICY_OPERATOR_KEYS=%s", d);
    digest_hex(ANALYST_KEY, d);
    snprintf(an_env, sizeof(an_env), "TP_POLICY_ANALYST_KEYS=%s", d);
    snprintf(topic_env, sizeof(topic_env), "TP_POLICY_TOPIC=%s", st->topic);
    const char *extra[] = {op_env,
                           an_env,
                           topic_env,
                           "TP_POLICY_MAX_ACTIVE=4",
                           "TP_POLICY_RETAIN_EXPIRED_S=0",
                           "TP_POLICY_SWEEP_INTERVAL_MS=100",
                           NULL};
    in->port = stack_free_port();
    snprintf(in->base, sizeof(in->base), "http://127.0.0.1:%u", in->port);
    in->pid = stack_service_start(st, "tp-policy", extra, in->port);
    char url[128];
    snprintf(url, sizeof(url), "%s/readyz", in->base);
    stack_set_bearer(NULL);
    for (int i = 0; i < 200 && stack_http("GET", url, NULL, NULL, 0, NULL) != 200; i++)
        usleep(100 * 1000);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, NULL), 200);
}

/* method path body -> status; the response in resp (reset first). */
static long call(const struct instance *in, const char *key, const char *method, const char *path,
                 const char *body, struct buf *resp)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", in->base, path);
    stack_set_bearer(key);
    buf_reset(resp);
    return stack_http(method, url, body ? "application/json" : NULL, body, body ? strlen(body) : 0,
                      resp);
}

static void assert_error(long status, const struct buf *resp, long want_status, const char *code,
                         const char *message)
{
    ck_assert_msg(status == want_status, "status %ld, want %ld: %s", status, want_status,
                  resp->data);
    struct jv *doc = jv_parse(resp->data);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(jv_str(doc, "error.code"), code);
    if (message)
        ck_assert_str_eq(jv_str(doc, "error.message"), message);
    jv_free(doc);
}

static void time_text(int64_t ms, char *out, size_t n)
{
    policy_time_format(ms, out, n);
}

/* The exact document tp-policy answers for a policy (issued_at from the answer itself). */
static void expect_doc(char *out, size_t n, const char *name, const char *state, int revision,
                       const char *issued_at, const char *rest)
{
    snprintf(out, n, "{\"name\":\"%s\",\"state\":\"%s\",\"revision\":%d,\"issued_at\":\"%s\",%s}",
             name, state, revision, issued_at, rest);
}

/* PUTs and returns the answer's issued_at (asserting status). */
static void put_ok(const struct instance *in, const char *name, const char *body, long status,
                   struct buf *resp, char *issued, size_t issued_n)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/policies/%s", name);
    long got = call(in, OPERATOR_KEY, "PUT", path, body, resp);
    ck_assert_msg(got == status, "PUT %s: %ld %s", name, got, resp->data);
    struct jv *doc = jv_parse(resp->data);
    ck_assert_ptr_nonnull(doc);
    snprintf(issued, issued_n, "%s", jv_str(doc, "issued_at"));
    jv_free(doc);
}

/* The body's refusal as policy_parse_body words it (lim as the service's default). */
static void expect_refusal(const struct instance *in, const char *body, const char *code)
{
    struct policy p;
    enum policy_error pe;
    char msg[512];
    struct policy_limits lim = {.max_duration_ms = 604800000LL};
    ck_assert_int_ne(
        policy_parse_body(body, strlen(body), "p1", &lim, tp_now_ms(), &p, &pe, msg, sizeof(msg)),
        TP_OK);
    policy_release(&p);
    ck_assert_str_eq(policy_error_code(pe), code);
    struct buf resp;
    buf_init(&resp, 1 << 20);
    assert_error(call(in, OPERATOR_KEY, "PUT", "/v1/policies/p1", body, &resp), &resp, 400, code,
                 msg);
    buf_release(&resp);
}

/* Records of the topic, as a follower reads them: the last value of a key, or a tombstone. */
static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER;
static int soon_values, soon_tombstones;
static bool soon_last_tombstone;

static void on_record(void *arg, const struct journal_record *r)
{
    (void)arg;
    if (!r->key || r->key_len != 4 || memcmp(r->key, "soon", 4) != 0)
        return;
    pthread_mutex_lock(&rec_mu);
    if (r->value) {
        soon_values++;
        soon_last_tombstone = false;
    } else {
        soon_tombstones++;
        soon_last_tombstone = true;
    }
    pthread_mutex_unlock(&rec_mu);
}

START_TEST(test_policy_api)
{
    struct stack st;
    stack_init(&st, "policyd");
    struct instance a;
    instance_start(&st, &a);
    struct buf resp;
    buf_init(&resp, 1 << 20);
    int64_t now = tp_now_ms();
    char from[40], until[40], later[40], later2[40], issued[64], want[2048], body[2048];
    time_text(now - 3600000, from, sizeof(from));
    time_text(now + 3600000, until, sizeof(until));
    time_text(now + 2 * 3600000, later, sizeof(later));
    time_text(now + 3 * 3600000, later2, sizeof(later2));

    /* keys: none 401, analyst 403, on every endpoint (before any body is read) */
    const char *ops[][2] = {{"GET", "/v1/policies"},
                            {"GET", "/v1/policies/trucks"},
                            {"PUT", "/v1/policies/trucks"},
                            {"DELETE", "/v1/policies/trucks"}};
    for (size_t i = 0; i < 4; i++) {
        const char *b = !strcmp(ops[i][0], "PUT") ? "{}" : NULL;
        assert_error(call(&a, NULL, ops[i][0], ops[i][1], b, &resp), &resp, 401, "unauthorized",
                     "missing Authorization: Bearer <API key> header");
        assert_error(call(&a, "not-a-known-key", ops[i][0], ops[i][1], b, &resp), &resp, 401,
                     "unauthorized", "unknown API key");
        ck_assert_str_eq(stack_last_header("WWW-Authenticate"), "Bearer realm=\"twinpipe-policy\"");
        assert_error(call(&a, ANALYST_KEY, ops[i][0], ops[i][1], b, &resp), &resp, 403, "forbidden",
                     "policies need an operator key (policy.operator_keys); this is an analyst "
                     "key");
    }

    /* PUT new: 201, the stored document; GET right after sees it */
    snprintf(body, sizeof(body),
             "{\"selector\":{\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}}},\"level\":\"raw\","
             "\"report_every_ms\":1000,\"from\":\"%s\",\"until\":\"%s\"}",
             from, until);
    put_ok(&a, "trucks", body, 201, &resp, issued, sizeof(issued));
    char rest[1024];
    snprintf(rest, sizeof(rest),
             "\"selector\":{\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}}},\"level\":\"raw\","
             "\"report_every_ms\":1000,\"from\":\"%s\",\"until\":\"%s\"",
             from, until);
    expect_doc(want, sizeof(want), "trucks", "active", 1, issued, rest);
    ck_assert_str_eq(resp.data, want);
    ck_assert_int_eq(call(&a, OPERATOR_KEY, "GET", "/v1/policies/trucks", NULL, &resp), 200);
    ck_assert_str_eq(resp.data, want);

    /* PUT again: 200, revision 2, the new period */
    snprintf(body, sizeof(body),
             "{\"selector\":{\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}}},\"level\":\"raw\","
             "\"report_every_ms\":2000,\"from\":\"%s\",\"until\":\"%s\"}",
             from, until);
    put_ok(&a, "trucks", body, 200, &resp, issued, sizeof(issued));
    snprintf(rest, sizeof(rest),
             "\"selector\":{\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}}},\"level\":\"raw\","
             "\"report_every_ms\":2000,\"from\":\"%s\",\"until\":\"%s\"",
             from, until);
    char trucks_doc[2048];
    expect_doc(trucks_doc, sizeof(trucks_doc), "trucks", "active", 2, issued, rest);
    ck_assert_str_eq(resp.data, trucks_doc);
    ck_assert_int_eq(call(&a, OPERATOR_KEY, "GET", "/v1/policies/trucks", NULL, &resp), 200);
    ck_assert_str_eq(resp.data, trucks_doc);

    /* a scheduled one; the list, sorted by name */
    snprintf(body, sizeof(body),
             "{\"selector\":{\"device_ids\":[\"veh-2\",\"veh-1\"],\"sites\":[\"region-a\"]},"
             "\"from\":\"%s\",\"until\":\"%s\"}",
             later, later2);
    put_ok(&a, "vans", body, 201, &resp, issued, sizeof(issued));
    snprintf(rest, sizeof(rest),
             "\"selector\":{\"device_ids\":[\"veh-1\",\"veh-2\"],\"sites\":[\"region-a\"]},"
             "\"level\":\"aggregates\",\"from\":\"%s\",\"until\":\"%s\"",
             later, later2);
    char vans_doc[2048];
    expect_doc(vans_doc, sizeof(vans_doc), "vans", "scheduled", 1, issued, rest);
    ck_assert_str_eq(resp.data, vans_doc);
    char list[8192];
    snprintf(list, sizeof(list), "{\"policies\":[%s,%s]}", trucks_doc, vans_doc);
    ck_assert_int_eq(call(&a, OPERATOR_KEY, "GET", "/v1/policies", NULL, &resp), 200);
    ck_assert_str_eq(resp.data, list);

    /* refusals: the exact code and policy_parse_body's message */
    expect_refusal(&a, "{\"selector\":", "invalid_json");
    expect_refusal(&a,
                   "{\"selector\":{\"device_ids\":[\"d\"]},\"until\":\"2126-01-01T00:00:00Z\","
                   "\"colour\":1}",
                   "unknown_field");
    expect_refusal(&a, "{\"selector\":{\"device_ids\":[\"d\"]}}", "missing_until");
    expect_refusal(&a, "{\"until\":\"2126-01-01T00:00:00Z\"}", "missing_selector");
    expect_refusal(&a, "{\"selector\":{},\"until\":\"2126-01-01T00:00:00Z\"}", "empty_selector");
    snprintf(body, sizeof(body),
             "{\"selector\":{\"device_ids\":[\"d\"]},\"level\":\"verbose\",\"until\":\"%s\"}",
             until);
    expect_refusal(&a, body, "invalid_level");
    snprintf(body, sizeof(body),
             "{\"selector\":{\"device_ids\":[\"d\"]},\"report_every_ms\":999,\"until\":\"%s\"}",
             until);
    expect_refusal(&a, body, "invalid_report_every_ms");
    snprintf(body, sizeof(body),
             "{\"selector\":{\"attributes\":{\"colour\":{\"eq\":\"red\"}}},\"until\":\"%s\"}",
             until);
    expect_refusal(&a, body, "unknown_attribute");
    expect_refusal(&a, "{\"selector\":{\"device_ids\":[\"d\"]},\"until\":\"2126-01-01T00:00:00Z\"}",
                   "duration_too_long");
    expect_refusal(&a, "{\"selector\":{\"device_ids\":[\"d\"]},\"until\":\"tomorrow\"}",
                   "invalid_time");
    /* a name that is not one, on PUT, GET and DELETE */
    const char *bad_name = "/v1/policies/"
                           "x1234567890123456789012345678901234567890123456789012345678901234";
    assert_error(call(&a, OPERATOR_KEY, "GET", bad_name, NULL, &resp), &resp, 400, "invalid_name",
                 "name is not 1..64 characters of A-Z a-z 0-9 . _ -");
    assert_error(call(&a, OPERATOR_KEY, "DELETE", bad_name, NULL, &resp), &resp, 400,
                 "invalid_name", "name is not 1..64 characters of A-Z a-z 0-9 . _ -");
    assert_error(call(&a, OPERATOR_KEY, "PUT", bad_name, "{}", &resp), &resp, 400, "invalid_name",
                 "name is not 1..64 characters of A-Z a-z 0-9 . _ -");
    /* a declared body over 64 KiB: 400 body_too_large, before it is read */
    char *big = malloc(POLICY_BODY_MAX + 2);
    memset(big, ' ', POLICY_BODY_MAX + 1);
    big[POLICY_BODY_MAX + 1] = '\0';
    assert_error(call(&a, OPERATOR_KEY, "PUT", "/v1/policies/p1", big, &resp), &resp, 400,
                 "body_too_large", "body is 65537 bytes, over 65536");
    free(big);
    /* nothing of that was stored */
    ck_assert_int_eq(call(&a, OPERATOR_KEY, "GET", "/v1/policies", NULL, &resp), 200);
    ck_assert_str_eq(resp.data, list);

    /* DELETE: 204, then 404 on GET and DELETE */
    ck_assert_int_eq(call(&a, OPERATOR_KEY, "DELETE", "/v1/policies/vans", NULL, &resp), 204);
    ck_assert_str_eq(resp.data, "");
    assert_error(call(&a, OPERATOR_KEY, "GET", "/v1/policies/vans", NULL, &resp), &resp, 404,
                 "policy_not_found", "no policy \"vans\"");
    assert_error(call(&a, OPERATOR_KEY, "DELETE", "/v1/policies/vans", NULL, &resp), &resp, 404,
                 "policy_not_found", "no policy \"vans\"");

    /* policy.max_active = 4: trucks + 3 more, the fifth refused */
    snprintf(body, sizeof(body), "{\"selector\":{\"device_ids\":[\"d\"]},\"until\":\"%s\"}", until);
    put_ok(&a, "p2", body, 201, &resp, issued, sizeof(issued));
    put_ok(&a, "p3", body, 201, &resp, issued, sizeof(issued));
    put_ok(&a, "p4", body, 201, &resp, issued, sizeof(issued));
    assert_error(call(&a, OPERATOR_KEY, "PUT", "/v1/policies/p5", body, &resp), &resp, 409,
                 "too_many_policies",
                 "policy \"p5\" is refused: 4 policies are stored already (policy.max_active)");
    /* replacing one when full is fine */
    put_ok(&a, "p4", body, 200, &resp, issued, sizeof(issued));
    ck_assert_int_eq(call(&a, OPERATOR_KEY, "DELETE", "/v1/policies/p3", NULL, &resp), 204);
    ck_assert_int_eq(call(&a, OPERATOR_KEY, "DELETE", "/v1/policies/p4", NULL, &resp), 204);

    /* expiry: tombstoned by the service itself once until passed (retain_expired_s 0) */
    struct journal_settings js = {.bootstrap_servers = st.bootstrap, .topic = st.topic};
    struct journal_config jc;
    journal_config_init(&jc, &js, NULL);
    char errstr[256];
    struct journal_follower *f;
    ck_assert_int_eq(
        journal_follower_start(&jc, st.topic, 1 << 20, on_record, NULL, &f, errstr, sizeof(errstr)),
        TP_OK);
    char soon[40];
    time_text(tp_now_ms() + 4000, soon,
              sizeof(soon)); /* active when answered, even on a loaded machine */
    snprintf(body, sizeof(body), "{\"selector\":{\"device_ids\":[\"d\"]},\"until\":\"%s\"}", soon);
    put_ok(&a, "soon", body, 201, &resp, issued, sizeof(issued));
    struct jv *doc = jv_parse(resp.data);
    ck_assert_str_eq(jv_str(doc, "state"), "active");
    jv_free(doc);
    long status = 0;
    for (int i = 0; i < 150; i++) {
        status = call(&a, OPERATOR_KEY, "GET", "/v1/policies/soon", NULL, &resp);
        if (status == 404)
            break;
        usleep(100 * 1000);
    }
    ck_assert_int_eq(status, 404);
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&rec_mu);
        bool done = soon_last_tombstone;
        pthread_mutex_unlock(&rec_mu);
        if (done)
            break;
        usleep(100 * 1000);
    }
    pthread_mutex_lock(&rec_mu);
    ck_assert_int_eq(soon_values, 1);
    ck_assert_int_eq(soon_tombstones, 1);
    ck_assert(soon_last_tombstone);
    pthread_mutex_unlock(&rec_mu);
    journal_follower_free(f);
    stack_set_bearer(NULL);
    char url[128];
    snprintf(url, sizeof(url), "%s/metrics", a.base);
    buf_reset(&resp);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    ck_assert_ptr_nonnull(
        strstr(resp.data, "\ntp_policy_writes_total{op=\"expire\",outcome=\"ok\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(resp.data, "\ntp_policy_writes_total{op=\"put\",outcome=\"ok\"} 8\n"));
    ck_assert_ptr_nonnull(
        strstr(resp.data, "\ntp_policy_writes_total{op=\"put\",outcome=\"failed\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(resp.data, "\ntp_policy_writes_total{op=\"delete\",outcome=\"ok\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_policy_policies 2\n"));
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_policy_ready 1\n"));

    /* a second instance reads the same set; the first sees the second's write */
    struct instance b;
    instance_start(&st, &b);
    ck_assert_int_eq(call(&a, OPERATOR_KEY, "GET", "/v1/policies", NULL, &resp), 200);
    char *list_a = tp_strdup(resp.data);
    ck_assert_int_eq(call(&b, OPERATOR_KEY, "GET", "/v1/policies", NULL, &resp), 200);
    ck_assert_str_eq(resp.data, list_a);
    doc = jv_parse(list_a);
    ck_assert_uint_eq(jv_len(doc, "policies"), 2);
    ck_assert_str_eq(jv_str(doc, "policies.0.name"), "p2");
    ck_assert_str_eq(jv_str(doc, "policies.1.name"), "trucks");
    jv_free(doc);
    free(list_a);
    ck_assert_int_eq(call(&b, OPERATOR_KEY, "GET", "/v1/policies/trucks", NULL, &resp), 200);
    ck_assert_str_eq(resp.data, trucks_doc);
    snprintf(body, sizeof(body),
             "{\"selector\":{\"attributes\":{\"firmware\":{\"prefix\":\"2.1.\"}}},"
             "\"report_every_ms\":5000,\"until\":\"%s\"}",
             until);
    put_ok(&b, "fleet", body, 201, &resp, issued, sizeof(issued));
    char *fleet_doc = tp_strdup(resp.data);
    status = 0;
    for (int i = 0; i < 100; i++) {
        status = call(&a, OPERATOR_KEY, "GET", "/v1/policies/fleet", NULL, &resp);
        if (status == 200)
            break;
        usleep(50 * 1000);
    }
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(resp.data, fleet_doc);
    free(fleet_doc);
    /* a name's revision continues across instances */
    snprintf(body, sizeof(body), "{\"selector\":{\"device_ids\":[\"d\"]},\"until\":\"%s\"}", until);
    put_ok(&b, "trucks", body, 200, &resp, issued, sizeof(issued));
    doc = jv_parse(resp.data);
    ck_assert_int_eq((int)jv_num(doc, "revision"), 3);
    jv_free(doc);

    ck_assert_int_eq(stack_service_stop(b.pid, SIGTERM), 0);
    ck_assert_int_eq(stack_service_stop(a.pid, SIGTERM), 0);
    stack_set_bearer(NULL);
    buf_release(&resp);
}
END_TEST

static Suite *policyd_suite(void)
{
    Suite *s = suite_create("policyd");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_policy_api);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(policyd_suite)
