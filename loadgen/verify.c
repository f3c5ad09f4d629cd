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

enum tp_err verify_run(const struct verify_options *o, const struct load_result *res,
                       struct verify_result *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    size_t n = res->fleet->n, n_todo = 0;
    size_t *todo = tp_calloc(n ? n : 1, sizeof(*todo));
    size_t *again = tp_calloc(n ? n : 1, sizeof(*again));
    for (size_t d = 0; d < n; d++)
        if (res->expect[d].events || res->expect[d].uncertain)
            todo[n_todo++] = d;
    out->devices = n_todo;
    unsigned par = o->parallel ? o->parallel : 16;
    struct verify_slot *slots = tp_calloc(par, sizeof(*slots));
    CURLM *multi = curl_multi_init();
    char auth[1100] = "";
    struct curl_slist *hdrs = NULL;
    if (o->token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
        hdrs = curl_slist_append(NULL, auth);
    }
    for (unsigned i = 0; i < par; i++) {
        slots[i].easy = curl_easy_init();
        buf_init(&slots[i].resp, 1 << 20);
        curl_easy_setopt(slots[i].easy, CURLOPT_WRITEFUNCTION, verify_write);
        curl_easy_setopt(slots[i].easy, CURLOPT_WRITEDATA, &slots[i].resp);
        curl_easy_setopt(slots[i].easy, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(slots[i].easy, CURLOPT_PRIVATE, &slots[i]);
        curl_easy_setopt(slots[i].easy, CURLOPT_NOSIGNAL, 1L);
        if (hdrs)
            curl_easy_setopt(slots[i].easy, CURLOPT_HTTPHEADER, hdrs);
    }
    int64_t t0 = tp_mono_ms(), deadline = t0 + o->timeout_ms;
    unsigned reported = 0;
    enum tp_err err = TP_OK;
    for (;;) {
        /* one round over todo; the devices still behind go to `again` */
        size_t next = 0, n_again = 0, busy = 0;
        for (;;) {
            for (unsigned i = 0; i < par && next < n_todo; i++) {
                if (slots[i].busy)
                    continue;
                char url[512];
                slots[i].dev = todo[next++];
                snprintf(url, sizeof(url), "%s/v1/devices/%s", o->base_url,
                         res->fleet->vehicles[slots[i].dev].device_id);
                curl_easy_setopt(slots[i].easy, CURLOPT_URL, url);
                buf_reset(&slots[i].resp);
                slots[i].busy = true;
                busy++;
                curl_multi_add_handle(multi, slots[i].easy);
            }
            if (busy == 0)
                break;
            int running;
            curl_multi_perform(multi, &running);
            CURLMsg *m;
            int left;
            while ((m = curl_multi_info_read(multi, &left))) {
                if (m->msg != CURLMSG_DONE)
                    continue;
                struct verify_slot *s;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
                long status = 0;
                if (m->data.result == CURLE_OK)
                    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
                curl_multi_remove_handle(multi, s->easy);
                s->busy = false;
                busy--;
                switch (verify_twin(o, res, s->dev, status, &s->resp, &reported)) {
                case V_OK:
                    out->ok++;
                    break;
                case V_UNCERTAIN_OK:
                    out->uncertain++;
                    break;
                case V_MISMATCH:
                    out->mismatched++;
                    break;
                case V_BEHIND:
                    again[n_again++] = s->dev;
                    break;
                case V_ERROR:
                    if (status == 401 || status == 403) {
                        err = tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                                         "tp-query answered %ld: set loadgen.query_token", status);
                        goto done;
                    }
                    again[n_again++] = s->dev;
                    out->errors++;
                    break;
                }
            }
            curl_multi_poll(multi, NULL, 0, 50, NULL);
        }
        if (n_again == 0 || tp_mono_ms() >= deadline) {
            out->behind = n_again;
            break;
        }
        memcpy(todo, again, n_again * sizeof(*todo));
        n_todo = n_again;
        usleep(300 * 1000);
    }
done:
    out->seconds = (double)(tp_mono_ms() - t0) / 1000.0;
    for (unsigned i = 0; i < par; i++) {
        if (slots[i].busy)
            curl_multi_remove_handle(multi, slots[i].easy);
        curl_easy_cleanup(slots[i].easy);
        buf_release(&slots[i].resp);
    }
    curl_slist_free_all(hdrs);
    curl_multi_cleanup(multi);
    free(slots);
    free(todo);
    free(again);
    return err;
}
