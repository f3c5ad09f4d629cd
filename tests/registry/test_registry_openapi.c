/*
 * registry/openapi.json against registry/main.c's route table: every route
 * is documented and every documented operation is a route (path parameters
 * "{x}" stand for the routes' '*' and '**'), every operation but the open
 * /healthz, /readyz and /metrics documents 401, and every write (PUT,
 * DELETE, POST .../versions) documents 403.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

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
    char *src = slurp(TP_SOURCE_DIR "/registry/main.c");
    char *text = slurp(TP_SOURCE_DIR "/registry/openapi.json");
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

static Suite *openapi_suite(void)
{
    Suite *s = suite_create("registry_openapi");
    TCase *tc = tcase_create("openapi");
    tcase_add_test(tc, test_routes_and_document_agree);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(openapi_suite)
