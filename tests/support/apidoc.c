#include "apidoc.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *apidoc_read(const char *path)
{
    char full[1024];
    snprintf(full, sizeof(full), "%s/%s", TP_SOURCE_DIR, path);
    FILE *f = fopen(full, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", full);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

const struct jv *apidoc_member(const struct jv *o, const char *key)
{
    if (!o || o->type != JV_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key))
            return o->items[i];
    return NULL;
}

const struct jv *apidoc_deref(const struct jv *doc, const struct jv *v)
{
    const struct jv *r = apidoc_member(v, "$ref");
    if (!r)
        return v;
    char kind[64], name[64];
    ck_assert_int_eq(sscanf(r->str, "#/components/%63[^/]/%63s", kind, name), 2);
    const struct jv *target =
        apidoc_member(apidoc_member(apidoc_member(doc, "components"), kind), name);
    ck_assert_msg(target != NULL, "dangling %s", r->str);
    return target;
}

static void apidoc_responses(const struct jv *doc, const char *path, const struct jv *responses,
                             apidoc_error_fn fn, void *arg)
{
    for (size_t r = 0; responses && r < responses->n; r++) {
        unsigned status = (unsigned)atoi(responses->keys[r]);
        const struct jv *codes =
            apidoc_member(apidoc_deref(doc, responses->items[r]), "x-error-codes");
        if (!codes && status >= 400)
            fn(arg, path, status, NULL);
        for (size_t c = 0; codes && c < codes->n; c++)
            fn(arg, path, status, codes->items[c]);
    }
}

void apidoc_each_error(const struct jv *doc, apidoc_error_fn fn, void *arg)
{
    const struct jv *paths = apidoc_member(doc, "paths");
    ck_assert_ptr_nonnull(paths);
    for (size_t i = 0; i < paths->n; i++)
        for (size_t m = 0; m < paths->items[i]->n; m++)
            apidoc_responses(doc, paths->keys[i],
                             apidoc_member(paths->items[i]->items[m], "responses"), fn, arg);
    apidoc_responses(doc, "x-server-errors",
                     apidoc_member(apidoc_member(doc, "x-server-errors"), "responses"), fn, arg);
}

int apidoc_sources_lack(const char *dir, const char *except, const char *needle, const char *hint)
{
    char full[1024];
    snprintf(full, sizeof(full), "%s/%s", TP_SOURCE_DIR, dir);
    DIR *d = opendir(full);
    ck_assert_msg(d != NULL, "cannot open %s", full);
    struct dirent *ent;
    int files = 0;
    while ((ent = readdir(d))) {
        size_t l = strlen(ent->d_name);
        if (l < 3 || strcmp(ent->d_name + l - 2, ".c") || !strcmp(ent->d_name, except))
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
        char *src = apidoc_read(path);
        ck_assert_msg(strstr(src, needle) == NULL, "%s holds %s (%s)", path, needle, hint);
        free(src);
        files++;
    }
    closedir(d);
    return files;
}
