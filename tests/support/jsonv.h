/*
 * jsonv.h - a small JSON reader for tests: parse a document into a tree
 * and look values up by path ("metrics.speed_kmh.value", "rejected.0.code").
 * Tests only: services never parse JSON.
 *
 *     struct jv *doc = jv_parse(body);            // NULL if not valid JSON
 *     ck_assert_double_eq(jv_num(doc, "events"), 10);
 *     jv_free(doc);
 */
#ifndef TP_JSONV_H
#define TP_JSONV_H

#include <stdbool.h>
#include <stddef.h>

enum jv_type { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

struct jv {
    enum jv_type type;
    bool b;
    double num;
    char *str;
    size_t n;          /* items in an array or object */
    char **keys;       /* object keys */
    struct jv **items; /* array items or object values */
};

struct jv *jv_parse(const char *text);
void jv_free(struct jv *v);
/* Borrowed node at path (dot-separated keys and array indexes), or NULL. */
const struct jv *jv_path(const struct jv *v, const char *path);
/* Value at path; the test fails (ck_abort) when absent or of another type. */
double jv_num(const struct jv *v, const char *path);
const char *jv_str(const struct jv *v, const char *path);
size_t jv_len(const struct jv *v, const char *path);

#endif
