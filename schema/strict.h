/*
 * strict.h - what libprotobuf-c's unpack lets through and twinpipe refuses:
 * strings that are not valid UTF-8, strings with an embedded NUL (unpack
 * silently cuts them at the NUL), and enum values the schema does not
 * define (unpack keeps any number). Checked on the wire bytes (the only
 * place an embedded NUL is still visible) with the message's descriptor,
 * generated or built at run time (rtdesc.h), recursively through nested
 * messages, map entries and packed repeated enums. Call it after a
 * successful unpack of the same bytes.
 *
 * Codes: "invalid_utf8", "embedded_nul", "undefined_enum"; the message names
 * the field ("twinpipe.telemetry.v1.Reading.model").
 *
 * Before unpacking, strict_prescan walks the same bytes without recursion
 * and without allocating: it bounds the nesting depth (so unpack, which
 * recurses once per nested message, never goes deeper), and counts and
 * sizes the units of a batch (so a caller can refuse too many or too large
 * readings before anything is allocated per reading). After unpacking,
 * strict_drop_unknown removes the fields the descriptor does not know, at
 * every level, so they are never passed on (journaled).
 *
 * Pure, no allocation; any thread.
 *
 *     if (strict_check(d, bytes, len, &code, msg, sizeof(msg)) != TP_OK) reject(code, msg);
 *     strict_check_elements(batch_d, 1, bytes, len, on_bad, arg, &code, msg, n);
 */
#ifndef TP_STRICT_H
#define TP_STRICT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* TP_VALIDATION with *code and msg at the first problem. */
enum tp_err strict_check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                         const char **code, char *msg, size_t msg_size);

typedef void (*strict_bad_fn)(void *arg, size_t index, const char *code, const char *msg);

/*
 * Checks a message whose repeated message field `field_id` holds the units
 * (a batch of readings): each element is checked alone and a bad one is
 * reported as on_bad(arg, its index, code, msg); a problem elsewhere in the
 * message is returned as TP_VALIDATION like strict_check.
 */
enum tp_err strict_check_elements(const ProtobufCMessageDescriptor *d, uint32_t field_id,
                                  const uint8_t *data, size_t len, strict_bad_fn on_bad, void *arg,
                                  const char **code, char *msg, size_t msg_size);

/* What strict_prescan found. */
struct strict_scan {
    size_t units;         /* elements of the units field (1 without one) */
    size_t largest;       /* bytes of the largest element (the message without a units field) */
    size_t largest_index; /* its index */
};

/*
 * Walks the wire bytes of message d (iteratively, with the descriptor: only known message
 * fields are entered) to at most max_depth message levels (d itself is level 1; max_depth <=
 * 64), and counts the elements of its repeated message field units_id (0: d is the one unit).
 * TP_VALIDATION with *code "too_deep" when messages nest deeper, "invalid_protobuf" when the
 * framing is broken (unpack refuses those bytes too).
 */
enum tp_err strict_prescan(const ProtobufCMessageDescriptor *d, uint32_t units_id,
                           const uint8_t *data, size_t len, int max_depth, struct strict_scan *out,
                           const char **code, char *msg, size_t msg_size);

/*
 * Drops the unknown fields libprotobuf-c's unpack kept, in m and every message under it
 * (their bytes stay where the allocator put them); returns how many. Recurses once per
 * nesting level: call it on messages whose depth strict_prescan bounded.
 */
size_t strict_drop_unknown(ProtobufCMessage *m);

#endif
