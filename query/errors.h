/*
 * errors.h - every error the query service answers, from one table:
 * {"error":{"code":"<code>","message":"..."}} with the table's status.
 *
 * The OpenAPI document (query/openapi.json) must list each (status, code)
 * of this table; tests/query/test_openapi.c checks it, and that no other
 * file of query/ answers an error without this table. The rows marked
 * "server" are answered by common/http.c itself (unknown path, wrong
 * method, a body on a GET); they are here so the document covers them.
 *
 * Pure table and a reply helper; any thread.
 *
 *     query_error_reply(req, QERR_INVALID_CURSOR, "cursor is not base64url");
 */
#ifndef TP_QUERY_ERRORS_H
#define TP_QUERY_ERRORS_H

#include <stddef.h>

#include "common/http.h"

/* X(NAME, status, "code", "when") */
#define QUERY_ERROR_TABLE(X)                                                                       \
    X(INVALID_DEVICE_ID, 400, "invalid_device_id", "the id cannot be a device id")                 \
    X(INVALID_PARAMETER, 400, "invalid_parameter",                                                 \
      "an unknown, repeated or malformed query parameter")                                         \
    X(INVALID_CURSOR, 400, "invalid_cursor",                                                       \
      "a cursor that is malformed, altered, or from a query with other filters or sort")           \
    X(TOO_MANY_BUCKETS, 400, "too_many_buckets", "from/to/step span more buckets than allowed")    \
    X(INVALID_CONSISTENCY_TOKEN, 400, "invalid_consistency_token",                                 \
      "an after= or X-Consistency-Token that is not an ingest token")                              \
    X(UNAUTHORIZED, 401, "unauthorized", "no, or an unknown, API key")                             \
    X(DEVICE_NOT_FOUND, 404, "device_not_found", "no twin for this device")                        \
    X(NOT_FOUND, 404, "not_found", "server: no such endpoint")                                     \
    X(METHOD_NOT_ALLOWED, 405, "method_not_allowed", "server: method not allowed on the path")     \
    X(PAYLOAD_TOO_LARGE, 413, "payload_too_large", "server: a request body (none is accepted)")    \
    X(DATABASE_UNAVAILABLE, 503, "database_unavailable",                                           \
      "the database is unreachable, the query ran past pg.statement_timeout_ms, or the search "    \
      "index is not loaded yet")                                                                   \
    X(NOT_READY, 503, "not_ready",                                                                 \
      "/readyz: the database does not answer, or the search index is still loading")               \
    X(OVERLOADED, 503, "overloaded",                                                               \
      "too many requests already wait for the projector, or for a lookup batch")                   \
    X(SHUTTING_DOWN, 503, "shutting_down", "the replica stops; a waiting request is released")     \
    X(CONSISTENCY_TIMEOUT, 504, "consistency_timeout",                                             \
      "the projector did not reach the token's offsets within query.consistency_wait_ms")

enum query_error {
#define QUERY_ERROR_ENUM(name, status, code, when) QERR_##name,
    QUERY_ERROR_TABLE(QUERY_ERROR_ENUM)
#undef QUERY_ERROR_ENUM
        QERR__COUNT
};

unsigned query_error_status(enum query_error e);
const char *query_error_code(enum query_error e);
const char *query_error_when(enum query_error e);
/* Answers the error document; message from fmt. Adds WWW-Authenticate to 401s,
 * Retry-After to 503s and 504s. */
void query_error_reply(struct http_request *req, enum query_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
