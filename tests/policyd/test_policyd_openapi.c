/*
 * policyd/openapi.json against policyd/main.c's route table: every route is documented and
 * every documented operation is a route ("{name}" stands for the routes' '*'), every
 * /v1/policies operation documents 401 and 403; and the error tables against the document
 * both ways: every (status, code) of policyd/errors.h and of policy/errors.h (but "none",
 * and "invalid_record", which only a topic record gets) is in some response's x-error-codes
 * (or x-server-errors') and in the Error schema's enum, every documented code is a row with
 * that status, and no file of policyd/ but errors.c answers an error by itself.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/errors.h"
#include "policyd/errors.h"
#include "tests/support/apidoc.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"

/* "/v1/policies/{name}" -> "/v1/policies/ *" in out */
static void normalize(const char *in, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 2 < n; p++) {
        if (*p == '{') {
            p = strchr(p, '}');
            ck_assert_ptr_nonnull(p);
            out[o++] = '*';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

START_TEST(test_routes_and_document_agree)
{
    char *src = apidoc_read("policyd/main.c");
    char *text = apidoc_read("policyd/openapi.json");
    struct jv *doc = jv_parse(text);
    ck_assert_ptr_nonnull(doc);
    const struct jv *paths = jv_path(doc, "paths");
    ck_assert_ptr_nonnull(paths);
    char ops[32][160];
    bool seen[32] = {0};
    size_t n_ops = 0;
    for (size_t i = 0; i < paths->n; i++) {
        const struct jv *item = paths->items[i];
        for (size_t k = 0; k < item->n; k++) {
            if (!strcmp(item->keys[k], "parameters"))
                continue;
            char norm[128], method[8];
            ck_assert_uint_lt(n_ops, 32);
            normalize(paths->keys[i], norm, sizeof(norm));
            snprintf(method, sizeof(method), "%s", item->keys[k]);
            for (char *m = method; *m; m++)
                *m = (char)(*m - 'a' + 'A');
            snprintf(ops[n_ops], sizeof(ops[0]), "%s %s", method, norm);
            const struct jv *responses = jv_path(item->items[k], "responses");
            ck_assert_ptr_nonnull(responses);
            if (!strncmp(norm, "/v1/policies", 12)) {
                ck_assert_msg(jv_path(responses, "401"), "%s: no 401", ops[n_ops]);
                ck_assert_msg(jv_path(responses, "403"), "%s: no 403", ops[n_ops]);
                ck_assert_msg(jv_path(responses, "503"), "%s: no 503", ops[n_ops]);
            }
            n_ops++;
        }
    }
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
        ck_assert_msg(found, "route %s is not in policyd/openapi.json", op);
        n_routes++;
    }
    for (size_t i = 0; i < n_ops; i++)
        ck_assert_msg(seen[i], "%s is documented but not routed", ops[i]);
    ck_assert_uint_eq(n_routes, n_ops);
    ck_assert_uint_eq(n_ops, 8);
    jv_free(doc);
    free(text);
    free(src);
}
END_TEST

struct documented {
    size_t n;
    struct {
        unsigned status;
        char code[64];
    } at[256];
};

static void collect(void *arg, const char *path, unsigned status, const struct jv *code)
{
    struct documented *d = arg;
    ck_assert_msg(code != NULL, "%s: a %u response without x-error-codes", path, status);
    ck_assert_int_eq(code->type, JV_STR);
    ck_assert_uint_lt(d->n, sizeof(d->at) / sizeof(d->at[0]));
    d->at[d->n].status = status;
    snprintf(d->at[d->n++].code, sizeof(d->at[0].code), "%s", code->str);
}

/* Whether the service answers this row of policy/errors.h. */
static bool policy_row_answered(enum policy_error e)
{
    return e != POLICY_ERR_NONE && e != POLICY_ERR_INVALID_RECORD;
}

/* Whether (status, code) is a row of either table. */
static bool in_tables(unsigned status, const char *code)
{
    for (int e = 0; e < PDERR__COUNT; e++)
        if (policyd_error_status((enum policyd_error)e) == status &&
            !strcmp(policyd_error_code((enum policyd_error)e), code))
            return true;
    for (int e = 0; e < POLICY_ERR__COUNT; e++)
        if (policy_row_answered((enum policy_error)e) &&
            policy_error_status((enum policy_error)e) == status &&
            !strcmp(policy_error_code((enum policy_error)e), code))
            return true;
    return false;
}

static void assert_documented(const struct documented *d, const struct jv *codes_enum,
                              unsigned status, const char *code)
{
    bool seen = false, in_enum = false;
    for (size_t i = 0; i < d->n && !seen; i++)
        seen = d->at[i].status == status && !strcmp(d->at[i].code, code);
    ck_assert_msg(seen, "%u %s is not in policyd/openapi.json", status, code);
    for (size_t i = 0; i < codes_enum->n; i++)
        in_enum = in_enum || !strcmp(codes_enum->items[i]->str, code);
    ck_assert_msg(in_enum, "%s is not in the Error schema's code enum", code);
}

START_TEST(test_errors_and_document_agree)
{
    char *text = apidoc_read("policyd/openapi.json");
    struct jv *doc = jv_parse(text);
    ck_assert_ptr_nonnull(doc);
    static struct documented d;
    d.n = 0;
    apidoc_each_error(doc, collect, &d);
    for (size_t i = 0; i < d.n; i++)
        ck_assert_msg(in_tables(d.at[i].status, d.at[i].code),
                      "documented %u %s is in neither policyd/errors.h nor policy/errors.h",
                      d.at[i].status, d.at[i].code);
    const struct jv *codes_enum = jv_path(doc, "components.schemas.Error.properties.error."
                                               "properties.code.enum");
    ck_assert_ptr_nonnull(codes_enum);
    ck_assert_uint_eq(codes_enum->n, PDERR__COUNT + POLICY_ERR__COUNT - 2);
    for (int e = 0; e < PDERR__COUNT; e++)
        assert_documented(&d, codes_enum, policyd_error_status((enum policyd_error)e),
                          policyd_error_code((enum policyd_error)e));
    for (int e = 0; e < POLICY_ERR__COUNT; e++)
        if (policy_row_answered((enum policy_error)e))
            assert_documented(&d, codes_enum, policy_error_status((enum policy_error)e),
                              policy_error_code((enum policy_error)e));
    /* no code in both tables: a client tells them apart */
    for (int e = 0; e < PDERR__COUNT; e++)
        for (int k = 0; k < POLICY_ERR__COUNT; k++)
            ck_assert_str_ne(policyd_error_code((enum policyd_error)e),
                             policy_error_code((enum policy_error)k));
    ck_assert_uint_ge(d.n, 40); /* the document was read */
    jv_free(doc);
    free(text);
}
END_TEST

START_TEST(test_errors_only_from_the_table)
{
    ck_assert_int_ge(apidoc_sources_lack("policyd", "errors.c", "http_reply_error",
                                         "answer through policyd/errors.h: policyd_error_reply"),
                     2);
}
END_TEST

static Suite *openapi_suite(void)
{
    Suite *s = suite_create("policyd_openapi");
    TCase *tc = tcase_create("openapi");
    tcase_add_test(tc, test_routes_and_document_agree);
    tcase_add_test(tc, test_errors_and_document_agree);
    tcase_add_test(tc, test_errors_only_from_the_table);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(openapi_suite)
