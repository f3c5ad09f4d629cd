#include "creds.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/entries.h"

static void creds_sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_Digest(p, n, digest, &dlen, EVP_sha256(), NULL);
    memcpy(out, digest, 32);
}

/* One "user:hex:role" entry from s[0..n) (trimmed, not empty: entries.h). */
static enum tp_err creds_add_one(void *arg, const char *s, size_t n, const char *where,
                                 char *errstr, size_t errstr_size)
{
    struct creds *c = arg;
    const char *c1 = memchr(s, ':', n);
    const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - s)) : NULL;
    if (!c1 || !c2)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid credential in %s: expected user:<SHA-256 hex of the "
                          "password>:read|write",
                          where);
    size_t ul = (size_t)(c1 - s), hl = (size_t)(c2 - c1 - 1), rl = n - (size_t)(c2 + 1 - s);
    const char *role = c2 + 1;
    if (ul == 0 || ul > CREDS_USER_MAX)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid credential in %s: the user name must have 1 to %d bytes", where,
                          CREDS_USER_MAX);
    if (hl != 64)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid credential of user \"%.*s\" in %s: expected 64 hex characters "
                          "(the SHA-256 of the password), got %zu characters",
                          (int)ul, s, where, hl);
    enum creds_role r;
    if (rl == 4 && !strncmp(role, "read", 4))
        r = CREDS_READ;
    else if (rl == 5 && !strncmp(role, "write", 5))
        r = CREDS_WRITE;
    else
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid role \"%.*s\" of user \"%.*s\" in %s: use read or write",
                          (int)rl, role, (int)ul, s, where);
    if (c->n == CREDS_MAX)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "more than %d credentials", CREDS_MAX);
    unsigned char user[32], pw[32];
    if (!entries_hex32(c1 + 1, pw))
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid credential of user \"%.*s\" in %s: the password digest is "
                          "not hexadecimal",
                          (int)ul, s, where);
    creds_sha256(s, ul, user);
    for (size_t i = 0; i < c->n; i++)
        if (!memcmp(c->user[i], user, 32))
            return tp_err_set(TP_CONFIG, errstr, errstr_size, "user \"%.*s\" is listed twice (%s)",
                              (int)ul, s, where);
    memcpy(c->user[c->n], user, 32);
    memcpy(c->password[c->n], pw, 32);
    c->role[c->n] = r;
    c->n++;
    return TP_OK;
}

enum tp_err creds_add_list(struct creds *c, const char *list, char *errstr, size_t errstr_size)
{
    return entries_each_list(list, "registry.credentials", creds_add_one, c, errstr, errstr_size);
}

enum tp_err creds_add_file(struct creds *c, const char *path, char *errstr, size_t errstr_size)
{
    return entries_each_file(path, creds_add_one, c, errstr, errstr_size);
}

const char *creds_role_name(enum creds_role r)
{
    return r == CREDS_WRITE ? "write" : r == CREDS_READ ? "read" : "none";
}

enum creds_role creds_check(const struct creds *c, const char *header, char *user, size_t user_size,
                            char *why, size_t why_size)
{
    /* base64 of user ':' password, with padding */
    enum { B64_MAX = (CREDS_USER_MAX + 1 + CREDS_PASSWORD_MAX + 2) / 3 * 4 };
    unsigned char plain[B64_MAX / 4 * 3 + 1];
    if (user_size)
        user[0] = '\0';
    if (!header) {
        tp_err_set(TP_VALIDATION, why, why_size,
                   "missing Authorization: Basic <credentials> header");
        return CREDS_NONE;
    }
    if (strncasecmp(header, "Basic ", 6) != 0) {
        tp_err_set(TP_VALIDATION, why, why_size,
                   "Authorization header must be \"Basic <base64 of user:password>\"");
        return CREDS_NONE;
    }
    const char *b64 = header + 6;
    while (*b64 == ' ')
        b64++;
    size_t n = strlen(b64);
    while (n > 0 && b64[n - 1] == ' ')
        n--;
    size_t pad = n >= 2 && b64[n - 1] == '=' ? (b64[n - 2] == '=' ? 2 : 1) : 0;
    int len = -1;
    if (n > 0 && n <= B64_MAX && n % 4 == 0 && !memchr(b64, '=', n - pad))
        len = EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)n);
    if (len < 0 || (size_t)len < pad) {
        tp_err_set(TP_VALIDATION, why, why_size, "malformed Basic credentials");
        return CREDS_NONE;
    }
    len -= (int)pad;
    const unsigned char *colon = memchr(plain, ':', (size_t)len);
    if (!colon || colon == plain || colon - plain > CREDS_USER_MAX) {
        tp_err_set(TP_VALIDATION, why, why_size,
                   "malformed Basic credentials: expected user:password");
        return CREDS_NONE;
    }
    size_t ul = (size_t)(colon - plain), pl = (size_t)len - ul - 1;
    if (user_size)
        snprintf(user, user_size, "%.*s", (int)ul, (const char *)plain);
    unsigned char ud[32], pd[32];
    creds_sha256(plain, ul, ud);
    creds_sha256(colon + 1, pl, pd);
    OPENSSL_cleanse(plain, sizeof(plain));
    unsigned role = CREDS_NONE;
    for (size_t i = 0; i < c->n; i++) { /* every entry, no early exit */
        unsigned hit = (unsigned)(CRYPTO_memcmp(ud, c->user[i], 32) == 0) &
                       (unsigned)(CRYPTO_memcmp(pd, c->password[i], 32) == 0);
        role |= (0u - hit) & (unsigned)c->role[i];
    }
    OPENSSL_cleanse(pd, sizeof(pd));
    if (role == CREDS_NONE)
        tp_err_set(TP_VALIDATION, why, why_size, "unknown user or wrong password");
    return (enum creds_role)role;
}
