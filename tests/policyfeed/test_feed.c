/* policyfeed/feed.c against the dev stack's Kafka: two policies topics followed into one
 * snapshot keyed by (topic, name); ready after the records produced before the start; a
 * later record, a tombstone and a refused record; an old snapshot unchanged after newer
 * ones; read-your-writes through policy_feed_wait. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "journal/journal.h"
#include "policyfeed/feed.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"

struct produced {
    int32_t partition;
    int64_t offset;
    enum tp_err err;
};

static void on_delivery(void *opaque, const struct journal_delivery *d, void *arg)
{
    (void)arg;
    struct produced *p = opaque;
    p->err = d->err;
    p->partition = d->partition;
    p->offset = d->offset;
}

/* Produces the record of policy `name` (a raw policy of one device, period every_ms) or,
 * value NULL, a tombstone; raw: the value as given. Returns where it landed. */
static struct produced produce(struct journal_producer *prod, const char *name, const char *device,
                               int64_t every_ms, int64_t revision, const char *raw, bool tombstone)
{
    struct produced out = {0};
    struct buf value;
    buf_init(&value, POLICY_RECORD_MAX);
    char errstr[512];
    if (raw) {
        buf_append_str(&value, raw);
    } else if (!tombstone) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"selector\":{\"device_ids\":[\"%s\"]},\"level\":\"raw\",\"report_every_ms\":"
                 "%lld,\"from\":\"2026-12-03T10:00:00Z\",\"until\":\"2126-12-03T11:00:00Z\"}",
                 device, (long long)every_ms);
        struct policy p;
        enum policy_error code;
        struct policy_limits lim = {.max_duration_ms = INT64_MAX};
        ck_assert_msg(policy_parse_body(body, strlen(body), name, &lim, 0, &p, &code, errstr,
                                        sizeof(errstr)) == TP_OK,
                      "%s", errstr);
        p.issued_at_ms = 1796291999993;
        p.revision = revision;
        ck_assert_int_eq(policy_record_write(&p, &value), TP_OK);
        policy_release(&p);
    }
    ck_assert_int_eq(journal_producer_append_record(prod, name, strlen(name),
                                                    tombstone ? NULL : value.data, value.len, &out,
                                                    errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(journal_producer_flush(prod, 15000), TP_OK);
    ck_assert_int_eq(out.err, TP_OK);
    buf_release(&value);
    return out;
}

static int64_t period_of(const struct policy_set *s, const char *topic, const char *name)
{
    const struct policy *p = policy_set_get(s, topic, name);
    return p ? p->report_every_ms : -1;
}

static atomic_int changes;

static void on_change(void *arg)
{
    (void)arg;
    atomic_fetch_add(&changes, 1);
}

START_TEST(test_feed_two_topics)
{
    struct stack st;
    stack_init(&st, "feed");
    char global_topic[128], local_topic[128];
    snprintf(global_topic, sizeof(global_topic), "%s.global", st.topic);
    snprintf(local_topic, sizeof(local_topic), "%s.local", st.topic);
    struct journal_settings s = {
        .bootstrap_servers = st.bootstrap, .partitions = 1, .replication = 1, .schema_id = 1};
    struct journal_config gc, lc;
    s.topic = global_topic;
    journal_config_init(&gc, &s, NULL);
    s.topic = local_topic;
    journal_config_init(&lc, &s, NULL);
    gc.compact = lc.compact = true;
    char errstr[512];
    ck_assert_msg(journal_topic_ensure(&gc, 15000, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    ck_assert_msg(journal_topic_ensure(&lc, 15000, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    struct journal_producer *gp, *lp;
    ck_assert_int_eq(journal_producer_new(&gc, on_delivery, NULL, &gp, errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(journal_producer_new(&lc, on_delivery, NULL, &lp, errstr, sizeof(errstr)),
                     TP_OK);

    /* before the start: trucks in both topics, a second revision, a deleted one, a bad one */
    produce(gp, "trucks", "veh-1", 1000, 1, NULL, false);
    produce(gp, "trucks", "veh-1", 2000, 2, NULL, false);
    produce(gp, "gone", "veh-2", 5000, 1, NULL, false);
    produce(gp, "gone", NULL, 0, 0, NULL, true);
    produce(lp, "trucks", "veh-3", 4000, 1, NULL, false);
    produce(lp, "broken", NULL, 0, 0, "{\"v\":2}", false);

    /* the config rows' form: "a, b" (the names are copied: the string may go) */
    char list[300];
    snprintf(list, sizeof(list), " %s ,%s", global_topic, local_topic);
    struct policy_feed_settings fs = {.topics = list, .max_active = 3};
    struct policy_feed *feed;
    ck_assert_int_eq(
        policy_feed_start_settings(&fs, &gc, on_change, NULL, &feed, errstr, sizeof(errstr)),
        TP_OK);
    memset(list, 0, sizeof(list));
    ck_assert_int_eq(policy_feed_wait_ready(feed, 20000), TP_OK);
    ck_assert(policy_feed_ready(feed));
    struct policy_snapshot *first = policy_feed_snapshot(feed);
    const struct policy_set *set = policy_snapshot_set(first);
    ck_assert_uint_eq(policy_set_count(set), 2);
    ck_assert_int_eq(period_of(set, global_topic, "trucks"), 2000);
    ck_assert_int_eq(policy_set_get(set, global_topic, "trucks")->revision, 2);
    ck_assert_int_eq(period_of(set, local_topic, "trucks"), 4000);
    ck_assert_int_eq(period_of(set, global_topic, "gone"), -1);
    ck_assert_int_eq(period_of(set, local_topic, "broken"), -1);
    /* 5 records applied (one snapshot each), the bad one refused */
    ck_assert_uint_eq(policy_snapshot_generation(first), 5);
    ck_assert_int_eq(atomic_load(&changes), 5);
    struct policy_feed_stats stats;
    policy_feed_stats(feed, &stats);
    ck_assert_uint_eq(stats.records, 6);
    ck_assert_uint_eq(stats.refused, 1);
    ck_assert_uint_eq(stats.generation, 5);
    ck_assert_uint_eq(stats.policies, 2);

    /* evaluation through the snapshot: both topics' trucks match their devices */
    struct policy_device d1 = {.id = "veh-1"}, d3 = {.id = "veh-3"};
    struct policy_effect eff;
    policy_set_evaluate(set, NULL, &d1, 1796292000000LL + 1, 3000, &eff, NULL, 0);
    ck_assert_int_eq(eff.report_every_ms, 2000);
    ck_assert_int_eq(eff.level, POLICY_LEVEL_RAW);
    policy_set_evaluate(set, NULL, &d3, 1796292000000LL + 1, 3000, &eff, NULL, 0);
    ck_assert_int_eq(eff.report_every_ms, 4000);

    /* later: a new policy (read-your-writes), then the local trucks deleted */
    struct produced w = produce(lp, "vans", "veh-4", 1500, 1, NULL, false);
    ck_assert_int_eq(policy_feed_wait(feed, local_topic, w.partition, w.offset, 20000), TP_OK);
    struct policy_snapshot *second = policy_feed_snapshot(feed);
    ck_assert_int_eq(period_of(policy_snapshot_set(second), local_topic, "vans"), 1500);
    ck_assert_uint_eq(policy_snapshot_generation(second), 6);
    w = produce(lp, "trucks", NULL, 0, 0, NULL, true);
    ck_assert_int_eq(policy_feed_wait(feed, local_topic, w.partition, w.offset, 20000), TP_OK);
    /* full (max_active 3): a fourth name is refused */
    w = produce(gp, "fourth", "veh-5", 1000, 1, NULL, false);
    w = produce(gp, "fifth", "veh-6", 1000, 1, NULL, false);
    ck_assert_int_eq(policy_feed_wait(feed, global_topic, w.partition, w.offset, 20000), TP_OK);
    struct policy_snapshot *third = policy_feed_snapshot(feed);
    set = policy_snapshot_set(third);
    ck_assert_uint_eq(policy_set_count(set), 3);
    ck_assert_int_eq(period_of(set, local_topic, "trucks"), -1);
    ck_assert_int_eq(period_of(set, global_topic, "fourth"), 1000);
    ck_assert_int_eq(period_of(set, global_topic, "fifth"), -1);
    policy_feed_stats(feed, &stats);
    ck_assert_uint_eq(stats.records, 10);
    ck_assert_uint_eq(stats.refused, 2);
    ck_assert_uint_eq(stats.generation, 8);
    /* the snapshots taken before are as they were */
    ck_assert_uint_eq(policy_set_count(policy_snapshot_set(first)), 2);
    ck_assert_int_eq(period_of(policy_snapshot_set(first), local_topic, "trucks"), 4000);
    ck_assert_int_eq(period_of(policy_snapshot_set(second), local_topic, "trucks"), 4000);
    ck_assert_int_eq(policy_feed_wait(feed, "not-followed", 0, 0, 10), TP_NOT_FOUND);

    /* a snapshot outlives its feed */
    policy_feed_free(feed);
    ck_assert_int_eq(period_of(policy_snapshot_set(third), global_topic, "trucks"), 2000);
    policy_snapshot_release(first);
    policy_snapshot_release(second);
    policy_snapshot_release(third);
    policy_snapshot_release(NULL);
    journal_producer_free(gp);
    journal_producer_free(lp);
}
END_TEST

START_TEST(test_feed_config_refused)
{
    struct journal_config jc = {.bootstrap_servers = "127.0.0.1:1"};
    const char *twice[] = {"policies", "policies"};
    struct policy_feed_config fc = {.kafka = &jc, .topics = twice, .n_topics = 2, .max_active = 1};
    struct policy_feed *feed = (struct policy_feed *)1;
    char errstr[256];
    ck_assert_int_eq(policy_feed_start(&fc, &feed, errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_str_eq(errstr, "policy topics: \"policies\" given twice");
    ck_assert_ptr_null(feed);
    fc.n_topics = 0;
    ck_assert_int_eq(policy_feed_start(&fc, &feed, errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_str_eq(errstr, "policy topics: 0 given, between 1 and 8 wanted");
    /* the settings' list */
    struct policy_feed_settings fs = {.topics = "a,,b", .max_active = 1};
    ck_assert_int_eq(
        policy_feed_start_settings(&fs, &jc, NULL, NULL, &feed, errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_str_eq(errstr, "policy.topics \"a,,b\": an empty topic name");
    fs.topics = "a, b ,a";
    ck_assert_int_eq(
        policy_feed_start_settings(&fs, &jc, NULL, NULL, &feed, errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_str_eq(errstr, "policy topics: \"a\" given twice");
    fs.topics = "a,b,c,d,e,f,g,h,i";
    ck_assert_int_eq(
        policy_feed_start_settings(&fs, &jc, NULL, NULL, &feed, errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_str_eq(errstr, "policy.topics \"a,b,c,d,e,f,g,h,i\": more than 8 topics");
    fs.topics = "";
    ck_assert_int_eq(
        policy_feed_start_settings(&fs, &jc, NULL, NULL, &feed, errstr, sizeof(errstr)), TP_CONFIG);
    ck_assert_str_eq(errstr, "policy.topics \"\": an empty topic name");
    ck_assert_ptr_null(feed);
    policy_feed_free(NULL);
}
END_TEST

static Suite *feed_suite(void)
{
    Suite *s = suite_create("feed");
    TCase *tc = tcase_create("feed");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_feed_two_topics);
    tcase_add_test(tc, test_feed_config_refused);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(feed_suite)
