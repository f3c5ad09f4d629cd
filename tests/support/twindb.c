#include "twindb.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* PostgreSQL's epoch (2000-01-01) in ms since the Unix epoch */
#define TWINDB_PG_EPOCH_MS 946684800000LL

static const char twindb_sql[] =
    "SELECT device_id, version, last_seen, state FROM twins"
    " WHERE $1::text IS NULL OR device_id LIKE $1 ORDER BY device_id COLLATE \"C\"";

static int64_t twindb_be64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | (uint8_t)p[i];
    return (int64_t)v;
}

static void twindb_fill(struct twindb_row *row, PGresult *res, int r)
{
    ck_assert_int_eq(PQgetlength(res, r, 1), 8);
    ck_assert_int_eq(PQgetlength(res, r, 2), 8);
    row->device_id = tp_strdup(PQgetvalue(res, r, 0));
    row->version = twindb_be64(PQgetvalue(res, r, 1));
    int64_t us = twindb_be64(PQgetvalue(res, r, 2));
    ck_assert_msg(us % 1000 == 0, "twin %s: last_seen has microseconds (%lld)", row->device_id,
                  (long long)us);
    row->last_seen_ms = us / 1000 + TWINDB_PG_EPOCH_MS;
    row->state_len = (size_t)PQgetlength(res, r, 3);
    row->state = tp_malloc(row->state_len + 1);
    memcpy(row->state, PQgetvalue(res, r, 3), row->state_len);
    row->metrics = tp_calloc(TWIN_VIEW_METRICS_MAX, sizeof(*row->metrics));
    row->v = (struct twin_view){.metrics = row->metrics, .cap_metrics = TWIN_VIEW_METRICS_MAX};
    char errstr[256];
    enum tp_err err = twin_record_view(&row->v, row->state, row->state_len, errstr, sizeof(errstr));
    ck_assert_msg(err == TP_OK, "twin %s: record of %zu bytes does not decode: %s", row->device_id,
                  row->state_len, errstr);
    ck_assert_msg(row->version == row->v.events, "twin %s: version %lld, record's events %lld",
                  row->device_id, (long long)row->version, (long long)row->v.events);
    ck_assert_msg(row->last_seen_ms == row->v.last_seen_ms,
                  "twin %s: last_seen %lld, record's %lld", row->device_id,
                  (long long)row->last_seen_ms, (long long)row->v.last_seen_ms);
}

void twindb_load(struct twindb *out, PGconn *db, const char *like)
{
    const char *params[] = {like};
    PGresult *res = PQexecParams(db, twindb_sql, 1, NULL, params, NULL, NULL, 1);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "twins: %s", PQerrorMessage(db));
    out->n = (size_t)PQntuples(res);
    out->rows = tp_calloc(out->n ? out->n : 1, sizeof(*out->rows));
    for (size_t i = 0; i < out->n; i++)
        twindb_fill(&out->rows[i], res, (int)i);
    PQclear(res);
}

void twindb_release(struct twindb *t)
{
    for (size_t i = 0; t->rows && i < t->n; i++) {
        free(t->rows[i].device_id);
        free(t->rows[i].state);
        free(t->rows[i].metrics);
    }
    free(t->rows);
    t->rows = NULL;
    t->n = 0;
}

const struct twindb_row *twindb_find(const struct twindb *t, const char *device_id)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->rows[i].device_id, device_id))
            return &t->rows[i];
    return NULL;
}

bool twindb_str_eq(struct twin_str a, const char *s)
{
    if (!a.p || !s)
        return !a.p && !s;
    return a.len == strlen(s) && !memcmp(a.p, s, a.len);
}

const struct twin_view_metric *twindb_metric(const struct twin_view *v, const char *name)
{
    for (size_t i = 0; i < v->n_metrics; i++)
        if (twindb_str_eq(v->metrics[i].name, name))
            return &v->metrics[i];
    return NULL;
}

static int twindb_str_cmp(struct twin_str a, struct twin_str b)
{
    int c = memcmp(a.p, b.p, a.len < b.len ? a.len : b.len);
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

static int twindb_metric_cmp(const void *a, const void *b)
{
    const struct twin_view_metric *const *x = a, *const *y = b;
    return twindb_str_cmp((*x)->name, (*y)->name);
}

static void twindb_str_text(struct buf *out, const char *key, struct twin_str s)
{
    if (s.p)
        buf_printf(out, " %s=\"%.*s\"", key, (int)s.len, s.p);
    else
        buf_printf(out, " %s=none", key);
}

void twindb_row_text(const struct twindb_row *r, struct buf *out)
{
    const struct twin_view *v = &r->v;
    buf_printf(out,
               "%s version=%" PRId64 " last_seen=%" PRId64 " record=v%d first_seen=%" PRId64
               " last_seen=%" PRId64 " last_sequence=%" PRId64 " events=%" PRId64
               " seen=%016" PRIx64 "%016" PRIx64,
               r->device_id, r->version, r->last_seen_ms, v->version, v->first_seen_ms,
               v->last_seen_ms, v->last_sequence, v->events, v->seen[1], v->seen[0]);
    if (v->minute_ms == TWIN_NO_MINUTE)
        buf_append_str(out, " minute=none");
    else
        buf_printf(out, " minute=%" PRId64, v->minute_ms);
    if (v->has_location) {
        buf_printf(out, " location=%x@%" PRId64, v->loc_mask, v->location_ts_ms);
        for (int i = 0; i < TWIN_LOC_N; i++)
            if (v->loc_mask & (1u << i))
                buf_printf(out, " %s=%.17g", twin_loc_names[i], v->loc[i]);
    } else {
        buf_append_str(out, " location=none");
    }
    twindb_str_text(out, "model", v->model);
    twindb_str_text(out, "firmware", v->firmware);
    twindb_str_text(out, "region", v->region);
    const struct twin_view_metric **m = tp_calloc(v->n_metrics + 1, sizeof(*m));
    for (size_t i = 0; i < v->n_metrics; i++)
        m[i] = &v->metrics[i];
    qsort(m, v->n_metrics, sizeof(*m), twindb_metric_cmp);
    for (size_t i = 0; i < v->n_metrics; i++) {
        buf_printf(out, " | %.*s=%.17g@%" PRId64 " min=%.17g max=%.17g sum=%.17g count=%" PRId64,
                   (int)m[i]->name.len, m[i]->name.p, m[i]->value, m[i]->ts_ms, m[i]->min,
                   m[i]->max, m[i]->sum, m[i]->count);
        if (m[i]->mcount > 0)
            buf_printf(out, " open=%.17g/%.17g/%.17g/%" PRId64, m[i]->mmin, m[i]->mmax, m[i]->msum,
                       m[i]->mcount);
    }
    free(m);
    buf_append_str(out, "\n");
}

void twindb_text(PGconn *db, const char *like, struct buf *out)
{
    struct twindb t;
    twindb_load(&t, db, like);
    buf_reset(out);
    for (size_t i = 0; i < t.n; i++)
        twindb_row_text(&t.rows[i], out);
    twindb_release(&t);
}
