/*
 * Run-time descriptors (schema/rtdesc.c) against the code protoc-c
 * generated for schemas/ telemetry: the same layout, tag order and ranges;
 * the same bytes unpack to the same values, compared field by field through
 * both descriptors, and repack byte for byte. A later version keeps the
 * generated layout (templates) and adds its field after it. proto3 (string
 * defaults, oneof, packed, maps, enums) against bytes from `protoc --encode`;
 * proto2 defaults; the strict checks (UTF-8, NUL, enums) and the LRU cache.
 */
#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"
#include "journal/journal.h"
#include "registry/compile.h"
#include "schema/lru.h"
#include "schema/rtdesc.h"
#include "schema/schemas.h"
#include "schema/strict.h"
#include "tests/support/check_main.h"

#define READING_D  twinpipe__telemetry__v1__reading__descriptor
#define BATCH_D    twinpipe__telemetry__v1__reading_batch__descriptor
#define READING_NM "twinpipe.telemetry.v1.Reading"

static const struct compile_options opts = {"protoc", "/tmp", 20000};

static struct rtdesc_set *build(const char *text, bool templates)
{
    uint8_t *fds;
    size_t len;
    char errstr[COMPILE_ERR_MAX + 64];
    ck_assert_msg(compile_proto(&opts, text, NULL, 0, &fds, &len, errstr, sizeof(errstr)) == TP_OK,
                  "%s", errstr);
    const ProtobufCMessageDescriptor *tmpl[] = {&READING_D, &BATCH_D};
    struct rtdesc_set *s;
    ck_assert_msg(rtdesc_set_new(fds, len, templates ? tmpl : NULL, templates ? 2 : 0, &s, errstr,
                                 sizeof(errstr)) == TP_OK,
                  "%s", errstr);
    free(fds);
    return s;
}

/* A Reading with every field set. */
struct full {
    journal_reading r;
    Twinpipe__Telemetry__V1__Reading__Location loc;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry m[3], *mp[3];
};

static void full_init(struct full *f)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    Twinpipe__Telemetry__V1__Reading__Location l = TWINPIPE__TELEMETRY__V1__READING__LOCATION__INIT;
    f->r = r;
    f->loc = l;
    f->r.device_id = "veh-000042";
    f->r.has_sequence = f->r.has_timestamp_ms = 1;
    f->r.sequence = 18446744073709551000ull;
    f->r.timestamp_ms = -1234567890123;
    double *d[] = {&f->r.speed_kmh,
                   &f->r.fuel_level_pct,
                   &f->r.battery_voltage_v,
                   &f->r.engine_temp_c,
                   &f->r.engine_rpm,
                   &f->r.odometer_km,
                   &f->r.tire_pressure_fl_kpa,
                   &f->r.tire_pressure_fr_kpa,
                   &f->r.tire_pressure_rl_kpa,
                   &f->r.tire_pressure_rr_kpa,
                   &f->r.outside_temp_c};
    protobuf_c_boolean *h[] = {&f->r.has_speed_kmh,
                               &f->r.has_fuel_level_pct,
                               &f->r.has_battery_voltage_v,
                               &f->r.has_engine_temp_c,
                               &f->r.has_engine_rpm,
                               &f->r.has_odometer_km,
                               &f->r.has_tire_pressure_fl_kpa,
                               &f->r.has_tire_pressure_fr_kpa,
                               &f->r.has_tire_pressure_rl_kpa,
                               &f->r.has_tire_pressure_rr_kpa,
                               &f->r.has_outside_temp_c};
    for (int i = 0; i < 11; i++) {
        *h[i] = 1;
        *d[i] = i * 1.5 - 3.25;
    }
    f->r.has_outside_temp_c = 0; /* one absent: presence must survive too */
    f->loc.has_lat = f->loc.has_lon = f->loc.has_accuracy_m = 1;
    f->loc.lat = 48.1374;
    f->loc.lon = -11.5755;
    f->loc.accuracy_m = 3;
    f->r.location = &f->loc;
    const char *keys[] = {"cabin_co2_ppm", "z", "ä-unicode"};
    for (int i = 0; i < 3; i++) {
        Twinpipe__Telemetry__V1__Reading__MetricsEntry e =
            TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
        f->m[i] = e;
        f->m[i].key = (char *)keys[i];
        f->m[i].has_value = 1;
        f->m[i].value = 400.5 + i;
        f->mp[i] = &f->m[i];
    }
    f->r.metrics = f->mp;
    f->r.n_metrics = 3;
    f->r.model = "model-x";
    f->r.firmware = "fw-1.2.3";
    f->r.region = "";
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = tp_malloc(*len + 1);
    ck_assert_uint_eq(protobuf_c_message_pack(m, b), *len);
    return b;
}

