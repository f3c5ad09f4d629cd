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

struct loadgen_config {
    char *url;
    char *profile;
    long long devices;
    long long readings;
    long long duration_s;
    long long batch;
    long long connections;
    long long period_ms;
    long long rate;
    long long window_s;
    char *skew;
    long long bad_pct;
    long long retries;
    long long seed;
    char *token;
    char *auth_secret;
    char *verify_url;
    char *query_token;
    long long verify_timeout_s;
    char *summary;
    char *timeline;
    char *dump;
    char *log_level;
};

// clang-format off
static const struct config_entry loadgen_table[] = {
    {"loadgen.url", CONFIG_STRING, "http://127.0.0.1:18080/v1/telemetry", 0, 0,
     offsetof(struct loadgen_config, url), "tp-ingest endpoint"},
    {"loadgen.profile", CONFIG_STRING, "vehicle", 0, 0, offsetof(struct loadgen_config, profile),
     "vehicle (veh-NNNNNN, typed fields) or meter (mtr-NNNNNNN, metrics map)"},
    {"loadgen.devices", CONFIG_INT, "300", 1, 100000000, offsetof(struct loadgen_config, devices),
     "simulated devices"},
    {"loadgen.readings", CONFIG_INT, "6000", 0, 100000000000LL,
     offsetof(struct loadgen_config, readings),
     "readings to send in all (a fixed-size job); 0 = run for loadgen.duration_s"},
    {"loadgen.duration_s", CONFIG_INT, "0", 0, 86400, offsetof(struct loadgen_config, duration_s),
     "run this long (with loadgen.readings=0, or whichever ends first)"},
    {"loadgen.batch", CONFIG_INT, "100", 1, 10000, offsetof(struct loadgen_config, batch),
     "readings per POST"},
    {"loadgen.connections", CONFIG_INT, "8", 1, 10000,
     offsetof(struct loadgen_config, connections), "keep-alive connections (one request each)"},
    {"loadgen.period_ms", CONFIG_INT, "0", 0, 86400000, offsetof(struct loadgen_config, period_ms),
     "each device reports every period in real time, paced per connection (0 = as fast as the "
     "connections go)"},
    {"loadgen.rate", CONFIG_INT, "0", 0, 100000000, offsetof(struct loadgen_config, rate),
     "at most this many readings/s overall (0 = no cap)"},
    {"loadgen.window_s", CONFIG_INT, "10", 1, 3600, offsetof(struct loadgen_config, window_s),
     "the timeline's win_p50_ms/win_p99_ms: POST latency quantiles per window of this many "
     "seconds"},
    {"loadgen.skew", CONFIG_STRING, "0", 0, 0, offsetof(struct loadgen_config, skew),
     "Zipf exponent of device activity (0 = every device equally; 1 = a few very active)"},
    {"loadgen.bad_pct", CONFIG_INT, "0", 0, 100, offsetof(struct loadgen_config, bad_pct),
     "percent of bad readings: duplicates, older sequences and invalid ones, in turn"},
    {"loadgen.retries", CONFIG_INT, "5", 0, 1000, offsetof(struct loadgen_config, retries),
     "503 answers retried (same body, after Retry-After)"},
    {"loadgen.seed", CONFIG_INT, "42", 0, 1000000000, offsetof(struct loadgen_config, seed),
     "seed of the simulation"},
    {"loadgen.token", CONFIG_STRING, NULL, 0, 0, offsetof(struct loadgen_config, token),
     "bearer token for every POST (a gateway token: tp-ingest token --prefix=veh-)"},
    {"loadgen.auth_secret", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct loadgen_config, auth_secret),
     "fleet secret: each POST carries one device's readings and its own device token"},
    {"loadgen.verify_url", CONFIG_STRING, NULL, 0, 0, offsetof(struct loadgen_config, verify_url),
     "tp-query base URL: after the run, check every twin against what was sent"},
    {"loadgen.query_token", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct loadgen_config, query_token), "API key for tp-query (verification)"},
    {"loadgen.verify_timeout_s", CONFIG_INT, "120", 1, 86400,
     offsetof(struct loadgen_config, verify_timeout_s), "how long twins may lag behind"},
    {"loadgen.summary", CONFIG_STRING, NULL, 0, 0, offsetof(struct loadgen_config, summary),
     "write the figures as JSON to this file"},
    {"loadgen.timeline", CONFIG_STRING, NULL, 0, 0, offsetof(struct loadgen_config, timeline),
     "write one CSV line per second (t_s,sent,accepted,requests,failed,p50_ms,p99_ms,"
     "win_p50_ms,win_p99_ms; the last two on the line that closes a window)"},
    {"loadgen.dump", CONFIG_STRING, NULL, 0, 0, offsetof(struct loadgen_config, dump),
     "write one POST body (a batch of loadgen.batch readings) to this file and exit"},
    SERVICE_LOG_ENTRY(struct loadgen_config, log_level),
};
// clang-format on
#define LOADGEN_TABLE_N (sizeof(loadgen_table) / sizeof(loadgen_table[0]))

