/* tp-forward against the dev stack's Kafka (integration). Unique topics per run: the
 * journal (4 partitions), a compacted policies topic and the detail topic.
 *
 * exact: readings of trucks and cars journaled in three phases (before `from`, inside
 * [from, until), after `until`), some trucks' readings without attributes (matched through
 * the attribute cache), two with a header, and policies: trucks raw for this site in the
 * window, cars raw for another site only, cars at level aggregates, trucks raw in windows
 * before and after. All of it is in Kafka before tp-forward starts (so it must read the
 * policies before consuming). The detail topic then holds exactly the trucks' readings whose
 * journal time is in [from, until), each once, byte for byte as journaled (key, value,
 * headers, timestamp); the metrics count them; SIGTERM commits the group's offsets to the
 * end of the journal.
 *
 * kill: readings journaled every 50 ms while tp-forward runs; it is killed with SIGKILL in
 * the middle of the policy's window and started again a second later. Every truck reading
 * of the window is in the detail topic, no other reading is, and a reading is there twice
 * only if it was journaled before the kill (counted and printed).
 *
 * refused: the detail topic refuses one truck reading (larger than its max.message.bytes).
 * Its partition is read again from it after each failure, its offset never committed past,
 * until the topic accepts it (AlterConfigs): then every reading of the window is there. */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"
#include "journal/journal.h"
#include "policy/policy.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"
#include "tests/support/workload.h"

#define PARTS  4
#define REGION "region-a"

/* ---- records read back with librdkafka itself ---- */

struct rec {
    int32_t partition;
    int64_t offset;
    int64_t ts;
    char key[64];
    uint8_t *value;
    size_t len;
    char headers[160]; /* "name=value;" per header, in order */
    char device[64];
    int64_t seq;
};

struct recs {
    struct rec *v;
    size_t n, cap;
};

static void recs_release(struct recs *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].value);
    free(r->v);
    *r = (struct recs){0};
}

static rd_kafka_t *test_kafka(const char *bootstrap, rd_kafka_type_t type, const char *group)
{
    char kerr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, kerr, sizeof(kerr)),
                     RD_KAFKA_CONF_OK);
    if (group)
        ck_assert_int_eq(rd_kafka_conf_set(conf, "group.id", group, kerr, sizeof(kerr)),
                         RD_KAFKA_CONF_OK);
    if (type == RD_KAFKA_PRODUCER) /* the journal producer's, so a device keeps its partition */
        ck_assert_int_eq(
            rd_kafka_conf_set(conf, "partitioner", "murmur2_random", kerr, sizeof(kerr)),
            RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(type, conf, kerr, sizeof(kerr));
    ck_assert_msg(rk != NULL, "%s", kerr);
    return rk;
}

/* Every record of topic up to the high watermarks seen at the call, decoded. */
static void read_all(const char *bootstrap, const char *topic, struct recs *out)
{
    rd_kafka_t *rk = test_kafka(bootstrap, RD_KAFKA_CONSUMER, "tp-test-forward-reader");
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTS);
    int64_t want = 0;
    for (int32_t p = 0; p < PARTS; p++) {
        int64_t lo, hi;
        ck_assert_int_eq(rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        want += hi - lo;
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = lo;
    }
    ck_assert_int_eq(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    *out = (struct recs){0};
    for (int64_t end = tp_mono_ms() + 60000; (int64_t)out->n < want && tp_mono_ms() < end;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 256;
            out->v = tp_realloc(out->v, out->cap * sizeof(*out->v));
        }
        struct rec *r = &out->v[out->n++];
        memset(r, 0, sizeof(*r));
        r->partition = m->partition;
        r->offset = m->offset;
        rd_kafka_timestamp_type_t tstype;
        r->ts = rd_kafka_message_timestamp(m, &tstype);
        snprintf(r->key, sizeof(r->key), "%.*s", (int)m->key_len, (const char *)m->key);
        r->value = tp_malloc(m->len ? m->len : 1);
        memcpy(r->value, m->payload, m->len);
        r->len = m->len;
        rd_kafka_headers_t *h = NULL;
        if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char *name;
            const void *v;
            size_t vlen;
            for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &v, &vlen) == 0; i++) {
                size_t at = strlen(r->headers);
                snprintf(r->headers + at, sizeof(r->headers) - at, "%s=%.*s;", name, (int)vlen,
                         (const char *)v);
            }
        }
        int32_t schema_id;
        journal_reading *reading = NULL;
        char errstr[256];
        ck_assert_msg(journal_event_unpack(m->payload, m->len, &schema_id, &reading, errstr,
                                           sizeof(errstr)) == TP_OK,
                      "%s", errstr);
        snprintf(r->device, sizeof(r->device), "%s", reading->device_id);
        r->seq = (int64_t)reading->sequence;
        journal_reading_free(reading);
        rd_kafka_message_destroy(m);
    }
    ck_assert_msg((int64_t)out->n == want, "read %zu records of \"%s\", %lld expected", out->n,
                  topic, (long long)want);
    rd_kafka_assign(rk, NULL);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static bool is_truck(const struct rec *r)
{
    return strncmp(r->device, "truck-", 6) == 0;
}

