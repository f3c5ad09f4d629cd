/* journal/producer.c's journal_producer_dead_letter_raw: bytes that never were an event (an
 * MQTT payload that does not decode) land in the dead-letter topic as given, with the reason,
 * the client id and the other headers, read back exactly with a plain librdkafka consumer.
 * Built twice: test_dead_letter against the dev stack's Kafka (integration), and with
 * TP_DLQ_MOCK test_dead_letter_mock against librdkafka's mock cluster in this process (unit:
 * no broker needed). */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"

struct reports {
    int n;
    struct journal_delivery d[4];
    void *opaque[4];
};

static void on_delivery(void *opaque, const struct journal_delivery *d, void *arg)
{
    struct reports *r = arg;
    ck_assert_int_lt(r->n, 4);
    r->d[r->n] = *d;
    r->d[r->n].errstr = NULL; /* not kept past the callback */
    r->opaque[r->n++] = opaque;
}

/* The record at partition/offset of topic, through librdkafka itself: the caller destroys
 * it, then the consumer *rkp with done_reading. */
static rd_kafka_message_t *read_record(const char *bootstrap, const char *topic, int32_t partition,
                                       int64_t offset, rd_kafka_t **rkp)
{
    char kerr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, kerr, sizeof(kerr)),
                     RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "group.id", "tp-test-dead-letter", kerr, sizeof(kerr)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
    ck_assert_msg(rk != NULL, "%s", kerr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, partition)->offset = offset;
    ck_assert_int_eq(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_message_t *got = NULL;
    for (int i = 0; i < 150 && !got; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        got = m;
    }
    ck_assert_msg(got != NULL, "no record at %s %d/%lld within 15 s", topic, (int)partition,
                  (long long)offset);
    *rkp = rk;
    return got;
}

