/*
 * auth.h - bearer tokens for ingest, verified without a database round
 * trip: HMAC-SHA256 over the claims with the fleet secret (OpenSSL).
 *
 *   token  = "tp1." base64url(claims) "." base64url(HMAC-SHA256(secret, "tp1." base64url(claims)))
 *   claims = "d|<device_id>|<expiry>"  device token: exactly that device
 *          | "p|<scope>|<expiry>"      gateway token, see auth_covers
 *   expiry = Unix seconds
 *
 * Every token expires: auth_mint refuses claims without an expiry, and
 * auth_verify refuses a token whose expiry is 0 ("never", which tokens minted
 * before expiry became mandatory may carry) as it refuses an expired one.
 * One module for writer and reader (token/README.md): tp-ingest verifies; tp-loadgen mints
 * per-device tokens; operators mint with `tp-ingest token --device=ID | --prefix=P
 * [--ttl_s=N]` (ingest/main.c; AUTH_TTL_DEFAULT_S unless told, at most AUTH_TTL_MAX_S).
 *
 * Gateway scopes are delimiter-aware: a scope that ends with one of AUTH_SCOPE_DELIMITERS
 * ("veh-", "site.7.") covers every device_id that starts with it; the empty scope covers
 * the whole fleet; any other scope ("veh-1") covers only the device_id equal to it, never
 * "veh-10". auth_mint refuses such a gateway scope (it would be a device token in disguise).
 *
 * Secrets and tokens are never logged. Verification compares the MAC in constant time.
 * Pure functions; any thread.
 *
 *     struct auth_claims c;
 *     if (auth_verify(secret, header, now_s, &c, why, sizeof(why)) != TP_OK) -> 401
 *     if (!auth_covers(&c, reading->device_id)) -> 403
 *     MQTT CONNECT: auth_verify_login(secret, user, user_len, password, password_len, now_s,
 *                                     &c, why, sizeof(why)) != TP_OK -> CONNACK refused
 */
#ifndef TP_AUTH_H
#define TP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define AUTH_SCOPE_MAX 128
#define AUTH_TOKEN_MAX 512
/* the characters of a device_id that separate its parts ("veh-1", "site.7:pump_2") */
#define AUTH_SCOPE_DELIMITERS "-._:"
/* token lifetimes, seconds: default of tp-ingest token (90 days), and its most (10 years) */
#define AUTH_TTL_DEFAULT_S 7776000
#define AUTH_TTL_MAX_S     315360000

enum auth_kind { AUTH_DEVICE, AUTH_PREFIX };

struct auth_claims {
    enum auth_kind kind;
    char scope[AUTH_SCOPE_MAX + 1]; /* device_id or gateway scope */
    int64_t expiry_s;               /* Unix seconds; > 0 */
};

/* Writes a token for the claims into out (NUL-terminated). TP_INVALID_ARG for claims without
 * an expiry, a scope with '|', an empty device scope, or a gateway scope that is neither
 * empty nor ends with a delimiter; TP_CONFIG without a secret. */
enum tp_err auth_mint(const char *secret, const struct auth_claims *c, char *out, size_t out_size,
                      char *errstr, size_t errstr_size);
/* Checks an "Authorization" header value ("Bearer <token>"); fills *c. The token itself is
 * checked by auth_verify_token. */
enum tp_err auth_verify(const char *secret, const char *header, int64_t now_s,
                        struct auth_claims *c, char *errstr, size_t errstr_size);
/* Checks a token given alone: len bytes, not NUL-terminated (an MQTT password); fills *c.
 * More than AUTH_TOKEN_MAX bytes, or a NUL inside, is a "malformed token". */
enum tp_err auth_verify_token(const char *secret, const char *token, size_t len, int64_t now_s,
                              struct auth_claims *c, char *errstr, size_t errstr_size);
/* A login (MQTT CONNECT: user name = the principal it claims, password = its token):
 * auth_verify_token, and for a device token the user name must be its device id exactly;
 * a gateway's user name is a free label (the token alone decides what it covers). Both are
 * required (TP_VALIDATION without either). */
enum tp_err auth_verify_login(const char *secret, const char *username, size_t username_len,
                              const char *token, size_t len, int64_t now_s, struct auth_claims *c,
                              char *errstr, size_t errstr_size);
/* Whether the claims cover device_id: a device token, the id equal to its scope; a gateway
 * token, the ids that start with its scope when that ends with a delimiter or is empty,
 * else only the id equal to it. */
bool auth_covers(const struct auth_claims *c, const char *device_id);

#endif
