/*
 * store.h - tp-registry's tables in PostgreSQL (migrations/0005_registry.sql).
 *
 * Every statement is parameterized. Read answers are JSON documents built by
 * PostgreSQL (json_build_object), as tp-query does, so they are always valid
 * JSON; request bodies are parsed by PostgreSQL too ($1::jsonb), so the
 * registry has no JSON parser of its own. A schema's identity is its
 * fingerprint: sha256 over type, text and the canonical (jsonb) references.
 *
 * Registration (registry_store_register) runs in one transaction: the subject's
 * registry_subjects row is locked FOR UPDATE (registrations of one subject
 * are serialized across replicas), a live version with the same fingerprint
 * is answered as is, else the compatibility callback sees the subject's live
 * versions and the schema row is inserted ON CONFLICT (fingerprint) DO
 * NOTHING (one id however many replicas race) before the next version.
 *
 * Ownership: strings and blobs returned belong to the caller (free());
 * registry_store_request_release frees a parsed request. Threads: a PGconn belongs to
 * its caller (from common/pool.h); the functions themselves keep no state.
 *
 *     registry_store_request_parse(db, body, &rq, &code, errstr, n);
 *     registry_store_lookup(db, subject, &rq, &id, &version, errstr, n);   // TP_NOT_FOUND
 *     registry_store_register(db, subject, &rq, fds, len, check, arg, &id, &version, msgs, errstr,
 * n);
 */
#ifndef TP_REGISTRY_STORE_H
#define TP_REGISTRY_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* A parsed {"schema":..,"schemaType":..,"references":[..]} body. */
struct registry_store_request {
    char *text;        /* NULL when the body has no "schema" string */
    char *type;        /* "PROTOBUF" when absent */
    char *refs;        /* canonical jsonb text of the references, "[]" when none */
    char *fingerprint; /* hex sha256 */
    /* set by the caller before registry_store_register: the canonical schema file (serialized.h) */
    const uint8_t *file;
    size_t file_len;
    bool serialized; /* text is a base64 serialized FileDescriptorProto */
};

/* One reference file resolved for the compiler (transitively). */
struct registry_store_ref {
    char *name, *subject, *text; /* text NULL: the subject/version does not exist */
    int version;
};

/* The compiled descriptor set of one live version. */
struct registry_store_blob {
    int version;
    int32_t schema_id;
    uint8_t *data;
    size_t len;
};

/* Decides whether a new schema may follow the subject's live versions (newest first) at
 * `level` ("BACKWARD", ...); writes reasons into msgs when not. */
typedef bool (*registry_store_check_fn)(void *arg, const char *level, const uint8_t *fds,
                                        size_t fds_len, const struct registry_store_blob *olds,
                                        size_t n_olds, struct buf *msgs);

/* TP_DECODE: not JSON (errstr says why). */
enum tp_err registry_store_request_parse(PGconn *db, const char *body,
                                         struct registry_store_request *out, char *errstr,
                                         size_t errstr_size);
void registry_store_request_release(struct registry_store_request *rq);

/* The reference files of refs (canonical JSON), transitively; *n rows. */
enum tp_err registry_store_refs_resolve(PGconn *db, const char *refs,
                                        struct registry_store_ref **out, size_t *n, char *errstr,
                                        size_t errstr_size);
void registry_store_refs_free(struct registry_store_ref *refs, size_t n);

/* The live version of this schema under subject: TP_NOT_FOUND, with *subject_exists. */
enum tp_err registry_store_lookup(PGconn *db, const char *subject,
                                  const struct registry_store_request *rq, int32_t *id,
                                  int *version, bool *subject_exists, char *errstr,
                                  size_t errstr_size);
/* The fingerprint (hex) of the first stored schema with this canonical schema file and
 * references, whatever form it was registered in: TP_NOT_FOUND if none. */
enum tp_err registry_store_fingerprint_by_file(PGconn *db, const uint8_t *file, size_t file_len,
                                               const char *refs, char **fingerprint, char *errstr,
                                               size_t errstr_size);
/* Rows stored before migration 0010 (no schema_file yet): up to max ids and descriptor sets. */
enum tp_err registry_store_unfiled(PGconn *db, int max, struct registry_store_blob **out, size_t *n,
                                   char *errstr, size_t errstr_size);
enum tp_err registry_store_file_set(PGconn *db, int32_t id, const uint8_t *file, size_t file_len,
                                    char *errstr, size_t errstr_size);
/* The descriptor set stored for this fingerprint (any subject): TP_NOT_FOUND if none. */
enum tp_err registry_store_fds_by_fingerprint(PGconn *db, const char *fingerprint, uint8_t **fds,
                                              size_t *len, char *errstr, size_t errstr_size);
/* TP_CONFLICT when check() refused it (msgs filled). */
enum tp_err registry_store_register(PGconn *db, const char *subject,
                                    const struct registry_store_request *rq, const uint8_t *fds,
                                    size_t fds_len, registry_store_check_fn check, void *arg,
                                    int32_t *id, int *version, struct buf *msgs, char *errstr,
                                    size_t errstr_size);

/* The subject's live versions' descriptor sets, newest first (all, or only `version`;
 * version -1 = latest). */
enum tp_err registry_store_live_blobs(PGconn *db, const char *subject, int version, bool all,
                                      struct registry_store_blob **out, size_t *n, char *errstr,
                                      size_t errstr_size);
