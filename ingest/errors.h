/*
 * errors.h - every error tp-ingest answers or lists, from one table.
 *
 * A row is one stable code with the status it is answered with and where it
 * appears (flags):
 *   INGEST_ERR_REQUEST  the whole request is answered
 *                       {"error":{"code":"<code>","message":"..."}} with the status;
 *   INGEST_ERR_READING  one reading is refused: listed in "rejected" ({"index","code",
 *                       "message"}) of a 202 or of the 422 no_valid_reading, and counted in
 *                       tp_ingest_readings_rejected_total{reason="<code>"} (status 0 when it
 *                       is never a request's answer);
 *   INGEST_ERR_WIRE     refused on the wire before unpacking, counted in
 *                       tp_ingest_requests_refused_total{code="<code>"};
 *   INGEST_ERR_RETRY    answered with Retry-After: 1;
 *   INGEST_ERR_SERVER   answered by common/http.c itself (unknown path, wrong
 *                       method, a body or headers too large); here so the
 *                       document covers them.
 * The codes of the strict check (schema/strict_codes.h) are rows too:
 * ingest_error_of_strict translates them (a strict code without a row does
 * not compile).
 *
 * The OpenAPI document (ingest/openapi.json) lists each (status, code) of
 * the request rows in x-error-codes and each reading row in the
 * RejectedReading schema's code enum; tests/ingest/test_ingest_openapi.c
 * checks it both ways, and that no other file of ingest/ answers an error
 * without this table.
 *
 * Pure table and a reply helper; any thread.
 *
 *     enum ingest_error code;
 *     if (validate_reading(r, &lim, now, &code, msg, sizeof(msg)) != TP_OK)
 *         count(code), list(i, ingest_error_code(code), msg);
 *     ingest_error_reply(req, INGEST_ERR_FORBIDDEN, "reading %zu ...", i);
 */
#ifndef TP_INGEST_ERRORS_H
#define TP_INGEST_ERRORS_H

#include <stddef.h>

#include "common/err.h"
#include "common/http.h"

#define INGEST_ERR_REQUEST 1u
#define INGEST_ERR_READING 2u
#define INGEST_ERR_WIRE    4u
#define INGEST_ERR_RETRY   8u
#define INGEST_ERR_SERVER  16u

#define IE_REQ   INGEST_ERR_REQUEST
#define IE_READ  INGEST_ERR_READING
#define IE_WIRE  INGEST_ERR_WIRE
#define IE_RETRY INGEST_ERR_RETRY
#define IE_SRV   (INGEST_ERR_SERVER | INGEST_ERR_REQUEST)

