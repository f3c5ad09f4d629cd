#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "json.h"
#include "mem.h"

#define CONFIG_KEY_MAX 128

static const char *const config_type_names[] = {"string", "int",      "bool",  "enum",
                                                "size",   "duration", "number"};

/* "http.listen" -> "TP_HTTP_LISTEN" */
static void config_env_name(const char *key, char *out, size_t out_size)
{
    size_t o = 0;
    const char *p = "TP_";
    while (*p && o + 1 < out_size)
        out[o++] = *p++;
    for (p = key; *p && o + 1 < out_size; p++)
        out[o++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    out[o] = '\0';
}

static void *config_field(void *cfg, const struct config_entry *e)
{
    return (char *)cfg + e->offset;
}

static enum config_field config_field_kind(const struct config_entry *e)
{
    if (e->field != CONFIG_FIELD_AUTO)
        return e->field;
    switch (e->type) {
    case CONFIG_STRING:
        return CONFIG_FIELD_STR;
    case CONFIG_BOOL:
        return CONFIG_FIELD_BOOL;
    default:
        return CONFIG_FIELD_LLONG;
    }
}

/* Stores an integer into the row's field in the field's own type. */
static enum tp_err config_store_int(const struct config_entry *e, void *cfg, long long v,
                                    char *errstr, size_t errstr_size)
{
    void *f = config_field(cfg, e);
    bool fits = true;
    switch (config_field_kind(e)) {
    case CONFIG_FIELD_BOOL:
        *(bool *)f = v != 0;
        break;
    case CONFIG_FIELD_INT:
        fits = v >= INT_MIN && v <= INT_MAX;
        if (fits)
            *(int *)f = (int)v;
        break;
    case CONFIG_FIELD_UINT:
        fits = v >= 0 && (unsigned long long)v <= UINT_MAX;
        if (fits)
            *(unsigned *)f = (unsigned)v;
        break;
    case CONFIG_FIELD_LONG:
        *(long *)f = (long)v;
        break;
    case CONFIG_FIELD_ULONG:
        fits = v >= 0;
        if (fits)
            *(unsigned long *)f = (unsigned long)v;
        break;
    case CONFIG_FIELD_LLONG:
        *(long long *)f = v;
        break;
    case CONFIG_FIELD_ULLONG:
        fits = v >= 0;
        if (fits)
            *(unsigned long long *)f = (unsigned long long)v;
        break;
    case CONFIG_FIELD_DOUBLE:
        *(double *)f = (double)v;
        break;
    case CONFIG_FIELD_AUTO:
    case CONFIG_FIELD_STR:
        fits = false;
        break;
    }
    if (!fits)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "value %lld for \"%s\" does not fit its field", v, e->key);
    return TP_OK;
}

static enum tp_err config_store_scaled(const struct config_entry *e, void *cfg, long long v,
                                       char *errstr, size_t errstr_size)
{
    long long scaled = v;
    if (e->scale > 1 && __builtin_mul_overflow(v, e->scale, &scaled))
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "value %lld for \"%s\" is too large", v,
                          e->key);
    return config_store_int(e, cfg, scaled, errstr, errstr_size);
}

