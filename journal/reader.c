#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/log.h"
#include "common/mem.h"
#include "journal.h"
#include "kconf.h"

#define READER_BATCH_MAX 10000 /* messages taken from librdkafka per call */

struct journal_reader {
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue; /* the consumer queue */
    const struct journal_config *cfg;
    rd_kafka_message_t *msgs[READER_BATCH_MAX];
    /* readings decoded through cfg->decoder since the last journal_reader_release */
    journal_reading **held;
    void **held_refs;
    size_t n_held, cap_held;
};

/* Decodes m through cfg->decoder (the reading is held until journal_reader_release). A
 * failure that may pass (the registry does not answer) is returned: the reader never falls
 * back to the built-in Reading, which would drop the event's version's fields. */
static enum tp_err reader_decode(struct journal_reader *r, const rd_kafka_message_t *m,
                                 struct journal_event *ev, char *errstr, size_t errstr_size)
{
    const struct journal_decoder *dec = r->cfg->decoder;
    void *ref = NULL;
    ev->decode_err = journal_event_decode(dec, m->payload, m->len, &ev->schema_id, &ev->reading,
                                          &ref, ev->error, sizeof(ev->error));
    if (ev->decode_err != TP_OK) {
        ev->reading = NULL;
        if (tp_err_retriable(ev->decode_err))
            return tp_err_set(ev->decode_err, errstr, errstr_size,
                              "could not decode the event at partition %d offset %lld: %s",
                              (int)m->partition, (long long)m->offset, ev->error);
        return TP_OK;
    }
    if (r->n_held == r->cap_held) {
        r->cap_held = r->cap_held ? 2 * r->cap_held : 1024;
        r->held = tp_realloc(r->held, r->cap_held * sizeof(*r->held));
        r->held_refs = tp_realloc(r->held_refs, r->cap_held * sizeof(*r->held_refs));
    }
    r->held[r->n_held] = ev->reading;
    r->held_refs[r->n_held++] = ref;
    return TP_OK;
}

void journal_reader_release(struct journal_reader *r)
{
    const struct journal_decoder *dec = r->cfg->decoder;
    for (size_t i = 0; i < r->n_held; i++) {
        journal_reading_free(r->held[i]);
        if (r->held_refs[i])
            dec->release(dec->arg, r->held_refs[i]); /* after the message */
    }
    r->n_held = 0;
}

enum tp_err journal_reader_new(const struct journal_config *cfg, struct journal_reader **out,
                               char *errstr, size_t errstr_size)
{
    /* assign() needs a group.id; the reader never subscribes or commits, so never joins it */
    const struct kconf_setting forced[] = {
        {"group.id", "tp-reader"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
    };
    rd_kafka_conf_t *kc =
        kconf_new(cfg, forced, sizeof(forced) / sizeof(forced[0]), errstr, errstr_size);
    if (!kc)
        return TP_CONFIG;
    char kerr[512];
    if (!config_extra_get(cfg->kafka, "kafka.auto.offset.reset"))
        rd_kafka_conf_set(kc, "auto.offset.reset", "earliest", kerr, sizeof(kerr));
    rd_kafka_conf_set_log_cb(kc, kconf_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, kerr, sizeof(kerr));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        return tp_err_set(TP_KAFKA, errstr, errstr_size, "could not create kafka consumer: %s",
                          kerr);
    }
    rd_kafka_poll_set_consumer(rk);
    struct journal_reader *r = tp_calloc(1, sizeof(*r));
    r->rk = rk;
    r->cfg = cfg;
    r->queue = rd_kafka_queue_get_consumer(rk);
    *out = r;
    return TP_OK;
}

