/*
 * Every service's /metrics against Prometheus's conventions (issue 15, docs/metrics.md):
 * tp-registry, tp-ingest, tp-projector, tp-query, tp-rollup, tp-policy and tp-forward run against
 * the dev stack, a few readings travel through them (so histograms, responses by status and route,
 * lag and the search index have samples; tp-forward skips them: no raw policy), then each /metrics
 *   - passes `promtool check metrics` (Debian's prometheus, tests/deploy/tools.sh) with no
 *     finding at all;
 *   - declares HELP and TYPE before every family's samples, names every counter `_total`
 *     and every histogram `_seconds` (no `_ms` anywhere), and holds no negative value (no -1
 *     sentinel);
 *   - writes its request-duration histogram with the bucket bounds in seconds, exactly
 *     0.001 .. 30 and +Inf;
 *   - ends with tp_build_info{version,commit} 1, exactly the values CMake found
 *     (TP_BUILD_VERSION, TP_BUILD_COMMIT), and the process_* families, each once with a
 *     sane value: the start time between the spawn and now, the fd limit the test passed on.
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/mem.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"
#include "tests/support/jsonv.h"
#include "tests/support/stack.h"

#define N_SERVICES 7

struct service {
    const char *program;
    const char *prefix; /* of its own families: tp_<prefix>_... */
    uint16_t port;
    pid_t pid;
    double spawned_s; /* wall clock just before it was started */
};

static struct stack st;
static struct service svc[N_SERVICES] = {
    {"tp-registry", "tp_registry", 0, 0, 0},   {"tp-ingest", "tp_ingest", 0, 0, 0},
    {"tp-projector", "tp_projector", 0, 0, 0}, {"tp-query", "tp_query", 0, 0, 0},
    {"tp-rollup", "tp_rollup", 0, 0, 0},       {"tp-policy", "tp_policy", 0, 0, 0},
    {"tp-forward", "tp_forward", 0, 0, 0},
};
static char lake[] = "/tmp/tp-metrics-XXXXXX";
static char reg_env[128], dir_env[128], group_env[160], policy_topic_env[160],
    ingest_policies_env[200], forward_group_env[160], forward_topic_env[160];

static double wall_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void start(struct service *s, const char *const *env)
{
    s->port = stack_free_port();
    s->spawned_s = wall_s();
    s->pid = stack_service_start(&st, s->program, env, s->port);
}

static void setup(void)
{
    snprintf(lake, sizeof(lake), "/tmp/tp-metrics-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(lake));
    stack_init(&st, "metrics");
    stack_db_create(&st);
    start(&svc[0], NULL);
    snprintf(reg_env, sizeof(reg_env), "TP_REGISTRY_URL=http://127.0.0.1:%u", svc[0].port);
    snprintf(dir_env, sizeof(dir_env), "TP_ROLLUP_DIR=%s", lake);
    snprintf(group_env, sizeof(group_env), "TP_ROLLUP_GROUP=%s-rollup", st.topic);
    /* ingest registers the built-in schema in this fresh database: the operator's credential */
    /* policies on (tp-policy's topic): the policy families are checked too */
    snprintf(ingest_policies_env, sizeof(ingest_policies_env), "TP_POLICY_TOPICS=%s.policies",
             st.topic);
    const char *ingest_env[] = {reg_env, "TP_AUTH_MODE=off", ingest_policies_env,
                                STACK_REGISTRY_OPERATOR_ENV, NULL};
    start(&svc[1], ingest_env);
    const char *projector_env[] = {reg_env, "TP_PROJECTOR_FLUSH_INTERVAL_MS=50", NULL};
    start(&svc[2], projector_env);
    const char *query_env[] = {"TP_QUERY_AUTH=off", NULL};
    start(&svc[3], query_env);
    const char *rollup_env[] = {reg_env, dir_env, group_env, NULL};
    start(&svc[4], rollup_env);
    /* any operator key digest: the scrape needs none */
    snprintf(policy_topic_env, sizeof(policy_topic_env), "TP_POLICY_TOPIC=%s.policies", st.topic);
    const char *policy_env[] = {
        policy_topic_env,
        "TP_POLICY_OPERATOR_KEYS=0000000000000000000000000000000000000000000000000000000000000000",
        NULL};
    start(&svc[5], policy_env);
    /* tp-forward follows tp-policy's topic (created by now) and skips every reading */
    snprintf(forward_group_env, sizeof(forward_group_env), "TP_FORWARD_GROUP=%s-forward", st.topic);
    snprintf(forward_topic_env, sizeof(forward_topic_env), "TP_FORWARD_TOPIC=%s.detail", st.topic);
    const char *forward_env[] = {ingest_policies_env, forward_group_env, forward_topic_env, NULL};
    start(&svc[6], forward_env);
}

static void teardown(void)
{
    int rc[N_SERVICES];
    for (int i = N_SERVICES - 1; i >= 0; i--)
        rc[i] = svc[i].pid > 0 ? stack_service_stop(svc[i].pid, SIGTERM) : 0;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", lake);
    ck_assert_int_eq(system(cmd), 0);
    stack_release(&st);
    for (int i = 0; i < N_SERVICES; i++)
        ck_assert_msg(rc[i] == 0, "%s exited with status %#x", svc[i].program, rc[i]);
}

static long get(const struct service *s, const char *path, struct buf *resp)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", s->port, path);
    return stack_http("GET", url, NULL, NULL, 0, resp);
}

