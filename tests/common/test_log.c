/*
 * The log's two formats (common/log.c), line by line:
 * - text: today's line exactly, then the fields as key=value (quoted and escaped when
 *   needed);
 * - json: one object a line with ts (RFC 3339 UTC, ms), level, service, msg and fields,
 *   exactly; every byte value 1..255 in the message and in a field comes back through a
 *   JSON parser as itself (ASCII) or U+FFFD (a byte that is not UTF-8), with no raw control
 *   character in the line; random byte strings (a property test against a fixed seed) keep
 *   their ASCII and their valid UTF-8 exactly;
 * - fields past LOG_LINE_MAX are left out whole and the line stays one JSON object.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"

/* 2026-11-23T10:00:00.123Z */
static const struct timespec when = {.tv_sec = 1795428000, .tv_nsec = 123456789};

static char *line(enum log_format f, enum log_level level, const char *msg,
                  const struct log_field *fields, size_t n)
{
    struct buf b;
    buf_init(&b, LOG_LINE_MAX);
    log_line_format(&b, f, &when, level, "tp-test", msg, fields, n);
    size_t len;
    char *s = buf_steal(&b, &len);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(strlen(s), len); /* no NUL inside */
    ck_assert_int_eq(s[len - 1], '\n');
    for (size_t i = 0; i + 1 < len; i++)
        if (f == LOG_FORMAT_JSON)
            ck_assert_msg((unsigned char)s[i] >= 0x20, "raw control byte 0x%02x at %zu",
                          (unsigned char)s[i], i);
    return s;
}

/* The line as JSON (its '\n' cut); the test fails when it does not parse. */
static struct jv *parse(char *s)
{
    s[strlen(s) - 1] = '\0';
    struct jv *doc = jv_parse(s);
    ck_assert_msg(doc != NULL, "not JSON: %s", s);
    return doc;
}

START_TEST(text_unchanged)
{
    char *s = line(LOG_FORMAT_TEXT, LOG_WARN, "could not connect to \"x\"", NULL, 0);
    ck_assert_str_eq(s, "2026-11-23T10:00:00.123Z WARN tp-test: could not connect to \"x\"\n");
    free(s);
    const struct log_field f[] = {LOG_STR("method", "GET"),  LOG_STR("path", "/a b"),
                                  LOG_INT("status", 404),    LOG_DOUBLE("duration_ms", 1.25),
                                  LOG_STR("q", "x=\"1\"\n"), LOG_STR("empty", ""),
                                  LOG_STR("none", NULL),     LOG_INT("neg", -3)};
    s = line(LOG_FORMAT_TEXT, LOG_INFO, "request", f, 8);
    ck_assert_str_eq(s, "2026-11-23T10:00:00.123Z INFO tp-test: request method=GET "
                        "path=\"/a b\" status=404 duration_ms=1.25 q=\"x=\\\"1\\\"\\n\" "
                        "empty=\"\" none=- neg=-3\n");
    free(s);
}
END_TEST

START_TEST(json_exact)
{
    const struct log_field f[] = {LOG_STR("method", "GET"), LOG_INT("status", 200),
                                  LOG_DOUBLE("duration_ms", 0.5), LOG_STR("none", NULL)};
    char *s = line(LOG_FORMAT_JSON, LOG_ERROR, "flush failed: \"twins\"", f, 4);
    ck_assert_str_eq(s, "{\"ts\":\"2026-11-23T10:00:00.123Z\",\"level\":\"error\","
                        "\"service\":\"tp-test\",\"msg\":\"flush failed: \\\"twins\\\"\","
                        "\"fields\":{\"method\":\"GET\",\"status\":200,\"duration_ms\":0.5,"
                        "\"none\":null}}\n");
    free(s);
    s = line(LOG_FORMAT_JSON, LOG_DEBUG, "", NULL, 0);
    ck_assert_str_eq(s, "{\"ts\":\"2026-11-23T10:00:00.123Z\",\"level\":\"debug\","
                        "\"service\":\"tp-test\",\"msg\":\"\",\"fields\":{}}\n");
    free(s);
}
END_TEST

