/*
 * tp-registry's REST API as a real process on a fresh database: register
 * (same schema, same id, across subjects), look up, list, versions, soft
 * delete, schemas by id, references (imports), protoc's errors as 42201,
 * compatibility checks and 409, global and subject config, Confluent's error
 * codes, the descriptor extension, /readyz and /metrics; two replicas
 * racing to register one schema from eight threads agree on one id and one
 * version; and HTTP Basic authentication: anonymous and wrong credentials
 * get 401 (with WWW-Authenticate) and change nothing, a read credential gets
 * 403 on writes, start-up without credentials is refused unless
 * registry.auth=off (logged), and the schema library reports refused
 * credentials as a non-retriable configuration error (which the journal
 * decoder hands on as retriable: a consumer waits rather than dead-letters).
 */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/json.h"
#include "schema/fdset.h"
#include "schema/telemetry.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"
#include "tests/support/stack.h"

#define CT "application/vnd.schemaregistry.v1+json"

static struct stack st;
static uint16_t port, port2;
static pid_t pid, pid2;
static struct buf resp;
/* the credentials call() sends (NULL user: none); the operator's unless a test changes them */
static const char *user, *password;

static void setup(void)
{
    stack_init(&st, "registry");
    stack_db_create(&st);
    port = stack_free_port();
    pid = stack_service_start(&st, "tp-registry", NULL, port);
    buf_init(&resp, 1 << 22);
    user = STACK_REGISTRY_OPERATOR;
    password = STACK_REGISTRY_OPERATOR_PASSWORD;
    stack_set_header(NULL);
}

static void teardown(void)
{
    int s1 = stack_service_stop(pid, SIGTERM);
    int s2 = pid2 ? stack_service_stop(pid2, SIGTERM) : 0;
    pid2 = 0; /* a later test must not stop it again */
    buf_release(&resp);
    stack_release(&st);
    ck_assert_int_eq(s1, 0);
    ck_assert_int_eq(s2, 0);
}

/* {"schema":text[,"references":refs]} */
static char *body_of(const char *text, const char *refs)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_append_str(&b, "{\"schemaType\":\"PROTOBUF\",\"schema\":");
    json_str(&b, text);
    if (refs)
        buf_printf(&b, ",\"references\":%s", refs);
    buf_append_str(&b, "}");
    return buf_steal(&b, &(size_t){0});
}

static long call(const char *method, const char *path, const char *body)
{
    char url[512];
    if (user) /* libcurl sends the URL's user:password as Basic credentials */
        snprintf(url, sizeof(url), "http://%s:%s@127.0.0.1:%u%s", user, password, port, path);
    else
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    return stack_http(method, url, body ? CT : NULL, body, body ? strlen(body) : 0, &resp);
}

/* Calls and parses the JSON answer (the test owns it). */
static struct jv *call_json(const char *method, const char *path, const char *body, long expect)
{
    long status = call(method, path, body);
    ck_assert_msg(status == expect, "%s %s: %ld %s", method, path, status, resp.data);
    struct jv *doc = jv_parse(resp.data ? resp.data : "");
    ck_assert_msg(doc != NULL, "%s %s: not JSON: %s", method, path, resp.data);
    return doc;
}

static void expect_error(const char *method, const char *path, const char *body, long status,
                         long code, const char *message_part)
{
    struct jv *doc = call_json(method, path, body, status);
    ck_assert_double_eq(jv_num(doc, "error_code"), (double)code);
    ck_assert_msg(strstr(jv_str(doc, "message"), message_part), "%s %s: %s", method, path,
                  resp.data);
    jv_free(doc);
}

static int register_text(const char *subject, const char *text, const char *refs)
{
    char path[256];
    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    char *body = body_of(text, refs);
    struct jv *doc = call_json("POST", path, body, 200);
    int id = (int)jv_num(doc, "id");
    ck_assert_uint_eq(doc->n, 1); /* {"id":N} only */
    jv_free(doc);
    free(body);
    return id;
}

#define V1 "syntax = \"proto3\";\npackage fleet.v1;\nmessage Ping {\n  string device = 1;\n}\n"
#define V2                                                                                         \
    "syntax = \"proto3\";\npackage fleet.v1;\nmessage Ping {\n  string device = 1;\n  double "     \
    "speed = 2;\n}\n"

/* The body's answer as text (arrays, plain text). */
static void expect_body(const char *method, const char *path, const char *body, long status,
                        const char *want)
{
    long got = call(method, path, body);
    ck_assert_msg(got == status, "%s %s: %ld %s", method, path, got, resp.data);
    ck_assert_msg(resp.data && !strcmp(resp.data, want), "%s %s: %s, not %s", method, path,
                  resp.data, want);
}

/* The "schema" member of GET path's answer (caller frees). */
static char *schema_of(const char *path)
{
    struct jv *doc = call_json("GET", path, NULL, 200);
    char *s = strdup(jv_str(doc, "schema"));
    jv_free(doc);
    return s;
}

#define REFERRER                                                                                   \
    "syntax = \"proto3\";\nimport \"fleet/ping.proto\";\npackage fleet.c;\nmessage C {\n"          \
    "  fleet.v1.Ping p = 1;\n}\n"

