/*
 * schemas.h - the schemas a service may meet, by schema id: fetched from
 * tp-registry over HTTP (libcurl) on first use, built into run-time
 * descriptors (rtdesc.h) and kept in a bounded LRU cache (lru.h).
 *
 * Why HTTP and not the registry's tables: tp-ingest is stateless and has no
 * database today, the registry stays the one place that compiles and
 * checks schemas, and replicas of it scale reads; a registered schema never
 * changes, so one fetch per id and process is all the load there is.
 *
 * Only ids live under the configured subject (Confluent's
 * TopicNameStrategy: "<topic>-value") are served; the registry answers that
 * with the descriptor (GET /schemas/ids/{id}/descriptor?subject=..). An
 * unknown id is remembered as unknown for one second (a burst of bad frames
 * costs one request a second), then asked again: registering a new version
 * takes effect without a restart.
 *
 * Credentials: HTTP Basic (registry.user/registry.password, or the URL's
 * user:password@, which is taken out of the URL that messages show). A 401
 * or 403 is a configuration error (TP_CONFIG), never "registry unavailable".
 * Services get read credentials: fetching descriptors and looking up
 * schemas need nothing more; registering needs the write role (operators).
 *
 * Object: struct schemas (heap, _new/_free). A struct schema handed out is
 * pinned until schemas_put (eviction never frees it under a user).
 * Threads: every function from any thread; a cache miss blocks the caller
 * for one HTTP round trip (bounded by timeout_ms).
 *
 *     schemas_new(&opts, &s, errstr, n);
 *     schemas_ensure(s, proto_text, &id, &registered, errstr, n); // start-up
 *     const struct schema *sc; struct lru_ref *ref;
 *     if (schemas_get(s, id, &sc, &ref, errstr, n) == TP_OK) {
 *         d = rtdesc_message_at(sc->set, path, n); ... unpack ...; free messages;
 *         schemas_put(s, ref);
 *     }
 *     schemas_free(s);
 */
#ifndef TP_SCHEMAS_H
#define TP_SCHEMAS_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "lru.h"
#include "rtdesc.h"

struct schemas;

#define SCHEMAS_NEGATIVE_TTL_MS 1000
#define SCHEMAS_MAX_DESCRIPTOR  (16u << 20) /* largest descriptor set accepted, bytes */

struct schemas_options {
    const char *url;      /* tp-registry, e.g. "http://127.0.0.1:18084" (may hold user:password@) */
    const char *user;     /* HTTP Basic credentials (NULL or "": the URL's, or none) */
    const char *password; /* never logged */
    const char *subject;  /* e.g. "twinpipe.telemetry.v1-value" */
    size_t cache_size;    /* schemas kept */
    int timeout_ms;       /* per registry request */
    /* generated descriptors whose layout runtime messages of the same name keep */
    const ProtobufCMessageDescriptor *const *templates;
    size_t n_templates;
};

struct schema {
    int32_t id;
    struct rtdesc_set *set; /* NULL: a remembered "unknown" */
    int64_t unknown_until_ms;
    char why[256]; /* why unknown */
};

struct schemas_stats {
    struct lru_stats cache;
    uint64_t fetches;      /* registry requests for descriptors */
    uint64_t fetch_errors; /* registry unreachable or broken answers */
    uint64_t unknown;      /* ids the registry does not have under the subject */
};

enum tp_err schemas_new(const struct schemas_options *opts, struct schemas **out, char *errstr,
                        size_t errstr_size);
/*
 * Every call may answer TP_CONFIG (not retriable) when the registry refuses the credentials
 * (401: missing or wrong registry.user/registry.password) or the role (403: a read
 * credential asked to write); errstr says which. TP_IO/TP_TIMEOUT: no answer (retriable).
 */
/* Registers text under the subject (or finds it there): its id; needs the write role.
 * TP_CONFLICT (409), TP_VALIDATION (42201). */
enum tp_err schemas_register(struct schemas *s, const char *text, int32_t *id, char *errstr,
                             size_t errstr_size);
/* The id of text if it is a live version of the subject (POST /subjects/{s}, read role);
 * TP_NOT_FOUND when it is not. */
enum tp_err schemas_lookup(struct schemas *s, const char *text, int32_t *id, char *errstr,
                           size_t errstr_size);
/* Whether the registry takes the credentials (GET /subjects/{s}/versions, read role; a
 * subject without versions is fine): TP_CONFIG when it refuses them, TP_IO/TP_TIMEOUT when
 * it does not answer. For start-up, so a wrong password fails there, not at the first event. */
enum tp_err schemas_check(struct schemas *s, char *errstr, size_t errstr_size);
/* Looks text up and registers it only when it is missing (*registered then true), so a
 * read credential suffices once an operator registered it; when it is missing and the
 * credential may only read: TP_CONFIG saying what to do. */
enum tp_err schemas_ensure(struct schemas *s, const char *text, int32_t *id, bool *registered,
                           char *errstr, size_t errstr_size);
/* TP_NOT_FOUND: the id is not live under the subject (errstr says so); TP_IO/TP_TIMEOUT:
 * the registry did not answer; TP_DECODE: what it sent cannot be built. */
enum tp_err schemas_get(struct schemas *s, int32_t id, const struct schema **out,
                        struct lru_ref **ref, char *errstr, size_t errstr_size);
void schemas_put(struct schemas *s, struct lru_ref *ref);
void schemas_stats_get(struct schemas *s, struct schemas_stats *out);
const char *schemas_subject(const struct schemas *s);
/* The registry's URL without any user:password@ (fit for messages). */
const char *schemas_url(const struct schemas *s);
void schemas_free(struct schemas *s);

/* The telemetry schema's .proto text, embedded at build time from schemas/. */
extern const char schemas_builtin_proto[];

#endif
