/*
 * errors.h - every error tp-registry answers, from one table, in Confluent's
 * shape: {"error_code":<code>,"message":"..."} with the table's status
 * (application/vnd.schemaregistry.v1+json). The codes are Confluent's:
 * 40401 for a subject not found, 42201 for an invalid schema, ...; where
 * Confluent answers the bare status (404, 405, 409, 422) the code is the
 * status.
 *
 * The OpenAPI document (registry/openapi.json) lists each (status, code) of
 * this table in some response's x-error-codes (x-server-errors for the
 * answers of any path), and every listed code is a row with that status:
 * tests/registry/test_registry_openapi.c checks both ways, and that no
 * file of registry/ writes an error_code without this table. /readyz's 503
 * is twinpipe's {"error":{"code":"not_ready"}} like the other services'.
 *
 * Pure table and a reply helper; any thread.
 *
 *     registry_error_reply(req, REGISTRY_ERR_SUBJECT_NOT_FOUND, "Subject '%s' not found.", s);
 */
#ifndef TP_REGISTRY_ERRORS_H
#define TP_REGISTRY_ERRORS_H

#include "common/http.h"

/* X(NAME, status, error_code, "when") */
#define REGISTRY_ERROR_TABLE(X)                                                                    \
    X(UNAUTHORIZED, 401, 40101, "no or wrong credentials (WWW-Authenticate: Basic)")               \
    X(FORBIDDEN, 403, 40301, "a read credential registers, deletes or sets a level or mode")       \
    X(NOT_FOUND, 404, 404, "a path no route takes (the routes' \"**\" included)")                  \
    X(SUBJECT_NOT_FOUND, 404, 40401, "no such subject (or no live version under it)")              \
    X(VERSION_NOT_FOUND, 404, 40402, "no such version of the subject")                             \
    X(SCHEMA_NOT_FOUND, 404, 40403, "no such schema id (or not live under ?subject=)")             \
    X(SUBJECT_NOT_SOFT_DELETED, 404, 40405,                                                        \
      "a permanent delete of a subject that was not soft-deleted first")                           \
    X(VERSION_NOT_SOFT_DELETED, 404, 40407,                                                        \
      "a permanent delete of a version that was not soft-deleted first")                           \
    X(SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED, 404, 40408,                                      \
      "the subject has no compatibility level of its own (without defaultToGlobal=true)")          \
    X(SUBJECT_LEVEL_MODE_NOT_CONFIGURED, 404, 40409,                                               \
      "the subject has no mode of its own (without defaultToGlobal=true)")                         \
    X(METHOD_NOT_ALLOWED, 405, 405, "a method the path does not take (with Allow)")                \
    X(INCOMPATIBLE_SCHEMA, 409, 409,                                                               \
      "the schema breaks the subject's compatibility level (the message names the rules)")         \
    X(UNPROCESSABLE_ENTITY, 422, 422, "a request body that is not the expected JSON")              \
    X(INVALID_SCHEMA, 422, 42201,                                                                  \
      "not a PROTOBUF schema, empty, unresolved references, or protoc refuses it")                 \
    X(INVALID_VERSION, 422, 42202, "a version that is not 1..2^31-1, latest or -1")                \
    X(INVALID_COMPATIBILITY_LEVEL, 422, 42203, "a compatibility level Confluent does not define")  \
    X(INVALID_MODE, 422, 42204, "a mode other than READWRITE, READONLY or IMPORT")                 \
    X(OPERATION_NOT_PERMITTED, 422, 42205, "a write to a subject (or registry) in READONLY mode")  \
    X(REFERENCE_EXISTS, 422, 42206, "a delete of a schema that live schemas reference")            \
    X(STORE_ERROR, 500, 50001, "the schema store failed (the detail is logged, never answered)")   \
    X(COMPILE_ERROR, 500, 50002, "protoc could not be run, or failed for a reason of its own")     \
    X(DATABASE_UNAVAILABLE, 500, 50003, "no pooled database connection within 2 s")

enum registry_error {
#define REGISTRY_ERROR_ENUM(name, status, code, when) REGISTRY_ERR_##name,
    REGISTRY_ERROR_TABLE(REGISTRY_ERROR_ENUM)
#undef REGISTRY_ERROR_ENUM
        REGISTRY_ERR__COUNT
};

unsigned registry_error_status(enum registry_error e);
int registry_error_code(enum registry_error e);
const char *registry_error_when(enum registry_error e);
/* Answers the error document; message from fmt. Adds WWW-Authenticate to the 401. */
void registry_error_reply(struct http_request *req, enum registry_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