START_TEST(test_confluent_client_endpoints)
{
    char path[256], want[256];
    expect_body("GET", "/schemas/types", NULL, 200, "[\"PROTOBUF\"]");
    /* unknown routes and 405 in the registry's error shape, 405 with Allow */
    expect_error("GET", "/no/such/route", NULL, 404, 404, "HTTP 404 Not Found");
    expect_error("PUT", "/subjects", NULL, 405, 405, "HTTP 405 Method Not Allowed");
    ck_assert_str_eq(stack_last_header("Allow"), "GET");
    expect_error("POST", "/mode", "{}", 405, 405, "HTTP 405 Method Not Allowed");
    ck_assert_str_eq(stack_last_header("Allow"), "GET, PUT, DELETE");

    int id1 = register_text("a-value", V1, NULL);
    int id2 = register_text("a-value", V2, NULL);
    expect_body("GET", "/subjects/a-value/versions/1/schema", NULL, 200, V1);

    /* the serialized form: base64 of the FileDescriptorProto, by id and by version */
    snprintf(path, sizeof(path), "/schemas/ids/%d?format=serialized", id1);
    char *b64 = schema_of(path);
    char *b64v = schema_of("/subjects/a-value/versions/1?format=serialized");
    ck_assert_str_eq(b64, b64v);
    ck_assert_uint_eq(strlen(b64) % 4, 0);
    ck_assert_ptr_null(strchr(b64, '\n'));
    expect_body("GET", "/subjects/a-value/versions/1/schema?format=serialized", NULL, 200, b64);
    /* sent back as a descriptor, under another subject: the same schema, the same id */
    ck_assert_int_eq(register_text("b-value", b64, NULL), id1);
    snprintf(path, sizeof(path), "/schemas/ids/%d/subjects", id1);
    expect_body("GET", path, NULL, 200, "[\"a-value\", \"b-value\"]");
    char *again = schema_of("/subjects/b-value/versions/1");
    ck_assert_str_eq(again, V1); /* one schema, one row: read back as its text */
    free(again);
    /* and looked up in descriptor form under the subject of the text */
    char *body = body_of(b64, NULL);
    struct jv *doc = call_json("POST", "/subjects/a-value", body, 200);
    ck_assert_double_eq(jv_num(doc, "id"), id1);
    ck_assert_double_eq(jv_num(doc, "version"), 1);
    jv_free(doc);
    free(body);
    /* base64 that is no descriptor */
    body = body_of("QUJD", NULL);
    expect_error("POST", "/subjects/b-value/versions", body, 422, 42201,
                 "Invalid schema: the schema is base64 but not a serialized FileDescriptorProto");
    free(body);
    free(b64v);
    free(b64);

    /* another text of the same schema (comments, layout): the same schema, normalize=true
     * or not */
    body =
        body_of("syntax = \"proto3\"; package fleet.v1; message Ping { string device = 1; }", NULL);
    doc = call_json("POST", "/subjects/a-value", body, 200);
    ck_assert_double_eq(jv_num(doc, "id"), id1);
    jv_free(doc);
    doc = call_json("POST", "/subjects/a-value?normalize=true", body, 200);
    ck_assert_double_eq(jv_num(doc, "id"), id1);
    jv_free(doc);
    doc = call_json("POST", "/subjects/a-value/versions?normalize=true", body, 200);
    ck_assert_double_eq(jv_num(doc, "id"), id1);
    jv_free(doc);
    free(body);
    expect_body("GET", "/subjects/a-value/versions", NULL, 200, "[1, 2]");

    /* referencedby, and a referenced version is not deleted */
    int idc =
        register_text("c-value", REFERRER,
                      "[{\"name\":\"fleet/ping.proto\",\"subject\":\"a-value\",\"version\":1}]");
    snprintf(want, sizeof(want), "[%d]", idc);
    expect_body("GET", "/subjects/a-value/versions/1/referencedby", NULL, 200, want);
    expect_body("GET", "/subjects/a-value/versions/2/referencedby", NULL, 200, "[]");
    expect_error("DELETE", "/subjects/a-value/versions/1", NULL, 422, 42206,
                 "One or more references exist to the schema {subject=a-value,version=1}");
    expect_error("DELETE", "/subjects/a-value", NULL, 422, 42206,
                 "One or more references exist to the schema {subject=a-value}");
    expect_error("GET", "/subjects/a-value/versions/9/referencedby", NULL, 404, 40402,
                 "Version 9 not found.");

    /* permanent deletes need a soft delete first */
    expect_error("DELETE", "/subjects/a-value/versions/2?permanent=true", NULL, 404, 40407,
                 "Subject 'a-value' Version 2 was not deleted first before being permanently "
                 "deleted");
    expect_body("DELETE", "/subjects/a-value/versions/2", NULL, 200, "2");
    expect_error("GET", "/subjects/a-value/versions/2", NULL, 404, 40402, "Version 2 not found.");
    doc = call_json("GET", "/subjects/a-value/versions/2?deleted=true", NULL, 200);
    ck_assert_double_eq(jv_num(doc, "id"), id2);
    jv_free(doc);
    expect_body("DELETE", "/subjects/a-value/versions/2?permanent=true", NULL, 200, "2");
    expect_error("DELETE", "/subjects/a-value/versions/2?permanent=true", NULL, 404, 40402,
                 "Version 2 not found.");
    expect_body("GET", "/subjects/a-value/versions", NULL, 200, "[1]");
    snprintf(path, sizeof(path), "/schemas/ids/%d", id2);
    doc = call_json("GET", path, NULL, 200); /* the journal may still name it */
    jv_free(doc);
    expect_error("DELETE", "/subjects/b-value?permanent=true", NULL, 404, 40405,
                 "Subject 'b-value' was not deleted first before being permanently deleted");
    expect_body("DELETE", "/subjects/b-value", NULL, 200, "[1]");
    expect_body("DELETE", "/subjects/b-value?permanent=true", NULL, 200, "[1]");
    expect_error("DELETE", "/subjects/b-value", NULL, 404, 40401, "Subject 'b-value' not found.");
    expect_error("GET", "/subjects/b-value/versions", NULL, 404, 40401,
                 "Subject 'b-value' not found.");

    /* modes: global and per subject; READONLY refuses registrations and deletes */
    expect_body("GET", "/mode", NULL, 200, "{\"mode\":\"READWRITE\"}");
    expect_error("GET", "/mode/a-value", NULL, 404, 40409,
                 "Subject 'a-value' does not have subject-level mode configured");
    expect_body("PUT", "/mode/a-value", "{\"mode\":\"READONLY\"}", 200, "{\"mode\":\"READONLY\"}");
    expect_body("GET", "/mode/a-value", NULL, 200, "{\"mode\":\"READONLY\"}");
    expect_body("GET", "/mode/c-value?defaultToGlobal=true", NULL, 200, "{\"mode\":\"READWRITE\"}");
    body = body_of(V2, NULL);
    expect_error("POST", "/subjects/a-value/versions", body, 422, 42205,
                 "Subject a-value is in read-only mode");
    expect_body("PUT", "/mode", "{\"mode\":\"READONLY\"}", 200, "{\"mode\":\"READONLY\"}");
    expect_error("DELETE", "/subjects/c-value/versions/1", NULL, 422, 42205,
                 "Subject c-value is in read-only mode");
    expect_body("DELETE", "/mode", NULL, 200, "{\"mode\":\"READONLY\"}");
    expect_body("GET", "/mode", NULL, 200, "{\"mode\":\"READWRITE\"}");
    expect_body("DELETE", "/mode/a-value", NULL, 200, "{\"mode\":\"READONLY\"}");
    ck_assert_int_eq(register_text("a-value", V2, NULL), id2); /* READWRITE again */
    expect_error("PUT", "/mode", "{\"mode\":\"WRITEONLY\"}", 422, 42204, "Invalid mode");
    free(body);

    /* DELETE /config/{s} and defaultToGlobal */
    expect_body("PUT", "/config/a-value", "{\"compatibility\":\"NONE\"}", 200,
                "{\"compatibility\":\"NONE\"}");
    expect_body("DELETE", "/config/a-value", NULL, 200, "{\"compatibilityLevel\":\"NONE\"}");
    expect_error("GET", "/config/a-value", NULL, 404, 40408,
                 "Subject 'a-value' does not have subject-level compatibility configured");
    expect_body("GET", "/config/a-value?defaultToGlobal=true", NULL, 200,
                "{\"compatibilityLevel\":\"BACKWARD\"}");
    expect_error("DELETE", "/config/a-value", NULL, 404, 40408, "does not have subject-level");
}
END_TEST

