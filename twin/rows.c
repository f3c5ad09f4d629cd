#include "rows.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "record.h"

/* 2000-01-01 00:00 UTC, PostgreSQL's epoch, in ms since the Unix epoch */
#define TWIN_ROWS_PG_EPOCH_MS 946684800000LL
/* a row of at most this many bytes is composed on the stack */
#define TWIN_ROWS_STACK 4096

const char twin_rows_stage_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS twins_stage ("
    " device_id text, version bigint, last_seen timestamptz, state bytea) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS metric_minutes_stage ("
    " device_id text, metric text, minute timestamptz, min float8, max float8, sum float8,"
    " count bigint) ON COMMIT DELETE ROWS";

const char twin_rows_copy_twins_sql[] = "COPY twins_stage FROM STDIN (FORMAT binary)";
const char twin_rows_copy_history_sql[] = "COPY metric_minutes_stage FROM STDIN (FORMAT binary)";

static const uint8_t twin_rows_signature[11] = {'P',  'G',  'C',  'O',  'P', 'Y',
                                                '\n', 0xff, '\r', '\n', 0};

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
    return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
    return p + 8;
}

/* A field of n bytes: its length, then the bytes. */
static uint8_t *put_bytes(uint8_t *p, const void *data, size_t n)
{
    p = put32(p, (uint32_t)n);
    memcpy(p, data, n);
    return p + n;
}

static uint8_t *put_int8(uint8_t *p, int64_t v)
{
    return put64(put32(p, 8), (uint64_t)v);
}

static uint8_t *put_float8(uint8_t *p, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return put64(put32(p, 8), bits);
}

int64_t twin_rows_pg_time(int64_t ms)
{
    return (ms - TWIN_ROWS_PG_EPOCH_MS) * 1000;
}

void twin_rows_header(struct buf *out)
{
    uint8_t h[sizeof(twin_rows_signature) + 8];
    memcpy(h, twin_rows_signature, sizeof(twin_rows_signature));
    put32(put32(h + sizeof(twin_rows_signature), 0), 0); /* flags, header extension length */
    buf_append(out, h, sizeof(h));
}

void twin_rows_trailer(struct buf *out)
{
    uint8_t t[2];
    put16(t, 0xffff);
    buf_append(out, t, sizeof(t));
}

void twin_rows_twin(struct buf *out, const struct twin *t)
{
    size_t id_len = strlen(t->device_id);
    size_t bound = 2 + (4 + id_len) + 12 + 12 + 4 + twin_record_bound(t);
    uint8_t stack[TWIN_ROWS_STACK];
    uint8_t *row = bound <= sizeof(stack) ? stack : tp_malloc(bound);
    uint8_t *p = put16(row, TWIN_ROWS_TWIN_FIELDS);
    p = put_bytes(p, t->device_id, id_len);
    p = put_int8(p, t->events);
    p = put_int8(p, twin_rows_pg_time(t->last_seen_ms));
    uint8_t *len = p;
    size_t n = twin_record_write(p + 4, t);
    put32(len, (uint32_t)n);
    p += 4 + n;
    buf_append(out, row, (size_t)(p - row));
    if (row != stack)
        free(row);
}

void twin_rows_history(struct buf *out, const struct history *h, const struct history_entry *e)
{
    const char *dev = history_str(h, e->device_id);
    const char *metric = history_str(h, e->metric);
    size_t dev_len = strlen(dev), metric_len = strlen(metric);
    size_t bound = 2 + (4 + dev_len) + (4 + metric_len) + 5 * 12;
    uint8_t stack[TWIN_ROWS_STACK];
    uint8_t *row = bound <= sizeof(stack) ? stack : tp_malloc(bound);
    uint8_t *p = put16(row, TWIN_ROWS_HISTORY_FIELDS);
    p = put_bytes(p, dev, dev_len);
    p = put_bytes(p, metric, metric_len);
    p = put_int8(p, twin_rows_pg_time(e->minute_ms));
    p = put_float8(p, e->min);
    p = put_float8(p, e->max);
    p = put_float8(p, e->sum);
    p = put_int8(p, e->count);
    buf_append(out, row, (size_t)(p - row));
    if (row != stack)
        free(row);
}
