/*
 * tp-loadgen: a simulated fleet POSTs telemetry to tp-ingest (load.h), then
 * optionally checks every twin through tp-query (verify.h).
 *
 * Prints the achieved rate, accepted/rejected counts and a latency
 * histogram; writes a JSON summary and a per-second CSV timeline when asked
 * (bench/ uses both). Exit status: 0 when every request was answered as
 * expected (and, with verification, every twin matched), 1 otherwise.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/service.h"
#include "load.h"
#include "sim.h"
#include "verify.h"

/* The options of load_run and verify_run, filled by the table. */
struct loadgen_config {
    struct load_options load;
    struct verify_options verify;
    char *summary;
    char *timeline;
    char *dump;
    enum log_level log_level;
    enum log_format log_format;
};

static const char *const loadgen_profiles[] = {"vehicle", "meter", NULL}; /* enum sim_profile */
_Static_assert(SIM_VEHICLE == 0 && SIM_METER == 1, "loadgen_profiles");
static const char *const loadgen_transports[] = {"http", "mqtt", NULL}; /* enum load_transport */
_Static_assert(LOAD_HTTP == 0 && LOAD_MQTT == 1, "loadgen_transports");

/* A fixed-size job, a timed one, or both (loadgen.dump sends nothing). */
static enum tp_err loadgen_check(void *arg, char *errstr, size_t errstr_size)
{
    const struct loadgen_config *c = arg;
    if (!c->dump && !c->load.readings && !c->load.duration_ms)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "set loadgen.readings or loadgen.duration_s");
    if (c->load.transport == LOAD_MQTT && c->load.mqtt_version == 4 && c->load.bad_pct)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "loadgen.bad_pct needs loadgen.mqtt_version=5: an MQTT 3.1.1 PUBACK "
                          "does not say which readings were dead-lettered");
    return TP_OK;
}

