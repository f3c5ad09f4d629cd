/*
 * service.h - what every twinpipe process does around its work: load its
 * config table (printing --help, --config-markdown or --config-json, or a
 * config error), start logging, run the table's cross-key check, block
 * SIGTERM/SIGINT in all threads so they are waited for, then the one
 * serve/signal/drain skeleton (service_run) every long-running service
 * shares, and /healthz: liveness from the heartbeats of the service's loops.
 *
 * --config-check stops after the table's check: "<program>: configuration ok", exit 0.
 * Exit codes: 2 for a malformed command line or a value that does not parse
 * or is out of range (said on stderr, before the log starts: also an unknown
 * log.level); 1 for a value that is not allowed (an enum name, a row's or the
 * table's check) and for start-up failures (said in the log); 0 after a clean
 * stop.
 *
 * Threads: service_configure/service_start before any thread starts (the signal mask is
 * inherited); service_run on the main thread, which owns the loop's objects.
 *
 *     static const struct config_table table = CONFIG_TABLE("tp-query", rows, query_check);
 *     if (service_start(&table, &cfg, NULL, argc, argv, &rc))
 *         return rc;                        // --help, --config-*, or a config error
 *     ... init the modules from cfg ...
 *     struct service_loop loop = {.routes = routes, .n_routes = n, .http = &cfg.http, ...};
 *     rc = service_run(&loop);              // serves until SIGTERM/SIGINT, then drains
 *     ... free the modules ...
 */
#ifndef TP_SERVICE_H
#define TP_SERVICE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"
#include "log.h"

/* "debug", "info", "warn", "error": enum log_level's names, NULL-terminated. */
extern const char *const service_log_levels[];

/* Config rows every service with a database / a log level shares. The log.level field is
 * an enum log_level. */
#define SERVICE_PG_DSN_ENTRY(type, field)                                                          \
    CONFIG_ROW_STR("pg.dsn", type, field,                                                          \
                   "host=127.0.0.1 port=25432 dbname=twinpipe user=postgres",                      \
                   "PostgreSQL connection string")
#define SERVICE_LOG_ENTRY(type, field)                                                             \
    CONFIG_ROW_ENUM("log.level", type, field, "info", service_log_levels,                          \
                    "debug, info, warn or error")
/* "text", "json": enum log_format's names. */
extern const char *const service_log_formats[];
/* The log.format row; its field is an enum log_format. */
#define SERVICE_LOG_FORMAT_ENTRY(type, field)                                                      \
    CONFIG_ROW_ENUM("log.format", type, field, "text", service_log_formats,                        \
                    "text (one line: time, level, service: message key=value) or json (one "       \
                    "object a line: ts, level, service, msg, fields)")
/* health.stall_s's default, ms: a bound for modules given 0. */
#define SERVICE_STALL_DEFAULT_MS 300000
/* The health.stall_s row of a service with loops (service_beat_new); its field holds ms. */
#define SERVICE_HEALTH_ENTRY(type, field)                                                          \
    CONFIG_ROW_S("health.stall_s", type, field, "300", 1, 86400,                                   \
                 "/healthz answers 503 when a work loop has not turned for this long (on top of "  \
                 "its own configured wait, if any); liveness probes restart the process",          \
                 .scale = 1000)

/* Loads the table into cfg, starts the log at its log.level and runs the table's check.
 * Returns true when main should exit now with *rc (after --help and the like: 0). */
bool service_configure(const struct config_table *t, void *cfg, struct config_extra *extra,
                       int argc, char **argv, int *rc);
/* service_configure, then SIGTERM/SIGINT blocked in every thread (service_run and
 * service_wait_signal wait for them) and SIGPIPE ignored. */
bool service_start(const struct config_table *t, void *cfg, struct config_extra *extra, int argc,
                   char **argv, int *rc);
/* Waits for SIGTERM/SIGINT; timeout_ms < 0 waits forever. Returns the signal or 0. */
int service_wait_signal(int timeout_ms);

/*
 * The serve/signal/drain skeleton. With routes, an HTTP server is started first (an error
 * there: logged, exit 1); then started(arg, srv) (srv NULL without routes) attaches it and
 * logs what the service does.
 * - With run: run(arg) works on the calling thread while a signal thread waits; a signal
 *   logs "signal N: <stopping>" and calls stop(arg) once; run's error is logged (after
 *   `failed`) and gives exit 1.
 * - Without run: logs `listening on "<listen>" (port N)<listening>`, waits for a signal
 *   (calling tick(arg) every tick_ms meanwhile, when set), logs "signal N: <stopping>",
 *   calls draining(arg), stops accepting connections, calls drain(arg) (requests in flight
 *   answered: none may stay suspended) and exits 0.
 * The server is freed before service_run returns; arg's objects are main's to free after.
 */
