#include "compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "schema/fdset.h"

typedef Google__Protobuf__FieldDescriptorProto field_proto;
typedef Google__Protobuf__DescriptorProto message_proto;

#define T(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x
#define L(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_##x

static const char *const compat_names[] = {
    "NONE", "BACKWARD",        "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL", "FULL_TRANSITIVE",
};

bool compat_level_parse(const char *name, enum compat_level *out)
{
    for (size_t i = 0; i < sizeof(compat_names) / sizeof(compat_names[0]); i++) {
        if (strcasecmp(name, compat_names[i]) == 0) {
            *out = (enum compat_level)i;
            return true;
        }
    }
    return false;
}

const char *compat_level_name(enum compat_level level)
{
    return compat_names[level];
}

/* Wire type of a field type (protobuf encoding). */
static int compat_wire(int type)
{
    switch (type) {
    case T(DOUBLE):
    case T(FIXED64):
    case T(SFIXED64):
        return 1;
    case T(FLOAT):
    case T(FIXED32):
    case T(SFIXED32):
        return 5;
    case T(STRING):
    case T(BYTES):
    case T(MESSAGE):
        return 2;
    case T(GROUP):
        return 3;
    default:
        return 0; /* int32 int64 uint32 uint64 sint32 sint64 bool enum */
    }
}

/* Types that read each other's values with the same meaning (protobuf's "updating" rules). */
static int compat_class(int type)
{
    switch (type) {
    case T(INT32):
    case T(UINT32):
    case T(INT64):
    case T(UINT64):
    case T(BOOL):
    case T(ENUM):
        return 1;
    case T(SINT32):
    case T(SINT64):
        return 2;
    case T(FIXED32):
    case T(SFIXED32):
        return 3;
    case T(FIXED64):
    case T(SFIXED64):
        return 4;
    case T(STRING):
    case T(BYTES):
        return 5;
    default:
        return 100 + type; /* double, float, message, group: only themselves */
    }
}

static const char *compat_type_name(int type)
{
    static const char *const names[] = {"?",        "double",   "float",   "int64",  "uint64",
                                        "int32",    "fixed64",  "fixed32", "bool",   "string",
                                        "group",    "message",  "bytes",   "uint32", "enum",
                                        "sfixed32", "sfixed64", "sint32",  "sint64"};
    return type > 0 && type < (int)(sizeof(names) / sizeof(names[0])) ? names[type] : "?";
}

/* A full name without the package of its file, so "a.v1.M" and "a.v2.M" compare equal. */
static const char *compat_rel(const char *name, const char *pkg)
{
    if (name[0] == '.')
        name++;
    size_t n = strlen(pkg);
    if (n && !strncmp(name, pkg, n) && name[n] == '.')
        return name + n + 1;
    return name;
}

struct compat_ctx {
    const struct fdset *old, *neu;
    const char *old_pkg, *new_pkg;
    const char *prefix;
    struct buf *msgs;
    unsigned want; /* directions whose issues are written to msgs */
    unsigned bits;
};