START_TEST(test_register_and_read)
{
    int id = register_text("fleet-value", V1, NULL);
    ck_assert_int_ge(id, 1);
    ck_assert_int_eq(register_text("fleet-value", V1, NULL), id); /* same schema, same id */
    ck_assert_int_eq(register_text("other-value", V1, NULL), id); /* ids are global */
    int id2 = register_text("fleet-value", V2, NULL);
    ck_assert_int_ne(id2, id);

    struct jv *doc = call_json("GET", "/subjects", NULL, 200);
    ck_assert_uint_eq(jv_len(doc, ""), 2);
    ck_assert_str_eq(jv_str(doc, "0"), "fleet-value");
    ck_assert_str_eq(jv_str(doc, "1"), "other-value");
    jv_free(doc);
    doc = call_json("GET", "/subjects/fleet-value/versions", NULL, 200);
    ck_assert_uint_eq(jv_len(doc, ""), 2);
    ck_assert_double_eq(jv_num(doc, "0"), 1);
    ck_assert_double_eq(jv_num(doc, "1"), 2);
    jv_free(doc);
    doc = call_json("GET", "/subjects/fleet-value/versions/latest", NULL, 200);
    ck_assert_str_eq(jv_str(doc, "subject"), "fleet-value");
    ck_assert_double_eq(jv_num(doc, "version"), 2);
    ck_assert_double_eq(jv_num(doc, "id"), id2);
    ck_assert_str_eq(jv_str(doc, "schemaType"), "PROTOBUF");
    ck_assert_str_eq(jv_str(doc, "schema"), V2);
    ck_assert_ptr_null(jv_path(doc, "references"));
    jv_free(doc);
    doc = call_json("GET", "/subjects/fleet-value/versions/1", NULL, 200);
    ck_assert_double_eq(jv_num(doc, "id"), id);
    ck_assert_str_eq(jv_str(doc, "schema"), V1);
    jv_free(doc);

    char path[128];
    snprintf(path, sizeof(path), "/schemas/ids/%d", id);
    doc = call_json("GET", path, NULL, 200);
    ck_assert_str_eq(jv_str(doc, "schema"), V1);
    ck_assert_str_eq(jv_str(doc, "schemaType"), "PROTOBUF");
    jv_free(doc);
    snprintf(path, sizeof(path), "/schemas/ids/%d/versions", id);
    doc = call_json("GET", path, NULL, 200);
    ck_assert_uint_eq(jv_len(doc, ""), 2);
    ck_assert_str_eq(jv_str(doc, "0.subject"), "fleet-value");
    ck_assert_double_eq(jv_num(doc, "0.version"), 1);
    ck_assert_str_eq(jv_str(doc, "1.subject"), "other-value");
    jv_free(doc);
    snprintf(path, sizeof(path), "/schemas/ids/%d/schema", id);
    ck_assert_int_eq(call("GET", path, NULL), 200);
    ck_assert_str_eq(resp.data, V1);

    /* look up by schema text */
    char *body = body_of(V1, NULL);
    doc = call_json("POST", "/subjects/fleet-value", body, 200);
    ck_assert_double_eq(jv_num(doc, "id"), id);
    ck_assert_double_eq(jv_num(doc, "version"), 1);
    ck_assert_str_eq(jv_str(doc, "subject"), "fleet-value");
    ck_assert_str_eq(jv_str(doc, "schema"), V1);
    jv_free(doc);
    expect_error("POST", "/subjects/nobody-value", body, 404, 40401, "Subject 'nobody-value'");
    free(body);
    /* comments and layout do not make another schema (Confluent compares protobuf schemas by
     * their printed form: confluentinc/schema-registry#1669); another field name does */
    body = body_of(V1 "// the same schema, commented\n", NULL);
    doc = call_json("POST", "/subjects/fleet-value", body, 200);
    ck_assert_double_eq(jv_num(doc, "id"), id);
    ck_assert_double_eq(jv_num(doc, "version"), 1);
    jv_free(doc);
    free(body);
    body = body_of(
        "syntax = \"proto3\";\npackage fleet.v1;\nmessage Ping {\n  string dev = 1;\n}\n", NULL);
    expect_error("POST", "/subjects/fleet-value", body, 404, 40403, "Schema not found");
    free(body);

    /* the compiled descriptor set, for ingest and projectors */
    snprintf(path, sizeof(path), "/schemas/ids/%d/descriptor?subject=fleet-value", id2);
    ck_assert_int_eq(call("GET", path, NULL), 200);
    struct fdset *fs;
    char errstr[256];
    ck_assert_int_eq(fdset_new((const uint8_t *)resp.data, resp.len, &fs, errstr, sizeof(errstr)),
                     TP_OK);
    const struct fdset_message *m = fdset_message(fs, "fleet.v1.Ping");
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->proto->n_field, 2);
    ck_assert_str_eq(m->proto->field[1]->name, "speed");
    fdset_free(fs);
    snprintf(path, sizeof(path), "/schemas/ids/%d/descriptor?subject=other-value", id2);
    expect_error("GET", path, NULL, 404, 40403, "is not registered under subject 'other-value'");

    /* Confluent's not-found codes */
    expect_error("GET", "/subjects/nobody-value/versions", NULL, 404, 40401, "not found");
    expect_error("GET", "/subjects/nobody-value/versions/1", NULL, 404, 40401, "not found");
    expect_error("GET", "/subjects/fleet-value/versions/7", NULL, 404, 40402, "Version 7");
    expect_error("GET", "/subjects/fleet-value/versions/zero", NULL, 422, 42202, "'zero'");
    expect_error("GET", "/schemas/ids/999999", NULL, 404, 40403, "Schema 999999 not found");
}
END_TEST