/* X(NAME, status, "code", flags, "when"); the reading rows in the order /metrics lists them */
#define INGEST_ERROR_TABLE(X)                                                                      \
    X(MISSING_DEVICE_ID, 0, "missing_device_id", IE_READ, "a reading without a device_id")         \
    X(INVALID_DEVICE_ID, 0, "invalid_device_id", IE_READ,                                          \
      "a device_id that is not 1..128 characters of A-Z a-z 0-9 . _ : -")                          \
    X(MISSING_SEQUENCE, 0, "missing_sequence", IE_READ, "a reading without a sequence")            \
    X(INVALID_SEQUENCE, 0, "invalid_sequence", IE_READ, "a sequence of 0 or above 2^63-1")         \
    X(MISSING_TIMESTAMP, 0, "missing_timestamp", IE_READ, "a reading without a timestamp_ms")      \
    X(TIMESTAMP_OUT_OF_RANGE, 0, "timestamp_out_of_range", IE_READ,                                \
      "a timestamp_ms further from the server's clock than ingest.max_past_s/max_future_s")        \
    X(NON_FINITE_VALUE, 0, "non_finite_value", IE_READ,                                            \
      "a measurement, metric or location value that is NaN or infinite")                           \
    X(INVALID_LOCATION, 0, "invalid_location", IE_READ,                                            \
      "a location without lat in -90..90 and lon in -180..180")                                    \
    X(TOO_MANY_METRICS, 0, "too_many_metrics", IE_READ,                                            \
      "more extra metrics than ingest.max_metrics")                                                \
    X(INVALID_METRIC_NAME, 0, "invalid_metric_name", IE_READ,                                      \
      "a metric name that is not 1..64 characters of A-Z a-z 0-9 . _ -")                           \
    X(STRING_TOO_LONG, 0, "string_too_long", IE_READ,                                              \
      "an attribute string over ingest.max_string bytes")                                          \
    X(INVALID_UTF8, 400, "invalid_utf8", IE_READ | IE_REQ,                                         \
      "a string that is not valid UTF-8 (in a reading: it alone is refused)")                      \
    X(EMBEDDED_NUL, 400, "embedded_nul", IE_READ | IE_REQ,                                         \
      "a string holding a NUL byte (in a reading: it alone is refused)")                           \
    X(UNDEFINED_ENUM, 400, "undefined_enum", IE_READ | IE_REQ,                                     \
      "an enum value the schema does not define (in a reading: it alone is refused)")              \
    X(TOO_DEEP, 400, "too_deep", IE_READ | IE_REQ | IE_WIRE,                                       \
      "messages nested deeper than the schema library's bound")                                    \
    X(INVALID_PROTOBUF, 400, "invalid_protobuf", IE_READ | IE_REQ,                                 \
      "a body (or a reading) that is not valid protobuf")                                          \
    X(TOO_MANY_READINGS, 413, "too_many_readings", IE_REQ | IE_WIRE,                               \
      "more readings than ingest.max_readings, counted on the wire")                               \
    X(READING_TOO_LARGE, 413, "reading_too_large", IE_REQ | IE_WIRE,                               \
      "a reading over ingest.max_reading_bytes, counted on the wire")                              \
    X(UNPACKED_TOO_LARGE, 413, "unpacked_too_large", IE_REQ | IE_WIRE,                             \
      "a body that would unpack to more than a small multiple of its size")                        \
    X(EMPTY_BODY, 400, "empty_body", IE_REQ, "the request body is empty")                          \
    X(INVALID_FRAMING, 400, "invalid_framing", IE_REQ,                                             \
      "a body starting with 0 that is not a valid Confluent frame")                                \
    X(EMPTY_BATCH, 400, "empty_batch", IE_REQ, "a batch without readings")                         \
    X(UNAUTHORIZED, 401, "unauthorized", IE_REQ,                                                   \
      "a missing, malformed, forged, expired or never-expiring bearer token")                      \
    X(FORBIDDEN, 403, "forbidden", IE_REQ, "a reading of a device the token does not cover")       \
    X(UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type", IE_REQ,                               \
      "a Content-Type other than application/x-protobuf")                                          \
    X(UNKNOWN_SCHEMA, 422, "unknown_schema", IE_REQ,                                               \
      "framed with a schema id that is not a telemetry version this server accepts")               \
    X(UNKNOWN_MESSAGE_TYPE, 422, "unknown_message_type", IE_REQ,                                   \
      "a message index that names neither a Reading nor a ReadingBatch")                           \
    X(NO_VALID_READING, 422, "no_valid_reading", IE_REQ,                                           \
      "no reading of the request is valid (the body lists them in rejected)")                      \
    X(REGISTRY_UNAVAILABLE, 503, "registry_unavailable", IE_REQ | IE_RETRY,                        \
      "a schema id not yet cached while tp-registry does not answer")                              \
    X(OVERLOADED, 503, "overloaded", IE_REQ | IE_RETRY,                                            \
      "more than ingest.max_outstanding events already wait for kafka, or its queue is full")      \
    X(JOURNAL_UNAVAILABLE, 503, "journal_unavailable", IE_REQ | IE_RETRY,                          \
      "kafka did not acknowledge every reading within kafka.message.timeout.ms")                   \
    X(SHUTTING_DOWN, 503, "shutting_down", IE_REQ | IE_RETRY,                                      \
      "the replica is draining (Connection: close)")                                               \
    X(NOT_READY, 503, "not_ready", IE_REQ, "/readyz: kafka metadata is not reachable")             \
    X(NOT_FOUND, 404, "not_found", IE_SRV, "server: no such endpoint")                             \
    X(METHOD_NOT_ALLOWED, 405, "method_not_allowed", IE_SRV,                                       \
      "server: method not allowed on the path")                                                    \
    X(PAYLOAD_TOO_LARGE, 413, "payload_too_large", IE_SRV,                                         \
      "server: a body over ingest.max_body (answered before it is read)")                          \
    X(HEADERS_TOO_LARGE, 431, "headers_too_large", IE_SRV, "server: request headers too large")

enum ingest_error {
#define INGEST_ERROR_ENUM(name, status, code, flags, when) INGEST_ERR_##name,
    INGEST_ERROR_TABLE(INGEST_ERROR_ENUM)
#undef INGEST_ERROR_ENUM
        INGEST_ERR__COUNT
};

/* The HTTP status (0: a reading's code only), the stable code, the INGEST_ERR_* flags and
 * when it happens, of a row. */
unsigned ingest_error_status(enum ingest_error e);
const char *ingest_error_code(enum ingest_error e);
unsigned ingest_error_flags(enum ingest_error e);
const char *ingest_error_when(enum ingest_error e);
/* The row of a code schema/strict.h's functions gave (schema/strict_codes.h); a string
 * that is not one of them is a programmer error (aborts). */
enum ingest_error ingest_error_of_strict(const char *strict_code);
/* Sets *code to e and msg (NULL or size 0: none) from fmt; returns ret (TP_VALIDATION for a
 * reading, TP_DECODE for a body). */
enum tp_err ingest_error_set(enum tp_err ret, enum ingest_error *code, enum ingest_error e,
                             char *msg, size_t msg_size, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Answers the error document of a request row; message from fmt. Adds WWW-Authenticate to
 * 401s and Retry-After to the INGEST_ERR_RETRY rows. */
void ingest_error_reply(struct http_request *req, enum ingest_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