/* "use a, b or c" into out */
static void config_enum_list(const struct config_entry *e, char *out, size_t out_size)
{
    size_t n = 0, o = 0;
    while (e->values[n])
        n++;
    out[0] = '\0';
    for (size_t i = 0; i < n && o < out_size; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(out + o, out_size - o, "%s%s", sep, e->values[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

/* "12" or "12<unit>": the number (as strtoll reads it) and the unit text after it. */
static bool config_split_unit(const char *value, long long *n, const char **unit)
{
    char *end = NULL;
    errno = 0;
    *n = strtoll(value, &end, 10);
    if (errno != 0 || end == value)
        return false;
    *unit = end;
    return true;
}

struct config_unit {
    const char *name;
    long long mult;
};

static bool config_unit_find(const struct config_unit *units, const char *unit, long long *mult)
{
    for (const struct config_unit *u = units; u->name; u++) {
        if (!strcmp(u->name, unit)) {
            *mult = u->mult;
            return true;
        }
    }
    return false;
}

static const struct config_unit config_size_units[] = {
    {"", 1},        {"B", 1},         {"k", 1024},    {"K", 1024},      {"KiB", 1024},
    {"M", 1 << 20}, {"MiB", 1 << 20}, {"G", 1 << 30}, {"GiB", 1 << 30}, {NULL, 0},
};
static const struct config_unit config_duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {NULL, 0},
};

static const char *config_unit_name(const struct config_entry *e)
{
    if (e->type == CONFIG_SIZE)
        return "bytes";
    if (e->type == CONFIG_DURATION)
        return e->unit_ms == 1000 ? "s" : "ms";
    return "";
}

/* Parses a SIZE or DURATION value into the key's unit. */
static enum tp_err config_parse_units(const struct config_entry *e, const char *value,
                                      const char *source, long long *out, char *errstr,
                                      size_t errstr_size)
{
    long long n = 0, mult = 1, v = 0;
    const char *unit = "";
    bool ok = config_split_unit(value, &n, &unit);
    if (e->type == CONFIG_SIZE) {
        ok = ok && config_unit_find(config_size_units, unit, &mult) &&
             !__builtin_mul_overflow(n, mult, &v);
        if (!ok)
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "invalid value \"%s\" for \"%s\" (%s): not a size (bytes, or with a "
                              "unit: KiB, MiB, GiB)",
                              value, e->key, source);
        *out = v;
        return TP_OK;
    }
    long long unit_ms = e->unit_ms > 0 ? e->unit_ms : 1;
    if (ok && *unit) {
        long long ms = 0;
        ok = config_unit_find(config_duration_units, unit, &mult) &&
             !__builtin_mul_overflow(n, mult, &ms) && ms % unit_ms == 0;
        v = ms / unit_ms;
    } else {
        v = n;
    }
    if (!ok)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "invalid value \"%s\" for \"%s\" (%s): not a duration (%s)", value,
                          e->key, source,
                          unit_ms == 1 ? "milliseconds: 500, or with a unit: 500ms, 30s, 5m, 1h, 1d"
                                       : "whole seconds: 30, or with a unit: 30s, 5m, 1h, 1d");
    *out = v;
    return TP_OK;
}

static enum tp_err config_set(const struct config_entry *e, void *cfg, const char *value,
                              const char *source, char *errstr, size_t errstr_size)
{
    void *field = config_field(cfg, e);
    switch (e->type) {
    case CONFIG_STRING: {
        char **s = field;
        free(*s);
        *s = value ? tp_strdup(value) : NULL;
        return TP_OK;
    }
    case CONFIG_INT: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0')
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "invalid value \"%s\" for \"%s\" (%s): not an integer", value, e->key,
                              source);
        if (v < e->min || v > e->max)
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "invalid value %lld for \"%s\" (%s): must be between %lld and %lld",
                              v, e->key, source, e->min, e->max);
        return config_store_scaled(e, cfg, v, errstr, errstr_size);
    }
    case CONFIG_SIZE:
    case CONFIG_DURATION: {
        long long v = 0;
        enum tp_err err = config_parse_units(e, value, source, &v, errstr, errstr_size);
        if (err != TP_OK)
            return err;
        if (v < e->min || v > e->max)
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "invalid value \"%s\" for \"%s\" (%s): must be between %lld and "
                              "%lld %s",
                              value, e->key, source, e->min, e->max, config_unit_name(e));
        return config_store_scaled(e, cfg, v, errstr, errstr_size);
    }
    case CONFIG_NUMBER: {
        char *end = NULL;
        errno = 0;
        double v = strtod(value, &end);
        if (errno != 0 || end == value || *end != '\0' || !isfinite(v))
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "invalid value \"%s\" for \"%s\" (%s): not a number", value, e->key,
                              source);
        if (v < (double)e->min || v > (double)e->max)
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "invalid value \"%s\" for \"%s\" (%s): must be between %lld and %lld",
                              value, e->key, source, e->min, e->max);
        if (config_field_kind(e) != CONFIG_FIELD_DOUBLE)
            return tp_err_set(TP_CONFIG, errstr, errstr_size, "the field of \"%s\" is not a double",
                              e->key);
        *(double *)field = v;
        return TP_OK;
    }
    case CONFIG_BOOL: {
        bool b;
        if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes") ||
            !strcasecmp(value, "on"))
            b = true;
        else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no") ||
                 !strcasecmp(value, "off"))
            b = false;
        else
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "invalid value \"%s\" for \"%s\" (%s): not a boolean", value, e->key,
                              source);
        return config_store_int(e, cfg, b, errstr, errstr_size);
    }
    case CONFIG_ENUM: {
        for (size_t i = 0; e->values[i]; i++)
            if (!strcasecmp(value, e->values[i]))
                return config_store_int(e, cfg, e->ints ? e->ints[i] : (long long)i, errstr,
                                        errstr_size);
        char list[256];
        config_enum_list(e, list, sizeof(list));
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "invalid %s \"%s\": use %s", e->key,
                          value, list);
    }
    }
    return tp_err_set(TP_CONFIG, errstr, errstr_size, "unknown type for \"%s\"", e->key);
}

