/*
 * follow.c - the follower of a compacted topic (follow.h).
 *
 * One thread per follower: find the topic's partitions and their high
 * watermarks, assign them all at the beginning, poll. Positions (the next
 * offset of each partition not yet handed) are kept under a mutex that the
 * waiters share; end-of-partition notices move a position too, so a
 * partition whose last offsets were compacted away or that is empty still
 * counts as caught up.
 */
#include "journal/follow.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "kconf.h"

#define FOLLOW_PARTITIONS_MAX 10000 /* journal.partitions' bound */
#define FOLLOW_POLL_MS        100
#define FOLLOW_RETRY_MS       1000

struct journal_follower {
    rd_kafka_t *rk;
    const struct journal_config *cfg;
    const char *topic;
    size_t max_bytes;
    journal_follow_fn on_record;
    void *arg;
    pthread_t thread;
    atomic_bool stop;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* broadcast when a position moves */
    int64_t *position;   /* next offset not handed yet, per partition */
    int64_t *start_high; /* high watermark at start, per partition */
    size_t n_partitions; /* 0 until the topic is found */
    bool caught_up;      /* every position >= its start_high */
    uint64_t records;
};

static void follow_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits up to ms for the stop flag, in short steps. */
static void follow_pause(struct journal_follower *f, int ms)
{
    for (int t = 0; t < ms && !atomic_load(&f->stop); t += FOLLOW_POLL_MS)
        follow_sleep_ms(FOLLOW_POLL_MS);
}

