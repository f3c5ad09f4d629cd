/*
 * Compatibility rules (registry/compat.c) on schemas compiled by the real
 * protoc (registry/compile.c): one test per rule, and what each level and
 * its transitive form accepts. Also the compiler itself: references, errors
 * as protoc words them, bad reference names, the time limit.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/compat.h"
#include "registry/compile.h"
#include "schema/fdset.h"
#include "common/mem.h"
#include "tests/support/check_main.h"

static const struct compile_options opts = {"protoc", "/tmp", 20000};

struct fds {
    uint8_t *data;
    size_t len;
};

static struct fds compile(const char *text)
{
    struct fds f = {0};
    char errstr[COMPILE_ERR_MAX + 64];
    enum tp_err err = compile_proto(&opts, text, NULL, 0, &f.data, &f.len, errstr, sizeof(errstr));
    ck_assert_msg(err == TP_OK, "compile: %s", errstr);
    return f;
}

/* The issue bits of old -> new, and the messages in `lines`. */
static unsigned diff(const char *old, const char *neu, char *lines, size_t n)
{
    struct fds o = compile(old), w = compile(neu);
    struct buf b;
    buf_init(&b, 1 << 16);
    unsigned bits = compat_diff(o.data, o.len, w.data, w.len, "", &b);
    snprintf(lines, n, "%s", b.data ? b.data : "");
    buf_release(&b);
    free(o.data);
    free(w.data);
    return bits;
}

#define BOTH (COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD)
#define P2   "syntax = \"proto2\"; package t.v1; "

START_TEST(test_compatible_additions)
{
    char lines[4096];
    /* a new optional field, a renamed field, int32 -> int64, string -> bytes, a new message */
    unsigned bits = diff(P2 "message R { optional int32 a = 1; optional string s = 2; }",
                         P2 "message R { optional int64 a = 1; optional bytes text = 2;"
                            " optional double speed = 3; } message Extra { optional int32 x = 1; }",
                         lines, sizeof(lines));
    ck_assert_msg(bits == 0, "%s", lines);
}
END_TEST

START_TEST(test_field_reused_incompatible_type)
{
    char lines[4096];
    /* same number, same wire type (64-bit), another meaning */
    unsigned bits = diff(P2 "message R { optional double v = 1; }",
                         P2 "message R { optional fixed64 v = 1; }", lines, sizeof(lines));
    ck_assert_uint_eq(bits, BOTH);
    ck_assert_msg(strstr(lines, "field_type_changed: R field 1 reused with an incompatible type: "
                                "double v -> fixed64 v"),
                  "%s", lines);
    /* varint, but zigzag vs plain */
    bits = diff(P2 "message R { optional int32 v = 1; }", P2 "message R { optional sint32 v = 1; }",
                lines, sizeof(lines));
    ck_assert_uint_eq(bits, BOTH);
    ck_assert_ptr_nonnull(strstr(lines, "field_type_changed"));
    /* a message field naming another message */
    bits = diff(P2 "message A { optional int32 x = 1; } message B { optional int32 x = 1; }"
                   " message R { optional A m = 1; }",
                P2 "message A { optional int32 x = 1; } message B { optional int32 x = 1; }"
                   " message R { optional B m = 1; }",
                lines, sizeof(lines));
    ck_assert_uint_eq(bits, BOTH);
    ck_assert_ptr_nonnull(strstr(lines, "changed its message type: .t.v1.A -> .t.v1.B"));
}
END_TEST

START_TEST(test_wire_type_changed)
{
    char lines[4096];
    unsigned bits = diff(P2 "message R { optional int64 v = 1; }",
                         P2 "message R { optional string v = 1; }", lines, sizeof(lines));
    ck_assert_uint_eq(bits, BOTH);
    ck_assert_msg(strstr(lines, "field_wire_type_changed: R field 1: int64 v -> string v (wire "
                                "type 0 -> 2)"),
                  "%s", lines);
}
END_TEST

