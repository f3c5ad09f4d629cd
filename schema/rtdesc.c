#include "rtdesc.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "fdset.h"

typedef Google__Protobuf__FieldDescriptorProto field_proto;

#define T(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x
#define L(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_##x

struct rt_msg {
    ProtobufCMessageDescriptor d;
    const struct fdset_message *src;
};

struct rt_enum {
    ProtobufCEnumDescriptor d;
    const struct fdset_enum *src;
};

struct rtdesc_set {
    struct fdset *fs;
    struct rt_msg *msgs; /* parallel to fs->messages */
    struct rt_enum *enums;
    void **allocs; /* every array and default value, freed with the set */
    size_t n_allocs, cap_allocs;
};

static void *rt_alloc(struct rtdesc_set *s, size_t n)
{
    if (s->n_allocs == s->cap_allocs) {
        s->cap_allocs = s->cap_allocs ? s->cap_allocs * 2 : 64;
        s->allocs = tp_realloc(s->allocs, s->cap_allocs * sizeof(*s->allocs));
    }
    void *p = tp_calloc(1, n ? n : 1);
    s->allocs[s->n_allocs++] = p;
    return p;
}

static char *rt_strdup(struct rtdesc_set *s, const char *str)
{
    char *p = rt_alloc(s, strlen(str) + 1);
    memcpy(p, str, strlen(str));
    return p;
}

static size_t rt_align(size_t off, size_t a)
{
    return (off + a - 1) / a * a;
}

/* ---- enums ---- */

struct rt_value {
    const char *name;
    int number;
    unsigned order; /* declaration order: the first of aliases wins */
};

static int rt_cmp_value_number(const void *a, const void *b)
{
    const struct rt_value *x = a, *y = b;
    if (x->number != y->number)
        return (x->number > y->number) - (x->number < y->number);
    return (x->order > y->order) - (x->order < y->order);
}

static int rt_cmp_index_name(const void *a, const void *b)
{
    return strcmp(((const ProtobufCEnumValueIndex *)a)->name,
                  ((const ProtobufCEnumValueIndex *)b)->name);
}

static void rt_enum_build(struct rtdesc_set *s, struct rt_enum *e, const struct fdset_enum *src)
{
    const Google__Protobuf__EnumDescriptorProto *p = src->proto;
    size_t n = p->n_value;
    struct rt_value *v = tp_calloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = (struct rt_value){p->value[i]->name, p->value[i]->number, (unsigned)i};
    qsort(v, n, sizeof(*v), rt_cmp_value_number);
    ProtobufCEnumValue *values = rt_alloc(s, (n + 1) * sizeof(*values));
    ProtobufCEnumValueIndex *by_name = rt_alloc(s, (n + 1) * sizeof(*by_name));
    ProtobufCIntRange *ranges = rt_alloc(s, (n + 2) * sizeof(*ranges));
    unsigned nv = 0, nr = 0;
    for (size_t i = 0; i < n; i++) {
        if (nv == 0 || values[nv - 1].value != v[i].number) {
            if (nv == 0 || values[nv - 1].value != v[i].number - 1)
                ranges[nr++] = (ProtobufCIntRange){v[i].number, nv};
            values[nv++] = (ProtobufCEnumValue){v[i].name, v[i].name, v[i].number};
        }
        by_name[i] = (ProtobufCEnumValueIndex){v[i].name, nv - 1};
    }
    ranges[nr] = (ProtobufCIntRange){0, nv}; /* the closing entry */
    qsort(by_name, n, sizeof(*by_name), rt_cmp_index_name);
    free(v);
    e->src = src;
    e->d = (ProtobufCEnumDescriptor){
        .magic = PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC,
        .name = src->name,
        .short_name = p->name,
        .c_name = src->name,
        .package_name = src->file->package ? src->file->package : "",
        .n_values = nv,
        .values = values,
        .n_value_names = (unsigned)n,
        .values_by_name = by_name,
        .n_value_ranges = nr,
        .value_ranges = ranges,
    };
}

/* ---- messages ---- */

