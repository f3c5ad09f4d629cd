/* journal/follow.c against the dev stack's Kafka: a follower of a compacted topic hands every
 * record from the beginning (tombstones as NULL values, exact partition and offset), reports
 * caught up after the records produced before it started, then hands the records produced
 * later; an oversized record comes without its value; a topic created after the start is
 * followed once it exists. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal/follow.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"

#define MAX_SEEN  64
#define MAX_BYTES 256

struct seen {
    char key[64];
    char value[MAX_BYTES + 1];
    bool tombstone, too_large, has_key;
    size_t value_len;
    int32_t partition;
    int64_t offset, timestamp_ms;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct seen seen[MAX_SEEN];
static size_t n_seen;

static void on_record(void *arg, const struct journal_record *r)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    ck_assert_uint_lt(n_seen, MAX_SEEN);
    struct seen *s = &seen[n_seen++];
    memset(s, 0, sizeof(*s));
    s->has_key = r->key != NULL;
    if (r->key)
        snprintf(s->key, sizeof(s->key), "%.*s", (int)r->key_len, r->key);
    s->tombstone = r->value == NULL && !r->too_large;
    s->too_large = r->too_large;
    s->value_len = r->value_len;
    if (r->value)
        snprintf(s->value, sizeof(s->value), "%.*s", (int)r->value_len, (const char *)r->value);
    s->partition = r->partition;
    s->offset = r->offset;
    s->timestamp_ms = r->timestamp_ms;
    pthread_mutex_unlock(&mu);
}

struct produced {
    const char *key;
    const char *value; /* NULL: tombstone */
    int32_t partition;
    int64_t offset;
    enum tp_err err;
    bool done;
};

#define REC(k, v)                                                                                  \
    {                                                                                              \
        .key = (k), .value = (v)                                                                   \
    }

static void on_delivery(void *opaque, const struct journal_delivery *d, void *arg)
{
    (void)arg;
    struct produced *p = opaque;
    p->err = d->err;
    p->partition = d->partition;
    p->offset = d->offset;
    p->done = true;
}

static void produce(struct journal_producer *prod, struct produced *recs, size_t n)
{
    char errstr[256];
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(journal_producer_append_record(prod, recs[i].key, strlen(recs[i].key),
                                                        recs[i].value,
                                                        recs[i].value ? strlen(recs[i].value) : 0,
                                                        &recs[i], errstr, sizeof(errstr)),
                         TP_OK);
    ck_assert_int_eq(journal_producer_flush(prod, 15000), TP_OK);
    for (size_t i = 0; i < n; i++) {
        ck_assert(recs[i].done);
        ck_assert_int_eq(recs[i].err, TP_OK);
    }
}

/* The seen record at (partition, offset), or NULL. Called with mu held. */
static const struct seen *seen_at(int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < n_seen; i++)
        if (seen[i].partition == partition && seen[i].offset == offset)
            return &seen[i];
    return NULL;
}

static void assert_seen(const struct produced *p)
{
    pthread_mutex_lock(&mu);
    const struct seen *s = seen_at(p->partition, p->offset);
    ck_assert_msg(s != NULL, "record %s at %d/%lld not seen", p->key, (int)p->partition,
                  (long long)p->offset);
    ck_assert(s->has_key);
    ck_assert_str_eq(s->key, p->key);
    ck_assert(!s->too_large);
    if (p->value) {
        ck_assert(!s->tombstone);
        ck_assert_str_eq(s->value, p->value);
    } else {
        ck_assert(s->tombstone);
        ck_assert_uint_eq(s->value_len, 0);
    }
    ck_assert_int_gt(s->timestamp_ms, 1700000000000LL);
    pthread_mutex_unlock(&mu);
}

