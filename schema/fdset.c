#include "fdset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define FDSET_DEPTH_MAX  32        /* nesting of message declarations */
#define FDSET_NUMBER_MAX 536870911 /* largest field number protobuf allows (2^29 - 1) */

typedef Google__Protobuf__FieldDescriptorProto fdset_field;

#define T(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x
#define L(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_##x

/* A protobuf identifier: [A-Za-z_][A-Za-z0-9_]*, as protoc accepts. */
static bool fdset_ident_ok(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static int fdset_cmp_number(const void *a, const void *b)
{
    int32_t x = (*(const fdset_field *const *)a)->number;
    int32_t y = (*(const fdset_field *const *)b)->number;
    return (x > y) - (x < y);
}

static int fdset_cmp_field_name(const void *a, const void *b)
{
    return strcmp((*(const fdset_field *const *)a)->name, (*(const fdset_field *const *)b)->name);
}

static int fdset_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What protoc guarantees of a field; the other modules rely on it. */
static enum tp_err fdset_check_fields(const Google__Protobuf__DescriptorProto *m, char *errstr,
                                      size_t errstr_size)
{
    for (size_t i = 0; i < m->n_field; i++) {
        const fdset_field *f = m->field[i];
        if (!fdset_ident_ok(f->name))
            return tp_err_set(TP_DECODE, errstr, errstr_size,
                              "message \"%s\" has a field without a valid name", m->name);
        if (!f->has_number || f->number < 1 || f->number > FDSET_NUMBER_MAX)
            return tp_err_set(TP_DECODE, errstr, errstr_size,
                              "field \"%s.%s\" has no number in 1..%d", m->name, f->name,
                              FDSET_NUMBER_MAX);
        if (!f->has_label ||
            (f->label != L(OPTIONAL) && f->label != L(REQUIRED) && f->label != L(REPEATED)))
            return tp_err_set(TP_DECODE, errstr, errstr_size, "field \"%s.%s\" has no valid label",
                              m->name, f->name);
        if (!f->has_type || f->type < T(DOUBLE) || f->type > T(SINT64))
            return tp_err_set(TP_DECODE, errstr, errstr_size, "field \"%s.%s\" has no valid type",
                              m->name, f->name);
        bool named = f->type == T(MESSAGE) || f->type == T(ENUM) || f->type == T(GROUP);
        if (named && (!f->type_name || !*f->type_name))
            return tp_err_set(TP_DECODE, errstr, errstr_size, "field \"%s.%s\" names no type",
                              m->name, f->name);
        if (f->has_oneof_index && (f->oneof_index < 0 || (size_t)f->oneof_index >= m->n_oneof_decl))
            return tp_err_set(TP_DECODE, errstr, errstr_size,
                              "field \"%s.%s\" names oneof %d of %zu", m->name, f->name,
                              f->oneof_index, m->n_oneof_decl);
        if (f->has_oneof_index && f->label != L(OPTIONAL))
            return tp_err_set(TP_DECODE, errstr, errstr_size,
                              "field \"%s.%s\" is in a oneof and %s", m->name, f->name,
                              f->label == L(REPEATED) ? "repeated" : "required");
    }
    if (m->n_field < 2)
        return TP_OK;
    enum tp_err err = TP_OK;
    const fdset_field **sorted = tp_malloc(m->n_field * sizeof(*sorted));
    memcpy(sorted, m->field, m->n_field * sizeof(*sorted));
    qsort(sorted, m->n_field, sizeof(*sorted), fdset_cmp_number);
    for (size_t i = 1; i < m->n_field && err == TP_OK; i++)
        if (sorted[i]->number == sorted[i - 1]->number)
            err =
                tp_err_set(TP_DECODE, errstr, errstr_size,
                           "message \"%s\" uses field number %d twice", m->name, sorted[i]->number);
    qsort(sorted, m->n_field, sizeof(*sorted), fdset_cmp_field_name);
    for (size_t i = 1; i < m->n_field && err == TP_OK; i++)
        if (!strcmp(sorted[i]->name, sorted[i - 1]->name))
            err =
                tp_err_set(TP_DECODE, errstr, errstr_size,
                           "message \"%s\" has two fields named \"%s\"", m->name, sorted[i]->name);
    free(sorted);
    return err;
}

static enum tp_err fdset_check_enum(const Google__Protobuf__EnumDescriptorProto *e, char *errstr,
                                    size_t errstr_size)
{
    if (!fdset_ident_ok(e->name))
        return tp_err_set(TP_DECODE, errstr, errstr_size, "an enum has no valid name");
    if (e->n_value == 0)
        return tp_err_set(TP_DECODE, errstr, errstr_size, "enum \"%s\" has no values", e->name);
    for (size_t i = 0; i < e->n_value; i++)
        if (!fdset_ident_ok(e->value[i]->name) || !e->value[i]->has_number)
            return tp_err_set(TP_DECODE, errstr, errstr_size,
                              "enum \"%s\" has a value without a valid name or number", e->name);
    return TP_OK;
}

static enum tp_err fdset_check_message(const Google__Protobuf__DescriptorProto *m, int depth,
                                       char *errstr, size_t errstr_size)
{
    if (depth > FDSET_DEPTH_MAX)
        return tp_err_set(TP_DECODE, errstr, errstr_size,
                          "messages are declared nested deeper than %d", FDSET_DEPTH_MAX);
    if (!fdset_ident_ok(m->name))
        return tp_err_set(TP_DECODE, errstr, errstr_size, "a message has no valid name");
    for (size_t i = 0; i < m->n_oneof_decl; i++)
        if (!fdset_ident_ok(m->oneof_decl[i]->name))
            return tp_err_set(TP_DECODE, errstr, errstr_size,
                              "message \"%s\" has a oneof without a valid name", m->name);
    enum tp_err err = fdset_check_fields(m, errstr, errstr_size);
    for (size_t i = 0; i < m->n_enum_type && err == TP_OK; i++)
        err = fdset_check_enum(m->enum_type[i], errstr, errstr_size);
    for (size_t i = 0; i < m->n_nested_type && err == TP_OK; i++)
        err = fdset_check_message(m->nested_type[i], depth + 1, errstr, errstr_size);
    return err;
}

/* Full names of messages and enums are unique across the set, as protoc's are. */
static enum tp_err fdset_check_names(const struct fdset *fs, char *errstr, size_t errstr_size)
{
    size_t n = fs->n_messages + fs->n_enums;
    if (n < 2)
        return TP_OK;
    const char **names = tp_malloc(n * sizeof(*names));
    for (size_t i = 0; i < fs->n_messages; i++)
        names[i] = fs->messages[i].name;
    for (size_t i = 0; i < fs->n_enums; i++)
        names[fs->n_messages + i] = fs->enums[i].name;
    qsort(names, n, sizeof(*names), fdset_cmp_str);
    enum tp_err err = TP_OK;
    for (size_t i = 1; i < n && err == TP_OK; i++)
        if (!strcmp(names[i], names[i - 1]))
            err = tp_err_set(TP_DECODE, errstr, errstr_size, "type \"%s\" is declared twice",
                             names[i]);
    free(names);
    return err;
}

/* The package: dot-separated identifiers, or none. */
static bool fdset_package_ok(const char *pkg)
{
    if (!pkg || !*pkg)
        return true;
    char part[256];
    for (const char *p = pkg;;) {
        size_t l = strcspn(p, ".");
        if (l == 0 || l >= sizeof(part))
            return false;
        memcpy(part, p, l);
        part[l] = '\0';
        if (!fdset_ident_ok(part))
            return false;
        if (!p[l])
            return true;
        p += l + 1;
    }
}

static char *fdset_join(const char *scope, const char *name)
{
    size_t n = strlen(scope) + strlen(name) + 2;
    char *s = tp_malloc(n);
    snprintf(s, n, "%s%s%s", scope, *scope ? "." : "", name);
    return s;
}

static void fdset_add_enum(struct fdset *fs, size_t *cap, const char *scope,
                           const Google__Protobuf__EnumDescriptorProto *e,
                           const Google__Protobuf__FileDescriptorProto *file)
{
    if (fs->n_enums == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        fs->enums = tp_realloc(fs->enums, *cap * sizeof(*fs->enums));
    }
    fs->enums[fs->n_enums++] =
        (struct fdset_enum){fdset_join(scope, e->name ? e->name : ""), e, file};
}

static void fdset_add_message(struct fdset *fs, size_t *cap, size_t *ecap, const char *scope,
                              const Google__Protobuf__DescriptorProto *m,
                              const Google__Protobuf__FileDescriptorProto *file)
{
    if (fs->n_messages == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        fs->messages = tp_realloc(fs->messages, *cap * sizeof(*fs->messages));
    }
    char *name = fdset_join(scope, m->name ? m->name : "");
    fs->messages[fs->n_messages++] = (struct fdset_message){name, m, file};
    for (size_t i = 0; i < m->n_nested_type; i++)
        fdset_add_message(fs, cap, ecap, name, m->nested_type[i], file);
    for (size_t i = 0; i < m->n_enum_type; i++)
        fdset_add_enum(fs, ecap, name, m->enum_type[i], file);
}

enum tp_err fdset_new(const uint8_t *data, size_t len, struct fdset **out, char *errstr,
                      size_t errstr_size)
{
    Google__Protobuf__FileDescriptorSet *set =
        google__protobuf__file_descriptor_set__unpack(NULL, len, data);
    if (!set || set->n_file == 0) {
        if (set)
            google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
        return tp_err_set(TP_DECODE, errstr, errstr_size,
                          "%zu bytes are not a FileDescriptorSet with a file", len);
    }
    for (size_t f = 0; f < set->n_file; f++) {
        const Google__Protobuf__FileDescriptorProto *file = set->file[f];
        enum tp_err err = TP_OK;
        if (!fdset_package_ok(file->package))
            err = tp_err_set(TP_DECODE, errstr, errstr_size, "a file has an invalid package");
        for (size_t i = 0; i < file->n_message_type && err == TP_OK; i++)
            err = fdset_check_message(file->message_type[i], 1, errstr, errstr_size);
        for (size_t i = 0; i < file->n_enum_type && err == TP_OK; i++)
            err = fdset_check_enum(file->enum_type[i], errstr, errstr_size);
        if (err != TP_OK) {
            google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
            return err;
        }
    }
    struct fdset *fs = tp_calloc(1, sizeof(*fs));
    fs->set = set;
    fs->main = set->file[set->n_file - 1]; /* protoc lists dependencies first */
    size_t cap = 0, ecap = 0;
    for (size_t f = 0; f < set->n_file; f++) {
        const Google__Protobuf__FileDescriptorProto *file = set->file[f];
        const char *pkg = file->package ? file->package : "";
        for (size_t i = 0; i < file->n_message_type; i++)
            fdset_add_message(fs, &cap, &ecap, pkg, file->message_type[i], file);
        for (size_t i = 0; i < file->n_enum_type; i++)
            fdset_add_enum(fs, &ecap, pkg, file->enum_type[i], file);
    }
    enum tp_err err = fdset_check_names(fs, errstr, errstr_size);
    if (err != TP_OK) {
        fdset_free(fs);
        return err;
    }
    *out = fs;
    return TP_OK;
}

void fdset_free(struct fdset *fs)
{
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n_messages; i++)
        free(fs->messages[i].name);
    for (size_t i = 0; i < fs->n_enums; i++)
        free(fs->enums[i].name);
    free(fs->messages);
    free(fs->enums);
    google__protobuf__file_descriptor_set__free_unpacked(fs->set, NULL);
    free(fs);
}

const struct fdset_message *fdset_message(const struct fdset *fs, const char *name)
{
    if (name[0] == '.')
        name++;
    for (size_t i = 0; i < fs->n_messages; i++)
        if (!strcmp(fs->messages[i].name, name))
            return &fs->messages[i];
    return NULL;
}

const struct fdset_enum *fdset_enum(const struct fdset *fs, const char *name)
{
    if (name[0] == '.')
        name++;
    for (size_t i = 0; i < fs->n_enums; i++)
        if (!strcmp(fs->enums[i].name, name))
            return &fs->enums[i];
    return NULL;
}

bool fdset_is_proto3(const struct fdset_message *m)
{
    return m->file->syntax && !strcmp(m->file->syntax, "proto3");
}
