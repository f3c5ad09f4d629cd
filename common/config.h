/*
 * config.h - one configuration table per service drives flags, environment
 * variables, validation, --help, the README's config table and a JSON
 * description for deployment checks (Redis static_configs[], librdkafka
 * rdkafka_conf.c).
 *
 * A service declares `static const struct config_entry rows[]` whose rows
 * are typed (string, int with a range, bool, enum with its allowed names,
 * size with units, duration with units, number) and point (by offsetof) into
 * the struct the service's modules take as their options: loading fills the
 * options directly, in the field's own C type (int, unsigned, size_t,
 * int64_t, double, bool, an enum or a string), so main copies nothing.
 * config_load() fills the struct from, in increasing precedence: the rows'
 * defaults, environment variables TP_<KEY> (key upper-cased, '.' -> '_'),
 * and flags `--key=value` or `--key value`; then it runs each row's check
 * hook. The table's cross-key check (struct config_table) runs after that,
 * from config_table_check(), once the service's log is up. Keys under a
 * passthrough prefix (e.g. "kafka.") are not in the table: they are
 * collected verbatim into config->extra so journal/ can hand them to
 * rd_kafka_conf_set (TP_KAFKA_LINGER_MS=5 or --kafka.linger.ms=5 ->
 * "kafka.linger.ms"="5").
 *
 * Errors name the key, the value and what is allowed. TP_CONFIG: the value
 * does not parse or is out of its range, or the command line is malformed;
 * TP_VALIDATION: a well-formed value that is not allowed (an enum name not
 * in the list, a check hook's refusal).
 *
 * Ownership: string fields and `extra` are heap copies owned by the config
 * and freed by config_release(). Not thread-safe; call before threads start.
 *
 *     static const struct config_table table = CONFIG_TABLE("tp-x", rows, x_check);
 *     struct x_config cfg = {0};
 *     enum config_action act;
 *     if (config_table_load(&table, &cfg, &cfg.extra, argc, argv, environ, &act, NULL,
 *                           errstr, sizeof(errstr)) != TP_OK) ...
 *     if (act != CONFIG_RUN) { config_table_print(stdout, &table, act, &cfg.extra); exit(0); }
 *     ...
 *     config_release(table.rows, table.n, &cfg, &cfg.extra);
 */
#ifndef TP_CONFIG_H
#define TP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

enum config_type {
    CONFIG_STRING,
    CONFIG_INT,      /* integer in [min, max] */
    CONFIG_BOOL,     /* true/false, 1/0, yes/no, on/off */
    CONFIG_ENUM,     /* one of values[] (case-insensitive) */
    CONFIG_SIZE,     /* bytes in [min, max]: 4194304, 4MiB, 4M, 512KiB, 1GiB */
    CONFIG_DURATION, /* in the key's unit (unit_ms) in [min, max]: 30, or 30s, 500ms, 5m, 1h, 1d */
    CONFIG_NUMBER,   /* a decimal number in [min, max] */
};

/* The C type of the field a row fills (CONFIG_FIELD_OF detects it). */
enum config_field {
    CONFIG_FIELD_AUTO, /* by type: char * (STRING), long long (INT), bool (BOOL) */
    CONFIG_FIELD_STR,  /* char * or const char * (heap copy owned by the config) */
    CONFIG_FIELD_BOOL,
    CONFIG_FIELD_INT,   /* int, int32_t */
    CONFIG_FIELD_UINT,  /* unsigned, and enum types (GCC and clang: unsigned int) */
    CONFIG_FIELD_LONG,  /* long, int64_t */
    CONFIG_FIELD_ULONG, /* unsigned long, size_t, uint64_t */
    CONFIG_FIELD_LLONG,
    CONFIG_FIELD_ULLONG,
    CONFIG_FIELD_DOUBLE,
};

struct config_entry;
/* A row's check: called once the final value is in place; fills errstr and returns
 * TP_VALIDATION to refuse it (the message names the key). May fill other fields of cfg
 * (e.g. a parsed form of a string). */
