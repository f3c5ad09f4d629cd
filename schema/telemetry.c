#include "telemetry.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "rtdesc.h"
#include "strict.h"

#define TELEMETRY_READING "twinpipe.telemetry.v1.Reading"

enum tp_err telemetry_schemas_new(const struct telemetry_registry_settings *st, const char *topic,
                                  struct schemas **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (!st->url || !*st->url)
        return TP_OK;
    char subject[300];
    snprintf(subject, sizeof(subject), "%s-value", topic);
    const ProtobufCMessageDescriptor *const templates[] = {
        &twinpipe__telemetry__v1__reading__descriptor,
        &twinpipe__telemetry__v1__reading_batch__descriptor};
    struct schemas_options o = {.url = st->url,
                                .user = st->user,
                                .password = st->password,
                                .subject = subject,
                                .cache_size = (size_t)st->cache_size,
                                .timeout_ms = (int)st->timeout_ms,
                                .templates = templates,
                                .n_templates = 2};
    enum tp_err err = schemas_new(&o, out, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    /* refused credentials stop the start; a registry that does not answer yet does not */
    char why[1024];
    err = schemas_check(*out, why, sizeof(why));
    if (err == TP_CONFIG) {
        schemas_free(*out);
        *out = NULL;
        return tp_err_set(err, errstr, errstr_size, "%s", why);
    }
    if (err != TP_OK)
        log_warn("%s (at start-up; asked again when an event needs it)", why);
    return TP_OK;
}

static _Atomic int64_t telemetry_failure_logged_ms = -60000;

static enum tp_err telemetry_unpack(void *arg, int32_t schema_id, const int32_t *path,
                                    size_t path_len, const uint8_t *payload, size_t len,
                                    journal_reading **out, void **ref, char *errstr,
                                    size_t errstr_size)
{
    struct schemas *s = arg;
    const struct schema *sc;
    struct lru_ref *pin;
    enum tp_err err = schemas_get(s, schema_id, &sc, &pin, errstr, errstr_size);
    if (err != TP_OK) {
        int64_t now = tp_mono_ms(), last = atomic_load(&telemetry_failure_logged_ms);
        if (now - last >= 60000 &&
            atomic_compare_exchange_strong(&telemetry_failure_logged_ms, &last, now))
            log_warn("cannot decode events of schema id %d%s: %s", schema_id,
                     tp_err_retriable(err) || err == TP_CONFIG ? " yet" : "", errstr);
        /* refused credentials (401/403) are this process's misconfiguration, not the
         * event's: retriable for the consumer, which waits (its /readyz says so) instead of
         * dead-lettering every event until an operator fixes registry.user/password */
        if (err == TP_DECODE)
            err = TP_NOT_FOUND;
        else if (err == TP_CONFIG)
            err = TP_IO;
        return err; /* the event's: never dropped silently */
    }
    const ProtobufCMessageDescriptor *md = rtdesc_message_at(sc->set, path, path_len);
    ProtobufCMessage *m = NULL;
    const char *code;
    if (!md || strcmp(md->name, TELEMETRY_READING) != 0) {
        err = tp_err_set(TP_DECODE, errstr, errstr_size,
                         "event of schema id %d names a message that is not a Reading", schema_id);
    } else if (!(m = protobuf_c_message_unpack(md, NULL, len, payload))) {
        err = tp_err_set(TP_DECODE, errstr, errstr_size,
                         "event payload of %zu bytes is not a valid Reading of schema id %d", len,
                         schema_id);
    } else {
        err = strict_check(md, payload, len, &code, errstr, errstr_size);
    }
    if (err != TP_OK) {
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        schemas_put(s, pin);
        return err;
    }
    *out = (journal_reading *)m; /* the generated layout: rtdesc templates */
    *ref = pin;
    return TP_OK;
}

static void telemetry_release(void *arg, void *ref)
{
    schemas_put(arg, ref);
}

void telemetry_journal_decoder(struct schemas *s, struct journal_decoder *out)
{
    out->unpack = telemetry_unpack;
    out->release = telemetry_release;
    out->arg = s;
}

enum tp_err telemetry_journal_attach(const struct telemetry_registry_settings *st,
                                     struct journal_config *jc, struct schemas **schemas,
                                     struct journal_decoder *dec, char *errstr, size_t errstr_size)
{
    enum tp_err err = telemetry_schemas_new(st, jc->topic, schemas, errstr, errstr_size);
    if (err != TP_OK || !*schemas)
        return err;
    telemetry_journal_decoder(*schemas, dec);
    jc->decoder = dec;
    return TP_OK;
}
