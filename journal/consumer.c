#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "journal.h"
#include "kconf.h"

struct journal_consumer {
    rd_kafka_t *rk;
    const struct journal_config *cfg;
    struct journal_rebalance rb;
    struct journal_rebalance_topics rbt; /* instead of rb when its on_assign is set */
    enum tp_err fatal;                   /* set by a failed rebalance callback */
    int64_t unknown_topic_logged_ms;
    char fatal_msg[256];
};

static void consumer_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct journal_consumer *c = opaque;
    size_t n = (size_t)parts->cnt;
    int32_t *ids = tp_calloc(n ? n : 1, sizeof(*ids));
    int64_t *offsets = tp_calloc(n ? n : 1, sizeof(*offsets));
    const char **topics = tp_calloc(n ? n : 1, sizeof(*topics));
    for (size_t i = 0; i < n; i++) {
        ids[i] = parts->elems[i].partition;
        offsets[i] = JOURNAL_OFFSET_BEGINNING;
        topics[i] = parts->elems[i].topic;
    }
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        enum tp_err e = c->rbt.on_assign ? c->rbt.on_assign(c->rbt.arg, (const char *const *)topics,
                                                            ids, offsets, n)
                                         : c->rb.on_assign(c->rb.arg, ids, offsets, n);
        if (e != TP_OK) {
            c->fatal = e;
            snprintf(c->fatal_msg, sizeof(c->fatal_msg),
                     "could not load the offsets of %zu assigned partitions", n);
            rd_kafka_assign(rk, NULL);
        } else {
            for (size_t i = 0; i < n; i++)
                parts->elems[i].offset =
                    offsets[i] == JOURNAL_OFFSET_STORED ? RD_KAFKA_OFFSET_STORED : offsets[i];
            rd_kafka_resp_err_t ae = rd_kafka_assign(rk, parts);
            if (ae) {
                c->fatal = kconf_err(ae);
                snprintf(c->fatal_msg, sizeof(c->fatal_msg), "could not assign partitions: %s",
                         rd_kafka_err2str(ae));
            } else {
                log_info("assigned %zu partitions of \"%s\"", n, c->cfg->topic);
            }
        }
    } else {
        bool lost = rd_kafka_assignment_lost(rk);
        if (lost)
            log_warn("lost %zu partitions of \"%s\" to the group (timeout): dropping local state",
                     n, c->cfg->topic);
        if (c->rbt.on_revoke)
            c->rbt.on_revoke(c->rbt.arg, (const char *const *)topics, ids, n, lost);
        else
            c->rb.on_revoke(c->rb.arg, ids, n, lost);
        rd_kafka_assign(rk, NULL);
        log_info("released %zu partitions of \"%s\"", n, c->cfg->topic);
    }
    free(ids);
    free(offsets);
    free(topics);
}

static enum tp_err consumer_new(const struct journal_config *cfg, const char *group_id,
                                const struct journal_rebalance *rb,
                                const struct journal_rebalance_topics *rbt,
                                struct journal_consumer **out, char *errstr, size_t errstr_size);

enum tp_err journal_consumer_new(const struct journal_config *cfg, const char *group_id,
                                 const struct journal_rebalance *rb, struct journal_consumer **out,
                                 char *errstr, size_t errstr_size)
{
    return consumer_new(cfg, group_id, rb, NULL, out, errstr, errstr_size);
}

enum tp_err journal_consumer_new_topics(const struct journal_config *cfg, const char *group_id,
                                        const struct journal_rebalance_topics *rb,
                                        struct journal_consumer **out, char *errstr,
                                        size_t errstr_size)
{
    return consumer_new(cfg, group_id, NULL, rb, out, errstr, errstr_size);
}

static enum tp_err consumer_new(const struct journal_config *cfg, const char *group_id,
                                const struct journal_rebalance *rb,
                                const struct journal_rebalance_topics *rbt,
                                struct journal_consumer **out, char *errstr, size_t errstr_size)
{
    /* Offsets live in PostgreSQL with the projection, never in Kafka. */
    const struct kconf_setting forced[] = {
        {"group.id", group_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        /* the rebalance callback uses eager assign/unassign */
        {"partition.assignment.strategy", "range,roundrobin"},
    };
    struct journal_consumer *c = tp_calloc(1, sizeof(*c));
    c->cfg = cfg;
    if (rb)
        c->rb = *rb;
    if (rbt)
        c->rbt = *rbt;
    rd_kafka_conf_t *kc =
        kconf_new(cfg, forced, sizeof(forced) / sizeof(forced[0]), errstr, errstr_size);
    if (!kc) {
        free(c);
        return TP_CONFIG;
    }
    char kerr[512];
    if (cfg->report_eof)
        rd_kafka_conf_set(kc, "enable.partition.eof", "true", kerr, sizeof(kerr));
    if (!config_extra_get(cfg->kafka, "kafka.auto.offset.reset"))
        rd_kafka_conf_set(kc, "auto.offset.reset", "earliest", kerr, sizeof(kerr));
    rd_kafka_conf_set_rebalance_cb(kc, consumer_rebalance);
    rd_kafka_conf_set_log_cb(kc, kconf_log);
    rd_kafka_conf_set_opaque(kc, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, kerr, sizeof(kerr));
    if (!c->rk) {
        rd_kafka_conf_destroy(kc);
        free(c);
        return tp_err_set(TP_KAFKA, errstr, errstr_size, "could not create kafka consumer: %s",
                          kerr);
    }
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, cfg->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        rd_kafka_destroy(c->rk);
        free(c);
        return tp_err_set(kconf_err(e), errstr, errstr_size, "could not subscribe to \"%s\": %s",
                          cfg->topic, rd_kafka_err2str(e));
    }
    *out = c;
    return TP_OK;
}