static const struct config_entry *config_find(const struct config_entry *table, size_t n,
                                              const char *key, size_t keylen)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(table[i].key) == keylen && !strncmp(table[i].key, key, keylen))
            return &table[i];
    return NULL;
}

static enum tp_err config_extra_set(struct config_extra *extra, const char *key, size_t keylen,
                                    const char *value, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < extra->n; i++) {
        if (strlen(extra->keys[i]) == keylen && !strncmp(extra->keys[i], key, keylen)) {
            free(extra->values[i]);
            extra->values[i] = tp_strdup(value);
            return TP_OK;
        }
    }
    if (extra->n == CONFIG_EXTRA_MAX)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "too many \"%s*\" settings (max %d)",
                          extra->prefix, CONFIG_EXTRA_MAX);
    extra->keys[extra->n] = tp_strndup(key, keylen);
    extra->values[extra->n] = tp_strdup(value);
    extra->n++;
    return TP_OK;
}

static bool config_is_extra(const struct config_extra *extra, const char *key)
{
    return extra && extra->prefix && !strncmp(key, extra->prefix, strlen(extra->prefix)) &&
           strlen(key) > strlen(extra->prefix);
}

/* TP_KAFKA_LINGER_MS -> kafka.linger.ms when the prefix is "kafka." */
static enum tp_err config_env_extra(const struct config_entry *table, size_t n,
                                    struct config_extra *extra, const char *name, const char *value,
                                    char *errstr, size_t errstr_size)
{
    char key[CONFIG_KEY_MAX];
    size_t o = 0;
    for (const char *p = name + 3; *p && o + 1 < sizeof(key); p++)
        key[o++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
    key[o] = '\0';
    /* table keys under the prefix (e.g. kafka.bootstrap.servers) are not passthrough */
    if (!config_is_extra(extra, key) || config_find(table, n, key, o))
        return TP_OK;
    return config_extra_set(extra, key, o, value, errstr, errstr_size);
}

static enum tp_err config_load_env(const struct config_entry *table, size_t n, void *cfg,
                                   struct config_extra *extra, char **envp,
                                   const struct config_entry **failed, char *errstr,
                                   size_t errstr_size)
{
    enum tp_err err = TP_OK;
    char name[CONFIG_KEY_MAX + 8];
    /* table keys first, then passthrough TP_<PREFIX>_* variables */
    for (size_t i = 0; i < n && err == TP_OK; i++) {
        config_env_name(table[i].key, name, sizeof(name));
        size_t l = strlen(name);
        for (char **e = envp; e && *e && err == TP_OK; e++) {
            if (!strncmp(*e, name, l) && (*e)[l] == '=') {
                err = config_set(&table[i], cfg, *e + l + 1, name, errstr, errstr_size);
                *failed = err == TP_OK ? NULL : &table[i];
            }
        }
    }
    if (err != TP_OK || !extra || !extra->prefix)
        return err;
    char env_prefix[CONFIG_KEY_MAX];
    config_env_name(extra->prefix, env_prefix, sizeof(env_prefix));
    for (char **e = envp; e && *e && err == TP_OK; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || strncmp(*e, env_prefix, strlen(env_prefix)) ||
            (size_t)(eq - *e) >= CONFIG_KEY_MAX)
            continue;
        char var[CONFIG_KEY_MAX];
        memcpy(var, *e, (size_t)(eq - *e));
        var[eq - *e] = '\0';
        err = config_env_extra(table, n, extra, var, eq + 1, errstr, errstr_size);
    }
    return err;
}

