#include "api.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "compat.h"
#include "errors.h"
#include "serialized.h"
#include "store.h"

#define API_CT          "application/vnd.schemaregistry.v1+json"
#define API_POOL_WAIT   2000
#define API_SUBJECT_MAX 255
#define API_MSGS_MAX    (64 * 1024)

/*
 * Whether the request's credentials carry role need (always true with auth off);
 * answers 401 (with WWW-Authenticate) or 403 otherwise.
 */
static bool api_allowed(struct registry_api *api, struct http_request *req, enum creds_role need)
{
    if (!api->creds)
        return true;
    char user[CREDS_USER_MAX + 1], why[256];
    enum creds_role r = creds_check(api->creds, http_request_header(req, "Authorization"), user,
                                    sizeof(user), why, sizeof(why));
    if (r == CREDS_NONE) {
        atomic_fetch_add(&api->unauthorized, 1);
        registry_error_reply(req, REGISTRY_ERR_UNAUTHORIZED, "Unauthorized: %s", why);
        return false;
    }
    if (r < need) {
        atomic_fetch_add(&api->forbidden, 1);
        registry_error_reply(
            req, REGISTRY_ERR_FORBIDDEN,
            "Forbidden: user '%s' has the %s role; registering, deleting and setting "
            "compatibility need the %s role",
            user, creds_role_name(r), creds_role_name(need));
        return false;
    }
    return true;
}

bool registry_api_precheck(struct http_request *req, void *arg)
{
    const char *method = http_request_method(req), *path = http_request_path(req);
    size_t n = strlen(path);
    bool registers = !strcmp(method, "POST") && !strncmp(path, "/subjects/", 10) && n >= 9 &&
                     !strcmp(path + n - 9, "/versions");
    bool writes = registers || !strcmp(method, "PUT") || !strcmp(method, "DELETE");
    return api_allowed(arg, req, writes ? CREDS_WRITE : CREDS_READ);
}

static void api_json(struct http_request *req, unsigned status, const char *json)
{
    http_reply(req, status, API_CT, json, strlen(json));
}

static void api_store_failed(struct http_request *req, const char *errstr)
{
    log_error("registry store: %s", errstr);
    /* the detail (libpq's text: hosts, users, SQL) is for the log, never the client */
    registry_error_reply(req, REGISTRY_ERR_STORE_ERROR, "Error in the backend data store");
}

