#include "apikeys.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int apikeys_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One digest from s[0..n) (trimmed of spaces). */
static enum tp_err apikeys_add_one(struct apikeys *k, const char *s, size_t n, const char *where,
                                   char *errstr, size_t errstr_size)
{
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    if (n == 0)
        return TP_OK;
    if (n != 64)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid API key digest in %s: expected 64 hex characters (the "
                          "SHA-256 of the key), got %zu characters",
                          where, n);
    if (k->n == APIKEYS_MAX)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "more than %d API keys", APIKEYS_MAX);
    for (size_t i = 0; i < 32; i++) {
        int hi = apikeys_hex(s[2 * i]), lo = apikeys_hex(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "invalid API key digest in %s: not hexadecimal", where);
        k->digests[k->n][i] = (unsigned char)(hi << 4 | lo);
    }
    k->n++;
    return TP_OK;
}

enum tp_err apikeys_add_list(struct apikeys *k, const char *list, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    const char *p = list;
    while (p && err == TP_OK) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        err = apikeys_add_one(k, p, n, "query.api_keys", errstr, errstr_size);
        p = comma ? comma + 1 : NULL;
    }
    return err;
}

enum tp_err apikeys_add_file(struct apikeys *k, const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "could not open \"%s\": %s", path,
                          strerror(errno));
    char line[256], where[300];
    enum tp_err err = TP_OK;
    int lineno = 0;
    while (err == TP_OK && fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "#\n")] = '\0';
        snprintf(where, sizeof(where), "\"%s\" line %d", path, lineno);
        err = apikeys_add_one(k, line, strlen(line), where, errstr, errstr_size);
    }
    fclose(f);
    return err;
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
