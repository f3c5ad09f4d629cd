/*
 * query/openapi.json against the implementation, mechanically:
 * - every route of the route table (query_api_routes) is a documented operation
 *   and every documented operation is a route ("{id}" <-> "*");
 * - every (status, code) of the error table (query/errors.h) is documented
 *   in some response's x-error-codes, and every documented code is in the
 *   table with that status, and in the Error schema's enum;
 * - no file of query/ answers an error except through that table (a
 *   literal http_reply_error outside errors.c would escape this check);
 * - every documented query parameter, with its example, is accepted by the
 *   endpoint's parser, and the parsers refuse what is not documented;
 * - the compiled-in copy is the file.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/aggregates.h"
#include "query/api.h"
#include "query/errors.h"
#include "query/params.h"
#include "query/stream.h"
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
    text = read_file(TP_SOURCE_DIR "/query/openapi.json");
    doc = jv_parse(text);
    ck_assert_msg(doc != NULL, "query/openapi.json is not JSON");
}

static void unload(void)
{
    jv_free(doc);
    free(text);
}

/* Member of an object by exact key (keys may contain dots), or NULL. */
static const struct jv *member(const struct jv *o, const char *key)
{
    if (!o || o->type != JV_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key))
            return o->items[i];
    return NULL;
}

/* Follows {"$ref":"#/components/<kind>/<name>"}. */
static const struct jv *deref(const struct jv *v)
{
    const struct jv *r = member(v, "$ref");
    if (!r)
        return v;
    char kind[64], name[64];
    ck_assert_int_eq(sscanf(r->str, "#/components/%63[^/]/%63s", kind, name), 2);
    const struct jv *target = member(member(member(doc, "components"), kind), name);
    ck_assert_msg(target != NULL, "dangling %s", r->str);
    return target;
}

/* "/v1/devices/{id}/series" -> "/v1/devices/ * /series" (without the spaces) */
static void route_of(const char *path, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = path; *p && o + 1 < n; p++) {
        if (*p == '{') {
            out[o++] = '*';
            p = strchr(p, '}');
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

START_TEST(test_routes_are_documented)
{
    struct query_api api = {0};
    size_t n;
    const struct http_route *routes = query_api_routes(&api, &n);
    const struct jv *paths = member(doc, "paths");
    ck_assert_ptr_nonnull(paths);
    ck_assert_msg(!strncmp(jv_str(doc, "openapi"), "3.", 2), "not OpenAPI 3");
    /* route -> document */
    for (size_t r = 0; r < n; r++) {
        bool found = false;
        for (size_t i = 0; i < paths->n && !found; i++) {
            char route[256];
            route_of(paths->keys[i], route, sizeof(route));
            char method[8];
            snprintf(method, sizeof(method), "%s", routes[r].method);
            for (char *c = method; *c; c++)
                *c = (char)(*c - 'A' + 'a');
            found = !strcmp(route, routes[r].path) && member(paths->items[i], method);
        }
        ck_assert_msg(found, "route %s %s is not in query/openapi.json", routes[r].method,
                      routes[r].path);
    }
    /* document -> route */
    for (size_t i = 0; i < paths->n; i++) {
        char route[256];
        route_of(paths->keys[i], route, sizeof(route));
        for (size_t m = 0; m < paths->items[i]->n; m++) {
            bool found = false;
            for (size_t r = 0; r < n && !found; r++)
                found = !strcmp(routes[r].path, route) &&
                        !strcasecmp(routes[r].method, paths->items[i]->keys[m]);
            ck_assert_msg(found, "documented %s %s has no route", paths->items[i]->keys[m],
                          paths->keys[i]);
        }
    }
}
END_TEST

/* Whether responses (status -> response) document code under status; also collects all codes. */
static bool has_code(const struct jv *responses, unsigned status, const char *code)
{
    char st[8];
    snprintf(st, sizeof(st), "%u", status);
    const struct jv *resp = member(responses, st);
    if (!resp)
        return false;
    const struct jv *codes = member(deref(resp), "x-error-codes");
    for (size_t i = 0; codes && i < codes->n; i++)
        if (!strcmp(codes->items[i]->str, code))
            return true;
    return false;
}

/* Every response object of the document, with its status: calls fn for each documented code. */
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
            const struct jv *codes = member(deref(lists[l]->items[r]), "x-error-codes");
            for (size_t c = 0; codes && c < codes->n; c++)
                fn((unsigned)atoi(lists[l]->keys[r]), codes->items[c]->str);
        }
}

static void check_in_table(unsigned status, const char *code)
{
    bool found = false;
    for (int e = 0; e < QERR__COUNT && !found; e++)
        found = query_error_status((enum query_error)e) == status &&
                !strcmp(query_error_code((enum query_error)e), code);
    ck_assert_msg(found, "documented %u %s is not in query/errors.h", status, code);
}

static unsigned want_status;
static const char *want_code;
static bool seen;

static void check_seen(unsigned status, const char *code)
{
    seen = seen || (status == want_status && !strcmp(code, want_code));
}