#define L struct loadgen_config
static const struct config_entry loadgen_rows[] = {
    CONFIG_ROW_ENUM("loadgen.transport", L, load.transport, "http", loadgen_transports,
                    "http (POST to loadgen.url) or mqtt (QoS 1 PUBLISHes to loadgen.mqtt_url, "
                    "PUBACK = accepted)"),
    CONFIG_ROW_STR("loadgen.url", L, load.url, "http://127.0.0.1:18080/v1/telemetry",
                   "tp-ingest endpoint"),
    CONFIG_ROW_STR("loadgen.mqtt_url", L, load.mqtt_url, "127.0.0.1:1883",
                   "MQTT listener (tp-ingest's mqtt.listen, or a broker): host:port or "
                   "mqtt://host:port"),
    CONFIG_ROW_INT("loadgen.mqtt_version", L, load.mqtt_version, "5", 4, 5,
                   "MQTT protocol level: 4 (3.1.1) or 5"),
    CONFIG_ROW_INT("loadgen.mqtt_inflight", L, load.mqtt_inflight, "16", 1, 65534,
                   "QoS 1 PUBLISHes in flight per MQTT connection (MQTT 5: at most the server's "
                   "Receive Maximum)"),
    CONFIG_ROW_ENUM("loadgen.profile", L, load.profile, "vehicle", loadgen_profiles,
                    "vehicle (veh-NNNNNN, typed fields) or meter (mtr-NNNNNNN, metrics map)"),
    CONFIG_ROW_INT("loadgen.devices", L, load.devices, "300", 1, 100000000, "simulated devices"),
    CONFIG_ROW_INT("loadgen.readings", L, load.readings, "6000", 0, 100000000000LL,
                   "readings to send in all (a fixed-size job); 0 = run for loadgen.duration_s"),
    CONFIG_ROW_S("loadgen.duration_s", L, load.duration_ms, "0", 0, 86400,
                 "run this long (with loadgen.readings=0, or whichever ends first)", .scale = 1000),
    CONFIG_ROW_INT("loadgen.batch", L, load.batch, "100", 1, 10000,
                   "readings per POST (MQTT: per PUBLISH, of one device; a paced fleet: 1)"),
    CONFIG_ROW_INT("loadgen.connections", L, load.connections, "8", 1, 10000,
                   "keep-alive connections (one request each); MQTT: gateway connections (with "
                   "loadgen.auth_secret: one per device instead)"),
    CONFIG_ROW_MS("loadgen.period_ms", L, load.period_ms, "0", 0, 86400000,
                  "each device reports every period in real time, paced per connection (0 = as "
                  "fast as the connections go)"),
    CONFIG_ROW_INT("loadgen.rate", L, load.rate, "0", 0, 100000000,
                   "at most this many readings/s overall (0 = no cap)"),
    CONFIG_ROW_S("loadgen.window_s", L, load.window_s, "10", 1, 3600,
                 "the timeline's win_p50_ms/win_p99_ms: POST latency quantiles per window of this "
                 "many seconds"),
    CONFIG_ROW_NUMBER("loadgen.skew", L, load.skew, "0", 0, 10,
                      "Zipf exponent of device activity (0 = every device equally; 1 = a few very "
                      "active)"),
    CONFIG_ROW_INT("loadgen.bad_pct", L, load.bad_pct, "0", 0, 100,
                   "percent of bad readings: duplicates, older sequences and invalid ones, in "
                   "turn"),
    CONFIG_ROW_INT("loadgen.retries", L, load.retries, "5", 0, 1000,
                   "503 answers retried (same body, after Retry-After); MQTT: failed connects in "
                   "a row before a connection is given up"),
    CONFIG_ROW_INT("loadgen.seed", L, load.seed, "42", 0, 1000000000, "seed of the simulation"),
    CONFIG_ROW_STR("loadgen.token", L, load.token, NULL,
                   "bearer token for every POST (a gateway token: tp-ingest token --prefix=veh-)"),
    CONFIG_ROW_STR("loadgen.auth_secret", L, load.secret, NULL,
                   "fleet secret: each POST carries one device's readings and its own device "
                   "token (MQTT: one connection per device, the token as its password)"),
    CONFIG_ROW_STR("loadgen.verify_url", L, verify.base_url, NULL,
                   "tp-query base URL: after the run, check every twin against what was sent"),
    CONFIG_ROW_STR("loadgen.query_token", L, verify.token, NULL,
                   "API key for tp-query (verification)"),
    CONFIG_ROW_S("loadgen.verify_timeout_s", L, verify.timeout_ms, "120", 1, 86400,
                 "how long twins may lag behind", .scale = 1000),
    CONFIG_ROW_STR("loadgen.summary", L, summary, NULL, "write the figures as JSON to this file"),
    CONFIG_ROW_STR("loadgen.timeline", L, timeline, NULL,
                   "write one CSV line per second (t_s,sent,accepted,requests,failed,p50_ms,"
                   "p99_ms,win_p50_ms,win_p99_ms; the last two on the line that closes a window)"),
    CONFIG_ROW_STR("loadgen.dump", L, dump, NULL,
                   "write one POST body (a batch of loadgen.batch readings) to this file and "
                   "exit"),
    SERVICE_LOG_ENTRY(L, log_level),
    SERVICE_LOG_FORMAT_ENTRY(L, log_format),
};
#undef L

static const struct config_table loadgen_table =
    CONFIG_TABLE("tp-loadgen", loadgen_rows, loadgen_check);

