#include "record.h"

#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include "coding.h"
#include "names.h"

/*
 * Version 1 (layout byte by byte in twin/README.md). The flags are the record's own, frozen
 * with the version: pack.c's in-memory form may change, a record may not.
 */
#define RECORD_M_SCALE     0x0f /* metric flags: the decimal scale, or CODING_RAW */
#define RECORD_M_TS        0x10 /* ts differs from last_seen */
#define RECORD_M_COUNT     0x20 /* count differs from events */
#define RECORD_M_SUMRAW    0x40 /* sum raw, not near a decimal at the scale */
#define RECORD_M_MINUTE    0x80 /* figures in the open minute follow */
#define RECORD_MM_SAME     1    /* minute word: mmin = mmax = msum = value */
#define RECORD_MM_RAW      2    /* minute word: msum raw */
#define RECORD_L_MASK      0x1f /* location byte: which fields are present */
#define RECORD_L_MINUTE    0x20 /* an open minute (its start follows) */
#define RECORD_L_TS        0x40 /* location_ts differs from last_seen */
#define RECORD_L_HAS       0x80 /* has_location */
#define RECORD_STRINGS_MAX (TWIN_VIEW_METRICS_MAX + 3)
#define RECORD_LEN_BITS    11   /* a string's length in record_in's table: up to 2047 */
#define RECORD_SLOTS       8192 /* hash set of the strings: a power of two >= 1.5 x the most */

static_assert(TWIN_RECORD_STRING_MAX < (1 << RECORD_LEN_BITS), "string length fits its bits");
/* what the fold can make, a record can hold (twin.h) */
static_assert(TWIN_METRICS_MAX <= TWIN_VIEW_METRICS_MAX, "a folded twin's metrics fit a record");
static_assert(FOLD_METRIC_NAME_MAX <= TWIN_RECORD_STRING_MAX &&
                  FOLD_ATTR_MAX <= TWIN_RECORD_STRING_MAX,
              "a folded twin's strings fit a record");
static_assert((TWIN_METRICS_MAX * (FOLD_METRIC_NAME_MAX + 128) + 3 * (FOLD_ATTR_MAX + 8)) <
                  TWIN_RECORD_MAX,
              "a folded twin fits a record");
static_assert(RECORD_SLOTS >= RECORD_STRINGS_MAX + RECORD_STRINGS_MAX / 2 + 1, "slots for all");
static_assert(TWIN_RECORD_MAX <= (1u << (32 - RECORD_LEN_BITS)), "record offset fits its bits");

/* ---- writing ---- */

/* The attribute values of t, each distinct one once (model, firmware, region order): the
 * first entries of the string table. ref[i]: attribute i's index + 1, 0 = absent. */
static size_t record_attrs(const struct twin *t, const char *uniq[3], uint64_t ref[3])
{
    const char *vals[3] = {t->model, t->firmware, t->region};
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        ref[i] = 0;
        if (!vals[i])
            continue;
        for (size_t j = 0; j < n && !ref[i]; j++)
            if (!strcmp(uniq[j], vals[i]))
                ref[i] = j + 1;
        if (!ref[i]) {
            uniq[n] = vals[i];
            ref[i] = ++n;
        }
    }
    return n;
}

/* The index of an attribute value equal to name, or -1. */
static int record_attr_index(const char *const uniq[3], size_t n_uniq, const char *name)
{
    for (size_t j = 0; j < n_uniq; j++)
        if (uniq[j] == name || !strcmp(uniq[j], name))
            return (int)j;
    return -1;
}

static uint8_t *record_str_put(uint8_t *p, const char *s)
{
    size_t len = strlen(s);
    p = coding_uv_put(p, len);
    memcpy(p, s, len);
    return p + len;
}

