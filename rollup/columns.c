#include "columns.h"

#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"

static const struct rollup_column rollup_fixed[] = {
    {"device_id", PARQUET_STRING, false, ROLLUP_SRC_DEVICE_ID, "", ""},
    {"sequence", PARQUET_INT64, false, ROLLUP_SRC_SEQUENCE, "", ""},
    {"device_time", PARQUET_TIMESTAMP_MS, false, ROLLUP_SRC_DEVICE_TIME, "", ""},
    {"ingest_time", PARQUET_TIMESTAMP_MS, false, ROLLUP_SRC_INGEST_TIME, "", ""},
    {"journal_partition", PARQUET_INT64, false, ROLLUP_SRC_PARTITION, "", ""},
    {"journal_offset", PARQUET_INT64, false, ROLLUP_SRC_OFFSET, "", ""},
};
#define ROLLUP_FIXED_N (sizeof(rollup_fixed) / sizeof(rollup_fixed[0]))

void rollup_schema_init(struct rollup_schema *s)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->cols, rollup_fixed, sizeof(rollup_fixed));
    s->n = ROLLUP_FIXED_N;
}

static bool rollup_has(const struct rollup_schema *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->cols[i].name, name))
            return true;
    return false;
}

static enum tp_err rollup_add_col(struct rollup_schema *s, const char *name, enum parquet_type t,
                                  enum rollup_source src, const char *field, const char *sub,
                                  bool *added, char *errstr, size_t errstr_size)
{
    if (rollup_has(s, name))
        return TP_OK;
    if (s->n == ROLLUP_COLUMNS_MAX)
        return tp_err_set(TP_TOO_LARGE, errstr, errstr_size, "more than %d rollup columns",
                          ROLLUP_COLUMNS_MAX);
    struct rollup_column *c = &s->cols[s->n++];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->type = t;
    c->nullable = true;
    c->src = src;
    snprintf(c->field, sizeof(c->field), "%s", field);
    snprintf(c->sub, sizeof(c->sub), "%s", sub);
    *added = true;
    return TP_OK;
}

static bool rollup_is_map_double(const ProtobufCFieldDescriptor *f)
{
    if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED)
        return false;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    return e && e->n_fields == 2 && e->fields[0].type == PROTOBUF_C_TYPE_STRING &&
           e->fields[1].type == PROTOBUF_C_TYPE_DOUBLE && !strcmp(e->fields[0].name, "key") &&
           !strcmp(e->fields[1].name, "value");
}

enum tp_err rollup_schema_add(struct rollup_schema *s, const ProtobufCMessageDescriptor *d,
                              char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    bool added = false;
    char name[ROLLUP_NAME_MAX * 2 + 2];
    for (unsigned i = 0; i < d->n_fields && err == TP_OK; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type == PROTOBUF_C_TYPE_DOUBLE) {
            err = rollup_add_col(s, f->name, PARQUET_DOUBLE, ROLLUP_SRC_DOUBLE, f->name, "", &added,
                                 errstr, errstr_size);
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type == PROTOBUF_C_TYPE_STRING &&
                   strcmp(f->name, "device_id") != 0) {
            err = rollup_add_col(s, f->name, PARQUET_STRING, ROLLUP_SRC_STRING, f->name, "", &added,
                                 errstr, errstr_size);
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessageDescriptor *sd = f->descriptor;
            for (unsigned j = 0; j < sd->n_fields && err == TP_OK; j++) {
                const ProtobufCFieldDescriptor *sf = &sd->fields[j];
                if (sf->label != PROTOBUF_C_LABEL_OPTIONAL || sf->type != PROTOBUF_C_TYPE_DOUBLE)
                    continue;
                snprintf(name, sizeof(name), "%s_%s", f->name, sf->name);
                err = rollup_add_col(s, name, PARQUET_DOUBLE, ROLLUP_SRC_SUB_DOUBLE, f->name,
                                     sf->name, &added, errstr, errstr_size);
            }
        } else if (rollup_is_map_double(f)) {
            err = rollup_add_col(s, "extra_metrics", PARQUET_STRING, ROLLUP_SRC_MAP_JSON, f->name,
                                 "", &added, errstr, errstr_size);
        }
    }
    if (added)
        s->version++;
    return err;
}

void rollup_schema_specs(const struct rollup_schema *s, struct parquet_column_spec *specs)
{
    for (size_t i = 0; i < s->n; i++) {
        specs[i].name = s->cols[i].name;
        specs[i].type = s->cols[i].type;
        specs[i].nullable = s->cols[i].nullable;
    }
}

static const void *rollup_member(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return (const char *)m + f->offset;
}

static bool rollup_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_OPTIONAL)
        return true;
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(const void *const *)rollup_member(m, f) != NULL;
    return *(const protobuf_c_boolean *)((const char *)m + f->quantifier_offset);
}