static ProtobufCType rt_type(int t, bool *ok)
{
    *ok = true;
    switch (t) {
    case T(DOUBLE):
        return PROTOBUF_C_TYPE_DOUBLE;
    case T(FLOAT):
        return PROTOBUF_C_TYPE_FLOAT;
    case T(INT64):
        return PROTOBUF_C_TYPE_INT64;
    case T(UINT64):
        return PROTOBUF_C_TYPE_UINT64;
    case T(INT32):
        return PROTOBUF_C_TYPE_INT32;
    case T(FIXED64):
        return PROTOBUF_C_TYPE_FIXED64;
    case T(FIXED32):
        return PROTOBUF_C_TYPE_FIXED32;
    case T(BOOL):
        return PROTOBUF_C_TYPE_BOOL;
    case T(STRING):
        return PROTOBUF_C_TYPE_STRING;
    case T(MESSAGE):
        return PROTOBUF_C_TYPE_MESSAGE;
    case T(BYTES):
        return PROTOBUF_C_TYPE_BYTES;
    case T(UINT32):
        return PROTOBUF_C_TYPE_UINT32;
    case T(ENUM):
        return PROTOBUF_C_TYPE_ENUM;
    case T(SFIXED32):
        return PROTOBUF_C_TYPE_SFIXED32;
    case T(SFIXED64):
        return PROTOBUF_C_TYPE_SFIXED64;
    case T(SINT32):
        return PROTOBUF_C_TYPE_SINT32;
    case T(SINT64):
        return PROTOBUF_C_TYPE_SINT64;
    default:
        *ok = false; /* groups: libprotobuf-c has no wire support for them */
        return PROTOBUF_C_TYPE_INT32;
    }
}

/* Size and alignment of a singular value in the C struct. */
static void rt_value_size(ProtobufCType t, size_t *size, size_t *align)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *size = sizeof(int64_t);
        *align = alignof(int64_t);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *size = sizeof(double);
        *align = alignof(double);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *size = sizeof(protobuf_c_boolean);
        *align = alignof(protobuf_c_boolean);
        break;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        *size = sizeof(void *);
        *align = alignof(void *);
        break;
    case PROTOBUF_C_TYPE_BYTES:
        *size = sizeof(ProtobufCBinaryData);
        *align = alignof(ProtobufCBinaryData);
        break;
    default: /* 32-bit scalars and enums (stored as int) */
        *size = sizeof(int32_t);
        *align = alignof(int32_t);
        break;
    }
}

static bool rt_is_oneof(const field_proto *f)
{
    return f->has_oneof_index && !(f->has_proto3_optional && f->proto3_optional);
}

static ProtobufCLabel rt_label(const field_proto *f, bool proto3)
{
    if (f->label == L(REPEATED))
        return PROTOBUF_C_LABEL_REPEATED;
    if (f->label == L(REQUIRED))
        return PROTOBUF_C_LABEL_REQUIRED;
    if (!proto3 || (f->has_proto3_optional && f->proto3_optional))
        return PROTOBUF_C_LABEL_OPTIONAL;
    return rt_is_oneof(f) ? PROTOBUF_C_LABEL_OPTIONAL : PROTOBUF_C_LABEL_NONE;
}

static bool rt_needs_has(const ProtobufCFieldDescriptor *f)
{
    return f->label == PROTOBUF_C_LABEL_OPTIONAL && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
           f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE;
}

static bool rt_packable(ProtobufCType t)
{
    return t != PROTOBUF_C_TYPE_STRING && t != PROTOBUF_C_TYPE_BYTES &&
           t != PROTOBUF_C_TYPE_MESSAGE;
}

static int rt_hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* protoc writes bytes defaults C-escaped (\n, \ooo, \xHH). */
static size_t rt_unescape(const char *in, uint8_t *out)
{
    size_t n = 0;
    for (const char *p = in; *p;) {
        if (*p != '\\' || !p[1]) {
            out[n++] = (uint8_t)*p++;
            continue;
        }
        p++;
        char c = *p++;
        if (c >= '0' && c <= '7') {
            int v = c - '0';
            for (int k = 0; k < 2 && *p >= '0' && *p <= '7'; k++)
                v = v * 8 + (*p++ - '0');
            out[n++] = (uint8_t)v;
        } else if (c == 'x' && rt_hex(*p) >= 0) {
            int v = rt_hex(*p++);
            if (rt_hex(*p) >= 0)
                v = v * 16 + rt_hex(*p++);
            out[n++] = (uint8_t)v;
        } else {
            out[n++] = (uint8_t)(c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c);
        }
    }
    return n;
}

