#include "pace.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void pace_fleet(struct pace *p, size_t conn, size_t conns, size_t conn_devices, size_t devices,
                int64_t period_ms, double rate, size_t batch)
{
    double natural = (double)devices * 1000.0 / (double)period_ms;
    double share = rate > 0 && rate < natural ? rate / natural : 1.0;
    p->rate = (double)conn_devices * 1000.0 / (double)period_ms * share;
    p->batch = batch < conn_devices ? batch : conn_devices;
    p->phase = (double)p->batch * (double)(conn + 1) / (double)conns;
    p->sent = 0;
}

void pace_shared(struct pace *p, double rate, size_t batch)
{
    p->rate = rate > 0 ? rate : 0;
    p->batch = batch;
    p->phase = (double)batch;
    p->sent = 0;
}

size_t pace_due(const struct pace *p, double elapsed_s)
{
    if (p->rate <= 0)
        return p->batch;
    return (double)(p->sent + p->batch) <= p->rate * elapsed_s + p->phase ? p->batch : 0;
}

void pace_sent(struct pace *p, size_t n)
{
    p->sent += n;
}

static int64_t pd_interval_us(const struct pace_devices *p, int64_t period_ms)
{
    return llround((double)period_ms * 1000.0 / p->share);
}

static bool pd_before(const struct pace_devices *p, uint32_t a, uint32_t b)
{
    return p->due_us[a] < p->due_us[b] || (p->due_us[a] == p->due_us[b] && a < b);
}

static void pd_swap(struct pace_devices *p, size_t i, size_t j)
{
    uint32_t t = p->heap[i];
    p->heap[i] = p->heap[j];
    p->heap[j] = t;
    p->pos[p->heap[i]] = (uint32_t)i;
    p->pos[p->heap[j]] = (uint32_t)j;
}

/* Moves the entry at i to its place. */
static void pd_fix(struct pace_devices *p, size_t i)
{
    while (i > 0 && pd_before(p, p->heap[i], p->heap[(i - 1) / 2])) {
        pd_swap(p, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < p->n && pd_before(p, p->heap[l], p->heap[m]))
            m = l;
        if (r < p->n && pd_before(p, p->heap[r], p->heap[m]))
            m = r;
        if (m == i)
            return;
        pd_swap(p, i, m);
        i = m;
    }
}

void pace_devices_init(struct pace_devices *p, size_t conn, size_t conns, size_t conn_devices,
                       size_t devices, int64_t period_ms, double rate, size_t batch)
{
    struct pace f;
    pace_fleet(&f, conn, conns, conn_devices, devices, period_ms, rate, batch);
    double natural = (double)devices * 1000.0 / (double)period_ms;
    p->share = rate > 0 && rate < natural ? rate / natural : 1.0;
    p->n = conn_devices;
    p->batch = f.batch;
    /* one block (a device-token fleet has a connection, so a pace, per device) */
    int64_t *block = tp_calloc(p->n, 3 * sizeof(int64_t) + 2 * sizeof(uint32_t));
    p->due_us = block;
    p->last_us = block + p->n;
    p->period_ms = block + 2 * p->n;
    p->heap = (uint32_t *)(block + 3 * p->n);
    p->pos = p->heap + p->n;
    /* reading k = j * n + r of the connection is due at (k + 1 - phase) / rate */
    for (size_t r = 0; r < p->n; r++) {
        p->due_us[r] = llround(((double)r + 1.0 - f.phase) / f.rate * 1e6);
        p->last_us[r] = INT64_MIN;
        p->period_ms[r] = period_ms;
        p->heap[r] = (uint32_t)r; /* due times rise with the rank: already a heap */
        p->pos[r] = (uint32_t)r;
    }
}

void pace_devices_release(struct pace_devices *p)
{
    free(p->due_us); /* the block */
    memset(p, 0, sizeof(*p));
}

/* Devices due at now in the subtree at i, counting up to want. */
static size_t pd_count(const struct pace_devices *p, size_t i, int64_t now_us, size_t want)
{
    if (i >= p->n || p->due_us[p->heap[i]] > now_us)
        return 0;
    size_t c = 1;
    if (c < want)
        c += pd_count(p, 2 * i + 1, now_us, want - c);
    if (c < want)
        c += pd_count(p, 2 * i + 2, now_us, want - c);
    return c;
}

size_t pace_devices_due(const struct pace_devices *p, int64_t now_us)
{
    return p->n && pd_count(p, 0, now_us, p->batch) >= p->batch ? p->batch : 0;
}

size_t pace_devices_take(struct pace_devices *p)
{
    assert(p->n > 0);
    uint32_t r = p->heap[0];
    p->last_us[r] = p->due_us[r];
    p->due_us[r] += pd_interval_us(p, p->period_ms[r]);
    pd_fix(p, 0);
    return r;
}

bool pace_devices_set_period(struct pace_devices *p, size_t rank, int64_t period_ms)
{
    assert(rank < p->n && period_ms > 0);
    if (p->period_ms[rank] == period_ms)
        return false;
    p->period_ms[rank] = period_ms;
    if (p->last_us[rank] != INT64_MIN) {
        p->due_us[rank] = p->last_us[rank] + pd_interval_us(p, period_ms);
        pd_fix(p, p->pos[rank]);
    }
    return true;
}

int64_t pace_devices_next_us(const struct pace_devices *p, size_t rank)
{
    return p->due_us[rank];
}
