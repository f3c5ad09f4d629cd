#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "journal.h"
#include "kconf.h"

struct journal_producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_topic_t *dlq_rkt; /* NULL without a dead-letter topic */
    char origin[96];           /* "tp-origin" header of dead letters */
    const struct journal_config *cfg;
    journal_delivery_fn on_delivery;
    void *arg;
};

/* Errors after which retrying the same event can never succeed. */
static bool producer_permanent(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE || e == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
           e == RD_KAFKA_RESP_ERR_INVALID_MSG;
}

/* Re-produces a refused event to the dead-letter topic; false if it could not be enqueued. */
static bool producer_dead_letter(struct journal_producer *p, const rd_kafka_message_t *m)
{
    const char *reason = rd_kafka_err2str(m->err);
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_RKT(p->dlq_rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_HEADER("tp-reason", reason, -1), RD_KAFKA_V_HEADER("tp-origin", p->origin, -1),
        RD_KAFKA_V_HEADER("tp-topic", topic, -1), RD_KAFKA_V_OPAQUE(m->_private), RD_KAFKA_V_END);
    if (e) {
        log_error("could not dead-letter an event refused by \"%s\" (%s): %s", topic, reason,
                  rd_kafka_err2str(e));
        return false;
    }
    log_warn("event for \"%s\" refused (%s): written to the dead-letter topic \"%s\"", topic,
             reason, rd_kafka_topic_name(p->dlq_rkt));
    return true;
}

static void producer_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct journal_producer *p = opaque;
    (void)rk;
    char errstr[256] = "";
    bool dead = p->dlq_rkt && m->rkt == p->dlq_rkt;
    if (m->err && !dead && p->dlq_rkt && producer_permanent(m->err) && producer_dead_letter(p, m))
        return; /* reported when the dead letter is acknowledged */
    if (m->err)
        snprintf(errstr, sizeof(errstr), "kafka did not acknowledge the event%s: %s",
                 dead ? " in the dead-letter topic" : "", rd_kafka_err2str(m->err));
    struct journal_delivery d = {kconf_err(m->err), errstr, m->partition, m->offset, dead};
    p->on_delivery(m->_private, &d, p->arg);
}

enum tp_err journal_producer_new(const struct journal_config *cfg, journal_delivery_fn on_delivery,
                                 void *arg, struct journal_producer **out, char *errstr,
                                 size_t errstr_size)
{
    static const struct kconf_setting forced[] = {
        {"acks", "all"},
        {"enable.idempotence", "true"},
        {"compression.type", "zstd"},
    };
    struct journal_producer *p = tp_calloc(1, sizeof(*p));
    p->cfg = cfg;
    p->on_delivery = on_delivery;
    p->arg = arg;
    rd_kafka_conf_t *kc =
        kconf_new(cfg, forced, sizeof(forced) / sizeof(forced[0]), errstr, errstr_size);
    if (!kc) {
        free(p);
        return TP_CONFIG;
    }
    char kerr[512];
    /* Defaults a passthrough key may change. murmur2_random matches the Java client,
     * so any Kafka producer keyed by device_id picks the same partition. */
    if (!config_extra_get(cfg->kafka, "kafka.partitioner"))
        rd_kafka_conf_set(kc, "partitioner", "murmur2_random", kerr, sizeof(kerr));
    if (!config_extra_get(cfg->kafka, "kafka.linger.ms"))
        rd_kafka_conf_set(kc, "linger.ms", "5", kerr, sizeof(kerr));
    /* Bounded memory and bounded waits: 64 MiB of queued events at most, and
     * a request whose events cannot reach the broker fails after 15 s (503)
     * instead of waiting librdkafka's default 5 minutes. */
    if (!config_extra_get(cfg->kafka, "kafka.queue.buffering.max.kbytes"))
        rd_kafka_conf_set(kc, "queue.buffering.max.kbytes", "65536", kerr, sizeof(kerr));
    if (!config_extra_get(cfg->kafka, "kafka.message.timeout.ms"))
        rd_kafka_conf_set(kc, "message.timeout.ms", "15000", kerr, sizeof(kerr));
    /* While the broker is down, librdkafka notices timed-out events when the broker thread
     * wakes, which is at its reconnect backoff (up to 10 s by default): measured, a request
     * then got its 503 after message.timeout.ms + 7 s. Retrying every second keeps it near
     * message.timeout.ms and notices the broker's return sooner. */
    if (!config_extra_get(cfg->kafka, "kafka.reconnect.backoff.max.ms"))
        rd_kafka_conf_set(kc, "reconnect.backoff.max.ms", "1000", kerr, sizeof(kerr));
    rd_kafka_conf_set_dr_msg_cb(kc, producer_dr);
    rd_kafka_conf_set_log_cb(kc, kconf_log);
    rd_kafka_conf_set_opaque(kc, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, kerr, sizeof(kerr));
    if (!p->rk) {
        rd_kafka_conf_destroy(kc);
        free(p);
        return tp_err_set(TP_KAFKA, errstr, errstr_size, "could not create kafka producer: %s",
                          kerr);
    }
    p->rkt = rd_kafka_topic_new(p->rk, cfg->topic, NULL);
    if (cfg->dlq_topic)
        p->dlq_rkt = rd_kafka_topic_new(p->rk, cfg->dlq_topic, NULL);
    char host[64] = "unknown";
    gethostname(host, sizeof(host) - 1);
    snprintf(p->origin, sizeof(p->origin), "%s@%s:%d", log_component_name(), host, (int)getpid());
    *out = p;
    return TP_OK;
}

