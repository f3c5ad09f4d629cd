#include <check.h>
#include <stdio.h>
#include <string.h>

#include "ingest/auth.h"
#include "tests/support/check_main.h"

#define SECRET "0123456789abcdef0123"

static void mint(enum auth_kind kind, const char *scope, int64_t expiry, char *out)
{
    struct auth_claims c = {.kind = kind, .expiry_s = expiry};
    char errstr[128];
    strcpy(c.scope, scope);
    ck_assert_int_eq(auth_mint(SECRET, &c, out, AUTH_TOKEN_MAX + 1, errstr, sizeof(errstr)), TP_OK);
}

static enum tp_err verify(const char *header, struct auth_claims *c, char *why)
{
    return auth_verify(SECRET, header, 1000, c, why, 128);
}

START_TEST(test_roundtrip_and_cover)
{
    char tok[AUTH_TOKEN_MAX + 1], hdr[AUTH_TOKEN_MAX + 16], why[128];
    struct auth_claims c;
    mint(AUTH_DEVICE, "veh-1", 0, tok);
    /* vector computed independently with Python hmac/hashlib/base64 */
    ck_assert_str_eq(tok, "tp1.ZHx2ZWgtMXww.IqOnlTosCUAagBTsRprRYsWLGbI7PnoNwkwPdNUFguA");
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    ck_assert_int_eq(verify(hdr, &c, why), TP_OK);
    ck_assert_int_eq(c.kind, AUTH_DEVICE);
    ck_assert_str_eq(c.scope, "veh-1");
    ck_assert(auth_covers(&c, "veh-1"));
    ck_assert(!auth_covers(&c, "veh-10"));
    mint(AUTH_PREFIX, "veh-", 0, tok);
    snprintf(hdr, sizeof(hdr), "bearer  %s", tok); /* scheme is case-insensitive */
    ck_assert_int_eq(verify(hdr, &c, why), TP_OK);
    ck_assert(auth_covers(&c, "veh-10"));
    ck_assert(!auth_covers(&c, "car-1"));
    mint(AUTH_PREFIX, "", 0, tok);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    ck_assert_int_eq(verify(hdr, &c, why), TP_OK);
    ck_assert(auth_covers(&c, "anything"));
}
END_TEST

START_TEST(test_rejections)
{
    char tok[AUTH_TOKEN_MAX + 1], hdr[AUTH_TOKEN_MAX + 16], why[128];
    struct auth_claims c;
    ck_assert_int_eq(verify(NULL, &c, why), TP_VALIDATION);
    ck_assert_str_eq(why, "missing Authorization: Bearer <token> header");
    ck_assert_int_eq(verify("Basic abc", &c, why), TP_VALIDATION);
    ck_assert_int_eq(verify("Bearer nonsense", &c, why), TP_VALIDATION);
    ck_assert_str_eq(why, "malformed token");
    mint(AUTH_DEVICE, "veh-1", 0, tok);
    tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A'; /* flip the MAC */
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    ck_assert_int_eq(verify(hdr, &c, why), TP_VALIDATION);
    ck_assert_str_eq(why, "token signature is not valid");
    mint(AUTH_DEVICE, "veh-1", 0, tok);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    ck_assert_int_eq(auth_verify("another-secret-16+", hdr, 1000, &c, why, 128), TP_VALIDATION);
    /* claims swapped for another device's, MAC kept: refused */
    char other[AUTH_TOKEN_MAX + 1];
    mint(AUTH_DEVICE, "veh-2", 0, other);
    char forged[AUTH_TOKEN_MAX + 16];
    snprintf(forged, sizeof(forged), "Bearer %.*s%s", (int)(strchr(other + 4, '.') - other), other,
             strchr(tok + 4, '.'));
    ck_assert_int_eq(verify(forged, &c, why), TP_VALIDATION);
    mint(AUTH_DEVICE, "veh-1", 999, tok); /* expired at 999, now is 1000 */
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    ck_assert_int_eq(verify(hdr, &c, why), TP_VALIDATION);
    ck_assert_str_eq(why, "token expired");
    mint(AUTH_DEVICE, "veh-1", 1000, tok);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    ck_assert_int_eq(verify(hdr, &c, why), TP_OK);
    struct auth_claims bad = {.kind = AUTH_DEVICE};
    strcpy(bad.scope, "a|b");
    ck_assert_int_eq(auth_mint(SECRET, &bad, tok, sizeof(tok), why, sizeof(why)), TP_INVALID_ARG);
    ck_assert_int_eq(auth_mint("", &bad, tok, sizeof(tok), why, sizeof(why)), TP_CONFIG);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("tokens");
    tcase_add_test(tc, test_roundtrip_and_cover);
    tcase_add_test(tc, test_rejections);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(auth_suite)
