#include "pack.h"

#include <assert.h>
#include <stdbool.h>

#include "coding.h"
#include "names.h"

#define PACK_M_TS      0x10 /* metric flags: ts differs from last_seen */
#define PACK_M_COUNT   0x20 /* count differs from events */
#define PACK_M_SUMRAW  0x40 /* sum raw, not near a decimal at the scale */
#define PACK_M_MINUTE  0x80 /* figures in the open minute follow (mcount > 0) */
#define PACK_MM_SAME   1    /* minute word: mcount 1, mmin = mmax = msum = value */
#define PACK_MM_SUMRAW 2    /* minute word: msum raw, not near a decimal */
#define PACK_L_HAS     0x80 /* location bits: has_location; low 5 bits: mask */
#define PACK_L_TS      0x40 /* location_ts differs from last_seen */
#define PACK_L_MINUTE  0x20 /* an open minute (its start follows) */

/* A near-decimal whose integer was stored as its difference from base. */
static const uint8_t *unpack_near_base(const uint8_t *p, int s, int64_t base, double *v)
{
    int64_t m, ulps;
    p = coding_zz_get(p, &m);
    p = coding_zz_get(p, &ulps);
    *v = coding_near_value(coding_add(m, base), ulps, s);
    return p;
}

static const uint8_t *unpack_near(const uint8_t *p, int s, double *v)
{
    return unpack_near_base(p, s, 0, v);
}

static const uint8_t *unpack_dbl(const uint8_t *p, double *v, int s)
{
    if (s == CODING_RAW)
        return coding_raw_get(p, v);
    int64_t m;
    p = coding_zz_get(p, &m);
    *v = coding_dec_value(m, s);
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
    p = coding_zz_put(p, t->last_seen_ms);
    p = coding_zz_put(p, coding_sub(t->first_seen_ms, t->last_seen_ms));
    p = coding_uv_put(p, (uint64_t)t->events);
    p = coding_zz_put(p, coding_sub(t->last_sequence, t->events));
    p = coding_uv_put(p, pack_name_id(t->model));
    p = coding_uv_put(p, pack_name_id(t->firmware));
    p = coding_uv_put(p, pack_name_id(t->region));

    uint8_t lb = (uint8_t)(t->loc_mask & 0x1f);
    if (t->has_location)
        lb |= PACK_L_HAS;
    if (t->location_ts_ms != t->last_seen_ms)
        lb |= PACK_L_TS;
    if (t->minute_ms != TWIN_NO_MINUTE)
        lb |= PACK_L_MINUTE;
    *p++ = lb;
    if (lb & PACK_L_TS)
        p = coding_zz_put(p, coding_sub(t->location_ts_ms, t->last_seen_ms));
    if (lb & PACK_L_MINUTE)
        p = coding_zz_put(p,
                          coding_sub(coding_minute(t->minute_ms), coding_minute(t->last_seen_ms)));
    for (int i = 0; i < TWIN_LOC_N; i++) {
        if (!(t->loc_mask & (1u << i)))
            continue;
        int64_t m;
        int s = coding_scale(&t->loc[i], 1, CODING_RAW, &m);
        *p++ = (uint8_t)s;
        p = coding_dbl_put(p, t->loc[i], s, m);
    }

    p = coding_uv_put(p, t->n_metrics);
    for (size_t i = 0; i < t->n_metrics; i++) {
        const struct twin_metric *m = &t->metrics[i];
        bool in_minute = t->minute_ms != TWIN_NO_MINUTE && m->mcount > 0;
        bool same = in_minute && m->mcount == 1 && coding_same(m->mmin, m->value) &&
                    coding_same(m->mmax, m->value) && coding_same(m->msum, m->value);
        double v[5] = {m->value, m->min, m->max, m->mmin, m->mmax};
        int64_t ms[5], sm = 0, msm = 0;
        int s = coding_scale(v, in_minute && !same ? 5 : m->count != 0 ? 3 : 1, m->scale, ms);
        uint8_t flags = (uint8_t)s;
        if (m->ts_ms != t->last_seen_ms)
            flags |= PACK_M_TS;
        if (m->count != t->events)
            flags |= PACK_M_COUNT;
        int64_t sulps = 0, msulps = 0;
        if (m->count != 0 && !coding_near(m->sum, s, &sm, &sulps))
            flags |= PACK_M_SUMRAW;
        if (in_minute)
            flags |= PACK_M_MINUTE;
        p = coding_uv_put(p, names_id(m->name));
        *p++ = flags;
        if (flags & PACK_M_TS)
            p = coding_zz_put(p, coding_sub(m->ts_ms, t->last_seen_ms));
        if (flags & PACK_M_COUNT)
            p = coding_zz_put(p, coding_sub(m->count, t->events));
        p = coding_dbl_put(p, m->value, s, ms[0]);
        if (m->count != 0) {
            p = coding_dbl_put(p, m->min, s, ms[1]);
            p = coding_dbl_put(p, m->max, s, ms[2]);
            p = flags & PACK_M_SUMRAW ? coding_raw_put(p, m->sum) : coding_near_put(p, sm, sulps);
        }
        if (in_minute) {
            uint64_t word = (uint64_t)m->mcount << 2;
            if (same) {
                p = coding_uv_put(p, word | PACK_MM_SAME);
                continue;
            }
            bool sumraw = !coding_near(m->msum, s, &msm, &msulps);
            p = coding_uv_put(p, word | (sumraw ? PACK_MM_SUMRAW : 0));
            if (s == CODING_RAW) {
                p = coding_raw_put(coding_raw_put(p, m->mmin), m->mmax);
            } else { /* near the value, which is usually one of the minute's */
                p = coding_zz_put(p, coding_sub(ms[0], ms[3]));
                p = coding_zz_put(p, coding_sub(ms[4], ms[0]));
                msm = coding_sub(msm, (int64_t)((uint64_t)m->mcount * (uint64_t)ms[0]));
            }
            p = sumraw ? coding_raw_put(p, m->msum) : coding_near_put(p, msm, msulps);
        }
    }
    /* the sequence window, complemented: usually every bit is set (no gap), 1 byte each */
    p = coding_uv_put(p, ~t->seen[0]);
    p = coding_uv_put(p, ~t->seen[1]);
    assert((size_t)(p - out) <= pack_twin_bound(t));
    return (size_t)(p - out);
}

