#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "json.h"

static const char *log_component = "twinpipe";
static enum log_level log_min = LOG_INFO;
static enum log_format log_fmt = LOG_FORMAT_TEXT;
static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_json[] = {"debug", "info", "warn", "error"};

void log_init(const char *component, enum log_level min_level)
{
    log_component = component;
    log_min = min_level;
}

void log_format_set(enum log_format format)
{
    log_fmt = format;
}

enum log_format log_format_get(void)
{
    return log_fmt;
}

const char *log_component_name(void)
{
    return log_component;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_json[i]) == 0)
            return i;
    return -1;
}

int log_enabled(enum log_level level)
{
    return level >= log_min;
}

/* A text field's value goes out bare when it is plain printable ASCII without '"', '\\' or
 * '=' (so `key=value` splits unambiguously); else quoted and escaped like JSON. */
static bool log_text_bare(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=')
            return false;
    }
    return true;
}

static void log_field_value(struct buf *b, enum log_format format, const struct log_field *f)
{
    switch (f->type) {
    case LOG_FIELD_INT:
        json_i64(b, f->i);
        return;
    case LOG_FIELD_DOUBLE:
        json_double(b, f->d);
        return;
    case LOG_FIELD_STR:
        break;
    }
    if (!f->s) {
        buf_append_str(b, format == LOG_FORMAT_JSON ? "null" : "-");
        return;
    }
    size_t n = strnlen(f->s, LOG_FIELD_MAX);
    if (format == LOG_FORMAT_TEXT && log_text_bare(f->s, n))
        buf_append(b, f->s, n);
    else
        json_strn(b, f->s, n);
}

void log_line_format(struct buf *out, enum log_format format, const struct timespec *ts,
                     enum log_level level, const char *service, const char *msg,
                     const struct log_field *fields, size_t n)
{
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    char when[96];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000000);
    size_t mlen = strnlen(msg, LOG_MSG_MAX);
    /* the room the line's end needs ("}}\n"): a field that would eat it is left out */
    const size_t tail = 4;
    if (format == LOG_FORMAT_JSON) {
        buf_append_str(out, "{\"ts\":\"");
        buf_append_str(out, when);
        buf_append_str(out, "\",\"level\":\"");
        buf_append_str(out, level_json[level]);
        buf_append_str(out, "\",\"service\":");
        json_str(out, service);
        buf_append_str(out, ",\"msg\":");
        json_strn(out, msg, mlen);
        buf_append_str(out, ",\"fields\":{");
    } else {
        buf_printf(out, "%s %s %s: ", when, level_names[level], service);
        buf_append(out, msg, mlen);
    }
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        size_t at = out->len;
        if (format == LOG_FORMAT_JSON) {
            buf_append_str(out, first ? "" : ",");
            json_str(out, fields[i].key);
            buf_append_str(out, ":");
        } else {
            buf_append_str(out, " ");
            buf_append_str(out, fields[i].key);
            buf_append_str(out, "=");
        }
        log_field_value(out, format, &fields[i]);
        if (out->len + tail > LOG_LINE_MAX || out->len + tail > out->max) {
            out->len = at; /* cut whole: the line stays well-formed */
            if (out->data)
                out->data[at] = '\0';
            continue;
        }
        first = false;
    }
    buf_append_str(out, format == LOG_FORMAT_JSON ? "}}\n" : "\n");
}

__attribute__((format(printf, 4, 0))) static void log_vwrite(enum log_level level,
                                                             const struct log_field *fields,
                                                             size_t n, const char *fmt, va_list ap)
{
    char msg[LOG_MSG_MAX];
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (m < 0)
        msg[0] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct buf line;
    buf_init(&line, LOG_LINE_MAX);
    log_line_format(&line, log_fmt, &ts, level, log_component, msg, fields, n);
    if (line.len > 0) {
        ssize_t w = write(STDERR_FILENO, line.data, line.len);
        (void)w;
    }
    buf_release(&line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, NULL, 0, fmt, ap);
    va_end(ap);
}

void log_fields(enum log_level level, const struct log_field *fields, size_t n, const char *fmt,
                ...)
{
    if (level < log_min)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fields, n, fmt, ap);
    va_end(ap);
}
