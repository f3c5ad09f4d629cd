#include "service.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

extern char **environ;

static const struct config_entry *service_find(const struct config_entry *table, size_t n,
                                               const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(table[i].key, key))
            return &table[i];
    return NULL;
}

bool service_start(const char *program, const struct config_entry *table, size_t n, void *cfg,
                   struct config_extra *extra, int argc, char **argv, int *rc)
{
    char errstr[1024];
    bool help;
    if (config_load(table, n, cfg, extra, argc, argv, environ, &help, errstr, sizeof(errstr)) !=
        TP_OK) {
        fprintf(stderr, "%s: %s (see --help)\n", program, errstr);
        *rc = 2;
        return true;
    }
    if (help) {
        config_print_help(stdout, program, table, n, extra);
        *rc = 0;
        return true;
    }
    enum log_level level = LOG_INFO;
    const struct config_entry *e = service_find(table, n, "log.level");
    if (e) {
        const char *s = *(char **)((char *)cfg + e->offset);
        int l = s ? log_level_parse(s) : -1;
        if (l < 0) {
            fprintf(stderr, "%s: invalid log.level \"%s\": use debug, info, warn or error\n",
                    program, s ? s : "");
            *rc = 2;
            return true;
        }
        level = (enum log_level)l;
    }
    log_init(program, level);
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

void service_handle_health(struct http_request *req, void *arg)
{
    (void)arg;
    static const char body[] = "{\"status\":\"ok\"}";
    http_reply(req, 200, "application/json", body, sizeof(body) - 1);
}

static void *service_stopper_main(void *arg)
{
    struct service_stopper *s = arg;
    int sig = service_wait_signal(-1);
    if (atomic_load(&s->exiting))
        return NULL; /* woken by service_stopper_join */
    log_info("signal %d: %s", sig, s->what);
    s->stop(s->arg);
    return NULL;
}

void service_stopper_start(struct service_stopper *s, void (*stop)(void *), void *arg,
                           const char *what)
{
    s->stop = stop;
    s->arg = arg;
    s->what = what;
    atomic_store(&s->exiting, false);
    s->started = pthread_create(&s->thread, NULL, service_stopper_main, s) == 0;
}

void service_stopper_join(struct service_stopper *s)
{
    if (!s->started)
        return;
    atomic_store(&s->exiting, true);
    pthread_kill(s->thread, SIGTERM);
    pthread_join(s->thread, NULL);
    s->started = false;
}