static enum tp_err config_load_args(const struct config_entry *table, size_t n, void *cfg,
                                    struct config_extra *extra, int argc, char **argv, bool actions,
                                    enum config_action *action, const struct config_entry **failed,
                                    char *errstr, size_t errstr_size)
{
    static const struct {
        const char *flag;
        enum config_action action;
    } flags[] = {{"--help", CONFIG_HELP},
                 {"-h", CONFIG_HELP},
                 {"--config-markdown", CONFIG_MARKDOWN},
                 {"--config-json", CONFIG_JSON},
                 {"--config-check", CONFIG_CHECK}};
    enum tp_err err = TP_OK;
    for (int i = 1; i < argc && err == TP_OK; i++) {
        const char *arg = argv[i];
        size_t nflags = actions ? sizeof(flags) / sizeof(flags[0]) : 2;
        bool matched = false;
        for (size_t f = 0; f < nflags && !matched; f++) {
            if (!strcmp(arg, flags[f].flag)) {
                *action = flags[f].action;
                matched = true;
            }
        }
        if (matched)
            continue;
        if (strncmp(arg, "--", 2) != 0)
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "unexpected argument \"%s\": options look like --key=value", arg);
        const char *key = arg + 2;
        const char *eq = strchr(key, '=');
        size_t keylen = eq ? (size_t)(eq - key) : strlen(key);
        const char *value = eq ? eq + 1 : NULL;
        const struct config_entry *e = config_find(table, n, key, keylen);
        char keybuf[CONFIG_KEY_MAX];
        snprintf(keybuf, sizeof(keybuf), "%.*s", (int)keylen, key);
        if (!e && !config_is_extra(extra, keybuf))
            return tp_err_set(TP_CONFIG, errstr, errstr_size, "unknown option \"--%s\"", keybuf);
        if (!value) {
            if (e && e->type == CONFIG_BOOL && (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2)))
                value = "true";
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return tp_err_set(TP_CONFIG, errstr, errstr_size, "option \"--%s\" needs a value",
                                  keybuf);
        }
        if (e) {
            err = config_set(e, cfg, value, "command line", errstr, errstr_size);
            *failed = err == TP_OK ? NULL : e;
        } else {
            err = config_extra_set(extra, keybuf, keylen, value, errstr, errstr_size);
        }
    }
    return err;
}

static enum tp_err config_load_rows(const struct config_entry *table, size_t n, void *cfg,
                                    struct config_extra *extra, int argc, char **argv, char **envp,
                                    bool actions, enum config_action *action,
                                    const struct config_entry **failed, char *errstr,
                                    size_t errstr_size)
{
    enum tp_err err = TP_OK;
    const struct config_entry *bad = NULL;
    *action = CONFIG_RUN;
    for (size_t i = 0; i < n && err == TP_OK; i++) {
        if (table[i].defval || table[i].type == CONFIG_STRING) {
            err = config_set(&table[i], cfg, table[i].defval, "default", errstr, errstr_size);
            bad = err == TP_OK ? NULL : &table[i];
        }
    }
    if (err == TP_OK)
        err = config_load_env(table, n, cfg, extra, envp, &bad, errstr, errstr_size);
    if (err == TP_OK)
        err = config_load_args(table, n, cfg, extra, argc, argv, actions, action, &bad, errstr,
                               errstr_size);
    /* the rows' own checks, on the final values (not for --help and the like) */
    bool check = *action == CONFIG_RUN || *action == CONFIG_CHECK;
    for (size_t i = 0; i < n && err == TP_OK && check; i++) {
        if (table[i].check) {
            err = table[i].check(&table[i], cfg, errstr, errstr_size);
            bad = err == TP_OK ? NULL : &table[i];
        }
    }
    if (failed)
        *failed = err == TP_OK ? NULL : bad;
    return err;
}

