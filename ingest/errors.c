#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "schema/strict_codes.h"

struct ingest_error_row {
    unsigned status;
    const char *code;
    unsigned flags;
    const char *when;
};

static const struct ingest_error_row ingest_errors[] = {
#define INGEST_ERROR_ROW(name, status, code, flags, when) {status, code, flags, when},
    INGEST_ERROR_TABLE(INGEST_ERROR_ROW)
#undef INGEST_ERROR_ROW
};
_Static_assert(sizeof(ingest_errors) / sizeof(ingest_errors[0]) == INGEST_ERR__COUNT,
               "every ingest error has a row");

unsigned ingest_error_status(enum ingest_error e)
{
    return (unsigned)e < INGEST_ERR__COUNT ? ingest_errors[e].status : 500;
}

const char *ingest_error_code(enum ingest_error e)
{
    return (unsigned)e < INGEST_ERR__COUNT ? ingest_errors[e].code : "internal";
}

unsigned ingest_error_flags(enum ingest_error e)
{
    return (unsigned)e < INGEST_ERR__COUNT ? ingest_errors[e].flags : 0;
}

const char *ingest_error_when(enum ingest_error e)
{
    return (unsigned)e < INGEST_ERR__COUNT ? ingest_errors[e].when : "";
}

enum tp_err ingest_error_set(enum tp_err ret, enum ingest_error *code, enum ingest_error e,
                             char *msg, size_t msg_size, const char *fmt, ...)
{
    *code = e;
    if (msg && msg_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msg_size, fmt, ap);
        va_end(ap);
    }
    return ret;
}

enum ingest_error ingest_error_of_strict(const char *strict_code)
{
    enum strict_code s;
    if (!strict_code_parse(strict_code, &s)) {
        log_error("the strict check gave \"%s\", which schema/strict_codes.h does not list",
                  strict_code ? strict_code : "(null)");
        abort(); /* strict.c only answers codes of its table */
    }
    switch (s) { /* no default: a strict code without an ingest row does not compile */
    case STRICT_INVALID_UTF8:
        return INGEST_ERR_INVALID_UTF8;
    case STRICT_EMBEDDED_NUL:
        return INGEST_ERR_EMBEDDED_NUL;
    case STRICT_UNDEFINED_ENUM:
        return INGEST_ERR_UNDEFINED_ENUM;
    case STRICT_TOO_DEEP:
        return INGEST_ERR_TOO_DEEP;
    case STRICT_INVALID_PROTOBUF:
        return INGEST_ERR_INVALID_PROTOBUF;
    case STRICT_CODE__COUNT:
        break;
    }
    abort();
}

void ingest_error_reply(struct http_request *req, enum ingest_error e, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    unsigned status = ingest_error_status(e);
    if (status == 401)
        http_reply_header(req, "WWW-Authenticate", "Bearer realm=\"twinpipe\"");
    if (ingest_error_flags(e) & INGEST_ERR_RETRY)
        http_reply_header(req, "Retry-After", "1");
    http_reply_error(req, status, ingest_error_code(e), "%s", message);
}