/* The journal's truck readings with a journal time in [from, until). */
static void expected_of(const struct recs *journal, int64_t from, int64_t until, struct recs *out)
{
    *out = (struct recs){0};
    out->v = tp_calloc(journal->n ? journal->n : 1, sizeof(*out->v));
    for (size_t i = 0; i < journal->n; i++)
        if (is_truck(&journal->v[i]) && journal->v[i].ts >= from && journal->v[i].ts < until) {
            out->v[out->n] = journal->v[i];
            out->v[out->n].value = NULL; /* borrowed: compared through the journal's */
            out->n++;
        }
}

static const struct rec *find(const struct recs *rs, const char *device, int64_t seq)
{
    for (size_t i = 0; i < rs->n; i++)
        if (rs->v[i].seq == seq && strcmp(rs->v[i].device, device) == 0)
            return &rs->v[i];
    return NULL;
}

/* How many times (device, seq) is in rs. */
static int count_of(const struct recs *rs, const char *device, int64_t seq)
{
    int n = 0;
    for (size_t i = 0; i < rs->n; i++)
        n += rs->v[i].seq == seq && strcmp(rs->v[i].device, device) == 0;
    return n;
}

/* ---- producing readings and policies ---- */

struct acks {
    int ok, failed;
};

static void on_delivery(void *opaque, const struct journal_delivery *d, void *arg)
{
    (void)opaque;
    struct acks *a = arg;
    if (d->err == TP_OK)
        a->ok++;
    else
        a->failed++;
}

/* One reading per device: trucks truck-00.. and cars car-00.., sequence round + 1. A truck
 * omits its attributes when round % 3 == 1 (the cache has them from its earlier readings). */
static void produce_round(struct journal_producer *p, int round, int trucks, int cars)
{
    char errstr[256], id[32];
    for (int i = 0; i < trucks + cars; i++) {
        bool truck = i < trucks;
        snprintf(id, sizeof(id), truck ? "truck-%02d" : "car-%02d", truck ? i : i - trucks);
        journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
        r.device_id = id;
        r.has_sequence = r.has_timestamp_ms = r.has_speed_kmh = 1;
        r.sequence = (uint64_t)round + 1;
        r.timestamp_ms = tp_now_ms();
        r.speed_kmh = round;
        if (!truck || round % 3 != 1) {
            r.model = truck ? "tp-truck" : "tp-car";
            r.firmware = "2.1.7";
        }
        ck_assert_int_eq(journal_producer_append(p, &r, NULL, errstr, sizeof(errstr)), TP_OK);
    }
    journal_producer_poll(p, 0);
}

/* A reading of device with sequence seq and a header "tp-test: <tag>", produced with
 * librdkafka directly (the journal producer writes no headers) as framed event bytes. */
