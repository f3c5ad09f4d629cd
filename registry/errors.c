#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/json.h"

#define REGISTRY_ERROR_CT    "application/vnd.schemaregistry.v1+json"
#define REGISTRY_ERROR_REALM "Basic realm=\"twinpipe-registry\""

struct registry_error_row {
    unsigned status;
    int code;
    const char *when;
};

static const struct registry_error_row registry_errors[] = {
#define REGISTRY_ERROR_ROW(name, status, code, when) {status, code, when},
    REGISTRY_ERROR_TABLE(REGISTRY_ERROR_ROW)
#undef REGISTRY_ERROR_ROW
};
_Static_assert(sizeof(registry_errors) / sizeof(registry_errors[0]) == REGISTRY_ERR__COUNT,
               "every registry error has a row");

unsigned registry_error_status(enum registry_error e)
{
    return (unsigned)e < REGISTRY_ERR__COUNT ? registry_errors[e].status : 500;
}

int registry_error_code(enum registry_error e)
{
    return (unsigned)e < REGISTRY_ERR__COUNT ? registry_errors[e].code : 50001;
}

const char *registry_error_when(enum registry_error e)
{
    return (unsigned)e < REGISTRY_ERR__COUNT ? registry_errors[e].when : "";
}

void registry_error_reply(struct http_request *req, enum registry_error e, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    unsigned status = registry_error_status(e);
    if (status == 401)
        http_reply_header(req, "WWW-Authenticate", REGISTRY_ERROR_REALM);
    struct buf b;
    buf_init(&b, sizeof(msg) * 7 + 64);
    buf_printf(&b, "{\"error_code\":%d,\"message\":", registry_error_code(e));
    json_str(&b, msg);
    buf_append_str(&b, "}");
    http_reply(req, status, REGISTRY_ERROR_CT, b.data, b.len);
    buf_release(&b);
}