enum tp_err journal_consumer_poll(struct journal_consumer *c, int timeout_ms,
                                  struct journal_event *ev, bool *got, char *errstr,
                                  size_t errstr_size)
{
    *got = false;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (c->fatal != TP_OK) {
        if (m)
            rd_kafka_message_destroy(m);
        return tp_err_set(c->fatal, errstr, errstr_size, "%s", c->fatal_msg);
    }
    if (!m)
        return TP_OK;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        memset(ev, 0, sizeof(*ev));
        ev->partition = m->partition;
        ev->offset = m->offset;
        ev->eof = true;
        rd_kafka_message_destroy(m);
        *got = true;
        return TP_OK;
    }
    if (m->err) {
        enum tp_err e = TP_OK;
        if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
            /* transient right after the topic was created (metadata not yet
             * everywhere); librdkafka keeps retrying, so keep polling */
            int64_t now = tp_mono_ms();
            if (now - c->unknown_topic_logged_ms > 10000) {
                log_warn("topic \"%s\" not available yet: %s", c->cfg->topic,
                         rd_kafka_message_errstr(m));
                c->unknown_topic_logged_ms = now;
            }
        } else if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
            char why[256];
            rd_kafka_fatal_error(c->rk, why, sizeof(why));
            e = tp_err_set(TP_KAFKA, errstr, errstr_size, "fatal kafka consumer error: %s", why);
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warn("kafka consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return e;
    }
    memset(ev, 0, sizeof(*ev));
    ev->topic = rd_kafka_topic_name(m->rkt);
    ev->partition = m->partition;
    ev->offset = m->offset;
    ev->value = m->payload;
    ev->value_len = m->len;
    rd_kafka_timestamp_type_t tstype;
    ev->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const void *v;
        size_t vlen;
        if (rd_kafka_header_get_last(hdrs, "tp-reason", &v, &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR)
            snprintf(ev->dlq_reason, sizeof(ev->dlq_reason), "%.*s", (int)vlen, (const char *)v);
        if (rd_kafka_header_get_last(hdrs, "tp-detail", &v, &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR)
            snprintf(ev->dlq_detail, sizeof(ev->dlq_detail), "%.*s", (int)vlen, (const char *)v);
        if (rd_kafka_header_get_last(hdrs, "tp-origin", &v, &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR)
            snprintf(ev->dlq_origin, sizeof(ev->dlq_origin), "%.*s", (int)vlen, (const char *)v);
    }
    ev->msg = m; /* kept for journal_producer_dead_letter, destroyed by journal_event_release */
    *got = true;
    if (c->cfg->raw)
        return TP_OK; /* the caller decodes ev->value */
    ev->decoder = c->cfg->decoder;
    ev->decode_err =
        journal_event_decode(c->cfg->decoder, m->payload, m->len, &ev->schema_id, &ev->reading,
                             &ev->decoder_ref, ev->error, sizeof(ev->error));
    if (ev->decode_err != TP_OK)
        ev->reading = NULL;
    return TP_OK;
}

void journal_event_release(struct journal_event *ev)
{
    journal_reading_free(ev->reading);
    ev->reading = NULL;
    if (ev->decoder && ev->decoder_ref)
        ev->decoder->release(ev->decoder->arg, ev->decoder_ref); /* after the message */
    ev->decoder_ref = NULL;
    if (ev->msg)
        rd_kafka_message_destroy(ev->msg);
    ev->msg = NULL;
    ev->value = NULL;
    ev->value_len = 0;
    ev->topic = NULL;
}

int64_t journal_consumer_lag(struct journal_consumer *c, int32_t partition, int64_t next_offset)
{
    return journal_consumer_lag_topic(c, c->cfg->topic, partition, next_offset);
}

int64_t journal_consumer_lag_topic(struct journal_consumer *c, const char *topic, int32_t partition,
                                   int64_t next_offset)
{
    int64_t lo, hi;
    if (rd_kafka_get_watermark_offsets(c->rk, topic, partition, &lo, &hi) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0)
        return -1;
    if (next_offset < 0)
        next_offset = lo;
    return hi > next_offset ? hi - next_offset : 0;
}

/* partitions[i] of topics[i] (NULL: the configured topic) at offsets[i]
 * (JOURNAL_OFFSET_BEGINNING allowed); caller destroys. */
static rd_kafka_topic_partition_list_t *consumer_list(struct journal_consumer *c,
                                                      const char *const *topics,
                                                      const int32_t *partitions,
                                                      const int64_t *offsets, size_t n)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, topics ? topics[i] : c->cfg->topic, partitions[i])
            ->offset =
            offsets[i] == JOURNAL_OFFSET_BEGINNING ? RD_KAFKA_OFFSET_BEGINNING : offsets[i];
    return list;
}

