/* token/auth.c: bearer tokens minted, verified, refused; what a scope covers. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "token/auth.h"
#include "tests/support/check_main.h"

#define SECRET "0123456789abcdef0123"
#define NOW    1000 /* verify's clock */
#define LATER  2000 /* an expiry after it */

static void mint(enum auth_kind kind, const char *scope, int64_t expiry, char *out)
{
    struct auth_claims c = {.kind = kind, .expiry_s = expiry};
    char errstr[128];
    strcpy(c.scope, scope);
    ck_assert_int_eq(auth_mint(SECRET, &c, out, AUTH_TOKEN_MAX + 1, errstr, sizeof(errstr)), TP_OK);
}

static enum tp_err verify(const char *header, struct auth_claims *c, char *why)
{
    return auth_verify(SECRET, header, NOW, c, why, 128);
}

START_TEST(test_roundtrip_and_cover)
{
    char tok[AUTH_TOKEN_MAX + 1], hdr[AUTH_TOKEN_MAX + 16], why[128];
    struct auth_claims c;
    mint(AUTH_DEVICE, "veh-1", LATER, tok);
    /* vector computed independently with Python hmac/hashlib/base64 */
    ck_assert_str_eq(tok, "tp1.ZHx2ZWgtMXwyMDAw.Zs7jY_BFA-cK-W3Lnn-o4VnO1teUYgssJEDAyJ5WpGU");
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    ck_assert_int_eq(verify(hdr, &c, why), TP_OK);
    ck_assert_int_eq(c.kind, AUTH_DEVICE);
    ck_assert_str_eq(c.scope, "veh-1");
    ck_assert_int_eq(c.expiry_s, LATER);
    ck_assert(auth_covers(&c, "veh-1"));
    ck_assert(!auth_covers(&c, "veh-10"));
    mint(AUTH_PREFIX, "veh-", LATER, tok);
    snprintf(hdr, sizeof(hdr), "bearer  %s", tok); /* scheme is case-insensitive */
    ck_assert_int_eq(verify(hdr, &c, why), TP_OK);
    ck_assert(auth_covers(&c, "veh-10"));
    ck_assert(!auth_covers(&c, "car-1"));
    mint(AUTH_PREFIX, "", LATER, tok);
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
    mint(AUTH_DEVICE, "veh-1", LATER, tok);
    tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A'; /* flip the MAC */
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    ck_assert_int_eq(verify(hdr, &c, why), TP_VALIDATION);
    ck_assert_str_eq(why, "token signature is not valid");
    mint(AUTH_DEVICE, "veh-1", LATER, tok);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    ck_assert_int_eq(auth_verify("another-secret-16+", hdr, NOW, &c, why, 128), TP_VALIDATION);
    /* claims swapped for another device's, MAC kept: refused */
    char other[AUTH_TOKEN_MAX + 1];
    mint(AUTH_DEVICE, "veh-2", LATER, other);
    char forged[AUTH_TOKEN_MAX + 16];
    snprintf(forged, sizeof(forged), "Bearer %.*s%s", (int)(strchr(other + 4, '.') - other), other,
             strchr(tok + 4, '.'));
    ck_assert_int_eq(verify(forged, &c, why), TP_VALIDATION);
    mint(AUTH_DEVICE, "veh-1", NOW - 1, tok); /* expired a second ago */
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    ck_assert_int_eq(verify(hdr, &c, why), TP_VALIDATION);
    ck_assert_str_eq(why, "token expired");
    mint(AUTH_DEVICE, "veh-1", NOW, tok);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    ck_assert_int_eq(verify(hdr, &c, why), TP_OK);
    struct auth_claims bad = {.kind = AUTH_DEVICE, .expiry_s = LATER};
    strcpy(bad.scope, "a|b");
    ck_assert_int_eq(auth_mint(SECRET, &bad, tok, sizeof(tok), why, sizeof(why)), TP_INVALID_ARG);
    ck_assert_int_eq(auth_mint("", &bad, tok, sizeof(tok), why, sizeof(why)), TP_CONFIG);
}
END_TEST

/*
 * Issue 13, item 10: tokens never expired by default (expiry 0 = never, and tp-ingest token
 * minted that unless --ttl_s was given). Now every token expires: minting without an
 * expiry is refused, and a token that says "never" is refused like an expired one.
 */