START_TEST(test_follow_compacted_topic)
{
    struct stack st;
    stack_init(&st, "follow");
    struct journal_settings s = {.bootstrap_servers = st.bootstrap,
                                 .topic = st.topic,
                                 .partitions = 2,
                                 .replication = 1,
                                 .schema_id = 1};
    struct journal_config jc;
    journal_config_init(&jc, &s, NULL);
    jc.compact = true;
    char errstr[512];
    ck_assert_msg(journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    struct journal_producer *prod;
    ck_assert_int_eq(journal_producer_new(&jc, on_delivery, NULL, &prod, errstr, sizeof(errstr)),
                     TP_OK);

    /* before the follower: 5 values and a tombstone of one of them */
    struct produced before[] = {
        REC("alpha", "{\"n\":1}"), REC("bravo", "{\"n\":2}"), REC("charlie", "{\"n\":3}"),
        REC("delta", "{\"n\":4}"), REC("echo", "{\"n\":5}"),  REC("bravo", NULL),
    };
    size_t n_before = sizeof(before) / sizeof(before[0]);
    produce(prod, before, n_before);

    n_seen = 0;
    struct journal_follower *f;
    ck_assert_int_eq(journal_follower_start(&jc, st.topic, MAX_BYTES, on_record, NULL, &f, errstr,
                                            sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(journal_follower_wait_caught_up(f, 20000), TP_OK);
    ck_assert(journal_follower_caught_up(f));
    /* caught up means: every record produced before the start, exactly once, nothing else */
    pthread_mutex_lock(&mu);
    ck_assert_uint_eq(n_seen, n_before);
    pthread_mutex_unlock(&mu);
    ck_assert_uint_eq(journal_follower_records(f), n_before);
    for (size_t i = 0; i < n_before; i++)
        assert_seen(&before[i]);

    /* records produced later arrive; an oversized one without its value */
    char big[MAX_BYTES + 100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct produced later[] = {REC("foxtrot", "{\"n\":6}"), REC("alpha", NULL), REC("golf", big)};
    produce(prod, later, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(journal_follower_wait(f, later[i].partition, later[i].offset, 20000),
                         TP_OK);
    assert_seen(&later[0]);
    assert_seen(&later[1]);
    pthread_mutex_lock(&mu);
    ck_assert_uint_eq(n_seen, n_before + 3);
    const struct seen *g = seen_at(later[2].partition, later[2].offset);
    ck_assert(g != NULL);
    ck_assert(g->too_large);
    ck_assert(g->has_key);
    ck_assert_str_eq(g->key, "golf");
    ck_assert_str_eq(g->value, "");
    ck_assert_uint_eq(g->value_len, strlen(big));
    pthread_mutex_unlock(&mu);

    /* an offset not reached yet: the wait times out */
    ck_assert_int_eq(journal_follower_wait(f, later[0].partition, later[0].offset + 1000, 300),
                     TP_TIMEOUT);
    /* a partition the topic does not have: never passed */
    ck_assert_int_eq(journal_follower_wait(f, 7, 0, 100), TP_TIMEOUT);

    /* a second follower started now reads the same records from the beginning */
    journal_follower_free(f);
    n_seen = 0;
    ck_assert_int_eq(journal_follower_start(&jc, st.topic, MAX_BYTES, on_record, NULL, &f, errstr,
                                            sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(journal_follower_wait_caught_up(f, 20000), TP_OK);
    pthread_mutex_lock(&mu);
    ck_assert_uint_eq(n_seen, n_before + 3);
    pthread_mutex_unlock(&mu);
    for (size_t i = 0; i < n_before; i++)
        assert_seen(&before[i]);
    assert_seen(&later[0]);
    assert_seen(&later[1]);
    journal_follower_free(f);
    journal_producer_free(prod);
}
END_TEST

START_TEST(test_follow_topic_created_later)
{
    struct stack st;
    stack_init(&st, "followlate");
    struct journal_settings s = {.bootstrap_servers = st.bootstrap,
                                 .topic = st.topic,
                                 .partitions = 1,
                                 .replication = 1,
                                 .schema_id = 1};
    struct journal_config jc;
    journal_config_init(&jc, &s, NULL);
    jc.compact = true;
    char errstr[512];
    n_seen = 0;
    struct journal_follower *f;
    ck_assert_int_eq(journal_follower_start(&jc, st.topic, MAX_BYTES, on_record, NULL, &f, errstr,
                                            sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(journal_follower_wait_caught_up(f, 1500), TP_TIMEOUT);
    ck_assert(!journal_follower_caught_up(f));
    ck_assert_msg(journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    /* an empty topic: caught up as soon as it is found */
    ck_assert_int_eq(journal_follower_wait_caught_up(f, 20000), TP_OK);
    ck_assert_uint_eq(journal_follower_records(f), 0);

    struct journal_producer *prod;
    ck_assert_int_eq(journal_producer_new(&jc, on_delivery, NULL, &prod, errstr, sizeof(errstr)),
                     TP_OK);
    struct produced one[] = {REC("hotel", "{\"n\":8}")};
    produce(prod, one, 1);
    ck_assert_int_eq(journal_follower_wait(f, one[0].partition, one[0].offset, 20000), TP_OK);
    assert_seen(&one[0]);
    ck_assert_uint_eq(journal_follower_records(f), 1);
    journal_follower_free(f);
    journal_producer_free(prod);
}
END_TEST

static Suite *follow_suite(void)
{
    Suite *s = suite_create("follow");
    TCase *tc = tcase_create("follow");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_follow_compacted_topic);
    tcase_add_test(tc, test_follow_topic_created_later);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(follow_suite)
