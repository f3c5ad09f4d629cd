#include "twin.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "history.h"
#include "names.h"

const char *const twin_loc_names[TWIN_LOC_N] = {"lat", "lon", "altitude_m", "heading_deg",
                                                "accuracy_m"};

struct twin *twin_new(const char *device_id)
{
    size_t len = strlen(device_id);
    assert(len <= FOLD_DEVICE_ID_MAX);
    struct twin *t = tp_calloc(1, sizeof(*t));
    t->minute_ms = TWIN_NO_MINUTE;
    t->seen[0] = t->seen[1] = UINT64_MAX; /* as stored before the window: see fold.h */
    memcpy(t->device_id, device_id, len + 1);
    return t;
}

void twin_free(struct twin *t)
{
    if (!t)
        return;
    free(t->metrics);
    free(t);
}

void twin_metrics_reserve(struct twin *t, size_t n)
{
    if (n <= t->cap_metrics)
        return;
    size_t cap = t->cap_metrics ? 2 * t->cap_metrics : 8;
    while (cap < n)
        cap *= 2;
    t->metrics = tp_realloc(t->metrics, cap * sizeof(*t->metrics));
    t->cap_metrics = cap;
}

const struct twin_metric *twin_metric_get(const struct twin *t, const char *name)
{
    for (size_t i = 0; i < t->n_metrics; i++)
        if (!strcmp(t->metrics[i].name, name))
            return &t->metrics[i];
    return NULL;
}

struct twin_metric *twin_metric_at(struct twin *t, const char *interned, bool bounded)
{
    for (size_t i = 0; i < t->n_metrics; i++)
        if (t->metrics[i].name == interned)
            return &t->metrics[i];
    if (bounded && (t->n_metrics >= TWIN_METRICS_MAX || strlen(interned) > FOLD_METRIC_NAME_MAX))
        return NULL;
    twin_metrics_reserve(t, t->n_metrics + 1);
    struct twin_metric *m = &t->metrics[t->n_metrics++];
    *m = (struct twin_metric){.name = interned};
    return m;
}

struct twin_metric *twin_metric_set(struct twin *t, const char *name, double value, int64_t ts_ms)
{
    struct twin_metric *m = twin_metric_at(t, names_intern(name), false);
    m->value = value;
    m->ts_ms = ts_ms;
    return m;
}

/* Adds value to min/max/sum/count (meaningless while count is 0). */
static void twin_stats_add(double *min, double *max, double *sum, int64_t *count, double value)
{
    if (*count == 0 || value < *min)
        *min = value;
    if (*count == 0 || value > *max)
        *max = value;
    *sum = *count == 0 ? value : *sum + value;
    (*count)++;
}

void twin_metric_observe(struct twin_metric *m, double value)
{
    twin_stats_add(&m->min, &m->max, &m->sum, &m->count, value);
}

void twin_metric_observe_minute(struct twin_metric *m, double value)
{
    twin_stats_add(&m->mmin, &m->mmax, &m->msum, &m->mcount, value);
}

void twin_minute_close(struct twin *t, struct history *h)
{
    for (size_t i = 0; i < t->n_metrics; i++) {
        struct twin_metric *m = &t->metrics[i];
        if (m->mcount > 0 && h)
            history_add_stats(h, t->device_id, m->name, t->minute_ms, m->mmin, m->mmax, m->msum,
                              m->mcount);
        m->mcount = 0;
    }
    t->minute_ms = TWIN_NO_MINUTE;
}

void twin_attr_set(struct twin *t, const char *name, const char *value)
{
    const char **slot = !strcmp(name, "model")      ? &t->model
                        : !strcmp(name, "firmware") ? &t->firmware
                        : !strcmp(name, "region")   ? &t->region
                                                    : NULL;
    if (slot)
        *slot = names_intern(value);
}
