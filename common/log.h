/*
 * log.h - leveled logging to stderr, one line per event.
 *
 * Format: "2026-11-23T10:00:00.123Z LEVEL component: message". Messages
 * follow PostgreSQL's style (lowercase, no final period, quote names).
 * Never log secrets, tokens or whole payloads.
 *
 * Thread-safety: log_* may be called from any thread after log_init; each
 * line is written with a single write(2) so lines do not interleave.
 *
 *     log_init("tp-ingest", LOG_INFO);
 *     log_info("listening on \"%s\"", addr);
 */
#ifndef TP_LOG_H
#define TP_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(const char *component, enum log_level min_level);
/* Parses "debug|info|warn|error"; returns -1 when unknown. */
int log_level_parse(const char *s);
/* The component given to log_init (e.g. "tp-ingest"). */
const char *log_component_name(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