struct service_loop {
    const struct http_route *routes; /* NULL: no HTTP server */
    size_t n_routes;
    const struct http_options *http;
    void (*started)(void *arg, struct http_server *srv);
    enum tp_err (*run)(void *arg, char *errstr, size_t errstr_size);
    void (*stop)(void *arg);
    const char *stopping;  /* "flushing and leaving the consumer group", "shutting down" */
    const char *failed;    /* prefix of run's error in the log; NULL: none */
    const char *listening; /* appended to the "listening on" line; NULL: nothing */
    int tick_ms;
    void (*tick)(void *arg);
    void (*draining)(void *arg);
    void (*drain)(void *arg);
    void *arg;
};
/* Returns the exit code: 0 after a clean stop, 1 after a failure. */
int service_run(const struct service_loop *loop);

/* The run and stop of a loop service whose module has prefix_run(struct prefix *, errstr,
 * errstr_size) and prefix_stop(struct prefix *): SERVICE_LOOP_ADAPTERS(projector) defines
 * projector_loop_run and projector_loop_stop for .run and .stop. */
#define SERVICE_LOOP_ADAPTERS(prefix)                                                              \
    static enum tp_err prefix##_loop_run(void *arg, char *errstr, size_t errstr_size)              \
    {                                                                                              \
        return prefix##_run((struct prefix *)arg, errstr, errstr_size);                            \
    }                                                                                              \
    static void prefix##_loop_stop(void *arg)                                                      \
    {                                                                                              \
        prefix##_stop((struct prefix *)arg);                                                       \
    }

/*
 * Liveness. Each long-running work loop registers a heartbeat (service_beat_new) and beats it
 * every turn (service_beat: one atomic store of the clock). A loop that sleeps until work that
 * is not its own to start comes (a flusher with no job queued) beats service_beat_idle before
 * it waits: an idle loop is never stalled. GET /healthz answers 503
 *   {"status":"stalled","stalled":[{"loop":"<name>","silent_ms":N,"bound_ms":N}]}
 * naming every busy loop whose last beat is older than its bound, else 200 {"status":"ok"}.
 * A heartbeat lives in its struct service_health (the process's one by default), so the
 * handler never reads freed memory; service_beat_free gives its slot back.
 *
 * Threads: service_beat and service_beat_idle from the loop's own thread; the rest from any.
 *
 *     b = service_beat_new(NULL, "projector fold", cfg.health_stall_ms);
 *     while (running) { service_beat(b); ...one turn... }
 *     service_beat_free(b);
 */
/* tp-query: up to 64 lookup threads, the search and waiter threads */
#define SERVICE_BEATS_MAX 96
struct service_health;
struct service_beat {
    struct service_health *health;
    const char *name; /* borrowed: a literal */
    int64_t stall_ms;
    _Atomic int64_t last_ms; /* the health's clock at the last beat */
    atomic_bool idle;
    atomic_bool used; /* the slot is taken */
    atomic_bool live; /* ... and filled in: /healthz reads it */
};
struct service_health {
    int64_t (*now_ms)(void); /* the clock: tp_mono_ms; a test's own */
    struct service_beat beats[SERVICE_BEATS_MAX];
};
/* The process's health, which a NULL health and service_handle_health's NULL arg mean. */
struct service_health *service_health_default(void);
/* A heartbeat named name (a literal), stalled once it has not beaten for stall_ms while busy;
 * busy and beaten now. health NULL: the process's. Past SERVICE_BEATS_MAX: logged, and a
 * heartbeat nobody reads comes back (the loop runs unwatched). */
struct service_beat *service_beat_new(struct service_health *health, const char *name,
                                      int64_t stall_ms);
/* The loop turned: busy and alive now. NULL (no heartbeat yet) is a no-op, as below. */
void service_beat(struct service_beat *b);
/* The loop waits for work it does not start itself: never stalled until its next beat. */
void service_beat_idle(struct service_beat *b);
/* Gives the slot back; NULL is a no-op. */
void service_beat_free(struct service_beat *b);
/* 200 with {"status":"ok"}, or 503 with the stalled loops (above), into body. */
unsigned service_health_check(struct service_health *health, struct buf *body);

/* GET /healthz handler; arg: a struct service_health, NULL for the process's. */
void service_handle_health(struct http_request *req, void *arg);

#endif