size_t twin_record_bound(const struct twin *t)
{
    size_t n = 1 + CODING_UV_MAX; /* version, string count */
    const char *vals[3] = {t->model, t->firmware, t->region};
    for (int i = 0; i < 3; i++)
        if (vals[i])
            n += CODING_UV_MAX + strlen(vals[i]);
    for (size_t i = 0; i < t->n_metrics; i++)
        n += CODING_UV_MAX + strlen(t->metrics[i].name);
    /* the body: varints of 64 bits take 10 bytes, a double at most 10 */
    return n + 4 * 10 + 3 * 10 + 1 + 10 + 10 + TWIN_LOC_N * 11 + 10 + 2 * 10 +
           t->n_metrics * (10 + 1 + 10 + 10 + 40 + 10 + 30);
}

/* One metric's body (the name's index is written by the caller). */
static uint8_t *record_metric_put(uint8_t *p, const struct twin *t, const struct twin_metric *m)
{
    bool in_minute = t->minute_ms != TWIN_NO_MINUTE && m->mcount > 0;
    bool same = in_minute && m->mcount == 1 && coding_same(m->mmin, m->value) &&
                coding_same(m->mmax, m->value) && coding_same(m->msum, m->value);
    double v[5] = {m->value, m->min, m->max, m->mmin, m->mmax};
    int64_t ms[5], sm = 0, msm = 0, sulps = 0, msulps = 0;
    int s = coding_scale(v, in_minute && !same ? 5 : m->count != 0 ? 3 : 1, m->scale, ms);
    uint8_t flags = (uint8_t)s;
    if (m->ts_ms != t->last_seen_ms)
        flags |= RECORD_M_TS;
    if (m->count != t->events)
        flags |= RECORD_M_COUNT;
    if (m->count != 0 && !coding_near(m->sum, s, &sm, &sulps))
        flags |= RECORD_M_SUMRAW;
    if (in_minute)
        flags |= RECORD_M_MINUTE;
    *p++ = flags;
    if (flags & RECORD_M_TS)
        p = coding_zz_put(p, coding_sub(m->ts_ms, t->last_seen_ms));
    if (flags & RECORD_M_COUNT)
        p = coding_zz_put(p, coding_sub(m->count, t->events));
    p = coding_dbl_put(p, m->value, s, ms[0]);
    if (m->count != 0) {
        p = coding_dbl_put(p, m->min, s, ms[1]);
        p = coding_dbl_put(p, m->max, s, ms[2]);
        p = flags & RECORD_M_SUMRAW ? coding_raw_put(p, m->sum) : coding_near_put(p, sm, sulps);
    }
    if (!in_minute)
        return p;
    uint64_t word = (uint64_t)m->mcount << 2;
    if (same)
        return coding_uv_put(p, word | RECORD_MM_SAME);
    bool sumraw = !coding_near(m->msum, s, &msm, &msulps);
    p = coding_uv_put(p, word | (sumraw ? RECORD_MM_RAW : 0));
    if (s == CODING_RAW) {
        p = coding_raw_put(coding_raw_put(p, m->mmin), m->mmax);
    } else { /* near the value, which is usually one of the minute's */
        p = coding_zz_put(p, coding_sub(ms[0], ms[3]));
        p = coding_zz_put(p, coding_sub(ms[4], ms[0]));
        msm = coding_sub(msm, coding_mul(m->mcount, ms[0]));
    }
    return sumraw ? coding_raw_put(p, m->msum) : coding_near_put(p, msm, msulps);
}

