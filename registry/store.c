#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/pg.h"

#define STORE_REF_DEPTH 16 /* reference chains longer than this are not followed */

/* An int as a query parameter: its text, in the caller's buffer. */
struct store_int {
    char text[16];
};

static const char *store_int(struct store_int *b, int v)
{
    snprintf(b->text, sizeof(b->text), "%d", v);
    return b->text;
}

/* Whether column col of the first row is true. */
static bool store_flag(const PGresult *res, int col)
{
    return PQgetvalue(res, 0, col)[0] == 't';
}

/* The first column of the single row as a new string; NULL when no row or SQL NULL. */
static enum tp_err store_text(PGconn *db, const char *sql, int n, const char *const *params,
                              char **out, char *errstr, size_t errstr_size)
{
    PGresult *res;
    *out = NULL;
    enum tp_err err =
        pg_exec_params(db, sql, n, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        *out = tp_strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return TP_OK;
}

/* store_text with the schema id as its only parameter. */
static enum tp_err store_text_id(PGconn *db, const char *sql, int32_t id, char **out, char *errstr,
                                 size_t errstr_size)
{
    struct store_int v;
    const char *params[] = {store_int(&v, id)};
    return store_text(db, sql, 1, params, out, errstr, errstr_size);
}

static char *store_dup_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : tp_strdup(PQgetvalue(res, row, col));
}

static enum tp_err store_bytea(const PGresult *res, int row, int col, uint8_t **out, size_t *len,
                               char *errstr, size_t errstr_size)
{
    size_t n;
    unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), &n);
    if (!b)
        return tp_err_set(TP_DB, errstr, errstr_size, "could not decode a stored descriptor set");
    *out = tp_malloc(n ? n : 1);
    memcpy(*out, b, n);
    *len = n;
    PQfreemem(b);
    return TP_OK;
}

/* A failed parse of client JSON is the client's problem, not the database's. */
static enum tp_err store_client_json(enum tp_err err, const char *errstr)
{
    if (err == TP_DB && strstr(errstr, "json"))
        return TP_DECODE;
    if (err == TP_DB && strstr(errstr, "invalid input syntax"))
        return TP_DECODE;
    return err;
}

// clang-format off
static const char store_parse_sql[] =
    "SELECT j->>'schema', coalesce(j->>'schemaType', 'PROTOBUF'), r.refs::text,"
    " encode(sha256(convert_to(coalesce(j->>'schemaType', 'PROTOBUF') || E'\\n' ||"
    "   coalesce(j->>'schema', '') || E'\\n' || r.refs::text, 'UTF8')), 'hex')"
    " FROM (SELECT $1::jsonb AS j) q,"
    " LATERAL (SELECT coalesce(jsonb_agg(jsonb_build_object('name', e->>'name',"
    "    'subject', e->>'subject', 'version', (e->>'version')::int) ORDER BY o), '[]') AS refs"
    "  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j->'references') = 'array'"
    "   THEN j->'references' ELSE '[]' END) WITH ORDINALITY AS x(e, o)) r";
// clang-format on

