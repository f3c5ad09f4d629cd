/*
 * Schemas sent as a base64 serialized FileDescriptorProto (registry/serialized.c)
 * and compiled by protoc from it (compile_descriptor): .proto texts, however
 * short, are never taken for base64; base64 that is not a descriptor, or that
 * nests past the guard, is refused before protobuf-c unpacks it; a descriptor
 * compiles into the same canonical schema file as its text (json_name given
 * or not, any file name), references included; protoc's checks apply to a
 * descriptor as to text (undefined types named).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "registry/compile.h"
#include "registry/serialized.h"
#include "tests/support/check_main.h"

static const struct compile_options opts = {"protoc", "/tmp", 20000};

#define DEP "syntax = \"proto3\";\npackage d;\nmessage D { int32 x = 1; }\n"
#define MAIN                                                                                       \
    "syntax = \"proto3\";\nimport \"dep/d.proto\";\npackage m;\n// a comment\nmessage M {\n"       \
    "  d.D d = 1;\n  string some_name = 2;\n  repeated int64 ids = 3 [json_name = \"IDS\"];\n}\n"

START_TEST(test_text_is_never_base64)
{
    static const char *texts[] = {
        MAIN, DEP,   "message M{}", "syntax=\"proto3\";", "//abc\n", "enum E{A=0;}",
        "",   "abc", "ab=c"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        ck_assert_msg(!serialized_is_base64(texts[i], strlen(texts[i])), "%s", texts[i]);
    ck_assert(serialized_is_base64("QUJD", 4));
    ck_assert(serialized_is_base64("QUI=", 4));
    ck_assert(serialized_is_base64("QQ==", 4));
    ck_assert(!serialized_is_base64("Q===", 4));
    ck_assert(!serialized_is_base64("QU=I", 4));
    uint8_t *set = NULL;
    size_t n = 0;
    char err[256];
    ck_assert_int_eq(serialized_parse(MAIN, strlen(MAIN), &set, &n, err, sizeof(err)),
                     TP_NOT_FOUND);
    /* "ABC" is base64 but no FileDescriptorProto (field 8, wire type 1, short) */
    ck_assert_int_eq(serialized_parse("QUJD", 4, &set, &n, err, sizeof(err)), TP_VALIDATION);
    ck_assert_str_eq(err, "the schema is base64 but not a serialized FileDescriptorProto, and "
                          "not .proto text either");
}
END_TEST

START_TEST(test_base64_round_trip)
{
    uint8_t bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (uint8_t)(255 - i);
    for (size_t len = 0; len < 10; len++) {
        char *b = serialized_base64(bytes, len);
        ck_assert_uint_eq(strlen(b), (len + 2) / 3 * 4);
        free(b);
    }
    char *b = serialized_base64((const uint8_t *)"ABC", 3);
    ck_assert_str_eq(b, "QUJD");
    free(b);
    b = serialized_base64((const uint8_t *)"A", 1);
    ck_assert_str_eq(b, "QQ==");
    free(b);
    /* common/base64.h's standard form, which serialized_parse decodes with */
    unsigned char out[8];
    ck_assert_int_eq(base64_decode("QQ==", 4, out, sizeof(out)), 1);
    ck_assert_int_eq(out[0], 'A');
    ck_assert_int_eq(base64_decode("QUI=", 4, out, sizeof(out)), 2);
    ck_assert_int_eq(base64_decode("QR==", 4, out, sizeof(out)), -1); /* bits no encoder sets */
    ck_assert_int_eq(base64_decode("QQ=", 3, out, sizeof(out)), -1);
    ck_assert_int_eq(base64_decode("Q-==", 4, out, sizeof(out)), -1); /* base64url's alphabet */
    for (size_t len = 0; len < 40; len++) {
        b = serialized_base64(bytes, len);
        unsigned char back[64];
        ck_assert_int_eq(base64_decode(b, strlen(b), back, sizeof(back)), (long)len);
        ck_assert_mem_eq(back, bytes, len);
        free(b);
    }
}
END_TEST

