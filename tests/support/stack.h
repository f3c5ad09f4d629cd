/*
 * stack.h - helpers for integration tests against the dev stack
 * (scripts/devstack up; `make test` starts it and exports TP_PG_DSN and
 * TP_KAFKA_BOOTSTRAP_SERVERS). A test that finds no stack FAILS with a
 * clear message; it never skips.
 *
 * Each test run gets its own database and topic (stack_unique), so runs
 * never see each other's data. Services are started as real processes
 * from the build's bin/ folder, with their logs under the build tree.
 *
 *     struct stack st; stack_init(&st, "pipeline");      // db + topic names
 *     stack_db_create(&st);
 *     pid_t q = stack_service_start(&st, "tp-query", extra_env, &port);
 *     stack_http(..) ... stack_service_stop(q, SIGTERM);
 *     stack_release(&st);                                // drops the database
 */
#ifndef TP_STACK_H
#define TP_STACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"

struct stack {
    char admin_dsn[512]; /* TP_PG_DSN of the dev stack */
    char dsn[640];       /* the test's own database */
    char db[64];
    char topic[96];
    char bootstrap[256];
};

/* Reads the stack's env (fails the test if absent) and picks unique names. */
void stack_init(struct stack *st, const char *name);
/* Points st at another PostgreSQL (a private server the test starts): admin_dsn, and the
 * test database's dsn on it. Call before stack_db_create. */
void stack_set_admin_dsn(struct stack *st, const char *admin_dsn);
/* Creates the test database and runs tp-migrate on it; fails the test on error. */
void stack_db_create(struct stack *st);
/* Drops the test database. */
void stack_release(struct stack *st);

/*
 * tp-registry's test credentials: every program stack_spawn starts gets
 * TP_REGISTRY_CREDENTIALS listing both (tp-registry requires credentials), and
 * TP_REGISTRY_USER/TP_REGISTRY_PASSWORD of the reader, as production gives
 * services read credentials; a test passes the operator's in extra where a
 * service must write (e.g. tp-ingest registering the built-in schema).
 */
#define STACK_REGISTRY_OPERATOR          "tp-operator"
#define STACK_REGISTRY_OPERATOR_PASSWORD "test-operator-password"
#define STACK_REGISTRY_READER            "tp-reader"
#define STACK_REGISTRY_READER_PASSWORD   "test-reader-password"
/* "TP_REGISTRY_USER=..", "TP_REGISTRY_PASSWORD=..": the operator, for extra. */
#define STACK_REGISTRY_OPERATOR_ENV                                                                \
    "TP_REGISTRY_USER=" STACK_REGISTRY_OPERATOR,                                                   \
        "TP_REGISTRY_PASSWORD=" STACK_REGISTRY_OPERATOR_PASSWORD

/* A free TCP port on 127.0.0.1. */
uint16_t stack_free_port(void);
/* tp-query's query.cursor_secret in every service stack_service_start starts */
#define STACK_CURSOR_SECRET "tp-integration-cursor-secret"

/*
 * Starts bin/<program> with TP_PG_DSN, TP_KAFKA_BOOTSTRAP_SERVERS,
 * TP_JOURNAL_TOPIC, TP_QUERY_CURSOR_SECRET=STACK_CURSOR_SECRET,
 * TP_HTTP_LISTEN=127.0.0.1:<port> and the registry credentials above set
 * (plus extra "KEY=VALUE" strings, NULL-terminated, which win), waits for
 * /healthz (30 s).
 */
pid_t stack_service_start(const struct stack *st, const char *program, const char *const *extra,
                          uint16_t port);
/* Sends sig and waits (20 s, then SIGKILL); returns the exit status as waitpid gives it,
 * with 0x10000 added if it had exited before, 0x20000 if it had to be killed. */
int stack_service_stop(pid_t pid, int sig);
/* Runs bin/<program> with the stack env to completion; returns its exit code. */
int stack_run(const struct stack *st, const char *program, const char *const *extra);
/* As stack_run, but -1 (and killed) when still running after timeout_ms: for a program
 * that must refuse to start, so a test fails instead of hanging. */
int stack_run_for(const struct stack *st, const char *program, const char *const *extra,
                  int timeout_ms);

/* Sends "Authorization: Bearer <token>" with every later stack_http (NULL: none). */
void stack_set_bearer(const char *token);
/* Sends this extra header line ("Name: value") with every later stack_http (NULL: none). */
void stack_set_header(const char *line);
/* The ETag of the last stack_http response ("" if none). */
const char *stack_last_etag(void);
/* A header of the last stack_http response (name case-insensitive; "" if none). */
const char *stack_last_header(const char *name);
/* HTTP over libcurl. body may be NULL for GET. Returns the status (0 = no answer). */
long stack_http(const char *method, const char *url, const char *content_type, const void *body,
                size_t len, struct buf *resp);

#endif