START_TEST(test_removed_field_needs_reserved)
{
    char lines[4096];
    unsigned bits = diff(P2 "message R { optional int32 a = 1; optional int32 b = 2; }",
                         P2 "message R { optional int32 a = 1; }", lines, sizeof(lines));
    ck_assert_uint_eq(bits, BOTH);
    ck_assert_msg(strstr(lines, "field_removed_not_reserved: R.b = 2 was removed without "
                                "`reserved 2`"),
                  "%s", lines);
    bits = diff(P2 "message R { optional int32 a = 1; optional int32 b = 2; }",
                P2 "message R { optional int32 a = 1; reserved 2; reserved \"b\"; }", lines,
                sizeof(lines));
    ck_assert_msg(bits == 0, "%s", lines);
    /* a range covers it too */
    bits = diff(P2 "message R { optional int32 a = 1; optional int32 b = 7; }",
                P2 "message R { optional int32 a = 1; reserved 5 to 9; }", lines, sizeof(lines));
    ck_assert_msg(bits == 0, "%s", lines);
}
END_TEST

START_TEST(test_removed_message)
{
    char lines[4096];
    unsigned bits =
        diff(P2 "message R { optional int32 a = 1; } message S { optional int32 b = 1; }",
             P2 "message R { optional int32 a = 1; }", lines, sizeof(lines));
    ck_assert_uint_eq(bits, COMPAT_BREAKS_BACKWARD);
    ck_assert_msg(strstr(lines, "message_removed: S is gone"), "%s", lines);
}
END_TEST

START_TEST(test_changed_package)
{
    char lines[4096];
    unsigned bits = diff(P2 "message R { optional int32 a = 1; }",
                         "syntax = \"proto2\"; package t.v2; message R { optional int32 a = 1; }",
                         lines, sizeof(lines));
    ck_assert_uint_eq(bits, BOTH);
    ck_assert_msg(strstr(lines, "package_changed: \"t.v1\" -> \"t.v2\""), "%s", lines);
}
END_TEST

START_TEST(test_required_and_labels_and_enums)
{
    char lines[4096];
    ck_assert_uint_eq(diff(P2 "message R { optional int32 a = 1; }",
                           P2 "message R { optional int32 a = 1; required int32 b = 2; }", lines,
                           sizeof(lines)),
                      COMPAT_BREAKS_BACKWARD);
    ck_assert_ptr_nonnull(strstr(lines, "required_field_added"));
    ck_assert_uint_eq(diff(P2 "message R { required int32 a = 1; }",
                           P2 "message R { optional int32 a = 1; }", lines, sizeof(lines)),
                      COMPAT_BREAKS_FORWARD);
    ck_assert_ptr_nonnull(strstr(lines, "required_field_removed"));
    ck_assert_uint_eq(diff(P2 "message R { optional int32 a = 1; }",
                           P2 "message R { repeated int32 a = 1; }", lines, sizeof(lines)),
                      BOTH);
    ck_assert_ptr_nonnull(strstr(lines, "field_label_changed: R field 1: singular -> repeated"));
    ck_assert_uint_eq(diff(P2 "enum E { A = 0; B = 1; } message R { optional E e = 1; }",
                           P2 "enum E { A = 0; } message R { optional E e = 1; }", lines,
                           sizeof(lines)),
                      COMPAT_BREAKS_BACKWARD);
    ck_assert_ptr_nonnull(strstr(lines, "enum_value_removed: E.B = 1"));
    ck_assert_uint_eq(diff(P2 "enum E { A = 0; } message R { optional E e = 1; }",
                           P2 "enum E { A = 0; C = 2; } message R { optional E e = 1; }", lines,
                           sizeof(lines)),
                      COMPAT_BREAKS_FORWARD);
    ck_assert_ptr_nonnull(strstr(lines, "enum_value_added: E.C = 2"));
}
END_TEST