START_TEST(test_invalid_schemas_and_references)
{
    char *body = body_of("syntax = \"proto3\"; message M { int32 a = 1 }", NULL);
    expect_error("POST", "/subjects/bad-value/versions", body, 422, 42201,
                 "Invalid schema: schema.proto:1:44: Expected \";\".");
    free(body);
    expect_error("POST", "/subjects/bad-value/versions",
                 "{\"schemaType\":\"AVRO\",\"schema\":\"{}\"}", 422, 42201,
                 "schemaType \"AVRO\" is not supported");
    expect_error("POST", "/subjects/bad-value/versions", "{\"schema\":", 422, 422,
                 "Unrecognized request body");
    expect_error("POST", "/subjects/bad-value/versions", "{}", 422, 42201, "empty schema");
    call("GET", "/subjects", NULL);
    ck_assert_str_eq(resp.data, "[]"); /* nothing was stored */

    /* an import, given as a reference to another subject's version */
    int units = register_text(
        "units", "syntax = \"proto3\"; package units; message Speed { double kmh = 1; }", NULL);
    const char *app = "syntax = \"proto3\"; package app; import \"units/speed.proto\";"
                      " message Car { units.Speed speed = 1; }";
    const char *refs = "[{\"name\":\"units/speed.proto\",\"subject\":\"units\",\"version\":1}]";
    int id = register_text("app-value", app, refs);
    ck_assert_int_ne(id, units);
    struct jv *doc = call_json("GET", "/subjects/app-value/versions/1", NULL, 200);
    ck_assert_str_eq(jv_str(doc, "references.0.name"), "units/speed.proto");
    ck_assert_str_eq(jv_str(doc, "references.0.subject"), "units");
    ck_assert_double_eq(jv_num(doc, "references.0.version"), 1);
    jv_free(doc);
    /* the same text with other references is another schema */
    body = body_of(app, "[{\"name\":\"units/speed.proto\",\"subject\":\"units\",\"version\":2}]");
    expect_error("POST", "/subjects/app2-value/versions", body, 422, 42201,
                 "names subject 'units' version 2, which does not exist");
    free(body);
    body = body_of(app, NULL);
    expect_error("POST", "/subjects/app2-value/versions", body, 422, 42201,
                 "units/speed.proto: File not found");
    free(body);
}
END_TEST

START_TEST(test_compatibility_and_config)
{
    struct jv *doc = call_json("GET", "/config", NULL, 200);
    ck_assert_str_eq(jv_str(doc, "compatibilityLevel"), "BACKWARD");
    jv_free(doc);
    register_text("fleet-value", V1, NULL);

    char *v2 = body_of(V2, NULL);
    doc = call_json("POST", "/compatibility/subjects/fleet-value/versions/latest", v2, 200);
    ck_assert(jv_path(doc, "is_compatible")->b);
    jv_free(doc);
    /* a changed package is refused, with the reasons when verbose */
    char *pkg = body_of("syntax = \"proto3\";\npackage fleet.v2;\nmessage Ping {\n  string "
                        "device = 1;\n}\n",
                        NULL);
    doc =
        call_json("POST", "/compatibility/subjects/fleet-value/versions/1?verbose=true", pkg, 200);
    ck_assert(!jv_path(doc, "is_compatible")->b);
    ck_assert_str_eq(jv_str(doc, "messages.0"),
                     "version 1: package_changed: \"fleet.v1\" -> \"fleet.v2\" renames every "
                     "message (breaks backward and forward)");
    jv_free(doc);
    expect_error("POST", "/subjects/fleet-value/versions", pkg, 409, 409,
                 "incompatible with an earlier schema for subject \"fleet-value\": version 1: "
                 "package_changed");
    expect_error("POST", "/compatibility/subjects/fleet-value/versions/9", v2, 404, 40402,
                 "Version 9");
    expect_error("POST", "/compatibility/subjects/nobody/versions/latest", v2, 404, 40401,
                 "'nobody'");

    /* a removed field without `reserved`: refused, accepted with NONE on the subject only */
    char *removed = body_of("syntax = \"proto3\";\npackage fleet.v1;\nmessage Ping {\n}\n", NULL);
    expect_error("POST", "/subjects/fleet-value/versions", removed, 409, 409,
                 "field_removed_not_reserved: Ping.device = 1");
    expect_error("GET", "/config/fleet-value", NULL, 404, 40408, "subject-level compatibility");
    expect_error("PUT", "/config/fleet-value", "{\"compatibility\":\"SIDEWAYS\"}", 422, 42203,
                 "Invalid compatibility level");
    doc = call_json("PUT", "/config/fleet-value", "{\"compatibility\":\"none\"}", 200);
    ck_assert_str_eq(jv_str(doc, "compatibility"), "NONE");
    jv_free(doc);
    doc = call_json("GET", "/config/fleet-value", NULL, 200);
    ck_assert_str_eq(jv_str(doc, "compatibilityLevel"), "NONE");
    jv_free(doc);
    doc = call_json("GET", "/config", NULL, 200);
    ck_assert_str_eq(jv_str(doc, "compatibilityLevel"), "BACKWARD");
    jv_free(doc);
    doc = call_json("GET", "/config/other?defaultToGlobal=true", NULL, 200);
    ck_assert_str_eq(jv_str(doc, "compatibilityLevel"), "BACKWARD");
    jv_free(doc);
    doc = call_json("POST", "/subjects/fleet-value/versions", removed, 200);
    jv_free(doc);
    doc = call_json("PUT", "/config", "{\"compatibility\":\"FULL_TRANSITIVE\"}", 200);
    ck_assert_str_eq(jv_str(doc, "compatibility"), "FULL_TRANSITIVE");
    jv_free(doc);
    doc = call_json("GET", "/config", NULL, 200);
    ck_assert_str_eq(jv_str(doc, "compatibilityLevel"), "FULL_TRANSITIVE");
    jv_free(doc);
    free(v2);
    free(pkg);
    free(removed);
}
END_TEST

START_TEST(test_soft_delete)
{
    int id1 = register_text("fleet-value", V1, NULL);
    int id2 = register_text("fleet-value", V2, NULL);
    struct jv *doc = call_json("DELETE", "/subjects/fleet-value/versions/1", NULL, 200);
    ck_assert_double_eq(doc->num, 1);
    jv_free(doc);
    doc = call_json("GET", "/subjects/fleet-value/versions", NULL, 200);
    ck_assert_uint_eq(jv_len(doc, ""), 1);
    ck_assert_double_eq(jv_num(doc, "0"), 2);
    jv_free(doc);
    expect_error("GET", "/subjects/fleet-value/versions/1", NULL, 404, 40402, "Version 1");
    expect_error("DELETE", "/subjects/fleet-value/versions/1", NULL, 404, 40402, "Version 1");
    /* the schema itself stays readable by id (events in the journal still name it) */
    char path[64];
    snprintf(path, sizeof(path), "/schemas/ids/%d", id1);
    doc = call_json("GET", path, NULL, 200);
    ck_assert_str_eq(jv_str(doc, "schema"), V1);
    jv_free(doc);
    /* ... but it is no longer live under the subject */
    snprintf(path, sizeof(path), "/schemas/ids/%d/descriptor?subject=fleet-value", id1);
    expect_error("GET", path, NULL, 404, 40403, "not registered under subject");
    /* registered again (dropping `speed` needs NONE): the same id, a new version */
    jv_free(call_json("PUT", "/config/fleet-value", "{\"compatibility\":\"NONE\"}", 200));
    ck_assert_int_eq(register_text("fleet-value", V1, NULL), id1);
    doc = call_json("GET", "/subjects/fleet-value/versions/latest", NULL, 200);
    ck_assert_double_eq(jv_num(doc, "version"), 3);
    ck_assert_double_eq(jv_num(doc, "id"), id1);
    jv_free(doc);
    doc = call_json("DELETE", "/subjects/fleet-value/versions/latest", NULL, 200);
    ck_assert_double_eq(doc->num, 3);
    jv_free(doc);
    doc = call_json("DELETE", "/subjects/fleet-value/versions/2", NULL, 200);
    jv_free(doc);
    (void)id2;
    expect_error("GET", "/subjects/fleet-value/versions", NULL, 404, 40401, "not found");
    call("GET", "/subjects", NULL);
    ck_assert_str_eq(resp.data, "[]");

    ck_assert_int_eq(call("GET", "/readyz", NULL), 200);
    ck_assert_int_eq(call("GET", "/metrics", NULL), 200);
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_registry_schemas 2\n"));
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_registry_subjects 0\n"));
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_registry_registered_total 3\n"));
    ck_assert_ptr_nonnull(strstr(resp.data, "\ntp_registry_reregistered_total 0\n"));
}
END_TEST

