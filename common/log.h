/*
 * log.h - leveled logging to stderr, one line per event, as text or JSON.
 *
 * Text (log.format=text, the default):
 *   "2026-11-23T10:00:00.123Z LEVEL component: message key=value key=\"a b\""
 * JSON (log.format=json), one object per line:
 *   {"ts":"2026-11-23T10:00:00.123Z","level":"info","service":"tp-query","msg":"...",
 *    "fields":{"key":"value","n":12}}
 * ts is RFC 3339 UTC with milliseconds; every string is escaped per RFC 8259 (control
 * characters, quotes; invalid UTF-8 becomes U+FFFD: json.h), so a line is always one valid
 * JSON object. Messages follow PostgreSQL's style (lowercase, no final period, quote names).
 * Structured fields (log_fields) are key/value pairs a collector can filter on; in text they
 * follow the message as key=value (quoted and escaped when the value has a space, a quote, a
 * control character or a backslash). Never log secrets, tokens or whole payloads.
 *
 * Thread-safety: log_init and log_format_set before threads start; log_* may be called from
 * any thread after; each line is written with a single write(2) so lines do not interleave.
 *
 *     log_init("tp-ingest", LOG_INFO);
 *     log_format_set(LOG_FORMAT_JSON);
 *     log_info("listening on \"%s\"", addr);
 *     const struct log_field f[] = {LOG_STR("method", "GET"), LOG_INT("status", 200)};
 *     log_fields(LOG_INFO, f, 2, "request");
 */
#ifndef TP_LOG_H
#define TP_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* A structured field; the key and a string value are borrowed for the call. */
enum log_field_type { LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_DOUBLE };
struct log_field {
    const char *key; /* a plain name: [a-z_0-9] */
    enum log_field_type type;
    const char *s; /* LOG_FIELD_STR; NULL is written as null (text: -) */
    int64_t i;
    double d;
};
#define LOG_STR(k, v)    ((struct log_field){.key = (k), .type = LOG_FIELD_STR, .s = (v)})
#define LOG_INT(k, v)    ((struct log_field){.key = (k), .type = LOG_FIELD_INT, .i = (v)})
#define LOG_DOUBLE(k, v) ((struct log_field){.key = (k), .type = LOG_FIELD_DOUBLE, .d = (v)})

/* The message and each string field are cut at these many bytes; a line is at most
 * LOG_LINE_MAX. */
#define LOG_MSG_MAX   2048
#define LOG_FIELD_MAX 1024
#define LOG_LINE_MAX  65536

void log_init(const char *component, enum log_level min_level);
void log_format_set(enum log_format format);
enum log_format log_format_get(void);
/* Parses "debug|info|warn|error"; returns -1 when unknown. */
int log_level_parse(const char *s);
/* The component given to log_init (e.g. "tp-ingest"). */
const char *log_component_name(void);
/* Whether a message at level would be written. */
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A message with structured fields (n may be 0). */
void log_fields(enum log_level level, const struct log_field *fields, size_t n, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

/*
 * Appends one line (with its '\n') to out, an empty buf: what log_fields writes at time ts
 * for `service` (msg already formatted). Fields that would take the line past LOG_LINE_MAX
 * are left out. For tests, and log_fields.
 */
void log_line_format(struct buf *out, enum log_format format, const struct timespec *ts,
                     enum log_level level, const char *service, const char *msg,
                     const struct log_field *fields, size_t n);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
