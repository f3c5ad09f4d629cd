#include "auth.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/base64.h"

#define AUTH_TOKEN_TAG "tp1."
#define AUTH_MAC_LEN   32

static bool auth_delimiter(char c)
{
    return c != '\0' && strchr(AUTH_SCOPE_DELIMITERS, c) != NULL;
}

static void auth_mac(const char *secret, const char *msg, size_t n, unsigned char *mac)
{
    unsigned int len = AUTH_MAC_LEN;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, n, mac, &len);
}

enum tp_err auth_mint(const char *secret, const struct auth_claims *c, char *out, size_t out_size,
                      char *errstr, size_t errstr_size)
{
    char claims[AUTH_SCOPE_MAX + 64];
    unsigned char mac[AUTH_MAC_LEN];
    if (!secret || !*secret)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "no auth.secret configured");
    size_t scope_len = strnlen(c->scope, sizeof(c->scope));
    if (scope_len > AUTH_SCOPE_MAX || strchr(c->scope, '|') ||
        (c->kind == AUTH_DEVICE && !*c->scope))
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size, "invalid token scope");
    if (c->kind == AUTH_PREFIX && scope_len > 0 && !auth_delimiter(c->scope[scope_len - 1]))
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                          "gateway scope \"%s\" must end with one of \"%s\" or be empty (the "
                          "whole fleet); for one device, mint a device token",
                          c->scope, AUTH_SCOPE_DELIMITERS);
    if (c->expiry_s <= 0)
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                          "a token needs an expiry (Unix seconds)");
    int n = snprintf(claims, sizeof(claims), "%c|%s|%" PRId64, c->kind == AUTH_DEVICE ? 'd' : 'p',
                     c->scope, c->expiry_s);
    size_t o = strlen(AUTH_TOKEN_TAG);
    if (out_size < o + 1)
        return tp_err_set(TP_TOO_LARGE, errstr, errstr_size, "token buffer too small");
    memcpy(out, AUTH_TOKEN_TAG, o);
    size_t w = base64url_encode((const unsigned char *)claims, (size_t)n, out + o, out_size - o);
    if (!w || o + w + 2 > out_size)
        return tp_err_set(TP_TOO_LARGE, errstr, errstr_size, "token buffer too small");
    o += w;
    auth_mac(secret, out, o, mac);
    out[o++] = '.';
    if (!base64url_encode(mac, sizeof(mac), out + o, out_size - o))
        return tp_err_set(TP_TOO_LARGE, errstr, errstr_size, "token buffer too small");
    return TP_OK;
}

enum tp_err auth_verify(const char *secret, const char *header, int64_t now_s,
                        struct auth_claims *c, char *errstr, size_t errstr_size)
{
    if (!header)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "missing Authorization: Bearer <token> header");
    if (strncasecmp(header, "Bearer ", 7) != 0)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "Authorization header must be \"Bearer <token>\"");
    const char *tok = header + 7;
    while (*tok == ' ')
        tok++;
    return auth_verify_token(secret, tok, strlen(tok), now_s, c, errstr, errstr_size);
}

enum tp_err auth_verify_token(const char *secret, const char *token, size_t len, int64_t now_s,
                              struct auth_claims *c, char *errstr, size_t errstr_size)
{
    char tok[AUTH_TOKEN_MAX + 1];
    /* the length is checked before the copy; a NUL inside is no token (an MQTT password is
     * binary data with a length) */
    if (len > AUTH_TOKEN_MAX || memchr(token, '\0', len))
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "malformed token");
    memcpy(tok, token, len);
    tok[len] = '\0';
    const char *dot = strrchr(tok, '.');
    if (strncmp(tok, AUTH_TOKEN_TAG, strlen(AUTH_TOKEN_TAG)) != 0 || !dot ||
        dot < tok + strlen(AUTH_TOKEN_TAG))
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "malformed token");
    unsigned char mac[AUTH_MAC_LEN], given[AUTH_MAC_LEN + 3];
    auth_mac(secret, tok, (size_t)(dot - tok), mac);
    long glen = base64url_decode(dot + 1, strlen(dot + 1), given, sizeof(given));
    if (glen != AUTH_MAC_LEN || CRYPTO_memcmp(mac, given, AUTH_MAC_LEN) != 0)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "token signature is not valid");
    char claims[AUTH_SCOPE_MAX + 64];
    const char *b = tok + strlen(AUTH_TOKEN_TAG);
    long clen = base64url_decode(b, (size_t)(dot - b), (unsigned char *)claims, sizeof(claims) - 1);
    if (clen < 4)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "malformed token claims");
    claims[clen] = '\0';
    char *bar1 = strchr(claims, '|');
    char *bar2 = bar1 ? strrchr(claims, '|') : NULL;
    if (!bar1 || bar2 == bar1 || bar1 != claims + 1 || (claims[0] != 'd' && claims[0] != 'p') ||
        (size_t)(bar2 - bar1 - 1) > AUTH_SCOPE_MAX)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "malformed token claims");
    c->kind = claims[0] == 'd' ? AUTH_DEVICE : AUTH_PREFIX;
    memcpy(c->scope, bar1 + 1, (size_t)(bar2 - bar1 - 1));
    c->scope[bar2 - bar1 - 1] = '\0';
    char *end;
    c->expiry_s = strtoll(bar2 + 1, &end, 10);
    if (*end != '\0' || end == bar2 + 1 || c->expiry_s < 0)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "malformed token expiry");
    if (c->expiry_s == 0)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "token has no expiry: tokens without one are not accepted");
    if (c->expiry_s < now_s)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "token expired");
    return TP_OK;
}

enum tp_err auth_verify_login(const char *secret, const char *username, size_t username_len,
                              const char *token, size_t len, int64_t now_s, struct auth_claims *c,
                              char *errstr, size_t errstr_size)
{
    if (!username || !username_len || !token || !len)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "a user name and a token (as the password) are required");
    enum tp_err err = auth_verify_token(secret, token, len, now_s, c, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (c->kind == AUTH_DEVICE &&
        (username_len != strlen(c->scope) || memcmp(username, c->scope, username_len) != 0))
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "the user name is not the device id of this device token");
    return TP_OK;
}

bool auth_covers(const struct auth_claims *c, const char *device_id)
{
    size_t n = strlen(c->scope);
    if (c->kind == AUTH_DEVICE || (n > 0 && !auth_delimiter(c->scope[n - 1])))
        return strcmp(c->scope, device_id) == 0;
    return strncmp(c->scope, device_id, n) == 0;
}