static void produce_with_header(rd_kafka_t *rk, const char *topic, const char *device,
                                const char *model, int64_t seq, const char *tag)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = (char *)device;
    r.has_sequence = r.has_timestamp_ms = 1;
    r.sequence = (uint64_t)seq;
    r.timestamp_ms = tp_now_ms();
    r.model = (char *)model;
    size_t len;
    uint8_t *v = journal_event_pack(&r, 1, &len);
    ck_assert_int_eq(
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE(v, len), RD_KAFKA_V_KEY(device, strlen(device)),
                          RD_KAFKA_V_HEADER("tp-test", tag, -1), RD_KAFKA_V_END),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    free(v);
    ck_assert_int_eq(rd_kafka_flush(rk, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* The record of a policy on attribute model = model, at level, for sites (NULL: every
 * site), active in [from, until). */
static void produce_policy(struct journal_producer *p, const char *name, const char *model,
                           const char *level, const char *site, int64_t from, int64_t until)
{
    char f[40], u[40], body[512], errstr[512];
    policy_time_format(from, f, sizeof(f));
    policy_time_format(until, u, sizeof(u));
    char sites[96] = "";
    if (site)
        snprintf(sites, sizeof(sites), ",\"sites\":[\"%s\"]", site);
    snprintf(body, sizeof(body),
             "{\"selector\":{\"attributes\":{\"model\":{\"eq\":\"%s\"}}%s},\"level\":\"%s\","
             "\"from\":\"%s\",\"until\":\"%s\"}",
             model, sites, level, f, u);
    struct policy pol;
    enum policy_error code;
    struct policy_limits lim = {.max_duration_ms = INT64_MAX};
    ck_assert_msg(policy_parse_body(body, strlen(body), name, &lim, 0, &pol, &code, errstr,
                                    sizeof(errstr)) == TP_OK,
                  "%s", errstr);
    pol.issued_at_ms = tp_now_ms();
    pol.revision = 1;
    struct buf value;
    buf_init(&value, POLICY_RECORD_MAX);
    ck_assert_int_eq(policy_record_write(&pol, &value), TP_OK);
    policy_release(&pol);
    ck_assert_int_eq(journal_producer_append_record(p, name, strlen(name), value.data, value.len,
                                                    NULL, errstr, sizeof(errstr)),
                     TP_OK);
    buf_release(&value);
}

struct topics {
    struct stack st;
    char policies[160], detail[160], group[160];
    struct journal_settings js;
    struct journal_config journal, pol;
    struct acks acks, pol_acks;
    struct journal_producer *jp, *pp;
    char env[7][256];
    const char *extra[8];
};

static void topics_init(struct topics *t, const char *name, int commit_ms)
{
    memset(t, 0, sizeof(*t));
    stack_init(&t->st, name);
    snprintf(t->policies, sizeof(t->policies), "%s.policies", t->st.topic);
    snprintf(t->detail, sizeof(t->detail), "%s.detail", t->st.topic);
    snprintf(t->group, sizeof(t->group), "%s.forward", t->st.topic);
    t->js = (struct journal_settings){.bootstrap_servers = t->st.bootstrap,
                                      .topic = t->st.topic,
                                      .partitions = PARTS,
                                      .replication = 1,
                                      .schema_id = 1};
    journal_config_init(&t->journal, &t->js, NULL);
    t->pol = t->journal;
    t->pol.topic = t->policies;
    t->pol.partitions = 1;
    t->pol.compact = true;
    char errstr[512];
    ck_assert_msg(journal_topic_ensure(&t->journal, 15000, errstr, sizeof(errstr)) == TP_OK, "%s",
                  errstr);
    ck_assert_msg(journal_topic_ensure(&t->pol, 15000, errstr, sizeof(errstr)) == TP_OK, "%s",
                  errstr);
    ck_assert_int_eq(
        journal_producer_new(&t->journal, on_delivery, &t->acks, &t->jp, errstr, sizeof(errstr)),
        TP_OK);
    ck_assert_int_eq(
        journal_producer_new(&t->pol, on_delivery, &t->pol_acks, &t->pp, errstr, sizeof(errstr)),
        TP_OK);
    snprintf(t->env[0], sizeof(t->env[0]), "TP_FORWARD_TOPIC=%s", t->detail);
    snprintf(t->env[1], sizeof(t->env[1]), "TP_FORWARD_GROUP=%s", t->group);
    snprintf(t->env[2], sizeof(t->env[2]), "TP_POLICY_TOPICS=%s", t->policies);
    snprintf(t->env[3], sizeof(t->env[3]), "TP_SITE_REGION=%s", REGION);
    snprintf(t->env[4], sizeof(t->env[4]), "TP_JOURNAL_PARTITIONS=%d", PARTS);
    snprintf(t->env[5], sizeof(t->env[5]), "TP_FORWARD_COMMIT_INTERVAL_MS=%d", commit_ms);
    /* a killed member's partitions move after its session times out (librdkafka: 45 s) */
    snprintf(t->env[6], sizeof(t->env[6]), "TP_KAFKA_SESSION_TIMEOUT_MS=6000");
    for (int i = 0; i < 7; i++)
        t->extra[i] = t->env[i];
    t->extra[7] = NULL;
}

static void topics_flush(struct topics *t)
{
    ck_assert_int_eq(journal_producer_flush(t->jp, 15000), TP_OK);
    ck_assert_int_eq(journal_producer_flush(t->pp, 15000), TP_OK);
    ck_assert_int_eq(t->acks.failed, 0);
    ck_assert_int_eq(t->pol_acks.failed, 0);
}

static void topics_release(struct topics *t)
{
    journal_producer_free(t->jp);
    journal_producer_free(t->pp);
}

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* The sum of tp_forward_lag_events over its partitions (-1: not every partition reported). */
static double forward_lag(uint16_t port)
{
    char url[96];
    struct buf resp;
    buf_init(&resp, 1 << 20);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, &resp), 200);
    double sum = 0;
    int lines = 0;
    for (const char *at = resp.data; (at = strstr(at, "\ntp_forward_lag_events{")) != NULL;) {
        at = strchr(at, '}');
        sum += strtod(at + 1, NULL);
        lines++;
    }
    buf_release(&resp);
    return lines == PARTS ? sum : -1;
}

