/* tp-forward: raw readings of devices under an active raw policy, from the journal to the
 * detail topic, at least once (forward.h). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/service.h"
#include "forward/forward.h"
#include "policyfeed/feed.h"

struct forward_config {
    struct http_options http;
    struct journal_settings journal;
    char *group;
    char *topic;
    long long retention_ms;
    size_t max_in_flight;
    size_t max_devices;
    int64_t warmup_events;
    int64_t commit_interval_ms;
    char *policy_topics;
    size_t max_active;
    char *region;
    int64_t health_stall_ms;
    enum log_level log_level;
    enum log_format log_format;
    struct config_extra kafka;
};

/* Whether s[0..n) is a Kafka topic name: [A-Za-z0-9._-]{1,249}. */
static bool forward_topic_valid(const char *s, size_t n)
{
    if (n == 0 || n > 249)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]) ||
            s[i] == '\0')
            return false;
    return true;
}

/* policy.topics: 1..POLICY_FEED_TOPICS_MAX topic names, comma-separated, none twice. */
static enum tp_err forward_check_topics(const struct config_entry *e, void *arg, char *errstr,
                                        size_t errstr_size)
{
    (void)e;
    const char *list = ((struct forward_config *)arg)->policy_topics;
    size_t n = 0;
    for (const char *p = list ? list : "";; n++) {
        size_t len = strcspn(p, ",");
        if (!forward_topic_valid(p, len))
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "\"%s\" is not a list of topic names ([A-Za-z0-9._-], comma-"
                              "separated)",
                              list ? list : "");
        for (const char *q = list; q < p; q += strcspn(q, ",") + 1)
            if (strcspn(q, ",") == len && memcmp(q, p, len) == 0)
                return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                                  "topic \"%.*s\" is given twice", (int)len, p);
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    if (n + 1 > POLICY_FEED_TOPICS_MAX)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "%zu topics given, at most %d", n + 1,
                          POLICY_FEED_TOPICS_MAX);
    return TP_OK;
}

static enum tp_err forward_check_region(const struct config_entry *e, void *arg, char *errstr,
                                        size_t errstr_size)
{
    (void)e;
    const char *r = ((struct forward_config *)arg)->region;
    if (!r || !policy_name_valid(r, strlen(r)))
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "\"%s\" is not a region name ([A-Za-z0-9._-]{1,64})", r ? r : "");
    return TP_OK;
}

#define F struct forward_config
static const struct config_entry forward_rows[] = {
    HTTP_CONFIG_ENTRIES(F, http, "127.0.0.1:18086"),
    JOURNAL_CONFIG_ENTRIES(F, journal),
    CONFIG_ROW_STR("forward.group", F, group, "tp-forward",
                   "Kafka consumer group of the journal; its committed offsets only pass "
                   "readings whose forward was acknowledged (a new group starts at "
                   "kafka.auto.offset.reset, default earliest)"),
    CONFIG_ROW_STR("forward.topic", F, topic, "detail",
                   "the detail topic raw readings are forwarded to, unchanged (created if missing "
                   "with journal.partitions and journal.replication)"),
    CONFIG_ROW_MS("forward.retention_ms", F, retention_ms, "604800000", -1, 9223372036854775807LL,
                  "retention.ms of the detail topic when it is created (-1 or 0 = forever); a "
                  "copy for the global site, not the system of record"),
    CONFIG_ROW_INT("forward.max_in_flight", F, max_in_flight, "10000", 1, 1000000,
                   "forwarded readings not yet acknowledged, at most (48 bytes each); consuming "
                   "waits past it"),
    CONFIG_ROW_INT("forward.max_devices", F, max_devices, "1000000", 1, 100000000,
                   "devices whose latest attributes are kept (~100 bytes each; the least "
                   "recently updated is dropped past it)"),
    CONFIG_ROW_INT("forward.warmup_events", F, warmup_events, "10000", 0, 100000000,
                   "after an assignment, read up to this many events of each partition before "
                   "the committed offset again, only to learn the devices' attributes (a reading "
                   "without attributes matches on those); 0 = off"),
    CONFIG_ROW_MS("forward.commit_interval_ms", F, commit_interval_ms, "1000", 10, 600000,
                  "commit the offsets every acknowledgement covers this often, ms (a crash "
                  "forwards again at most what was acknowledged since)"),
    CONFIG_ROW_STR("policy.topics", F, policy_topics, "policies",
                   "the compacted policies topics, comma-separated, each read from its beginning "
                   "(a region: global.policies,policies)",
                   .check = forward_check_topics),
    CONFIG_ROW_INT("policy.max_active", F, max_active, "1000", 1, 100000,
                   "policies kept at most (a new one past it is refused and logged)"),
    CONFIG_ROW_STR("site.region", F, region, "local",
                   "this site's region name: policies with sites apply only when it is listed",
                   .check = forward_check_region),
    SERVICE_HEALTH_ENTRY(F, health_stall_ms),
    SERVICE_LOG_ENTRY(F, log_level),
    SERVICE_LOG_FORMAT_ENTRY(F, log_format),
};
#undef F