struct racer {
    uint16_t port;
    const char *body;
    long status;
    int id;
};

static size_t racer_write(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    buf_append(b, p, size * n);
    return size * n;
}

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    char url[128];
    snprintf(url, sizeof(url),
             "http://" STACK_REGISTRY_OPERATOR ":" STACK_REGISTRY_OPERATOR_PASSWORD
             "@127.0.0.1:%u/subjects/race-value/versions",
             r->port);
    struct buf b;
    buf_init(&b, 4096);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: " CT);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, racer_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (b.data && sscanf(b.data, "{\"id\":%d}", &r->id) != 1)
        r->id = -1;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    buf_release(&b);
    return NULL;
}

START_TEST(test_replicas_race_to_one_id)
{
    port2 = stack_free_port();
    pid2 = stack_service_start(&st, "tp-registry", NULL, port2);
    enum { RACERS = 8 };
    char *body = body_of(V2, NULL);
    struct racer r[RACERS];
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++) {
        r[i] = (struct racer){i % 2 ? port2 : port, body, 0, 0};
        pthread_create(&t[i], NULL, racer_main, &r[i]);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < RACERS; i++) {
        ck_assert_int_eq(r[i].status, 200);
        ck_assert_int_eq(r[i].id, r[0].id);
    }
    struct jv *doc = call_json("GET", "/subjects/race-value/versions", NULL, 200);
    ck_assert_uint_eq(jv_len(doc, ""), 1); /* one version, not eight */
    jv_free(doc);
    /* another subject racing on the same schema gets the same id too */
    ck_assert_int_eq(register_text("race2-value", V2, NULL), r[0].id);
    free(body);
}
END_TEST

/* ---- authentication ---- */

#define OPERATOR    STACK_REGISTRY_OPERATOR
#define OPERATOR_PW STACK_REGISTRY_OPERATOR_PASSWORD
#define READER      STACK_REGISTRY_READER
#define READER_PW   STACK_REGISTRY_READER_PASSWORD
#define REALM       "Basic realm=\"twinpipe-registry\""
#define NONE_BODY   "{\"compatibility\":\"NONE\"}"

static void as(const char *u, const char *pw)
{
    user = u;
    password = pw;
}

/* What the refused writes must have left alone, read with the operator's credentials:
 * the global level, fleet-value's only version 1 with id, no level of its own. */
static void expect_state(int id, const char *level)
{
    const char *u = user, *pw = password;
    as(OPERATOR, OPERATOR_PW);
    struct jv *doc = call_json("GET", "/config", NULL, 200);
    ck_assert_str_eq(jv_str(doc, "compatibilityLevel"), level);
    jv_free(doc);
    expect_error("GET", "/config/fleet-value", NULL, 404, 40408, "does not have subject-level");
    doc = call_json("GET", "/subjects", NULL, 200);
    ck_assert_uint_eq(jv_len(doc, ""), 1);
    ck_assert_str_eq(jv_str(doc, "0"), "fleet-value");
    jv_free(doc);
    doc = call_json("GET", "/subjects/fleet-value/versions", NULL, 200);
    ck_assert_uint_eq(jv_len(doc, ""), 1);
    ck_assert_double_eq(jv_num(doc, "0"), 1);
    jv_free(doc);
    doc = call_json("GET", "/subjects/fleet-value/versions/latest", NULL, 200);
    ck_assert_double_eq(jv_num(doc, "version"), 1);
    ck_assert_double_eq(jv_num(doc, "id"), id);
    ck_assert_str_eq(jv_str(doc, "schema"), V1);
    jv_free(doc);
    as(u, pw);
}

static void expect_401(const char *method, const char *path, const char *body, const char *why)
{
    expect_error(method, path, body, 401, 40101, why);
    ck_assert_str_eq(stack_last_header("WWW-Authenticate"), REALM);
}

static void expect_403(const char *method, const char *path, const char *body)
{
    expect_error(method, path, body, 403, 40301,
                 "Forbidden: user '" READER "' has the read role; registering, deleting and "
                 "setting compatibility need the write role");
    ck_assert_str_eq(stack_last_header("WWW-Authenticate"), "");
}

static long metric(const char *name)
{
    as(NULL, NULL);
    ck_assert_int_eq(call("GET", "/metrics", NULL), 200); /* open, like /readyz */
    char needle[128];
    snprintf(needle, sizeof(needle), "\n%s ", name);
    const char *p = strstr(resp.data, needle);
    ck_assert_msg(p, "no %s in /metrics", name);
    return strtol(p + strlen(needle), NULL, 10);
}

/* Sends only the headers of a request announcing a 1 MB body; the status line answered
 * within 3 s ("" if none): an answer before the body means it was never read. */
static void headers_only(const char *method, const char *path, char *status, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[512];
    int len = snprintf(req, sizeof(req),
                       "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " CT
                       "\r\nContent-Length: 1000000\r\n\r\n",
                       method, path);
    ck_assert_int_eq(send(fd, req, (size_t)len, 0), len);
    char buf[1024] = "";
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ssize_t got = poll(&pfd, 1, 3000) == 1 ? recv(fd, buf, sizeof(buf) - 1, 0) : 0;
    buf[got > 0 ? got : 0] = '\0';
    snprintf(status, n, "%.*s", (int)strcspn(buf, "\r\n"), buf);
    close(fd);
}

