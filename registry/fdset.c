#include "fdset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

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