/* Waits (120 s) until tp-forward consumed the whole journal and nothing is in flight. */
static void wait_consumed(uint16_t port, pid_t pid, const struct stack *st)
{
    for (int i = 0; i < 1200; i++) {
        workload_assert_alive(st, pid);
        if (forward_lag(port) == 0 && workload_metric(port, "tp_forward_in_flight") == 0)
            return;
        sleep_ms(100);
    }
    ck_abort_msg("tp-forward did not consume the journal within 120 s");
}

/* The group's committed offsets equal the journal's end, every partition. */
static void assert_committed_at_end(const struct topics *t)
{
    rd_kafka_t *rk = test_kafka(t->st.bootstrap, RD_KAFKA_CONSUMER, t->group);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTS);
    for (int32_t p = 0; p < PARTS; p++)
        rd_kafka_topic_partition_list_add(parts, t->st.topic, p);
    ck_assert_int_eq(rd_kafka_committed(rk, parts, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int32_t p = 0; p < PARTS; p++) {
        int64_t lo, hi;
        ck_assert_int_eq(rd_kafka_query_watermark_offsets(rk, t->st.topic, p, &lo, &hi, 10000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        ck_assert_int_eq(parts->elems[p].offset, hi);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
}

START_TEST(test_forward_exact)
{
    struct topics t;
    topics_init(&t, "forward", 1000);
    rd_kafka_t *raw = test_kafka(t.st.bootstrap, RD_KAFKA_PRODUCER, NULL);
    const int trucks = 6, cars = 6;
    /* phase A: before from */
    for (int round = 0; round < 3; round++)
        produce_round(t.jp, round, trucks, cars);
    topics_flush(&t);
    sleep_ms(20);
    int64_t from = tp_now_ms();
    sleep_ms(20);
    /* phase B: inside [from, until), with two readings carrying a header */
    for (int round = 3; round < 7; round++) {
        produce_round(t.jp, round, trucks, cars);
        if (round == 4) {
            topics_flush(&t);
            produce_with_header(raw, t.st.topic, "truck-00", "tp-truck", 100, "t-100");
            produce_with_header(raw, t.st.topic, "car-00", "tp-car", 100, "c-100");
        }
    }
    topics_flush(&t);
    sleep_ms(20);
    int64_t until = tp_now_ms();
    sleep_ms(20);
    /* phase C: after until */
    for (int round = 7; round < 10; round++)
        produce_round(t.jp, round, trucks, cars);
    topics_flush(&t);
    rd_kafka_destroy(raw);
    const int64_t hour = 3600 * 1000;
    produce_policy(t.pp, "trucks", "tp-truck", "raw", REGION, from, until);
    produce_policy(t.pp, "cars-elsewhere", "tp-car", "raw", "region-b", from - hour, until + hour);
    produce_policy(t.pp, "cars-aggregates", "tp-car", "aggregates", NULL, from - hour,
                   until + hour);
    produce_policy(t.pp, "trucks-before", "tp-truck", "raw", NULL, from - 2 * hour, from - hour);
    produce_policy(t.pp, "trucks-after", "tp-truck", "raw", NULL, until + hour, until + 2 * hour);
    topics_flush(&t);

    /* what the journal holds: the expected set by journal time */
    struct recs journal, expect, detail;
    read_all(t.st.bootstrap, t.st.topic, &journal);
    ck_assert_uint_eq(journal.n, 10 * (trucks + cars) + 2);
    expected_of(&journal, from, until, &expect);
    ck_assert_uint_eq(expect.n, 4 * trucks + 1); /* phase B's trucks, header one included */

    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&t.st, "tp-forward", t.extra, port);
    wait_consumed(port, pid, &t.st);
    read_all(t.st.bootstrap, t.detail, &detail);
    ck_assert_uint_eq(detail.n, expect.n);
    for (size_t i = 0; i < detail.n; i++) {
        const struct rec *d = &detail.v[i];
        ck_assert_msg(find(&expect, d->device, d->seq) != NULL,
                      "%s/%lld in the detail topic, not expected", d->device, (long long)d->seq);
        ck_assert_int_eq(count_of(&detail, d->device, d->seq), 1);
        const struct rec *j = find(&journal, d->device, d->seq);
        ck_assert_str_eq(d->key, j->key);
        ck_assert_uint_eq(d->len, j->len);
        ck_assert_int_eq(memcmp(d->value, j->value, d->len), 0);
        ck_assert_int_eq(d->ts, j->ts);
        ck_assert_str_eq(d->headers, j->headers);
    }
    const struct rec *h = find(&detail, "truck-00", 100);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(h->headers, "tp-test=t-100;");
    ck_assert_ptr_null(find(&detail, "car-00", 100));
    /* a truck reading without attributes, matched through the cache */
    ck_assert_ptr_nonnull(find(&detail, "truck-03", 5)); /* round 4 */

    ck_assert_double_eq(workload_metric(port, "tp_forward_events_total"), (double)journal.n);
    ck_assert_double_eq(workload_metric(port, "tp_forward_forwarded_total"), (double)expect.n);
    ck_assert_double_eq(workload_metric(port, "tp_forward_skipped_total"),
                        (double)(journal.n - expect.n));
    ck_assert_double_eq(workload_metric(port, "tp_forward_failed_total"), 0);
    ck_assert_double_eq(workload_metric(port, "tp_forward_policies"), 5);
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, NULL), 200);
    int status = stack_service_stop(pid, SIGTERM);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_committed_at_end(&t);

    recs_release(&detail);
    free(expect.v);
    recs_release(&journal);
    topics_release(&t);
}
END_TEST