enum tp_err journal_reader_watermarks(struct journal_reader *r, int timeout_ms, int64_t *lo,
                                      int64_t *hi, size_t max, size_t *n, char *errstr,
                                      size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    *n = 0;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, r->cfg->topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(r->rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (e)
        return tp_err_set(kconf_err(e), errstr, errstr_size,
                          "could not read metadata of topic \"%s\": %s", r->cfg->topic,
                          rd_kafka_err2str(e));
    enum tp_err err = TP_OK;
    int parts = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (parts == 0)
        return tp_err_set(TP_NOT_FOUND, errstr, errstr_size, "topic \"%s\" does not exist",
                          r->cfg->topic);
    if ((size_t)parts > max)
        return tp_err_set(TP_TOO_LARGE, errstr, errstr_size,
                          "topic \"%s\" has %d partitions, over %zu", r->cfg->topic, parts, max);
    for (int p = 0; p < parts && err == TP_OK; p++) {
        e = rd_kafka_query_watermark_offsets(r->rk, r->cfg->topic, p, &lo[p], &hi[p], timeout_ms);
        if (e)
            err = tp_err_set(kconf_err(e), errstr, errstr_size,
                             "could not read offsets of \"%s\" [%d]: %s", r->cfg->topic, p,
                             rd_kafka_err2str(e));
    }
    if (err == TP_OK)
        *n = (size_t)parts;
    return err;
}

enum tp_err journal_reader_offsets_for_time(struct journal_reader *r, int64_t ts_ms, int timeout_ms,
                                            int64_t *offsets, size_t n, char *errstr,
                                            size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(list, r->cfg->topic, (int32_t)p)->offset = ts_ms;
    enum tp_err err = TP_OK;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(r->rk, list, timeout_ms);
    if (e)
        err = tp_err_set(kconf_err(e), errstr, errstr_size,
                         "could not look up offsets of \"%s\" by time: %s", r->cfg->topic,
                         rd_kafka_err2str(e));
    for (int i = 0; err == TP_OK && i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        if (tp->err) {
            err = tp_err_set(kconf_err(tp->err), errstr, errstr_size,
                             "could not look up offsets of \"%s\" [%d] by time: %s", r->cfg->topic,
                             tp->partition, rd_kafka_err2str(tp->err));
            break;
        }
        int64_t off = tp->offset;
        if (off < 0) { /* no event at or after ts: start at the end */
            int64_t lo, hi;
            e = rd_kafka_query_watermark_offsets(r->rk, r->cfg->topic, tp->partition, &lo, &hi,
                                                 timeout_ms);
            if (e) {
                err = tp_err_set(kconf_err(e), errstr, errstr_size,
                                 "could not read offsets of \"%s\" [%d]: %s", r->cfg->topic,
                                 tp->partition, rd_kafka_err2str(e));
                break;
            }
            off = hi;
        }
        offsets[tp->partition] = off;
    }
    rd_kafka_topic_partition_list_destroy(list);
    return err;
}

enum tp_err journal_reader_assign(struct journal_reader *r, const int32_t *partitions,
                                  const int64_t *offsets, size_t n, char *errstr,
                                  size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, r->cfg->topic, partitions[i])->offset =
            offsets[i] == JOURNAL_OFFSET_BEGINNING ? RD_KAFKA_OFFSET_BEGINNING : offsets[i];
    rd_kafka_resp_err_t e = rd_kafka_assign(r->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e)
        return tp_err_set(kconf_err(e), errstr, errstr_size,
                          "could not assign partitions of \"%s\": %s", r->cfg->topic,
                          rd_kafka_err2str(e));
    return TP_OK;
}

enum tp_err journal_reader_poll(struct journal_reader *r, int timeout_ms, struct journal_event *evs,
                                size_t max, struct arena *a, size_t *n, char *errstr,
                                size_t errstr_size)
{
    *n = 0;
    if (max > READER_BATCH_MAX)
        max = READER_BATCH_MAX;
    ssize_t got = rd_kafka_consume_batch_queue(r->queue, timeout_ms, r->msgs, max);
    if (got < 0)
        return tp_err_set(kconf_err(rd_kafka_last_error()), errstr, errstr_size,
                          "could not consume \"%s\": %s", r->cfg->topic,
                          rd_kafka_err2str(rd_kafka_last_error()));
    enum tp_err err = TP_OK;
    for (ssize_t i = 0; i < got; i++) {
        rd_kafka_message_t *m = r->msgs[i];
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                char why[256];
                rd_kafka_fatal_error(r->rk, why, sizeof(why));
                err = tp_err_set(TP_KAFKA, errstr, errstr_size, "fatal kafka consumer error: %s",
                                 why);
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                log_warn("kafka consumer: %s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        struct journal_event *ev = &evs[(*n)++];
        rd_kafka_timestamp_type_t tstype;
        ev->partition = m->partition;
        ev->offset = m->offset;
        ev->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
        ev->eof = false;
        ev->error[0] = ev->dlq_reason[0] = ev->dlq_detail[0] = ev->dlq_origin[0] = '\0';
        ev->reading = NULL;
        ev->msg = NULL;
        ev->decode_err = TP_OK;
        if (a && r->cfg->decoder) {
            enum tp_err e = reader_decode(r, m, ev, errstr, errstr_size);
            if (e != TP_OK && err == TP_OK)
                err = e;
        } else if (a) {
            ev->decode_err = journal_event_unpack_arena(m->payload, m->len, a, &ev->schema_id,
                                                        &ev->reading, ev->error, sizeof(ev->error));
        }
        if (ev->decode_err != TP_OK)
            ev->reading = NULL;
        rd_kafka_message_destroy(m);
    }
    return err;
}

int64_t journal_reader_lag(struct journal_reader *r, int32_t partition, int64_t next_offset)
{
    int64_t lo, hi;
    if (rd_kafka_get_watermark_offsets(r->rk, r->cfg->topic, partition, &lo, &hi) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0)
        return -1;
    return hi > next_offset ? hi - next_offset : 0;
}

void journal_reader_free(struct journal_reader *r)
{
    if (!r)
        return;
    journal_reader_release(r);
    free(r->held);
    free(r->held_refs);
    rd_kafka_queue_destroy(r->queue);
    rd_kafka_consumer_close(r->rk);
    rd_kafka_destroy(r->rk);
    free(r);
}