enum tp_err journal_consumer_seek(struct journal_consumer *c, const int32_t *partitions,
                                  const int64_t *offsets, size_t n, char *errstr,
                                  size_t errstr_size)
{
    return journal_consumer_seek_topics(c, NULL, partitions, offsets, n, errstr, errstr_size);
}

enum tp_err journal_consumer_seek_topics(struct journal_consumer *c, const char *const *topics,
                                         const int32_t *partitions, const int64_t *offsets,
                                         size_t n, char *errstr, size_t errstr_size)
{
    if (n == 0)
        return TP_OK;
    rd_kafka_topic_partition_list_t *list = consumer_list(c, topics, partitions, offsets, n);
    /* Asynchronous (timeout 0): the call bumps each partition's version barrier before it
     * returns, so no later poll yields an event fetched before it, and the fetcher restarts
     * at the offset. Waiting for the fetcher's acknowledgement (a timeout > 0) timed out at
     * once in librdkafka 2.0.2 when a seek followed another within ~100 ms. */
    enum tp_err err = TP_OK;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, list, 0);
    if (e) {
        enum tp_err code = kconf_err(rd_kafka_error_code(e));
        err = tp_err_set(
            rd_kafka_error_is_retriable(e) && !tp_err_retriable(code) ? TP_KAFKA_TRANSIENT : code,
            errstr, errstr_size, "could not seek \"%s\": %s", c->cfg->topic,
            rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    for (int i = 0; err == TP_OK && i < list->cnt; i++)
        if (list->elems[i].err && list->elems[i].err != RD_KAFKA_RESP_ERR__IN_PROGRESS)
            err = tp_err_set(kconf_err(list->elems[i].err), errstr, errstr_size,
                             "could not seek partition %d of \"%s\": %s", list->elems[i].partition,
                             list->elems[i].topic, rd_kafka_err2str(list->elems[i].err));
    rd_kafka_topic_partition_list_destroy(list);
    return err;
}

enum tp_err journal_consumer_committed(struct journal_consumer *c, const int32_t *partitions,
                                       size_t n, int timeout_ms, int64_t *committed, int64_t *low,
                                       char *errstr, size_t errstr_size)
{
    if (n == 0)
        return TP_OK;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, c->cfg->topic, partitions[i]);
    enum tp_err err = TP_OK;
    rd_kafka_resp_err_t e = rd_kafka_committed(c->rk, list, timeout_ms);
    for (int i = 0; !e && i < list->cnt; i++) {
        e = list->elems[i].err;
        committed[i] = list->elems[i].offset >= 0 ? list->elems[i].offset : -1;
    }
    if (e)
        err = tp_err_set(kconf_err(e), errstr, errstr_size,
                         "could not read the committed offsets of \"%s\": %s", c->cfg->topic,
                         rd_kafka_err2str(e));
    for (size_t i = 0; err == TP_OK && i < n; i++) {
        int64_t hi;
        e = rd_kafka_query_watermark_offsets(c->rk, c->cfg->topic, partitions[i], &low[i], &hi,
                                             timeout_ms);
        if (e)
            err = tp_err_set(kconf_err(e), errstr, errstr_size,
                             "could not read the first offset of partition %d of \"%s\": %s",
                             (int)partitions[i], c->cfg->topic, rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(list);
    return err;
}

enum tp_err journal_consumer_commit(struct journal_consumer *c, const int32_t *partitions,
                                    const int64_t *offsets, size_t n, char *errstr,
                                    size_t errstr_size)
{
    if (n == 0)
        return TP_OK;
    rd_kafka_topic_partition_list_t *list = consumer_list(c, NULL, partitions, offsets, n);
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, list, 0);
    rd_kafka_topic_partition_list_destroy(list);
    if (e)
        return tp_err_set(kconf_err(e), errstr, errstr_size, "could not commit offsets: %s",
                          rd_kafka_err2str(e));
    return TP_OK;
}

void journal_consumer_free(struct journal_consumer *c)
{
    if (!c)
        return;
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c);
}
