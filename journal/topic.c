#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "journal.h"
#include "kconf.h"

/* A short-lived producer handle for admin and metadata requests. */
static rd_kafka_t *topic_client_new(const struct journal_config *cfg, char *errstr,
                                    size_t errstr_size)
{
    rd_kafka_conf_t *kc = kconf_new(cfg, NULL, 0, errstr, errstr_size);
    if (!kc)
        return NULL;
    char kerr[512];
    rd_kafka_conf_set(kc, "log_level", "3", kerr, sizeof(kerr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, kerr, sizeof(kerr));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        tp_err_set(TP_KAFKA, errstr, errstr_size, "could not create kafka client: %s", kerr);
    }
    return rk;
}

/* Partition count of the topic, 0 if it does not exist, -1 on error. */
static int topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
                            size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (err) {
        tp_err_set(kconf_err(err), errstr, errstr_size,
                   "could not read metadata of topic \"%s\": %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    int n = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

/* retention.ms the topic is created with: -1 (forever) unless configured. */
static int64_t topic_retention_wanted(const struct journal_config *cfg)
{
    return cfg->retention_ms == 0 ? -1 : cfg->retention_ms;
}

/* retention.ms of the topic from DescribeConfigs into out. */
static int64_t topic_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum tp_err topic_describe_retention(rd_kafka_t *rk, const char *topic, int timeout_ms,
                                            char *out, size_t out_size, char *errstr,
                                            size_t errstr_size)
{
    enum tp_err ret = TP_OK;
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    char kerr[256];
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, kerr, sizeof(kerr));
    rd_kafka_DescribeConfigs(rk, &res, 1, o, q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (!ev) {
        ret = tp_err_set(TP_TIMEOUT, errstr, errstr_size,
                         "timed out describing the configuration of topic \"%s\"", topic);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        ret = tp_err_set(kconf_err(rd_kafka_event_error(ev)), errstr, errstr_size,
                         "could not describe topic \"%s\": %s", topic,
                         rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t cnt = 0;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &cnt);
    if (cnt != 1 || rd_kafka_ConfigResource_error(rs[0])) {
        ret = tp_err_set(cnt == 1 ? kconf_err(rd_kafka_ConfigResource_error(rs[0])) : TP_KAFKA,
                         errstr, errstr_size, "could not describe topic \"%s\": %s", topic,
                         cnt == 1 ? rd_kafka_ConfigResource_error_string(rs[0]) : "no result");
        goto out;
    }
    size_t n_entries = 0;
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(rs[0], &n_entries);
    ret = tp_err_set(TP_NOT_FOUND, errstr, errstr_size,
                     "topic \"%s\" has no retention.ms in its configuration", topic);
    for (size_t i = 0; i < n_entries; i++) {
        const char *v = rd_kafka_ConfigEntry_value(entries[i]);
        if (!strcmp(rd_kafka_ConfigEntry_name(entries[i]), "retention.ms") && v) {
            snprintf(out, out_size, "%s", v);
            ret = TP_OK;
            break;
        }
    }
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    return ret;
}

enum tp_err journal_topic_retention(const struct journal_config *cfg, int timeout_ms, char *out,
                                    size_t out_size, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = topic_client_new(cfg, errstr, errstr_size);
    if (!rk)
        return TP_KAFKA;
    /* A topic created a moment ago may not be known to the broker that answers yet (KRaft
     * propagates its metadata): an unknown topic is asked again until timeout_ms. */
    int64_t deadline = topic_now_ms() + timeout_ms;
    enum tp_err ret;
    for (;;) {
        int left = (int)(deadline - topic_now_ms());
        ret = topic_describe_retention(rk, cfg->topic, left > 0 ? left : 1, out, out_size, errstr,
                                       errstr_size);
        if (ret != TP_NOT_FOUND || topic_now_ms() + 100 >= deadline)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    rd_kafka_destroy(rk);
    return ret;
}

/* At most this long for the check of an existing topic's retention: librdkafka's mock broker
 * (tp-mockbroker) never answers DescribeConfigs, and a service must not start 15 s late. */
#define TOPIC_RETENTION_CHECK_MS 2000

/* An existing topic keeps its retention.ms: a different one is only logged. */
static void topic_check_retention(rd_kafka_t *rk, const struct journal_config *cfg, int timeout_ms)
{
    if (timeout_ms > TOPIC_RETENTION_CHECK_MS)
        timeout_ms = TOPIC_RETENTION_CHECK_MS;
    char have[64], why[256];
    char want[24];
    snprintf(want, sizeof(want), "%lld", (long long)topic_retention_wanted(cfg));
    if (topic_describe_retention(rk, cfg->topic, timeout_ms, have, sizeof(have), why,
                                 sizeof(why)) != TP_OK)
        log_warn("could not check the retention of topic \"%s\": %s", cfg->topic, why);
    else if (strcmp(have, want) != 0)
        log_warn("topic \"%s\" exists with retention.ms=%s, configured journal.retention_ms=%s: "
                 "kept as is (events older than its retention are deleted and a replay from the "
                 "start cannot see them; change it with kafka-configs --alter if that is not "
                 "wanted)",
                 cfg->topic, have, want);
}

enum tp_err journal_topic_ensure(const struct journal_config *cfg, int timeout_ms, char *errstr,
                                 size_t errstr_size)
{
    enum tp_err ret = TP_OK;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_event_t *ev = NULL;
    rd_kafka_t *rk = topic_client_new(cfg, errstr, errstr_size);
    if (!rk)
        return TP_KAFKA;

    int n = topic_partitions(rk, cfg->topic, timeout_ms, errstr, errstr_size);
    if (n < 0) {
        ret = TP_KAFKA_TRANSIENT;
        goto out;
    }
    if (n > 0) {
        if (n != cfg->partitions)
            log_info("topic \"%s\" exists with %d partitions (configured %d: kept as is)",
                     cfg->topic, n, cfg->partitions);
        if (!cfg->compact)
            topic_check_retention(rk, cfg, timeout_ms);
        goto out;
    }

    char kerr[512];
    nt = rd_kafka_NewTopic_new(cfg->topic, cfg->partitions, cfg->replication, kerr, sizeof(kerr));
    if (!nt) {
        ret = tp_err_set(TP_CONFIG, errstr, errstr_size, "invalid topic \"%s\": %s", cfg->topic,
                         kerr);
        goto out;
    }
    if (cfg->max_message_bytes > 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", cfg->max_message_bytes);
        rd_kafka_NewTopic_set_config(nt, "max.message.bytes", v);
    }
    char retention[24];
    snprintf(retention, sizeof(retention), "%lld", (long long)topic_retention_wanted(cfg));
    if (cfg->compact)
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    else
        rd_kafka_NewTopic_set_config(nt, "retention.ms", retention);
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (!ev) {
        ret = tp_err_set(TP_TIMEOUT, errstr, errstr_size, "timed out creating topic \"%s\"",
                         cfg->topic);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        ret = tp_err_set(kconf_err(rd_kafka_event_error(ev)), errstr, errstr_size,
                         "could not create topic \"%s\": %s", cfg->topic,
                         rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t cnt;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            if (!cfg->compact) /* created by someone else meanwhile */
                topic_check_retention(rk, cfg, timeout_ms);
            continue;
        }
        if (e) {
            ret = tp_err_set(kconf_err(e), errstr, errstr_size, "could not create topic \"%s\": %s",
                             cfg->topic, rd_kafka_topic_result_error_string(res[i]));
            goto out;
        }
        log_info("created topic \"%s\" with %d partitions, replication %d, %s%s", cfg->topic,
                 cfg->partitions, cfg->replication, cfg->compact ? "compacted" : "retention.ms ",
                 cfg->compact ? "" : retention);
    }
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return ret;
}

enum tp_err journal_topic_delete_records(const struct journal_config *cfg,
                                         const int32_t *partitions, const int64_t *before, size_t n,
                                         int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = topic_client_new(cfg, errstr, errstr_size);
    if (!rk)
        return TP_KAFKA;
    enum tp_err ret = TP_OK;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, cfg->topic, partitions[i])->offset = before[i];
    rd_kafka_DeleteRecords_t *del = rd_kafka_DeleteRecords_new(list);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteRecords(rk, &del, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (!ev) {
        ret = tp_err_set(TP_TIMEOUT, errstr, errstr_size,
                         "timed out deleting records of topic \"%s\"", cfg->topic);
    } else if (rd_kafka_event_error(ev)) {
        ret = tp_err_set(kconf_err(rd_kafka_event_error(ev)), errstr, errstr_size,
                         "could not delete records of topic \"%s\": %s", cfg->topic,
                         rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_topic_partition_list_t *res =
            rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
        for (int i = 0; res && i < res->cnt && ret == TP_OK; i++)
            if (res->elems[i].err)
                ret = tp_err_set(kconf_err(res->elems[i].err), errstr, errstr_size,
                                 "could not delete records of \"%s\" [%d]: %s", cfg->topic,
                                 res->elems[i].partition, rd_kafka_err2str(res->elems[i].err));
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteRecords_destroy(del);
    rd_kafka_destroy(rk);
    return ret;
}

/* Low and high watermarks of every partition (at most max); *n = partitions. */
static enum tp_err topic_watermarks(const struct journal_config *cfg, int timeout_ms, int64_t *lo,
                                    int64_t *hi, size_t max, size_t *n, char *errstr,
                                    size_t errstr_size)
{
    enum tp_err ret = TP_OK;
    rd_kafka_t *rk = topic_client_new(cfg, errstr, errstr_size);
    if (!rk)
        return TP_KAFKA;
    int parts = topic_partitions(rk, cfg->topic, timeout_ms, errstr, errstr_size);
    *n = 0;
    if (parts < 0)
        ret = TP_KAFKA_TRANSIENT;
    else if ((size_t)parts > max)
        ret = tp_err_set(TP_TOO_LARGE, errstr, errstr_size,
                         "topic \"%s\" has %d partitions, over %zu", cfg->topic, parts, max);
    for (int p = 0; p < parts && ret == TP_OK; p++) {
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, cfg->topic, p, &lo[p], &hi[p], timeout_ms);
        if (e)
            ret = tp_err_set(kconf_err(e), errstr, errstr_size,
                             "could not read offsets of \"%s\" [%d]: %s", cfg->topic, p,
                             rd_kafka_err2str(e));
    }
    if (ret == TP_OK)
        *n = (size_t)parts;
    rd_kafka_destroy(rk);
    return ret;
}

enum tp_err journal_topic_end_offsets(const struct journal_config *cfg, int timeout_ms,
                                      int64_t *ends, size_t max, size_t *n, char *errstr,
                                      size_t errstr_size)
{
    int64_t *lo = tp_calloc(max ? max : 1, sizeof(*lo));
    enum tp_err ret = topic_watermarks(cfg, timeout_ms, lo, ends, max, n, errstr, errstr_size);
    free(lo);
    return ret;
}

#define TOPIC_COUNT_MAX 10000 /* journal.partitions' bound */

enum tp_err journal_topic_count(const struct journal_config *cfg, int timeout_ms, int64_t *count,
                                char *errstr, size_t errstr_size)
{
    int64_t *lo = tp_calloc(TOPIC_COUNT_MAX, sizeof(*lo));
    int64_t *hi = tp_calloc(TOPIC_COUNT_MAX, sizeof(*hi));
    size_t n;
    *count = 0;
    enum tp_err ret =
        topic_watermarks(cfg, timeout_ms, lo, hi, TOPIC_COUNT_MAX, &n, errstr, errstr_size);
    for (size_t p = 0; ret == TP_OK && p < n; p++)
        *count += hi[p] - lo[p];
    free(lo);
    free(hi);
    return ret;
}

void journal_dlq_topic_name(const struct journal_config *cfg, const char *configured, char *out,
                            size_t out_size)
{
    if (configured && *configured)
        snprintf(out, out_size, "%s", configured);
    else
        snprintf(out, out_size, "%s.dlq", cfg->topic);
}

enum tp_err journal_dlq_topic_ensure(const struct journal_config *cfg, const char *name,
                                     int timeout_ms, char *errstr, size_t errstr_size)
{
    struct journal_config dc = *cfg;
    dc.topic = name;
    dc.max_message_bytes = 0;
    return journal_topic_ensure(&dc, timeout_ms, errstr, errstr_size);
}
