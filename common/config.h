/*
 * config.h - one configuration table per service drives flags, environment
 * variables, validation and --help (Redis static_configs[], librdkafka
 * rdkafka_conf.c).
 *
 * A service declares `static const struct config_entry table[]` whose
 * entries point (by offsetof) into its own config struct. config_load()
 * fills the struct from, in increasing precedence: the table's defaults,
 * environment variables TP_<KEY> (key upper-cased, '.' -> '_'), and flags
 * `--key=value` or `--key value`. Keys under a passthrough prefix (e.g.
 * "kafka.") are not in the table: they are collected verbatim into
 * config->extra so journal/ can hand them to rd_kafka_conf_set
 * (TP_KAFKA_LINGER_MS=5 or --kafka.linger.ms=5 -> "kafka.linger.ms"="5").
 *
 * Ownership: string fields and `extra` are heap copies owned by the config
 * and freed by config_release(). Not thread-safe; call before threads start.
 *
 *     struct ingest_config cfg = {0};
 *     if (config_load(table, n, &cfg, &cfg.extra, argc, argv, environ, &help,
 *                     errstr, sizeof(errstr)) != TP_OK) ...
 *     if (help) { config_print_help(stdout, "tp-ingest", table, n); exit(0); }
 *     ...
 *     config_release(table, n, &cfg, &cfg.extra);
 */
#ifndef TP_CONFIG_H
#define TP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

enum config_type { CONFIG_STRING, CONFIG_INT, CONFIG_BOOL };

struct config_entry {
    const char *key; /* "http.listen" -> --http.listen, TP_HTTP_LISTEN */
    enum config_type type;
    const char *defval; /* text form, parsed like user input; NULL string = unset */
    long long min, max; /* bounds for CONFIG_INT */
    size_t offset;      /* offsetof(struct X_config, field): char *, long long or bool */
    const char *desc;
};

#define CONFIG_EXTRA_MAX 64

/* Passthrough settings, e.g. kafka.* */
struct config_extra {
    const char *prefix; /* set by the caller before config_load, e.g. "kafka." */
    size_t n;
    char *keys[CONFIG_EXTRA_MAX]; /* full key, e.g. "kafka.linger.ms" */
    char *values[CONFIG_EXTRA_MAX];
};

enum tp_err config_load(const struct config_entry *table, size_t n, void *cfg,
                        struct config_extra *extra, int argc, char **argv, char **envp, bool *help,
                        char *errstr, size_t errstr_size);
void config_release(const struct config_entry *table, size_t n, void *cfg,
                    struct config_extra *extra);
void config_print_help(FILE *out, const char *program, const struct config_entry *table, size_t n,
                       const struct config_extra *extra);
/* Value of the passthrough key (full key, e.g. "kafka.group.id") or NULL. */
const char *config_extra_get(const struct config_extra *extra, const char *key);

#endif
