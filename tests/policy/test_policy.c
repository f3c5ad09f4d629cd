/*
 * test_policy.c - policy/policy.c: the PUT body (every field, every refusal
 * code), the record's round trip, RFC 3339 times, the error table.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "policy/policy.h"
#include "tests/support/check_main.h"

#define T0  1796292000000LL /* 2026-12-03T10:00:00Z */
#define DAY 86400000LL

static const struct policy_limits lim = {7 * DAY};

/* Parses body for "p1" at T0; returns the code, the message into msg. */
static enum policy_error parse(const char *body, struct policy *p, char *msg, size_t n)
{
    enum policy_error code = POLICY_ERR__COUNT;
    enum tp_err e = policy_parse_body(body, strlen(body), "p1", &lim, T0, p, &code, msg, n);
    ck_assert_int_eq(e == TP_OK, code == POLICY_ERR_NONE);
    if (e != TP_OK)
        ck_assert_int_eq(e, code == POLICY_ERR_BODY_TOO_LARGE ? TP_TOO_LARGE : TP_VALIDATION);
    return code;
}

START_TEST(test_full_body)
{
    const char *body =
        "{ \"selector\": {\"attributes\": {\"firmware\": {\"prefix\": \"2.1.\"}, "
        "\"model\": {\"eq\": \"tp-truck\"}}, \"device_ids\": [\"veh-000042\", \"veh-000017\", "
        "\"veh-000042\"], \"sites\": [\"region-a\"]}, \"level\": \"raw\", "
        "\"report_every_ms\": 1000, \"from\": \"2026-12-03T10:00:00Z\", "
        "\"until\": \"2026-12-03T11:00:00.250Z\" }\n";
    struct policy p;
    char msg[256];
    ck_assert_int_eq(parse(body, &p, msg, sizeof(msg)), POLICY_ERR_NONE);
    ck_assert_str_eq(p.name, "p1");
    ck_assert_uint_eq(p.n_conds, 2);
    ck_assert_int_eq(p.conds[0].attr, POLICY_ATTR_MODEL); /* canonical order */
    ck_assert(!p.conds[0].prefix);
    ck_assert_str_eq(p.conds[0].value, "tp-truck");
    ck_assert_uint_eq(p.conds[0].len, 8);
    ck_assert_int_eq(p.conds[1].attr, POLICY_ATTR_FIRMWARE);
    ck_assert(p.conds[1].prefix);
    ck_assert_str_eq(p.conds[1].value, "2.1.");
    ck_assert_uint_eq(p.n_device_ids, 2); /* sorted, repeat dropped */
    ck_assert_str_eq(p.device_ids[0], "veh-000017");
    ck_assert_str_eq(p.device_ids[1], "veh-000042");
    ck_assert_uint_eq(p.n_sites, 1);
    ck_assert_str_eq(p.sites[0], "region-a");
    ck_assert_int_eq(p.level, POLICY_LEVEL_RAW);
    ck_assert_int_eq(p.report_every_ms, 1000);
    ck_assert_int_eq(p.from_ms, T0);
    ck_assert_int_eq(p.until_ms, T0 + 3600000 + 250);
    ck_assert_int_eq(p.issued_at_ms, 0);
    ck_assert_int_eq(p.revision, 0);
    policy_release(&p);
}
END_TEST