/* Versions newest first, as the store hands them. */
static bool check(enum compat_level level, const char *neu, const char *const *olds, size_t n)
{
    struct fds w = compile(neu);
    struct fds *o = calloc(n, sizeof(*o));
    struct compat_version *v = calloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        o[i] = compile(olds[i]);
        v[i] = (struct compat_version){o[i].data, o[i].len, (int)(n - i)};
    }
    struct buf msgs;
    buf_init(&msgs, 1 << 16);
    bool ok = compat_check(level, w.data, w.len, v, n, &msgs);
    ck_assert_msg(ok == (msgs.len == 0), "messages only when refused: %s", msgs.data);
    buf_release(&msgs);
    for (size_t i = 0; i < n; i++)
        free(o[i].data);
    free(o);
    free(v);
    free(w.data);
    return ok;
}

START_TEST(test_levels)
{
    const char *v1 = P2 "message R { optional int32 a = 1; } message S { optional int32 s = 1; }";
    /* drops S: breaks backward only */
    const char *no_s = P2 "message R { optional int32 a = 1; }";
    /* makes a required field optional: breaks forward only */
    const char *req = P2 "message R { required int32 a = 1; }";
    const char *opt = P2 "message R { optional int32 a = 1; }";
    ck_assert(!check(COMPAT_BACKWARD, no_s, &v1, 1));
    ck_assert(check(COMPAT_FORWARD, no_s, &v1, 1));
    ck_assert(!check(COMPAT_FULL, no_s, &v1, 1));
    ck_assert(check(COMPAT_NONE, no_s, &v1, 1));
    ck_assert(check(COMPAT_BACKWARD, opt, &req, 1));
    ck_assert(!check(COMPAT_FORWARD, opt, &req, 1));
    ck_assert(!check(COMPAT_FULL, opt, &req, 1));
    ck_assert(check(COMPAT_NONE, opt, &req, 1));
    /* nothing to compare with: always compatible */
    ck_assert(check(COMPAT_FULL_TRANSITIVE, opt, NULL, 0));
}
END_TEST

START_TEST(test_transitive_levels)
{
    /* v1: field 5 int32; v2 retires it (reserved); v3 reuses 5 as a string. v3 is fine next to
     * v2 (5 is simply new there) but not next to v1. */
    const char *v1 = P2 "message R { optional int32 a = 1; optional int32 x = 5; }";
    const char *v2 = P2 "message R { optional int32 a = 1; reserved 5; }";
    const char *v3 = P2 "message R { optional int32 a = 1; optional string x = 5; }";
    const char *olds[] = {v2, v1}; /* newest first */
    ck_assert(check(COMPAT_BACKWARD, v3, olds, 2));
    ck_assert(!check(COMPAT_BACKWARD_TRANSITIVE, v3, olds, 2));
    ck_assert(check(COMPAT_FORWARD, v3, olds, 2));
    ck_assert(!check(COMPAT_FORWARD_TRANSITIVE, v3, olds, 2));
    ck_assert(check(COMPAT_FULL, v3, olds, 2));
    ck_assert(!check(COMPAT_FULL_TRANSITIVE, v3, olds, 2));
    ck_assert(check(COMPAT_NONE, v3, olds, 2));
}
END_TEST

START_TEST(test_level_names)
{
    enum compat_level l;
    ck_assert(compat_level_parse("FULL_TRANSITIVE", &l));
    ck_assert_int_eq(l, COMPAT_FULL_TRANSITIVE);
    ck_assert(compat_level_parse("backward", &l));
    ck_assert_int_eq(l, COMPAT_BACKWARD);
    ck_assert_str_eq(compat_level_name(COMPAT_FORWARD_TRANSITIVE), "FORWARD_TRANSITIVE");
    ck_assert(!compat_level_parse("SIDEWAYS", &l));
}
END_TEST