size_t twin_record_write(uint8_t *out, const struct twin *t)
{
    assert(t->minute_ms == TWIN_NO_MINUTE || t->minute_ms % 60000 == 0);
    uint8_t *p = out;
    *p++ = TWIN_RECORD_VERSION;

    /* the string table: distinct attribute values, then metric names not among them */
    const char *uniq[3];
    uint64_t ref[3];
    size_t n_uniq = record_attrs(t, uniq, ref);
    size_t n_strs = n_uniq;
    for (size_t i = 0; i < t->n_metrics; i++)
        if (record_attr_index(uniq, n_uniq, t->metrics[i].name) < 0)
            n_strs++;
    p = coding_uv_put(p, n_strs);
    for (size_t j = 0; j < n_uniq; j++)
        p = record_str_put(p, uniq[j]);
    for (size_t i = 0; i < t->n_metrics; i++)
        if (record_attr_index(uniq, n_uniq, t->metrics[i].name) < 0)
            p = record_str_put(p, t->metrics[i].name);

    p = coding_zz_put(p, t->last_seen_ms);
    p = coding_zz_put(p, coding_sub(t->first_seen_ms, t->last_seen_ms));
    p = coding_uv_put(p, (uint64_t)t->events);
    p = coding_zz_put(p, coding_sub(t->last_sequence, t->events));
    for (int i = 0; i < 3; i++)
        p = coding_uv_put(p, ref[i]);

    uint8_t lb = (uint8_t)(t->loc_mask & RECORD_L_MASK);
    if (t->has_location)
        lb |= RECORD_L_HAS;
    if (t->location_ts_ms != t->last_seen_ms)
        lb |= RECORD_L_TS;
    if (t->minute_ms != TWIN_NO_MINUTE)
        lb |= RECORD_L_MINUTE;
    *p++ = lb;
    if (lb & RECORD_L_TS)
        p = coding_zz_put(p, coding_sub(t->location_ts_ms, t->last_seen_ms));
    if (lb & RECORD_L_MINUTE)
        p = coding_zz_put(p,
                          coding_sub(coding_minute(t->minute_ms), coding_minute(t->last_seen_ms)));
    for (int i = 0; i < TWIN_LOC_N; i++) {
        if (!(lb & (1u << i)))
            continue;
        int64_t m;
        int s = coding_scale(&t->loc[i], 1, CODING_RAW, &m);
        *p++ = (uint8_t)s;
        p = coding_dbl_put(p, t->loc[i], s, m);
    }

    p = coding_uv_put(p, t->n_metrics);
    size_t next = n_uniq;
    for (size_t i = 0; i < t->n_metrics; i++) {
        int a = record_attr_index(uniq, n_uniq, t->metrics[i].name);
        p = coding_uv_put(p, a >= 0 ? (uint64_t)a : next++);
        p = record_metric_put(p, t, &t->metrics[i]);
    }
    /* the sequence window, complemented: usually every bit is set (no gap), 1 byte each */
    p = coding_uv_put(p, ~t->seen[0]);
    p = coding_uv_put(p, ~t->seen[1]);
    assert((size_t)(p - out) <= twin_record_bound(t));
    return (size_t)(p - out);
}

/* ---- reading: every read checked against the end ---- */

struct record_in {
    const uint8_t *start, *p, *end;
    char *errstr;
    size_t errstr_size;
    size_t n_strs;
    uint32_t strs[RECORD_STRINGS_MAX]; /* each string: offset << RECORD_LEN_BITS | length */
    uint8_t named[(RECORD_STRINGS_MAX + 7) / 8]; /* bit i: a metric is named by string i */
    uint16_t slots[RECORD_SLOTS];                /* record_strs_distinct's hash set */
};

static bool record_fail(struct record_in *in, const char *what, const char *detail)
{
    tp_err_set(TP_DECODE, in->errstr, in->errstr_size, "invalid twin record: %s %s at byte %zu",
               what, detail, (size_t)(in->p - in->start));
    return false;
}

static size_t record_left(const struct record_in *in)
{
    return (size_t)(in->end - in->p);
}

static bool record_uv(struct record_in *in, const char *what, uint64_t *v)
{
    if (in->p != in->end && *in->p < 0x80) { /* most are one byte */
        *v = *in->p++;
        return true;
    }
    const uint8_t *q = coding_uv_take(in->p, in->end, v);
    if (q) {
        in->p = q;
        return true;
    }
    size_t left = record_left(in);
    bool cut = left < CODING_UV_MAX;
    for (size_t i = 0; i < left && cut; i++)
        cut = in->p[i] & 0x80;
    return record_fail(in, what, cut ? "cut short" : "is a varint over 10 bytes or 64 bits");
}

static bool record_zz(struct record_in *in, const char *what, int64_t *v)
{
    uint64_t u;
    if (!record_uv(in, what, &u))
        return false;
    *v = coding_unzz(u);
    return true;
}