START_TEST(test_defaults)
{
    struct policy p;
    char msg[256];
    ck_assert_int_eq(
        parse("{\"selector\":{\"device_ids\":[\"a:b\"]},\"until\":\"2026-12-04T10:00:00+00:00\"}",
              &p, msg, sizeof(msg)),
        POLICY_ERR_NONE);
    ck_assert_int_eq(p.level, POLICY_LEVEL_AGGREGATES);
    ck_assert_int_eq(p.report_every_ms, 0);
    ck_assert_int_eq(p.from_ms, T0); /* now */
    ck_assert_int_eq(p.until_ms, T0 + DAY);
    ck_assert_uint_eq(p.n_conds, 0);
    ck_assert_uint_eq(p.n_sites, 0);
    ck_assert_str_eq(p.device_ids[0], "a:b");
    policy_release(&p);
    /* the bounds themselves are accepted */
    ck_assert_int_eq(parse("{\"selector\":{\"attributes\":{\"region\":{\"eq\":\"eu\"}}},"
                           "\"level\":\"aggregates\",\"report_every_ms\":86400000,"
                           "\"from\":\"2026-12-03T10:00:00Z\",\"until\":\"2026-12-10T10:00:00Z\"}",
                           &p, msg, sizeof(msg)),
                     POLICY_ERR_NONE);
    ck_assert_int_eq(p.report_every_ms, 86400000);
    ck_assert_int_eq(p.conds[0].attr, POLICY_ATTR_REGION);
    policy_release(&p);
    /* escapes decode: "tp-\u00e9" is 5 bytes of UTF-8 */
    ck_assert_int_eq(
        parse("{\"selector\":{\"attributes\":{\"model\":{\"eq\":\"tp\\u00e9\\/\\ud83d\\ude9a\"}}},"
              "\"until\":\"2026-12-03T10:00:01Z\"}",
              &p, msg, sizeof(msg)),
        POLICY_ERR_NONE);
    ck_assert_str_eq(p.conds[0].value, "tp\xc3\xa9/\xf0\x9f\x9a\x9a");
    ck_assert_uint_eq(p.conds[0].len, 9);
    policy_release(&p);
}
END_TEST

struct refusal {
    const char *body;
    enum policy_error code;
    const char *msg; /* a part of the message */
};

#define SEL   "\"selector\":{\"device_ids\":[\"d\"]}"
#define UNTIL "\"until\":\"2026-12-03T11:00:00Z\""