static PGconn *api_db(struct registry_api *api, struct http_request *req)
{
    char errstr[512];
    PGconn *db;
    if (pool_get(api->pool, API_POOL_WAIT, &db, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        registry_error_reply(req, REGISTRY_ERR_DATABASE_UNAVAILABLE,
                             "Error while forwarding the request: database unavailable");
        return NULL;
    }
    return db;
}

static bool api_subject_ok(const char *s, size_t n)
{
    if (n == 0 || n > API_SUBJECT_MAX || !json_utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return false;
    return true;
}

/* "latest", "-1" or a positive int; false (42202) otherwise. */
static bool api_version_parse(const char *s, int *out)
{
    if (!strcmp(s, "latest") || !strcmp(s, "-1")) {
        *out = -1;
        return true;
    }
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 1 || v > INT_MAX)
        return false;
    *out = (int)v;
    return true;
}

static void api_bad_version(struct http_request *req, const char *version)
{
    registry_error_reply(
        req, REGISTRY_ERR_INVALID_VERSION,
        "The specified version '%s' is not a valid version id. Allowed values are between "
        "[1, 2^31-1] and the string \"latest\"",
        version);
}

/*
 * The start of the /config and /mode handlers: the role (401/403), the scope's subject (NULL:
 * the registry's own; 40401 when it cannot be a subject) and a pooled connection (50003); NULL
 * once it answered.
 */
static PGconn *api_scoped_db(struct registry_api *api, struct http_request *req,
                             enum creds_role need, const char *subject)
{
    if (!api_allowed(api, req, need))
        return NULL;
    if (subject && !api_subject_ok(subject, strlen(subject))) {
        registry_error_reply(req, REGISTRY_ERR_SUBJECT_NOT_FOUND, "Subject '%s' not found.",
                             subject);
        return NULL;
    }
    return api_db(api, req);
}

/*
 * Splits a path tail "S", "S/versions" or "S/versions/V" (subject names may
 * contain '/': the last "/versions" decides). *version is NULL without a V.
 */
struct api_path {
    char subject[API_SUBJECT_MAX + 1];
    bool has_versions;
    char version[32];
    bool has_version;
};

static bool api_path_parse(const char *tail, struct api_path *p)
{
    memset(p, 0, sizeof(*p));
    size_t n = strlen(tail), sl = n;
    const char *v = NULL;
    static const char suffix[] = "/versions";
    const size_t sn = sizeof(suffix) - 1;
    if (n >= sn && !strcmp(tail + n - sn, suffix)) {
        p->has_versions = true;
        sl = n - sn;
    } else {
        for (const char *q = tail; (q = strstr(q, "/versions/")); q++)
            v = q;
        if (v && !strchr(v + sn + 1, '/')) {
            p->has_versions = p->has_version = true;
            sl = (size_t)(v - tail);
            if (strlen(v + sn + 1) >= sizeof(p->version))
                return false;
            snprintf(p->version, sizeof(p->version), "%s", v + sn + 1);
        }
    }
    if (!api_subject_ok(tail, sl))
        return false;
    memcpy(p->subject, tail, sl);
    p->subject[sl] = '\0';
    return true;
}

/* The path after prefix (the routes fix the shape; subjects hold no '/'). */
static const char *api_tail(struct http_request *req, const char *prefix)
{
    const char *p = http_request_path(req);
    size_t n = strlen(prefix);
    return strncmp(p, prefix, n) == 0 ? p + n : "";
}

static const char *api_body(struct http_request *req)
{
    size_t len;
    const char *b = http_request_body(req, &len);
    return b && len ? b : "";
}

static bool api_query_true(struct http_request *req, const char *name)
{
    const char *v = http_request_query(req, name);
    return v && !strcmp(v, "true");
}

/* ?format=serialized: the schema as a base64 FileDescriptorProto (Confluent's other protobuf
 * formats, "" and ignore_extensions, answer the text). */
static bool api_serialized(struct http_request *req)
{
    const char *f = http_request_query(req, "format");
    return f && !strcmp(f, "serialized");
}

void registry_api_init(struct registry_api *api, const char *dsn, size_t pool_size,
                       int statement_timeout_ms, const struct compile_options *compile)
{
    memset(api, 0, sizeof(*api));
    api->pool = pool_new(dsn, pool_size, statement_timeout_ms, NULL);
    api->compile = *compile;
}

enum tp_err registry_api_backfill(struct registry_api *api, char *errstr, size_t errstr_size)
{
    PGconn *db;
    enum tp_err err = pool_get(api->pool, API_POOL_WAIT, &db, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    size_t done = 0;
    for (;;) {
        struct registry_store_blob *rows = NULL;
        size_t n = 0;
        err = registry_store_unfiled(db, 100, &rows, &n, errstr, errstr_size);
        for (size_t i = 0; err == TP_OK && i < n; i++) {
            uint8_t *file = NULL;
            size_t len = 0;
            err = serialized_canonical(rows[i].data, rows[i].len, &file, &len, errstr, errstr_size);
            if (err == TP_OK)
                err =
                    registry_store_file_set(db, rows[i].schema_id, file, len, errstr, errstr_size);
            free(file);
            done++;
        }
        registry_store_blobs_free(rows, n);
        if (err != TP_OK || n == 0)
            break;
    }
    pool_put(api->pool, db);
    if (err == TP_OK && done)
        log_info("canonical schema files computed for %zu schemas stored before migration 0010",
                 done);
    return err;
}

void registry_api_release(struct registry_api *api)
{
    pool_free(api->pool);
    api->pool = NULL;
}

void registry_api_handle_subjects(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    char errstr[512], *json = NULL;
    if (!api_allowed(api, req, CREDS_READ))
        return;
    PGconn *db = api_db(api, req);
    if (!db)
        return;
    enum tp_err err = registry_store_subjects_json(db, &json, errstr, sizeof(errstr));
    pool_put(api->pool, db);
    if (err != TP_OK)
        api_store_failed(req, errstr);
    else
        api_json(req, 200, json);
    free(json);
}

/*
 * The start of the handlers of {subject}/versions[/{version}] (tail: the path after the
 * prefix): the read role (401/403), the path (404 unless it names versions), the version when
 * it names one (42202) and a pooled connection (50003); NULL once it answered.
 */
static PGconn *api_versions_db(struct registry_api *api, struct http_request *req, const char *tail,
                               struct api_path *p, int *version)
{
    if (!api_allowed(api, req, CREDS_READ))
        return NULL;
    if (!api_path_parse(tail, p) || !p->has_versions) {
        registry_error_reply(req, REGISTRY_ERR_NOT_FOUND, "HTTP 404 Not Found");
        return NULL;
    }
    if (p->has_version && !api_version_parse(p->version, version)) {
        api_bad_version(req, p->version);
        return NULL;
    }
    return api_db(api, req);
}

void registry_api_handle_subject_get(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    struct api_path p;
    char errstr[512], *json = NULL;
    int version = 0;
    PGconn *db = api_versions_db(api, req, api_tail(req, "/subjects/"), &p, &version);
    if (!db)
        return;
    bool exists = false;
    enum tp_err err =
        p.has_version ? registry_store_version_json(db, p.subject, version, api_serialized(req),
                                                    api_query_true(req, "deleted"), &json, &exists,
                                                    errstr, sizeof(errstr))
                      : registry_store_versions_json(db, p.subject, &json, errstr, sizeof(errstr));
    pool_put(api->pool, db);
    atomic_fetch_add(&api->lookups, 1);
    if (err != TP_OK)
        api_store_failed(req, errstr);
    else if (json)
        api_json(req, 200, json);
    else if (p.has_version && exists)
        registry_error_reply(req, REGISTRY_ERR_VERSION_NOT_FOUND, "Version %s not found.",
                             p.version);
    else
        registry_error_reply(req, REGISTRY_ERR_SUBJECT_NOT_FOUND, "Subject '%s' not found.",
                             p.subject);
    free(json);
}

/* Whether the body names a PROTOBUF schema; answers 42201 otherwise. */
static bool api_schema_ok(struct http_request *req, const struct registry_store_request *rq)
{
    if (strcmp(rq->type, "PROTOBUF") != 0) {
        registry_error_reply(
            req, REGISTRY_ERR_INVALID_SCHEMA,
            "Invalid schema: schemaType \"%s\" is not supported, this registry keeps "
            "PROTOBUF schemas only",
            rq->type);
        return false;
    }
    if (!rq->text || !*rq->text) {
        registry_error_reply(req, REGISTRY_ERR_INVALID_SCHEMA, "Invalid schema: empty schema");
        return false;
    }
    return true;
}

static bool api_writable(struct http_request *req, PGconn *db, const char *subject, bool *failed);

static bool api_check(void *arg, const char *level, const uint8_t *fds, size_t fds_len,
                      const struct registry_store_blob *olds, size_t n_olds, struct buf *msgs)
{
    (void)arg;
    enum compat_level l = COMPAT_BACKWARD;
    compat_level_parse(level, &l);
    struct compat_version *v = tp_calloc(n_olds + 1, sizeof(*v));
    for (size_t i = 0; i < n_olds; i++)
        v[i] = (struct compat_version){olds[i].data, olds[i].len, olds[i].version};
    bool ok = compat_check(l, fds, fds_len, v, n_olds, msgs);
    free(v);
    return ok;
}

/* Compiles rq (text or a base64 serialized FileDescriptorProto, with its references) into
 * *fds and its canonical schema file into *file (serialized.h), answering 42201/500 on
 * failure. */
static bool api_compile(struct registry_api *api, struct http_request *req, PGconn *db,
                        const struct registry_store_request *rq, uint8_t **fds, size_t *fds_len,
                        uint8_t **file, size_t *file_len)
{
    char errstr[COMPILE_ERR_MAX + 256];
    struct registry_store_ref *refs = NULL;
    size_t n_refs = 0;
    uint8_t *set = NULL;
    size_t set_len = 0;
    bool ok = false;
    struct compile_file *files = NULL;
    *fds = *file = NULL;
    enum tp_err err = registry_store_fds_by_fingerprint(db, rq->fingerprint, fds, fds_len, errstr,
                                                        sizeof(errstr));
    if (err == TP_OK)
        goto canonical; /* compiled before, under another subject */
    err = registry_store_refs_resolve(db, rq->refs, &refs, &n_refs, errstr, sizeof(errstr));
    if (err != TP_OK) {
        api_store_failed(req, errstr);
        goto out;
    }
    /* .proto texts are written as files; the schema and references sent as descriptors go
     * to protoc as one descriptor set */
    files = tp_calloc(n_refs + 1, sizeof(*files));
    const char **texts = tp_calloc(n_refs + 1, sizeof(*texts));
    const char **names = tp_calloc(n_refs + 1, sizeof(*names));
    size_t n_files = 0, n_set = 0;
    bool main_set = serialized_is_base64(rq->text, strlen(rq->text));
    if (main_set) {
        texts[n_set] = rq->text;
        names[n_set++] = COMPILE_MAIN_FILE;
    }
    for (size_t i = 0; i < n_refs; i++) {
        if (!refs[i].text) {
            registry_error_reply(
                req, REGISTRY_ERR_INVALID_SCHEMA,
                "Invalid schema: reference \"%s\" names subject '%s' version %d, which "
                "does not exist",
                refs[i].name, refs[i].subject, refs[i].version);
            err = TP_NOT_FOUND;
            break;
        }
        if (serialized_is_base64(refs[i].text, strlen(refs[i].text))) {
            if (!compile_name_ok(refs[i].name)) {
                registry_error_reply(
                    req, REGISTRY_ERR_INVALID_SCHEMA,
                    "Invalid schema: invalid reference name \"%s\": a relative path of "
                    "A-Z a-z 0-9 . _ - / without \"..\" (and not \"%s\")",
                    refs[i].name, COMPILE_MAIN_FILE);
                err = TP_NOT_FOUND;
                break;
            }
            texts[n_set] = refs[i].text;
            names[n_set++] = refs[i].name;
        } else {
            files[n_files++] = (struct compile_file){refs[i].name, refs[i].text};
        }
    }
    if (err == TP_OK && n_set)
        err = serialized_parse_files(texts, names, n_set, &set, &set_len, errstr, sizeof(errstr));
    free(texts);
    free(names);
    if (err == TP_NOT_FOUND)
        goto out;
    if (err != TP_OK) {
        atomic_fetch_add(&api->invalid, 1);
        registry_error_reply(req, REGISTRY_ERR_INVALID_SCHEMA, "Invalid schema: %s", errstr);
        goto out;
    }
    int64_t t0 = tp_mono_ms();
    err = compile_schema(&api->compile, main_set ? NULL : rq->text, set, set_len, files, n_files,
                         fds, fds_len, errstr, sizeof(errstr));
    metrics_histogram_observe(&api->compile_ms, (double)(tp_mono_ms() - t0));
    if (err == TP_VALIDATION) {
        atomic_fetch_add(&api->invalid, 1);
        registry_error_reply(req, REGISTRY_ERR_INVALID_SCHEMA, "Invalid schema: %s", errstr);
        goto out;
    } else if (err != TP_OK) {
        log_error("could not compile a schema: %s", errstr);
        registry_error_reply(req, REGISTRY_ERR_COMPILE_ERROR, "Could not compile the schema: %s",
                             errstr);
        goto out;
    }
canonical:
    err = serialized_canonical(*fds, *fds_len, file, file_len, errstr, sizeof(errstr));
    if (err != TP_OK) {
        log_error("could not read the schema file of a compiled set: %s", errstr);
        registry_error_reply(req, REGISTRY_ERR_COMPILE_ERROR, "Could not compile the schema: %s",
                             errstr);
        goto out;
    }
    ok = true;
out:
    if (!ok) {
        free(*fds);
        *fds = NULL;
    }
    free(set);
    free(files);
    registry_store_refs_free(refs, n_refs);
    return ok;
}

/*
 * The same schema in another form or layout: when a stored schema has rq's canonical schema
 * file and references, rq takes its fingerprint, so lookups and registrations find that row
 * and its id. As Confluent does (its registry compares protobuf schemas by their printed
 * form, without comments or layout, also without ?normalize=true): a descriptor and a text,
 * or two texts that differ only in comments and layout, are one schema.
 */
static enum tp_err api_canonical(PGconn *db, struct registry_store_request *rq, char *errstr,
                                 size_t errstr_size)
{
    char *fp = NULL;
    enum tp_err err = registry_store_fingerprint_by_file(db, rq->file, rq->file_len, rq->refs, &fp,
                                                         errstr, errstr_size);
    if (err == TP_OK) {
        free(rq->fingerprint);
        rq->fingerprint = fp;
    }
    return err == TP_NOT_FOUND ? TP_OK : err;
}

/* Where registry_store_lookup found a schema under a subject. */
struct api_found {
    int32_t id;
    int version;
    bool exists; /* the subject has live versions */
};

static enum tp_err api_find(PGconn *db, const char *subject,
                            const struct registry_store_request *rq, struct api_found *f,
                            char *errstr, size_t errstr_size)
{
    return registry_store_lookup(db, subject, rq, &f->id, &f->version, &f->exists, errstr,
                                 errstr_size);
}

/* A compiled schema: its descriptor set and canonical schema file (api_compile). */
struct api_compiled {
    uint8_t *fds, *file;
    size_t fds_len, file_len;
};

static void api_compiled_release(struct api_compiled *c, struct registry_store_request *rq)
{
    free(c->fds);
    free(c->file);
    rq->file = NULL; /* borrowed c->file */
    *c = (struct api_compiled){0};
}

/*
 * Compiles rq into c (false once it answered 42201/500), lets rq->file borrow c's canonical
 * schema file and looks rq up again under subject into *err and f: the schema may be stored in
 * its other form (text / serialized descriptor). The caller releases c.
 */
static bool api_find_compiled(struct registry_api *api, struct http_request *req, PGconn *db,
                              const char *subject, struct registry_store_request *rq,
                              struct api_compiled *c, struct api_found *f, enum tp_err *err,
                              char *errstr, size_t errstr_size)
{
    if (!api_compile(api, req, db, rq, &c->fds, &c->fds_len, &c->file, &c->file_len))
        return false;
    rq->file = c->file;
    rq->file_len = c->file_len;
    *err = api_canonical(db, rq, errstr, errstr_size);
    if (*err == TP_OK)
        *err = api_find(db, subject, rq, f, errstr, errstr_size);
    return true;
}

static void api_register(struct registry_api *api, struct http_request *req, PGconn *db,
                         const char *subject, struct registry_store_request *rq)
{
    rq->serialized = serialized_is_base64(rq->text, strlen(rq->text));
    char errstr[1024];
    struct api_found f;
    struct api_compiled c = {0};
    enum tp_err err = api_find(db, subject, rq, &f, errstr, sizeof(errstr));
    bool failed;
    if (err == TP_NOT_FOUND) {
        if (!api_writable(req, db, subject, &failed))
            return;
        if (!api_find_compiled(api, req, db, subject, rq, &c, &f, &err, errstr, sizeof(errstr)))
            return;
        if (err != TP_NOT_FOUND) {
            api_compiled_release(&c, rq);
            if (err == TP_OK)
                atomic_fetch_add(&api->reused, 1);
            goto answer;
        }
        struct buf msgs;
        buf_init(&msgs, API_MSGS_MAX);
        err = registry_store_register(db, subject, rq, c.fds, c.fds_len, api_check, api, &f.id,
                                      &f.version, &msgs, errstr, sizeof(errstr));
        api_compiled_release(&c, rq);
        if (err == TP_CONFLICT) {
            atomic_fetch_add(&api->incompatible, 1);
            registry_error_reply(req, REGISTRY_ERR_INCOMPATIBLE_SCHEMA,
                                 "Schema being registered is incompatible with an earlier "
                                 "schema for subject \"%s\": %s",
                                 subject, msgs.data ? msgs.data : "");
            buf_release(&msgs);
            return;
        }
        buf_release(&msgs);
        if (err == TP_OK) {
            atomic_fetch_add(&api->registered, 1);
            log_info("registered schema id %d as version %d of subject \"%s\"", f.id, f.version,
                     subject);
        }
    } else if (err == TP_OK) {
        atomic_fetch_add(&api->reused, 1);
    }
answer:
    if (err != TP_OK) {
        api_store_failed(req, errstr);
        return;
    }
    char body[64];
    snprintf(body, sizeof(body), "{\"id\":%d}", f.id);
    api_json(req, 200, body);
}

static void api_lookup(struct registry_api *api, struct http_request *req, PGconn *db,
                       const char *subject, struct registry_store_request *rq)
{
    char errstr[512];
    struct api_found f;
    atomic_fetch_add(&api->lookups, 1);
    rq->serialized = serialized_is_base64(rq->text, strlen(rq->text));
    enum tp_err err = api_find(db, subject, rq, &f, errstr, sizeof(errstr));
    if (err == TP_NOT_FOUND && f.exists) {
        /* maybe registered in the other form (text / serialized descriptor) */
        struct api_compiled c = {0};
        if (!api_find_compiled(api, req, db, subject, rq, &c, &f, &err, errstr, sizeof(errstr)))
            return;
        api_compiled_release(&c, rq);
    }
    if (err == TP_NOT_FOUND) {
        if (f.exists)
            registry_error_reply(req, REGISTRY_ERR_SCHEMA_NOT_FOUND, "Schema not found");
        else
            registry_error_reply(req, REGISTRY_ERR_SUBJECT_NOT_FOUND, "Subject '%s' not found.",
                                 subject);
        return;
    }
    if (err != TP_OK) {
        api_store_failed(req, errstr);
        return;
    }
    struct buf b;
    buf_init(&b, strlen(rq->text) * 6 + strlen(rq->refs) + 512);
    buf_append_str(&b, "{\"subject\":");
    json_str(&b, subject);
    buf_printf(&b, ",\"version\":%d,\"id\":%d,\"schemaType\":\"PROTOBUF\",\"schema\":", f.version,
               f.id);
    json_str(&b, rq->text);
    if (strcmp(rq->refs, "[]") != 0)
        buf_printf(&b, ",\"references\":%s", rq->refs);
    buf_append_str(&b, "}");
    http_reply(req, 200, API_CT, b.data, b.len);
    buf_release(&b);
}

void registry_api_handle_subject_post(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    struct api_path p;
    char errstr[512];
    /* POST /subjects/{s}/versions registers; POST /subjects/{s} is a lookup */
    const char *path = http_request_path(req);
    size_t pl = strlen(path);
    bool registers = pl >= 9 && !strcmp(path + pl - 9, "/versions");
    if (!api_allowed(api, req, registers ? CREDS_WRITE : CREDS_READ))
        return;
    if (!api_path_parse(api_tail(req, "/subjects/"), &p) || p.has_version) {
        registry_error_reply(req, REGISTRY_ERR_NOT_FOUND, "HTTP 404 Not Found");
        return;
    }
    PGconn *db = api_db(api, req);
    if (!db)
        return;
    struct registry_store_request rq;
    enum tp_err err = registry_store_request_parse(db, api_body(req), &rq, errstr, sizeof(errstr));
    if (err == TP_DECODE)
        registry_error_reply(req, REGISTRY_ERR_UNPROCESSABLE_ENTITY,
                             "Unrecognized request body: %s", errstr);
    else if (err != TP_OK)
        api_store_failed(req, errstr);
    else if (api_schema_ok(req, &rq)) {
        if (p.has_versions)
            api_register(api, req, db, p.subject, &rq);
        else
            api_lookup(api, req, db, p.subject, &rq);
    }
    registry_store_request_release(&rq);
    pool_put(api->pool, db);
}

/* Whether subject (NULL: the registry) may change; answers 42205 when it is READONLY. */
static bool api_writable(struct http_request *req, PGconn *db, const char *subject, bool *failed)
{
    char errstr[512], *mode = NULL;
    bool is_set;
    *failed = false;
    enum tp_err err = registry_store_mode_get(db, subject, &mode, &is_set, errstr, sizeof(errstr));
    bool ok = err == TP_OK && strcmp(mode, "READONLY") != 0;
    if (err != TP_OK) {
        *failed = true;
        api_store_failed(req, errstr);
    } else if (!ok) {
        registry_error_reply(req, REGISTRY_ERR_OPERATION_NOT_PERMITTED,
                             "Subject %s is in read-only mode", subject ? subject : "");
    }
    free(mode);
    return ok;
}

/* DELETE /subjects/{s}[?permanent=true]: the versions deleted. */
static void api_subject_delete(struct registry_api *api, struct http_request *req, PGconn *db,
                               const char *subject)
{
    char errstr[512], *json = NULL;
    bool live, failed, permanent = api_query_true(req, "permanent");
    (void)api;
    if (!api_writable(req, db, subject, &failed))
        return;
    enum tp_err err =
        registry_store_subject_delete(db, subject, permanent, &json, &live, errstr, sizeof(errstr));
    if (err == TP_CONFLICT)
        registry_error_reply(req, REGISTRY_ERR_REFERENCE_EXISTS,
                             "One or more references exist to the schema {subject=%s}: schemas %s",
                             subject, json);
    else if (err != TP_OK)
        api_store_failed(req, errstr);
    else if (json) {
        api_json(req, 200, json);
        log_info("%s subject \"%s\": versions %s",
                 permanent ? "permanently deleted" : "soft-deleted", subject, json);
    } else if (permanent && live)
        registry_error_reply(req, REGISTRY_ERR_SUBJECT_NOT_SOFT_DELETED,
                             "Subject '%s' was not deleted first before being permanently deleted",
                             subject);
    else
        registry_error_reply(req, REGISTRY_ERR_SUBJECT_NOT_FOUND, "Subject '%s' not found.",
                             subject);
    free(json);
}

void registry_api_handle_subject_delete(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    struct api_path p;
    char errstr[512];
    int version;
    if (!api_allowed(api, req, CREDS_WRITE))
        return;
    if (!api_path_parse(api_tail(req, "/subjects/"), &p) || (p.has_versions && !p.has_version)) {
        registry_error_reply(req, REGISTRY_ERR_METHOD_NOT_ALLOWED, "HTTP 405 Method Not Allowed");
        return;
    }
    if (p.has_version && !api_version_parse(p.version, &version)) {
        api_bad_version(req, p.version);
        return;
    }
    PGconn *db = api_db(api, req);
    if (!db)
        return;
    bool exists = false, failed;
    char *json = NULL;
    enum tp_err err = TP_OK;
    if (!p.has_version) {
        api_subject_delete(api, req, db, p.subject);
        goto out;
    }
    if (!api_writable(req, db, p.subject, &failed))
        goto out;
    if (api_query_true(req, "permanent")) {
        bool live;
        err = registry_store_version_purge(db, p.subject, version, &live, &exists, errstr,
                                           sizeof(errstr));
        if (err == TP_OK) {
            api_json(req, 200, version > 0 ? p.version : "-1");
            log_info("permanently deleted version %s of subject \"%s\"", p.version, p.subject);
        } else if (err != TP_NOT_FOUND)
            api_store_failed(req, errstr);
        else if (live)
            registry_error_reply(
                req, REGISTRY_ERR_VERSION_NOT_SOFT_DELETED,
                "Subject '%s' Version %s was not deleted first before being permanently "
                "deleted",
                p.subject, p.version);
        else if (exists)
            registry_error_reply(req, REGISTRY_ERR_VERSION_NOT_FOUND, "Version %s not found.",
                                 p.version);
        else
            registry_error_reply(req, REGISTRY_ERR_SUBJECT_NOT_FOUND, "Subject '%s' not found.",
                                 p.subject);
        goto out;
    }
    /* the number deleted: for "latest", read it before */
    err = registry_store_version_json(db, p.subject, version, false, false, &json, &exists, errstr,
                                      sizeof(errstr));
    int number = version;
    if (err == TP_OK && json) {
        const char *v = strstr(json, "\"version\":");
        number = v ? atoi(v + 10) : version;
        bool referenced;
        err = registry_store_version_referenced(db, p.subject, number, &referenced, errstr,
                                                sizeof(errstr));
        if (err == TP_OK && referenced) {
            registry_error_reply(
                req, REGISTRY_ERR_REFERENCE_EXISTS,
                "One or more references exist to the schema {subject=%s,version=%d}", p.subject,
                number);
            goto out;
        }
    }
    if (err == TP_OK && json)
        err = registry_store_version_delete(db, p.subject, number, &exists, errstr, sizeof(errstr));
    if (err != TP_OK && err != TP_NOT_FOUND)
        api_store_failed(req, errstr);
    else if (!json || err == TP_NOT_FOUND)
        exists ? registry_error_reply(req, REGISTRY_ERR_VERSION_NOT_FOUND, "Version %s not found.",
                                      p.version)
               : registry_error_reply(req, REGISTRY_ERR_SUBJECT_NOT_FOUND,
                                      "Subject '%s' not found.", p.subject);
    else {
        char body[32];
        snprintf(body, sizeof(body), "%d", number);
        api_json(req, 200, body);
        log_info("soft-deleted version %s of subject \"%s\"", body, p.subject);
    }
out:
    pool_put(api->pool, db);
    free(json);
}

/* GET /subjects/{s}/versions/{v}/schema and .../referencedby */
void registry_api_handle_version_more(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    struct api_path p;
    char errstr[512], tail[API_SUBJECT_MAX + 64], *json = NULL;
    int version;
    if (!api_allowed(api, req, CREDS_READ))
        return;
    snprintf(tail, sizeof(tail), "%s", api_tail(req, "/subjects/"));
    char *slash = strrchr(tail, '/');
    bool schema = slash && !strcmp(slash, "/schema");
    if (!slash || (!schema && strcmp(slash, "/referencedby") != 0)) {
        registry_error_reply(req, REGISTRY_ERR_NOT_FOUND, "HTTP 404 Not Found");
        return;
    }
    *slash = '\0';
    if (!api_path_parse(tail, &p) || !p.has_version) {
        registry_error_reply(req, REGISTRY_ERR_NOT_FOUND, "HTTP 404 Not Found");
        return;
    }
    if (!api_version_parse(p.version, &version)) {
        api_bad_version(req, p.version);
        return;
    }
    PGconn *db = api_db(api, req);
    if (!db)
        return;
    bool exists = false;
    atomic_fetch_add(&api->lookups, 1);
    enum tp_err err = registry_store_version_json(db, p.subject, version, api_serialized(req),
                                                  api_query_true(req, "deleted"), &json, &exists,
                                                  errstr, sizeof(errstr));
    if (err == TP_OK && json && !schema) {
        const char *v = strstr(json, "\"version\":");
        int number = v ? atoi(v + 10) : version;
        free(json);
        json = NULL;
        err =
            registry_store_referenced_by_json(db, p.subject, number, &json, errstr, sizeof(errstr));
        if (err == TP_OK)
            api_json(req, 200, json);
    } else if (err == TP_OK && json) {
        /* the schema member alone, as its own JSON string's text */
        char *text = NULL;
        const char *params[] = {json};
        PGresult *res;
        err = pg_exec_params(db, "SELECT $1::json->>'schema'", 1, params, PGRES_TUPLES_OK, &res,
                             errstr, sizeof(errstr));
        if (err == TP_OK) {
            text = tp_strdup(PQgetvalue(res, 0, 0));
            PQclear(res);
            http_reply(req, 200, "text/plain; charset=utf-8", text, strlen(text));
            free(text);
        }
    }
    pool_put(api->pool, db);
    if (err != TP_OK)
        api_store_failed(req, errstr);
    else if (!json)
        exists ? registry_error_reply(req, REGISTRY_ERR_VERSION_NOT_FOUND, "Version %s not found.",
                                      p.version)
               : registry_error_reply(req, REGISTRY_ERR_SUBJECT_NOT_FOUND,
                                      "Subject '%s' not found.", p.subject);
    free(json);
}

static bool api_id_parse(const char *s, int32_t *id)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || (*end && *end != '/') || v < 1 || v > INT32_MAX)
        return false;
    *id = (int32_t)v;
    return true;
}

