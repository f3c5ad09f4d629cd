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

#endif
