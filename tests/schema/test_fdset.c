/*
 * FileDescriptorSets (schema/fdset.c) that protoc never writes and a
 * fuzzer does (tests/fuzz/fuzz_rtdesc.c, fuzz_compat.c found them): a field
 * without a name made rtdesc_set_new call strcmp(NULL) while sorting fields
 * by name; duplicate numbers, names and types, numbers out of range, missing
 * type names and oneof indexes past the oneofs broke the run-time layout and
 * made compat_diff of a set with itself report breaking changes; a repeated
 * field inside a oneof got a union slot that libprotobuf-c read as an element
 * count (a packed size of 10^14 bytes). Each is
 * refused as TP_DECODE with the reason; protoc's own sets still pass.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "registry/compat.h"
#include "schema/fdset.h"
#include "schema/rtdesc.h"
#include "tests/support/check_main.h"

typedef Google__Protobuf__FieldDescriptorProto field_proto;

#define TYPE(x)  GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x
#define LABEL(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_##x

/* package p; message M { <fields> } message N {} , packed */
struct set {
    Google__Protobuf__FileDescriptorSet fs;
    Google__Protobuf__FileDescriptorProto file, *files[1];
    Google__Protobuf__DescriptorProto m, n, *msgs[2];
    Google__Protobuf__OneofDescriptorProto oneof, *oneofs[1];
    field_proto f[3], *fields[3];
};

static void set_init(struct set *s)
{
    memset(s, 0, sizeof(*s));
    google__protobuf__file_descriptor_set__init(&s->fs);
    google__protobuf__file_descriptor_proto__init(&s->file);
    google__protobuf__descriptor_proto__init(&s->m);
    google__protobuf__descriptor_proto__init(&s->n);
    google__protobuf__oneof_descriptor_proto__init(&s->oneof);
    s->oneof.name = "o";
    s->oneofs[0] = &s->oneof;
    s->file.name = "s.proto";
    s->file.package = "p";
    s->file.syntax = "proto2";
    s->m.name = "M";
    s->n.name = "N";
    static char *names[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        google__protobuf__field_descriptor_proto__init(&s->f[i]);
        s->f[i].name = names[i];
        s->f[i].has_number = true;
        s->f[i].number = i + 1;
        s->f[i].has_label = true;
        s->f[i].label = LABEL(OPTIONAL);
        s->f[i].has_type = true;
        s->f[i].type = TYPE(INT32);
        s->fields[i] = &s->f[i];
    }
    s->f[2].type = TYPE(MESSAGE);
    s->f[2].type_name = ".p.N";
    s->m.n_field = 3;
    s->m.field = s->fields;
    s->msgs[0] = &s->m;
    s->msgs[1] = &s->n;
    s->file.n_message_type = 2;
    s->file.message_type = s->msgs;
    s->files[0] = &s->file;
    s->fs.n_file = 1;
    s->fs.file = s->files;
}

static uint8_t *set_pack(const struct set *s, size_t *len)
{
    *len = google__protobuf__file_descriptor_set__get_packed_size(&s->fs);
    uint8_t *b = malloc(*len);
    google__protobuf__file_descriptor_set__pack(&s->fs, b);
    return b;
}

/* fdset_new and rtdesc_set_new refuse s with exactly `why`; compat_diff counts it as both. */
static void refused(const struct set *s, const char *why)
{
    size_t len;
    uint8_t *b = set_pack(s, &len);
    struct fdset *fs = NULL;
    char err[256] = "";
    ck_assert_int_eq(fdset_new(b, len, &fs, err, sizeof(err)), TP_DECODE);
    ck_assert_str_eq(err, why);
    ck_assert_ptr_null(fs);
    struct rtdesc_set *rs = NULL;
    err[0] = '\0';
    ck_assert_int_eq(rtdesc_set_new(b, len, NULL, 0, &rs, err, sizeof(err)), TP_DECODE);
    ck_assert_str_eq(err, why);
    ck_assert_ptr_null(rs);
    ck_assert_uint_eq(compat_diff(b, len, b, len, "", NULL),
                      COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD);
    free(b);
}

