/*
 * errors.h - every error tp-policy answers, from two tables:
 * {"error":{"code":"<code>","message":"..."}} with the row's status.
 *
 * - The refusals of a policy (a PUT body, a name in the path, a full set)
 *   are policy/errors.h's rows (400, 409), answered as they are:
 *   policyd_policy_error_reply.
 * - The service's own (keys, unknown policy, Kafka, readiness) are this
 *   table's: policyd_error_reply. Rows marked "server" are answered by
 *   common/http.c itself (unknown path, wrong method, a body over its
 *   limit); they are here so the document covers them.
 *
 * The OpenAPI document (policyd/openapi.json) lists each (status, code) of
 * both tables; tests/policyd/test_policyd_openapi.c checks it both ways,
 * and that no other file of policyd/ answers an error without them.
 *
 * Pure tables and reply helpers; any thread.
 *
 *     policyd_error_reply(req, PDERR_FORBIDDEN, "an analyst key cannot change policies");
 *     policyd_policy_error_reply(req, code, msg);      // code from policy_parse_body
 */
#ifndef TP_POLICYD_ERRORS_H
#define TP_POLICYD_ERRORS_H

#include "common/http.h"
#include "policy/errors.h"

/* X(NAME, status, "code", "when") */
#define POLICYD_ERROR_TABLE(X)                                                                     \
    X(UNAUTHORIZED, 401, "unauthorized", "no, a malformed, or an unknown API key")                 \
    X(FORBIDDEN, 403, "forbidden",                                                                 \
      "a known key without the operator role (an analyst key, policy.analyst_keys)")               \
    X(POLICY_NOT_FOUND, 404, "policy_not_found", "no policy of this name")                         \
    X(NOT_FOUND, 404, "not_found", "server: no such endpoint")                                     \
    X(METHOD_NOT_ALLOWED, 405, "method_not_allowed", "server: method not allowed on the path")     \
    X(PAYLOAD_TOO_LARGE, 413, "payload_too_large",                                                 \
      "server: a body on a GET or DELETE, or a chunked PUT body over 64 KiB")                      \
    X(KAFKA_UNAVAILABLE, 503, "kafka_unavailable",                                                 \
      "Kafka did not acknowledge the record within policy.produce_timeout_ms")                     \
    X(NOT_READY, 503, "not_ready",                                                                 \
      "the policies topic is not read to its end yet (start-up); also /readyz")                    \
    X(OVERLOADED, 503, "overloaded", "policy.max_waiting writes already wait for Kafka")           \
    X(SHUTTING_DOWN, 503, "shutting_down", "the service stops; a waiting write is released")

enum policyd_error {
#define POLICYD_ERROR_ENUM(name, status, code, when) PDERR_##name,
    POLICYD_ERROR_TABLE(POLICYD_ERROR_ENUM)
#undef POLICYD_ERROR_ENUM
        PDERR__COUNT
};

unsigned policyd_error_status(enum policyd_error e);
const char *policyd_error_code(enum policyd_error e);
const char *policyd_error_when(enum policyd_error e);
/* Answers the error document; message from fmt. Adds WWW-Authenticate to 401s,
 * Retry-After to 503s. */
void policyd_error_reply(struct http_request *req, enum policyd_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answers a refusal of policy/errors.h with its status and code. */
void policyd_policy_error_reply(struct http_request *req, enum policy_error code,
                                const char *message);

#endif
