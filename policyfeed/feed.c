/*
 * feed.c - the policies topics followed into a shared snapshot (feed.h).
 *
 * One mutex guards the feed's own set, the current snapshot pointer and the
 * counters. The followers' threads apply records under it (records are rare:
 * policies change by operators' commands); readers hold it only to take a
 * reference. A snapshot is freed by whoever drops its last reference.
 */
#include "policyfeed/feed.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "journal/follow.h"

struct policy_snapshot {
    atomic_size_t refs;
    struct policy_set *set;
    uint64_t generation;
};

struct feed_topic {
    struct policy_feed *feed;
    char *name;
    struct journal_follower *follower;
};

struct policy_feed {
    struct policy_feed_config cfg;
    struct feed_topic topics[POLICY_FEED_TOPICS_MAX];
    size_t n_topics;
    pthread_mutex_t mu;
    struct policy_set *set; /* the feed's own, applied to; never shown */
    struct policy_snapshot *current;
    uint64_t records, refused;
};

static struct policy_snapshot *snapshot_new(struct policy_set *set, uint64_t generation)
{
    struct policy_snapshot *s = tp_calloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->set = set;
    s->generation = generation;
    return s;
}

void policy_snapshot_release(struct policy_snapshot *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    policy_set_free(s->set);
    free(s);
}

const struct policy_set *policy_snapshot_set(const struct policy_snapshot *s)
{
    return s->set;
}

uint64_t policy_snapshot_generation(const struct policy_snapshot *s)
{
    return s->generation;
}

struct policy_snapshot *policy_feed_snapshot(struct policy_feed *f)
{
    pthread_mutex_lock(&f->mu);
    struct policy_snapshot *s = f->current;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&f->mu);
    return s;
}

/* A follower's record: applied to the feed's set, then a new snapshot. */
static void feed_on_record(void *arg, const struct journal_record *r)
{
    struct feed_topic *t = arg;
    struct policy_feed *f = t->feed;
    enum policy_error code = POLICY_ERR_NONE;
    char why[512] = "";
    enum tp_err err = TP_OK;
    struct policy_snapshot *old = NULL;
    pthread_mutex_lock(&f->mu);
    f->records++;
    if (r->too_large)
        err = tp_err_set(TP_TOO_LARGE, why, sizeof(why), "%zu bytes, over %zu",
                         r->key_len + r->value_len, (size_t)POLICY_FEED_RECORD_MAX);
    else if (!r->key)
        err = tp_err_set(TP_VALIDATION, why, sizeof(why), "a record without a key");
    else
        err = policy_set_apply(f->set, t->name, r->key, r->key_len, r->value, r->value_len, &code,
                               why, sizeof(why));
    if (err == TP_OK) {
        old = f->current;
        f->current = snapshot_new(policy_set_clone(f->set), old->generation + 1);
    } else {
        f->refused++;
    }
    pthread_mutex_unlock(&f->mu);
    if (err != TP_OK) {
        log_warn("policy record at \"%s\" [%d] offset %lld refused (%s): %s", t->name,
                 (int)r->partition, (long long)r->offset,
                 code != POLICY_ERR_NONE ? policy_error_code(code) : tp_err_name(err), why);
        return;
    }
    policy_snapshot_release(old);
    if (f->cfg.on_change)
        f->cfg.on_change(f->cfg.arg);
}