typedef enum tp_err (*config_row_check)(const struct config_entry *e, void *cfg, char *errstr,
                                        size_t errstr_size);

struct config_entry {
    const char *key; /* "http.listen" -> --http.listen, TP_HTTP_LISTEN */
    enum config_type type;
    const char *defval; /* text form, parsed like user input; NULL = unset (string) or the
                           field's initial value */
    long long min, max; /* bounds for INT, SIZE, DURATION (in the key's unit) and NUMBER */
    size_t offset;      /* offsetof(struct X_config, field) */
    const char *desc;
    enum config_field field;
    const char *const *values; /* ENUM: allowed names, NULL-terminated */
    const int *ints;           /* ENUM: the value stored for values[i]; NULL = i */
    long long unit_ms;         /* DURATION: the key's unit, 1 (ms) or 1000 (s) */
    long long scale;           /* numbers: the field holds value * scale (0 = 1), e.g. s -> ms */
    config_row_check check;
    const char *doc_default; /* the default the README shows when defval depends on the build */
};

/* The field kind of T's member f, at compile time: a field type the loader cannot fill
 * does not compile. */
#define CONFIG_FIELD_OF(T, f)                                                                      \
    _Generic(((T *)0)->f,                                                                          \
        char *: CONFIG_FIELD_STR,                                                                  \
        const char *: CONFIG_FIELD_STR,                                                            \
        bool: CONFIG_FIELD_BOOL,                                                                   \
        int: CONFIG_FIELD_INT,                                                                     \
        unsigned int: CONFIG_FIELD_UINT,                                                           \
        long: CONFIG_FIELD_LONG,                                                                   \
        unsigned long: CONFIG_FIELD_ULONG,                                                         \
        long long: CONFIG_FIELD_LLONG,                                                             \
        unsigned long long: CONFIG_FIELD_ULLONG,                                                   \
        double: CONFIG_FIELD_DOUBLE)
#define CONFIG_AT(T, f) .offset = offsetof(T, f), .field = CONFIG_FIELD_OF(T, f)

/* Rows. The trailing arguments are more designated initializers: .check, .scale, .ints. */
#define CONFIG_ROW_STR(k, T, f, def, d, ...)                                                       \
    {                                                                                              \
        .key = k, .type = CONFIG_STRING, .defval = def, CONFIG_AT(T, f), .desc = d, __VA_ARGS__    \
    }
#define CONFIG_ROW_INT(k, T, f, def, lo, hi, d, ...)                                               \
    {                                                                                              \
        .key = k, .type = CONFIG_INT, .defval = def, .min = lo, .max = hi, CONFIG_AT(T, f),        \
        .desc = d, __VA_ARGS__                                                                     \
    }
#define CONFIG_ROW_BOOL(k, T, f, def, d, ...)                                                      \
    {                                                                                              \
        .key = k, .type = CONFIG_BOOL, .defval = def, CONFIG_AT(T, f), .desc = d, __VA_ARGS__      \
    }
/* vals: a NULL-terminated array of names */
#define CONFIG_ROW_ENUM(k, T, f, def, vals, d, ...)                                                \
    {                                                                                              \
        .key = k, .type = CONFIG_ENUM, .defval = def, CONFIG_AT(T, f), .desc = d, .values = vals,  \
        __VA_ARGS__                                                                                \
    }
#define CONFIG_ROW_SIZE(k, T, f, def, lo, hi, d, ...)                                              \
    {                                                                                              \
        .key = k, .type = CONFIG_SIZE, .defval = def, .min = lo, .max = hi, CONFIG_AT(T, f),       \
        .desc = d, __VA_ARGS__                                                                     \
    }
/* A duration key in milliseconds (…_ms) or seconds (…_s): bare numbers are in that unit. */
#define CONFIG_ROW_MS(k, T, f, def, lo, hi, d, ...)                                                \
    {                                                                                              \
        .key = k, .type = CONFIG_DURATION, .defval = def, .min = lo, .max = hi, CONFIG_AT(T, f),   \
        .desc = d, .unit_ms = 1, __VA_ARGS__                                                       \
    }
