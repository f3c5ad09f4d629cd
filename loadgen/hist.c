#include "hist.h"

#include <string.h>

#define HIST_MAX ((1ULL << 40) - 1)

/* values below HIST_SUB have a bucket each; above, bucket (e, m) holds
 * [2^e + m * 2^e / HIST_SUB, 2^e + (m + 1) * 2^e / HIST_SUB) for e >= 5 */
static unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 2^e <= v */
    unsigned m = (unsigned)((v - (1ULL << e)) >> (e - 5));
    return (e - 4) * HIST_SUB + m;
}

/* The largest value of bucket i. */
static uint64_t hist_upper(unsigned i)
{
    if (i < HIST_SUB)
        return i;
    unsigned e = i / HIST_SUB + 4, m = i % HIST_SUB;
    return (1ULL << e) + ((uint64_t)(m + 1) << (e - 5)) - 1;
}

void hist_add(struct hist *h, uint64_t us)
{
    if (us > HIST_MAX)
        us = HIST_MAX;
    h->counts[hist_index(us)]++;
    h->count++;
    if (us > h->max_us)
        h->max_us = us;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->count += from->count;
    if (from->max_us > into->max_us)
        into->max_us = from->max_us;
}

void hist_reset(struct hist *h)
{
    memset(h, 0, sizeof(*h));
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q < 0)
        q = 0;
    uint64_t want = (uint64_t)(q * (double)h->count + 0.999999);
    if (want == 0)
        want = 1;
    if (want > h->count)
        want = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            uint64_t u = hist_upper(i);
            return u < h->max_us ? u : h->max_us;
        }
    }
    return h->max_us;
}

uint64_t hist_count_le(const struct hist *h, uint64_t us)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < HIST_BUCKETS && hist_upper(i) <= us; i++)
        n += h->counts[i];
    return n;
}
