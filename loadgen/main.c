/*
 * tp-loadgen: simulated vehicles POST telemetry to tp-ingest.
 *
 * Runs a fixed-size job: --devices N vehicles, --readings R readings each,
 * --batch B readings per POST, round-robin over devices so each device's
 * sequences arrive in order. Prints accepted/rejected counts, the rate and
 * latency percentiles; exits non-zero if any request failed.
 */
#include <curl/curl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/service.h"
#include "sim.h"

struct loadgen_config {
    char *url;
    long long devices;
    long long readings;
    long long batch;
    long long interval_ms;
    long long seed;
    char *token;
    char *dump;
    char *log_level;
};

static const struct config_entry loadgen_table[] = {
    {"loadgen.url", CONFIG_STRING, "http://127.0.0.1:18080/v1/telemetry", 0, 0,
     offsetof(struct loadgen_config, url), "ingest endpoint"},
    {"loadgen.devices", CONFIG_INT, "300", 1, 10000000, offsetof(struct loadgen_config, devices),
     "simulated vehicles"},
    {"loadgen.readings", CONFIG_INT, "20", 1, 1000000, offsetof(struct loadgen_config, readings),
     "readings per vehicle"},
    {"loadgen.batch", CONFIG_INT, "100", 1, 10000, offsetof(struct loadgen_config, batch),
     "readings per POST"},
    {"loadgen.interval_ms", CONFIG_INT, "5000", 1, 86400000,
     offsetof(struct loadgen_config, interval_ms), "device time between readings of one vehicle"},
    {"loadgen.seed", CONFIG_INT, "42", 0, 1000000000, offsetof(struct loadgen_config, seed),
     "seed of the simulation"},
    {"loadgen.token", CONFIG_STRING, NULL, 0, 0, offsetof(struct loadgen_config, token),
     "bearer token sent with every POST (tp-ingest token --prefix=veh-)"},
    {"loadgen.dump", CONFIG_STRING, NULL, 0, 0, offsetof(struct loadgen_config, dump),
     "write one POST body (a batch of loadgen.batch readings) to this file and exit"},
    SERVICE_LOG_ENTRY(struct loadgen_config, log_level),
};
#define LOADGEN_TABLE_N (sizeof(loadgen_table) / sizeof(loadgen_table[0]))

static size_t loadgen_discard(char *d, size_t s, size_t n, void *arg)
{
    (void)d;
    (void)arg;
    return s * n;
}

static int loadgen_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    struct loadgen_config cfg = {0};
    int rc = 1;
    if (service_start("tp-loadgen", loadgen_table, LOADGEN_TABLE_N, &cfg, NULL, argc, argv, &rc))
        goto done;
    rc = 0;
    size_t total = (size_t)(cfg.devices * cfg.readings);
    size_t batch = (size_t)cfg.batch;
    int64_t start = tp_now_ms() - cfg.readings * cfg.interval_ms;
    struct sim_fleet *fleet =
        sim_fleet_new((size_t)cfg.devices, (uint64_t)cfg.seed, start, cfg.interval_ms);
    journal_reading *rs = tp_calloc(batch, sizeof(*rs));
    journal_reading **ptrs = tp_calloc(batch, sizeof(*ptrs));
    struct sim_storage *ss = tp_calloc(batch, sizeof(*ss));
    double *lat = tp_calloc(total / batch + 2, sizeof(*lat));
    size_t n_req = 0, accepted = 0, failed_req = 0, sent = 0;
    if (cfg.dump) { /* one body for other load tools (bench/ingest) */
        size_t n = batch < total ? batch : total, len, cursor = 0;
        uint8_t *body = sim_batch_next(fleet, &cursor, n, rs, ss, ptrs, &len);
        FILE *f = fopen(cfg.dump, "wb");
        rc = f && fwrite(body, 1, len, f) == len ? 0 : 1;
        if (f)
            fclose(f);
        free(body);
        printf("wrote %zu readings, %zu bytes, to \"%s\"\n", n, len, cfg.dump);
        goto cleanup;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    h = curl_slist_append(h, "Expect:");
    char auth[1100];
    if (cfg.token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg.token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, cfg.url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, loadgen_discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    int64_t t0 = tp_mono_ms();
    while (sent < total) {
        size_t n = total - sent < batch ? total - sent : batch, len;
        uint8_t *body = sim_batch_next(fleet, &sent, n, rs, ss, ptrs, &len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        int64_t r0 = tp_mono_ms();
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        lat[n_req++] = (double)(tp_mono_ms() - r0);
        if (status == 202)
            accepted += n; /* every simulated reading is valid */
        else {
            failed_req++;
            log_error("POST %s answered %ld", cfg.url, status);
        }
        free(body);
    }
    double secs = (double)(tp_mono_ms() - t0) / 1000.0;
    qsort(lat, n_req, sizeof(*lat), loadgen_cmp);
    printf("sent %zu readings from %lld devices in %zu requests in %.2f s (%.0f readings/s)\n",
           sent, cfg.devices, n_req, secs, secs > 0 ? (double)sent / secs : 0.0);
    printf("accepted %zu, failed requests %zu; latency p50 %.0f ms, p99 %.0f ms\n", accepted,
           failed_req, lat[n_req / 2], lat[(n_req * 99) / 100 < n_req ? (n_req * 99) / 100 : 0]);
    rc = failed_req == 0 ? 0 : 1;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    curl_global_cleanup();
cleanup:
    free(rs);
    free(ptrs);
    free(ss);
    free(lat);
    sim_fleet_free(fleet);
done:
    config_release(loadgen_table, LOADGEN_TABLE_N, &cfg, NULL);
    return rc;
}