START_TEST(test_forward_kill)
{
    struct topics t;
    topics_init(&t, "fwdkill", 2000); /* commits at about t0 + 2, 4, 6 s: killed at 5 s */
    uint16_t port = stack_free_port();
    /* the policies topic is empty at the start: the feed is ready at once */
    pid_t pid = stack_service_start(&t.st, "tp-forward", t.extra, port);
    int64_t t0 = tp_now_ms();
    int64_t from = t0 + 1500, until = t0 + 8500;
    produce_policy(t.pp, "trucks", "tp-truck", "raw", NULL, from, until);
    topics_flush(&t);
    const int trucks = 5, cars = 5;
    int64_t kill_ms = 0;
    bool restarted = false;
    for (int round = 0; tp_now_ms() < t0 + 11000; round++) {
        produce_round(t.jp, round, trucks, cars);
        int64_t now = tp_now_ms();
        if (!kill_ms && now >= t0 + 5000) { /* between two commits */
            ck_assert_double_gt(workload_metric(port, "tp_forward_forwarded_total"), 0);
            kill_ms = tp_now_ms();
            stack_service_stop(pid, SIGKILL);
        }
        if (kill_ms && !restarted && now >= t0 + 6000) {
            pid = stack_service_start(&t.st, "tp-forward", t.extra, port);
            restarted = true;
        }
        sleep_ms(50);
    }
    topics_flush(&t);
    ck_assert(restarted);
    wait_consumed(port, pid, &t.st);

    struct recs journal, expect, detail;
    read_all(t.st.bootstrap, t.st.topic, &journal);
    expected_of(&journal, from, until, &expect);
    size_t before_kill = 0;
    for (size_t i = 0; i < expect.n; i++)
        before_kill += expect.v[i].ts < kill_ms;
    /* the window spans the kill: forwarded by both processes */
    ck_assert_uint_gt(before_kill, 50);
    ck_assert_uint_gt(expect.n - before_kill, 50);
    read_all(t.st.bootstrap, t.detail, &detail);
    for (size_t i = 0; i < expect.n; i++)
        ck_assert_msg(find(&detail, expect.v[i].device, expect.v[i].seq) != NULL,
                      "%s/%lld (journal time %lld) lost", expect.v[i].device,
                      (long long)expect.v[i].seq, (long long)expect.v[i].ts);
    size_t duplicated = 0; /* readings there more than once */
    for (size_t i = 0; i < detail.n; i++) {
        const struct rec *d = &detail.v[i];
        ck_assert_msg(find(&expect, d->device, d->seq) != NULL,
                      "%s/%lld in the detail topic, not expected", d->device, (long long)d->seq);
        int n = count_of(&detail, d->device, d->seq);
        if (n > 1) {
            ck_assert_msg(d->ts < kill_ms,
                          "%s/%lld forwarded %d times, journaled %lld ms after the kill", d->device,
                          (long long)d->seq, n, (long long)(d->ts - kill_ms));
            if (find(&detail, d->device, d->seq) == d) /* counted at its first copy */
                duplicated++;
        }
    }
    fprintf(stderr,
            "test_forward_kill: %zu truck readings in the window (%zu journaled before the "
            "kill), %zu records in the detail topic: %zu extra copies of %zu readings, all "
            "journaled before the kill\n",
            expect.n, before_kill, detail.n, detail.n - expect.n, duplicated);
    /* the restarted one read events before its committed offsets for the attribute cache */
    ck_assert_double_gt(workload_metric(port, "tp_forward_warmup_events_total"), 0);
    int status = stack_service_stop(pid, SIGTERM);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_committed_at_end(&t);

    recs_release(&detail);
    free(expect.v);
    recs_release(&journal);
    topics_release(&t);
}
END_TEST