static const void *rt_default(struct rtdesc_set *s, const field_proto *f,
                              const ProtobufCFieldDescriptor *fd)
{
    if (fd->label == PROTOBUF_C_LABEL_REPEATED || (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return NULL;
    const char *t = f->default_value;
    if (!t) {
        if (fd->type == PROTOBUF_C_TYPE_STRING && fd->label == PROTOBUF_C_LABEL_NONE)
            return protobuf_c_empty_string; /* proto3 strings are "" when absent */
        if (fd->type == PROTOBUF_C_TYPE_ENUM) {
            /* proto2: the first declared value; proto3: it is 0 */
            const ProtobufCEnumDescriptor *ed = fd->descriptor;
            const struct rt_enum *re = (const struct rt_enum *)ed;
            int first = re->src->proto->n_value ? re->src->proto->value[0]->number : 0;
            if (first == 0)
                return NULL;
            int *v = rt_alloc(s, sizeof(int));
            *v = first;
            return v;
        }
        return NULL;
    }
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: {
        int32_t *v = rt_alloc(s, sizeof(*v));
        *v = (int32_t)strtol(t, NULL, 10);
        return v;
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: {
        uint32_t *v = rt_alloc(s, sizeof(*v));
        *v = (uint32_t)strtoul(t, NULL, 10);
        return v;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        int64_t *v = rt_alloc(s, sizeof(*v));
        *v = (int64_t)strtoll(t, NULL, 10);
        return v;
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t *v = rt_alloc(s, sizeof(*v));
        *v = (uint64_t)strtoull(t, NULL, 10);
        return v;
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        float *v = rt_alloc(s, sizeof(*v));
        *v = strtof(t, NULL);
        return v;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double *v = rt_alloc(s, sizeof(*v));
        *v = strtod(t, NULL);
        return v;
    }
    case PROTOBUF_C_TYPE_BOOL: {
        protobuf_c_boolean *v = rt_alloc(s, sizeof(*v));
        *v = !strcmp(t, "true");
        return v;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value_by_name(fd->descriptor, t);
        int *v = rt_alloc(s, sizeof(int));
        *v = ev ? ev->value : 0;
        return v;
    }
    case PROTOBUF_C_TYPE_STRING:
        return rt_strdup(s, t);
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *v = rt_alloc(s, sizeof(*v));
        v->data = rt_alloc(s, strlen(t) + 1);
        v->len = rt_unescape(t, v->data);
        return v;
    }
    default:
        return NULL;
    }
}

static int rt_cmp_field_id(const void *a, const void *b)
{
    uint32_t x = ((const ProtobufCFieldDescriptor *)a)->id;
    uint32_t y = ((const ProtobufCFieldDescriptor *)b)->id;
    return (x > y) - (x < y);
}

struct rt_named {
    const char *name;
    unsigned index;
};

static int rt_cmp_named(const void *a, const void *b)
{
    return strcmp(((const struct rt_named *)a)->name, ((const struct rt_named *)b)->name);
}

static const void *rt_find_type(struct rtdesc_set *s, const char *type_name, bool message)
{
    const char *name = type_name[0] == '.' ? type_name + 1 : type_name;
    if (message) {
        for (size_t i = 0; i < s->fs->n_messages; i++)
            if (!strcmp(s->fs->messages[i].name, name))
                return &s->msgs[i].d;
    } else {
        for (size_t i = 0; i < s->fs->n_enums; i++)
            if (!strcmp(s->fs->enums[i].name, name))
                return &s->enums[i].d;
    }
    return NULL;
}

/* A template field this field can sit on: same number, type, label, and message type name. */
static const ProtobufCFieldDescriptor *rt_template_field(const ProtobufCMessageDescriptor *tmpl,
                                                         const ProtobufCFieldDescriptor *fd)
{
    if (!tmpl || (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return NULL;
    const ProtobufCFieldDescriptor *tf = protobuf_c_message_descriptor_get_field(tmpl, fd->id);
    if (!tf || tf->type != fd->type || tf->label != fd->label ||
        (tf->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return NULL;
    /* the referenced runtime message may not be built yet: its source name is set */
    if (fd->type == PROTOBUF_C_TYPE_MESSAGE &&
        strcmp(((const ProtobufCMessageDescriptor *)tf->descriptor)->name,
               ((const struct rt_msg *)fd->descriptor)->src->name) != 0)
        return NULL;
    return tf;
}

/* What field f of message m is: name, number, type, label, flags and the message or enum
 * type it names (in s). Its default, offsets and order come later. */
static enum tp_err rt_field_describe(struct rtdesc_set *s, const struct rt_msg *m,
                                     const field_proto *f, bool proto3,
                                     ProtobufCFieldDescriptor *fd, char *errstr, size_t errstr_size)
{
    bool ok;
    fd->name = f->name;
    fd->id = (uint32_t)f->number;
    fd->type = rt_type(f->type, &ok);
    if (!ok)
        return tp_err_set(TP_DECODE, errstr, errstr_size,
                          "field \"%s.%s\" is a group, which is not supported", m->src->name,
                          f->name);
    if (rt_is_oneof(f))
        fd->flags |= PROTOBUF_C_FIELD_FLAG_ONEOF;
    fd->label = rt_label(f, proto3);
    if (f->options && f->options->has_deprecated && f->options->deprecated)
        fd->flags |= PROTOBUF_C_FIELD_FLAG_DEPRECATED;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED && rt_packable(fd->type)) {
        bool has = f->options && f->options->has_packed;
        if (has ? f->options->packed : proto3)
            fd->flags |= PROTOBUF_C_FIELD_FLAG_PACKED;
    }
    if (fd->type == PROTOBUF_C_TYPE_MESSAGE || fd->type == PROTOBUF_C_TYPE_ENUM) {
        fd->descriptor = f->type_name
                             ? rt_find_type(s, f->type_name, fd->type == PROTOBUF_C_TYPE_MESSAGE)
                             : NULL;
        if (!fd->descriptor)
            return tp_err_set(TP_DECODE, errstr, errstr_size,
                              "field \"%s.%s\" names type \"%s\", which the set lacks",
                              m->src->name, f->name, f->type_name ? f->type_name : "");
    }
    return TP_OK;
}

/* Puts the fields the generated struct of tmpl has (rt_template_field) at its offsets and
 * marks them placed. */
static void rt_fields_place_template(const ProtobufCMessageDescriptor *tmpl,
                                     ProtobufCFieldDescriptor *fields, size_t n, bool *placed)
{
    for (size_t i = 0; i < n; i++) {
        const ProtobufCFieldDescriptor *tf = rt_template_field(tmpl, &fields[i]);
        if (tf) {
            fields[i].offset = tf->offset;
            fields[i].quantifier_offset = tf->quantifier_offset;
            placed[i] = true;
        }
    }
}

/* Lays out oneof k at off (fields from `first` on): its case word, then a union as large and
 * aligned as its largest member. Returns the offset after it. */
static size_t rt_oneof_place(const Google__Protobuf__DescriptorProto *p,
                             ProtobufCFieldDescriptor *fields, size_t n, size_t first, int32_t k,
                             size_t off)
{
    size_t size, align;
    size_t case_off = rt_align(off, alignof(uint32_t)), usize = 0, ualign = 1;
    off = case_off + sizeof(uint32_t);
    for (size_t j = first; j < n; j++) {
        if (!(fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || p->field[j]->oneof_index != k)
            continue;
        rt_value_size(fields[j].type, &size, &align);
        usize = size > usize ? size : usize;
        ualign = align > ualign ? align : ualign;
    }
    size_t uoff = rt_align(off, ualign);
    off = uoff + usize;
    for (size_t j = first; j < n; j++) {
        if ((fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && p->field[j]->oneof_index == k) {
            fields[j].quantifier_offset = (unsigned)case_off;
            fields[j].offset = (unsigned)uoff;
        }
    }
    return off;
}

/* Lays out a field outside any oneof at off: a repeated one as count + pointer, else its
 * has-flag (when it needs one) and its value. Returns the offset after it. */
static size_t rt_field_place(ProtobufCFieldDescriptor *fd, size_t off)
{
    size_t size, align;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        fd->quantifier_offset = (unsigned)rt_align(off, alignof(size_t));
        off = fd->quantifier_offset + sizeof(size_t);
        fd->offset = (unsigned)rt_align(off, alignof(void *));
        return fd->offset + sizeof(void *);
    }
    if (rt_needs_has(fd)) {
        fd->quantifier_offset = (unsigned)rt_align(off, alignof(protobuf_c_boolean));
        off = fd->quantifier_offset + sizeof(protobuf_c_boolean);
    }
    rt_value_size(fd->type, &size, &align);
    fd->offset = (unsigned)rt_align(off, align);
    return fd->offset + size;
}

/* Lays out the fields not placed yet, in declaration order, from off (each oneof where its
 * first member is declared). Returns the end of the struct's fields. */
static size_t rt_fields_layout(const Google__Protobuf__DescriptorProto *p,
                               ProtobufCFieldDescriptor *fields, size_t n, const bool *placed,
                               size_t off)
{
    bool *oneof_done = tp_calloc(p->n_oneof_decl + 1, sizeof(*oneof_done));
    for (size_t i = 0; i < n; i++) {
        if (placed[i])
            continue;
        if (fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            int32_t k = p->field[i]->oneof_index;
            if (k < 0 || (size_t)k >= p->n_oneof_decl || oneof_done[k])
                continue;
            oneof_done[k] = true;
            off = rt_oneof_place(p, fields, n, i, k, off);
            continue;
        }
        off = rt_field_place(&fields[i], off);
    }
    free(oneof_done);
    return off;
}

/* Sorts the fields by number and builds protobuf-c's indexes over them: the name order
 * (*by_name) and the ranges of consecutive numbers (*ranges, *n_ranges, closing entry
 * included). */
static void rt_fields_index(struct rtdesc_set *s, ProtobufCFieldDescriptor *fields, size_t n,
                            unsigned **by_name, ProtobufCIntRange **ranges, unsigned *n_ranges)
{
    qsort(fields, n, sizeof(*fields), rt_cmp_field_id);
    *by_name = rt_alloc(s, (n + 1) * sizeof(**by_name));
    struct rt_named *named = tp_calloc(n + 1, sizeof(*named));
    for (size_t i = 0; i < n; i++)
        named[i] = (struct rt_named){fields[i].name, (unsigned)i};
    qsort(named, n, sizeof(*named), rt_cmp_named);
    for (size_t i = 0; i < n; i++)
        (*by_name)[i] = named[i].index;
    free(named);
    *ranges = rt_alloc(s, (n + 2) * sizeof(**ranges));
    unsigned nr = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || fields[i].id != fields[i - 1].id + 1)
            (*ranges)[nr++] = (ProtobufCIntRange){(int)fields[i].id, (unsigned)i};
    (*ranges)[nr] = (ProtobufCIntRange){0, (unsigned)n}; /* the closing entry */
    *n_ranges = nr;
}

/* m's descriptor: its fields described, their defaults, the layout (template fields where
 * the generated struct has them, the rest after it), then sorted and indexed. */
static enum tp_err rt_message_build(struct rtdesc_set *s, struct rt_msg *m,
                                    const ProtobufCMessageDescriptor *tmpl, char *errstr,
                                    size_t errstr_size)
{
    const Google__Protobuf__DescriptorProto *p = m->src->proto;
    bool proto3 = fdset_is_proto3(m->src);
    size_t n = p->n_field;
    /* declaration order first (the layout), sorted by number afterwards */
    ProtobufCFieldDescriptor *fields = rt_alloc(s, (n + 1) * sizeof(*fields));
    enum tp_err err = TP_OK;
    for (size_t i = 0; i < n && err == TP_OK; i++)
        err = rt_field_describe(s, m, p->field[i], proto3, &fields[i], errstr, errstr_size);
    if (err != TP_OK)
        return err;
    for (size_t i = 0; i < n; i++)
        fields[i].default_value = rt_default(s, p->field[i], &fields[i]);

    bool *placed = tp_calloc(n + 1, sizeof(*placed));
    rt_fields_place_template(tmpl, fields, n, placed);
    size_t off = rt_fields_layout(p, fields, n, placed,
                                  tmpl ? tmpl->sizeof_message : sizeof(ProtobufCMessage));
    free(placed);

    unsigned *by_name, nr;
    ProtobufCIntRange *ranges;
    rt_fields_index(s, fields, n, &by_name, &ranges, &nr);
    m->d = (ProtobufCMessageDescriptor){
        .magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
        .name = m->src->name,
        .short_name = p->name,
        .c_name = m->src->name,
        .package_name = m->src->file->package ? m->src->file->package : "",
        .sizeof_message = rt_align(off, 8),
        .n_fields = (unsigned)n,
        .fields = fields,
        .fields_sorted_by_name = by_name,
        .n_field_ranges = nr,
        .field_ranges = ranges,
        .message_init = NULL, /* libprotobuf-c's generic init; rtdesc_message_init by hand */
    };
    return TP_OK;
}

/* Adds t and the message templates its fields reach to the list (unique by name). */
static void rt_templates_collect(const ProtobufCMessageDescriptor *t,
                                 const ProtobufCMessageDescriptor ***list, size_t *n, size_t *cap)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*list)[i]->name, t->name))
            return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *list = tp_realloc(*list, *cap * sizeof(**list));
    }
    (*list)[(*n)++] = t;
    for (unsigned i = 0; i < t->n_fields; i++)
        if (t->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
            rt_templates_collect(t->fields[i].descriptor, list, n, cap);
}