void registry_api_handle_schema_get(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    if (!api_allowed(api, req, CREDS_READ))
        return;
    const char *tail = api_tail(req, "/schemas/ids/");
    char errstr[512], *json = NULL;
    int32_t id;
    if (!api_id_parse(tail, &id)) {
        registry_error_reply(req, REGISTRY_ERR_SCHEMA_NOT_FOUND, "Schema %s not found", tail);
        return;
    }
    const char *what = strchr(tail, '/');
    what = what ? what + 1 : "";
    if (*what && strcmp(what, "versions") && strcmp(what, "schema") && strcmp(what, "descriptor") &&
        strcmp(what, "subjects")) {
        registry_error_reply(req, REGISTRY_ERR_NOT_FOUND, "HTTP 404 Not Found");
        return;
    }
    PGconn *db = api_db(api, req);
    if (!db)
        return;
    enum tp_err err;
    if (!strcmp(what, "descriptor")) {
        uint8_t *fds = NULL;
        size_t len = 0;
        bool in_subject = false;
        const char *subject = http_request_query(req, "subject");
        atomic_fetch_add(&api->descriptor_fetches, 1);
        err = registry_store_schema_fds(db, id, subject, &fds, &len, &in_subject, errstr,
                                        sizeof(errstr));
        pool_put(api->pool, db);
        if (err == TP_NOT_FOUND)
            registry_error_reply(req, REGISTRY_ERR_SCHEMA_NOT_FOUND, "Schema %d not found", id);
        else if (err != TP_OK)
            api_store_failed(req, errstr);
        else if (!in_subject)
            registry_error_reply(req, REGISTRY_ERR_SCHEMA_NOT_FOUND,
                                 "Schema %d is not registered under subject '%s'", id, subject);
        else
            http_reply(req, 200, "application/x-protobuf", (const char *)fds, len);
        free(fds);
        return;
    }
    atomic_fetch_add(&api->lookups, 1);
    if (!strcmp(what, "versions"))
        err = registry_store_schema_versions_json(db, id, &json, errstr, sizeof(errstr));
    else if (!strcmp(what, "subjects"))
        err = registry_store_schema_subjects_json(db, id, &json, errstr, sizeof(errstr));
    else if (!strcmp(what, "schema"))
        err = registry_store_schema_text(db, id, &json, errstr, sizeof(errstr));
    else
        err =
            registry_store_schema_json(db, id, api_serialized(req), &json, errstr, sizeof(errstr));
    pool_put(api->pool, db);
    if (err != TP_OK)
        api_store_failed(req, errstr);
    else if (!json)
        registry_error_reply(req, REGISTRY_ERR_SCHEMA_NOT_FOUND, "Schema %d not found", id);
    else if (!strcmp(what, "schema"))
        http_reply(req, 200, "text/plain; charset=utf-8", json, strlen(json));
    else
        api_json(req, 200, json);
    free(json);
}

