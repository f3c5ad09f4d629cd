#include "load.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "load_int.h"
#include "token/auth.h"

#define LOAD_INVALID_AHEAD_MS (10LL * 86400 * 1000) /* ten days: past any skew setting */
#define LOAD_RESP_MAX         (1 << 20)

static const char *const load_vehicle_values[LOAD_EXPECT_VALUES] = {"speed_kmh", "odometer_km",
                                                                    "fuel_level_pct"};
static const char *const load_meter_values[LOAD_EXPECT_VALUES] = {"energy_kwh", "power_w",
                                                                  "voltage_v"};

struct load_conn {
    CURL *easy;
    struct curl_slist *hdrs;
    size_t idx;    /* devices idx, idx + connections, ... */
    size_t n_devs; /* how many */
    size_t rr;     /* round-robin rank */
    uint8_t *body;
    size_t len;
    struct load_item *items;
    size_t n_items;
    struct buf resp;
    int64_t start_us;
    unsigned attempts;
    bool busy;
    int64_t retry_at_us; /* > 0: resend body then */
    struct pace pace;    /* a paced fleet: this connection's own */
    char auth[AUTH_TOKEN_MAX + 64];
};

/* xorshift64*: uniform in [0, 1) */
double load_unit(struct load *l)
{
    l->rng ^= l->rng >> 12;
    l->rng ^= l->rng << 25;
    l->rng ^= l->rng >> 27;
    return (double)((l->rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

size_t load_pick(struct load *l, size_t idx, size_t n_devs, size_t *rr)
{
    size_t rank;
    if (!l->zipf_cdf) {
        rank = (*rr)++ % n_devs;
    } else {
        do {
            double u = load_unit(l);
            size_t lo = 0, hi = l->zipf_n - 1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (l->zipf_cdf[mid] < u)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            rank = lo;
        } while (rank >= n_devs);
    }
    return idx + rank * l->opt->connections;
}

static void load_values(const struct load *l, const journal_reading *r, double *out)
{
    if (l->opt->profile == SIM_METER) {
        for (int k = 0; k < LOAD_EXPECT_VALUES; k++)
            out[k] = r->metrics[k]->value;
    } else {
        out[0] = r->speed_kmh;
        out[1] = r->odometer_km;
        out[2] = r->fuel_level_pct;
    }
}

enum load_kind load_reading(struct load *l, size_t d, size_t i, struct load_item *it)
{
    struct sim_fleet *f = l->res->fleet;
    struct sim_vehicle *v = &f->vehicles[d];
    const struct load_expect *x = &l->res->expect[d];
    enum load_kind kind = LOAD_FRESH;
    if (l->opt->bad_pct && load_unit(l) * 100.0 < l->opt->bad_pct) {
        kind = (enum load_kind)(1 + l->bad_turn++ % 3);
        /* duplicates and older sequences refer to what was accepted: this device's earlier
         * requests are all answered (one request per connection) */
        if (kind == LOAD_DUPLICATE && x->last_seq < 1)
            kind = LOAD_INVALID;
        if (kind == LOAD_OUT_OF_ORDER && x->last_seq < 2)
            kind = LOAD_INVALID;
    }
    journal_reading *r = &l->rs[i];
    if (kind == LOAD_FRESH) {
        sim_reading_next(f, d, r, &l->ss[i]);
        r->timestamp_ms = tp_now_ms();
        load_values(l, r, it->values);
    } else {
        /* a bad reading never advances the device: build it on a copy */
        struct sim_vehicle saved = *v;
        sim_reading_next(f, d, r, &l->ss[i]);
        *v = saved;
        r->timestamp_ms = tp_now_ms();
        if (kind == LOAD_DUPLICATE) {
            r->sequence = x->last_seq;
        } else if (kind == LOAD_OUT_OF_ORDER) {
            r->sequence = x->last_seq - 1;
            /* other values: a projector that applied it would show them */
            if (l->opt->profile == SIM_METER)
                l->ss[i].metrics[0].value += 1000.0;
            else
                r->speed_kmh += 1000.0;
        } else {
            r->timestamp_ms += LOAD_INVALID_AHEAD_MS;
        }
    }
    it->dev = (uint32_t)d;
    it->kind = (uint8_t)kind;
    it->seq = r->sequence;
    l->ptrs[i] = r;
    l->res->duplicates_sent += kind == LOAD_DUPLICATE;
    l->res->out_of_order_sent += kind == LOAD_OUT_OF_ORDER;
    l->res->invalid_sent += kind == LOAD_INVALID;
    return kind;
}

static void load_set_auth(struct load *l, struct load_conn *c, const char *device)
{
    c->auth[0] = '\0';
    if (l->opt->secret) {
        /* minted again for every request: an hour is plenty, and every token must expire */
        struct auth_claims cl = {.kind = AUTH_DEVICE, .expiry_s = tp_now_ms() / 1000 + 3600};
        char tok[AUTH_TOKEN_MAX + 1], why[128];
        snprintf(cl.scope, sizeof(cl.scope), "%s", device);
        if (auth_mint(l->opt->secret, &cl, tok, sizeof(tok), why, sizeof(why)) == TP_OK)
            snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", tok);
    } else if (l->opt->token) {
        snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", l->opt->token);
    }
}

/* Builds connection c's next body (batch readings, or fewer at the end of a job). */
static void load_build(struct load *l, struct load_conn *c, size_t n)
{
    const struct load_options *o = l->opt;
    size_t dev = load_pick(l, c->idx, c->n_devs, &c->rr); /* device-token mode: this device */
    for (size_t i = 0; i < n; i++) {
        size_t d = o->secret ? dev : (i == 0 ? dev : load_pick(l, c->idx, c->n_devs, &c->rr));
        load_reading(l, d, i, &c->items[i]);
    }
    Twinpipe__Telemetry__V1__ReadingBatch b = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    b.readings = l->ptrs;
    b.n_readings = n;
    c->len = protobuf_c_message_get_packed_size(&b.base);
    c->body = tp_realloc(c->body, c->len ? c->len : 1);
    protobuf_c_message_pack(&b.base, c->body);
    c->n_items = n;
    c->attempts = 0;
    l->generated += n;
    load_set_auth(l, c, l->res->fleet->vehicles[dev].device_id);
}

static void load_send(struct load *l, struct load_conn *c)
{
    curl_slist_free_all(c->hdrs);
    c->hdrs = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    if (c->auth[0])
        c->hdrs = curl_slist_append(c->hdrs, c->auth);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)c->len);
    buf_reset(&c->resp);
    c->start_us = tp_mono_us();
    c->attempts++;
    c->busy = true;
    c->retry_at_us = 0;
    curl_multi_add_handle(l->multi, c->easy);
}

static size_t load_write(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    buf_append(b, data, size * n); /* past LOAD_RESP_MAX: truncated, parsed as invalid */
    return size * n;
}

static void load_uncertain(struct load *l, struct load_conn *c)
{
    for (size_t i = 0; i < c->n_items; i++)
        l->res->expect[c->items[i].dev].uncertain = true;
}

void load_settle(struct load *l, const struct load_item *it, bool rejected)
{
    struct load_result *res = l->res;
    struct load_expect *x = &res->expect[it->dev];
    if (rejected) {
        res->rejected++;
        if (it->kind != LOAD_INVALID)
            res->valid_rejected++;
        return;
    }
    res->accepted++;
    if (it->kind == LOAD_INVALID) {
        res->invalid_passed++;
    } else if (it->kind == LOAD_FRESH) {
        x->events++;
        x->last_seq = it->seq;
        memcpy(x->last, it->values, sizeof(x->last));
    }
}

/* A 202 (or 422) answer: which readings were rejected, and what each device now expects. */
static void load_accept(struct load *l, struct load_conn *c, long status)
{
    bool *rejected = tp_calloc(c->n_items ? c->n_items : 1, sizeof(*rejected));
    json_error_t jerr;
    json_t *doc = json_loadb(c->resp.data ? c->resp.data : "", c->resp.len, 0, &jerr);
    json_t *rej = doc ? json_object_get(doc, "rejected") : NULL;
    size_t k;
    json_t *e;
    json_array_foreach(rej, k, e)
    {
        json_int_t i = json_integer_value(json_object_get(e, "index"));
        if (i >= 0 && (size_t)i < c->n_items)
            rejected[i] = true;
    }
    if (!doc || (status == 202 && !json_is_integer(json_object_get(doc, "accepted"))))
        log_warn("answer %ld without a readable body: %.200s", status,
                 c->resp.data ? c->resp.data : "");
    for (size_t i = 0; i < c->n_items; i++)
        load_settle(l, &c->items[i], rejected[i]);
    json_decref(doc);
    free(rejected);
}

/* The answer to c's request is in (or the transfer failed: code != CURLE_OK). */
static void load_done(struct load *l, struct load_conn *c, CURLcode code)
{
    struct load_result *res = l->res;
    long status = 0;
    if (code == CURLE_OK)
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(l->multi, c->easy);
    c->busy = false;
    uint64_t us = (uint64_t)(tp_mono_us() - c->start_us);
    hist_add(&res->latency, us);
    hist_add(&l->tick_hist, us);
    res->status_counts[status >= 200 && status < 600 ? status / 100 : 0]++;
    if (status == 503 && c->attempts <= l->opt->retries) {
        res->retried_requests++;
        c->retry_at_us = tp_mono_us() + 1000000; /* Retry-After: 1 */
        return;
    }
    res->requests++;
    l->tick.requests++;
    res->sent += c->n_items;
    l->tick.sent += c->n_items;
    if (status == 202 || status == 422) {
        uint64_t before = res->accepted;
        load_accept(l, c, status);
        l->tick.accepted += res->accepted - before;
        return;
    }
    res->failed_requests++;
    l->tick.failed++;
    bool nothing_stored = status >= 400 && status < 500;
    if (status == 503 && c->resp.data && strstr(c->resp.data, "\"overloaded\""))
        nothing_stored = true;
    if (!nothing_stored)
        load_uncertain(l, c);
    static int logged;
    if (logged++ < 5)
        log_warn("POST %s: %s %ld %.300s", l->opt->url,
                 code == CURLE_OK ? "status" : curl_easy_strerror(code), status,
                 c->resp.data ? c->resp.data : "");
}

void load_tick_close(struct load *l, double t_s, bool final)
{
    struct load_result *res = l->res;
    l->tick.t_s = t_s;
    l->tick.p50_us = hist_quantile(&l->tick_hist, 0.50);
    l->tick.p99_us = hist_quantile(&l->tick_hist, 0.99);
    hist_merge(&l->win_hist, &l->tick_hist);
    size_t win = l->opt->window_s ? l->opt->window_s : 1;
    if (final || (res->n_ticks + 1) % win == 0) {
        l->tick.win_closed = true;
        l->tick.win_p50_us = hist_quantile(&l->win_hist, 0.50);
        l->tick.win_p99_us = hist_quantile(&l->win_hist, 0.99);
        hist_reset(&l->win_hist);
    }
    if (res->n_ticks == l->cap_ticks) {
        l->cap_ticks = l->cap_ticks ? 2 * l->cap_ticks : 64;
        res->ticks = tp_realloc(res->ticks, l->cap_ticks * sizeof(*res->ticks));
    }
    res->ticks[res->n_ticks++] = l->tick;
    memset(&l->tick, 0, sizeof(l->tick));
    hist_reset(&l->tick_hist);
}

void load_progress(struct load *l, int64_t now, bool final)
{
    const struct load_options *o = l->opt;
    if (!o->progress)
        return;
    if (!final && now - l->last_progress_us < (o->progress_tty ? 1000000 : 5000000))
        return;
    l->last_progress_us = now;
    const struct load_result *res = l->res;
    double secs = (double)(now - l->t0_us) / 1e6;
    double recent = res->n_ticks ? (double)res->ticks[res->n_ticks - 1].sent : 0;
    char target[64] = "";
    if (o->readings)
        snprintf(target, sizeof(target), "/%llu (%.0f%%)", (unsigned long long)o->readings,
                 100.0 * (double)res->sent / (double)o->readings);
    fprintf(o->progress,
            "%s[%6.1f s] sent %llu%s, %.0f/s now, accepted %llu, rejected %llu, failed requests "
            "%llu, p99 %.1f ms%s",
            o->progress_tty ? "\r" : "", secs, (unsigned long long)res->sent, target, recent,
            (unsigned long long)res->accepted, (unsigned long long)res->rejected,
            (unsigned long long)res->failed_requests,
            (double)hist_quantile(&res->latency, 0.99) / 1000.0,
            o->progress_tty && !final ? "   " : "\n");
    fflush(o->progress);
}

static void load_zipf(struct load *l, size_t n, double s)
{
    l->zipf_n = n;
    l->zipf_cdf = tp_calloc(n, sizeof(*l->zipf_cdf));
    double sum = 0;
    for (size_t r = 0; r < n; r++)
        sum += 1.0 / pow((double)(r + 1), s);
    double acc = 0;
    for (size_t r = 0; r < n; r++) {
        acc += 1.0 / pow((double)(r + 1), s) / sum;
        l->zipf_cdf[r] = acc;
    }
    l->zipf_cdf[n - 1] = 1.0;
}

/* The run's fleet, expected twins, skew, budget, scratch (and, over HTTP, curl's multi
 * handle). */
static void load_setup(struct load *l)
{
    const struct load_options *o = l->opt;
    struct load_result *res = l->res;
    res->fleet = sim_fleet_new_profile(o->profile, o->devices, o->seed, tp_now_ms(),
                                       o->period_ms > 0 ? o->period_ms : 5000);
    res->expect = tp_calloc(o->devices, sizeof(*res->expect));
    res->value_names = o->profile == SIM_METER ? load_meter_values : load_vehicle_values;
    if (o->skew > 0)
        load_zipf(l, (o->devices + o->connections - 1) / o->connections, o->skew);
    pace_shared(&l->pace, o->period_ms > 0 ? 0 : o->rate, o->batch);
    l->paced = o->period_ms > 0 || o->rate > 0;
    l->rs = tp_calloc(o->batch, sizeof(*l->rs));
    l->ptrs = tp_calloc(o->batch, sizeof(*l->ptrs));
    l->ss = tp_calloc(o->batch, sizeof(*l->ss));
    if (o->transport == LOAD_HTTP) {
        l->multi = curl_multi_init();
        curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->connections);
    }
}

