/*
 * cursor.h - the opaque page cursor of GET /v1/devices (keyset pagination).
 *
 * A cursor names the last row of a page by its sort key: the device_id,
 * and for the last_seen sorts also last_seen (microseconds). The next page
 * starts strictly after it in the sort order, so pages never overlap and no
 * OFFSET is ever scanned. Text form, base64url without padding:
 *
 *     version (1 byte, = 1) | sort (1) | last_seen_us (8, big-endian) |
 *     id length (1) | device_id | mac (12)
 *
 * mac = the first 12 bytes of HMAC-SHA256(secret, everything before it ||
 * the query's fingerprint: its sort and filters, params_list_fingerprint).
 * So a cursor that is altered, truncated, of another version, or used with
 * other filters or another sort is refused (400 invalid_cursor); the limit
 * may change between pages. The secret is query.cursor_secret (the same on
 * every replica). NULL or "" selects a built-in one, which still catches every
 * accident but not a deliberate forger: main.c allows that only with
 * query.auth=off (with a warning), and refuses to start without a secret
 * when authentication is required.
 *
 * Pure functions; any thread.
 *
 *     char text[CURSOR_TEXT_MAX];
 *     cursor_encode(secret, &c, fp, fp_len, text, sizeof(text));
 *     if (cursor_decode(secret, text, fp, fp_len, &c, errstr, n) != TP_OK) -> 400
 */
#ifndef TP_QUERY_CURSOR_H
#define TP_QUERY_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "params.h"

#define CURSOR_TEXT_MAX 256

struct cursor {
    enum params_sort sort;
    int64_t last_seen_us; /* 0 for the device_id sorts */
    char device_id[PARAMS_ID_MAX + 1];
};

/* Writes the NUL-terminated text into out (out_size >= CURSOR_TEXT_MAX, asserted). */
void cursor_encode(const char *secret, const struct cursor *c, const char *fingerprint,
                   size_t fingerprint_len, char *out, size_t out_size);
/* TP_VALIDATION with the reason in errstr when text is not a cursor of this query. */
enum tp_err cursor_decode(const char *secret, const char *text, const char *fingerprint,
                          size_t fingerprint_len, struct cursor *c, char *errstr,
                          size_t errstr_size);

#endif
