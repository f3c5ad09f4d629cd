/*
 * keyring.c - API keys with roles (keyring.h).
 */
#include "token/keyring.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/entries.h"

struct keyring_add {
    struct keyring *k;
    int role;
};

/* One digest from s[0..n) (trimmed, not empty: entries.h). */
static enum tp_err keyring_add_one(void *arg, const char *s, size_t n, const char *where,
                                   char *errstr, size_t errstr_size)
{
    struct keyring_add *a = arg;
    struct keyring *k = a->k;
    unsigned char d[32];
    if (n != 64)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid API key digest in %s: expected 64 hex characters (the "
                          "SHA-256 of the key), got %zu characters",
                          where, n);
    if (!entries_hex32(s, d))
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid API key digest in %s: not hexadecimal", where);
    for (size_t i = 0; i < k->n; i++)
        if (!memcmp(k->digests[i], d, 32)) {
            if (k->roles[i] == a->role)
                return TP_OK; /* the same key twice in one role */
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "API key digest in %s is already known with another role", where);
        }
    if (k->n == KEYRING_MAX)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "more than %d API keys", KEYRING_MAX);
    memcpy(k->digests[k->n], d, 32);
    k->roles[k->n++] = a->role;
    return TP_OK;
}

enum tp_err keyring_add_list(struct keyring *k, const char *list, const char *where, int role,
                             char *errstr, size_t errstr_size)
{
    struct keyring_add a = {k, role};
    return entries_each_list(list, where, keyring_add_one, &a, errstr, errstr_size);
}

enum tp_err keyring_add_file(struct keyring *k, const char *path, int role, char *errstr,
                             size_t errstr_size)
{
    struct keyring_add a = {k, role};
    return entries_each_file(path, keyring_add_one, &a, errstr, errstr_size);
}

int keyring_check(const struct keyring *k, const char *header, char *why, size_t why_size)
{
    if (!header) {
        tp_err_set(TP_VALIDATION, why, why_size, "missing Authorization: Bearer <API key> header");
        return -1;
    }
    if (strncasecmp(header, "Bearer ", 7) != 0) {
        tp_err_set(TP_VALIDATION, why, why_size,
                   "Authorization header must be \"Bearer <API key>\"");
        return -1;
    }
    const char *key = header + 7;
    while (*key == ' ')
        key++;
    size_t len = strlen(key);
    if (len == 0 || len > KEYRING_KEY_MAX) {
        tp_err_set(TP_VALIDATION, why, why_size, "malformed API key");
        return -1;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_Digest(key, len, digest, &dlen, EVP_sha256(), NULL);
    int role = -1;
    for (size_t i = 0; i < k->n; i++) { /* every digest, no early exit */
        int eq = CRYPTO_memcmp(digest, k->digests[i], 32) == 0;
        role = eq ? k->roles[i] : role;
    }
    if (role < 0)
        tp_err_set(TP_VALIDATION, why, why_size, "unknown API key");
    return role;
}