START_TEST(test_valid_set_builds)
{
    struct set s;
    set_init(&s);
    size_t len;
    uint8_t *b = set_pack(&s, &len);
    struct rtdesc_set *rs = NULL;
    char err[256];
    ck_assert_int_eq(rtdesc_set_new(b, len, NULL, 0, &rs, err, sizeof(err)), TP_OK);
    const ProtobufCMessageDescriptor *d = rtdesc_message(rs, "p.M");
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(d->n_fields, 3);
    ck_assert_uint_eq(compat_diff(b, len, b, len, "", NULL), 0);
    rtdesc_set_free(rs);
    free(b);
}
END_TEST

START_TEST(test_field_without_name)
{
    struct set s;
    set_init(&s);
    s.f[1].name = NULL; /* rtdesc sorted fields by name with strcmp(NULL) */
    refused(&s, "message \"M\" has a field without a valid name");
    s.f[1].name = "";
    refused(&s, "message \"M\" has a field without a valid name");
    s.f[1].name = "9x";
    refused(&s, "message \"M\" has a field without a valid name");
}
END_TEST

START_TEST(test_field_numbers)
{
    struct set s;
    set_init(&s);
    s.f[1].number = 0;
    refused(&s, "field \"M.b\" has no number in 1..536870911");
    s.f[1].number = 536870912;
    refused(&s, "field \"M.b\" has no number in 1..536870911");
    s.f[1].has_number = false;
    refused(&s, "field \"M.b\" has no number in 1..536870911");
    set_init(&s);
    s.f[1].number = 1;
    refused(&s, "message \"M\" uses field number 1 twice");
    set_init(&s);
    s.f[2].name = "a";
    refused(&s, "message \"M\" has two fields named \"a\"");
}
END_TEST

START_TEST(test_labels_types_and_type_names)
{
    struct set s;
    set_init(&s);
    s.f[0].label = 7;
    refused(&s, "field \"M.a\" has no valid label");
    set_init(&s);
    s.f[0].type = 19;
    refused(&s, "field \"M.a\" has no valid type");
    set_init(&s);
    s.f[2].type_name = NULL;
    refused(&s, "field \"M.c\" names no type");
    set_init(&s);
    s.f[0].has_oneof_index = true;
    s.f[0].oneof_index = 0; /* the message declares no oneof */
    refused(&s, "field \"M.a\" names oneof 0 of 0");
    s.m.n_oneof_decl = 1;
    s.m.oneof_decl = s.oneofs;
    s.f[0].label = LABEL(REPEATED); /* laid out in the union, read as a count: garbage sizes */
    refused(&s, "field \"M.a\" is in a oneof and repeated");
    s.f[0].label = LABEL(REQUIRED);
    refused(&s, "field \"M.a\" is in a oneof and required");
    s.f[0].label = LABEL(OPTIONAL);
    size_t len;
    uint8_t *b = set_pack(&s, &len);
    struct fdset *fs = NULL;
    char err[256];
    ck_assert_int_eq(fdset_new(b, len, &fs, err, sizeof(err)), TP_OK);
    fdset_free(fs);
    free(b);
}
END_TEST

START_TEST(test_names_unique_and_valid)
{
    struct set s;
    set_init(&s);
    s.n.name = "M"; /* two messages p.M */
    refused(&s, "type \"p.M\" is declared twice");
    set_init(&s);
    s.m.name = NULL;
    refused(&s, "a message has no valid name");
    set_init(&s);
    s.file.package = "p..q";
    refused(&s, "a file has an invalid package");
}
END_TEST

START_TEST(test_nesting_bounded)
{
    struct set s;
    set_init(&s);
    Google__Protobuf__DescriptorProto nested[40], *links[40];
    for (int i = 0; i < 40; i++) {
        google__protobuf__descriptor_proto__init(&nested[i]);
        nested[i].name = "X";
        links[i] = &nested[i];
        if (i) {
            nested[i - 1].n_nested_type = 1;
            nested[i - 1].nested_type = &links[i];
        }
    }
    s.n.n_nested_type = 1;
    s.n.nested_type = &links[0];
    refused(&s, "messages are declared nested deeper than 32");
}
END_TEST

static Suite *fdset_suite(void)
{
    Suite *s = suite_create("fdset");
    TCase *tc = tcase_create("fdset");
    tcase_add_test(tc, test_valid_set_builds);
    tcase_add_test(tc, test_field_without_name);
    tcase_add_test(tc, test_field_numbers);
    tcase_add_test(tc, test_labels_types_and_type_names);
    tcase_add_test(tc, test_names_unique_and_valid);
    tcase_add_test(tc, test_nesting_bounded);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(fdset_suite)