static int loadgen_dump(const struct loadgen_config *cfg)
{
    size_t batch = cfg->load.batch, cursor = 0, len;
    struct sim_fleet *fleet = sim_fleet_new_profile(cfg->load.profile, cfg->load.devices,
                                                    cfg->load.seed, tp_now_ms(), 5000);
    journal_reading *rs = tp_calloc(batch, sizeof(*rs));
    journal_reading **ptrs = tp_calloc(batch, sizeof(*ptrs));
    struct sim_storage *ss = tp_calloc(batch, sizeof(*ss));
    uint8_t *body = sim_batch_next(fleet, &cursor, batch, rs, ss, ptrs, &len);
    FILE *f = fopen(cfg->dump, "wb");
    int rc = f && fwrite(body, 1, len, f) == len ? 0 : 1;
    if (f && fclose(f) != 0)
        rc = 1;
    printf("wrote %zu readings, %zu bytes, to \"%s\"\n", batch, len, cfg->dump);
    free(body);
    free(rs);
    free(ptrs);
    free(ss);
    sim_fleet_free(fleet);
    return rc;
}

static void loadgen_histogram(const struct hist *h)
{
    static const double bounds_ms[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
    printf("latency histogram (requests, cumulative):\n");
    uint64_t prev = 0;
    for (size_t i = 0; i < sizeof(bounds_ms) / sizeof(bounds_ms[0]); i++) {
        uint64_t le = hist_count_le(h, (uint64_t)(bounds_ms[i] * 1000));
        if (le == prev && le == h->count && i > 0)
            break;
        printf("  <= %6.0f ms %10llu  %6.2f%%\n", bounds_ms[i], (unsigned long long)le,
               h->count ? 100.0 * (double)le / (double)h->count : 0.0);
        prev = le;
    }
    printf("  max %.1f ms\n", (double)h->max_us / 1000.0);
}

/* The connections a run used: no more than devices; over MQTT with device tokens, one per
 * device (load.c decides the same). */
static size_t loadgen_connections(const struct load_options *o)
{
    if (o->transport == LOAD_MQTT && o->secret)
        return o->devices;
    return o->connections < o->devices ? o->connections : o->devices;
}

static void loadgen_summary_json(const char *path, const struct load_options *o,
                                 const struct load_result *r, const struct verify_result *v)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    buf_printf(&b,
               "{\"devices\":%zu,\"batch\":%zu,\"connections\":%zu,\"readings_sent\":%llu,"
               "\"accepted\":%llu,\"rejected\":%llu,\"invalid_sent\":%llu,"
               "\"invalid_accepted\":%llu,\"valid_rejected\":%llu,\"duplicates_sent\":%llu,"
               "\"out_of_order_sent\":%llu,\"requests\":%llu,\"failed_requests\":%llu,"
               "\"retried_requests\":%llu,\"t0_unix_ms\":%lld,\"seconds\":",
               o->devices, o->batch,
               o->transport == LOAD_MQTT ? loadgen_connections(o) : o->connections,
               (unsigned long long)r->sent, (unsigned long long)r->accepted,
               (unsigned long long)r->rejected, (unsigned long long)r->invalid_sent,
               (unsigned long long)r->invalid_passed, (unsigned long long)r->valid_rejected,
               (unsigned long long)r->duplicates_sent, (unsigned long long)r->out_of_order_sent,
               (unsigned long long)r->requests, (unsigned long long)r->failed_requests,
               (unsigned long long)r->retried_requests, (long long)r->t0_unix_ms);
    json_double(&b, r->seconds);
    buf_append_str(&b, ",\"readings_per_s\":");
    json_double(&b, r->seconds > 0 ? (double)r->sent / r->seconds : 0);
    buf_printf(
        &b, ",\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}",
        (double)hist_quantile(&r->latency, 0.5) / 1000,
        (double)hist_quantile(&r->latency, 0.9) / 1000,
        (double)hist_quantile(&r->latency, 0.99) / 1000,
        (double)hist_quantile(&r->latency, 0.999) / 1000, (double)r->latency.max_us / 1000);
    if (o->transport == LOAD_MQTT) {
        buf_printf(&b,
                   ",\"mqtt\":{\"version\":%u,\"connects\":%llu,\"connects_refused\":%llu,"
                   "\"reconnects\":%llu,\"republished\":%llu,\"given_up\":%llu,"
                   "\"puback_codes\":{",
                   o->mqtt_version, (unsigned long long)r->connects,
                   (unsigned long long)r->connects_refused, (unsigned long long)r->reconnects,
                   (unsigned long long)r->republished, (unsigned long long)r->given_up);
        const char *sep = "";
        for (int c = 0; c < 256; c++)
            if (r->puback_codes[c]) {
                buf_printf(&b, "%s\"0x%02x\":%llu", sep, c, (unsigned long long)r->puback_codes[c]);
                sep = ",";
            }
        buf_append_str(&b, "}}");
    }
    if (v)
        buf_printf(&b,
                   ",\"verify\":{\"devices\":%llu,\"ok\":%llu,\"mismatched\":%llu,\"behind\":%llu,"
                   "\"uncertain\":%llu,\"seconds\":%.2f}",
                   (unsigned long long)v->devices, (unsigned long long)v->ok,
                   (unsigned long long)v->mismatched, (unsigned long long)v->behind,
                   (unsigned long long)v->uncertain, v->seconds);
    buf_append_str(&b, "}\n");
    FILE *f = fopen(path, "w");
    if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0)
        log_error("could not write \"%s\"", path);
    buf_release(&b);
}

