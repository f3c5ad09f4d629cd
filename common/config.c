#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

#define CONFIG_KEY_MAX 128

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
        *(long long *)field = v;
        return TP_OK;
    }
    case CONFIG_BOOL: {
        bool *b = field;
        if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes") ||
            !strcasecmp(value, "on"))
            *b = true;
        else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no") ||
                 !strcasecmp(value, "off"))
            *b = false;
        else
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "invalid value \"%s\" for \"%s\" (%s): not a boolean", value, e->key,
                              source);
        return TP_OK;
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

enum tp_err config_load(const struct config_entry *table, size_t n, void *cfg,
                        struct config_extra *extra, int argc, char **argv, char **envp, bool *help,
                        char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    char name[CONFIG_KEY_MAX + 8];
    *help = false;

    for (size_t i = 0; i < n && err == TP_OK; i++)
        if (table[i].defval || table[i].type == CONFIG_STRING)
            err = config_set(&table[i], cfg, table[i].defval, "default", errstr, errstr_size);

    /* Environment: table keys first, then passthrough TP_<PREFIX>_* variables. */
    for (size_t i = 0; i < n && err == TP_OK; i++) {
        config_env_name(table[i].key, name, sizeof(name));
        for (char **e = envp; e && *e && err == TP_OK; e++) {
            size_t l = strlen(name);
            if (!strncmp(*e, name, l) && (*e)[l] == '=')
                err = config_set(&table[i], cfg, *e + l + 1, name, errstr, errstr_size);
        }
    }
    if (extra && extra->prefix) {
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
    }

    for (int i = 1; i < argc && err == TP_OK; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            *help = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            err = tp_err_set(TP_CONFIG, errstr, errstr_size,
                             "unexpected argument \"%s\": options look like --key=value", arg);
            break;
        }
        const char *key = arg + 2;
        const char *eq = strchr(key, '=');
        size_t keylen = eq ? (size_t)(eq - key) : strlen(key);
        const char *value = eq ? eq + 1 : NULL;
        const struct config_entry *e = config_find(table, n, key, keylen);
        char keybuf[CONFIG_KEY_MAX];
        snprintf(keybuf, sizeof(keybuf), "%.*s", (int)keylen, key);
        if (!e && !config_is_extra(extra, keybuf)) {
            err = tp_err_set(TP_CONFIG, errstr, errstr_size, "unknown option \"--%s\"", keybuf);
            break;
        }
        if (!value) {
            if (e && e->type == CONFIG_BOOL && (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2)))
                value = "true";
            else if (i + 1 < argc)
                value = argv[++i];
            else {
                err = tp_err_set(TP_CONFIG, errstr, errstr_size, "option \"--%s\" needs a value",
                                 keybuf);
                break;
            }
        }
        if (e)
            err = config_set(e, cfg, value, "command line", errstr, errstr_size);
        else
            err = config_extra_set(extra, keybuf, keylen, value, errstr, errstr_size);
    }
    return err;
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

void config_print_help(FILE *out, const char *program, const struct config_entry *table, size_t n,
                       const struct config_extra *extra)
{
    static const char *const types[] = {"string", "int", "bool"};
    char env[CONFIG_KEY_MAX + 8];
    fprintf(out, "usage: %s [--key=value ...]\n\n", program);
    fprintf(out, "every key can also be set as an environment variable (shown after it);\n");
    fprintf(out, "flags override the environment, which overrides the default\n\n");
    for (size_t i = 0; i < n; i++) {
        config_env_name(table[i].key, env, sizeof(env));
        fprintf(out, "  --%s (%s, %s)\n      %s\n      default: %s", table[i].key,
                types[table[i].type], env, table[i].desc,
                table[i].defval ? table[i].defval : "(unset)");
        if (table[i].type == CONFIG_INT)
            fprintf(out, ", range %lld..%lld", table[i].min, table[i].max);
        fputc('\n', out);
    }
    if (extra && extra->prefix)
        fprintf(out,
                "\n  --%s<property>=value\n      passed to the library as <property> "
                "(env TP_%c..., '.' written as '_')\n",
                extra->prefix, toupper((unsigned char)extra->prefix[0]));
}

const char *config_extra_get(const struct config_extra *extra, const char *key)
{
    for (size_t i = 0; extra && i < extra->n; i++)
        if (!strcmp(extra->keys[i], key))
            return extra->values[i];
    return NULL;
}
