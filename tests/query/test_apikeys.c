/* query/apikeys.c: digests from config and files; bearer keys checked against them. */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "query/apikeys.h"
#include "tests/support/check_main.h"

/* a well-formed digest of no key used here */
#define D1 "a8f1c3f3b2b0b2f9a6c9a3d3b0f26c8f0b6e3c1b1f9d3f6c5f0e1a2b3c4d5e6f"

static void digest_hex(const char *key, char *out)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "printf %%s '%s' | sha256sum", key);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(fgets(out, 65, p));
    pclose(p);
    out[64] = '\0';
}

START_TEST(test_list_and_check)
{
    struct apikeys k = {0};
    char d1[80], d2[80], list[256], err[256], why[128];
    digest_hex("analyst-key-1", d1);
    digest_hex("analyst-key-2", d2);
    for (char *c = d2; *c; c++) /* upper case is accepted too */
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    snprintf(list, sizeof(list), " %s ,%s,", d1, d2);
    ck_assert_int_eq(apikeys_add_list(&k, list, err, sizeof(err)), TP_OK);
    ck_assert_uint_eq(k.n, 2);
    ck_assert(apikeys_check(&k, "Bearer analyst-key-1", why, sizeof(why)));
    ck_assert(apikeys_check(&k, "bearer   analyst-key-2", why, sizeof(why)));
    ck_assert(!apikeys_check(&k, "Bearer analyst-key-3", why, sizeof(why)));
    ck_assert_str_eq(why, "unknown API key");
    ck_assert(!apikeys_check(&k, "Bearer analyst-key-1 ", why, sizeof(why)));
    ck_assert(!apikeys_check(&k, NULL, why, sizeof(why)));
    ck_assert_str_eq(why, "missing Authorization: Bearer <API key> header");
    ck_assert(!apikeys_check(&k, "Basic YWxhZGRpbjpvcGVuc2VzYW1l", why, sizeof(why)));
    ck_assert_str_eq(why, "Authorization header must be \"Bearer <API key>\"");
    ck_assert(!apikeys_check(&k, "Bearer ", why, sizeof(why)));
    ck_assert_str_eq(why, "malformed API key");
    /* the digest itself is not a key */
    char header[128];
    snprintf(header, sizeof(header), "Bearer %s", d1);
    ck_assert(!apikeys_check(&k, header, why, sizeof(why)));

    struct apikeys none = {0};
    ck_assert(!apikeys_check(&none, "Bearer analyst-key-1", why, sizeof(why)));
}
END_TEST

START_TEST(test_malformed)
{
    struct apikeys k = {0};
    char err[256];
    ck_assert_int_eq(apikeys_add_list(&k, "abc", err, sizeof(err)), TP_CONFIG);
    ck_assert_str_eq(err, "invalid API key digest in query.api_keys: expected 64 hex characters "
                          "(the SHA-256 of the key), got 3 characters");
    ck_assert_int_eq(apikeys_add_list(&k, D1 "0", err, sizeof(err)), TP_CONFIG);
    char bad[80];
    snprintf(bad, sizeof(bad), "%s", D1);
    bad[10] = 'g';
    ck_assert_int_eq(apikeys_add_list(&k, bad, err, sizeof(err)), TP_CONFIG);
    ck_assert_str_eq(err, "invalid API key digest in query.api_keys: not hexadecimal");
    ck_assert_int_eq(apikeys_add_list(&k, "", err, sizeof(err)), TP_OK);
    ck_assert_uint_eq(k.n, 0);
}
END_TEST

START_TEST(test_file)
{
    char path[] = "/tmp/tp-apikeys-XXXXXX", d1[80], err[256], why[128];
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    digest_hex("analyst-key-1", d1);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# analysts\n\n%s  # alice\r\n" D1 "\n", d1);
    fclose(f);
    struct apikeys k = {0};
    ck_assert_int_eq(apikeys_add_file(&k, path, err, sizeof(err)), TP_OK);
    ck_assert_uint_eq(k.n, 2);
    ck_assert(apikeys_check(&k, "Bearer analyst-key-1", why, sizeof(why)));
    f = fopen(path, "a");
    fprintf(f, "nothex\n");
    fclose(f);
    struct apikeys k2 = {0};
    ck_assert_int_eq(apikeys_add_file(&k2, path, err, sizeof(err)), TP_CONFIG);
    ck_assert_msg(strstr(err, "line 5: expected 64 hex characters") != NULL, "%s", err);
    unlink(path);
    ck_assert_int_eq(apikeys_add_file(&k2, path, err, sizeof(err)), TP_CONFIG);
    ck_assert_msg(strstr(err, "could not open") != NULL, "%s", err);
}
END_TEST

static Suite *apikeys_suite(void)
{
    Suite *s = suite_create("apikeys");
    TCase *tc = tcase_create("apikeys");
    tcase_add_test(tc, test_list_and_check);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_file);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(apikeys_suite)