static void loadgen_timeline(const char *path, const struct load_result *r)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        log_error("could not write \"%s\"", path);
        return;
    }
    fprintf(f, "t_s,sent,accepted,requests,failed,p50_ms,p99_ms,win_p50_ms,win_p99_ms\n");
    for (size_t i = 0; i < r->n_ticks; i++) {
        const struct load_tick *t = &r->ticks[i];
        fprintf(f, "%.1f,%llu,%llu,%llu,%llu,%.3f,%.3f,", t->t_s, (unsigned long long)t->sent,
                (unsigned long long)t->accepted, (unsigned long long)t->requests,
                (unsigned long long)t->failed, (double)t->p50_us / 1000, (double)t->p99_us / 1000);
        if (t->win_closed)
            fprintf(f, "%.3f,%.3f\n", (double)t->win_p50_us / 1000, (double)t->win_p99_us / 1000);
        else
            fprintf(f, ",\n");
    }
    if (fclose(f) != 0)
        log_error("could not write \"%s\"", path);
}

/* MQTT's lines: connections, reconnects and PUBACK reason codes. */
static void loadgen_print_mqtt(const struct load_options *o, const struct load_result *r)
{
    printf("mqtt %s: %llu connects, %llu CONNACKs refused, %llu connections lost and made "
           "again, %llu PUBLISHes sent again, %llu connections given up; PUBACK codes:",
           o->mqtt_version == 5 ? "5" : "3.1.1", (unsigned long long)r->connects,
           (unsigned long long)r->connects_refused, (unsigned long long)r->reconnects,
           (unsigned long long)r->republished, (unsigned long long)r->given_up);
    for (int c = 0; c < 256; c++)
        if (r->puback_codes[c])
            printf(" 0x%02x x %llu", c, (unsigned long long)r->puback_codes[c]);
    printf("\n");
}