static const struct refusal refusals[] = {
    {"", POLICY_ERR_INVALID_JSON, "body is not a JSON object"},
    {"[]", POLICY_ERR_INVALID_JSON, "body is not a JSON object"},
    {"{" SEL "," UNTIL "", POLICY_ERR_INVALID_JSON, "not valid JSON"},
    {"{" SEL "," UNTIL "} x", POLICY_ERR_INVALID_JSON, "after the object"},
    {"{" SEL "," UNTIL ",}", POLICY_ERR_INVALID_JSON, "not valid JSON"},
    {"{\"selector\":{\"device_ids\":[\"d\xff\"]}," UNTIL "}", POLICY_ERR_INVALID_JSON, "UTF-8"},
    {"{\"selector\":{\"device_ids\":[\"d\\u0000\"]}," UNTIL "}", POLICY_ERR_INVALID_JSON, "NUL"},
    {"{\"selector\":{\"device_ids\":[\"\\ud800\"]}," UNTIL "}", POLICY_ERR_INVALID_JSON, "JSON"},
    {"{\"selector\":{\"device_ids\":[\"a\nb\"]}," UNTIL "}", POLICY_ERR_INVALID_JSON, "JSON"},
    {"{" SEL ",\"report_every_ms\":1e," UNTIL "}", POLICY_ERR_INVALID_JSON, "report_every_ms"},
    {"{" SEL ",\"level\":@," UNTIL "}", POLICY_ERR_INVALID_JSON, "level"},
    {"{" SEL "," UNTIL ",\"name\":\"p1\"}", POLICY_ERR_UNKNOWN_FIELD, "unknown member \"name\""},
    {"{" SEL "," UNTIL ",\"colour\":1}", POLICY_ERR_UNKNOWN_FIELD, "\"colour\""},
    {"{\"selector\":{\"device_ids\":[\"d\"],\"models\":[]}," UNTIL "}", POLICY_ERR_UNKNOWN_FIELD,
     "selector: unknown member \"models\""},
    {"{" SEL "," SEL "," UNTIL "}", POLICY_ERR_DUPLICATE_FIELD, "selector is given twice"},
    {"{\"selector\":{\"device_ids\":[\"d\"],\"device_ids\":[\"e\"]}," UNTIL "}",
     POLICY_ERR_DUPLICATE_FIELD, "selector.device_ids is given twice"},
    {"{\"selector\":{\"attributes\":{\"model\":{\"eq\":\"a\"},\"model\":{\"eq\":\"b\"}}}," UNTIL
     "}",
     POLICY_ERR_DUPLICATE_FIELD, "selector.attributes.model is given twice"},
    {"{\"selector\":[]," UNTIL "}", POLICY_ERR_WRONG_TYPE,
     "selector must be an object, not an array"},
    {"{" SEL ",\"level\":1," UNTIL "}", POLICY_ERR_WRONG_TYPE,
     "level must be a string, not a number"},
    {"{" SEL ",\"report_every_ms\":\"1000\"," UNTIL "}", POLICY_ERR_WRONG_TYPE,
     "report_every_ms must be a number, not a string"},
    {"{" SEL ",\"until\":null}", POLICY_ERR_WRONG_TYPE, "until must be a string, not null"},
    {"{\"selector\":{\"device_ids\":\"d\"}," UNTIL "}", POLICY_ERR_WRONG_TYPE,
     "selector.device_ids must be an array"},
    {"{\"selector\":{\"device_ids\":[1]}," UNTIL "}", POLICY_ERR_WRONG_TYPE,
     "selector.device_ids must be a string"},
    {"{\"selector\":{\"attributes\":{\"model\":\"x\"}}," UNTIL "}", POLICY_ERR_WRONG_TYPE,
     "model must be an object, not a string"},
    {"{" UNTIL "}", POLICY_ERR_MISSING_SELECTOR, "selector is missing"},
    {"{\"selector\":{}," UNTIL "}", POLICY_ERR_EMPTY_SELECTOR, "at least one"},
    {"{\"selector\":{\"attributes\":{},\"device_ids\":[]}," UNTIL "}", POLICY_ERR_EMPTY_SELECTOR,
     "at least one"},
    {"{\"selector\":{\"sites\":[\"region-a\"]}," UNTIL "}", POLICY_ERR_EMPTY_SELECTOR,
     "at least one"},
    {"{\"selector\":{\"attributes\":{\"colour\":{\"eq\":\"red\"}}}," UNTIL "}",
     POLICY_ERR_UNKNOWN_ATTRIBUTE, "\"colour\" is not an attribute"},
    {"{\"selector\":{\"attributes\":{\"model\":{}}}," UNTIL "}", POLICY_ERR_INVALID_CONDITION,
     "selector.attributes.model: a condition is"},
    {"{\"selector\":{\"attributes\":{\"model\":{\"like\":\"a\"}}}," UNTIL "}",
     POLICY_ERR_INVALID_CONDITION, "a condition is"},
    {"{\"selector\":{\"attributes\":{\"model\":{\"eq\":\"a\",\"prefix\":\"b\"}}}," UNTIL "}",
     POLICY_ERR_INVALID_CONDITION, "not both"},
    {"{\"selector\":{\"attributes\":{\"model\":{\"eq\":\"\"}}}," UNTIL "}",
     POLICY_ERR_INVALID_VALUE, "selector.attributes.model.eq must be 1..128 bytes, not 0"},
    {"{\"selector\":{\"device_ids\":[\"\"]}," UNTIL "}", POLICY_ERR_INVALID_DEVICE_ID,
     "selector.device_ids[0] is not 1..128 characters"},
    {"{\"selector\":{\"device_ids\":[\"a\",\"b c\"]}," UNTIL "}", POLICY_ERR_INVALID_DEVICE_ID,
     "selector.device_ids[1]"},
    {"{\"selector\":{\"device_ids\":[\"d\"],\"sites\":[]}," UNTIL "}", POLICY_ERR_INVALID_SITE,
     "selector.sites is empty"},
    {"{\"selector\":{\"device_ids\":[\"d\"],\"sites\":[\"a:b\"]}," UNTIL "}",
     POLICY_ERR_INVALID_SITE, "selector.sites[0] is not 1..64 characters"},
    {"{" SEL ",\"level\":\"RAW\"," UNTIL "}", POLICY_ERR_INVALID_LEVEL, "level must be"},
    {"{" SEL ",\"level\":\"aggregatesaggregates\"," UNTIL "}", POLICY_ERR_INVALID_LEVEL,
     "level must be"},
    {"{" SEL ",\"report_every_ms\":999," UNTIL "}", POLICY_ERR_INVALID_REPORT_EVERY,
     "report_every_ms must be an integer in 1000..86400000"},
    {"{" SEL ",\"report_every_ms\":86400001," UNTIL "}", POLICY_ERR_INVALID_REPORT_EVERY, "1000"},
    {"{" SEL ",\"report_every_ms\":1000.5," UNTIL "}", POLICY_ERR_INVALID_REPORT_EVERY, "integer"},
    {"{" SEL ",\"report_every_ms\":-1000," UNTIL "}", POLICY_ERR_INVALID_REPORT_EVERY, "integer"},
    {"{" SEL ",\"report_every_ms\":99999999999999999999999," UNTIL "}",
     POLICY_ERR_INVALID_REPORT_EVERY, "integer"},
    {"{" SEL ",\"until\":\"2026-12-03 11:00:00Z\"}", POLICY_ERR_INVALID_TIME,
     "until is not an RFC 3339"},
    {"{" SEL ",\"until\":\"2026-12-03T11:00:00+01:00\"}", POLICY_ERR_INVALID_TIME, "UTC"},
    {"{" SEL ",\"until\":\"2026-02-29T11:00:00Z\"}", POLICY_ERR_INVALID_TIME, "until"},
    {"{" SEL ",\"until\":\"2026-12-03T24:00:00Z\"}", POLICY_ERR_INVALID_TIME, "until"},
    {"{" SEL ",\"until\":\"2026-12-03T11:00:00.Z\"}", POLICY_ERR_INVALID_TIME, "until"},
    {"{" SEL ",\"until\":\"2026-12-03T11:00:00.1234567890Z\"}", POLICY_ERR_INVALID_TIME, "until"},
    {"{" SEL ",\"until\":\"1969-12-31T23:59:59Z\"}", POLICY_ERR_INVALID_TIME, "until"},
    {"{" SEL ",\"from\":\"x\"," UNTIL "}", POLICY_ERR_INVALID_TIME, "from is not"},
    {"{" SEL "}", POLICY_ERR_MISSING_UNTIL, "until is missing"},
    {"{" SEL ",\"from\":\"2026-12-03T11:00:00Z\"," UNTIL "}", POLICY_ERR_UNTIL_NOT_AFTER_FROM,
     "until must be later than from"},
    {"{" SEL ",\"until\":\"2026-12-03T09:00:00Z\"}", POLICY_ERR_UNTIL_NOT_AFTER_FROM,
     "later than from"}, /* from defaults to now */
    {"{" SEL ",\"until\":\"2026-12-10T10:00:00.001Z\"}", POLICY_ERR_DURATION_TOO_LONG,
     "more than 604800 s (policy.max_duration_s)"},
};