START_TEST(test_compile_references_and_errors)
{
    char errstr[COMPILE_ERR_MAX + 64];
    uint8_t *fds = NULL;
    size_t len = 0;
    const struct compile_file refs[] = {
        {"common/units.proto",
         "syntax = \"proto3\"; package common; message Unit { string n = 1; }"}};
    ck_assert_int_eq(
        compile_proto(&opts,
                      "syntax = \"proto3\"; package app; import \"common/units.proto\";"
                      " import \"google/protobuf/timestamp.proto\";"
                      " message M { common.Unit u = 1; google.protobuf.Timestamp t = 2; }",
                      refs, 1, &fds, &len, errstr, sizeof(errstr)),
        TP_OK);
    struct fdset *fs;
    ck_assert_int_eq(fdset_new(fds, len, &fs, errstr, sizeof(errstr)), TP_OK);
    ck_assert_uint_eq(fs->set->n_file, 3); /* imports first, the schema last */
    ck_assert_str_eq(fs->main->name, COMPILE_MAIN_FILE);
    ck_assert_ptr_nonnull(fdset_message(fs, ".common.Unit"));
    ck_assert_ptr_nonnull(fdset_message(fs, "app.M"));
    fdset_free(fs);
    free(fds);

    /* protoc's own words, with the line and column */
    ck_assert_int_eq(compile_proto(&opts, "syntax = \"proto3\"; message M { int32 a = 1 }", NULL, 0,
                                   &fds, &len, errstr, sizeof(errstr)),
                     TP_VALIDATION);
    ck_assert_str_eq(errstr, "schema.proto:1:44: Expected \";\".");
    /* an import without its reference */
    ck_assert_int_eq(compile_proto(&opts, "syntax = \"proto3\"; import \"missing.proto\";", NULL, 0,
                                   &fds, &len, errstr, sizeof(errstr)),
                     TP_VALIDATION);
    ck_assert_msg(strstr(errstr, "missing.proto: File not found."), "%s", errstr);
    const struct compile_file bad[] = {{"../escape.proto", "syntax = \"proto3\";"}};
    ck_assert_int_eq(
        compile_proto(&opts, "syntax = \"proto3\";", bad, 1, &fds, &len, errstr, sizeof(errstr)),
        TP_VALIDATION);
    ck_assert_ptr_nonnull(strstr(errstr, "invalid reference name \"../escape.proto\""));
    ck_assert(!compile_name_ok("a//b.proto"));
    ck_assert(!compile_name_ok("/abs.proto"));
    ck_assert(!compile_name_ok("a/./b.proto"));
    ck_assert(compile_name_ok("a/b-c_d.proto"));
}
END_TEST

START_TEST(test_compile_time_limit)
{
    /* a "protoc" that never finishes is killed at the limit */
    char script[] = "/tmp/tp-slow-protoc-XXXXXX";
    int fd = mkstemp(script);
    ck_assert_int_ge(fd, 0);
    const char body[] = "#!/bin/sh\nexec sleep 30\n";
    ck_assert_int_eq(write(fd, body, sizeof(body) - 1), (ssize_t)sizeof(body) - 1);
    close(fd);
    chmod(script, 0700);
    struct compile_options slow = {script, "/tmp", 300};
    char errstr[256];
    uint8_t *fds = NULL;
    size_t len;
    int64_t t0 = tp_mono_ms();
    ck_assert_int_eq(
        compile_proto(&slow, "syntax = \"proto3\";", NULL, 0, &fds, &len, errstr, sizeof(errstr)),
        TP_TIMEOUT);
    ck_assert_int_lt(tp_mono_ms() - t0, 5000);
    ck_assert_str_eq(errstr, "protoc did not finish within 300 ms");
    unlink(script);
}
END_TEST

static Suite *compat_suite(void)
{
    Suite *s = suite_create("compat");
    TCase *tc = tcase_create("rules");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_compatible_additions);
    tcase_add_test(tc, test_field_reused_incompatible_type);
    tcase_add_test(tc, test_wire_type_changed);
    tcase_add_test(tc, test_removed_field_needs_reserved);
    tcase_add_test(tc, test_removed_message);
    tcase_add_test(tc, test_changed_package);
    tcase_add_test(tc, test_required_and_labels_and_enums);
    tcase_add_test(tc, test_levels);
    tcase_add_test(tc, test_transitive_levels);
    tcase_add_test(tc, test_level_names);
    tcase_add_test(tc, test_compile_references_and_errors);
    tcase_add_test(tc, test_compile_time_limit);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(compat_suite)