START_TEST(test_expiry_mandatory)
{
    char tok[AUTH_TOKEN_MAX + 1], why[128];
    struct auth_claims c;
    /* what main's auth_mint made of {veh-1, expiry 0} (the vector this file used to check) */
    ck_assert_int_eq(
        verify("Bearer tp1.ZHx2ZWgtMXww.IqOnlTosCUAagBTsRprRYsWLGbI7PnoNwkwPdNUFguA", &c, why),
        TP_VALIDATION);
    ck_assert_str_eq(why, "token has no expiry: tokens without one are not accepted");
    struct auth_claims never = {.kind = AUTH_DEVICE, .expiry_s = 0};
    strcpy(never.scope, "veh-1");
    ck_assert_int_eq(auth_mint(SECRET, &never, tok, sizeof(tok), why, sizeof(why)), TP_INVALID_ARG);
    ck_assert_str_eq(why, "a token needs an expiry (Unix seconds)");
    never.kind = AUTH_PREFIX;
    strcpy(never.scope, "veh-");
    never.expiry_s = -5;
    ck_assert_int_eq(auth_mint(SECRET, &never, tok, sizeof(tok), why, sizeof(why)), TP_INVALID_ARG);
    ck_assert_str_eq(why, "a token needs an expiry (Unix seconds)");
    /* signed, but an empty or negative expiry ("d|veh-1|", "d|veh-1|-5"; vectors from Python) */
    ck_assert_int_eq(
        verify("Bearer tp1.ZHx2ZWgtMXw.eWl7r3kvXDkakSHmJSD8MP8wEJ5N6LJJx0K-JUP_AF0", &c, why),
        TP_VALIDATION);
    ck_assert_str_eq(why, "malformed token expiry");
    ck_assert_int_eq(
        verify("Bearer tp1.ZHx2ZWgtMXwtNQ.j4NE2S6dCoE4ulZWw8SEG2ElVqXrBIibadJ0jsMgqYc", &c, why),
        TP_VALIDATION);
    ck_assert_str_eq(why, "malformed token expiry");
    /* the default lifetime tp-ingest token gives, and its most */
    ck_assert_int_eq(AUTH_TTL_DEFAULT_S, 90 * 86400);
    ck_assert_int_eq(AUTH_TTL_MAX_S, 3650 * 86400);
}
END_TEST

/*
 * Issue 13, item 10: a gateway scope "veh-1" also covered "veh-10...". Scopes are
 * delimiter-aware: one that ends with - . _ or : covers the ids that start with it, the empty
 * one the whole fleet, any other only the id equal to it.
 */
START_TEST(test_gateway_scope_delimiters)
{
    char tok[AUTH_TOKEN_MAX + 1], hdr[AUTH_TOKEN_MAX + 16], why[256];
    struct auth_claims c;
    /* "veh-1" (signed as "p|veh-1|2000", vector from Python): exactly veh-1, not veh-10 */
    ck_assert_int_eq(
        verify("Bearer tp1.cHx2ZWgtMXwyMDAw.PjMDe_GkSsKfkVa4RjKcEGlswejrRCrD6-6QLheBLWE", &c, why),
        TP_OK);
    ck_assert_int_eq(c.kind, AUTH_PREFIX);
    ck_assert_str_eq(c.scope, "veh-1");
    ck_assert(auth_covers(&c, "veh-1"));
    ck_assert(!auth_covers(&c, "veh-10"));
    ck_assert(!auth_covers(&c, "veh-1-a"));
    /* the prefix form: "veh-1-" covers veh-1-a, not veh-10 nor veh-1 */
    mint(AUTH_PREFIX, "veh-1-", LATER, tok);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    ck_assert_int_eq(verify(hdr, &c, why), TP_OK);
    ck_assert_int_eq(c.kind, AUTH_PREFIX);
    ck_assert_str_eq(c.scope, "veh-1-");
    ck_assert(auth_covers(&c, "veh-1-a"));
    ck_assert(auth_covers(&c, "veh-1-a-b"));
    ck_assert(!auth_covers(&c, "veh-10"));
    ck_assert(!auth_covers(&c, "veh-1"));
    ck_assert(!auth_covers(&c, "veh-2-a"));
    /* every delimiter */
    static const char *const scopes[] = {"site.7.", "site_7_", "site:7:"};
    static const char *const inside[] = {"site.7.pump", "site_7_pump", "site:7:pump"};
    static const char *const beside[] = {"site.70.pump", "site_70_pump", "site:70:pump"};
    for (size_t i = 0; i < 3; i++) {
        c = (struct auth_claims){.kind = AUTH_PREFIX, .expiry_s = LATER};
        strcpy(c.scope, scopes[i]);
        ck_assert_msg(auth_covers(&c, inside[i]), "%s", scopes[i]);
        ck_assert_msg(!auth_covers(&c, beside[i]), "%s", scopes[i]);
    }
    /* no gateway token ending in something else is minted */
    struct auth_claims bad = {.kind = AUTH_PREFIX, .expiry_s = LATER};
    strcpy(bad.scope, "veh-1");
    ck_assert_int_eq(auth_mint(SECRET, &bad, tok, sizeof(tok), why, sizeof(why)), TP_INVALID_ARG);
    ck_assert_str_eq(why, "gateway scope \"veh-1\" must end with one of \"-._:\" or be empty (the "
                          "whole fleet); for one device, mint a device token");
    /* device tokens: exact, delimiter or not */
    c = (struct auth_claims){.kind = AUTH_DEVICE, .expiry_s = LATER};
    strcpy(c.scope, "veh-1-");
    ck_assert(auth_covers(&c, "veh-1-"));
    ck_assert(!auth_covers(&c, "veh-1-a"));
}
END_TEST

