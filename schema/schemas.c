#include "schemas.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"

struct schemas {
    char *url, *subject, *subject_escaped;
    char *user, *password; /* NULL: no credentials sent */
    int timeout_ms;
    const ProtobufCMessageDescriptor **templates;
    size_t n_templates;
    struct lru *cache;
    _Atomic uint64_t fetches, fetch_errors, unknown;
};

static void schema_free(void *p)
{
    struct schema *sc = p;
    if (!sc)
        return;
    rtdesc_set_free(sc->set);
    free(sc);
}

/* Moves "user:password@" out of s->url (which messages show) into s->user/s->password. */
static void schemas_userinfo_take(struct schemas *s)
{
    char *host = strstr(s->url, "://");
    if (!host)
        return;
    host += 3;
    size_t authority = strcspn(host, "/?#");
    char *at = memchr(host, '@', authority);
    for (char *q = at; q && (q = memchr(q + 1, '@', authority - (size_t)(q + 1 - host)));)
        at = q; /* the last '@' of the authority ends the userinfo */
    if (!at)
        return;
    char *colon = memchr(host, ':', (size_t)(at - host));
    size_t ul = (size_t)((colon ? colon : at) - host);
    char *u = curl_easy_unescape(NULL, host, (int)ul, NULL);
    char *p = colon ? curl_easy_unescape(NULL, colon + 1, (int)(at - colon - 1), NULL) : NULL;
    s->user = tp_strdup(u ? u : "");
    s->password = tp_strdup(p ? p : "");
    curl_free(u);
    curl_free(p);
    memmove(host, at + 1, strlen(at + 1) + 1);
}

enum tp_err schemas_new(const struct schemas_options *opts, struct schemas **out, char *errstr,
                        size_t errstr_size)
{
    if (!opts->url || strncmp(opts->url, "http", 4) != 0)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "registry url \"%s\" must start with http:// or https://",
                          opts->url ? opts->url : "");
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before threads: main calls this */
    struct schemas *s = tp_calloc(1, sizeof(*s));
    s->url = tp_strdup(opts->url);
    schemas_userinfo_take(s);
    if (opts->user && *opts->user) { /* the config rows win over the URL's user:password@ */
        free(s->user);
        free(s->password);
        s->user = tp_strdup(opts->user);
        s->password = tp_strdup(opts->password ? opts->password : "");
    }
    size_t n = strlen(s->url);
    while (n && s->url[n - 1] == '/')
        s->url[--n] = '\0';
    s->subject = tp_strdup(opts->subject);
    char *esc = curl_easy_escape(NULL, opts->subject, 0);
    s->subject_escaped = tp_strdup(esc);
    curl_free(esc);
    s->timeout_ms = opts->timeout_ms;
    s->templates = tp_calloc(opts->n_templates + 1, sizeof(*s->templates));
    memcpy(s->templates, opts->templates, opts->n_templates * sizeof(*s->templates));
    s->n_templates = opts->n_templates;
    s->cache = lru_new(opts->cache_size ? opts->cache_size : 1, schema_free);
    *out = s;
    return TP_OK;
}

static size_t schemas_write(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    return buf_append(b, p, size * n) == TP_OK ? size * n : 0; /* over the max: abort */
}

/* One request; *status 0 when there was no answer (errstr says why). */
static enum tp_err schemas_http(struct schemas *s, const char *method, const char *url,
                                const char *json, struct buf *resp, long *status, char *errstr,
                                size_t errstr_size)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char cerr[CURL_ERROR_SIZE] = "";
    *status = 0;
    if (json)
        h = curl_slist_append(h, "Content-Type: application/vnd.schemaregistry.v1+json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    if (s->user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, s->password);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, schemas_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    if (json) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    }
    CURLcode rc = curl_easy_perform(c);
    enum tp_err err = TP_OK;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        if (*status == 401 && s->user)
            err = tp_err_set(TP_CONFIG, errstr, errstr_size,
                             "the schema registry at \"%s\" refused the credentials of "
                             "registry.user \"%s\" (401): check registry.user and "
                             "registry.password",
                             s->url, s->user);
        else if (*status == 401)
            err = tp_err_set(TP_CONFIG, errstr, errstr_size,
                             "the schema registry at \"%s\" needs credentials (401): set "
                             "registry.user and registry.password",
                             s->url);
        else if (*status == 403)
            err = tp_err_set(TP_CONFIG, errstr, errstr_size,
                             "registry.user \"%s\" may only read from the schema registry at "
                             "\"%s\" (403): %s %s needs a credential with the write role",
                             s->user ? s->user : "", s->url, method, url + strlen(s->url));
    } else
        err = tp_err_set(rc == CURLE_OPERATION_TIMEDOUT ? TP_TIMEOUT : TP_IO, errstr, errstr_size,
                         "could not reach the schema registry at \"%s\": %s", s->url,
                         cerr[0] ? cerr : curl_easy_strerror(rc));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return err;
}

