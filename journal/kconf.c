#include "kconf.h"

#include <string.h>

#include "common/log.h"

rd_kafka_conf_t *kconf_new(const struct journal_config *cfg, const struct kconf_setting *forced,
                           size_t n_forced, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    char kerr[512];
    if (rd_kafka_conf_set(kc, "bootstrap.servers", cfg->bootstrap_servers, kerr, sizeof(kerr)) !=
        RD_KAFKA_CONF_OK)
        goto fail;
    for (size_t i = 0; cfg->kafka && i < cfg->kafka->n; i++) {
        const char *key = cfg->kafka->keys[i] + strlen("kafka.");
        for (size_t f = 0; f < n_forced; f++) {
            if (!strcmp(key, forced[f].key)) {
                snprintf(kerr, sizeof(kerr), "\"%s\" is fixed to \"%s\" by twinpipe", key,
                         forced[f].value);
                goto fail;
            }
        }
        if (rd_kafka_conf_set(kc, key, cfg->kafka->values[i], kerr, sizeof(kerr)) !=
            RD_KAFKA_CONF_OK)
            goto fail;
    }
    for (size_t f = 0; f < n_forced; f++)
        if (rd_kafka_conf_set(kc, forced[f].key, forced[f].value, kerr, sizeof(kerr)) !=
            RD_KAFKA_CONF_OK)
            goto fail;
    return kc;
fail:
    tp_err_set(TP_CONFIG, errstr, errstr_size, "invalid kafka setting: %s", kerr);
    rd_kafka_conf_destroy(kc);
    return NULL;
}

void kconf_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3)
        log_error("kafka %s: %s", fac, buf);
    else if (level <= 5)
        log_warn("kafka %s: %s", fac, buf);
    else
        log_debug("kafka %s: %s", fac, buf);
}

enum tp_err kconf_err(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return TP_OK;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return TP_QUEUE_FULL;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return TP_TIMEOUT;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        return TP_TOO_LARGE;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return TP_NOT_FOUND;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
        return TP_KAFKA_TRANSIENT;
    default:
        break;
    }
    return TP_KAFKA;
}

void journal_config_init(struct journal_config *cfg, const struct journal_settings *s,
                         const struct config_extra *kafka)
{
    *cfg = (struct journal_config){0}; /* every field a later branch adds starts false/NULL */
    cfg->bootstrap_servers = s->bootstrap_servers;
    cfg->topic = s->topic;
    cfg->partitions = (int)s->partitions;
    cfg->replication = (int)s->replication;
    cfg->schema_id = (int32_t)s->schema_id;
    cfg->kafka = kafka;
    cfg->report_eof = false;
    cfg->dlq_topic = NULL;
    cfg->max_message_bytes = 0;
    cfg->retention_ms = s->retention_ms;
    cfg->decoder = NULL;
    cfg->compact = false;
    cfg->raw = false;
}