size_t pack_twin_read(struct twin *t, const uint8_t *in)
{
    const uint8_t *p = in;
    int64_t d;
    uint64_t u;
    p = coding_zz_get(p, &t->last_seen_ms);
    p = coding_zz_get(p, &d);
    t->first_seen_ms = coding_add(t->last_seen_ms, d);
    p = coding_uv_get(p, &u);
    t->events = (int64_t)u;
    p = coding_zz_get(p, &d);
    t->last_sequence = coding_add(t->events, d);
    const char **attrs[] = {&t->model, &t->firmware, &t->region};
    for (int i = 0; i < 3; i++) {
        p = coding_uv_get(p, &u);
        *attrs[i] = u ? names_str((uint32_t)(u - 1)) : NULL;
    }

    uint8_t lb = *p++;
    t->has_location = lb & PACK_L_HAS;
    t->loc_mask = lb & 0x1f;
    t->location_ts_ms = t->last_seen_ms;
    if (lb & PACK_L_TS) {
        p = coding_zz_get(p, &d);
        t->location_ts_ms = coding_add(t->last_seen_ms, d);
    }
    t->minute_ms = TWIN_NO_MINUTE;
    if (lb & PACK_L_MINUTE) {
        p = coding_zz_get(p, &d);
        t->minute_ms = coding_add(coding_minute(t->last_seen_ms), d) * 60000;
    }
    for (int i = 0; i < TWIN_LOC_N; i++) {
        t->loc[i] = 0;
        if (t->loc_mask & (1u << i)) {
            int s = *p++;
            p = unpack_dbl(p, &t->loc[i], s);
        }
    }

    p = coding_uv_get(p, &u);
    twin_metrics_reserve(t, (size_t)u);
    t->n_metrics = (size_t)u;
    for (size_t i = 0; i < t->n_metrics; i++) {
        struct twin_metric *m = &t->metrics[i];
        p = coding_uv_get(p, &u);
        m->name = names_str((uint32_t)u);
        uint8_t flags = *p++;
        int s = flags & 0x0f;
        m->scale = (uint8_t)s;
        m->ts_ms = t->last_seen_ms;
        m->count = t->events;
        if (flags & PACK_M_TS) {
            p = coding_zz_get(p, &d);
            m->ts_ms = coding_add(t->last_seen_ms, d);
        }
        if (flags & PACK_M_COUNT) {
            p = coding_zz_get(p, &d);
            m->count = coding_add(t->events, d);
        }
        p = unpack_dbl(p, &m->value, s);
        m->min = m->max = m->sum = 0;
        if (m->count != 0) {
            p = unpack_dbl(p, &m->min, s);
            p = unpack_dbl(p, &m->max, s);
            p = flags & PACK_M_SUMRAW ? coding_raw_get(p, &m->sum) : unpack_near(p, s, &m->sum);
        }
        m->mmin = m->mmax = m->msum = 0;
        m->mcount = 0;
        if (flags & PACK_M_MINUTE) {
            p = coding_uv_get(p, &u);
            m->mcount = (int64_t)(u >> 2);
            if (u & PACK_MM_SAME) {
                m->mmin = m->mmax = m->msum = m->value;
                continue;
            }
            if (s == CODING_RAW) {
                p = coding_raw_get(coding_raw_get(p, &m->mmin), &m->mmax);
                p = coding_raw_get(p, &m->msum); /* no decimal scale: raw too */
                continue;
            }
            int64_t v0 = 0, dmin, dmax;
            coding_decimal(m->value, s, &v0); /* packed at scale s: exact */
            p = coding_zz_get(p, &dmin);
            p = coding_zz_get(p, &dmax);
            m->mmin = coding_dec_value(coding_sub(v0, dmin), s);
            m->mmax = coding_dec_value(coding_add(v0, dmax), s);
            if (u & PACK_MM_SUMRAW)
                p = coding_raw_get(p, &m->msum);
            else
                p = unpack_near_base(p, s, (int64_t)((uint64_t)m->mcount * (uint64_t)v0), &m->msum);
        }
    }
    p = coding_uv_get(p, &u);
    t->seen[0] = ~u;
    p = coding_uv_get(p, &u);
    t->seen[1] = ~u;
    return (size_t)(p - in);
}