START_TEST(test_refusals)
{
    const struct refusal *r = &refusals[_i];
    struct policy p;
    char msg[256];
    enum policy_error code = parse(r->body, &p, msg, sizeof(msg));
    if (code != r->code || !strstr(msg, r->msg))
        ck_abort_msg("body %d %s: got %s \"%s\", want %s \"%s\"", _i, r->body,
                     policy_error_code(code), msg, policy_error_code(r->code), r->msg);
    policy_release(&p);
}
END_TEST

START_TEST(test_limits)
{
    struct policy p;
    char msg[256];
    enum policy_error code;
    /* body size first */
    size_t big = POLICY_BODY_MAX + 1;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[big] = '\0';
    ck_assert_int_eq(policy_parse_body(body, big, "p1", &lim, T0, &p, &code, msg, sizeof(msg)),
                     TP_TOO_LARGE);
    ck_assert_int_eq(code, POLICY_ERR_BODY_TOO_LARGE);
    ck_assert_str_eq(msg, "body is 65537 bytes, over 65536");
    policy_release(&p);
    free(body);
    /* names */
    const char *ok = "{" SEL "," UNTIL "}";
    const char *bad_names[] = {"", "a/b", "a b", "ä",
                               "x1234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        ck_assert_int_eq(
            policy_parse_body(ok, strlen(ok), bad_names[i], &lim, T0, &p, &code, msg, sizeof(msg)),
            TP_VALIDATION);
        ck_assert_int_eq(code, POLICY_ERR_INVALID_NAME);
        policy_release(&p);
    }
    ck_assert_int_eq(
        policy_parse_body(ok, strlen(ok), "A-z_0.9", &lim, T0, &p, &code, msg, sizeof(msg)), TP_OK);
    policy_release(&p);
    char name64[65];
    memset(name64, 'n', 64);
    name64[64] = '\0';
    ck_assert(policy_name_valid(name64, 64));
    ck_assert(!policy_name_valid(name64, 65));
    /* strings one past their limit, refused while lexed */
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_append_str(&b, "{\"selector\":{\"attributes\":{\"model\":{\"prefix\":\"");
    for (int i = 0; i < 129; i++)
        buf_append_str(&b, "\\u0041");
    buf_append_str(&b, "\"}}}," UNTIL "}");
    ck_assert_int_eq(parse(b.data, &p, msg, sizeof(msg)), POLICY_ERR_INVALID_VALUE);
    ck_assert_str_eq(msg, "selector.attributes.model.prefix must be 1..128 bytes, not 129");
    policy_release(&p);
    buf_reset(&b);
    buf_append_str(&b, "{\"selector\":{\"device_ids\":[\"");
    for (int i = 0; i < 129; i++)
        buf_append_str(&b, "d");
    buf_append_str(&b, "\"]}," UNTIL "}");
    ck_assert_int_eq(parse(b.data, &p, msg, sizeof(msg)), POLICY_ERR_INVALID_DEVICE_ID);
    policy_release(&p);
    /* 10,000 device ids pass, 10,001 do not */
    for (int n = 10000; n <= 10001; n++) {
        buf_reset(&b);
        buf_append_str(&b, "{\"selector\":{\"device_ids\":[");
        static const char a36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
        for (int i = 0; i < n; i++) /* 3 characters each: the body stays under 64 KiB */
            buf_printf(&b, "%s\"%c%c%c\"", i ? "," : "", a36[i / 1296], a36[i / 36 % 36],
                       a36[i % 36]);
        buf_append_str(&b, "]}," UNTIL "}");
        ck_assert_uint_le(b.len, POLICY_BODY_MAX);
        code = parse(b.data, &p, msg, sizeof(msg));
        if (n == 10000) {
            ck_assert_int_eq(code, POLICY_ERR_NONE);
            ck_assert_uint_eq(p.n_device_ids, 10000);
        } else {
            ck_assert_int_eq(code, POLICY_ERR_TOO_MANY_DEVICE_IDS);
            ck_assert_str_eq(msg, "selector.device_ids holds more than 10000 entries");
        }
        policy_release(&p);
    }
    /* 64 sites pass, 65 do not */
    for (int n = 64; n <= 65; n++) {
        buf_reset(&b);
        buf_append_str(&b, "{\"selector\":{\"device_ids\":[\"d\"],\"sites\":[");
        for (int i = 0; i < n; i++)
            buf_printf(&b, "%s\"r%d\"", i ? "," : "", i);
        buf_append_str(&b, "]}," UNTIL "}");
        code = parse(b.data, &p, msg, sizeof(msg));
        ck_assert_int_eq(code, n == 64 ? POLICY_ERR_NONE : POLICY_ERR_TOO_MANY_SITES);
        policy_release(&p);
    }
    buf_release(&b);
}
END_TEST

