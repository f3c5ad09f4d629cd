/*
 * ingest/openapi.json against the implementation, mechanically:
 * - every route of ingest/main.c's route table is a documented operation and
 *   every documented operation is a route;
 * - every request row (status, code) of the error table (ingest/errors.h) is
 *   documented in some response's x-error-codes and in the Error schema's
 *   code enum, and every documented code is a request row with that status;
 * - every reading row is in the RejectedReading schema's code enum, and
 *   every code of that enum is a reading row;
 * - the table's flags agree with its statuses;
 * - no file of ingest/ answers an error except through that table (a
 *   literal http_reply_error outside errors.c would escape this check);
 * - every member the 202 body gains with policies (ingest/period.h) is a
 *   property of the Accepted schema of its JSON type, with the policies'
 *   period bounds (policy/policy.h).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest/errors.h"
#include "ingest/period.h"
#include "tests/support/apidoc.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"

static struct jv *doc;
static char *text;

static void load(void)
{
    text = apidoc_read("ingest/openapi.json");
    doc = jv_parse(text);
    ck_assert_msg(doc != NULL, "ingest/openapi.json is not JSON");
}

static void unload(void)
{
    jv_free(doc);
    free(text);
}

static bool in_array(const struct jv *a, const char *s)
{
    for (size_t i = 0; a && i < a->n; i++)
        if (a->items[i]->type == JV_STR && !strcmp(a->items[i]->str, s))
            return true;
    return false;
}

START_TEST(test_routes_are_documented)
{
    ck_assert_msg(!strncmp(jv_str(doc, "openapi"), "3.", 2), "not OpenAPI 3");
    const struct jv *paths = apidoc_member(doc, "paths");
    ck_assert_ptr_nonnull(paths);
    size_t n_ops = 0;
    for (size_t i = 0; i < paths->n; i++)
        n_ops += paths->items[i]->n;
    /* the route table: {"METHOD", "/path", ... */
    char *src = apidoc_read("ingest/main.c");
    const char *tbl = strstr(src, "const struct http_route routes[] = {");
    ck_assert_ptr_nonnull(tbl);
    const char *end = strstr(tbl, "};");
    size_t n_routes = 0;
    for (const char *p = tbl; (p = strstr(p, "{\"")) && p < end; p++) {
        char method[8], path[128];
        ck_assert_int_eq(sscanf(p, "{\"%7[A-Z]\", \"%127[^\"]\"", method, path), 2);
        const struct jv *item = apidoc_member(paths, path);
        bool found = false;
        for (size_t m = 0; item && m < item->n && !found; m++)
            found = !strcasecmp(item->keys[m], method);
        ck_assert_msg(found, "route %s %s is not in ingest/openapi.json", method, path);
        n_routes++;
    }
    /* each documented operation was found once: as many operations as routes */
    ck_assert_uint_eq(n_routes, n_ops);
    ck_assert_uint_ge(n_routes, 4);
    free(src);
}
END_TEST

/* A documented (status, code) is a request row with that status. */
static void check_in_table(void *arg, const char *path, unsigned status, const struct jv *code)
{
    (void)arg;
    ck_assert_msg(code != NULL, "%s: a %u response without x-error-codes", path, status);
    bool found = false;
    for (int e = 0; e < INGEST_ERR__COUNT && !found; e++)
        found = (ingest_error_flags((enum ingest_error)e) & INGEST_ERR_REQUEST) &&
                ingest_error_status((enum ingest_error)e) == status &&
                !strcmp(ingest_error_code((enum ingest_error)e), code->str);
    ck_assert_msg(found, "documented %u %s is not a request row of ingest/errors.h", status,
                  code->str);
}

/* Whether the row arg is documented with its status. */
static void check_seen(void *arg, const char *path, unsigned status, const struct jv *code)
{
    (void)path;
    int e = *(int *)arg;
    if (code && status == ingest_error_status((enum ingest_error)e) &&
        !strcmp(code->str, ingest_error_code((enum ingest_error)e)))
        *(int *)arg = -1;
}