void registry_api_handle_compatibility(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    struct api_path p;
    char errstr[1024];
    int version = -1;
    /* the read role: a check changes nothing */
    PGconn *db = api_versions_db(api, req, api_tail(req, "/compatibility/subjects/"), &p, &version);
    if (!db)
        return;
    struct registry_store_request rq;
    struct registry_store_blob *olds = NULL;
    size_t n_olds = 0;
    uint8_t *fds = NULL;
    size_t fds_len = 0;
    char *level = NULL;
    bool is_set;
    enum tp_err err = registry_store_request_parse(db, api_body(req), &rq, errstr, sizeof(errstr));
    if (err == TP_DECODE) {
        registry_error_reply(req, REGISTRY_ERR_UNPROCESSABLE_ENTITY,
                             "Unrecognized request body: %s", errstr);
        goto out;
    }
    if (err != TP_OK || !api_schema_ok(req, &rq))
        goto failed;
    err = registry_store_config_get(db, p.subject, &level, &is_set, errstr, sizeof(errstr));
    if (err != TP_OK)
        goto failed;
    enum compat_level l = COMPAT_BACKWARD;
    compat_level_parse(level, &l);
    /* a named version is checked alone; "latest" (or none) as the level says */
    bool all = !p.has_version && (l == COMPAT_BACKWARD_TRANSITIVE ||
                                  l == COMPAT_FORWARD_TRANSITIVE || l == COMPAT_FULL_TRANSITIVE);
    err = registry_store_live_blobs(db, p.subject, version, all, &olds, &n_olds, errstr,
                                    sizeof(errstr));
    if (err != TP_OK)
        goto failed;
    if (n_olds == 0) {
        char *versions = NULL;
        err = registry_store_versions_json(db, p.subject, &versions, errstr, sizeof(errstr));
        free(versions);
        if (err != TP_OK)
            goto failed;
        if (versions && version > 0)
            registry_error_reply(req, REGISTRY_ERR_VERSION_NOT_FOUND, "Version %d not found.",
                                 version);
        else
            registry_error_reply(req, REGISTRY_ERR_SUBJECT_NOT_FOUND, "Subject '%s' not found.",
                                 p.subject);
        goto out;
    }
    uint8_t *file = NULL;
    size_t file_len = 0;
    if (!api_compile(api, req, db, &rq, &fds, &fds_len, &file, &file_len))
        goto out;
    free(file);
    struct buf msgs;
    buf_init(&msgs, API_MSGS_MAX);
    bool ok = api_check(NULL, compat_level_name(l), fds, fds_len, olds, n_olds, &msgs);
    struct buf b;
    buf_init(&b, API_MSGS_MAX * 2 + 64);
    buf_printf(&b, "{\"is_compatible\":%s", ok ? "true" : "false");
    const char *verbose = http_request_query(req, "verbose");
    if (verbose && !strcmp(verbose, "true")) {
        buf_append_str(&b, ",\"messages\":[");
        size_t start = 0, k = 0;
        for (size_t i = 0; msgs.data && i <= msgs.len; i++) {
            if (i == msgs.len || msgs.data[i] == '\n') {
                if (i > start) {
                    buf_append_str(&b, k++ ? "," : "");
                    json_strn(&b, msgs.data + start, i - start);
                }
                start = i + 1;
            }
        }
        buf_append_str(&b, "]");
    }
    buf_append_str(&b, "}");
    http_reply(req, 200, API_CT, b.data, b.len);
    buf_release(&b);
    buf_release(&msgs);
    goto out;
failed:
    if (err != TP_OK)
        api_store_failed(req, errstr);
out:
    pool_put(api->pool, db);
    free(fds);
    free(level);
    registry_store_blobs_free(olds, n_olds);
    registry_store_request_release(&rq);
}