/* The value of the sample `line_start` ("name" or "name{labels}") in text; fails if absent
 * or not exactly once. */
static double sample(const char *text, const char *line_start)
{
    char want[512];
    snprintf(want, sizeof(want), "\n%s ", line_start);
    const char *at = strstr(text, want);
    ck_assert_msg(at != NULL, "no sample %s in:\n%s", line_start, text);
    ck_assert_msg(strstr(at + 1, want) == NULL, "sample %s twice", line_start);
    return strtod(at + strlen(want), NULL);
}

/* POSTs readings 1..2 of devices m-0 and m-1 (no framing: the built-in schema). */
static void post_readings(void)
{
    journal_reading rs[4], *ptrs[4];
    char ids[4][16];
    for (int k = 0; k < 4; k++) {
        journal_reading init = TWINPIPE__TELEMETRY__V1__READING__INIT;
        rs[k] = init;
        snprintf(ids[k], sizeof(ids[k]), "m-%d", k % 2);
        rs[k].device_id = ids[k];
        rs[k].has_sequence = 1;
        rs[k].sequence = (uint64_t)(k / 2 + 1);
        rs[k].has_timestamp_ms = 1;
        rs[k].timestamp_ms = tp_now_ms() - 1000 + k;
        rs[k].has_speed_kmh = 1;
        rs[k].speed_kmh = 10 + k;
        ptrs[k] = &rs[k];
    }
    Twinpipe__Telemetry__V1__ReadingBatch batch = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    batch.readings = ptrs;
    batch.n_readings = 4;
    size_t len = protobuf_c_message_get_packed_size(&batch.base);
    uint8_t *body = tp_malloc(len);
    protobuf_c_message_pack(&batch.base, body);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/telemetry", svc[1].port);
    struct buf resp;
    buf_init(&resp, 1 << 20);
    long status = stack_http("POST", url, "application/x-protobuf", body, len, &resp);
    ck_assert_msg(status == 202, "POST got %ld: %s", status, resp.data ? resp.data : "");
    struct jv *doc = jv_parse(resp.data);
    ck_assert_ptr_nonnull(doc);
    ck_assert_double_eq(jv_num(doc, "accepted"), 4);
    jv_free(doc);
    free(body);
    buf_release(&resp);
}

/* Waits (60 s) until the projector applied the 4 readings, tp-query serves both twins,
 * tp-rollup consumed the 4 events and tp-forward skipped them. */
static void wait_for_pipeline(void)
{
    struct buf resp;
    buf_init(&resp, 1 << 22);
    for (int attempt = 0;; attempt++) {
        ck_assert_msg(attempt < 600,
                      "the readings did not reach the twins, the rollup and tp-forward in 60 s");
        bool done = get(&svc[2], "/metrics", &resp) == 200 &&
                    strstr(resp.data, "\ntp_projector_applied_total 4\n") != NULL &&
                    get(&svc[4], "/metrics", &resp) == 200 &&
                    strstr(resp.data, "\ntp_rollup_events_total 4\n") != NULL &&
                    get(&svc[6], "/metrics", &resp) == 200 &&
                    strstr(resp.data, "\ntp_forward_skipped_total 4\n") != NULL;
        for (int d = 0; done && d < 2; d++) {
            char path[64];
            snprintf(path, sizeof(path), "/v1/devices/m-%d", d);
            done = get(&svc[3], path, &resp) == 200;
        }
        if (done)
            break;
        usleep(100 * 1000);
    }
    /* a 404 too: another status in the responses */
    ck_assert_int_eq(get(&svc[3], "/v1/devices/m-none", &resp), 404);
    buf_release(&resp);
}