/* write -> parse gives back the same claims, at the edges of what a token may hold */
START_TEST(test_roundtrip_limits)
{
    char tok[AUTH_TOKEN_MAX + 1], hdr[AUTH_TOKEN_MAX + 16], why[128];
    struct auth_claims in = {.kind = AUTH_DEVICE, .expiry_s = INT64_MAX}, out;
    memset(in.scope, 'v', AUTH_SCOPE_MAX); /* the longest scope, NUL at [AUTH_SCOPE_MAX] */
    in.scope[AUTH_SCOPE_MAX] = '\0';
    for (int kind = 0; kind < 2; kind++) {
        in.kind = kind ? AUTH_PREFIX : AUTH_DEVICE;
        in.scope[AUTH_SCOPE_MAX - 1] = kind ? ':' : 'v'; /* a gateway scope ends with a delimiter */
        ck_assert_int_eq(auth_mint(SECRET, &in, tok, sizeof(tok), why, sizeof(why)), TP_OK);
        ck_assert_uint_le(strlen(tok), AUTH_TOKEN_MAX);
        snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
        ck_assert_int_eq(verify(hdr, &out, why), TP_OK);
        ck_assert_int_eq(out.kind, in.kind);
        ck_assert_str_eq(out.scope, in.scope);
        ck_assert_int_eq(out.expiry_s, INT64_MAX);
    }
    /* a buffer one byte short of the token: refused, never cut */
    size_t need = strlen(tok) + 1;
    ck_assert_int_eq(auth_mint(SECRET, &in, tok, need - 1, why, sizeof(why)), TP_TOO_LARGE);
    ck_assert_str_eq(why, "token buffer too small");
}
END_TEST

/*
 * Issue 20: MQTT gives the token alone (the CONNECT password, a length and no NUL) with the
 * principal it claims as user name. auth_verify_token checks the token as auth_verify checks
 * it after "Bearer "; auth_verify_login also holds a device token to its device id.
 */
