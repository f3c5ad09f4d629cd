#include "validate.h"

#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "common/json.h"

static bool validate_id_chars(const char *s, size_t max, bool allow_colon)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || (allow_colon && c == ':');
        if (!ok)
            return false;
    }
    return true;
}

/* Every optional double of a message (by descriptor) must be finite. */
static const char *validate_doubles(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_DOUBLE || f->label != PROTOBUF_C_LABEL_OPTIONAL)
            continue;
        const protobuf_c_boolean *has =
            (const protobuf_c_boolean *)((const char *)m + f->quantifier_offset);
        const double *v = (const double *)((const char *)m + f->offset);
        if (*has && !isfinite(*v))
            return f->name;
    }
    return NULL;
}

static enum tp_err validate_string(const char *s, const char *name, size_t max,
                                   enum ingest_error *code, char *msg, size_t msg_size)
{
    /* protobuf-c cuts a string at an embedded NUL, so strlen is the kept length */
    size_t n = strlen(s);
    if (n > max)
        return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_STRING_TOO_LONG, msg, msg_size,
                                "attribute \"%s\" is too long", name);
    if (!json_utf8_valid(s, n))
        return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_INVALID_UTF8, msg, msg_size,
                                "attribute \"%s\" is not valid UTF-8", name);
    return TP_OK;
}

enum tp_err validate_reading(const journal_reading *r, const struct validate_limits *lim,
                             int64_t now_ms, enum ingest_error *code, char *msg, size_t msg_size)
{
    if (!r->device_id || !*r->device_id)
        return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_MISSING_DEVICE_ID, msg, msg_size,
                                "%s", "reading has no device_id");
    if (!validate_id_chars(r->device_id, VALIDATE_DEVICE_ID_MAX, true))
        return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_INVALID_DEVICE_ID, msg, msg_size,
                                "device_id must be 1..128 characters of A-Z a-z 0-9 . _ : - (%s)",
                                "see schemas/README.md");
    if (!r->has_sequence)
        return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_MISSING_SEQUENCE, msg, msg_size,
                                "%s", "reading has no sequence");
    if (r->sequence == 0 || r->sequence > (uint64_t)INT64_MAX)
        return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_INVALID_SEQUENCE, msg, msg_size,
                                "%s", "sequence must be between 1 and 2^63-1");
    if (!r->has_timestamp_ms)
        return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_MISSING_TIMESTAMP, msg, msg_size,
                                "%s", "reading has no timestamp_ms");
    if (r->timestamp_ms < now_ms - lim->max_past_ms ||
        r->timestamp_ms > now_ms + lim->max_future_ms)
        return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_TIMESTAMP_OUT_OF_RANGE, msg,
                                msg_size, "%s", "timestamp_ms is too far from the server's clock");
    const char *bad = validate_doubles(&r->base);
    if (bad)
        return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_NON_FINITE_VALUE, msg, msg_size,
                                "measurement \"%s\" is not finite", bad);
    if (r->location) {
        bad = validate_doubles(&r->location->base);
        if (bad)
            return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_NON_FINITE_VALUE, msg, msg_size,
                                    "location \"%s\" is not finite", bad);
        if (!r->location->has_lat || !r->location->has_lon || r->location->lat < -90 ||
            r->location->lat > 90 || r->location->lon < -180 || r->location->lon > 180)
            return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_INVALID_LOCATION, msg, msg_size,
                                    "%s", "location needs lat in -90..90 and lon in -180..180");
    }
    if (r->n_metrics > lim->max_metrics)
        return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_TOO_MANY_METRICS, msg, msg_size,
                                "%s", "reading carries too many extra metrics");
    for (size_t i = 0; i < r->n_metrics; i++) {
        const char *name = r->metrics[i]->key ? r->metrics[i]->key : "";
        if (!validate_id_chars(name, VALIDATE_METRIC_NAME_MAX, false))
            return ingest_error_set(
                TP_VALIDATION, code, INGEST_ERR_INVALID_METRIC_NAME, msg, msg_size,
                "metric names must be 1..64 characters of A-Z a-z 0-9 . _ - (%s)",
                "see schemas/README.md");
        /* a map entry without a value means 0.0 (proto2 map semantics) */
        if (r->metrics[i]->has_value && !isfinite(r->metrics[i]->value))
            return ingest_error_set(TP_VALIDATION, code, INGEST_ERR_NON_FINITE_VALUE, msg, msg_size,
                                    "metric \"%s\" is not finite", name);
    }
    const char *names[] = {"model", "firmware", "region"};
    const char *values[] = {r->model, r->firmware, r->region};
    for (int i = 0; i < 3; i++) {
        if (!values[i])
            continue;
        enum tp_err err =
            validate_string(values[i], names[i], lim->max_string, code, msg, msg_size);
        if (err != TP_OK)
            return err;
    }
    return TP_OK;
}
