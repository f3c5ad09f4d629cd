/*
 * coding.h - the byte-level coding shared by the packed twin (pack.c, in
 * memory) and the twin record (record.c, persisted): LEB128 varints, zigzag,
 * wrapping differences, decimal-scaled doubles and near-decimal sums.
 * Internal to twin/: no service includes it.
 *
 * Static inline on purpose: pack.c calls these per field of millions of
 * twins, and the build has no LTO.
 *
 * Writers take a pointer with room enough (the callers' *_bound) and return
 * the pointer past what they wrote. Two kinds of readers:
 *   - coding_uv_get/coding_zz_get trust their input (pack.c's own bytes);
 *   - coding_uv_take/coding_zz_take check a bound and refuse a varint over
 *     10 bytes or beyond 64 bits (record.c, bytes read from a database).
 * The double decoders (coding_dec_value, coding_near_value) are total: any
 * integer decodes to some double, without undefined behaviour.
 *
 * Doubles (see pack.h): a value is stored at a decimal scale s (0..9) as the
 * integer m with m / 10^s == the double exactly, or raw (8 bytes, scale
 * CODING_RAW); a sum as the nearest decimal's integer plus its distance in
 * ulps.
 *
 *     int64_t m;
 *     int s = coding_scale(&v, 1, CODING_RAW, &m);
 *     p = coding_dbl_put(p, v, s, m);
 */
#ifndef TP_TWIN_CODING_H
#define TP_TWIN_CODING_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CODING_SCALE_MAX 9                  /* decimal scales 0..9 */
#define CODING_RAW       15                 /* scale: the double stored raw */
#define CODING_EXACT_MAX 9007199254740992.0 /* 2^53: every integer below is a double */
#define CODING_NEAR_MAX  (1 << 20)          /* farthest a near-decimal sum may be, in ulps */
#define CODING_UV_MAX    10                 /* bytes of the longest varint (64 bits) */

static const double coding_p10[CODING_SCALE_MAX + 1] = {1e0, 1e1, 1e2, 1e3, 1e4,
                                                        1e5, 1e6, 1e7, 1e8, 1e9};

static inline uint8_t *coding_uv_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint64_t coding_zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t coding_unzz(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static inline uint8_t *coding_zz_put(uint8_t *p, int64_t v)
{
    return coding_uv_put(p, coding_zz(v));
}

/* Unchecked: the input is trusted to hold a whole varint. */
static inline const uint8_t *coding_uv_get(const uint8_t *p, uint64_t *v)
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

static inline const uint8_t *coding_zz_get(const uint8_t *p, int64_t *v)
{
    uint64_t u;
    p = coding_uv_get(p, &u);
    *v = coding_unzz(u);
    return p;
}

/* Checked: a varint that ends before end, in at most 10 bytes, within 64 bits; else NULL. */
static inline const uint8_t *coding_uv_take(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < CODING_UV_MAX; i++) {
        if (p == end)
            return NULL;
        uint8_t b = *p++;
        if (i == CODING_UV_MAX - 1 && b > 1)
            return NULL; /* an 11th byte, or bits beyond 64 */
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return p;
        }
    }
    return NULL;
}

static inline const uint8_t *coding_zz_take(const uint8_t *p, const uint8_t *end, int64_t *v)
{
    uint64_t u;
    p = coding_uv_take(p, end, &u);
    if (p)
        *v = coding_unzz(u);
    return p;
}

/* a - b and a + b, wrapping (what one adds back, the other takes away exactly) */
static inline int64_t coding_sub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

static inline int64_t coding_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static inline int64_t coding_mul(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a * (uint64_t)b);
}

static inline bool coding_same(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

/* The number of ts_ms's minute since the epoch (floor, also before 1970). */
static inline int64_t coding_minute(int64_t ts_ms)
{
    int64_t m = ts_ms / 60000;
    return ts_ms % 60000 < 0 ? m - 1 : m;
}

/* m / 10^s: the double a decimal at scale s stands for. */
static inline double coding_dec_value(int64_t m, int s)
{
    return (double)m / coding_p10[s];
}

/* The double ulps away (in bits) from the decimal m at scale s. */
static inline double coding_near_value(int64_t m, int64_t ulps, int s)
{
    double back = coding_dec_value(m, s), v;
    uint64_t bits;
    memcpy(&bits, &back, sizeof(bits));
    bits += (uint64_t)ulps;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

/*
 * Sums: the sum of short decimals is rarely a short decimal itself (30.1 + 45.3 misses 75.4 by
 * an ulp), but it is within a few ulps of one. So a sum at a decimal scale s is stored as the
 * nearest decimal's integer m plus the distance in ulps from m / 10^s (the difference of the
 * two doubles' bits, same sign), both zigzag varints: usually 3-4 bytes instead of 8, and exact.
 * Whether it can: coding_near; CODING_NEAR_MAX bounds the distance.
 */
static inline bool coding_near(double v, int s, int64_t *m, int64_t *ulps)
{
    if (s == CODING_RAW)
        return false;
    double x = v * coding_p10[s];
    if (!(fabs(x) < CODING_EXACT_MAX))
        return false; /* also NaN, infinities */
    int64_t k = (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
    double back = coding_dec_value(k, s);
    if (signbit(back) != signbit(v))
        return false; /* -0.0, or a tiny value around 0 */
    int64_t bv, bb;
    memcpy(&bv, &v, sizeof(bv));
    memcpy(&bb, &back, sizeof(bb));
    int64_t d = bv - bb; /* both of one sign: their bits are ordered like their magnitudes */
    if (d <= -CODING_NEAR_MAX || d >= CODING_NEAR_MAX)
        return false;
    *m = k;
    *ulps = d;
    return true;
}

/* Whether v is exactly m / 10^s for an integer |m| < 2^53 (0 ulps from it; not -0.0); sets
 * *m. */
static inline bool coding_decimal(double v, int s, int64_t *m)
{
    int64_t ulps;
    return coding_near(v, s, m, &ulps) && ulps == 0;
}

/* A scale at which all n values are decimals, with their integers in ms: hint if it is one,
 * else the smallest; or CODING_RAW. */
static inline int coding_scale(const double *v, int n, int hint, int64_t *ms)
{
    if (hint <= CODING_SCALE_MAX) {
        int i = 0;
        while (i < n && coding_decimal(v[i], hint, &ms[i]))
            i++;
        if (i == n)
            return hint;
    }
    for (int s = 0; s <= CODING_SCALE_MAX; s++) {
        int i = 0;
        while (i < n && coding_decimal(v[i], s, &ms[i]))
            i++;
        if (i == n)
            return s;
    }
    return CODING_RAW;
}

static inline uint8_t *coding_raw_put(uint8_t *p, double v)
{
    memcpy(p, &v, sizeof(v));
    return p + sizeof(v);
}

static inline const uint8_t *coding_raw_get(const uint8_t *p, double *v)
{
    memcpy(v, p, sizeof(*v));
    return p + sizeof(*v);
}

static inline uint8_t *coding_near_put(uint8_t *p, int64_t m, int64_t ulps)
{
    return coding_zz_put(coding_zz_put(p, m), ulps);
}

/* v raw, or its integer m at a decimal scale s. */
static inline uint8_t *coding_dbl_put(uint8_t *p, double v, int s, int64_t m)
{
    return s == CODING_RAW ? coding_raw_put(p, v) : coding_zz_put(p, m);
}

#endif