START_TEST(test_verify_token_and_login)
{
    char tok[AUTH_TOKEN_MAX + 1], why[128], big[AUTH_TOKEN_MAX + 2];
    struct auth_claims c;
    mint(AUTH_DEVICE, "veh-1", LATER, tok);
    /* the token not NUL-terminated: its length says where it ends */
    char pw[AUTH_TOKEN_MAX + 8];
    size_t n = strlen(tok);
    memcpy(pw, tok, n);
    memcpy(pw + n, "tail", 4);
    ck_assert_int_eq(auth_verify_token(SECRET, pw, n, NOW, &c, why, sizeof(why)), TP_OK);
    ck_assert_int_eq(c.kind, AUTH_DEVICE);
    ck_assert_str_eq(c.scope, "veh-1");
    ck_assert_int_eq(c.expiry_s, LATER);
    /* the same bytes with the tail counted: the MAC no longer matches */
    ck_assert_int_eq(auth_verify_token(SECRET, pw, n + 4, NOW, &c, why, sizeof(why)),
                     TP_VALIDATION);
    ck_assert_str_eq(why, "token signature is not valid");
    /* a NUL inside */
    pw[5] = '\0';
    ck_assert_int_eq(auth_verify_token(SECRET, pw, n, NOW, &c, why, sizeof(why)), TP_VALIDATION);
    ck_assert_str_eq(why, "malformed token");
    /* AUTH_TOKEN_MAX bytes are read, one more is refused before any copy */
    memset(big, 'a', sizeof(big));
    memcpy(big, "tp1.", 4);
    ck_assert_int_eq(auth_verify_token(SECRET, big, AUTH_TOKEN_MAX, NOW, &c, why, sizeof(why)),
                     TP_VALIDATION);
    ck_assert_str_eq(why, "malformed token"); /* no '.' after the tag */
    big[AUTH_TOKEN_MAX - 2] = '.';
    ck_assert_int_eq(auth_verify_token(SECRET, big, AUTH_TOKEN_MAX, NOW, &c, why, sizeof(why)),
                     TP_VALIDATION);
    ck_assert_str_eq(why, "token signature is not valid");
    ck_assert_int_eq(auth_verify_token(SECRET, big, AUTH_TOKEN_MAX + 1, NOW, &c, why, sizeof(why)),
                     TP_VALIDATION);
    ck_assert_str_eq(why, "malformed token");
    ck_assert_int_eq(auth_verify_token(SECRET, "", 0, NOW, &c, why, sizeof(why)), TP_VALIDATION);
    ck_assert_str_eq(why, "malformed token");
    /* expiry as in auth_verify */
    mint(AUTH_DEVICE, "veh-1", NOW - 1, tok);
    ck_assert_int_eq(auth_verify_token(SECRET, tok, strlen(tok), NOW, &c, why, sizeof(why)),
                     TP_VALIDATION);
    ck_assert_str_eq(why, "token expired");

    /* logins: a device token's user name is its device id, exactly */
    mint(AUTH_DEVICE, "veh-1", LATER, tok);
    ck_assert_int_eq(
        auth_verify_login(SECRET, "veh-1", 5, tok, strlen(tok), NOW, &c, why, sizeof(why)), TP_OK);
    ck_assert_str_eq(c.scope, "veh-1");
    static const char *const others[] = {"veh-2", "veh-10", "veh-", "VEH-1"};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(auth_verify_login(SECRET, others[i], strlen(others[i]), tok, strlen(tok),
                                           NOW, &c, why, sizeof(why)),
                         TP_VALIDATION);
        ck_assert_str_eq(why, "the user name is not the device id of this device token");
    }
    /* "veh-1" as the first 5 of 6 bytes is not "veh-1" */
    ck_assert_int_eq(
        auth_verify_login(SECRET, "veh-1x", 6, tok, strlen(tok), NOW, &c, why, sizeof(why)),
        TP_VALIDATION);
    ck_assert_str_eq(why, "the user name is not the device id of this device token");
    ck_assert_int_eq(
        auth_verify_login(SECRET, "veh-1x", 5, tok, strlen(tok), NOW, &c, why, sizeof(why)), TP_OK);
    /* a gateway's user name is a label: any, the token decides the scope */
    mint(AUTH_PREFIX, "veh-", LATER, tok);
    ck_assert_int_eq(
        auth_verify_login(SECRET, "gw-7", 4, tok, strlen(tok), NOW, &c, why, sizeof(why)), TP_OK);
    ck_assert_int_eq(c.kind, AUTH_PREFIX);
    ck_assert_str_eq(c.scope, "veh-");
    /* both are required */
    ck_assert_int_eq(
        auth_verify_login(SECRET, NULL, 0, tok, strlen(tok), NOW, &c, why, sizeof(why)),
        TP_VALIDATION);
    ck_assert_str_eq(why, "a user name and a token (as the password) are required");
    ck_assert_int_eq(auth_verify_login(SECRET, "gw-7", 4, NULL, 0, NOW, &c, why, sizeof(why)),
                     TP_VALIDATION);
    ck_assert_str_eq(why, "a user name and a token (as the password) are required");
    /* a bad token is refused with the token's reason, whatever the user name */
    tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(
        auth_verify_login(SECRET, "gw-7", 4, tok, strlen(tok), NOW, &c, why, sizeof(why)),
        TP_VALIDATION);
    ck_assert_str_eq(why, "token signature is not valid");
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("tokens");
    tcase_add_test(tc, test_roundtrip_and_cover);
    tcase_add_test(tc, test_rejections);
    tcase_add_test(tc, test_expiry_mandatory);
    tcase_add_test(tc, test_gateway_scope_delimiters);
    tcase_add_test(tc, test_roundtrip_limits);
    tcase_add_test(tc, test_verify_token_and_login);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(auth_suite)