START_TEST(test_request_errors_are_documented)
{
    const struct jv *codes_enum =
        jv_path(doc, "components.schemas.Error.properties.error.properties.code.enum");
    ck_assert_ptr_nonnull(codes_enum);
    size_t n_request = 0;
    for (int e = 0; e < INGEST_ERR__COUNT; e++) {
        if (!(ingest_error_flags((enum ingest_error)e) & INGEST_ERR_REQUEST))
            continue;
        int seen = e;
        apidoc_each_error(doc, check_seen, &seen);
        ck_assert_msg(seen == -1, "%u %s (ingest/errors.h) is not in ingest/openapi.json",
                      ingest_error_status((enum ingest_error)e),
                      ingest_error_code((enum ingest_error)e));
        ck_assert_msg(in_array(codes_enum, ingest_error_code((enum ingest_error)e)),
                      "%s is not in the Error schema's code enum",
                      ingest_error_code((enum ingest_error)e));
        n_request++;
    }
    apidoc_each_error(doc, check_in_table, NULL);
    ck_assert_uint_eq(codes_enum->n, n_request);
    /* the telemetry POST documents auth, backpressure and the wire limits */
    const struct jv *post =
        jv_path(apidoc_member(apidoc_member(doc, "paths"), "/v1/telemetry"), "post.responses");
    ck_assert(in_array(jv_path(post, "401.x-error-codes"), "unauthorized"));
    ck_assert(in_array(jv_path(post, "503.x-error-codes"), "overloaded"));
    ck_assert(in_array(jv_path(post, "413.x-error-codes"), "too_many_readings"));
}
END_TEST

START_TEST(test_reading_errors_are_documented)
{
    const struct jv *codes_enum =
        jv_path(doc, "components.schemas.RejectedReading.properties.code.enum");
    ck_assert_ptr_nonnull(codes_enum);
    size_t n_reading = 0;
    for (int e = 0; e < INGEST_ERR__COUNT; e++) {
        if (!(ingest_error_flags((enum ingest_error)e) & INGEST_ERR_READING))
            continue;
        const char *code = ingest_error_code((enum ingest_error)e);
        ck_assert_msg(in_array(codes_enum, code),
                      "%s (a reading row of ingest/errors.h) is not in RejectedReading's code enum",
                      code);
        n_reading++;
    }
    /* every enum entry is a reading row: as many as rows, and no duplicates among them */
    ck_assert_uint_eq(codes_enum->n, n_reading);
    for (size_t i = 0; i < codes_enum->n; i++)
        for (size_t k = i + 1; k < codes_enum->n; k++)
            ck_assert_str_ne(codes_enum->items[i]->str, codes_enum->items[k]->str);
    ck_assert_uint_ge(n_reading, 16);
}
END_TEST

/* The flags say what the statuses say: a row is a request row exactly when it has a status;
 * every code is unique; wire refusals are request rows; Retry-After goes with 503. */
START_TEST(test_table_is_consistent)
{
    for (int e = 0; e < INGEST_ERR__COUNT; e++) {
        enum ingest_error x = (enum ingest_error)e;
        unsigned f = ingest_error_flags(x), st = ingest_error_status(x);
        const char *code = ingest_error_code(x);
        ck_assert_msg(f & (INGEST_ERR_REQUEST | INGEST_ERR_READING), "%s appears nowhere", code);
        ck_assert_msg(!(f & INGEST_ERR_REQUEST) == (st == 0), "%s: status %u, flags %#x", code, st,
                      f);
        ck_assert_msg(st == 0 || (st >= 400 && st <= 599), "%s: status %u", code, st);
        ck_assert_msg(!(f & INGEST_ERR_WIRE) || (f & INGEST_ERR_REQUEST), "%s", code);
        ck_assert_msg(!(f & INGEST_ERR_RETRY) || st == 503, "%s", code);
        ck_assert_uint_gt(strlen(ingest_error_when(x)), 0);
        for (int k = e + 1; k < INGEST_ERR__COUNT; k++)
            ck_assert_str_ne(code, ingest_error_code((enum ingest_error)k));
    }
    /* the strict codes have their rows */
    ck_assert_int_eq(ingest_error_of_strict("invalid_utf8"), INGEST_ERR_INVALID_UTF8);
    ck_assert_int_eq(ingest_error_of_strict("too_deep"), INGEST_ERR_TOO_DEEP);
}
END_TEST