START_TEST(test_record_round_trip)
{
    const char *body =
        "{\"selector\":{\"sites\":[\"region-b\",\"region-a\"],\"attributes\":{\"firmware\":"
        "{\"prefix\":\"2.\\\"1\"},\"model\":{\"eq\":\"tp-truck\"}},\"device_ids\":[\"v2\",\"v1\"]},"
        "\"level\":\"raw\",\"report_every_ms\":1000,\"from\":\"2026-12-03T10:00:00.5Z\","
        "\"until\":\"2026-12-03T11:00:00Z\"}";
    struct policy p, q;
    char msg[256];
    ck_assert_int_eq(parse(body, &p, msg, sizeof(msg)), POLICY_ERR_NONE);
    p.issued_at_ms = T0 - 7;
    p.revision = 3;
    struct buf b;
    buf_init(&b, POLICY_RECORD_MAX);
    ck_assert_int_eq(policy_record_write(&p, &b), TP_OK);
    ck_assert_str_eq(
        b.data,
        "{\"v\":1,\"name\":\"p1\",\"issued_at\":1796291999993,\"revision\":3,\"selector\":{"
        "\"attributes\":{\"model\":{\"eq\":\"tp-truck\"},\"firmware\":{\"prefix\":\"2.\\\"1\"}},"
        "\"device_ids\":[\"v1\",\"v2\"],\"sites\":[\"region-a\",\"region-b\"]},\"level\":\"raw\","
        "\"report_every_ms\":1000,\"from\":\"2026-12-03T10:00:00.500Z\","
        "\"until\":\"2026-12-03T11:00:00Z\"}");
    enum policy_error code;
    ck_assert_int_eq(policy_record_read("p1", 2, b.data, b.len, &q, &code, msg, sizeof(msg)),
                     TP_OK);
    ck_assert_str_eq(q.name, "p1");
    ck_assert_int_eq(q.issued_at_ms, T0 - 7);
    ck_assert_int_eq(q.revision, 3);
    ck_assert_int_eq(q.from_ms, T0 + 500);
    ck_assert_int_eq(q.until_ms, T0 + 3600000);
    ck_assert_int_eq(q.level, POLICY_LEVEL_RAW);
    ck_assert_int_eq(q.report_every_ms, 1000);
    ck_assert_uint_eq(q.n_conds, 2);
    ck_assert_str_eq(q.conds[1].value, "2.\"1");
    ck_assert_uint_eq(q.n_device_ids, 2);
    ck_assert_uint_eq(q.n_sites, 2);
    /* written again: the same bytes */
    struct buf b2;
    buf_init(&b2, POLICY_RECORD_MAX);
    ck_assert_int_eq(policy_record_write(&q, &b2), TP_OK);
    ck_assert_str_eq(b2.data, b.data);
    policy_release(&q);
    /* a minimal one: no attributes, no sites, no period */
    policy_release(&p);
    ck_assert_int_eq(
        parse("{\"selector\":{\"device_ids\":[\"d\"]},\"until\":\"2026-12-03T11:00:00Z\"}", &p, msg,
              sizeof(msg)),
        POLICY_ERR_NONE);
    buf_reset(&b);
    ck_assert_int_eq(policy_record_write(&p, &b), TP_OK);
    ck_assert_str_eq(b.data,
                     "{\"v\":1,\"name\":\"p1\",\"issued_at\":0,\"revision\":0,\"selector\":{"
                     "\"device_ids\":[\"d\"]},\"level\":\"aggregates\","
                     "\"from\":\"2026-12-03T10:00:00Z\",\"until\":\"2026-12-03T11:00:00Z\"}");
    ck_assert_int_eq(policy_record_read("p1", 2, b.data, b.len, &q, &code, msg, sizeof(msg)),
                     TP_OK);
    ck_assert_int_eq(q.report_every_ms, 0);
    ck_assert_int_eq(q.level, POLICY_LEVEL_AGGREGATES);
    policy_release(&q);
    /* the key must be the name */
    ck_assert_int_eq(policy_record_read("p2", 2, b.data, b.len, &q, &code, msg, sizeof(msg)),
                     TP_VALIDATION);
    ck_assert_int_eq(code, POLICY_ERR_INVALID_RECORD);
    ck_assert_str_eq(msg, "record: key is not the name \"p1\"");
    policy_release(&q);
    /* a record may be longer than max_duration (no limit at read) */
    buf_release(&b2);
    buf_release(&b);
    policy_release(&p);
}
END_TEST