/* The subject of /config/{s}, or NULL for /config. */
static const char *api_config_subject(struct http_request *req)
{
    return strcmp(http_request_path(req), "/config") ? api_tail(req, "/config/") : NULL;
}

void registry_api_handle_config_get(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    char errstr[512], *level = NULL;
    bool is_set;
    const char *subject = api_config_subject(req);
    PGconn *db = api_scoped_db(api, req, CREDS_READ, subject);
    if (!db)
        return;
    enum tp_err err =
        registry_store_config_get(db, subject, &level, &is_set, errstr, sizeof(errstr));
    pool_put(api->pool, db);
    const char *dflt = http_request_query(req, "defaultToGlobal");
    if (err != TP_OK) {
        api_store_failed(req, errstr);
    } else if (subject && !is_set && !(dflt && !strcmp(dflt, "true"))) {
        registry_error_reply(req, REGISTRY_ERR_SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED,
                             "Subject '%s' does not have subject-level compatibility configured",
                             subject);
    } else {
        char body[96];
        snprintf(body, sizeof(body), "{\"compatibilityLevel\":\"%s\"}", level);
        api_json(req, 200, body);
    }
    free(level);
}

void registry_api_handle_config_put(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    char errstr[512], *level = NULL;
    const char *subject = api_config_subject(req);
    PGconn *db = api_scoped_db(api, req, CREDS_WRITE, subject);
    if (!db)
        return;
    enum compat_level l;
    enum tp_err err =
        registry_store_config_parse(db, api_body(req), &level, errstr, sizeof(errstr));
    if (err == TP_DECODE) {
        registry_error_reply(req, REGISTRY_ERR_UNPROCESSABLE_ENTITY,
                             "Unrecognized request body: %s", errstr);
    } else if (err != TP_OK) {
        api_store_failed(req, errstr);
    } else if (!level || !compat_level_parse(level, &l)) {
        registry_error_reply(
            req, REGISTRY_ERR_INVALID_COMPATIBILITY_LEVEL,
            "Invalid compatibility level. Valid values are none, backward, forward, full, "
            "backward_transitive, forward_transitive, and full_transitive");
    } else if ((err = registry_store_config_set(db, subject, compat_level_name(l), errstr,
                                                sizeof(errstr))) != TP_OK) {
        api_store_failed(req, errstr);
    } else {
        char body[96];
        snprintf(body, sizeof(body), "{\"compatibility\":\"%s\"}", compat_level_name(l));
        api_json(req, 200, body);
        log_info("compatibility of %s%s%s set to %s", subject ? "subject \"" : "the registry",
                 subject ? subject : "", subject ? "\"" : "", compat_level_name(l));
    }
    pool_put(api->pool, db);
    free(level);
}

