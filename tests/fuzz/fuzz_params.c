/*
 * fuzz_params - the query string of tp-query's endpoints (query/params.c)
 * and the page cursor (query/cursor.c).
 *
 * Input: a query string ("k=v&k2=v2", already percent-decoded as
 * libmicrohttpd hands it over; a key without '=' has the value ""). It is
 * parsed as the list, the series and the summary endpoint's parameters,
 * and as GET /v1/fleet/aggregates' (query/aggregates.c): a refusal is
 * TP_VALIDATION with a message; accepted, the category is one
 * aggregates_category_valid takes, from < until at most 31 days apart, and
 * 0..16 regions of 1..128 bytes, each one of the arguments' values.
 * Then the cursor: a "cursor" argument is decoded against the list's
 * fingerprint; and a cursor built from the input's last 10 bytes and its
 * "model" value (when it is a valid device id) must decode to itself, and
 * must be refused for another fingerprint.
 *
 * (It finds a write past the metric filters at once if the limit is checked
 * after the write: issue 13, defect 3.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "fuzz.h"
#include "query/aggregates.h"
#include "query/cursor.h"
#include "query/params.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void fuzz_cursor_roundtrip(const struct list_params *lp, const struct buf *fp,
                                  const uint8_t *data, size_t size)
{
    if (size < 10 || !lp->attrs[PARAMS_MODEL] || !params_device_id_ok(lp->attrs[PARAMS_MODEL]))
        return;
    const uint8_t *t = data + size - 10;
    struct cursor c = {.sort = (enum params_sort)(t[0] % 4)};
    uint64_t ts = 0;
    for (int i = 1; i < 9; i++)
        ts = ts << 8 | t[i];
    c.last_seen_us = (int64_t)ts;
    snprintf(c.device_id, sizeof(c.device_id), "%s", lp->attrs[PARAMS_MODEL]);
    const char *secret = (t[9] & 1) ? "s3cret" : NULL;
    char text[CURSOR_TEXT_MAX], err[256];
    cursor_encode(secret, &c, fp->data ? fp->data : "", fp->len, text, sizeof(text));
    struct cursor back;
    if (cursor_decode(secret, text, fp->data ? fp->data : "", fp->len, &back, err, sizeof(err)) !=
            TP_OK ||
        back.sort != c.sort || back.last_seen_us != c.last_seen_us ||
        strcmp(back.device_id, c.device_id) != 0)
        abort();
    if (cursor_decode(secret, text, "other", 5, &back, err, sizeof(err)) != TP_VALIDATION)
        abort();
}

/* Whether v is (the same pointer as) one of the values of a. */
static bool fuzz_is_value(const struct params_args *a, const char *v)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->values[i] == v)
            return true;
    return false;
}

static void fuzz_aggregates(const struct params_args *a)
{
    char err[512] = "";
    struct aggregates_params ap;
    enum tp_err e = aggregates_params_parse(a, &ap, err, sizeof(err));
    if (e != TP_OK) {
        if (e != TP_VALIDATION || !err[0])
            abort();
        return;
    }
    if (!ap.category || !fuzz_is_value(a, ap.category) || !aggregates_category_valid(ap.category))
        abort();
    if (ap.from_us >= ap.until_us || ap.until_us - ap.from_us > AGGREGATES_SPAN_MAX_US)
        abort();
    if (ap.n_regions > AGGREGATES_REGIONS_MAX)
        abort();
    for (size_t i = 0; i < ap.n_regions; i++) {
        size_t n = strlen(ap.regions[i]);
        if (!fuzz_is_value(a, ap.regions[i]) || n < 1 || n > AGGREGATES_REGION_MAX)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = malloc(size + 1);
    memcpy(q, data, size);
    q[size] = '\0';
    struct params_args a = {0};
    for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq++ = '\0';
        params_args_add(&a, kv, eq);
    }
    char err[512];
    struct list_params lp;
    if (params_list_parse(&a, &lp, err, sizeof(err)) == TP_OK) {
        if (lp.n_metrics > PARAMS_METRIC_FILTERS || lp.limit < 1 || lp.limit > PARAMS_LIMIT_MAX)
            abort();
        struct buf fp;
        buf_init(&fp, 1u << 20);
        params_list_fingerprint(&lp, &fp);
        if (lp.cursor) {
            struct cursor c;
            if (cursor_decode(NULL, lp.cursor, fp.data ? fp.data : "", fp.len, &c, err,
                              sizeof(err)) == TP_OK &&
                !params_device_id_ok(c.device_id))
                abort();
        }
        fuzz_cursor_roundtrip(&lp, &fp, data, size);
        buf_release(&fp);
    }
    struct series_params sp;
    if (params_series_parse(&a, &sp, err, sizeof(err)) == TP_OK &&
        (sp.from_us >= sp.to_us || sp.buckets < 1 || sp.buckets > PARAMS_BUCKETS_MAX))
        abort();
    struct summary_params su;
    params_summary_parse(&a, &su, err, sizeof(err));
    fuzz_aggregates(&a);
    free(q);
    return 0;
}
