/* period.c - the reporting period tp-ingest tells devices: see period.h. */
#include "period.h"

#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"

static const char *reading_attr(const journal_reading *r, enum policy_attr a)
{
    switch (a) {
    case POLICY_ATTR_MODEL:
        return r->model;
    case POLICY_ATTR_FIRMWARE:
        return r->firmware;
    case POLICY_ATTR_REGION:
        return r->region;
    default:
        return NULL;
    }
}

void period_attrs_merge(struct period_attrs *a, const journal_reading *r)
{
    for (int i = 0; i < POLICY_ATTR__COUNT; i++) {
        const char *v = reading_attr(r, (enum policy_attr)i);
        if (!v || !*v)
            continue;
        size_t n = strnlen(v, PERIOD_ATTR_MAX);
        memcpy(a->v[i], v, n);
        a->v[i][n] = '\0';
    }
}

bool period_attrs_empty(const struct period_attrs *a)
{
    for (int i = 0; i < POLICY_ATTR__COUNT; i++)
        if (a->v[i][0])
            return false;
    return true;
}

bool period_attrs_equal(const struct period_attrs *a, const struct period_attrs *b)
{
    for (int i = 0; i < POLICY_ATTR__COUNT; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

int64_t period_of(const struct policy_set *s, const char *site, const char *device,
                  const struct period_attrs *a, int64_t t, int64_t default_ms)
{
    if (!s || !policy_set_count(s))
        return default_ms; /* the usual case: nothing to match */
    struct policy_device d = {.id = device};
    for (int i = 0; a && i < POLICY_ATTR__COUNT; i++)
        d.attrs[i] = a->v[i][0] ? a->v[i] : NULL;
    struct policy_effect eff;
    policy_set_evaluate(s, site, &d, t, default_ms, &eff, NULL, 0);
    return eff.report_every_ms;
}

void period_answer_init(struct period_answer *a)
{
    memset(a, 0, sizeof(*a));
}

/* A valid reading's place, for grouping a payload's readings by device. */
struct period_ref {
    const char *device;
    size_t index;
};

/* By device id, then by index (qsort is not stable). */
static int by_device_then_index(const void *x, const void *y)
{
    const struct period_ref *i = x, *j = y;
    int c = strcmp(i->device, j->device);
    if (c)
        return c;
    return i->index < j->index ? -1 : i->index > j->index;
}

static bool counted(journal_reading *const *readings, const bool *valid, size_t i)
{
    return (!valid || valid[i]) && readings[i]->device_id && readings[i]->device_id[0];
}

void period_answer_compute(struct period_answer *a, const struct policy_set *s, const char *site,
                           int64_t default_ms, int64_t now, journal_reading *const *readings,
                           const bool *valid, size_t n)
{
    period_answer_init(a);
    a->default_ms = default_ms;
    a->report_every_ms = default_ms;
    /* the usual request: every reading of one device */
    size_t first = 0;
    while (first < n && !counted(readings, valid, first))
        first++;
    if (first == n)
        return;
    const char *id = readings[first]->device_id;
    bool one = true;
    for (size_t i = first; i < n; i++) {
        if (!counted(readings, valid, i))
            continue;
        if (strcmp(readings[i]->device_id, id) != 0) {
            one = false;
            break;
        }
        period_attrs_merge(&a->attrs, readings[i]);
    }
    if (one) {
        a->devices = 1;
        a->report_every_ms = period_of(s, site, id, &a->attrs, now, default_ms);
        return;
    }
    memset(&a->attrs, 0, sizeof(a->attrs));
    /* a gateway's request: group by device (sorted), attributes merged in payload order */
    struct period_ref *refs = tp_malloc(n * sizeof(*refs));
    size_t m = 0;
    for (size_t i = first; i < n; i++)
        if (counted(readings, valid, i))
            refs[m++] = (struct period_ref){readings[i]->device_id, i};
    qsort(refs, m, sizeof(*refs), by_device_then_index);
    bool any = s && policy_set_count(s);
    for (size_t g = 0; g < m;) {
        size_t e = g + 1;
        const char *dev = refs[g].device;
        while (e < m && !strcmp(refs[e].device, dev))
            e++;
        a->devices++;
        if (any) {
            struct period_attrs at;
            memset(&at, 0, sizeof(at));
            for (size_t k = g; k < e; k++)
                period_attrs_merge(&at, readings[refs[k].index]);
            int64_t p = period_of(s, site, dev, &at, now, default_ms);
            if (p != default_ms) {
                if (!a->by_device)
                    a->by_device = tp_calloc(m, sizeof(*a->by_device));
                a->by_device[a->n_by_device++] =
                    (struct period_entry){.device = tp_strdup(dev), .report_every_ms = p};
            }
        }
        g = e;
    }
    free(refs);
}

bool period_answer_policy(const struct period_answer *a)
{
    return a->report_every_ms && (a->report_every_ms != a->default_ms || a->n_by_device);
}

enum tp_err period_answer_json(const struct period_answer *a, struct buf *b)
{
    if (!a->report_every_ms)
        return TP_OK;
    enum tp_err err = buf_printf(b, ",\"report_every_ms\":%lld", (long long)a->report_every_ms);
    if (err != TP_OK || !a->n_by_device)
        return err;
    err = buf_append_str(b, ",\"report_every_ms_by_device\":{");
    for (size_t i = 0; err == TP_OK && i < a->n_by_device; i++) {
        if (i)
            err = buf_append_str(b, ",");
        if (err == TP_OK)
            err = json_str(b, a->by_device[i].device);
        if (err == TP_OK)
            err = buf_printf(b, ":%lld", (long long)a->by_device[i].report_every_ms);
    }
    if (err == TP_OK)
        err = buf_append_str(b, "}");
    return err;
}

void period_answer_release(struct period_answer *a)
{
    for (size_t i = 0; i < a->n_by_device; i++)
        free(a->by_device[i].device);
    free(a->by_device);
    a->by_device = NULL;
    a->n_by_device = 0;
}

enum tp_err period_config_json(int64_t report_every_ms, struct buf *b)
{
    return buf_printf(b, "{\"report_every_ms\":%lld}", (long long)report_every_ms);
}