void registry_api_handle_schema_types(struct http_request *req, void *arg)
{
    if (api_allowed(arg, req, CREDS_READ))
        api_json(req, 200, "[\"PROTOBUF\"]");
}

void registry_api_handle_config_delete(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    char errstr[512], *previous = NULL;
    const char *subject = api_config_subject(req);
    PGconn *db = api_scoped_db(api, req, CREDS_WRITE, subject);
    if (!db)
        return;
    enum tp_err err = registry_store_config_delete(db, subject, &previous, errstr, sizeof(errstr));
    pool_put(api->pool, db);
    if (err != TP_OK) {
        api_store_failed(req, errstr);
    } else if (!previous) {
        registry_error_reply(req, REGISTRY_ERR_SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED,
                             "Subject '%s' does not have subject-level compatibility configured",
                             subject);
    } else {
        char body[96];
        snprintf(body, sizeof(body), "{\"compatibilityLevel\":\"%s\"}", previous);
        api_json(req, 200, body);
        log_info("compatibility of %s%s%s deleted (was %s)",
                 subject ? "subject \"" : "the registry", subject ? subject : "",
                 subject ? "\"" : "", previous);
    }
    free(previous);
}

/* The subject of /mode/{s}, or NULL for /mode. */
static const char *api_mode_subject(struct http_request *req)
{
    return strcmp(http_request_path(req), "/mode") ? api_tail(req, "/mode/") : NULL;
}