/* The "message" of a Confluent error body, or the body itself (bounded). */
static void schemas_error_text(const struct buf *resp, char *out, size_t n)
{
    const char *body = resp->data ? resp->data : "";
    const char *m = strstr(body, "\"message\":\"");
    if (m) {
        m += 11;
        size_t l = 0;
        while (m[l] && !(m[l] == '"' && (l == 0 || m[l - 1] != '\\')))
            l++;
        snprintf(out, n, "%.*s", (int)l, m);
    } else {
        snprintf(out, n, "%.200s", body);
    }
}

/* POSTs {"schemaType":"PROTOBUF","schema":text} to /subjects/{subject}<suffix>: the "id" of a
 * 200 answer; TP_NOT_FOUND on 404, TP_CONFLICT on 409, TP_VALIDATION on 422. */
static enum tp_err schemas_post(struct schemas *s, const char *suffix, const char *what,
                                const char *text, int32_t *id, char *errstr, size_t errstr_size)
{
    char url[1024];
    struct buf body, resp;
    long status;
    snprintf(url, sizeof(url), "%s/subjects/%s%s", s->url, s->subject_escaped, suffix);
    buf_init(&body, 8u << 20);
    buf_init(&resp, 1u << 20);
    buf_append_str(&body, "{\"schemaType\":\"PROTOBUF\",\"schema\":");
    json_str(&body, text);
    buf_append_str(&body, "}");
    enum tp_err err = schemas_http(s, "POST", url, body.data, &resp, &status, errstr, errstr_size);
    if (err == TP_OK) {
        char why[512];
        const char *p = resp.data ? strstr(resp.data, "\"id\":") : NULL;
        schemas_error_text(&resp, why, sizeof(why));
        if (status == 200 && p) {
            *id = (int32_t)strtol(p + 5, NULL, 10);
        } else {
            enum tp_err e = status == 404   ? TP_NOT_FOUND
                            : status == 409 ? TP_CONFLICT
                            : status == 422 ? TP_VALIDATION
                                            : TP_IO;
            err = tp_err_set(e, errstr, errstr_size,
                             "the schema registry answered %ld to %s under \"%s\": %s", status,
                             what, s->subject, why);
        }
    }
    buf_release(&body);
    buf_release(&resp);
    return err;
}

enum tp_err schemas_register(struct schemas *s, const char *text, int32_t *id, char *errstr,
                             size_t errstr_size)
{
    return schemas_post(s, "/versions", "registering", text, id, errstr, errstr_size);
}

enum tp_err schemas_lookup(struct schemas *s, const char *text, int32_t *id, char *errstr,
                           size_t errstr_size)
{
    return schemas_post(s, "", "looking up", text, id, errstr, errstr_size);
}

enum tp_err schemas_ensure(struct schemas *s, const char *text, int32_t *id, bool *registered,
                           char *errstr, size_t errstr_size)
{
    *registered = false;
    enum tp_err err = schemas_lookup(s, text, id, errstr, errstr_size);
    if (err != TP_NOT_FOUND)
        return err;
    char why[512];
    snprintf(why, sizeof(why), "%s", errstr);
    err = schemas_register(s, text, id, errstr, errstr_size);
    if (err == TP_OK) {
        *registered = true;
    } else if (err == TP_CONFIG && s->user) {
        /* looked up with the read role: 401 would have come from the lookup, so 403 */
        err = tp_err_set(TP_CONFIG, errstr, errstr_size,
                         "the schema is not registered under subject \"%s\" (%s) and "
                         "registry.user \"%s\" may only read: register it once with an operator's "
                         "write credential (tp-ingest register-schema with that registry.user and "
                         "registry.password), then start again",
                         s->subject, why, s->user);
    }
    return err;
}

