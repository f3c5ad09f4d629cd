/*
 * err.h - the one error convention of twinpipe.
 *
 * Every fallible function returns enum tp_err and, when it takes them, writes
 * a human detail into a caller buffer (char *errstr, size_t errstr_size).
 * The codes come from one table, TP_ERR_TABLE (name, description,
 * retriable?), like librdkafka's rd_kafka_err_descs[] and PostgreSQL's
 * errcodes.txt. Library errors are translated at the edges (journal/ for
 * librdkafka, common/pg.c for libpq SQLSTATEs) keeping "retriable".
 *
 * Thread-safety: everything here is pure and may be called from any thread.
 *
 *     char errstr[256];
 *     enum tp_err err = thing_do(x, errstr, sizeof(errstr));
 *     if (err != TP_OK)
 *         log_error("could not do thing: %s", errstr);
 */
#ifndef TP_ERR_H
#define TP_ERR_H

#include <stdbool.h>
#include <stddef.h>

/* X(NAME, "description", retriable) */
#define TP_ERR_TABLE(X)                                                                            \
    X(OK, "success", false)                                                                        \
    X(INVALID_ARG, "invalid argument", false)                                                      \
    X(CONFIG, "invalid configuration", false)                                                      \
    X(IO, "input/output error", true)                                                              \
    X(DECODE, "malformed input", false)                                                            \
    X(VALIDATION, "input failed validation", false)                                                \
    X(TOO_LARGE, "input too large", false)                                                         \
    X(NOT_FOUND, "not found", false)                                                               \
    X(KAFKA, "kafka error", false)                                                                 \
    X(KAFKA_TRANSIENT, "transient kafka error", true)                                              \
    X(DB, "database error", false)                                                                 \
    X(DB_TRANSIENT, "transient database error", true)                                              \
    X(TIMEOUT, "timed out", true)                                                                  \
    X(QUEUE_FULL, "queue full", true)                                                              \
    X(CONFLICT, "conflicting state", false)

enum tp_err {
#define TP_ERR_ENUM(name, desc, retriable) TP_##name,
    TP_ERR_TABLE(TP_ERR_ENUM)
#undef TP_ERR_ENUM
        TP_ERR__COUNT
};

/* Stable upper-case name, e.g. "KAFKA_TRANSIENT". */
const char *tp_err_name(enum tp_err err);
/* Human description, e.g. "transient kafka error". */
const char *tp_err_desc(enum tp_err err);
/* Whether retrying the same operation later may succeed. */
bool tp_err_retriable(enum tp_err err);

/* snprintf into errstr (NULL or size 0 allowed) and return err. */
enum tp_err tp_err_set(enum tp_err err, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
