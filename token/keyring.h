/*
 * keyring.h - API keys with roles, known by their SHA-256 only.
 *
 * The scheme of tp-query's analyst keys (query/apikeys.h), for a service
 * that tells several kinds of keys apart: tp-policy takes operator keys and
 * refuses analyst keys it recognizes with 403 rather than 401. A key is
 * never stored, logged or compared in the clear: each entry is the SHA-256
 * of a key in hex (a comma-separated list in one config value, or a file
 * of one digest a line, '#' comments: common/entries.h), added with a role.
 * A request carries `Authorization: Bearer <key>`; the key is hashed and
 * compared with every known digest in constant time (CRYPTO_memcmp, no
 * early exit), so neither the answer time nor the order tells anything.
 * The same digest given twice with different roles is refused.
 *
 * query/apikeys.{c,h} is the same scheme with one role; tp-query can move
 * onto this module when its owners touch it.
 *
 * Object: struct keyring, embedded (filled before the server starts, read
 * only afterwards: any thread may check). A key and its digest:
 *     key=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
 *     printf %s "$key" | sha256sum
 *
 *     struct keyring k = {0};
 *     keyring_add_list(&k, cfg.operator_keys, "policy.operator_keys", ROLE_OPERATOR, err, n);
 *     int role = keyring_check(&k, http_request_header(req, "Authorization"), why, sizeof(why));
 *     role < 0 -> 401; role != ROLE_OPERATOR -> 403
 */
#ifndef TP_TOKEN_KEYRING_H
#define TP_TOKEN_KEYRING_H

#include <stddef.h>

#include "common/err.h"

#define KEYRING_MAX     256
#define KEYRING_KEY_MAX 512 /* bytes of a presented key */

struct keyring {
    size_t n;
    unsigned char digests[KEYRING_MAX][32];
    int roles[KEYRING_MAX];
};

/* Adds the digests of "hex,hex,..." with role (>= 0); where names the list in messages
 * ("policy.operator_keys"). TP_CONFIG when malformed, past KEYRING_MAX, or a digest already
 * known with another role. */
enum tp_err keyring_add_list(struct keyring *k, const char *list, const char *where, int role,
                             char *errstr, size_t errstr_size);
/* The same from a file: one hex digest a line; blank lines and '#' comments skipped. */
enum tp_err keyring_add_file(struct keyring *k, const char *path, int role, char *errstr,
                             size_t errstr_size);
/* The role of the key an Authorization header value carries, or -1 (why says what is
 * wrong: no header, not Bearer, malformed, unknown). */
int keyring_check(const struct keyring *k, const char *header, char *why, size_t why_size);

#endif