START_TEST(test_errors_are_documented)
{
    const struct jv *codes_enum =
        jv_path(doc, "components.schemas.Error.properties.error.properties.code.enum");
    ck_assert_ptr_nonnull(codes_enum);
    for (int e = 0; e < QERR__COUNT; e++) {
        want_status = query_error_status((enum query_error)e);
        want_code = query_error_code((enum query_error)e);
        seen = false;
        each_documented(check_seen);
        ck_assert_msg(seen, "%u %s (query/errors.h) is not in query/openapi.json", want_status,
                      want_code);
        bool in_enum = false;
        for (size_t i = 0; i < codes_enum->n; i++)
            in_enum = in_enum || !strcmp(codes_enum->items[i]->str, want_code);
        ck_assert_msg(in_enum, "%s is not in the Error schema's code enum", want_code);
    }
    each_documented(check_in_table);
    ck_assert_uint_eq(codes_enum->n, QERR__COUNT);
    /* a data endpoint documents auth and read-your-writes failures */
    const struct jv *list = member(member(member(doc, "paths"), "/v1/devices"), "get");
    ck_assert(has_code(member(list, "responses"), 401, "unauthorized"));
    ck_assert(has_code(member(list, "responses"), 504, "consistency_timeout"));
}
END_TEST

/* No file of query/ but errors.c answers an error by itself. */
START_TEST(test_errors_only_from_the_table)
{
    DIR *d = opendir(TP_SOURCE_DIR "/query");
    ck_assert_ptr_nonnull(d);
    struct dirent *ent;
    int files = 0;
    while ((ent = readdir(d))) {
        size_t l = strlen(ent->d_name);
        if (l < 3 || strcmp(ent->d_name + l - 2, ".c") || !strcmp(ent->d_name, "errors.c"))
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/query/%s", TP_SOURCE_DIR, ent->d_name);
        char *src = read_file(path);
        ck_assert_msg(strstr(src, "http_reply_error") == NULL,
                      "%s answers an error without query/errors.h (use query_error_reply)", path);
        free(src);
        files++;
    }
    closedir(d);
    ck_assert_int_ge(files, 10);
}
END_TEST

/* Parses "name=example" for every documented query parameter of an operation. */
static void check_parameters(const char *path, enum tp_err (*parse)(const struct params_args *))
{
    const struct jv *op = member(member(member(doc, "paths"), path), "get");
    const struct jv *ps = member(op, "parameters");
    ck_assert_ptr_nonnull(ps);
    int n = 0;
    for (size_t i = 0; i < ps->n; i++) {
        const struct jv *p = deref(ps->items[i]);
        if (strcmp(jv_str(p, "in"), "query") != 0)
            continue;
        const struct jv *xname = member(p, "x-example-name");
        const char *name = xname ? xname->str : jv_str(p, "name");
        const struct jv *ex = member(p, "example");
        ck_assert_msg(ex != NULL, "%s: parameter %s has no example", path, name);
        char value[64];
        if (ex->type == JV_NUM)
            snprintf(value, sizeof(value), "%g", ex->num);
        else
            snprintf(value, sizeof(value), "%s", ex->str);
        /* the required ones of this operation, so the example stands alone */
        struct params_args a = {0};
        params_args_add(&a, name, value);
        for (size_t k = 0; k < ps->n; k++) {
            const struct jv *q = deref(ps->items[k]);
            const struct jv *req = member(q, "required");
            if (k != i && !strcmp(jv_str(q, "in"), "query") && req && req->b)
                params_args_add(&a, jv_str(q, "name"), jv_str(q, "example"));
        }
        ck_assert_msg(parse(&a) == TP_OK, "%s: documented %s=%s is refused", path, name, value);
        n++;
    }
    struct params_args a = {0};
    params_args_add(&a, "undocumented", "1");
    ck_assert_msg(parse(&a) != TP_OK, "%s accepts an undocumented parameter", path);
    ck_assert_int_gt(n, 0);
}

static enum tp_err parse_list(const struct params_args *a)
{
    struct list_params p;
    char err[256];
    return params_list_parse(a, &p, err, sizeof(err));
}

static enum tp_err parse_series(const struct params_args *a)
{
    struct series_params p;
    char err[256];
    return params_series_parse(a, &p, err, sizeof(err));
}

static enum tp_err parse_summary(const struct params_args *a)
{
    struct summary_params p;
    char err[256];
    return params_summary_parse(a, &p, err, sizeof(err));
}

static enum tp_err parse_aggregates(const struct params_args *a)
{
    struct aggregates_params p;
    char err[256];
    return aggregates_params_parse(a, &p, err, sizeof(err));
}

static enum tp_err parse_stream(const struct params_args *a)
{
    struct stream_filter *f = NULL;
    char err[256];
    enum tp_err e = stream_filter_parse(a, &f, err, sizeof(err));
    stream_filter_free(f);
    return e;
}

START_TEST(test_parameters_are_accepted)
{
    check_parameters("/v1/devices", parse_list);
    check_parameters("/v1/devices/{id}/series", parse_series);
    check_parameters("/v1/fleet/summary", parse_summary);
    check_parameters("/v1/fleet/aggregates", parse_aggregates);
    check_parameters("/v1/stream", parse_stream);
}
END_TEST

START_TEST(test_compiled_in_copy)
{
    ck_assert_uint_eq(query_api_openapi_json_len, strlen(text));
    ck_assert_int_eq(memcmp(query_api_openapi_json, text, query_api_openapi_json_len), 0);
}
END_TEST

static Suite *openapi_suite(void)
{
    Suite *s = suite_create("openapi");
    TCase *tc = tcase_create("openapi");
    tcase_add_checked_fixture(tc, load, unload);
    tcase_add_test(tc, test_routes_are_documented);
    tcase_add_test(tc, test_errors_are_documented);
    tcase_add_test(tc, test_errors_only_from_the_table);
    tcase_add_test(tc, test_parameters_are_accepted);
    tcase_add_test(tc, test_compiled_in_copy);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(openapi_suite)