/* `promtool check metrics` on text: exit 0 and nothing said. */
static void promtool_check(const struct service *s, const char *text)
{
    char path[] = "/tmp/tp-metrics-scrape-XXXXXX", cmd[1024], out[8192];
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    ck_assert_int_eq(fclose(f), 0);
    snprintf(cmd, sizeof(cmd),
             "promtool=$(bash %s/tests/deploy/tools.sh promtool) && \"$promtool\" check metrics "
             "< %s 2>&1",
             TP_SOURCE_DIR, path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    unlink(path);
    ck_assert_msg(rc == 0 && n == 0, "promtool check metrics on %s's /metrics (status %d):\n%s",
                  s->program, rc, out);
}

#define FAMILIES_MAX 256

struct family {
    char name[128];
    char type[16];
    bool help;
};

/* HELP and TYPE before each family's samples, counters `_total`, histograms `_seconds`, no
 * `_ms`, no negative value; returns the number of families. */
static int check_conventions(const struct service *s, const char *text)
{
    static struct family fam[FAMILIES_MAX];
    int n = 0;
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        char l[1024];
        ck_assert_uint_lt(len, sizeof(l));
        memcpy(l, line, len);
        l[len] = '\0';
        line += len + (line[len] == '\n');
        char name[128], word[16];
        if (!strncmp(l, "# HELP ", 7) || !strncmp(l, "# TYPE ", 7)) {
            ck_assert_int_eq(sscanf(l + 7, "%127s %15s", name, word), 2);
            int i = 0;
            while (i < n && strcmp(fam[i].name, name))
                i++;
            if (i == n) {
                ck_assert_int_lt(n, FAMILIES_MAX);
                fam[n++] = (struct family){0};
                snprintf(fam[i].name, sizeof(fam[i].name), "%s", name);
            }
            if (l[2] == 'H')
                fam[i].help = true;
            else
                snprintf(fam[i].type, sizeof(fam[i].type), "%s", word);
            continue;
        }
        ck_assert_msg(l[0] != '#' && l[0] != '\0', "%s: unexpected line \"%s\"", s->program, l);
        size_t nl = strcspn(l, "{ ");
        ck_assert_uint_lt(nl, sizeof(name));
        memcpy(name, l, nl);
        name[nl] = '\0';
        const char *value = strrchr(l, ' ');
        ck_assert_msg(strtod(value + 1, NULL) >= 0, "%s: negative sample \"%s\"", s->program, l);
        /* the family: the name itself, or a histogram's without _bucket, _sum or _count */
        int i = n - 1; /* samples follow their family's HELP and TYPE */
        ck_assert_msg(i >= 0, "%s: sample before any HELP/TYPE: \"%s\"", s->program, l);
        size_t fl = strlen(fam[i].name);
        bool same = !strcmp(name, fam[i].name) ||
                    (!strcmp(fam[i].type, "histogram") && !strncmp(name, fam[i].name, fl) &&
                     (!strcmp(name + fl, "_bucket") || !strcmp(name + fl, "_sum") ||
                      !strcmp(name + fl, "_count")));
        ck_assert_msg(same, "%s: sample \"%s\" is not of the family declared before it (%s)",
                      s->program, l, fam[i].name);
    }
    for (int i = 0; i < n; i++) {
        const char *f = fam[i].name, *type = fam[i].type;
        size_t fl = strlen(f);
        ck_assert_msg(fam[i].help && *type, "%s: %s lacks HELP or TYPE", s->program, f);
        ck_assert_msg(!strstr(f, "_ms_") && !(fl > 3 && !strcmp(f + fl - 3, "_ms")),
                      "%s: %s is in milliseconds", s->program, f);
        bool total = fl > 6 && !strcmp(f + fl - 6, "_total");
        ck_assert_msg(total == !strcmp(type, "counter"), "%s: %s %s", s->program, type, f);
        if (!strcmp(type, "histogram"))
            ck_assert_msg(fl > 8 && !strcmp(f + fl - 8, "_seconds"), "%s: histogram %s", s->program,
                          f);
    }
    return n;
}

/* The request-duration histogram of GET /metrics: bounds 0.001 .. 30 s, cumulative counts. */
static void check_buckets(const struct service *s, const char *text)
{
    static const char *const le[] = {"0.001", "0.002", "0.005", "0.01", "0.02",
                                     "0.05",  "0.1",   "0.2",   "0.5",  "1",
                                     "2",     "5",     "10",    "30",   "+Inf"};
    char line[256];
    double prev = 0;
    for (size_t k = 0; k < sizeof(le) / sizeof(le[0]); k++) {
        snprintf(line, sizeof(line),
                 "%s_http_request_duration_seconds_bucket{method=\"GET\",route=\"/metrics\","
                 "le=\"%s\"}",
                 s->prefix, le[k]);
        double v = sample(text, line);
        ck_assert_double_ge(v, prev);
        prev = v;
    }
    /* the earlier scrapes of this test were answered and counted */
    snprintf(line, sizeof(line),
             "%s_http_request_duration_seconds_count{method=\"GET\",route=\"/metrics\"}",
             s->prefix);
    ck_assert_double_eq(sample(text, line), prev);
    ck_assert_double_ge(prev, 1);
}