/* ---- nesting ---- */

struct rt_nest {
    const struct fdset *fs;
    unsigned char *state; /* per message: 0 unseen, 1 on the path, 2 done */
    int *depth;           /* per done message: its nesting depth */
};

/* Depth of message i (1 + the deepest message field), refusing cycles and depths past the
 * bound; the recursion itself is bounded by RTDESC_MAX_DEPTH + 1 frames. */
static enum tp_err rt_nest_visit(struct rt_nest *n, size_t i, int level, char *errstr,
                                 size_t errstr_size)
{
    const struct fdset_message *m = &n->fs->messages[i];
    n->state[i] = 1;
    int deepest = 0;
    for (size_t k = 0; k < m->proto->n_field; k++) {
        const field_proto *f = m->proto->field[k];
        if (f->type != T(MESSAGE) && f->type != T(GROUP))
            continue;
        const struct fdset_message *c = f->type_name ? fdset_message(n->fs, f->type_name) : NULL;
        if (!c)
            continue; /* a missing type is rtdesc_set_new's error */
        size_t ci = (size_t)(c - n->fs->messages);
        if (n->state[ci] == 1)
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "message \"%s\" is recursive: field \"%s.%s\" leads back to \"%s\" "
                              "(recursive message types are not supported)",
                              c->name, m->name, f->name, c->name);
        if (n->state[ci] == 0) {
            if (level + 1 > RTDESC_MAX_DEPTH)
                return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                                  "messages nest deeper than %d levels (at field \"%s.%s\")",
                                  RTDESC_MAX_DEPTH, m->name, f->name);
            enum tp_err err = rt_nest_visit(n, ci, level + 1, errstr, errstr_size);
            if (err != TP_OK)
                return err;
        }
        if (n->depth[ci] > deepest)
            deepest = n->depth[ci];
    }
    n->state[i] = 2;
    n->depth[i] = deepest + 1;
    if (level - 1 + n->depth[i] > RTDESC_MAX_DEPTH)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "messages nest deeper than %d levels (below \"%s\")", RTDESC_MAX_DEPTH,
                          m->name);
    return TP_OK;
}

