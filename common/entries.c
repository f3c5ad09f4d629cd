#include "entries.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static enum tp_err entries_one(const char *s, size_t n, const char *where, entries_fn fn, void *arg,
                               char *errstr, size_t errstr_size)
{
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    return n ? fn(arg, s, n, where, errstr, errstr_size) : TP_OK;
}

enum tp_err entries_each_list(const char *list, const char *where, entries_fn fn, void *arg,
                              char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    const char *p = list;
    while (p && err == TP_OK) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        err = entries_one(p, n, where, fn, arg, errstr, errstr_size);
        p = comma ? comma + 1 : NULL;
    }
    return err;
}

enum tp_err entries_each_file(const char *path, entries_fn fn, void *arg, char *errstr,
                              size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "could not open \"%s\": %s", path,
                          strerror(errno));
    char line[ENTRIES_LINE_MAX + 2], where[300];
    enum tp_err err = TP_OK;
    int lineno = 0;
    while (err == TP_OK && fgets(line, sizeof(line), f)) {
        lineno++;
        snprintf(where, sizeof(where), "\"%s\" line %d", path, lineno);
        size_t len = strlen(line);
        if (len > ENTRIES_LINE_MAX && line[len - 1] != '\n') {
            err = tp_err_set(TP_CONFIG, errstr, errstr_size, "%s is longer than %d bytes", where,
                             ENTRIES_LINE_MAX);
            break;
        }
        line[strcspn(line, "#\n")] = '\0';
        err = entries_one(line, strlen(line), where, fn, arg, errstr, errstr_size);
    }
    fclose(f);
    return err;
}

static int entries_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool entries_hex32(const char *hex, unsigned char out[32])
{
    for (size_t i = 0; i < 32; i++) {
        int hi = entries_hex(hex[2 * i]), lo = hi < 0 ? -1 : entries_hex(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}