static bool record_u8(struct record_in *in, const char *what, uint8_t *v)
{
    if (in->p == in->end)
        return record_fail(in, what, "cut short");
    *v = *in->p++;
    return true;
}

static bool record_raw(struct record_in *in, const char *what, double *v)
{
    if (record_left(in) < sizeof(*v))
        return record_fail(in, what, "cut short");
    in->p = coding_raw_get(in->p, v);
    return true;
}

static bool record_scale_ok(int s)
{
    return s <= CODING_SCALE_MAX || s == CODING_RAW;
}

/* A double raw or at decimal scale s (its integer in *m). */
static bool record_dbl(struct record_in *in, const char *what, int s, double *v, int64_t *m)
{
    if (s == CODING_RAW)
        return record_raw(in, what, v);
    if (!record_zz(in, what, m))
        return false;
    *v = coding_dec_value(*m, s);
    return true;
}

/* A near-decimal at scale s (not raw) whose integer was stored as its difference from base. */
static bool record_near(struct record_in *in, const char *what, int s, int64_t base, double *v)
{
    int64_t m, ulps;
    if (!record_zz(in, what, &m) || !record_zz(in, what, &ulps))
        return false;
    *v = coding_near_value(coding_add(m, base), ulps, s);
    return true;
}

/* String i of the table. */
static struct twin_str record_str(const struct record_in *in, size_t i)
{
    uint32_t e = in->strs[i];
    return (struct twin_str){(const char *)in->start + (e >> RECORD_LEN_BITS),
                             e & ((1u << RECORD_LEN_BITS) - 1)};
}