START_TEST(test_auth_anonymous_gets_401_and_changes_nothing)
{
    int id = register_text("fleet-value", V1, NULL);
    char *v2 = body_of(V2, NULL), *v1 = body_of(V1, NULL), path[128];
    as(NULL, NULL);
    const char *missing = "Unauthorized: missing Authorization: Basic <credentials> header";
    /* the writes of the review: compatibility, soft delete, registration */
    expect_401("PUT", "/config", NONE_BODY, missing);
    expect_401("PUT", "/config/fleet-value", NONE_BODY, missing);
    expect_401("DELETE", "/subjects/fleet-value/versions/1", NULL, missing);
    expect_401("DELETE", "/subjects/fleet-value/versions/latest", NULL, missing);
    expect_401("POST", "/subjects/fleet-value/versions", v2, missing);
    expect_401("POST", "/subjects/other-value/versions", v1, missing);
    /* and every read */
    expect_401("GET", "/subjects", NULL, missing);
    expect_401("GET", "/subjects/fleet-value/versions", NULL, missing);
    expect_401("GET", "/subjects/fleet-value/versions/latest", NULL, missing);
    expect_401("POST", "/subjects/fleet-value", v1, missing);
    expect_401("POST", "/compatibility/subjects/fleet-value/versions/latest", v2, missing);
    expect_401("GET", "/config", NULL, missing);
    snprintf(path, sizeof(path), "/schemas/ids/%d", id);
    expect_401("GET", path, NULL, missing);
    snprintf(path, sizeof(path), "/schemas/ids/%d/descriptor?subject=fleet-value", id);
    expect_401("GET", path, NULL, missing);
    /* answered from the headers: an anonymous upload is not read, let alone buffered */
    char status[256];
    headers_only("POST", "/subjects/fleet-value/versions", status, sizeof(status));
    ck_assert_str_eq(status, "HTTP/1.1 401 Unauthorized");
    headers_only("PUT", "/config", status, sizeof(status));
    ck_assert_str_eq(status, "HTTP/1.1 401 Unauthorized");
    headers_only("POST", "/subjects/fleet-value", status, sizeof(status));
    ck_assert_str_eq(status, "HTTP/1.1 401 Unauthorized");
    /* health, readiness and metrics stay open */
    ck_assert_int_eq(call("GET", "/healthz", NULL), 200);
    ck_assert_int_eq(call("GET", "/readyz", NULL), 200);
    ck_assert_int_eq(metric("tp_registry_unauthorized_total"), 17);

    /* wrong password, unknown user, another scheme, malformed credentials */
    const char *unknown = "Unauthorized: unknown user or wrong password";
    as(OPERATOR, "test-operator-passwore");
    expect_401("PUT", "/config", NONE_BODY, unknown);
    as(OPERATOR, OPERATOR_PW "x");
    expect_401("DELETE", "/subjects/fleet-value/versions/1", NULL, unknown);
    as(OPERATOR, "");
    expect_401("POST", "/subjects/fleet-value/versions", v2, unknown);
    as(READER, OPERATOR_PW); /* another user's password */
    expect_401("GET", "/subjects", NULL, unknown);
    as("nobody", OPERATOR_PW);
    expect_401("PUT", "/config", NONE_BODY, unknown);
    as(NULL, NULL);
    stack_set_header("Authorization: Bearer " OPERATOR_PW);
    expect_401("PUT", "/config", NONE_BODY,
               "Unauthorized: Authorization header must be \"Basic <base64 of user:password>\"");
    stack_set_header("Authorization: Basic !!!!");
    expect_401("PUT", "/config", NONE_BODY, "Unauthorized: malformed Basic credentials");
    stack_set_header("Authorization: Basic dHAtb3BlcmF0b3I="); /* "tp-operator", no ':' */
    expect_401("PUT", "/config", NONE_BODY,
               "Unauthorized: malformed Basic credentials: expected user:password");
    stack_set_header(NULL);
    ck_assert_int_eq(metric("tp_registry_unauthorized_total"), 25);

    expect_state(id, "BACKWARD");
    free(v1);
    free(v2);
}
END_TEST

START_TEST(test_auth_read_role_reads_but_gets_403_on_writes)
{
    int id = register_text("fleet-value", V1, NULL);
    char *v2 = body_of(V2, NULL), *v1 = body_of(V1, NULL), path[128];
    as(READER, READER_PW);
    /* every read, the lookup and the compatibility check */
    struct jv *doc = call_json("GET", "/subjects", NULL, 200);
    ck_assert_str_eq(jv_str(doc, "0"), "fleet-value");
    jv_free(doc);
    doc = call_json("GET", "/subjects/fleet-value/versions/latest", NULL, 200);
    ck_assert_double_eq(jv_num(doc, "id"), id);
    jv_free(doc);
    doc = call_json("POST", "/subjects/fleet-value", v1, 200);
    ck_assert_double_eq(jv_num(doc, "id"), id);
    ck_assert_double_eq(jv_num(doc, "version"), 1);
    jv_free(doc);
    doc = call_json("POST", "/compatibility/subjects/fleet-value/versions/latest", v2, 200);
    ck_assert(jv_path(doc, "is_compatible")->b);
    jv_free(doc);
    doc = call_json("GET", "/config", NULL, 200);
    ck_assert_str_eq(jv_str(doc, "compatibilityLevel"), "BACKWARD");
    jv_free(doc);
    snprintf(path, sizeof(path), "/schemas/ids/%d", id);
    doc = call_json("GET", path, NULL, 200);
    ck_assert_str_eq(jv_str(doc, "schema"), V1);
    jv_free(doc);
    snprintf(path, sizeof(path), "/schemas/ids/%d/descriptor?subject=fleet-value", id);
    ck_assert_int_eq(call("GET", path, NULL), 200);
    ck_assert_str_eq(stack_last_header("Content-Type"), "application/x-protobuf");

    /* no write */
    expect_403("PUT", "/config", NONE_BODY);
    expect_403("PUT", "/config/fleet-value", NONE_BODY);
    expect_403("DELETE", "/subjects/fleet-value/versions/1", NULL);
    expect_403("POST", "/subjects/fleet-value/versions", v2);
    expect_403("POST", "/subjects/other-value/versions", v1);
    ck_assert_int_eq(metric("tp_registry_forbidden_total"), 5);
    ck_assert_int_eq(metric("tp_registry_unauthorized_total"), 0);
    as(READER, READER_PW "!");
    expect_401("GET", "/subjects", NULL, "Unauthorized: unknown user or wrong password");
    expect_state(id, "BACKWARD");

    /* the write credential may */
    as(OPERATOR, OPERATOR_PW);
    doc = call_json("PUT", "/config", NONE_BODY, 200);
    ck_assert_str_eq(jv_str(doc, "compatibility"), "NONE");
    jv_free(doc);
    int id2 = register_text("fleet-value", V2, NULL);
    ck_assert_int_ne(id2, id);
    doc = call_json("DELETE", "/subjects/fleet-value/versions/1", NULL, 200);
    ck_assert_double_eq(doc->num, 1);
    jv_free(doc);
    doc = call_json("GET", "/subjects/fleet-value/versions", NULL, 200);
    ck_assert_uint_eq(jv_len(doc, ""), 1);
    ck_assert_double_eq(jv_num(doc, "0"), 2);
    jv_free(doc);
    free(v1);
    free(v2);
}
END_TEST

