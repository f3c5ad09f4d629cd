/*
 * auth.h - bearer tokens for ingest, verified without a database round
 * trip: HMAC-SHA256 over the claims with the fleet secret (OpenSSL).
 *
 *   token  = "tp1." base64url(claims) "." base64url(HMAC-SHA256(secret, "tp1." base64url(claims)))
 *   claims = "d|<device_id>|<expiry>"  device token: exactly that device
 *          | "p|<prefix>|<expiry>"     gateway token: every device_id starting with prefix
 *                                      (the empty prefix covers the whole fleet)
 *   expiry = Unix seconds, 0 = never
 *
 * Operators mint tokens with `tp-ingest token --device=ID | --prefix=P
 * [--ttl_s=N]` (main.c). Secrets and tokens are never logged. Verification
 * compares the MAC in constant time. Pure functions; any thread.
 *
 *     struct auth_claims c;
 *     if (auth_verify(secret, header, now_s, &c, why, sizeof(why)) != TP_OK) -> 401
 *     if (!auth_covers(&c, reading->device_id)) -> 403
 */
#ifndef TP_AUTH_H
#define TP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define AUTH_SCOPE_MAX 128
#define AUTH_TOKEN_MAX 512

enum auth_kind { AUTH_DEVICE, AUTH_PREFIX };

struct auth_claims {
    enum auth_kind kind;
    char scope[AUTH_SCOPE_MAX + 1]; /* device_id or prefix */
    int64_t expiry_s;               /* 0 = never */
};

/* Writes a token for the claims into out (NUL-terminated). */
enum tp_err auth_mint(const char *secret, const struct auth_claims *c, char *out, size_t out_size,
                      char *errstr, size_t errstr_size);
/* Checks an "Authorization" header value ("Bearer <token>"); fills *c. */
enum tp_err auth_verify(const char *secret, const char *header, int64_t now_s,
                        struct auth_claims *c, char *errstr, size_t errstr_size);
/* Whether the claims cover device_id. */
bool auth_covers(const struct auth_claims *c, const char *device_id);

#endif