/* Connection i: its share of the devices, its pace (a paced fleet), its easy handle. */
static void load_conn_open(struct load *l, struct load_conn *c, size_t i)
{
    const struct load_options *o = l->opt;
    size_t conns = o->connections;
    c->idx = i;
    c->n_devs = o->devices / conns + (i < o->devices % conns);
    if (o->period_ms > 0)
        pace_fleet(&c->pace, i, conns, c->n_devs, o->devices, o->period_ms, o->rate, o->batch);
    c->items = tp_calloc(o->batch, sizeof(*c->items));
    buf_init(&c->resp, LOAD_RESP_MAX);
    c->easy = curl_easy_init();
    curl_easy_setopt(c->easy, CURLOPT_URL, o->url);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, load_write);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &c->resp);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
}

void load_check_stop(struct load *l, int64_t now)
{
    const struct load_options *o = l->opt;
    if (o->duration_ms && now - l->t0_us >= (int64_t)o->duration_ms * 1000)
        l->stop = true;
    if (o->readings && l->generated >= o->readings)
        l->stop = true;
}

/* Each idle connection resends a body whose retry is due, or sends the readings its pace
 * has due (none while ahead of the pace, or once stopped). Counts the connections busy and
 * those waiting to retry. */
static void load_start_due(struct load *l, int64_t now, size_t *busy, size_t *waiting)
{
    const struct load_options *o = l->opt;
    double elapsed = (double)(now - l->t0_us) / 1e6;
    *busy = *waiting = 0;
    for (size_t i = 0; i < o->connections; i++) {
        struct load_conn *c = &l->conns[i];
        if (!c->busy && c->retry_at_us && now >= c->retry_at_us)
            load_send(l, c);
        else if (!c->busy && !c->retry_at_us && !l->stop) {
            struct pace *p = o->period_ms > 0 ? &c->pace : &l->pace;
            size_t n = pace_due(p, elapsed); /* 0: ahead of the pace, wait */
            if (o->readings && o->readings - l->generated < n)
                n = (size_t)(o->readings - l->generated);
            if (n > 0) {
                pace_sent(p, n);
                load_build(l, c, n);
                load_send(l, c);
            }
        }
        *busy += c->busy;
        *waiting += c->retry_at_us != 0;
    }
}

