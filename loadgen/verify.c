#include "verify.h"

#include <curl/curl.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"

enum verify_outcome { V_OK, V_MISMATCH, V_BEHIND, V_UNCERTAIN_OK, V_ERROR };

struct verify_slot {
    CURL *easy;
    size_t dev;
    struct buf resp;
    bool busy;
};

static size_t verify_write(char *data, size_t size, size_t n, void *arg)
{
    buf_append(arg, data, size * n);
    return size * n;
}

static enum verify_outcome verify_twin(const struct verify_options *o,
                                       const struct load_result *res, size_t dev, long status,
                                       const struct buf *body, unsigned *reported)
{
    const struct load_expect *x = &res->expect[dev];
    const char *id = res->fleet->vehicles[dev].device_id;
    if (status == 404)
        return V_BEHIND;
    if (status != 200)
        return V_ERROR;
    json_error_t jerr;
    json_t *doc = json_loadb(body->data ? body->data : "", body->len, 0, &jerr);
    if (!doc)
        return V_ERROR;
    double events = json_number_value(json_object_get(doc, "events"));
    double last_seq = json_number_value(json_object_get(doc, "last_sequence"));
    enum verify_outcome out;
    char why[256] = "";
    if (events < (double)x->events || last_seq < (double)x->last_seq) {
        out = V_BEHIND;
    } else if (x->uncertain) {
        out = V_UNCERTAIN_OK;
    } else if (events != (double)x->events || last_seq != (double)x->last_seq) {
        out = V_MISMATCH;
        snprintf(why, sizeof(why),
                 "events %.0f (expected %llu), last_sequence %.0f (expected %llu)", events,
                 (unsigned long long)x->events, last_seq, (unsigned long long)x->last_seq);
    } else {
        out = V_OK;
        json_t *metrics = json_object_get(doc, "metrics");
        for (int k = 0; k < LOAD_EXPECT_VALUES && out == V_OK; k++) {
            json_t *v = json_object_get(json_object_get(metrics, res->value_names[k]), "value");
            if (!json_is_number(v) || json_number_value(v) != x->last[k]) {
                out = V_MISMATCH;
                snprintf(why, sizeof(why), "metric %s is %.17g, expected %.17g",
                         res->value_names[k], json_is_number(v) ? json_number_value(v) : -0.0,
                         x->last[k]);
            }
        }
    }
    if (out == V_MISMATCH && o->report && (*reported)++ < 20)
        fprintf(o->report, "verify: %s: %s\n", id, why);
    json_decref(doc);
    return out;
}

/* One verification: its settings, the HTTP slots, and the devices of this round. */
struct verify {
    const struct verify_options *o;
    const struct load_result *res;
    struct verify_result *out;
    struct verify_slot *slots;
    unsigned par;
    CURLM *multi;
    struct curl_slist *hdrs;
    size_t *todo, n_todo;   /* this round's devices */
    size_t *again, n_again; /* the ones still behind (or failed): the next round's */
    unsigned reported;
};