enum tp_err registry_store_request_parse(PGconn *db, const char *body,
                                         struct registry_store_request *out, char *errstr,
                                         size_t errstr_size)
{
    PGresult *res;
    memset(out, 0, sizeof(*out));
    const char *params[] = {body};
    enum tp_err err =
        pg_exec_params(db, store_parse_sql, 1, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        return store_client_json(err, errstr);
    out->text = store_dup_or_null(res, 0, 0);
    out->type = tp_strdup(PQgetvalue(res, 0, 1));
    out->refs = tp_strdup(PQgetvalue(res, 0, 2));
    out->fingerprint = tp_strdup(PQgetvalue(res, 0, 3));
    PQclear(res);
    return TP_OK;
}

void registry_store_request_release(struct registry_store_request *rq)
{
    free(rq->text);
    free(rq->type);
    free(rq->refs);
    free(rq->fingerprint);
    memset(rq, 0, sizeof(*rq));
}

// clang-format off
static const char store_refs_sql[] =
    "WITH RECURSIVE r (name, subject, version, depth) AS ("
    "  SELECT e->>'name', e->>'subject', (e->>'version')::int, 1"
    "  FROM jsonb_array_elements($1::jsonb) e"
    " UNION"
    "  SELECT e->>'name', e->>'subject', (e->>'version')::int, r.depth + 1"
    "  FROM r JOIN registry_versions v ON v.subject = r.subject AND v.version = r.version"
    "  AND NOT v.deleted JOIN registry_schemas s ON s.id = v.schema_id,"
    "  jsonb_array_elements(s.refs) e WHERE r.depth < $2::int)"
    " SELECT DISTINCT ON (r.name) r.name, r.subject, r.version, s.schema_text"
    " FROM r LEFT JOIN registry_versions v ON v.subject = r.subject AND v.version = r.version"
    " AND NOT v.deleted LEFT JOIN registry_schemas s ON s.id = v.schema_id"
    " ORDER BY r.name, r.depth";
// clang-format on

enum tp_err registry_store_refs_resolve(PGconn *db, const char *refs,
                                        struct registry_store_ref **out, size_t *n, char *errstr,
                                        size_t errstr_size)
{
    PGresult *res;
    char depth[8];
    snprintf(depth, sizeof(depth), "%d", STORE_REF_DEPTH);
    const char *params[] = {refs, depth};
    *out = NULL;
    *n = 0;
    enum tp_err err =
        pg_exec_params(db, store_refs_sql, 2, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    int rows = PQntuples(res);
    *out = tp_calloc((size_t)rows + 1, sizeof(**out));
    for (int i = 0; i < rows; i++) {
        struct registry_store_ref *r = &(*out)[i];
        r->name = tp_strdup(PQgetvalue(res, i, 0));
        r->subject = tp_strdup(PQgetvalue(res, i, 1));
        r->version = atoi(PQgetvalue(res, i, 2));
        r->text = store_dup_or_null(res, i, 3);
    }
    *n = (size_t)rows;
    PQclear(res);
    return TP_OK;
}

void registry_store_refs_free(struct registry_store_ref *refs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(refs[i].name);
        free(refs[i].subject);
        free(refs[i].text);
    }
    free(refs);
}

enum tp_err registry_store_lookup(PGconn *db, const char *subject,
                                  const struct registry_store_request *rq, int32_t *id,
                                  int *version, bool *subject_exists, char *errstr,
                                  size_t errstr_size)
{
    PGresult *res;
    const char *params[] = {subject, rq->fingerprint};
    enum tp_err err = pg_exec_params(
        db,
        "SELECT (SELECT s.id || ' ' || v.version FROM registry_versions v JOIN registry_schemas s"
        " ON s.id = v.schema_id WHERE v.subject = $1 AND NOT v.deleted"
        " AND s.fingerprint = decode($2, 'hex') ORDER BY v.version DESC LIMIT 1),"
        " EXISTS (SELECT 1 FROM registry_versions WHERE subject = $1 AND NOT deleted)",
        2, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    *subject_exists = store_flag(res, 1);
    err = TP_NOT_FOUND;
    if (!PQgetisnull(res, 0, 0) && sscanf(PQgetvalue(res, 0, 0), "%d %d", id, version) == 2)
        err = TP_OK;
    PQclear(res);
    return err;
}

enum tp_err registry_store_fingerprint_by_file(PGconn *db, const uint8_t *file, size_t file_len,
                                               const char *refs, char **fingerprint, char *errstr,
                                               size_t errstr_size)
{
    char *hex = (char *)PQescapeByteaConn(db, file, file_len, &(size_t){0});
    const char *params[] = {hex, refs};
    enum tp_err err =
        store_text(db,
                   "SELECT encode(fingerprint, 'hex') FROM registry_schemas WHERE canonical ="
                   " sha256($1::bytea || convert_to(E'\\n' || $2::jsonb::text, 'UTF8'))"
                   " ORDER BY id LIMIT 1",
                   2, params, fingerprint, errstr, errstr_size);
    PQfreemem(hex);
    if (err == TP_OK && !*fingerprint)
        err = TP_NOT_FOUND;
    return err;
}

enum tp_err registry_store_unfiled(PGconn *db, int max, struct registry_store_blob **out, size_t *n,
                                   char *errstr, size_t errstr_size)
{
    PGresult *res;
    char m[16];
    snprintf(m, sizeof(m), "%d", max);
    const char *params[] = {m};
    *out = NULL;
    *n = 0;
    enum tp_err err = pg_exec_params(db,
                                     "SELECT id, descriptor_set FROM registry_schemas WHERE"
                                     " schema_file IS NULL ORDER BY id LIMIT $1::int",
                                     1, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    int rows = PQntuples(res);
    *out = tp_calloc((size_t)rows + 1, sizeof(**out));
    for (int i = 0; i < rows && err == TP_OK; i++) {
        (*out)[i].schema_id = (int32_t)atoi(PQgetvalue(res, i, 0));
        err = store_bytea(res, i, 1, &(*out)[i].data, &(*out)[i].len, errstr, errstr_size);
        *n = (size_t)i + 1;
    }
    PQclear(res);
    return err;
}

enum tp_err registry_store_file_set(PGconn *db, int32_t id, const uint8_t *file, size_t file_len,
                                    char *errstr, size_t errstr_size)
{
    struct store_int v;
    char *hex = (char *)PQescapeByteaConn(db, file, file_len, &(size_t){0});
    const char *params[] = {store_int(&v, id), hex};
    enum tp_err err = pg_exec_params(
        db,
        "UPDATE registry_schemas SET schema_file = $2::bytea, canonical = sha256($2::bytea ||"
        " convert_to(E'\\n' || refs::text, 'UTF8')) WHERE id = $1::int",
        2, params, PGRES_COMMAND_OK, NULL, errstr, errstr_size);
    PQfreemem(hex);
    return err;
}

enum tp_err registry_store_fds_by_fingerprint(PGconn *db, const char *fingerprint, uint8_t **fds,
                                              size_t *len, char *errstr, size_t errstr_size)
{
    PGresult *res;
    const char *params[] = {fingerprint};
    enum tp_err err = pg_exec_params(
        db, "SELECT descriptor_set FROM registry_schemas WHERE fingerprint = decode($1, 'hex')", 1,
        params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    err = PQntuples(res) ? store_bytea(res, 0, 0, fds, len, errstr, errstr_size) : TP_NOT_FOUND;
    PQclear(res);
    return err;
}

enum tp_err registry_store_live_blobs(PGconn *db, const char *subject, int version, bool all,
                                      struct registry_store_blob **out, size_t *n, char *errstr,
                                      size_t errstr_size)
{
    PGresult *res;
    struct store_int v;
    const char *params[] = {subject, store_int(&v, version), all ? "true" : "false"};
    *out = NULL;
    *n = 0;
    enum tp_err err = pg_exec_params(
        db,
        "SELECT v.version, s.id, s.descriptor_set FROM registry_versions v JOIN registry_schemas s"
        " ON s.id = v.schema_id WHERE v.subject = $1 AND NOT v.deleted"
        " AND ($3::bool OR $2::int = -1 OR v.version = $2::int)"
        " ORDER BY v.version DESC LIMIT CASE WHEN $3::bool THEN NULL ELSE 1 END",
        3, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    int rows = PQntuples(res);
    *out = tp_calloc((size_t)rows + 1, sizeof(**out));
    for (int i = 0; i < rows && err == TP_OK; i++) {
        (*out)[i].version = atoi(PQgetvalue(res, i, 0));
        (*out)[i].schema_id = (int32_t)atoi(PQgetvalue(res, i, 1));
        err = store_bytea(res, i, 2, &(*out)[i].data, &(*out)[i].len, errstr, errstr_size);
        *n = (size_t)i + 1;
    }
    PQclear(res);
    if (err != TP_OK) {
        registry_store_blobs_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return err;
}

void registry_store_blobs_free(struct registry_store_blob *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(b[i].data);
    free(b);
}

static enum tp_err store_level(PGconn *db, const char *subject, char **level, char *errstr,
                               size_t errstr_size)
{
    bool is_set;
    return registry_store_config_get(db, subject, level, &is_set, errstr, errstr_size);
}

enum tp_err registry_store_register(PGconn *db, const char *subject,
                                    const struct registry_store_request *rq, const uint8_t *fds,
                                    size_t fds_len, registry_store_check_fn check, void *arg,
                                    int32_t *id, int *version, struct buf *msgs, char *errstr,
                                    size_t errstr_size)
{
    PGresult *res = NULL;
    char *level = NULL;
    struct registry_store_blob *olds = NULL;
    size_t n_olds = 0;
    enum tp_err err = pg_command(db, "BEGIN", errstr, errstr_size);
    if (err != TP_OK)
        return err;
    const char *p1[] = {subject};
    err = pg_exec_params(
        db, "INSERT INTO registry_subjects (subject) VALUES ($1) ON CONFLICT DO NOTHING", 1, p1,
        PGRES_COMMAND_OK, NULL, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_exec_params(db, "SELECT 1 FROM registry_subjects WHERE subject = $1 FOR UPDATE", 1,
                             p1, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    /* under the lock: maybe another replica registered it meanwhile */
    bool exists;
    err = registry_store_lookup(db, subject, rq, id, version, &exists, errstr, errstr_size);
    if (err != TP_NOT_FOUND)
        goto out;
    err = store_level(db, subject, &level, errstr, errstr_size);
    if (err == TP_OK)
        err = registry_store_live_blobs(db, subject, -1, true, &olds, &n_olds, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    if (n_olds > 0 && !check(arg, level, fds, fds_len, olds, n_olds, msgs)) {
        err = tp_err_set(TP_CONFLICT, errstr, errstr_size,
                         "schema being registered is incompatible with an earlier schema for "
                         "subject \"%s\"",
                         subject);
        goto out;
    }
    /* one id per fingerprint, however many replicas race (ON CONFLICT waits for them) */
    char *hex = (char *)PQescapeByteaConn(db, fds, fds_len, &(size_t){0});
    char *file =
        rq->file ? (char *)PQescapeByteaConn(db, rq->file, rq->file_len, &(size_t){0}) : NULL;
    const char *p2[] = {
        rq->fingerprint, rq->text, rq->refs, hex, file, rq->serialized ? "true" : "false"};
    err = pg_exec_params(
        db,
        "INSERT INTO registry_schemas (fingerprint, schema_text, refs, descriptor_set,"
        " schema_file, canonical, serialized) VALUES (decode($1, 'hex'), $2, $3::jsonb, $4::bytea,"
        " $5::bytea, sha256($5::bytea || convert_to(E'\\n' || $3::jsonb::text, 'UTF8')), $6::bool)"
        " ON CONFLICT (fingerprint) DO NOTHING",
        6, p2, PGRES_COMMAND_OK, NULL, errstr, errstr_size);
    PQfreemem(hex);
    if (file)
        PQfreemem(file);
    if (err != TP_OK)
        goto out;
    const char *p3[] = {subject, rq->fingerprint};
    err = pg_exec_params(db,
                         "INSERT INTO registry_versions (subject, version, schema_id)"
                         " SELECT $1, coalesce((SELECT max(version) FROM registry_versions"
                         "  WHERE subject = $1), 0) + 1, id"
                         " FROM registry_schemas WHERE fingerprint = decode($2, 'hex')"
                         " RETURNING schema_id, version",
                         2, p3, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    *id = (int32_t)atoi(PQgetvalue(res, 0, 0));
    *version = atoi(PQgetvalue(res, 0, 1));
out:
    PQclear(res);
    free(level);
    registry_store_blobs_free(olds, n_olds);
    if (err == TP_OK) {
        err = pg_command(db, "COMMIT", errstr, errstr_size);
    } else {
        char ignore[64];
        pg_command(db, "ROLLBACK", ignore, sizeof(ignore));
    }
    return err;
}

/*
 * A setting of the registry that a subject may override (the compatibility level, the mode):
 * sql answers the subject's value or else the registry's or else the default, and whether the
 * subject (NULL: the registry) has its own.
 */
static enum tp_err store_scoped_get(PGconn *db, const char *sql, const char *subject, char **value,
                                    bool *is_set, char *errstr, size_t errstr_size)
{
    PGresult *res;
    const char *params[] = {subject ? subject : ""};
    enum tp_err err =
        pg_exec_params(db, sql, 1, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    *value = tp_strdup(PQgetvalue(res, 0, 0));
    *is_set = store_flag(res, 1);
    PQclear(res);
    return TP_OK;
}

/* The string member of a JSON body (NULL when absent); TP_DECODE when the body is not JSON. */
static enum tp_err store_body_member(PGconn *db, const char *body, const char *member, char **out,
                                     char *errstr, size_t errstr_size)
{
    const char *params[] = {body, member};
    enum tp_err err = store_text(db, "SELECT $1::jsonb->>$2", 2, params, out, errstr, errstr_size);
    return store_client_json(err, errstr);
}

enum tp_err registry_store_config_get(PGconn *db, const char *subject, char **level, bool *is_set,
                                      char *errstr, size_t errstr_size)
{
    return store_scoped_get(
        db,
        "SELECT coalesce((SELECT compatibility FROM registry_config WHERE scope = $1 AND $1 <> ''),"
        " (SELECT compatibility FROM registry_config WHERE scope = ''), 'BACKWARD'),"
        " EXISTS (SELECT 1 FROM registry_config WHERE scope = $1)",
        subject, level, is_set, errstr, errstr_size);
}

enum tp_err registry_store_config_set(PGconn *db, const char *subject, const char *level,
                                      char *errstr, size_t errstr_size)
{
    const char *params[] = {subject ? subject : "", level};
    return pg_exec_params(
        db,
        "INSERT INTO registry_config (scope, compatibility) VALUES ($1, $2)"
        " ON CONFLICT (scope) DO UPDATE SET compatibility = excluded.compatibility",
        2, params, PGRES_COMMAND_OK, NULL, errstr, errstr_size);
}

enum tp_err registry_store_config_parse(PGconn *db, const char *body, char **level, char *errstr,
                                        size_t errstr_size)
{
    return store_body_member(db, body, "compatibility", level, errstr, errstr_size);
}

enum tp_err registry_store_subjects_json(PGconn *db, char **json, char *errstr, size_t errstr_size)
{
    return store_text(db,
                      "SELECT coalesce(json_agg(subject ORDER BY subject), '[]')::text FROM"
                      " (SELECT DISTINCT subject FROM registry_versions WHERE NOT deleted) s",
                      0, NULL, json, errstr, errstr_size);
}

enum tp_err registry_store_versions_json(PGconn *db, const char *subject, char **json, char *errstr,
                                         size_t errstr_size)
{
    const char *params[] = {subject};
    return store_text(db,
                      "SELECT json_agg(version ORDER BY version)::text FROM registry_versions"
                      " WHERE subject = $1 AND NOT deleted",
                      1, params, json, errstr, errstr_size);
}

/* Confluent leaves "references" out when there are none. */
#define STORE_REFS_JSON "CASE WHEN s.refs = '[]' THEN NULL ELSE s.refs END"
/* the schema as text, or serialized ($n::bool): base64 without PostgreSQL's line breaks */
#define STORE_SCHEMA_SQL(n)                                                                        \
    "CASE WHEN " n "::bool AND s.schema_file IS NOT NULL THEN translate(encode(s.schema_file,"     \
    " 'base64'), E'\\n', '') ELSE s.schema_text END"

enum tp_err registry_store_version_json(PGconn *db, const char *subject, int version,
                                        bool serialized, bool deleted, char **json,
                                        bool *subject_exists, char *errstr, size_t errstr_size)
{
    PGresult *res;
    struct store_int v;
    const char *params[] = {subject, store_int(&v, version), serialized ? "true" : "false",
                            deleted ? "true" : "false"};
    *json = NULL;
    // clang-format off
    static const char sql[] =
        "SELECT (SELECT json_strip_nulls(json_build_object('subject', v.subject, 'version',"
        " v.version, 'id', s.id, 'schemaType', s.schema_type, 'schema', " STORE_SCHEMA_SQL("$3")
        ", 'references', " STORE_REFS_JSON "))::text"
        " FROM registry_versions v JOIN registry_schemas s ON s.id = v.schema_id"
        " WHERE v.subject = $1 AND ($4::bool OR NOT v.deleted)"
        " AND ($2::int = -1 OR v.version = $2::int) ORDER BY v.version DESC LIMIT 1),"
        " EXISTS (SELECT 1 FROM registry_versions WHERE subject = $1 AND ($4::bool OR NOT deleted))";
    // clang-format on
    enum tp_err err =
        pg_exec_params(db, sql, 4, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    *json = store_dup_or_null(res, 0, 0);
    *subject_exists = store_flag(res, 1);
    PQclear(res);
    return TP_OK;
}

enum tp_err registry_store_schema_json(PGconn *db, int32_t id, bool serialized, char **json,
                                       char *errstr, size_t errstr_size)
{
    struct store_int v;
    const char *params[] = {store_int(&v, id), serialized ? "true" : "false"};
    return store_text(db,
                      "SELECT json_strip_nulls(json_build_object('schemaType', s.schema_type,"
                      " 'schema', " STORE_SCHEMA_SQL(
                          "$2") ", 'references', " STORE_REFS_JSON
                                "))::text FROM registry_schemas s WHERE s.id = $1::int",
                      2, params, json, errstr, errstr_size);
}

enum tp_err registry_store_schema_versions_json(PGconn *db, int32_t id, char **json, char *errstr,
                                                size_t errstr_size)
{
    return store_text_id(
        db,
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM registry_schemas WHERE id = $1::int)"
        " THEN coalesce((SELECT json_agg(json_build_object('subject', subject,"
        " 'version', version) ORDER BY subject, version) FROM registry_versions"
        " WHERE schema_id = $1::int AND NOT deleted), '[]') END::text",
        id, json, errstr, errstr_size);
}

enum tp_err registry_store_schema_subjects_json(PGconn *db, int32_t id, char **json, char *errstr,
                                                size_t errstr_size)
{
    return store_text_id(
        db,
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM registry_schemas WHERE id = $1::int)"
        " THEN coalesce((SELECT json_agg(DISTINCT subject ORDER BY subject) FROM registry_versions"
        " WHERE schema_id = $1::int AND NOT deleted), '[]') END::text",
        id, json, errstr, errstr_size);
}

enum tp_err registry_store_schema_text(PGconn *db, int32_t id, char **text, char *errstr,
                                       size_t errstr_size)
{
    return store_text_id(db, "SELECT schema_text FROM registry_schemas WHERE id = $1::int", id,
                         text, errstr, errstr_size);
}

enum tp_err registry_store_schema_fds(PGconn *db, int32_t id, const char *subject, uint8_t **fds,
                                      size_t *len, bool *in_subject, char *errstr,
                                      size_t errstr_size)
{
    PGresult *res;
    struct store_int v;
    const char *params[] = {store_int(&v, id), subject};
    enum tp_err err = pg_exec_params(
        db,
        "SELECT descriptor_set, $2::text IS NULL OR EXISTS (SELECT 1 FROM registry_versions"
        " WHERE schema_id = $1::int AND subject = $2 AND NOT deleted)"
        " FROM registry_schemas WHERE id = $1::int",
        2, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (PQntuples(res) == 0) {
        err = TP_NOT_FOUND;
    } else {
        *in_subject = store_flag(res, 1);
        err = store_bytea(res, 0, 0, fds, len, errstr, errstr_size);
    }
    PQclear(res);
    return err;
}

/*
 * Changes one version: sql takes the subject ($1) and the version ($2, -1: the latest) and
 * answers one row, the changed version (NULL: none, TP_NOT_FOUND) and then n_flags booleans
 * into *flags[i].
 */
static enum tp_err store_version_change(PGconn *db, const char *sql, const char *subject,
                                        int version, bool *const *flags, int n_flags, char *errstr,
                                        size_t errstr_size)
{
    PGresult *res;
    struct store_int v;
    const char *params[] = {subject, store_int(&v, version)};
    enum tp_err err =
        pg_exec_params(db, sql, 2, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    for (int i = 0; i < n_flags; i++)
        *flags[i] = store_flag(res, 1 + i);
    err = PQgetisnull(res, 0, 0) ? TP_NOT_FOUND : TP_OK;
    PQclear(res);
    return err;
}

enum tp_err registry_store_version_delete(PGconn *db, const char *subject, int version,
                                          bool *subject_exists, char *errstr, size_t errstr_size)
{
    /* the EXISTS sees the snapshot before the update: the subject existed */
    return store_version_change(
        db,
        "WITH d AS (UPDATE registry_versions SET deleted = true WHERE subject = $1"
        " AND NOT deleted AND version = CASE WHEN $2::int = -1 THEN (SELECT max(version)"
        " FROM registry_versions WHERE subject = $1 AND NOT deleted) ELSE $2::int END"
        " RETURNING version)"
        " SELECT (SELECT version FROM d),"
        " EXISTS (SELECT 1 FROM registry_versions WHERE subject = $1 AND NOT deleted)",
        subject, version, (bool *const[]){subject_exists}, 1, errstr, errstr_size);
}

enum tp_err registry_store_counts(PGconn *db, int64_t *schemas, int64_t *subjects, char *errstr,
                                  size_t errstr_size)
{
    PGresult *res;
    enum tp_err err =
        pg_exec_params(db,
                       "SELECT (SELECT count(*) FROM registry_schemas),"
                       " (SELECT count(DISTINCT subject) FROM registry_versions WHERE NOT deleted)",
                       0, NULL, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    *schemas = atoll(PQgetvalue(res, 0, 0));
    *subjects = atoll(PQgetvalue(res, 0, 1));
    PQclear(res);
    return TP_OK;
}

enum tp_err registry_store_subject_delete(PGconn *db, const char *subject, bool permanent,
                                          char **json, bool *live, char *errstr, size_t errstr_size)
{
    PGresult *res;
    const char *params[] = {subject};
    *json = NULL;
    *live = false;
    enum tp_err err;
    if (permanent) {
        err = pg_exec_params(
            db,
            "WITH d AS (DELETE FROM registry_versions WHERE subject = $1 AND deleted AND NOT EXISTS"
            " (SELECT 1 FROM registry_versions WHERE subject = $1 AND NOT deleted)"
            " RETURNING version)"
            " SELECT (SELECT json_agg(version ORDER BY version) FROM d)::text,"
            " EXISTS (SELECT 1 FROM registry_versions WHERE subject = $1 AND NOT deleted), NULL",
            1, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    } else {
        err = pg_exec_params(
            db,
            "WITH r AS (SELECT json_agg(DISTINCT s.id ORDER BY s.id) AS ids FROM registry_schemas "
            "s,"
            "  jsonb_array_elements(s.refs) e WHERE e->>'subject' = $1 AND EXISTS (SELECT 1 FROM"
            "  registry_versions v WHERE v.schema_id = s.id AND NOT v.deleted) AND EXISTS (SELECT 1"
            "  FROM registry_versions w WHERE w.subject = $1 AND w.version = (e->>'version')::int"
            "  AND NOT w.deleted)),"
            " d AS (UPDATE registry_versions SET deleted = true WHERE subject = $1 AND NOT deleted"
            "  AND (SELECT ids FROM r) IS NULL RETURNING version)"
            " SELECT (SELECT json_agg(version ORDER BY version) FROM d)::text, false,"
            " (SELECT ids FROM r)::text",
            1, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    }
    if (err != TP_OK)
        return err;
    *live = store_flag(res, 1);
    if (!PQgetisnull(res, 0, 2)) {
        *json = tp_strdup(PQgetvalue(res, 0, 2));
        err = TP_CONFLICT;
    } else {
        *json = store_dup_or_null(res, 0, 0);
    }
    PQclear(res);
    return err;
}

enum tp_err registry_store_version_purge(PGconn *db, const char *subject, int version, bool *live,
                                         bool *subject_exists, char *errstr, size_t errstr_size)
{
    return store_version_change(
        db,
        "WITH t AS (SELECT CASE WHEN $2::int = -1 THEN (SELECT max(version) FROM registry_versions"
        "  WHERE subject = $1) ELSE $2::int END AS version),"
        " d AS (DELETE FROM registry_versions WHERE subject = $1 AND deleted"
        "  AND version = (SELECT version FROM t) RETURNING version)"
        " SELECT (SELECT version FROM d), EXISTS (SELECT 1 FROM registry_versions WHERE"
        " subject = $1 AND version = (SELECT version FROM t) AND NOT deleted),"
        " EXISTS (SELECT 1 FROM registry_versions WHERE subject = $1)",
        subject, version, (bool *const[]){live, subject_exists}, 2, errstr, errstr_size);
}

enum tp_err registry_store_referenced_by_json(PGconn *db, const char *subject, int version,
                                              char **json, char *errstr, size_t errstr_size)
{
    struct store_int v;
    const char *params[] = {subject, store_int(&v, version)};
    return store_text(
        db,
        "SELECT coalesce(json_agg(DISTINCT s.id ORDER BY s.id), '[]')::text FROM registry_schemas"
        " s, jsonb_array_elements(s.refs) e WHERE e->>'subject' = $1"
        " AND (e->>'version')::int = $2::int AND EXISTS (SELECT 1 FROM registry_versions v"
        " WHERE v.schema_id = s.id AND NOT v.deleted)",
        2, params, json, errstr, errstr_size);
}

enum tp_err registry_store_version_referenced(PGconn *db, const char *subject, int version,
                                              bool *referenced, char *errstr, size_t errstr_size)
{
    char *json = NULL;
    enum tp_err err =
        registry_store_referenced_by_json(db, subject, version, &json, errstr, errstr_size);
    *referenced = err == TP_OK && json && strcmp(json, "[]") != 0;
    free(json);
    return err;
}

enum tp_err registry_store_config_delete(PGconn *db, const char *subject, char **previous,
                                         char *errstr, size_t errstr_size)
{
    const char *params[] = {subject ? subject : ""};
    if (!subject)
        return store_text(db,
                          "WITH o AS (SELECT compatibility FROM registry_config WHERE scope = '')"
                          " UPDATE registry_config SET compatibility = 'BACKWARD' WHERE scope = ''"
                          " RETURNING (SELECT compatibility FROM o)",
                          0, NULL, previous, errstr, errstr_size);
    return store_text(db, "DELETE FROM registry_config WHERE scope = $1 RETURNING compatibility", 1,
                      params, previous, errstr, errstr_size);
}

enum tp_err registry_store_mode_get(PGconn *db, const char *subject, char **mode, bool *is_set,
                                    char *errstr, size_t errstr_size)
{
    return store_scoped_get(db,
                            "SELECT coalesce((SELECT mode FROM registry_modes WHERE scope = $1"
                            " AND $1 <> ''), (SELECT mode FROM registry_modes WHERE scope = ''),"
                            " 'READWRITE'), EXISTS (SELECT 1 FROM registry_modes WHERE scope = $1)",
                            subject, mode, is_set, errstr, errstr_size);
}

enum tp_err registry_store_mode_set(PGconn *db, const char *subject, const char *mode, char *errstr,
                                    size_t errstr_size)
{
    const char *params[] = {subject ? subject : "", mode};
    return pg_exec_params(db,
                          "INSERT INTO registry_modes (scope, mode) VALUES ($1, $2)"
                          " ON CONFLICT (scope) DO UPDATE SET mode = excluded.mode",
                          2, params, PGRES_COMMAND_OK, NULL, errstr, errstr_size);
}

enum tp_err registry_store_mode_delete(PGconn *db, const char *subject, char **previous,
                                       char *errstr, size_t errstr_size)
{
    const char *params[] = {subject ? subject : ""};
    return store_text(db, "DELETE FROM registry_modes WHERE scope = $1 RETURNING mode", 1, params,
                      previous, errstr, errstr_size);
}

enum tp_err registry_store_mode_parse(PGconn *db, const char *body, char **mode, char *errstr,
                                      size_t errstr_size)
{
    return store_body_member(db, body, "mode", mode, errstr, errstr_size);
}
