#include "render.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"

#define RENDER_DAY_MS 86400000LL

/* Appends, unless an append failed before: the first error is the document's. */
struct render {
    struct buf *out;
    enum tp_err err;
};

static void render_str(struct render *r, const char *s)
{
    if (r->err == TP_OK)
        r->err = buf_append_str(r->out, s);
}

static void render_strn(struct render *r, const char *s, size_t n)
{
    if (r->err == TP_OK)
        r->err = json_strn(r->out, s, n);
}

static void render_double(struct render *r, double v)
{
    if (r->err == TP_OK)
        r->err = json_double(r->out, v);
}

static void render_i64(struct render *r, int64_t v)
{
    if (r->err == TP_OK)
        r->err = json_i64(r->out, v);
}

static void render_time(struct render *r, int64_t ms)
{
    if (r->err == TP_OK)
        r->err = twin_render_time(r->out, ms);
}

/* The civil date of a day number (days since 1970-01-01), proleptic Gregorian (Howard
 * Hinnant's days_from_civil inverse; exact for every int64 day here). */
static void render_civil(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

enum tp_err twin_render_time(struct buf *out, int64_t ms)
{
    int64_t days = ms / RENDER_DAY_MS, in_day = ms % RENDER_DAY_MS;
    if (in_day < 0) { /* floor, also before 1970 */
        days--;
        in_day += RENDER_DAY_MS;
    }
    int64_t y;
    int mo, d;
    render_civil(days, &y, &mo, &d);
    int64_t s = in_day / 1000;
    return buf_printf(out, "\"%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ\"", y, mo, d,
                      (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60), (int)(in_day % 1000));
}

static void render_metric(struct render *r, const struct twin_view_metric *m)
{
    render_strn(r, m->name.p, m->name.len);
    render_str(r, ":{\"value\":");
    render_double(r, m->value); /* not finite: null */
    render_str(r, ",\"ts\":");
    render_i64(r, m->ts_ms);
    /* no finite value yet: the statistics are null */
    render_str(r, ",\"min\":");
    render_double(r, m->count ? m->min : NAN);
    render_str(r, ",\"max\":");
    render_double(r, m->count ? m->max : NAN);
    render_str(r, ",\"sum\":");
    render_double(r, m->count ? m->sum : NAN);
    render_str(r, ",\"count\":");
    render_i64(r, m->count);
    render_str(r, "}");
}

enum tp_err twin_render_json(struct buf *out, const char *id, size_t id_len,
                             const struct twin_view *v, int64_t updated_at_ms)
{
    size_t start = out->len;
    struct render r = {out, TP_OK};
    render_str(&r, "{\"device_id\":");
    render_strn(&r, id, id_len);
    render_str(&r, ",\"first_seen\":");
    render_time(&r, v->first_seen_ms);
    render_str(&r, ",\"last_seen\":");
    render_time(&r, v->last_seen_ms);
    render_str(&r, ",\"last_sequence\":");
    render_i64(&r, v->last_sequence);
    render_str(&r, ",\"events\":");
    render_i64(&r, v->events);

    render_str(&r, ",\"metrics\":{");
    for (size_t i = 0; i < v->n_metrics; i++) {
        if (i)
            render_str(&r, ",");
        render_metric(&r, &v->metrics[i]);
    }
    render_str(&r, "},\"location\":");
    if (v->has_location) {
        render_str(&r, "{");
        for (int i = 0; i < TWIN_LOC_N; i++) {
            if (!(v->loc_mask & (1u << i)))
                continue;
            render_strn(&r, twin_loc_names[i], strlen(twin_loc_names[i]));
            render_str(&r, ":");
            render_double(&r, v->loc[i]);
            render_str(&r, ",");
        }
        render_str(&r, "\"ts\":");
        render_i64(&r, v->location_ts_ms);
        render_str(&r, "}");
    } else {
        render_str(&r, "null");
    }

    render_str(&r, ",\"attributes\":{");
    const char *const names[] = {"model", "firmware", "region"};
    const struct twin_str values[] = {v->model, v->firmware, v->region};
    bool first = true;
    for (int i = 0; i < 3; i++) {
        if (!values[i].p)
            continue;
        if (!first)
            render_str(&r, ",");
        first = false;
        render_str(&r, "\"");
        render_str(&r, names[i]);
        render_str(&r, "\":");
        render_strn(&r, values[i].p, values[i].len);
    }
    render_str(&r, "},\"updated_at\":");
    render_time(&r, updated_at_ms);
    render_str(&r, "}");
    if (r.err != TP_OK && out->data) { /* as it was */
        out->len = start;
        out->data[start] = 0;
    }
    return r.err;
}