/* After the message is destroyed: a handle waits for its messages. */
static void done_reading(rd_kafka_t *rk)
{
    rd_kafka_assign(rk, NULL);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* Every header of m, in order, against names[i]=values[i]. */
static void expect_headers(const rd_kafka_message_t *m, const char *const *names,
                           const char *const *values, size_t n)
{
    rd_kafka_headers_t *h = NULL;
    ck_assert_int_eq(rd_kafka_message_headers(m, &h), RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_uint_eq(rd_kafka_header_cnt(h), n);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *v;
        size_t vlen;
        ck_assert_int_eq(rd_kafka_header_get_all(h, i, &name, &v, &vlen),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        ck_assert_str_eq(name, names[i]);
        ck_assert_msg(vlen == strlen(values[i]) && !memcmp(v, values[i], vlen),
                      "header %s: \"%.*s\", expected \"%s\"", name, (int)vlen, (const char *)v,
                      values[i]);
    }
}

/* Where the test's topics live. */
struct broker {
    struct stack st;
    char bootstrap[256];
    char topic[96];
    char dlq[160];
    rd_kafka_t *host; /* TP_DLQ_MOCK: the handle that hosts the mock cluster */
    rd_kafka_mock_cluster_t *mc;
};

/* Topic and dead-letter topic (2 partitions each) on the dev stack or the mock cluster. */
static void broker_start(struct broker *b, const char *name, bool with_dlq)
{
    char errstr[512];
    memset(b, 0, sizeof(*b));
#ifdef TP_DLQ_MOCK
    b->host = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr, sizeof(errstr));
    ck_assert_msg(b->host != NULL, "%s", errstr);
    b->mc = rd_kafka_mock_cluster_new(b->host, 1);
    ck_assert_ptr_nonnull(b->mc);
    snprintf(b->bootstrap, sizeof(b->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(b->mc));
    snprintf(b->topic, sizeof(b->topic), "tp-mock-%s", name);
    snprintf(b->dlq, sizeof(b->dlq), "%s.dlq", b->topic);
    ck_assert_int_eq(rd_kafka_mock_topic_create(b->mc, b->topic, 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    if (with_dlq)
        ck_assert_int_eq(rd_kafka_mock_topic_create(b->mc, b->dlq, 2, 1),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
#else
    stack_init(&b->st, name);
    snprintf(b->bootstrap, sizeof(b->bootstrap), "%s", b->st.bootstrap);
    snprintf(b->topic, sizeof(b->topic), "%s", b->st.topic);
    snprintf(b->dlq, sizeof(b->dlq), "%s.dlq", b->topic);
    struct journal_config jc = {
        .bootstrap_servers = b->bootstrap, .topic = b->topic, .partitions = 2, .replication = 1};
    ck_assert_msg(journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    if (with_dlq)
        ck_assert_msg(journal_dlq_topic_ensure(&jc, b->dlq, 15000, errstr, sizeof(errstr)) == TP_OK,
                      "%s", errstr);
#endif
}

static void broker_stop(struct broker *b)
{
    if (b->mc)
        rd_kafka_mock_cluster_destroy(b->mc);
    if (b->host)
        rd_kafka_destroy(b->host);
#ifndef TP_DLQ_MOCK
    stack_release(&b->st);
#endif
}

START_TEST(test_dead_letter_raw_read_back)
{
    struct broker b;
    broker_start(&b, "deadraw", true);
    char errstr[512];
    struct journal_config jc = {.bootstrap_servers = b.bootstrap,
                                .topic = b.topic,
                                .partitions = 2,
                                .replication = 1,
                                .schema_id = 1,
                                .dlq_topic = b.dlq};
    struct reports rep = {0};
    struct journal_producer *p;
    ck_assert_msg(journal_producer_new(&jc, on_delivery, &rep, &p, errstr, sizeof(errstr)) == TP_OK,
                  "%s", errstr);

    /* a payload that is no protobuf, bytes 0x00 and 0xff included */
    static const uint8_t payload[] = {0x00, 0xff, 0x0a, 0x03, 'v', 'e', 'h', 0x00, 0x80, 0x01};
    const struct journal_header hs[] = {{"tp-client-id", "meter-7:a"},
                                        {"tp-mqtt-topic", "twinpipe/v1/veh-1/telemetry"},
                                        {"tp-transport", "mqtt"}};
    int op1, op2;
    ck_assert_int_eq(journal_producer_dead_letter_raw(
                         p, "veh-1", payload, sizeof(payload), "invalid_protobuf",
                         "the payload is not a ReadingBatch", hs, 3, &op1, errstr, sizeof(errstr)),
                     TP_OK);
    /* no key, no detail, no extra header */
    ck_assert_int_eq(journal_producer_dead_letter_raw(p, NULL, "x", 1, "empty_batch", NULL, NULL, 0,
                                                      &op2, errstr, sizeof(errstr)),
                     TP_OK);
    /* bounded: one header too many is refused before anything is enqueued */
    struct journal_header many[JOURNAL_DLQ_HEADERS_MAX + 1];
    for (size_t i = 0; i <= JOURNAL_DLQ_HEADERS_MAX; i++)
        many[i] = (struct journal_header){"tp-x", "y"};
    ck_assert_int_eq(journal_producer_dead_letter_raw(p, "k", "x", 1, "r", NULL, many,
                                                      JOURNAL_DLQ_HEADERS_MAX + 1, &op2, errstr,
                                                      sizeof(errstr)),
                     TP_INVALID_ARG);
    ck_assert_str_eq(errstr, "9 dead-letter headers given, at most 8");
    ck_assert_int_eq(journal_producer_flush(p, 15000), TP_OK);
    ck_assert_int_eq(journal_producer_poll(p, 0), 0);
    ck_assert_int_eq(rep.n, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(rep.d[i].err, TP_OK);
        ck_assert(rep.d[i].dead_lettered);
        ck_assert_int_ge(rep.d[i].offset, 0);
    }
    /* each report carries its own opaque (the two keys may land on different partitions, so
     * their reports may come in either order) */
    ck_assert((rep.opaque[0] == &op1 && rep.opaque[1] == &op2) ||
              (rep.opaque[0] == &op2 && rep.opaque[1] == &op1));
    struct journal_delivery d1 = rep.opaque[0] == &op1 ? rep.d[0] : rep.d[1];
    struct journal_delivery d2 = rep.opaque[0] == &op1 ? rep.d[1] : rep.d[0];
    journal_producer_free(p);

    char origin[160], host[64] = "unknown";
    gethostname(host, sizeof(host) - 1);
    snprintf(origin, sizeof(origin), "%s@%s:%d", log_component_name(), host, (int)getpid());

    rd_kafka_t *rk;
    rd_kafka_message_t *m = read_record(b.bootstrap, b.dlq, d1.partition, d1.offset, &rk);
    ck_assert_int_eq(m->offset, d1.offset);
    ck_assert_uint_eq(m->len, sizeof(payload));
    ck_assert(!memcmp(m->payload, payload, sizeof(payload)));
    ck_assert_uint_eq(m->key_len, 5);
    ck_assert(!memcmp(m->key, "veh-1", 5));
    static const char *const names1[] = {"tp-reason",    "tp-detail",     "tp-origin",   "tp-topic",
                                         "tp-client-id", "tp-mqtt-topic", "tp-transport"};
    const char *values1[] = {
        "invalid_protobuf", "the payload is not a ReadingBatch", origin, b.topic,
        "meter-7:a",        "twinpipe/v1/veh-1/telemetry",       "mqtt"};
    expect_headers(m, names1, values1, 7);
    rd_kafka_message_destroy(m);
    done_reading(rk);

    m = read_record(b.bootstrap, b.dlq, d2.partition, d2.offset, &rk);
    ck_assert_uint_eq(m->len, 1);
    ck_assert_int_eq(((const char *)m->payload)[0], 'x');
    ck_assert_ptr_null(m->key);
    static const char *const names2[] = {"tp-reason", "tp-detail", "tp-origin", "tp-topic"};
    const char *values2[] = {"empty_batch", "", origin, b.topic};
    expect_headers(m, names2, values2, 4);
    rd_kafka_message_destroy(m);
    done_reading(rk);
    broker_stop(&b);
}
END_TEST

START_TEST(test_dead_letter_raw_needs_a_topic)
{
    struct broker b;
    broker_start(&b, "deadraw2", false);
    char errstr[256];
    struct journal_config jc = {
        .bootstrap_servers = b.bootstrap, .topic = b.topic, .partitions = 1, .replication = 1};
    struct reports rep = {0};
    struct journal_producer *p;
    ck_assert_int_eq(journal_producer_new(&jc, on_delivery, &rep, &p, errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(journal_producer_dead_letter_raw(p, "k", "x", 1, "invalid_protobuf", NULL,
                                                      NULL, 0, NULL, errstr, sizeof(errstr)),
                     TP_CONFIG);
    ck_assert_str_eq(errstr, "no dead-letter topic");
    ck_assert_int_eq(journal_producer_outstanding(p), 0);
    journal_producer_free(p);
    ck_assert_int_eq(rep.n, 0);
    broker_stop(&b);
}
END_TEST

static Suite *dead_letter_suite(void)
{
    Suite *s = suite_create("dead_letter");
    TCase *tc = tcase_create("raw");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_dead_letter_raw_read_back);
    tcase_add_test(tc, test_dead_letter_raw_needs_a_topic);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(dead_letter_suite)