static const struct config_table forward_table = CONFIG_TABLE("tp-forward", forward_rows, NULL);

SERVICE_LOOP_ADAPTERS(forward)

static void forward_started(void *arg, struct http_server *srv)
{
    forward_attach_server(arg, srv);
}

int main(int argc, char **argv)
{
    struct forward_config cfg = {.kafka = {.prefix = "kafka."}};
    struct policy_feed *feed = NULL;
    struct forward *fw = NULL;
    char *topics_copy = NULL;
    char errstr[1024];
    int rc = 1;
    if (service_start(&forward_table, &cfg, &cfg.kafka, argc, argv, &rc))
        goto out;
    rc = 1;
    struct journal_config jc = {0}, dc;
    journal_config_init(&jc, &cfg.journal, &cfg.kafka);
    dc = jc;
    dc.topic = cfg.topic;
    dc.retention_ms = cfg.retention_ms;
    /* the policies topics, split (checked by the row) */
    const char *topics[POLICY_FEED_TOPICS_MAX];
    size_t n_topics = 0;
    topics_copy = tp_strdup(cfg.policy_topics);
    char *save = NULL;
    for (char *t = strtok_r(topics_copy, ",", &save); t && n_topics < POLICY_FEED_TOPICS_MAX;
         t = strtok_r(NULL, ",", &save))
        topics[n_topics++] = t;
    struct policy_feed_config fc = {
        .kafka = &jc, .topics = topics, .n_topics = n_topics, .max_active = cfg.max_active};
    if (policy_feed_start(&fc, &feed, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    struct forward_options opts = {.journal = &jc,
                                   .detail = &dc,
                                   .group = cfg.group,
                                   .feed = feed,
                                   .site = cfg.region,
                                   .max_in_flight = cfg.max_in_flight,
                                   .max_devices = cfg.max_devices,
                                   .warmup_events = cfg.warmup_events,
                                   .commit_interval_ms = cfg.commit_interval_ms,
                                   .health_stall_ms = cfg.health_stall_ms};
    if (forward_new(&opts, &fw, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    const struct http_route routes[] = {
        {"GET", "/healthz", 0, service_handle_health, NULL},
        {"GET", "/readyz", 0, forward_handle_ready, fw},
        {"GET", "/metrics", 0, forward_handle_metrics, fw},
    };
    log_info("forwarding raw readings of \"%s\" to \"%s\" at \"%s\" (site \"%s\", policies from "
             "\"%s\"); health on \"%s\"",
             jc.topic, dc.topic, jc.bootstrap_servers, cfg.region, cfg.policy_topics,
             cfg.http.listen);
    const struct service_loop loop = {.routes = routes,
                                      .n_routes = sizeof(routes) / sizeof(routes[0]),
                                      .http = &cfg.http,
                                      .started = forward_started,
                                      .run = forward_loop_run,
                                      .stop = forward_loop_stop,
                                      .stopping = "committing what was acknowledged and leaving "
                                                  "the consumer group",
                                      .failed = "forwarding stopped",
                                      .arg = fw};
    rc = service_run(&loop);
out:
    forward_free(fw);
    policy_feed_free(feed);
    free(topics_copy);
    config_release(forward_rows, forward_table.n, &cfg, &cfg.kafka);
    return rc;
}
