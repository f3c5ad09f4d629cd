#include "render.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "coding.h"
#include "common/json.h"

#define RENDER_DAY_MS 86400000LL

/* Appends, unless an append failed before: the first error is the document's. */
struct render {
    struct buf *out;
    enum tp_err err;
};

static void render_bytes(struct render *r, const char *p, size_t n)
{
    if (r->err == TP_OK)
        r->err = buf_append(r->out, p, n);
}

/* A string literal, its length known at compile time. */
#define RENDER_LIT(r, s) render_bytes((r), "" s, sizeof(s) - 1)

/* As json_strn writes it; a string of printable ASCII without '"' and '\\' (the usual name)
 * in one append. */
static void render_strn(struct render *r, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x80 && s[i] != '"' &&
           s[i] != '\\')
        i++;
    if (i < n) {
        if (r->err == TP_OK)
            r->err = json_strn(r->out, s, n);
        return;
    }
    RENDER_LIT(r, "\"");
    render_bytes(r, s, n);
    RENDER_LIT(r, "\"");
}

/* The decimal digits of u, ending at end; returns where they start. */
static char *render_digits(char *end, uint64_t u)
{
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return end;
}

/* As json_i64 writes it, without printf. */
static void render_i64(struct render *r, int64_t v)
{
    char tmp[24], *end = tmp + sizeof(tmp);
    char *p = render_digits(end, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
    if (v < 0)
        *--p = '-';
    render_bytes(r, p, (size_t)(end - p));
}

/*
 * The usual double, as json_double writes it but without printf and strtod (which take most
 * of a document's time): a short decimal m / 10^s (coding.h; s the smallest scale, so m has
 * no trailing zero) of at most 15 significant digits whose leading digit is at 10^-4..10^14.
 * json_double prints %.15g when that reads back: rounding v to 15 significant digits gives
 * exactly that decimal (v is within half an ulp of it, far below half a step of the 15th
 * digit), %g prints such a number in fixed notation without trailing zeros, and it reads
 * back as v (correctly rounded like m / 10^s). False for anything else (-0.0, non-finite,
 * longer or out of that range): json_double then.
 */
static bool render_decimal(struct render *r, double v)
{
    int64_t m = 0;
    int s = 0;
    while (s <= CODING_SCALE_MAX && !coding_decimal(v, s, &m))
        s++;
    if (s > CODING_SCALE_MAX)
        return false;
    uint64_t u = m < 0 ? 0 - (uint64_t)m : (uint64_t)m;
    if (u >= 1000000000000000ULL)
        return false;
    char dig[24], *de = dig + sizeof(dig);
    const char *dp = render_digits(de, u);
    size_t n = (size_t)(de - dp), k = 0, fs = (size_t)s;
    if (u != 0 && (int)n - 1 - s < -4)
        return false; /* %g's exponent notation */
    char out[48];
    if (m < 0)
        out[k++] = '-';
    if (fs == 0) {
        memcpy(out + k, dp, n);
        k += n;
    } else if (n > fs) { /* 12.345 */
        memcpy(out + k, dp, n - fs);
        k += n - fs;
        out[k++] = '.';
        memcpy(out + k, dp + n - fs, fs);
        k += fs;
    } else { /* 0.0012 */
        out[k++] = '0';
        out[k++] = '.';
        memset(out + k, '0', fs - n);
        k += fs - n;
        memcpy(out + k, dp, n);
        k += n;
    }
    render_bytes(r, out, k);
    return true;
}

static void render_double(struct render *r, double v)
{
    if (r->err == TP_OK && !render_decimal(r, v))
        r->err = json_double(r->out, v);
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
    if (y < 0 || y > 9999) /* outside PostgreSQL's four digits: printf's way */
        return buf_printf(out, "\"%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ\"", y, mo, d,
                          (int)(in_day / 3600000), (int)(in_day / 60000 % 60),
                          (int)(in_day / 1000 % 60), (int)(in_day % 1000));
    char t[] = "\"0000-00-00T00:00:00.000Z\"";
    const int64_t f[] = {
        y, mo, d, in_day / 3600000, in_day / 60000 % 60, in_day / 1000 % 60, in_day % 1000};
    const int at[] = {4, 7, 10, 13, 16, 19, 23}; /* where each field's last digit goes */
    for (int i = 0; i < 7; i++)
        for (int64_t v = f[i], k = at[i]; v > 0; v /= 10, k--)
            t[k] = (char)('0' + v % 10);
    return buf_append(out, t, sizeof(t) - 1);
}

static void render_metric(struct render *r, const struct twin_view_metric *m)
{
    render_strn(r, m->name.p, m->name.len);
    RENDER_LIT(r, ":{\"value\":");
    render_double(r, m->value); /* not finite: null */
    RENDER_LIT(r, ",\"ts\":");
    render_i64(r, m->ts_ms);
    /* no finite value yet: the statistics are null */
    RENDER_LIT(r, ",\"min\":");
    render_double(r, m->count ? m->min : NAN);
    RENDER_LIT(r, ",\"max\":");
    render_double(r, m->count ? m->max : NAN);
    RENDER_LIT(r, ",\"sum\":");
    render_double(r, m->count ? m->sum : NAN);
    RENDER_LIT(r, ",\"count\":");
    render_i64(r, m->count);
    RENDER_LIT(r, "}");
}

enum tp_err twin_render_json(struct buf *out, const char *id, size_t id_len,
                             const struct twin_view *v, int64_t updated_at_ms)
{
    size_t start = out->len;
    struct render r = {out, TP_OK};
    RENDER_LIT(&r, "{\"device_id\":");
    render_strn(&r, id, id_len);
    RENDER_LIT(&r, ",\"first_seen\":");
    render_time(&r, v->first_seen_ms);
    RENDER_LIT(&r, ",\"last_seen\":");
    render_time(&r, v->last_seen_ms);
    RENDER_LIT(&r, ",\"last_sequence\":");
    render_i64(&r, v->last_sequence);
    RENDER_LIT(&r, ",\"events\":");
    render_i64(&r, v->events);

    RENDER_LIT(&r, ",\"metrics\":{");
    for (size_t i = 0; i < v->n_metrics; i++) {
        if (i)
            RENDER_LIT(&r, ",");
        render_metric(&r, &v->metrics[i]);
    }
    RENDER_LIT(&r, "},\"location\":");
    if (v->has_location) {
        RENDER_LIT(&r, "{");
        for (int i = 0; i < TWIN_LOC_N; i++) {
            if (!(v->loc_mask & (1u << i)))
                continue;
            render_strn(&r, twin_loc_names[i], strlen(twin_loc_names[i]));
            RENDER_LIT(&r, ":");
            render_double(&r, v->loc[i]);
            RENDER_LIT(&r, ",");
        }
        RENDER_LIT(&r, "\"ts\":");
        render_i64(&r, v->location_ts_ms);
        RENDER_LIT(&r, "}");
    } else {
        RENDER_LIT(&r, "null");
    }

    RENDER_LIT(&r, ",\"attributes\":{");
    const char *const names[] = {"model", "firmware", "region"};
    const struct twin_str values[] = {v->model, v->firmware, v->region};
    bool first = true;
    for (int i = 0; i < 3; i++) {
        if (!values[i].p)
            continue;
        if (!first)
            RENDER_LIT(&r, ",");
        first = false;
        RENDER_LIT(&r, "\"");
        render_bytes(&r, names[i], strlen(names[i]));
        RENDER_LIT(&r, "\":");
        render_strn(&r, values[i].p, values[i].len);
    }
    RENDER_LIT(&r, "},\"updated_at\":");
    render_time(&r, updated_at_ms);
    RENDER_LIT(&r, "}");
    if (r.err != TP_OK && out->data) { /* as it was */
        out->len = start;
        out->data[start] = 0;
    }
    return r.err;
}