/* No file of ingest/ but errors.c answers an error by itself (main, ingest, decode, validate
 * at least were read). */
START_TEST(test_errors_only_from_the_table)
{
    ck_assert_int_ge(apidoc_sources_lack("ingest", "errors.c", "http_reply_error",
                                         "answer through ingest/errors.h: ingest_error_reply"),
                     4);
}
END_TEST

/* A policy record of a truck policy, applied to s. */
static void put_trucks(struct policy_set *s)
{
    static const char rec[] =
        "{\"v\":1,\"name\":\"trucks\",\"issued_at\":1,\"revision\":1,\"selector\":"
        "{\"attributes\":{\"model\":{\"eq\":\"tp-truck\"}}},\"level\":\"raw\","
        "\"report_every_ms\":1000,\"from\":\"2026-12-03T10:00:00Z\",\"until\":"
        "\"2026-12-03T11:00:00Z\"}";
    enum policy_error code;
    char msg[256];
    ck_assert_int_eq(
        policy_set_apply(s, "policies", "trucks", 6, rec, strlen(rec), &code, msg, sizeof(msg)),
        TP_OK);
}

/* A property of the Accepted schema: an integer within the policies' period bounds. */
static void check_period_schema(const struct jv *schema)
{
    ck_assert_ptr_nonnull(schema);
    ck_assert_str_eq(jv_str(schema, "type"), "integer");
    ck_assert_double_eq(jv_num(schema, "minimum"), POLICY_REPORT_MIN_MS);
    ck_assert_double_eq(jv_num(schema, "maximum"), POLICY_REPORT_MAX_MS);
}

START_TEST(test_period_members_are_documented)
{
    struct policy_set *s = policy_set_new(10);
    put_trucks(s);
    journal_reading a = TWINPIPE__TELEMETRY__V1__READING__INIT, b = a;
    a.device_id = (char *)"veh-1";
    a.model = (char *)"tp-truck";
    b.device_id = (char *)"veh-2";
    journal_reading *rs[] = {&a, &b};
    struct period_answer pa;
    /* a gateway's batch at 10:30: both members written */
    period_answer_compute(&pa, s, NULL, 3000, 1796293800000LL, rs, NULL, 2);
    struct buf body;
    buf_init(&body, 4096);
    buf_append_str(&body, "{\"accepted\":2");
    ck_assert_int_eq(period_answer_json(&pa, &body), TP_OK);
    buf_append_str(&body, "}");
    period_answer_release(&pa);
    policy_set_free(s);
    struct jv *got = jv_parse(body.data);
    ck_assert_msg(got && got->type == JV_OBJ, "%s", body.data);
    ck_assert_uint_eq(got->n, 3);
    const struct jv *props = jv_path(doc, "components.schemas.Accepted.properties");
    ck_assert_ptr_nonnull(props);
    for (size_t i = 0; i < got->n; i++)
        ck_assert_msg(apidoc_member(props, got->keys[i]), "%s is not in the Accepted schema",
                      got->keys[i]);
    check_period_schema(apidoc_member(props, "report_every_ms"));
    const struct jv *map = apidoc_member(props, "report_every_ms_by_device");
    ck_assert_ptr_nonnull(map);
    ck_assert_str_eq(jv_str(map, "type"), "object");
    check_period_schema(apidoc_member(map, "additionalProperties"));
    ck_assert_double_eq(jv_num(got, "report_every_ms"), 3000);
    ck_assert_double_eq(jv_num(got, "report_every_ms_by_device.veh-1"), 1000);
    jv_free(got);
    buf_release(&body);
}
END_TEST

static Suite *ingest_openapi_suite(void)
{
    Suite *s = suite_create("ingest_openapi");
    TCase *tc = tcase_create("openapi");
    tcase_add_checked_fixture(tc, load, unload);
    tcase_add_test(tc, test_routes_are_documented);
    tcase_add_test(tc, test_request_errors_are_documented);
    tcase_add_test(tc, test_reading_errors_are_documented);
    tcase_add_test(tc, test_table_is_consistent);
    tcase_add_test(tc, test_errors_only_from_the_table);
    tcase_add_test(tc, test_period_members_are_documented);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(ingest_openapi_suite)