enum tp_err schemas_check(struct schemas *s, char *errstr, size_t errstr_size)
{
    char url[1024];
    struct buf resp;
    long status;
    snprintf(url, sizeof(url), "%s/subjects/%s/versions", s->url, s->subject_escaped);
    buf_init(&resp, 1u << 20);
    enum tp_err err = schemas_http(s, "GET", url, NULL, &resp, &status, errstr, errstr_size);
    if (err == TP_OK && status != 200 && status != 404)
        err = tp_err_set(TP_IO, errstr, errstr_size,
                         "the schema registry at \"%s\" answered %ld to listing the versions of "
                         "\"%s\"",
                         s->url, status, s->subject);
    buf_release(&resp);
    return err;
}

/* Asks the registry for id; a new entry (negative on 404), or an error to pass on. */
static enum tp_err schemas_fetch(struct schemas *s, int32_t id, struct schema **out, char *errstr,
                                 size_t errstr_size)
{
    char url[1024];
    struct buf resp;
    long status;
    snprintf(url, sizeof(url), "%s/schemas/ids/%d/descriptor?subject=%s", s->url, id,
             s->subject_escaped);
    buf_init(&resp, SCHEMAS_MAX_DESCRIPTOR);
    atomic_fetch_add(&s->fetches, 1);
    enum tp_err err = schemas_http(s, "GET", url, NULL, &resp, &status, errstr, errstr_size);
    struct schema *sc = NULL;
    if (err != TP_OK)
        goto out;
    sc = tp_calloc(1, sizeof(*sc));
    sc->id = id;
    if (status == 404) {
        char why[200];
        schemas_error_text(&resp, why, sizeof(why));
        snprintf(sc->why, sizeof(sc->why),
                 "schema id %d is not registered under subject \"%s\" (%s)", id, s->subject, why);
        sc->unknown_until_ms = tp_mono_ms() + SCHEMAS_NEGATIVE_TTL_MS;
        atomic_fetch_add(&s->unknown, 1);
    } else if (status != 200) {
        err = tp_err_set(TP_IO, errstr, errstr_size,
                         "the schema registry answered %ld for schema id %d", status, id);
    } else {
        err = rtdesc_set_new((const uint8_t *)resp.data, resp.len, s->templates, s->n_templates,
                             &sc->set, errstr, errstr_size);
        if (err == TP_OK)
            log_info("schema id %d of subject \"%s\" loaded from the registry", id, s->subject);
    }
out:
    if (err != TP_OK) {
        atomic_fetch_add(&s->fetch_errors, 1);
        schema_free(sc);
        sc = NULL;
    }
    buf_release(&resp);
    *out = sc;
    return err;
}

enum tp_err schemas_get(struct schemas *s, int32_t id, const struct schema **out,
                        struct lru_ref **ref, char *errstr, size_t errstr_size)
{
    struct schema *sc = lru_get(s->cache, id, ref);
    if (sc && !sc->set && tp_mono_ms() >= sc->unknown_until_ms) {
        lru_release(s->cache, *ref); /* a stale "unknown": ask again */
        lru_remove(s->cache, id);
        sc = NULL;
    }
    if (!sc) {
        struct schema *fresh;
        enum tp_err err = schemas_fetch(s, id, &fresh, errstr, errstr_size);
        if (err != TP_OK) {
            *ref = NULL;
            return err;
        }
        sc = lru_insert(s->cache, id, fresh, ref);
    }
    if (!sc->set) {
        tp_err_set(TP_NOT_FOUND, errstr, errstr_size, "%s", sc->why);
        lru_release(s->cache, *ref);
        *ref = NULL;
        return TP_NOT_FOUND;
    }
    *out = sc;
    return TP_OK;
}

void schemas_put(struct schemas *s, struct lru_ref *ref)
{
    lru_release(s->cache, ref);
}

void schemas_stats_get(struct schemas *s, struct schemas_stats *out)
{
    lru_stats_get(s->cache, &out->cache);
    out->fetches = atomic_load(&s->fetches);
    out->fetch_errors = atomic_load(&s->fetch_errors);
    out->unknown = atomic_load(&s->unknown);
}

const char *schemas_subject(const struct schemas *s)
{
    return s->subject;
}

const char *schemas_url(const struct schemas *s)
{
    return s->url;
}

void schemas_free(struct schemas *s)
{
    if (!s)
        return;
    lru_free(s->cache);
    free(s->templates);
    free(s->url);
    free(s->subject);
    free(s->subject_escaped);
    free(s->user);
    if (s->password)
        memset(s->password, 0, strlen(s->password));
    free(s->password);
    free(s);
}
