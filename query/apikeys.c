#include "apikeys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/entries.h"

/* One digest from s[0..n) (trimmed, not empty: entries.h). */
static enum tp_err apikeys_add_one(void *arg, const char *s, size_t n, const char *where,
                                   char *errstr, size_t errstr_size)
{
    struct apikeys *k = arg;
    if (n != 64)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid API key digest in %s: expected 64 hex characters (the "
                          "SHA-256 of the key), got %zu characters",
                          where, n);
    if (k->n == APIKEYS_MAX)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "more than %d API keys", APIKEYS_MAX);
    if (!entries_hex32(s, k->digests[k->n]))
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid API key digest in %s: not hexadecimal", where);
    k->n++;
    return TP_OK;
}

enum tp_err apikeys_add_list(struct apikeys *k, const char *list, char *errstr, size_t errstr_size)
{
    return entries_each_list(list, "query.api_keys", apikeys_add_one, k, errstr, errstr_size);
}

enum tp_err apikeys_add_file(struct apikeys *k, const char *path, char *errstr, size_t errstr_size)
{
    return entries_each_file(path, apikeys_add_one, k, errstr, errstr_size);
}

bool apikeys_check(const struct apikeys *k, const char *header, char *why, size_t why_size)
{
    if (!header) {
        tp_err_set(TP_VALIDATION, why, why_size, "missing Authorization: Bearer <API key> header");
        return false;
    }
    if (strncasecmp(header, "Bearer ", 7) != 0) {
        tp_err_set(TP_VALIDATION, why, why_size,
                   "Authorization header must be \"Bearer <API key>\"");
        return false;
    }
    const char *key = header + 7;
    while (*key == ' ')
        key++;
    size_t len = strlen(key);
    if (len == 0 || len > APIKEYS_KEY_MAX) {
        tp_err_set(TP_VALIDATION, why, why_size, "malformed API key");
        return false;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_Digest(key, len, digest, &dlen, EVP_sha256(), NULL);
    int match = 0;
    for (size_t i = 0; i < k->n; i++) /* every digest, no early exit */
        match |= CRYPTO_memcmp(digest, k->digests[i], 32) == 0;
    if (!match)
        tp_err_set(TP_VALIDATION, why, why_size, "unknown API key");
    return match != 0;
}