enum tp_err policy_feed_start(const struct policy_feed_config *cfg, struct policy_feed **out,
                              char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (cfg->n_topics == 0 || cfg->n_topics > POLICY_FEED_TOPICS_MAX)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "policy topics: %zu given, between 1 and %d wanted", cfg->n_topics,
                          POLICY_FEED_TOPICS_MAX);
    for (size_t i = 0; i < cfg->n_topics; i++) {
        if (!cfg->topics[i] || !*cfg->topics[i])
            return tp_err_set(TP_CONFIG, errstr, errstr_size, "policy topics: an empty name");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->topics[i], cfg->topics[j]))
                return tp_err_set(TP_CONFIG, errstr, errstr_size,
                                  "policy topics: \"%s\" given twice", cfg->topics[i]);
    }
    struct policy_feed *f = tp_calloc(1, sizeof(*f));
    f->cfg = *cfg;
    pthread_mutex_init(&f->mu, NULL);
    f->set = policy_set_new(cfg->max_active);
    f->current = snapshot_new(policy_set_new(cfg->max_active), 0);
    for (size_t i = 0; i < cfg->n_topics; i++) {
        struct feed_topic *t = &f->topics[i];
        t->feed = f;
        t->name = tp_strdup(cfg->topics[i]);
        f->n_topics++; /* freed with the feed from here on */
        enum tp_err err =
            journal_follower_start(cfg->kafka, t->name, POLICY_FEED_RECORD_MAX, feed_on_record, t,
                                   &t->follower, errstr, errstr_size);
        if (err != TP_OK) {
            policy_feed_free(f);
            return err;
        }
    }
    *out = f;
    return TP_OK;
}

enum tp_err policy_feed_start_settings(const struct policy_feed_settings *s,
                                       const struct journal_config *kafka,
                                       void (*on_change)(void *arg), void *arg,
                                       struct policy_feed **out, char *errstr, size_t errstr_size)
{
    char names[POLICY_FEED_TOPICS_MAX][256];
    const char *topics[POLICY_FEED_TOPICS_MAX];
    size_t n = 0;
    *out = NULL;
    for (const char *p = s->topics ? s->topics : "";;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 || len >= sizeof(names[0]))
            return tp_err_set(TP_CONFIG, errstr, errstr_size, "policy.topics \"%s\": %s topic name",
                              s->topics ? s->topics : "", len ? "a too long" : "an empty");
        if (n == POLICY_FEED_TOPICS_MAX)
            return tp_err_set(TP_CONFIG, errstr, errstr_size,
                              "policy.topics \"%s\": more than %d topics", s->topics,
                              POLICY_FEED_TOPICS_MAX);
        memcpy(names[n], p, len);
        names[n][len] = '\0';
        topics[n] = names[n];
        n++;
        if (!end)
            break;
        p = end + 1;
    }
    struct policy_feed_config fc = {.kafka = kafka,
                                    .topics = topics,
                                    .n_topics = n,
                                    .max_active = s->max_active,
                                    .on_change = on_change,
                                    .arg = arg};
    return policy_feed_start(&fc, out, errstr, errstr_size);
}

bool policy_feed_ready(struct policy_feed *f)
{
    for (size_t i = 0; i < f->n_topics; i++)
        if (!journal_follower_caught_up(f->topics[i].follower))
            return false;
    return true;
}

enum tp_err policy_feed_wait_ready(struct policy_feed *f, int timeout_ms)
{
    int64_t deadline = tp_mono_ms() + timeout_ms;
    for (size_t i = 0; i < f->n_topics; i++) {
        int64_t left = deadline - tp_mono_ms();
        enum tp_err err =
            journal_follower_wait_caught_up(f->topics[i].follower, left > 0 ? (int)left : 0);
        if (err != TP_OK)
            return err;
    }
    return TP_OK;
}

enum tp_err policy_feed_wait(struct policy_feed *f, const char *topic, int32_t partition,
                             int64_t offset, int timeout_ms)
{
    for (size_t i = 0; i < f->n_topics; i++)
        if (!strcmp(f->topics[i].name, topic))
            return journal_follower_wait(f->topics[i].follower, partition, offset, timeout_ms);
    return TP_NOT_FOUND;
}

void policy_feed_stats(struct policy_feed *f, struct policy_feed_stats *out)
{
    pthread_mutex_lock(&f->mu);
    out->records = f->records;
    out->refused = f->refused;
    out->generation = f->current->generation;
    out->policies = policy_set_count(f->current->set);
    pthread_mutex_unlock(&f->mu);
}

void policy_feed_free(struct policy_feed *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_topics; i++) {
        journal_follower_free(f->topics[i].follower);
        free(f->topics[i].name);
    }
    policy_snapshot_release(f->current);
    policy_set_free(f->set);
    pthread_mutex_destroy(&f->mu);
    free(f);
}
