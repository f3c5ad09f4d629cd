#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

struct policyd_error_row {
    unsigned status;
    const char *code;
    const char *when;
};

static const struct policyd_error_row policyd_errors[] = {
#define POLICYD_ERROR_ROW(name, status, code, when) {status, code, when},
    POLICYD_ERROR_TABLE(POLICYD_ERROR_ROW)
#undef POLICYD_ERROR_ROW
};

unsigned policyd_error_status(enum policyd_error e)
{
    return (unsigned)e < PDERR__COUNT ? policyd_errors[e].status : 500;
}

const char *policyd_error_code(enum policyd_error e)
{
    return (unsigned)e < PDERR__COUNT ? policyd_errors[e].code : "internal";
}

const char *policyd_error_when(enum policyd_error e)
{
    return (unsigned)e < PDERR__COUNT ? policyd_errors[e].when : "";
}

void policyd_error_reply(struct http_request *req, enum policyd_error e, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    unsigned status = policyd_error_status(e);
    if (status == 401)
        http_reply_header(req, "WWW-Authenticate", "Bearer realm=\"twinpipe-policy\"");
    if (status == 503)
        http_reply_header(req, "Retry-After", "1");
    http_reply_error(req, status, policyd_error_code(e), "%s", message);
}

void policyd_policy_error_reply(struct http_request *req, enum policy_error code,
                                const char *message)
{
    http_reply_error(req, policy_error_status(code), policy_error_code(code), "%s", message);
}
