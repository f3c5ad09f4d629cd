#include "pace.h"

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