/* A hash of a string, 8 bytes at a time (the view runs it on every name of every record). */
static uint64_t record_hash(struct twin_str s)
{
    uint64_t h = (uint64_t)s.len * 0x9e3779b97f4a7c15ULL, w;
    size_t k = 0;
    for (; k + 8 <= s.len; k += 8) {
        memcpy(&w, s.p + k, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, s.p + k, s.len - k);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

/* Whether the table holds each string once (the writer's rule): two metrics named alike in
 * different entries would read as one twin with two metrics of a name. Open addressing sized
 * to the table. */
static bool record_strs_distinct(struct record_in *in)
{
    size_t cap = 16;
    while (cap < in->n_strs + in->n_strs / 2 + 1)
        cap *= 2;
    memset(in->slots, 0, cap * sizeof(in->slots[0]));
    for (size_t i = 0; i < in->n_strs; i++) {
        struct twin_str s = record_str(in, i);
        uint64_t h = record_hash(s);
        for (size_t j = h & (cap - 1);; j = (j + 1) & (cap - 1)) {
            if (!in->slots[j]) {
                in->slots[j] = (uint16_t)(i + 1);
                break;
            }
            struct twin_str o = record_str(in, in->slots[j] - 1u);
            if (o.len == s.len && !memcmp(o.p, s.p, s.len)) {
                in->p = (const uint8_t *)s.p;
                return record_fail(in, "string", "repeats an earlier one");
            }
        }
    }
    return true;
}

/* A string reference: index + 1 (0 = none) when optional, else an index; *index: it. */
static bool record_ref(struct record_in *in, const char *what, bool optional, struct twin_str *s,
                       size_t *index)
{
    uint64_t u;
    if (!record_uv(in, what, &u))
        return false;
    *s = (struct twin_str){NULL, 0};
    if (optional && u == 0)
        return true;
    uint64_t i = optional ? u - 1 : u;
    if (i >= in->n_strs)
        return record_fail(in, what, "refers to a string past the table");
    *s = record_str(in, (size_t)i);
    *index = (size_t)i;
    return true;
}

/* Version, string table and the twin's own fields, up to and with the metric count. */
static bool record_head(struct record_in *in, struct twin_view *v)
{
    size_t len = record_left(in);
    if (len == 0)
        return record_fail(in, "record", "is empty");
    if (len > TWIN_RECORD_MAX)
        return record_fail(in, "record", "is longer than TWIN_RECORD_MAX");
    uint8_t version = *in->p++;
    if (version == 0 || version > TWIN_RECORD_VERSION) {
        in->p--;
        return record_fail(in, "version", version ? "is newer than this reader's (1)" : "is 0");
    }
    v->version = version;

    uint64_t n;
    if (!record_uv(in, "string count", &n))
        return false;
    if (n > RECORD_STRINGS_MAX)
        return record_fail(in, "string count", "is over TWIN_VIEW_METRICS_MAX + 3");
    if (n > record_left(in))
        return record_fail(in, "string table", "cut short");
    in->n_strs = (size_t)n;
    for (size_t i = 0; i < in->n_strs; i++) {
        uint64_t slen;
        if (!record_uv(in, "string length", &slen))
            return false;
        if (slen > TWIN_RECORD_STRING_MAX)
            return record_fail(in, "string", "is longer than TWIN_RECORD_STRING_MAX");
        if (slen > record_left(in))
            return record_fail(in, "string", "cut short");
        if (memchr(in->p, 0, (size_t)slen))
            return record_fail(in, "string", "holds a NUL byte");
        in->strs[i] = (uint32_t)(in->p - in->start) << RECORD_LEN_BITS | (uint32_t)slen;
        in->p += slen;
    }
    memset(in->named, 0, (in->n_strs + 7) / 8);
    if (!record_strs_distinct(in))
        return false;

    int64_t d;
    uint64_t u;
    if (!record_zz(in, "last_seen", &v->last_seen_ms) || !record_zz(in, "first_seen", &d))
        return false;
    v->first_seen_ms = coding_add(v->last_seen_ms, d);
    if (!record_uv(in, "events", &u))
        return false;
    if (u > INT64_MAX)
        return record_fail(in, "events", "is negative");
    v->events = (int64_t)u;
    if (!record_zz(in, "last_sequence", &d))
        return false;
    v->last_sequence = coding_add(v->events, d);
    size_t ai;
    if (!record_ref(in, "model", true, &v->model, &ai) ||
        !record_ref(in, "firmware", true, &v->firmware, &ai) ||
        !record_ref(in, "region", true, &v->region, &ai))
        return false;

    uint8_t lb;
    if (!record_u8(in, "location byte", &lb))
        return false;
    v->has_location = lb & RECORD_L_HAS;
    v->loc_mask = lb & RECORD_L_MASK;
    v->location_ts_ms = v->last_seen_ms;
    if (lb & RECORD_L_TS) {
        if (!record_zz(in, "location ts", &d))
            return false;
        v->location_ts_ms = coding_add(v->last_seen_ms, d);
    }
    v->minute_ms = TWIN_NO_MINUTE;
    if (lb & RECORD_L_MINUTE) {
        if (!record_zz(in, "open minute", &d))
            return false;
        int64_t k = coding_add(coding_minute(v->last_seen_ms), d);
        if (k < INT64_MIN / 60000 || k > INT64_MAX / 60000)
            return record_fail(in, "open minute", "is out of range");
        v->minute_ms = k * 60000;
    }
    for (int i = 0; i < TWIN_LOC_N; i++) {
        v->loc[i] = 0;
        if (!(v->loc_mask & (1u << i)))
            continue;
        uint8_t s;
        int64_t m;
        if (!record_u8(in, "location scale", &s))
            return false;
        if (!record_scale_ok(s))
            return record_fail(in, "location scale", "is not a scale");
        if (!record_dbl(in, "location", s, &v->loc[i], &m))
            return false;
    }

    if (!record_uv(in, "metric count", &n))
        return false;
    if (n > TWIN_VIEW_METRICS_MAX)
        return record_fail(in, "metric count", "is over TWIN_VIEW_METRICS_MAX");
    if (n > record_left(in) / 3) /* a metric takes 3 bytes at least */
        return record_fail(in, "metrics", "cut short");
    v->n_metrics = (size_t)n;
    return true;
}

/* One metric; *scale: the scale it was stored at. */
static bool record_metric(struct record_in *in, const struct twin_view *v,
                          struct twin_view_metric *m, int *scale)
{
    uint8_t flags;
    int64_t d, v0 = 0;
    size_t i;
    if (!record_ref(in, "metric name", false, &m->name, &i))
        return false;
    /* a twin has one metric of a name (twin_metric_set): a record with two is not a twin's */
    if (in->named[i / 8] & (1u << (i % 8)))
        return record_fail(in, "metric name", "is an earlier metric's");
    in->named[i / 8] |= (uint8_t)(1u << (i % 8));
    if (!record_u8(in, "metric flags", &flags))
        return false;
    int s = flags & RECORD_M_SCALE;
    if (!record_scale_ok(s))
        return record_fail(in, "metric flags", "hold no scale");
    *scale = s;
    m->ts_ms = v->last_seen_ms;
    m->count = v->events;
    if (flags & RECORD_M_TS) {
        if (!record_zz(in, "metric ts", &d))
            return false;
        m->ts_ms = coding_add(v->last_seen_ms, d);
    }
    if (flags & RECORD_M_COUNT) {
        if (!record_zz(in, "metric count", &d))
            return false;
        m->count = coding_add(v->events, d);
        if (m->count < 0)
            return record_fail(in, "metric count", "is negative");
    }
    if (!record_dbl(in, "metric value", s, &m->value, &v0))
        return false;
    m->min = m->max = m->sum = 0;
    if (m->count != 0) {
        int64_t unused;
        if (!record_dbl(in, "metric min", s, &m->min, &unused) ||
            !record_dbl(in, "metric max", s, &m->max, &unused))
            return false;
        if (flags & RECORD_M_SUMRAW) {
            if (!record_raw(in, "metric sum", &m->sum))
                return false;
        } else if (s == CODING_RAW) {
            return record_fail(in, "metric flags", "hold a decimal sum at no scale");
        } else if (!record_near(in, "metric sum", s, 0, &m->sum)) {
            return false;
        }
    }
    m->mmin = m->mmax = m->msum = 0;
    m->mcount = 0;
    if (!(flags & RECORD_M_MINUTE))
        return true;
    if (v->minute_ms == TWIN_NO_MINUTE)
        return record_fail(in, "metric flags", "hold minute figures but no minute is open");
    uint64_t word;
    if (!record_uv(in, "minute word", &word))
        return false;
    m->mcount = (int64_t)(word >> 2);
    if (m->mcount == 0 || (word & 3) == 3)
        return record_fail(in, "minute word", "is invalid");
    if (word & RECORD_MM_SAME) {
        m->mmin = m->mmax = m->msum = m->value;
        return true;
    }
    if (s == CODING_RAW) {
        if (!(word & RECORD_MM_RAW))
            return record_fail(in, "minute word", "holds a decimal sum at no scale");
        return record_raw(in, "minute min", &m->mmin) && record_raw(in, "minute max", &m->mmax) &&
               record_raw(in, "minute sum", &m->msum);
    }
    int64_t dmin, dmax;
    if (!record_zz(in, "minute min", &dmin) || !record_zz(in, "minute max", &dmax))
        return false;
    m->mmin = coding_dec_value(coding_sub(v0, dmin), s);
    m->mmax = coding_dec_value(coding_add(v0, dmax), s);
    if (word & RECORD_MM_RAW)
        return record_raw(in, "minute sum", &m->msum);
    return record_near(in, "minute sum", s, coding_mul(m->mcount, v0), &m->msum);
}

/* The sequence window, and nothing after it. */
static bool record_tail(struct record_in *in, struct twin_view *v)
{
    uint64_t u[2];
    if (!record_uv(in, "sequence window", &u[0]) || !record_uv(in, "sequence window", &u[1]))
        return false;
    v->seen[0] = ~u[0];
    v->seen[1] = ~u[1];
    if (in->p != in->end)
        return record_fail(in, "record", "goes on past its end");
    return true;
}

static void record_in_init(struct record_in *in, const uint8_t *p, size_t len, char *errstr,
                           size_t errstr_size)
{
    in->start = in->p = p;
    in->end = p + len;
    in->errstr = errstr;
    in->errstr_size = errstr_size;
    in->n_strs = 0;
}

enum tp_err twin_record_view(struct twin_view *v, const uint8_t *p, size_t len, char *errstr,
                             size_t errstr_size)
{
    struct record_in in;
    record_in_init(&in, p, len, errstr, errstr_size);
    struct twin_view_metric *metrics = v->metrics;
    size_t cap = v->cap_metrics;
    *v = (struct twin_view){.metrics = metrics, .cap_metrics = cap};
    if (!record_head(&in, v))
        goto fail;
    if (v->n_metrics > cap) {
        record_fail(&in, "metric count", "is over the view's capacity");
        goto fail;
    }
    for (size_t i = 0; i < v->n_metrics; i++) {
        int scale;
        if (!record_metric(&in, v, &metrics[i], &scale))
            goto fail;
    }
    if (!record_tail(&in, v))
        goto fail;
    return TP_OK;
fail:
    *v = (struct twin_view){.metrics = metrics, .cap_metrics = cap};
    return TP_DECODE;
}

/* The interned copy of a string of the record (not NUL-terminated there). */
static const char *record_intern(struct twin_str s)
{
    if (!s.p)
        return NULL;
    char tmp[TWIN_RECORD_STRING_MAX + 1];
    memcpy(tmp, s.p, s.len);
    tmp[s.len] = 0;
    return names_intern(tmp);
}

enum tp_err twin_record_read(struct twin *t, const uint8_t *p, size_t len, char *errstr,
                             size_t errstr_size)
{
    struct record_in in;
    struct twin_view v = {0};
    record_in_init(&in, p, len, errstr, errstr_size);
    if (!record_head(&in, &v))
        goto fail;
    t->first_seen_ms = v.first_seen_ms;
    t->last_seen_ms = v.last_seen_ms;
    t->last_sequence = v.last_sequence;
    t->events = v.events;
    t->minute_ms = v.minute_ms;
    t->has_location = v.has_location;
    t->loc_mask = v.loc_mask;
    memcpy(t->loc, v.loc, sizeof(t->loc));
    t->location_ts_ms = v.location_ts_ms;
    t->model = record_intern(v.model);
    t->firmware = record_intern(v.firmware);
    t->region = record_intern(v.region);
    twin_metrics_reserve(t, v.n_metrics); /* bounded by the record's length: record_head */
    t->n_metrics = 0;
    for (size_t i = 0; i < v.n_metrics; i++) {
        struct twin_view_metric vm;
        int scale;
        if (!record_metric(&in, &v, &vm, &scale))
            goto fail;
        t->metrics[t->n_metrics++] = (struct twin_metric){.name = record_intern(vm.name),
                                                          .value = vm.value,
                                                          .ts_ms = vm.ts_ms,
                                                          .min = vm.min,
                                                          .max = vm.max,
                                                          .sum = vm.sum,
                                                          .count = vm.count,
                                                          .mmin = vm.mmin,
                                                          .mmax = vm.mmax,
                                                          .msum = vm.msum,
                                                          .mcount = vm.mcount,
                                                          .scale = (uint8_t)scale};
    }
    if (!record_tail(&in, &v))
        goto fail;
    t->seen[0] = v.seen[0];
    t->seen[1] = v.seen[1];
    return TP_OK;
fail:
    /* as twin_new left it */
    t->first_seen_ms = t->last_seen_ms = t->last_sequence = t->events = 0;
    t->seen[0] = t->seen[1] = UINT64_MAX;
    t->minute_ms = TWIN_NO_MINUTE;
    t->n_metrics = 0;
    t->has_location = false;
    t->loc_mask = 0;
    memset(t->loc, 0, sizeof(t->loc));
    t->location_ts_ms = 0;
    t->model = t->firmware = t->region = NULL;
    return TP_DECODE;
}