enum tp_err journal_producer_append(struct journal_producer *p, const journal_reading *r,
                                    void *opaque, char *errstr, size_t errstr_size)
{
    return journal_producer_append_schema(p, r, p->cfg->schema_id, opaque, errstr, errstr_size);
}

enum tp_err journal_producer_append_schema(struct journal_producer *p, const journal_reading *r,
                                           int32_t schema_id, void *opaque, char *errstr,
                                           size_t errstr_size)
{
    size_t len;
    uint8_t *payload = journal_event_pack(r, schema_id, &len);
    const char *key = r->device_id ? r->device_id : "";
    if (rd_kafka_produce(p->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_FREE, payload, len, key,
                         strlen(key), opaque) == -1) {
        rd_kafka_resp_err_t kerr = rd_kafka_last_error();
        free(payload);
        return tp_err_set(kconf_err(kerr), errstr, errstr_size,
                          "could not enqueue event for kafka: %s", rd_kafka_err2str(kerr));
    }
    return TP_OK;
}

enum tp_err journal_producer_append_record(struct journal_producer *p, const char *key,
                                           size_t key_len, const void *value, size_t value_len,
                                           void *opaque, char *errstr, size_t errstr_size)
{
    if (rd_kafka_produce(p->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)value,
                         value ? value_len : 0, key, key ? key_len : 0, opaque) == -1) {
        rd_kafka_resp_err_t kerr = rd_kafka_last_error();
        return tp_err_set(kconf_err(kerr), errstr, errstr_size,
                          "could not enqueue a record for kafka: %s", rd_kafka_err2str(kerr));
    }
    return TP_OK;
}

enum tp_err journal_producer_forward(struct journal_producer *p, const struct journal_event *ev,
                                     void *opaque, char *errstr, size_t errstr_size)
{
    const rd_kafka_message_t *m = ev->msg;
    if (!m)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "the event's message is gone");
    rd_kafka_headers_t *src = NULL, *h = NULL;
    if (rd_kafka_message_headers(m, &src) == RD_KAFKA_RESP_ERR_NO_ERROR)
        h = rd_kafka_headers_copy(src);
    rd_kafka_resp_err_t e =
        rd_kafka_producev(p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_KEY(m->key, m->key_len),
                          RD_KAFKA_V_TIMESTAMP(ev->timestamp_ms > 0 ? ev->timestamp_ms : 0),
                          RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (e) {
        if (h)
            rd_kafka_headers_destroy(h); /* producev owns them only on success */
        return tp_err_set(kconf_err(e), errstr, errstr_size,
                          "could not enqueue a forwarded event for \"%s\": %s", p->cfg->topic,
                          rd_kafka_err2str(e));
    }
    return TP_OK;
}

