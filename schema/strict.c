#include "strict.h"
#include "strict_codes.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"

#define STRICT_DEPTH_MAX 64

struct strict_in {
    const uint8_t *p, *end;
};

static bool strict_varint(struct strict_in *in, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && in->p < in->end; shift += 7) {
        uint8_t b = *in->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* One field: its wire type and, for length-delimited ones, the bytes. */
struct strict_field {
    uint32_t id;
    unsigned wire;
    uint64_t varint;
    const uint8_t *data;
    size_t len;
};

static bool strict_next(struct strict_in *in, struct strict_field *f)
{
    uint64_t tag;
    if (!strict_varint(in, &tag))
        return false;
    f->id = (uint32_t)(tag >> 3);
    f->wire = (unsigned)(tag & 7);
    switch (f->wire) {
    case PROTOBUF_C_WIRE_TYPE_VARINT:
        return strict_varint(in, &f->varint);
    case PROTOBUF_C_WIRE_TYPE_64BIT:
    case PROTOBUF_C_WIRE_TYPE_32BIT: {
        size_t n = f->wire == PROTOBUF_C_WIRE_TYPE_64BIT ? 8 : 4;
        if ((size_t)(in->end - in->p) < n)
            return false;
        in->p += n;
        return true;
    }
    case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
        uint64_t n;
        if (!strict_varint(in, &n) || n > (uint64_t)(in->end - in->p))
            return false;
        f->data = in->p;
        f->len = (size_t)n;
        in->p += n;
        return true;
    }
    default:
        return false; /* groups: unpack refuses them too */
    }
}

static enum tp_err strict_fail(const char **code, const char *c, char *msg, size_t msg_size,
                               const ProtobufCMessageDescriptor *d,
                               const ProtobufCFieldDescriptor *fd, const char *what)
{
    *code = c;
    return tp_err_set(TP_VALIDATION, msg, msg_size, "field \"%s.%s\" %s", d->name, fd->name, what);
}

static enum tp_err strict_enum(const ProtobufCMessageDescriptor *d,
                               const ProtobufCFieldDescriptor *fd, uint64_t v, const char **code,
                               char *msg, size_t msg_size)
{
    if (protobuf_c_enum_descriptor_get_value(fd->descriptor, (int)(int32_t)v))
        return TP_OK;
    char what[96];
    snprintf(what, sizeof(what), "carries %d, which enum \"%s\" does not define", (int)(int32_t)v,
             ((const ProtobufCEnumDescriptor *)fd->descriptor)->name);
    return strict_fail(code, strict_code_str(STRICT_UNDEFINED_ENUM), msg, msg_size, d, fd, what);
}

static enum tp_err strict_message(const ProtobufCMessageDescriptor *d, const uint8_t *data,
                                  size_t len, int depth, uint32_t skip_id, strict_bad_fn on_bad,
                                  void *arg, const char **code, char *msg, size_t msg_size);

static enum tp_err strict_field(const ProtobufCMessageDescriptor *d,
                                const ProtobufCFieldDescriptor *fd, const struct strict_field *f,
                                int depth, const char **code, char *msg, size_t msg_size)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (f->wire != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
            return TP_OK;
        if (memchr(f->data, 0, f->len))
            return strict_fail(code, strict_code_str(STRICT_EMBEDDED_NUL), msg, msg_size, d, fd,
                               "holds a NUL byte (it would be cut there)");
        if (!json_utf8_valid((const char *)f->data, f->len))
            return strict_fail(code, strict_code_str(STRICT_INVALID_UTF8), msg, msg_size, d, fd,
                               "is not valid UTF-8");
        return TP_OK;
    case PROTOBUF_C_TYPE_MESSAGE:
        if (f->wire != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
            return TP_OK;
        return strict_message(fd->descriptor, f->data, f->len, depth + 1, 0, NULL, NULL, code, msg,
                              msg_size);
    case PROTOBUF_C_TYPE_ENUM:
        if (f->wire == PROTOBUF_C_WIRE_TYPE_VARINT)
            return strict_enum(d, fd, f->varint, code, msg, msg_size);
        if (f->wire == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) { /* packed */
            struct strict_in in = {f->data, f->data + f->len};
            uint64_t v;
            while (in.p < in.end) {
                if (!strict_varint(&in, &v))
                    return TP_OK; /* unpack already judged the framing */
                enum tp_err err = strict_enum(d, fd, v, code, msg, msg_size);
                if (err != TP_OK)
                    return err;
            }
        }
        return TP_OK;
    default:
        return TP_OK;
    }
}

