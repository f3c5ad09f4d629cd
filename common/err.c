#include "err.h"

#include <stdarg.h>
#include <stdio.h>

struct err_desc {
    const char *name;
    const char *desc;
    bool retriable;
};

static const struct err_desc err_descs[] = {
#define TP_ERR_DESC(name, desc, retriable) {#name, desc, retriable},
    TP_ERR_TABLE(TP_ERR_DESC)
#undef TP_ERR_DESC
};

static const struct err_desc *err_lookup(enum tp_err err)
{
    if ((unsigned)err >= TP_ERR__COUNT)
        return NULL;
    return &err_descs[err];
}

const char *tp_err_name(enum tp_err err)
{
    const struct err_desc *d = err_lookup(err);
    return d ? d->name : "UNKNOWN";
}

const char *tp_err_desc(enum tp_err err)
{
    const struct err_desc *d = err_lookup(err);
    return d ? d->desc : "unknown error";
}

bool tp_err_retriable(enum tp_err err)
{
    const struct err_desc *d = err_lookup(err);
    return d ? d->retriable : false;
}

enum tp_err tp_err_set(enum tp_err err, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr && errstr_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