/* Whether the registry log of this test's database holds needle. */
static bool registry_log_has(const char *needle)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/../Testing/%s-tp-registry.log", TP_BIN_DIR, st.db);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    struct buf b;
    buf_init(&b, 1 << 22);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    buf_append(&b, "", 1);
    bool has = strstr(b.data, needle) != NULL;
    buf_release(&b);
    return has;
}

START_TEST(test_auth_required_at_start_unless_off)
{
    const char *none[] = {"TP_REGISTRY_CREDENTIALS=", NULL};
    ck_assert_int_eq(stack_run_for(&st, "tp-registry", none, 10000), 1);
    ck_assert(registry_log_has(
        " ERROR tp-registry: registry.auth=required needs registry.credentials "
        "(TP_REGISTRY_CREDENTIALS) or registry.credentials_file: user:<SHA-256 hex of the "
        "password>:read|write entries; set registry.auth=off to run without authentication\n"));
    const char *plain[] = {"TP_REGISTRY_CREDENTIALS=ops:secret:write", NULL};
    ck_assert_int_eq(stack_run_for(&st, "tp-registry", plain, 10000), 1);
    ck_assert(registry_log_has(" ERROR tp-registry: invalid credential of user \"ops\" in "
                               "registry.credentials: expected 64 hex characters (the SHA-256 "
                               "of the password), got 6 characters\n"));
    const char *role[] = {"TP_REGISTRY_CREDENTIALS=ops:"
                          "ad64f5c6c0c71ce170ff1f7ea9648ee5eb984fea63639ecbc92803dfb820d657:admin",
                          NULL};
    ck_assert_int_eq(stack_run_for(&st, "tp-registry", role, 10000), 1);
    ck_assert(registry_log_has(" ERROR tp-registry: invalid role \"admin\" of user \"ops\" in "
                               "registry.credentials: use read or write\n"));
    const char *typo[] = {"TP_REGISTRY_AUTH=no", NULL};
    ck_assert_int_eq(stack_run_for(&st, "tp-registry", typo, 10000), 1);
    ck_assert(registry_log_has(
        " ERROR tp-registry: invalid registry.auth \"no\": use required or off\n"));

    /* turned off explicitly: it starts, says so, and answers anonymously */
    ck_assert(!registry_log_has("registry.auth=off: answering"));
    const char *off[] = {"TP_REGISTRY_CREDENTIALS=", "TP_REGISTRY_AUTH=off", NULL};
    port2 = stack_free_port();
    pid2 = stack_service_start(&st, "tp-registry", off, port2);
    ck_assert(registry_log_has(" WARN tp-registry: registry.auth=off: answering every request "
                               "without authentication (anyone may register, delete and set "
                               "compatibility)\n"));
    uint16_t keep = port;
    port = port2;
    as(NULL, NULL);
    int id = register_text("fleet-value", V1, NULL);
    ck_assert_int_ge(id, 1);
    jv_free(call_json("GET", "/config", NULL, 200));
    port = keep;
    expect_state(id, "BACKWARD"); /* the same database, through the first registry */
}
END_TEST

/* A database that cannot be reached: clients get fixed text, the log gets libpq's (issue 13). */
START_TEST(test_dead_database_answers_without_libpq_text)
{
    char dsn[160];
    snprintf(dsn, sizeof(dsn),
             "TP_PG_DSN=host=127.0.0.1 port=%u dbname=secretdb user=secretuser connect_timeout=2",
             (unsigned)stack_free_port()); /* nothing listens there */
    const char *dead[] = {dsn, NULL};
    port2 = stack_free_port();
    pid2 = stack_service_start(&st, "tp-registry", dead, port2);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", port2);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 503);
    ck_assert_str_eq(resp.data, "{\"error\":{\"code\":\"not_ready\",\"message\":\"the schema "
                                "store is not reachable\"}}");
    uint16_t keep = port;
    port = port2;
    struct jv *doc = call_json("GET", "/subjects", NULL, 500);
    ck_assert_int_eq((int)jv_num(doc, "error_code"), 50003);
    ck_assert_str_eq(jv_str(doc, "message"),
                     "Error while forwarding the request: database unavailable");
    jv_free(doc);
    port = keep;
    /* the detail went to the log */
    ck_assert(registry_log_has(" WARN tp-registry: not ready: could not connect to postgresql: "
                               "connection to server at \"127.0.0.1\""));
}
END_TEST

/* The schema library for "<topic>-value", without telemetry_schemas_new's start-up check. */
static struct schemas *client(const char *url, const char *u, const char *pw)
{
    char subject[200], errstr[256];
    snprintf(subject, sizeof(subject), "%s-value", st.topic);
    const ProtobufCMessageDescriptor *const templates[] = {
        &twinpipe__telemetry__v1__reading__descriptor,
        &twinpipe__telemetry__v1__reading_batch__descriptor};
    struct schemas_options o = {.url = url,
                                .user = u,
                                .password = pw,
                                .subject = subject,
                                .cache_size = 4,
                                .timeout_ms = 5000,
                                .templates = templates,
                                .n_templates = 2};
    struct schemas *s = NULL;
    ck_assert_int_eq(schemas_new(&o, &s, errstr, sizeof(errstr)), TP_OK);
    return s;
}