/* The run's lines on stdout: readings sent, answers, latency and its histogram. */
static void loadgen_print_run(const struct load_options *o, const struct load_result *r)
{
    bool mqtt = o->transport == LOAD_MQTT;
    size_t conns = loadgen_connections(o);
    printf("%s: sent %llu readings (%llu duplicates, %llu older sequences, %llu invalid) from "
           "%zu devices in %llu %s over %zu %sconnections in %.2f s: %.0f readings/s\n",
           loadgen_profiles[o->profile], (unsigned long long)r->sent,
           (unsigned long long)r->duplicates_sent, (unsigned long long)r->out_of_order_sent,
           (unsigned long long)r->invalid_sent, o->devices, (unsigned long long)r->requests,
           mqtt ? "PUBACKed PUBLISHes" : "requests", conns, mqtt ? "MQTT " : "", r->seconds,
           r->seconds > 0 ? (double)r->sent / r->seconds : 0.0);
    printf("accepted %llu, rejected %llu (invalid accepted: %llu, valid rejected: %llu); failed "
           "requests %llu, 503s retried %llu\n",
           (unsigned long long)r->accepted, (unsigned long long)r->rejected,
           (unsigned long long)r->invalid_passed, (unsigned long long)r->valid_rejected,
           (unsigned long long)r->failed_requests, (unsigned long long)r->retried_requests);
    if (mqtt)
        loadgen_print_mqtt(o, r);
    printf("%slatency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, p99.9 %.1f ms\n",
           mqtt ? "PUBACK " : "", (double)hist_quantile(&r->latency, 0.5) / 1000,
           (double)hist_quantile(&r->latency, 0.9) / 1000,
           (double)hist_quantile(&r->latency, 0.99) / 1000,
           (double)hist_quantile(&r->latency, 0.999) / 1000);
    loadgen_histogram(&r->latency);
}

/* Every twin of the run through tp-query (loadgen.verify_url), its line on stdout. True when
 * it ran (*v filled); *ok false unless every twin is equal and none behind. */
static bool loadgen_verify(const struct loadgen_config *cfg, const struct load_result *r,
                           struct verify_result *v, bool *ok)
{
    char errstr[512];
    const struct verify_options vo = cfg->verify;
    if (verify_run(&vo, r, v, errstr, sizeof(errstr)) != TP_OK) {
        log_error("verification: %s", errstr);
        *ok = false;
        return false;
    }
    printf("verify: %llu devices: %llu equal, %llu mismatched, %llu still behind after "
           "%lld s, %llu uncertain (at least as expected) in %.1f s\n",
           (unsigned long long)v->devices, (unsigned long long)v->ok,
           (unsigned long long)v->mismatched, (unsigned long long)v->behind,
           (long long)(vo.timeout_ms / 1000), (unsigned long long)v->uncertain, v->seconds);
    *ok = *ok && v->mismatched == 0 && v->behind == 0;
    return true;
}

/* The load, its report, the verification and the files; the exit code (0: every request
 * answered as expected and every twin verified, when asked). */
static int loadgen_run(const struct loadgen_config *cfg, const struct load_options *o)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct load_result r;
    char errstr[512];
    if (load_run(o, &r, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        curl_global_cleanup();
        return 1;
    }
    loadgen_print_run(o, &r);
    bool ok =
        r.failed_requests == 0 && r.invalid_passed == 0 && r.valid_rejected == 0 && r.given_up == 0;
    struct verify_result v;
    bool verified = cfg->verify.base_url && loadgen_verify(cfg, &r, &v, &ok);
    if (cfg->summary)
        loadgen_summary_json(cfg->summary, o, &r, verified ? &v : NULL);
    if (cfg->timeline)
        loadgen_timeline(cfg->timeline, &r);
    load_result_free(&r);
    curl_global_cleanup();
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct loadgen_config cfg = {.verify = {.parallel = 16, .report = stdout}};
    int rc = 1;
    if (service_start(&loadgen_table, &cfg, NULL, argc, argv, &rc))
        goto done;
    rc = 1;
    /* service_start blocks SIGTERM/SIGINT for services that wait for them; a load
     * generator is a tool: Ctrl-C and SIGTERM stop it at once */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
    if (cfg.dump) { /* one body for other load tools (bench/ingest) */
        rc = loadgen_dump(&cfg);
        goto done;
    }
    struct load_options o = cfg.load;
    o.progress_tty = isatty(STDERR_FILENO);
    o.progress = stderr;
    rc = loadgen_run(&cfg, &o);
done:
    config_release(loadgen_rows, loadgen_table.n, &cfg, NULL);
    return rc;
}