static const struct refusal record_refusals[] = {
    {"{\"name\":\"p1\",\"issued_at\":1,\"revision\":1," SEL
     ",\"from\":\"2026-12-03T10:00:00Z\"," UNTIL "}",
     POLICY_ERR_INVALID_RECORD, "record: v is missing"},
    {"{\"v\":2,\"name\":\"p1\",\"issued_at\":1,\"revision\":1," SEL
     ",\"from\":\"2026-12-03T10:00:00Z\"," UNTIL "}",
     POLICY_ERR_INVALID_RECORD, "record: version 2 is unknown"},
    {"{\"v\":1,\"name\":\"p1\",\"issued_at\":-1,\"revision\":1," SEL
     ",\"from\":\"2026-12-03T10:00:00Z\"," UNTIL "}",
     POLICY_ERR_INVALID_RECORD, "issued_at is not an integer"},
    {"{\"v\":1,\"name\":\"p1\",\"issued_at\":1,\"revision\":1.5," SEL
     ",\"from\":\"2026-12-03T10:00:00Z\"," UNTIL "}",
     POLICY_ERR_INVALID_RECORD, "revision is not an integer"},
    {"{\"v\":1,\"name\":\"p1\",\"issued_at\":1,\"revision\":1," SEL "," UNTIL "}",
     POLICY_ERR_INVALID_RECORD, "record: from is missing"},
    {"{\"v\":1,\"name\":\"p 1\",\"issued_at\":1,\"revision\":1," SEL
     ",\"from\":\"2026-12-03T10:00:00Z\"," UNTIL "}",
     POLICY_ERR_INVALID_NAME, "name is not"},
    {"{\"v\":1,\"name\":\"p1\",\"issued_at\":1,\"revision\":1,\"from\":\"2026-12-03T10:00:"
     "00Z\"," UNTIL "}",
     POLICY_ERR_MISSING_SELECTOR, "selector is missing"},
    {"{\"v\":1,\"name\":\"p1\",\"issued_at\":1,\"revision\":1," SEL
     ",\"from\":\"2026-12-03T10:00:00Z\",\"state\":\"active\"," UNTIL "}",
     POLICY_ERR_UNKNOWN_FIELD, "\"state\""},
};