/* A truck reading of ~30 KB of metrics that do not compress (random names and values). */
static void produce_big(struct journal_producer *p, const char *device, int64_t seq)
{
    enum { N = 1000 };
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = (char *)device;
    r.has_sequence = r.has_timestamp_ms = 1;
    r.sequence = (uint64_t)seq;
    r.timestamp_ms = tp_now_ms();
    r.model = "tp-truck";
    Twinpipe__Telemetry__V1__Reading__MetricsEntry entries[N], *ptrs[N];
    char names[N][20];
    unsigned seed = 42;
    for (int i = 0; i < N; i++) {
        Twinpipe__Telemetry__V1__Reading__MetricsEntry e =
            TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
        for (int k = 0; k < 16; k++)
            names[i][k] = "abcdefghijklmnopqrstuvwxyz0123456789"[rand_r(&seed) % 36];
        names[i][16] = '\0';
        e.key = names[i];
        e.has_value = 1;
        e.value = (double)rand_r(&seed) / 7.0;
        entries[i] = e;
        ptrs[i] = &entries[i];
    }
    r.n_metrics = N;
    r.metrics = ptrs;
    char errstr[256];
    ck_assert_int_eq(journal_producer_append(p, &r, NULL, errstr, sizeof(errstr)), TP_OK);
}

