#include "rows.h"

#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "twin/rows.h"

#define AGGREGATE_ROWS_FIELDS 7

const char aggregate_rows_stage_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS aggregate_windows_stage (category text, attributes text,"
    " window_start timestamptz, window_ms int, journal_partition int, readings bigint,"
    " metrics bytea) ON COMMIT DELETE ROWS";

const char aggregate_rows_copy_sql[] = "COPY aggregate_windows_stage FROM STDIN (FORMAT binary)";

#define AGGREGATE_ROWS_COLUMNS                                                                     \
    "category, attributes, (extract(epoch FROM window_start) * 1000)::bigint, window_ms,"          \
    " journal_partition, version, readings, convert_from(metrics, 'UTF8')"

const char aggregate_rows_upsert_sql[] =
    "INSERT INTO aggregate_windows AS w (category, attributes, window_start, window_ms,"
    " journal_partition, version, readings, metrics)"
    " SELECT category, attributes, window_start, window_ms, journal_partition, 1, readings,"
    " metrics FROM aggregate_windows_stage"
    " ON CONFLICT (category, window_start, journal_partition) DO UPDATE SET"
    " version = w.version + 1, readings = w.readings + EXCLUDED.readings,"
    " metrics = aggregate_metrics_merge(w.metrics, EXCLUDED.metrics), updated_at = now()"
    " RETURNING " AGGREGATE_ROWS_COLUMNS;

const char aggregate_rows_sweep_sql[] =
    "SELECT " AGGREGATE_ROWS_COLUMNS " FROM aggregate_windows"
    " WHERE published_version < version AND journal_partition = ANY($1::int[])"
    " AND window_start + (window_ms + $2::bigint) * interval '1 millisecond' <= now()"
    " ORDER BY window_start, journal_partition, category LIMIT $3::bigint";

const char aggregate_rows_published_sql[] =
    "UPDATE aggregate_windows AS w SET published_version = x.v"
    " FROM (SELECT c, s, p, max(v) AS v FROM unnest($1::text[], $2::bigint[], $3::int[],"
    " $4::bigint[]) AS u(c, s, p, v) GROUP BY c, s, p) AS x"
    " WHERE w.category = x.c AND w.window_start = timestamptz 'epoch' + x.s * interval '1 "
    "millisecond'"
    " AND w.journal_partition = x.p AND w.published_version < x.v";

const char aggregate_rows_retention_sql[] =
    "DELETE FROM aggregate_windows WHERE window_start < now() - $1::bigint * interval '1 hour'"
    " AND published_version >= version";

static int aggregate_rows_cmp_metric(const void *a, const void *b)
{
    return strcmp(((const struct aggregate_metric *)a)->name,
                  ((const struct aggregate_metric *)b)->name);
}

void aggregate_rows_metrics_text(struct buf *out, const struct aggregate_entry *e)
{
    struct aggregate_metric *copy = tp_calloc(e->n_metrics ? e->n_metrics : 1, sizeof(*copy));
    memcpy(copy, e->metrics, e->n_metrics * sizeof(*copy));
    qsort(copy, e->n_metrics, sizeof(*copy), aggregate_rows_cmp_metric);
    for (size_t i = 0; i < e->n_metrics; i++) {
        const struct aggregate_metric *m = &copy[i];
        buf_printf(out, "%s\t%lld\t", m->name, (long long)m->count);
        json_double(out, m->min);
        buf_append_str(out, "\t");
        json_double(out, m->max);
        buf_append_str(out, "\t");
        json_double(out, m->sum);
        buf_append_str(out, "\n");
    }
    free(copy);
}

static void put_be(struct buf *out, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    buf_append(out, b, (size_t)bytes);
}

static void put_field(struct buf *out, const void *data, size_t n)
{
    put_be(out, (uint32_t)n, 4);
    buf_append(out, data, n);
}

static void put_int(struct buf *out, uint64_t v, int bytes)
{
    put_be(out, (uint32_t)bytes, 4);
    put_be(out, v, bytes);
}

size_t aggregate_rows_copy(struct buf *out, const struct aggregate_map *m)
{
    if (m->n == 0)
        return 0;
    struct buf metrics;
    buf_init(&metrics, SIZE_MAX / 2);
    twin_rows_header(out);
    for (size_t i = 0; i < m->n; i++) {
        const struct aggregate_entry *e = &m->entries[i];
        const char *key = aggregate_map_key(m, e);
        buf_reset(&metrics);
        aggregate_rows_metrics_text(&metrics, e);
        put_be(out, AGGREGATE_ROWS_FIELDS, 2);
        put_field(out, key, strlen(key));
        put_field(out, m->spec.names, strlen(m->spec.names));
        put_int(out, (uint64_t)twin_rows_pg_time(e->window_start_ms), 8);
        put_int(out, (uint32_t)m->window_ms, 4);
        put_int(out, (uint32_t)e->partition, 4);
        put_int(out, (uint64_t)e->readings, 8);
        put_field(out, metrics.data ? metrics.data : "", metrics.len);
    }
    twin_rows_trailer(out);
    buf_release(&metrics);
    return m->n;
}

void aggregate_rows_push(struct aggregate_rows *rows, const struct aggregate_row *r)
{
    if (rows->n == rows->cap) {
        rows->cap = rows->cap ? 2 * rows->cap : 16;
        rows->v = tp_realloc(rows->v, rows->cap * sizeof(*rows->v));
    }
    struct aggregate_row *c = &rows->v[rows->n++];
    *c = *r;
    c->category = tp_strdup(r->category);
    c->attributes = tp_strdup(r->attributes);
    c->metrics = tp_malloc(r->metrics_len + 1);
    memcpy(c->metrics, r->metrics, r->metrics_len);
    c->metrics[r->metrics_len] = '\0';
}

enum tp_err aggregate_rows_read(const PGresult *res, struct aggregate_rows *rows, char *errstr,
                                size_t errstr_size)
{
    if (PQnfields(res) != 8)
        return tp_err_set(TP_DB, errstr, errstr_size,
                          "aggregate_windows: %d columns where 8 were expected", PQnfields(res));
    for (int i = 0; i < PQntuples(res); i++) {
        struct aggregate_row r = {
            .category = PQgetvalue(res, i, 0),
            .attributes = PQgetvalue(res, i, 1),
            .window_start_ms = strtoll(PQgetvalue(res, i, 2), NULL, 10),
            .window_ms = (int32_t)strtol(PQgetvalue(res, i, 3), NULL, 10),
            .partition = (int32_t)strtol(PQgetvalue(res, i, 4), NULL, 10),
            .version = strtoll(PQgetvalue(res, i, 5), NULL, 10),
            .readings = strtoll(PQgetvalue(res, i, 6), NULL, 10),
            .metrics = PQgetvalue(res, i, 7),
            .metrics_len = (size_t)PQgetlength(res, i, 7),
        };
        aggregate_rows_push(rows, &r);
    }
    return TP_OK;
}

void aggregate_rows_release(struct aggregate_rows *rows)
{
    for (size_t i = 0; i < rows->n; i++) {
        free(rows->v[i].category);
        free(rows->v[i].attributes);
        free(rows->v[i].metrics);
    }
    free(rows->v);
    memset(rows, 0, sizeof(*rows));
}