/* Partition count of the topic (0: unknown yet), -1 on error (logged). */
static int follow_partitions(struct journal_follower *f)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(f->rk, f->topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(f->rk, 0, rkt, &md, 5000);
    rd_kafka_topic_destroy(rkt);
    if (e) {
        log_warn("could not read metadata of topic \"%s\": %s", f->topic, rd_kafka_err2str(e));
        return -1;
    }
    int n = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

/* Called with mu held: sets caught_up when every position reached its start. */
static void follow_check_caught_up(struct journal_follower *f)
{
    if (f->caught_up || f->n_partitions == 0)
        return;
    for (size_t p = 0; p < f->n_partitions; p++)
        if (f->position[p] < f->start_high[p])
            return;
    f->caught_up = true;
    log_info("read topic \"%s\" up to its end at start (%llu records)", f->topic,
             (unsigned long long)f->records);
}

/* Finds the partitions and their high watermarks, assigns them at the beginning.
 * false when stopped first. */
static bool follow_setup(struct journal_follower *f)
{
    int64_t logged = 0;
    for (;;) {
        if (atomic_load(&f->stop))
            return false;
        int n = follow_partitions(f);
        if (n > FOLLOW_PARTITIONS_MAX) {
            log_error("topic \"%s\" has %d partitions, over %d: not followed", f->topic, n,
                      FOLLOW_PARTITIONS_MAX);
            return false;
        }
        if (n > 0) {
            int64_t *lo = tp_calloc((size_t)n, sizeof(*lo));
            int64_t *hi = tp_calloc((size_t)n, sizeof(*hi));
            rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
            for (int p = 0; p < n && !e; p++)
                e = rd_kafka_query_watermark_offsets(f->rk, f->topic, p, &lo[p], &hi[p], 5000);
            if (!e) {
                rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
                for (int p = 0; p < n; p++)
                    rd_kafka_topic_partition_list_add(list, f->topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
                e = rd_kafka_assign(f->rk, list);
                rd_kafka_topic_partition_list_destroy(list);
            }
            if (!e) {
                log_info("following topic \"%s\" (%d partitions) from the beginning", f->topic, n);
                pthread_mutex_lock(&f->mu);
                f->position = tp_calloc((size_t)n, sizeof(*f->position));
                f->start_high = hi;
                for (int p = 0; p < n; p++)
                    f->position[p] = lo[p];
                f->n_partitions = (size_t)n;
                follow_check_caught_up(f);
                pthread_cond_broadcast(&f->cond);
                pthread_mutex_unlock(&f->mu);
                free(lo);
                return true;
            }
            log_warn("could not start following topic \"%s\": %s", f->topic, rd_kafka_err2str(e));
            free(lo);
            free(hi);
        } else if (n == 0 && tp_mono_ms() - logged > 10000) {
            log_warn("topic \"%s\" does not exist yet: looking again every second", f->topic);
            logged = tp_mono_ms();
        }
        follow_pause(f, FOLLOW_RETRY_MS);
    }
}

/* Moves the partition's position to next (never back), under mu. */
static void follow_advance(struct journal_follower *f, int32_t partition, int64_t next, bool handed)
{
    pthread_mutex_lock(&f->mu);
    if (handed)
        f->records++;
    if (partition >= 0 && (size_t)partition < f->n_partitions && next > f->position[partition]) {
        f->position[partition] = next;
        follow_check_caught_up(f);
        pthread_cond_broadcast(&f->cond);
    }
    pthread_mutex_unlock(&f->mu);
}

static void follow_message(struct journal_follower *f, const rd_kafka_message_t *m)
{
    struct journal_record r = {0};
    r.partition = m->partition;
    r.offset = m->offset;
    rd_kafka_timestamp_type_t tstype;
    r.timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
    r.key_len = m->key ? m->key_len : 0;
    r.value_len = m->payload ? m->len : 0;
    if (r.key_len > f->max_bytes || r.value_len > f->max_bytes - r.key_len) {
        r.too_large = true;
        if (m->key && r.key_len <= f->max_bytes)
            r.key = m->key;
        log_warn("record at %s [%d] offset %lld is %zu bytes, over %zu: its value is not read",
                 f->topic, (int)m->partition, (long long)m->offset, r.key_len + r.value_len,
                 f->max_bytes);
    } else {
        r.key = m->key;
        r.value = m->payload;
    }
    f->on_record(f->arg, &r);
    follow_advance(f, m->partition, m->offset + 1, true);
}

static void *follow_main(void *arg)
{
    struct journal_follower *f = arg;
    if (!follow_setup(f))
        return NULL;
    int64_t logged = 0;
    while (!atomic_load(&f->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(f->rk, FOLLOW_POLL_MS);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            follow_advance(f, m->partition, m->offset, false);
        else if (m->err) {
            if (tp_mono_ms() - logged > 10000) { /* librdkafka retries by itself */
                log_warn("following topic \"%s\": %s", f->topic, rd_kafka_message_errstr(m));
                logged = tp_mono_ms();
            }
        } else
            follow_message(f, m);
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

enum tp_err journal_follower_start(const struct journal_config *cfg, const char *topic,
                                   size_t max_bytes, journal_follow_fn on_record, void *arg,
                                   struct journal_follower **out, char *errstr, size_t errstr_size)
{
    /* assign() needs a group.id; the follower never subscribes or commits, so never joins it */
    const struct kconf_setting forced[] = {
        {"group.id", "tp-follower"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
    };
    *out = NULL;
    rd_kafka_conf_t *kc =
        kconf_new(cfg, forced, sizeof(forced) / sizeof(forced[0]), errstr, errstr_size);
    if (!kc)
        return TP_CONFIG;
    char kerr[512];
    rd_kafka_conf_set(kc, "auto.offset.reset", "earliest", kerr, sizeof(kerr));
    rd_kafka_conf_set_log_cb(kc, kconf_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, kerr, sizeof(kerr));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        return tp_err_set(TP_KAFKA, errstr, errstr_size, "could not create kafka consumer: %s",
                          kerr);
    }
    rd_kafka_poll_set_consumer(rk);
    struct journal_follower *f = tp_calloc(1, sizeof(*f));
    f->rk = rk;
    f->cfg = cfg;
    f->topic = topic;
    f->max_bytes = max_bytes;
    f->on_record = on_record;
    f->arg = arg;
    atomic_init(&f->stop, false);
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&f->thread, NULL, follow_main, f) != 0) {
        rd_kafka_destroy(rk);
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->mu);
        free(f);
        return tp_err_set(TP_IO, errstr, errstr_size,
                          "could not start the follower thread of \"%s\"", topic);
    }
    *out = f;
    return TP_OK;
}

/* Waits on cond until done(f, a, b) or the deadline; called with mu held. */
static enum tp_err follow_wait(struct journal_follower *f,
                               bool (*done)(struct journal_follower *, int32_t, int64_t),
                               int32_t partition, int64_t offset, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    int64_t ns = dl.tv_nsec + (int64_t)(timeout_ms % 1000) * 1000000;
    dl.tv_sec += timeout_ms / 1000 + ns / 1000000000;
    dl.tv_nsec = ns % 1000000000;
    enum tp_err err = TP_OK;
    pthread_mutex_lock(&f->mu);
    while (!done(f, partition, offset))
        if (pthread_cond_timedwait(&f->cond, &f->mu, &dl) != 0 && !done(f, partition, offset)) {
            err = TP_TIMEOUT;
            break;
        }
    pthread_mutex_unlock(&f->mu);
    return err;
}

static bool follow_is_caught_up(struct journal_follower *f, int32_t partition, int64_t offset)
{
    (void)partition;
    (void)offset;
    return f->caught_up;
}

static bool follow_passed(struct journal_follower *f, int32_t partition, int64_t offset)
{
    return partition >= 0 && (size_t)partition < f->n_partitions && f->position[partition] > offset;
}

bool journal_follower_caught_up(struct journal_follower *f)
{
    pthread_mutex_lock(&f->mu);
    bool c = f->caught_up;
    pthread_mutex_unlock(&f->mu);
    return c;
}

enum tp_err journal_follower_wait_caught_up(struct journal_follower *f, int timeout_ms)
{
    return follow_wait(f, follow_is_caught_up, 0, 0, timeout_ms);
}

enum tp_err journal_follower_wait(struct journal_follower *f, int32_t partition, int64_t offset,
                                  int timeout_ms)
{
    return follow_wait(f, follow_passed, partition, offset, timeout_ms);
}

uint64_t journal_follower_records(struct journal_follower *f)
{
    pthread_mutex_lock(&f->mu);
    uint64_t n = f->records;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void journal_follower_free(struct journal_follower *f)
{
    if (!f)
        return;
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    rd_kafka_consumer_close(f->rk);
    rd_kafka_destroy(f->rk);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->mu);
    free(f->position);
    free(f->start_high);
    free(f);
}