/* o->parallel (default 16) easy handles on one multi handle, with the API key. */
static void verify_open(struct verify *v)
{
    v->par = v->o->parallel ? v->o->parallel : 16;
    v->slots = tp_calloc(v->par, sizeof(*v->slots));
    v->multi = curl_multi_init();
    if (v->o->token) {
        char auth[1100];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", v->o->token);
        v->hdrs = curl_slist_append(NULL, auth);
    }
    for (unsigned i = 0; i < v->par; i++) {
        struct verify_slot *sl = &v->slots[i];
        sl->easy = curl_easy_init();
        buf_init(&sl->resp, 1 << 20);
        curl_easy_setopt(sl->easy, CURLOPT_WRITEFUNCTION, verify_write);
        curl_easy_setopt(sl->easy, CURLOPT_WRITEDATA, &sl->resp);
        curl_easy_setopt(sl->easy, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(sl->easy, CURLOPT_PRIVATE, sl);
        curl_easy_setopt(sl->easy, CURLOPT_NOSIGNAL, 1L);
        if (v->hdrs)
            curl_easy_setopt(sl->easy, CURLOPT_HTTPHEADER, v->hdrs);
    }
}

/* GET /v1/devices/{id} of device dev on slot sl. */
static void verify_start(struct verify *v, struct verify_slot *sl, size_t dev)
{
    char url[512];
    sl->dev = dev;
    snprintf(url, sizeof(url), "%s/v1/devices/%s", v->o->base_url,
             v->res->fleet->vehicles[dev].device_id);
    curl_easy_setopt(sl->easy, CURLOPT_URL, url);
    buf_reset(&sl->resp);
    sl->busy = true;
    curl_multi_add_handle(v->multi, sl->easy);
}

/* Counts slot sl's answer; a device behind (or a failed request) goes to the next round.
 * TP_INVALID_ARG when tp-query refuses the key: verifying cannot go on. */
static enum tp_err verify_count(struct verify *v, struct verify_slot *sl, long status, char *errstr,
                                size_t errstr_size)
{
    switch (verify_twin(v->o, v->res, sl->dev, status, &sl->resp, &v->reported)) {
    case V_OK:
        v->out->ok++;
        break;
    case V_UNCERTAIN_OK:
        v->out->uncertain++;
        break;
    case V_MISMATCH:
        v->out->mismatched++;
        break;
    case V_BEHIND:
        v->again[v->n_again++] = sl->dev;
        break;
    case V_ERROR:
        if (status == 401 || status == 403)
            return tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                              "tp-query answered %ld: set loadgen.query_token", status);
        v->again[v->n_again++] = sl->dev;
        v->out->errors++;
        break;
    }
    return TP_OK;
}

/* One round over v->todo, up to v->par requests at a time; the devices still behind end up
 * in v->again. */
static enum tp_err verify_round(struct verify *v, char *errstr, size_t errstr_size)
{
    size_t next = 0, busy = 0;
    v->n_again = 0;
    for (;;) {
        for (unsigned i = 0; i < v->par && next < v->n_todo; i++) {
            if (v->slots[i].busy)
                continue;
            verify_start(v, &v->slots[i], v->todo[next++]);
            busy++;
        }
        if (busy == 0)
            return TP_OK;
        int running;
        curl_multi_perform(v->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(v->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct verify_slot *sl;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
            long status = 0;
            if (m->data.result == CURLE_OK)
                curl_easy_getinfo(sl->easy, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(v->multi, sl->easy);
            sl->busy = false;
            busy--;
            enum tp_err err = verify_count(v, sl, status, errstr, errstr_size);
            if (err != TP_OK)
                return err;
        }
        curl_multi_poll(v->multi, NULL, 0, 50, NULL);
    }
}

static void verify_close(struct verify *v)
{
    for (unsigned i = 0; i < v->par; i++) {
        if (v->slots[i].busy)
            curl_multi_remove_handle(v->multi, v->slots[i].easy);
        curl_easy_cleanup(v->slots[i].easy);
        buf_release(&v->slots[i].resp);
    }
    curl_slist_free_all(v->hdrs);
    curl_multi_cleanup(v->multi);
    free(v->slots);
    free(v->todo);
    free(v->again);
}

enum tp_err verify_run(const struct verify_options *o, const struct load_result *res,
                       struct verify_result *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    struct verify v = {.o = o, .res = res, .out = out};
    size_t n = res->fleet->n;
    v.todo = tp_calloc(n ? n : 1, sizeof(*v.todo));
    v.again = tp_calloc(n ? n : 1, sizeof(*v.again));
    for (size_t d = 0; d < n; d++)
        if (res->expect[d].events || res->expect[d].uncertain)
            v.todo[v.n_todo++] = d;
    out->devices = v.n_todo;
    verify_open(&v);
    int64_t t0 = tp_mono_ms(), deadline = t0 + o->timeout_ms;
    enum tp_err err;
    /* rounds until no device is behind, or the deadline */
    for (;;) {
        err = verify_round(&v, errstr, errstr_size);
        if (err != TP_OK)
            break;
        if (v.n_again == 0 || tp_mono_ms() >= deadline) {
            out->behind = v.n_again;
            break;
        }
        memcpy(v.todo, v.again, v.n_again * sizeof(*v.todo));
        v.n_todo = v.n_again;
        usleep(300 * 1000);
    }
    out->seconds = (double)(tp_mono_ms() - t0) / 1000.0;
    verify_close(&v);
    return err;
}
