/*
 * registry/creds.c: the registry.credentials list and file (user:<SHA-256
 * hex of the password>:role), and Basic Authorization headers checked
 * against them: the right role for the right password only, every malformed
 * entry or header refused with its reason.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "registry/creds.h"
#include "tests/support/check_main.h"

/* printf %s test-operator-password | sha256sum, and the reader's */
#define OP_SHA "ad64f5c6c0c71ce170ff1f7ea9648ee5eb984fea63639ecbc92803dfb820d657"
#define RD_SHA "df3ee5fa946d516ea591800e6936f3573cf0b4410dc56af570a5479b7360ccc4"
/* base64 of "tp-operator:test-operator-password", "tp-reader:test-reader-password" */
#define OP_B64 "dHAtb3BlcmF0b3I6dGVzdC1vcGVyYXRvci1wYXNzd29yZA=="
#define RD_B64 "dHAtcmVhZGVyOnRlc3QtcmVhZGVyLXBhc3N3b3Jk"

static struct creds c;
static char errstr[512], user[CREDS_USER_MAX + 1], why[256];

static void setup(void)
{
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(creds_add_list(&c, " tp-operator:" OP_SHA ":write , tp-reader:" RD_SHA ":read",
                                    errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_uint_eq(c.n, 2);
}

static enum creds_role check(const char *header)
{
    return creds_check(&c, header, user, sizeof(user), why, sizeof(why));
}

START_TEST(test_roles_by_password)
{
    ck_assert_int_eq(check("Basic " OP_B64), CREDS_WRITE);
    ck_assert_str_eq(user, "tp-operator");
    ck_assert_int_eq(check("basic  " RD_B64), CREDS_READ); /* scheme case-insensitive */
    ck_assert_str_eq(user, "tp-reader");
    /* tp-reader:test-operator-password: a user with another user's password */
    ck_assert_int_eq(check("Basic dHAtcmVhZGVyOnRlc3Qtb3BlcmF0b3ItcGFzc3dvcmQ="), CREDS_NONE);
    ck_assert_str_eq(why, "unknown user or wrong password");
    /* tp-operator: (empty password) */
    ck_assert_int_eq(check("Basic dHAtb3BlcmF0b3I6"), CREDS_NONE);
    ck_assert_str_eq(why, "unknown user or wrong password");
    /* the password may hold ':' (only the user may not): tp-reader:a:b is just wrong */
    ck_assert_int_eq(check("Basic dHAtcmVhZGVyOmE6Yg=="), CREDS_NONE);
    ck_assert_str_eq(user, "tp-reader");
}
END_TEST

START_TEST(test_malformed_headers)
{
    ck_assert_int_eq(check(NULL), CREDS_NONE);
    ck_assert_str_eq(why, "missing Authorization: Basic <credentials> header");
    ck_assert_int_eq(check("Bearer " OP_B64), CREDS_NONE);
    ck_assert_str_eq(why, "Authorization header must be \"Basic <base64 of user:password>\"");
    const char *bad[] = {"Basic ", "Basic !!!!", "Basic " OP_B64 "=",
                         "Basic dHA=dHA=", "Basic dHAtb3BlcmF0b3I6dGVzdC1vcGVyYXRvci1wYXNzd29yZA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(check(bad[i]) == CREDS_NONE, "%s", bad[i]);
        ck_assert_str_eq(why, "malformed Basic credentials");
        ck_assert_str_eq(user, "");
    }
    ck_assert_int_eq(check("Basic dHAtb3BlcmF0b3I="), CREDS_NONE); /* "tp-operator" */
    ck_assert_str_eq(why, "malformed Basic credentials: expected user:password");
    ck_assert_int_eq(check("Basic OnB3"), CREDS_NONE); /* ":pw" */
    ck_assert_str_eq(why, "malformed Basic credentials: expected user:password");
    /* longer than any user:password we accept: refused before decoding */
    char big[2048] = "Basic ";
    memset(big + 6, 'A', 1200);
    ck_assert_int_eq(check(big), CREDS_NONE);
    ck_assert_str_eq(why, "malformed Basic credentials");
}
END_TEST

START_TEST(test_bad_entries)
{
    struct creds d = {0};
    ck_assert_int_eq(creds_add_list(&d, "ops:secret:write", errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_str_eq(errstr, "invalid credential of user \"ops\" in registry.credentials: expected "
                             "64 hex characters (the SHA-256 of the password), got 6 characters");
    ck_assert_int_eq(creds_add_list(&d, "ops:" OP_SHA, errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_str_eq(errstr, "invalid credential in registry.credentials: expected user:<SHA-256 "
                             "hex of the password>:read|write");
    ck_assert_int_eq(creds_add_list(&d, "ops:" OP_SHA ":admin", errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_str_eq(errstr,
                     "invalid role \"admin\" of user \"ops\" in registry.credentials: use read or "
                     "write");
    ck_assert_int_eq(creds_add_list(&d, ":" OP_SHA ":read", errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_str_eq(errstr, "invalid credential in registry.credentials: the user name must have "
                             "1 to 128 bytes");
    ck_assert_int_eq(
        creds_add_list(&d,
                       "ops:zz64f5c6c0c71ce170ff1f7ea9648ee5eb984fea63639ecbc92803dfb820d657:read",
                       errstr, sizeof(errstr)),
        TP_CONFIG);
    ck_assert_str_eq(errstr, "invalid credential of user \"ops\" in registry.credentials: the "
                             "password digest is not hexadecimal");
    ck_assert_int_eq(
        creds_add_list(&d, "ops:" OP_SHA ":read,ops:" RD_SHA ":write", errstr, sizeof(errstr)),
        TP_CONFIG);
    ck_assert_str_eq(errstr, "user \"ops\" is listed twice (registry.credentials)");
    d = (struct creds){0};
    ck_assert_int_eq(creds_add_list(&d, "", errstr, sizeof(errstr)), TP_OK);
    ck_assert_uint_eq(d.n, 0);
}
END_TEST

START_TEST(test_file)
{
    char path[] = "/tmp/tp-creds-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# operators\nalice:%s:write\n\n  # services\ningest:%s:read # tp-ingest\n", OP_SHA,
            RD_SHA);
    fclose(f);
    struct creds d = {0};
    ck_assert_int_eq(creds_add_file(&d, path, errstr, sizeof(errstr)), TP_OK);
    ck_assert_uint_eq(d.n, 2);
    ck_assert_int_eq(d.role[0], CREDS_WRITE);
    ck_assert_int_eq(d.role[1], CREDS_READ);
    /* ingest:test-reader-password */
    ck_assert_int_eq(creds_check(&d, "Basic aW5nZXN0OnRlc3QtcmVhZGVyLXBhc3N3b3Jk", user,
                                 sizeof(user), why, sizeof(why)),
                     CREDS_READ);
    f = fopen(path, "w");
    fprintf(f, "alice:%s:write\nbob:%s\n", OP_SHA, RD_SHA);
    fclose(f);
    d = (struct creds){0};
    ck_assert_int_eq(creds_add_file(&d, path, errstr, sizeof(errstr)), TP_CONFIG);
    char expect[512];
    snprintf(expect, sizeof(expect),
             "invalid credential in \"%s\" line 2: expected user:<SHA-256 hex of the "
             "password>:read|write",
             path);
    ck_assert_str_eq(errstr, expect);
    unlink(path);
    ck_assert_int_eq(creds_add_file(&d, path, errstr, sizeof(errstr)), TP_CONFIG);
    snprintf(expect, sizeof(expect), "could not open \"%s\": No such file or directory", path);
    ck_assert_str_eq(errstr, expect);
}
END_TEST

static Suite *creds_suite(void)
{
    Suite *s = suite_create("registry_creds");
    TCase *tc = tcase_create("creds");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_roles_by_password);
    tcase_add_test(tc, test_malformed_headers);
    tcase_add_test(tc, test_bad_entries);
    tcase_add_test(tc, test_file);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(creds_suite)