enum tp_err config_load(const struct config_entry *table, size_t n, void *cfg,
                        struct config_extra *extra, int argc, char **argv, char **envp, bool *help,
                        char *errstr, size_t errstr_size)
{
    enum config_action action;
    enum tp_err err = config_load_rows(table, n, cfg, extra, argc, argv, envp, false, &action, NULL,
                                       errstr, errstr_size);
    *help = action == CONFIG_HELP;
    return err;
}

enum tp_err config_table_load(const struct config_table *t, void *cfg, struct config_extra *extra,
                              int argc, char **argv, char **envp, enum config_action *action,
                              const struct config_entry **failed, char *errstr, size_t errstr_size)
{
    return config_load_rows(t->rows, t->n, cfg, extra, argc, argv, envp, true, action, failed,
                            errstr, errstr_size);
}

enum tp_err config_table_check(const struct config_table *t, void *cfg, char *errstr,
                               size_t errstr_size)
{
    return t->check ? t->check(cfg, errstr, errstr_size) : TP_OK;
}

void config_release(const struct config_entry *table, size_t n, void *cfg,
                    struct config_extra *extra)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].type == CONFIG_STRING) {
            char **s = config_field(cfg, &table[i]);
            free(*s);
            *s = NULL;
        }
    }
    if (!extra)
        return;
    for (size_t i = 0; i < extra->n; i++) {
        free(extra->keys[i]);
        free(extra->values[i]);
    }
    extra->n = 0;
}

/* "1..64", "1024..65536 bytes", "off, on" into out; "" for strings and bools */
static void config_allowed(const struct config_entry *e, char *out, size_t out_size)
{
    out[0] = '\0';
    switch (e->type) {
    case CONFIG_INT:
    case CONFIG_NUMBER:
        snprintf(out, out_size, "%lld..%lld", e->min, e->max);
        break;
    case CONFIG_SIZE:
    case CONFIG_DURATION:
        snprintf(out, out_size, "%lld..%lld %s", e->min, e->max, config_unit_name(e));
        break;
    case CONFIG_ENUM: {
        size_t o = 0;
        for (size_t i = 0; e->values[i] && o < out_size; i++) {
            int w = snprintf(out + o, out_size - o, "%s%s", i ? ", " : "", e->values[i]);
            if (w < 0)
                break;
            o += (size_t)w;
        }
        break;
    }
    case CONFIG_STRING:
    case CONFIG_BOOL:
        break;
    }
}

void config_print_help(FILE *out, const char *program, const struct config_entry *table, size_t n,
                       const struct config_extra *extra)
{
    char env[CONFIG_KEY_MAX + 8], allowed[512];
    fprintf(out, "usage: %s [--key=value ...]\n\n", program);
    fprintf(out, "every key can also be set as an environment variable (shown after it);\n");
    fprintf(out, "flags override the environment, which overrides the default\n\n");
    for (size_t i = 0; i < n; i++) {
        config_env_name(table[i].key, env, sizeof(env));
        config_allowed(&table[i], allowed, sizeof(allowed));
        fprintf(out, "  --%s (%s, %s)\n      %s\n      default: %s", table[i].key,
                config_type_names[table[i].type], env, table[i].desc,
                table[i].defval ? table[i].defval : "(unset)");
        if (allowed[0])
            fprintf(out, ", %s %s", table[i].type == CONFIG_ENUM ? "one of" : "range", allowed);
        fputc('\n', out);
    }
    if (extra && extra->prefix)
        fprintf(out,
                "\n  --%s<property>=value\n      passed to the library as <property> "
                "(env TP_%c..., '.' written as '_')\n",
                extra->prefix, toupper((unsigned char)extra->prefix[0]));
}