/* The topic's max.message.bytes set to bytes (AlterConfigs: its other settings reset). */
static void alter_max_message_bytes(const char *bootstrap, const char *topic, int bytes)
{
    rd_kafka_t *rk = test_kafka(bootstrap, RD_KAFKA_PRODUCER, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    char v[32];
    snprintf(v, sizeof(v), "%d", bytes);
    ck_assert_int_eq(rd_kafka_ConfigResource_set_config(res, "max.message.bytes", v),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_AlterConfigs(rk, &res, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    ck_assert_ptr_nonnull(ev);
    ck_assert_msg(rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR, "%s",
                  rd_kafka_event_error_string(ev));
    size_t n;
    const rd_kafka_ConfigResource_t **out =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(rd_kafka_ConfigResource_error(out[0]), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

/* The group's committed offset of the journal's partition (-1: none). */
static int64_t committed_of(const struct topics *t, int32_t partition)
{
    rd_kafka_t *rk = test_kafka(t->st.bootstrap, RD_KAFKA_CONSUMER, t->group);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, t->st.topic, partition);
    ck_assert_int_eq(rd_kafka_committed(rk, parts, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t off = parts->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return off;
}

START_TEST(test_forward_refused)
{
    struct topics t;
    topics_init(&t, "fwdrefused", 200);
    /* the detail topic first, refusing records over 10,000 bytes */
    struct journal_config dc = t.journal;
    dc.topic = t.detail;
    dc.max_message_bytes = 10000;
    char errstr[512];
    ck_assert_msg(journal_topic_ensure(&dc, 15000, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    int64_t from = tp_now_ms() - 1000, until = tp_now_ms() + 3600 * 1000;
    produce_policy(t.pp, "trucks", "tp-truck", "raw", REGION, from, until);
    for (int round = 0; round < 5; round++)
        produce_round(t.jp, round, 4, 4);
    topics_flush(&t);
    produce_big(t.jp, "truck-01", 6);
    topics_flush(&t);
    for (int round = 6; round < 10; round++)
        produce_round(t.jp, round, 4, 4);
    topics_flush(&t);
    struct recs journal, expect, detail;
    read_all(t.st.bootstrap, t.st.topic, &journal);
    expected_of(&journal, from, until, &expect);
    ck_assert_uint_eq(expect.n, 9 * 4 + 1);
    const struct rec *big = find(&journal, "truck-01", 6);
    ck_assert_uint_gt(big->len, 20000);

    uint16_t port = stack_free_port();
    pid_t pid = stack_service_start(&t.st, "tp-forward", t.extra, port);
    /* refused again and again: its partition never committed past it */
    for (int i = 0; i < 300 && workload_metric(port, "tp_forward_rewinds_total") < 3; i++) {
        workload_assert_alive(&t.st, pid);
        sleep_ms(100);
    }
    ck_assert_double_ge(workload_metric(port, "tp_forward_rewinds_total"), 3);
    ck_assert_double_gt(workload_metric(port, "tp_forward_failed_total"), 0);
    int64_t c = committed_of(&t, big->partition);
    ck_assert_msg(c <= big->offset, "committed %lld past the refused reading at %lld", (long long)c,
                  (long long)big->offset);
    read_all(t.st.bootstrap, t.detail, &detail);
    ck_assert_ptr_null(find(&detail, "truck-01", 6));
    recs_release(&detail);
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", port);
    ck_assert_int_eq(stack_http("GET", url, NULL, NULL, 0, NULL), 200);

    /* the topic accepts it: every reading of the window arrives */
    alter_max_message_bytes(t.st.bootstrap, t.detail, 1048576);
    wait_consumed(port, pid, &t.st);
    read_all(t.st.bootstrap, t.detail, &detail);
    for (size_t i = 0; i < expect.n; i++)
        ck_assert_msg(find(&detail, expect.v[i].device, expect.v[i].seq) != NULL, "%s/%lld lost",
                      expect.v[i].device, (long long)expect.v[i].seq);
    for (size_t i = 0; i < detail.n; i++)
        ck_assert_ptr_nonnull(find(&expect, detail.v[i].device, detail.v[i].seq));
    const struct rec *got = find(&detail, "truck-01", 6);
    ck_assert_uint_eq(got->len, big->len);
    ck_assert_int_eq(memcmp(got->value, big->value, big->len), 0);
    fprintf(stderr,
            "test_forward_refused: %zu readings expected, %zu records in the detail topic after "
            "%.0f rewinds\n",
            expect.n, detail.n, workload_metric(port, "tp_forward_rewinds_total"));
    int status = stack_service_stop(pid, SIGTERM);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_committed_at_end(&t);

    recs_release(&detail);
    free(expect.v);
    recs_release(&journal);
    topics_release(&t);
}
END_TEST

static Suite *forward_suite(void)
{
    Suite *s = suite_create("forward");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_forward_exact);
    tcase_add_test(tc, test_forward_kill);
    tcase_add_test(tc, test_forward_refused);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(forward_suite)
