/*
 * registry/openapi.json against registry/main.c's route table: every route
 * is documented and every documented operation is a route (path parameters
 * "{x}" stand for the routes' '*' and '**'), every operation but the open
 * /healthz, /readyz and /metrics documents 401, and every write (PUT,
 * DELETE, POST .../versions) documents 403; and the error table
 * (registry/errors.h) against the document both ways: every (status,
 * error_code) of the table is in some response's x-error-codes (or
 * x-server-errors') and in the Error schema's enum, every documented code
 * is a row with that status, and no file of registry/ writes an error_code
 * but errors.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/errors.h"
#include "tests/support/apidoc.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"

/* "/subjects/{subject}/versions" -> "/subjects/ * /versions" (and "**" -> "*") in out */
static void normalize(const char *in, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 2 < n; p++) {
        if (*p == '{') {
            p = strchr(p, '}');
            ck_assert_ptr_nonnull(p);
            out[o++] = '*';
        } else if (*p == '*') {
            out[o++] = '*';
            if (p[1] == '*')
                p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

START_TEST(test_routes_and_document_agree)
{
    char *src = apidoc_read("registry/main.c");
    char *text = apidoc_read("registry/openapi.json");
    struct jv *doc = jv_parse(text);
    ck_assert_ptr_nonnull(doc);
    const struct jv *paths = jv_path(doc, "paths");
    ck_assert_ptr_nonnull(paths);
    /* documented operations, normalized: "GET /subjects/ * /versions" */
    char ops[128][160];
    bool seen[128] = {0};
    size_t n_ops = 0;
    for (size_t i = 0; i < paths->n; i++) {
        const struct jv *item = paths->items[i];
        for (size_t k = 0; k < item->n; k++) {
            char norm[128], method[8];
            ck_assert_uint_lt(n_ops, 128);
            normalize(paths->keys[i], norm, sizeof(norm));
            snprintf(method, sizeof(method), "%s", item->keys[k]);
            for (char *m = method; *m; m++)
                *m = (char)(*m - 'a' + 'A');
            snprintf(ops[n_ops], sizeof(ops[0]), "%s %s", method, norm);
            const struct jv *responses = jv_path(item->items[k], "responses");
            ck_assert_ptr_nonnull(responses);
            bool open =
                !strcmp(norm, "/healthz") || !strcmp(norm, "/readyz") || !strcmp(norm, "/metrics");
            bool writes =
                !strcmp(method, "PUT") || !strcmp(method, "DELETE") ||
                (!strcmp(method, "POST") && strlen(norm) > 9 &&
                 !strcmp(norm + strlen(norm) - 9, "/versions") && strncmp(norm, "/compat", 7) != 0);
            ck_assert_msg(open || jv_path(responses, "401"), "%s: no 401", ops[n_ops]);
            ck_assert_msg(!writes || jv_path(responses, "403"), "%s: no 403", ops[n_ops]);
            n_ops++;
        }
    }
    /* the route table: {"METHOD", "/path", ... */
    const char *tbl = strstr(src, "const struct http_route routes[] = {");
    ck_assert_ptr_nonnull(tbl);
    const char *end = strstr(tbl, "};");
    size_t n_routes = 0;
    for (const char *p = tbl; (p = strstr(p, "{\"")) && p < end; p++) {
        char method[8], path[128], norm[128], op[160];
        ck_assert_int_eq(sscanf(p, "{\"%7[A-Z]\", \"%127[^\"]\"", method, path), 2);
        normalize(path, norm, sizeof(norm));
        snprintf(op, sizeof(op), "%s %s", method, norm);
        bool found = false;
        for (size_t i = 0; i < n_ops && !found; i++)
            if (!strcmp(ops[i], op))
                found = seen[i] = true;
        ck_assert_msg(found, "route %s is not in registry/openapi.json", op);
        n_routes++;
    }
    for (size_t i = 0; i < n_ops; i++)
        ck_assert_msg(seen[i], "%s is documented but not routed", ops[i]);
    ck_assert_uint_eq(n_routes, n_ops);
    ck_assert_uint_ge(n_ops, 30); /* the table was read */
    jv_free(doc);
    free(text);
    free(src);
}
END_TEST

/* Every documented (status, error_code); /readyz's 503 is twinpipe's
 * {"error":{"code":"not_ready"}}, not a row of the table. */
struct documented {
    size_t n;
    struct {
        unsigned status;
        int code;
    } at[1024];
};

static void collect(void *arg, const char *path, unsigned status, const struct jv *code)
{
    struct documented *d = arg;
    if (!strcmp(path, "/readyz") && status == 503 && !code)
        return;
    ck_assert_msg(code != NULL, "%s: a %u response without x-error-codes", path, status);
    ck_assert_int_eq(code->type, JV_NUM);
    ck_assert_uint_lt(d->n, sizeof(d->at) / sizeof(d->at[0]));
    d->at[d->n].status = status;
    d->at[d->n++].code = (int)code->num;
}

START_TEST(test_errors_and_document_agree)
{
    char *text = apidoc_read("registry/openapi.json");
    struct jv *doc = jv_parse(text);
    ck_assert_ptr_nonnull(doc);
    static struct documented d;
    d.n = 0;
    apidoc_each_error(doc, collect, &d);
    /* document -> table */
    for (size_t i = 0; i < d.n; i++) {
        bool found = false;
        for (int e = 0; e < REGISTRY_ERR__COUNT && !found; e++)
            found = registry_error_status((enum registry_error)e) == d.at[i].status &&
                    registry_error_code((enum registry_error)e) == d.at[i].code;
        ck_assert_msg(found, "documented %u %d is not in registry/errors.h", d.at[i].status,
                      d.at[i].code);
    }
    /* table -> document, and the Error schema's enum */
    const struct jv *codes_enum =
        jv_path(doc, "components.schemas.Error.properties.error_code.enum");
    ck_assert_ptr_nonnull(codes_enum);
    ck_assert_uint_eq(codes_enum->n, REGISTRY_ERR__COUNT);
    for (int e = 0; e < REGISTRY_ERR__COUNT; e++) {
        unsigned status = registry_error_status((enum registry_error)e);
        int code = registry_error_code((enum registry_error)e);
        bool seen = false, in_enum = false;
        for (size_t i = 0; i < d.n && !seen; i++)
            seen = d.at[i].status == status && d.at[i].code == code;
        ck_assert_msg(seen, "%u %d (registry/errors.h) is not in registry/openapi.json", status,
                      code);
        for (size_t i = 0; i < codes_enum->n; i++)
            in_enum = in_enum || (int)codes_enum->items[i]->num == code;
        ck_assert_msg(in_enum, "%d is not in the Error schema's error_code enum", code);
        /* Confluent's codes extend the status: 40401 is a 404 */
        ck_assert_msg(code == (int)status || code / 100 == (int)status, "%u %d", status, code);
        ck_assert_uint_gt(strlen(registry_error_when((enum registry_error)e)), 0);
        for (int k = e + 1; k < REGISTRY_ERR__COUNT; k++)
            ck_assert_int_ne(code, registry_error_code((enum registry_error)k));
    }
    ck_assert_uint_ge(d.n, 50); /* the document was read */
    jv_free(doc);
    free(text);
}
END_TEST

/* No file of registry/ but errors.c writes Confluent's error document by itself. */
START_TEST(test_errors_only_from_the_table)
{
    ck_assert_int_ge(apidoc_sources_lack("registry", "errors.c", "error_code",
                                         "answer through registry/errors.h: registry_error_reply"),
                     5);
}
END_TEST

static Suite *openapi_suite(void)
{
    Suite *s = suite_create("registry_openapi");
    TCase *tc = tcase_create("openapi");
    tcase_add_test(tc, test_routes_and_document_agree);
    tcase_add_test(tc, test_errors_and_document_agree);
    tcase_add_test(tc, test_errors_only_from_the_table);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(openapi_suite)
