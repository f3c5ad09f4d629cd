#include "serialized.h"

#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/mem.h"
#include "compile.h"
#include "google/protobuf/descriptor.pb-c.h"

bool serialized_is_base64(const char *text, size_t len)
{
    if (len == 0 || len % 4 != 0 || len > SERIALIZED_MAX)
        return false;
    size_t pad = 0;
    while (pad < 2 && text[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++) {
        char c = text[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return true;
}

char *serialized_base64(const uint8_t *data, size_t len)
{
    char *out = tp_malloc(BASE64_ENCODED_SIZE(len));
    base64_encode(data, len, out, BASE64_ENCODED_SIZE(len));
    return out;
}

/* Wire-level nesting guard before protobuf-c's recursive unpack sees untrusted bytes. */
#define SERIALIZED_DEPTH_MAX 100

enum serialized_scan { SCAN_MESSAGE, SCAN_NOT_MESSAGE, SCAN_TOO_DEEP };

static bool serialized_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Whether bytes parse as protobuf fields, and whether any length-delimited field that parses
 * as a message nests deeper than SERIALIZED_DEPTH_MAX (each byte is scanned at most
 * SERIALIZED_DEPTH_MAX times). */
static enum serialized_scan serialized_scan(const uint8_t *p, const uint8_t *end, int depth)
{
    while (p < end) {
        uint64_t key, v;
        if (!serialized_varint(&p, end, &key) || (key >> 3) == 0)
            return SCAN_NOT_MESSAGE;
        switch (key & 7) {
        case 0:
            if (!serialized_varint(&p, end, &v))
                return SCAN_NOT_MESSAGE;
            break;
        case 1:
            if (end - p < 8)
                return SCAN_NOT_MESSAGE;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return SCAN_NOT_MESSAGE;
            p += 4;
            break;
        case 2:
            if (!serialized_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return SCAN_NOT_MESSAGE;
            if (v > 0) {
                if (depth >= SERIALIZED_DEPTH_MAX)
                    return SCAN_TOO_DEEP;
                if (serialized_scan(p, p + v, depth + 1) == SCAN_TOO_DEEP)
                    return SCAN_TOO_DEEP;
            }
            p += v;
            break;
        default:
            return SCAN_NOT_MESSAGE;
        }
    }
    return SCAN_MESSAGE;
}

/* One base64 text unpacked (checked, guarded), renamed name; NULL with errstr set. */
static Google__Protobuf__FileDescriptorProto *
serialized_file(const char *text, size_t len, const char *name, char *errstr, size_t errstr_size)
{
    uint8_t *raw = tp_malloc(len / 4 * 3 + 1);
    long decoded = base64_decode(text, len, raw, len / 4 * 3 + 1);
    Google__Protobuf__FileDescriptorProto *f = NULL;
    bool main = !strcmp(name, COMPILE_MAIN_FILE);
    if (decoded >= 0 && serialized_scan(raw, raw + decoded, 0) == SCAN_TOO_DEEP) {
        tp_err_set(TP_VALIDATION, errstr, errstr_size,
                   "the serialized FileDescriptorProto%s%s nests deeper than %d levels",
                   main ? "" : " of ", main ? "" : name, SERIALIZED_DEPTH_MAX);
        free(raw);
        return NULL;
    }
    /* decoded < 0: the shape of base64, but bits no encoder leaves */
    if (decoded >= 0)
        f = google__protobuf__file_descriptor_proto__unpack(NULL, (size_t)decoded, raw);
    free(raw);
    if (!f) {
        if (main)
            tp_err_set(TP_VALIDATION, errstr, errstr_size,
                       "the schema is base64 but not a serialized FileDescriptorProto, and not "
                       ".proto text either");
        else
            tp_err_set(TP_VALIDATION, errstr, errstr_size,
                       "reference \"%s\" is base64 but not a serialized FileDescriptorProto", name);
        return NULL;
    }
    free(f->name);
    f->name = tp_strdup(name);
    return f;
}

enum tp_err serialized_parse_files(const char *const *texts, const char *const *names, size_t n,
                                   uint8_t **set, size_t *set_len, char *errstr, size_t errstr_size)
{
    Google__Protobuf__FileDescriptorProto **files = tp_calloc(n + 1, sizeof(*files));
    enum tp_err err = TP_OK;
    *set = NULL;
    for (size_t i = 0; i < n && err == TP_OK; i++) {
        if (!serialized_is_base64(texts[i], strlen(texts[i])))
            err = TP_NOT_FOUND;
        else if (!(files[i] =
                       serialized_file(texts[i], strlen(texts[i]), names[i], errstr, errstr_size)))
            err = TP_VALIDATION;
    }
    if (err == TP_OK) {
        Google__Protobuf__FileDescriptorSet fs = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
        fs.n_file = n;
        fs.file = files;
        *set_len = google__protobuf__file_descriptor_set__get_packed_size(&fs);
        *set = tp_malloc(*set_len ? *set_len : 1);
        google__protobuf__file_descriptor_set__pack(&fs, *set);
        /* protobuf-c takes a field number 0 spelled in two bytes for an unknown field, keeps it
         * and writes it back in one byte, which it then refuses: what it wrote must read back */
        Google__Protobuf__FileDescriptorSet *back =
            google__protobuf__file_descriptor_set__unpack(NULL, *set_len, *set);
        if (!back) {
            free(*set);
            *set = NULL;
            err = tp_err_set(TP_VALIDATION, errstr, errstr_size,
                             "the schema is base64 but not a valid serialized "
                             "FileDescriptorProto (field number 0)");
        }
        google__protobuf__file_descriptor_set__free_unpacked(back, NULL);
    }
    for (size_t i = 0; i < n; i++)
        if (files[i])
            google__protobuf__file_descriptor_proto__free_unpacked(files[i], NULL);
    free(files);
    return err;
}

enum tp_err serialized_parse(const char *text, size_t len, uint8_t **set, size_t *set_len,
                             char *errstr, size_t errstr_size)
{
    if (!serialized_is_base64(text, len))
        return TP_NOT_FOUND;
    const char *name = COMPILE_MAIN_FILE;
    return serialized_parse_files(&text, &name, 1, set, set_len, errstr, errstr_size);
}

/* protoc's default json_name: underscores dropped, the letter after one upper-cased. */
static bool serialized_json_default(const char *name, const char *json)
{
    bool up = false;
    for (; *name; name++) {
        if (*name == '_') {
            up = true;
            continue;
        }
        char c = *name;
        if (up && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        up = false;
        if (*json++ != c)
            return false;
    }
    return *json == '\0';
}

static void serialized_fields(Google__Protobuf__FieldDescriptorProto **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fs[i]->json_name && fs[i]->name &&
            serialized_json_default(fs[i]->name, fs[i]->json_name)) {
            free(fs[i]->json_name);
            fs[i]->json_name = NULL;
        }
}

static void serialized_message(Google__Protobuf__DescriptorProto *m, int depth)
{
    if (depth > 64)
        return;
    serialized_fields(m->field, m->n_field);
    serialized_fields(m->extension, m->n_extension);
    for (size_t i = 0; i < m->n_nested_type; i++)
        serialized_message(m->nested_type[i], depth + 1);
}

enum tp_err serialized_canonical(const uint8_t *fds, size_t len, uint8_t **out, size_t *out_len,
                                 char *errstr, size_t errstr_size)
{
    Google__Protobuf__FileDescriptorSet *set =
        google__protobuf__file_descriptor_set__unpack(NULL, len, fds);
    if (!set)
        return tp_err_set(TP_DECODE, errstr, errstr_size, "not a FileDescriptorSet");
    enum tp_err err =
        tp_err_set(TP_NOT_FOUND, errstr, errstr_size, "the set has no \"%s\"", COMPILE_MAIN_FILE);
    for (size_t i = 0; i < set->n_file; i++) {
        Google__Protobuf__FileDescriptorProto *f = set->file[i];
        if (!f->name || strcmp(f->name, COMPILE_MAIN_FILE) != 0)
            continue;
        if (f->source_code_info) {
            google__protobuf__source_code_info__free_unpacked(f->source_code_info, NULL);
            f->source_code_info = NULL;
        }
        for (size_t k = 0; k < f->n_message_type; k++)
            serialized_message(f->message_type[k], 0);
        serialized_fields(f->extension, f->n_extension);
        size_t n = google__protobuf__file_descriptor_proto__get_packed_size(f);
        *out = tp_malloc(n ? n : 1);
        google__protobuf__file_descriptor_proto__pack(f, *out);
        *out_len = n;
        err = TP_OK;
        break;
    }
    google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    return err;
}