/* The canonical schema file of text compiled with its reference. */
static uint8_t *canonical_of_text(const char *text, size_t *len)
{
    struct compile_file refs[] = {{"dep/d.proto", DEP}};
    uint8_t *fds, *file;
    size_t fds_len;
    char err[COMPILE_ERR_MAX];
    ck_assert_int_eq(compile_proto(&opts, text, refs, 1, &fds, &fds_len, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(serialized_canonical(fds, fds_len, &file, len, err, sizeof(err)), TP_OK);
    free(fds);
    return file;
}

START_TEST(test_descriptor_compiles_like_its_text)
{
    size_t text_len;
    uint8_t *text_file = canonical_of_text(MAIN, &text_len);
    /* the client's form: another file name, json_name on every field (as Python's
     * serialized_pb has them), no comments */
    Google__Protobuf__FileDescriptorProto *f =
        google__protobuf__file_descriptor_proto__unpack(NULL, text_len, text_file);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(f->name, COMPILE_MAIN_FILE);
    ck_assert_str_eq(f->message_type[0]->field[2]->json_name, "IDS"); /* not the default: kept */
    ck_assert_ptr_null(f->message_type[0]->field[1]->json_name);      /* default: dropped */
    free(f->name);
    f->name = strdup("m/client_named.proto");
    f->message_type[0]->field[1]->json_name = strdup("someName");
    size_t n = google__protobuf__file_descriptor_proto__get_packed_size(f);
    uint8_t *raw = malloc(n);
    google__protobuf__file_descriptor_proto__pack(f, raw);
    google__protobuf__file_descriptor_proto__free_unpacked(f, NULL);
    char *b64 = serialized_base64(raw, n);
    free(raw);

    uint8_t *set, *fds, *file;
    size_t set_len, fds_len, file_len;
    char err[COMPILE_ERR_MAX];
    ck_assert_int_eq(serialized_parse(b64, strlen(b64), &set, &set_len, err, sizeof(err)), TP_OK);
    struct compile_file refs[] = {{"dep/d.proto", DEP}};
    ck_assert_int_eq(
        compile_descriptor(&opts, set, set_len, refs, 1, &fds, &fds_len, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(serialized_canonical(fds, fds_len, &file, &file_len, err, sizeof(err)), TP_OK);
    ck_assert_uint_eq(file_len, text_len);
    ck_assert_mem_eq(file, text_file, text_len);
    free(file);
    free(fds);

    /* without its reference protoc refuses it, naming the import */
    ck_assert_int_eq(
        compile_descriptor(&opts, set, set_len, NULL, 0, &fds, &fds_len, err, sizeof(err)),
        TP_VALIDATION);
    ck_assert_msg(strstr(err, "dep/d.proto"), "%s", err);
    free(set);
    free(b64);
    free(text_file);
}
END_TEST

START_TEST(test_descriptor_with_undefined_type_is_refused)
{
    /* message M { Missing x = 1; } as a descriptor */
    Google__Protobuf__FileDescriptorProto f = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
    Google__Protobuf__DescriptorProto m = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT, *ms[] = {&m};
    Google__Protobuf__FieldDescriptorProto x = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT,
                                           *xs[] = {&x};
    f.name = "a.proto";
    f.syntax = "proto3";
    f.n_message_type = 1;
    f.message_type = ms;
    m.name = "M";
    m.n_field = 1;
    m.field = xs;
    x.name = "x";
    x.has_number = x.has_label = x.has_type = true;
    x.number = 1;
    x.label = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL;
    x.type = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE;
    x.type_name = "Missing";
    uint8_t raw[256];
    size_t n = google__protobuf__file_descriptor_proto__pack(&f, raw);
    char *b64 = serialized_base64(raw, n);
    uint8_t *set, *fds;
    size_t set_len, fds_len;
    char err[COMPILE_ERR_MAX];
    ck_assert_int_eq(serialized_parse(b64, strlen(b64), &set, &set_len, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(
        compile_descriptor(&opts, set, set_len, NULL, 0, &fds, &fds_len, err, sizeof(err)),
        TP_VALIDATION);
    ck_assert_msg(strstr(err, "\"Missing\" is not defined"), "%s", err);
    free(set);
    free(b64);
}
END_TEST

START_TEST(test_deep_nesting_is_refused_before_unpacking)
{
    /* 200 nested messages: field 4 (message_type) > field 3 (nested_type) > ... */
    enum { DEPTH = 200 };
    uint8_t *raw = calloc(DEPTH * 8 + 8, 1);
    size_t len = 0;
    for (int i = DEPTH - 1; i >= 0; i--) {
        /* prepend tag and length: build from the inside out */
        uint8_t head[8];
        size_t h = 0;
        head[h++] = i == 0 ? 0x22 : 0x1a;
        size_t l = len;
        do {
            head[h++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
            l >>= 7;
        } while (l);
        memmove(raw + h, raw, len);
        memcpy(raw, head, h);
        len += h;
    }
    char *b64 = serialized_base64(raw, len);
    uint8_t *set = NULL;
    size_t set_len;
    char err[256];
    ck_assert_int_eq(serialized_parse(b64, strlen(b64), &set, &set_len, err, sizeof(err)),
                     TP_VALIDATION);
    ck_assert_str_eq(err, "the serialized FileDescriptorProto nests deeper than 100 levels");
    free(b64);
    free(raw);
}
END_TEST

static Suite *serialized_suite(void)
{
    Suite *s = suite_create("serialized");
    TCase *tc = tcase_create("serialized");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_text_is_never_base64);
    tcase_add_test(tc, test_base64_round_trip);
    tcase_add_test(tc, test_descriptor_compiles_like_its_text);
    tcase_add_test(tc, test_descriptor_with_undefined_type_is_refused);
    tcase_add_test(tc, test_deep_nesting_is_refused_before_unpacking);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(serialized_suite)
