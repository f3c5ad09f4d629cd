#include "pack.h"

#include <assert.h>
#include <stdbool.h>
#include <math.h>
#include <string.h>

#include "names.h"

#define PACK_SCALE_MAX 9                  /* decimal scales 0..9 */
#define PACK_RAW       15                 /* scale nibble: doubles stored raw */
#define PACK_M_TS      0x10               /* metric flags: ts differs from last_seen */
#define PACK_M_COUNT   0x20               /* count differs from events */
#define PACK_M_SUMRAW  0x40               /* sum raw, not near a decimal at the scale */
#define PACK_M_MINUTE  0x80               /* figures in the open minute follow (mcount > 0) */
#define PACK_MM_SAME   1                  /* minute word: mcount 1, mmin = mmax = msum = value */
#define PACK_MM_SUMRAW 2                  /* minute word: msum raw, not near a decimal */
#define PACK_L_HAS     0x80               /* location bits: has_location; low 5 bits: mask */
#define PACK_L_TS      0x40               /* location_ts differs from last_seen */
#define PACK_L_MINUTE  0x20               /* an open minute (its start follows) */
#define PACK_EXACT_MAX 9007199254740992.0 /* 2^53: every integer below is a double */

static const double pack_p10[PACK_SCALE_MAX + 1] = {1e0, 1e1, 1e2, 1e3, 1e4,
                                                    1e5, 1e6, 1e7, 1e8, 1e9};