static enum tp_err rt_nesting_check(const struct fdset *fs, char *errstr, size_t errstr_size)
{
    struct rt_nest n = {fs, tp_calloc(fs->n_messages + 1, 1),
                        tp_calloc(fs->n_messages + 1, sizeof(int))};
    enum tp_err err = TP_OK;
    for (size_t i = 0; i < fs->n_messages && err == TP_OK; i++)
        if (n.state[i] == 0)
            err = rt_nest_visit(&n, i, 1, errstr, errstr_size);
    free(n.state);
    free(n.depth);
    return err;
}

enum tp_err rtdesc_nesting_check(const uint8_t *fds, size_t len, char *errstr, size_t errstr_size)
{
    struct fdset *fs;
    enum tp_err err = fdset_new(fds, len, &fs, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    err = rt_nesting_check(fs, errstr, errstr_size);
    fdset_free(fs);
    return err;
}

enum tp_err rtdesc_set_new(const uint8_t *fds, size_t len,
                           const ProtobufCMessageDescriptor *const *templates, size_t n_templates,
                           struct rtdesc_set **out, char *errstr, size_t errstr_size)
{
    struct rtdesc_set *s = tp_calloc(1, sizeof(*s));
    enum tp_err err = fdset_new(fds, len, &s->fs, errstr, errstr_size);
    const ProtobufCMessageDescriptor **tl = NULL;
    size_t n_tl = 0, cap_tl = 0;
    if (err != TP_OK)
        goto out;
    if (rt_nesting_check(s->fs, errstr, errstr_size) != TP_OK) {
        err = TP_DECODE; /* like a missing type: this set can never be decoded with */
        goto out;
    }
    s->msgs = tp_calloc(s->fs->n_messages + 1, sizeof(*s->msgs));
    s->enums = tp_calloc(s->fs->n_enums + 1, sizeof(*s->enums));
    for (size_t i = 0; i < s->fs->n_enums; i++)
        rt_enum_build(s, &s->enums[i], &s->fs->enums[i]);
    for (size_t i = 0; i < n_templates; i++)
        rt_templates_collect(templates[i], &tl, &n_tl, &cap_tl);
    for (size_t i = 0; i < s->fs->n_messages; i++)
        s->msgs[i].src = &s->fs->messages[i];
    for (size_t i = 0; i < s->fs->n_messages && err == TP_OK; i++) {
        const ProtobufCMessageDescriptor *tmpl = NULL;
        for (size_t k = 0; k < n_tl && !tmpl; k++)
            if (!strcmp(tl[k]->name, s->fs->messages[i].name))
                tmpl = tl[k];
        err = rt_message_build(s, &s->msgs[i], tmpl, errstr, errstr_size);
    }
out:
    free(tl);
    if (err != TP_OK) {
        rtdesc_set_free(s);
        return err;
    }
    *out = s;
    return TP_OK;
}

void rtdesc_set_free(struct rtdesc_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_allocs; i++)
        free(s->allocs[i]);
    free(s->allocs);
    free(s->msgs);
    free(s->enums);
    fdset_free(s->fs);
    free(s);
}

