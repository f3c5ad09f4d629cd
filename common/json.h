/*
 * json.h - writing JSON text into a struct buf.
 *
 * Only writing: services answer JSON, they never parse it (PostgreSQL
 * builds the twin documents). Strings are escaped per RFC 8259; invalid
 * UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON.
 * Doubles are written with the fewest digits (15..17) that read back exactly;
 * non-finite doubles become null.
 *
 *     json_str(&b, "device-1");        ->  "device-1"
 *     json_double(&b, 12.5);           ->  12.5
 *     json_error(&b, "bad_request", "body is not protobuf");
 *         -> {"error":{"code":"bad_request","message":"body is not protobuf"}}
 */
#ifndef TP_JSON_H
#define TP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum tp_err json_strn(struct buf *b, const char *s, size_t n);
enum tp_err json_str(struct buf *b, const char *s);
enum tp_err json_double(struct buf *b, double v);
enum tp_err json_i64(struct buf *b, int64_t v);
/* Whether s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
bool json_utf8_valid(const char *s, size_t n);
/* The project's client-facing error document. */
enum tp_err json_error(struct buf *b, const char *code, const char *message);

#endif