/* Every byte value, alone between two letters, in the message and in a field. */
START_TEST(json_every_byte)
{
    for (unsigned v = 1; v < 256; v++) {
        char in[4] = {'a', (char)v, 'z', '\0'};
        char want[8];
        if (v < 0x80)
            snprintf(want, sizeof(want), "a%cz", (char)v);
        else
            snprintf(want, sizeof(want), "a\xef\xbf\xbdz"); /* alone, never valid UTF-8 */
        const struct log_field f[] = {LOG_STR("v", in)};
        char *s = line(LOG_FORMAT_JSON, LOG_INFO, in, f, 1);
        struct jv *doc = parse(s);
        ck_assert_msg(!strcmp(jv_str(doc, "msg"), want), "byte 0x%02x: msg", v);
        ck_assert_msg(!strcmp(jv_str(doc, "fields.v"), want), "byte 0x%02x: field", v);
        ck_assert_uint_eq(jv_len(doc, ""), 5);
        jv_free(doc);
        free(s);
        /* text: a field with this byte is quoted unless plain printable ASCII */
        s = line(LOG_FORMAT_TEXT, LOG_INFO, "m", f, 1);
        const char *val = strstr(s, " v=") + 3;
        bool bare = v > 0x20 && v < 0x7f && v != '"' && v != '\\' && v != '=';
        ck_assert_msg(bare == (val[0] != '"'), "byte 0x%02x: text quoting", v);
        for (const char *p = val; *p != '\n'; p++)
            ck_assert_msg((unsigned char)*p >= 0x20, "byte 0x%02x: raw in text field", v);
        free(s);
    }
}
END_TEST

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static unsigned next_byte(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 24);
}

/* Drops bytes >= 0x80: what must survive any escaping exactly. */
static void ascii_of(const char *s, char *out)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x80)
            *out++ = *s;
    *out = '\0';
}

/* Random strings biased to the hard cases: control bytes, quotes, backslashes, UTF-8 lead
 * and continuation bytes, valid multi-byte sequences. */
START_TEST(json_random_property)
{
    static const char *const pieces[] = {"\"",           "\\",           "\n",
                                         "\x01",         "\x1f",         "\x7f",
                                         "\xc3\xa9",     "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                         "\xed\xa0\x80", "\xc0\xaf",     "\xf4\x90\x80\x80",
                                         "\x80",         "\xff",         "A"};
    for (int iter = 0; iter < 4000; iter++) {
        char in[200];
        size_t n = 0, parts = next_byte() % 24;
        for (size_t k = 0; k < parts; k++) {
            unsigned r = next_byte();
            if (r % 3 == 0) {
                unsigned c = 1 + next_byte() % 255;
                in[n++] = (char)c;
            } else {
                const char *p = pieces[r % (sizeof(pieces) / sizeof(pieces[0]))];
                memcpy(in + n, p, strlen(p));
                n += strlen(p);
            }
        }
        in[n] = '\0';
        const struct log_field f[] = {LOG_STR("v", in)};
        char *s = line(LOG_FORMAT_JSON, LOG_INFO, in, f, 1);
        ck_assert(json_utf8_valid(s, strlen(s)));
        struct jv *doc = parse(s);
        const char *msg = jv_str(doc, "msg");
        ck_assert_str_eq(msg, jv_str(doc, "fields.v"));
        ck_assert(json_utf8_valid(msg, strlen(msg)));
        if (json_utf8_valid(in, n))
            ck_assert_msg(!strcmp(msg, in), "iteration %d: valid UTF-8 changed", iter);
        char a[200], b[800];
        ascii_of(in, a);
        ascii_of(msg, b);
        ck_assert_msg(!strcmp(a, b), "iteration %d: ASCII changed", iter);
        jv_free(doc);
        free(s);
    }
}
END_TEST

START_TEST(json_too_long_fields_dropped)
{
    char *big = malloc(LOG_FIELD_MAX + 100);
    memset(big, '\x01', LOG_FIELD_MAX + 99); /* 6 bytes each once escaped */
    big[LOG_FIELD_MAX + 99] = '\0';
    struct log_field f[16];
    for (size_t i = 0; i < 16; i++)
        f[i] = LOG_STR("k", big);
    f[15] = LOG_INT("last", 7);
    char *s = line(LOG_FORMAT_JSON, LOG_INFO, "m", f, 16);
    ck_assert_uint_le(strlen(s), LOG_LINE_MAX);
    struct jv *doc = parse(s);
    /* each string field is cut at LOG_FIELD_MAX bytes: 6 KiB escaped; 10 fit, then "last" */
    size_t kept = jv_len(doc, "fields");
    ck_assert_uint_eq(kept, 11);
    ck_assert_uint_eq(strlen(jv_str(doc, "fields.k")), LOG_FIELD_MAX);
    ck_assert_double_eq(jv_num(doc, "fields.last"), 7);
    jv_free(doc);
    free(s);
    free(big);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("formats");
    tcase_add_test(tc, text_unchanged);
    tcase_add_test(tc, json_exact);
    tcase_add_test(tc, json_every_byte);
    tcase_add_test(tc, json_random_property);
    tcase_add_test(tc, json_too_long_fields_dropped);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(log_suite)
