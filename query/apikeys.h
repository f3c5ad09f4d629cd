/*
 * apikeys.h - analyst API keys of the query service.
 *
 * The service knows only the SHA-256 of each key (query.api_keys: comma-
 * separated lowercase or uppercase hex; query.api_keys_file: one per line,
 * '#' comments), never a key itself. A request carries
 * `Authorization: Bearer <key>`; the key is hashed and compared with every
 * known digest in constant time (CRYPTO_memcmp, no early exit), so neither
 * the answer time nor the order of the list tells anything about a key.
 * Keys are never logged.
 *
 * Object: struct apikeys, embedded (filled before the server starts, read
 * only afterwards, so any thread may check). Generate a key and its digest:
 *     key=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
 *     printf %s "$key" | sha256sum
 *
 *     struct apikeys k = {0};
 *     apikeys_add_list(&k, cfg.api_keys, errstr, n);
 *     if (!apikeys_check(&k, http_request_header(req, "Authorization"), why, sizeof(why))) -> 401
 */
#ifndef TP_QUERY_APIKEYS_H
#define TP_QUERY_APIKEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define APIKEYS_MAX     256
#define APIKEYS_KEY_MAX 512 /* bytes of a presented key */

struct apikeys {
    size_t n;
    unsigned char digests[APIKEYS_MAX][32];
};

/* Adds the digests of "hex,hex,..." (spaces around entries allowed). TP_CONFIG when malformed. */
enum tp_err apikeys_add_list(struct apikeys *k, const char *list, char *errstr, size_t errstr_size);
/* Adds the digests of a file: one hex digest a line; blank lines and '#' comments skipped. */
enum tp_err apikeys_add_file(struct apikeys *k, const char *path, char *errstr, size_t errstr_size);
/* Whether an Authorization header value carries a known key; why says what is wrong. */
bool apikeys_check(const struct apikeys *k, const char *header, char *why, size_t why_size);

#endif
