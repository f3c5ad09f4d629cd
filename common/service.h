/*
 * service.h - what every twinpipe process does around its main loop:
 * load its config table (printing --help or a config error), start
 * logging, block SIGTERM/SIGINT in all threads so the main thread can wait
 * for them, and answer /healthz.
 *
 *     if (service_start("tp-query", table, n, &cfg, &cfg.kafka, argc, argv, &rc))
 *         return rc;                  // --help or a config error
 *     ... start threads and servers ...
 *     service_wait_signal(-1);        // until SIGTERM/SIGINT
 */
#ifndef TP_SERVICE_H
#define TP_SERVICE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "http.h"

/* Config rows every service with a database / a log level shares. */
#define SERVICE_PG_DSN_ENTRY(type, field)                                                          \
    {                                                                                              \
        "pg.dsn", CONFIG_STRING, "host=127.0.0.1 port=25432 dbname=twinpipe user=postgres", 0, 0,  \
            offsetof(type, field), "PostgreSQL connection string"                                  \
    }
#define SERVICE_LOG_ENTRY(type, field)                                                             \
    {                                                                                              \
        "log.level", CONFIG_STRING, "info", 0, 0, offsetof(type, field),                           \
            "debug, info, warn or error"                                                           \
    }

/* Returns true when main should exit now with *rc. cfg must have a log_level
 * string at offset log_level_offset (the "log.level" row of the table). */
bool service_start(const char *program, const struct config_entry *table, size_t n, void *cfg,
                   struct config_extra *extra, int argc, char **argv, int *rc);
/* Waits for SIGTERM/SIGINT; timeout_ms < 0 waits forever. Returns the signal or 0. */
int service_wait_signal(int timeout_ms);
/*
 * A thread that waits for SIGTERM/SIGINT and then calls stop(arg) once,
 * for services whose main thread runs a loop. service_stopper_join wakes
 * it if no signal came and waits for it, so arg may be freed afterwards.
 */
struct service_stopper {
    pthread_t thread;
    bool started;
    atomic_bool exiting;
    void (*stop)(void *arg);
    void *arg;
    const char *what; /* logged with the signal, e.g. "flushing" */
};
void service_stopper_start(struct service_stopper *s, void (*stop)(void *), void *arg,
                           const char *what);
void service_stopper_join(struct service_stopper *s);

/* GET /healthz handler: 200 {"status":"ok"} while the process serves. */
void service_handle_health(struct http_request *req, void *arg);

#endif
