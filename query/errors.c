#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

struct query_error_row {
    unsigned status;
    const char *code;
    const char *when;
};

static const struct query_error_row query_errors[] = {
#define QUERY_ERROR_ROW(name, status, code, when) {status, code, when},
    QUERY_ERROR_TABLE(QUERY_ERROR_ROW)
#undef QUERY_ERROR_ROW
};

unsigned query_error_status(enum query_error e)
{
    return (unsigned)e < QERR__COUNT ? query_errors[e].status : 500;
}

const char *query_error_code(enum query_error e)
{
    return (unsigned)e < QERR__COUNT ? query_errors[e].code : "internal";
}

const char *query_error_when(enum query_error e)
{
    return (unsigned)e < QERR__COUNT ? query_errors[e].when : "";
}

void query_error_reply(struct http_request *req, enum query_error e, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    unsigned status = query_error_status(e);
    if (status == 401)
        http_reply_header(req, "WWW-Authenticate", "Bearer realm=\"twinpipe-query\"");
    if (status == 503 || status == 504)
        http_reply_header(req, "Retry-After", "1");
    http_reply_error(req, status, query_error_code(e), "%s", message);
}