static void check_runtime(const struct service *s, const char *text)
{
    /* tp_build_info: exactly what CMake found when the build was configured */
    char line[512];
    snprintf(line, sizeof(line), "tp_build_info{version=\"%s\",commit=\"%s\"}", TP_BUILD_VERSION,
             TP_BUILD_COMMIT);
    ck_assert_double_eq(sample(text, line), 1);
    const char *commit = TP_BUILD_COMMIT;
    ck_assert_msg(!strcmp(commit, "unknown") ||
                      (strlen(commit) == 40 && strspn(commit, "0123456789abcdef") == 40),
                  "commit \"%s\"", commit);
    ck_assert_str_ne(TP_BUILD_VERSION, "");

    double now = wall_s();
    double start = sample(text, "process_start_time_seconds");
    /* /proc/stat's btime is whole seconds and the start time counts clock ticks: 2 s slack */
    ck_assert_msg(start >= s->spawned_s - 2.0 && start <= now,
                  "%s: process_start_time_seconds %.2f, spawned at %.2f, now %.2f", s->program,
                  start, s->spawned_s, now);
    double cpu = sample(text, "process_cpu_seconds_total");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_msg(cpu >= 0 && cpu <= (now - start + 1) * (double)(cpus > 0 ? cpus : 1),
                  "%s: process_cpu_seconds_total %f over %.1f s", s->program, cpu, now - start);
    double rss = sample(text, "process_resident_memory_bytes");
    double vsz = sample(text, "process_virtual_memory_bytes");
    ck_assert_msg(rss >= 1 << 20 && rss < vsz, "%s: rss %.0f, virtual %.0f", s->program, rss, vsz);
    ck_assert_int_eq((long long)rss % sysconf(_SC_PAGESIZE), 0);
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    double max_fds = sample(text, "process_max_fds");
    ck_assert_double_eq(max_fds, (double)rl.rlim_cur); /* inherited from this test */
    double fds = sample(text, "process_open_fds");
    ck_assert_msg(fds >= 3 && fds < max_fds, "%s: process_open_fds %.0f", s->program, fds);
}

START_TEST(test_every_service_metrics)
{
    post_readings();
    wait_for_pipeline();
    struct buf resp;
    buf_init(&resp, 1 << 22);
    for (int i = 0; i < N_SERVICES; i++) {
        const struct service *s = &svc[i];
        ck_assert_int_eq(get(s, "/metrics", &resp), 200); /* so /metrics' own route has counts */
        ck_assert_int_eq(get(s, "/metrics", &resp), 200);
        ck_assert_str_eq(stack_last_header("Content-Type"), "text/plain; version=0.0.4");
        promtool_check(s, resp.data);
        int families = check_conventions(s, resp.data);
        check_buckets(s, resp.data);
        check_runtime(s, resp.data);
        fprintf(stderr, "%s: %d metric families, promtool check metrics clean\n", s->program,
                families);
    }
    /* families that exist once there was traffic, in seconds */
    ck_assert_int_eq(get(&svc[4], "/metrics", &resp), 200);
    ck_assert_double_eq(sample(resp.data, "tp_rollup_events_total"), 4);
    ck_assert_int_eq(get(&svc[5], "/metrics", &resp), 200);
    ck_assert_double_eq(sample(resp.data, "tp_policy_ready"), 1);
    ck_assert_double_eq(sample(resp.data, "tp_policy_policies"), 0);
    ck_assert_int_eq(get(&svc[6], "/metrics", &resp), 200);
    ck_assert_double_eq(sample(resp.data, "tp_forward_events_total"), 4);
    ck_assert_double_eq(sample(resp.data, "tp_forward_forwarded_total"), 0);
    ck_assert_double_eq(sample(resp.data, "tp_forward_latency_seconds_count"), 0);
    ck_assert_int_eq(get(&svc[2], "/metrics", &resp), 200);
    ck_assert_double_ge(sample(resp.data, "tp_projector_freshness_seconds_count"), 4);
    ck_assert_double_ge(sample(resp.data, "tp_projector_flush_duration_seconds_count"), 1);
    ck_assert_double_ge(sample(resp.data, "tp_projector_fold_wait_seconds_total"), 0);
    ck_assert_int_eq(get(&svc[3], "/metrics", &resp), 200);
    ck_assert_double_ge(sample(resp.data, "tp_query_device_lookup_duration_seconds_count"), 2);
    ck_assert_double_ge(sample(resp.data, "tp_query_search_age_seconds"), 0);
    ck_assert_int_eq(get(&svc[1], "/metrics", &resp), 200);
    ck_assert_double_eq(sample(resp.data, "tp_ingest_ack_latency_seconds_count"), 1);
    ck_assert_int_eq(get(&svc[0], "/metrics", &resp), 200);
    ck_assert_double_eq(sample(resp.data, "tp_registry_schemas"), 1);
    buf_release(&resp);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("conventions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_every_service_metrics);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(metrics_suite)