const ProtobufCMessageDescriptor *rtdesc_message(const struct rtdesc_set *s, const char *name)
{
    const struct fdset_message *m = fdset_message(s->fs, name);
    return m ? &s->msgs[m - s->fs->messages].d : NULL;
}

const ProtobufCEnumDescriptor *rtdesc_enum(const struct rtdesc_set *s, const char *name)
{
    const struct fdset_enum *e = fdset_enum(s->fs, name);
    return e ? &s->enums[e - s->fs->enums].d : NULL;
}

const ProtobufCMessageDescriptor *rtdesc_message_at(const struct rtdesc_set *s, const int32_t *path,
                                                    size_t path_len)
{
    if (path_len == 0 || path[0] < 0 || (size_t)path[0] >= s->fs->main->n_message_type)
        return NULL;
    const Google__Protobuf__DescriptorProto *p = s->fs->main->message_type[path[0]];
    for (size_t i = 1; i < path_len; i++) {
        if (path[i] < 0 || (size_t)path[i] >= p->n_nested_type)
            return NULL;
        p = p->nested_type[path[i]];
    }
    for (size_t i = 0; i < s->fs->n_messages; i++)
        if (s->fs->messages[i].proto == p)
            return &s->msgs[i].d;
    return NULL;
}

void rtdesc_message_init(const ProtobufCMessageDescriptor *d, ProtobufCMessage *m)
{
    memset(m, 0, d->sizeof_message);
    m->descriptor = d;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!f->default_value || f->label == PROTOBUF_C_LABEL_REPEATED)
            continue;
        char *slot = (char *)m + f->offset;
        size_t size, align;
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
        case PROTOBUF_C_TYPE_MESSAGE:
            memcpy(slot, &f->default_value, sizeof(void *));
            break;
        default:
            rt_value_size(f->type, &size, &align);
            memcpy(slot, f->default_value, size);
            break;
        }
    }
}