static int loadgen_dump(const struct loadgen_config *cfg, enum sim_profile profile)
{
    size_t batch = (size_t)cfg->batch, cursor = 0, len;
    struct sim_fleet *fleet = sim_fleet_new_profile(profile, (size_t)cfg->devices,
                                                    (uint64_t)cfg->seed, tp_now_ms(), 5000);
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
               o->devices, o->batch, o->connections, (unsigned long long)r->sent,
               (unsigned long long)r->accepted, (unsigned long long)r->rejected,
               (unsigned long long)r->invalid_sent, (unsigned long long)r->invalid_passed,
               (unsigned long long)r->valid_rejected, (unsigned long long)r->duplicates_sent,
               (unsigned long long)r->out_of_order_sent, (unsigned long long)r->requests,
               (unsigned long long)r->failed_requests, (unsigned long long)r->retried_requests,
               (long long)r->t0_unix_ms);
    json_double(&b, r->seconds);
    buf_append_str(&b, ",\"readings_per_s\":");
    json_double(&b, r->seconds > 0 ? (double)r->sent / r->seconds : 0);
    buf_printf(
        &b, ",\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}",
        (double)hist_quantile(&r->latency, 0.5) / 1000,
        (double)hist_quantile(&r->latency, 0.9) / 1000,
        (double)hist_quantile(&r->latency, 0.99) / 1000,
        (double)hist_quantile(&r->latency, 0.999) / 1000, (double)r->latency.max_us / 1000);
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

/* The run's lines on stdout: readings sent, answers, latency and its histogram. */
static void loadgen_print_run(const char *profile, const struct load_options *o,
                              const struct load_result *r)
{
    printf("%s: sent %llu readings (%llu duplicates, %llu older sequences, %llu invalid) from "
           "%zu devices in %llu requests over %zu connections in %.2f s: %.0f readings/s\n",
           profile, (unsigned long long)r->sent, (unsigned long long)r->duplicates_sent,
           (unsigned long long)r->out_of_order_sent, (unsigned long long)r->invalid_sent,
           o->devices, (unsigned long long)r->requests,
           o->connections < o->devices ? o->connections : o->devices, r->seconds,
           r->seconds > 0 ? (double)r->sent / r->seconds : 0.0);
    printf("accepted %llu, rejected %llu (invalid accepted: %llu, valid rejected: %llu); failed "
           "requests %llu, 503s retried %llu\n",
           (unsigned long long)r->accepted, (unsigned long long)r->rejected,
           (unsigned long long)r->invalid_passed, (unsigned long long)r->valid_rejected,
           (unsigned long long)r->failed_requests, (unsigned long long)r->retried_requests);
    printf("latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, p99.9 %.1f ms\n",
           (double)hist_quantile(&r->latency, 0.5) / 1000,
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
    struct verify_options vo = {.base_url = cfg->verify_url,
                                .token = cfg->query_token,
                                .timeout_ms = cfg->verify_timeout_s * 1000,
                                .parallel = 16,
                                .report = stdout};
    if (verify_run(&vo, r, v, errstr, sizeof(errstr)) != TP_OK) {
        log_error("verification: %s", errstr);
        *ok = false;
        return false;
    }
    printf("verify: %llu devices: %llu equal, %llu mismatched, %llu still behind after "
           "%lld s, %llu uncertain (at least as expected) in %.1f s\n",
           (unsigned long long)v->devices, (unsigned long long)v->ok,
           (unsigned long long)v->mismatched, (unsigned long long)v->behind, cfg->verify_timeout_s,
           (unsigned long long)v->uncertain, v->seconds);
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
    loadgen_print_run(cfg->profile, o, &r);
    bool ok = r.failed_requests == 0 && r.invalid_passed == 0 && r.valid_rejected == 0;
    struct verify_result v;
    bool verified = cfg->verify_url && loadgen_verify(cfg, &r, &v, &ok);
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
    struct loadgen_config cfg = {0};
    int rc = 1;
    if (service_start("tp-loadgen", loadgen_table, LOADGEN_TABLE_N, &cfg, NULL, argc, argv, &rc))
        goto done;
    rc = 1;
    /* service_start blocks SIGTERM/SIGINT for services that wait for them; a load
     * generator is a tool: Ctrl-C and SIGTERM stop it at once */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
    enum sim_profile profile;
    if (!sim_profile_parse(cfg.profile, &profile)) {
        log_error("invalid loadgen.profile \"%s\": vehicle or meter", cfg.profile);
        goto done;
    }
    if (cfg.dump) { /* one body for other load tools (bench/ingest) */
        rc = loadgen_dump(&cfg, profile);
        goto done;
    }
    char *end;
    double skew = strtod(cfg.skew, &end);
    if (*end || skew < 0 || skew > 10) {
        log_error("invalid loadgen.skew \"%s\": a number from 0 to 10", cfg.skew);
        goto done;
    }
    if (!cfg.readings && !cfg.duration_s) {
        log_error("set loadgen.readings or loadgen.duration_s");
        goto done;
    }
    struct load_options o = {
        .url = cfg.url,
        .profile = profile,
        .devices = (size_t)cfg.devices,
        .readings = (uint64_t)cfg.readings,
        .duration_ms = (uint64_t)cfg.duration_s * 1000,
        .batch = (size_t)cfg.batch,
        .connections = (size_t)cfg.connections,
        .period_ms = cfg.period_ms,
        .rate = (double)cfg.rate,
        .window_s = (size_t)cfg.window_s,
        .skew = skew,
        .bad_pct = (unsigned)cfg.bad_pct,
        .token = cfg.token,
        .secret = cfg.auth_secret,
        .retries = (unsigned)cfg.retries,
        .seed = (uint64_t)cfg.seed,
        .progress_tty = isatty(STDERR_FILENO),
        .progress = stderr,
    };
    rc = loadgen_run(&cfg, &o);
done:
    config_release(loadgen_table, LOADGEN_TABLE_N, &cfg, NULL);
    return rc;
}