static void compat_issue(struct compat_ctx *c, unsigned breaks, const char *rule, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

static void compat_issue(struct compat_ctx *c, unsigned breaks, const char *rule, const char *fmt,
                         ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    c->bits |= breaks;
    if (c->msgs && (breaks & c->want))
        buf_printf(c->msgs, "%s%s: %s (breaks %s)\n", c->prefix ? c->prefix : "", rule, what,
                   breaks == (COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD)
                       ? "backward and forward"
                   : breaks == COMPAT_BREAKS_BACKWARD ? "backward"
                                                      : "forward");
}

static const field_proto *compat_field(const message_proto *m, int32_t number)
{
    for (size_t i = 0; i < m->n_field; i++)
        if (m->field[i]->number == number)
            return m->field[i];
    return NULL;
}

static bool compat_reserved(const message_proto *m, int32_t number, const char *name)
{
    for (size_t i = 0; i < m->n_reserved_range; i++) {
        const Google__Protobuf__DescriptorProto__ReservedRange *r = m->reserved_range[i];
        if (number >= r->start && number < r->end) /* end is exclusive */
            return true;
    }
    (void)name; /* a reserved name alone does not stop the number's reuse */
    return false;
}

static bool compat_is_map_entry(const message_proto *m)
{
    return m->options && m->options->has_map_entry && m->options->map_entry;
}

static void compat_fields(struct compat_ctx *c, const char *mname, const message_proto *o,
                          const message_proto *n)
{
    for (size_t i = 0; i < o->n_field; i++) {
        const field_proto *of = o->field[i];
        const field_proto *nf = compat_field(n, of->number);
        if (!nf) {
            if (!compat_reserved(n, of->number, of->name))
                compat_issue(c, COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD,
                             "field_removed_not_reserved",
                             "%s.%s = %d was removed without `reserved %d`", mname, of->name,
                             of->number, of->number);
            if (of->label == L(REQUIRED))
                compat_issue(c, COMPAT_BREAKS_FORWARD, "required_field_removed",
                             "%s.%s = %d is required by the old version", mname, of->name,
                             of->number);
            continue;
        }
        if (compat_wire(of->type) != compat_wire(nf->type)) {
            compat_issue(c, COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD,
                         "field_wire_type_changed",
                         "%s field %d: %s %s -> %s %s (wire type %d -> %d)", mname, of->number,
                         compat_type_name(of->type), of->name, compat_type_name(nf->type), nf->name,
                         compat_wire(of->type), compat_wire(nf->type));
        } else if (compat_class(of->type) != compat_class(nf->type)) {
            compat_issue(c, COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD, "field_type_changed",
                         "%s field %d reused with an incompatible type: %s %s -> %s %s", mname,
                         of->number, compat_type_name(of->type), of->name,
                         compat_type_name(nf->type), nf->name);
        } else if ((of->type == T(MESSAGE) || of->type == T(ENUM) || of->type == T(GROUP)) &&
                   of->type == nf->type && of->type_name && nf->type_name &&
                   strcmp(compat_rel(of->type_name, c->old_pkg),
                          compat_rel(nf->type_name, c->new_pkg)) != 0) {
            compat_issue(c, COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD, "field_type_changed",
                         "%s field %d changed its %s type: %s -> %s", mname, of->number,
                         compat_type_name(of->type), of->type_name, nf->type_name);
        }
        if ((of->label == L(REPEATED)) != (nf->label == L(REPEATED)))
            compat_issue(c, COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD, "field_label_changed",
                         "%s field %d: %s -> %s", mname, of->number,
                         of->label == L(REPEATED) ? "repeated" : "singular",
                         nf->label == L(REPEATED) ? "repeated" : "singular");
        if (of->label == L(REQUIRED) && nf->label != L(REQUIRED))
            compat_issue(c, COMPAT_BREAKS_FORWARD, "required_field_removed",
                         "%s.%s = %d is no longer required; old readers require it", mname,
                         nf->name, nf->number);
        if (of->label != L(REQUIRED) && nf->label == L(REQUIRED))
            compat_issue(c, COMPAT_BREAKS_BACKWARD, "required_field_added",
                         "%s.%s = %d became required; old data may lack it", mname, nf->name,
                         nf->number);
    }
    for (size_t i = 0; i < n->n_field; i++) {
        const field_proto *nf = n->field[i];
        if (!compat_field(o, nf->number) && nf->label == L(REQUIRED))
            compat_issue(c, COMPAT_BREAKS_BACKWARD, "required_field_added",
                         "%s.%s = %d is required; old data lacks it", mname, nf->name, nf->number);
    }
}

static bool compat_enum_has(const Google__Protobuf__EnumDescriptorProto *e, int32_t number)
{
    for (size_t i = 0; i < e->n_value; i++)
        if (e->value[i]->number == number)
            return true;
    return false;
}

static void compat_enums(struct compat_ctx *c)
{
    for (size_t i = 0; i < c->old->n_enums; i++) {
        const struct fdset_enum *oe = &c->old->enums[i];
        if (oe->file != c->old->main)
            continue;
        const char *rel = compat_rel(oe->name, c->old_pkg);
        for (size_t j = 0; j < c->neu->n_enums; j++) {
            const struct fdset_enum *ne = &c->neu->enums[j];
            if (ne->file != c->neu->main || strcmp(rel, compat_rel(ne->name, c->new_pkg)))
                continue;
            for (size_t k = 0; k < oe->proto->n_value; k++)
                if (!compat_enum_has(ne->proto, oe->proto->value[k]->number))
                    compat_issue(c, COMPAT_BREAKS_BACKWARD, "enum_value_removed",
                                 "%s.%s = %d; old data may carry it", rel,
                                 oe->proto->value[k]->name, oe->proto->value[k]->number);
            for (size_t k = 0; k < ne->proto->n_value; k++)
                if (!compat_enum_has(oe->proto, ne->proto->value[k]->number))
                    compat_issue(c, COMPAT_BREAKS_FORWARD, "enum_value_added",
                                 "%s.%s = %d; old readers reject it", rel,
                                 ne->proto->value[k]->name, ne->proto->value[k]->number);
        }
    }
}

static unsigned compat_diff_want(const uint8_t *old_fds, size_t old_len, const uint8_t *new_fds,
                                 size_t new_len, const char *prefix, unsigned want,
                                 struct buf *msgs)
{
    struct fdset *old = NULL, *neu = NULL;
    char errstr[256];
    struct compat_ctx c = {.prefix = prefix, .msgs = msgs, .want = want};
    if (fdset_new(old_fds, old_len, &old, errstr, sizeof(errstr)) != TP_OK ||
        fdset_new(new_fds, new_len, &neu, errstr, sizeof(errstr)) != TP_OK) {
        compat_issue(&c, COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD, "unreadable", "%s",
                     errstr);
        goto out;
    }
    c.old = old;
    c.neu = neu;
    c.old_pkg = old->main->package ? old->main->package : "";
    c.new_pkg = neu->main->package ? neu->main->package : "";
    if (strcmp(c.old_pkg, c.new_pkg) != 0)
        compat_issue(&c, COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD, "package_changed",
                     "\"%s\" -> \"%s\" renames every message", c.old_pkg, c.new_pkg);
    for (size_t i = 0; i < old->n_messages; i++) {
        const struct fdset_message *om = &old->messages[i];
        if (om->file != old->main || compat_is_map_entry(om->proto))
            continue;
        const char *rel = compat_rel(om->name, c.old_pkg);
        const struct fdset_message *nm = NULL;
        for (size_t j = 0; j < neu->n_messages && !nm; j++)
            if (neu->messages[j].file == neu->main &&
                !strcmp(rel, compat_rel(neu->messages[j].name, c.new_pkg)))
                nm = &neu->messages[j];
        if (!nm) {
            compat_issue(&c, COMPAT_BREAKS_BACKWARD, "message_removed",
                         "%s is gone; old data of it cannot be read", rel);
            continue;
        }
        compat_fields(&c, rel, om->proto, nm->proto);
    }
    compat_enums(&c);
out:
    fdset_free(old);
    fdset_free(neu);
    return c.bits;
}

unsigned compat_diff(const uint8_t *old_fds, size_t old_len, const uint8_t *new_fds, size_t new_len,
                     const char *prefix, struct buf *msgs)
{
    return compat_diff_want(old_fds, old_len, new_fds, new_len, prefix,
                            COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD, msgs);
}

bool compat_check(enum compat_level level, const uint8_t *new_fds, size_t new_len,
                  const struct compat_version *olds, size_t n_olds, struct buf *msgs)
{
    unsigned want = 0;
    bool transitive = false;
    switch (level) {
    case COMPAT_NONE:
        return true;
    case COMPAT_BACKWARD_TRANSITIVE:
        transitive = true;
        /* fall through */
    case COMPAT_BACKWARD:
        want = COMPAT_BREAKS_BACKWARD;
        break;
    case COMPAT_FORWARD_TRANSITIVE:
        transitive = true;
        /* fall through */
    case COMPAT_FORWARD:
        want = COMPAT_BREAKS_FORWARD;
        break;
    case COMPAT_FULL_TRANSITIVE:
        transitive = true;
        /* fall through */
    case COMPAT_FULL:
        want = COMPAT_BREAKS_BACKWARD | COMPAT_BREAKS_FORWARD;
        break;
    }
    bool ok = true;
    for (size_t i = 0; i < (transitive ? n_olds : (n_olds ? 1 : 0)); i++) {
        struct buf lines;
        char prefix[64];
        buf_init(&lines, 32768);
        snprintf(prefix, sizeof(prefix), "version %d: ", olds[i].version);
        unsigned bits =
            compat_diff_want(olds[i].fds, olds[i].len, new_fds, new_len, prefix, want, &lines);
        if (bits & want) {
            ok = false;
            if (msgs && lines.data)
                buf_append(msgs, lines.data, lines.len);
        }
        buf_release(&lines);
    }
    if (msgs && msgs->len && msgs->data[msgs->len - 1] == '\n')
        msgs->data[--msgs->len] = '\0';
    return ok;
}
