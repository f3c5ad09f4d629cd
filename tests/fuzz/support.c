#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "common/log.h"
#include "fuzz.h"
#include "journal/journal.h"

void fuzz_quiet(void)
{
    log_init("fuzz", LOG_ERROR);
}

const struct rtdesc_set *fuzz_schema_set(void)
{
    static struct rtdesc_set *set;
    if (!set) {
        char err[256];
        const ProtobufCMessageDescriptor *tmpl[] = {&twinpipe__telemetry__v1__reading__descriptor};
        if (rtdesc_set_new(fuzz_telemetry_fds, fuzz_telemetry_fds_len, tmpl, 1, &set, err,
                           sizeof(err)) != TP_OK) {
            fprintf(stderr, "fuzz: the fuzz schema does not build: %s\n", err);
            abort();
        }
    }
    return set;
}

/* GET /schemas/ids/<id>/descriptor: the fuzz schema's set for FUZZ_SCHEMA_ID, else 404. */
static void fuzz_registry_descriptor(struct http_request *req, void *arg)
{
    (void)arg;
    char want[16];
    snprintf(want, sizeof(want), "%d", FUZZ_SCHEMA_ID);
    if (strcmp(http_request_path_tail(req), want) != 0) {
        http_reply_error(req, 404, "40403", "Schema not found");
        return;
    }
    http_reply(req, 200, "application/octet-stream", (const char *)fuzz_telemetry_fds,
               fuzz_telemetry_fds_len);
}

static const struct http_route fuzz_registry_routes[] = {
    {"GET", "/schemas/ids/*/descriptor", 0, fuzz_registry_descriptor, NULL},
};

struct schemas *fuzz_registry_start(void)
{
    static struct http_server *srv;
    static struct schemas *s;
    if (s)
        return s;
    char err[256], url[64];
    struct http_options ho = {
        .listen = "127.0.0.1:0", .threads = 1, .connection_timeout_s = 5, .max_connections = 16};
    if (http_server_new(fuzz_registry_routes, 1, &ho, &srv, err, sizeof(err)) != TP_OK) {
        fprintf(stderr, "fuzz: registry stand-in: %s\n", err);
        abort();
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", http_server_port(srv));
    const ProtobufCMessageDescriptor *tmpl[] = {&twinpipe__telemetry__v1__reading__descriptor};
    struct schemas_options so = {.url = url,
                                 .subject = "twinpipe.telemetry.v1-value",
                                 .cache_size = 4,
                                 .timeout_ms = 5000,
                                 .templates = tmpl,
                                 .n_templates = 1};
    if (schemas_new(&so, &s, err, sizeof(err)) != TP_OK) {
        fprintf(stderr, "fuzz: schemas: %s\n", err);
        abort();
    }
    return s;
}

void fuzz_split(const uint8_t *data, size_t size, const uint8_t **a, size_t *a_len,
                const uint8_t **b, size_t *b_len)
{
    size_t n = size >= 2 ? ((size_t)data[0] << 8 | data[1]) : 0;
    size_t rest = size >= 2 ? size - 2 : 0;
    if (n > rest)
        n = rest;
    *a = data + (size >= 2 ? 2 : size);
    *a_len = n;
    *b = *a + n;
    *b_len = rest - n;
}

bool fuzz_has_field0(const ProtobufCMessage *m)
{
    if (!m)
        return false;
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return true;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *slot = (const char *)m + f->offset;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)slot;
            for (size_t k = 0; k < n; k++)
                if (fuzz_has_field0(v[k]))
                    return true;
        } else if (fuzz_has_field0(*(ProtobufCMessage *const *)slot)) {
            return true;
        }
    }
    return false;
}