static void api_mode_answer(struct http_request *req, const char *mode)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"mode\":\"%s\"}", mode);
    api_json(req, 200, body);
}

/* GET, PUT and DELETE /mode[/{s}] */
void registry_api_handle_mode(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    char errstr[512], *mode = NULL;
    const char *method = http_request_method(req);
    bool get = !strcmp(method, "GET"), put = !strcmp(method, "PUT");
    const char *subject = api_mode_subject(req);
    PGconn *db = api_scoped_db(api, req, get ? CREDS_READ : CREDS_WRITE, subject);
    if (!db)
        return;
    enum tp_err err;
    bool is_set = false;
    if (get) {
        err = registry_store_mode_get(db, subject, &mode, &is_set, errstr, sizeof(errstr));
        if (err != TP_OK)
            api_store_failed(req, errstr);
        else if (subject && !is_set && !api_query_true(req, "defaultToGlobal"))
            registry_error_reply(req, REGISTRY_ERR_SUBJECT_LEVEL_MODE_NOT_CONFIGURED,
                                 "Subject '%s' does not have subject-level mode configured",
                                 subject);
        else
            api_mode_answer(req, mode);
    } else if (put) {
        err = registry_store_mode_parse(db, api_body(req), &mode, errstr, sizeof(errstr));
        if (err == TP_DECODE)
            registry_error_reply(req, REGISTRY_ERR_UNPROCESSABLE_ENTITY,
                                 "Unrecognized request body: %s", errstr);
        else if (err != TP_OK)
            api_store_failed(req, errstr);
        else if (!mode ||
                 (strcmp(mode, "READWRITE") && strcmp(mode, "READONLY") && strcmp(mode, "IMPORT")))
            registry_error_reply(req, REGISTRY_ERR_INVALID_MODE,
                                 "Invalid mode. Valid values are READWRITE, READONLY and IMPORT");
        else if ((err = registry_store_mode_set(db, subject, mode, errstr, sizeof(errstr))) !=
                 TP_OK)
            api_store_failed(req, errstr);
        else {
            api_mode_answer(req, mode);
            log_info("mode of %s%s%s set to %s", subject ? "subject \"" : "the registry",
                     subject ? subject : "", subject ? "\"" : "", mode);
        }
    } else {
        err = registry_store_mode_delete(db, subject, &mode, errstr, sizeof(errstr));
        if (err != TP_OK)
            api_store_failed(req, errstr);
        else if (!mode && subject)
            registry_error_reply(req, REGISTRY_ERR_SUBJECT_LEVEL_MODE_NOT_CONFIGURED,
                                 "Subject '%s' does not have subject-level mode configured",
                                 subject);
        else
            api_mode_answer(req, mode ? mode : "READWRITE");
    }
    pool_put(api->pool, db);
    free(mode);
}