/* Markdown cell text: '|' and '<' (which could open an HTML tag) escaped. */
static void config_md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|' || *s == '<')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void config_print_markdown(FILE *out, const struct config_entry *table, size_t n,
                           const struct config_extra *extra)
{
    char env[CONFIG_KEY_MAX + 8], allowed[512];
    fprintf(out, "| key | environment | type | default | allowed | meaning |\n"
                 "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        const struct config_entry *e = &table[i];
        config_env_name(e->key, env, sizeof(env));
        config_allowed(e, allowed, sizeof(allowed));
        fprintf(out, "| `%s` | `%s` | %s | ", e->key, env, config_type_names[e->type]);
        if (e->doc_default) {
            config_md_cell(out, e->doc_default);
        } else if (e->defval && *e->defval) {
            fputc('`', out);
            config_md_cell(out, e->defval);
            fputc('`', out);
        } else {
            fputs(e->defval ? "(empty)" : "(unset)", out);
        }
        fputs(" | ", out);
        config_md_cell(out, allowed);
        fputs(" | ", out);
        config_md_cell(out, e->desc);
        fputs(" |\n", out);
    }
    if (extra && extra->prefix) {
        config_env_name(extra->prefix, env, sizeof(env));
        fprintf(out,
                "\nKeys under `%s` that are not in the table (flags `--%s<property>`, "
                "environment `%s*` with '.' written as '_') are passed to the library "
                "verbatim.\n",
                extra->prefix, extra->prefix, env);
    }
}

void config_print_json(FILE *out, const char *program, const struct config_entry *table, size_t n,
                       const struct config_extra *extra)
{
    char env[CONFIG_KEY_MAX + 8];
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_append_str(&b, "{\"program\":");
    json_str(&b, program);
    buf_append_str(&b, ",\"passthrough\":");
    if (extra && extra->prefix)
        json_str(&b, extra->prefix);
    else
        buf_append_str(&b, "null");
    buf_append_str(&b, ",\"keys\":[");
    for (size_t i = 0; i < n; i++) {
        const struct config_entry *e = &table[i];
        config_env_name(e->key, env, sizeof(env));
        buf_append_str(&b, i ? ",{\"key\":" : "{\"key\":");
        json_str(&b, e->key);
        buf_append_str(&b, ",\"env\":");
        json_str(&b, env);
        buf_append_str(&b, ",\"type\":");
        json_str(&b, config_type_names[e->type]);
        buf_append_str(&b, ",\"default\":");
        if (e->defval)
            json_str(&b, e->defval);
        else
            buf_append_str(&b, "null");
        if (e->type == CONFIG_INT || e->type == CONFIG_SIZE || e->type == CONFIG_DURATION ||
            e->type == CONFIG_NUMBER)
            buf_printf(&b, ",\"min\":%lld,\"max\":%lld", e->min, e->max);
        if (e->type == CONFIG_SIZE || e->type == CONFIG_DURATION) {
            buf_append_str(&b, ",\"unit\":");
            json_str(&b, config_unit_name(e));
        }
        if (e->type == CONFIG_ENUM) {
            buf_append_str(&b, ",\"values\":[");
            for (size_t v = 0; e->values[v]; v++) {
                if (v)
                    buf_append_str(&b, ",");
                json_str(&b, e->values[v]);
            }
            buf_append_str(&b, "]");
        }
        buf_append_str(&b, ",\"description\":");
        json_str(&b, e->desc);
        buf_append_str(&b, "}");
    }
    buf_append_str(&b, "]}\n");
    fwrite(b.data, 1, b.len, out);
    buf_release(&b);
}

void config_table_print(FILE *out, const struct config_table *t, enum config_action action,
                        const struct config_extra *extra)
{
    switch (action) {
    case CONFIG_HELP:
        config_print_help(out, t->program, t->rows, t->n, extra);
        break;
    case CONFIG_MARKDOWN:
        config_print_markdown(out, t->rows, t->n, extra);
        break;
    case CONFIG_JSON:
        config_print_json(out, t->program, t->rows, t->n, extra);
        break;
    case CONFIG_RUN:
    case CONFIG_CHECK:
        break;
    }
}

const char *config_extra_get(const struct config_extra *extra, const char *key)
{
    for (size_t i = 0; extra && i < extra->n; i++)
        if (!strcmp(extra->keys[i], key))
            return extra->values[i];
    return NULL;
}
