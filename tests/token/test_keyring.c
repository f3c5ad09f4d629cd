/* token/keyring.c: digests with roles from lists and files; bearer keys checked against them,
 * their role returned; a digest in two roles refused. */
#include <check.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/check_main.h"
#include "token/keyring.h"

static void digest_hex(const char *key, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(key, strlen(key), d, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

START_TEST(test_roles)
{
    static struct keyring k;
    memset(&k, 0, sizeof(k));
    char op1[65], op2[65], an[65], list[200], err[256], why[128];
    digest_hex("operator-key-1", op1);
    digest_hex("operator-key-2", op2);
    digest_hex("analyst-key", an);
    snprintf(list, sizeof(list), " %s , %s,", op1, op2);
    ck_assert_int_eq(keyring_add_list(&k, list, "policy.operator_keys", 1, err, sizeof(err)),
                     TP_OK);
    char path[] = "/tmp/test_keyring_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# analysts\n\n%s\n", an);
    fclose(f);
    ck_assert_int_eq(keyring_add_file(&k, path, 2, err, sizeof(err)), TP_OK);
    ck_assert_uint_eq(k.n, 3);
    ck_assert_int_eq(keyring_check(&k, "Bearer operator-key-1", why, sizeof(why)), 1);
    ck_assert_int_eq(keyring_check(&k, "bearer  operator-key-2", why, sizeof(why)), 1);
    ck_assert_int_eq(keyring_check(&k, "Bearer analyst-key", why, sizeof(why)), 2);
    ck_assert_int_eq(keyring_check(&k, "Bearer other-key", why, sizeof(why)), -1);
    ck_assert_str_eq(why, "unknown API key");
    ck_assert_int_eq(keyring_check(&k, NULL, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "missing Authorization: Bearer <API key> header");
    ck_assert_int_eq(keyring_check(&k, "Basic b3A6b3A=", why, sizeof(why)), -1);
    ck_assert_str_eq(why, "Authorization header must be \"Bearer <API key>\"");
    ck_assert_int_eq(keyring_check(&k, "Bearer ", why, sizeof(why)), -1);
    ck_assert_str_eq(why, "malformed API key");
    /* the digest itself is not a key */
    char header[128];
    snprintf(header, sizeof(header), "Bearer %s", op1);
    ck_assert_int_eq(keyring_check(&k, header, why, sizeof(why)), -1);
    /* the same digest again in its role: kept once; in another role: refused */
    ck_assert_int_eq(keyring_add_list(&k, op1, "policy.operator_keys", 1, err, sizeof(err)), TP_OK);
    ck_assert_uint_eq(k.n, 3);
    ck_assert_int_eq(keyring_add_list(&k, op1, "policy.analyst_keys", 2, err, sizeof(err)),
                     TP_CONFIG);
    ck_assert_str_eq(err, "API key digest in policy.analyst_keys is already known with another "
                          "role");
    ck_assert_int_eq(keyring_add_list(&k, "abc", "policy.operator_keys", 1, err, sizeof(err)),
                     TP_CONFIG);
    ck_assert_str_eq(err, "invalid API key digest in policy.operator_keys: expected 64 hex "
                          "characters (the SHA-256 of the key), got 3 characters");
    unlink(path);
}
END_TEST

static Suite *keyring_suite(void)
{
    Suite *s = suite_create("keyring");
    TCase *tc = tcase_create("keyring");
    tcase_add_test(tc, test_roles);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(keyring_suite)