START_TEST(test_record_refusals)
{
    const struct refusal *r = &record_refusals[_i];
    struct policy p;
    char msg[256];
    enum policy_error code;
    ck_assert_int_eq(
        policy_record_read("p1", 2, r->body, strlen(r->body), &p, &code, msg, sizeof(msg)),
        TP_VALIDATION);
    if (code != r->code || !strstr(msg, r->msg))
        ck_abort_msg("record %d: got %s \"%s\", want %s \"%s\"", _i, policy_error_code(code), msg,
                     policy_error_code(r->code), r->msg);
    policy_release(&p);
}
END_TEST

START_TEST(test_times)
{
    int64_t ms;
    char s[40];
    ck_assert(policy_time_parse("1970-01-01T00:00:00Z", 20, &ms));
    ck_assert_int_eq(ms, 0);
    ck_assert(policy_time_parse("2024-02-29t23:59:59.999999999z", 30, &ms));
    ck_assert_int_eq(ms, 1709251199999LL);
    policy_time_format(ms, s, sizeof(s));
    ck_assert_str_eq(s, "2024-02-29T23:59:59.999Z");
    ck_assert(policy_time_parse("9999-12-31T23:59:59.999-00:00", 29, &ms));
    ck_assert_int_eq(ms, POLICY_TIME_MAX_MS);
    policy_time_format(ms, s, sizeof(s));
    ck_assert_str_eq(s, "9999-12-31T23:59:59.999Z");
    ck_assert(policy_time_parse("2026-12-03T10:00:00.1Z", 22, &ms));
    ck_assert_int_eq(ms, T0 + 100);
    ck_assert(!policy_time_parse("2100-02-29T00:00:00Z", 20, &ms)); /* not a leap year */
    ck_assert(policy_time_parse("2000-02-29T00:00:00Z", 20, &ms));
    ck_assert(!policy_time_parse("2026-13-01T00:00:00Z", 20, &ms));
    ck_assert(!policy_time_parse("2026-12-03T10:00:60Z", 20, &ms));
    ck_assert(!policy_time_parse("2026-12-03T10:00:00", 19, &ms));
    ck_assert(!policy_time_parse("+026-12-03T10:00:00Z", 20, &ms));
}
END_TEST