START_TEST(test_client_credentials)
{
    char url[160], plain_url[64], expect[512], errstr[1024];
    struct schemas *s = NULL;
    int32_t id = 0, id2 = 0;
    bool registered = true;
    snprintf(plain_url, sizeof(plain_url), "http://127.0.0.1:%u", port);
    struct telemetry_registry_settings rs = {.url = plain_url, .timeout_ms = 5000, .cache_size = 4};
    char subject_versions[200];
    snprintf(subject_versions, sizeof(subject_versions), "/subjects/%s-value/versions", st.topic);

    /* no credentials: a configuration error, not "registry unavailable"; a service that
     * starts the library (telemetry_schemas_new) stops there */
    snprintf(expect, sizeof(expect),
             "the schema registry at \"%s\" needs credentials (401): set registry.user and "
             "registry.password",
             plain_url);
    s = (struct schemas *)&rs; /* must come back NULL */
    enum tp_err err = telemetry_schemas_new(&rs, st.topic, &s, errstr, sizeof(errstr));
    ck_assert_int_eq(err, TP_CONFIG);
    ck_assert(!tp_err_retriable(err));
    ck_assert_ptr_null(s);
    ck_assert_str_eq(errstr, expect);
    s = client(plain_url, NULL, NULL);
    err = schemas_lookup(s, schemas_builtin_proto, &id, errstr, sizeof(errstr));
    ck_assert_int_eq(err, TP_CONFIG);
    ck_assert(!tp_err_retriable(err));
    ck_assert_str_eq(errstr, expect);
    schemas_free(s);

    /* a wrong password: the same at start-up and for a descriptor fetch (a cache miss) */
    rs.user = READER;
    rs.password = "wrong-reader-password";
    snprintf(expect, sizeof(expect),
             "the schema registry at \"%s\" refused the credentials of registry.user "
             "\"" READER "\" (401): check registry.user and registry.password",
             plain_url);
    ck_assert_int_eq(telemetry_schemas_new(&rs, st.topic, &s, errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(errstr, expect);
    s = client(plain_url, READER, "wrong-reader-password");
    const struct schema *sc;
    struct lru_ref *ref;
    err = schemas_get(s, 1, &sc, &ref, errstr, sizeof(errstr));
    ck_assert_int_eq(err, TP_CONFIG);
    ck_assert(!tp_err_retriable(err));
    ck_assert_str_eq(errstr, expect);
    err = schemas_ensure(s, schemas_builtin_proto, &id, &registered, errstr, sizeof(errstr));
    ck_assert_int_eq(err, TP_CONFIG);
    ck_assert_str_eq(errstr, expect);
    ck_assert(!registered);
    /* a consumer's journal decoder: retriable, so the projector waits and dead-letters
     * nothing while its credential is wrong; the message still names the credential */
    struct journal_decoder dec;
    telemetry_journal_decoder(s, &dec);
    journal_reading *reading = NULL;
    void *pin = NULL;
    static const uint8_t payload[] = {0x0a, 0x01, 'd'}; /* device_id "d" */
    err = dec.unpack(dec.arg, 1, (const int32_t[]){0}, 1, payload, sizeof(payload), &reading, &pin,
                     errstr, sizeof(errstr));
    ck_assert_int_eq(err, TP_IO);
    ck_assert(tp_err_retriable(err));
    ck_assert_str_eq(errstr, expect);
    ck_assert_ptr_null(reading);
    schemas_free(s);

    /* a registry that does not answer at start-up does not stop the start (events wait) */
    char down_url[64];
    snprintf(down_url, sizeof(down_url), "http://127.0.0.1:%u", stack_free_port());
    rs.url = down_url;
    ck_assert_int_eq(telemetry_schemas_new(&rs, st.topic, &s, errstr, sizeof(errstr)), TP_OK);
    ck_assert_ptr_nonnull(s);
    schemas_free(s);
    rs.url = plain_url;

    /* a read credential and the schema missing: nothing registered, and what to do */
    rs.password = READER_PW;
    ck_assert_int_eq(telemetry_schemas_new(&rs, st.topic, &s, errstr, sizeof(errstr)), TP_OK);
    err = schemas_ensure(s, schemas_builtin_proto, &id, &registered, errstr, sizeof(errstr));
    ck_assert_int_eq(err, TP_CONFIG);
    ck_assert(!registered);
    ck_assert_msg(strstr(errstr, "-value\" (the schema registry answered 404 to looking up "), "%s",
                  errstr);
    ck_assert_msg(strstr(errstr, ") and registry.user \"" READER "\" may only read: register it "
                                 "once with an operator's write credential (tp-ingest "
                                 "register-schema with that registry.user and "
                                 "registry.password), then start again"),
                  "%s", errstr);
    schemas_free(s);
    expect_error("GET", subject_versions, NULL, 404, 40401, "not found");

    /* the operator, from the URL's user:password@: registered; the password is not shown */
    snprintf(url, sizeof(url), "http://" OPERATOR ":" OPERATOR_PW "@127.0.0.1:%u/", port);
    rs.url = url;
    rs.user = rs.password = NULL;
    ck_assert_int_eq(telemetry_schemas_new(&rs, st.topic, &s, errstr, sizeof(errstr)), TP_OK);
    ck_assert_str_eq(schemas_url(s), plain_url);
    ck_assert_int_eq(
        schemas_ensure(s, schemas_builtin_proto, &id, &registered, errstr, sizeof(errstr)), TP_OK);
    ck_assert(registered);
    ck_assert_int_ge(id, 1);
    ck_assert_int_eq(
        schemas_ensure(s, schemas_builtin_proto, &id2, &registered, errstr, sizeof(errstr)), TP_OK);
    ck_assert(!registered); /* found by the lookup */
    ck_assert_int_eq(id2, id);
    schemas_free(s);
    struct jv *doc = call_json("GET", subject_versions, NULL, 200);
    ck_assert_uint_eq(jv_len(doc, ""), 1);
    jv_free(doc);

    /* the reader now finds it and reads its descriptors; registering gets the 403 */
    rs.url = plain_url;
    rs.user = READER;
    rs.password = READER_PW;
    ck_assert_int_eq(telemetry_schemas_new(&rs, st.topic, &s, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(
        schemas_ensure(s, schemas_builtin_proto, &id2, &registered, errstr, sizeof(errstr)), TP_OK);
    ck_assert(!registered);
    ck_assert_int_eq(id2, id);
    ck_assert_int_eq(schemas_get(s, id, &sc, &ref, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(sc->id, id);
    schemas_put(s, ref);
    err = schemas_register(s, V1, &id2, errstr, sizeof(errstr));
    ck_assert_int_eq(err, TP_CONFIG);
    snprintf(expect, sizeof(expect),
             "registry.user \"" READER "\" may only read from the schema registry at \"%s\" "
             "(403): POST /subjects/%s-value/versions needs a credential with the write role",
             plain_url, st.topic);
    ck_assert_str_eq(errstr, expect);
    schemas_free(s);
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create("registry_api");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_register_and_read);
    tcase_add_test(tc, test_confluent_client_endpoints);
    tcase_add_test(tc, test_invalid_schemas_and_references);
    tcase_add_test(tc, test_compatibility_and_config);
    tcase_add_test(tc, test_soft_delete);
    tcase_add_test(tc, test_replicas_race_to_one_id);
    tcase_add_test(tc, test_auth_anonymous_gets_401_and_changes_nothing);
    tcase_add_test(tc, test_auth_read_role_reads_but_gets_403_on_writes);
    tcase_add_test(tc, test_auth_required_at_start_unless_off);
    tcase_add_test(tc, test_client_credentials);
    tcase_add_test(tc, test_dead_database_answers_without_libpq_text);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(api_suite)
