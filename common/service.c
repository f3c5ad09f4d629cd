#include "service.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "mem.h"

extern char **environ;

const char *const service_log_levels[] = {"debug", "info", "warn", "error", NULL};
const char *const service_log_formats[] = {"text", "json", NULL};

static const struct config_entry *service_find(const struct config_table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->rows[i].key, key))
            return &t->rows[i];
    return NULL;
}

bool service_configure(const struct config_table *t, void *cfg, struct config_extra *extra,
                       int argc, char **argv, int *rc)
{
    char errstr[1024];
    enum config_action action;
    const struct config_entry *failed = NULL;
    const struct config_entry *level_row = service_find(t, "log.level");
    const struct config_entry *format_row = service_find(t, "log.format");
    enum tp_err err = config_table_load(t, cfg, extra, argc, argv, environ, &action, &failed,
                                        errstr, sizeof(errstr));
    if (err == TP_VALIDATION && failed && failed != level_row && failed != format_row) {
        /* a value that is not allowed: said in the log like the other start-up failures */
        log_init(t->program, LOG_INFO);
        log_error("%s", errstr);
        *rc = 1;
        return true;
    }
    if (err != TP_OK) {
        fprintf(stderr, err == TP_VALIDATION ? "%s: %s\n" : "%s: %s (see --help)\n", t->program,
                errstr);
        *rc = 2;
        return true;
    }
    if (action != CONFIG_RUN && action != CONFIG_CHECK) {
        config_table_print(stdout, t, action, extra);
        *rc = 0;
        return true;
    }
    enum log_level level = LOG_INFO;
    if (level_row)
        level = *(const enum log_level *)((const char *)cfg + level_row->offset);
    log_init(t->program, level);
    if (format_row)
        log_format_set(*(const enum log_format *)((const char *)cfg + format_row->offset));
    if (config_table_check(t, cfg, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        *rc = 1;
        return true;
    }
    if (action == CONFIG_CHECK) {
        printf("%s: configuration ok\n", t->program);
        *rc = 0;
        return true;
    }
    return false;
}

bool service_start(const struct config_table *t, void *cfg, struct config_extra *extra, int argc,
                   char **argv, int *rc)
{
    if (service_configure(t, cfg, extra, argc, argv, rc))
        return true;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return false;
}

int service_wait_signal(int timeout_ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (timeout_ms < 0) {
        int sig = 0;
        sigwait(&set, &sig);
        return sig;
    }
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    int sig = sigtimedwait(&set, NULL, &ts);
    return sig < 0 ? 0 : sig;
}

static struct service_health service_health_process = {.now_ms = tp_mono_ms};

struct service_health *service_health_default(void)
{
    return &service_health_process;
}

struct service_beat *service_beat_new(struct service_health *h, const char *name, int64_t stall_ms)
{
    static struct service_health unwatched = {.now_ms = tp_mono_ms};
    if (!h)
        h = &service_health_process;
    for (size_t i = 0; i < SERVICE_BEATS_MAX; i++) {
        struct service_beat *b = &h->beats[i];
        bool no = false;
        if (!atomic_compare_exchange_strong(&b->used, &no, true))
            continue;
        b->health = h;
        b->name = name;
        b->stall_ms = stall_ms;
        service_beat(b);
        atomic_store(&b->live, true); /* /healthz reads it from now on */
        return b;
    }
    log_warn("more than %d loops beat a heartbeat: \"%s\" runs unwatched by /healthz",
             SERVICE_BEATS_MAX, name);
    struct service_beat *b = &unwatched.beats[0];
    b->health = &unwatched;
    b->name = name;
    return b;
}

void service_beat(struct service_beat *b)
{
    if (!b)
        return;
    atomic_store(&b->last_ms, b->health->now_ms());
    atomic_store(&b->idle, false);
}

void service_beat_idle(struct service_beat *b)
{
    if (!b)
        return;
    atomic_store(&b->idle, true);
    atomic_store(&b->last_ms, b->health->now_ms());
}

void service_beat_free(struct service_beat *b)
{
    if (!b)
        return;
    atomic_store(&b->live, false);
    atomic_store(&b->used, false);
}

unsigned service_health_check(struct service_health *h, struct buf *body)
{
    if (!h)
        h = &service_health_process;
    int64_t now = h->now_ms();
    size_t stalled = 0;
    for (size_t i = 0; i < SERVICE_BEATS_MAX; i++) {
        struct service_beat *b = &h->beats[i];
        if (!atomic_load(&b->live) || atomic_load(&b->idle))
            continue;
        int64_t silent = now - atomic_load(&b->last_ms);
        if (silent <= b->stall_ms)
            continue;
        buf_append_str(body, stalled++ ? ",{\"loop\":"
                                       : "{\"status\":\"stalled\",\"stalled\":[{\"loop\":");
        json_str(body, b->name);
        buf_printf(body, ",\"silent_ms\":%lld,\"bound_ms\":%lld}", (long long)silent,
                   (long long)b->stall_ms);
    }
    if (!stalled) {
        buf_append_str(body, "{\"status\":\"ok\"}");
        return 200;
    }
    buf_append_str(body, "]}");
    return 503;
}

void service_handle_health(struct http_request *req, void *arg)
{
    struct buf body;
    buf_init(&body, 64 * 1024);
    unsigned status = service_health_check(arg, &body);
    http_reply_json(req, status, &body);
    buf_release(&body);
}

/*
 * A thread that waits for SIGTERM/SIGINT and then calls stop(arg) once, while the main
 * thread runs the loop. service_stopper_join wakes it if no signal came and waits for it,
 * so arg may be freed afterwards.
 */
struct service_stopper {
    pthread_t thread;
    bool started;
    atomic_bool exiting;
    const struct service_loop *loop;
};

static void *service_stopper_main(void *arg)
{
    struct service_stopper *s = arg;
    int sig = service_wait_signal(-1);
    if (atomic_load(&s->exiting))
        return NULL; /* woken by service_stopper_join */
    log_info("signal %d: %s", sig, s->loop->stopping);
    s->loop->stop(s->loop->arg);
    return NULL;
}

static void service_stopper_start(struct service_stopper *s, const struct service_loop *loop)
{
    s->loop = loop;
    atomic_store(&s->exiting, false);
    s->started = pthread_create(&s->thread, NULL, service_stopper_main, s) == 0;
    if (!s->started)
        log_warn("could not start the signal thread: SIGTERM and SIGINT will not stop the loop");
}

static void service_stopper_join(struct service_stopper *s)
{
    if (!s->started)
        return;
    atomic_store(&s->exiting, true);
    pthread_kill(s->thread, SIGTERM);
    pthread_join(s->thread, NULL);
    s->started = false;
}

/* Until SIGTERM/SIGINT, then the drain: the requests in flight are answered. */
static void service_serve(const struct service_loop *l, struct http_server *srv)
{
    if (srv)
        log_info("listening on \"%s\" (port %u)%s", l->http->listen, http_server_port(srv),
                 l->listening ? l->listening : "");
    int sig;
    if (l->tick && l->tick_ms > 0)
        while (!(sig = service_wait_signal(l->tick_ms)))
            l->tick(l->arg);
    else
        sig = service_wait_signal(-1);
    log_info("signal %d: %s", sig, l->stopping);
    if (l->draining)
        l->draining(l->arg);
    if (srv)
        http_server_quiesce(srv);
    if (l->drain)
        l->drain(l->arg); /* returns only when no request is suspended */
}

int service_run(const struct service_loop *l)
{
    struct http_server *srv = NULL;
    char errstr[1024];
    int rc = 1;
    if (l->routes &&
        http_server_new(l->routes, l->n_routes, l->http, &srv, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        return 1;
    }
    if (l->started)
        l->started(l->arg, srv);
    if (!l->run) {
        service_serve(l, srv);
        rc = 0;
    } else {
        struct service_stopper stopper = {.started = false};
        service_stopper_start(&stopper, l);
        if (l->run(l->arg, errstr, sizeof(errstr)) != TP_OK)
            log_error("%s%s", l->failed ? l->failed : "", errstr);
        else
            rc = 0;
        service_stopper_join(&stopper); /* before the caller frees arg */
    }
    http_server_free(srv);
    return rc;
}