/* Every field of a (generated) equals its namesake in b (runtime), recursively. */
static void same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    const ProtobufCMessageDescriptor *da = a->descriptor, *db = b->descriptor;
    ck_assert_str_eq(da->name, db->name);
    for (unsigned i = 0; i < da->n_fields; i++) {
        const ProtobufCFieldDescriptor *fa = &da->fields[i];
        const ProtobufCFieldDescriptor *fb = protobuf_c_message_descriptor_get_field(db, fa->id);
        ck_assert_ptr_nonnull(fb);
        ck_assert_str_eq(fa->name, fb->name);
        ck_assert_int_eq(fa->type, fb->type);
        ck_assert_int_eq(fa->label, fb->label);
        const char *pa = (const char *)a + fa->offset, *pb = (const char *)b + fb->offset;
        size_t n = 1;
        if (fa->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)((const char *)a + fa->quantifier_offset);
            ck_assert_uint_eq(n, *(const size_t *)((const char *)b + fb->quantifier_offset));
            pa = *(const char *const *)pa;
            pb = *(const char *const *)pb;
        } else if (fa->label == PROTOBUF_C_LABEL_OPTIONAL && fa->type != PROTOBUF_C_TYPE_STRING &&
                   fa->type != PROTOBUF_C_TYPE_MESSAGE) {
            protobuf_c_boolean ha =
                *(const protobuf_c_boolean *)((const char *)a + fa->quantifier_offset);
            ck_assert_int_eq(
                ha, *(const protobuf_c_boolean *)((const char *)b + fb->quantifier_offset));
            if (!ha)
                continue;
        }
        for (size_t k = 0; k < n; k++) {
            switch (fa->type) {
            case PROTOBUF_C_TYPE_DOUBLE:
                ck_assert_mem_eq(pa + k * 8, pb + k * 8, 8);
                break;
            case PROTOBUF_C_TYPE_INT64:
            case PROTOBUF_C_TYPE_UINT64:
                ck_assert_mem_eq(pa + k * 8, pb + k * 8, 8);
                break;
            case PROTOBUF_C_TYPE_STRING: {
                const char *sa = ((const char *const *)pa)[k], *sb = ((const char *const *)pb)[k];
                ck_assert_int_eq(sa == NULL, sb == NULL);
                if (sa)
                    ck_assert_str_eq(sa, sb);
                break;
            }
            case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *ma = ((const ProtobufCMessage *const *)pa)[k];
                const ProtobufCMessage *mb = ((const ProtobufCMessage *const *)pb)[k];
                ck_assert_int_eq(ma == NULL, mb == NULL);
                if (ma)
                    same_message(ma, mb);
                break;
            }
            default:
                ck_abort_msg("telemetry has no field of type %d", fa->type);
            }
        }
    }
}

START_TEST(test_same_as_generated)
{
    struct rtdesc_set *s = build(schemas_builtin_proto, false);
    const ProtobufCMessageDescriptor *d = rtdesc_message_at(s, (int32_t[]){0}, 1);
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d->name, READING_NM);
    ck_assert_ptr_eq(rtdesc_message_at(s, (int32_t[]){1}, 1),
                     rtdesc_message(s, ".twinpipe.telemetry.v1.ReadingBatch"));
    ck_assert_ptr_eq(rtdesc_message_at(s, (int32_t[]){0, 1}, 2),
                     rtdesc_message(s, "twinpipe.telemetry.v1.Reading.Location"));
    ck_assert_ptr_null(rtdesc_message_at(s, (int32_t[]){2}, 1));
    /* what protoc-c computed, computed again: tag order, ranges, names, and even the layout
     * (declaration order, natural alignment) without a template */
    ck_assert_uint_eq(d->n_fields, READING_D.n_fields);
    ck_assert_uint_eq(d->sizeof_message, READING_D.sizeof_message);
    for (unsigned i = 0; i < d->n_fields; i++) {
        ck_assert_uint_eq(d->fields[i].id, READING_D.fields[i].id);
        ck_assert_str_eq(d->fields[i].name, READING_D.fields[i].name);
        ck_assert_uint_eq(d->fields[i].offset, READING_D.fields[i].offset);
        ck_assert_uint_eq(d->fields[i].quantifier_offset, READING_D.fields[i].quantifier_offset);
        ck_assert_uint_eq(d->fields[i].flags, READING_D.fields[i].flags);
        ck_assert_uint_eq(d->fields_sorted_by_name[i], READING_D.fields_sorted_by_name[i]);
    }
    ck_assert_uint_eq(d->n_field_ranges, READING_D.n_field_ranges);
    for (unsigned i = 0; i <= d->n_field_ranges; i++) { /* the closing entry too */
        ck_assert_int_eq(d->field_ranges[i].start_value, READING_D.field_ranges[i].start_value);
        ck_assert_uint_eq(d->field_ranges[i].orig_index, READING_D.field_ranges[i].orig_index);
    }

    struct full f;
    full_init(&f);
    size_t len;
    uint8_t *bytes = pack(&f.r.base, &len);
    journal_reading *gen = twinpipe__telemetry__v1__reading__unpack(NULL, len, bytes);
    ProtobufCMessage *rt = protobuf_c_message_unpack(d, NULL, len, bytes);
    ck_assert_ptr_nonnull(gen);
    ck_assert_ptr_nonnull(rt);
    ck_assert_ptr_eq(rt->descriptor, d);
    same_message(&gen->base, rt);
    size_t len2;
    uint8_t *again = pack(rt, &len2); /* byte-identical repack */
    ck_assert_uint_eq(len2, len);
    ck_assert_mem_eq(again, bytes, len);
    char errstr[256];
    const char *code;
    ck_assert_int_eq(strict_check(d, bytes, len, &code, errstr, sizeof(errstr)), TP_OK);
    free(again);
    protobuf_c_message_free_unpacked(rt, NULL);
    twinpipe__telemetry__v1__reading__free_unpacked(gen, NULL);
    free(bytes);
    rtdesc_set_free(s);
}
END_TEST

