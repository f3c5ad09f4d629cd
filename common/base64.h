/*
 * base64.h - base64url without padding (RFC 4648 section 5), for tokens and
 * cursors that travel in URLs and headers (ingest's bearer tokens, the query
 * service's page cursors); and standard base64 with padding (section 4), the
 * form Confluent's clients send serialized schema descriptors in (tp-registry).
 *
 * Pure functions; any thread. Decoding rejects characters outside the
 * alphabet, padding (base64url) or padding short of a multiple of 4
 * (base64), and lengths no encoder produces.
 *
 *     char text[BASE64_ENCODED_SIZE(32)];
 *     base64url_encode(mac, 32, text, sizeof(text));
 *     long n = base64url_decode(text, strlen(text), raw, sizeof(raw));  // -1: invalid
 */
#ifndef TP_BASE64_H
#define TP_BASE64_H

#include <stddef.h>

/* Characters (with the NUL) needed to encode n bytes. */
#define BASE64_ENCODED_SIZE(n) (((n) + 2) / 3 * 4 + 1)

/* Writes the NUL-terminated text; returns its length, 0 if out is too small. */
size_t base64url_encode(const unsigned char *in, size_t n, char *out, size_t out_size);
/* Returns the decoded length, or -1 when in is not base64url or out is too small. */
long base64url_decode(const char *in, size_t n, unsigned char *out, size_t out_size);

/* Standard alphabet ('+', '/'), '=' padding: the same contracts. */
size_t base64_encode(const unsigned char *in, size_t n, char *out, size_t out_size);
long base64_decode(const char *in, size_t n, unsigned char *out, size_t out_size);

#endif