static enum tp_err rollup_map_json(struct buf *j, const ProtobufCMessage *m,
                                   const ProtobufCFieldDescriptor *f)
{
    size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
    ProtobufCMessage *const *entries = *(ProtobufCMessage *const *const *)rollup_member(m, f);
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    enum tp_err err = buf_append_str(j, "{");
    for (size_t i = 0; i < n && err == TP_OK; i++) {
        const char *key = *(const char *const *)rollup_member(entries[i], &ed->fields[0]);
        const double *v = rollup_member(entries[i], &ed->fields[1]);
        bool has = *(const protobuf_c_boolean *)((const char *)entries[i] +
                                                 ed->fields[1].quantifier_offset);
        if (i)
            err = buf_append_str(j, ",");
        if (err == TP_OK)
            err = json_str(j, key ? key : "");
        if (err == TP_OK)
            err = buf_append_str(j, ":");
        if (err == TP_OK)
            err = json_double(j, has ? *v : 0.0);
    }
    if (err == TP_OK)
        err = buf_append_str(j, "}");
    return err;
}

bool rollup_event_usable(const struct journal_event *ev)
{
    const journal_reading *r = ev->reading;
    /* the projector's bounds (twin/twin.h): years 1..9999 */
    return r && r->device_id && *r->device_id &&
           json_utf8_valid(r->device_id, strlen(r->device_id)) && r->has_sequence &&
           r->has_timestamp_ms && r->timestamp_ms >= -62135596800000LL &&
           r->timestamp_ms <= 253402300799999LL;
}

/* Resolves every column's field (and sub-field) in descriptor d, once per descriptor. */
static void rollup_resolve(struct rollup_schema *s, const ProtobufCMessageDescriptor *d)
{
    if (s->cached_desc == d && s->cached_n == s->n)
        return;
    for (size_t i = 0; i < s->n; i++) {
        const struct rollup_column *c = &s->cols[i];
        s->field[i] =
            c->field[0] ? protobuf_c_message_descriptor_get_field_by_name(d, c->field) : NULL;
        s->sub[i] = NULL;
        if (c->sub[0] && s->field[i] && s->field[i]->type == PROTOBUF_C_TYPE_MESSAGE)
            s->sub[i] =
                protobuf_c_message_descriptor_get_field_by_name(s->field[i]->descriptor, c->sub);
    }
    s->cached_desc = d;
    s->cached_n = s->n;
}

enum tp_err rollup_row_fill(struct rollup_schema *s, struct parquet_writer *w,
                            const struct journal_event *ev, char *errstr, size_t errstr_size)
{
    const journal_reading *r = ev->reading;
    const ProtobufCMessage *m = &r->base;
    enum tp_err err = TP_OK;
    rollup_resolve(s, m->descriptor);
    struct buf j;
    buf_init(&j, 1 << 20);
    for (size_t i = 0; i < s->n && err == TP_OK; i++) {
        const struct rollup_column *c = &s->cols[i];
        const ProtobufCFieldDescriptor *f = s->field[i];
        switch (c->src) {
        case ROLLUP_SRC_DEVICE_ID:
            err = parquet_writer_set_string(w, i, r->device_id, strlen(r->device_id), errstr,
                                            errstr_size);
            break;
        case ROLLUP_SRC_SEQUENCE:
            parquet_writer_set_i64(w, i, (int64_t)r->sequence);
            break;
        case ROLLUP_SRC_DEVICE_TIME:
            parquet_writer_set_i64(w, i, r->timestamp_ms);
            break;
        case ROLLUP_SRC_INGEST_TIME:
            parquet_writer_set_i64(w, i, ev->timestamp_ms);
            break;
        case ROLLUP_SRC_PARTITION:
            parquet_writer_set_i64(w, i, ev->partition);
            break;
        case ROLLUP_SRC_OFFSET:
            parquet_writer_set_i64(w, i, ev->offset);
            break;
        case ROLLUP_SRC_DOUBLE:
            if (f && f->type == PROTOBUF_C_TYPE_DOUBLE && rollup_present(m, f))
                parquet_writer_set_double(w, i, *(const double *)rollup_member(m, f));
            break; /* unset nullable = null */
        case ROLLUP_SRC_SUB_DOUBLE: {
            if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || !rollup_present(m, f))
                break;
            const ProtobufCMessage *sm = *(const ProtobufCMessage *const *)rollup_member(m, f);
            const ProtobufCFieldDescriptor *sf = s->sub[i];
            if (sf && sf->type == PROTOBUF_C_TYPE_DOUBLE && rollup_present(sm, sf))
                parquet_writer_set_double(w, i, *(const double *)rollup_member(sm, sf));
            break;
        }
        case ROLLUP_SRC_STRING:
            if (f && f->type == PROTOBUF_C_TYPE_STRING && rollup_present(m, f)) {
                const char *v = *(const char *const *)rollup_member(m, f);
                /* not UTF-8: the writer refuses it and the column stays null */
                if (parquet_writer_set_string(w, i, v, strlen(v), errstr, errstr_size) ==
                    TP_TOO_LARGE)
                    err = TP_TOO_LARGE;
            }
            break;
        case ROLLUP_SRC_MAP_JSON:
            if (f && rollup_is_map_double(f) &&
                *(const size_t *)((const char *)m + f->quantifier_offset) > 0) {
                buf_reset(&j);
                /* over the buffer's bound (1 MiB of JSON): the column stays null */
                if (rollup_map_json(&j, m, f) == TP_OK)
                    err = parquet_writer_set_string(w, i, j.data, j.len, errstr, errstr_size);
            }
            break;
        }
    }
    buf_release(&j);
    return err;
}