static enum tp_err strict_message(const ProtobufCMessageDescriptor *d, const uint8_t *data,
                                  size_t len, int depth, uint32_t skip_id, strict_bad_fn on_bad,
                                  void *arg, const char **code, char *msg, size_t msg_size)
{
    if (depth > STRICT_DEPTH_MAX) {
        *code = strict_code_str(STRICT_TOO_DEEP);
        return tp_err_set(TP_VALIDATION, msg, msg_size, "messages nested deeper than %d",
                          STRICT_DEPTH_MAX);
    }
    struct strict_in in = {data, data + len};
    struct strict_field f = {0};
    size_t element = 0;
    while (in.p < in.end) {
        if (!strict_next(&in, &f))
            return TP_OK; /* unpack already judged the framing */
        if (f.id == 0) {  /* unpack takes it in an overlong tag; no reader takes it repacked */
            *code = strict_code_str(STRICT_INVALID_PROTOBUF);
            return tp_err_set(TP_VALIDATION, msg, msg_size,
                              "message \"%s\" holds a field numbered 0", d->name);
        }
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(d, f.id);
        if (!fd)
            continue; /* unknown fields are kept as bytes, never read as strings */
        if (skip_id && f.id == skip_id && fd->type == PROTOBUF_C_TYPE_MESSAGE &&
            f.wire == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
            const char *c;
            char m[256];
            if (strict_message(fd->descriptor, f.data, f.len, depth + 1, 0, NULL, NULL, &c, m,
                               sizeof(m)) != TP_OK)
                on_bad(arg, element, c, m);
            element++;
            continue;
        }
        enum tp_err err = strict_field(d, fd, &f, depth, code, msg, msg_size);
        if (err != TP_OK)
            return err;
    }
    return TP_OK;
}

enum tp_err strict_check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                         const char **code, char *msg, size_t msg_size)
{
    return strict_message(d, data, len, 0, 0, NULL, NULL, code, msg, msg_size);
}

enum tp_err strict_check_elements(const ProtobufCMessageDescriptor *d, uint32_t field_id,
                                  const uint8_t *data, size_t len, strict_bad_fn on_bad, void *arg,
                                  const char **code, char *msg, size_t msg_size)
{
    return strict_message(d, data, len, 0, field_id, on_bad, arg, code, msg, msg_size);
}

enum tp_err strict_prescan(const ProtobufCMessageDescriptor *d, uint32_t units_id,
                           const uint8_t *data, size_t len, int max_depth, struct strict_scan *out,
                           const char **code, char *msg, size_t msg_size)
{
    struct {
        const ProtobufCMessageDescriptor *d;
        struct strict_in in;
    } st[STRICT_DEPTH_MAX];
    if (max_depth > STRICT_DEPTH_MAX)
        max_depth = STRICT_DEPTH_MAX;
    *out = (struct strict_scan){.units = units_id ? 0 : 1, .largest = units_id ? 0 : len};
    int top = 0;
    st[0].d = d;
    st[0].in = (struct strict_in){data, data + len};
    while (top >= 0) {
        struct strict_in *in = &st[top].in;
        if (in->p >= in->end) {
            top--;
            continue;
        }
        struct strict_field f = {0};
        if (!strict_next(in, &f)) {
            *code = strict_code_str(STRICT_INVALID_PROTOBUF);
            return tp_err_set(TP_VALIDATION, msg, msg_size,
                              "body is not a valid protobuf %s (broken at byte %zu)", d->short_name,
                              (size_t)(in->p - data));
        }
        if (top == 0 && units_id && f.id == units_id &&
            f.wire == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
            if (f.len > out->largest) {
                out->largest = f.len;
                out->largest_index = out->units;
            }
            out->units++;
        }
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(st[top].d, f.id);
        if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE ||
            f.wire != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
            continue;
        if (top + 2 > max_depth) {
            *code = strict_code_str(STRICT_TOO_DEEP);
            return tp_err_set(TP_VALIDATION, msg, msg_size,
                              "messages nested deeper than %d levels (at field \"%s.%s\")",
                              max_depth, st[top].d->name, fd->name);
        }
        top++;
        st[top].d = fd->descriptor;
        st[top].in = (struct strict_in){f.data, f.data + f.len};
    }
    return TP_OK;
}

size_t strict_drop_unknown(ProtobufCMessage *m)
{
    if (!m)
        return 0;
    size_t n = m->n_unknown_fields;
    m->n_unknown_fields = 0;
    m->unknown_fields = NULL;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        char *base = (char *)m;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(size_t *)(base + fd->quantifier_offset);
            ProtobufCMessage **arr = *(ProtobufCMessage ***)(base + fd->offset);
            for (size_t k = 0; arr && k < count; k++)
                n += strict_drop_unknown(arr[k]);
            continue;
        }
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(uint32_t *)(base + fd->quantifier_offset) != fd->id)
            continue;
        n += strict_drop_unknown(*(ProtobufCMessage **)(base + fd->offset));
    }
    return n;
}