/* schemas/ telemetry plus a numeric field, and one removed (reserved). */
static char *v2_text(void)
{
    const char *src = schemas_builtin_proto;
    const char *at = strstr(src, "  optional double outside_temp_c = 20;\n");
    ck_assert_ptr_nonnull(at);
    const char *end = strstr(at, "\n") + 1;
    const char *add = "  reserved 20;\n  optional double tire_wear_pct = 21;\n";
    char *out = tp_malloc(strlen(src) + strlen(add) + 1);
    sprintf(out, "%.*s%s%s", (int)(at - src), src, add, end);
    return out;
}

START_TEST(test_template_keeps_generated_layout)
{
    char *v2 = v2_text();
    struct rtdesc_set *s = build(v2, true);
    const ProtobufCMessageDescriptor *d = rtdesc_message_at(s, (int32_t[]){0}, 1);
    const ProtobufCFieldDescriptor *wear =
        protobuf_c_message_descriptor_get_field_by_name(d, "tire_wear_pct");
    ck_assert_ptr_nonnull(wear);
    ck_assert_uint_ge(wear->quantifier_offset, READING_D.sizeof_message); /* after the struct */
    ck_assert_ptr_null(protobuf_c_message_descriptor_get_field(d, 20));

    /* a v2 reading, built through the runtime descriptor */
    ProtobufCMessage *m = tp_calloc(1, d->sizeof_message);
    rtdesc_message_init(d, m);
    journal_reading *r = (journal_reading *)m; /* the generated view of the same memory */
    r->device_id = "veh-2";
    r->has_sequence = 1;
    r->sequence = 7;
    r->has_speed_kmh = 1;
    r->speed_kmh = 88.5;
    *(protobuf_c_boolean *)((char *)m + wear->quantifier_offset) = 1;
    *(double *)((char *)m + wear->offset) = 12.25;
    size_t len;
    uint8_t *bytes = pack(m, &len);
    free(m);

    ProtobufCMessage *back = protobuf_c_message_unpack(d, NULL, len, bytes);
    ck_assert_ptr_nonnull(back);
    const journal_reading *view = (const journal_reading *)back;
    ck_assert_str_eq(view->device_id, "veh-2");
    ck_assert(view->has_sequence && view->sequence == 7);
    ck_assert(view->has_speed_kmh && view->speed_kmh == 88.5);
    ck_assert(!view->has_outside_temp_c); /* not in v2: reads as absent */
    ck_assert_ptr_null(view->location);
    ck_assert(*(protobuf_c_boolean *)((char *)back + wear->quantifier_offset));
    ck_assert_double_eq(*(double *)((char *)back + wear->offset), 12.25);
    /* generated v1 code skips the new field but keeps its bytes */
    journal_reading *v1 = twinpipe__telemetry__v1__reading__unpack(NULL, len, bytes);
    ck_assert_uint_eq(v1->base.n_unknown_fields, 1);
    ck_assert_double_eq(v1->speed_kmh, 88.5);
    twinpipe__telemetry__v1__reading__free_unpacked(v1, NULL);
    protobuf_c_message_free_unpacked(back, NULL);

    /* a batch of v2 readings through the template too */
    const ProtobufCMessageDescriptor *bd = rtdesc_message_at(s, (int32_t[]){1}, 1);
    uint8_t *batch = tp_malloc(len + 8);
    batch[0] = 0x0a;
    batch[1] = (uint8_t)len;
    memcpy(batch + 2, bytes, len);
    ProtobufCMessage *bm = protobuf_c_message_unpack(bd, NULL, len + 2, batch);
    const Twinpipe__Telemetry__V1__ReadingBatch *bv =
        (const Twinpipe__Telemetry__V1__ReadingBatch *)bm;
    ck_assert_uint_eq(bv->n_readings, 1);
    ck_assert_str_eq(bv->readings[0]->device_id, "veh-2");
    ck_assert_ptr_eq(bv->readings[0]->base.descriptor, d);
    protobuf_c_message_free_unpacked(bm, NULL);
    free(batch);
    free(bytes);
    rtdesc_set_free(s);
    free(v2);
}
END_TEST