void registry_store_blobs_free(struct registry_store_blob *b, size_t n);

/* The compatibility level of subject (NULL = global); *is_set false when the subject has
 * none of its own (then the global one is returned). */
enum tp_err registry_store_config_get(PGconn *db, const char *subject, char **level, bool *is_set,
                                      char *errstr, size_t errstr_size);
enum tp_err registry_store_config_set(PGconn *db, const char *subject, const char *level,
                                      char *errstr, size_t errstr_size);
/* The "compatibility" member of a PUT /config body, or NULL (TP_DECODE: not JSON). */
enum tp_err registry_store_config_parse(PGconn *db, const char *body, char **level, char *errstr,
                                        size_t errstr_size);

/*
 * Read documents (JSON text built by PostgreSQL, caller frees). *json is NULL when there is
 * nothing: *subject_exists tells a missing subject from a missing version.
 */
enum tp_err registry_store_subjects_json(PGconn *db, char **json, char *errstr, size_t errstr_size);
enum tp_err registry_store_versions_json(PGconn *db, const char *subject, char **json, char *errstr,
                                         size_t errstr_size);
/* version -1 = latest; serialized: "schema" is the base64 canonical schema file
 * (?format=serialized) instead of the text as registered; deleted: soft-deleted versions too
 * (?deleted=true) */
enum tp_err registry_store_version_json(PGconn *db, const char *subject, int version,
                                        bool serialized, bool deleted, char **json,
                                        bool *subject_exists, char *errstr, size_t errstr_size);
enum tp_err registry_store_schema_json(PGconn *db, int32_t id, bool serialized, char **json,
                                       char *errstr, size_t errstr_size);
enum tp_err registry_store_schema_versions_json(PGconn *db, int32_t id, char **json, char *errstr,
                                                size_t errstr_size);
/* The subjects the schema is live under (GET /schemas/ids/{id}/subjects); NULL: no schema. */
enum tp_err registry_store_schema_subjects_json(PGconn *db, int32_t id, char **json, char *errstr,
                                                size_t errstr_size);
/* The schema's text (GET /schemas/ids/{id}/schema). */
enum tp_err registry_store_schema_text(PGconn *db, int32_t id, char **text, char *errstr,
                                       size_t errstr_size);
/* The descriptor set of id and whether id is live under subject (NULL: not asked). */
enum tp_err registry_store_schema_fds(PGconn *db, int32_t id, const char *subject, uint8_t **fds,
                                      size_t *len, bool *in_subject, char *errstr,
                                      size_t errstr_size);
/* Soft delete: TP_NOT_FOUND (with *subject_exists) when there is no such live version. */
enum tp_err registry_store_version_delete(PGconn *db, const char *subject, int version,
                                          bool *subject_exists, char *errstr, size_t errstr_size);
/* DELETE /subjects/{s}: soft (live versions marked deleted) or permanent (soft-deleted
 * versions removed; the schemas stay readable by id). *json = the versions as a JSON array,
 * NULL when there were none (*live: the subject still has live versions, which a permanent
 * delete refuses); TP_CONFLICT with *json the referring schema ids when a live schema
 * references a version to be soft-deleted. */
enum tp_err registry_store_subject_delete(PGconn *db, const char *subject, bool permanent,
                                          char **json, bool *live, char *errstr,
                                          size_t errstr_size);
/* Permanent delete of one soft-deleted version: TP_NOT_FOUND (no such version; *soft_deleted
 * false when it is still live, *subject_exists whether the subject has any row). */
enum tp_err registry_store_version_purge(PGconn *db, const char *subject, int version, bool *live,
                                         bool *subject_exists, char *errstr, size_t errstr_size);
/* Ids of the live schemas whose references name subject/version (JSON array). */
enum tp_err registry_store_referenced_by_json(PGconn *db, const char *subject, int version,
                                              char **json, char *errstr, size_t errstr_size);
/* Whether subject/version has live schemas referring to it (blocks a soft delete). */
enum tp_err registry_store_version_referenced(PGconn *db, const char *subject, int version,
                                              bool *referenced, char *errstr, size_t errstr_size);
/* DELETE /config/{s} (NULL: the global level back to BACKWARD): the previous level, NULL when
 * the subject had none. */
enum tp_err registry_store_config_delete(PGconn *db, const char *subject, char **previous,
                                         char *errstr, size_t errstr_size);
/* Modes (READWRITE, READONLY, IMPORT) by scope (NULL = global): *is_set false when the
 * subject has none of its own (then the global one, READWRITE by default, is returned). */
enum tp_err registry_store_mode_get(PGconn *db, const char *subject, char **mode, bool *is_set,
                                    char *errstr, size_t errstr_size);
enum tp_err registry_store_mode_set(PGconn *db, const char *subject, const char *mode, char *errstr,
                                    size_t errstr_size);
/* The previous mode of the scope, NULL when it had none. */
enum tp_err registry_store_mode_delete(PGconn *db, const char *subject, char **previous,
                                       char *errstr, size_t errstr_size);
/* The "mode" member of a PUT /mode body, or NULL (TP_DECODE: not JSON). */
enum tp_err registry_store_mode_parse(PGconn *db, const char *body, char **mode, char *errstr,
                                      size_t errstr_size);
/* Schemas and live subjects, for /metrics. */
enum tp_err registry_store_counts(PGconn *db, int64_t *schemas, int64_t *subjects, char *errstr,
                                  size_t errstr_size);

#endif