static uint8_t *pack_uv(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static uint8_t *pack_zz(uint8_t *p, int64_t v)
{
    return pack_uv(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static const uint8_t *unpack_uv(const uint8_t *p, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0;; shift += 7) {
        uint8_t b = *p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    *v = x;
    return p;
}

static const uint8_t *unpack_zz(const uint8_t *p, int64_t *v)
{
    uint64_t u;
    p = unpack_uv(p, &u);
    *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return p;
}

static int64_t pack_sub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b); /* wraps, and adds back the same way */
}

static int64_t pack_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/*
 * Sums: the sum of short decimals is rarely a short decimal itself (30.1 + 45.3 misses 75.4 by
 * an ulp), but it is within a few ulps of one. So a sum at a decimal scale s is stored as the
 * nearest decimal's integer m plus the distance in ulps from m / 10^s (the difference of the
 * two doubles' bits, same sign), both zigzag varints: usually 3-4 bytes instead of 8, and exact.
 * Whether it can: pack_near; PACK_NEAR_MAX bounds the distance.
 */
#define PACK_NEAR_MAX (1 << 20)

static bool pack_near(double v, int s, int64_t *m, int64_t *ulps)
{
    if (s == PACK_RAW)
        return false;
    double x = v * pack_p10[s];
    if (!(fabs(x) < PACK_EXACT_MAX))
        return false; /* also NaN, infinities */
    int64_t k = (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
    double back = (double)k / pack_p10[s];
    if (signbit(back) != signbit(v))
        return false; /* -0.0, or a tiny value around 0 */
    int64_t bv, bb;
    memcpy(&bv, &v, sizeof(bv));
    memcpy(&bb, &back, sizeof(bb));
    int64_t d = bv - bb; /* both of one sign: their bits are ordered like their magnitudes */
    if (d <= -PACK_NEAR_MAX || d >= PACK_NEAR_MAX)
        return false;
    *m = k;
    *ulps = d;
    return true;
}

/* Whether v is exactly m / 10^s for an integer |m| < 2^53 (0 ulps from it; not -0.0); sets
 * *m. */
static bool pack_decimal(double v, int s, int64_t *m)
{
    int64_t ulps;
    return pack_near(v, s, m, &ulps) && ulps == 0;
}

/* A scale at which all n values are decimals, with their integers in ms: hint if it is one,
 * else the smallest; or PACK_RAW. */
static int pack_scale(const double *v, int n, int hint, int64_t *ms)
{
    if (hint <= PACK_SCALE_MAX) {
        int i = 0;
        while (i < n && pack_decimal(v[i], hint, &ms[i]))
            i++;
        if (i == n)
            return hint;
    }
    for (int s = 0; s <= PACK_SCALE_MAX; s++) {
        int i = 0;
        while (i < n && pack_decimal(v[i], s, &ms[i]))
            i++;
        if (i == n)
            return s;
    }
    return PACK_RAW;
}

static uint8_t *pack_raw(uint8_t *p, double v)
{
    memcpy(p, &v, sizeof(v));
    return p + sizeof(v);
}

static const uint8_t *unpack_raw(const uint8_t *p, double *v)
{
    memcpy(v, p, sizeof(*v));
    return p + sizeof(*v);
}

/* The number of ts_ms's minute since the epoch (floor, also before 1970). */
static int64_t pack_minute(int64_t ts_ms)
{
    int64_t m = ts_ms / 60000;
    return ts_ms % 60000 < 0 ? m - 1 : m;
}

static bool pack_same(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static uint8_t *pack_near_write(uint8_t *p, int64_t m, int64_t ulps)
{
    return pack_zz(pack_zz(p, m), ulps);
}

/* A near-decimal whose integer was stored as its difference from base. */
static const uint8_t *unpack_near_base(const uint8_t *p, int s, int64_t base, double *v)
{
    int64_t m, ulps, bits;
    p = unpack_zz(p, &m);
    m = pack_add(m, base);
    p = unpack_zz(p, &ulps);
    double back = (double)m / pack_p10[s];
    memcpy(&bits, &back, sizeof(bits));
    bits += ulps;
    memcpy(v, &bits, sizeof(bits));
    return p;
}

static const uint8_t *unpack_near(const uint8_t *p, int s, double *v)
{
    return unpack_near_base(p, s, 0, v);
}

/* v raw, or its integer m at a decimal scale s. */
static uint8_t *pack_dbl(uint8_t *p, double v, int s, int64_t m)
{
    return s == PACK_RAW ? pack_raw(p, v) : pack_zz(p, m);
}

static const uint8_t *unpack_dbl(const uint8_t *p, double *v, int s)
{
    if (s == PACK_RAW)
        return unpack_raw(p, v);
    int64_t m;
    p = unpack_zz(p, &m);
    *v = (double)m / pack_p10[s];
    return p;
}

static uint64_t pack_name_id(const char *interned)
{
    return interned ? (uint64_t)names_id(interned) + 1 : 0;
}

size_t pack_twin_bound(const struct twin *t)
{
    /* varints of 64 bits take 10 bytes; a double at most 10 */
    return 4 * 10 + 3 * 5 + 1 + 10 + 10 + TWIN_LOC_N * 11 + 10 + 2 * 10 +
           t->n_metrics * (5 + 1 + 10 + 10 + 40 + 10 + 30);
}

size_t pack_twin_write(uint8_t *out, const struct twin *t)
{
    uint8_t *p = out;
    p = pack_zz(p, t->last_seen_ms);
    p = pack_zz(p, pack_sub(t->first_seen_ms, t->last_seen_ms));
    p = pack_uv(p, (uint64_t)t->events);
    p = pack_zz(p, pack_sub(t->last_sequence, t->events));
    p = pack_uv(p, pack_name_id(t->model));
    p = pack_uv(p, pack_name_id(t->firmware));
    p = pack_uv(p, pack_name_id(t->region));

    uint8_t lb = (uint8_t)(t->loc_mask & 0x1f);
    if (t->has_location)
        lb |= PACK_L_HAS;
    if (t->location_ts_ms != t->last_seen_ms)
        lb |= PACK_L_TS;
    if (t->minute_ms != TWIN_NO_MINUTE)
        lb |= PACK_L_MINUTE;
    *p++ = lb;
    if (lb & PACK_L_TS)
        p = pack_zz(p, pack_sub(t->location_ts_ms, t->last_seen_ms));
    if (lb & PACK_L_MINUTE)
        p = pack_zz(p, pack_sub(pack_minute(t->minute_ms), pack_minute(t->last_seen_ms)));
    for (int i = 0; i < TWIN_LOC_N; i++) {
        if (!(t->loc_mask & (1u << i)))
            continue;
        int64_t m;
        int s = pack_scale(&t->loc[i], 1, PACK_RAW, &m);
        *p++ = (uint8_t)s;
        p = pack_dbl(p, t->loc[i], s, m);
    }

    p = pack_uv(p, t->n_metrics);
    for (size_t i = 0; i < t->n_metrics; i++) {
        const struct twin_metric *m = &t->metrics[i];
        bool in_minute = t->minute_ms != TWIN_NO_MINUTE && m->mcount > 0;
        bool same = in_minute && m->mcount == 1 && pack_same(m->mmin, m->value) &&
                    pack_same(m->mmax, m->value) && pack_same(m->msum, m->value);
        double v[5] = {m->value, m->min, m->max, m->mmin, m->mmax};
        int64_t ms[5], sm = 0, msm = 0;
        int s = pack_scale(v, in_minute && !same ? 5 : m->count != 0 ? 3 : 1, m->scale, ms);
        uint8_t flags = (uint8_t)s;
        if (m->ts_ms != t->last_seen_ms)
            flags |= PACK_M_TS;
        if (m->count != t->events)
            flags |= PACK_M_COUNT;
        int64_t sulps = 0, msulps = 0;
        if (m->count != 0 && !pack_near(m->sum, s, &sm, &sulps))
            flags |= PACK_M_SUMRAW;
        if (in_minute)
            flags |= PACK_M_MINUTE;
        p = pack_uv(p, names_id(m->name));
        *p++ = flags;
        if (flags & PACK_M_TS)
            p = pack_zz(p, pack_sub(m->ts_ms, t->last_seen_ms));
        if (flags & PACK_M_COUNT)
            p = pack_zz(p, pack_sub(m->count, t->events));
        p = pack_dbl(p, m->value, s, ms[0]);
        if (m->count != 0) {
            p = pack_dbl(p, m->min, s, ms[1]);
            p = pack_dbl(p, m->max, s, ms[2]);
            p = flags & PACK_M_SUMRAW ? pack_raw(p, m->sum) : pack_near_write(p, sm, sulps);
        }
        if (in_minute) {
            uint64_t word = (uint64_t)m->mcount << 2;
            if (same) {
                p = pack_uv(p, word | PACK_MM_SAME);
                continue;
            }
            bool sumraw = !pack_near(m->msum, s, &msm, &msulps);
            p = pack_uv(p, word | (sumraw ? PACK_MM_SUMRAW : 0));
            if (s == PACK_RAW) {
                p = pack_raw(pack_raw(p, m->mmin), m->mmax);
            } else { /* near the value, which is usually one of the minute's */
                p = pack_zz(p, pack_sub(ms[0], ms[3]));
                p = pack_zz(p, pack_sub(ms[4], ms[0]));
                msm = pack_sub(msm, (int64_t)((uint64_t)m->mcount * (uint64_t)ms[0]));
            }
            p = sumraw ? pack_raw(p, m->msum) : pack_near_write(p, msm, msulps);
        }
    }
    /* the sequence window, complemented: usually every bit is set (no gap), 1 byte each */
    p = pack_uv(p, ~t->seen[0]);
    p = pack_uv(p, ~t->seen[1]);
    assert((size_t)(p - out) <= pack_twin_bound(t));
    return (size_t)(p - out);
}

size_t pack_twin_read(struct twin *t, const uint8_t *in)
{
    const uint8_t *p = in;
    int64_t d;
    uint64_t u;
    p = unpack_zz(p, &t->last_seen_ms);
    p = unpack_zz(p, &d);
    t->first_seen_ms = pack_add(t->last_seen_ms, d);
    p = unpack_uv(p, &u);
    t->events = (int64_t)u;
    p = unpack_zz(p, &d);
    t->last_sequence = pack_add(t->events, d);
    const char **attrs[] = {&t->model, &t->firmware, &t->region};
    for (int i = 0; i < 3; i++) {
        p = unpack_uv(p, &u);
        *attrs[i] = u ? names_str((uint32_t)(u - 1)) : NULL;
    }

    uint8_t lb = *p++;
    t->has_location = lb & PACK_L_HAS;
    t->loc_mask = lb & 0x1f;
    t->location_ts_ms = t->last_seen_ms;
    if (lb & PACK_L_TS) {
        p = unpack_zz(p, &d);
        t->location_ts_ms = pack_add(t->last_seen_ms, d);
    }
    t->minute_ms = TWIN_NO_MINUTE;
    if (lb & PACK_L_MINUTE) {
        p = unpack_zz(p, &d);
        t->minute_ms = pack_add(pack_minute(t->last_seen_ms), d) * 60000;
    }
    for (int i = 0; i < TWIN_LOC_N; i++) {
        t->loc[i] = 0;
        if (t->loc_mask & (1u << i)) {
            int s = *p++;
            p = unpack_dbl(p, &t->loc[i], s);
        }
    }

    p = unpack_uv(p, &u);
    twin_metrics_reserve(t, (size_t)u);
    t->n_metrics = (size_t)u;
    for (size_t i = 0; i < t->n_metrics; i++) {
        struct twin_metric *m = &t->metrics[i];
        p = unpack_uv(p, &u);
        m->name = names_str((uint32_t)u);
        uint8_t flags = *p++;
        int s = flags & 0x0f;
        m->scale = (uint8_t)s;
        m->ts_ms = t->last_seen_ms;
        m->count = t->events;
        if (flags & PACK_M_TS) {
            p = unpack_zz(p, &d);
            m->ts_ms = pack_add(t->last_seen_ms, d);
        }
        if (flags & PACK_M_COUNT) {
            p = unpack_zz(p, &d);
            m->count = pack_add(t->events, d);
        }
        p = unpack_dbl(p, &m->value, s);
        m->min = m->max = m->sum = 0;
        if (m->count != 0) {
            p = unpack_dbl(p, &m->min, s);
            p = unpack_dbl(p, &m->max, s);
            p = flags & PACK_M_SUMRAW ? unpack_raw(p, &m->sum) : unpack_near(p, s, &m->sum);
        }
        m->mmin = m->mmax = m->msum = 0;
        m->mcount = 0;
        if (flags & PACK_M_MINUTE) {
            p = unpack_uv(p, &u);
            m->mcount = (int64_t)(u >> 2);
            if (u & PACK_MM_SAME) {
                m->mmin = m->mmax = m->msum = m->value;
                continue;
            }
            if (s == PACK_RAW) {
                p = unpack_raw(unpack_raw(p, &m->mmin), &m->mmax);
                p = unpack_raw(p, &m->msum); /* no decimal scale: raw too */
                continue;
            }
            int64_t v0, dmin, dmax;
            pack_decimal(m->value, s, &v0); /* packed at scale s: exact */
            p = unpack_zz(p, &dmin);
            p = unpack_zz(p, &dmax);
            m->mmin = (double)pack_sub(v0, dmin) / pack_p10[s];
            m->mmax = (double)pack_add(v0, dmax) / pack_p10[s];
            if (u & PACK_MM_SUMRAW)
                p = unpack_raw(p, &m->msum);
            else
                p = unpack_near_base(p, s, (int64_t)((uint64_t)m->mcount * (uint64_t)v0), &m->msum);
        }
    }
    p = unpack_uv(p, &u);
    t->seen[0] = ~u;
    p = unpack_uv(p, &u);
    t->seen[1] = ~u;
    return (size_t)(p - in);
}
