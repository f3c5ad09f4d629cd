#include "cursor.h"

#include <assert.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/mem.h"

#define CURSOR_VERSION  1
#define CURSOR_MAC_LEN  12
#define CURSOR_HEAD_LEN 11 /* version, sort, last_seen_us, id length */
#define CURSOR_RAW_MAX  (CURSOR_HEAD_LEN + PARAMS_ID_MAX + CURSOR_MAC_LEN)

static const char cursor_default_secret[] = "twinpipe-query-cursor-v1";

static void cursor_mac(const char *secret, const unsigned char *raw, size_t n,
                       const char *fingerprint, size_t fingerprint_len,
                       unsigned char mac[CURSOR_MAC_LEN])
{
    unsigned char full[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!secret || !*secret)
        secret = cursor_default_secret;
    /* raw || NUL || fingerprint, in one piece for the one-shot HMAC */
    unsigned char *msg = tp_malloc(n + 1 + fingerprint_len);
    memcpy(msg, raw, n);
    msg[n] = 0;
    memcpy(msg + n + 1, fingerprint, fingerprint_len);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, n + 1 + fingerprint_len, full, &len);
    free(msg);
    memcpy(mac, full, CURSOR_MAC_LEN);
}

void cursor_encode(const char *secret, const struct cursor *c, const char *fingerprint,
                   size_t fingerprint_len, char *out, size_t out_size)
{
    _Static_assert(BASE64_ENCODED_SIZE(CURSOR_RAW_MAX) <= CURSOR_TEXT_MAX, "CURSOR_TEXT_MAX");
    unsigned char raw[CURSOR_RAW_MAX];
    /* bounded by the struct, not by its NUL: a device_id of the twin store is <= 128 bytes */
    size_t id_len = strnlen(c->device_id, sizeof(c->device_id));
    size_t o = 0;
    assert(id_len <= PARAMS_ID_MAX && out_size >= CURSOR_TEXT_MAX);
    raw[o++] = CURSOR_VERSION;
    raw[o++] = (unsigned char)c->sort;
    uint64_t ts = (uint64_t)c->last_seen_us;
    for (int i = 7; i >= 0; i--)
        raw[o++] = (unsigned char)(ts >> (8 * i));
    raw[o++] = (unsigned char)id_len;
    memcpy(raw + o, c->device_id, id_len);
    o += id_len;
    cursor_mac(secret, raw, o, fingerprint, fingerprint_len, raw + o);
    o += CURSOR_MAC_LEN;
    base64url_encode(raw, o, out, out_size);
}

enum tp_err cursor_decode(const char *secret, const char *text, const char *fingerprint,
                          size_t fingerprint_len, struct cursor *c, char *errstr,
                          size_t errstr_size)
{
    unsigned char raw[CURSOR_RAW_MAX], mac[CURSOR_MAC_LEN];
    long n = base64url_decode(text, strlen(text), raw, sizeof(raw));
    if (n < CURSOR_HEAD_LEN + 1 + CURSOR_MAC_LEN)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "cursor is not a next_cursor of this service");
    if (raw[0] != CURSOR_VERSION)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "cursor has version %u, this service reads version %d", raw[0],
                          CURSOR_VERSION);
    size_t id_len = raw[CURSOR_HEAD_LEN - 1];
    size_t body = CURSOR_HEAD_LEN + id_len;
    if (id_len == 0 || id_len > PARAMS_ID_MAX || (size_t)n != body + CURSOR_MAC_LEN)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "cursor is malformed");
    cursor_mac(secret, raw, body, fingerprint, fingerprint_len, mac);
    if (CRYPTO_memcmp(mac, raw + body, CURSOR_MAC_LEN) != 0)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "cursor was altered, or belongs to a query with other filters or "
                          "another sort");
    if (raw[1] > SORT_LAST_SEEN_DESC)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "cursor is malformed");
    c->sort = (enum params_sort)raw[1];
    uint64_t ts = 0;
    for (int i = 0; i < 8; i++)
        ts = (ts << 8) | raw[2 + i];
    c->last_seen_us = (int64_t)ts;
    memcpy(c->device_id, raw + CURSOR_HEAD_LEN, id_len);
    c->device_id[id_len] = '\0';
    if (!params_device_id_ok(c->device_id))
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "cursor is malformed");
    return TP_OK;
}