/* Moves the transfers on and hands every finished one to load_done. */
static void load_collect(struct load *l)
{
    int running = 0;
    curl_multi_perform(l->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(l->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct load_conn *c;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        load_done(l, c, m->data.result);
    }
}

/* Sends until stopped and every request is answered (or given up), closing a tick each
 * second and printing progress. */
static void load_loop(struct load *l)
{
    l->t0_us = tp_mono_us();
    l->res->t0_unix_ms = tp_now_ms();
    int64_t next_tick = l->t0_us + 1000000;
    for (;;) {
        int64_t now = tp_mono_us();
        load_check_stop(l, now);
        size_t busy, waiting;
        load_start_due(l, now, &busy, &waiting);
        if (busy == 0 && waiting == 0 && l->stop)
            break;
        load_collect(l);
        now = tp_mono_us();
        while (now >= next_tick) {
            load_tick_close(l, (double)(next_tick - l->t0_us) / 1e6, false);
            next_tick += 1000000;
        }
        load_progress(l, now, false);
        int wait_ms = l->paced || waiting ? 2 : 100;
        curl_multi_poll(l->multi, NULL, 0, wait_ms, NULL);
    }
    int64_t end = tp_mono_us();
    l->res->seconds = (double)(end - l->t0_us) / 1e6;
    if (l->tick.requests || l->tick.sent || l->win_hist.count)
        load_tick_close(l, l->res->seconds, true);
    load_progress(l, end, true);
}

/* Frees what load_setup and load_conn_open made (the result keeps its own). */
static void load_teardown(struct load *l)
{
    for (size_t i = 0; l->conns && i < l->opt->connections; i++) {
        curl_easy_cleanup(l->conns[i].easy);
        curl_slist_free_all(l->conns[i].hdrs);
        free(l->conns[i].body);
        free(l->conns[i].items);
        buf_release(&l->conns[i].resp);
    }
    free(l->conns);
    if (l->multi)
        curl_multi_cleanup(l->multi);
    free(l->zipf_cdf);
    free(l->rs);
    free(l->ptrs);
    free(l->ss);
}

enum tp_err load_run(const struct load_options *o, struct load_result *res, char *errstr,
                     size_t errstr_size)
{
    memset(res, 0, sizeof(*res));
    if (!o->devices || !o->batch || !o->connections || (!o->readings && !o->duration_ms))
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                          "need devices, batch, connections and readings or a duration");
    if (o->devices > UINT32_MAX)
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size, "at most %u devices", UINT32_MAX);
    /* no more connections than devices; MQTT with device tokens: one per device */
    struct load_options clamped = *o;
    clamped.connections = o->connections < o->devices ? o->connections : o->devices;
    if (o->transport == LOAD_MQTT && o->secret)
        clamped.connections = o->devices;
    struct load l = {.opt = &clamped, .res = res, .rng = o->seed * 2654435761ULL + 1};
    if (o->transport == LOAD_MQTT) {
        enum tp_err err = load_mqtt_prepare(&clamped, errstr, errstr_size);
        if (err != TP_OK)
            return err;
    }
    load_setup(&l);
    if (o->transport == LOAD_MQTT) {
        load_mqtt_loop(&l);
    } else {
        l.conns = tp_calloc(clamped.connections, sizeof(*l.conns));
        for (size_t i = 0; i < clamped.connections; i++)
            load_conn_open(&l, &l.conns[i], i);
        load_loop(&l);
    }
    load_teardown(&l);
    return TP_OK;
}

void load_result_free(struct load_result *res)
{
    free(res->ticks);
    free(res->expect);
    sim_fleet_free(res->fleet);
    memset(res, 0, sizeof(*res));
}