void registry_api_unrouted(struct http_request *req, unsigned status, const char *allow, void *arg)
{
    (void)arg;
    (void)allow; /* http.c sent it as the Allow header */
    if (status == 405)
        registry_error_reply(req, REGISTRY_ERR_METHOD_NOT_ALLOWED, "HTTP 405 Method Not Allowed");
    else
        registry_error_reply(req, REGISTRY_ERR_NOT_FOUND, "HTTP 404 Not Found");
}

void registry_api_handle_ready(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    char errstr[512] = "";
    PGconn *db;
    if (pool_get(api->pool, 1000, &db, errstr, sizeof(errstr)) == TP_OK) {
        enum tp_err err = pg_check(db, PQexec(db, "SELECT 1 FROM registry_config LIMIT 1"),
                                   PGRES_TUPLES_OK, NULL, errstr, sizeof(errstr));
        pool_put(api->pool, db);
        if (err == TP_OK) {
            static const char body[] = "{\"status\":\"ready\"}";
            http_reply(req, 200, "application/json", body, sizeof(body) - 1);
            return;
        }
    }
    log_warn("not ready: %s", errstr);
    http_reply_error(req, 503, "not_ready", "the schema store is not reachable");
}

void registry_api_handle_metrics(struct http_request *req, void *arg)
{
    struct registry_api *api = arg;
    struct buf b;
    char errstr[512];
    int64_t schemas = 0, subjects = 0;
    bool counted = false;
    PGconn *db;
    if (pool_get(api->pool, 1000, &db, errstr, sizeof(errstr)) == TP_OK) {
        counted = registry_store_counts(db, &schemas, &subjects, errstr, sizeof(errstr)) == TP_OK;
        if (!counted)
            log_warn("could not count schemas: %s", errstr);
        pool_put(api->pool, db);
    }
    buf_init(&b, 1 << 20);
    if (api->srv)
        http_server_metrics(api->srv, "tp_registry", &b);
    if (counted) { /* left out while PostgreSQL cannot count them */
        metrics_sample(&b, "tp_registry_schemas", "gauge", "distinct schemas stored", NULL,
                       (double)schemas);
        metrics_sample(&b, "tp_registry_subjects", "gauge", "subjects with a live version", NULL,
                       (double)subjects);
    }
    metrics_sample(&b, "tp_registry_registered_total", "counter", "new versions registered", NULL,
                   (double)atomic_load(&api->registered));
    metrics_sample(&b, "tp_registry_reregistered_total", "counter",
                   "registrations answered with the existing id", NULL,
                   (double)atomic_load(&api->reused));
    metrics_sample(&b, "tp_registry_lookups_total", "counter",
                   "subject, version and schema lookups", NULL, (double)atomic_load(&api->lookups));
    metrics_sample(&b, "tp_registry_descriptor_fetches_total", "counter",
                   "compiled descriptor sets served (cache misses of ingest and projectors)", NULL,
                   (double)atomic_load(&api->descriptor_fetches));
    metrics_sample(&b, "tp_registry_incompatible_total", "counter",
                   "registrations refused as incompatible (409)", NULL,
                   (double)atomic_load(&api->incompatible));
    metrics_sample(&b, "tp_registry_invalid_total", "counter", "schemas protoc refused (42201)",
                   NULL, (double)atomic_load(&api->invalid));
    metrics_sample(&b, "tp_registry_unauthorized_total", "counter",
                   "requests without valid credentials (401)", NULL,
                   (double)atomic_load(&api->unauthorized));
    metrics_sample(&b, "tp_registry_forbidden_total", "counter",
                   "writes refused to a read credential (403)", NULL,
                   (double)atomic_load(&api->forbidden));
    metrics_histogram_write(&b, "tp_registry_compile_duration_seconds",
                            "protoc run time per compiled schema", &api->compile_ms);
    metrics_runtime_write(&b);
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_release(&b);
}