int journal_producer_poll(struct journal_producer *p, int timeout_ms)
{
    return rd_kafka_poll(p->rk, timeout_ms);
}

enum tp_err journal_producer_flush(struct journal_producer *p, int timeout_ms)
{
    return kconf_err(rd_kafka_flush(p->rk, timeout_ms));
}

enum tp_err journal_producer_dead_letter(struct journal_producer *p, const struct journal_event *ev,
                                         const char *reason, const char *detail, void *opaque,
                                         char *errstr, size_t errstr_size)
{
    const rd_kafka_message_t *m = ev->msg;
    if (!p->dlq_rkt || !m)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "no dead-letter topic, or the event's message is gone");
    char where[48];
    snprintf(where, sizeof(where), "%d/%lld", (int)ev->partition, (long long)ev->offset);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_RKT(p->dlq_rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_HEADER("tp-reason", reason, -1),
        RD_KAFKA_V_HEADER("tp-detail", detail ? detail : "", -1),
        RD_KAFKA_V_HEADER("tp-origin", p->origin, -1),
        RD_KAFKA_V_HEADER("tp-topic", rd_kafka_topic_name(m->rkt), -1),
        RD_KAFKA_V_HEADER("tp-offset", where, -1), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (e)
        return tp_err_set(kconf_err(e), errstr, errstr_size,
                          "could not enqueue a dead letter for \"%s\": %s",
                          rd_kafka_topic_name(p->dlq_rkt), rd_kafka_err2str(e));
    return TP_OK;
}

enum tp_err journal_producer_dead_letter_raw(struct journal_producer *p, const char *key,
                                             const void *data, size_t len, const char *reason,
                                             const char *detail,
                                             const struct journal_header *headers, size_t n_headers,
                                             void *opaque, char *errstr, size_t errstr_size)
{
    if (!p->dlq_rkt)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "no dead-letter topic");
    if (n_headers > JOURNAL_DLQ_HEADERS_MAX)
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                          "%zu dead-letter headers given, at most %d", n_headers,
                          JOURNAL_DLQ_HEADERS_MAX);
    rd_kafka_headers_t *h = rd_kafka_headers_new(4 + n_headers);
    rd_kafka_header_add(h, "tp-reason", -1, reason, -1);
    rd_kafka_header_add(h, "tp-detail", -1, detail ? detail : "", -1);
    rd_kafka_header_add(h, "tp-origin", -1, p->origin, -1);
    rd_kafka_header_add(h, "tp-topic", -1, p->cfg->topic, -1);
    for (size_t i = 0; i < n_headers; i++)
        rd_kafka_header_add(h, headers[i].name, -1, headers[i].value ? headers[i].value : "", -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_RKT(p->dlq_rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE((void *)data, len), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h); /* producev owns them only on success */
        return tp_err_set(kconf_err(e), errstr, errstr_size,
                          "could not enqueue a dead letter for \"%s\": %s",
                          rd_kafka_topic_name(p->dlq_rkt), rd_kafka_err2str(e));
    }
    return TP_OK;
}

void journal_producer_purge(struct journal_producer *p)
{
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
}

bool journal_producer_ready(struct journal_producer *p, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 0, p->rkt, &md, timeout_ms);
    bool ok = err == RD_KAFKA_RESP_ERR_NO_ERROR && md->broker_cnt > 0 && md->topic_cnt == 1 &&
              md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (md)
        rd_kafka_metadata_destroy(md);
    return ok;
}

int journal_producer_outstanding(struct journal_producer *p)
{
    return rd_kafka_outq_len(p->rk);
}

void journal_producer_free(struct journal_producer *p)
{
    if (!p)
        return;
    if (rd_kafka_flush(p->rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_error("%d events still unacknowledged at producer shutdown", rd_kafka_outq_len(p->rk));
    rd_kafka_topic_destroy(p->rkt);
    if (p->dlq_rkt)
        rd_kafka_topic_destroy(p->dlq_rkt);
    rd_kafka_destroy(p->rk);
    free(p);
}