#define CONFIG_ROW_S(k, T, f, def, lo, hi, d, ...)                                                 \
    {                                                                                              \
        .key = k, .type = CONFIG_DURATION, .defval = def, .min = lo, .max = hi, CONFIG_AT(T, f),   \
        .desc = d, .unit_ms = 1000, __VA_ARGS__                                                    \
    }
#define CONFIG_ROW_NUMBER(k, T, f, def, lo, hi, d, ...)                                            \
    {                                                                                              \
        .key = k, .type = CONFIG_NUMBER, .defval = def, .min = lo, .max = hi, CONFIG_AT(T, f),     \
        .desc = d, __VA_ARGS__                                                                     \
    }

#define CONFIG_EXTRA_MAX 64

/* Passthrough settings, e.g. kafka.* */
struct config_extra {
    const char *prefix; /* set by the caller before config_load, e.g. "kafka." */
    size_t n;
    char *keys[CONFIG_EXTRA_MAX]; /* full key, e.g. "kafka.linger.ms" */
    char *values[CONFIG_EXTRA_MAX];
};

/* A program's table: its rows and the cross-key rule over the loaded struct (NULL: none),
 * which returns TP_VALIDATION with errstr naming the keys, and may log (it runs after
 * log_init) and fill derived fields. */
struct config_table {
    const char *program; /* "tp-query" */
    const struct config_entry *rows;
    size_t n;
    enum tp_err (*check)(void *cfg, char *errstr, size_t errstr_size);
};
#define CONFIG_TABLE(program, rows, check)                                                         \
    {                                                                                              \
        program, rows, sizeof(rows) / sizeof((rows)[0]), check                                     \
    }

/* What the command line asked for besides running: --help, --config-markdown (the README's
 * table), --config-json (for deployment checks), --config-check (load and check everything,
 * the table's check included, then exit: for a deployment's settings). */
enum config_action { CONFIG_RUN, CONFIG_HELP, CONFIG_MARKDOWN, CONFIG_JSON, CONFIG_CHECK };

/* *failed (may be NULL) is set to the row whose value was refused, else NULL. */
enum tp_err config_table_load(const struct config_table *t, void *cfg, struct config_extra *extra,
                              int argc, char **argv, char **envp, enum config_action *action,
                              const struct config_entry **failed, char *errstr, size_t errstr_size);
/* The table's cross-key check; TP_OK without one. */
enum tp_err config_table_check(const struct config_table *t, void *cfg, char *errstr,
                               size_t errstr_size);
/* Prints what `action` asks for (help, markdown or JSON). */
void config_table_print(FILE *out, const struct config_table *t, enum config_action action,
                        const struct config_extra *extra);

/* The same over bare rows, without the cross-key check (--config-* are unknown options). */
enum tp_err config_load(const struct config_entry *table, size_t n, void *cfg,
                        struct config_extra *extra, int argc, char **argv, char **envp, bool *help,
                        char *errstr, size_t errstr_size);
void config_release(const struct config_entry *table, size_t n, void *cfg,
                    struct config_extra *extra);
/* --help text: usage, then each row with its env name, type, default and range/values. */
void config_print_help(FILE *out, const char *program, const struct config_entry *table, size_t n,
                       const struct config_extra *extra);
/* The README table: | key | env | type | default | allowed | meaning |. */
void config_print_markdown(FILE *out, const struct config_entry *table, size_t n,
                           const struct config_extra *extra);
/* {"program":..,"passthrough":..,"keys":[{"key","env","type","default","min","max","unit",
 * "values","description"}]} on one line. */
void config_print_json(FILE *out, const char *program, const struct config_entry *table, size_t n,
                       const struct config_extra *extra);
/* Value of the passthrough key (full key, e.g. "kafka.group.id") or NULL. */
const char *config_extra_get(const struct config_extra *extra, const char *key);

#endif
