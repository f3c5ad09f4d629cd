#include "store.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"

#define STORE_COPY_CHUNK (1 << 20)

struct store {
    PGconn *db;
    char *dsn;
    char *group;
    char *topic;
    /* pg_class oid of the twins table this projector's state comes from (0: not known yet);
     * tp-replay swaps in a rebuilt table, and a flush of state from the old one must fail */
    int64_t twins_oid;
};

const char store_stage_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS twins_stage ("
    " device_id text, first_seen_ms bigint, last_seen_ms bigint, last_sequence bigint,"
    " events bigint, metrics jsonb, location jsonb, attributes jsonb, minute_ms bigint,"
    " minute_stats jsonb, seq_window bytea) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS metric_minutes_stage ("
    " device_id text, metric text, minute_ms bigint, min float8, max float8, sum float8,"
    " count bigint) ON COMMIT DELETE ROWS";

const char store_upsert_sql[] =
    "INSERT INTO twins AS t (device_id, first_seen, last_seen, last_sequence, events, metrics,"
    " location, attributes, updated_at, minute, minute_stats, seq_window)"
    " SELECT device_id, timestamptz 'epoch' + first_seen_ms * interval '1 millisecond',"
    " timestamptz 'epoch' + last_seen_ms * interval '1 millisecond', last_sequence, events,"
    " metrics, location, attributes, now(),"
    " timestamptz 'epoch' + minute_ms * interval '1 millisecond', minute_stats, seq_window"
    " FROM twins_stage ON CONFLICT (device_id) DO UPDATE SET first_seen = EXCLUDED.first_seen,"
    " last_seen = EXCLUDED.last_seen, last_sequence = EXCLUDED.last_sequence,"
    " events = EXCLUDED.events, metrics = EXCLUDED.metrics, location = EXCLUDED.location,"
    " attributes = EXCLUDED.attributes, updated_at = now(), minute = EXCLUDED.minute,"
    " minute_stats = EXCLUDED.minute_stats, seq_window = EXCLUDED.seq_window"
    " WHERE (t.last_sequence, t.events) <= (EXCLUDED.last_sequence, EXCLUDED.events)";

static const char store_history_sql[] =
    "INSERT INTO metric_minutes AS m (device_id, metric, minute, min, max, sum, count)"
    " SELECT device_id, metric, timestamptz 'epoch' + minute_ms * interval '1 millisecond',"
    " min, max, sum, count FROM metric_minutes_stage"
    " ON CONFLICT (device_id, metric, minute) DO UPDATE SET min = least(m.min, EXCLUDED.min),"
    " max = greatest(m.max, EXCLUDED.max), sum = m.sum + EXCLUDED.sum,"
    " count = m.count + EXCLUDED.count";

/*
 * Compare-and-set of the offsets, first in the flush transaction: every
 * partition must still be at the offset this projector last read or wrote
 * ($5, negative = no row yet), else the row is left alone and the count
 * falls short. The rows stay locked until COMMIT, so a concurrent flush of
 * the same partitions (a zombie after a lost assignment) waits and then
 * fails the comparison instead of adding its history a second time.
 */
static const char store_offsets_sql[] =
    "WITH x AS (SELECT * FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS x(p, o, e)),"
    " ins AS (INSERT INTO projector_offsets (consumer_group, topic, partition, next_offset)"
    " SELECT $1, $2, p, o FROM x WHERE e < 0 ON CONFLICT DO NOTHING RETURNING 1),"
    " upd AS (UPDATE projector_offsets AS po SET next_offset = x.o, updated_at = now() FROM x"
    " WHERE po.consumer_group = $1 AND po.topic = $2 AND po.partition = x.p AND x.e >= 0"
    " AND po.next_offset = x.e RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins) + (SELECT count(*) FROM upd)";

/*
 * The twins table's identity, read from pg_class with the statement's snapshot (not the
 * syscache, which may not have processed a concurrent rename yet): a replay swap (tp-replay)
 * renames a rebuilt table to twins in the transaction that moves this group's offsets.
 */
static const char store_twins_oid_sql[] =
    "SELECT coalesce((SELECT c.oid::bigint FROM pg_class c JOIN pg_namespace n"
    " ON n.oid = c.relnamespace WHERE c.relname = 'twins' AND n.nspname = current_schema()), 0)";

static const char store_retention_sql[] =
    "DELETE FROM metric_minutes WHERE minute < now() - $1::bigint * interval '1 hour'";

static enum tp_err store_connect(struct store *st, char *errstr, size_t errstr_size)
{
    PQfinish(st->db);
    st->db = NULL;
    enum tp_err err = pg_connect(st->dsn, "tp-projector", &st->db, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_command(st->db, store_stage_sql, errstr, errstr_size);
    return err;
}

static enum tp_err store_twins_oid(struct store *st, int64_t *oid, char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    enum tp_err err = pg_exec_params(st->db, store_twins_oid_sql, 0, NULL, PGRES_TUPLES_OK, &res,
                                     errstr, errstr_size);
    if (err == TP_OK)
        *oid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return err;
}

/*
 * In the flush transaction, after the offsets' compare-and-set (whose row locks a replay
 * swap holds until it commits): TP_CONFLICT when the twins table is no longer the one this
 * projector's state came from, so that state is dropped and reloaded (a resync) instead of
 * written over the rebuilt projection.
 */
static enum tp_err store_check_projection(struct store *st, char *errstr, size_t errstr_size)
{
    int64_t oid = 0;
    enum tp_err err = store_twins_oid(st, &oid, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (st->twins_oid != 0 && oid != st->twins_oid) {
        st->twins_oid = oid;
        return tp_err_set(TP_CONFLICT, errstr, errstr_size,
                          "the projection was rebuilt and swapped in (tp-replay) since this "
                          "projector loaded its state");
    }
    st->twins_oid = oid;
    return TP_OK;
}

/* Reconnects when a previous failure left the connection broken. */
static enum tp_err store_ready(struct store *st, char *errstr, size_t errstr_size)
{
    if (st->db && PQstatus(st->db) == CONNECTION_OK)
        return TP_OK;
    log_warn("reconnecting to postgresql");
    return store_connect(st, errstr, errstr_size);
}

enum tp_err store_new(const char *dsn, const char *group, const char *topic, struct store **out,
                      char *errstr, size_t errstr_size)
{
    struct store *st = tp_calloc(1, sizeof(*st));
    st->dsn = tp_strdup(dsn);
    st->group = tp_strdup(group);
    st->topic = tp_strdup(topic);
    enum tp_err err = store_connect(st, errstr, errstr_size);
    if (err == TP_OK)
        err = store_twins_oid(st, &st->twins_oid, errstr, errstr_size);
    if (err != TP_OK) {
        store_free(st);
        return err;
    }
    *out = st;
    return TP_OK;
}

void store_free(struct store *st)
{
    if (!st)
        return;
    PQfinish(st->db);
    free(st->dsn);
    free(st->group);
    free(st->topic);
    free(st);
}

/* {1,2,3} for an int[] / bigint[] parameter. */
static void store_int_array(struct buf *b, const int64_t *v, const int32_t *v32, size_t n)
{
    buf_append_str(b, "{");
    for (size_t i = 0; i < n; i++)
        buf_printf(b, "%s%" PRId64, i ? "," : "", v ? v[i] : (int64_t)v32[i]);
    buf_append_str(b, "}");
}

/* {"a","b"} for a text[] parameter, quoting every element. */
static void store_text_array(struct buf *b, char *const *v, size_t n)
{
    buf_append_str(b, "{");
    for (size_t i = 0; i < n; i++) {
        buf_append_str(b, i ? ",\"" : "\"");
        for (const char *p = v[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_append(b, "\\", 1);
            buf_append(b, p, 1);
        }
        buf_append_str(b, "\"");
    }
    buf_append_str(b, "}");
}

enum tp_err store_load_offsets(struct store *st, const int32_t *parts, int64_t *offsets, size_t n,
                               char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    struct buf arr;
    buf_init(&arr, SIZE_MAX / 2);
    store_int_array(&arr, NULL, parts, n);
    for (size_t i = 0; i < n; i++)
        offsets[i] = JOURNAL_OFFSET_BEGINNING;
    enum tp_err err = store_ready(st, errstr, errstr_size);
    /* the projection's identity first: if a swap commits between the two statements, the
     * offsets read are the swap's, and the next flush finds the old identity and resyncs */
    int64_t oid = 0;
    if (err == TP_OK)
        err = store_twins_oid(st, &oid, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    const char *params[] = {st->group, st->topic, arr.data};
    err = pg_exec_params(st->db,
                         "SELECT partition, next_offset FROM projector_offsets"
                         " WHERE consumer_group = $1 AND topic = $2"
                         " AND partition = ANY($3::int[])",
                         3, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    st->twins_oid = oid; /* called holding no unflushed state: on assign and on resync */
    for (int r = 0; r < PQntuples(res); r++) {
        int32_t p = (int32_t)strtol(PQgetvalue(res, r, 0), NULL, 10);
        for (size_t i = 0; i < n; i++)
            if (parts[i] == p)
                offsets[i] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    }
out:
    PQclear(res);
    buf_release(&arr);
    return err;
}

/* Columns of store_load_sql after the twin's own: one metric per row, then the open minute
 * and the metric's figures in it. */
enum {
    STORE_COL_METRIC = 6 + TWIN_LOC_N + 3,
    STORE_COL_MINUTE = STORE_COL_METRIC + 7,
    STORE_COL_WINDOW = STORE_COL_MINUTE + 5
};

static const char store_load_sql[] =
    "SELECT t.device_id, (extract(epoch FROM first_seen) * 1000)::bigint,"
    " (extract(epoch FROM last_seen) * 1000)::bigint, last_sequence, events,"
    " (location->>'ts')::bigint, (location->>'lat')::float8,"
    " (location->>'lon')::float8, (location->>'altitude_m')::float8,"
    " (location->>'heading_deg')::float8, (location->>'accuracy_m')::float8,"
    " attributes->>'model', attributes->>'firmware', attributes->>'region',"
    " m.key, (m.value->>'value')::float8, (m.value->>'ts')::bigint,"
    " (m.value->>'min')::float8, (m.value->>'max')::float8, (m.value->>'sum')::float8,"
    " (m.value->>'count')::bigint, (extract(epoch FROM t.minute) * 1000)::bigint,"
    " (t.minute_stats->m.key->>0)::float8, (t.minute_stats->m.key->>1)::float8,"
    " (t.minute_stats->m.key->>2)::float8, (t.minute_stats->m.key->>3)::bigint,"
    " encode(t.seq_window, 'hex')"
    " FROM twins t LEFT JOIN LATERAL jsonb_each(t.metrics) m ON true"
    " WHERE t.device_id = ANY($1::text[])";

static double store_get_double(PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? 0.0 : strtod(PQgetvalue(res, r, c), NULL);
}

/* The metric of row r (if any); stats missing (written before they existed) load as count 0,
 * and so do a metric's figures of the open minute. */
static void store_apply_metric(struct twin *t, PGresult *res, int r)
{
    const int c = STORE_COL_METRIC;
    if (PQgetisnull(res, r, c))
        return; /* a twin without metrics */
    struct twin_metric *m =
        twin_metric_set(t, PQgetvalue(res, r, c), store_get_double(res, r, c + 1),
                        strtoll(PQgetvalue(res, r, c + 2), NULL, 10));
    if (PQgetisnull(res, r, c + 6))
        return;
    m->min = store_get_double(res, r, c + 3);
    m->max = store_get_double(res, r, c + 4);
    m->sum = store_get_double(res, r, c + 5);
    m->count = strtoll(PQgetvalue(res, r, c + 6), NULL, 10);
    const int mc = STORE_COL_MINUTE + 1;
    if (t->minute_ms == TWIN_NO_MINUTE || PQgetisnull(res, r, mc + 3))
        return;
    m->mmin = store_get_double(res, r, mc);
    m->mmax = store_get_double(res, r, mc + 1);
    m->msum = store_get_double(res, r, mc + 2);
    m->mcount = strtoll(PQgetvalue(res, r, mc + 3), NULL, 10);
}

/* The sequence window from its column in hex (migration 0008: 16 bytes, bit i of the window
 * is byte i / 8, bit i % 8); anything else keeps twin_new's "all seen". */
static void store_window_parse(struct twin *t, const char *hex)
{
    if (strlen(hex) != 32)
        return;
    uint64_t w[2] = {0, 0};
    for (int i = 0; i < 16; i++) {
        unsigned byte;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
            return;
        w[i / 8] |= (uint64_t)byte << (8 * (i % 8));
    }
    t->seen[0] = w[0];
    t->seen[1] = w[1];
}

static void store_apply_row(struct twins *tt, PGresult *res, int r)
{
    struct twin *t = twins_get(tt, PQgetvalue(res, r, 0));
    if (t) { /* another metric of a twin made by an earlier row */
        store_apply_metric(t, res, r);
        return;
    }
    t = twins_put(tt, twin_new(PQgetvalue(res, r, 0)));
    t->first_seen_ms = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    t->last_seen_ms = strtoll(PQgetvalue(res, r, 2), NULL, 10);
    t->last_sequence = strtoll(PQgetvalue(res, r, 3), NULL, 10);
    t->events = strtoll(PQgetvalue(res, r, 4), NULL, 10);
    if (!PQgetisnull(res, r, STORE_COL_WINDOW))
        store_window_parse(t, PQgetvalue(res, r, STORE_COL_WINDOW));
    if (!PQgetisnull(res, r, STORE_COL_MINUTE))
        t->minute_ms = strtoll(PQgetvalue(res, r, STORE_COL_MINUTE), NULL, 10);
    if (!PQgetisnull(res, r, 5)) {
        t->has_location = true;
        t->location_ts_ms = strtoll(PQgetvalue(res, r, 5), NULL, 10);
        for (int i = 0; i < TWIN_LOC_N; i++) {
            if (PQgetisnull(res, r, 6 + i))
                continue;
            t->loc[i] = strtod(PQgetvalue(res, r, 6 + i), NULL);
            t->loc_mask |= 1u << i;
        }
    }
    const char *attrs[] = {"model", "firmware", "region"};
    for (int i = 0; i < 3; i++)
        if (!PQgetisnull(res, r, 6 + TWIN_LOC_N + i))
            twin_attr_set(t, attrs[i], PQgetvalue(res, r, 6 + TWIN_LOC_N + i));
    store_apply_metric(t, res, r);
}

enum tp_err store_load_twins(struct store *st, char *const *ids, size_t n, struct twins *tt,
                             char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    struct buf arr;
    buf_init(&arr, SIZE_MAX / 2);
    store_text_array(&arr, ids, n);
    const char *params[] = {arr.data};
    enum tp_err err = store_ready(st, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    /* one query (one row per metric): a failure leaves tt untouched */
    err = pg_exec_params(st->db, store_load_sql, 1, params, PGRES_TUPLES_OK, &res, errstr,
                         errstr_size);
    if (err != TP_OK)
        goto out;
    for (int r = 0; r < PQntuples(res); r++)
        store_apply_row(tt, res, r);
out:
    PQclear(res);
    buf_release(&arr);
    return err;
}

/* Appends s with COPY text-format escaping. */
static void store_copy_escape(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        const char *esc = c == '\\'   ? "\\\\"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                                      : NULL;
        if (esc)
            buf_append_str(out, esc);
        else
            buf_append(out, &c, 1);
    }
}

/* Appends a JSON document, COPY-escaped. */
static void store_copy_json(struct buf *out, struct buf *json)
{
    store_copy_escape(out, json->data ? json->data : "", json->len);
    buf_reset(json);
}

enum tp_err store_twin_row(struct buf *out, const struct twin *t)
{
    struct buf j;
    buf_init(&j, SIZE_MAX / 2);
    store_copy_escape(out, t->device_id, strlen(t->device_id));
    buf_printf(out, "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t", t->first_seen_ms,
               t->last_seen_ms, t->last_sequence, t->events);

    buf_append_str(&j, "{");
    for (size_t i = 0; i < t->n_metrics; i++) {
        if (i)
            buf_append_str(&j, ",");
        const struct twin_metric *m = &t->metrics[i];
        json_str(&j, m->name);
        buf_append_str(&j, ":{\"value\":");
        json_double(&j, m->value);
        buf_printf(&j, ",\"ts\":%" PRId64 ",\"min\":", m->ts_ms);
        json_double(&j, m->count ? m->min : NAN); /* no finite value yet: null */
        buf_append_str(&j, ",\"max\":");
        json_double(&j, m->count ? m->max : NAN);
        buf_append_str(&j, ",\"sum\":");
        json_double(&j, m->count ? m->sum : NAN);
        buf_printf(&j, ",\"count\":%" PRId64 "}", m->count);
    }
    buf_append_str(&j, "}");
    store_copy_json(out, &j);
    buf_append_str(out, "\t");

    if (t->has_location) {
        buf_append_str(&j, "{");
        for (int i = 0; i < TWIN_LOC_N; i++) {
            if (!(t->loc_mask & (1u << i)))
                continue;
            json_str(&j, twin_loc_names[i]);
            buf_append_str(&j, ":");
            json_double(&j, t->loc[i]);
            buf_append_str(&j, ",");
        }
        buf_printf(&j, "\"ts\":%" PRId64 "}", t->location_ts_ms);
        store_copy_json(out, &j);
    } else {
        buf_append_str(out, "\\N");
    }
    buf_append_str(out, "\t");

    const char *names[] = {"model", "firmware", "region"};
    const char *values[] = {t->model, t->firmware, t->region};
    buf_append_str(&j, "{");
    bool first = true;
    for (int i = 0; i < 3; i++) {
        if (!values[i])
            continue;
        if (!first)
            buf_append_str(&j, ",");
        first = false;
        json_str(&j, names[i]);
        buf_append_str(&j, ":");
        json_str(&j, values[i]);
    }
    buf_append_str(&j, "}");
    store_copy_json(out, &j);

    if (t->minute_ms == TWIN_NO_MINUTE) {
        buf_append_str(out, "\t\\N\t\\N");
    } else {
        buf_printf(out, "\t%" PRId64 "\t", t->minute_ms);
        buf_append_str(&j, "{");
        first = true;
        for (size_t i = 0; i < t->n_metrics; i++) {
            const struct twin_metric *m = &t->metrics[i];
            if (m->mcount == 0)
                continue;
            if (!first)
                buf_append_str(&j, ",");
            first = false;
            json_str(&j, m->name);
            buf_append_str(&j, ":[");
            json_double(&j, m->mmin);
            buf_append_str(&j, ",");
            json_double(&j, m->mmax);
            buf_append_str(&j, ",");
            json_double(&j, m->msum);
            buf_printf(&j, ",%" PRId64 "]", m->mcount);
        }
        buf_append_str(&j, "}");
        store_copy_json(out, &j);
    }
    /* the sequence window as bytea hex (COPY text: the backslash doubled) */
    buf_append_str(out, "\t\\\\x");
    for (int i = 0; i < 16; i++)
        buf_printf(out, "%02x", (unsigned)(t->seen[i / 8] >> (8 * (i % 8))) & 0xffu);
    buf_append_str(out, "\n");
    buf_release(&j);
    return TP_OK;
}

static enum tp_err store_copy_put(struct store *st, struct buf *chunk, char *errstr,
                                  size_t errstr_size)
{
    if (chunk->len == 0)
        return TP_OK;
    if (PQputCopyData(st->db, chunk->data, (int)chunk->len) != 1)
        return tp_err_set(TP_DB_TRANSIENT, errstr, errstr_size, "could not send COPY data: %s",
                          PQerrorMessage(st->db));
    buf_reset(chunk);
    return TP_OK;
}

/* Appends v as COPY text: the shortest exact digits; NaN and infinities as PostgreSQL spells them.
 */
static void store_copy_double(struct buf *out, double v)
{
    if (isnan(v))
        buf_append_str(out, "NaN");
    else if (isinf(v))
        buf_append_str(out, v > 0 ? "Infinity" : "-Infinity");
    else
        json_double(out, v);
}

enum tp_err store_history_row(struct buf *out, const struct history *h,
                              const struct history_entry *e)
{
    const char *dev = history_str(h, e->device_id);
    const char *metric = history_str(h, e->metric);
    store_copy_escape(out, dev, strlen(dev));
    buf_append_str(out, "\t");
    store_copy_escape(out, metric, strlen(metric));
    buf_printf(out, "\t%" PRId64 "\t", e->minute_ms);
    store_copy_double(out, e->min);
    buf_append_str(out, "\t");
    store_copy_double(out, e->max);
    buf_append_str(out, "\t");
    store_copy_double(out, e->sum);
    buf_printf(out, "\t%" PRId64 "\n", e->count);
    return TP_OK;
}

/* Appends row i of what a COPY sends. */
typedef void (*store_row_fn)(struct buf *out, const void *ctx, size_t i);

static void store_twin_row_at(struct buf *out, const void *ctx, size_t i)
{
    store_twin_row(out, ((struct twin *const *)ctx)[i]);
}

static void store_history_row_at(struct buf *out, const void *ctx, size_t i)
{
    const struct history *h = ctx;
    store_history_row(out, h, &h->entries[i]);
}

/* COPY <table> FROM STDIN with n rows, sent in chunks of STORE_COPY_CHUNK bytes. */
static enum tp_err store_copy(struct store *st, const char *sql, store_row_fn row, const void *ctx,
                              size_t n, char *errstr, size_t errstr_size)
{
    struct buf chunk;
    buf_init(&chunk, SIZE_MAX / 2);
    enum tp_err err =
        pg_check(st->db, PQexec(st->db, sql), PGRES_COPY_IN, NULL, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    for (size_t i = 0; i < n && err == TP_OK; i++) {
        row(&chunk, ctx, i);
        if (chunk.len >= STORE_COPY_CHUNK)
            err = store_copy_put(st, &chunk, errstr, errstr_size);
    }
    if (err == TP_OK)
        err = store_copy_put(st, &chunk, errstr, errstr_size);
    if (PQputCopyEnd(st->db, err == TP_OK ? NULL : "aborted by tp-projector") != 1 && err == TP_OK)
        err = tp_err_set(TP_DB_TRANSIENT, errstr, errstr_size, "could not end COPY: %s",
                         PQerrorMessage(st->db));
    enum tp_err end = pg_check(st->db, PQgetResult(st->db), PGRES_COMMAND_OK, NULL,
                               err == TP_OK ? errstr : NULL, errstr_size);
    if (err == TP_OK)
        err = end;
    PGresult *extra;
    while ((extra = PQgetResult(st->db)) != NULL)
        PQclear(extra);
out:
    buf_release(&chunk);
    return err;
}

/* The offsets' compare-and-set (store_offsets_sql); TP_CONFLICT when one had moved. */
static enum tp_err store_offsets_cas(struct store *st, const struct store_batch *b, char *errstr,
                                     size_t errstr_size)
{
    struct buf p_arr, o_arr, e_arr;
    PGresult *res = NULL;
    buf_init(&p_arr, SIZE_MAX / 2);
    buf_init(&o_arr, SIZE_MAX / 2);
    buf_init(&e_arr, SIZE_MAX / 2);
    store_int_array(&p_arr, NULL, b->parts, b->n_parts);
    store_int_array(&o_arr, b->offsets, NULL, b->n_parts);
    store_int_array(&e_arr, b->expected, NULL, b->n_parts);
    const char *params[] = {st->group, st->topic, p_arr.data, o_arr.data, e_arr.data};
    enum tp_err err = pg_exec_params(st->db, store_offsets_sql, 5, params, PGRES_TUPLES_OK, &res,
                                     errstr, errstr_size);
    if (err == TP_OK) {
        long long moved = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (moved != (long long)b->n_parts)
            err = tp_err_set(TP_CONFLICT, errstr, errstr_size,
                             "offsets of %zu of %zu partitions in postgresql are not where this "
                             "projector left them (written by another projector, or an earlier "
                             "commit whose answer was lost)",
                             b->n_parts - (size_t)moved, b->n_parts);
    }
    PQclear(res);
    buf_release(&p_arr);
    buf_release(&o_arr);
    buf_release(&e_arr);
    return err;
}

enum tp_err store_flush(struct store *st, const struct store_batch *b, char *errstr,
                        size_t errstr_size)
{
    size_t n_hist = b->history ? history_count(b->history) : 0;
    enum tp_err err = store_ready(st, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_command(st->db, "BEGIN", errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (b->n_parts > 0)
        err = store_offsets_cas(st, b, errstr, errstr_size);
    if (err == TP_OK)
        err = store_check_projection(st, errstr, errstr_size);
    if (err == TP_OK && b->n_twins > 0) {
        err = store_copy(st, "COPY twins_stage FROM STDIN", store_twin_row_at, b->twins, b->n_twins,
                         errstr, errstr_size);
        if (err == TP_OK)
            err = pg_command(st->db, store_upsert_sql, errstr, errstr_size);
    }
    if (err == TP_OK && n_hist > 0) {
        err = store_copy(st, "COPY metric_minutes_stage FROM STDIN", store_history_row_at,
                         b->history, n_hist, errstr, errstr_size);
        if (err == TP_OK)
            err = pg_command(st->db, store_history_sql, errstr, errstr_size);
    }
    if (err == TP_OK)
        err = pg_command(st->db, "COMMIT", errstr, errstr_size);
    else
        pg_command(st->db, "ROLLBACK", NULL, 0);
    return err;
}

enum tp_err store_retention(struct store *st, int64_t hours, int64_t *deleted, char *errstr,
                            size_t errstr_size)
{
    char h[24];
    PGresult *res = NULL;
    *deleted = 0;
    snprintf(h, sizeof(h), "%" PRId64, hours);
    const char *params[] = {h};
    enum tp_err err = store_ready(st, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_exec_params(st->db, store_retention_sql, 1, params, PGRES_COMMAND_OK, &res, errstr,
                             errstr_size);
    if (err == TP_OK)
        *deleted = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return err;
}
