/*
 * tp-bench-http: the HTTP limit for ingest, measured by bench/http. A
 * minimal responder on our wrapper (common/http.h): POST /v1/telemetry
 * answers 202 {"accepted":1} at once, nothing parsed, nothing journaled.
 *
 * bench.reply=now answers inside the handler; bench.reply=later suspends
 * the request and answers it from a second thread, the path ingest takes
 * when it waits for Kafka's ack (suspend + resume cost included).
 *
 *     tp-bench-http --http.listen=127.0.0.1:0 --http.threads=2
 *     tp-bench-http --bench.max_body=1024        # 413 check with curl
 *
 * Prints "port N" on stdout once listening; stops on SIGTERM/SIGINT.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/service.h"

struct bench_config {
    struct http_options http;
    size_t max_body;
    char *reply;
    enum log_level log_level;
};

static const struct config_entry bench_rows[] = {
    HTTP_CONFIG_ENTRIES(struct bench_config, http, "127.0.0.1:0"),
    CONFIG_ROW_SIZE("bench.max_body", struct bench_config, max_body, "4194304", 0, 268435456,
                    "largest request body, bytes (413 above)"),
    CONFIG_ROW_STR("bench.reply", struct bench_config, reply, "now",
                   "now (in the handler) or later (suspend, answer from another thread)"),
    SERVICE_LOG_ENTRY(struct bench_config, log_level),
};
static const struct config_table bench_table = CONFIG_TABLE("tp-bench-http", bench_rows, NULL);

static const char accepted[] = "{\"accepted\":1}";

/* Suspended requests waiting for the replier thread (bench.reply=later). */
struct bench_queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct http_request **items;
    size_t len, cap;
    bool stop;
};

static void bench_handle_now(struct http_request *req, void *arg)
{
    (void)arg;
    http_reply(req, 202, "application/json", accepted, sizeof(accepted) - 1);
}

static void bench_handle_later(struct http_request *req, void *arg)
{
    struct bench_queue *q = arg;
    http_request_suspend(req);
    pthread_mutex_lock(&q->lock);
    if (q->len == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 1024;
        q->items = tp_realloc(q->items, q->cap * sizeof(*q->items));
    }
    q->items[q->len++] = req;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

/* Answers queued requests in batches, as ingest's delivery-report thread does. */
static void *bench_replier(void *arg)
{
    struct bench_queue *q = arg;
    struct http_request **batch = NULL;
    size_t batch_cap = 0;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->len == 0 && !q->stop)
            pthread_cond_wait(&q->cond, &q->lock);
        if (q->len == 0 && q->stop)
            break;
        if (batch_cap < q->len) {
            batch_cap = q->cap;
            batch = tp_realloc(batch, batch_cap * sizeof(*batch));
        }
        size_t n = q->len;
        memcpy(batch, q->items, n * sizeof(*batch));
        q->len = 0;
        pthread_mutex_unlock(&q->lock);
        for (size_t i = 0; i < n; i++)
            http_reply(batch[i], 202, "application/json", accepted, sizeof(accepted) - 1);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    free(batch);
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_config cfg = {0};
    struct bench_queue q = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct http_server *srv = NULL;
    pthread_t replier;
    bool replier_started = false;
    char errstr[1024];
    int rc = 1;
    if (service_start(&bench_table, &cfg, NULL, argc, argv, &rc))
        goto out;
    rc = 1;
    bool later = strcmp(cfg.reply, "later") == 0;
    if (!later && strcmp(cfg.reply, "now") != 0) {
        log_error("invalid bench.reply \"%s\": use now or later", cfg.reply);
        goto out;
    }
    if (later) {
        pthread_create(&replier, NULL, bench_replier, &q);
        replier_started = true;
    }
    const struct http_route routes[] = {
        {"POST", "/v1/telemetry", cfg.max_body, later ? bench_handle_later : bench_handle_now, &q},
        {"GET", "/healthz", 0, service_handle_health, NULL},
    };
    if (http_server_new(routes, sizeof(routes) / sizeof(routes[0]), &cfg.http, &srv, errstr,
                        sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    printf("port %u\n", http_server_port(srv));
    fflush(stdout);
    log_info("listening on \"%s\" (port %u), %u threads, reply %s", cfg.http.listen,
             http_server_port(srv), cfg.http.threads, cfg.reply);
    int sig = service_wait_signal(-1);
    log_info("signal %d: shutting down", sig);
    rc = 0;
out:
    http_server_quiesce(srv);
    if (replier_started) {
        pthread_mutex_lock(&q.lock);
        q.stop = true; /* answers what is queued, then ends: nothing stays suspended */
        pthread_cond_signal(&q.cond);
        pthread_mutex_unlock(&q.lock);
        pthread_join(replier, NULL);
    }
    http_server_free(srv);
    free(q.items);
    config_release(bench_rows, bench_table.n, &cfg, NULL);
    return rc;
}
