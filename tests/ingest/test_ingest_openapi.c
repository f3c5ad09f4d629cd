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
 *   literal http_reply_error outside errors.c would escape this check).
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest/errors.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static struct jv *doc;
static char *text;

static void load(void)
{
    text = read_file(TP_SOURCE_DIR "/ingest/openapi.json");
    doc = jv_parse(text);
    ck_assert_msg(doc != NULL, "ingest/openapi.json is not JSON");
}

static void unload(void)
{
    jv_free(doc);
    free(text);
}

/* Member of an object by exact key, or NULL. */
static const struct jv *member(const struct jv *o, const char *key)
{
    if (!o || o->type != JV_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key))
            return o->items[i];
    return NULL;
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
    const struct jv *paths = member(doc, "paths");
    ck_assert_ptr_nonnull(paths);
    size_t n_ops = 0;
    for (size_t i = 0; i < paths->n; i++)
        n_ops += paths->items[i]->n;
    /* the route table: {"METHOD", "/path", ... */
    char *src = read_file(TP_SOURCE_DIR "/ingest/main.c");
    const char *tbl = strstr(src, "const struct http_route routes[] = {");
    ck_assert_ptr_nonnull(tbl);
    const char *end = strstr(tbl, "};");
    size_t n_routes = 0;
    for (const char *p = tbl; (p = strstr(p, "{\"")) && p < end; p++) {
        char method[8], path[128];
        ck_assert_int_eq(sscanf(p, "{\"%7[A-Z]\", \"%127[^\"]\"", method, path), 2);
        const struct jv *item = member(paths, path);
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

/* Calls fn(status, code) for each code of each response's x-error-codes (x-server-errors too). */
static void each_documented(void (*fn)(unsigned status, const char *code))
{
    const struct jv *paths = member(doc, "paths");
    const struct jv *lists[64];
    size_t nl = 0;
    for (size_t i = 0; i < paths->n; i++)
        for (size_t m = 0; m < paths->items[i]->n; m++)
            lists[nl++] = member(paths->items[i]->items[m], "responses");
    lists[nl++] = member(member(doc, "x-server-errors"), "responses");
    for (size_t l = 0; l < nl; l++)
        for (size_t r = 0; lists[l] && r < lists[l]->n; r++) {
            const struct jv *codes = member(lists[l]->items[r], "x-error-codes");
            for (size_t c = 0; codes && c < codes->n; c++)
                fn((unsigned)atoi(lists[l]->keys[r]), codes->items[c]->str);
        }
}

static void check_in_table(unsigned status, const char *code)
{
    bool found = false;
    for (int e = 0; e < INGEST_ERR__COUNT && !found; e++)
        found = (ingest_error_flags((enum ingest_error)e) & INGEST_ERR_REQUEST) &&
                ingest_error_status((enum ingest_error)e) == status &&
                !strcmp(ingest_error_code((enum ingest_error)e), code);
    ck_assert_msg(found, "documented %u %s is not a request row of ingest/errors.h", status, code);
}

static unsigned want_status;
static const char *want_code;
static bool seen;

static void check_seen(unsigned status, const char *code)
{
    seen = seen || (status == want_status && !strcmp(code, want_code));
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
        want_status = ingest_error_status((enum ingest_error)e);
        want_code = ingest_error_code((enum ingest_error)e);
        seen = false;
        each_documented(check_seen);
        ck_assert_msg(seen, "%u %s (ingest/errors.h) is not in ingest/openapi.json", want_status,
                      want_code);
        ck_assert_msg(in_array(codes_enum, want_code), "%s is not in the Error schema's code enum",
                      want_code);
        n_request++;
    }
    each_documented(check_in_table);
    ck_assert_uint_eq(codes_enum->n, n_request);
    /* the telemetry POST documents auth, backpressure and the wire limits */
    const struct jv *post =
        member(member(member(member(doc, "paths"), "/v1/telemetry"), "post"), "responses");
    ck_assert(in_array(member(member(post, "401"), "x-error-codes"), "unauthorized"));
    ck_assert(in_array(member(member(post, "503"), "x-error-codes"), "overloaded"));
    ck_assert(in_array(member(member(post, "413"), "x-error-codes"), "too_many_readings"));
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
    /* every strict code has its row */
    ck_assert_int_eq(ingest_error_of_strict("invalid_utf8"), INGEST_ERR_INVALID_UTF8);
    ck_assert_int_eq(ingest_error_of_strict("too_deep"), INGEST_ERR_TOO_DEEP);
}
END_TEST

/* No file of ingest/ but errors.c answers an error by itself. */
START_TEST(test_errors_only_from_the_table)
{
    DIR *d = opendir(TP_SOURCE_DIR "/ingest");
    ck_assert_ptr_nonnull(d);
    struct dirent *ent;
    int files = 0;
    while ((ent = readdir(d))) {
        size_t l = strlen(ent->d_name);
        if (l < 3 || strcmp(ent->d_name + l - 2, ".c") || !strcmp(ent->d_name, "errors.c"))
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/ingest/%s", TP_SOURCE_DIR, ent->d_name);
        char *src = read_file(path);
        ck_assert_msg(strstr(src, "http_reply_error") == NULL,
                      "%s answers an error without ingest/errors.h (use ingest_error_reply)", path);
        free(src);
        files++;
    }
    closedir(d);
    ck_assert_int_ge(files, 5);
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
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(ingest_openapi_suite)