START_TEST(test_error_table)
{
    ck_assert_str_eq(policy_error_code(POLICY_ERR_INVALID_LEVEL), "invalid_level");
    ck_assert_uint_eq(policy_error_status(POLICY_ERR_INVALID_LEVEL), 400);
    ck_assert_uint_eq(policy_error_status(POLICY_ERR_TOO_MANY_POLICIES), 409);
    ck_assert_uint_eq(policy_error_status(POLICY_ERR_NONE), 0);
    /* codes are unique, lower-case, and every refusal is 400 or 409 */
    for (int i = 1; i < POLICY_ERR__COUNT; i++) {
        unsigned st = policy_error_status((enum policy_error)i);
        ck_assert(st == 400 || st == 409);
        for (const char *c = policy_error_code((enum policy_error)i); *c; c++)
            ck_assert(*c == '_' || (*c >= 'a' && *c <= 'z'));
        for (int j = 1; j < i; j++)
            ck_assert_str_ne(policy_error_code((enum policy_error)i),
                             policy_error_code((enum policy_error)j));
    }
    /* every body refusal code of the table is exercised by test_refusals/test_limits */
    bool seen[POLICY_ERR__COUNT] = {0};
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
        seen[refusals[i].code] = true;
    for (size_t i = 0; i < sizeof(record_refusals) / sizeof(record_refusals[0]); i++)
        seen[record_refusals[i].code] = true;
    seen[POLICY_ERR_NONE] = seen[POLICY_ERR_BODY_TOO_LARGE] = seen[POLICY_ERR_TOO_MANY_DEVICE_IDS] =
        seen[POLICY_ERR_TOO_MANY_SITES] = true; /* test_limits */
    seen[POLICY_ERR_TOO_MANY_POLICIES] = true;  /* test_set.c */
    for (int i = 0; i < POLICY_ERR__COUNT; i++)
        if (!seen[i])
            ck_abort_msg("no test of %s", policy_error_code((enum policy_error)i));
}
END_TEST

static Suite *policy_suite(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, test_full_body);
    tcase_add_test(tc, test_defaults);
    tcase_add_loop_test(tc, test_refusals, 0, (int)(sizeof(refusals) / sizeof(refusals[0])));
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_record_round_trip);
    tcase_add_loop_test(tc, test_record_refusals, 0,
                        (int)(sizeof(record_refusals) / sizeof(record_refusals[0])));
    tcase_add_test(tc, test_times);
    tcase_add_test(tc, test_error_table);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(policy_suite)
