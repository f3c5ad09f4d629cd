/*
 * api.h - tp-registry's REST API: the Confluent Schema Registry subset for
 * PROTOBUF schemas (content type application/vnd.schemaregistry.v1+json).
 *
 * (openapi.json documents every route; the README lists Confluent's endpoints)
 *   POST   /subjects/{s}/versions            register -> {"id":N} (same schema, same id)
 *   POST   /subjects/{s}                     look up  -> {"subject","id","version","schema",..}
 *   GET    /subjects                         ["s",...]
 *   GET    /subjects/{s}/versions            [1,2,...]
 *   GET    /subjects/{s}/versions/{v|latest}[/schema|/referencedby]  the version, ...
 *   DELETE /subjects/{s}[/versions/{v|latest}][?permanent=true]  soft or permanent delete
 *   GET    /schemas/types                    ["PROTOBUF"]
 *   GET    /schemas/ids/{id}                 {"schemaType","schema","references"}
 *   GET    /schemas/ids/{id}/schema          the .proto text
 *   GET    /schemas/ids/{id}/versions        [{"subject","version"}]; /subjects: ["s",..]
 *   POST   /compatibility/subjects/{s}/versions[/{v|latest}]  {"is_compatible":bool}
 *   GET|PUT|DELETE /config, /config/{s}      {"compatibilityLevel"} / {"compatibility"}
 *   GET|PUT|DELETE /mode, /mode/{s}          {"mode"}
 * Schemas are .proto text or base64 serialized FileDescriptorProtos (serialized.h);
 * ?format=serialized answers the latter. Subjects may hold '/' (routes use "**").
 * and one extension for tp-ingest and tp-projector (registry/client.h):
 *   GET    /schemas/ids/{id}/descriptor[?subject=s]  the compiled FileDescriptorSet,
 *          application/x-protobuf; 404 40403 when the id is unknown or not live under s
 *
 * Errors as Confluent answers them: {"error_code":40401,"message":".."} with
 * 40401 subject, 40402 version, 40403 schema not found, 40405/40407 not
 * soft-deleted first, 40408 subject without its own compatibility level,
 * 40409 without its own mode, 409 incompatible, 42201 invalid schema,
 * 42202 invalid version, 42203 invalid compatibility level, 42204 invalid
 * mode, 42205 READONLY, 42206 referenced, 500 store errors; 404 and 405 (with
 * Allow) for unknown routes (registry_api_unrouted).
 *
 * Authentication (creds.h): with api.creds set, every route but /readyz and
 * /metrics (and main's /healthz) needs HTTP Basic credentials: 401 40101 with
 * WWW-Authenticate: Basic realm="twinpipe-registry" without valid ones, 403
 * 40301 when a read credential registers, deletes or sets a level. Reads, the
 * lookup POST /subjects/{s} and compatibility checks need the read role.
 *
 * Object: struct registry_api (embedded by main, registry_api_init /
 * registry_api_release) owns the connection pool. Handlers run on HTTP
 * threads, each with its own pooled connection; counters are atomic.
 *
 *     registry_api_init(&api, dsn, pool_size, timeout_ms, &compile_opts);
 *     api.creds = &creds;                              // or NULL with registry.auth=off
 *     routes: {"GET", "/subjects", 0, registry_api_handle_subjects, &api}, ...
 *     registry_api_release(&api);
 */
#ifndef TP_REGISTRY_API_H
#define TP_REGISTRY_API_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/http.h"
#include "common/metrics.h"
#include "common/pool.h"
#include "compile.h"
#include "creds.h"

struct registry_api {
    struct pool *pool;
    struct compile_options compile;
    struct http_server *srv;   /* borrowed, for /metrics */
    const struct creds *creds; /* borrowed; NULL: no authentication (registry.auth=off) */
    _Atomic uint64_t registered, reused, lookups, descriptor_fetches, incompatible, invalid;
    _Atomic uint64_t unauthorized, forbidden;
    struct metrics_histogram compile_ms;
};

void registry_api_init(struct registry_api *api, const char *dsn, size_t pool_size,
                       int statement_timeout_ms, const struct compile_options *compile);
void registry_api_release(struct registry_api *api);
/* Fills schema_file/canonical (migration 0010) for the schemas stored before it; at start. */
enum tp_err registry_api_backfill(struct registry_api *api, char *errstr, size_t errstr_size);

/* The credential check of the routes with a body, as a pre-check (common/http.h): a 401
 * or 403 before any of the body is read. The handlers check again (cheap). */
bool registry_api_precheck(struct http_request *req, void *arg);
void registry_api_handle_subjects(struct http_request *req, void *arg);     /* GET /subjects */
void registry_api_handle_subject_get(struct http_request *req, void *arg);  /* GET /subjects/... */
void registry_api_handle_subject_post(struct http_request *req, void *arg); /* POST /subjects/... */
void registry_api_handle_subject_delete(struct http_request *req,
                                        void *arg);                       /* DELETE /subjects/... */
void registry_api_handle_schema_get(struct http_request *req, void *arg); /* GET /schemas/ids/... */
void registry_api_handle_compatibility(struct http_request *req,
                                       void *arg); /* POST /compatibility/... */
void registry_api_handle_config_get(struct http_request *req, void *arg);   /* GET /config[/s] */
void registry_api_handle_config_put(struct http_request *req, void *arg);   /* PUT /config[/s] */
void registry_api_handle_schema_types(struct http_request *req, void *arg); /* GET /schemas/types */
void registry_api_handle_version_more(struct http_request *req,
                                      void *arg); /* .../{v}/schema|referencedby */
void registry_api_handle_config_delete(struct http_request *req,
                                       void *arg);                  /* DELETE /config[/s] */
void registry_api_handle_mode(struct http_request *req, void *arg); /* GET|PUT|DELETE /mode[/s] */
/* http_options.unrouted: 404 and 405 as {"error_code","message"} */
void registry_api_unrouted(struct http_request *req, unsigned status, const char *allow, void *arg);
void registry_api_handle_ready(struct http_request *req, void *arg);   /* GET /readyz */
void registry_api_handle_metrics(struct http_request *req, void *arg); /* GET /metrics */

#endif
