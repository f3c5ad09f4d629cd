/*
 * apidoc.h - reading a service's OpenAPI document and sources in the tests
 * that hold them against the service's route and error tables
 * (tests/ingest/test_ingest_openapi.c, tests/registry/test_registry_openapi.c).
 *
 * Each response that answers errors lists its codes in "x-error-codes"
 * (strings or Confluent's numbers); the document's "x-server-errors"
 * holds the answers of any path. Tests only; the failures are Check's.
 *
 *     char *text = apidoc_read("ingest/openapi.json");
 *     struct jv *doc = jv_parse(text);
 *     apidoc_each_error(doc, check_row, NULL);   // every documented (status, code)
 *     apidoc_sources_lack("ingest", "errors.c", "http_reply_error", "use ingest_error_reply");
 */
#ifndef TP_TESTS_APIDOC_H
#define TP_TESTS_APIDOC_H

#include "tests/support/jsonv.h"

/* A file of the source tree (path relative to it) as a new string. */
char *apidoc_read(const char *path);
/* The member of an object by exact key (paths hold dots and slashes), or NULL. */
const struct jv *apidoc_member(const struct jv *o, const char *key);
/* v itself, or what its {"$ref":"#/components/<kind>/<name>"} names in doc. */
const struct jv *apidoc_deref(const struct jv *doc, const struct jv *v);

/* Called with a response's status and one of its x-error-codes, or code NULL for an error
 * response (4xx, 5xx) without x-error-codes; path is the operation's ("x-server-errors" for
 * those). */
typedef void (*apidoc_error_fn)(void *arg, const char *path, unsigned status,
                                const struct jv *code);
/* Calls fn for every response of every operation and of x-server-errors. */
void apidoc_each_error(const struct jv *doc, apidoc_error_fn fn, void *arg);

/* Fails the test when a .c file of the folder dir (relative to the source tree) other than
 * except holds needle (hint says what to use instead); returns how many files it read. */
int apidoc_sources_lack(const char *dir, const char *except, const char *needle, const char *hint);

#endif