#define P3                                                                                         \
    "syntax = \"proto3\";\npackage p3;\nenum Color { RED = 0; GREEN = 1; BLUE = 5; }\n"            \
    "message Inner { int64 n = 1; }\n"                                                             \
    "message M {\n  string name = 1;\n  repeated int32 nums = 2;\n  Color color = 3;\n"            \
    "  oneof pick { string word = 4; Inner inner = 5; double num = 6; }\n"                         \
    "  map<string, Inner> kids = 7;\n  bytes blob = 8;\n  optional int32 maybe = 9;\n"             \
    "  repeated Color colors = 10;\n  sint64 z = 11;\n}\n"

/* protoc --encode: bytes from an independent encoder. */
static uint8_t *protoc_encode(const char *proto, const char *type, const char *textfmt, size_t *len)
{
    char dir[] = "/tmp/tp-encode-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], cmd[1024];
    snprintf(path, sizeof(path), "%s/m.proto", dir);
    FILE *f = fopen(path, "w");
    fputs(proto, f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/in.txt", dir);
    f = fopen(path, "w");
    fputs(textfmt, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "protoc -I%s --encode=%s m.proto < %s/in.txt > %s/out.bin", dir,
             type, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/out.bin", dir);
    f = fopen(path, "rb");
    uint8_t *b = tp_malloc(65536);
    *len = fread(b, 1, 65536, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    return b;
}

static const void *field_at(const ProtobufCMessage *m, const char *name,
                            const ProtobufCFieldDescriptor **fd)
{
    *fd = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    ck_assert_msg(*fd != NULL, "no field %s", name);
    return (const char *)m + (*fd)->offset;
}

START_TEST(test_proto3_against_protoc)
{
    struct rtdesc_set *s = build(P3, false);
    const ProtobufCMessageDescriptor *d = rtdesc_message(s, "p3.M");
    const ProtobufCFieldDescriptor *fd;
    /* proto3 defaults: "" strings, no has_ except for `optional` */
    ProtobufCMessage *empty = protobuf_c_message_unpack(d, NULL, 0, (const uint8_t *)"");
    ck_assert_str_eq(*(char *const *)field_at(empty, "name", &fd), "");
    ck_assert_int_eq(fd->label, PROTOBUF_C_LABEL_NONE);
    field_at(empty, "maybe", &fd);
    ck_assert_int_eq(fd->label, PROTOBUF_C_LABEL_OPTIONAL);
    ck_assert(fd->flags & 0 ? 0 : !(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF));
    protobuf_c_message_free_unpacked(empty, NULL);

    size_t len;
    uint8_t *bytes = protoc_encode(P3, "p3.M",
                                   "name: \"n\" nums: [1, -2, 300] color: BLUE inner { n: -5 }"
                                   " kids { key: \"a\" value { n: 1 } } kids { key: \"b\" value {"
                                   " n: 2 } } blob: \"\\000\\001\" maybe: 0 colors: [GREEN, BLUE]"
                                   " z: -9",
                                   &len);
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, bytes);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(*(char *const *)field_at(m, "name", &fd), "n");
    const int32_t *nums = *(int32_t *const *)field_at(m, "nums", &fd);
    ck_assert(fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED);
    ck_assert_uint_eq(*(const size_t *)((const char *)m + fd->quantifier_offset), 3);
    ck_assert_int_eq(nums[1], -2);
    ck_assert_int_eq(nums[2], 300);
    ck_assert_int_eq(*(const int *)field_at(m, "color", &fd), 5);
    const ProtobufCMessage *inner = *(ProtobufCMessage *const *)field_at(m, "inner", &fd);
    ck_assert_uint_eq(*(const uint32_t *)((const char *)m + fd->quantifier_offset), 5); /* case */
    ck_assert_int_eq(*(const int64_t *)field_at(inner, "n", &fd), -5);
    field_at(m, "kids", &fd);
    ck_assert_uint_eq(*(const size_t *)((const char *)m + fd->quantifier_offset), 2);
    const ProtobufCBinaryData *blob = field_at(m, "blob", &fd);
    ck_assert_uint_eq(blob->len, 2);
    ck_assert_int_eq(blob->data[1], 1);
    ck_assert_int_eq(*(const int32_t *)field_at(m, "maybe", &fd), 0);
    ck_assert(*(const protobuf_c_boolean *)((const char *)m + fd->quantifier_offset)); /* set */
    ck_assert_int_eq(*(const int64_t *)field_at(m, "z", &fd), -9);
    size_t len2;
    uint8_t *again = pack(m, &len2); /* packed like protoc packs */
    ck_assert_uint_eq(len2, len);
    ck_assert_mem_eq(again, bytes, len);
    char errstr[256];
    const char *code;
    ck_assert_int_eq(strict_check(d, bytes, len, &code, errstr, sizeof(errstr)), TP_OK);
    free(again);
    protobuf_c_message_free_unpacked(m, NULL);
    free(bytes);

    /* an undefined enum value: unpack takes it, the strict check does not */
    bytes = protoc_encode(P3, "p3.M", "color: 3", &len);
    m = protobuf_c_message_unpack(d, NULL, len, bytes);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(*(const int *)field_at(m, "color", &fd), 3);
    ck_assert_int_eq(strict_check(d, bytes, len, &code, errstr, sizeof(errstr)), TP_VALIDATION);
    ck_assert_str_eq(code, "undefined_enum");
    ck_assert_str_eq(errstr,
                     "field \"p3.M.color\" carries 3, which enum \"p3.Color\" does not define");
    protobuf_c_message_free_unpacked(m, NULL);
    free(bytes);
    bytes = protoc_encode(P3, "p3.M", "colors: [GREEN, 4]", &len); /* packed */
    ck_assert_int_eq(strict_check(d, bytes, len, &code, errstr, sizeof(errstr)), TP_VALIDATION);
    ck_assert_str_eq(code, "undefined_enum");
    free(bytes);
    rtdesc_set_free(s);
}
END_TEST

START_TEST(test_proto2_defaults)
{
    struct rtdesc_set *s = build("syntax = \"proto2\"; package p2; enum E { FIVE = 5; SIX = 6; }"
                                 " message D { optional int32 x = 1 [default = -7];"
                                 " optional string s = 2 [default = \"hi\"]; optional E e = 3;"
                                 " optional double f = 4 [default = 2.5]; optional bool b = 5 "
                                 "[default = true]; optional E e2 = 6 [default = SIX];"
                                 " optional bytes y = 7 [default = \"a\\001\"]; }",
                                 false);
    const ProtobufCMessageDescriptor *d = rtdesc_message(s, "p2.D");
    const ProtobufCFieldDescriptor *fd;
    for (int round = 0; round < 2; round++) {
        ProtobufCMessage *m;
        if (round == 0) {
            m = protobuf_c_message_unpack(d, NULL, 0, (const uint8_t *)"");
        } else {
            m = tp_calloc(1, d->sizeof_message);
            rtdesc_message_init(d, m); /* by hand: the same defaults */
        }
        ck_assert_int_eq(*(const int32_t *)field_at(m, "x", &fd), -7);
        ck_assert(!*(const protobuf_c_boolean *)((const char *)m + fd->quantifier_offset));
        ck_assert_str_eq(*(char *const *)field_at(m, "s", &fd), "hi");
        ck_assert_int_eq(*(const int *)field_at(m, "e", &fd), 5); /* the first value */
        ck_assert_double_eq(*(const double *)field_at(m, "f", &fd), 2.5);
        ck_assert(*(const protobuf_c_boolean *)field_at(m, "b", &fd));
        ck_assert_int_eq(*(const int *)field_at(m, "e2", &fd), 6);
        const ProtobufCBinaryData *y = field_at(m, "y", &fd);
        ck_assert_uint_eq(y->len, 2);
        ck_assert_int_eq(y->data[1], 1);
        if (round == 0)
            protobuf_c_message_free_unpacked(m, NULL);
        else
            free(m);
    }
    rtdesc_set_free(s);
}
END_TEST

static size_t bad_index[8], n_bad;
static char bad_code[8][32];

static void on_bad(void *arg, size_t index, const char *code, const char *msg)
{
    (void)arg;
    (void)msg;
    bad_index[n_bad] = index;
    snprintf(bad_code[n_bad++], 32, "%s", code);
}

START_TEST(test_strict_strings)
{
    struct full f;
    full_init(&f);
    char errstr[256];
    const char *code;
    size_t len;
    f.r.model = "caf\xc3";
    uint8_t *bytes = pack(&f.r.base, &len);
    ck_assert_int_eq(strict_check(&READING_D, bytes, len, &code, errstr, sizeof(errstr)),
                     TP_VALIDATION);
    ck_assert_str_eq(code, "invalid_utf8");
    ck_assert_str_eq(errstr, "field \"twinpipe.telemetry.v1.Reading.model\" is not valid UTF-8");
    free(bytes);
    /* an embedded NUL: unpack cuts the string silently */
    f.r.model = "ok";
    bytes = pack(&f.r.base, &len);
    uint8_t *at = NULL;
    for (size_t i = 0; i + 1 < len && !at; i++)
        if (bytes[i] == 'o' && bytes[i + 1] == 'k')
            at = &bytes[i];
    ck_assert_ptr_nonnull(at);
    at[1] = 0;
    journal_reading *cut = twinpipe__telemetry__v1__reading__unpack(NULL, len, bytes);
    ck_assert_str_eq(cut->model, "o");
    twinpipe__telemetry__v1__reading__free_unpacked(cut, NULL);
    ck_assert_int_eq(strict_check(&READING_D, bytes, len, &code, errstr, sizeof(errstr)),
                     TP_VALIDATION);
    ck_assert_str_eq(code, "embedded_nul");
    free(bytes);
    /* in a nested message (a metrics map key) */
    f.r.model = "ok";
    f.m[1].key = "bad\xff";
    bytes = pack(&f.r.base, &len);
    ck_assert_int_eq(strict_check(&READING_D, bytes, len, &code, errstr, sizeof(errstr)),
                     TP_VALIDATION);
    ck_assert_str_eq(errstr,
                     "field \"twinpipe.telemetry.v1.Reading.MetricsEntry.key\" is not valid UTF-8");
    free(bytes);

    /* a batch: each reading judged alone */
    struct full g;
    full_init(&g);
    journal_reading *rs[3] = {&g.r, &f.r, &g.r};
    Twinpipe__Telemetry__V1__ReadingBatch b = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    b.readings = rs;
    b.n_readings = 3;
    bytes = pack(&b.base, &len);
    n_bad = 0;
    ck_assert_int_eq(
        strict_check_elements(&BATCH_D, 1, bytes, len, on_bad, NULL, &code, errstr, sizeof(errstr)),
        TP_OK);
    ck_assert_uint_eq(n_bad, 1);
    ck_assert_uint_eq(bad_index[0], 1);
    ck_assert_str_eq(bad_code[0], "invalid_utf8");
    free(bytes);
}
END_TEST

static int freed;

static void count_free(void *p)
{
    freed++;
    free(p);
}

START_TEST(test_lru)
{
    struct lru *c = lru_new(2, count_free);
    struct lru_ref *r1, *r2, *r3, *r;
    int *v = tp_malloc(sizeof(int));
    *v = 1;
    ck_assert_ptr_eq(lru_insert(c, 1, v, &r1), v);
    ck_assert_ptr_nonnull(lru_insert(c, 2, tp_calloc(1, 4), &r2));
    lru_release(c, r2);
    ck_assert_ptr_eq(lru_get(c, 1, &r), v); /* 1 is now the most recent */
    lru_release(c, r);
    lru_insert(c, 3, tp_calloc(1, 4), &r3); /* evicts 2, the least recent */
    lru_release(c, r3);
    ck_assert_int_eq(freed, 1);
    ck_assert_ptr_null(lru_get(c, 2, &r));
    lru_insert(c, 4, tp_calloc(1, 4), &r); /* evicts 1, still pinned by r1: not freed yet */
    lru_release(c, r);
    ck_assert_int_eq(freed, 1);
    ck_assert_int_eq(*v, 1);
    lru_release(c, r1); /* the last user frees it */
    ck_assert_int_eq(freed, 2);
    /* a second insert of a present key keeps the first value */
    int *dup = tp_calloc(1, 4);
    ck_assert_ptr_ne(lru_insert(c, 4, dup, &r), dup);
    lru_release(c, r);
    ck_assert_int_eq(freed, 3);
    struct lru_stats st;
    lru_stats_get(c, &st);
    ck_assert_uint_eq(st.size, 2);
    ck_assert_uint_eq(st.capacity, 2);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.misses, 1);
    ck_assert_uint_eq(st.evictions, 2);
    lru_free(c);
    ck_assert_int_eq(freed, 5);
}
END_TEST

/* protoc --descriptor_set_out, bypassing compile_proto's own refusal. */
static uint8_t *protoc_fds(const char *proto, size_t *len)
{
    char dir[] = "/tmp/tp-fds-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], cmd[1024];
    snprintf(path, sizeof(path), "%s/m.proto", dir);
    FILE *f = fopen(path, "w");
    fputs(proto, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "protoc -I%s --include_imports --descriptor_set_out=%s/out.pb m.proto", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/out.pb", dir);
    f = fopen(path, "rb");
    uint8_t *b = tp_malloc(1 << 20);
    *len = fread(b, 1, 1 << 20, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    return b;
}

/* A chain of n messages, M1 holding an M2 ... (depth n). */
static char *chain_proto(int n)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_append_str(&b, "syntax = \"proto3\";\npackage deep;\n");
    for (int i = 1; i <= n; i++) {
        if (i < n)
            buf_printf(&b, "message M%d { M%d next = 1; }\n", i, i + 1);
        else
            buf_printf(&b, "message M%d { int32 v = 1; }\n", i);
    }
    size_t len;
    return buf_steal(&b, &len);
}

/* Refused both by compile_proto (the registry's 42201) and by rtdesc_set_new (every consumer),
 * with the reason; on main both accepted them and unpack recursed once per nesting level. */
static void refused(const char *proto, const char *why)
{
    uint8_t *fds = NULL;
    size_t len = 0;
    char errstr[COMPILE_ERR_MAX + 64];
    ck_assert_int_eq(compile_proto(&opts, proto, NULL, 0, &fds, &len, errstr, sizeof(errstr)),
                     TP_VALIDATION);
    ck_assert_msg(strstr(errstr, why), "%s", errstr);
    ck_assert_ptr_null(fds);
    fds = protoc_fds(proto, &len);
    ck_assert_int_eq(rtdesc_nesting_check(fds, len, errstr, sizeof(errstr)), TP_VALIDATION);
    ck_assert_msg(strstr(errstr, why), "%s", errstr);
    struct rtdesc_set *s = NULL;
    ck_assert_int_eq(rtdesc_set_new(fds, len, NULL, 0, &s, errstr, sizeof(errstr)), TP_DECODE);
    ck_assert_msg(strstr(errstr, why), "%s", errstr);
    ck_assert_ptr_null(s);
    free(fds);
}

START_TEST(test_recursive_refused)
{
    /* the review's attack: a version of Reading that may hold a Reading */
    refused("syntax = \"proto3\";\npackage twinpipe.telemetry.v1;\n"
            "message Reading { string device_id = 1; optional Reading parent = 100; }\n",
            "message \"twinpipe.telemetry.v1.Reading\" is recursive: field "
            "\"twinpipe.telemetry.v1.Reading.parent\" leads back to "
            "\"twinpipe.telemetry.v1.Reading\"");
    /* through another message, through a map value, repeated */
    refused("syntax = \"proto3\";\npackage r;\nmessage A { B b = 1; }\nmessage B { A a = 1; }\n",
            "is recursive: field \"r.B.a\" leads back to \"r.A\"");
    refused("syntax = \"proto3\";\npackage r;\nmessage N { map<string, N> kids = 1; }\n",
            "is recursive: field \"r.N.KidsEntry.value\" leads back to \"r.N\"");
    refused("syntax = \"proto2\";\npackage r;\nmessage T { repeated T t = 1; }\n",
            "message \"r.T\" is recursive");
    /* the well-known recursive types too (google.protobuf.Struct/Value) */
    refused("syntax = \"proto3\";\npackage r;\nimport \"google/protobuf/struct.proto\";\n"
            "message W { google.protobuf.Struct s = 1; }\n",
            "is recursive");
}
END_TEST

START_TEST(test_nesting_depth_bound)
{
    char *ok = chain_proto(RTDESC_MAX_DEPTH), *deep = chain_proto(RTDESC_MAX_DEPTH + 1);
    struct rtdesc_set *s = build(ok, false);
    ck_assert_ptr_nonnull(rtdesc_message(s, "deep.M1"));
    rtdesc_set_free(s);
    refused(deep, "messages nest deeper than 32 levels");
    free(ok);
    free(deep);
    /* the built-in schema passes */
    s = build(schemas_builtin_proto, true);
    ck_assert_ptr_nonnull(rtdesc_message(s, READING_NM));
    rtdesc_set_free(s);
}
END_TEST

/* A recursive message made by hand (the registry and rtdesc refuse to build one): message R
 * { R parent = 1; }. The pre-scan must bound its depth without recursing itself. */
struct rec {
    ProtobufCMessage base;
    ProtobufCMessage *parent;
};
static const ProtobufCMessageDescriptor rec_d;
static const ProtobufCFieldDescriptor rec_fields[] = {
    {"parent", 1, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_MESSAGE, 0,
     offsetof(struct rec, parent), &rec_d, NULL, 0, 0, NULL, NULL},
};
static const unsigned rec_by_name[] = {0};
static const ProtobufCIntRange rec_ranges[] = {{1, 0}, {0, 1}};
static const ProtobufCMessageDescriptor rec_d = {PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
                                                 "t.R",
                                                 "R",
                                                 "t__R",
                                                 "t",
                                                 sizeof(struct rec),
                                                 1,
                                                 rec_fields,
                                                 rec_by_name,
                                                 1,
                                                 rec_ranges,
                                                 NULL,
                                                 NULL,
                                                 NULL,
                                                 NULL};

/* levels R messages, each the parent of the one inside it; *len bytes, from the heap */
static uint8_t *nested(size_t levels, size_t *len)
{
    size_t cap = levels * 6 + 16, at = cap, inner = 0;
    uint8_t *b = tp_malloc(cap);
    for (size_t i = 1; i < levels; i++) {
        uint8_t v[10];
        size_t n = 0;
        for (size_t x = inner;; x >>= 7) {
            v[n++] = (uint8_t)((x & 0x7f) | (x >= 0x80 ? 0x80 : 0));
            if (x < 0x80)
                break;
        }
        at -= n;
        memcpy(b + at, v, n);
        b[--at] = 0x0a;
        inner = cap - at;
    }
    memmove(b, b + at, cap - at);
    *len = cap - at;
    return b;
}

START_TEST(test_prescan_depth)
{
    struct strict_scan sc;
    const char *code = NULL;
    char msg[256];
    size_t len;
    uint8_t *b = nested(20000, &len); /* the review's 20,000 levels (~100 KB) */
    ck_assert_int_eq(strict_prescan(&rec_d, 0, b, len, 32, &sc, &code, msg, sizeof(msg)),
                     TP_VALIDATION);
    ck_assert_str_eq(code, "too_deep");
    ck_assert_str_eq(msg, "messages nested deeper than 32 levels (at field \"t.R.parent\")");
    free(b);
    b = nested(32, &len);
    ck_assert_int_eq(strict_prescan(&rec_d, 0, b, len, 32, &sc, &code, msg, sizeof(msg)), TP_OK);
    ck_assert_uint_eq(sc.units, 1);
    ck_assert_uint_eq(sc.largest, len);
    ProtobufCMessage *m = protobuf_c_message_unpack(&rec_d, NULL, len, b);
    ck_assert_ptr_nonnull(m); /* 32 levels: what the pre-scan lets through unpacks */
    protobuf_c_message_free_unpacked(m, NULL);
    free(b);
    b = nested(33, &len);
    ck_assert_int_eq(strict_prescan(&rec_d, 0, b, len, 32, &sc, &code, msg, sizeof(msg)),
                     TP_VALIDATION);
    ck_assert_str_eq(code, "too_deep");
    /* broken framing: refused, never walked past */
    b[len - 1] = 0x0a;
    ck_assert_int_eq(strict_prescan(&rec_d, 0, b, len, 64, &sc, &code, msg, sizeof(msg)),
                     TP_VALIDATION);
    ck_assert_str_eq(code, "invalid_protobuf");
    free(b);
    /* counting the units of a batch: field 1 of ReadingBatch, the largest and its index */
    const uint8_t batch[] = {0x0a, 0, 0x0a, 3, 0x0a, 1, 'a', 0x0a, 2, 0x10, 0x12, 0x0a, 0};
    ck_assert_int_eq(
        strict_prescan(&BATCH_D, 1, batch, sizeof(batch), 32, &sc, &code, msg, sizeof(msg)), TP_OK);
    ck_assert_uint_eq(sc.units, 4);
    ck_assert_uint_eq(sc.largest, 3);
    ck_assert_uint_eq(sc.largest_index, 1);
}
END_TEST

static Suite *rtdesc_suite(void)
{
    Suite *s = suite_create("rtdesc");
    TCase *tc = tcase_create("rtdesc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_same_as_generated);
    tcase_add_test(tc, test_template_keeps_generated_layout);
    tcase_add_test(tc, test_proto3_against_protoc);
    tcase_add_test(tc, test_proto2_defaults);
    tcase_add_test(tc, test_strict_strings);
    tcase_add_test(tc, test_lru);
    tcase_add_test(tc, test_recursive_refused);
    tcase_add_test(tc, test_nesting_depth_bound);
    tcase_add_test(tc, test_prescan_depth);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(rtdesc_suite)
